//! The services a user sees: server endpoints grouped under the names that prove
//! what they are, ranked by traffic and duration.
//!
//! Inputs are finished conversation tables and name evidence (SNI, HTTP Host, QUIC
//! SNI, DNS answers, certificate names), each with the frames that carry it. A name
//! seen inside the flow itself (SNI, Host) binds strongly to that endpoint; a DNS
//! answer or a certificate name binds with medium strength; an ECH outer SNI is only
//! the public name of the ECH front, weak. Every service lists its evidence frames
//! and a Wireshark display filter that shows its traffic.

mod list;
mod runs;

pub use list::{ServiceList, MEMORY_LIMIT};

use crate::flow::Conversation;
use crate::model::{address_scope, Confidence, Endpoint, Scope, Timestamp, Transport};
use ahash::AHashMap;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

/// Where a hostname was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NameSource {
    TlsSni,
    QuicSni,
    HttpHost,
    /// The name asked for in a DNS query whose answer gave the address.
    DnsAnswer,
    /// A name in the CNAME chain of such an answer (often a provider's own name).
    DnsCname,
    Certificate,
    EchOuterSni,
    /// The name a client asked a SOCKS proxy to connect to; bound to the proxy.
    Socks,
    /// The name of an HTTP `CONNECT` (or a forward proxy's absolute URI); bound to
    /// the proxy.
    HttpProxy,
    /// A NetBIOS name (`NAME<xx>`) a name service answer or registration gave the
    /// address.
    Netbios,
}

impl NameSource {
    /// Every source, in declaration order.
    pub const ALL: [NameSource; 10] = [
        NameSource::TlsSni,
        NameSource::QuicSni,
        NameSource::HttpHost,
        NameSource::DnsAnswer,
        NameSource::DnsCname,
        NameSource::Certificate,
        NameSource::EchOuterSni,
        NameSource::Socks,
        NameSource::HttpProxy,
        NameSource::Netbios,
    ];

    /// The source's number in [`NameSource::ALL`] (how the service list encodes it;
    /// a source missing from `ALL` fails to decode, loudly, instead of becoming
    /// another).
    pub(crate) fn code(self) -> u8 {
        match self {
            NameSource::TlsSni => 0,
            NameSource::QuicSni => 1,
            NameSource::HttpHost => 2,
            NameSource::DnsAnswer => 3,
            NameSource::DnsCname => 4,
            NameSource::Certificate => 5,
            NameSource::EchOuterSni => 6,
            NameSource::Socks => 7,
            NameSource::HttpProxy => 8,
            NameSource::Netbios => 9,
        }
    }

    /// Preference when choosing a service's label among equally strong names: what
    /// the client asked for before what a CNAME or a certificate says.
    fn label_rank(self) -> u8 {
        match self {
            NameSource::TlsSni
            | NameSource::QuicSni
            | NameSource::HttpHost
            | NameSource::Socks
            | NameSource::HttpProxy => 5,
            NameSource::DnsAnswer | NameSource::Netbios => 4,
            NameSource::Certificate => 3,
            NameSource::DnsCname => 2,
            NameSource::EchOuterSni => 1,
        }
    }

    /// The name the report gives this source (`tls_sni`, `dns_answer`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            NameSource::TlsSni => "tls_sni",
            NameSource::QuicSni => "quic_sni",
            NameSource::HttpHost => "http_host",
            NameSource::DnsAnswer => "dns_answer",
            NameSource::DnsCname => "dns_cname",
            NameSource::Certificate => "certificate",
            NameSource::EchOuterSni => "ech_outer_sni",
            NameSource::Socks => "socks",
            NameSource::HttpProxy => "http_proxy",
            NameSource::Netbios => "netbios",
        }
    }

    pub fn strength(self) -> Confidence {
        match self {
            NameSource::TlsSni
            | NameSource::QuicSni
            | NameSource::HttpHost
            | NameSource::Socks
            | NameSource::HttpProxy => Confidence::Strong,
            NameSource::DnsAnswer
            | NameSource::DnsCname
            | NameSource::Certificate
            | NameSource::Netbios => Confidence::Medium,
            NameSource::EchOuterSni => Confidence::Weak,
        }
    }
}

/// A frame in one of the analysed captures: the capture's index and the frame's
/// number, ordered by capture, then frame.
///
/// Services and names keep hundreds of thousands of these, so the two are packed in
/// eight bytes: the capture's index in the top 16 bits (an analysis takes at most
/// [`FrameId::MAX_CAPTURES`] captures), the frame's number in the other 48 (a
/// capture would need more than 4 PB of records to pass 2^48 frames).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FrameId(u64);

const FRAME_BITS: u32 = 48;
const FRAME_MASK: u64 = (1 << FRAME_BITS) - 1;

impl FrameId {
    /// The most captures one analysis takes (their indexes fit the top 16 bits).
    pub const MAX_CAPTURES: usize = 1 << (64 - FRAME_BITS);

    pub fn new(capture: u32, frame: u64) -> FrameId {
        debug_assert!((capture as usize) < Self::MAX_CAPTURES && frame <= FRAME_MASK);
        FrameId((u64::from(capture) << FRAME_BITS) | (frame & FRAME_MASK))
    }

    /// The capture's index among those analysed.
    pub fn capture(self) -> u32 {
        (self.0 >> FRAME_BITS) as u32
    }

    /// The frame's number in its capture (from 1, as Wireshark counts).
    pub fn frame(self) -> u64 {
        self.0 & FRAME_MASK
    }
}

impl std::fmt::Debug for FrameId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameId")
            .field("capture", &self.capture())
            .field("frame", &self.frame())
            .finish()
    }
}

/// The frame's number, preceded by `CAPTURE:` when it is not in the first capture:
/// how the views (terminal, HTML, CSV) list frames.
impl std::fmt::Display for FrameId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.capture() {
            0 => write!(f, "{}", self.frame()),
            c => write!(f, "{c}:{}", self.frame()),
        }
    }
}

