//! Where TLS starts after a preamble: a PROXY protocol header, or a text protocol's
//! STARTTLS. On prefixes of the input, as a stream grows: a whole header stays whole
//! with the same length, a refusal stays a refusal; the text scan resumed from where
//! it stopped answers what a scan from the start answers, and a TLS start it finds
//! is a 0x16 byte inside the data and stays where it is. A whole header's addresses
//! are those of its version; any slice is read without a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use whohosts::dissect::upgrade::{
    proxied, proxy_header, tls_after_text, ProxyHeader, TextScan, TEXT_LIMIT,
};

fuzz_target!(|data: &[u8]| {
    let data = &data[..data.len().min(TEXT_LIMIT + 64)];
    let step = (data.len() / 64).max(1);
    let ends = (0..=data.len()).step_by(step).chain([data.len()]);
    let mut header: Option<ProxyHeader> = None;
    let mut resumed = 0;
    let mut settled: Option<TextScan> = None;
    for end in ends {
        let prefix = &data[..end];
        let h = proxy_header(prefix);
        match (&header, &h) {
            (Some(ProxyHeader::Whole(n)), _) => assert_eq!(h, ProxyHeader::Whole(*n)),
            (Some(ProxyHeader::No), _) => assert_eq!(h, ProxyHeader::No),
            _ => {}
        }
        if let ProxyHeader::Whole(n) = h {
            assert!(n <= end && n >= 13);
            if let Some(p) = proxied(&prefix[..n]) {
                assert_eq!(p.version == 1, prefix.starts_with(b"PROXY "));
            }
            let _ = proxied(prefix);
        }
        if !matches!(h, ProxyHeader::Partial) {
            header = Some(h);
        }

        let from_start = tls_after_text(prefix, 0);
        if let Some(s) = &settled {
            assert_eq!(&from_start, s);
            continue;
        }
        assert_eq!(tls_after_text(prefix, resumed), from_start);
        match from_start {
            TextScan::More(n) => {
                assert!(n >= resumed && n <= end);
                resumed = n;
            }
            TextScan::Tls(i) => {
                assert!(i > 0 && prefix[i] == 0x16);
                settled = Some(TextScan::Tls(i));
            }
            TextScan::No => settled = Some(TextScan::No),
        }
    }
});
