//! A provider range feed (JSON, CSV or plain list, whichever it is), as `attribute::feeds::parse_feed` reads it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = whohosts::attribute::feeds::parse_feed(data);
});
