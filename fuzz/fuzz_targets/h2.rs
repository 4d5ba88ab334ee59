//! HTTP/2 frames and HPACK over both directions of a connection.
//!
//! Input: a sequence of chunks `[side byte][length u8][bytes]`; side bit 0 picks the
//! client or server, side bit 7 reports a gap instead.
#![no_main]
use libfuzzer_sys::fuzz_target;
use whohosts::decrypt::Side;
use whohosts::dissect::h2::{H2Connection, H2Event};

fuzz_target!(|data: &[u8]| {
    let mut h = H2Connection::new();
    let mut rest = data;
    let mut frame = 0;
    // The client preface first, so that inputs reach the frames.
    h.push(Side::Client, whohosts::dissect::h2::PREFACE, &[0]);
    while let [side, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let s = if side & 1 == 0 { Side::Client } else { Side::Server };
        frame += 1;
        if side & 0x80 != 0 {
            h.gap(s);
        } else {
            h.push(s, &tail[..n], &[frame]);
        }
        for e in h.take_events() {
            if let H2Event::Body { frames, .. } = e {
                assert!(!frames.is_empty());
            }
        }
        rest = &tail[n..];
    }
    h.end();
    let _ = h.take_events();
});
