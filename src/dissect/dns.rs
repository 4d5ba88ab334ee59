//! dissect::dns: DNS messages over UDP and TCP (RFC 1035 §4, RFC 7766), and the
//! name-to-address bindings their answers establish.
//!
//! Messages are decoded by `hickory-proto`; this module keeps what naming a service
//! needs: questions, and answers of type A, AAAA, CNAME, PTR, NS, HTTPS and SVCB
//! (RFC 9460, with `alpn`, `ipv4hint` and `ipv6hint`). [`TcpDnsStream`] splits one TCP
//! direction into its 2-byte length-prefixed messages (RFC 1035 §4.2.2): several
//! messages in one segment, one message over several segments. [`DnsBindings`] matches
//! queries and answers by (ID, client, server), follows CNAME chains and keeps every
//! binding with the frames of the query and the answer, the TTL and the time.
//!
//! Contract on bad input: never panics; a message hickory rejects (compression loops
//! included) is an error value naming the reason; over TCP the length prefix still
//! frames the next message, so the stream goes on after a bad message.

mod packed;

use super::{Step, WireString};
use crate::model::{Endpoint, Timestamp};
use hickory_proto::op::Message as HMessage;
use hickory_proto::rr::rdata::svcb::SvcParamValue;
use hickory_proto::rr::{Name, RData as HRData};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// RFC 1035 §4.1.1: the fixed header is 12 bytes.
const HEADER_LEN: usize = 12;
/// CNAME chains longer than this are cut (resolvers give up far earlier).
pub(crate) const MAX_CHAIN: usize = 16;
/// Queries waiting for an answer; beyond this the oldest is forgotten (and counted).
pub(crate) const MAX_PENDING_QUERIES: usize = 65_536;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Question {
    pub name: WireString,
    pub qtype: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RData {
    A {
        address: Ipv4Addr,
    },
    Aaaa {
        address: Ipv6Addr,
    },
    Cname {
        target: WireString,
    },
    Ptr {
        target: WireString,
    },
    Ns {
        target: WireString,
    },
    /// HTTPS (`https: true`, type 65) or SVCB (type 64), RFC 9460.
    Svcb {
        https: bool,
        priority: u16,
        target: WireString,
        alpn: Vec<WireString>,
        ipv4hint: Vec<Ipv4Addr>,
        ipv6hint: Vec<Ipv6Addr>,
    },
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rr {
    pub name: WireString,
    pub rtype: u16,
    pub ttl: u32,
    pub data: RData,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Message {
    pub id: u16,
    pub is_response: bool,
    pub rcode: u16,
    pub truncated: bool,
    pub questions: Vec<Question>,
    pub answers: Vec<Rr>,
    /// The authority section's records (a referral's NS records, a negative
    /// answer's SOA): recorded as tshark shows them, never bound to addresses.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authority: Vec<Rr>,
    /// The additional section's records (the glue addresses of name servers, and
    /// whatever else the server volunteered; EDNS's OPT is not a record here):
    /// recorded, never bound, since they answer no question the client asked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub additional: Vec<Rr>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("DNS message of {len} bytes is shorter than the {HEADER_LEN}-byte header")]
    TooShort { len: usize },
    #[error("malformed DNS message: {reason}")]
    Malformed { reason: String },
}

/// Name as presentation-order labels joined by dots, without the root dot, ASCII
/// lowercased (RFC 4343: DNS names compare case-insensitively). Label bytes are kept.
fn name_of(n: &Name) -> WireString {
    let mut out = Vec::with_capacity(n.len());
    for (i, label) in n.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        out.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    WireString(out)
}

fn rdata_of(d: &HRData) -> RData {
    match d {
        HRData::A(a) => RData::A { address: a.0 },
        HRData::AAAA(a) => RData::Aaaa { address: a.0 },
        HRData::CNAME(c) => RData::Cname {
            target: name_of(&c.0),
        },
        HRData::PTR(p) => RData::Ptr {
            target: name_of(&p.0),
        },
        HRData::NS(n) => RData::Ns {
            target: name_of(&n.0),
        },
        HRData::HTTPS(h) => svcb_of(&h.0, true),
        HRData::SVCB(s) => svcb_of(s, false),
        _ => RData::Other,
    }
}

fn svcb_of(s: &hickory_proto::rr::rdata::SVCB, https: bool) -> RData {
    let mut alpn = Vec::new();
    let mut ipv4hint = Vec::new();
    let mut ipv6hint = Vec::new();
    for (_, v) in &s.svc_params {
        match v {
            SvcParamValue::Alpn(a) => alpn.extend(a.0.iter().map(|p| WireString::from(p.as_str()))),
            SvcParamValue::Ipv4Hint(h) => ipv4hint.extend(h.0.iter().map(|a| a.0)),
            SvcParamValue::Ipv6Hint(h) => ipv6hint.extend(h.0.iter().map(|a| a.0)),
            _ => {}
        }
    }
    RData::Svcb {
        https,
        priority: s.svc_priority,
        target: name_of(&s.target_name),
        alpn,
        ipv4hint,
        ipv6hint,
    }
}

/// Parses one DNS message (a UDP payload, or one TCP message without its prefix).
pub(crate) fn parse_message(bytes: &[u8]) -> Result<Message, DnsError> {
    if bytes.len() < HEADER_LEN {
        return Err(DnsError::TooShort { len: bytes.len() });
    }
    let m = HMessage::from_vec(bytes).map_err(|e| DnsError::Malformed {
        reason: e.to_string(),
    })?;
    Ok(Message {
        id: m.metadata.id,
        is_response: m.metadata.message_type == hickory_proto::op::MessageType::Response,
        rcode: u16::from(m.metadata.response_code),
        truncated: m.metadata.truncation,
        questions: m
            .queries
            .iter()
            .map(|q| Question {
                name: name_of(&q.name),
                qtype: u16::from(q.query_type),
            })
            .collect(),
        answers: m.answers.iter().map(rr_of).collect(),
        authority: m.authorities.iter().map(rr_of).collect(),
        additional: m.additionals.iter().map(rr_of).collect(),
    })
}

fn rr_of(r: &hickory_proto::rr::Record) -> Rr {
    Rr {
        name: name_of(&r.name),
        rtype: u16::from(r.record_type()),
        ttl: r.ttl,
        data: rdata_of(&r.data),
    }
}

/// What can be read of a message that cannot be read whole (cut short by the capture's
/// snap length, or damaged further on): the header, then the questions and answer
/// records in order up to the first that does not parse, as tshark shows them.
/// `None` when not even one question could be read.
pub(crate) fn parse_partial(bytes: &[u8]) -> Option<Message> {
    use hickory_proto::op::Query;
    use hickory_proto::rr::Record;
    use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
    let h = bytes.get(..HEADER_LEN)?;
    let count = |i: usize| usize::from(u16::from_be_bytes([h[i], h[i + 1]]));
    let mut d = BinDecoder::new(bytes);
    d.read_slice(HEADER_LEN).ok()?;
    let mut m = Message {
        id: u16::from_be_bytes([h[0], h[1]]),
        is_response: h[2] & 0x80 != 0,
        rcode: u16::from(h[3] & 0x0f),
        truncated: h[2] & 0x02 != 0,
        questions: Vec::new(),
        answers: Vec::new(),
        authority: Vec::new(),
        additional: Vec::new(),
    };
    for _ in 0..count(4) {
        let Ok(q) = Query::read(&mut d) else {
            break;
        };
        m.questions.push(Question {
            name: name_of(&q.name),
            qtype: u16::from(q.query_type),
        });
    }
    if m.questions.len() == count(4) {
        // The sections in order, each read up to its first record that does not
        // parse; a section cut short ends the reading. An OPT pseudo-record in
        // the additional section (EDNS) is left out, as a whole message's is.
        let mut sections = [
            (count(6), &mut m.answers),
            (count(8), &mut m.authority),
            (count(10), &mut m.additional),
        ];
        'sections: for (n, records) in sections.iter_mut() {
            for _ in 0..*n {
                let Ok(r) = Record::read(&mut d) else {
                    break 'sections;
                };
                if r.record_type() != hickory_proto::rr::RecordType::OPT {
                    records.push(rr_of(&r));
                }
            }
        }
    }
    (!m.questions.is_empty()).then_some(m)
}

/// DNS over UDP: the datagram is the message (RFC 1035 §4.2.1).
pub fn parse_udp(payload: &[u8]) -> Result<Message, DnsError> {
    parse_message(payload)
}

/// A datagram on a port DNS does not use, read as DNS only when it is unmistakably
/// so: a standard query or its response (opcode 0, the Z bit clear), exactly one
/// question of class IN or ANY whose name is a well-formed host name (letters,
/// digits, hyphens, underscores; 1 to 63 bytes a label), plausible record counts, and
/// the whole datagram parsed. `None` otherwise: most datagrams are something else.
pub fn parse_udp_strict(payload: &[u8]) -> Option<Message> {
    let h = payload.get(..HEADER_LEN)?;
    let flags = u16::from_be_bytes([h[2], h[3]]);
    let count = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    let opcode = (flags >> 11) & 0xf;
    let z = flags & 0x0040;
    let response = flags & 0x8000 != 0;
    if opcode != 0
        || z != 0
        || count(4) != 1
        || count(6) > 64
        || count(8) > 64
        || count(10) > 8
        || (!response && (count(6) != 0 || count(8) != 0 || flags & 0x000f != 0))
    {
        return None;
    }
    // The question, read by hand: hickory accepts more than a host name.
    let mut at = HEADER_LEN;
    let mut labels = 0;
    loop {
        let len = usize::from(*payload.get(at)?);
        if len == 0 {
            at += 1;
            break;
        }
        let label = payload.get(at + 1..at + 1 + len)?;
        if len > 63
            || !label
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        {
            return None;
        }
        labels += 1;
        at += 1 + len;
    }
    let qclass = u16::from_be_bytes([*payload.get(at + 2)?, *payload.get(at + 3)?]);
    if labels == 0 || !matches!(qclass, 1 | 255) {
        return None;
    }
    parse_message(payload).ok()
}

/// Splits one TCP direction into DNS messages (RFC 1035 §4.2.2, RFC 7766 §8).
#[derive(Clone, Debug, Default)]
pub struct TcpDnsStream {
    offset: usize,
}

impl TcpDnsStream {
    pub fn new() -> Self {
        TcpDnsStream { offset: 0 }
    }

    /// The message in progress when the capture holds no more of it (its segment was
    /// cut by the snap length): its range in the stream (to the end of the bytes held)
    /// and what [`parse_partial`] reads of it, `None` when not even a question could
    /// be read. `None` when no message is in progress (the stream ends between two).
    pub fn cut_short(
        &mut self,
        stream: &[u8],
    ) -> Option<(std::ops::Range<usize>, Option<Message>)> {
        let start = self.offset;
        if stream.len() <= start {
            return None;
        }
        let message = stream.get(start + 2..).and_then(parse_partial);
        self.offset = stream.len();
        Some((start..stream.len(), message))
    }

    /// Next message from the contiguous prefix. A malformed message is reported and
    /// skipped (the length prefix still frames the next one).
    pub fn next(&mut self, stream: &[u8]) -> Step<Message, DnsError> {
        let start = self.offset;
        let Some(&[hi, lo]) = stream.get(start..start.saturating_add(2)) else {
            return Step::NeedMore {
                need: start.checked_add(2),
            };
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let end = start + 2 + len;
        let Some(body) = stream.get(start + 2..end) else {
            return Step::NeedMore { need: Some(end) };
        };
        self.offset = end;
        match parse_message(body) {
            Ok(record) => Step::Record {
                range: start..end,
                record,
            },
            Err(error) => Step::Error {
                offset: start,
                error,
            },
        }
    }
}

/// How a binding was learnt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BindingKind {
    /// An A or AAAA answer.
    Address,
    /// An `ipv4hint`/`ipv6hint` of an HTTPS or SVCB answer (RFC 9460 §7.3).
    SvcbHint,
    /// A PTR answer: the address is read from the `in-addr.arpa`/`ip6.arpa` name.
    Ptr,
}

/// One name-to-address binding established by a DNS answer.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Binding {
    /// The name the client asked for (for PTR: the name answered).
    pub name: WireString,
    /// CNAME targets followed from `name` to the address's owner, in order.
    pub chain: Vec<WireString>,
    pub address: IpAddr,
    pub kind: BindingKind,
    pub ttl: u32,
    /// Frame of the matching query, when it was captured.
    pub query_frame: Option<u64>,
    pub answer_frame: u64,
    /// Where that frame starts in the capture (decompressed stream).
    pub answer_offset: u64,
    pub ts: Timestamp,
    pub client: Endpoint,
    pub server: Endpoint,
}

#[derive(Clone, Copy, Debug)]
struct PendingQuery {
    frame: u64,
    seq: u64,
}

/// Matches queries with answers and accumulates bindings. Feed every DNS message of
/// the capture in frame order through [`DnsBindings::observe`].
#[derive(Debug, Default)]
pub struct DnsBindings {
    pending: BTreeMap<(u16, Endpoint, Endpoint), PendingQuery>,
    seq: u64,
    /// Every binding, packed; past a few MiB, older ones move to a temporary file
    /// (they grow with the DNS answers of the capture, memory does not).
    bindings: packed::Packed,
    /// The frame of the last message observed.
    last_frame: Option<u64>,
    /// Queries forgotten because [`MAX_PENDING_QUERIES`] were waiting.
    pub pending_dropped: u64,
    /// Answers that matched no captured query.
    pub unmatched_answers: u64,
}

impl DnsBindings {
    pub fn new() -> Self {
        DnsBindings::default()
    }

    /// One message seen in `frame` (starting at `offset` in the capture) at `ts`,
    /// sent from `src` to `dst`.
    pub fn observe(
        &mut self,
        (frame, offset): (u64, u64),
        ts: Timestamp,
        src: Endpoint,
        dst: Endpoint,
        msg: &Message,
    ) {
        // Bindings of earlier frames may move to the temporary file; those of this
        // frame stay until the next, so that [`DnsBindings::from`] read after each
        // frame misses none.
        if self.last_frame != Some(frame) {
            self.bindings.move_if_full();
            self.last_frame = Some(frame);
        }
        if msg.is_response {
            self.answer((frame, offset), ts, dst, src, msg);
        } else {
            self.query(frame, src, dst, msg);
        }
    }

    fn query(&mut self, frame: u64, client: Endpoint, server: Endpoint, msg: &Message) {
        if self.pending.len() >= MAX_PENDING_QUERIES {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.seq)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.pending.remove(&k);
                self.pending_dropped += 1;
            }
        }
        self.seq += 1;
        self.pending.insert(
            (msg.id, client, server),
            PendingQuery {
                frame,
                seq: self.seq,
            },
        );
    }

    fn answer(
        &mut self,
        (frame, offset): (u64, u64),
        ts: Timestamp,
        client: Endpoint,
        server: Endpoint,
        msg: &Message,
    ) {
        let query_frame = match self.pending.remove(&(msg.id, client, server)) {
            Some(q) => Some(q.frame),
            None => {
                self.unmatched_answers += 1;
                None
            }
        };
        let mut push = |name: WireString, chain: Vec<WireString>, address: IpAddr, kind, ttl| {
            self.bindings.push(&Binding {
                name,
                chain,
                address,
                kind,
                ttl,
                query_frame,
                answer_frame: frame,
                answer_offset: offset,
                ts,
                client,
                server,
            })
        };
        for rr in &msg.answers {
            let (name, chain) = resolve_owner(msg, &rr.name);
            match &rr.data {
                RData::A { address } => push(
                    name,
                    chain,
                    IpAddr::V4(*address),
                    BindingKind::Address,
                    rr.ttl,
                ),
                RData::Aaaa { address } => push(
                    name,
                    chain,
                    IpAddr::V6(*address),
                    BindingKind::Address,
                    rr.ttl,
                ),
                RData::Svcb {
                    ipv4hint, ipv6hint, ..
                } => {
                    for a in ipv4hint {
                        push(
                            name.clone(),
                            chain.clone(),
                            IpAddr::V4(*a),
                            BindingKind::SvcbHint,
                            rr.ttl,
                        );
                    }
                    for a in ipv6hint {
                        push(
                            name.clone(),
                            chain.clone(),
                            IpAddr::V6(*a),
                            BindingKind::SvcbHint,
                            rr.ttl,
                        );
                    }
                }
                RData::Ptr { target } => {
                    if let Some(address) = reverse_address(&rr.name) {
                        push(
                            target.clone(),
                            Vec::new(),
                            address,
                            BindingKind::Ptr,
                            rr.ttl,
                        );
                    }
                }
                _ => {}
            }
        }
    }

    /// How many bindings there are so far.
    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bindings from the `from`-th on, in the order the answers came, of those
    /// still in memory: all of the last frame's, and of every frame since the
    /// previous call when it is called after each frame.
    pub fn from(&self, from: usize) -> impl Iterator<Item = Binding> + '_ {
        (from.max(self.bindings.first_in_memory())..self.len()).filter_map(|i| self.bindings.get(i))
    }

    /// Queries still waiting for an answer.
    #[cfg(test)]
    fn unanswered(&self) -> usize {
        self.pending.len()
    }

    /// The bindings, sorted (deterministic output), decoded one at a time. An error
    /// reading back those moved to the temporary file is the list's last item.
    pub fn into_sorted(self) -> std::io::Result<impl Iterator<Item = std::io::Result<Binding>>> {
        self.bindings.into_sorted()
    }

    /// The bindings, sorted, all at once.
    #[cfg(test)]
    pub fn into_bindings(self) -> Vec<Binding> {
        self.into_sorted()
            .and_then(|s| s.collect())
            .expect("bindings read back")
    }
}