/// As `{"capture": N, "frame": N}`, the report's form.
impl Serialize for FrameId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("FrameId", 2)?;
        st.serialize_field("capture", &self.capture())?;
        st.serialize_field("frame", &self.frame())?;
        st.end()
    }
}

/// Frames in increasing order without repeats, each kept as the LEB128 varint of its
/// distance from the one before (the first from zero). A service lists the first
/// frame of each of its conversations, which lie close together: most take one to
/// three bytes instead of eight. Serialised as the list of frames.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FrameList {
    bytes: Vec<u8>,
    len: usize,
    last: Option<FrameId>,
}

impl FrameList {
    pub fn new() -> FrameList {
        FrameList::default()
    }

    /// Adds `f` if it comes after every frame in the list; `false` (and nothing
    /// added) otherwise.
    pub fn push(&mut self, f: FrameId) -> bool {
        let base = match self.last {
            Some(l) if f <= l => return false,
            Some(l) => l.0,
            None => 0,
        };
        let mut d = f.0 - base;
        while d >= 0x80 {
            self.bytes.push((d as u8 & 0x7F) | 0x80);
            d >>= 7;
        }
        self.bytes.push(d as u8);
        self.len += 1;
        self.last = Some(f);
        true
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> FrameListIter<'_> {
        FrameListIter {
            bytes: &self.bytes,
            at: 0,
            prev: 0,
        }
    }

    /// The frames of both lists, in order, each once.
    pub fn union(&self, other: &FrameList) -> FrameList {
        let mut out = FrameList::new();
        let (mut a, mut b) = (self.iter().peekable(), other.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x <= y => a.next(),
                (Some(_), Some(_)) | (None, Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, None) => break,
            };
            if let Some(f) = next {
                out.push(f);
            }
        }
        out.bytes.shrink_to_fit();
        out
    }

    pub fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
    }

    /// Adds `f` where it belongs among the frames: `false` (and nothing added) when
    /// it is there already. A frame before the last costs a rewrite of the list.
    pub fn insert(&mut self, f: FrameId) -> bool {
        if self.push(f) {
            return true;
        }
        let mut all: Vec<FrameId> = self.iter().collect();
        match all.binary_search(&f) {
            Ok(_) => false,
            Err(i) => {
                all.insert(i, f);
                *self = all.into_iter().collect();
                true
            }
        }
    }

    /// Keeps the first `n` frames.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len {
            *self = self.iter().take(n).collect();
        }
    }
}

/// Frames in any order, repeats allowed: sorted first when they do not come in order.
impl FromIterator<FrameId> for FrameList {
    fn from_iter<I: IntoIterator<Item = FrameId>>(iter: I) -> FrameList {
        let mut list = FrameList::new();
        let mut stray = Vec::new();
        for f in iter {
            if !list.push(f) && list.last != Some(f) {
                stray.push(f);
            }
        }
        if stray.is_empty() {
            list.shrink_to_fit();
            return list;
        }
        stray.sort_unstable();
        stray.dedup();
        list.union(&stray.into_iter().collect())
    }
}

pub struct FrameListIter<'a> {
    bytes: &'a [u8],
    at: usize,
    prev: u64,
}

impl Iterator for FrameListIter<'_> {
    type Item = FrameId;

    fn next(&mut self) -> Option<FrameId> {
        let mut d: u64 = 0;
        let mut shift = 0;
        loop {
            let b = *self.bytes.get(self.at)?;
            self.at += 1;
            d |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift >= 64 {
                return None;
            }
        }
        self.prev += d;
        Some(FrameId(self.prev))
    }
}

impl<'a> IntoIterator for &'a FrameList {
    type Item = FrameId;
    type IntoIter = FrameListIter<'a>;
    fn into_iter(self) -> FrameListIter<'a> {
        self.iter()
    }
}

impl std::fmt::Debug for FrameList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for FrameList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// A hostname bound to a server address, with the frames that show it.
#[derive(Clone, Debug)]
pub struct NameEvidence {
    /// Lower-case name as seen (escaped only on output).
    pub name: String,
    pub source: NameSource,
    pub ip: IpAddr,
    /// The server port and transport when the name was seen in a flow; `None` for a
    /// DNS answer, which binds the name to the address on any port.
    pub port: Option<(Transport, u16)>,
    /// The frames that show the binding (the first 64 seen), in order.
    pub frames: FrameList,
    /// The frame that completed the evidence, with its offset and time.
    pub at: crate::model::FrameRef,
}

/// One name of a service and why it is believed.
#[derive(Clone, Debug, Serialize)]
pub struct Hostname {
    pub name: String,
    /// The strongest binding among its sources.
    pub strength: Confidence,
    pub sources: Vec<NameSource>,
    /// The service's addresses the evidence binds the name to (a service that
    /// groups several addresses under one label may hold a name for only some).
    pub addresses: Vec<IpAddr>,
    pub frames: FrameList,
}

impl Hostname {
    /// A name with its sources (in order), the addresses it is bound to and its
    /// frames; its strength is its strongest source's.
    pub fn new(
        name: String,
        sources: Vec<NameSource>,
        addresses: Vec<IpAddr>,
        frames: FrameList,
    ) -> Hostname {
        Hostname {
            strength: sources
                .iter()
                .map(|s| s.strength())
                .max()
                .unwrap_or(Confidence::Weak),
            name,
            sources,
            addresses,
            frames,
        }
    }
}

/// One server endpoint of a service, with its traffic.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceEndpoint {
    pub ip: IpAddr,
    pub port: u16,
    pub transport: Transport,
    pub conversations: u64,
    pub frames_to_server: u64,
    pub bytes_to_server: u64,
    pub frames_to_client: u64,
    pub bytes_to_client: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
}

