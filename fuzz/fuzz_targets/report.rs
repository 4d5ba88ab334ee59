//! The analysis report a letter is drafted from, as `letter::input::Report::from_json` reads it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = whohosts::letter::input::Report::from_json(data, "fuzz");
});
