//! NetBIOS name service datagrams: `dissect::nbns::parse` on any bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use whohosts::dissect::nbns::{parse, MAX_RECORDS};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = parse(data) {
        assert!(m.questions.len() + m.answers.len() <= MAX_RECORDS);
    }
});
