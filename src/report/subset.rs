//! Court-exhibit subsets: the frames of the targeted services, and the DNS exchanges
//! that named them, copied in order into a new pcapng. Each section's comments name
//! its source capture and that capture's SHA-256; each packet's comment gives its
//! frame number in the source, so that anyone can find it in the original with
//! Wireshark. The originals are only read.
//!
//! A frame belongs to a service when it matches the service's display filter
//! (`ip.addr == A && tcp.port == P`, for each endpoint), decoded as the analysis
//! decodes it; the DNS frames are those that the report cites as binding a name of
//! the service. A fragmented IP datagram is matched as the analysis reads it, once
//! reassembled, and when it belongs, every frame that carried a fragment of it is
//! copied (the frames a reader needs to reassemble it, as Wireshark's "include
//! depended upon packets" gives them). Frames stay in their original order: a frame
//! waits while a datagram whose fragments came before it is incomplete (bounded; see
//! [`Selector`]). One level only: a datagram fragmented inside a reassembled one (a
//! tunnel split by its underlay carrying fragments of its own) is judged by its
//! first fragment's ports, and only the outer fragments of the inner fragments that
//! match are copied.

use super::Services;
use crate::capture::{self, write as pcapng, LinkType};
use crate::decode::{self, L4};
use crate::flow::defrag::{self, Defrag, Piece};
use crate::hash::{Algorithms, Digests, MultiHasher};
use crate::model::Transport;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// One source capture of a subset.
pub struct Source {
    pub index: u32,
    pub path: PathBuf,
    /// The name the report gives the capture (as given on the command line).
    pub shown: String,
    pub sha256: Option<String>,
}

/// What was written.
#[derive(Debug, serde::Serialize)]
pub struct Written {
    pub path: String,
    /// Frames copied from each capture, by capture index.
    pub frames: BTreeMap<u32, u64>,
    pub digests: Digests,
}

#[derive(thiserror::Error, Debug)]
pub enum SubsetError {
    #[error("{path} exists; a subset never replaces a file")]
    Exists { path: String },
    #[error("reading {path}: {source}")]
    Capture {
        path: String,
        source: capture::CaptureError,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    /// The services could not be read back (see [`crate::services::ServiceList`]).
    #[error("{0}")]
    Services(String),
}

type EndpointKey = (IpAddr, u16, Transport);

/// Writes the subset of `sources` for `services` into `out` (a new file, never
/// replacing one; see [`crate::atomic`]).
pub fn write(
    out: &Path,
    sources: &[Source],
    services: &Services,
    targets: &[String],
) -> Result<Written, SubsetError> {
    let shown_out = out.display().to_string();
    if out.symlink_metadata().is_ok() {
        return Err(SubsetError::Exists { path: shown_out });
    }
    let mut result = None;
    let mut hasher = MultiHasher::new(Algorithms::EVIDENCE);
    crate::atomic::create_new_with(out, |w| {
        let mut tee = Tee {
            inner: w,
            hasher: &mut hasher,
        };
        let r = write_into(&mut tee, sources, services, targets);
        let failed = r.is_err();
        result = Some(r);
        if failed {
            Err(std::io::Error::other("the subset could not be made"))
        } else {
            Ok(())
        }
    })
    .map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            SubsetError::Exists {
                path: shown_out.clone(),
            }
        } else {
            SubsetError::Write {
                path: shown_out.clone(),
                source: e.into(),
            }
        }
    })
    .map_err(|e| match result.take() {
        // The subset's own error says more than the write that it stopped.
        Some(Err(inner)) => inner,
        _ => e,
    })?;
    let frames = match result {
        Some(Ok(f)) => f,
        Some(Err(e)) => return Err(e),
        None => BTreeMap::new(),
    };
    Ok(Written {
        path: shown_out,
        frames,
        digests: hasher.finish(),
    })
}

