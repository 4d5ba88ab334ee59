//! An RFC 3161 time-stamp request (DER), as `evidence::tsp::parse_request` reads it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = whohosts::evidence::tsp::parse_request(data);
});
