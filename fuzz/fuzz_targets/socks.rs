//! SOCKS handshakes: the client's side and the proxy's for each version, on every
//! prefix of the input. A complete handshake stays complete, with the same length,
//! however many bytes follow it. The same bytes as a datagram of a SOCKS5 UDP
//! relay: its data is the input's tail.
#![no_main]
use libfuzzer_sys::fuzz_target;
use whohosts::dissect::socks::{client, server, udp_datagram, Parsed, Version, MAX_HANDSHAKE};

fn check<T: Clone + PartialEq + std::fmt::Debug>(data: &[u8], f: impl Fn(&[u8]) -> Parsed<T>) {
    let data = &data[..data.len().min(MAX_HANDSHAKE + 16)];
    let mut complete: Option<(T, usize)> = None;
    for end in 0..=data.len() {
        let p = f(&data[..end]);
        if let Some((t, n)) = &complete {
            assert_eq!(p, Parsed::Complete(t.clone(), *n));
            continue;
        }
        match p {
            Parsed::Complete(t, n) => {
                assert!(n <= end && n <= MAX_HANDSHAKE);
                complete = Some((t, n));
            }
            Parsed::NotSocks => break,
            Parsed::Partial => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, client);
    for v in [Version::Socks4, Version::Socks5] {
        check(data, |b| server(b, v));
    }
    if let Some(d) = udp_datagram(data) {
        assert!(data.ends_with(d.data) && d.data.len() + 8 <= data.len());
    }
});
