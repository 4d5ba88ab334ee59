//! Routes each flow's bytes to the dissectors and keeps what they find: DNS, TLS,
//! HTTP and QUIC records with their frames, and the hostnames they bind to server
//! addresses. Glue between `flow` (conversations, stream reassembly) and `dissect`.
//!
//! State is kept per conversation only while a dissector still needs bytes: a TCP
//! direction holds a bounded stream prefix (16 KiB, and 32 MiB over all flows) until
//! its dissector is done, then releases it. Memory grows with the flows being
//! identified at one time, not with the capture's size.

use super::records::{
    DnsRecord, HttpRecord, NbnsRecord, ProxyRecord, ProxyTarget, ProxyTargets, QuicRecord, Seen,
    TlsRecord,
};
use super::spool::{Item, Spooler};
use crate::dissect::dns::{self, DnsBindings, Message};
use crate::dissect::http::{self, HttpMessage, HttpStream};
use crate::dissect::nbns;
use crate::dissect::quic::{self, QuicConnection};
use crate::dissect::socks;
use crate::dissect::tls::{Handshake, TlsStream};
use crate::dissect::upgrade;
use crate::dissect::{Step, WireString};
use crate::flow::reassembly::{Budget, ReassemblyCounters, StreamPrefix, DEFAULT_DIRECTION_BUDGET};
use crate::flow::{ConvId, Conversation};
use crate::model::{Anomaly, Endpoint, FrameRef, Severity, Transport};
use crate::services::{FrameId, FrameList, NameEvidence, NameSource};
use serde::Serialize;
use std::collections::BTreeMap;

/// Frames kept as evidence per name binding; later sightings are not listed again.
pub(crate) const MAX_NAME_FRAMES: usize = 64;

/// Bytes held over all TCP stream prefixes at once.
pub(crate) const GLOBAL_BUDGET: u64 = 32 << 20;

pub(crate) use crate::flow::TcpSegment;

/// Totals of what stream reassembly met, over all flows of a capture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReassemblySummary {
    pub retransmitted_segments: u64,
    pub conflicting_overlaps: u64,
    pub out_of_order_segments: u64,
    pub pending_dropped: u64,
    pub before_start_segments: u64,
    pub direction_budget_hits: u64,
    pub global_budget_hits: u64,
    pub midstream_directions: u64,
}

impl ReassemblySummary {
    fn add(&mut self, c: &ReassemblyCounters, midstream: bool) {
        self.retransmitted_segments += c.retransmitted_segments;
        self.conflicting_overlaps += c.conflicting_overlaps;
        self.out_of_order_segments += c.out_of_order_segments;
        self.pending_dropped += c.pending_dropped;
        self.before_start_segments += c.before_start_segments;
        self.direction_budget_hits += c.direction_budget_hits;
        self.global_budget_hits += c.global_budget_hits;
        self.midstream_directions += u64::from(midstream);
    }
}

enum Proto {
    Undecided,
    Tls(TlsStream),
    Http(HttpStream),
    Dns(dns::TcpDnsStream),
    /// The client's side of a SOCKS handshake of this version, until its request is
    /// complete.
    Socks(socks::Version),
    /// The proxy's answer to a SOCKS handshake of this version.
    SocksReply(socks::Version),
    /// A text protocol, read as text from `base` up to `scanned` for where it turns
    /// to TLS (STARTTLS and its kin).
    Text {
        scanned: usize,
    },
}

struct Direction {
    prefix: StreamPrefix,
    /// Where the current protocol starts in the stream: after a proxy handshake,
    /// the tunnelled connection.
    base: usize,
    proto: Proto,
    done: bool,
}

impl Direction {
    fn new() -> Self {
        Direction {
            prefix: StreamPrefix::new(DEFAULT_DIRECTION_BUDGET),
            base: 0,
            proto: Proto::Undecided,
            done: false,
        }
    }
}

/// A conversation being dissected.
enum AppState {
    /// Index 0: side `a` to side `b`; 1: the other way.
    Tcp(Box<[Direction; 2]>),
    Quic(Box<QuicConnection>),
}

/// Each conversation's dissection state. Only conversations still being dissected
/// keep an entry; for the others two bits say whether they are done (never seen
/// again) or not yet begun, so that memory follows the open flows, not all flows.
/// The two bits are a TCP conversation's directions: a frame of a direction that
/// is done is passed over on its bit, without reaching the entry.
#[derive(Default)]
struct States {
    active: std::collections::HashMap<ConvId, AppState, ahash::RandomState>,
    /// Bit `2 * id + d`: direction `d` of conversation `id` is done.
    done: Vec<u64>,
    /// Bit `id`: conversation `id` has had an entry (it may be done since), so that
    /// a segment without payload, which only begins an entry, is passed over on it.
    begun: Vec<u64>,
}

impl States {
    fn is_done(&self, id: ConvId) -> bool {
        self.done
            .get(id / 32)
            .is_some_and(|w| w >> (id % 32 * 2) & 0b11 == 0b11)
    }

    /// Direction `d` (0: side `a` to side `b`) of conversation `id` is done.
    fn direction_done(&self, id: ConvId, d: usize) -> bool {
        self.done
            .get(id / 32)
            .is_some_and(|w| w >> (id % 32 * 2 + d) & 1 != 0)
    }

    fn mark(&mut self, id: ConvId, bits: u64) {
        set_bits(&mut self.done, id / 32, bits << (id % 32 * 2));
    }

    /// Direction `d` of conversation `id` is done; its frames are not dissected.
    fn end_direction(&mut self, id: ConvId, d: usize) {
        self.mark(id, 1 << d);
    }

    /// Neither begun nor done.
    fn is_new(&self, id: ConvId) -> bool {
        !self.active.contains_key(&id) && !self.is_done(id)
    }

    /// The state of a conversation being dissected (TCP or QUIC), if it is.
    fn get(&self, id: ConvId) -> Option<&AppState> {
        self.active.get(&id)
    }

    fn get_mut(&mut self, id: ConvId) -> Option<&mut AppState> {
        self.active.get_mut(&id)
    }

    /// Conversation `id` has had an entry.
    fn is_begun(&self, id: ConvId) -> bool {
        self.begun
            .get(id / 64)
            .is_some_and(|w| w >> (id % 64) & 1 != 0)
    }

    fn set_begun(&mut self, id: ConvId) {
        set_bits(&mut self.begun, id / 64, 1 << (id % 64));
    }

    /// Starts dissecting conversation `id` with `state` (TCP or QUIC).
    fn begin(&mut self, id: ConvId, state: AppState) {
        self.set_begun(id);
        self.active.insert(id, state);
    }

    /// The state of conversation `id`, begun with `state()` if new; `None` when done.
    /// One lookup, for the path every TCP segment takes.
    fn get_or_begin(
        &mut self,
        id: ConvId,
        state: impl FnOnce() -> AppState,
    ) -> Option<&mut AppState> {
        if self.is_done(id) {
            return None;
        }
        self.set_begun(id);
        Some(self.active.entry(id).or_insert_with(state))
    }

    /// Conversation `id` is done: its state goes, and its frames are not dissected.
    fn end(&mut self, id: ConvId) {
        self.active.remove(&id);
        self.mark(id, 0b11);
    }

    /// The states still open when the capture ends.
    fn into_active(self) -> impl Iterator<Item = AppState> {
        self.active.into_values()
    }
}

/// Sets `bits` in word `word` of a bit set, growing it as needed.
fn set_bits(words: &mut Vec<u64>, word: usize, bits: u64) {
    if words.len() <= word {
        words.resize(word + 1, 0);
    }
    if let Some(w) = words.get_mut(word) {
        *w |= bits;
    }
}

