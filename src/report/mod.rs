//! The report: a versioned JSON document and a terminal view, built from finished
//! analyses. No analysis happens here. Everything is sorted, and no clock is read,
//! so the same input gives a byte-identical report.

pub mod csv;
pub mod escape;
pub mod html;
pub mod live;
pub mod notices;
pub mod subset;
pub mod table;
pub mod zeek;

use crate::attribute::{Attribution, Attributions, ByIp, SourceInfo};
use crate::capture::{Compression, Format, LinkType};
use crate::flow::Conversation;
use crate::model::{Anomaly, Endpoint, Scope, Timestamp, Transport};
use crate::pipeline::identify::ReassemblySummary;
use crate::pipeline::records::ProxyTarget;
use crate::pipeline::spool::Spool;
use crate::pipeline::CaptureAnalysis;
use crate::services::{self, NameEvidence, Service, ServiceList, Target};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The report's schema name. `/2`: every attribution answer (asn, country, provider,
/// region) carries `source`, `confidence`, `basis`, `evidence` and `reason`, `null`
/// when not known.
pub(crate) const SCHEMA: &str = "whohosts.report/2";

/// Earlier schema names whose reports are still read (by `letter`): `/1` differs only
/// in leaving some of an answer's common fields out instead of writing `null`.
pub(crate) const SCHEMAS_READ: [&str; 2] = [SCHEMA, "whohosts.report/1"];

/// The report borrows the analyses' spooled records and conversations and writes
/// them as it goes, so that a large capture's report never sits in memory.
pub struct Report<'a> {
    pub schema: &'static str,
    pub tool: Tool,
    pub captures: Vec<CaptureReport>,
    /// Targets the services were focused on (`--target`), empty for all.
    pub targets: Vec<String>,
    pub services: Services<'a>,
    /// DNS, TLS, HTTP and QUIC records of every capture, in capture order.
    pub dns: Vec<&'a Spool>,
    pub tls: Vec<&'a Spool>,
    pub http: Vec<&'a Spool>,
    pub quic: Vec<&'a Spool>,
    /// SOCKS and HTTP proxy handshakes of every capture (written only when any).
    pub proxies: Vec<&'a Spool>,
    /// The server addresses clients named by number through proxies, each with its
    /// attribution (written only when any).
    pub proxy_targets: ProxyTargets<'a>,
    /// NetBIOS name service messages of every capture (written only when any).
    pub nbns: Vec<&'a Spool>,
    /// The objects HTTP carried (`analyze --objects` or `--extract`), by id.
    pub objects: Option<Vec<crate::content::Object>>,
    /// Where `--extract` wrote them.
    pub extract: Option<crate::content::ExtractSummary>,
    /// The TLS connections a key log was tried on (`--keylog`, or secrets in the
    /// capture): decrypted, or why not.
    pub tls_decryption: Option<Vec<crate::content::TlsSession>>,
    pub conversations: Conversations<'a>,
    pub endpoints: Endpoints<'a>,
    /// The databases, feeds and directory attribution used, with versions and
    /// hashes, so that it can be reproduced (omitted when empty).
    pub sources: Vec<SourceInfo>,
    /// Where the `--online` answers (raw RDAP and DNS) are kept, with the hash of
    /// their index (omitted offline).
    pub online: Option<crate::attribute::online::OnlineSummary>,
}

/// The services, read back one at a time from their encoded list
/// ([`ServiceList`]), each with its endpoints' attribution.
pub struct Services<'a> {
    list: ServiceList,
    by_ip: Option<&'a ByIp>,
}

impl<'a> Services<'a> {
    /// Every service, in rank order (internet ones first).
    pub fn iter(&self) -> impl Iterator<Item = ServiceReport<'a>> + '_ {
        self.wrap(self.list.iter())
    }

    /// The services on the internet, in rank order.
    pub fn internet(&self) -> impl Iterator<Item = ServiceReport<'a>> + '_ {
        self.wrap(self.list.internet_iter())
    }

    /// The others (local, broadcast, multicast, special-purpose), in rank order.
    pub fn local(&self) -> impl Iterator<Item = ServiceReport<'a>> + '_ {
        self.wrap(self.list.local_iter())
    }

