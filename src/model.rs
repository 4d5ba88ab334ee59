//! Plain shared types that every stage passes around: timestamps, frame references,
//! flow keys, anomalies and provenance. No logic beyond formatting and ordering.

use serde::{Serialize, Serializer};
use std::fmt;
use std::net::IpAddr;

/// A capture timestamp: seconds and nanoseconds since the Unix epoch, UTC.
///
/// Kept as integers so that reports are byte-identical for the same input
/// (no floating point rounding), and formatted as RFC 3339 on output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

impl Timestamp {
    pub const fn new(secs: i64, nanos: u32) -> Self {
        Timestamp { secs, nanos }
    }

    /// Nanoseconds since the epoch, for arithmetic.
    pub fn as_nanos(self) -> i128 {
        i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos)
    }

    /// Signed difference `self - earlier` in nanoseconds.
    pub(crate) fn nanos_since(self, earlier: Timestamp) -> i128 {
        self.as_nanos() - earlier.as_nanos()
    }

    /// [`Timestamp::write_rfc3339`]'s text, as a string.
    pub(crate) fn rfc3339(self) -> String {
        let mut out = Vec::with_capacity(RFC3339_LEN);
        self.write_rfc3339(&mut out);
        // ASCII either way.
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Appends RFC 3339 in UTC with nanosecond precision, e.g.
    /// `2026-11-21T10:00:00.123456789Z`. Out-of-range values (a hostile capture can
    /// claim any time) print the raw seconds, `@SECS.NANOS`.
    pub(crate) fn write_rfc3339(self, out: &mut Vec<u8>) {
        let mut buf = [0u8; RFC3339_LEN];
        if self.rfc3339_bytes(&mut buf) {
            out.extend_from_slice(&buf);
        } else {
            use std::io::Write;
            // Writing into a vector cannot fail.
            let _ = write!(out, "@{}.{:09}", self.secs, self.nanos);
        }
    }

    /// Writes the RFC 3339 form into `buf` without allocating; `None` for a time
    /// outside the years 0000 to 9999 (or nanoseconds beyond a second), which
    /// [`Timestamp::rfc3339`] prints as raw seconds.
    fn rfc3339_into(self, buf: &mut [u8; RFC3339_LEN]) -> Option<&str> {
        if self.rfc3339_bytes(buf) {
            std::str::from_utf8(buf).ok()
        } else {
            None
        }
    }

    /// [`Timestamp::rfc3339_into`]'s bytes (ASCII); `false`, and `buf` unspecified,
    /// for a time it cannot write.
    fn rfc3339_bytes(self, buf: &mut [u8; RFC3339_LEN]) -> bool {
        // Proleptic Gregorian calendar from days since the epoch (H. Hinnant's
        // `civil_from_days`, public domain), valid for the whole range checked here.
        const MIN: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
        const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
        if !(MIN..=MAX).contains(&self.secs) || self.nanos >= 1_000_000_000 {
            return false;
        }
        let days = self.secs.div_euclid(86_400);
        let sod = self.secs.rem_euclid(86_400) as u32;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        // Every value below is in range (years 0 to 9999 by the check above), so
        // the casts keep them whole; digits are written two at a time.
        let two = |buf: &mut [u8; RFC3339_LEN], at: usize, v: u32| {
            buf[at] = b'0' + (v / 10) as u8;
            buf[at + 1] = b'0' + (v % 10) as u8;
        };
        let year = year as u32;
        two(buf, 0, year / 100);
        two(buf, 2, year % 100);
        two(buf, 5, month as u32);
        two(buf, 8, day as u32);
        two(buf, 11, sod / 3600);
        two(buf, 14, sod / 60 % 60);
        two(buf, 17, sod % 60);
        let n = self.nanos;
        two(buf, 20, n / 10_000_000);
        two(buf, 22, n / 100_000 % 100);
        two(buf, 24, n / 1_000 % 100);
        two(buf, 26, n / 10 % 100);
        buf[28] = b'0' + (n % 10) as u8;
        for (i, c) in [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
            (29, b'Z'),
        ] {
            buf[i] = c;
        }
        true
    }
}