/// Per-capture identification state.
pub(crate) struct Identify {
    capture: u32,
    budget: Budget,
    states: States,
    bindings: DnsBindings,
    /// Where records go as they are found.
    spool: Spooler,
    names: Vec<NameEvidence>,
    /// Index of each (name, source, address, port) in `names`, so that a name seen
    /// again only adds its frames; keyed by the entry's own fields (no second copy
    /// of the name).
    name_index: NameIndex,
    pub reassembly: ReassemblySummary,
    /// Anomalies found since the caller last took them.
    anomalies: Vec<Anomaly>,
    /// Proxy handshakes whose record is not written yet, by conversation.
    proxies: BTreeMap<ConvId, PendingProxy>,
    /// The addresses the written proxy records named by number.
    proxy_targets: ProxyTargets,
    /// SOCKS5 UDP relays a proxy granted, by client address and relay endpoint:
    /// the datagrams between them carry a SOCKS header before their data.
    relays: ahash::HashMap<(std::net::IpAddr, Endpoint), Relay>,
}

/// A UDP relay granted by a SOCKS5 proxy (UDP ASSOCIATE).
struct Relay {
    /// The targets the client sent datagrams to through it, each recorded once.
    targets: Vec<(Option<WireString>, Option<std::net::IpAddr>, u16)>,
}

/// What [`Identify::relayed`] found a datagram to be.
enum Relayed<'p> {
    /// Not between a client and its relay.
    No,
    /// Through a relay: the data after the SOCKS header.
    Data(&'p [u8]),
    /// Through a relay, but not readable (malformed, or a SOCKS fragment).
    Unread,
}

/// SOCKS5 UDP relays followed at most, and targets recorded per relay at most.
const MAX_RELAYS: usize = 4096;
const MAX_RELAY_TARGETS: usize = 64;

/// A proxy handshake under way on one TCP conversation.
#[derive(Default)]
struct PendingProxy {
    /// The SOCKS version the client spoke (the proxy's answer is read accordingly).
    socks: Option<socks::Version>,
    /// The PROXY protocol header in front of the connection, with its addresses.
    header: Option<ProxyRecord>,
    /// The SOCKS request, once complete.
    record: Option<ProxyRecord>,
    /// Whether the proxy's answer to the SOCKS request was read.
    answered: bool,
    /// The HTTP proxy requests of the connection, in order: a client may send
    /// several forward requests (for several hosts) on one kept-alive connection.
    http: Vec<ProxyRecord>,
    /// How many of them have their answer (answers come in the requests' order).
    http_answered: usize,
}

impl PendingProxy {
    fn into_records(self) -> impl Iterator<Item = ProxyRecord> {
        self.header.into_iter().chain(self.record).chain(self.http)
    }
}

/// HTTP proxy requests kept per connection, at most (within the inspected prefix).
const MAX_HTTP_PROXY_REQUESTS: usize = 64;

/// The stream so far is a strict prefix of an HTTP start: wait for more bytes.
fn may_become_http(b: &[u8]) -> bool {
    http::REQUEST_STARTS
        .iter()
        .chain([&http::RESPONSE_START])
        .any(|s| s.len() > b.len() && s.starts_with(b))
}

/// A Host header value as a name: lowercase, without a port; `None` for an IP
/// literal, which names nothing.
fn host_name(host: &WireString) -> Option<String> {
    let h = String::from_utf8_lossy(host.as_bytes())
        .trim()
        .to_ascii_lowercase();
    let name = if h.starts_with('[') {
        return None;
    } else {
        match h.rsplit_once(':') {
            Some((n, port)) if port.bytes().all(|b| b.is_ascii_digit()) => n.to_string(),
            _ => h,
        }
    };
    let name = name.trim_end_matches('.').to_string();
    if name.is_empty() || name.parse::<std::net::IpAddr>().is_ok() {
        None
    } else {
        Some(name)
    }
}

fn lower(w: &WireString) -> String {
    String::from_utf8_lossy(w.as_bytes())
        .to_ascii_lowercase()
        .trim_end_matches('.')
        .to_string()
}

impl Identify {
    pub(crate) fn new(capture: u32, spool: Spooler) -> Self {
        Identify {
            capture,
            budget: Budget::new(GLOBAL_BUDGET),
            states: States::default(),
            bindings: DnsBindings::new(),
            spool,
            names: Vec::new(),
            name_index: NameIndex::default(),
            reassembly: ReassemblySummary::default(),
            anomalies: Vec::new(),
            proxies: BTreeMap::new(),
            proxy_targets: ProxyTargets::default(),
            relays: ahash::HashMap::default(),
        }
    }

    /// Writes a proxy record, its target tallied.
    fn proxy_record(&mut self, r: ProxyRecord) {
        self.proxy_targets.add(&r);
        self.spool.push(Item::Proxy(r));
    }

