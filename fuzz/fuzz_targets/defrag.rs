//! IP reassembly: the input is a run of fragments, each a 5-byte header (the
//! datagram's identification in one byte, the offset in 8-byte units in two, the
//! more-fragments flag in the low bit of the fourth, the length in the fifth) and
//! its bytes; a completed datagram's payload is decoded as a reassembled datagram of
//! the protocol the fourth byte's other bits pick (UDP, TCP, GRE, IP-in-IP, 6in4).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;
use whohosts::flow::defrag::{Defrag, Outcome, Piece, MAX_DATAGRAM};

fuzz_target!(|data: &[u8]| {
    let (src, dst): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
    let mut d = Defrag::default();
    let mut rest = data;
    let mut frame = 0;
    while let [id, o1, o2, flags, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (bytes, next) = tail.split_at(n);
        rest = next;
        frame += 1;
        let protocol = [17, 6, 47, 4, 41][usize::from(flags >> 1) % 5];
        let piece = Piece {
            id: u32::from(*id),
            offset: u32::from(u16::from_be_bytes([*o1, *o2])) * 8,
            more: flags & 1 == 1,
            bytes,
        };
        if let Outcome::Complete(g) = d.feed(src, dst, protocol, piece, None, frame) {
            assert!(g.frames >= 1 && g.first_frame <= frame);
            if let Ok(payload) = g.payload {
                assert!(payload.len() <= MAX_DATAGRAM as usize);
                let p = whohosts::decode::datagram(src, dst, protocol, &payload);
                assert!(p.outer.len() < whohosts::decode::MAX_LAYERS);
            }
        }
    }
    let _ = d.incomplete();
});
