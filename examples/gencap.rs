//! Deterministic generator of large synthetic captures for the benchmarks in `benches/`.
//!
//! Writes a classic pcap file (Ethernet, microsecond time-stamps) of exactly the requested
//! size, streaming with constant memory. The same `--seed`, `--size` and knobs give the same
//! bytes on every machine: the only randomness is an inline splitmix64 generator, all
//! arithmetic is integer, and nothing depends on the clock or on hash-map order.
//!
//! The traffic is a mix of what a client network sends to the Internet:
//! - TCP flows with SYN / SYN-ACK / ACK, bulk data in MSS-sized segments with delayed
//!   ACKs (one per two segments), FIN teardown and RFC 7323 time-stamps;
//! - HTTPS-like flows opening with a TLS 1.3 ClientHello carrying SNI, ALPN,
//!   supported_versions, key_share (x25519, or the hybrid X25519MLKEM768 whose 1.2 KB share
//!   makes the hello span two TCP segments), then a ServerHello and application-data records;
//! - plain HTTP/1.1 requests with `Host` headers;
//! - DNS queries and answers (A/AAAA, CNAME chains, NXDOMAIN, EDNS) over UDP, with answers
//!   that match the servers the TCP flows go to;
//! - NTP and other UDP traffic; about 10 % IPv6 flows and 5 % 802.1Q-tagged flows.
//!
//! Flows interleave: a bounded set of active flows (`--active`, 2000 by default) is kept
//! and each packet comes from one of them picked at random, so a reader sees many
//! conversations open at once. The file ends with filler UDP packets so that its size is
//! exact. IPv4, TCP and UDP checksums are correct.
//!
//! ```text
//! cargo run --release --example gencap -- --size 1GiB --out /tmp/x.pcap [--seed 1]
//! ```

use clap::Parser;
use std::collections::{BTreeSet, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

/// 2026-01-01T00:00:00Z, the first packet's time.
const EPOCH_SECS: u64 = 1_767_225_600;
/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01 (RFC 5905 §6).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
/// Largest pcap record this generator writes: 16-byte record header + 14-byte Ethernet
/// + 4-byte 802.1Q tag + 1500-byte IP packet.
const MAX_RECORD: u64 = 16 + 14 + 4 + 1500;
/// Smallest filler record: record header + Ethernet + IPv4 + UDP, no payload.
const MIN_FILLER: u64 = 16 + 14 + 20 + 8;
const PCAP_HEADER_LEN: u64 = 24;
const FILLER_TEXT: &[u8] = b"whohosts benchmark filler, discard me. ";
/// TCP payload per full segment: MSS 1460 minus 12 bytes of time-stamp option.
const SEG: u64 = 1448;
/// TLS 1.3 record: at most 2^14 bytes of plaintext + content type + 16-byte AEAD tag
/// (RFC 8446 §5.2). Application data is cut into records of this ciphertext length.
const TLS_RECORD_PAYLOAD: u64 = 16_384 + 1 + 16;
const TLS_RECORD: u64 = 5 + TLS_RECORD_PAYLOAD;
/// Smallest TLS 1.3 application-data record: one byte of content type and the tag.
const TLS_MIN_RECORD: u64 = 5 + 17;

#[derive(Parser)]
#[command(about = "Write a deterministic synthetic pcap for benchmarks")]
struct Args {
    /// File size: bytes, or with a binary suffix K/M/G/T (KiB/MiB/GiB/TiB) or a decimal
    /// one KB/MB/GB/TB.
    #[arg(long, value_parser = parse_size)]
    size: u64,
    /// Output file (written to a temporary file next to it, then renamed).
    #[arg(long)]
    out: PathBuf,
    /// Seed of the pseudo-random generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Approximate number of TCP flows in the file (default: one per 16 KiB).
    #[arg(long)]
    flows: Option<u64>,
    /// Number of flows open at the same time.
    #[arg(long, default_value_t = 2000)]
    active: usize,
    /// Share of flows over IPv6, in percent.
    #[arg(long, default_value_t = 10)]
    ipv6_share: u64,
    /// Share of flows carried in 802.1Q VLAN-tagged frames, in percent.
    #[arg(long, default_value_t = 5)]
    vlan_share: u64,
    /// Number of distinct host names (SNI, HTTP Host, DNS).
    #[arg(long, default_value_t = 4000)]
    names: usize,
    /// Average line rate in Mbit/s, which sets the gaps between time-stamps.
    #[arg(long, default_value_t = 200)]
    rate_mbps: u64,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let n: u64 = num.parse().map_err(|e| format!("size {s:?}: {e}"))?;
    let mult: u64 = match suffix.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KIB" => 1 << 10,
        "M" | "MIB" => 1 << 20,
        "G" | "GIB" => 1 << 30,
        "T" | "TIB" => 1 << 40,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        other => return Err(format!("size {s:?}: unknown suffix {other:?}")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} overflows 64 bits"))
}

// ---------------------------------------------------------------------------------------
// Pseudo-random numbers

/// splitmix64 (Steele, Lea, Flood 2014): tiny, fast, and identical everywhere.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the tiny bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn u16(&mut self) -> u16 {
        self.next_u64() as u16
    }

    fn u32(&mut self) -> u32 {
        self.next_u64() as u32
    }

    fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        let n = rest.len();
        rest.copy_from_slice(&last[..n]);
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        self.fill(&mut b);
        b
    }
}

// ---------------------------------------------------------------------------------------
// The simulated network: clients, servers, names

#[derive(Clone, Copy)]
enum Ip {
    V4([u8; 4]),
    V6([u8; 16]),
}

/// Server ranges of several hosting providers (from their published ranges).
const V4_RANGES: &[([u8; 4], u32, u64)] = &[
    ([47, 96, 0, 0], 11, 10),    // Alibaba Cloud
    ([52, 28, 0, 0], 16, 15),    // AWS eu-central-1
    ([104, 16, 0, 0], 13, 20),   // Cloudflare
    ([142, 250, 0, 0], 15, 15),  // Google
    ([151, 101, 0, 0], 16, 8),   // Fastly
    ([13, 104, 0, 0], 14, 8),    // Microsoft
    ([5, 9, 0, 0], 16, 6),       // Hetzner
    ([51, 38, 0, 0], 16, 6),     // OVH
    ([185, 199, 108, 0], 22, 2), // GitHub
    ([157, 240, 0, 0], 16, 5),   // Meta
];

const V6_RANGES: &[([u8; 4], u64)] = &[
    ([0x2a, 0x05, 0xd0, 0x14], 15), // AWS eu-central-1, 2a05:d014::/32
    ([0x26, 0x06, 0x47, 0x00], 20), // Cloudflare, 2606:4700::/32
    ([0x2a, 0x00, 0x14, 0x50], 15), // Google, 2a00:1450::/32
    ([0x2a, 0x01, 0x04, 0xf8], 6),  // Hetzner, 2a01:4f8::/32
    ([0x2a, 0x04, 0x4e, 0x42], 8),  // Fastly, 2a04:4e42::/32
    ([0x2a, 0x03, 0x28, 0x80], 5),  // Meta, 2a03:2880::/32
];

/// ULA prefix of the client network (RFC 4193), fd12:3456:789a:1::/64.
const ULA_PREFIX: [u8; 8] = [0xfd, 0x12, 0x34, 0x56, 0x78, 0x9a, 0x00, 0x01];
const RESOLVER_V4: [u8; 4] = [10, 0, 0, 53];
const GATEWAY_MAC: [u8; 6] = [0x3c, 0xfd, 0xfe, 0x1a, 0x2b, 0x3c];