    /// Anomalies found since the last call (overlaps, malformed messages).
    pub(crate) fn drain_anomalies(&mut self) -> std::vec::Drain<'_, Anomaly> {
        self.anomalies.drain(..)
    }

    fn anomaly(
        &self,
        at: FrameRef,
        frame: Option<u64>,
        code: &'static str,
        message: String,
    ) -> Anomaly {
        Anomaly {
            capture: self.capture,
            frame: frame.or(Some(at.frame)),
            offset: at.offset,
            severity: Severity::Notice,
            code,
            message,
        }
    }

    /// A TCP segment of conversation `id`, sent by `src`.
    ///
    /// A FIN ends the sender's direction once its stream has no gap left (a
    /// retransmission could still fill one); a RST ends both. Their state is released
    /// then, so that memory follows the flows still open, not every flow seen.
    pub(crate) fn tcp(
        &mut self,
        id: ConvId,
        conv: &Conversation,
        src: Endpoint,
        seg: TcpSegment,
        payload: &[u8],
        at: FrameRef,
    ) {
        self.tcp_data(id, conv, src, seg, payload, at);
        if seg.fin || seg.rst {
            let end = seg.seq.wrapping_add(payload.len() as u32);
            self.close(id, src == conv.a, seg.rst, end);
        }
    }

    /// Ends the sender's direction (`forward`: side `a` sent), or both on a reset;
    /// a FIN waits while bytes before `end` are still missing, and a reset counts only
    /// at exactly the next expected byte (an injected one elsewhere is ignored).
    fn close(&mut self, id: ConvId, forward: bool, reset: bool, end: u32) {
        let Some(AppState::Tcp(dirs)) = self.states.get_mut(id) else {
            return;
        };
        let sender = usize::from(!forward);
        let mut ended = [false; 2];
        let (fin_ends, reset_ends) = match dirs.get(sender) {
            Some(d) if reset => (false, d.prefix.expects(end)),
            Some(d) => (d.prefix.complete_before(end), false),
            None => (false, false),
        };
        for (i, d) in dirs.iter_mut().enumerate() {
            let ends = reset_ends || (i == sender && fin_ends);
            if d.done || !ends {
                continue;
            }
            d.done = true;
            self.reassembly
                .add(d.prefix.counters(), d.prefix.midstream());
            d.prefix.release(&mut self.budget);
            ended[i] = true;
        }
        let all = dirs.iter().all(|d| d.done);
        for (d, &e) in ended.iter().enumerate() {
            if e {
                self.states.end_direction(id, d);
            }
        }
        if all {
            self.states.end(id);
            self.flush_proxy(id);
        }
    }

    /// Writes the proxy record of conversation `id`, if it has one, answered or not.
    fn flush_proxy(&mut self, id: ConvId) {
        if let Some(p) = self.proxies.remove(&id) {
            for r in p.into_records() {
                self.proxy_record(r);
            }
        }
    }

    /// A TCP segment with data (or a SYN): fed to its direction's reassembly, then
    /// what became readable to the direction's dissectors; what they found is
    /// recorded, and the direction's state released once it is done.
    #[allow(clippy::too_many_arguments)] // a segment's fields, passed flat
    fn tcp_data(
        &mut self,
        id: ConvId,
        conv: &Conversation,
        src: Endpoint,
        seg: TcpSegment,
        payload: &[u8],
        at: FrameRef,
    ) {
        let (seq, syn) = (seg.seq, seg.syn);
        let forward = src == conv.a;
        let d = usize::from(!forward);
        if self.states.direction_done(id, d) {
            return;
        }
        // A segment without payload only begins the entry (a SYN also tells the
        // prefix where the stream starts): once there is one, nothing to do.
        if payload.is_empty() && !syn && self.states.is_begun(id) {
            return;
        }
        let capture = self.capture;
        let begin = || AppState::Tcp(Box::new([Direction::new(), Direction::new()]));
        let Some(AppState::Tcp(dirs)) = self.states.get_or_begin(id, begin) else {
            return;
        };
        let dir = &mut dirs[d];
        if dir.done || (payload.is_empty() && !syn) {
            return;
        }
        let ends = Ends::of(conv, forward);
        let outcome = dir
            .prefix
            .push(&mut self.budget, seq, payload, syn, at.frame);
        if let Some(c) = outcome.conflict {
            self.anomalies.push(Anomaly {
                capture,
                frame: Some(c.frame),
                offset: at.offset,
                severity: Severity::Notice,
                code: "tcp.overlap_conflict",
                message: format!(
                    "frame {}: TCP segment from {src} overlaps stream offset {} with bytes that differ from those frame {} sent; the first bytes are kept",
                    c.frame, c.offset, c.kept_frame
                ),
            });
        }
        let mut found = dissect_direction(dir, &mut self.proxies, id, capture, &ends, at);
        if let Some(relay) = found.relay.take() {
            if self.relays.len() < MAX_RELAYS {
                self.relays.entry((ends.client.ip, relay)).or_insert(Relay {
                    targets: Vec::new(),
                });
            } else {
                self.anomalies.push(Anomaly {
                    capture,
                    frame: Some(at.frame),
                    offset: at.offset,
                    severity: Severity::Notice,
                    code: "socks.relays_not_followed",
                    message: format!(
                        "frame {}: more than {MAX_RELAYS} SOCKS5 UDP relays; the datagrams of the relay {relay} for {} are not read",
                        at.frame, ends.client.ip
                    ),
                });
            }
        }
        // A DNS message whose segment the snap length cut: what can be read of it is
        // kept, as tshark shows it, and the direction ends (the rest never comes).
        let mut cut_short = None;
        if seg.cut && outcome.appended > 0 && !dir.done {
            if let Proto::Dns(s) = &mut dir.proto {
                let base = dir.base;
                let data = dir.prefix.contiguous().get(base..).unwrap_or_default();
                if let Some((range, message)) = s.cut_short(data) {
                    cut_short = Some(
                        message
                            .as_ref()
                            .map(|m| (m.questions.len(), m.answers.len())),
                    );
                    if let Some(m) = message {
                        let frames = dir.prefix.frames_of(base + range.start..base + range.end);
                        found.records.push((frames, Found::Dns(m)));
                    }
                }
                dir.done = true;
            }
        }
        if let Proto::Tls(s) = &dir.proto {
            if s.is_encrypted() {
                dir.done = true;
            }
        }
        let ended = dir.done;
        if ended {
            self.reassembly
                .add(dir.prefix.counters(), dir.prefix.midstream());
            dir.prefix.release(&mut self.budget);
        }
        // Both directions finished: drop the flow's state entirely.
        let finished = dirs.iter().all(|d| d.done);
        if ended {
            self.states.end_direction(id, d);
        }
        if finished {
            self.states.end(id);
        }
        if let Some(read) = cut_short {
            let to = ends.to;
            let (code, message) = match read {
                Some((questions, answers)) => (
                    "dns.partial",
                    format!(
                        "frame {}: DNS over TCP {src} -> {to} read only in part (the capture holds only the start of its segment): {questions} question(s) and {answers} answer(s) before the cut are kept",
                        at.frame
                    ),
                ),
                None => (
                    "dns.malformed",
                    format!(
                        "frame {}: DNS over TCP {src} -> {to} cut by the snap length before its first question: nothing of it can be read",
                        at.frame
                    ),
                ),
            };
            let a = self.anomaly(at, None, code, message);
            self.anomalies.push(a);
        }
        self.emit(found, &ends, at);
        if finished {
            self.flush_proxy(id);
        }
    }

    /// Records what one direction's dissectors found: anomalies for the errors, the
    /// records, the names bound to the server.
    fn emit(&mut self, found: Dissected, ends: &Ends, at: FrameRef) {
        let (from, to) = (ends.from, ends.to);
        for (frame, error) in found.errors {
            let a = self.anomaly(
                at,
                frame,
                "dissect.malformed",
                format!(
                    "frame {}: {from} -> {to}: {error}",
                    frame.unwrap_or(at.frame)
                ),
            );
            self.anomalies.push(a);
        }
        let seen = |frames: Vec<u64>| Seen {
            capture: self.capture,
            frame: frames.first().copied().unwrap_or(at.frame),
            frames,
            ts: at.ts,
            client: ends.client,
            server: ends.server,
            transport: Transport::Tcp,
        };
        let records: Vec<(Seen, Found)> = found
            .records
            .into_iter()
            .map(|(frames, record)| (seen(frames), record))
            .collect();
        let names: Vec<(Seen, String, NameSource)> = found
            .names
            .into_iter()
            .map(|(name, source, frames)| (seen(frames), name, source))
            .collect();
        for (seen, record) in records {
            self.record(seen, record, from, to, at);
        }
        for (seen, name, source) in names {
            self.name(name, source, &seen, at);
        }
    }

    /// Records a DNS message carried by one datagram from `src` to `dst`: a response
    /// comes from the server.
    fn dns_datagram(&mut self, message: Message, src: Endpoint, dst: Endpoint, at: FrameRef) {
        let (client, server) = if message.is_response {
            (dst, src)
        } else {
            (src, dst)
        };
        let seen = self.datagram(client, server, at);
        self.record(seen, Found::Dns(message), src, dst, at);
    }

    /// Where a record carried by one UDP datagram was seen.
    fn datagram(&self, client: Endpoint, server: Endpoint, at: FrameRef) -> Seen {
        Seen {
            capture: self.capture,
            frame: at.frame,
            frames: Vec::new(),
            ts: at.ts,
            client,
            server,
            transport: Transport::Udp,
        }
    }

    /// A UDP datagram of conversation `id`, sent by `src` to `dst`.
    pub(crate) fn udp(
        &mut self,
        id: ConvId,
        conv: &Conversation,
        src: Endpoint,
        dst: Endpoint,
        payload: &[u8],
        at: FrameRef,
    ) {
        let payload = match self.relayed(src, dst, payload, at) {
            Relayed::No => payload,
            Relayed::Data(data) => data,
            Relayed::Unread => return,
        };
        // DNS, and the protocols that carry DNS messages on the local network:
        // multicast DNS (RFC 6762) and LLMNR (RFC 4795).
        let dns_port = |e: Endpoint| matches!(e.port, Some(53 | 5353 | 5355));
        if dns_port(src) || dns_port(dst) {
            let message = match dns::parse_udp(payload) {
                Ok(message) => Some(message),
                Err(e) => {
                    // Cut short (snap length) or damaged further on: what could be
                    // read before is kept, as tshark shows it.
                    let partial = dns::parse_partial(payload);
                    let (code, message) = match &partial {
                        Some(m) => (
                            "dns.partial",
                            format!(
                                "frame {}: DNS {src} -> {dst} read only in part ({e}): {} question(s) and {} answer(s) before that are kept",
                                at.frame,
                                m.questions.len(),
                                m.answers.len()
                            ),
                        ),
                        None => (
                            "dns.malformed",
                            format!("frame {}: DNS {src} -> {dst}: {e}", at.frame),
                        ),
                    };
                    let a = self.anomaly(at, None, code, message);
                    self.anomalies.push(a);
                    partial
                }
            };
            if let Some(message) = message {
                self.dns_datagram(message, src, dst, at);
            }
            return;
        }
        // NetBIOS name service: names answered or registered for an address.
        if src.port == Some(nbns::PORT) || dst.port == Some(nbns::PORT) {
            match nbns::parse(payload) {
                Ok(message) => {
                    let (client, server) = if message.is_response {
                        (dst, src)
                    } else {
                        (src, dst)
                    };
                    // A positive answer (rcode 0), or a registration, refresh or
                    // multi-homed registration claiming the name.
                    let binds = (message.is_response && message.rcode == 0)
                        || (!message.is_response && matches!(message.opcode, 5 | 8 | 9 | 15));
                    let seen = self.datagram(client, server, at);
                    if binds {
                        // An NB answer's name, bound to each address it gives; a node
                        // status answer's names (its workgroup's among them, as
                        // tshark lists), bound to the node that answered.
                        let pairs = message.answers.iter().flat_map(|a| {
                            let nb = a
                                .addresses
                                .iter()
                                .map(|&ip| (&a.name.name, std::net::IpAddr::V4(ip)));
                            let node = a.node_names.iter().map(|n| (&n.name.name, server.ip));
                            nb.chain(node)
                        });
                        for (name, ip) in pairs {
                            let mut bound = seen.clone();
                            bound.server = Endpoint { ip, port: None };
                            let name = String::from_utf8_lossy(name.as_bytes()).to_string();
                            self.name(name, NameSource::Netbios, &bound, at);
                        }
                    }
                    self.spool.push(Item::Nbns(NbnsRecord { seen, message }));
                }
                Err(e) => {
                    let a = self.anomaly(
                        at,
                        None,
                        "nbns.malformed",
                        format!(
                            "frame {}: NetBIOS name service {src} -> {dst}: {e}",
                            at.frame
                        ),
                    );
                    self.anomalies.push(a);
                }
            }
            return;
        }
        // SSDP: HTTP heads over UDP (HTTPU), one message a datagram.
        if src.port == Some(1900) || dst.port == Some(1900) {
            if let Step::Record { record, .. } = HttpStream::new().next(payload) {
                let (client, server) = match &record {
                    HttpMessage::Request(_) => (src, dst),
                    HttpMessage::Response(_) => (dst, src),
                };
                let seen = self.datagram(client, server, at);
                self.record(seen, Found::Http(record), src, dst, at);
            }
            return;
        }
        // DNS on another port (a resolver on 5300, say), when unmistakably DNS.
        if !matches!(self.states.get(id), Some(AppState::Quic(_))) {
            if let Some(message) = dns::parse_udp_strict(payload) {
                self.dns_datagram(message, src, dst, at);
                return;
            }
        }
        // QUIC: only datagrams from the side that spoke first (the client), and only
        // until its ClientHello is read.
        if src != conv.a {
            return;
        }
        if self.states.is_new(id) {
            if !quic::may_open(payload) {
                self.states.end(id);
                return;
            }
            self.states
                .begin(id, AppState::Quic(Box::new(QuicConnection::new())));
        }
        let Some(AppState::Quic(q)) = self.states.get_mut(id) else {
            return;
        };
        match q.push_client_datagram(payload, at.frame) {
            Ok(Some(hello)) => {
                self.states.end(id);
                let seen = Seen {
                    capture: self.capture,
                    frame: hello.frames.first().copied().unwrap_or(at.frame),
                    frames: hello.frames.clone(),
                    ts: at.ts,
                    client: src,
                    server: dst,
                    transport: Transport::Udp,
                };
                if let Some(sni) = &hello.hello.sni {
                    self.name(lower(sni), NameSource::QuicSni, &seen, at);
                }
                self.spool.push(Item::Quic(QuicRecord {
                    seen,
                    version: hello.version,
                    dcid: hello.dcid,
                    scid: hello.scid,
                    hello: hello.hello,
                }));
            }
            Ok(None) => {
                if q.is_done() {
                    self.states.end(id);
                }
            }
            Err(e) => {
                self.states.end(id);
                let a = self.anomaly(
                    at,
                    None,
                    "quic.malformed",
                    format!("frame {}: QUIC {src} -> {dst}: {e}", at.frame),
                );
                self.anomalies.push(a);
            }
        }
    }

    /// A datagram between a client and a SOCKS5 UDP relay it was granted: its data
    /// after the SOCKS header, read as the client and relay's own (the relay is the
    /// server the client reached, as a proxy is for a tunnelled connection); each
    /// target the client names is recorded once per relay, and a target name is
    /// bound to the relay.
    fn relayed<'p>(
        &mut self,
        src: Endpoint,
        dst: Endpoint,
        payload: &'p [u8],
        at: FrameRef,
    ) -> Relayed<'p> {
        if self.relays.is_empty() {
            return Relayed::No;
        }
        let (client, relay) = if self.relays.contains_key(&(src.ip, dst)) {
            (src, dst)
        } else if self.relays.contains_key(&(dst.ip, src)) {
            (dst, src)
        } else {
            return Relayed::No;
        };
        let Some(d) = socks::udp_datagram(payload) else {
            let a = self.anomaly(
                at,
                None,
                "socks.udp_malformed",
                format!(
                    "frame {}: datagram {src} -> {dst} through a SOCKS5 UDP relay has no valid SOCKS header",
                    at.frame
                ),
            );
            self.anomalies.push(a);
            return Relayed::Unread;
        };
        if d.frag != 0 {
            let a = self.anomaly(
                at,
                None,
                "socks.udp_fragment",
                format!(
                    "frame {}: datagram {src} -> {dst} through a SOCKS5 UDP relay is fragment {} of a larger one; SOCKS fragments are not reassembled",
                    at.frame, d.frag
                ),
            );
            self.anomalies.push(a);
            return Relayed::Unread;
        }
        if src == client {
            let target = (d.name.clone(), d.address, d.port);
            let Some(r) = self.relays.get_mut(&(client.ip, relay)) else {
                return Relayed::Data(d.data);
            };
            if !r.targets.contains(&target) && r.targets.len() < MAX_RELAY_TARGETS {
                r.targets.push(target);
                let seen = self.datagram(client, relay, at);
                if let Some(name) = &d.name {
                    self.name(lower(name), NameSource::Socks, &seen, at);
                }
                self.proxy_record(ProxyRecord {
                    target_name: d.name,
                    target_address: d.address,
                    target_port: d.port,
                    ..ProxyRecord::new(seen, "socks5", WireString::from("udp"))
                });
            }
        }
        Relayed::Data(d.data)
    }

    /// A server certificate chain read from a TLS 1.3 handshake decrypted with
    /// logged secrets: recorded and its names bound as a clear one's are.
    pub(crate) fn decrypted_certificate(&mut self, c: crate::content::Certified, at: FrameRef) {
        let crate::content::Certified {
            client,
            server,
            certificate,
        } = c;
        let mut info = crate::dissect::tls::certificate_info(
            certificate.chain_len,
            certificate.leaf.as_deref(),
        );
        info.decrypted = true;
        let seen = Seen {
            capture: self.capture,
            frame: certificate.frames.last().copied().unwrap_or(at.frame),
            frames: certificate.frames,
            ts: at.ts,
            client,
            server,
            transport: Transport::Tcp,
        };
        self.record(
            seen,
            Found::Tls(Handshake::Certificate(info)),
            server,
            client,
            at,
        );
    }

    /// A DNS message a DoH response carried (decrypted with logged secrets): read
    /// as a DNS answer from the DoH server, over TCP.
    pub(crate) fn doh_message(&mut self, m: crate::content::DohMessage, at: FrameRef) {
        let crate::content::DohMessage {
            client,
            server,
            message,
            frames,
        } = m;
        match dns::parse_udp(&message) {
            Ok(message) => {
                let seen = Seen {
                    capture: self.capture,
                    frame: frames.last().copied().unwrap_or(at.frame),
                    frames,
                    ts: at.ts,
                    client,
                    server,
                    transport: Transport::Tcp,
                };
                self.record(seen, Found::Dns(message), server, client, at);
            }
            Err(e) => {
                let a = self.anomaly(
                    at,
                    None,
                    "dns.malformed",
                    format!(
                        "frame {}: DNS over HTTPS {server} -> {client}: {e}",
                        at.frame
                    ),
                );
                self.anomalies.push(a);
            }
        }
    }

    fn name(&mut self, name: String, source: NameSource, seen: &Seen, at: FrameRef) {
        if name.is_empty() {
            return;
        }
        let port = seen.server.port.map(|p| (seen.transport, p));
        let mut frames: FrameList = seen
            .frames
            .iter()
            .take(MAX_NAME_FRAMES)
            .map(|&frame| FrameId::new(seen.capture, frame))
            .collect();
        if frames.is_empty() {
            frames.push(FrameId::new(seen.capture, seen.frame));
        }
        let ip = seen.server.ip;
        add_name(
            &mut self.names,
            &mut self.name_index,
            NameEvidence {
                name,
                source,
                ip,
                port,
                frames,
                at,
            },
        );
    }

    fn record(&mut self, seen: Seen, found: Found, src: Endpoint, dst: Endpoint, at: FrameRef) {
        match found {
            Found::Tls(h) => {
                match &h {
                    Handshake::ClientHello(ch) => {
                        // With `ech` set this is the outer name; the record says so.
                        if let Some(sni) = &ch.sni {
                            self.name(lower(sni), NameSource::TlsSni, &seen, at);
                        }
                        if let Some(damage) = &ch.damaged {
                            let message = format!(
                                "frame {}: {src} -> {dst}: ClientHello damaged ({damage}); what was read before the damage is kept{}, without a JA4 fingerprint",
                                seen.frame,
                                if ch.sni.is_some() { ", its server name among it" } else { "" }
                            );
                            let a =
                                self.anomaly(at, Some(seen.frame), "tls.damaged_hello", message);
                            self.anomalies.push(a);
                        }
                    }
                    Handshake::Certificate(cert) => {
                        let mut certified: Vec<String> = cert
                            .subject_cn
                            .iter()
                            .chain(&cert.sans)
                            .map(lower)
                            .collect();
                        certified.sort();
                        certified.dedup();
                        for n in certified {
                            self.name(n, NameSource::Certificate, &seen, at);
                        }
                    }
                    Handshake::ServerHello(_) => {}
                }
                self.spool.push(Item::Tls(TlsRecord { seen, handshake: h }));
            }
            Found::Http(m) => {
                if let HttpMessage::Request(r) = &m {
                    if let Some(name) = r.host.as_ref().and_then(host_name) {
                        self.name(name, NameSource::HttpHost, &seen, at);
                    }
                }
                let skipped = m.skipped_header_lines();
                if skipped > 0 {
                    let what = match &m {
                        HttpMessage::Request(_) => "request",
                        HttpMessage::Response(_) => "response",
                    };
                    let message = format!(
                        "frame {}: {src} -> {dst}: {skipped} header line(s) of the HTTP {what} head could not be read as headers (a control byte, a malformed name) and were skipped; the other headers were read",
                        seen.frame
                    );
                    let a =
                        self.anomaly(at, Some(seen.frame), "http.header_lines_skipped", message);
                    self.anomalies.push(a);
                }
                self.spool.push(Item::Http(HttpRecord { seen, message: m }));
            }
            Found::Dns(message) => {
                self.bindings
                    .observe((at.frame, at.offset), at.ts, src, dst, &message);
                self.spool.push(Item::Dns(DnsRecord { seen, message }));
            }
        }
    }

    /// Closes the remaining streams and turns DNS answers into name evidence.
    /// The name bindings found in flows so far (SNI, Host, certificates), in the
    /// order found; those of DNS answers join them at [`Identify::finish`].
    pub(crate) fn names(&self) -> &[NameEvidence] {
        &self.names
    }

    /// How many DNS answers have bound names so far.
    pub(crate) fn dns_answers(&self) -> usize {
        self.bindings.len()
    }

    /// The DNS answers found so far, from the `from`-th on, as the names
    /// [`Identify::finish`] will give them; and how many answers there are now.
    pub(crate) fn dns_names_from(&self, from: usize) -> (Vec<NameEvidence>, usize) {
        let names = self
            .bindings
            .from(from)
            .flat_map(|b| binding_names(self.capture, &b))
            .collect();
        (names, self.bindings.len())
    }

    /// Ends the dissection; an error only when the DNS answers moved to their
    /// temporary file cannot be read back.
    pub(crate) fn finish(mut self) -> std::io::Result<Identified> {
        for p in std::mem::take(&mut self.proxies).into_values() {
            for r in p.into_records() {
                self.proxy_record(r);
            }
        }
        for state in std::mem::take(&mut self.states).into_active() {
            if let AppState::Tcp(dirs) = state {
                for d in dirs.iter() {
                    if !d.done {
                        self.reassembly
                            .add(d.prefix.counters(), d.prefix.midstream());
                    }
                }
            }
        }
        for b in self.bindings.into_sorted()? {
            for n in binding_names(self.capture, &b?) {
                add_name(&mut self.names, &mut self.name_index, n);
            }
        }
        // Held until the services are built: without the room its growth left.
        self.names.shrink_to_fit();
        let dropped = self.proxy_targets.dropped;
        Ok(Identified {
            spool: self.spool,
            names: self.names,
            reassembly: self.reassembly,
            proxy_targets: self.proxy_targets.finish(),
            proxy_targets_dropped: dropped,
        })
    }
}