    /// Every service, in rank order, as two walks of about equal size, the second
    /// going on where the first ends.
    fn halves(&self) -> [impl Iterator<Item = ServiceReport<'a>> + '_; 2] {
        self.list.halves().map(|half| self.wrap(half))
    }

    fn wrap<'s>(
        &'s self,
        services: impl Iterator<Item = Service> + 's,
    ) -> impl Iterator<Item = ServiceReport<'a>> + 's {
        let by_ip = self.by_ip;
        services.map(move |service| ServiceReport { service, by_ip })
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// How many are on the internet.
    pub fn internet_len(&self) -> usize {
        self.list.internet()
    }

    /// Why a walk over the services ended early (their temporary file could not
    /// be read back). Every writer checks it, so that a list cut short is an error,
    /// never a shorter report.
    pub fn failure(&self) -> Option<String> {
        self.list.failure()
    }
}

/// A service with its endpoints' attribution, looked up when shown: a list per
/// service would be a large part of the report's memory when services are many.
pub struct ServiceReport<'a> {
    pub service: Service,
    by_ip: Option<&'a ByIp>,
}

impl<'a> ServiceReport<'a> {
    /// The attribution of each address of the service's endpoints, once per address
    /// (a server on several ports has one), in the order its endpoints come; an
    /// address without attribution has no entry.
    pub fn attribution(&self) -> impl Iterator<Item = EndpointAttribution<'a>> + '_ {
        services::by_address(&self.service.endpoints).filter_map(|same| {
            let ip = same.first()?.ip;
            Some(EndpointAttribution {
                ip,
                attribution: self.attribution_of(&ip)?,
            })
        })
    }

    /// The attribution of one address (of this service's or any other).
    pub fn attribution_of(&self, ip: &IpAddr) -> Option<&'a Attribution> {
        self.by_ip?.get(ip)
    }

    /// The attribution of the service's first attributed address: the provider its
    /// traffic is counted under.
    pub fn first_attribution(&self) -> Option<&'a Attribution> {
        self.attribution().next().map(|a| a.attribution)
    }
}

impl Serialize for ServiceReport<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct List<'b, 'a>(&'b ServiceReport<'a>);
        impl Serialize for List<'_, '_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.attribution())
            }
        }
        #[derive(Serialize)]
        struct View<'b, 'a> {
            #[serde(flatten)]
            service: &'b Service,
            /// Attribution of each address of `endpoints`, once per address.
            #[serde(skip_serializing_if = "Option::is_none")]
            attribution: Option<List<'b, 'a>>,
        }
        View {
            service: &self.service,
            attribution: self.attribution().next().map(|_| List(self)),
        }
        .serialize(s)
    }
}

/// The attribution of one address.
#[derive(Serialize, Clone)]
pub struct EndpointAttribution<'a> {
    pub ip: IpAddr,
    #[serde(flatten)]
    pub attribution: &'a Attribution,
}

#[derive(Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Serialize)]
pub struct CaptureReport {
    pub index: u32,
    pub path: String,
    pub format: Format,
    pub compression: Compression,
    pub link_types: Vec<LinkType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sections: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interfaces: Option<u32>,
    pub packets: u64,
    pub bytes: u64,
    pub file_size: u64,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    /// `null` only with `analyze --no-hash`: such a report cannot serve as evidence.
    pub sha256: Option<String>,
    /// SM3 (GB/T 32905-2016), when asked for with `analyze --sm3`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sm3: Option<String>,
    /// What TCP stream reassembly met: retransmissions, conflicting overlaps,
    /// out-of-order segments, budget hits.
    pub reassembly: ReassemblySummary,
    pub anomalies: Vec<Anomaly>,
    /// Anomalies beyond the kept ones, counted per code.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub anomalies_suppressed: BTreeMap<&'static str, u64>,
}

#[derive(Serialize)]
pub struct ConversationReport {
    pub capture: u32,
    pub transport: Transport,
    pub a: Endpoint,
    pub b: Endpoint,
    pub frames_a_to_b: u64,
    pub bytes_a_to_b: u64,
    pub frames_b_to_a: u64,
    pub bytes_b_to_a: u64,
    pub frames: u64,
    pub bytes: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Seconds from first to last frame.
    pub duration: f64,
    pub first_frame: u64,
    #[serde(skip_serializing_if = "crate::model::is_zero")]
    pub fragment_frames: u64,
}

