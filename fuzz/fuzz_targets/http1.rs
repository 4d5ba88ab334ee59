//! HTTP/1.x framing of one connection (`content::http1::Connection`) and the
//! Content-Encoding decoders of the bodies it frames (`content::decode`).
//!
//! Byte 0: the step (bytes per push); byte 1: bit i says which side the i-th push
//! comes from (client or server), bit 7 also puts a 5-byte gap after every push on
//! the server side; then the connection's bytes. Each response body goes through
//! the decoders its Content-Encoding names, capped at 1 MiB.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use whohosts::content::decode::BodyDecoder;
use whohosts::content::http1::Connection;
use whohosts::content::{HttpEvent, Side};

fuzz_target!(|data: &[u8]| {
    let step = data.first().map_or(1, |b| usize::from(*b).max(1));
    let sides = data.get(1).copied().unwrap_or(0);
    let data = data.get(2..).unwrap_or(&[]);
    let mut conn = Connection::new();
    let mut bodies: BTreeMap<u64, BodyDecoder> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, chunk) in data.chunks(step).enumerate() {
        let side = if sides >> (i % 7) & 1 == 1 {
            Side::Server
        } else {
            Side::Client
        };
        conn.push(side, chunk, i as u64 + 1, &mut out);
        if sides & 0x80 != 0 && side == Side::Server {
            let _ = conn.gap(side, 5, &mut out);
        }
        for ev in out.drain(..) {
            match ev {
                HttpEvent::Response {
                    stream, headers, ..
                } => {
                    let enc = headers
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(b"content-encoding"))
                        .map(|(_, v)| v.clone());
                    bodies.insert(stream, BodyDecoder::new(enc.as_deref(), 1 << 20, None));
                }
                HttpEvent::Body {
                    stream,
                    side: Side::Server,
                    data,
                    ..
                } => {
                    if let Some(d) = bodies.get_mut(&stream) {
                        d.push(&data);
                    }
                }
                HttpEvent::End {
                    stream,
                    side: Side::Server,
                    ..
                } => {
                    if let Some(d) = bodies.remove(&stream) {
                        let r = d.finish();
                        assert!(r.size <= 1 << 20);
                    }
                }
                _ => {}
            }
        }
    }
    conn.close(Side::Client, true, "the connection closed", &mut out);
    conn.close(Side::Server, false, "the capture ended", &mut out);
    for (_, d) in bodies {
        let _ = d.finish();
    }
});