/// Length of `YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ`.
const RFC3339_LEN: usize = 30;

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; RFC3339_LEN];
        match self.rfc3339_into(&mut buf) {
            Some(s) => f.write_str(s),
            None => write!(f, "@{}.{:09}", self.secs, self.nanos),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; RFC3339_LEN];
        match self.rfc3339_into(&mut buf) {
            Some(text) => s.serialize_str(text),
            None => s.serialize_str(&self.rfc3339()),
        }
    }
}

/// Where a finding comes from: which capture (index into the report's `captures[]`),
/// which frame (1-based, as Wireshark numbers them), the byte offset of the frame's
/// record in the (decompressed) capture stream, and the frame's timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FrameRef {
    pub capture: u32,
    pub frame: u64,
    pub offset: u64,
    pub ts: Timestamp,
}

/// The transport of a conversation. `Ip` is the network-layer conversation, as
/// tshark's `conv,ip` / `conv,ipv6` tables count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Tcp,
    Udp,
    Ip,
}

impl Transport {
    /// The transport's byte in the temporary files' records (the conversation
    /// store, the service list and the service build's runs).
    pub(crate) fn code(self) -> u8 {
        match self {
            Transport::Tcp => 0,
            Transport::Udp => 1,
            Transport::Ip => 2,
        }
    }

    /// The transport of [`Transport::code`]'s byte; `None` for any other.
    pub(crate) fn from_code(b: u8) -> Option<Transport> {
        match b {
            0 => Some(Transport::Tcp),
            1 => Some(Transport::Udp),
            2 => Some(Transport::Ip),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Ip => "ip",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One side of a conversation. `port` is `None` for network-layer conversations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: Option<u16>,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.ip, self.port) {
            (IpAddr::V6(ip), Some(p)) => write!(f, "[{ip}]:{p}"),
            (ip, Some(p)) => write!(f, "{ip}:{p}"),
            (ip, None) => write!(f, "{ip}"),
        }
    }
}

/// Direction-independent key of a conversation: the two endpoints in a canonical
/// order (lower first), so that both directions of a flow find the same entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct FlowKey {
    pub transport: Transport,
    pub lo: Endpoint,
    pub hi: Endpoint,
}

/// Hashed as three words (every frame hashes its key): each address as 128 bits,
/// then the ports, whether each is present, the address families and the
/// transport, packed. Equal keys write equal words.
impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        fn bits(ip: IpAddr) -> (u128, u64) {
            match ip {
                IpAddr::V4(v4) => (u128::from(v4.to_bits()), 0),
                IpAddr::V6(v6) => (v6.to_bits(), 1),
            }
        }
        fn port(p: Option<u16>) -> u64 {
            p.map_or(0, |p| 1 << 16 | u64::from(p))
        }
        let (lo, lo_v6) = bits(self.lo.ip);
        let (hi, hi_v6) = bits(self.hi.ip);
        state.write_u128(lo);
        state.write_u128(hi);
        state.write_u64(
            port(self.lo.port)
                | port(self.hi.port) << 17
                | lo_v6 << 34
                | hi_v6 << 35
                | (self.transport as u64) << 36,
        );
    }
}

impl FlowKey {
    /// Returns the key and whether `src` is the `lo` side.
    #[inline]
    pub(crate) fn new(transport: Transport, src: Endpoint, dst: Endpoint) -> (FlowKey, bool) {
        if src <= dst {
            (
                FlowKey {
                    transport,
                    lo: src,
                    hi: dst,
                },
                true,
            )
        } else {
            (
                FlowKey {
                    transport,
                    lo: dst,
                    hi: src,
                },
                false,
            )
        }
    }
}

/// How serious an anomaly is for the analysis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something odd in the traffic itself; the analysis is complete.
    Notice,
    /// Part of the capture could not be analysed (truncation, unknown link type, ...).
    Damage,
}

/// A problem found in the input, kept as data and reported with its place.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Anomaly {
    /// Index of the capture in the report's `captures[]`.
    pub capture: u32,
    /// 1-based frame number, when the problem belongs to a frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<u64>,
    /// Byte offset in the (decompressed) capture stream where the problem starts.
    pub offset: u64,
    pub severity: Severity,
    /// Stable machine-readable code, e.g. `pcap.truncated_record`.
    pub code: &'static str,
    /// What was expected and what was found, for a person.
    pub message: String,
}