/// What a finished identification hands on.
pub(crate) struct Identified {
    pub spool: Spooler,
    pub names: Vec<NameEvidence>,
    pub reassembly: ReassemblySummary,
    pub proxy_targets: Vec<ProxyTarget>,
    /// Requests for proxy targets past the cap: how many, and the first one's frame.
    pub proxy_targets_dropped: Option<(u64, u64)>,
}

/// The two ends of a TCP conversation, and of the direction a segment went.
struct Ends {
    /// The conversation's client and server (the SYN's sender and receiver, else by
    /// port), whichever direction the data goes.
    client: Endpoint,
    server: Endpoint,
    /// Sender and receiver of this direction: a response comes from the server.
    from: Endpoint,
    to: Endpoint,
}

impl Ends {
    fn of(conv: &Conversation, forward: bool) -> Ends {
        let (server, client) = crate::services::server_side(conv);
        let (from, to) = if forward {
            (conv.a, conv.b)
        } else {
            (conv.b, conv.a)
        };
        Ends {
            client,
            server,
            from,
            to,
        }
    }

    fn sent_by_client(&self) -> bool {
        self.from == self.client
    }
}

/// What one direction's dissectors found in the bytes that became readable.
#[derive(Default)]
struct Dissected {
    /// Records with the frames that carried them.
    records: Vec<(Vec<u64>, Found)>,
    /// Malformed input: the frame where it was found (if known) and the error.
    errors: Vec<(Option<u64>, String)>,
    /// Names a proxy handshake asked for, with their source and frames.
    names: Vec<(String, NameSource, Vec<u64>)>,
    /// A SOCKS5 UDP relay the proxy granted.
    relay: Option<Endpoint>,
}

