//! Court-exhibit subsets: the frames of the targeted services, and the DNS exchanges
//! that named them, copied in order into a new pcapng. Each section's comments name
//! its source capture and that capture's SHA-256; each packet's comment gives its
//! frame number in the source, so that anyone can find it in the original with
//! Wireshark. The originals are only read.
//!
//! A frame belongs to a service when it matches the service's display filter
//! (`ip.addr == A && tcp.port == P`, for each endpoint), decoded as the analysis
//! decodes it. IP fragments after the first carry no port and are not copied; the
//! DNS frames are those that the report cites as binding a name of the service.

use super::ServiceReport;
use crate::capture::{self, write as pcapng, LinkType};
use crate::decode::{self, L4};
use crate::hash::{Algorithms, Digests, MultiHasher};
use crate::model::Transport;
use std::collections::{BTreeMap, BTreeSet};
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
}

type EndpointKey = (IpAddr, u16, Transport);

/// Writes the subset of `sources` for `services` into `out` (a new file, never
/// replacing one; see [`crate::atomic`]).
pub fn write(
    out: &Path,
    sources: &[Source],
    services: &[ServiceReport],
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
    services: &[ServiceReport],
    targets: &[String],
) -> Result<BTreeMap<u32, u64>, SubsetError> {
    let shown_out = "the subset".to_string();
    let endpoints: BTreeSet<EndpointKey> = services
        .iter()
        .flat_map(|s| s.service.endpoints.iter())
        .map(|e| (e.ip, e.port, e.transport))
        .collect();
    // DNS frames that bound a name of a service, by capture.
    let mut dns: BTreeMap<u32, BTreeSet<u64>> = BTreeMap::new();
    for s in services {
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
    let filters: Vec<&str> = services
        .iter()
        .map(|s| s.service.wireshark_filter.as_str())
        .collect();
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
        while let Some(frame) = opened.reader.next_frame() {
            let keep = wanted_dns.is_some_and(|d| d.contains(&frame.number))
                || matches_endpoint(frame.link_type, frame.data, &endpoints);
            if !keep {
                continue;
            }
            let next = interfaces.len() as u32;
            let id = *interfaces.entry(frame.link_type).or_insert_with(|| {
                pcapng::interface_description(
                    &mut block,
                    &pcapng::Interface {
                        name: format!("{} ({})", src.shown, frame.link_type.name()),
                        description: None,
                        link_type: frame.link_type,
                        snaplen: 0,
                        filter: None,
                        os: None,
                        addresses: Vec::new(),
                    },
                );
                next
            });
            let ts = frame.ts;
            let ns = u64::try_from(ts.as_nanos()).unwrap_or(0);
            pcapng::enhanced_packet_commented(
                &mut block,
                id,
                ns,
                frame.data,
                frame.wire_len,
                &format!("frame {} of {}", frame.number, src.shown),
            );
            n += 1;
            if block.len() >= 1 << 16 {
                file.write_all(&block).map_err(write_err)?;
                block.clear();
            }
        }
        file.write_all(&block).map_err(write_err)?;
        block.clear();
        counts.insert(src.index, n);
    }
    Ok(counts)
}
/// Whether a frame carries an address and port of one of the endpoints, as
/// `ip.addr == A && tcp.port == P` would say.
fn matches_endpoint(link: LinkType, data: &[u8], endpoints: &BTreeSet<EndpointKey>) -> bool {
    let packet = decode::decode(link, data);
    let Some(ip) = packet.ip else {
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