fn weighted<T: Copy>(rng: &mut Rng, items: &[(T, u64)]) -> T {
    let total: u64 = items.iter().map(|i| i.1).sum();
    let mut x = rng.below(total);
    for &(item, w) in items {
        if x < w {
            return item;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

fn random_v4(rng: &mut Rng) -> [u8; 4] {
    let ranges: Vec<(usize, u64)> = V4_RANGES
        .iter()
        .enumerate()
        .map(|(i, r)| (i, r.2))
        .collect();
    let (base, len, _) = V4_RANGES[weighted(rng, &ranges)];
    let host_bits = 32 - len;
    loop {
        let host = (rng.u32() as u64 & ((1u64 << host_bits) - 1)) as u32;
        let a = (u32::from_be_bytes(base) | host).to_be_bytes();
        if a[3] != 0 && a[3] != 255 {
            return a;
        }
    }
}

fn random_v6(rng: &mut Rng) -> [u8; 16] {
    let prefix = weighted(rng, V6_RANGES);
    let mut a = [0u8; 16];
    rng.fill(&mut a);
    a[..4].copy_from_slice(&prefix);
    a
}

struct Server {
    v4: [u8; 4],
    v6: Option<[u8; 16]>,
    /// Initial TTL minus hops, fixed per server (Linux 64, Windows 128, others 255).
    ttl: u8,
}

struct Client {
    ip: Ip,
    mac: [u8; 6],
    /// 0: curl/OpenSSL-like hello; 1: browser with GREASE and X25519MLKEM768;
    /// 2: browser without GREASE, with X25519MLKEM768.
    profile: u8,
}

struct World {
    servers: Vec<Server>,
    /// Host names and the server each one resolves to.
    names: Vec<(String, usize)>,
    /// Indices into `names` whose server has an IPv6 address.
    v6_names: Vec<usize>,
    clients_v4: Vec<Client>,
    clients_v6: Vec<Client>,
}

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ra", "ten", "vo", "zu", "bri", "sta", "nex", "qua", "lin", "dor", "fe",
    "gra", "hub", "jo", "mar", "pel", "sin", "tor", "ul", "vex", "wy", "xa", "yel", "cor", "den",
    "fin", "gol", "hav", "ix", "mon", "nor", "pix", "rio", "sol", "tek", "uni", "vin",
];
const TLDS: &[&str] = &[
    "com", "com", "com", "net", "org", "io", "de", "fr", "co.uk", "cn", "ru", "app", "tv", "me",
    "nl", "es", "it",
];
const SUBDOMAINS: &[&str] = &[
    "www", "www", "cdn", "api", "static", "img", "media", "dl", "files", "stream", "video", "m",
    "login", "assets", "edge",
];

impl World {
    fn new(rng: &mut Rng, n_names: usize) -> World {
        let servers: Vec<Server> = (0..n_names.max(4) * 3 / 4)
            .map(|_| Server {
                v4: random_v4(rng),
                v6: rng.percent(45).then(|| random_v6(rng)),
                ttl: weighted(rng, &[(64u8, 6), (128, 3), (255, 1)]) - rng.range(6, 20) as u8,
            })
            .collect();
        let mut seen = BTreeSet::new();
        let mut names = Vec::with_capacity(n_names);
        let mut domains: Vec<String> = Vec::new();
        while names.len() < n_names {
            // New registrable domain a quarter of the time, else a name under a known one.
            if domains.is_empty() || rng.percent(25) {
                let mut d = String::new();
                for _ in 0..rng.range(2, 4) {
                    d.push_str(rng.pick::<&str>(SYLLABLES));
                }
                if rng.percent(15) {
                    d.push('-');
                    d.push_str(rng.pick::<&str>(SYLLABLES));
                }
                d.push('.');
                d.push_str(rng.pick::<&str>(TLDS));
                domains.push(d);
            }
            let domain = domains[rng.below(domains.len() as u64) as usize].clone();
            let name = match rng.below(10) {
                0 => domain,
                1..=6 => format!("{}.{domain}", *rng.pick(SUBDOMAINS)),
                _ => format!("{}{}.{domain}", *rng.pick(SUBDOMAINS), rng.range(1, 40)),
            };
            if seen.insert(name.clone()) {
                let server = rng.below(servers.len() as u64) as usize;
                names.push((name, server));
            }
        }
        let v6_names = (0..names.len())
            .filter(|&i| servers[names[i].1].v6.is_some())
            .collect();
        let client = |rng: &mut Rng, ip: Ip| {
            let mut mac = [0x02, 0x00, 0, 0, 0, 0];
            mac[2..].copy_from_slice(&rng.bytes::<4>());
            Client {
                ip,
                mac,
                profile: weighted(rng, &[(0u8, 25), (1, 55), (2, 20)]),
            }
        };
        let clients_v4 = (0..600)
            .map(|_| {
                let mut a = [10u8, 0, 0, 0];
                a[1..].copy_from_slice(&rng.bytes::<3>());
                a[3] = a[3].clamp(1, 254);
                client(rng, Ip::V4(a))
            })
            .collect();
        let clients_v6 = (0..40)
            .map(|_| {
                let mut a = [0u8; 16];
                rng.fill(&mut a);
                a[..8].copy_from_slice(&ULA_PREFIX);
                client(rng, Ip::V6(a))
            })
            .collect();
        World {
            servers,
            names,
            v6_names,
            clients_v4,
            clients_v6,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Flows

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    C2S,
    S2C,
}

impl Dir {
    fn flip(self) -> Dir {
        match self {
            Dir::C2S => Dir::S2C,
            Dir::S2C => Dir::C2S,
        }
    }
}

/// Addresses and per-direction header state of one conversation.
struct Net {
    client: Ip,
    server: Ip,
    cport: u16,
    sport: u16,
    client_mac: [u8; 6],
    vlan: Option<u16>,
    server_ttl: u8,
    ip_id: [u16; 2],
    flow_label: u32,
}

impl Net {
    fn ips(&self, dir: Dir) -> (Ip, Ip) {
        match dir {
            Dir::C2S => (self.client, self.server),
            Dir::S2C => (self.server, self.client),
        }
    }

    fn ports(&self, dir: Dir) -> (u16, u16) {
        match dir {
            Dir::C2S => (self.cport, self.sport),
            Dir::S2C => (self.sport, self.cport),
        }
    }
}

#[derive(Clone, Copy)]
enum Body {
    Random,
    /// TLS 1.3 application-data records of `TLS_RECORD` bytes, the last one shorter.
    TlsRecords,
}

enum Step {
    Syn,
    SynAck,
    Ack(Dir),
    /// One application message: `prefix` bytes then `body_len` generated bytes, sent in
    /// segments of at most `SEG` bytes.
    Data {
        dir: Dir,
        prefix: Vec<u8>,
        body: Body,
        body_len: u64,
        off: u64,
        segs: u32,
    },
    Fin(Dir),
    Udp(Dir, Vec<u8>),
    /// A WireGuard transport-data message with this many bytes of ciphertext.
    WgData(Dir, u16),
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Tls,
    Http,
    OtherTcp,
    Dns,
    Ntp,
    OtherUdp,
}

const KINDS: &[(Kind, u64)] = &[
    (Kind::Tls, 52),
    (Kind::Http, 8),
    (Kind::OtherTcp, 4),
    (Kind::Dns, 30),
    (Kind::Ntp, 2),
    (Kind::OtherUdp, 4),
];

struct Tcp {
    /// Next sequence number per direction (index 0 client, 1 server).
    seq: [u32; 2],
    /// RFC 7323 time-stamp clock offset per direction.
    ts_off: [u32; 2],
    /// Last TSval sent per direction, echoed by the peer.
    ts_last: [u32; 2],
    /// Scaled receive window per direction (window scale 7).
    win: [u16; 2],
    pending_ack: Option<Dir>,
}

struct Flow {
    net: Net,
    tcp: Option<Tcp>,
    steps: VecDeque<Step>,
    /// WireGuard receiver index of each side and send counter per direction.
    wg_index: [u32; 2],
    wg_counter: [u64; 2],
}

fn idx(dir: Dir) -> usize {
    match dir {
        Dir::C2S => 0,
        Dir::S2C => 1,
    }
}

/// A flow's payload budget in bytes, heavy-tailed around `mean` with integer arithmetic
/// only (floating-point `pow` may differ between C libraries and break determinism).
fn payload_size(rng: &mut Rng, mean: u64) -> u64 {
    // (weight in per-mille, low, high) in thousandths of the mean.
    const BUCKETS: &[(u64, u64, u64)] = &[
        (395, 20, 100),
        (300, 100, 500),
        (180, 500, 1_500),
        (90, 1_500, 5_000),
        (30, 5_000, 15_000),
        (5, 15_000, 40_000),
    ];
    let mut x = rng.below(1000);
    for &(w, lo, hi) in BUCKETS {
        if x < w {
            return mean * rng.range(lo, hi) / 1000;
        }
        x -= w;
    }
    mean
}

/// Stretches an application-data length so that its last record holds at least a
/// content-type byte and the AEAD tag.
fn tls_stream_len(len: u64) -> u64 {
    let len = len.max(TLS_MIN_RECORD);
    let tail = len % TLS_RECORD;
    if tail != 0 && tail < TLS_MIN_RECORD {
        len + (TLS_MIN_RECORD - tail)
    } else {
        len
    }
}

fn tls_record(content_type: u8, payload_len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut r = Vec::with_capacity(5 + payload_len);
    r.extend_from_slice(&[content_type, 3, 3]);
    r.extend_from_slice(&(payload_len as u16).to_be_bytes());
    let start = r.len();
    r.resize(start + payload_len, 0);
    rng.fill(&mut r[start..]);
    r
}

fn push_u16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_be_bytes());
}

fn push_ext(v: &mut Vec<u8>, ty: u16, data: &[u8]) {
    push_u16(v, ty);
    push_u16(v, data.len() as u16);
    v.extend_from_slice(data);
}

/// RFC 8701 GREASE values: 0x?a?a.
fn grease(rng: &mut Rng) -> u16 {
    let n = rng.below(16) as u16;
    (n << 12) | 0x0a00 | (n << 4) | 0x0a
}

/// X25519MLKEM768 (draft-ietf-tls-ecdhe-mlkem): client share 1184 + 32 bytes, server
/// share 1088 + 32 bytes.
const X25519_MLKEM768: u16 = 0x11ec;
const X25519: u16 = 0x001d;

/// A TLS 1.3 ClientHello record (RFC 8446 §4.1.2) offering TLS 1.3 and 1.2.
fn client_hello(rng: &mut Rng, sni: &str, profile: u8) -> Vec<u8> {
    let pq = profile != 0;
    let greasy = profile == 1;
    let mut b = Vec::with_capacity(2048);
    b.extend_from_slice(&[3, 3]);
    b.extend_from_slice(&rng.bytes::<32>());
    b.push(32);
    b.extend_from_slice(&rng.bytes::<32>());
    let mut suites: Vec<u16> = vec![
        0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
        0x009c, 0x009d, 0x002f, 0x0035,
    ];
    if greasy {
        suites.insert(0, grease(rng));
    }
    push_u16(&mut b, (suites.len() * 2) as u16);
    for s in suites {
        push_u16(&mut b, s);
    }
    b.extend_from_slice(&[1, 0]); // compression methods: null only

    let mut e = Vec::with_capacity(1600);
    if greasy {
        push_ext(&mut e, grease(rng), &[]);
    }
    // server_name (RFC 6066 §3): list length, host_name type 0, name length, name.
    let mut sn = Vec::with_capacity(sni.len() + 5);
    push_u16(&mut sn, (sni.len() + 3) as u16);
    sn.push(0);
    push_u16(&mut sn, sni.len() as u16);
    sn.extend_from_slice(sni.as_bytes());
    push_ext(&mut e, 0x0000, &sn);
    push_ext(&mut e, 0x0017, &[]); // extended_master_secret
    push_ext(&mut e, 0xff01, &[0]); // renegotiation_info
    let mut groups: Vec<u16> = vec![X25519, 0x0017, 0x0018, 0x0019];
    if pq {
        groups.insert(0, X25519_MLKEM768);
    }
    let mut g = Vec::new();
    push_u16(&mut g, (groups.len() * 2) as u16);
    for x in groups {
        push_u16(&mut g, x);
    }
    push_ext(&mut e, 0x000a, &g); // supported_groups
    push_ext(&mut e, 0x000b, &[1, 0]); // ec_point_formats: uncompressed
    push_ext(&mut e, 0x0023, &[]); // session_ticket
                                   // ALPN (RFC 7301): h2, http/1.1.
    push_ext(
        &mut e,
        0x0010,
        &[
            0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
        ],
    );
    push_ext(&mut e, 0x0005, &[1, 0, 0, 0, 0]); // status_request: OCSP
    let sigalgs: [u16; 10] = [
        0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0201,
    ];
    let mut s = Vec::new();
    push_u16(&mut s, 20);
    for x in sigalgs {
        push_u16(&mut s, x);
    }
    push_ext(&mut e, 0x000d, &s); // signature_algorithms
                                  // key_share (RFC 8446 §4.2.8): the hybrid share first when offered, then x25519.
    let mut ks = Vec::with_capacity(1300);
    let mut shares = Vec::with_capacity(1300);
    if pq {
        push_u16(&mut shares, X25519_MLKEM768);
        push_u16(&mut shares, 1216);
        let start = shares.len();
        shares.resize(start + 1216, 0);
        rng.fill(&mut shares[start..]);
    }
    push_u16(&mut shares, X25519);
    push_u16(&mut shares, 32);
    shares.extend_from_slice(&rng.bytes::<32>());
    push_u16(&mut ks, shares.len() as u16);
    ks.extend_from_slice(&shares);
    push_ext(&mut e, 0x0033, &ks);
    push_ext(&mut e, 0x002b, &[4, 3, 4, 3, 3]); // supported_versions: TLS 1.3, 1.2
    push_ext(&mut e, 0x002d, &[1, 1]); // psk_key_exchange_modes: psk_dhe_ke
    if greasy {
        push_ext(&mut e, grease(rng), &[0]);
    }
    // padding (RFC 7685) up to a 512-byte handshake message, as OpenSSL and browsers do.
    let hs_len = 4 + b.len() + 2 + e.len();
    if hs_len + 4 <= 512 {
        push_ext(&mut e, 0x0015, &vec![0; 512 - hs_len - 4]);
    }
    push_u16(&mut b, e.len() as u16);
    b.extend_from_slice(&e);

    let mut rec = Vec::with_capacity(9 + b.len());
    rec.extend_from_slice(&[0x16, 3, 1]);
    push_u16(&mut rec, (b.len() + 4) as u16);
    rec.push(1); // client_hello
    rec.extend_from_slice(&(b.len() as u32).to_be_bytes()[1..]);
    rec.extend_from_slice(&b);
    rec
}

/// The server's first flight: ServerHello, a compatibility ChangeCipherSpec and one
/// application-data record standing for the encrypted certificate messages.
fn server_flight(rng: &mut Rng, pq: bool) -> Vec<u8> {
    let mut b = Vec::with_capacity(1300);
    b.extend_from_slice(&[3, 3]);
    b.extend_from_slice(&rng.bytes::<32>());
    b.push(32);
    b.extend_from_slice(&rng.bytes::<32>());
    push_u16(&mut b, *rng.pick(&[0x1301u16, 0x1302, 0x1303]));
    b.push(0);
    let mut e = Vec::with_capacity(1200);
    push_ext(&mut e, 0x002b, &[3, 4]);
    let (group, len) = if pq {
        (X25519_MLKEM768, 1120)
    } else {
        (X25519, 32)
    };
    let mut ks = Vec::with_capacity(4 + len);
    push_u16(&mut ks, group);
    push_u16(&mut ks, len as u16);
    ks.resize(4 + len, 0);
    rng.fill(&mut ks[4..]);
    push_ext(&mut e, 0x0033, &ks);
    push_u16(&mut b, e.len() as u16);
    b.extend_from_slice(&e);

    let mut out = Vec::with_capacity(6000);
    out.extend_from_slice(&[0x16, 3, 3]);
    push_u16(&mut out, (b.len() + 4) as u16);
    out.push(2); // server_hello
    out.extend_from_slice(&(b.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&b);
    out.extend_from_slice(&[0x14, 3, 3, 0, 1, 1]);
    out.extend_from_slice(&tls_record(0x17, rng.range(2500, 4500) as usize, rng));
    out
}

fn dns_name(v: &mut Vec<u8>, name: &str) {
    for label in name.split('.') {
        v.push(label.len() as u8);
        v.extend_from_slice(label.as_bytes());
    }
    v.push(0);
}

/// EDNS(0) OPT pseudo-record (RFC 6891 §6.1.2), UDP payload size 1232.
const DNS_OPT: [u8; 11] = [0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0];

enum Answer {
    None,
    NxDomain,
    V4([u8; 4], Option<String>),
    V6([u8; 16]),
}

/// A DNS query and its response (RFC 1035 §4.1).
fn dns_exchange(rng: &mut Rng, name: &str, qtype: u16, answer: &Answer) -> (Vec<u8>, Vec<u8>) {
    let id = rng.u16();
    let edns = rng.percent(60);
    let mut question = Vec::with_capacity(name.len() + 6);
    dns_name(&mut question, name);
    push_u16(&mut question, qtype);
    push_u16(&mut question, 1);

    let mut q = Vec::with_capacity(12 + question.len() + 11);
    push_u16(&mut q, id);
    push_u16(&mut q, 0x0100); // RD
    for n in [1, 0, 0, u16::from(edns)] {
        push_u16(&mut q, n);
    }
    q.extend_from_slice(&question);
    if edns {
        q.extend_from_slice(&DNS_OPT);
    }

    let mut answers = Vec::new();
    let mut ancount = 0u16;
    let ttl = rng.range(30, 3600) as u32;
    match answer {
        Answer::None | Answer::NxDomain => {}
        Answer::V4(addr, cname) => {
            let mut owner = 0xc00c_u16; // the question name at offset 12
            if let Some(target) = cname {
                answers.extend_from_slice(&owner.to_be_bytes());
                push_u16(&mut answers, 5);
                push_u16(&mut answers, 1);
                answers.extend_from_slice(&ttl.to_be_bytes());
                let mut t = Vec::new();
                dns_name(&mut t, target);
                push_u16(&mut answers, t.len() as u16);
                // The A record's owner points at the CNAME target just written.
                owner = 0xc000 | (12 + question.len() + answers.len()) as u16;
                answers.extend_from_slice(&t);
                ancount += 1;
            }
            answers.extend_from_slice(&owner.to_be_bytes());
            push_u16(&mut answers, 1);
            push_u16(&mut answers, 1);
            answers.extend_from_slice(&rng.range(20, 300).to_be_bytes()[4..]);
            push_u16(&mut answers, 4);
            answers.extend_from_slice(addr);
            ancount += 1;
        }
        Answer::V6(addr) => {
            answers.extend_from_slice(&[0xc0, 0x0c, 0, 28, 0, 1]);
            answers.extend_from_slice(&ttl.to_be_bytes());
            push_u16(&mut answers, 16);
            answers.extend_from_slice(addr);
            ancount += 1;
        }
    }
    let mut r = Vec::with_capacity(12 + question.len() + answers.len() + 11);
    push_u16(&mut r, id);
    let rcode = if matches!(answer, Answer::NxDomain) {
        3
    } else {
        0
    };
    push_u16(&mut r, 0x8180 | rcode); // QR RD RA
    for n in [1, ancount, 0, u16::from(edns)] {
        push_u16(&mut r, n);
    }
    r.extend_from_slice(&question);
    r.extend_from_slice(&answers);
    if edns {
        r.extend_from_slice(&DNS_OPT);
    }
    (q, r)
}

/// An NTPv4 client request and server reply (RFC 5905 §7.3).
fn ntp_exchange(rng: &mut Rng, now_us: u64) -> (Vec<u8>, Vec<u8>) {
    let ntp_ts = |us: u64| -> [u8; 8] {
        let secs = us / 1_000_000 + NTP_UNIX_OFFSET;
        let frac = ((us % 1_000_000) << 32) / 1_000_000;
        ((secs << 32) | frac).to_be_bytes()
    };
    let tx = ntp_ts(now_us);
    let mut q = vec![0u8; 48];
    q[0] = 0x23; // LI 0, version 4, mode 3 (client)
    q[2] = 6;
    q[3] = 0xe9;
    q[40..48].copy_from_slice(&tx);
    let mut r = vec![0u8; 48];
    r[0] = 0x24; // mode 4 (server)
    r[1] = 2;
    r[2] = 6;
    r[3] = 0xe7;
    r[4..8].copy_from_slice(&(rng.below(0x800) as u32).to_be_bytes());
    r[8..12].copy_from_slice(&(rng.below(0x800) as u32).to_be_bytes());
    r[12..16].copy_from_slice(&random_v4(rng));
    r[16..24].copy_from_slice(&ntp_ts(now_us - rng.range(1_000_000, 900_000_000)));
    r[24..32].copy_from_slice(&tx);
    let rx = ntp_ts(now_us + rng.range(5_000, 40_000));
    r[32..40].copy_from_slice(&rx);
    r[40..48].copy_from_slice(&rx);
    (q, r)
}

const HTTP_PATHS: &[&str] = &[
    "/",
    "/index.html",
    "/api/v1/items",
    "/static/app.js",
    "/images/logo.png",
    "/download/",
    "/video/seg",
    "/feed",
    "/updates/manifest",
];
const USER_AGENTS: &[&str] = &[
    "curl/8.5.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Wget/1.21.3",
];

fn http_request(rng: &mut Rng, host: &str) -> Vec<u8> {
    let path = rng.pick(HTTP_PATHS);
    let q = if path.ends_with('/') {
        format!("{}", rng.below(100_000))
    } else {
        String::new()
    };
    format!(
        "GET {path}{q} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {}\r\nAccept: */*\r\n\
         Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n",
        rng.pick(USER_AGENTS)
    )
    .into_bytes()
}

fn http_response_head(rng: &mut Rng, body_len: u64) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nServer: {}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {body_len}\r\nCache-Control: max-age=3600\r\nConnection: keep-alive\r\n\r\n",
        rng.pick(&["nginx", "Apache", "cloudflare", "AmazonS3", "gws"])
    )
    .into_bytes()
}

#[derive(Default)]
struct Stats {
    packets: u64,
    flows: [u64; 6],
    tcp_flows: u64,
    client_hellos: u64,
    http_requests: u64,
    dns_queries: u64,
    ipv6_packets: u64,
    vlan_packets: u64,
    filler_packets: u64,
}

struct Gen {
    rng: Rng,
    world: World,
    mean_payload: u64,
    ipv6_share: u64,
    vlan_share: u64,
    stats: Stats,
}

impl Gen {
    fn data(dir: Dir, prefix: Vec<u8>, body: Body, body_len: u64) -> Step {
        Step::Data {
            dir,
            prefix,
            body,
            body_len,
            off: 0,
            segs: 0,
        }
    }

    fn new_flow(&mut self) -> Flow {
        let rng = &mut self.rng;
        let kind = weighted(rng, KINDS);
        self.stats.flows[kind as usize] += 1;
        let w = &self.world;
        let v6 = kind != Kind::Ntp && !w.v6_names.is_empty() && rng.percent(self.ipv6_share);
        let client = if v6 {
            rng.pick(&w.clients_v6)
        } else {
            rng.pick(&w.clients_v4)
        };
        let name_idx = if v6 {
            *rng.pick(&w.v6_names)
        } else {
            rng.below(w.names.len() as u64) as usize
        };
        let (name, server_idx) = &w.names[name_idx];
        let server = &w.servers[*server_idx];
        let server_ip = match (v6, server.v6) {
            (true, Some(a)) => Ip::V6(a),
            _ => Ip::V4(server.v4),
        };
        let resolver = match client.ip {
            Ip::V4(_) => Ip::V4(RESOLVER_V4),
            Ip::V6(_) => {
                let mut a = [0u8; 16];
                a[..8].copy_from_slice(&ULA_PREFIX);
                a[15] = 0x53;
                Ip::V6(a)
            }
        };
        let (server_ip, sport) = match kind {
            Kind::Tls => (server_ip, 443),
            Kind::Http => (server_ip, 80),
            Kind::OtherTcp => (server_ip, rng.range(20_000, 29_999) as u16),
            Kind::Dns => (resolver, 53),
            Kind::Ntp => (server_ip, 123),
            Kind::OtherUdp => (server_ip, 51_820),
        };
        let cport = if kind == Kind::Ntp && rng.percent(50) {
            123
        } else {
            rng.range(34_000, 60_999) as u16
        };
        let net = Net {
            client: client.ip,
            server: server_ip,
            cport,
            sport,
            client_mac: client.mac,
            vlan: rng
                .percent(self.vlan_share)
                .then(|| *rng.pick(&[10u16, 20, 100])),
            server_ttl: if kind == Kind::Dns { 64 } else { server.ttl },
            ip_id: [rng.u16(), rng.u16()],
            flow_label: rng.u32() & 0xf_ffff,
        };
        let mut steps = VecDeque::new();
        let tcp = matches!(kind, Kind::Tls | Kind::Http | Kind::OtherTcp);
        if tcp {
            self.stats.tcp_flows += 1;
            steps.push_back(Step::Syn);
            steps.push_back(Step::SynAck);
            steps.push_back(Step::Ack(Dir::C2S));
        }
        let budget = payload_size(rng, self.mean_payload);
        match kind {
            Kind::Tls => {
                self.stats.client_hellos += 1;
                let pq = client.profile != 0;
                steps.push_back(Self::data(
                    Dir::C2S,
                    client_hello(rng, name, client.profile),
                    Body::Random,
                    0,
                ));
                steps.push_back(Self::data(
                    Dir::S2C,
                    server_flight(rng, pq),
                    Body::Random,
                    0,
                ));
                let mut finished = vec![0x14, 3, 3, 0, 1, 1];
                finished.extend_from_slice(&tls_record(0x17, 53, rng));
                let exchanges = if rng.percent(30) { rng.range(2, 5) } else { 1 };
                let upload = rng.percent(8);
                for i in 0..exchanges {
                    let mut request = if i == 0 {
                        std::mem::take(&mut finished)
                    } else {
                        Vec::new()
                    };
                    let share = budget / exchanges;
                    if upload {
                        request.extend_from_slice(&tls_record(
                            0x17,
                            rng.range(60, 400) as usize,
                            rng,
                        ));
                        steps.push_back(Self::data(
                            Dir::C2S,
                            request,
                            Body::TlsRecords,
                            tls_stream_len(share),
                        ));
                        steps.push_back(Self::data(
                            Dir::S2C,
                            tls_record(0x17, rng.range(40, 300) as usize, rng),
                            Body::Random,
                            0,
                        ));
                    } else {
                        request.extend_from_slice(&tls_record(
                            0x17,
                            rng.range(80, 700) as usize,
                            rng,
                        ));
                        steps.push_back(Self::data(Dir::C2S, request, Body::Random, 0));
                        steps.push_back(Self::data(
                            Dir::S2C,
                            Vec::new(),
                            Body::TlsRecords,
                            tls_stream_len(share),
                        ));
                    }
                }
            }
            Kind::Http => {
                let exchanges = if rng.percent(20) { rng.range(2, 3) } else { 1 };
                for _ in 0..exchanges {
                    self.stats.http_requests += 1;
                    let body_len = budget / exchanges;
                    steps.push_back(Self::data(
                        Dir::C2S,
                        http_request(rng, name),
                        Body::Random,
                        0,
                    ));
                    steps.push_back(Self::data(
                        Dir::S2C,
                        http_response_head(rng, body_len),
                        Body::Random,
                        body_len,
                    ));
                }
            }
            Kind::OtherTcp => {
                steps.push_back(Self::data(
                    Dir::C2S,
                    Vec::new(),
                    Body::Random,
                    rng.range(20, 400),
                ));
                steps.push_back(Self::data(Dir::S2C, Vec::new(), Body::Random, budget));
            }
            Kind::Dns => {
                let qtypes: &[u16] = if rng.percent(50) { &[1, 28] } else { &[1] };
                for &qtype in qtypes {
                    self.stats.dns_queries += 1;
                    let nx = rng.percent(3);
                    let answer = match (nx, qtype, server.v6) {
                        (true, _, _) => Answer::NxDomain,
                        (false, 1, _) => {
                            let cname = rng.percent(20).then(|| {
                                let first = name.split('.').next().unwrap_or("x");
                                format!(
                                    "{first}.{}",
                                    rng.pick(&[
                                        "cdn.cloudflare.net",
                                        "edgekey.net",
                                        "cloudfront.net",
                                        "fastly.net"
                                    ])
                                )
                            });
                            Answer::V4(server.v4, cname)
                        }
                        (false, _, Some(a)) => Answer::V6(a),
                        (false, _, None) => Answer::None,
                    };
                    let qname = if nx {
                        format!("nx{}.{name}", rng.below(1000))
                    } else {
                        name.clone()
                    };
                    let (q, r) = dns_exchange(rng, &qname, qtype, &answer);
                    steps.push_back(Step::Udp(Dir::C2S, q));
                    steps.push_back(Step::Udp(Dir::S2C, r));
                }
            }
            Kind::Ntp => {
                // Filled in at send time: NTP carries the clock.
                for _ in 0..rng.range(1, 4) {
                    steps.push_back(Step::Udp(Dir::C2S, Vec::new()));
                    steps.push_back(Step::Udp(Dir::S2C, Vec::new()));
                }
            }
            Kind::OtherUdp => {
                // WireGuard tunnel traffic: ciphertext is the padded plaintext (a
                // multiple of 16) plus a 16-byte tag.
                for _ in 0..rng.range(2, 40) {
                    let dir = if rng.percent(50) { Dir::C2S } else { Dir::S2C };
                    steps.push_back(Step::WgData(dir, 16 * rng.range(1, 86) as u16 + 16));
                }
            }
        }
        if tcp {
            let first = if rng.percent(60) { Dir::C2S } else { Dir::S2C };
            steps.push_back(Step::Fin(first));
            steps.push_back(Step::Fin(first.flip()));
            steps.push_back(Step::Ack(first));
        }
        let tcp = tcp.then(|| Tcp {
            seq: [rng.u32(), rng.u32()],
            ts_off: [rng.u32(), rng.u32()],
            ts_last: [0, 0],
            win: [rng.range(500, 4000) as u16, rng.range(500, 2000) as u16],
            pending_ack: None,
        });
        Flow {
            net,
            tcp,
            steps,
            wg_index: [rng.u32(), rng.u32()],
            wg_counter: [0, 0],
        }
    }
}

// ---------------------------------------------------------------------------------------
// Frame building

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;

/// Internet checksum accumulation (RFC 1071) over 32-bit big-endian words; folding a
/// 32-bit sum to 16 bits gives the same one's-complement result.
fn csum_add(mut acc: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    acc + u64::from(u32::from_be_bytes(tail))
}

fn csum_fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// One packet under construction: `buf` holds the pcap record header, link, network
/// and transport headers and the payload.
struct Frame {
    buf: Vec<u8>,
    l3: usize,
    l4: usize,
}

impl Frame {
    fn new() -> Frame {
        Frame {
            buf: Vec::with_capacity(2048),
            l3: 0,
            l4: 0,
        }
    }

    /// Writes the record-header placeholder, Ethernet (and 802.1Q) and IP headers.
    fn begin(&mut self, net: &mut Net, dir: Dir, proto: u8) {
        let b = &mut self.buf;
        b.clear();
        b.resize(16, 0);
        let (dst_mac, src_mac) = match dir {
            Dir::C2S => (GATEWAY_MAC, net.client_mac),
            Dir::S2C => (net.client_mac, GATEWAY_MAC),
        };
        b.extend_from_slice(&dst_mac);
        b.extend_from_slice(&src_mac);
        if let Some(vid) = net.vlan {
            b.extend_from_slice(&[0x81, 0x00]);
            push_u16(b, vid);
        }
        let (src, dst) = net.ips(dir);
        let ttl = match dir {
            Dir::C2S => 64,
            Dir::S2C => net.server_ttl,
        };
        match (src, dst) {
            (Ip::V4(s), Ip::V4(d)) => {
                b.extend_from_slice(&[0x08, 0x00]);
                self.l3 = b.len();
                let id = &mut net.ip_id[idx(dir)];
                *id = id.wrapping_add(1);
                b.extend_from_slice(&[0x45, 0, 0, 0]);
                push_u16(b, *id);
                b.extend_from_slice(&[0x40, 0, ttl, proto, 0, 0]); // DF
                b.extend_from_slice(&s);
                b.extend_from_slice(&d);
            }
            (Ip::V6(s), Ip::V6(d)) => {
                b.extend_from_slice(&[0x86, 0xdd]);
                self.l3 = b.len();
                b.extend_from_slice(&(0x6000_0000 | net.flow_label).to_be_bytes());
                b.extend_from_slice(&[0, 0, proto, ttl]);
                b.extend_from_slice(&s);
                b.extend_from_slice(&d);
            }
            _ => unreachable!("flows never mix address families"),
        }
        self.l4 = b.len();
    }

    /// Fills in lengths and checksums, pads received frames to the Ethernet minimum and
    /// writes the pcap record header.
    fn finish(&mut self, dir: Dir) {
        let b = &mut self.buf;
        let l4_len = b.len() - self.l4;
        let proto = match b[self.l3] >> 4 {
            4 => {
                let total = (b.len() - self.l3) as u16;
                b[self.l3 + 2..self.l3 + 4].copy_from_slice(&total.to_be_bytes());
                let c = csum_fold(csum_add(0, &b[self.l3..self.l4]));
                b[self.l3 + 10..self.l3 + 12].copy_from_slice(&c.to_be_bytes());
                b[self.l3 + 9]
            }
            _ => {
                b[self.l3 + 4..self.l3 + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
                b[self.l3 + 6]
            }
        };
        // Pseudo-header (RFC 793 §3.1, RFC 8200 §8.1): addresses, protocol, length.
        let addrs = match b[self.l3] >> 4 {
            4 => self.l3 + 12..self.l3 + 20,
            _ => self.l3 + 8..self.l3 + 40,
        };
        let mut acc = csum_add(0, &b[addrs]);
        acc += u64::from(proto) + l4_len as u64;
        let ck_off = self.l4 + if proto == 6 { 16 } else { 6 };
        if proto == 17 {
            b[self.l4 + 4..self.l4 + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
        }
        acc = csum_add(acc, &b[self.l4..]);
        let mut c = csum_fold(acc);
        if proto == 17 && c == 0 {
            c = 0xffff; // RFC 768: zero means "no checksum"
        }
        b[ck_off..ck_off + 2].copy_from_slice(&c.to_be_bytes());
        if dir == Dir::S2C && b.len() < 16 + 60 {
            b.resize(16 + 60, 0);
        }
        let len = (b.len() - 16) as u32;
        b[8..12].copy_from_slice(&len.to_le_bytes());
        b[12..16].copy_from_slice(&len.to_le_bytes());
    }

    /// Sets the record's time-stamp, `ts_us` microseconds after `EPOCH_SECS`.
    fn stamp(&mut self, ts_us: u64) {
        let b = &mut self.buf;
        b[0..4].copy_from_slice(&((EPOCH_SECS + ts_us / 1_000_000) as u32).to_le_bytes());
        b[4..8].copy_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
    }
}

impl Flow {
    fn tcp_header(&mut self, f: &mut Frame, dir: Dir, flags: u8, now_us: u64) {
        let Some(t) = self.tcp.as_mut() else {
            unreachable!("TCP step in a UDP flow")
        };
        let (sp, dp) = self.net.ports(dir);
        let i = idx(dir);
        let ack = if flags & TCP_ACK != 0 {
            t.seq[1 - i]
        } else {
            0
        };
        let syn = flags & TCP_SYN != 0;
        let b = &mut f.buf;
        push_u16(b, sp);
        push_u16(b, dp);
        b.extend_from_slice(&t.seq[i].to_be_bytes());
        b.extend_from_slice(&ack.to_be_bytes());
        let hdr_words: u8 = if syn { 10 } else { 8 };
        b.push(hdr_words << 4);
        b.push(flags);
        let win = if syn {
            if dir == Dir::C2S {
                64_240
            } else {
                65_160
            }
        } else {
            t.win[i]
        };
        push_u16(b, win);
        b.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
        let tsval = t.ts_off[i].wrapping_add((now_us / 1000) as u32);
        let tsecr = t.ts_last[1 - i];
        t.ts_last[i] = tsval;
        if syn {
            // Linux's SYN options: MSS 1460, SACK permitted, time-stamps, NOP, wscale 7.
            b.extend_from_slice(&[2, 4, 0x05, 0xb4, 4, 2, 8, 10]);
            b.extend_from_slice(&tsval.to_be_bytes());
            b.extend_from_slice(&tsecr.to_be_bytes());
            b.extend_from_slice(&[1, 3, 3, 7]);
        } else {
            b.extend_from_slice(&[1, 1, 8, 10]);
            b.extend_from_slice(&tsval.to_be_bytes());
            b.extend_from_slice(&tsecr.to_be_bytes());
        }
    }

    fn advance_seq(&mut self, dir: Dir, n: u32) {
        if let Some(t) = self.tcp.as_mut() {
            let s = &mut t.seq[idx(dir)];
            *s = s.wrapping_add(n);
        }
    }

    fn tcp_control(&mut self, f: &mut Frame, dir: Dir, flags: u8, now_us: u64) {
        f.begin(&mut self.net, dir, 6);
        self.tcp_header(f, dir, flags, now_us);
        f.finish(dir);
        if flags & (TCP_SYN | TCP_FIN) != 0 {
            self.advance_seq(dir, 1);
        }
    }

    /// Builds the flow's next packet into `f` (time-stamped later by the caller).
    fn next_packet(&mut self, f: &mut Frame, rng: &mut Rng, now_us: u64) {
        if let Some(dir) = self.tcp.as_mut().and_then(|t| t.pending_ack.take()) {
            self.tcp_control(f, dir, TCP_ACK, now_us);
            return;
        }
        let Some(step) = self.steps.pop_front() else {
            unreachable!("finished flows are removed")
        };
        match step {
            Step::Syn => self.tcp_control(f, Dir::C2S, TCP_SYN, now_us),
            Step::SynAck => self.tcp_control(f, Dir::S2C, TCP_SYN | TCP_ACK, now_us),
            Step::Ack(dir) => self.tcp_control(f, dir, TCP_ACK, now_us),
            Step::Fin(dir) => self.tcp_control(f, dir, TCP_FIN | TCP_ACK, now_us),
            Step::Data {
                dir,
                prefix,
                body,
                body_len,
                off,
                segs,
            } => {
                let total = prefix.len() as u64 + body_len;
                let n = (total - off).min(SEG);
                let last = off + n == total;
                f.begin(&mut self.net, dir, 6);
                self.tcp_header(f, dir, TCP_ACK | if last { TCP_PSH } else { 0 }, now_us);
                let start = f.buf.len();
                f.buf.resize(start + n as usize, 0);
                fill_payload(&mut f.buf[start..], &prefix, body, body_len, off, rng);
                f.finish(dir);
                self.advance_seq(dir, n as u32);
                let segs = segs + 1;
                let next_is_reply = matches!(
                    self.steps.front(),
                    Some(Step::Data { dir: d, .. }) if *d != dir
                );
                if let Some(t) = self.tcp.as_mut() {
                    // Delayed ACK (RFC 1122 §4.2.3.2): one per two full segments, and at
                    // the end of a message unless the reply carries it.
                    if segs % 2 == 0 || (last && !next_is_reply) {
                        t.pending_ack = Some(dir.flip());
                    }
                }
                if !last {
                    self.steps.push_front(Step::Data {
                        dir,
                        prefix,
                        body,
                        body_len,
                        off: off + n,
                        segs,
                    });
                }
            }
            Step::Udp(dir, payload) => {
                let payload = if payload.is_empty() {
                    // NTP: the request carries the clock, the reply answers it.
                    let (q, r) = ntp_exchange(rng, now_us + EPOCH_SECS * 1_000_000);
                    if dir == Dir::C2S {
                        q
                    } else {
                        r
                    }
                } else {
                    payload
                };
                self.udp(f, dir, &payload);
            }
            Step::WgData(dir, len) => {
                // WireGuard transport data (whitepaper §5.4.6): type 4, three reserved
                // zero bytes, the receiver's index and a counter, little-endian.
                let i = idx(dir);
                let mut p = vec![0u8; 16 + len as usize];
                p[0] = 4;
                p[4..8].copy_from_slice(&self.wg_index[1 - i].to_le_bytes());
                p[8..16].copy_from_slice(&self.wg_counter[i].to_le_bytes());
                self.wg_counter[i] += 1;
                rng.fill(&mut p[16..]);
                self.udp(f, dir, &p);
            }
        }
    }

    fn udp(&mut self, f: &mut Frame, dir: Dir, payload: &[u8]) {
        f.begin(&mut self.net, dir, 17);
        let (sp, dp) = self.net.ports(dir);
        push_u16(&mut f.buf, sp);
        push_u16(&mut f.buf, dp);
        f.buf.extend_from_slice(&[0, 0, 0, 0]);
        f.buf.extend_from_slice(payload);
        f.finish(dir);
    }

    fn done(&self) -> bool {
        self.steps.is_empty() && self.tcp.as_ref().is_none_or(|t| t.pending_ack.is_none())
    }
}

/// Copies bytes `off..off + out.len()` of a message made of `prefix` then `body_len`
/// generated bytes.
fn fill_payload(out: &mut [u8], prefix: &[u8], body: Body, body_len: u64, off: u64, rng: &mut Rng) {
    let plen = prefix.len() as u64;
    let mut pos = 0usize;
    if off < plen {
        let n = ((plen - off) as usize).min(out.len());
        out[..n].copy_from_slice(&prefix[off as usize..off as usize + n]);
        pos = n;
    }
    if pos == out.len() {
        return;
    }
    rng.fill(&mut out[pos..]);
    if let Body::TlsRecords = body {
        // Body offsets covered by this segment, and the record headers inside them.
        let b0 = off + pos as u64 - plen;
        let b1 = off + out.len() as u64 - plen;
        let mut rec = b0 / TLS_RECORD * TLS_RECORD;
        while rec < b1 {
            let len = (body_len - rec).min(TLS_RECORD) - 5;
            let mut hdr = [0x17, 3, 3, 0, 0];
            hdr[3..].copy_from_slice(&(len as u16).to_be_bytes());
            for (k, &byte) in hdr.iter().enumerate() {
                let at = rec + k as u64;
                if at >= b0 && at < b1 {
                    out[pos + (at - b0) as usize] = byte;
                }
            }
            rec += TLS_RECORD;
        }
    }
}

// ---------------------------------------------------------------------------------------

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gencap: error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    if args.size < PCAP_HEADER_LEN + MIN_FILLER {
        return Err(format!(
            "size {} is below the smallest capture this writes ({} bytes)",
            args.size,
            PCAP_HEADER_LEN + MIN_FILLER
        ));
    }
    // The file is written next to its target and renamed over it; that must never
    // replace a device or a FIFO (`--out /dev/null`).
    if let Ok(meta) = std::fs::metadata(&args.out) {
        if !meta.is_file() {
            return Err(format!(
                "{}: exists and is not a regular file",
                args.out.display()
            ));
        }
    }
    let started = Instant::now();
    let flows_target = args.flows.unwrap_or(args.size / 16_384).max(1);
    // Measured at 1 GiB: a TCP flow costs about 8.8 KB (handshakes, TLS hellos and
    // certificates, ACKs, and its share of the DNS, NTP and WireGuard flows started along
    // with it) plus 0.94 times its mean payload (headers, ACKs, flows cut at the end).
    let per_flow = args.size / flows_target;
    let mean_payload = (per_flow.saturating_sub(8_800) * 1000 / 937).max(500);

    let mut rng = Rng(args.seed);
    let world = World::new(&mut rng, args.names.max(1));
    let mut g = Gen {
        rng,
        world,
        mean_payload,
        ipv6_share: args.ipv6_share.min(100),
        vlan_share: args.vlan_share.min(100),
        stats: Stats::default(),
    };

    let tmp = {
        let mut name = args
            .out
            .file_name()
            .ok_or_else(|| format!("{}: not a file path", args.out.display()))?
            .to_os_string();
        name.push(".tmp");
        args.out.with_file_name(name)
    };
    let file = File::create(&tmp).map_err(|e| format!("creating {}: {e}", tmp.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let io = |e: std::io::Error| format!("writing {}: {e}", tmp.display());

    // Classic pcap header: magic, version 2.4, zone 0, sigfigs 0, snaplen, LINKTYPE_ETHERNET.
    let mut hdr = Vec::with_capacity(24);
    hdr.extend_from_slice(&0xa1b2_c3d4_u32.to_le_bytes());
    hdr.extend_from_slice(&2u16.to_le_bytes());
    hdr.extend_from_slice(&4u16.to_le_bytes());
    hdr.extend_from_slice(&[0; 8]);
    hdr.extend_from_slice(&262_144u32.to_le_bytes());
    hdr.extend_from_slice(&1u32.to_le_bytes());
    w.write_all(&hdr).map_err(io)?;

    let mut remaining = args.size - PCAP_HEADER_LEN;
    let mut now_us: u64 = 0;
    let mut frame = Frame::new();
    let mut active: Vec<Flow> = Vec::with_capacity(args.active.max(1));
    let rate = args.rate_mbps.max(1);
    let advance = |now: &mut u64, rng: &mut Rng, len: usize| {
        // Gap uniform around the time the frame takes at the average line rate.
        let mean = (len as u64 * 8 / rate).max(1);
        *now += 1 + rng.below(2 * mean);
    };

    while remaining >= 2 * MAX_RECORD + MIN_FILLER {
        if active.is_empty() || (active.len() < args.active.max(1) && g.rng.below(4) == 0) {
            let flow = g.new_flow();
            active.push(flow);
        }
        let i = g.rng.below(active.len() as u64) as usize;
        let flow = &mut active[i];
        flow.next_packet(&mut frame, &mut g.rng, now_us);
        count(&mut g.stats, &flow.net);
        if flow.done() {
            active.swap_remove(i);
        }
        advance(&mut now_us, &mut g.rng, frame.buf.len());
        frame.stamp(now_us);
        w.write_all(&frame.buf).map_err(io)?;
        remaining -= frame.buf.len() as u64;
    }

    // Filler: datagrams to the discard port (RFC 863) sized so that the file ends exactly
    // at the requested size. Their text payload keeps heuristic dissectors quiet.
    let mut filler = Flow {
        net: Net {
            client: Ip::V4([10, 0, 0, 2]),
            server: Ip::V4(random_v4(&mut g.rng)),
            cport: 40_000,
            sport: 9,
            client_mac: [0x02, 0, 0, 0, 0, 2],
            vlan: None,
            server_ttl: 57,
            ip_id: [0, 0],
            flow_label: 0,
        },
        tcp: None,
        steps: VecDeque::new(),
        wg_index: [0, 0],
        wg_counter: [0, 0],
    };
    let biggest = 16 + 14 + 1500;
    while remaining > 0 {
        let n = if remaining <= biggest {
            remaining
        } else if remaining - biggest >= MIN_FILLER {
            biggest
        } else {
            remaining / 2
        };
        let p: Vec<u8> = FILLER_TEXT
            .iter()
            .copied()
            .cycle()
            .take((n - MIN_FILLER) as usize)
            .collect();
        advance(&mut now_us, &mut g.rng, n as usize);
        filler.udp(&mut frame, Dir::C2S, &p);
        frame.stamp(now_us);
        g.stats.packets += 1;
        g.stats.filler_packets += 1;
        w.write_all(&frame.buf).map_err(io)?;
        remaining -= frame.buf.len() as u64;
    }

    let file = w.into_inner().map_err(|e| io(e.into_error()))?;
    let generated = started.elapsed();
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, &args.out)
        .map_err(|e| format!("renaming {} to {}: {e}", tmp.display(), args.out.display()))?;
    let total = started.elapsed();

    let s = &g.stats;
    let secs = generated.as_secs_f64().max(1e-9);
    eprintln!(
        "gencap: {} bytes, {} packets ({} filler), capture span {:.1} s",
        args.size,
        s.packets,
        s.filler_packets,
        now_us as f64 / 1e6
    );
    eprintln!(
        "gencap: flows: tls {} http {} other-tcp {} dns {} ntp {} other-udp {} (tcp {}, target {})",
        s.flows[0],
        s.flows[1],
        s.flows[2],
        s.flows[3],
        s.flows[4],
        s.flows[5],
        s.tcp_flows,
        flows_target
    );
    eprintln!(
        "gencap: client hellos {}, http requests {}, dns queries {}, ipv6 packets {}, vlan packets {}, names {}",
        s.client_hellos,
        s.http_requests,
        s.dns_queries,
        s.ipv6_packets,
        s.vlan_packets,
        g.world.names.len()
    );
    eprintln!(
        "gencap: generated in {:.2} s ({:.0} MB/s), {:.2} s with fsync",
        secs,
        args.size as f64 / 1e6 / secs,
        total.as_secs_f64()
    );
    Ok(())
}

fn count(stats: &mut Stats, net: &Net) {
    stats.packets += 1;
    if matches!(net.client, Ip::V6(_)) {
        stats.ipv6_packets += 1;
    }
    if net.vlan.is_some() {
        stats.vlan_packets += 1;
    }
}

#[cfg(test)]
mod tests {
    //! Run with `cargo test --example gencap`. The tshark test needs tshark installed and
    //! fails, rather than skips, without it.
    use super::*;
    use std::process::Command;

    fn generate(dir: &std::path::Path, name: &str, args: &[&str]) -> Vec<u8> {
        let out = dir.join(name);
        let mut argv = vec!["gencap", "--out", out.to_str().expect("utf-8 temp path")];
        argv.extend_from_slice(args);
        let args = Args::try_parse_from(argv).expect("valid arguments");
        run(&args).expect("generation succeeds");
        std::fs::read(&out).expect("capture written")
    }

    #[test]
    fn same_seed_and_size_give_identical_bytes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let a = generate(dir.path(), "a.pcap", &["--size", "3M", "--seed", "7"]);
        let b = generate(dir.path(), "b.pcap", &["--size", "3M", "--seed", "7"]);
        assert!(a == b, "two runs with seed 7 differ");
        let c = generate(dir.path(), "c.pcap", &["--size", "3M", "--seed", "8"]);
        assert!(a != c, "seeds 7 and 8 gave the same bytes");
    }

    #[test]
    fn file_has_exactly_the_requested_size() {
        let dir = tempfile::tempdir().expect("temp dir");
        for size in [82u64, 100, 1_589, 3_200, 3_301, 65_536, 1_000_003] {
            let s = size.to_string();
            let bytes = generate(dir.path(), "x.pcap", &["--size", &s]);
            assert_eq!(bytes.len() as u64, size, "requested {size} bytes");
        }
    }

    #[test]
    fn size_below_one_record_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("x.pcap");
        let argv = [
            "gencap",
            "--size",
            "81",
            "--out",
            out.to_str().expect("utf-8"),
        ];
        let args = Args::try_parse_from(argv).expect("valid arguments");
        assert!(run(&args).is_err());
        assert!(!out.exists());
    }

    #[test]
    fn output_that_is_not_a_regular_file_is_refused() {
        let argv = ["gencap", "--size", "1M", "--out", "/dev/null"];
        let args = Args::try_parse_from(argv).expect("valid arguments");
        assert!(run(&args).is_err());
        let dir = tempfile::tempdir().expect("temp dir");
        let argv = [
            "gencap",
            "--size",
            "1M",
            "--out",
            dir.path().to_str().expect("utf-8"),
        ];
        let args = Args::try_parse_from(argv).expect("valid arguments");
        assert!(run(&args).is_err());
    }

    #[test]
    fn sizes_take_binary_and_decimal_suffixes() {
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("1234"), Ok(1234));
        assert!(parse_size("1X").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn tls_streams_never_end_in_a_record_shorter_than_its_tag() {
        for len in [
            0,
            1,
            21,
            22,
            TLS_RECORD,
            TLS_RECORD + 1,
            TLS_RECORD + 21,
            3 * TLS_RECORD + 5,
        ] {
            let l = tls_stream_len(len);
            assert!(l >= len);
            let tail = l % TLS_RECORD;
            assert!(
                tail == 0 || tail >= TLS_MIN_RECORD,
                "len {len} -> {l}, tail {tail}"
            );
        }
    }

    #[test]
    fn internet_checksum_matches_rfc_1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (one's complement 220d).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(csum_fold(csum_add(0, &data)), !0xddf2);
        // An odd trailing byte is padded with zero on the right.
        assert_eq!(csum_fold(csum_add(0, &[0x12])), !0x1200);
    }

    fn tshark(file: &std::path::Path, args: &[&str]) -> String {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(file)
            .args(args)
            .output()
            .expect("tshark must be installed for this test (Debian package tshark)");
        assert!(
            out.status.success(),
            "tshark {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn tshark_finds_no_malformed_packet_or_bad_checksum_and_lists_the_names() {
        let dir = tempfile::tempdir().expect("temp dir");
        generate(dir.path(), "t.pcap", &["--size", "4M", "--active", "200"]);
        let file = dir.path().join("t.pcap");
        let expert = tshark(
            &file,
            &[
                "-o",
                "ip.check_checksum:TRUE",
                "-o",
                "tcp.check_checksum:TRUE",
                "-o",
                "udp.check_checksum:TRUE",
                "-q",
                "-z",
                "expert",
            ],
        );
        assert!(
            !expert.contains("Errors ("),
            "tshark reports errors:\n{expert}"
        );
        assert!(
            !expert.contains("Warnings ("),
            "tshark reports warnings:\n{expert}"
        );
        assert!(!expert.to_lowercase().contains("checksum"), "{expert}");

        let names = tshark(
            &file,
            &["-T", "fields", "-e", "tls.handshake.extensions_server_name"],
        );
        let distinct: BTreeSet<&str> = names.lines().filter(|l| !l.is_empty()).collect();
        assert!(
            distinct.len() > 100,
            "only {} distinct SNI names",
            distinct.len()
        );
        // Every SNI name comes from the generator's pool.
        let mut rng = Rng(1);
        let world = World::new(&mut rng, 4000);
        let pool: BTreeSet<&str> = world.names.iter().map(|n| n.0.as_str()).collect();
        for name in &distinct {
            assert!(pool.contains(name), "unexpected SNI {name:?}");
        }

        let hosts = tshark(
            &file,
            &["-Y", "http.request", "-T", "fields", "-e", "http.host"],
        );
        assert!(hosts.lines().count() > 10, "few HTTP requests:\n{hosts}");
        let phs = tshark(&file, &["-q", "-z", "io,phs"]);
        let seen: BTreeSet<&str> = phs
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        for proto in [
            "vlan",
            "ipv6",
            "dns",
            "ntp",
            "wg",
            "tls",
            "http",
            "tcp.segments",
        ] {
            assert!(seen.contains(proto), "no {proto} in:\n{phs}");
        }
    }
}
