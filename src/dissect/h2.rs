//! HTTP/2 (RFC 9113) over the plaintext of a connection, both directions, sans-I/O.
//!
//! [`H2Connection::push`] takes each direction's bytes in order with the frames that
//! carried them (for TLS: the frames of the records they were decrypted from) and
//! produces [`H2Event`]s (the content stage's `HttpEvent`, which HTTP/1.x framing
//! makes too): per stream the request's pseudo-headers and headers, the response
//! status and headers, DATA bytes (padding removed) with their frames, and the end of
//! each side (END_STREAM, or cut short by RST_STREAM, a protocol error or the end of
//! the connection).
//!
//! Frames read: the client preface, DATA (padding), HEADERS + CONTINUATION (padding,
//! priority), PRIORITY, RST_STREAM, SETTINGS (HEADER_TABLE_SIZE bounds the peer's
//! HPACK dynamic table), PUSH_PROMISE (the promised request), PING, GOAWAY,
//! WINDOW_UPDATE; unknown types are skipped. HPACK is loona-hpack's.
//!
//! Bounds: a frame of more than [`MAX_FRAME`] bytes, a header block of more than
//! [`MAX_HEADER_BLOCK`] bytes or a dynamic table above [`MAX_TABLE`] stops reading
//! that direction (HPACK state would be lost); decoded header lists are kept up to
//! [`MAX_HEADER_LIST`] bytes (RFC 9113 §6.5.2 counting), the rest counted as
//! dropped; at most [`MAX_STREAMS`] streams are tracked at once.

use crate::decrypt::Side;
use crate::flow::carried::Carried;
use loona_hpack::Decoder;
use std::collections::BTreeMap;

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Largest frame payload read (SETTINGS_MAX_FRAME_SIZE may allow up to 2^24-1;
/// servers and browsers use 16 KiB to 1 MiB).
pub(crate) const MAX_FRAME: usize = 1 << 20;
/// Largest header block (HEADERS or PUSH_PROMISE with its CONTINUATIONs).
pub(crate) const MAX_HEADER_BLOCK: usize = 256 << 10;
/// Largest decoded header list kept per message.
pub(crate) const MAX_HEADER_LIST: usize = 256 << 10;
/// Largest HPACK dynamic table accepted (whatever SETTINGS say).
pub(crate) const MAX_TABLE: usize = 64 << 10;
/// Streams tracked at once per connection.
pub(crate) const MAX_STREAMS: usize = 4096;

/// What an HTTP/2 connection carried, in order; also the content stage's `HttpEvent`,
/// which HTTP/1.x framing produces too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum H2Event {
    Request {
        stream: u64,
        method: Vec<u8>,
        /// `:path` (absent for CONNECT: empty).
        target: Vec<u8>,
        authority: Option<Vec<u8>>,
        scheme: Option<Vec<u8>>,
        /// Regular headers, in order; pseudo-headers are in the fields above.
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        /// The frame that began the HEADERS (or PUSH_PROMISE) frame.
        frame: u64,
    },
    Response {
        stream: u64,
        status: u16,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        frame: u64,
    },
    /// DATA payload, padding removed, before Content-Encoding is undone.
    Body {
        stream: u64,
        side: Side,
        data: Vec<u8>,
        frames: Vec<u64>,
    },
    /// The message on this side ended; `complete` false with a reason when cut short.
    End {
        stream: u64,
        side: Side,
        complete: bool,
        reason: Option<String>,
    },
}

struct Block {
    stream: u32,
    /// PUSH_PROMISE: the promised stream.
    promised: Option<u32>,
    end_stream: bool,
    data: Vec<u8>,
    frame: u64,
}

struct Dir {
    /// Unread bytes, with the frames that carried them.
    buf: Carried,
    preface_done: bool,
    stopped: Option<String>,
    block: Option<Block>,
    decoder: Decoder<'static>,
    frames_read: u64,
}

impl Default for Dir {
    fn default() -> Self {
        let mut decoder = Decoder::new();
        decoder.set_max_allowed_table_size(MAX_TABLE);
        Dir {
            buf: Carried::default(),
            preface_done: false,
            stopped: None,
            block: None,
            decoder,
            frames_read: 0,
        }
    }
}

#[derive(Default)]
struct Stream {
    /// Client side, server side: headers seen.
    headers: [bool; 2],
    ended: [bool; 2],
}

