//! content: the objects HTTP carried (bodies of responses, and of requests when
//! kept), out of the same streaming pass that identifies services.
//!
//! Bytes enter per connection and side, in order ([`follow`] turns TCP segments into
//! that; decrypted TLS plaintext enters at the same point), are framed into HTTP
//! messages ([`http1`]), their bodies decoded ([`decode`]) and hashed as they pass,
//! optionally written out ([`store`]); 206 parts of one resource are stitched after
//! the pass ([`ranges`]). Memory follows the connections open, not the bytes.
//!
//! [`HttpEvent`] is the seam between the protocol parsers (HTTP/1.x here, HTTP/2
//! elsewhere) and the object store: both produce the same events.

/// One side of a connection (the decryption stage's, so that plaintext and TCP
/// bytes enter the same way).
pub use crate::decrypt::Side;

/// What an HTTP connection carried, in order, the same for HTTP/1.x and HTTP/2.
///
/// `stream` is the HTTP/2 stream id, or for HTTP/1.x the message's index on the
/// connection (0, 1, 2, ... in request order; a response pairs with the request of
/// the same index).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpEvent {
    Request {
        stream: u64,
        method: Vec<u8>,
        /// Path or absolute-form; `:path` for HTTP/2.
        target: Vec<u8>,
        authority: Option<Vec<u8>>,
        scheme: Option<Vec<u8>>,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        frame: u64,
    },
    Response {
        stream: u64,
        status: u16,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        frame: u64,
    },
    /// Message body bytes as they appear after transfer framing (chunked removed,
    /// HTTP/2 DATA padding removed) but before Content-Encoding is undone.
    Body {
        stream: u64,
        side: Side,
        data: Vec<u8>,
        frames: Vec<u64>,
    },
    /// The message on this side ended; `complete` false with a reason when cut short
    /// (connection closed early, gap in the stream, RST_STREAM, budget).
    End {
        stream: u64,
        side: Side,
        complete: bool,
        reason: Option<String>,
    },
}

pub mod decode;
pub mod follow;
pub mod http1;
pub mod ranges;
pub mod store;

use crate::flow::TcpSegment;
use crate::flow::{ConvId, Conversation};
use crate::model::{Endpoint, FrameRef};
use std::collections::BTreeMap;
use std::path::PathBuf;
pub use store::{ExtractSummary, Object, ObjectRange};

/// Frames listed per object; the rest are counted (`frames_total`).
pub const MAX_OBJECT_FRAMES: usize = 64;

/// What the content stage is asked for.
#[derive(Clone, Debug)]
pub struct ContentOptions {
    /// Write each object's decoded bytes into this directory (new files only).
    pub extract: Option<PathBuf>,
    /// Cap on one object's decoded size.
    pub max_decoded: u64,
}

impl Default for ContentOptions {
    fn default() -> Self {
        ContentOptions {
            extract: None,
            max_decoded: decode::DEFAULT_MAX_DECODED,
        }
    }
}

/// A request seen, waiting for its response.
struct Request {
    method: String,
    target: Vec<u8>,
    authority: Option<Vec<u8>>,
    scheme: Option<Vec<u8>>,
}

/// A response whose body is passing.
struct Building {
    object: Object,
    decoder: decode::BodyDecoder,
    file: Option<tempfile::TempPath>,
}

impl Building {
    fn frame(&mut self, frame: u64) {
        let o = &mut self.object;
        if frame == o.last_frame {
            return;
        }
        o.frames_total += 1;
        o.last_frame = o.last_frame.max(frame);
        if o.frames.len() < MAX_OBJECT_FRAMES {
            o.frames.push(frame);
        }
    }
}

/// One HTTP connection being followed.
struct Conn {
    client: Endpoint,
    server: Endpoint,
    tls: bool,
    /// Index 0: the client's stream, 1: the server's.
    follow: [follow::Follower; 2],
    closed: [bool; 2],
    http: http1::Connection,
    requests: BTreeMap<u64, Request>,
    open: BTreeMap<u64, Building>,
}

enum Slot {
    New,
    Http(Box<Conn>),
    Off,
}

