//! An RDAP bootstrap file (RFC 9224), as `attribute::rdap::parse_bootstrap` reads it,
//! then asked for a few addresses.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(b) = whohosts::attribute::rdap::parse_bootstrap(data) {
        for ip in ["3.121.45.67", "2001:db8::1", "0.0.0.0", "::"] {
            if let Some(u) = b.base_for(ip.parse().unwrap()) {
                assert!(u.ends_with('/'));
            }
        }
    }
});