/// One HTTP/2 connection. See the module documentation.
#[derive(Default)]
pub struct H2Connection {
    dirs: [Dir; 2],
    streams: BTreeMap<u32, Stream>,
    events: Vec<H2Event>,
    problems: Vec<String>,
    dropped_streams: u64,
}

fn idx(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Client => "client",
        Side::Server => "server",
    }
}

fn error_name(code: u32) -> &'static str {
    const NAMES: [&str; 14] = [
        "NO_ERROR",
        "PROTOCOL_ERROR",
        "INTERNAL_ERROR",
        "FLOW_CONTROL_ERROR",
        "SETTINGS_TIMEOUT",
        "STREAM_CLOSED",
        "FRAME_SIZE_ERROR",
        "REFUSED_STREAM",
        "CANCEL",
        "COMPRESSION_ERROR",
        "CONNECT_ERROR",
        "ENHANCE_YOUR_CALM",
        "INADEQUATE_SECURITY",
        "HTTP_1_1_REQUIRED",
    ];
    NAMES.get(code as usize).copied().unwrap_or("unknown")
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map(|x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
        .unwrap_or(0)
}

impl H2Connection {
    pub fn new() -> Self {
        Self::default()
    }

    /// Events produced since the last call, in order.
    pub fn take_events(&mut self) -> Vec<H2Event> {
        std::mem::take(&mut self.events)
    }

    /// Protocol problems found (each also ends the affected streams).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// Whether a direction stopped, and why.
    pub fn stopped(&self, side: Side) -> Option<&str> {
        self.dirs[idx(side)].stopped.as_deref()
    }

    /// Feeds the next plaintext bytes of one direction and the frames that carried them.
    pub fn push(&mut self, side: Side, data: &[u8], frames: &[u64]) {
        let d = &mut self.dirs[idx(side)];
        if d.stopped.is_some() || data.is_empty() {
            return;
        }
        d.buf.push(data, frames);
        self.run(side);
    }

    /// A direction lost bytes: it stops, and its open messages end incomplete.
    pub fn gap(&mut self, side: Side) {
        self.stop(side, format!("gap in the {} stream", side_name(side)));
    }

    /// The connection ended: messages not finished end incomplete.
    pub fn end(&mut self) {
        for side in [Side::Client, Side::Server] {
            let d = &self.dirs[idx(side)];
            if d.stopped.is_none() && !d.buf.is_empty() {
                let n = d.buf.len();
                self.problems.push(format!(
                    "{} stream ends inside a frame ({n} bytes of it)",
                    side_name(side)
                ));
            }
        }
        let ids: Vec<u32> = self.streams.keys().copied().collect();
        for id in ids {
            self.cut(id, "the connection ended before the end of the message");
        }
    }

    fn stop(&mut self, side: Side, reason: String) {
        let d = &mut self.dirs[idx(side)];
        if d.stopped.is_some() {
            return;
        }
        d.stopped = Some(reason.clone());
        d.buf.clear();
        d.block = None;
        self.problems.push(reason.clone());
        let ids: Vec<u32> = self.streams.keys().copied().collect();
        for id in ids {
            let s = &self.streams[&id];
            if !s.ended[idx(side)] {
                if let Some(s) = self.streams.get_mut(&id) {
                    s.ended[idx(side)] = true;
                }
                self.events.push(H2Event::End {
                    stream: u64::from(id),
                    side,
                    complete: false,
                    reason: Some(reason.clone()),
                });
            }
        }
    }

