//! DNS over UDP: one datagram, then the bindings it would produce; and the strict
//! reading used on other ports, which never accepts what the plain one refuses.
#![no_main]
use libfuzzer_sys::fuzz_target;
use whohosts::dissect::dns;
use whohosts::model::{Endpoint, Timestamp};

fuzz_target!(|data: &[u8]| {
    if dns::parse_udp_strict(data).is_some() {
        assert!(dns::parse_udp(data).is_ok());
    }
    if let Ok(m) = dns::parse_udp(data) {
        let a = Endpoint {
            ip: [127, 0, 0, 1].into(),
            port: Some(53),
        };
        let b = Endpoint {
            ip: [127, 0, 0, 2].into(),
            port: Some(4000),
        };
        let mut bind = dns::DnsBindings::new();
        bind.observe((1, 24), Timestamp::default(), b, a, &m);
        bind.observe((2, 100), Timestamp::default(), a, b, &m);
        let _ = bind.into_sorted().map(|s| s.count());
    }
});