#[derive(Serialize)]
pub struct EndpointReport<'a> {
    pub capture: u32,
    pub ip: IpAddr,
    pub frames: u64,
    pub bytes: u64,
    pub tx_frames: u64,
    pub tx_bytes: u64,
    pub rx_frames: u64,
    pub rx_bytes: u64,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<&'a Attribution>,
}

impl ConversationReport {
    /// Appends what serde_json writes for the conversation (debug builds check it),
    /// without its escaping, which none of the conversation's strings need.
    fn write_json(&self, out: &mut Vec<u8>) {
        use crate::pipeline::json;
        let start = out.len();
        out.push(b'{');
        json::key(out, true, "capture");
        json::u64(out, self.capture.into());
        json::key(out, false, "transport");
        json::transport(out, self.transport);
        json::key(out, false, "a");
        json::endpoint(out, self.a);
        json::key(out, false, "b");
        json::endpoint(out, self.b);
        for (name, n) in [
            ("frames_a_to_b", self.frames_a_to_b),
            ("bytes_a_to_b", self.bytes_a_to_b),
            ("frames_b_to_a", self.frames_b_to_a),
            ("bytes_b_to_a", self.bytes_b_to_a),
            ("frames", self.frames),
            ("bytes", self.bytes),
        ] {
            json::key(out, false, name);
            json::u64(out, n);
        }
        json::key(out, false, "first_seen");
        json::timestamp(out, self.first_seen);
        json::key(out, false, "last_seen");
        json::timestamp(out, self.last_seen);
        json::key(out, false, "duration");
        json::f64(out, self.duration);
        json::key(out, false, "first_frame");
        json::u64(out, self.first_frame);
        if !crate::model::is_zero(&self.fragment_frames) {
            json::key(out, false, "fragment_frames");
            json::u64(out, self.fragment_frames);
        }
        out.push(b'}');
        debug_assert_eq!(
            String::from_utf8_lossy(&out[start..]),
            String::from_utf8_lossy(&serde_json::to_vec(self).unwrap_or_default()),
            "a conversation written as serde_json would not"
        );
    }

    fn from_conv(capture: u32, c: &Conversation, first_seen: Timestamp) -> Self {
        let nanos = c.last_seen.nanos_since(first_seen);
        ConversationReport {
            capture,
            transport: c.transport,
            a: c.a,
            b: c.b,
            frames_a_to_b: c.a_to_b.frames,
            bytes_a_to_b: c.a_to_b.bytes,
            frames_b_to_a: c.b_to_a.frames,
            bytes_b_to_a: c.b_to_a.bytes,
            frames: c.a_to_b.frames + c.b_to_a.frames,
            bytes: c.a_to_b.bytes + c.b_to_a.bytes,
            first_seen,
            last_seen: c.last_seen,
            duration: nanos as f64 / 1e9,
            first_frame: c.first.frame,
            fragment_frames: c.fragment_frames,
        }
    }
}

/// The conversations of all captures, in report order (capture, then TCP, UDP, IP,
/// each by first frame), produced on demand.
pub struct Conversations<'a>(&'a [CaptureAnalysis]);