/// A service: the JSON writes its fields in this order, with `wireshark_filter`
/// (written from the endpoints when shown, never stored) after `frames`.
#[derive(Clone, Debug)]
pub struct Service {
    /// The name a person would call it by: its strongest, most-evidenced hostname,
    /// or `ip:port` when no name was seen.
    pub label: String,
    pub hostnames: Vec<Hostname>,
    /// Sorted by address, then port, then transport (a server's ports are
    /// neighbours).
    pub endpoints: Vec<ServiceEndpoint>,
    /// Both directions.
    pub bytes: u64,
    pub bytes_to_server: u64,
    pub bytes_to_client: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub duration: f64,
    /// Frames that prove the names and the first frame of each conversation.
    pub frames: FrameList,
    /// `internet`, or where its server sits when no provider can host it (`local`,
    /// `broadcast`, `multicast`, `special`): such services are ranked after the
    /// internet ones and shown under their own heading.
    pub scope: Scope,
    /// Why the server address is not on the internet.
    pub scope_reason: Option<&'static str>,
    /// What a local service usually is, by its port (`DNS resolver`, `DHCP`, `SSDP`,
    /// `mDNS`, ...).
    pub role: Option<&'static str>,
    /// The names were asked of a proxy (SOCKS, HTTP `CONNECT` or a forward request),
    /// or an endpoint is a proxy that carried connections to a server named by
    /// address, or a SOCKS5 UDP relay ([`Carriers`]): the server that hosts the
    /// names is behind it.
    pub via_proxy: bool,
}

impl Service {
    /// A service from what it is made of: its label, its names (in the order
    /// shown), its endpoints (sorted) and its evidence frames; the rest follows from
    /// them. `None` without endpoints.
    pub(crate) fn assemble(
        label: String,
        hostnames: Vec<Hostname>,
        endpoints: Vec<ServiceEndpoint>,
        frames: FrameList,
    ) -> Option<Service> {
        let eps = &endpoints;
        let first_seen = eps.iter().map(|e| e.first_seen).min()?;
        let last_seen = eps.iter().map(|e| e.last_seen).max()?;
        let to_server: u64 = eps.iter().map(|e| e.bytes_to_server).sum();
        let to_client: u64 = eps.iter().map(|e| e.bytes_to_client).sum();
        // A service is on the internet when any of its servers is; otherwise it
        // takes the scope of its first server.
        let scoped: Vec<(Scope, Option<&'static str>)> =
            eps.iter().map(|e| address_scope(e.ip)).collect();
        let (scope, scope_reason) = scoped
            .iter()
            .copied()
            .find(|(s, _)| *s == Scope::Internet)
            .or_else(|| scoped.first().copied())?;
        let role = (scope != Scope::Internet)
            .then(|| eps.iter().find_map(|e| local_role(e.transport, e.port)))
            .flatten()
            .or_else(|| resolver_role(eps, &hostnames));
        let via_proxy = hostnames.iter().any(|h| {
            h.sources
                .iter()
                .any(|s| matches!(s, NameSource::Socks | NameSource::HttpProxy))
        });
        Some(Service {
            scope,
            scope_reason,
            role,
            via_proxy,
            label,
            hostnames,
            endpoints,
            bytes: to_server + to_client,
            bytes_to_server: to_server,
            bytes_to_client: to_client,
            first_seen,
            last_seen,
            duration: last_seen.nanos_since(first_seen) as f64 / 1e9,
            frames,
        })
    }

    /// A Wireshark display filter matching exactly the service's endpoints.
    pub fn wireshark_filter(&self) -> WiresharkFilter<'_> {
        WiresharkFilter(&self.endpoints)
    }
}

/// A service's endpoints grouped by address, in order: one slice per server
/// address, with its ports (a service's endpoints are sorted by address).
pub fn by_address(endpoints: &[ServiceEndpoint]) -> impl Iterator<Item = &[ServiceEndpoint]> {
    endpoints.chunk_by(|a, b| a.ip == b.ip)
}

impl Serialize for Service {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut m = s.serialize_struct("Service", 15)?;
        m.serialize_field("label", &self.label)?;
        m.serialize_field("hostnames", &self.hostnames)?;
        m.serialize_field("endpoints", &self.endpoints)?;
        m.serialize_field("bytes", &self.bytes)?;
        m.serialize_field("bytes_to_server", &self.bytes_to_server)?;
        m.serialize_field("bytes_to_client", &self.bytes_to_client)?;
        m.serialize_field("first_seen", &self.first_seen)?;
        m.serialize_field("last_seen", &self.last_seen)?;
        m.serialize_field("duration", &self.duration)?;
        m.serialize_field("frames", &self.frames)?;
        m.serialize_field("wireshark_filter", &self.wireshark_filter())?;
        m.serialize_field("scope", &self.scope)?;
        match &self.scope_reason {
            Some(r) => m.serialize_field("scope_reason", r)?,
            None => m.skip_field("scope_reason")?,
        }
        match &self.role {
            Some(r) => m.serialize_field("role", r)?,
            None => m.skip_field("role")?,
        }
        if self.via_proxy {
            m.serialize_field("via_proxy", &true)?;
        } else {
            m.skip_field("via_proxy")?;
        }
        m.end()
    }
}

/// Public DNS-over-HTTPS resolvers by the names their operators document for DoH
/// (dns.google: Google Public DNS; cloudflare-dns.com, one.one.one.one: Cloudflare
/// 1.1.1.1; dns.quad9.net: Quad9; doh.opendns.com: Cisco OpenDNS; dns.adguard-dns.com:
/// AdGuard DNS; dns.nextdns.io: NextDNS; doh.cleanbrowsing.org: CleanBrowsing;
/// dns.alidns.com: Alibaba Cloud Public DNS; doh.pub: Tencent DNSPod). Exact names.
const DOH_NAMES: &[&str] = &[
    "dns.google",
    "dns.google.com",
    "cloudflare-dns.com",
    "mozilla.cloudflare-dns.com",
    "one.one.one.one",
    "1dot1dot1dot1.cloudflare-dns.com",
    "security.cloudflare-dns.com",
    "family.cloudflare-dns.com",
    "dns.quad9.net",
    "dns9.quad9.net",
    "dns10.quad9.net",
    "dns11.quad9.net",
    "doh.opendns.com",
    "doh.familyshield.opendns.com",
    "dns.adguard-dns.com",
    "dns.adguard.com",
    "dns.nextdns.io",
    "doh.cleanbrowsing.org",
    "dns.alidns.com",
    "doh.pub",
    "sm2.doh.pub",
];