/// What a direction's next bytes are, before any dissector has read them.
enum Guess {
    Is(Proto),
    /// A preamble of this many bytes (a PROXY protocol header): the protocol
    /// starts after it.
    Skip(usize),
    /// Too few bytes to tell (a strict prefix of an HTTP start).
    Wait,
    /// None of the protocols read here.
    Unknown,
}

/// Decides the protocol of a direction's bytes from `data` (at stream offset `base`):
/// a PROXY protocol header or a proxy handshake (only from the client, only at the
/// start of the stream, or the proxy's answer to one under way), TLS, HTTP, DNS on
/// its port, or text that may turn to TLS.
fn guess(data: &[u8], base: usize, ends: &Ends, pending_socks: Option<socks::Version>) -> Guess {
    let Some(&first) = data.first() else {
        return Guess::Wait;
    };
    let dns_port = ends.server.port == Some(53) || ends.client.port == Some(53);
    let from_client = ends.sent_by_client();
    if base == 0 && from_client {
        match upgrade::proxy_header(data) {
            upgrade::ProxyHeader::Whole(n) => return Guess::Skip(n),
            upgrade::ProxyHeader::Partial => return Guess::Wait,
            upgrade::ProxyHeader::No => {}
        }
    }
    if base == 0
        && from_client
        && !dns_port
        && matches!(first, 4 | 5)
        && socks::client(data) != socks::Parsed::NotSocks
    {
        let version = if first == 5 {
            socks::Version::Socks5
        } else {
            socks::Version::Socks4
        };
        return Guess::Is(Proto::Socks(version));
    }
    if let (0, false, Some(v)) = (base, from_client, pending_socks) {
        return Guess::Is(Proto::SocksReply(v));
    }
    if first == 0x16 {
        Guess::Is(Proto::Tls(TlsStream::new()))
    } else if http::starts_message(data) {
        Guess::Is(Proto::Http(HttpStream::new()))
    } else if dns_port {
        Guess::Is(Proto::Dns(dns::TcpDnsStream::new()))
    } else if may_become_http(data) {
        Guess::Wait
    } else if upgrade::may_be_text(first) {
        Guess::Is(Proto::Text { scanned: 0 })
    } else {
        Guess::Unknown
    }
}