impl<'a> Conversations<'a> {
    pub fn iter(&self) -> impl Iterator<Item = ConversationReport> + 'a {
        let analyses = self.0;
        analyses.iter().flat_map(|a| {
            let list = a.tables.conversations();
            let of = move |t: Transport| list.transport().filter(move |(_, c)| c.transport == t);
            of(Transport::Tcp)
                .chain(of(Transport::Udp))
                .chain(list.ip())
                .map(move |(id, c)| {
                    let first = a.tables.first_seen(id, &c);
                    ConversationReport::from_conv(a.index, &c, first)
                })
        })
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(|a| a.tables.conversations().len()).sum()
    }

    /// Why a walk over the conversations ended early (their temporary file could
    /// not be read), naming the capture. Every writer checks it, so that a list cut
    /// short is an error, never a shorter report.
    pub fn failure(&self) -> Option<String> {
        self.0.iter().find_map(|a| {
            a.tables
                .conversations()
                .failure()
                .map(|f| format!("{}: {f}", a.path.display()))
        })
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Serialises the conversations of `analyses` as the report's JSON array into an
/// unnamed temporary file, for [`Report::write_json_with`] to copy in place: the
/// largest part of the report, which needs only the finished tables, so that it can
/// be made on a thread of its own while the services are built and the addresses
/// attributed.
pub fn conversations_json(analyses: &[CaptureAnalysis]) -> std::io::Result<std::fs::File> {
    serialise_conversations(&Conversations(analyses))
}

/// The JSON array [`Conversations`] serialises to, written by
/// [`ConversationReport::write_json`], a buffer at a time.
fn serialise_conversations(c: &Conversations<'_>) -> std::io::Result<std::fs::File> {
    use std::io::Write;
    const WRITE: usize = 256 << 10;
    let mut f = tempfile::tempfile()?;
    let mut buf = Vec::with_capacity(WRITE + (4 << 10));
    buf.push(b'[');
    for (i, conv) in c.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        conv.write_json(&mut buf);
        if buf.len() >= WRITE {
            f.write_all(&buf)?;
            buf.clear();
        }
    }
    buf.push(b']');
    f.write_all(&buf)?;
    if let Some(failure) = c.failure() {
        return Err(std::io::Error::other(failure));
    }
    Ok(f)
}

/// The endpoints of all captures, in report order (capture, then address), each
/// with its attribution, produced on demand from the tables (nothing is held per
/// endpoint beside them).
pub struct Endpoints<'a> {
    analyses: &'a [CaptureAnalysis],
    by_ip: Option<&'a ByIp>,
}

impl<'a> Endpoints<'a> {
    pub fn iter(&self) -> impl Iterator<Item = EndpointReport<'a>> + 'a {
        let by_ip = self.by_ip;
        self.analyses.iter().flat_map(move |a| {
            a.tables.endpoints().map(move |(ip, e)| EndpointReport {
                capture: a.index,
                ip,
                frames: e.tx.frames + e.rx.frames,
                bytes: e.tx.bytes + e.rx.bytes,
                tx_frames: e.tx.frames,
                tx_bytes: e.tx.bytes,
                rx_frames: e.rx.frames,
                rx_bytes: e.rx.bytes,
                first_seen: e.first_seen,
                last_seen: e.last_seen,
                attribution: by_ip.and_then(|b| b.get(&ip)),
            })
        })
    }

    pub fn len(&self) -> usize {
        self.analyses
            .iter()
            .map(|a| a.tables.endpoint_count())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Serialize for Endpoints<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// The addresses clients named through proxies, of all captures, in report order
/// (capture, then address, port and proxy), each with its attribution.
pub struct ProxyTargets<'a> {
    analyses: &'a [CaptureAnalysis],
    by_ip: Option<&'a ByIp>,
}

impl<'a> ProxyTargets<'a> {
    pub fn iter(&self) -> impl Iterator<Item = ProxyTargetReport<'a>> + 'a {
        let by_ip = self.by_ip;
        self.analyses.iter().flat_map(move |a| {
            a.proxy_targets.iter().map(move |target| {
                let (scope, scope_reason) = crate::model::address_scope(target.ip);
                ProxyTargetReport {
                    target,
                    scope,
                    scope_reason,
                    attribution: by_ip.and_then(|b| b.get(&target.ip)),
                }
            })
        })
    }

