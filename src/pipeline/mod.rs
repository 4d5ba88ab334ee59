//! Runs the stages over each capture in one streaming pass: read (and hash) the
//! file, decode each frame, count it in the conversation tables, and hand flow bytes
//! to the dissectors ([`identify`]). Glue only; each stage's logic lives in its own
//! module.

pub(crate) mod identify;
pub(crate) mod json;
pub mod records;
pub mod spool;

use crate::capture::{self, CaptureError, Compression, Format, LinkType};
use crate::decode::{self, L4};
use crate::flow::{defrag, ConvId, Segment, Tables};
use crate::hash::{Algorithms, Digests};
use crate::model::{Anomaly, Endpoint, FrameRef, Severity, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Datagrams read from fragments (reassembled, or a first fragment cut short and
/// read as it is) one inside another that are decoded at most (a tunnel split by
/// its underlay, carrying a datagram split by its own MTU).
const REASSEMBLED_LAYERS: u8 = 2;

/// Where the bytes [`Pass::payload`] reads as a datagram's come from.
#[derive(Clone, Copy)]
enum Datagram {
    /// Reassembled from fragments, the first of them in frame `first`.
    Reassembled { first: u64 },
    /// A first fragment the capture cut short, read as it is.
    CutFirstFragment,
}

/// IPv6's Mobility header (RFC 6275), as a next header.
const IPV6_MOBILITY: u8 = 135;

/// Whether an IP layer's packet counts in the IP tables: tshark 4.0 leaves IPv6
/// packets that carry a Mobility header (Mobile IPv6 signalling), whole or
/// reassembled, out of its IPv6 tables.
fn in_ip_tables(ip: &decode::Ip<'_>) -> bool {
    !(ip.src.is_ipv6() && ip.protocol == IPV6_MOBILITY)
}

/// Options of an analysis run.
#[derive(Clone, Debug)]
pub struct AnalyzeOptions {
    /// Anomalies kept in full per capture; beyond this they are only counted per
    /// code, so that a hostile capture cannot grow the report without bound.
    pub max_anomalies: usize,
    /// Digests computed from the same read as the analysis: SHA-256 always, unless
    /// the set is empty (`--no-hash`, for measuring the analysis alone).
    pub hashes: Algorithms,
    /// Counts the capture bytes read, for a progress display.
    pub progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    /// Follow HTTP connections and list (or extract) the objects they carried.
    pub content: Option<crate::content::ContentOptions>,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            max_anomalies: 1000,
            hashes: Algorithms::SHA256,
            progress: None,
            content: None,
        }
    }
}

/// Every endpoint address of finished analyses and every address their clients
/// named through a proxy, once, in order: the addresses to attribute.
pub fn addresses(analyses: &[CaptureAnalysis]) -> Vec<std::net::IpAddr> {
    let mut ips: Vec<std::net::IpAddr> = analyses
        .iter()
        .flat_map(|a| {
            let targets = a.proxy_targets.iter().map(|t| t.ip);
            a.tables.endpoints().map(|(ip, _)| ip).chain(targets)
        })
        .collect();
    ips.sort_unstable();
    ips.dedup();
    ips
}

/// Everything found in one capture.
pub struct CaptureAnalysis {
    pub index: u32,
    pub path: PathBuf,
    pub format: Format,
    pub compression: Compression,
    pub link_types: Vec<LinkType>,
    pub sections: u32,
    pub interfaces: u32,
    pub packets: u64,
    /// Sum of the frames' lengths on the wire.
    pub bytes: u64,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    /// Digests of the file as stored (size, SHA-256, and any others requested).
    pub digests: Digests,
    pub anomalies: AnomalyLog,
    pub tables: Tables,
    /// Hostnames seen and the server addresses they bind to.
    pub names: Vec<crate::services::NameEvidence>,
    /// DNS, TLS, HTTP and QUIC records, each with its frames, spooled to disk.
    pub records: spool::Spooled,
    /// The server addresses clients named by number through proxies, in address,
    /// port and proxy order.
    pub proxy_targets: Vec<records::ProxyTarget>,
    /// What TCP reassembly met over all flows.
    pub reassembly: identify::ReassemblySummary,
    /// The objects HTTP carried, when asked for (numbered later, over all captures:
    /// see `content::store::finish`).
    pub objects: Option<crate::content::Collected>,
}

