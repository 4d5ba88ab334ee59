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

/// What an HTTP connection carried, in order, the same for HTTP/1.x and HTTP/2:
/// HTTP/2's own events (`dissect::h2`), which HTTP/1.x framing produces too.
///
/// `stream` is the HTTP/2 stream id, or for HTTP/1.x the message's index on the
/// connection (0, 1, 2, ... in request order; a response pairs with the request of
/// the same index).
pub use crate::dissect::h2::H2Event as HttpEvent;

pub mod decode;
pub(crate) mod follow;
pub mod http1;
pub(crate) mod ranges;
pub mod store;

use crate::decrypt::keylog::KeyLog;
use crate::decrypt::tls::TlsDecryptor;
use crate::dissect::h2::H2Connection;
use crate::flow::TcpSegment;
use crate::flow::{ConvId, Conversation};
use crate::model::{Endpoint, FrameRef};
use std::collections::BTreeMap;
use std::path::PathBuf;
pub use store::{ExtractSummary, Object, ObjectRange};

/// Frames listed per object; the rest are counted (`frames_total`).
pub(crate) const MAX_OBJECT_FRAMES: usize = 64;

/// What the content stage is asked for.
#[derive(Clone, Debug)]
pub struct ContentOptions {
    /// Write each object's decoded bytes into this directory (new files only).
    pub extract: Option<PathBuf>,
    /// Cap on one object's decoded size.
    pub max_decoded: u64,
    /// Secrets for TLS connections (`--keylog`); a capture's own Decryption Secrets
    /// Blocks are added to them as they are read. Without secrets, TLS connections
    /// are not followed.
    pub keylog: Option<std::sync::Arc<KeyLog>>,
    /// Bytes all TLS connections together may hold while decrypting (records not yet
    /// whole, data waiting for the other side's hello); past it, the connection that
    /// would add more stops being decrypted, with the reason.
    pub tls_budget: usize,
}

/// Default [`ContentOptions::tls_budget`]: one connection may hold about 1 MiB
/// ([`crate::decrypt::tls::MAX_PENDING`]); this bounds many such connections together.
pub const TLS_BUDGET: usize = 64 << 20;

/// The longest DoH response body read as a DNS message (a DNS message is at most
/// 65 535 bytes).
const MAX_DOH_MESSAGE: usize = 65_535;

/// DoH responses read at once on one connection, at most (16 x 64 KiB).
const MAX_DOH_STREAMS: usize = 16;

