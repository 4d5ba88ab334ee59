//! A claimant profile (TOML), as `Claimant::from_toml` reads it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = whohosts::letter::claimant::Claimant::from_toml(text, "fuzz");
    }
});
