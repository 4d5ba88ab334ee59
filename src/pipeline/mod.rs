//! Runs the stages over each capture in one streaming pass: read (and hash) the
//! file, decode each frame, count it in the conversation tables, and hand flow bytes
//! to the dissectors ([`identify`]). Glue only; each stage's logic lives in its own
//! module.

pub(crate) mod identify;
pub mod records;
pub mod spool;

use crate::capture::{self, CaptureError, Compression, Format, LinkType};
use crate::decode::{self, L4};
use crate::flow::{FragmentOutcome, Segment, Tables};
use crate::hash::{Algorithms, Digests};
use crate::model::{Anomaly, Endpoint, FrameRef, Severity, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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
        let index = self.index;
        let tables = &mut self.tables;
        let log = &mut self.log;
        let ident = &mut self.ident;
        let content = &mut self.content;
        self.packets += 1;
        self.bytes += u64::from(frame.wire_len);
        self.first_seen = Some(self.first_seen.map_or(frame.ts, |f| f.min(frame.ts)));
        self.last_seen = Some(self.last_seen.map_or(frame.ts, |l| l.max(frame.ts)));
        let at = FrameRef {
            capture: index,
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
            log.push(Anomaly {
                capture: index,
                frame: Some(frame.number),
                offset: frame.offset,
                severity: Severity::Notice,
                code: "decode.incomplete",
                message: format!("frame {}: decoding stopped: {problem}", frame.number),
            });
        }
        // Every IP layer around a tunnel counts, as in tshark's tables: its IP
        // conversation and endpoints, and the outer UDP of VXLAN, Geneve and GTP-U.
        for o in &packet.outer {
            match o.udp {
                Some((src_port, dst_port)) => {
                    let seg = Segment::Udp { src_port, dst_port };
                    tables.count_transport(o.src, o.dst, seg, at, frame.wire_len, true);
                }
                None => {
                    tables.count_ip(o.src, o.dst, at, frame.wire_len);
                }
            }
        }
        if packet.encrypted {
            self.encrypted
                .get_or_insert((frame.number, frame.offset, 0))
                .2 += 1;
        }
        let Some(ip) = packet.ip else {
            return;
        };
        // tshark counts every IPv4 fragment in the IP tables, but an IPv6 datagram
        // only once, on the frame that completes its reassembly.
        let v6_fragment = ip.fragment.is_some() && ip.src.is_ipv6();
        if let Some(frag) = ip.fragment {
            if !v6_fragment {
                tables.count_ip(ip.src, ip.dst, at, frame.wire_len);
            }
            let ports = match ip.l4 {
                L4::FirstFragment { src_port, dst_port } => Some((src_port, dst_port)),
                _ => None,
            };
            let outcome = tables.fragment(ip.src, ip.dst, ip.protocol, frag, ports, frame.number);
            if v6_fragment && matches!(outcome, FragmentOutcome::Complete { .. }) {
                tables.count_ip(ip.src, ip.dst, at, frame.wire_len);
            }
            match outcome {
                FragmentOutcome::Pending => {}
                FragmentOutcome::Complete {
                    ports: Some((sp, dp)),
                    frames,
                } => {
                    let seg = match ip.protocol {
                        6 => Segment::Tcp {
                            src_port: sp,
                            dst_port: dp,
                            seq: 0,
                            syn: false,
                            ack: false,
                            fin: false,
                            rst: false,
                        },
                        17 => Segment::Udp {
                            src_port: sp,
                            dst_port: dp,
                        },
                        _ => Segment::Other,
                    };
                    // The IP tables already counted this frame (IPv4) or did so just
                    // above (IPv6).
                    if let Some(id) =
                        tables.count_transport(ip.src, ip.dst, seg, at, frame.wire_len, false)
                    {
                        tables.add_fragment_frames(id, frames);
                    }
                }
                FragmentOutcome::Complete { ports: None, .. } => {
                    if matches!(ip.protocol, 6 | 17) {
                        log.push(Anomaly {
                            capture: index,
                            frame: Some(frame.number),
                            offset: frame.offset,
                            severity: Severity::Notice,
                            code: "ip.fragment_without_header",
                            message: format!(
                                "frame {}: fragmented datagram {} -> {} completed without a first fragment carrying the ports",
                                frame.number, ip.src, ip.dst
                            ),
                        });
                    }
                }
                FragmentOutcome::Evicted { first_frame } => log.push(Anomaly {
                    capture: index,
                    frame: Some(first_frame),
                    offset: frame.offset,
                    severity: Severity::Notice,
                    code: "ip.fragments_dropped",
                    message: format!(
                        "frame {first_frame}: too many incomplete fragmented datagrams pending; the oldest was dropped at frame {}",
                        frame.number
                    ),
                }),
            }
            return;
        }
        match ip.l4 {
            L4::Tcp(t) => {
                let seg = Segment::Tcp {
                    src_port: t.src_port,
                    dst_port: t.dst_port,
                    seq: t.seq,
                    syn: t.syn,
                    ack: t.ack_flag,
                    fin: t.fin,
                    rst: t.rst,
                };
                if let Some(id) =
                    tables.count_transport(ip.src, ip.dst, seg, at, frame.wire_len, true)
                {
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
                        ident.tcp(id, conv, src, seg, t.payload, at);
                        if let Some(c) = content {
                            c.tcp(id, conv, src, seg, t.payload, at);
                        }
                    }
                }
            }
            L4::Udp {
                src_port,
                dst_port,
                payload,
            } => {
                let seg = Segment::Udp { src_port, dst_port };
                if let Some(id) =
                    tables.count_transport(ip.src, ip.dst, seg, at, frame.wire_len, true)
                {
                    if let Some(conv) = tables.conversation(id) {
                        let src = Endpoint {
                            ip: ip.src,
                            port: Some(src_port),
                        };
                        let dst = Endpoint {
                            ip: ip.dst,
                            port: Some(dst_port),
                        };
                        ident.udp(id, conv, src, dst, payload, at);
                    }
                }
            }
            _ => {
                tables.count_ip(ip.src, ip.dst, at, frame.wire_len);
            }
        }
        for a in ident.drain_anomalies() {
            log.push(a);
        }
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
            ident,
            content,
            packets,
            bytes,
            first_seen,
            last_seen,
            unknown_links,
            encrypted,
        } = self;
        tables.finish();
        let (spooler, names, reassembly) =
            ident.finish().map_err(|source| CaptureError::Bindings {
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
        for (first_frame, frames) in tables.incomplete_fragments() {
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
            reassembly,
            objects: content.map(crate::content::Content::finish),
        })
    }
}
