//! content::http1: HTTP/1.x message framing of one connection, sans-I/O (RFC 9112).
//!
//! Bytes of each side go in, in order, with the frame that carried them; out come
//! [`HttpEvent`]s: a head, its body's bytes after transfer framing (chunked
//! removed), the end. Requests are numbered in order (pipelining), and each response
//! pairs with the oldest request still unanswered.
//!
//! Framing (RFC 9112 §6.3): no body for HEAD responses, 1xx, 204 and 304; a 101 or
//! a 2xx to CONNECT ends HTTP on the connection (what follows is another protocol);
//! `Transfer-Encoding: chunked` (extensions skipped, trailers read and dropped);
//! `Content-Length`; otherwise a response's body runs to the close, a request's is
//! empty. Bad framing (conflicting lengths, a bad chunk size, a head too long) stops
//! that side with an `End { complete: false, reason }`; a gap in the stream cuts the
//! message it falls in, and framing resumes only where the length is still known
//! (inside a Content-Length body). Never panics; holds at most [`MAX_HEAD`] bytes
//! per side.

use super::{HttpEvent, Side};
use crate::dissect::http::{lenient, read_head};
use std::collections::VecDeque;

/// Longest head (request or status line and header fields) read.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// Header fields read per head.
const MAX_HEADERS: usize = 128;
/// Longest chunk-size or trailer line.
const MAX_LINE: usize = 4096;
/// Requests awaiting their responses on one connection (pipelining).
pub(crate) const MAX_PENDING: usize = 1024;

#[derive(Debug)]
enum Chunk {
    /// Reading the chunk-size line.
    Size(Vec<u8>),
    Data(u64),
    /// The CRLF after a chunk's data (bytes of it still expected).
    DataEnd(u8),
    /// Trailer lines, until an empty one.
    Trailer(Vec<u8>),
}

#[derive(Debug)]
enum State {
    /// Waiting for (or reading) a head.
    Head,
    Length(u64),
    Chunked(Chunk),
    /// A response body that runs to the connection's close.
    ToClose,
    /// Not HTTP any more (after 101 or CONNECT), or given up after an error.
    Stopped,
}

#[derive(Debug)]
struct Half {
    state: State,
    head: Vec<u8>,
    /// Frame that carried the first byte of the head being read.
    head_frame: Option<u64>,
    /// Index of the message being read on this side.
    stream: u64,
    /// Whether a message (head seen) is open.
    open: bool,
}

impl Half {
    fn new() -> Half {
        Half {
            state: State::Head,
            head: Vec::new(),
            head_frame: None,
            stream: 0,
            open: false,
        }
    }
}

/// Framing state of one HTTP/1.x connection.
#[derive(Debug)]
pub struct Connection {
    client: Half,
    server: Half,
    /// Requests not answered yet: (index, method is HEAD, method is CONNECT).
    pending: VecDeque<(u64, bool, bool)>,
    /// The next request's index.
    next_request: u64,
    /// Set after a 101 or a CONNECT's 2xx: both sides stop.
    tunnel: bool,
    /// Minor version of the last response head (HTTP/1.0 or 1.1).
    minor: u8,
}

impl Default for Connection {
    fn default() -> Self {
        Connection::new()
    }
}

fn header<'a>(headers: &'a [(Vec<u8>, Vec<u8>)], name: &'a str) -> impl Iterator<Item = &'a [u8]> {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| v.as_slice())
}

fn trim(v: &[u8]) -> &[u8] {
    let s = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let e = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(s, |e| e + 1);
    &v[s..e.max(s)]
}

/// Why a message's body framing cannot be trusted (RFC 9112 §6.3): the framings a
/// request-smuggling attempt uses, each a reason to stop reading the connection.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum FramingError {
    #[error("request with a Transfer-Encoding that does not end in chunked")]
    RequestNotChunked,
    /// The value, cut to 40 bytes.
    #[error("invalid Content-Length {0:?}")]
    InvalidLength(String),
    #[error("conflicting Content-Length values")]
    ConflictingLengths,
}