/// A writer that hashes what it writes.
struct Tee<'a> {
    inner: &'a mut dyn Write,
    hasher: &'a mut MultiHasher,
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes the subset as a stream into `w`; gives the frames copied per capture.
pub fn write_into(
    w: &mut dyn Write,
    sources: &[Source],
    services: &Services,
    targets: &[String],
) -> Result<BTreeMap<u32, u64>, SubsetError> {
    let shown_out = "the subset".to_string();
    let endpoints: BTreeSet<EndpointKey> = services
        .iter()
        .flat_map(|s| s.service.endpoints)
        .map(|e| (e.ip, e.port, e.transport))
        .collect();
    // DNS frames that bound a name of a service, by capture.
    let mut dns: BTreeMap<u32, BTreeSet<u64>> = BTreeMap::new();
    for s in services.iter() {
        for h in &s.service.hostnames {
            if h.sources.iter().any(|x| {
                matches!(
                    x,
                    crate::services::NameSource::DnsAnswer | crate::services::NameSource::DnsCname
                )
            }) {
                for f in &h.frames {
                    dns.entry(f.capture()).or_default().insert(f.frame());
                }
            }
        }
    }
    let filters: Vec<String> = services
        .iter()
        .map(|s| s.service.wireshark_filter().to_string())
        .collect();
    if let Some(f) = services.failure() {
        return Err(SubsetError::Services(f));
    }
    let write_err = |source| SubsetError::Write {
        path: shown_out.clone(),
        source,
    };
    let file = w;
    let mut counts = BTreeMap::new();
    let mut block = Vec::with_capacity(1 << 16);
    for src in sources {
        let mut opened = capture::open(&src.path, src.index, Algorithms::NONE).map_err(|e| {
            SubsetError::Capture {
                path: src.shown.clone(),
                source: e,
            }
        })?;
        block.clear();
        pcapng::section_header(
            &mut block,
            &pcapng::Section {
                hardware: None,
                os: None,
                application: format!("whohosts {}", env!("CARGO_PKG_VERSION")),
                comments: vec![
                    format!(
                        "Subset of {} (SHA-256 {}), made by whohosts {}; the original is unchanged.",
                        src.shown,
                        src.sha256.as_deref().unwrap_or("not computed"),
                        env!("CARGO_PKG_VERSION")
                    ),
                    format!(
                        "Frames of the services of the targets {} (display filter {}) and the DNS exchanges that named them, in their original order; each packet's comment gives its frame number in the original.",
                        targets.join(", "),
                        filters.join(" || ")
                    ),
                ],
            },
        );
        let mut interfaces: BTreeMap<LinkType, u32> = BTreeMap::new();
        let wanted_dns = dns.get(&src.index);
        let mut n = 0u64;
        let mut selector = Selector::default();
        let mut emit = |held: Frame<'_>| -> Result<(), SubsetError> {
            let next = interfaces.len() as u32;
            let id = *interfaces.entry(held.link_type).or_insert_with(|| {
                pcapng::interface_description(
                    &mut block,
                    &pcapng::Interface {
                        name: format!("{} ({})", src.shown, held.link_type.name()),
                        description: None,
                        link_type: held.link_type,
                        snaplen: 0,
                        filter: None,
                        os: None,
                        addresses: Vec::new(),
                    },
                );
                next
            });
            pcapng::enhanced_packet_commented(
                &mut block,
                id,
                held.ns,
                held.data,
                held.wire_len,
                &format!("frame {} of {}", held.number, src.shown),
            );
            n += 1;
            if block.len() >= 1 << 16 {
                file.write_all(&block).map_err(write_err)?;
                block.clear();
            }
            Ok(())
        };
        while let Some(frame) = opened.reader.next_frame() {
            let packet = decode::decode(frame.link_type, frame.data);
            // An A-MSDU frame is copied when any of its subframes matches (a fragment
            // in a later subframe is judged by its own header, not reassembled).
            let direct = wanted_dns.is_some_and(|d| d.contains(&frame.number))
                || matches_endpoint(&packet, &endpoints)
                || packet
                    .subframes()
                    .any(|sub| matches_endpoint(&sub, &endpoints));
            let held = || Held {
                number: frame.number,
                ns: u64::try_from(frame.ts.as_nanos()).unwrap_or(0),
                data: frame.data.to_vec(),
                wire_len: frame.wire_len,
                link_type: frame.link_type,
            };
            let fragment = packet
                .ip
                .as_ref()
                .and_then(|ip| ip.fragment.map(|f| (ip, f)));
            match fragment {
                // An IPv4 fragment cut short by the capture is read as it is, as
                // the analysis reads it (`Pass::cut_fragment`), never reassembled.
                Some((ip, f)) if !f.cut => {
                    let piece = Piece {
                        id: f.id,
                        offset: f.offset,
                        more: f.more,
                        bytes: ip.payload,
                    };
                    let key = (ip.src, ip.dst, ip.protocol, f.id);
                    let reassembled = selector.fragment(key, piece, frame.number, held(), direct);
                    if let Some(payload) = reassembled {
                        let inner = decode::datagram(ip.src, ip.dst, ip.protocol, &payload);
                        if matches_endpoint(&inner, &endpoints) {
                            selector.want(key);
                        }
                        selector.complete(key);
                    }
                }
                _ if selector.is_idle() => {
                    if direct {
                        emit(Frame {
                            number: frame.number,
                            ns: u64::try_from(frame.ts.as_nanos()).unwrap_or(0),
                            data: frame.data,
                            wire_len: frame.wire_len,
                            link_type: frame.link_type,
                        })?;
                    }
                }
                _ => selector.push(held(), direct),
            }
            while let Some(h) = selector.ready() {
                emit(h.frame())?;
            }
        }
        selector.finish();
        while let Some(h) = selector.ready() {
            emit(h.frame())?;
        }
        file.write_all(&block).map_err(write_err)?;
        block.clear();
        counts.insert(src.index, n);
    }
    Ok(counts)
}
/// Whether a decoded frame (or reassembled datagram) carries an address and port of
/// one of the endpoints, as `ip.addr == A && tcp.port == P` would say.
fn matches_endpoint(packet: &decode::Packet<'_>, endpoints: &BTreeSet<EndpointKey>) -> bool {
    let Some(ip) = &packet.ip else {
        return false;
    };
    let (transport, sport, dport) = match &ip.l4 {
        L4::Tcp(t) => (Transport::Tcp, t.src_port, t.dst_port),
        L4::Udp {
            src_port, dst_port, ..
        } => (Transport::Udp, *src_port, *dst_port),
        L4::FirstFragment { src_port, dst_port } => match ip.protocol {
            6 => (Transport::Tcp, *src_port, *dst_port),
            17 => (Transport::Udp, *src_port, *dst_port),
            _ => return false,
        },
        L4::Icmp | L4::None => return false,
    };
    [ip.src, ip.dst].iter().any(|a| {
        endpoints.contains(&(*a, sport, transport)) || endpoints.contains(&(*a, dport, transport))
    })
}