/// How a proxy handshake step ended.
enum ProxyStep {
    /// The handshake took `n` bytes; what follows is the tunnelled connection.
    Through(usize),
    /// The proxy refused: nothing follows.
    Refused,
    Step(Step<Found, String>),
}

/// Runs one direction's dissectors over the bytes readable from `dir.base` on: a
/// proxy handshake, then the protocol it carried, until they need more bytes, stop
/// or fail. Proxy handshakes go into `proxies` (by conversation `id`).
fn dissect_direction(
    dir: &mut Direction,
    proxies: &mut BTreeMap<ConvId, PendingProxy>,
    id: ConvId,
    capture: u32,
    ends: &Ends,
    at: FrameRef,
) -> Dissected {
    let mut out = Dissected::default();
    // Once per protocol of the direction: a proxy handshake, then what it carried.
    'protocols: loop {
        let base = dir.base;
        if matches!(dir.proto, Proto::Undecided) {
            let data = dir.prefix.contiguous().get(base..).unwrap_or_default();
            let pending = proxies
                .get(&id)
                .filter(|p| !p.answered)
                .and_then(|p| p.socks);
            match guess(data, base, ends, pending) {
                Guess::Is(proto) => {
                    if let Proto::Socks(v) = proto {
                        proxies.entry(id).or_default().socks = Some(v);
                    }
                    dir.proto = proto;
                }
                Guess::Skip(n) => {
                    if let Some(p) = upgrade::proxied(data.get(..n).unwrap_or_default()) {
                        let frames = dir.prefix.frames_of(base..base + n);
                        proxies.entry(id).or_default().header =
                            Some(proxy_header_record(capture, &frames, at, ends, &p));
                    }
                    dir.base = base + n;
                    continue 'protocols;
                }
                Guess::Wait => break,
                Guess::Unknown => {
                    dir.done = true;
                    break;
                }
            }
        }
        loop {
            let data = dir.prefix.contiguous().get(base..).unwrap_or_default();
            let step = match &mut dir.proto {
                Proto::Tls(s) => map_step(s.next(data), Found::Tls),
                Proto::Http(s) => map_step(s.next(data), Found::Http),
                Proto::Dns(s) => map_step(s.next(data), Found::Dns),
                Proto::Socks(_) | Proto::SocksReply(_) => {
                    let handshake = match dir.proto {
                        Proto::SocksReply(version) => {
                            socks_reply(dir, proxies, id, version, ends, &mut out)
                        }
                        _ => socks_request(dir, proxies, id, capture, ends, at, &mut out),
                    };
                    match handshake {
                        ProxyStep::Step(step) => step,
                        ProxyStep::Through(n) => {
                            dir.base = base + n;
                            dir.proto = Proto::Undecided;
                            continue 'protocols;
                        }
                        ProxyStep::Refused => {
                            dir.done = true;
                            break 'protocols;
                        }
                    }
                }
                Proto::Text { scanned } => match upgrade::tls_after_text(data, *scanned) {
                    upgrade::TextScan::Tls(n) => {
                        dir.base = base + n;
                        dir.proto = Proto::Undecided;
                        continue 'protocols;
                    }
                    upgrade::TextScan::More(n) => {
                        *scanned = n;
                        Step::NeedMore { need: None }
                    }
                    upgrade::TextScan::No => Step::Done,
                },
                Proto::Undecided => Step::Done,
            };
            match step {
                Step::Record { range, record } => {
                    let range = base + range.start..base + range.end;
                    let frames = dir.prefix.frames_of(range.clone());
                    let tunnel =
                        http_proxy(&record, &frames, proxies, id, capture, ends, at, &mut out);
                    out.records.push((frames, record));
                    if tunnel {
                        dir.base = range.end;
                        dir.proto = Proto::Undecided;
                        continue 'protocols;
                    }
                }
                Step::Error { offset, error } => {
                    out.errors.push((dir.prefix.frame_at(base + offset), error));
                    dir.done = true;
                    break 'protocols;
                }
                Step::NeedMore { .. } => {
                    if dir.prefix.is_full() {
                        dir.done = true;
                    }
                    break 'protocols;
                }
                Step::NotMine | Step::Done => {
                    dir.done = true;
                    break 'protocols;
                }
            }
        }
    }
    out
}

/// The client's side of a SOCKS handshake: once whole, its record (and the name it
/// asked for) is kept for the conversation.
fn socks_request(
    dir: &Direction,
    proxies: &mut BTreeMap<ConvId, PendingProxy>,
    id: ConvId,
    capture: u32,
    ends: &Ends,
    at: FrameRef,
    out: &mut Dissected,
) -> ProxyStep {
    let base = dir.base;
    let data = dir.prefix.contiguous().get(base..).unwrap_or_default();
    match socks::client(data) {
        socks::Parsed::Complete(request, n) => {
            let frames = dir.prefix.frames_of(base..base + n);
            let record = socks_record(capture, &frames, at, ends.client, ends.server, &request);
            if let Some(name) = &request.name {
                out.names.push((lower(name), NameSource::Socks, frames));
            }
            proxies.entry(id).or_default().record = Some(record);
            ProxyStep::Through(n)
        }
        socks::Parsed::Partial => ProxyStep::Step(Step::NeedMore { need: None }),
        socks::Parsed::NotSocks => ProxyStep::Step(Step::NotMine),
    }
}

/// The proxy's answer to a SOCKS handshake: granted, the tunnel follows; refused,
/// the direction is done.
fn socks_reply(
    dir: &Direction,
    proxies: &mut BTreeMap<ConvId, PendingProxy>,
    id: ConvId,
    version: socks::Version,
    ends: &Ends,
    out: &mut Dissected,
) -> ProxyStep {
    let base = dir.base;
    let data = dir.prefix.contiguous().get(base..).unwrap_or_default();
    match socks::server(data, version) {
        socks::Parsed::Complete(reply, n) => {
            let frames = dir.prefix.frames_of(base..base + n);
            let p = proxies.entry(id).or_default();
            p.answered = true;
            if let Some(r) = &mut p.record {
                r.reply = reply.code.map(u16::from);
                r.granted = Some(reply.granted);
                r.reply_frames = frames;
                // A granted UDP ASSOCIATE: the client's datagrams go to the bound
                // address and port (the proxy's own address when it sends none).
                if let (true, Some((address, port))) =
                    (r.command.as_bytes() == b"udp_associate", reply.bound)
                {
                    let ip = address
                        .filter(|a| !a.is_unspecified())
                        .unwrap_or(ends.server.ip);
                    out.relay = Some(Endpoint {
                        ip,
                        port: Some(port),
                    });
                }
            }
            if reply.granted {
                ProxyStep::Through(n)
            } else {
                ProxyStep::Refused
            }
        }
        socks::Parsed::Partial => ProxyStep::Step(Step::NeedMore { need: None }),
        socks::Parsed::NotSocks => ProxyStep::Step(Step::NotMine),
    }
}