/// How a message's body is framed, from its header fields; `Err` for bad framing.
fn body_framing(headers: &[(Vec<u8>, Vec<u8>)], is_response: bool) -> Result<State, FramingError> {
    let te: Vec<&[u8]> = header(headers, "transfer-encoding").collect();
    if !te.is_empty() {
        let last = te
            .iter()
            .flat_map(|v| v.split(|&b| b == b','))
            .map(trim)
            .rfind(|c| !c.is_empty());
        return match last {
            Some(c) if c.eq_ignore_ascii_case(b"chunked") => {
                Ok(State::Chunked(Chunk::Size(Vec::new())))
            }
            // Another coding last: the body runs to the close (a request's is invalid).
            _ if is_response => Ok(State::ToClose),
            _ => Err(FramingError::RequestNotChunked),
        };
    }
    let mut length: Option<u64> = None;
    for v in header(headers, "content-length") {
        for part in v.split(|&b| b == b',') {
            let part = trim(part);
            let n = std::str::from_utf8(part)
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| {
                    let shown = String::from_utf8_lossy(part.get(..40).unwrap_or(part));
                    FramingError::InvalidLength(shown.into_owned())
                })?;
            if length.is_some_and(|l| l != n) {
                return Err(FramingError::ConflictingLengths);
            }
            length = Some(n);
        }
    }
    Ok(match length {
        Some(0) => State::Head,
        Some(n) => State::Length(n),
        None if is_response => State::ToClose,
        None => State::Head,
    })
}