fn idx(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

const HTTP_REQUEST_STARTS: [&[u8]; 9] = [
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
];

/// The content stage of one capture: follows HTTP connections and collects the
/// objects they carried.
pub struct Content {
    capture: u32,
    opts: ContentOptions,
    budget: follow::Budget,
    slots: Vec<Slot>,
    objects: Vec<Object>,
    /// Temporary files of objects (extracted, or 206 parts kept for stitching),
    /// in the order of `objects`.
    files: Vec<Option<tempfile::TempPath>>,
    /// Problems of the stage itself (an extract file that could not be created).
    pub problems: Vec<String>,
}

impl Content {
    pub fn new(capture: u32, opts: ContentOptions) -> Content {
        Content {
            capture,
            opts,
            budget: follow::Budget::default(),
            slots: Vec::new(),
            objects: Vec::new(),
            files: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// A TCP segment of conversation `id`, sent by `src`.
    pub fn tcp(
        &mut self,
        id: ConvId,
        conv: &Conversation,
        src: Endpoint,
        seg: TcpSegment,
        payload: &[u8],
        at: FrameRef,
    ) {
        if self.slots.len() <= id {
            self.slots.resize_with(id + 1, || Slot::New);
        }
        if matches!(self.slots[id], Slot::Off) {
            return;
        }
        let (server, client) = crate::services::server_side(conv);
        let side = if src == client {
            Side::Client
        } else {
            Side::Server
        };
        if matches!(self.slots[id], Slot::New) {
            if payload.is_empty() {
                return;
            }
            let http = match side {
                Side::Client => HTTP_REQUEST_STARTS.iter().any(|s| payload.starts_with(s)),
                Side::Server => payload.starts_with(b"HTTP/1."),
            };
            self.slots[id] = if http {
                Slot::Http(Box::new(Conn::new(client, server, false)))
            } else {
                Slot::Off
            };
        }
        let Slot::Http(conn) = &mut self.slots[id] else {
            return;
        };
        let mut events = Vec::new();
        let mut gaps = Vec::new();
        let (follower, http) = (&mut conn.follow[idx(side)], &mut conn.http);
        follower.push(
            &mut self.budget,
            seg.seq,
            seg.syn,
            payload,
            at.frame,
            &mut |d| deliver(http, side, d, &mut events, &mut gaps),
        );
        self.apply(id, side, events, gaps);
        if seg.fin || seg.rst {
            self.close(id, side, seg.rst);
        } else if let Some(Slot::Http(conn)) = self.slots.get(id) {
            // Not HTTP any more (a tunnel, or framing given up on both sides).
            if conn.http.is_stopped() {
                if let Slot::Http(conn) = std::mem::replace(&mut self.slots[id], Slot::Off) {
                    self.abandon(*conn, "the connection stopped being HTTP");
                }
            }
        }
    }

    /// Decrypted plaintext of one side of connection `id` (e.g. TLS application data
    /// once a key log opened it), in order, with the frames that carried it: it takes
    /// the same HTTP path as cleartext TCP bytes.
    pub fn plaintext(
        &mut self,
        id: ConvId,
        client: Endpoint,
        server: Endpoint,
        side: Side,
        bytes: &[u8],
        frames: &[u64],
    ) {
        if self.slots.len() <= id {
            self.slots.resize_with(id + 1, || Slot::New);
        }
        if matches!(self.slots[id], Slot::New) {
            self.slots[id] = Slot::Http(Box::new(Conn::new(client, server, true)));
        }
        let Slot::Http(conn) = &mut self.slots[id] else {
            return;
        };
        let mut events = Vec::new();
        let frame = frames.last().copied().unwrap_or(0);
        conn.http.push(side, bytes, frame, &mut events);
        self.apply(id, side, events, Vec::new());
    }

    /// Ends `side` of connection `id` (both on a reset).
    fn close(&mut self, id: ConvId, side: Side, reset: bool) {
        let sides: &[Side] = if reset {
            &[Side::Client, Side::Server]
        } else if side == Side::Client {
            &[Side::Client]
        } else {
            &[Side::Server]
        };
        for &s in sides {
            let Some(Slot::Http(conn)) = self.slots.get_mut(id) else {
                return;
            };
            let how = if reset { Close::Reset } else { Close::Fin };
            let (events, gaps) = conn.end_side(&mut self.budget, s, how);
            self.apply(id, s, events, gaps);
        }
        let Some(Slot::Http(conn)) = self.slots.get_mut(id) else {
            return;
        };
        if conn.closed == [true, true] || conn.http.is_stopped() {
            if let Slot::Http(conn) = std::mem::replace(&mut self.slots[id], Slot::Off) {
                self.abandon(*conn, "the connection ended before the body did");
            }
        }
    }

    /// Handles what the HTTP framing produced for connection `id`.
    fn apply(&mut self, id: ConvId, side: Side, events: Vec<HttpEvent>, gaps: Vec<(u64, u64)>) {
        let Some(Slot::Http(conn)) = self.slots.get_mut(id) else {
            return;
        };
        for (stream, len) in gaps {
            if let Some(b) = conn.open.get_mut(&stream) {
                b.object.complete = false;
                b.object.problems.push(format!(
                    "{len} bytes of the body were never seen (after wire byte {})",
                    b.object.wire_size
                ));
            }
        }
        let _ = side;
        let mut finished = Vec::new();
        for ev in events {
            match ev {
                HttpEvent::Request {
                    stream,
                    method,
                    target,
                    authority,
                    scheme,
                    ..
                } => {
                    conn.requests.insert(
                        stream,
                        Request {
                            method: String::from_utf8_lossy(&method).into_owned(),
                            target,
                            authority,
                            scheme,
                        },
                    );
                }
                HttpEvent::Response {
                    stream,
                    status,
                    headers,
                    frame,
                } => {
                    let req = conn.requests.remove(&stream);
                    let b =
                        self.opts
                            .start(self.capture, conn, stream, req, status, &headers, frame);
                    match b {
                        Ok(b) => {
                            conn.open.insert(stream, b);
                        }
                        Err(e) => self.problems.push(e),
                    }
                }
                HttpEvent::Body {
                    stream,
                    side: Side::Server,
                    data,
                    frames,
                } => {
                    if let Some(b) = conn.open.get_mut(&stream) {
                        b.decoder.push(&data);
                        b.object.wire_size += data.len() as u64;
                        for f in frames {
                            b.frame(f);
                        }
                    }
                }
                HttpEvent::Body { .. } => {}
                HttpEvent::End {
                    stream,
                    side: Side::Server,
                    complete,
                    reason,
                } => {
                    if let Some(mut b) = conn.open.remove(&stream) {
                        if !complete {
                            b.object.complete = false;
                            b.object.problems.extend(reason);
                        }
                        finished.push(b);
                    }
                }
                HttpEvent::End { .. } => {}
            }
        }
        for b in finished {
            self.done(b);
        }
    }

    fn done(&mut self, b: Building) {
        let Building {
            mut object,
            decoder,
            file,
        } = b;
        let d = decoder.finish();
        // Responses that carry no body by definition (RFC 9110 §6.4.1) are not
        // objects; their file, if any, is dropped with `file`.
        if object.method == "HEAD" || matches!(object.status, 100..=199 | 204 | 304) {
            return;
        }
        object.size = d.size;
        object.sha256 = d.sha256;
        object.wire_size = d.wire_size;
        object.wire_sha256 = d.wire_sha256;
        if !d.problems.is_empty() {
            object.complete = false;
            object.problems.extend(d.problems);
        }
        if let Some(e) = d.file_error {
            self.problems
                .push(format!("writing an object's bytes: {e}"));
        }
        self.objects.push(object);
        self.files.push(file);
    }

    /// Ends what is still open on a connection that ended.
    fn abandon(&mut self, conn: Conn, why: &str) {
        for (_, mut b) in conn.open {
            b.object.complete = false;
            b.object.problems.push(why.to_string());
            self.done(b);
        }
    }

    /// The end of the capture: every connection still followed hands on what it
    /// holds, and its open messages end (cut short unless their framing ended).
    pub fn finish(mut self) -> Collected {
        for id in 0..self.slots.len() {
            for s in [Side::Client, Side::Server] {
                let Some(Slot::Http(conn)) = self.slots.get_mut(id) else {
                    break;
                };
                let (events, gaps) = conn.end_side(&mut self.budget, s, Close::CaptureEnd);
                self.apply(id, s, events, gaps);
            }
            if let Slot::Http(conn) = std::mem::replace(&mut self.slots[id], Slot::Off) {
                self.abandon(*conn, "the capture ended before the body did");
            }
        }
        Collected {
            capture: self.capture,
            objects: self.objects,
            files: self.files,
            problems: self.problems,
        }
    }
}

/// The objects of one capture, before ids are given.
pub struct Collected {
    pub capture: u32,
    pub objects: Vec<Object>,
    pub files: Vec<Option<tempfile::TempPath>>,
    pub problems: Vec<String>,
}

impl std::fmt::Debug for Collected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collected")
            .field("objects", &self.objects.len())
            .finish()
    }
}

fn deliver(
    http: &mut http1::Connection,
    side: Side,
    d: follow::Delivery<'_>,
    events: &mut Vec<HttpEvent>,
    gaps: &mut Vec<(u64, u64)>,
) {
    match d {
        follow::Delivery::Data { bytes, frame } => http.push(side, bytes, frame, events),
        follow::Delivery::Gap { len, .. } => {
            if let Some(stream) = http.gap(side, len, events) {
                gaps.push((stream, len));
            }
        }
    }
}

/// How one side's stream ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Close {
    Fin,
    Reset,
    CaptureEnd,
}