    pub fn len(&self) -> usize {
        self.analyses.iter().map(|a| a.proxy_targets.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Serialize for ProxyTargets<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// A proxy target with where its address sits and its attribution.
#[derive(Serialize)]
pub struct ProxyTargetReport<'a> {
    #[serde(flatten)]
    pub target: &'a ProxyTarget,
    /// `internet`, or why no provider can host the address (as a service's).
    pub scope: Scope,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope_reason: Option<&'static str>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<&'a Attribution>,
}

/// The proxies that let a client through to a server it named by address, and the
/// SOCKS5 UDP relays that carried its datagrams: the targets granted (a PROXY
/// header's target never is: its sender carries nothing for the client).
fn carriers(analyses: &[CaptureAnalysis]) -> services::Carriers {
    analyses
        .iter()
        .flat_map(|a| &a.proxy_targets)
        .filter(|t| t.granted > 0)
        .filter_map(|t| Some((t.proxy.ip, t.proxy.port?, t.transport)))
        .collect()
}

impl<'a> Report<'a> {
    pub fn build(analyses: &'a [CaptureAnalysis]) -> Report<'a> {
        Self::build_for(analyses, &[], &[], None)
    }

    /// Builds the report; `targets` (with their text as given) focus the services;
    /// `attributions` (when attribution ran) are attached to endpoints and services.
    pub fn build_for(
        analyses: &'a [CaptureAnalysis],
        targets: &[Target],
        target_text: &[String],
        attributions: Option<&'a Attributions>,
    ) -> Report<'a> {
        let names = analyses.iter().flat_map(|a| a.names.iter());
        Self::build_named(analyses, names, targets, target_text, attributions)
    }

    /// Like [`Report::build_for`], with the name evidence given apart: a caller that
    /// has taken it out of the analyses can free it once the services are built
    /// (the report keeps what it needs of it in the services).
    pub fn build_named<'n>(
        analyses: &'a [CaptureAnalysis],
        names: impl IntoIterator<Item = &'n NameEvidence>,
        targets: &[Target],
        target_text: &[String],
        attributions: Option<&'a Attributions>,
    ) -> Report<'a> {
        let all = services::build(
            || service_conversations(analyses),
            names,
            targets,
            &carriers(analyses),
            services::MEMORY_LIMIT,
        );
        let services = Services {
            list: all,
            by_ip: attributions.map(|a| &a.by_ip),
        };
        let captures = analyses
            .iter()
            .map(|a| {
                let is_ng = a.format == Format::Pcapng;
                CaptureReport {
                    index: a.index,
                    path: a.path.to_string_lossy().into_owned(),
                    format: a.format,
                    compression: a.compression,
                    link_types: a.link_types.clone(),
                    sections: is_ng.then_some(a.sections),
                    interfaces: is_ng.then_some(a.interfaces),
                    packets: a.packets,
                    bytes: a.bytes,
                    file_size: a.digests.size,
                    first_seen: a.first_seen,
                    last_seen: a.last_seen,
                    sha256: a.digests.sha256.clone(),
                    sm3: a.digests.sm3.clone(),
                    reassembly: a.reassembly,
                    anomalies: a.anomalies.kept.clone(),
                    anomalies_suppressed: a.anomalies.suppressed.clone(),
                }
            })
            .collect();
        let endpoints = Endpoints {
            analyses,
            by_ip: attributions.map(|a| &a.by_ip),
        };
        Report {
            schema: SCHEMA,
            tool: Tool {
                name: "whohosts",
                version: env!("CARGO_PKG_VERSION"),
            },
            captures,
            targets: target_text.to_vec(),
            services,
            dns: analyses.iter().map(|a| &a.records.dns).collect(),
            tls: analyses.iter().map(|a| &a.records.tls).collect(),
            http: analyses.iter().map(|a| &a.records.http).collect(),
            quic: analyses.iter().map(|a| &a.records.quic).collect(),
            proxies: analyses.iter().map(|a| &a.records.proxy).collect(),
            proxy_targets: ProxyTargets {
                analyses,
                by_ip: attributions.map(|a| &a.by_ip),
            },
            nbns: analyses.iter().map(|a| &a.records.nbns).collect(),
            objects: None,
            extract: None,
            tls_decryption: None,
            conversations: Conversations(analyses),
            endpoints,
            sources: attributions.map(|a| a.sources.clone()).unwrap_or_default(),
            online: attributions.and_then(|a| a.online.clone()),
        }
    }

    /// Attaches the attributions to a report built without them: the services
    /// can be built (with their working memory) before the addresses are
    /// attributed, and the name evidence freed once both are done.
    pub fn attach(&mut self, attributions: &'a Attributions) {
        self.services.by_ip = Some(&attributions.by_ip);
        self.endpoints.by_ip = Some(&attributions.by_ip);
        self.proxy_targets.by_ip = Some(&attributions.by_ip);
        self.sources = attributions.sources.clone();
        self.online = attributions.online.clone();
    }