/// An HTTP message as a proxy handshake: a request in absolute form asks a forward
/// proxy, `CONNECT` opens a tunnel once the proxy answers 2xx. Every such request of
/// a connection is kept (a kept-alive connection to a forward proxy may ask for
/// several hosts), and each answer goes to the oldest request without one, as
/// HTTP/1.1 answers in order. Returns whether a tunnel opens after this message.
#[allow(clippy::too_many_arguments)]
fn http_proxy(
    record: &Found,
    frames: &[u64],
    proxies: &mut BTreeMap<ConvId, PendingProxy>,
    id: ConvId,
    capture: u32,
    ends: &Ends,
    at: FrameRef,
    out: &mut Dissected,
) -> bool {
    match record {
        Found::Http(HttpMessage::Request(r)) if ends.sent_by_client() => {
            let connect = r.method.as_bytes() == b"CONNECT";
            let Some((host, port)) = http::authority(r.uri.as_bytes(), connect) else {
                return false;
            };
            let p = proxies.entry(id).or_default();
            // Nothing after a SOCKS request or a granted tunnel asks this proxy.
            let tunnel = p.http.iter().any(|r| r.granted == Some(true));
            if p.record.is_some() || tunnel || p.http.len() >= MAX_HTTP_PROXY_REQUESTS {
                return false;
            }
            let mut rec =
                http_proxy_record(capture, frames, at, ends.client, ends.server, r, connect);
            match host_name(&host) {
                Some(name) => out
                    .names
                    .push((name, NameSource::HttpProxy, frames.to_vec())),
                None => rec.target_address = literal(&host),
            }
            if rec.target_address.is_none() {
                rec.target_name = Some(host);
            }
            rec.target_port = port;
            p.http.push(rec);
            connect
        }
        Found::Http(HttpMessage::Response(r)) if !ends.sent_by_client() => {
            let Some(p) = proxies.get_mut(&id).filter(|p| p.socks.is_none()) else {
                return false;
            };
            let Some(rec) = p.http.get_mut(p.http_answered) else {
                return false;
            };
            // An interim answer (100 Continue) is not the request's answer.
            if (100..200).contains(&r.status) && r.status != 101 {
                return false;
            }
            p.http_answered += 1;
            rec.reply = Some(r.status);
            rec.reply_frames = frames.to_vec();
            if rec.protocol == "http_connect" {
                let granted = (200..300).contains(&r.status);
                rec.granted = Some(granted);
                return granted;
            }
            false
        }
        _ => false,
    }
}

/// Adds a name binding, merging it with an earlier sighting of the same binding.
/// The names a DNS answer binds to its address: the name asked for and each name of
/// its CNAME chain. PTR answers bind none.
fn binding_names(capture: u32, b: &dns::Binding) -> Vec<NameEvidence> {
    if b.kind == dns::BindingKind::Ptr {
        return Vec::new();
    }
    let at = FrameRef {
        capture,
        frame: b.answer_frame,
        offset: b.answer_offset,
        ts: b.ts,
    };
    let frames: FrameList = b
        .query_frame
        .into_iter()
        .chain([b.answer_frame])
        .map(|frame| FrameId::new(capture, frame))
        .collect();
    let make = |name: String, source| NameEvidence {
        name,
        source,
        ip: b.address,
        port: None,
        frames: frames.clone(),
        at,
    };
    std::iter::once(make(lower(&b.name), NameSource::DnsAnswer))
        .chain(b.chain.iter().map(|c| make(lower(c), NameSource::DnsCname)))
        .filter(|n| !n.name.is_empty())
        .collect()
}

/// Where each name binding is in the list of names: a table of positions, hashed by
/// the binding's (name, source, address, port) and compared with the entry itself.
#[derive(Default)]
pub(crate) struct NameIndex {
    table: hashbrown::HashTable<usize>,
    hasher: ahash::RandomState,
}

/// The hash of a binding's (name, source, address, port).
fn binding_hash(hasher: &ahash::RandomState, n: &NameEvidence) -> u64 {
    hasher.hash_one((n.name.as_str(), n.source, n.ip, n.port))
}

fn same_binding(a: &NameEvidence, b: &NameEvidence) -> bool {
    a.name == b.name && a.source == b.source && a.ip == b.ip && a.port == b.port
}

fn add_name(names: &mut Vec<NameEvidence>, index: &mut NameIndex, n: NameEvidence) {
    let hash = binding_hash(&index.hasher, &n);
    let found = index
        .table
        .find(hash, |&i| names.get(i).is_some_and(|e| same_binding(e, &n)))
        .copied();
    match found.and_then(|i| names.get_mut(i)) {
        Some(e) => {
            for f in n.frames.iter() {
                if e.frames.len() >= MAX_NAME_FRAMES {
                    break;
                }
                e.frames.insert(f);
            }
        }
        None => {
            let at = names.len();
            let hasher = &index.hasher;
            index.table.insert_unique(hash, at, |&i| {
                names.get(i).map_or(0, |e| binding_hash(hasher, e))
            });
            names.push(n);
        }
    }
}