fn owned(headers: &[httparse::Header<'_>]) -> Vec<(Vec<u8>, Vec<u8>)> {
    headers
        .iter()
        .map(|h| (h.name.as_bytes().to_vec(), h.value.to_vec()))
        .collect()
}

impl Connection {
    pub fn new() -> Connection {
        Connection {
            client: Half::new(),
            server: Half::new(),
            pending: VecDeque::new(),
            next_request: 0,
            tunnel: false,
            minor: 1,
        }
    }

    fn half(&mut self, side: Side) -> &mut Half {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    /// The HTTP version of the responses on this connection ("1.0" or "1.1").
    pub fn version(&self) -> &'static str {
        if self.minor == 0 {
            "1.0"
        } else {
            "1.1"
        }
    }

    /// Whether neither side will produce anything more.
    pub(crate) fn is_stopped(&self) -> bool {
        matches!(self.client.state, State::Stopped) && matches!(self.server.state, State::Stopped)
    }

    /// Ends the open message of `side` as cut short, and stops the side.
    fn fail(&mut self, side: Side, reason: String, out: &mut Vec<HttpEvent>) {
        let h = self.half(side);
        if h.open {
            out.push(HttpEvent::End {
                stream: h.stream,
                side,
                complete: false,
                reason: Some(reason),
            });
            h.open = false;
        } else if !matches!(h.state, State::Stopped) {
            // No message open: the problem is the connection's; report it on the
            // next message index so that it is not lost.
            out.push(HttpEvent::End {
                stream: h.stream,
                side,
                complete: false,
                reason: Some(reason),
            });
        }
        h.state = State::Stopped;
        h.head.clear();
    }

    fn end(&mut self, side: Side, out: &mut Vec<HttpEvent>) {
        let h = self.half(side);
        if h.open {
            out.push(HttpEvent::End {
                stream: h.stream,
                side,
                complete: true,
                reason: None,
            });
            h.open = false;
            h.stream += 1;
        }
        if !matches!(h.state, State::Stopped) {
            h.state = State::Head;
        }
        if self.tunnel {
            self.client.state = State::Stopped;
            self.server.state = State::Stopped;
        }
    }

    /// Bytes of `side`, in order, carried by `frame`.
    pub fn push(&mut self, side: Side, mut data: &[u8], frame: u64, out: &mut Vec<HttpEvent>) {
        while !data.is_empty() {
            let h = self.half(side);
            match &mut h.state {
                State::Stopped => return,
                State::Head => {
                    if h.head.is_empty() {
                        // Blank lines before a head are tolerated (RFC 9112 §2.2).
                        let skip = data
                            .iter()
                            .take_while(|&&b| b == b'\r' || b == b'\n')
                            .count();
                        data = &data[skip..];
                        if data.is_empty() {
                            return;
                        }
                        h.head_frame = Some(frame);
                    }
                    let before = h.head.len();
                    let take = data.len().min(MAX_HEAD - before);
                    h.head.extend_from_slice(&data[..take]);
                    match self.parse_head(side, out) {
                        Ok(Some(used)) => {
                            data = &data[(used - before).min(data.len())..];
                        }
                        Ok(None) => {
                            if self.half(side).head.len() >= MAX_HEAD {
                                self.fail(side, format!("head longer than {MAX_HEAD} bytes"), out);
                            }
                            return;
                        }
                        Err(e) => {
                            self.fail(side, e, out);
                            return;
                        }
                    }
                }
                State::Length(left) => {
                    let n = (*left).min(data.len() as u64) as usize;
                    *left -= n as u64;
                    let done = *left == 0;
                    let stream = h.stream;
                    out.push(HttpEvent::Body {
                        stream,
                        side,
                        data: data[..n].to_vec(),
                        frames: vec![frame],
                    });
                    data = &data[n..];
                    if done {
                        self.end(side, out);
                    }
                }
                State::ToClose => {
                    out.push(HttpEvent::Body {
                        stream: h.stream,
                        side,
                        data: data.to_vec(),
                        frames: vec![frame],
                    });
                    return;
                }
                State::Chunked(c) => {
                    let stream = h.stream;
                    let is_size = matches!(c, Chunk::Size(_));
                    match c {
                        Chunk::Data(left) => {
                            let n = (*left).min(data.len() as u64) as usize;
                            *left -= n as u64;
                            if *left == 0 {
                                *c = Chunk::DataEnd(2);
                            }
                            out.push(HttpEvent::Body {
                                stream,
                                side,
                                data: data[..n].to_vec(),
                                frames: vec![frame],
                            });
                            data = &data[n..];
                        }
                        Chunk::DataEnd(left) => {
                            let want: &[u8] = if *left == 2 { b"\r\n" } else { b"\n" };
                            if data[0] == want[0] {
                                data = &data[1..];
                                *left -= 1;
                                if *left == 0 {
                                    *c = Chunk::Size(Vec::new());
                                }
                            } else if *left == 2 && data[0] == b'\n' {
                                // A bare LF, tolerated.
                                data = &data[1..];
                                *c = Chunk::Size(Vec::new());
                            } else {
                                self.fail(side, "chunk data not followed by CRLF".into(), out);
                                return;
                            }
                        }
                        Chunk::Size(line) | Chunk::Trailer(line) => {
                            let nl = data.iter().position(|&b| b == b'\n');
                            let take = nl.map_or(data.len(), |p| p + 1);
                            if line.len() + take > MAX_LINE {
                                self.fail(side, "chunk-size or trailer line too long".into(), out);
                                return;
                            }
                            line.extend_from_slice(&data[..take]);
                            data = &data[take..];
                            if nl.is_none() {
                                return;
                            }
                            let text = trim(line);
                            if is_size {
                                let size_part = text
                                    .split(|&b| b == b';')
                                    .next()
                                    .map(trim)
                                    .unwrap_or_default();
                                let size = std::str::from_utf8(size_part)
                                    .ok()
                                    .filter(|s| {
                                        !s.is_empty()
                                            && s.len() <= 16
                                            && s.bytes().all(|b| b.is_ascii_hexdigit())
                                    })
                                    .and_then(|s| u64::from_str_radix(s, 16).ok());
                                match size {
                                    Some(0) => *c = Chunk::Trailer(Vec::new()),
                                    Some(n) => *c = Chunk::Data(n),
                                    None => {
                                        let shown = String::from_utf8_lossy(
                                            &size_part[..size_part.len().min(20)],
                                        )
                                        .into_owned();
                                        self.fail(
                                            side,
                                            format!("invalid chunk size {shown:?}"),
                                            out,
                                        );
                                        return;
                                    }
                                }
                            } else if text.is_empty() {
                                self.end(side, out);
                            } else {
                                line.clear();
                            }
                        }
                    }
                }
            }
        }
    }

    /// Parses the head being read; `Ok(Some(n))`: complete, `n` bytes of `head` used.
    fn parse_head(
        &mut self,
        side: Side,
        out: &mut Vec<HttpEvent>,
    ) -> Result<Option<usize>, String> {
        let frame = self.half(side).head_frame.unwrap_or(0);
        match side {
            Side::Client => {
                let head = std::mem::take(&mut self.client.head);
                let (status, read) = read_head(&head, |bytes| {
                    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
                    let mut req = httparse::Request::new(&mut fields);
                    let status = lenient().parse_request(&mut req, bytes);
                    // Kept only from a whole head (a partial one is parsed again).
                    let read = matches!(status, Ok(httparse::Status::Complete(_))).then(|| {
                        let method = req.method.unwrap_or("").as_bytes().to_vec();
                        let target = req.path.unwrap_or("").as_bytes().to_vec();
                        (method, target, owned(req.headers))
                    });
                    (status, read)
                });
                let res = match status {
                    Ok(httparse::Status::Partial) => Ok(None),
                    Err(e) => Err(format!("malformed request head: {e}")),
                    Ok(httparse::Status::Complete(n)) => {
                        let (method, target, headers) = read.unwrap_or_default();
                        let authority = header(&headers, "host").next().map(|v| trim(v).to_vec());
                        if self.pending.len() >= MAX_PENDING {
                            return Err(format!(
                                "more than {MAX_PENDING} requests awaiting responses"
                            ));
                        }
                        let stream = self.next_request;
                        self.next_request += 1;
                        let is_head = method == b"HEAD";
                        let is_connect = method == b"CONNECT";
                        self.pending.push_back((stream, is_head, is_connect));
                        let framing = body_framing(&headers, false);
                        out.push(HttpEvent::Request {
                            stream,
                            method,
                            target,
                            authority,
                            scheme: None,
                            headers,
                            frame,
                        });
                        self.client.stream = stream;
                        self.client.open = true;
                        match framing {
                            Ok(State::Head) => {
                                self.end(Side::Client, out);
                            }
                            Ok(s) => self.client.state = s,
                            Err(e) => return Err(e.to_string()),
                        }
                        if is_connect {
                            // What follows a CONNECT depends on the answer; nothing
                            // more is read from the client.
                            self.client.state = State::Stopped;
                        }
                        Ok(Some(n))
                    }
                };
                if let Ok(None) = res {
                    self.client.head = head;
                } else {
                    self.client.head = Vec::new();
                }
                res
            }
            Side::Server => {
                let head = std::mem::take(&mut self.server.head);
                let (parsed, read) = read_head(&head, |bytes| {
                    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
                    let mut resp = httparse::Response::new(&mut fields);
                    let parsed = lenient().parse_response(&mut resp, bytes);
                    let read = matches!(parsed, Ok(httparse::Status::Complete(_)))
                        .then(|| (resp.code.unwrap_or(0), resp.version, owned(resp.headers)));
                    (parsed, read)
                });
                let res = match parsed {
                    Ok(httparse::Status::Partial) => Ok(None),
                    Err(e) => Err(format!("malformed response head: {e}")),
                    Ok(httparse::Status::Complete(n)) => {
                        let (status, minor, headers) = read.unwrap_or_default();
                        self.minor = minor.unwrap_or(1);
                        if (100..200).contains(&status) && status != 101 {
                            // Interim response: the final one follows for the same
                            // request.
                            Ok(Some(n))
                        } else {
                            let (stream, is_head, is_connect) = self
                                .pending
                                .pop_front()
                                .unwrap_or((self.server.stream, false, false));
                            out.push(HttpEvent::Response {
                                stream,
                                status,
                                headers: headers.clone(),
                                frame,
                            });
                            self.server.stream = stream;
                            self.server.open = true;
                            let tunnel =
                                status == 101 || (is_connect && (200..300).contains(&status));
                            let framing = if tunnel {
                                self.tunnel = true;
                                Ok(State::Head)
                            } else if is_head || status == 204 || status == 304 {
                                Ok(State::Head)
                            } else {
                                body_framing(&headers, true)
                            };
                            match framing {
                                Ok(State::Head) => self.end(Side::Server, out),
                                Ok(s) => self.server.state = s,
                                Err(e) => return Err(e.to_string()),
                            }
                            Ok(Some(n))
                        }
                    }
                };
                if let Ok(None) = res {
                    self.server.head = head;
                } else {
                    self.server.head = Vec::new();
                }
                res
            }
        }
    }

    /// `len` bytes of `side` were never seen. Inside a Content-Length body the
    /// message goes on (its length is still known): the message's index is returned
    /// so that the caller marks it; anywhere else the side stops.
    pub fn gap(&mut self, side: Side, len: u64, out: &mut Vec<HttpEvent>) -> Option<u64> {
        let h = self.half(side);
        if let State::Length(left) = &mut h.state {
            if len < *left {
                *left -= len;
                return Some(h.stream);
            }
        }
        if !matches!(h.state, State::Stopped) {
            self.fail(
                side,
                format!("{len} bytes of the stream were never seen"),
                out,
            );
        }
        None
    }

    /// The side's stream ended: `clean` for a FIN with nothing missing before it,
    /// else `why` says how (a reset, the end of the capture). A close-delimited body
    /// ends complete only on a clean close.
    pub fn close(&mut self, side: Side, clean: bool, why: &str, out: &mut Vec<HttpEvent>) {
        let h = self.half(side);
        match h.state {
            State::ToClose if clean => self.end(side, out),
            State::Head if h.head.is_empty() => {}
            State::Stopped => {}
            State::Head => self.fail(side, format!("{why} inside a head"), out),
            _ => self.fail(side, format!("{why} before the body ended"), out),
        }
        self.half(side).state = State::Stopped;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(conn: &mut Connection, parts: &[(Side, &[u8])]) -> Vec<String> {
        let mut out = Vec::new();
        for (i, (side, data)) in parts.iter().enumerate() {
            conn.push(*side, data, i as u64 + 1, &mut out);
        }
        out.iter()
            .map(|e| match e {
                HttpEvent::Request { stream, method, .. } => {
                    format!("req{stream} {}", String::from_utf8_lossy(method))
                }
                HttpEvent::Response { stream, status, .. } => format!("resp{stream} {status}"),
                HttpEvent::Body { stream, data, .. } => {
                    format!("body{stream} {}", String::from_utf8_lossy(data))
                }
                HttpEvent::End {
                    stream,
                    side,
                    complete,
                    ..
                } => format!("end{stream} {side:?} {complete}"),
            })
            .collect()
    }

    #[test]
    fn pipelined_head_chunked_and_length() {
        let mut c = Connection::new();
        let got = events(
            &mut c,
            &[
                (Side::Client, b"HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\n"),
                (Side::Client, b"Host: x\r\n\r\n"),
                (Side::Server, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
                (Side::Server, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r"),
                (Side::Server, b"\nde\r\n0\r\nX-T: 1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nxyz"),
            ],
        );
        assert_eq!(
            got,
            [
                "req0 HEAD",
                "end0 Client true",
                "req1 GET",
                "end1 Client true",
                "req2 GET",
                "end2 Client true",
                "resp0 200",
                "end0 Server true",
                "resp1 200",
                "body1 abc",
                "body1 de",
                "end1 Server true",
                "resp2 200",
                "body2 xyz",
                "end2 Server true",
            ]
        );
    }

    #[test]
    fn close_delimited_tunnel_and_bad_framing() {
        let mut c = Connection::new();
        let mut out = Vec::new();
        c.push(Side::Server, b"HTTP/1.0 200 OK\r\n\r\nall", 1, &mut out);
        c.close(Side::Server, true, "the connection closed", &mut out);
        assert!(matches!(
            out.last(),
            Some(HttpEvent::End { complete: true, .. })
        ));

        let mut c = Connection::new();
        let got = events(
            &mut c,
            &[
                (
                    Side::Client,
                    b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
                ),
                (Side::Server, b"HTTP/1.1 101 Switching\r\n\r\n\x81\x05hello"),
            ],
        );
        assert_eq!(got.last().map(String::as_str), Some("end0 Server true"));
        assert!(c.is_stopped());

        // A NUL in a header line: the line skipped, as the names' dissector skips it.
        let mut c = Connection::new();
        let mut out = Vec::new();
        c.push(
            Side::Client,
            b"GET /a HTTP/1.1\r\nX: \0\r\nHost: dl.example\r\n\r\n",
            1,
            &mut out,
        );
        assert!(
            matches!(out.first(), Some(HttpEvent::Request { authority: Some(a), .. }) if a == b"dl.example"),
            "{out:?}"
        );

        for bad in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"\x00\x01garbage\r\n\r\n",
        ] {
            let mut c = Connection::new();
            let mut out = Vec::new();
            c.push(Side::Server, bad, 1, &mut out);
            assert!(
                matches!(
                    out.last(),
                    Some(HttpEvent::End {
                        complete: false,
                        ..
                    })
                ),
                "{out:?}"
            );
        }
    }

    #[test]
    fn body_framing_names_the_smuggling_shape_it_refuses() {
        let h = |pairs: &[(&str, &str)]| -> Vec<(Vec<u8>, Vec<u8>)> {
            pairs
                .iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect()
        };
        let framing = |pairs: &[(&str, &str)], response| body_framing(&h(pairs), response);
        assert_eq!(
            framing(&[("Content-Length", "3"), ("Content-Length", "4")], true).err(),
            Some(FramingError::ConflictingLengths)
        );
        assert_eq!(
            framing(&[("Content-Length", "-1")], false).err(),
            Some(FramingError::InvalidLength("-1".into()))
        );
        assert_eq!(
            framing(&[("Transfer-Encoding", "chunked, gzip")], false).err(),
            Some(FramingError::RequestNotChunked)
        );
        // A response may end in another coding: its body runs to the close.
        assert!(matches!(
            framing(&[("Transfer-Encoding", "gzip")], true),
            Ok(State::ToClose)
        ));
        assert!(matches!(
            framing(&[("Content-Length", "5, 5")], true),
            Ok(State::Length(5))
        ));
    }
}