    /// Writes the JSON document (compact, one line, then a newline) as it is
    /// serialised, without building it in memory first; the records are copied from
    /// their spools.
    pub fn write_json<W: std::io::Write>(&self, w: W) -> std::io::Result<()> {
        self.write_json_with(w, None)
    }

    /// [`Report::write_json`], with the conversations already serialised by
    /// [`conversations_json`] when given (from these analyses), else serialised on
    /// a second thread while the rest is written.
    pub fn write_json_with<W: std::io::Write>(
        &self,
        w: W,
        conversations: Option<std::io::Result<std::fs::File>>,
    ) -> std::io::Result<()> {
        use std::io::{Seek, Write};
        fn key(w: &mut dyn Write, first: bool, name: &str) -> std::io::Result<()> {
            if !first {
                w.write_all(b",")?;
            }
            write!(w, "\"{name}\":")
        }
        fn field<T: Serialize + ?Sized>(
            w: &mut dyn Write,
            first: bool,
            name: &str,
            value: &T,
        ) -> std::io::Result<()> {
            key(w, first, name)?;
            // Serialised through a buffer of a known type, whose writes inline,
            // rather than a call through `w` for every token.
            let mut buffered = std::io::BufWriter::with_capacity(64 << 10, w);
            serde_json::to_writer(&mut buffered, value).map_err(std::io::Error::other)?;
            buffered.flush()
        }
        // Generic over the writer, not through `dyn Write`: copying a spool into a
        // file or the standard output is then the kernel's work.
        fn spools<W: Write>(
            w: &mut std::io::BufWriter<W>,
            name: &str,
            spools: &[&Spool],
        ) -> std::io::Result<()> {
            key(w, false, name)?;
            w.write_all(b"[")?;
            let mut any = false;
            for s in spools.iter().filter(|s| !s.is_empty()) {
                if any {
                    w.write_all(b",")?;
                }
                s.copy_to(w)?;
                any = true;
            }
            w.write_all(b"]")
        }
        // The conversations, the largest part, are serialised on a second thread into
        // a temporary file while the rest is written (unless they were already), then
        // copied in place.
        std::thread::scope(|scope| {
            let conversations = match conversations {
                Some(done) => Ok(done),
                None => Err(scope.spawn(|| serialise_conversations(&self.conversations))),
            };
            let w = &mut std::io::BufWriter::with_capacity(1 << 20, w);
            w.write_all(b"{")?;
            field(w, true, "schema", self.schema)?;
            field(w, false, "tool", &self.tool)?;
            field(w, false, "captures", &self.captures)?;
            field(w, false, "targets", &self.targets)?;
            key(w, false, "services")?;
            self.write_services(scope, w)?;
            spools(w, "dns", &self.dns)?;
            spools(w, "tls", &self.tls)?;
            spools(w, "http", &self.http)?;
            spools(w, "quic", &self.quic)?;
            if self.proxies.iter().any(|s| !s.is_empty()) {
                spools(w, "proxies", &self.proxies)?;
            }
            if !self.proxy_targets.is_empty() {
                field(w, false, "proxy_targets", &self.proxy_targets)?;
            }
            if self.nbns.iter().any(|s| !s.is_empty()) {
                spools(w, "nbns", &self.nbns)?;
            }
            if let Some(objects) = &self.objects {
                field(w, false, "objects", objects)?;
            }
            if let Some(extract) = &self.extract {
                field(w, false, "extract", extract)?;
            }
            if let Some(tls) = &self.tls_decryption {
                field(w, false, "tls_decryption", tls)?;
            }
            // Given ready, or the thread's.
            let mut file = match conversations {
                Ok(done) => done?,
                Err(thread) => thread
                    .join()
                    .map_err(|_| std::io::Error::other("serialising the conversations failed"))??,
            };
            key(w, false, "conversations")?;
            file.seek(std::io::SeekFrom::Start(0))?;
            crate::pipeline::spool::copy_file(&file, w)?;
            field(w, false, "endpoints", &self.endpoints)?;
            if !self.sources.is_empty() {
                field(w, false, "sources", &self.sources)?;
            }
            if let Some(o) = &self.online {
                field(w, false, "online", o)?;
            }
            w.write_all(b"}\n")?;
            w.flush()
        })
    }