/// A resolver reached over an encrypted transport: DNS over TLS on TCP 853 (RFC 7858),
/// or DNS over HTTPS (RFC 8484) to a public resolver's DoH name.
fn resolver_role(eps: &[ServiceEndpoint], names: &[Hostname]) -> Option<&'static str> {
    if eps
        .iter()
        .any(|e| e.transport == Transport::Tcp && e.port == 853)
    {
        return Some("DNS over TLS");
    }
    let https = eps.iter().any(|e| e.port == 443);
    let doh = names
        .iter()
        .any(|h| DOH_NAMES.contains(&h.name.as_str()) && h.strength == Confidence::Strong);
    (https && doh).then_some("DNS over HTTPS")
}

/// What a service outside the internet usually is, from its port.
fn local_role(transport: Transport, port: u16) -> Option<&'static str> {
    Some(match (transport, port) {
        (_, 53) => "DNS resolver",
        (Transport::Udp, 67 | 68) => "DHCP",
        (Transport::Udp, 547 | 546) => "DHCPv6",
        (_, 5353) => "mDNS",
        (_, 5355) => "LLMNR",
        (Transport::Udp, 1900) => "SSDP",
        (Transport::Udp, 137 | 138) | (Transport::Tcp, 139) => "NetBIOS",
        (Transport::Udp, 123) => "NTP",
        (_, 853) => "DNS over TLS",
        (Transport::Udp, 3702) => "WS-Discovery",
        _ => return None,
    })
}

impl ServiceEndpoint {
    /// `ip:port/transport`, as the views show it.
    pub(crate) fn socket(&self) -> String {
        let ep = Endpoint {
            ip: self.ip,
            port: Some(self.port),
        };
        format!("{ep}/{}", self.transport)
    }
}

/// Which side of a conversation is the server: the side that received the first
/// SYN, else the side with a well-known (below 1024) port, else the lower port.
pub(crate) fn server_side(c: &Conversation) -> (Endpoint, Endpoint) {
    if let Some(a_opened) = c.opened_by_a() {
        return if a_opened { (c.b, c.a) } else { (c.a, c.b) };
    }
    let (pa, pb) = (c.a.port.unwrap_or(0), c.b.port.unwrap_or(0));
    let a_server = match (pa < 1024, pb < 1024) {
        (true, false) => true,
        (false, true) => false,
        _ => pa < pb,
    };
    if a_server {
        (c.a, c.b)
    } else {
        (c.b, c.a)
    }
}

/// The server endpoint a TCP or UDP conversation counts for, and its server side.
fn endpoint_key(c: &Conversation) -> Option<(runs::EndpointKey, Endpoint)> {
    if c.transport == Transport::Ip {
        return None;
    }
    let (server, _) = server_side(c);
    Some(((server.ip, server.port?, c.transport), server))
}

/// Names bound to one endpoint or service: their sources and evidence frames.
/// The frames are in order, without repeats.
type BoundNames<'a> = BTreeMap<&'a str, (BTreeSet<NameSource>, Vec<FrameId>)>;

/// Merges name evidence by name: the union of sources and of frames (gathered,
/// then sorted once: cheaper than a set's insertion frame by frame).
fn merge_names<'a>(evidence: impl Iterator<Item = &'a NameEvidence>) -> BoundNames<'a> {
    let mut names: BoundNames<'a> = BTreeMap::new();
    for n in evidence {
        let e = names.entry(n.name.as_str()).or_default();
        e.0.insert(n.source);
        e.1.extend(n.frames.iter());
    }
    for (_, frames) in names.values_mut() {
        frames.sort_unstable();
        frames.dedup();
    }
    names
}

/// Working memory of [`best_label`], kept from one endpoint to the next.
#[derive(Default)]
struct LabelScratch<'a> {
    evidence: Vec<&'a NameEvidence>,
    frames: Vec<FrameId>,
}

/// The label among the names of `evidence`: the strongest source, then the best
/// source for a label, then the most distinct frames, then the first name in
/// order. The same choice as ranking [`merge_names`]'s entries, without building
/// its sets: a name seen once counts its own frames (a list without repeats).
fn best_label<'a>(
    evidence: impl Iterator<Item = &'a NameEvidence>,
    scratch: &mut LabelScratch<'a>,
) -> Option<&'a str> {
    let LabelScratch {
        evidence: by_name,
        frames,
    } = scratch;
    by_name.clear();
    by_name.extend(evidence);
    by_name.sort_unstable_by(|x, y| x.name.cmp(&y.name));
    let mut best: Option<(Option<Confidence>, Option<u8>, usize, &'a str)> = None;
    for same in by_name.chunk_by(|x, y| x.name == y.name) {
        let strength = same.iter().map(|n| n.source.strength()).max();
        let rank = same.iter().map(|n| n.source.label_rank()).max();
        let count = match same {
            [one] => one.frames.len(),
            _ => {
                frames.clear();
                frames.extend(same.iter().flat_map(|n| n.frames.iter()));
                frames.sort_unstable();
                frames.dedup();
                frames.len()
            }
        };
        let name = same[0].name.as_str();
        // Names come in order: a later one wins only when ranked strictly higher.
        if best.is_none_or(|(s, r, c, _)| (strength, rank, count) > (s, r, c)) {
            best = Some((strength, rank, count, name));
        }
    }
    best.map(|(_, _, _, name)| name)
}

/// A label's hash, to bring the endpoints of one label together (within one
/// build; equal hashes of different labels are told apart by the labels).
fn label_hash(label: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    label.hash(&mut h);
    h.finish()
}

