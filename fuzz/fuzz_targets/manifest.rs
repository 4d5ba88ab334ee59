//! A case's manifest, as `evidence::manifest::Manifest::parse` reads it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = whohosts::evidence::manifest::Manifest::parse("fuzz", data);
});
