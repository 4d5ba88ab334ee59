//! Archive walking as `match` does it for a served object or an original: zip (and its
//! APK/IPA/OBB/JAR/AAB forms), tar, gzip, recursively, within small bounds.
#![no_main]
use libfuzzer_sys::fuzz_target;
use whohosts::matching::archive::{walk_bytes, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_depth: 3,
        max_entries: 256,
        max_entry_bytes: 4 << 20,
        max_total_bytes: 16 << 20,
        max_nested_bytes: 4 << 20,
        max_ratio: 1000,
        max_seconds: 5,
    };
    let walk = walk_bytes(data, "fuzz.bin", &limits);
    assert!(walk.entries.iter().all(|e| e.depth <= limits.max_depth));
});