/// Groups conversations (of all captures, each with its capture index) and name
/// evidence into services: internet services first, then those no provider can host
/// (local, broadcast, multicast, special-purpose); each group ranked by bytes, then
/// duration, then label.
///
/// `conversations` gives a fresh walk over the conversations each time it is called:
/// they are walked twice (once for the endpoints' figures, once for each service's
/// first frames). Only the services matching any of `targets` are kept (all of them
/// when there is none). Memory is bounded by `memory_limit` ([`MEMORY_LIMIT`] in the
/// report), not by the services, endpoints or conversations: the list keeps that
/// many bytes of encoded services and of their rank keys in memory, and each of the
/// build's sorted records (partial endpoint tallies, endpoints by label, endpoints
/// by service and by key, first frames by endpoint and by service) twice as many
/// before a run goes to a temporary file; at most two of them fill at once. Beyond
/// that, memory holds an index of the name evidence (a reference per binding).
pub fn build<'a, I>(
    conversations: impl Fn() -> I,
    names: impl IntoIterator<Item = &'a NameEvidence>,
    targets: &[Target],
    carriers: &Carriers,
    memory_limit: usize,
) -> ServiceList
where
    I: IntoIterator<Item = (u32, Timestamp, Conversation)>,
{
    build_hashed(
        conversations,
        names,
        targets,
        carriers,
        memory_limit,
        label_hash,
    )
}

/// Server endpoints (address, port, transport) that are proxies which carried a
/// client's connections to a server it named by address, or SOCKS5 UDP relays that
/// carried its datagrams: a service on one of them is [`Service::via_proxy`].
pub type Carriers = std::collections::HashSet<(IpAddr, u16, Transport)>;