/// A frame to write.
struct Frame<'a> {
    number: u64,
    ns: u64,
    data: &'a [u8],
    wire_len: u32,
    link_type: LinkType,
}

/// A frame waiting to be written (or dropped).
struct Held {
    number: u64,
    ns: u64,
    data: Vec<u8>,
    wire_len: u32,
    link_type: LinkType,
}

impl Held {
    fn frame(&self) -> Frame<'_> {
        Frame {
            number: self.number,
            ns: self.ns,
            data: &self.data,
            wire_len: self.wire_len,
            link_type: self.link_type,
        }
    }
}

type DatagramKey = (IpAddr, IpAddr, u8, u32);

/// Frames copied with bytes held back at most while datagrams are incomplete; past
/// it, the oldest incomplete datagram is decided on what is known of it so far.
const MAX_HELD_BYTES: usize = 32 << 20;

/// Decides which frames a subset keeps, in their original order, when fragments of
/// a datagram can only be judged once it is complete: frames wait in a queue
/// behind the oldest undecided fragment.
#[derive(Default)]
struct Selector {
    defrag: Defrag,
    /// Frames not written yet, in order, with whether each is kept (`Err`: a
    /// fragment of the datagram named, not decided yet).
    queue: VecDeque<(Held, Result<bool, DatagramKey>)>,
    held_bytes: usize,
    /// Undecided datagrams: their first fragment's frame, and whether one of their
    /// frames already belongs to the subset.
    pending: HashMap<DatagramKey, (u64, bool)>,
}

impl Selector {
    fn is_idle(&self) -> bool {
        self.queue.is_empty()
    }

    fn push(&mut self, held: Held, keep: bool) {
        self.held_bytes += held.data.len();
        self.queue.push_back((held, Ok(keep)));
        self.bound();
    }