/// Anomalies of one capture: the first `cap` in full, the rest counted per code.
#[derive(Debug, Default)]
pub struct AnomalyLog {
    pub kept: Vec<Anomaly>,
    pub suppressed: BTreeMap<&'static str, u64>,
    cap: usize,
}

impl AnomalyLog {
    fn new(cap: usize) -> Self {
        AnomalyLog {
            cap,
            ..Self::default()
        }
    }

    pub fn push(&mut self, a: Anomaly) {
        if self.kept.len() < self.cap {
            self.kept.push(a);
        } else {
            *self.suppressed.entry(a.code).or_default() += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty() && self.suppressed.is_empty()
    }

    pub fn total(&self) -> u64 {
        self.kept.len() as u64 + self.suppressed.values().sum::<u64>()
    }
}

/// Analyses captures, as many at once as there are cores (each on a thread of its
/// own, besides its reading thread), and returns them in the order given: the same
/// analyses as one after the other. An unreadable capture stops the run; the error
/// is that of the first such capture in the order given.
pub fn analyze(
    paths: &[PathBuf],
    opts: &AnalyzeOptions,
) -> Result<Vec<CaptureAnalysis>, CaptureError> {
    // Frames are named by capture index and number packed together (`FrameId`).
    if paths.len() > crate::services::FrameId::MAX_CAPTURES {
        return Err(CaptureError::TooMany {
            given: paths.len(),
            max: crate::services::FrameId::MAX_CAPTURES,
        });
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(paths.len());
    analyze_with(paths, opts, workers)
}

/// [`analyze`] with at most `workers` captures in flight.
fn analyze_with(
    paths: &[PathBuf],
    opts: &AnalyzeOptions,
    workers: usize,
) -> Result<Vec<CaptureAnalysis>, CaptureError> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    if workers <= 1 {
        return paths
            .iter()
            .enumerate()
            .map(|(i, p)| analyze_capture(p, i as u32, opts))
            .collect();
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let mut done: Vec<Option<Result<CaptureAnalysis, CaptureError>>> =
        std::iter::repeat_with(|| None).take(paths.len()).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    // Captures are taken in order; after a failure no new one starts.
                    while !failed.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(p) = paths.get(i) else { break };
                        let r = analyze_capture(p, i as u32, opts);
                        if r.is_err() {
                            failed.store(true, Ordering::Relaxed);
                        }
                        mine.push((i, r));
                    }
                    mine
                })
            })
            .collect();
        for h in handles {
            // A worker that panicked is a bug, as it would be one after the
            // other: the panic goes on.
            match h.join() {
                Ok(mine) => {
                    for (i, r) in mine {
                        if let Some(slot) = done.get_mut(i) {
                            *slot = Some(r);
                        }
                    }
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    // Captures were taken in the order given, so every one before a capture not
    // analysed was analysed, and a failure comes before it.
    let mut out = Vec::with_capacity(paths.len());
    for r in done {
        match r {
            Some(Ok(a)) => out.push(a),
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    Ok(out)
}

/// Analyses one capture in a single pass.
pub fn analyze_capture(
    path: &Path,
    index: u32,
    opts: &AnalyzeOptions,
) -> Result<CaptureAnalysis, CaptureError> {
    analyze_capture_as(path, path, index, opts)
}

/// Analyses the capture at `path`, known as `shown` in the analysis (a case's files
/// by their path in the case, say).
pub fn analyze_capture_as(
    path: &Path,
    shown: &Path,
    index: u32,
    opts: &AnalyzeOptions,
) -> Result<CaptureAnalysis, CaptureError> {
    let algos = if opts.hashes.is_empty() {
        Algorithms::NONE
    } else {
        opts.hashes.with(Algorithms::SHA256)
    };
    let opened = capture::open_counted(path, index, algos, opts.progress.clone())?;
    let mut reader = opened.reader;
    let mut pass = Pass::new(shown, index, opts)?;
    while let Some(frame) = reader.next_frame() {
        pass.frame(&frame);
        // Secrets a pcapng carries precede the frames they open: read with them.
        pass.secrets(reader.take_secrets());
    }
    let source = Source {
        format: opened.format,
        compression: opened.compression,
        summary: reader.summary(),
        anomalies: reader.take_anomalies(),
    };
    drop(reader);
    let digests = opened
        .digest
        .finish()
        .map_err(|source| CaptureError::Read {
            path: path.to_owned(),
            source,
        })?;
    pass.finish(source, digests)
}

/// What the reader of a capture knows once it is done: the container, the link
/// types, sections and interfaces it met, and the damage it found.
pub struct Source {
    pub format: Format,
    pub compression: Compression,
    pub summary: capture::ReadSummary,
    pub anomalies: Vec<Anomaly>,
}

/// One capture's analysis while its frames arrive: frames in, one at a time, in
/// capture order; [`Pass::finish`] gives the [`CaptureAnalysis`]. `analyze` feeds it
/// from a file; a live capture feeds it the frames of the file it is writing, so
/// both give the same analysis of the same bytes.
pub(crate) struct Pass {
    index: u32,
    path: PathBuf,
    max_anomalies: usize,
    log: AnomalyLog,
    tables: Tables,
    /// Fragmented datagrams waiting for their other fragments.
    defrag: defrag::Defrag,
    ident: identify::Identify,
    content: Option<crate::content::Content>,
    packets: u64,
    bytes: u64,
    first_seen: Option<Timestamp>,
    last_seen: Option<Timestamp>,
    unknown_links: BTreeMap<LinkType, (u64, u64, u64)>,
    /// Protected 802.11 data frames: the first one's frame and offset, and how many.
    encrypted: Option<(u64, u64, u64)>,
}

impl Pass {
    /// Starts the analysis of capture `index` (its number in frame references),
    /// known as `path` in the report.
    pub(crate) fn new(
        path: &Path,
        index: u32,
        opts: &AnalyzeOptions,
    ) -> Result<Pass, CaptureError> {
        // Frame references hold the index in 16 bits (`FrameId`).
        let max = crate::services::FrameId::MAX_CAPTURES;
        if index as usize >= max {
            return Err(CaptureError::TooMany {
                given: index as usize + 1,
                max,
            });
        }
        let spooler = spool::Spooler::new().map_err(|source| CaptureError::Spool {
            path: path.to_owned(),
            source,
        })?;
        Ok(Pass {
            index,
            path: path.to_owned(),
            max_anomalies: opts.max_anomalies,
            log: AnomalyLog::new(opts.max_anomalies),
            tables: Tables::new(),
            defrag: defrag::Defrag::default(),
            ident: identify::Identify::new(index, spooler),
            content: opts
                .content
                .clone()
                .map(|c| crate::content::Content::new(index, c)),
            packets: 0,
            bytes: 0,
            first_seen: None,
            last_seen: None,
            unknown_links: BTreeMap::new(),
            encrypted: None,
        })
    }

    /// The hostnames bound to server addresses in flows so far (SNI, Host), in the
    /// order found; a later call returns these first, then any new ones.
    pub(crate) fn names(&self) -> &[crate::services::NameEvidence] {
        self.ident.names()
    }

    /// How many DNS answers have bound names so far.
    pub(crate) fn dns_answers(&self) -> usize {
        self.ident.dns_answers()
    }

    /// The names DNS answers bound so far, from the `from`-th answer on, and how many
    /// answers there are now (see `identify::Identify::dns_names_from`).
    pub(crate) fn dns_names_from(
        &self,
        from: usize,
    ) -> (Vec<crate::services::NameEvidence>, usize) {
        self.ident.dns_names_from(from)
    }

    /// Decryption secrets the capture carries (pcapng Decryption Secrets Blocks):
    /// TLS key logs go to the content stage, when objects are asked for.
    pub(crate) fn secrets(&mut self, secrets: Vec<capture::DecryptionSecrets>) {
        let Some(content) = &mut self.content else {
            return;
        };
        for s in secrets {
            if s.secrets_type == capture::DecryptionSecrets::TLS_KEY_LOG {
                content.add_secrets(
                    &format!("pcapng Decryption Secrets Block at offset {}", s.offset),
                    &s.data,
                );
            }
        }
    }

    /// Counts, decodes and identifies one frame.
    pub(crate) fn frame(&mut self, frame: &capture::Frame<'_>) {
        self.packets += 1;
        self.bytes += u64::from(frame.wire_len);
        self.first_seen = Some(self.first_seen.map_or(frame.ts, |f| f.min(frame.ts)));
        self.last_seen = Some(self.last_seen.map_or(frame.ts, |l| l.max(frame.ts)));
        let at = FrameRef {
            capture: self.index,
            frame: frame.number,
            offset: frame.offset,
            ts: frame.ts,
        };
        let packet = decode::decode(frame.link_type, frame.data);
        if packet.unknown_link {
            let e = self.unknown_links.entry(frame.link_type).or_insert((
                frame.number,
                frame.offset,
                0,
            ));
            e.2 += 1;
            return;
        }
        if let Some(problem) = &packet.problem {
            self.notice(
                at,
                "decode.incomplete",
                format!("frame {}: decoding stopped: {problem}", frame.number),
            );
        }
        if packet.encrypted {
            self.encrypted
                .get_or_insert((frame.number, frame.offset, 0))
                .2 += 1;
        }
        self.layers(&packet, 0, at, frame.wire_len, 0);
        // The other subframes of an A-MSDU: each a packet of the same frame.
        for (i, sub) in packet.subframes().enumerate() {
            if let Some(problem) = &sub.problem {
                self.notice(
                    at,
                    "decode.incomplete",
                    format!(
                        "frame {}: decoding A-MSDU subframe {} stopped: {problem}",
                        frame.number,
                        i + 2
                    ),
                );
            }
            self.layers(&sub, 0, at, frame.wire_len, 0);
        }
        for a in self.ident.drain_anomalies() {
            self.log.push(a);
        }
    }

    fn notice(&mut self, at: FrameRef, code: &'static str, message: String) {
        self.log.push(Anomaly {
            capture: self.index,
            frame: Some(at.frame),
            offset: at.offset,
            severity: Severity::Notice,
            code,
            message,
        });
    }

    /// Counts and identifies a decoded packet's IP layers from `packet.outer[skip]`
    /// on; `depth` is how many reassembled datagrams it sits in.
    fn layers(
        &mut self,
        packet: &decode::Packet<'_>,
        skip: usize,
        at: FrameRef,
        wire_len: u32,
        depth: u8,
    ) {
        // Every IP layer around a tunnel counts, as in tshark's tables: its IP
        // conversation and endpoints, and the outer UDP of VXLAN, Geneve and GTP-U.
        for o in packet.outer.iter().skip(skip) {
            match o.udp {
                Some((src_port, dst_port)) => {
                    let seg = Segment::Udp { src_port, dst_port };
                    self.tables
                        .count_transport(o.src, o.dst, seg, at, wire_len, true);
                }
                None => {
                    self.tables.count_ip(o.src, o.dst, at, wire_len);
                }
            }
        }
        let Some(ip) = &packet.ip else {
            return;
        };
        match ip.fragment {
            Some(frag) if frag.cut => {
                self.cut_fragment(ip, frag, at, wire_len, depth);
            }
            Some(frag) => self.fragment(ip, frag, at, wire_len, depth),
            None => {
                self.transport(ip, at, wire_len, true);
            }
        }
    }

    /// Counts an unfragmented (or reassembled) IP layer's transport conversation
    /// and hands its payload to the dissectors; `count_ip` is false when its IP
    /// conversation was counted already (fragment by fragment). The conversation
    /// counted, if TCP or UDP.
    fn transport(
        &mut self,
        ip: &decode::Ip<'_>,
        at: FrameRef,
        wire_len: u32,
        count_ip: bool,
    ) -> Option<ConvId> {
        let tables = &mut self.tables;
        // A routing header with segments left: TCP and UDP belong to the final
        // destination, as in tshark's tables; the IP tables count the header's
        // addresses, here, since the transport conversation's IP conversation is
        // not this frame's.
        let (dst, count_ip) = match ip.final_dst {
            Some(f) if f != ip.dst && matches!(ip.l4, L4::Tcp(_) | L4::Udp { .. }) => {
                if count_ip {
                    tables.count_ip(ip.src, ip.dst, at, wire_len);
                }
                (f, false)
            }
            _ => (ip.dst, count_ip),
        };
        match ip.l4 {
            L4::Tcp(ref t) => {
                let seg = Segment::Tcp {
                    src_port: t.src_port,
                    dst_port: t.dst_port,
                    seq: t.seq,
                    syn: t.syn,
                    ack: t.ack_flag,
                    fin: t.fin,
                    rst: t.rst,
                };
                let id = tables.count_transport(ip.src, dst, seg, at, wire_len, count_ip)?;
                if let Some(conv) = tables.conversation(id) {
                    let src = Endpoint {
                        ip: ip.src,
                        port: Some(t.src_port),
                    };
                    let seg = identify::TcpSegment {
                        seq: t.seq,
                        syn: t.syn,
                        fin: t.fin,
                        rst: t.rst,
                        cut: t.cut,
                    };
                    self.ident.tcp(id, conv, src, seg, t.payload, at);
                    if let Some(c) = &mut self.content {
                        c.tcp(id, conv, src, seg, t.payload, at);
                        // Certificates of decrypted TLS 1.3 handshakes name their
                        // servers as clear ones do.
                        for c in c.take_certificates() {
                            self.ident.decrypted_certificate(c, at);
                        }
                        // DNS over HTTPS, once decrypted: its answers bind names.
                        for m in c.take_doh() {
                            self.ident.doh_message(m, at);
                        }
                    }
                }
                Some(id)
            }
            L4::Udp {
                src_port,
                dst_port,
                payload,
            } => {
                let seg = Segment::Udp { src_port, dst_port };
                let id = tables.count_transport(ip.src, dst, seg, at, wire_len, count_ip)?;
                if let Some(conv) = tables.conversation(id) {
                    let src = Endpoint {
                        ip: ip.src,
                        port: Some(src_port),
                    };
                    let dst = Endpoint {
                        ip: dst,
                        port: Some(dst_port),
                    };
                    self.ident.udp(id, conv, src, dst, payload, at);
                }
                Some(id)
            }
            _ => {
                if count_ip && in_ip_tables(ip) {
                    tables.count_ip(ip.src, ip.dst, at, wire_len);
                }
                None
            }
        }
    }

    /// One fragment: counted in the IP tables as tshark counts it, kept until its
    /// datagram is complete, which is then counted and identified on this frame.
    fn fragment(
        &mut self,
        ip: &decode::Ip<'_>,
        frag: decode::Fragment,
        at: FrameRef,
        wire_len: u32,
        depth: u8,
    ) {
        // tshark counts every IPv4 fragment in the IP tables, but an IPv6 datagram
        // only once, on the frame that completes its reassembly.
        let v6 = ip.src.is_ipv6();
        if !v6 {
            self.tables.count_ip(ip.src, ip.dst, at, wire_len);
        }
        let ports = match ip.l4 {
            L4::FirstFragment { src_port, dst_port } => Some((src_port, dst_port)),
            _ => None,
        };
        let piece = defrag::Piece {
            id: frag.id,
            offset: frag.offset,
            more: frag.more,
            bytes: ip.payload,
        };
        let datagram = match self
            .defrag
            .feed(ip.src, ip.dst, ip.protocol, piece, ports, at.frame)
        {
            defrag::Outcome::Pending => return,
            defrag::Outcome::Evicted { first_frame } => {
                self.notice(
                    at,
                    "ip.fragments_dropped",
                    format!(
                        "frame {first_frame}: too many incomplete fragmented datagrams pending; the oldest was dropped at frame {}",
                        at.frame
                    ),
                );
                return;
            }
            defrag::Outcome::Complete(d) => d,
        };
        if v6 && in_ip_tables(ip) {
            self.tables.count_ip(ip.src, ip.dst, at, wire_len);
        }
        let first = datagram.first_frame;
        if datagram.conflict {
            self.notice(
                at,
                "ip.fragment_overlap",
                format!(
                    "frame {}: fragments of the datagram {} -> {} begun at frame {first} overlap with different bytes; the first copy was kept",
                    at.frame, ip.src, ip.dst
                ),
            );
        }
        let bytes = match datagram.payload {
            Ok(bytes) if depth < REASSEMBLED_LAYERS => Some(bytes),
            Ok(_) => {
                self.notice(
                    at,
                    "ip.reassembly_depth",
                    format!(
                        "frame {}: a datagram {} -> {} fragmented inside {depth} reassembled datagrams was counted, not decoded",
                        at.frame, ip.src, ip.dst
                    ),
                );
                None
            }
            Err(lost) => {
                let why = match lost {
                    defrag::Lost::Budget => format!(
                        "more than {} MiB of fragments were pending",
                        defrag::MAX_BYTES >> 20
                    ),
                    defrag::Lost::TooLong => format!(
                        "it runs past {} bytes, the longest an IP datagram can be",
                        defrag::MAX_DATAGRAM
                    ),
                };
                self.notice(
                    at,
                    "ip.datagram_not_kept",
                    format!(
                        "frame {}: the datagram {} -> {} begun at frame {first} was counted, not decoded: {why}",
                        at.frame, ip.src, ip.dst
                    ),
                );
                None
            }
        };
        if let Some(bytes) = bytes {
            let from = Datagram::Reassembled { first };
            if let Some(counted) = self.payload(ip, &bytes, from, at, wire_len, depth) {
                if let Some(id) = counted {
                    self.tables.add_fragment_frames(id, datagram.frames);
                }
                return;
            }
        }
        // Not decoded: counted by the ports of its first fragment, if it had them.
        let seg = match (ip.protocol, datagram.ports) {
            (6, Some((src_port, dst_port))) => Segment::Tcp {
                src_port,
                dst_port,
                seq: 0,
                syn: false,
                ack: false,
                fin: false,
                rst: false,
            },
            (17, Some((src_port, dst_port))) => Segment::Udp { src_port, dst_port },
            (6 | 17, None) => {
                self.notice(
                    at,
                    "ip.fragment_without_header",
                    format!(
                        "frame {}: fragmented datagram {} -> {} completed without a first fragment carrying the ports",
                        at.frame, ip.src, ip.dst
                    ),
                );
                return;
            }
            _ => return,
        };
        let dst = ip.final_dst.unwrap_or(ip.dst);
        if let Some(id) = self
            .tables
            .count_transport(ip.src, dst, seg, at, wire_len, false)
        {
            self.tables.add_fragment_frames(id, datagram.frames);
        }
    }

    /// Reads the payload of a datagram (reassembled, or a first fragment cut short
    /// and read as it is) as a frame's: a tunnel inside is opened, the datagram its outer layer
    /// (counted already but for a UDP tunnel's ports), else its transport
    /// conversation is counted and its payload identified. `Some` with the
    /// transport conversation counted for the datagram itself, if any; `None` when
    /// there was no transport to count (the caller counts it by its first
    /// fragment's ports).
    fn payload(
        &mut self,
        ip: &decode::Ip<'_>,
        bytes: &[u8],
        from: Datagram,
        at: FrameRef,
        wire_len: u32,
        depth: u8,
    ) -> Option<Option<usize>> {
        let mut inner = decode::datagram(ip.src, ip.dst, ip.protocol, bytes);
        // The routing header sits before the fragment header, in every fragment.
        if let Some(inner_ip) = &mut inner.ip {
            inner_ip.final_dst = ip.final_dst;
        }
        if let Some(problem) = &inner.problem {
            let what = match from {
                Datagram::Reassembled { first } => {
                    format!(
                        "the datagram reassembled from frames {first} to {}",
                        at.frame
                    )
                }
                Datagram::CutFirstFragment => "the first fragment cut short".to_string(),
            };
            self.notice(
                at,
                "decode.incomplete",
                format!("frame {}: decoding {what} stopped: {problem}", at.frame),
            );
        }
        // A first fragment cut short carries a TCP segment cut short too: what can
        // be read of a message in it is kept, as for any segment the capture cut.
        if let (Datagram::CutFirstFragment, Some(decode::Ip { l4: L4::Tcp(t), .. })) =
            (from, &mut inner.ip)
        {
            t.cut = true;
        }
        match inner.outer.first() {
            Some(outer) => {
                let counted = outer.udp.and_then(|(src_port, dst_port)| {
                    let seg = Segment::Udp { src_port, dst_port };
                    self.tables
                        .count_transport(ip.src, ip.dst, seg, at, wire_len, false)
                });
                self.layers(&inner, 1, at, wire_len, depth + 1);
                Some(counted)
            }
            None => {
                let inner_ip = inner.ip.as_ref()?;
                self.transport(inner_ip, at, wire_len, false).map(Some)
            }
        }
    }

    /// An IPv4 fragment the frame holds only part of (the capture's snap length cut
    /// it), as tshark reads one: counted in the IP tables, put in no reassembly,
    /// and, when it is a first fragment, read as far as it goes, as if it were
    /// the whole datagram (its transport conversation counted, its names read).
    fn cut_fragment(
        &mut self,
        ip: &decode::Ip<'_>,
        frag: decode::Fragment,
        at: FrameRef,
        wire_len: u32,
        depth: u8,
    ) {
        self.tables.count_ip(ip.src, ip.dst, at, wire_len);
        let read = if frag.offset == 0 {
            "read as far as it goes"
        } else {
            "not read"
        };
        self.notice(
            at,
            "ip.fragment_cut",
            format!(
                "frame {}: the capture holds {} bytes of the IPv4 fragment {} -> {} at offset {} (id {:#06x}): not reassembled, {read}",
                at.frame, frag.len, ip.src, ip.dst, frag.offset, frag.id
            ),
        );
        if frag.offset != 0 {
            return;
        }
        if depth >= REASSEMBLED_LAYERS {
            self.notice(
                at,
                "ip.reassembly_depth",
                format!(
                    "frame {}: a first fragment {} -> {} cut short inside {depth} datagrams read from fragments was counted, not decoded",
                    at.frame, ip.src, ip.dst
                ),
            );
            return;
        }
        // A transport header the frame does not hold whole is not counted (tshark's
        // dissectors stop before their taps).
        self.payload(
            ip,
            ip.payload,
            Datagram::CutFirstFragment,
            at,
            wire_len,
            depth,
        );
    }

    /// Ends the pass: folds the tables, collects the records and anomalies, and puts
    /// together the analysis with the reader's account (`source`) and the file's
    /// digests, computed by whoever read or wrote the file.
    pub(crate) fn finish(
        self,
        source: Source,
        digests: Digests,
    ) -> Result<CaptureAnalysis, CaptureError> {
        let Pass {
            index,
            path,
            max_anomalies,
            log,
            mut tables,
            defrag,
            ident,
            content,
            packets,
            bytes,
            first_seen,
            last_seen,
            unknown_links,
            encrypted,
        } = self;
        // Independent: the tables fold on a second thread while the DNS answers are
        // sorted into names.
        let finished = std::thread::scope(|scope| {
            scope.spawn(|| tables.finish());
            ident.finish()
        });
        let identify::Identified {
            spool: spooler,
            names,
            reassembly,
            proxy_targets,
            proxy_targets_dropped,
        } = finished.map_err(|source| CaptureError::Bindings {
            path: path.clone(),
            source,
        })?;
        let records = spooler.finish().map_err(|source| CaptureError::Spool {
            path: path.clone(),
            source,
        })?;

        // Reader anomalies come first: they explain why frames may be missing.
        let mut all = source.anomalies;
        for (link, (frame, offset, count)) in unknown_links {
            all.push(Anomaly {
                capture: index,
                frame: Some(frame),
                offset,
                severity: Severity::Damage,
                code: "link.unknown_type",
                message: format!(
                    "frame {frame}: link type {} ({}) is not decoded; {count} frames of this type were counted but not analysed",
                    link.0,
                    link.name()
                ),
            });
        }
        if let Some((frame, offset, count)) = encrypted {
            all.push(Anomaly {
                capture: index,
                frame: Some(frame),
                offset,
                severity: Severity::Notice,
                code: "ieee80211.encrypted",
                message: format!(
                    "frame {frame}: {count} encrypted 802.11 data frames not decoded (counted as frames only; no key is used)"
                ),
            });
        }
        for (first_frame, frames) in defrag.incomplete() {
            all.push(Anomaly {
                capture: index,
                frame: Some(first_frame),
                offset: 0,
                severity: Severity::Notice,
                code: "ip.incomplete_datagram",
                message: format!(
                    "frame {first_frame}: fragmented datagram never completed ({frames} fragments seen)"
                ),
            });
        }
        if let Some((requests, frame)) = proxy_targets_dropped {
            all.push(Anomaly {
                capture: index,
                frame: Some(frame),
                offset: 0,
                severity: Severity::Notice,
                code: "proxy.targets_capped",
                message: format!(
                    "frame {frame}: {requests} proxy requests for addresses past the first {} targets are recorded in proxies[] but not tallied in proxy_targets[] nor attributed",
                    records::MAX_PROXY_TARGETS
                ),
            });
        }
        let mut merged = AnomalyLog::new(max_anomalies);
        for a in all {
            merged.push(a);
        }
        for a in log.kept {
            merged.push(a);
        }
        for (code, n) in log.suppressed {
            *merged.suppressed.entry(code).or_default() += n;
        }
        merged.kept.sort_by_key(|a| (a.offset, a.frame.is_none()));

        let link_types: BTreeSet<LinkType> = source.summary.link_types.into_iter().collect();
        Ok(CaptureAnalysis {
            index,
            path,
            format: source.format,
            compression: source.compression,
            link_types: link_types.into_iter().collect(),
            sections: source.summary.sections,
            interfaces: source.summary.interfaces,
            packets,
            bytes,
            first_seen,
            last_seen,
            digests,
            anomalies: merged,
            tables,
            names,
            records,
            proxy_targets,
            reassembly,
            objects: content.map(crate::content::Content::finish),
        })
    }
}