/// [`build`] with the hash that brings the endpoints of one label together given
/// (tests give hashes on which labels collide: the services are the same).
#[doc(hidden)]
pub fn build_hashed<'a, I>(
    conversations: impl Fn() -> I,
    names: impl IntoIterator<Item = &'a NameEvidence>,
    targets: &[Target],
    carriers: &Carriers,
    memory_limit: usize,
    label_hash: fn(&str) -> u64,
) -> ServiceList
where
    I: IntoIterator<Item = (u32, Timestamp, Conversation)>,
{
    use runs::{
        EndpointKey, FramePair, KeyFrame, KeyNumber, Keyed, Labelled, PartialTally, Record,
        ServicePart, Sorter, Tallied, Tally,
    };
    let records = |size: usize| (memory_limit * 2 / size).max(1);

    // 1. Server endpoints and their traffic, summed in a map of bounded size: a
    //    full map is written as a run of partial tallies, and the runs are added up
    //    as they are merged, endpoint by endpoint in key order.
    let map_limit = records(80);
    // Hashed, put in key order when written out or read.
    let mut map: AHashMap<EndpointKey, Tally> = AHashMap::default();
    let in_order = |map: AHashMap<EndpointKey, Tally>| {
        let mut v: Vec<(EndpointKey, Tally)> = map.into_iter().collect();
        v.sort_unstable_by_key(|x| x.0);
        v
    };
    let mut partial: Sorter<PartialTally> = Sorter::new(usize::MAX);
    let mut spilling = true;
    for (_, first_seen, c) in conversations() {
        let Some((key, server)) = endpoint_key(&c) else {
            continue;
        };
        let to_server = if server == c.b { c.a_to_b } else { c.b_to_a };
        let to_client = if server == c.b { c.b_to_a } else { c.a_to_b };
        let t = Tally {
            conversations: 1,
            frames_to_server: to_server.frames,
            bytes_to_server: to_server.bytes,
            frames_to_client: to_client.frames,
            bytes_to_client: to_client.bytes,
            first_seen,
            last_seen: c.last_seen,
        };
        match map.entry(key) {
            std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().add(&t),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(t);
            }
        }
        if spilling && map.len() >= map_limit {
            let mut keys: Vec<&EndpointKey> = map.keys().collect();
            keys.sort_unstable();
            if partial.write_run(keys.into_iter().map(|k| PartialTally(*k, map[k]))) {
                map.clear();
            } else {
                spilling = false;
            }
        }
    }
    let failure: std::cell::RefCell<Option<String>> = Default::default();
    let note = |f: Option<&str>| {
        if let Some(f) = f {
            failure.borrow_mut().get_or_insert(f.to_string());
        }
    };
    let mut tallies: Box<dyn Iterator<Item = (EndpointKey, Tally)>> = if partial.spilled() {
        partial.keep(
            in_order(std::mem::take(&mut map))
                .into_iter()
                .map(|(k, t)| PartialTally(k, t)),
        );
        let mut merged = partial.finish();
        Box::new(std::iter::from_fn(move || {
            let Some(PartialTally(k, mut t)) = merged.next() else {
                note(merged.failure());
                return None;
            };
            while merged.peek().is_some_and(|n| n.0 == k) {
                if let Some(n) = merged.next() {
                    t.add(&n.1);
                }
            }
            Some((k, t))
        }))
    } else {
        Box::new(in_order(std::mem::take(&mut map)).into_iter())
    };

    // 2. Names bound to each endpoint, as references to their evidence: frames are
    //    only merged for one endpoint or one service at a time. A name seen on a
    //    port binds that endpoint; one from DNS binds every port of its address,
    //    and is kept once for the address, not once per port.
    let names: Vec<&NameEvidence> = names.into_iter().collect();
    let mut on_port: AHashMap<EndpointKey, Vec<&NameEvidence>> = AHashMap::default();
    let mut on_address: AHashMap<IpAddr, Vec<&NameEvidence>> = AHashMap::default();
    for &n in &names {
        match n.port {
            Some((t, p)) => on_port.entry((n.ip, p, t)).or_default().push(n),
            None => on_address.entry(n.ip).or_default().push(n),
        }
    }
    let bound = |k: EndpointKey| {
        let port = on_port.get(&k).into_iter().flatten();
        port.chain(on_address.get(&k.0).into_iter().flatten())
            .copied()
    };

    // 3. Each endpoint's label: its strongest, then most evidenced, then first name.
    //    The endpoints go to a run sorted by their label's hash, so that those of
    //    one label, which are one service, come side by side.
    let mut scratch = LabelScratch::default();
    let mut label_of = |k: EndpointKey| -> String {
        best_label(bound(k), &mut scratch)
            .map(str::to_string)
            .unwrap_or_else(|| {
                Endpoint {
                    ip: k.0,
                    port: Some(k.1),
                }
                .to_string()
            })
    };
    let mut labelled: Sorter<Labelled> = Sorter::new(records(Labelled::SIZE));
    for (k, tally) in tallies.by_ref() {
        labelled.push(Tallied(label_hash(&label_of(k)), k, tally));
    }
    drop(tallies);

    // 4. Services numbered as their labels come in hash order (labels whose hashes
    //    agree are told apart by the labels, worked out again). Each endpoint goes
    //    to a run of its service's endpoints, and its key and number to a run by
    //    key.
    let mut parts: Sorter<ServicePart> = Sorter::new(records(ServicePart::SIZE));
    let mut numbered: Sorter<KeyNumber> = Sorter::new(records(KeyNumber::SIZE));
    let mut services = 0u32;
    let mut labelled = labelled.finish();
    // The labels of the current hash and their numbers (one, but for a collision).
    let mut same_hash: Vec<(String, u32)> = Vec::new();
    let mut hash = None;
    while let Some(Tallied(h, k, tally)) = labelled.next() {
        if hash != Some(h) {
            hash = Some(h);
            same_hash.clear();
        }
        let alone = same_hash.is_empty() && labelled.peek().is_none_or(|n| n.0 != h);
        let number = if alone {
            services += 1;
            services - 1
        } else {
            let label = label_of(k);
            match same_hash.iter().find(|(l, _)| *l == label) {
                Some(&(_, n)) => n,
                None => {
                    services += 1;
                    same_hash.push((label, services - 1));
                    services - 1
                }
            }
        };
        parts.push(ServicePart::new(number, k, tally));
        numbered.push(Keyed(k, number));
    }
    note(labelled.failure());
    drop(labelled);
    let mut parts = parts.finish();
    let mut numbered = numbered.finish();

    // 5. The first frame of each conversation, by server endpoint in a second walk,
    //    then joined with the endpoints' numbers into (service, frame) pairs, read
    //    back by service as the services are assembled.
    let mut by_key: Sorter<KeyFrame> = Sorter::new(records(KeyFrame::SIZE));
    for (capture, _, c) in conversations() {
        if let Some((key, _)) = endpoint_key(&c) {
            by_key.push(Keyed(key, FrameId::new(capture, c.first.frame)));
        }
    }
    let mut by_key = by_key.finish();
    let mut conv_frames: Sorter<FramePair> = Sorter::new(records(FramePair::SIZE));
    for Keyed(key, frame) in by_key.by_ref() {
        while numbered.peek().is_some_and(|n| n.0 < key) {
            numbered.next();
        }
        if let Some(n) = numbered.peek().filter(|n| n.0 == key) {
            conv_frames.push(FramePair::new(n.1, frame));
        }
    }
    note(by_key.failure());
    note(numbered.failure());
    drop((by_key, numbered));
    let mut conv_frames = conv_frames.finish();

    // 6. One service per number, from the highest down (the order of the runs),
    //    encoded into the list as it is made (the services never stand in memory
    //    side by side). The list sorts them.
    let mut out = list::Builder::new(memory_limit);
    for number in (0..services).rev() {
        let eps: Vec<ServiceEndpoint> = of_service(&mut parts, number, ServicePart::service)
            .map(|p| p.endpoint())
            .collect();
        let Some(first) = eps.first() else { continue };
        let label = label_of((first.ip, first.port, first.transport));
        let conv_list: FrameList = of_service(&mut conv_frames, number, |p| p.service())
            .map(FramePair::frame)
            .collect();
        let mut others = Vec::new();
        let keys = || eps.iter().map(|e| (e.ip, e.port, e.transport));
        let names = merge_names(keys().flat_map(bound));
        // The addresses each name is bound to: those of the endpoints whose
        // evidence holds it (a label may group addresses a name never saw).
        let mut bound_to: BTreeMap<&str, BTreeSet<IpAddr>> = BTreeMap::new();
        for k in keys() {
            for n in bound(k) {
                bound_to.entry(n.name.as_str()).or_default().insert(k.0);
            }
        }
        for (_, fr) in names.values() {
            others.extend(fr.iter().copied());
        }
        let frames = conv_list.union(&others.into_iter().collect());
        let mut hostnames: Vec<Hostname> = names
            .into_iter()
            .map(|(name, (sources, fr))| {
                let addresses = bound_to
                    .remove(name)
                    .map(|ips| ips.into_iter().collect())
                    .unwrap_or_default();
                Hostname::new(
                    name.to_string(),
                    sources.into_iter().collect(),
                    addresses,
                    fr.into_iter().collect(),
                )
            })
            .collect();
        hostnames.sort_by(|x, y| y.strength.cmp(&x.strength).then(x.name.cmp(&y.name)));
        let Some(mut service) = Service::assemble(label, hostnames, eps, frames) else {
            continue;
        };
        service.via_proxy |= service
            .endpoints
            .iter()
            .any(|e| carriers.contains(&(e.ip, e.port, e.transport)));
        if targets.is_empty() || targets.iter().any(|t| t.matches(&service)) {
            out.push(&service);
        }
    }
    let list = out.finish();
    note(parts.failure());
    note(conv_frames.failure());
    if let Some(f) = failure.into_inner() {
        list.fail(f);
    }
    list
}

/// The records of service `number` from a merge ordered from the highest service
/// down, passing over those of higher services not taken.
fn of_service<'m, T: runs::Record>(
    merged: &'m mut runs::Merged<T>,
    number: u32,
    service: impl Fn(&T) -> u32 + 'm,
) -> impl Iterator<Item = T> + 'm {
    std::iter::from_fn(move || loop {
        let s = service(merged.peek()?);
        if s < number {
            return None;
        }
        let r = merged.next()?;
        if s == number {
            return Some(r);
        }
    })
}

/// A display filter matching exactly some endpoints: `(ip.addr == A && tcp.port ==
/// P) || ...`, written when shown (for many services, a string each would be a
/// large part of the report's memory).
pub struct WiresharkFilter<'a>(&'a [ServiceEndpoint]);

