//! A case's `case.json`, as `evidence::info::CaseInfo` deserialises it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<whohosts::evidence::info::CaseInfo>(data);
});
