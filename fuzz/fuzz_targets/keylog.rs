//! NSS key log text: any bytes, read as lines.
#![no_main]
use libfuzzer_sys::fuzz_target;
use whohosts::decrypt::keylog::KeyLog;

fuzz_target!(|data: &[u8]| {
    let mut k = KeyLog::new();
    k.add_text("fuzz", data);
    for p in k.problems() {
        assert!(p.message.len() < 400);
        let _ = p.to_string();
    }
});
