//! An RDAP IP network answer (RFC 9083), as `attribute::rdap::parse_network` reads it:
//! whatever a registry (or whoever answers in its place) sends.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = whohosts::attribute::rdap::parse_network(data) {
        // Ranks are 1, 2, ... in order, and every contact has an address or a URL.
        for (i, c) in n.abuse_contacts.iter().enumerate() {
            assert_eq!(c.rank as usize, i + 1);
            assert!(c.email.is_some() || c.url.is_some());
        }
    }
});