impl fmt::Display for WiresharkFilter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" || ")?;
            }
            match e.ip {
                IpAddr::V4(v4) => write!(f, "(ip.addr == {v4}")?,
                IpAddr::V6(v6) => write!(f, "(ipv6.addr == {v6}")?,
            }
            match e.transport {
                Transport::Tcp => write!(f, " && tcp.port == {})", e.port)?,
                Transport::Udp => write!(f, " && udp.port == {})", e.port)?,
                Transport::Ip => f.write_str(")")?,
            }
        }
        Ok(())
    }
}

impl Serialize for WiresharkFilter<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A `--target`: a hostname, `*.domain`, an address or a CIDR block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Name(String),
    Suffix(String),
    Net(crate::model::IpPrefix),
}

/// Why a `--target` was not understood; each names the target as given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("target {0:?}: a domain is needed after *.")]
    NoDomain(String),
    #[error("target {target:?}: {address:?} is not an IP address")]
    NotAnAddress { target: String, address: String },
    #[error("target {target:?}: prefix length must be 0..={max}")]
    PrefixLength { target: String, max: u8 },
    #[error("target {0:?}: expected NAME, *.DOMAIN, IP or CIDR")]
    Unrecognised(String),
}

impl std::str::FromStr for Target {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self, TargetError> {
        let s = s.trim();
        if let Some(rest) = s.strip_prefix("*.") {
            if rest.is_empty() {
                return Err(TargetError::NoDomain(s.to_string()));
            }
            return Ok(Target::Suffix(
                rest.trim_end_matches('.').to_ascii_lowercase(),
            ));
        }
        if let Some((ip, len)) = s.split_once('/') {
            let ip: IpAddr = ip.parse().map_err(|_| TargetError::NotAnAddress {
                target: s.to_string(),
                address: ip.to_string(),
            })?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let net = len
                .parse::<u8>()
                .ok()
                .and_then(|l| crate::model::IpPrefix::new(ip, l))
                .ok_or_else(|| TargetError::PrefixLength {
                    target: s.to_string(),
                    max,
                })?;
            return Ok(Target::Net(net));
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            let len = if ip.is_ipv4() { 32 } else { 128 };
            // A full-length prefix of a parsed address always exists.
            return crate::model::IpPrefix::new(ip, len)
                .map(Target::Net)
                .ok_or_else(|| TargetError::Unrecognised(s.to_string()));
        }
        if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(TargetError::Unrecognised(s.to_string()));
        }
        Ok(Target::Name(s.trim_end_matches('.').to_ascii_lowercase()))
    }
}