    /// Ends both sides of a stream that are still open, incomplete.
    fn cut(&mut self, id: u32, reason: &str) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        let mut ends = Vec::new();
        for side in [Side::Client, Side::Server] {
            if !s.ended[idx(side)] {
                s.ended[idx(side)] = true;
                ends.push(side);
            }
        }
        self.streams.remove(&id);
        for side in ends {
            self.events.push(H2Event::End {
                stream: u64::from(id),
                side,
                complete: false,
                reason: Some(reason.to_string()),
            });
        }
    }

    fn stream(&mut self, id: u32) -> Option<&mut Stream> {
        if !self.streams.contains_key(&id) && self.streams.len() >= MAX_STREAMS {
            self.dropped_streams += 1;
            return None;
        }
        Some(self.streams.entry(id).or_default())
    }

    fn end_side(&mut self, id: u32, side: Side) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if s.ended[idx(side)] {
            return;
        }
        s.ended[idx(side)] = true;
        let done = s.ended[0] && s.ended[1];
        self.events.push(H2Event::End {
            stream: u64::from(id),
            side,
            complete: true,
            reason: None,
        });
        if done {
            self.streams.remove(&id);
        }
    }

    fn run(&mut self, side: Side) {
        let i = idx(side);
        if side == Side::Client && !self.dirs[i].preface_done {
            let d = &self.dirs[i];
            let n = d.buf.len().min(PREFACE.len());
            if d.buf.bytes()[..n] != PREFACE[..n] {
                self.stop(
                    side,
                    "client stream does not begin with the HTTP/2 preface".into(),
                );
                return;
            }
            if n < PREFACE.len() {
                return;
            }
            self.dirs[i].buf.consume(PREFACE.len());
            self.dirs[i].preface_done = true;
        }
        loop {
            let d = &self.dirs[i];
            if d.stopped.is_some() {
                return;
            }
            let Some(h) = d.buf.bytes().get(..9) else {
                return;
            };
            let len = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
            let (ty, flags) = (h[3], h[4]);
            let id = u32_at(h, 5) & 0x7fff_ffff;
            if len > MAX_FRAME {
                let n = d.frames_read;
                self.stop(
                    side,
                    format!(
                        "{} frame {n}: length {len} exceeds {MAX_FRAME}",
                        side_name(side)
                    ),
                );
                return;
            }
            if d.buf.len() < 9 + len {
                return;
            }
            let payload = d.buf.bytes()[9..9 + len].to_vec();
            let frames = d.buf.frames_of_front(9 + len);
            self.dirs[i].buf.consume(9 + len);
            self.dirs[i].frames_read += 1;
            self.frame(side, ty, flags, id, payload, frames);
        }
    }

    fn frame(
        &mut self,
        side: Side,
        ty: u8,
        flags: u8,
        id: u32,
        payload: Vec<u8>,
        frames: Vec<u64>,
    ) {
        let i = idx(side);
        let first = frames.first().copied().unwrap_or(0);
        if self.dirs[i].block.is_some() && ty != 9 {
            self.stop(
                side,
                format!(
                    "{} sent frame type {ty} inside a header block (CONTINUATION expected)",
                    side_name(side)
                ),
            );
            return;
        }
        match ty {
            // DATA
            0 => {
                let Some(data) = unpad(flags, &payload) else {
                    self.stop(
                        side,
                        format!("{} DATA on stream {id}: bad padding", side_name(side)),
                    );
                    return;
                };
                if id == 0 {
                    return;
                }
                if !data.is_empty() && self.stream(id).is_some() {
                    self.events.push(H2Event::Body {
                        stream: u64::from(id),
                        side,
                        data: data.to_vec(),
                        frames,
                    });
                }
                if flags & 0x1 != 0 {
                    self.end_side(id, side);
                }
            }
            // HEADERS
            1 => {
                let Some(mut frag) = unpad(flags, &payload) else {
                    self.stop(
                        side,
                        format!("{} HEADERS on stream {id}: bad padding", side_name(side)),
                    );
                    return;
                };
                if flags & 0x20 != 0 {
                    frag = frag.get(5..).unwrap_or(&[]);
                }
                self.dirs[i].block = Some(Block {
                    stream: id,
                    promised: None,
                    end_stream: flags & 0x1 != 0,
                    data: frag.to_vec(),
                    frame: first,
                });
                if flags & 0x4 != 0 {
                    self.finish_block(side);
                }
            }
            // RST_STREAM
            3 => {
                let code = u32_at(&payload, 0);
                let reason = format!(
                    "RST_STREAM from the {} with {} ({code})",
                    side_name(side),
                    error_name(code)
                );
                self.cut(id, &reason);
            }
            // SETTINGS: HEADER_TABLE_SIZE bounds the table of the other side's encoder,
            // i.e. the decoder of the other direction.
            4 if flags & 0x1 == 0 => {
                for pair in payload.chunks_exact(6) {
                    let key = u16::from_be_bytes([pair[0], pair[1]]);
                    let value = u32_at(pair, 2) as usize;
                    if key == 1 {
                        let other = 1 - i;
                        self.dirs[other]
                            .decoder
                            .set_max_allowed_table_size(value.min(MAX_TABLE));
                    }
                }
            }
            // PUSH_PROMISE
            5 => {
                let Some(frag) = unpad(flags, &payload) else {
                    self.stop(
                        side,
                        format!(
                            "{} PUSH_PROMISE on stream {id}: bad padding",
                            side_name(side)
                        ),
                    );
                    return;
                };
                let promised = u32_at(frag, 0) & 0x7fff_ffff;
                self.dirs[i].block = Some(Block {
                    stream: id,
                    promised: Some(promised),
                    end_stream: false,
                    data: frag.get(4..).unwrap_or(&[]).to_vec(),
                    frame: first,
                });
                if flags & 0x4 != 0 {
                    self.finish_block(side);
                }
            }
            // GOAWAY: streams above the last one processed will not be answered.
            7 => {
                let last = u32_at(&payload, 0) & 0x7fff_ffff;
                let code = u32_at(&payload, 4);
                let cut: Vec<u32> = self
                    .streams
                    .range(last.saturating_add(1)..)
                    .map(|(k, _)| *k)
                    .collect();
                for s in cut {
                    let reason = format!(
                        "GOAWAY from the {} with {} after stream {last}",
                        side_name(side),
                        error_name(code)
                    );
                    self.cut(s, &reason);
                }
            }
            // CONTINUATION
            9 => {
                let Some(block) = self.dirs[i].block.as_mut() else {
                    self.stop(
                        side,
                        format!(
                            "{} CONTINUATION on stream {id} without a header block",
                            side_name(side)
                        ),
                    );
                    return;
                };
                if block.stream != id {
                    let open = block.stream;
                    self.stop(side, format!("{} CONTINUATION on stream {id} inside the header block of stream {open}", side_name(side)));
                    return;
                }
                if block.data.len() + payload.len() > MAX_HEADER_BLOCK {
                    self.stop(
                        side,
                        format!(
                            "{} header block on stream {id} exceeds {MAX_HEADER_BLOCK} bytes",
                            side_name(side)
                        ),
                    );
                    return;
                }
                block.data.extend_from_slice(&payload);
                if flags & 0x4 != 0 {
                    self.finish_block(side);
                }
            }
            // PRIORITY, SETTINGS ACK, PING, WINDOW_UPDATE, unknown types: nothing to keep.
            _ => {}
        }
    }

    /// Decodes a complete header block and emits the request or response.
    fn finish_block(&mut self, side: Side) {
        let i = idx(side);
        let Some(block) = self.dirs[i].block.take() else {
            return;
        };
        let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut size = 0usize;
        let mut dropped = 0u64;
        let result = self.dirs[i].decoder.decode_with_cb(&block.data, |n, v| {
            let add = n.len() + v.len() + 32;
            if size + add <= MAX_HEADER_LIST {
                size += add;
                headers.push((n.into_owned(), v.into_owned()));
            } else {
                dropped += 1;
            }
        });
        if let Err(e) = result {
            self.stop(
                side,
                format!(
                    "{} header block on stream {}: HPACK error {e:?}",
                    side_name(side),
                    block.stream
                ),
            );
            return;
        }
        if dropped > 0 {
            self.problems.push(format!(
                "{} header block on stream {}: {dropped} fields beyond {MAX_HEADER_LIST} bytes dropped",
                side_name(side),
                block.stream
            ));
        }
        let pseudo = |name: &[u8]| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let regular: Vec<(Vec<u8>, Vec<u8>)> = headers
            .iter()
            .filter(|(n, _)| !n.starts_with(b":"))
            .cloned()
            .collect();
        // A request: client HEADERS opening a stream, or a server PUSH_PROMISE.
        let (request_stream, is_request) = match (side, block.promised) {
            (Side::Server, Some(p)) => (p, true),
            (Side::Client, None) => (block.stream, true),
            _ => (block.stream, false),
        };
        if request_stream == 0 {
            return;
        }
        let Some(s) = self.stream(request_stream) else {
            return;
        };
        let slot = if is_request { 0 } else { 1 };
        let first = !s.headers[slot];
        if is_request {
            if first {
                s.headers[0] = true;
                if block.promised.is_some() {
                    // A promised request has no body.
                    s.ended[0] = true;
                }
                self.events.push(H2Event::Request {
                    stream: u64::from(request_stream),
                    method: pseudo(b":method").unwrap_or_default(),
                    target: pseudo(b":path").unwrap_or_default(),
                    authority: pseudo(b":authority"),
                    scheme: pseudo(b":scheme"),
                    headers: regular,
                    frame: block.frame,
                });
                if block.promised.is_some() {
                    self.events.push(H2Event::End {
                        stream: u64::from(request_stream),
                        side: Side::Client,
                        complete: true,
                        reason: None,
                    });
                }
            }
        } else if first {
            let status = pseudo(b":status")
                .and_then(|v| std::str::from_utf8(&v).ok()?.parse::<u16>().ok())
                .unwrap_or(0);
            // 1xx responses are interim; the final response follows.
            if !(100..200).contains(&status) {
                s.headers[1] = true;
                self.events.push(H2Event::Response {
                    stream: u64::from(block.stream),
                    status,
                    headers: regular,
                    frame: block.frame,
                });
            }
        }
        if block.end_stream && block.promised.is_none() {
            self.end_side(block.stream, side);
        }
    }
}