/// How strong an attribution or a binding is; ordered weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Weak,
    Medium,
    Strong,
}

/// Where an address sits: on the internet, or in space that no provider hosts
/// (the local network, broadcast, multicast, special-purpose ranges).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Internet,
    /// Private, loopback, link-local, unique local and shared (CGNAT) addresses.
    Local,
    Broadcast,
    Multicast,
    /// Documentation, benchmarking, reserved and unspecified addresses (RFC 6890).
    Special,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Internet => "internet",
            Scope::Local => "local",
            Scope::Broadcast => "broadcast",
            Scope::Multicast => "multicast",
            Scope::Special => "special",
        }
    }
}

/// The scope of an address and, outside the internet, why (RFC 6890 and successors).
/// IPv4-mapped IPv6 addresses stand for their IPv4 address.
/// For `#[serde(skip_serializing_if = "crate::model::is_zero")]`: a count left out
/// of the JSON when it is zero.
pub(crate) fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

pub(crate) fn address_scope(ip: IpAddr) -> (Scope, Option<&'static str>) {
    let ip = match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            if a.is_private() {
                (Scope::Local, Some("a private address (RFC 1918)"))
            } else if a.is_loopback() {
                (Scope::Local, Some("a loopback address"))
            } else if a.is_link_local() {
                (Scope::Local, Some("a link-local address (RFC 3927)"))
            } else if a.is_broadcast() {
                (
                    Scope::Broadcast,
                    Some("the limited broadcast address (RFC 919)"),
                )
            } else if a.is_multicast() {
                (Scope::Multicast, Some("a multicast address (RFC 5771)"))
            } else if a.is_unspecified() {
                (Scope::Special, Some("the unspecified address"))
            } else if a.is_documentation() {
                (Scope::Special, Some("a documentation address (RFC 5737)"))
            } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
                (
                    Scope::Local,
                    Some("a shared address (RFC 6598, carrier-grade NAT)"),
                )
            } else if o[0] == 198 && (o[1] & 0xfe) == 18 {
                (Scope::Special, Some("a benchmarking address (RFC 2544)"))
            } else if o[0] >= 240 {
                (Scope::Special, Some("a reserved address (RFC 1112)"))
            } else {
                (Scope::Internet, None)
            }
        }
        IpAddr::V6(a) => {
            let seg = a.segments();
            if a.is_loopback() || a.is_unspecified() {
                (Scope::Local, Some("a loopback or unspecified address"))
            } else if seg[0] & 0xfe00 == 0xfc00 {
                (Scope::Local, Some("a unique local address (RFC 4193)"))
            } else if seg[0] & 0xffc0 == 0xfe80 {
                (Scope::Local, Some("a link-local address (RFC 4291)"))
            } else if a.is_multicast() {
                (Scope::Multicast, Some("a multicast address"))
            } else if seg[0] == 0x2001 && seg[1] == 0x0db8 {
                (Scope::Special, Some("a documentation address (RFC 3849)"))
            } else {
                (Scope::Internet, None)
            }
        }
    }
}

/// Where an attribution came from: a named source with its version and digest,
/// shared (every answer from one source can hold the same record: an attribution
/// is kept for every address of a capture). Serialised as its record.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Provenance(std::sync::Arc<ProvenanceRecord>);

impl From<ProvenanceRecord> for Provenance {
    fn from(record: ProvenanceRecord) -> Self {
        Provenance(std::sync::Arc::new(record))
    }
}

impl std::ops::Deref for Provenance {
    type Target = ProvenanceRecord;
    fn deref(&self) -> &ProvenanceRecord {
        &self.0
    }
}

/// Looked up by its record in a set of shared ones.
impl std::borrow::Borrow<ProvenanceRecord> for Provenance {
    fn borrow(&self) -> &ProvenanceRecord {
        &self.0
    }
}