impl Default for ContentOptions {
    fn default() -> Self {
        ContentOptions {
            extract: None,
            max_decoded: decode::DEFAULT_MAX_DECODED,
            keylog: None,
            tls_budget: TLS_BUDGET,
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
        // Frames come in order; a TLS record's or an HTTP/2 frame's bytes may cite
        // frames already counted (records and frames straddle segments).
        if frame <= o.last_frame {
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
    /// Set for a TLS connection read with a key log: its ciphertext goes to the
    /// decryptor, its plaintext to HTTP/1.x (`http`) or HTTP/2.
    tls_state: Option<Box<Tls>>,
    /// DNS over HTTPS: responses of type `application/dns-message` being read, by
    /// stream.
    doh: BTreeMap<u64, DohBody>,
}

/// The body of a DoH response being read.
struct DohBody {
    body: Vec<u8>,
    frames: Vec<u64>,
    /// Longer than a DNS message can be: not kept.
    too_long: bool,
}

/// A DNS message a DoH response carried (RFC 8484), with the connection's ends.
#[derive(Debug)]
pub struct DohMessage {
    pub client: Endpoint,
    pub server: Endpoint,
    /// The message, wire format.
    pub message: Vec<u8>,
    /// The frames that carried the response, sorted.
    pub frames: Vec<u64>,
}

/// A TLS connection read with a key log.
struct Tls {
    dec: TlsDecryptor,
    /// HTTP/2 inside, once decided (ALPN `h2`, or the client's connection preface).
    h2: Option<Box<H2Connection>>,
    decided: bool,
    first_frame: u64,
    plaintext: [u64; 2],
    /// What the decryptor held at its last accounting (see [`TlsHeld`]).
    held: usize,
}

/// Bytes the TLS decryptors of all connections hold together, against their cap.
struct TlsHeld {
    now: usize,
    cap: usize,
}

/// What became of one TLS connection the content stage tried to decrypt: decrypted
/// (with what), or not, with the reason.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TlsSession {
    pub capture: u32,
    pub client: String,
    pub server: String,
    pub first_frame: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cipher_suite: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
    /// Plaintext bytes decrypted, client to server and server to client.
    pub plaintext_to_server: u64,
    pub plaintext_to_client: u64,
    /// Why (part of) the connection was not decrypted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Tls {
    /// Brings the shared count up to date with what this decryptor holds now.
    fn account(&mut self, total: &mut TlsHeld) {
        let now = self.dec.held();
        total.now = total.now.saturating_sub(self.held) + now;
        self.held = now;
    }

    /// Routes the plaintext decrypted so far to HTTP/1.x or HTTP/2.
    fn drain(&mut self, http: &mut http1::Connection, events: &mut Vec<HttpEvent>) {
        for p in self.dec.take_output() {
            self.plaintext[idx(p.side)] += p.data.len() as u64;
            if !self.decided {
                self.decided = true;
                let h2 = self.dec.alpn() == Some(b"h2".as_slice())
                    || (p.side == Side::Client && p.data.starts_with(crate::dissect::h2::PREFACE));
                if h2 {
                    self.h2 = Some(Box::new(H2Connection::new()));
                }
            }
            match &mut self.h2 {
                Some(h2) => {
                    h2.push(p.side, &p.data, &p.frames);
                    events.extend(h2.take_events());
                }
                None => {
                    // HTTP/1.x frames by chunk; a record's plaintext is cited by
                    // every frame that carried the record.
                    let mut out = Vec::new();
                    let last = p.frames.last().copied().unwrap_or(0);
                    http.push(p.side, &p.data, last, &mut out);
                    for mut ev in out {
                        if let HttpEvent::Body { frames, .. } = &mut ev {
                            frames.clone_from(&p.frames);
                        }
                        events.push(ev);
                    }
                }
            }
        }
    }

    fn session(&self, capture: u32, client: Endpoint, server: Endpoint) -> TlsSession {
        let version = self.dec.version().map(|v| match v {
            crate::decrypt::tls::Version::Tls12 => "TLS 1.2".to_string(),
            crate::decrypt::tls::Version::Tls13 => "TLS 1.3".to_string(),
            crate::decrypt::tls::Version::Other(n) => format!("0x{n:04x}"),
        });
        let reason = self.dec.failure().map(str::to_string).or_else(|| {
            (self.plaintext == [0, 0]).then(|| {
                if self.dec.client_random().is_none() {
                    "no ClientHello seen (the capture starts after it)".to_string()
                } else {
                    "no application data decrypted".to_string()
                }
            })
        });
        TlsSession {
            capture,
            client: client.to_string(),
            server: server.to_string(),
            first_frame: self.first_frame,
            version,
            cipher_suite: self
                .dec
                .suite_id()
                .map(|id| match crate::decrypt::tls::suite(id) {
                    Some(s) => s.name.to_string(),
                    None => format!("0x{id:04x}"),
                }),
            alpn: self
                .dec
                .alpn()
                .map(|a| String::from_utf8_lossy(a).into_owned()),
            plaintext_to_server: self.plaintext[0],
            plaintext_to_client: self.plaintext[1],
            reason,
        }
    }
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
    /// Secrets for TLS connections: `--keylog`, then the capture's own.
    keys: Option<KeyLog>,
    /// The TLS connections followed for decryption, as they ended.
    tls: Vec<TlsSession>,
    tls_held: TlsHeld,
    /// Server certificates read from decrypted TLS 1.3 handshakes, until taken.
    certificates: Vec<Certified>,
    /// DNS messages of DoH responses, until taken.
    doh: Vec<DohMessage>,
}

/// A server certificate chain read from a decrypted TLS 1.3 handshake, with the
/// connection's ends.
#[derive(Debug)]
pub struct Certified {
    pub client: Endpoint,
    pub server: Endpoint,
    pub certificate: crate::decrypt::tls::DecryptedCertificate,
}

impl Content {
    pub fn new(capture: u32, opts: ContentOptions) -> Content {
        Content {
            capture,
            keys: opts.keylog.as_deref().cloned(),
            tls: Vec::new(),
            tls_held: TlsHeld {
                now: 0,
                cap: opts.tls_budget,
            },
            opts,
            budget: follow::Budget::default(),
            slots: Vec::new(),
            objects: Vec::new(),
            files: Vec::new(),
            problems: Vec::new(),
            certificates: Vec::new(),
            doh: Vec::new(),
        }
    }

    /// The DNS messages DoH responses carried since the last call.
    pub fn take_doh(&mut self) -> Vec<DohMessage> {
        std::mem::take(&mut self.doh)
    }

    /// The server certificates read from decrypted handshakes since the last call.
    pub fn take_certificates(&mut self) -> Vec<Certified> {
        std::mem::take(&mut self.certificates)
    }

    /// Takes connection `id`'s decrypted certificate, if its decryptor read one.
    fn collect_certificate(&mut self, id: ConvId) {
        if let Some(Slot::Http(conn)) = self.slots.get_mut(id) {
            if let Some(certificate) = conn
                .tls_state
                .as_mut()
                .and_then(|t| t.dec.take_certificate())
            {
                self.certificates.push(Certified {
                    client: conn.client,
                    server: conn.server,
                    certificate,
                });
            }
        }
    }

    /// Key log lines found in the capture itself (a pcapng Decryption Secrets Block),
    /// from `source`: TLS connections are followed from now on.
    pub(crate) fn add_secrets(&mut self, source: &str, text: &[u8]) {
        self.keys
            .get_or_insert_with(KeyLog::new)
            .add_text(source, text);
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
        // The client and server are decided once, when the connection is first seen;
        // later segments compare with what its state holds.
        let side = match &self.slots[id] {
            Slot::Http(conn) if src == conn.client => Side::Client,
            Slot::Http(_) => Side::Server,
            _ => {
                if payload.is_empty() {
                    return;
                }
                let (_, client) = crate::services::server_side(conv);
                if src == client {
                    Side::Client
                } else {
                    Side::Server
                }
            }
        };
        if matches!(self.slots[id], Slot::New) {
            let (server, client) = crate::services::server_side(conv);
            let http = match side {
                Side::Client => crate::dissect::http::starts_request(payload),
                Side::Server => payload.starts_with(crate::dissect::http::RESPONSE_START),
            };
            // A TLS handshake record from the client, with secrets to try.
            let tls = self.keys.is_some()
                && side == Side::Client
                && payload.first() == Some(&0x16)
                && payload.get(1) == Some(&3);
            self.slots[id] = if http {
                Slot::Http(Box::new(Conn::new(client, server, false)))
            } else if tls {
                let mut c = Conn::new(client, server, true);
                c.tls_state = Some(Box::new(Tls {
                    dec: TlsDecryptor::new(),
                    h2: None,
                    decided: false,
                    first_frame: at.frame,
                    plaintext: [0, 0],
                    held: 0,
                }));
                Slot::Http(Box::new(c))
            } else {
                Slot::Off
            };
        }
        let Slot::Http(conn) = &mut self.slots[id] else {
            return;
        };
        let mut events = Vec::new();
        let mut gaps = Vec::new();
        let (follower, http, tls) = (
            &mut conn.follow[idx(side)],
            &mut conn.http,
            &mut conn.tls_state,
        );
        let keys = self.keys.as_ref();
        let held = &mut self.tls_held;
        follower.push(
            &mut self.budget,
            seg.seq,
            seg.syn,
            payload,
            at.frame,
            &mut |d| deliver(http, tls, keys, held, side, d, &mut events, &mut gaps),
        );
        self.apply(id, side, events, gaps);
        self.collect_certificate(id);
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
            let (events, gaps) = conn.end_side(
                &mut self.budget,
                &mut self.tls_held,
                self.keys.as_ref(),
                s,
                how,
            );
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
                    let doh = headers.iter().any(|(n, v)| {
                        n.eq_ignore_ascii_case(b"content-type")
                            && v.trim_ascii()
                                .eq_ignore_ascii_case(b"application/dns-message")
                    });
                    if doh && status == 200 {
                        if conn.doh.len() < MAX_DOH_STREAMS {
                            conn.doh.insert(
                                stream,
                                DohBody {
                                    body: Vec::new(),
                                    frames: vec![frame],
                                    too_long: false,
                                },
                            );
                        } else {
                            self.problems.push(format!(
                                "more than {MAX_DOH_STREAMS} DoH responses were open at once on the connection to {}: the one at frame {frame} is not read as DNS",
                                conn.server
                            ));
                        }
                    }
                    let req = conn.requests.remove(&stream);
                    let b =
                        self.opts
                            .start(self.capture, conn, stream, req, status, &headers, frame);
                    match b {
                        Ok(b) => {
                            conn.open.insert(stream, b);
                        }
                        Err(e) => self.problems.push(e.to_string()),
                    }
                }
                HttpEvent::Body {
                    stream,
                    side: Side::Server,
                    data,
                    frames,
                } => {
                    if let Some(d) = conn.doh.get_mut(&stream).filter(|d| !d.too_long) {
                        if d.body.len() + data.len() > MAX_DOH_MESSAGE {
                            // Not a DNS message: given up, and said.
                            d.too_long = true;
                            d.body = Vec::new();
                            self.problems.push(format!(
                                "the DoH response from {} at frame {} is longer than a DNS message can be: not read as DNS",
                                conn.server,
                                d.frames.first().copied().unwrap_or(0),
                            ));
                        } else {
                            d.body.extend_from_slice(&data);
                            d.frames.extend_from_slice(&frames);
                        }
                    }
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
                    if let Some(mut d) = conn.doh.remove(&stream) {
                        if complete && !d.too_long {
                            d.frames.sort_unstable();
                            d.frames.dedup();
                            self.doh.push(DohMessage {
                                client: conn.client,
                                server: conn.server,
                                message: d.body,
                                frames: d.frames,
                            });
                        }
                    }
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
        if let Some(t) = &conn.tls_state {
            self.tls_held.now = self.tls_held.now.saturating_sub(t.held);
            self.tls
                .push(t.session(self.capture, conn.client, conn.server));
        }
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
                let (events, gaps) = conn.end_side(
                    &mut self.budget,
                    &mut self.tls_held,
                    self.keys.as_ref(),
                    s,
                    Close::CaptureEnd,
                );
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
            tls: self.tls,
        }
    }
}

/// The objects of one capture, before ids are given.
pub struct Collected {
    pub capture: u32,
    pub objects: Vec<Object>,
    pub files: Vec<Option<tempfile::TempPath>>,
    pub problems: Vec<String>,
    /// The TLS connections followed for decryption.
    pub tls: Vec<TlsSession>,
}

impl std::fmt::Debug for Collected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collected")
            .field("objects", &self.objects.len())
            .finish()
    }
}

