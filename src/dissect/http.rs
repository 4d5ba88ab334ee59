//! dissect::http: HTTP/1.x request and response heads (RFC 9112) on any port.
//!
//! [`HttpStream`] reads one TCP direction: it decides from the first bytes whether it
//! carries requests or responses, parses each head with `httparse`, then skips the body
//! (RFC 9112 §6.3: `Transfer-Encoding: chunked` chunk by chunk, else `Content-Length`;
//! a response without either runs to the end of the connection) to reach the next,
//! pipelined, message. It stops where the body length cannot be known.
//!
//! Contract on bad input: never panics; a head larger than [`HEAD_CAP`] or with more
//! than [`MAX_HEADERS`] fields is an error; bytes that are not HTTP answer `NotMine`.

use super::{Step, WireString};
use serde::Serialize;

/// Largest head read; RFC 9112 sets no limit, servers commonly stop at 8-16 KiB.
pub(crate) const HEAD_CAP: usize = 16 * 1024;
/// Header fields read per head (on the stack, no allocation).
pub(crate) const MAX_HEADERS: usize = 64;

/// What an HTTP/1.x request starts with: its method and a space.
pub(crate) const REQUEST_STARTS: [&[u8]; 18] = [
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
    // WebDAV (RFC 4918, RFC 5323, RFC 3253's REPORT): file servers that pirate
    // copies are uploaded to and listed from. tshark reads these as HTTP too.
    b"PROPFIND ",
    b"PROPPATCH ",
    b"MKCOL ",
    b"COPY ",
    b"MOVE ",
    b"LOCK ",
    b"UNLOCK ",
    b"SEARCH ",
    b"REPORT ",
];

/// What an HTTP/1.x response starts with.
pub(crate) const RESPONSE_START: &[u8] = b"HTTP/1.";

/// The bytes start an HTTP/1.x request.
pub(crate) fn starts_request(b: &[u8]) -> bool {
    REQUEST_STARTS.iter().any(|s| b.starts_with(s))
}

