//! Link and packet decoding: the first two bytes pick the link type (little-endian,
//! modulo 300: every link type `decode` strips, PPP 9/50/51, Cisco HDLC 104, 802.11
//! 105, radiotap 127, PPI 192, IPNET 226, NFLOG 239, IPoIB 242, ARCNET 7/129, Frame
//! Relay 107/206, Juniper 167/178-181, among the rest), then any encapsulation
//! (Arista's timestamp header among them) and tunnel nesting, and an 802.11
//! A-MSDU's subframes; the IP layers stay within the bound. The same bytes are
//! decoded as a reassembled datagram too.
#![no_main]
use libfuzzer_sys::fuzz_target;
use whohosts::capture::LinkType;

fuzz_target!(|data: &[u8]| {
    if let [a, b, rest @ ..] = data {
        let link = LinkType(u32::from(u16::from_le_bytes([*a, *b])) % 300);
        let p = whohosts::decode::decode(link, rest);
        assert!(p.outer.len() < whohosts::decode::MAX_LAYERS);
        // An A-MSDU's later subframes: each takes at least its 14-byte header.
        let mut subframes = 0;
        for sub in p.subframes() {
            assert!(sub.outer.len() < whohosts::decode::MAX_LAYERS);
            subframes += 1;
        }
        assert!(subframes <= rest.len() / 14);
        // The same bytes as a reassembled datagram of the protocol the first byte
        // picks.
        let (src, dst) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let p = whohosts::decode::datagram(src, dst, *a, rest);
        assert!(p.outer.len() < whohosts::decode::MAX_LAYERS);
    }
});
