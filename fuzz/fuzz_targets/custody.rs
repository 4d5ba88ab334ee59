//! A case's custody log (JSON lines, hash-chained), as `evidence::custody::parse` reads
//! it, and the captures and sessions `evidence::live::captures` and
//! `evidence::session::sessions` read from its entries.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let log = whohosts::evidence::custody::parse(data);
    let _ = whohosts::evidence::live::captures(&log);
    let _ = whohosts::evidence::session::sessions(&log);
    let _ = whohosts::evidence::session::open_session(&log);
});