    /// One fragment; its datagram's bytes once complete, to be judged by the caller
    /// ([`Selector::want`], then [`Selector::complete`]).
    fn fragment(
        &mut self,
        key: DatagramKey,
        piece: Piece<'_>,
        number: u64,
        held: Held,
        direct: bool,
    ) -> Option<Vec<u8>> {
        let e = self.pending.entry(key).or_insert((number, false));
        e.1 |= direct;
        self.held_bytes += held.data.len();
        self.queue.push_back((held, Err(key)));
        let outcome = self.defrag.feed(key.0, key.1, key.2, piece, None, number);
        let payload = match outcome {
            defrag::Outcome::Pending => None,
            defrag::Outcome::Evicted { first_frame } => {
                // The datagram the reassembly gave up on is decided as it stands.
                let old = self
                    .pending
                    .iter()
                    .find(|(_, (first, _))| *first == first_frame)
                    .map(|(k, _)| *k);
                if let Some(k) = old {
                    self.complete(k);
                }
                None
            }
            defrag::Outcome::Complete(d) => match d.payload {
                Ok(p) => Some(p),
                Err(_) => {
                    self.complete(key);
                    None
                }
            },
        };
        self.bound();
        payload
    }

    /// The datagram `key` belongs to the subset.
    fn want(&mut self, key: DatagramKey) {
        if let Some(e) = self.pending.get_mut(&key) {
            e.1 = true;
        }
    }

    /// Decides the frames of datagram `key`: kept when any of them belongs.
    fn complete(&mut self, key: DatagramKey) {
        let Some((_, keep)) = self.pending.remove(&key) else {
            return;
        };
        for (_, state) in self.queue.iter_mut() {
            if *state == Err(key) {
                *state = Ok(keep);
            }
        }
    }

    /// Keeps the frames held within [`MAX_HELD_BYTES`]: past it, the oldest
    /// waiting datagram is decided on what is known of it (its later fragments, if
    /// any come, are judged as a datagram of their own).
    fn bound(&mut self) {
        if self.held_bytes > MAX_HELD_BYTES {
            if let Some(key) = self.queue.iter().find_map(|(_, s)| s.err()) {
                self.complete(key);
            }
        }
    }

    /// The next frame to write, once decided; frames dropped are skipped.
    fn ready(&mut self) -> Option<Held> {
        while let Some((_, Ok(keep))) = self.queue.front() {
            let keep = *keep;
            let (held, _) = self.queue.pop_front()?;
            self.held_bytes -= held.data.len();
            if keep {
                return Some(held);
            }
        }
        None
    }

    /// The end of the capture: datagrams never completed are decided as they stand.
    fn finish(&mut self) {
        let keys: Vec<DatagramKey> = self.pending.keys().copied().collect();
        for k in keys {
            self.complete(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(number: u64) -> Held {
        Held {
            number,
            ns: number,
            data: vec![0; 100],
            wire_len: 100,
            link_type: LinkType(1),
        }
    }

    fn piece(offset: u32, more: bool) -> Piece<'static> {
        Piece {
            id: 9,
            offset,
            more,
            bytes: &[7; 8],
        }
    }

    const KEY: DatagramKey = (
        IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
        IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)),
        17,
        9,
    );

    fn drain(s: &mut Selector) -> Vec<u64> {
        std::iter::from_fn(|| s.ready()).map(|h| h.number).collect()
    }

    #[test]
    fn frames_wait_behind_an_undecided_datagram_and_keep_their_order() {
        for wanted in [true, false] {
            let mut s = Selector::default();
            assert!(s.fragment(KEY, piece(0, true), 1, held(1), false).is_none());
            s.push(held(2), true);
            s.push(held(3), false);
            assert!(drain(&mut s).is_empty(), "frame 2 waits for frame 1");
            let payload = s.fragment(KEY, piece(8, false), 4, held(4), false);
            assert_eq!(payload.map(|p| p.len()), Some(16));
            if wanted {
                s.want(KEY);
            }
            s.complete(KEY);
            let want: &[u64] = if wanted { &[1, 2, 4] } else { &[2] };
            assert_eq!(drain(&mut s), want);
            assert!(s.is_idle() && s.held_bytes == 0);
        }
    }

    #[test]
    fn a_fragment_that_belongs_keeps_its_whole_datagram_even_incomplete() {
        let mut s = Selector::default();
        s.fragment(KEY, piece(0, true), 1, held(1), true);
        s.push(held(2), false);
        s.finish();
        assert_eq!(drain(&mut s), [1]);
    }

    #[test]
    fn held_frames_are_bounded() {
        let mut s = Selector::default();
        s.fragment(KEY, piece(0, true), 1, held(1), false);
        let per = held(0).data.len();
        for n in 0..(MAX_HELD_BYTES / per + 2) as u64 {
            s.push(held(n + 2), true);
            drain(&mut s);
            assert!(s.held_bytes <= MAX_HELD_BYTES + per);
        }
        assert!(s.pending.is_empty(), "the datagram was decided");
    }
}
