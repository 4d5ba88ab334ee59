//! A case's custody log (JSON lines, hash-chained), as `evidence::custody::parse` reads it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = whohosts::evidence::custody::parse(data);
});
