//! The TLS decryptor, fed arbitrary chunks on both sides, with the secrets of two
//! recorded connections (TLS 1.3 AES-128-GCM and TLS 1.2 ECDHE-RSA-AES128-GCM) known,
//! so that inputs derived from those recordings reach record decryption.
//!
//! Input: a sequence of chunks `[side byte][length u8][bytes]`; side bit 0 picks the
//! client or server, side bit 7 reports a gap instead.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use whohosts::decrypt::keylog::KeyLog;
use whohosts::decrypt::tls::TlsDecryptor;
use whohosts::decrypt::Side;

fn keys() -> &'static KeyLog {
    static KEYS: OnceLock<KeyLog> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut k = KeyLog::new();
        k.add_text("a", include_bytes!("../../captures/tls13-h2-aes128.keys"));
        k.add_text("b", include_bytes!("../../captures/tls12-h2-rsa-aes128.keys"));
        k
    })
}

fuzz_target!(|data: &[u8]| {
    let keys = keys();
    let mut t = TlsDecryptor::new();
    let mut rest = data;
    let mut frame = 0;
    while let [side, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let s = if side & 1 == 0 { Side::Client } else { Side::Server };
        frame += 1;
        if side & 0x80 != 0 {
            t.gap(s, n as u64);
        } else {
            t.push(keys, s, &tail[..n], frame);
        }
        for p in t.take_output() {
            assert!(p.data.len() <= whohosts::decrypt::tls::MAX_RECORD);
            assert!(!p.frames.is_empty());
        }
        rest = &tail[n..];
    }
    t.end(Side::Client);
    t.end(Side::Server);
    let _ = (t.failure(), t.alpn(), t.version());
});
