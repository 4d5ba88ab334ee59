//! QUIC Initial: the input as one client datagram, then split in two datagrams of one
//! connection. Random bytes rarely pass AES-GCM authentication, so the code past
//! decryption is reached through the seeds (real Initials) mutated outside the
//! ciphertext, and through the unit tests.
#![no_main]
use libfuzzer_sys::fuzz_target;
use whohosts::dissect::quic;

fuzz_target!(|data: &[u8]| {
    let _ = quic::may_open(data);
    let _ = quic::parse_initial(data, 1);
    let cut = data
        .first()
        .map_or(0, |b| usize::from(*b) * 8)
        .min(data.len());
    let (a, b) = data.split_at(cut);
    let mut c = quic::QuicConnection::new();
    let _ = c.push_client_datagram(b, 1);
    let _ = c.push_client_datagram(a, 2);
});