/// Walks back from an answer's owner through the message's CNAMEs to a question name:
/// answers the name asked for and the chain of CNAME targets leading to `owner`.
/// An owner no question leads to binds under its own name.
fn resolve_owner(msg: &Message, owner: &WireString) -> (WireString, Vec<WireString>) {
    for q in &msg.questions {
        let mut cur = &q.name;
        let mut chain: Vec<WireString> = Vec::new();
        for _ in 0..=MAX_CHAIN {
            if cur == owner {
                return (q.name.clone(), chain);
            }
            let next = msg.answers.iter().find_map(|rr| match &rr.data {
                RData::Cname { target } if &rr.name == cur => Some(target),
                _ => None,
            });
            match next {
                Some(t) if !chain.contains(t) => {
                    chain.push(t.clone());
                    cur = t;
                }
                _ => break,
            }
        }
    }
    (owner.clone(), Vec::new())
}

/// RFC 1035 §3.5 and RFC 3596 §2.5: the address named by a reverse-mapping name.
fn reverse_address(name: &WireString) -> Option<IpAddr> {
    let s = std::str::from_utf8(name.as_bytes()).ok()?;
    if let Some(v4) = s.strip_suffix(".in-addr.arpa") {
        let parts: Vec<&str> = v4.split('.').collect();
        if parts.len() != 4 {
            return None;
        }
        let mut octets = [0u8; 4];
        for (o, p) in octets.iter_mut().zip(parts.iter().rev()) {
            *o = p.parse().ok()?;
        }
        return Some(IpAddr::V4(Ipv4Addr::from(octets)));
    }
    if let Some(v6) = s.strip_suffix(".ip6.arpa") {
        let nibbles: Vec<&str> = v6.split('.').collect();
        if nibbles.len() != 32 {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (i, n) in nibbles.iter().rev().enumerate() {
            let v = u8::from_str_radix(n, 16).ok()?;
            if n.len() != 1 {
                return None;
            }
            let b = bytes.get_mut(i / 2)?;
            *b |= if i % 2 == 0 { v << 4 } else { v };
        }
        return Some(IpAddr::V6(Ipv6Addr::from(bytes)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_and_additional_records_are_kept_apart_and_bind_nothing() {
        // dl.example A 192.0.2.1; authority: example NS ns1.example; additional:
        // ns1.example A 192.0.2.53, then EDNS's OPT.
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 1, 0, 2];
        m.extend(b"\x02dl\x07example\x00\x00\x01\x00\x01");
        m.extend([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        m.extend([0xc0, 0x0f, 0, 2, 0, 1, 0, 0, 0, 60, 0, 6]);
        m.extend(b"\x03ns1\xc0\x0f");
        m.extend([0xc0, 0x38, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 53]);
        m.extend([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
        let whole = parse_message(&m).unwrap();
        let partial = parse_partial(&m).unwrap();
        for msg in [&whole, &partial] {
            assert_eq!(msg.answers.len(), 1);
            assert_eq!(
                msg.authority[0].data,
                RData::Ns {
                    target: "ns1.example".into()
                }
            );
            assert_eq!(msg.additional.len(), 1, "{:?}", msg.additional);
            assert_eq!(
                msg.additional[0].data,
                RData::A {
                    address: Ipv4Addr::new(192, 0, 2, 53)
                }
            );
        }
        // Cut inside the glue record: the sections before it stay whole.
        let cut = parse_partial(&m[..m.len() - 15]).unwrap();
        assert_eq!((cut.answers.len(), cut.authority.len()), (1, 1));
        assert!(cut.additional.is_empty());
        // Only the answer binds.
        let mut t = DnsBindings::new();
        let client = Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
            port: Some(5353),
        };
        let server = Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53)),
            port: Some(53),
        };
        t.observe((2, 0), Timestamp::default(), server, client, &whole);
        let b = t.into_bindings();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].address, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    }

    #[test]
    fn a_tcp_message_cut_short_yields_what_was_read_before_the_cut() {
        // A query for dl.example with an answer record, framed for TCP, then cut.
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        m.extend(b"\x02dl\x07example\x00\x00\x01\x00\x01");
        m.extend([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        let mut framed = (m.len() as u16).to_be_bytes().to_vec();
        framed.extend(&m);
        let cut = &framed[..framed.len() - 3];
        let mut s = TcpDnsStream::new();
        assert!(matches!(s.next(cut), Step::NeedMore { .. }));
        let (range, msg) = s.cut_short(cut).expect("a message is in progress");
        assert_eq!(range, 0..cut.len());
        let msg = msg.expect("the question survives");
        assert_eq!(msg.questions.len(), 1);
        assert!(msg.answers.is_empty(), "the cut answer is not invented");
        // Cut inside the question: a message in progress, nothing to keep of it.
        let mut s = TcpDnsStream::new();
        let (range, msg) = s.cut_short(&framed[..2 + 12 + 4]).unwrap();
        assert!(range == (0..18) && msg.is_none());
        // Cut between two messages: none in progress.
        let mut s = TcpDnsStream::new();
        assert!(matches!(s.next(&framed), Step::Record { .. }));
        assert!(s.cut_short(&framed).is_none());
    }

    #[test]
    fn only_unmistakable_dns_is_read_on_other_ports() {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend(b"\x02dl\x0amtr-pirate\x07example\x00\x00\x01\x00\x01");
        assert!(parse_udp_strict(&q).is_some());
        let mut bad = q.clone();
        bad[13] = b' '; // a space in a label
        assert!(parse_udp_strict(&bad).is_none());
        let mut two = q.clone();
        two[5] = 2; // two questions
        assert!(parse_udp_strict(&two).is_none());
        let mut long = q.clone();
        long.push(0); // a byte after the message
        assert!(parse_udp_strict(&long).is_none() || parse_udp(&long).is_ok());
        assert!(parse_udp_strict(&q[..q.len() - 1]).is_none());
        assert!(parse_udp_strict(&[0xc3, 0, 0, 0, 1, 8, 0, 0, 0, 1, 0, 0, 0, 0]).is_none());
    }
    use crate::dissect::tls::tests::hex;

    // DNS payloads recorded on loopback: `dig @127.0.0.1 -p 5353` against dnsmasq 2.x
    // (see tests/fixtures/dissect/README.md and rec_more.sh). Frames 1/2: A query and
    // answer for www.example.test (CNAME edge -> CNAME cdn -> 192.0.2.10); 3/4: AAAA;
    // 5/6: HTTPS for svc.example.test with alpn, ipv4hint, ipv6hint; 7/8: PTR.
    fn udp(frame: u32) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/dissect/dnsmasq_udp_frame{frame}.hex",
            env!("CARGO_MANIFEST_DIR")
        );
        hex(&std::fs::read_to_string(&path).expect("fixture"))
    }
    const TCP_QUERY: &str = include_str!("../../tests/fixtures/dissect/dig_tcp_query.hex");
    const TCP_RESPONSE: &str =
        include_str!("../../tests/fixtures/dissect/dnsmasq_tcp_response.hex");

    fn ep(s: &str) -> Endpoint {
        let sa: std::net::SocketAddr = s.parse().unwrap();
        Endpoint {
            ip: sa.ip(),
            port: Some(sa.port()),
        }
    }

    #[test]
    fn a_answer_with_cname_chain_is_parsed() {
        let m = parse_udp(&udp(2)).unwrap();
        assert!(m.is_response);
        assert_eq!(m.questions[0].name, WireString::from("www.example.test"));
        assert_eq!(m.questions[0].qtype, 1);
        assert_eq!(
            m.answers.iter().map(|a| a.data.clone()).collect::<Vec<_>>(),
            vec![
                RData::Cname {
                    target: "edge.example.test".into()
                },
                RData::Cname {
                    target: "cdn.example.test".into()
                },
                RData::A {
                    address: Ipv4Addr::new(192, 0, 2, 10)
                },
            ]
        );
    }

    #[test]
    fn https_record_gives_alpn_and_address_hints() {
        let m = parse_udp(&udp(6)).unwrap();
        assert_eq!(
            m.answers[0].data,
            RData::Svcb {
                https: true,
                priority: 1,
                target: WireString::from(""),
                alpn: vec!["h2".into(), "h3".into()],
                ipv4hint: vec![Ipv4Addr::new(192, 0, 2, 1)],
                ipv6hint: vec!["2001:db8::1".parse().unwrap()],
            }
        );
    }

    /// Test message `f` with its sender and receiver: answers come from the server.
    fn exchange(f: u32, client: Endpoint, server: Endpoint) -> (Message, Endpoint, Endpoint) {
        let m = parse_udp(&udp(f)).unwrap();
        let (src, dst) = if m.is_response {
            (server, client)
        } else {
            (client, server)
        };
        (m, src, dst)
    }

    #[test]
    fn bindings_follow_cname_chains_and_keep_both_frames() {
        let client = ep("127.0.0.1:40000");
        let server = ep("127.0.0.1:5353");
        let mut b = DnsBindings::new();
        let ts = Timestamp::new(1_700_000_000, 5);
        for f in 1..=8u32 {
            let (m, src, dst) = exchange(f, client, server);
            b.observe((u64::from(f), 100 * u64::from(f)), ts, src, dst, &m);
        }
        assert_eq!(b.unanswered(), 0);
        let all = b.into_bindings();
        let www_a = all
            .iter()
            .find(|x| {
                x.address == IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))
                    && x.kind == BindingKind::Address
            })
            .unwrap();
        assert_eq!(www_a.name, WireString::from("www.example.test"));
        assert_eq!(
            www_a.chain,
            vec![
                WireString::from("edge.example.test"),
                WireString::from("cdn.example.test")
            ]
        );
        assert_eq!((www_a.query_frame, www_a.answer_frame), (Some(1), 2));
        assert_eq!(www_a.answer_offset, 200, "the answer frame's offset");
        assert!(
            all.iter()
                .any(|x| x.address == "2001:db8::10".parse::<IpAddr>().unwrap()
                    && x.answer_frame == 4)
        );
        assert!(all.iter().any(|x| x.kind == BindingKind::SvcbHint
            && x.name == WireString::from("svc.example.test")
            && x.address == "192.0.2.1".parse::<IpAddr>().unwrap()));
        let ptr = all.iter().find(|x| x.kind == BindingKind::Ptr).unwrap();
        assert_eq!(ptr.name, WireString::from("cdn.example.test"));
        assert_eq!(ptr.address, "192.0.2.10".parse::<IpAddr>().unwrap());
    }

    /// With runs of a few bytes, bindings move to the file at almost every frame:
    /// read after each frame (as the live view does), every binding is seen once,
    /// those of two messages in one frame included, and the sorted list is the one
    /// kept in memory.
    #[test]
    fn bindings_moved_between_frames_are_all_seen_after_each_frame_and_sorted() {
        let client = ep("127.0.0.1:40000");
        let server = ep("127.0.0.1:5353");
        let mut moving = DnsBindings {
            bindings: packed::Packed::with_run_bytes(1),
            ..DnsBindings::new()
        };
        let mut kept = DnsBindings::new();
        let mut seen = Vec::new();
        let mut read = 0;
        for round in 0..3u64 {
            for f in 1..=8u32 {
                let (m, src, dst) = exchange(f, client, server);
                let frame = 10 * round + u64::from(f);
                // The answers of frames 2 and 4 come twice in their frame.
                let times = if matches!(f, 2 | 4) { 2 } else { 1 };
                for _ in 0..times {
                    moving.observe((frame, frame * 100), Timestamp::default(), src, dst, &m);
                    kept.observe((frame, frame * 100), Timestamp::default(), src, dst, &m);
                }
                seen.extend(moving.from(read));
                read = moving.len();
            }
        }
        assert!(moving.bindings.first_in_memory() > 0, "bindings moved");
        let mut all = kept.from(0).collect::<Vec<_>>();
        assert_eq!(seen, all);
        all.sort();
        assert_eq!(moving.into_bindings(), all);
        assert_eq!(kept.into_bindings(), all);
    }

    #[test]
    fn answer_without_query_binds_with_no_query_frame() {
        let mut b = DnsBindings::new();
        let m = parse_udp(&udp(2)).unwrap();
        b.observe(
            (9, 0),
            Timestamp::default(),
            ep("127.0.0.1:53"),
            ep("127.0.0.1:1"),
            &m,
        );
        assert_eq!(b.unmatched_answers, 1);
        assert!(b.from(0).all(|x| x.query_frame.is_none()));
    }

    #[test]
    fn tcp_two_messages_in_one_segment_and_one_message_over_two() {
        let q = hex(TCP_QUERY);
        let r = hex(TCP_RESPONSE);
        // Two length-prefixed messages in one segment.
        let mut both = q.clone();
        both.extend_from_slice(&q);
        let mut s = TcpDnsStream::new();
        assert!(matches!(s.next(&both), Step::Record { ref range, .. } if *range == (0..q.len())));
        assert!(
            matches!(s.next(&both), Step::Record { ref range, .. } if *range == (q.len()..2 * q.len()))
        );
        assert_eq!(
            s.next(&both),
            Step::NeedMore {
                need: Some(2 * q.len() + 2)
            }
        );
        // One message over two segments: the prefix grows.
        let mut s = TcpDnsStream::new();
        assert_eq!(s.next(&r[..1]), Step::NeedMore { need: Some(2) });
        assert_eq!(
            s.next(&r[..40]),
            Step::NeedMore {
                need: Some(r.len())
            }
        );
        match s.next(&r) {
            Step::Record { record, .. } => assert_eq!(record.answers.len(), 3),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn compression_loop_is_an_error_not_a_hang() {
        // Header (1 question), then a name that is a pointer to itself (offset 12).
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert!(matches!(parse_udp(&m), Err(DnsError::Malformed { .. })));
        // Two pointers pointing at each other.
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(&[1, b'a', 0xc0, 20, 0, 1, 0, 1]);
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]);
        assert!(matches!(parse_udp(&m), Err(DnsError::Malformed { .. })));
    }

    #[test]
    fn counts_that_overflow_the_message_are_errors() {
        let m = [0x12, 0x34, 0x81, 0x80, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert!(matches!(parse_udp(&m), Err(DnsError::Malformed { .. })));
        assert_eq!(parse_udp(&[1, 2, 3]), Err(DnsError::TooShort { len: 3 }));
    }

    #[test]
    fn malformed_tcp_message_is_skipped_by_its_length() {
        let q = hex(TCP_QUERY);
        let mut s = vec![0, 3, 1, 2, 3];
        s.extend_from_slice(&q);
        let mut t = TcpDnsStream::new();
        assert!(matches!(t.next(&s), Step::Error { offset: 0, .. }));
        assert!(matches!(t.next(&s), Step::Record { .. }));
    }

    #[test]
    fn reverse_names_give_addresses() {
        assert_eq!(
            reverse_address(&"10.2.0.192.in-addr.arpa".into()),
            Some("192.0.2.10".parse().unwrap())
        );
        let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa";
        assert_eq!(
            reverse_address(&v6.into()),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(reverse_address(&"x.in-addr.arpa".into()), None);
    }

    #[test]
    fn every_truncation_and_corruption_of_a_real_answer_is_safe() {
        let r = udp(6);
        assert!(parse_udp(&r).is_ok());
        // Cut anywhere, the message is refused: too short before the header's end,
        // malformed after it (its counts promise more than is there).
        for n in 0..r.len() {
            match parse_udp(&r[..n]) {
                Err(DnsError::TooShort { len }) => assert!(n < HEADER_LEN && len == n),
                Err(DnsError::Malformed { .. }) => assert!(n >= HEADER_LEN, "{n}"),
                Ok(m) => panic!("cut at {n} of {}: parsed as {m:?}", r.len()),
            }
        }
        for i in 0..r.len() {
            let mut b = r.clone();
            b[i] ^= 0xff;
            let _ = parse_udp(&b);
        }
    }
}