impl Target {
    pub fn matches(&self, s: &Service) -> bool {
        match self {
            Target::Name(n) => s.hostnames.iter().any(|h| &h.name == n),
            Target::Suffix(d) => s
                .hostnames
                .iter()
                .any(|h| h.name == *d || h.name.ends_with(&format!(".{d}"))),
            Target::Net(net) => s.endpoints.iter().any(|e| net.contains(e.ip)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Packed, a frame keeps its capture and number, and orders as the pair does.
        #[test]
        fn frame_ids_keep_their_parts_and_order(
            a in (0u32..(FrameId::MAX_CAPTURES as u32), 0u64..=FRAME_MASK),
            b in (0u32..(FrameId::MAX_CAPTURES as u32), 0u64..=FRAME_MASK),
        ) {
            let (x, y) = (FrameId::new(a.0, a.1), FrameId::new(b.0, b.1));
            proptest::prop_assert_eq!((x.capture(), x.frame()), a);
            proptest::prop_assert_eq!(x.cmp(&y), a.cmp(&b));
        }

        /// A frame list built from frames in any order (edge values of both parts
        /// and repeats included) holds them sorted, each once, and reads as that
        /// list in the report; pushing refuses what does not come after the last;
        /// the union of two lists is the sorted union.
        #[test]
        fn frame_lists_hold_their_frames_sorted_once(
            xs in proptest::collection::vec(frame(), 0..200),
            ys in proptest::collection::vec(frame(), 0..50),
        ) {
            let mut want: Vec<FrameId> = xs.clone();
            want.sort_unstable();
            want.dedup();
            let list: FrameList = xs.iter().copied().collect();
            proptest::prop_assert_eq!(list.iter().collect::<Vec<_>>(), want.clone());
            proptest::prop_assert_eq!(list.len(), want.len());
            proptest::prop_assert_eq!(
                serde_json::to_string(&list).unwrap(),
                serde_json::to_string(&want).unwrap()
            );
            let mut pushed = FrameList::new();
            for &f in &xs {
                let after = pushed.iter().last().is_none_or(|l| f > l);
                proptest::prop_assert_eq!(pushed.push(f), after);
            }
            let other: FrameList = ys.iter().copied().collect();
            let mut both: Vec<FrameId> = xs.iter().chain(&ys).copied().collect();
            both.sort_unstable();
            both.dedup();
            proptest::prop_assert_eq!(list.union(&other).iter().collect::<Vec<_>>(), both);
            // Inserting in any order gives the same list, and says which were new.
            let mut inserted = FrameList::new();
            let mut seen = BTreeSet::new();
            for &f in &xs {
                proptest::prop_assert_eq!(inserted.insert(f), seen.insert(f));
            }
            proptest::prop_assert_eq!(inserted.iter().collect::<Vec<_>>(), want.clone());
            proptest::prop_assert_eq!(inserted.len(), want.len());
            let n = ys.len();
            inserted.truncate(n);
            proptest::prop_assert_eq!(
                inserted.iter().collect::<Vec<_>>(),
                want.iter().copied().take(n).collect::<Vec<_>>()
            );
            proptest::prop_assert_eq!(inserted.len(), want.len().min(n));
        }
    }

    proptest::proptest! {
        /// The label is the name that ranks highest over the merged evidence
        /// (strength, then label rank, then distinct frames, then the first name),
        /// whatever the order of the evidence and however it repeats names.
        #[test]
        fn the_label_is_the_best_ranked_merged_name(
            evidence in proptest::collection::vec(
                (0usize..4, 0..NameSource::ALL.len(), proptest::collection::vec(frame(), 0..6)),
                0..12,
            ),
        ) {
            const NAMES: [&str; 4] = ["a.example", "b.example", "c.example", "d.example"];
            let evidence: Vec<NameEvidence> = evidence
                .into_iter()
                .map(|(name, source, frames)| NameEvidence {
                    name: NAMES[name].to_string(),
                    source: NameSource::ALL[source],
                    ip: IpAddr::from([192, 0, 2, 1]),
                    port: None,
                    frames: frames.into_iter().collect(),
                    at: crate::model::FrameRef {
                        capture: 0,
                        frame: 1,
                        offset: 0,
                        ts: Default::default(),
                    },
                })
                .collect();
            let want = merge_names(evidence.iter())
                .into_iter()
                .max_by(|x, y| {
                    let sx = x.1 .0.iter().map(|s| s.strength()).max();
                    let sy = y.1 .0.iter().map(|s| s.strength()).max();
                    let rx = x.1 .0.iter().map(|s| s.label_rank()).max();
                    let ry = y.1 .0.iter().map(|s| s.label_rank()).max();
                    sx.cmp(&sy)
                        .then(rx.cmp(&ry))
                        .then(x.1 .1.len().cmp(&y.1 .1.len()))
                        .then(y.0.cmp(x.0))
                })
                .map(|(name, _)| name);
            let mut scratch = LabelScratch::default();
            proptest::prop_assert_eq!(best_label(evidence.iter(), &mut scratch), want);
            // The scratch space left by one endpoint changes nothing for the next.
            proptest::prop_assert_eq!(best_label(evidence.iter().rev(), &mut scratch), want);
        }
    }

    fn frame() -> impl proptest::strategy::Strategy<Value = FrameId> {
        use proptest::prelude::*;
        (
            prop_oneof![Just(0u32), Just(1), Just(FrameId::MAX_CAPTURES as u32 - 1)],
            prop_oneof![
                0u64..300,
                Just(FRAME_MASK),
                Just(FRAME_MASK - 1),
                Just(1 << 40)
            ],
        )
            .prop_map(|(c, f)| FrameId::new(c, f))
    }

    #[test]
    fn frame_ids_show_as_the_report_and_the_views_name_them() {
        let last = FrameId::new(FrameId::MAX_CAPTURES as u32 - 1, FRAME_MASK);
        assert_eq!(
            serde_json::to_string(&last).unwrap(),
            format!(r#"{{"capture":65535,"frame":{FRAME_MASK}}}"#)
        );
        assert_eq!(FrameId::new(0, 42).to_string(), "42");
        assert_eq!(FrameId::new(3, 42).to_string(), "3:42");
    }

    #[test]
    fn encrypted_dns_resolvers_are_named_by_port_or_doh_name() {
        let ep = |port, transport| ServiceEndpoint {
            ip: "8.8.8.8".parse().unwrap(),
            port,
            transport,
            conversations: 1,
            frames_to_server: 1,
            bytes_to_server: 1,
            frames_to_client: 1,
            bytes_to_client: 1,
            first_seen: Timestamp::new(0, 0),
            last_seen: Timestamp::new(0, 0),
        };
        let name = |n: &str, strength| Hostname {
            name: n.into(),
            strength,
            sources: vec![NameSource::TlsSni],
            addresses: Vec::new(),
            frames: FrameList::new(),
        };
        let dot = resolver_role(&[ep(853, Transport::Tcp)], &[]);
        assert_eq!(dot, Some("DNS over TLS"));
        let doh = [name("dns.google", Confidence::Strong)];
        assert_eq!(
            resolver_role(&[ep(443, Transport::Tcp)], &doh),
            Some("DNS over HTTPS")
        );
        // A certificate naming a resolver is not a client asking it.
        let cert = [name("dns.google", Confidence::Medium)];
        assert_eq!(resolver_role(&[ep(443, Transport::Tcp)], &cert), None);
        let other = [name("dl.mtr-pirate.example", Confidence::Strong)];
        assert_eq!(resolver_role(&[ep(443, Transport::Tcp)], &other), None);
    }

    #[test]
    fn targets_parse_names_suffixes_addresses_and_blocks() {
        assert_eq!(
            "API.Example.".parse(),
            Ok(Target::Name("api.example".into()))
        );
        assert_eq!("*.example".parse(), Ok(Target::Suffix("example".into())));
        assert_eq!(
            "10.0.0.0/8".parse(),
            Ok(Target::Net("10.0.0.0/8".parse().unwrap()))
        );
        assert_eq!(
            "10.0.0.0/33".parse::<Target>(),
            Err(TargetError::PrefixLength {
                target: "10.0.0.0/33".into(),
                max: 32
            })
        );
        assert_eq!(
            "*.".parse::<Target>(),
            Err(TargetError::NoDomain("*.".into()))
        );
        assert!(matches!(
            "300.1.2.3/8".parse::<Target>(),
            Err(TargetError::NotAnAddress { address, .. }) if address == "300.1.2.3"
        ));
        assert_eq!(
            "a b".parse::<Target>().unwrap_err().to_string(),
            "target \"a b\": expected NAME, *.DOMAIN, IP or CIDR"
        );
    }

    #[test]
    fn cidr_matching_masks_both_families() {
        let net = |t: &str| match t.parse::<Target>() {
            Ok(Target::Net(n)) => n,
            other => panic!("{t}: {other:?}"),
        };
        assert!(net("47.236.0.0/16").contains("47.236.91.18".parse().unwrap()));
        assert!(!net("47.236.0.0/16").contains("47.237.0.1".parse().unwrap()));
        assert!(net("2a05:d014::/32").contains("2a05:d014::1".parse().unwrap()));
        assert!(net("0.0.0.0/0").contains("1.2.3.4".parse().unwrap()));
        assert!(!net("0.0.0.0/0").contains("::1".parse().unwrap()));
        // Host bits are cleared, as a CIDR block means.
        assert!(net("47.236.91.18/16").contains("47.236.0.1".parse().unwrap()));
    }

    #[test]
    fn source_names_agree_with_the_report() {
        for s in NameSource::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        // Each source's code is its place in `ALL` (the services' encoding).
        for (i, s) in NameSource::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(s.code()), i, "{s:?}");
        }
    }
}