impl Conn {
    fn new(client: Endpoint, server: Endpoint, tls: bool) -> Conn {
        Conn {
            client,
            server,
            tls,
            follow: [follow::Follower::new(), follow::Follower::new()],
            closed: [false, false],
            http: http1::Connection::new(),
            requests: BTreeMap::new(),
            open: BTreeMap::new(),
        }
    }

    /// Ends one side's stream: held bytes are handed on, then the framing is told.
    fn end_side(
        &mut self,
        budget: &mut follow::Budget,
        side: Side,
        how: Close,
    ) -> (Vec<HttpEvent>, Vec<(u64, u64)>) {
        let mut events = Vec::new();
        let mut gaps = Vec::new();
        if self.closed[idx(side)] {
            return (events, gaps);
        }
        self.closed[idx(side)] = true;
        let (follower, http) = (&mut self.follow[idx(side)], &mut self.http);
        let lost_before = follower.lost;
        follower.finish(budget, &mut |d| {
            deliver(http, side, d, &mut events, &mut gaps)
        });
        let clean = how == Close::Fin && follower.lost == lost_before;
        let why = match how {
            Close::Fin if clean => "the connection closed",
            Close::Fin => "the connection closed after a gap",
            Close::Reset => "the connection was reset",
            Close::CaptureEnd => "the capture ended",
        };
        self.http.close(side, clean, why, &mut events);
        (events, gaps)
    }
}

