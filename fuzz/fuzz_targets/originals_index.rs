//! The originals index file as `match` reads it back (`matching::index::parse`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = whohosts::matching::index::parse(data);
});
