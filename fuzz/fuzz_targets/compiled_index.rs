//! A compiled feed index file (`attribute::compiled::CompiledIndex::open`), damaged or
//! crafted, then lookups through it: refused with a reason or answered, never a panic,
//! a hang or an allocation beyond its header bound.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let Ok(mut f) = tempfile::NamedTempFile::new() else {
        return;
    };
    if f.write_all(data).is_err() {
        return;
    }
    if let Ok(ix) = whohosts::attribute::compiled::CompiledIndex::open(f.path(), None) {
        for ip in ["10.0.0.1", "0.0.0.0", "255.255.255.255", "2001:db8::1", "::"] {
            let _ = ix.lookup_all(ip.parse().unwrap());
        }
        let _ = ix.feeds().len() + ix.skipped().len();
    }
});
