//! An RFC 3161 time-stamp reply (DER), as `evidence::tsp::inspect` reads it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = whohosts::evidence::tsp::inspect(data, "00");
});