impl Serialize for Provenance {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// The fields of a [`Provenance`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ProvenanceRecord {
    /// Source name, e.g. `aws-ip-ranges`, `dbip-asn-lite`, `dns-answer`.
    pub source: String,
    /// Version or date of the source (feed creation date, database build date).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// SHA-256 of the source file, when it is a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Date of the data the answer came from (`YYYY-MM-DD`, or `YYYY-MM` when only
    /// the month is known): a database's build date, a feed's publication date, the
    /// time an online answer was received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
}

/// An IP prefix (CIDR block) with its host bits cleared: the one prefix type of
/// whohosts (feeds, the index, `--target`), on `ipnet`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpPrefix(ipnet::IpNet);

impl Default for IpPrefix {
    /// `0.0.0.0/0`.
    fn default() -> Self {
        IpPrefix(ipnet::IpNet::V4(ipnet::Ipv4Net::default()))
    }
}

/// Why a prefix string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error("`{text}` is not an IP address or prefix")]
    BadAddress { text: String },
    #[error("`{text}`: prefix length must be at most {max}")]
    BadLength { text: String, max: u8 },
}

impl IpPrefix {
    /// A prefix from an address and a length; host bits are cleared. `None` if the
    /// length is too long for the family.
    pub fn new(addr: IpAddr, len: u8) -> Option<IpPrefix> {
        ipnet::IpNet::new(addr, len)
            .ok()
            .map(|n| IpPrefix(n.trunc()))
    }

    /// First address of the block.
    pub fn addr(&self) -> IpAddr {
        self.0.network()
    }

    pub fn prefix_len(&self) -> u8 {
        self.0.prefix_len()
    }

    pub fn is_ipv4(&self) -> bool {
        matches!(self.0, ipnet::IpNet::V4(_))
    }

    /// First address of the block.
    pub fn first(&self) -> IpAddr {
        self.0.network()
    }

    /// Last address of the block.
    pub fn last(&self) -> IpAddr {
        self.0.broadcast()
    }

    /// Whether `ip` lies in this block (an IPv4 address never lies in an IPv6 block).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip)
    }
}

impl Ord for IpPrefix {
    /// By family, then address, then length: a block sorts before the blocks it
    /// encloses that start at its address.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.addr(), self.prefix_len()).cmp(&(other.addr(), other.prefix_len()))
    }
}

impl PartialOrd for IpPrefix {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::str::FromStr for IpPrefix {
    type Err = PrefixError;

    /// `a.b.c.d/n`, `x:y::/n`, or a bare address (a host prefix). Surrounding
    /// whitespace is ignored; host bits, if set, are cleared.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let bad = || PrefixError::BadAddress {
            text: text.to_string(),
        };
        let (addr, len) = match text.split_once('/') {
            Some((a, l)) => {
                let addr: IpAddr = a.parse().map_err(|_| bad())?;
                // Digits only: `u8::from_str` would take a leading `+`.
                if l.is_empty() || !l.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                let len: u8 = l.parse().map_err(|_| bad())?;
                (addr, len)
            }
            None => {
                let addr: IpAddr = text.parse().map_err(|_| bad())?;
                (addr, if addr.is_ipv4() { 32 } else { 128 })
            }
        };
        IpPrefix::new(addr, len).ok_or(PrefixError::BadLength {
            text: text.to_string(),
            max: if addr.is_ipv4() { 32 } else { 128 },
        })
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr(), self.prefix_len())
    }
}