/// The bytes start an HTTP/1.x request or response.
pub(crate) fn starts_message(b: &[u8]) -> bool {
    starts_request(b) || b.starts_with(RESPONSE_START)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RequestInfo {
    pub method: WireString,
    pub uri: WireString,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    pub host: Option<WireString>,
    pub user_agent: Option<WireString>,
    pub referer: Option<WireString>,
    /// Header lines of the head that could not be read as headers and were
    /// skipped (see [`lenient`]); omitted when none were.
    #[serde(skip_serializing_if = "crate::model::is_zero")]
    pub skipped_header_lines: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResponseInfo {
    pub status: u16,
    pub version: u8,
    pub content_type: Option<WireString>,
    pub content_length: Option<u64>,
    /// As for a request; a folded line (obs-fold, joined to the header before it)
    /// is not a header line of its own.
    #[serde(skip_serializing_if = "crate::model::is_zero")]
    pub skipped_header_lines: u32,
}

impl HttpMessage {
    /// Header lines of its head that were skipped as unreadable.
    pub fn skipped_header_lines(&self) -> u32 {
        match self {
            HttpMessage::Request(r) => r.skipped_header_lines,
            HttpMessage::Response(r) => r.skipped_header_lines,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum HttpMessage {
    Request(RequestInfo),
    Response(ResponseInfo),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("malformed HTTP head: {reason}")]
    Head { reason: String },
    #[error("HTTP head longer than {cap} bytes and still incomplete")]
    HeadTooLong { cap: usize },
    #[error("invalid Content-Length {value:?}")]
    ContentLength { value: WireString },
    #[error("malformed chunked body: {reason}")]
    Chunk { reason: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Unknown,
    Requests,
    Responses,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    None,
    Length(u64),
    Chunked,
    /// After the last chunk: trailer fields until an empty line.
    Trailers,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Head,
    Body(Body),
    Done,
    NotMine,
}

/// Reads HTTP/1.x messages from one TCP direction's contiguous prefix.
#[derive(Clone, Debug)]
pub struct HttpStream {
    offset: usize,
    kind: Kind,
    state: State,
}

impl Default for HttpStream {
    fn default() -> Self {
        HttpStream::new()
    }
}

/// The `host:port` of a `CONNECT` request target (RFC 9110 §9.3.6, authority-form),
/// or of an absolute-form URI (`http://host[:port]/...`, a forward proxy's request);
/// an IPv6 literal keeps its brackets. `None` when the target is neither.
pub fn authority(uri: &[u8], connect: bool) -> Option<(WireString, u16)> {
    let (rest, default) = if connect {
        (uri, None)
    } else if uri.len() > 7 && uri[..7].eq_ignore_ascii_case(b"http://") {
        (&uri[7..], Some(80))
    } else {
        return None;
    };
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let auth = rest.get(..end)?;
    // userinfo@ is not part of the host.
    let auth = match auth.iter().rposition(|&b| b == b'@') {
        Some(i) => auth.get(i + 1..)?,
        None => auth,
    };
    let colon = auth.iter().rposition(|&b| b == b':');
    let (host, port) = match colon {
        Some(i) if !auth[i..].contains(&b']') => {
            let port = std::str::from_utf8(auth.get(i + 1..)?).ok()?.parse().ok()?;
            (auth.get(..i)?, port)
        }
        _ => (auth, default?),
    };
    if host.is_empty() || !host.iter().all(u8::is_ascii_graphic) {
        return None;
    }
    Some((WireString::new(host), port))
}

/// How heads are parsed: as leniently as httparse allows, as tshark reads them. A
/// client or server that pads its request or status line with extra spaces, folds
/// a response header, or sends a header line httparse finds invalid (a control
/// byte in its value, say) still has its head read: the invalid lines are skipped,
/// the others (the Host among them) kept. `content::http1` frames messages with the
/// same rules, so that what is named is also what is followed.
pub(crate) fn lenient() -> httparse::ParserConfig {
    let mut c = httparse::ParserConfig::default();
    c.allow_multiple_spaces_in_request_line_delimiters(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .ignore_invalid_headers_in_requests(true)
        .ignore_invalid_headers_in_responses(true);
    c
}

/// Parses a head with `parse` (which reads it with [`lenient`] and answers what it
/// needs owned), as tshark reads it: httparse refuses a head holding a NUL byte
/// in a header line outright, even when told to skip invalid lines, so such a head
/// is parsed again from a copy whose NULs are another control byte
/// ([`nul_free_head`]). Only a head httparse refused pays for the copy.
pub(crate) fn read_head<T>(
    head: &[u8],
    parse: impl Fn(&[u8]) -> (httparse::Result<usize>, T),
) -> (httparse::Result<usize>, T) {
    let first = parse(head);
    if matches!(
        first.0,
        Err(httparse::Error::HeaderName | httparse::Error::HeaderValue)
    ) {
        if let Some(copy) = nul_free_head(head) {
            return parse(&copy);
        }
    }
    first
}

/// When a NUL comes before the head's end (its first empty line, or [`HEAD_CAP`]
/// bytes), a copy of the head with each NUL turned into 0x01, so that the header
/// line holding one is skipped as any invalid line is (a NUL in the request or
/// status line still makes it no head); `None` when there is none.
fn nul_free_head(bytes: &[u8]) -> Option<Vec<u8>> {
    let window = bytes.get(..HEAD_CAP + 1).unwrap_or(bytes);
    if !window.contains(&0) {
        return None;
    }
    let end = head_end(window).unwrap_or(window.len());
    let head = window.get(..end)?;
    head.contains(&0)
        .then(|| head.iter().map(|&b| if b == 0 { 1 } else { b }).collect())
}

/// Where the first empty line ends (`\n\n` or `\n\r\n`).
fn head_end(b: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = b.get(from..)?.iter().position(|&c| c == b'\n') {
        let at = from + p + 1;
        let next = b.get(at..).unwrap_or_default();
        if next.starts_with(b"\n") {
            return Some(at + 1);
        }
        if next.starts_with(b"\r\n") {
            return Some(at + 2);
        }
        from = at;
    }
    None
}

/// What a head says: its record, and how the body after it is framed.
type Read = (HttpMessage, Result<Body, HttpError>);

/// What a request head says, as [`read_head`] wants it.
fn request_head(head: &[u8]) -> (httparse::Result<usize>, Read) {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let parsed = lenient().parse_request(&mut req, head);
    let body = match &parsed {
        Ok(httparse::Status::Complete(_)) if is_chunked(req.headers) => Ok(Body::Chunked),
        Ok(httparse::Status::Complete(_)) => {
            content_length(req.headers).map(|l| l.map_or(Body::None, Body::Length))
        }
        _ => Ok(Body::None),
    };
    let record = HttpMessage::Request(RequestInfo {
        method: WireString::from(req.method.unwrap_or("")),
        uri: WireString::from(req.path.unwrap_or("")),
        version: req.version.unwrap_or(0),
        host: header(req.headers, "host").map(|v| WireString::new(trim(v))),
        user_agent: header(req.headers, "user-agent").map(|v| WireString::new(trim(v))),
        referer: header(req.headers, "referer").map(|v| WireString::new(trim(v))),
        skipped_header_lines: skipped_lines(head, &parsed, req.headers.len(), false),
    });
    (parsed, (record, body))
}

/// What a response head says, as [`read_head`] wants it.
fn response_head(head: &[u8]) -> (httparse::Result<usize>, Read) {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let parsed = lenient().parse_response(&mut resp, head);
    let status = resp.code.unwrap_or(0);
    let length = content_length(resp.headers);
    let body = match &parsed {
        // RFC 9112 §6.3: 1xx, 204 and 304 responses have no body.
        Ok(httparse::Status::Complete(_))
            if (100..200).contains(&status) || status == 204 || status == 304 =>
        {
            Ok(Body::None)
        }
        Ok(httparse::Status::Complete(_)) if is_chunked(resp.headers) => Ok(Body::Chunked),
        Ok(httparse::Status::Complete(_)) => match &length {
            Ok(Some(n)) => Ok(Body::Length(*n)),
            // Read until the connection closes: nothing follows.
            Ok(None) => Ok(Body::Length(u64::MAX)),
            Err(e) => Err(e.clone()),
        },
        _ => Ok(Body::None),
    };
    let record = HttpMessage::Response(ResponseInfo {
        status,
        version: resp.version.unwrap_or(0),
        content_type: header(resp.headers, "content-type").map(|v| WireString::new(trim(v))),
        content_length: length.ok().flatten(),
        skipped_header_lines: skipped_lines(head, &parsed, resp.headers.len(), true),
    });
    (parsed, (record, body))
}

/// The header lines of a complete head (`parsed` its length) that are not among
/// its `headers` parsed ones: the lines the lenient reading skipped. With `folds`
/// (responses), a line starting with a space or a tab continues the one before
/// (and goes with it when that one was skipped).
fn skipped_lines(
    head: &[u8],
    parsed: &httparse::Result<usize>,
    headers: usize,
    folds: bool,
) -> u32 {
    let Ok(httparse::Status::Complete(len)) = parsed else {
        return 0;
    };
    let mut lines = 0usize;
    for (i, l) in head
        .get(..*len)
        .unwrap_or(head)
        .split(|&b| b == b'\n')
        .skip(1)
        .take_while(|l| !l.is_empty() && *l != b"\r")
        .enumerate()
    {
        // A fold continues the field line before it; right after the start line
        // there is none (RFC 9112 §2.2), and the line is one of its own.
        let fold = folds && i > 0 && l.first().is_some_and(|&b| b == b' ' || b == b'\t');
        lines += usize::from(!fold);
    }
    u32::try_from(lines.saturating_sub(headers)).unwrap_or(u32::MAX)
}

fn header<'a>(headers: &[httparse::Header<'a>], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    v.get(start..end).unwrap_or(&[])
}

fn content_length(headers: &[httparse::Header<'_>]) -> Result<Option<u64>, HttpError> {
    let Some(v) = header(headers, "content-length") else {
        return Ok(None);
    };
    let v = trim(v);
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return Err(HttpError::ContentLength {
            value: WireString::new(v),
        });
    }
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Some)
        .ok_or(HttpError::ContentLength {
            value: WireString::new(v),
        })
}

fn is_chunked(headers: &[httparse::Header<'_>]) -> bool {
    // RFC 9112 §6.3: chunked must be the final transfer coding.
    header(headers, "transfer-encoding").is_some_and(|v| {
        let v = trim(v);
        v.len() >= 7
            && v.get(v.len() - 7..)
                .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"))
    })
}

impl HttpStream {
    pub fn new() -> Self {
        HttpStream {
            offset: 0,
            kind: Kind::Unknown,
            state: State::Head,
        }
    }

    fn error(&mut self, offset: usize, error: HttpError) -> Step<HttpMessage, HttpError> {
        self.state = State::Done;
        Step::Error { offset, error }
    }

    /// Next message head from the contiguous prefix.
    pub fn next(&mut self, stream: &[u8]) -> Step<HttpMessage, HttpError> {
        loop {
            match self.state {
                State::Done => return Step::Done,
                State::NotMine => return Step::NotMine,
                State::Body(body) => {
                    if let Some(step) = self.skip_body(stream, body) {
                        return step;
                    }
                }
                State::Head => return self.head(stream),
            }
        }
    }

    /// Advances over a body; answers a step when it must stop.
    fn skip_body(&mut self, stream: &[u8], body: Body) -> Option<Step<HttpMessage, HttpError>> {
        match body {
            Body::None => self.state = State::Head,
            Body::Length(n) => {
                let end = u64::try_from(self.offset)
                    .ok()
                    .and_then(|o| o.checked_add(n))
                    .and_then(|e| usize::try_from(e).ok());
                let Some(end) = end else {
                    self.state = State::Done;
                    return Some(Step::Done);
                };
                if stream.len() < end {
                    return Some(Step::NeedMore { need: Some(end) });
                }
                self.offset = end;
                self.state = State::Head;
            }
            Body::Chunked => {
                let rest = stream.get(self.offset..).unwrap_or(&[]);
                match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((n, 0))) => {
                        self.offset += n;
                        self.state = State::Body(Body::Trailers);
                    }
                    Ok(httparse::Status::Complete((n, size))) => {
                        // Chunk data then CRLF (RFC 9112 §7.1).
                        let end = usize::try_from(size).ok().and_then(|s| {
                            self.offset.checked_add(n)?.checked_add(s)?.checked_add(2)
                        });
                        let Some(end) = end else {
                            self.state = State::Done;
                            return Some(Step::Done);
                        };
                        if stream.len() < end {
                            return Some(Step::NeedMore { need: Some(end) });
                        }
                        self.offset = end;
                    }
                    Ok(httparse::Status::Partial) => return Some(Step::NeedMore { need: None }),
                    Err(e) => {
                        let at = self.offset;
                        return Some(self.error(
                            at,
                            HttpError::Chunk {
                                reason: e.to_string(),
                            },
                        ));
                    }
                }
            }
            Body::Trailers => {
                let rest = stream.get(self.offset..).unwrap_or(&[]);
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                match httparse::parse_headers(rest, &mut headers) {
                    Ok(httparse::Status::Complete((n, _))) => {
                        self.offset += n;
                        self.state = State::Head;
                    }
                    Ok(httparse::Status::Partial) => return Some(Step::NeedMore { need: None }),
                    Err(e) => {
                        let at = self.offset;
                        return Some(self.error(
                            at,
                            HttpError::Chunk {
                                reason: e.to_string(),
                            },
                        ));
                    }
                }
            }
        }
        None
    }

    fn head(&mut self, stream: &[u8]) -> Step<HttpMessage, HttpError> {
        let start = self.offset;
        let rest = stream.get(start..).unwrap_or(&[]);
        if rest.is_empty() {
            return Step::NeedMore {
                need: start.checked_add(1),
            };
        }
        if self.kind == Kind::Unknown {
            if rest.len() < 5 && b"HTTP/".starts_with(rest) {
                return Step::NeedMore {
                    need: Some(start + 5),
                };
            }
            self.kind = if rest.starts_with(b"HTTP/") {
                Kind::Responses
            } else {
                Kind::Requests
            };
        }
        let (parsed, (record, body)) = if self.kind == Kind::Requests {
            read_head(rest, request_head)
        } else {
            read_head(rest, response_head)
        };
        match parsed {
            Ok(httparse::Status::Complete(n)) => {
                self.offset = start + n;
                match body {
                    Ok(Body::Length(u64::MAX)) => self.state = State::Done,
                    Ok(b) => self.state = State::Body(b),
                    Err(error) => {
                        self.state = State::Done;
                        return Step::Error {
                            offset: start,
                            error,
                        };
                    }
                }
                Step::Record {
                    range: start..start + n,
                    record,
                }
            }
            Ok(httparse::Status::Partial) => {
                if rest.len() > HEAD_CAP {
                    self.error(start, HttpError::HeadTooLong { cap: HEAD_CAP })
                } else {
                    Step::NeedMore { need: None }
                }
            }
            Err(e) => {
                if start == 0
                    && matches!(
                        e,
                        httparse::Error::Token
                            | httparse::Error::Version
                            | httparse::Error::NewLine
                    )
                {
                    self.state = State::NotMine;
                    return Step::NotMine;
                }
                self.error(
                    start,
                    HttpError::Head {
                        reason: e.to_string(),
                    },
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn proxy_request_targets_give_host_and_port() {
        let a = |u: &str, c| super::authority(u.as_bytes(), c).map(|(h, p)| (h.to_string(), p));
        assert_eq!(a("dl.example:443", true), Some(("dl.example".into(), 443)));
        assert_eq!(
            a("[2001:db8::1]:443", true),
            Some(("[2001:db8::1]".into(), 443))
        );
        assert_eq!(a("dl.example", true), None);
        assert_eq!(
            a("http://u@dl.example/x:1", false),
            Some(("dl.example".into(), 80))
        );
        assert_eq!(
            a("HTTP://dl.example:8080?q", false),
            Some(("dl.example".into(), 8080))
        );
        assert_eq!(a("/index.html", false), None);
    }

    use super::*;
    use crate::dissect::tls::tests::hex;

    // Recorded on loopback port 8081 (not 80): `curl -A fixture-curl/1 -e
    // http://ref.example.test/ http://127.0.0.1:8081/a.txt http://127.0.0.1:8081/b.html`
    // against Python's http.server with HTTP/1.1 keep-alive (see
    // tests/fixtures/dissect/README.md). The two requests went over one connection.
    const REQ_A: &str = include_str!("../../tests/fixtures/dissect/curl_http_request_a.hex");
    const REQ_B: &str = include_str!("../../tests/fixtures/dissect/curl_http_request_b.hex");
    const RESP_A_HEAD: &str =
        include_str!("../../tests/fixtures/dissect/python_http_response_a_head.hex");
    const RESP_A_BODY: &str =
        include_str!("../../tests/fixtures/dissect/python_http_response_a_body.hex");
    const RESP_B_HEAD: &str =
        include_str!("../../tests/fixtures/dissect/python_http_response_b_head.hex");
    const RESP_B_BODY: &str =
        include_str!("../../tests/fixtures/dissect/python_http_response_b_body.hex");

    fn all(stream: &[u8]) -> Vec<Step<HttpMessage, HttpError>> {
        let mut h = HttpStream::new();
        let mut out = Vec::new();
        loop {
            let s = h.next(stream);
            let more = matches!(s, Step::Record { .. });
            out.push(s);
            if !more || out.len() > 1000 {
                return out;
            }
        }
    }

    #[test]
    fn heads_a_strict_parser_refuses_are_read_as_tshark_reads_them() {
        let host = |b: &[u8]| match &all(b)[0] {
            Step::Record {
                record: HttpMessage::Request(r),
                ..
            } => (r.method.to_string(), r.host.clone().map(|h| h.to_string())),
            other => panic!("{other:?}"),
        };
        // A request line padded with spaces; a header line with a control byte in
        // its value (skipped, the Host kept); a header name with a space in it.
        assert_eq!(
            host(b"GET  /mtr.zip   HTTP/1.1\r\nHost: dl.example\r\n\r\n"),
            ("GET".into(), Some("dl.example".into()))
        );
        assert_eq!(
            host(b"GET / HTTP/1.1\r\nX-Build: 1.4\x012\r\nHost: dl.example\r\n\r\n"),
            ("GET".into(), Some("dl.example".into()))
        );
        assert_eq!(
            host(b"GET / HTTP/1.1\r\nBad Name: x\r\nHost: dl.example\r\n\r\n"),
            ("GET".into(), Some("dl.example".into()))
        );
        // WebDAV's methods.
        for m in [
            "PROPFIND",
            "MKCOL",
            "COPY",
            "MOVE",
            "LOCK",
            "UNLOCK",
            "PROPPATCH",
        ] {
            let req = format!("{m} /games/ HTTP/1.1\r\nHost: dav.example\r\n\r\n");
            assert!(starts_request(req.as_bytes()), "{m}");
            assert_eq!(host(req.as_bytes()), (m.into(), Some("dav.example".into())));
        }
        // A status line padded with spaces, a folded header.
        let resp = b"HTTP/1.1  200  OK\r\nServer: x\r\n  folded\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(
            &all(resp)[0],
            Step::Record { record: HttpMessage::Response(r), .. } if r.status == 200
        ));
        // A NUL in a header line (which httparse refuses outright): the line is
        // skipped, as one with any other control byte; the head's length is the
        // wire's.
        assert_eq!(
            host(b"GET / HTTP/1.1\r\nX: a\0b\r\nHost: h\r\n\r\n"),
            ("GET".into(), Some("h".into()))
        );
        let soap = b"POST /Apcn/ApcRemoteService HTTP/1.1\r\nContent-type:\0Application/xml\r\nHost: 10.68.137.118:8091\r\nContent-Length: 2\r\n\r\n\0\0";
        assert_eq!(
            host(soap),
            ("POST".into(), Some("10.68.137.118:8091".into()))
        );
        assert!(matches!(
            &all(soap)[0],
            Step::Record { range, .. } if range.end == soap.len() - 2
        ));
        // Still no head: a NUL in the request line.
        assert!(!matches!(
            &all(b"GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n")[0],
            Step::Record { .. }
        ));
        // NULs after the head (a body) leave it alone.
        assert_eq!(nul_free_head(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n\0"), None);
        assert_eq!(nul_free_head(b"GET / HTTP/1.1\n\n\0"), None);
        assert_eq!(
            nul_free_head(b"GET / HTTP/1.1\nX: \0\n\n\0").as_deref(),
            Some(&b"GET / HTTP/1.1\nX: \x01\n\n"[..])
        );
    }

    #[test]
    fn skipped_header_lines_are_counted() {
        let skipped = |b: &[u8]| match &all(b)[0] {
            Step::Record { record, .. } => record.skipped_header_lines(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            skipped(b"GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"),
            0
        );
        assert_eq!(skipped(b"GET / HTTP/1.1\n\n"), 0);
        // A control byte in a value, a name with a space, a NUL: each line skipped.
        assert_eq!(
            skipped(
                b"GET / HTTP/1.1\r\nX-Build: 1.4\x012\r\nBad Name: x\r\nHost: h\r\nY: a\0b\r\n\r\n"
            ),
            3
        );
        // Bare line feeds; a line without a colon; a request's folded line is not
        // read as a fold.
        assert_eq!(
            skipped(b"GET / HTTP/1.1\nnocolon\nHost: h\n  folded\n\n"),
            2
        );
        // A response's folded line continues the header before it.
        assert_eq!(
            skipped(
                b"HTTP/1.1 200 OK\r\nServer: x\r\n  folded\r\n\tmore\r\nContent-Length: 0\r\n\r\n"
            ),
            0
        );
        assert_eq!(
            skipped(b"HTTP/1.1 200 OK\r\nServer: x\x7f\r\nContent-Length: 0\r\n\r\n"),
            1
        );
        // A space-led line right after the status line folds nothing (RFC 9112
        // §2.2: consumed without being read); after a skipped line, it goes with it.
        assert_eq!(
            skipped(b"HTTP/1.1 200 OK\r\n lead\r\nServer: x\r\nContent-Length: 0\r\n\r\n"),
            1
        );
        assert_eq!(
            skipped(b"HTTP/1.1 200 OK\r\nBad Name: y\r\n more\r\nContent-Length: 0\r\n\r\n"),
            1
        );
        // Not a head yet: nothing counted.
        let parsed = Ok(httparse::Status::Partial);
        assert_eq!(
            skipped_lines(b"GET / HTTP/1.1\r\nBad Name: x\r\n", &parsed, 0, false),
            0
        );
    }

    #[test]
    fn pipelined_requests_in_one_segment_are_both_read() {
        let mut s = hex(REQ_A);
        let a_len = s.len();
        s.extend_from_slice(&hex(REQ_B));
        let steps = all(&s);
        assert_eq!(steps.len(), 3);
        match &steps[0] {
            Step::Record {
                range,
                record: HttpMessage::Request(r),
            } => {
                assert_eq!(*range, 0..a_len);
                assert_eq!(r.method, WireString::from("GET"));
                assert_eq!(r.uri, WireString::from("/a.txt"));
                assert_eq!(r.host, Some(WireString::from("127.0.0.1:8081")));
                assert_eq!(r.user_agent, Some(WireString::from("fixture-curl/1")));
                assert_eq!(
                    r.referer,
                    Some(WireString::from("http://ref.example.test/"))
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(&steps[1], Step::Record { record: HttpMessage::Request(r), .. } if r.uri == WireString::from("/b.html"))
        );
        assert_eq!(
            steps[2],
            Step::NeedMore {
                need: Some(s.len() + 1)
            }
        );
    }

    #[test]
    fn responses_skip_bodies_by_content_length() {
        let mut s = hex(RESP_A_HEAD);
        s.extend_from_slice(&hex(RESP_A_BODY));
        s.extend_from_slice(&hex(RESP_B_HEAD));
        s.extend_from_slice(&hex(RESP_B_BODY));
        let steps = all(&s);
        let resps: Vec<&ResponseInfo> = steps
            .iter()
            .filter_map(|x| match x {
                Step::Record {
                    record: HttpMessage::Response(r),
                    ..
                } => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(resps.len(), 2);
        assert_eq!(resps[0].status, 200);
        assert_eq!(resps[0].content_type, Some(WireString::from("text/plain")));
        assert_eq!(resps[0].content_length, Some(6));
        assert_eq!(resps[1].content_type, Some(WireString::from("text/html")));
    }

    #[test]
    fn head_split_over_segments_waits_for_more() {
        let s = hex(REQ_A);
        let mut h = HttpStream::new();
        assert_eq!(h.next(&s[..2]), Step::NeedMore { need: None });
        assert_eq!(h.next(&s[..30]), Step::NeedMore { need: None });
        assert!(matches!(h.next(&s), Step::Record { .. }));
    }

    #[test]
    fn chunked_bodies_are_skipped_to_the_next_response() {
        let s = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\nX-T: 1\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        let steps = all(s);
        assert!(
            matches!(&steps[1], Step::Record { record: HttpMessage::Response(r), .. } if r.status == 404)
        );
    }

    #[test]
    fn response_without_length_reads_to_close_and_stops() {
        let steps = all(b"HTTP/1.0 200 OK\r\n\r\nbody");
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[1], Step::Done);
    }

    #[test]
    fn tls_bytes_are_not_mine() {
        assert_eq!(all(&[0x16, 3, 1, 0, 5, 1, 2, 3, 4, 5]), vec![Step::NotMine]);
    }

    #[test]
    fn bad_content_length_is_an_error() {
        let steps = all(b"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n");
        assert!(matches!(
            steps.last(),
            Some(Step::Error {
                error: HttpError::ContentLength { .. },
                ..
            })
        ));
    }

    #[test]
    fn overflowing_content_length_does_not_wrap() {
        let steps = all(b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\nGET / HTTP/1.1\r\n\r\n");
        assert_eq!(steps.len(), 2);
        let steps = all(b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n");
        assert!(matches!(steps.last(), Some(Step::Error { .. })));
    }

    #[test]
    fn endless_head_is_capped() {
        let mut s = b"GET / HTTP/1.1\r\n".to_vec();
        while s.len() <= HEAD_CAP {
            s.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let steps = all(&s);
        assert!(matches!(steps.last(), Some(Step::Error { .. })));
    }
}