/// An address literal in a proxy request (`[2001:db8::1]` or `192.0.2.1`).
fn literal(host: &WireString) -> Option<std::net::IpAddr> {
    let h = String::from_utf8_lossy(host.as_bytes());
    h.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

fn proxy_seen(
    capture: u32,
    frames: &[u64],
    at: FrameRef,
    client: Endpoint,
    server: Endpoint,
) -> Seen {
    Seen {
        capture,
        frame: frames.first().copied().unwrap_or(at.frame),
        frames: frames.to_vec(),
        ts: at.ts,
        client,
        server,
        transport: Transport::Tcp,
    }
}

fn socks_record(
    capture: u32,
    frames: &[u64],
    at: FrameRef,
    client: Endpoint,
    server: Endpoint,
    r: &socks::Request,
) -> ProxyRecord {
    let protocol = match r.version {
        socks::Version::Socks4 => "socks4",
        socks::Version::Socks4a => "socks4a",
        socks::Version::Socks5 => "socks5",
    };
    let command = WireString::from(match r.command {
        socks::Command::Connect => "connect",
        socks::Command::Bind => "bind",
        socks::Command::UdpAssociate => "udp_associate",
    });
    ProxyRecord {
        target_name: r.name.clone(),
        target_address: r.address,
        target_port: r.port,
        methods: r.methods.clone(),
        user: r.user.clone(),
        password_sent: r.password_sent,
        ..ProxyRecord::new(
            proxy_seen(capture, frames, at, client, server),
            protocol,
            command,
        )
    }
}

/// A PROXY protocol header's record: the proxy is the capture's client, the
/// original client its `origin`, the address that client reached the target.
fn proxy_header_record(
    capture: u32,
    frames: &[u64],
    at: FrameRef,
    ends: &Ends,
    p: &upgrade::Proxied,
) -> ProxyRecord {
    let protocol = if p.version == 1 {
        "proxy_v1"
    } else {
        "proxy_v2"
    };
    let command = WireString::from(if p.udp { "udp" } else { "tcp" });
    ProxyRecord {
        origin: Some(Endpoint {
            ip: p.source.ip(),
            port: Some(p.source.port()),
        }),
        target_address: Some(p.destination.ip()),
        target_port: p.destination.port(),
        ..ProxyRecord::new(
            proxy_seen(capture, frames, at, ends.client, ends.server),
            protocol,
            command,
        )
    }
}

fn http_proxy_record(
    capture: u32,
    frames: &[u64],
    at: FrameRef,
    client: Endpoint,
    server: Endpoint,
    r: &http::RequestInfo,
    connect: bool,
) -> ProxyRecord {
    let protocol = if connect {
        "http_connect"
    } else {
        "http_forward"
    };
    ProxyRecord::new(
        proxy_seen(capture, frames, at, client, server),
        protocol,
        r.method.clone(),
    )
}

enum Found {
    Tls(Handshake),
    Http(HttpMessage),
    Dns(Message),
}

fn map_step<T, E: std::fmt::Display>(
    step: Step<T, E>,
    wrap: fn(T) -> Found,
) -> Step<Found, String> {
    match step {
        Step::Record { range, record } => Step::Record {
            range,
            record: wrap(record),
        },
        Step::NeedMore { need } => Step::NeedMore { need },
        Step::NotMine => Step::NotMine,
        Step::Error { offset, error } => Step::Error {
            offset,
            error: error.to_string(),
        },
        Step::Done => Step::Done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_split_inside_its_method_is_still_recognised() {
        assert!(may_become_http(b"GE") && may_become_http(b"HTTP/"));
        assert!(!may_become_http(b"GET ") && !may_become_http(b"\x16\x03"));
        assert!(http::starts_message(b"GET / HTTP/1.1\r\n"));
    }

    /// Feeds TCP segments of one flow (client 10.0.0.1:40000, server 10.0.0.2:80)
    /// through the tables and identification, as the pipeline does.
    struct Flow {
        tables: crate::flow::Tables,
        ident: Identify,
        frame: u64,
    }

    impl Flow {
        fn new() -> Flow {
            Flow {
                tables: crate::flow::Tables::new(),
                ident: Identify::new(0, Spooler::new().unwrap()),
                frame: 0,
            }
        }

        fn send(
            &mut self,
            from_client: bool,
            seq: u32,
            fin: bool,
            rst: bool,
            data: &[u8],
        ) -> ConvId {
            self.frame += 1;
            let (client, server): (std::net::IpAddr, std::net::IpAddr) =
                ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
            let (src, dst, sp, dp) = if from_client {
                (client, server, 40000, 80)
            } else {
                (server, client, 80, 40000)
            };
            let seg = crate::flow::Segment::Tcp {
                src_port: sp,
                dst_port: dp,
                seq,
                syn: false,
                ack: true,
                fin,
                rst,
            };
            let at = FrameRef {
                capture: 0,
                frame: self.frame,
                offset: 0,
                ts: crate::model::Timestamp::new(self.frame as i64, 0),
            };
            let id = self
                .tables
                .count_transport(src, dst, seg, at, 60, true)
                .unwrap();
            let conv = self.tables.conversation(id).unwrap();
            let tcp = TcpSegment {
                seq,
                syn: false,
                fin,
                rst,
                cut: false,
            };
            let from = Endpoint {
                ip: src,
                port: Some(sp),
            };
            self.ident.tcp(id, conv, from, tcp, data, at);
            id
        }
    }

    const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
    const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc";

    #[test]
    fn states_keep_an_entry_only_while_a_conversation_is_dissected() {
        let mut st = States::default();
        for id in [0, 63, 64, 1000] {
            assert!(st.is_new(id) && !st.is_done(id) && !st.is_begun(id));
            st.begin(id, AppState::Quic(Box::new(QuicConnection::new())));
            assert!(!st.is_new(id) && st.get(id).is_some() && st.is_begun(id));
            st.end(id);
            assert!(st.is_done(id) && !st.is_new(id) && st.get(id).is_none());
        }
        assert!(st.is_new(1) && st.is_new(65) && st.is_new(999) && st.is_new(5000));
        assert!(!st.is_begun(1) && !st.is_begun(65) && !st.is_begun(5000));
        assert!(st.active.is_empty());
        let quic = || AppState::Quic(Box::new(QuicConnection::new()));
        assert!(
            st.get_or_begin(64, quic).is_none(),
            "a done one is not begun again"
        );
        assert!(st.get_or_begin(65, quic).is_some() && !st.is_new(65));
        assert_eq!(st.active.len(), 1);
        assert_eq!(st.done.len(), 1000 / 32 + 1);
    }

    #[test]
    fn fin_from_both_sides_releases_a_flows_stream_state() {
        let mut f = Flow::new();
        let id = f.send(true, 1, false, false, REQUEST);
        f.send(false, 1, false, false, RESPONSE);
        assert!(matches!(f.ident.states.get(id), Some(AppState::Tcp(_))));
        // A FIN after a gap does not end the direction: the gap may still be filled.
        f.send(false, 500, true, false, b"");
        f.send(true, 1 + REQUEST.len() as u32, true, false, b"");
        let Some(AppState::Tcp(dirs)) = f.ident.states.get(id) else {
            panic!("the server's direction is still open");
        };
        assert!(dirs[0].done && !dirs[1].done);
        assert!(f.ident.states.direction_done(id, 0) && !f.ident.states.direction_done(id, 1));
        f.send(false, 1 + RESPONSE.len() as u32, true, false, b"");
        assert!(f.ident.states.is_done(id) && f.ident.states.get(id).is_none());
    }

    #[test]
    fn only_a_reset_at_the_next_expected_byte_ends_a_flow() {
        let mut f = Flow::new();
        let id = f.send(true, 1, false, false, REQUEST);
        f.send(false, 1, false, false, RESPONSE);
        // Injected resets, before and after where the server's stream stands.
        f.send(false, 7, false, true, b"");
        f.send(false, 90_000, false, true, b"");
        assert!(matches!(f.ident.states.get(id), Some(AppState::Tcp(_))));
        f.send(false, 1 + RESPONSE.len() as u32, false, true, b"");
        assert!(f.ident.states.is_done(id) && f.ident.states.get(id).is_none());
    }

    /// A binding seen again adds only its new frames, in order and at most
    /// `MAX_NAME_FRAMES`; one that differs in name, source, address or port is an
    /// entry of its own.
    #[test]
    fn a_name_binding_seen_again_adds_its_frames_once() {
        let ip: std::net::IpAddr = "192.0.2.1".parse().unwrap();
        let at = FrameRef {
            capture: 0,
            frame: 1,
            offset: 0,
            ts: crate::model::Timestamp { secs: 0, nanos: 0 },
        };
        let evidence = |name: &str, source, port, frames: &[u64]| NameEvidence {
            name: name.into(),
            source,
            ip,
            port,
            frames: frames.iter().map(|&f| FrameId::new(0, f)).collect(),
            at,
        };
        let tls = Some((Transport::Tcp, 443));
        let mut names = Vec::new();
        let mut index = NameIndex::default();
        add_name(
            &mut names,
            &mut index,
            evidence("a.example", NameSource::TlsSni, tls, &[5, 9]),
        );
        add_name(
            &mut names,
            &mut index,
            evidence("a.example", NameSource::TlsSni, tls, &[9, 3, 12]),
        );
        add_name(
            &mut names,
            &mut index,
            evidence("a.example", NameSource::HttpHost, tls, &[7]),
        );
        add_name(
            &mut names,
            &mut index,
            evidence("a.example", NameSource::TlsSni, None, &[2]),
        );
        add_name(
            &mut names,
            &mut index,
            evidence("b.example", NameSource::TlsSni, tls, &[4]),
        );
        let frames = |names: &[NameEvidence], i: usize| -> Vec<u64> {
            names[i].frames.iter().map(|f| f.frame()).collect()
        };
        assert_eq!(names.len(), 4);
        assert_eq!(frames(&names, 0), vec![3, 5, 9, 12]);
        assert_eq!(
            (frames(&names, 1), frames(&names, 2), frames(&names, 3)),
            (vec![7], vec![2], vec![4])
        );
        let many: Vec<u64> = (100..300).collect();
        add_name(
            &mut names,
            &mut index,
            evidence("a.example", NameSource::TlsSni, tls, &many),
        );
        assert_eq!(names[0].frames.len(), MAX_NAME_FRAMES);
        assert_eq!(frames(&names, 0)[..5], [3, 5, 9, 12, 100]);
    }

    #[test]
    fn host_header_names_drop_ports_and_ip_literals() {
        assert_eq!(
            host_name(&"Dl.Example:8080".into()),
            Some("dl.example".into())
        );
        assert_eq!(host_name(&"dl.example.".into()), Some("dl.example".into()));
        assert_eq!(host_name(&"192.0.2.1:80".into()), None);
        assert_eq!(host_name(&"[2001:db8::1]:443".into()), None);
    }
}