impl Serialize for IpPrefix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_formats_as_rfc3339_utc_with_nanoseconds() {
        assert_eq!(
            Timestamp::new(0, 5).rfc3339(),
            "1970-01-01T00:00:00.000000005Z"
        );
        assert_eq!(
            Timestamp::new(1_700_000_000, 123_456_000).rfc3339(),
            "2023-11-14T22:13:20.123456000Z"
        );
    }

    #[test]
    fn timestamp_out_of_range_does_not_panic() {
        assert!(Timestamp::new(i64::MAX, 0).rfc3339().starts_with('@'));
    }

    #[test]
    fn timestamp_calendar_agrees_with_the_time_crate_across_its_range() {
        // Every day boundary around leap years and centuries, and a spread of
        // seconds over the whole 0000-9999 range.
        let mut secs: Vec<i64> = (-3_000..3_000).map(|d| 951_782_400 + d * 86_400).collect();
        secs.extend((-3_000..3_000).map(|d| -2_203_891_200 + d * 86_399));
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            secs.push(-62_167_219_200 + (x % 315_537_897_600) as i64);
        }
        secs.extend([-62_167_219_200, 253_402_300_799, -1, 0, 86_399, 86_400]);
        for (i, s) in secs.into_iter().enumerate() {
            // Nanoseconds with every digit in turn, and their edges.
            let nanos = match i % 4 {
                0 => 7,
                1 => 999_999_999,
                _ => (s.unsigned_abs() % 1_000_000_000) as u32,
            };
            let t = time::OffsetDateTime::from_unix_timestamp(s).unwrap();
            let want = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                nanos
            );
            assert_eq!(Timestamp::new(s, nanos).rfc3339(), want, "{s}");
            let mut written = b"x".to_vec();
            Timestamp::new(s, nanos).write_rfc3339(&mut written);
            assert_eq!(written[1..], *want.as_bytes(), "{s}");
        }
        assert!(Timestamp::new(-62_167_219_201, 0)
            .rfc3339()
            .starts_with('@'));
        assert!(Timestamp::new(253_402_300_800, 0)
            .rfc3339()
            .starts_with('@'));
        assert_eq!(
            serde_json::to_string(&Timestamp::new(0, 5)).unwrap(),
            "\"1970-01-01T00:00:00.000000005Z\""
        );
    }

    #[test]
    fn flow_key_is_the_same_in_both_directions() {
        let a = Endpoint {
            ip: "10.0.0.1".parse().unwrap(),
            port: Some(1000),
        };
        let b = Endpoint {
            ip: "10.0.0.2".parse().unwrap(),
            port: Some(80),
        };
        let (k1, d1) = FlowKey::new(Transport::Tcp, a, b);
        let (k2, d2) = FlowKey::new(Transport::Tcp, b, a);
        assert_eq!(k1, k2);
        assert_ne!(d1, d2);
        let hash = |k: &FlowKey| ahash::RandomState::with_seeds(1, 2, 3, 4).hash_one(k);
        assert_eq!(hash(&k1), hash(&k2));
        // Words that differ only in what the addresses' bits do not say.
        let v6 = |e: Endpoint| Endpoint {
            ip: match e.ip {
                IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_compatible()),
                v6 => v6,
            },
            ..e
        };
        let (k3, _) = FlowKey::new(Transport::Tcp, v6(a), v6(b));
        let (k4, _) = FlowKey::new(Transport::Udp, a, b);
        let (k5, _) = FlowKey::new(Transport::Tcp, Endpoint { port: None, ..a }, b);
        for other in [k3, k4, k5] {
            assert_ne!(k1, other);
            assert_ne!(hash(&k1), hash(&other));
        }
    }

    proptest::proptest! {
        /// A prefix prints as the parser reads it back, host bits cleared, and holds
        /// exactly the addresses between its first and last.
        #[test]
        fn prefixes_round_trip_and_hold_their_range(
            a in proptest::prelude::any::<u128>(),
            len in 0u8..=128,
            v4 in proptest::prelude::any::<bool>(),
            probe in proptest::prelude::any::<u128>(),
        ) {
            let (ip, len, probe) = if v4 {
                (IpAddr::from((a as u32).to_be_bytes()), len % 33, IpAddr::from((probe as u32).to_be_bytes()))
            } else {
                (IpAddr::from(a.to_be_bytes()), len, IpAddr::from(probe.to_be_bytes()))
            };
            let p = IpPrefix::new(ip, len).unwrap();
            let text = format!("{ip}/{len}");
            proptest::prop_assert_eq!(text.parse::<IpPrefix>(), Ok(p));
            proptest::prop_assert_eq!(p.to_string().parse::<IpPrefix>(), Ok(p));
            proptest::prop_assert!(p.contains(ip));
            proptest::prop_assert_eq!(p.contains(probe), p.first() <= probe && probe <= p.last() && probe.is_ipv4() == v4);
        }
    }
}