#[allow(clippy::too_many_arguments)]
fn deliver(
    http: &mut http1::Connection,
    tls: &mut Option<Box<Tls>>,
    keys: Option<&KeyLog>,
    held: &mut TlsHeld,
    side: Side,
    d: follow::Delivery<'_>,
    events: &mut Vec<HttpEvent>,
    gaps: &mut Vec<(u64, u64)>,
) {
    // TLS: ciphertext to the decryptor, its plaintext on to HTTP.
    if let (Some(t), Some(keys)) = (tls.as_mut(), keys) {
        match d {
            follow::Delivery::Data { bytes, .. }
                if held.now + bytes.len() > held.cap && t.dec.failure().is_none() =>
            {
                t.dec.give_up(format!(
                    "the TLS connections followed held {} bytes together, the most allowed ({}); this one stopped being decrypted here",
                    held.now, held.cap
                ));
            }
            follow::Delivery::Data { bytes, frame } => t.dec.push(keys, side, bytes, frame),
            follow::Delivery::Gap { len, .. } => t.dec.gap(side, len),
        }
        t.account(held);
        t.drain(http, events);
        return;
    }
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
            tls_state: None,
            doh: BTreeMap::new(),
        }
    }

    /// Ends one side's stream: held bytes are handed on, then the framing is told.
    fn end_side(
        &mut self,
        budget: &mut follow::Budget,
        held: &mut TlsHeld,
        keys: Option<&KeyLog>,
        side: Side,
        how: Close,
    ) -> (Vec<HttpEvent>, Vec<(u64, u64)>) {
        let mut events = Vec::new();
        let mut gaps = Vec::new();
        if self.closed[idx(side)] {
            return (events, gaps);
        }
        self.closed[idx(side)] = true;
        let (follower, http, tls) = (
            &mut self.follow[idx(side)],
            &mut self.http,
            &mut self.tls_state,
        );
        let lost_before = follower.lost;
        follower.finish(budget, &mut |d| {
            deliver(http, tls, keys, held, side, d, &mut events, &mut gaps)
        });
        if let Some(t) = &mut self.tls_state {
            t.dec.end(side);
            t.account(held);
            t.drain(&mut self.http, &mut events);
            if self.closed == [true, true] {
                if let Some(h2) = &mut t.h2 {
                    h2.end();
                    events.extend(h2.take_events());
                }
            }
        }
        // A body that runs to the close is whole only if every byte before the close
        // was read: no gap, and (TLS) no record left undecrypted.
        let undecrypted = self
            .tls_state
            .as_ref()
            .and_then(|t| t.dec.failure())
            .map(|f| format!("decryption stopped ({f})"));
        let clean = how == Close::Fin && follower.lost == lost_before && undecrypted.is_none();
        let why = match (&undecrypted, how) {
            (Some(u), _) => u.as_str(),
            (None, Close::Fin) if clean => "the connection closed",
            (None, Close::Fin) => "the connection closed after a gap",
            (None, Close::Reset) => "the connection was reset",
            (None, Close::CaptureEnd) => "the capture ended",
        };
        self.http.close(side, clean, why, &mut events);
        (events, gaps)
    }
}

/// The object's file could not be made (`--extract`'s directory, or the temporary
/// one): the environment, recorded as a problem; the analysis goes on.
#[derive(Debug, thiserror::Error)]
#[error("creating a file for an object: {0}")]
pub(crate) struct ObjectFileError(#[source] std::io::Error);

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
    ) -> Result<Building, ObjectFileError> {
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
            let (file, path) = made.map_err(ObjectFileError)?.into_parts();
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
            http_version: if conn.tls_state.as_ref().is_some_and(|t| t.h2.is_some()) {
                "2"
            } else {
                conn.http.version()
            },
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