/// A payload without its padding (PADDED flag 0x8: pad length byte, padding at the
/// end); `None` if the padding is longer than the payload.
fn unpad(flags: u8, payload: &[u8]) -> Option<&[u8]> {
    if flags & 0x8 == 0 {
        return Some(payload);
    }
    let (&pad, rest) = payload.split_first()?;
    rest.len().checked_sub(pad as usize).map(|n| &rest[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ty: u8, flags: u8, id: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.push(ty);
        f.push(flags);
        f.extend_from_slice(&id.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// RFC 7541 C.3.1 (request without Huffman): GET http://www.example.com/.
    const REQ: &[u8] = &[
        0x82, 0x86, 0x84, 0x41, 0x0f, b'w', b'w', b'w', b'.', b'e', b'x', b'a', b'm', b'p', b'l',
        b'e', b'.', b'c', b'o', b'm',
    ];

    #[test]
    fn request_response_padded_data_and_continuation() {
        let mut h = H2Connection::new();
        let mut c = PREFACE.to_vec();
        c.extend(frame(4, 0, 0, &[0, 1, 0, 0, 0x10, 0]));
        // HEADERS split by a CONTINUATION.
        c.extend(frame(1, 0x1, 1, &REQ[..5]));
        c.extend(frame(9, 0x4, 1, &REQ[5..]));
        for (n, b) in c.iter().enumerate() {
            h.push(Side::Client, &[*b], &[n as u64 / 10 + 1]);
        }
        // :status 200 (static index 8), then padded DATA "hello" with END_STREAM.
        let mut s = frame(1, 0x4, 1, &[0x88]);
        s.extend(frame(
            0,
            0x8 | 0x1,
            1,
            &[3, b'h', b'e', b'l', b'l', b'o', 0, 0, 0],
        ));
        h.push(Side::Server, &s, &[9]);
        let ev = h.take_events();
        assert_eq!(
            ev[0],
            H2Event::Request {
                stream: 1,
                method: b"GET".to_vec(),
                target: b"/".to_vec(),
                authority: Some(b"www.example.com".to_vec()),
                scheme: Some(b"http".to_vec()),
                headers: vec![],
                frame: 4
            }
        );
        assert!(matches!(
            ev[1],
            H2Event::End {
                stream: 1,
                side: Side::Client,
                complete: true,
                ..
            }
        ));
        assert!(matches!(
            ev[2],
            H2Event::Response {
                stream: 1,
                status: 200,
                ..
            }
        ));
        assert_eq!(
            ev[3],
            H2Event::Body {
                stream: 1,
                side: Side::Server,
                data: b"hello".to_vec(),
                frames: vec![9]
            }
        );
        assert!(matches!(
            ev[4],
            H2Event::End {
                stream: 1,
                side: Side::Server,
                complete: true,
                ..
            }
        ));
        assert!(h.problems().is_empty());
    }

    #[test]
    fn reset_and_bad_input_end_streams_incomplete() {
        let mut h = H2Connection::new();
        let mut c = PREFACE.to_vec();
        c.extend(frame(1, 0x4, 3, REQ));
        c.extend(frame(3, 0, 3, &8u32.to_be_bytes()));
        h.push(Side::Client, &c, &[1]);
        let ev = h.take_events();
        assert!(ev.iter().any(|e| matches!(e, H2Event::End { stream: 3, side: Side::Server, complete: false, reason: Some(r) } if r.contains("CANCEL"))));
        let mut h = H2Connection::new();
        h.push(Side::Client, b"GET / HTTP/1.1\r\n", &[1]);
        assert!(h.stopped(Side::Client).unwrap().contains("preface"));
        let mut h = H2Connection::new();
        h.push(
            Side::Server,
            &frame(1, 0x4, 1, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
            &[1],
        );
        assert!(h.stopped(Side::Server).unwrap().contains("HPACK"));
    }
}