    /// The services' JSON list. The second half is serialised on a thread of its own
    /// into a temporary file while this one writes the first, then copied in place;
    /// without a temporary file, the whole list is written here.
    fn write_services<'scope, 'env, W: std::io::Write>(
        &'env self,
        scope: &'scope std::thread::Scope<'scope, 'env>,
        w: &mut std::io::BufWriter<W>,
    ) -> std::io::Result<()> {
        use std::io::{Seek, Write};
        fn elements(
            w: &mut impl Write,
            services: impl Iterator<Item = impl Serialize>,
        ) -> std::io::Result<bool> {
            let mut any = false;
            for s in services {
                if any {
                    w.write_all(b",")?;
                }
                serde_json::to_writer(&mut *w, &s).map_err(std::io::Error::other)?;
                any = true;
            }
            Ok(any)
        }
        let [first, second] = self.services.halves();
        let second = match tempfile::tempfile() {
            Ok(f) => Ok(scope.spawn(move || {
                let mut out = std::io::BufWriter::with_capacity(256 << 10, f);
                let any = elements(&mut out, second)?;
                let mut f = out.into_inner().map_err(|e| e.into_error())?;
                f.seek(std::io::SeekFrom::Start(0))?;
                Ok::<_, std::io::Error>((any, f))
            })),
            Err(_) => Err(second),
        };
        w.write_all(b"[")?;
        let any = elements(w, first)?;
        match second {
            Ok(thread) => {
                let (more, file) = thread
                    .join()
                    .map_err(|_| std::io::Error::other("serialising the services failed"))??;
                if any && more {
                    w.write_all(b",")?;
                }
                crate::pipeline::spool::copy_file(&file, w)?;
            }
            Err(second) => {
                let mut rest = second.peekable();
                if any && rest.peek().is_some() {
                    w.write_all(b",")?;
                }
                elements(w, rest)?;
            }
        }
        w.write_all(b"]")?;
        match self.services.failure() {
            Some(f) => Err(std::io::Error::other(f)),
            None => Ok(()),
        }
    }

    /// Why a walk over the conversations or the services ended early (a temporary
    /// file that could not be read back): checked after every writer, so that a
    /// list cut short is an error, never a shorter report.
    pub fn failure(&self) -> Option<String> {
        self.conversations
            .failure()
            .or_else(|| self.services.failure())
    }

    pub fn has_anomalies(&self) -> bool {
        self.captures
            .iter()
            .any(|c| !c.anomalies.is_empty() || !c.anomalies_suppressed.is_empty())
    }
}

/// The TCP and UDP conversations of all captures, each with its capture's index and
/// its first frame's time: what the services are built from ([`services::build`]).
pub fn service_conversations(
    analyses: &[CaptureAnalysis],
) -> impl Iterator<Item = (u32, Timestamp, Conversation)> + '_ {
    analyses.iter().flat_map(|a| {
        a.tables
            .conversations()
            .transport()
            .map(move |(id, c)| (a.index, a.tables.first_seen(id, &c), c))
    })
}

/// Writes a file atomically ([`crate::atomic`]): a temporary file beside it, synced,
/// then renamed over the destination, so a reader never sees a half-written report.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Like [`write_atomic`], with the content produced by `write` as it goes.
pub fn write_atomic_with(
    path: &std::path::Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    write_atomic_file_with(path, |f| {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        write(&mut w)?;
        std::io::Write::flush(&mut w)
    })
}

/// [`write_atomic_with`], writing to the file itself, unbuffered (for
/// [`Report::write_json_with`], which buffers on its own and lets the kernel copy
/// its temporary files in).
pub fn write_atomic_file_with(
    path: &std::path::Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    // A device or a pipe (`/dev/null`, `/dev/stdout`, a FIFO) is written to as it is:
    // renaming over it would replace the device node with a regular file.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
        return write(&mut f);
    }
    crate::atomic::replace_with_file(path, write).map_err(std::io::Error::from)
}