impl ContentOptions {
    /// Starts the object of a response.
    #[allow(clippy::too_many_arguments)] // a response's parts, passed flat
    fn start(
        &self,
        capture: u32,
        conn: &Conn,
        stream: u64,
        req: Option<Request>,
        status: u16,
        headers: &[(Vec<u8>, Vec<u8>)],
        frame: u64,
    ) -> Result<Building, String> {
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
                .map(|(_, v)| v.as_slice())
        };
        let text = |v: &[u8]| String::from_utf8_lossy(v).trim().to_string();
        let encoding = get("content-encoding");
        let range = if status == 206 {
            get("content-range").and_then(ranges::parse_content_range)
        } else {
            None
        };
        let mut problems = Vec::new();
        let (url, method) = match &req {
            Some(r) => (store::url_of(r, conn), r.method.clone()),
            None => {
                problems.push("the request was not seen".to_string());
                (String::new(), String::new())
            }
        };
        let keep_file = self.extract.is_some() || range.is_some();
        let (writer, path): (Option<Box<dyn std::io::Write + Send>>, _) = if keep_file {
            let made = match &self.extract {
                Some(dir) => tempfile::Builder::new()
                    .prefix(".whohosts-object-")
                    .tempfile_in(dir),
                None => tempfile::NamedTempFile::new(),
            };
            let (file, path) = made
                .map_err(|e| format!("creating a file for an object: {e}"))?
                .into_parts();
            (
                Some(Box::new(std::io::BufWriter::with_capacity(
                    256 * 1024,
                    file,
                ))),
                Some(path),
            )
        } else {
            (None, None)
        };
        let object = Object {
            id: 0,
            capture,
            direction: "response",
            url,
            method,
            status,
            http_version: conn.http.version(),
            content_type: get("content-type").map(text),
            content_encoding: encoding.map(text).filter(|e| !e.is_empty()),
            size: 0,
            sha256: String::new(),
            wire_size: 0,
            wire_sha256: String::new(),
            range,
            complete: true,
            problems,
            first_frame: frame,
            last_frame: frame,
            frames: vec![frame],
            frames_total: 1,
            client: conn.client.to_string(),
            server: conn.server.to_string(),
            tls: conn.tls,
            file: None,
            parts: Vec::new(),
            gaps: Vec::new(),
            validator: get("etag").or(get("last-modified")).map(text),
            stream,
            host: req.as_ref().and_then(|r| r.authority.as_deref().map(text)),
        };
        Ok(Building {
            object,
            decoder: decode::BodyDecoder::new(encoding, self.max_decoded, writer),
            file: path,
        })
    }
}
