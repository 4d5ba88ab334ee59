//! What a letter is drafted from besides the claimant profile: the analysis report
//! (`whohosts.report/2`, or `/1` before it) and, optionally, the case directory (`case.json` and its newest
//! manifest).
//!
//! Both are read with structs of their own that ignore fields they do not know (the
//! report keeps growing) and treat every field a letter can do without as optional.
//! Contract: a file that is not JSON, or not a whohosts report, is an [`InputError`]
//! naming the file and what was expected; nothing here panics on input.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a whohosts report: {message}")]
    Report { path: String, message: String },
    #[error("{path}: expected schema {}, found {found:?}", crate::report::SCHEMA)]
    Schema { path: String, found: String },
    #[error("{path}: not a case directory: {message}")]
    Case { path: String, message: String },
}

/// A field the report always writes, possibly as `null`: absent is an error, not
/// `None` (serde would otherwise read a renamed `Option` field as absent).
fn nullable<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d)
}

/// A list read at its own length: serde grows a list as it reads it, to room for
/// four items at least, and a large report holds hundreds of thousands of lists of
/// one item (a service's endpoint, its attribution).
fn compact<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    let mut v = Vec::<T>::deserialize(d)?;
    v.shrink_to_fit();
    Ok(v)
}

// The views below follow the report's types field by field (`crate::report`,
// `crate::services`, `crate::attribute`, `crate::pipeline::records`): a field the
// report always writes has no default, so a renamed or dropped field is an error
// naming it; only fields the report omits when empty (`skip_serializing_if`) have
// one. `tests/letter.rs` checks every field of these views against a real report.

/// The parts of a report a letter uses.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Report {
    pub schema: String,
    pub captures: Vec<Capture>,
    pub targets: Vec<String>,
    pub services: Vec<Service>,
    /// HTTP requests and responses (the exact location of downloaded content).
    pub http: Vec<HttpRecord>,
    /// TLS handshakes (the name an encrypted session was opened to).
    pub tls: Vec<TlsRecord>,
    /// DNS messages (which frames tied a name to an address).
    pub dns: Vec<DnsRecord>,
    /// QUIC Initial packets with their TLS ClientHello (the name an encrypted QUIC
    /// session was opened to).
    pub quic: Vec<QuicRecord>,
    /// Proxy handshakes (which connections a proxy target's traffic went through);
    /// absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proxies: Vec<ProxyRecord>,
    /// Servers the client named by address through a proxy; absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proxy_targets: Vec<ProxyTarget>,
    pub conversations: Vec<Conversation>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Capture {
    pub index: u32,
    pub path: String,
    #[serde(deserialize_with = "nullable")]
    pub sha256: Option<String>,
    /// Present when `analyze --sm3` computed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sm3: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub first_seen: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub last_seen: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Service {
    pub label: String,
    #[serde(deserialize_with = "compact")]
    pub hostnames: Vec<Hostname>,
    #[serde(deserialize_with = "compact")]
    pub endpoints: Vec<Endpoint>,
    /// Attribution per server address (omitted when attribution did not run).
    #[serde(
        default,
        deserialize_with = "compact",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub attribution: Vec<AddressAttribution>,
}

/// What the report says about one address.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct AddressAttribution {
    pub ip: String,
    pub provider: ProviderAttribution,
    pub region: RegionAttribution,
    pub country: CountryAttribution,
    /// What the reader must weigh (data far from the capture's time).
    #[serde(
        default,
        deserialize_with = "compact",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub notes: Vec<String>,
    /// The RDAP record of the address block (`analyze --online`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdap: Option<RdapRecord>,
    /// Abuse contacts read from it, best first (the report's own type).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub abuse_contacts: Vec<crate::attribute::rdap::AbuseContact>,
}

/// What a report says about an RDAP record.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct RdapRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    pub server: String,
    pub url: String,
    pub time_utc: String,
}

/// An abuse contact of an RDAP record (the report's own type).
pub type AbuseContact = crate::attribute::rdap::AbuseContact;

impl Service {
    /// The provider and region attributed to an endpoint.
    pub(crate) fn attribution_of<'a>(
        &'a self,
        e: &'a Endpoint,
    ) -> (
        Option<&'a ProviderAttribution>,
        Option<&'a RegionAttribution>,
    ) {
        let entry = self.attribution_entry(e);
        (entry.map(|a| &a.provider), entry.map(|a| &a.region))
    }

    /// The attribution entry of an endpoint's address, when the report has one.
    pub(crate) fn attribution_entry(&self, e: &Endpoint) -> Option<&AddressAttribution> {
        self.attribution.iter().find(|a| a.ip == e.ip)
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Hostname {
    pub name: String,
    pub strength: String,
    /// `dns_answer`, `dns_cname`, `tls_sni`, `http_host`, `quic_sni`, `tls_cert`, ...
    #[serde(deserialize_with = "compact")]
    pub sources: Vec<String>,
    /// The frames that bound the name to the service (DNS answers, hellos, requests).
    #[serde(deserialize_with = "compact")]
    pub frames: Vec<FrameId>,
}

#[derive(
    Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
pub struct FrameId {
    pub capture: u32,
    pub frame: u64,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Endpoint {
    pub ip: String,
    pub port: u16,
    pub transport: String,
    pub conversations: u64,
    pub frames_to_server: u64,
    pub bytes_to_server: u64,
    pub frames_to_client: u64,
    pub bytes_to_client: u64,
    #[serde(deserialize_with = "nullable")]
    pub first_seen: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub last_seen: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ProviderAttribution {
    #[serde(deserialize_with = "nullable")]
    pub id: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub name: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub service_model: Option<String>,
    /// A provenance object `{source, version, sha256}`.
    #[serde(deserialize_with = "nullable")]
    pub source: Option<serde_json::Value>,
    #[serde(deserialize_with = "nullable")]
    pub confidence: Option<String>,
    /// How the answer was reached, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// The feed service or tag that decided the service model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct RegionAttribution {
    #[serde(deserialize_with = "nullable")]
    pub id: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub city: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub confidence: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct CountryAttribution {
    #[serde(deserialize_with = "nullable")]
    pub code: Option<String>,
}

/// One end of a record or conversation.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, Hash)]
pub struct Peer {
    pub ip: String,
    #[serde(deserialize_with = "nullable")]
    pub port: Option<u16>,
}

/// Where a record was seen (`pipeline::records::Seen`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Seen {
    pub capture: u32,
    pub frame: u64,
    #[serde(
        default,
        deserialize_with = "compact",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub frames: Vec<u64>,
    pub ts: String,
    pub client: Peer,
    pub server: Peer,
    pub transport: String,
}

/// An HTTP request or response (`pipeline::records::HttpRecord`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct HttpRecord {
    #[serde(flatten)]
    pub seen: Seen,
    /// `request` or `response`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_length: Option<u64>,
}

/// A TLS handshake message (`pipeline::records::TlsRecord`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct TlsRecord {
    #[serde(flatten)]
    pub seen: Seen,
    /// `client_hello`, `server_hello` or `certificate`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
}

/// A QUIC Initial packet's ClientHello (`pipeline::records::QuicRecord`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct QuicRecord {
    #[serde(flatten)]
    pub seen: Seen,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
}

/// A proxy handshake (`pipeline::records::ProxyRecord`): the connection and what
/// the client asked for.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ProxyRecord {
    #[serde(flatten)]
    pub seen: Seen,
    pub protocol: String,
    /// `connect`, `udp` (a datagram through a SOCKS5 UDP relay), an HTTP method...
    pub command: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_address: Option<String>,
    pub target_port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted: Option<bool>,
}

/// A server named by address through a proxy (`report::ProxyTargetReport`), with
/// its attribution's fields when attribution ran.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ProxyTarget {
    pub capture: u32,
    pub ip: String,
    pub port: u16,
    pub proxy: Peer,
    #[serde(deserialize_with = "compact")]
    pub protocols: Vec<String>,
    pub requests: u64,
    pub granted: u64,
    pub refused: u64,
    pub first_seen: String,
    pub last_seen: String,
    #[serde(deserialize_with = "compact")]
    pub frames: Vec<u64>,
    /// `tcp`, or `udp` when `proxy` is a SOCKS5 UDP relay (reports written before
    /// the field existed followed no relay target to a letter: `tcp`).
    #[serde(default = "tcp")]
    pub transport: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderAttribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<RegionAttribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<CountryAttribution>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdap: Option<RdapRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub abuse_contacts: Vec<crate::attribute::rdap::AbuseContact>,
}

fn tcp() -> String {
    "tcp".into()
}

impl ProxyTarget {
    /// Whether `proxy` is a SOCKS5 UDP relay that carried the client's datagrams.
    pub(crate) fn is_relay(&self) -> bool {
        self.transport == "udp"
    }

    /// What the report says about the address, as a service's endpoint has it
    /// (`None` when attribution did not run).
    pub(crate) fn attribution(&self) -> Option<AddressAttribution> {
        Some(AddressAttribution {
            ip: self.ip.clone(),
            provider: self.provider.clone()?,
            region: self.region.clone().unwrap_or_default(),
            country: self.country.clone().unwrap_or_default(),
            notes: self.notes.clone(),
            rdap: self.rdap.clone(),
            abuse_contacts: self.abuse_contacts.clone(),
        })
    }
}

/// A DNS message (`pipeline::records::DnsRecord`); only where it was seen.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct DnsRecord {
    #[serde(flatten)]
    pub seen: Seen,
}

/// A conversation (`report::ConversationReport`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Conversation {
    pub capture: u32,
    pub transport: String,
    pub a: Peer,
    pub b: Peer,
    pub bytes_a_to_b: u64,
    pub bytes_b_to_a: u64,
    pub frames: u64,
    pub bytes: u64,
    pub first_frame: u64,
}

/// A provenance value as the report gives it, for a person: `name version`.
pub(crate) fn source_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => {
            let name = o.get("source").and_then(|s| s.as_str())?;
            Some(match o.get("version").and_then(|s| s.as_str()) {
                Some(ver) => format!("{name} {ver}"),
                None => name.to_string(),
            })
        }
        _ => None,
    }
}

impl Report {
    pub fn from_json(bytes: &[u8], origin: &str) -> Result<Report, InputError> {
        Report::parse(|| Ok(serde_json::Deserializer::from_slice(bytes)), origin)
    }

    /// Reads a report file as it is parsed: a large report is never held whole
    /// beside what the letters keep of it.
    pub fn load(path: &Path) -> Result<Report, InputError> {
        let origin = path.display().to_string();
        let open = || {
            std::fs::File::open(path)
                .map(|f| {
                    serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(
                        1 << 20,
                        f,
                    ))
                })
                .map_err(|source| InputError::Read {
                    path: origin.clone(),
                    source,
                })
        };
        Report::parse(open, &origin)
    }

    /// Parses a report from `open`. Another document is named as such (by its
    /// schema) rather than by the first field it lacks: when the report does not
    /// parse, `open` is read again for its schema alone.
    fn parse<'de, R: serde_json::de::Read<'de>>(
        open: impl Fn() -> Result<serde_json::Deserializer<R>, InputError>,
        origin: &str,
    ) -> Result<Report, InputError> {
        #[derive(Deserialize)]
        struct Head {
            schema: Option<String>,
        }
        // A read that fails midway is an I/O error, not a fault of the document.
        let bad = |e: serde_json::Error| {
            if e.is_io() {
                InputError::Read {
                    path: origin.to_string(),
                    source: e.into(),
                }
            } else {
                InputError::Report {
                    path: origin.to_string(),
                    message: e.to_string(),
                }
            }
        };
        let known =
            |schema: Option<&str>| schema.is_some_and(|s| crate::report::SCHEMAS_READ.contains(&s));
        let other = |found: Option<String>| InputError::Schema {
            path: origin.to_string(),
            found: found.unwrap_or_default(),
        };
        let mut de = open()?;
        let parsed = Report::deserialize(&mut de).and_then(|r| de.end().map(|()| r));
        match parsed {
            Ok(r) if known(Some(&r.schema)) => Ok(r),
            Ok(r) => Err(other(Some(r.schema))),
            Err(e) => {
                let mut de = open()?;
                match Head::deserialize(&mut de).and_then(|h| de.end().map(|()| h)) {
                    Ok(h) if !known(h.schema.as_deref()) => Err(other(h.schema)),
                    Ok(_) => Err(bad(e)),
                    // Not JSON at all: said as such, not as a report's missing field.
                    Err(not_json) => Err(bad(not_json)),
                }
            }
        }
    }
}

/// `case.json`, as far as a letter needs it.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CaseInfo {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub rights_holder: Option<String>,
    #[serde(default)]
    pub notary: Option<String>,
    #[serde(default)]
    pub notary_certificate: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// A manifest (`manifests/manifest-vN.json`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub version: u32,
    #[serde(default)]
    pub files: Vec<ManifestFile>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ManifestFile {
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub sm3: Option<String>,
}

/// A case directory: its facts and its newest manifest, when sealed.
#[derive(Clone, Debug, Default)]
pub struct Case {
    pub dir: PathBuf,
    pub info: CaseInfo,
    /// The newest manifest and its path relative to the case directory.
    pub manifest: Option<(String, Manifest)>,
    /// The case's time zone, parsed (`case.json` `time_zone`).
    pub offset: Option<time::UtcOffset>,
    /// Files in the case's `attachments/` folder, meant to be sent with letters, by
    /// path inside the case, with their size and SHA-256 read now.
    pub attachments: Vec<ManifestFile>,
}

impl Case {
    /// Reads `case.json` and the newest of `manifests/manifest-vN.json` (or a single
    /// `manifest.json`).
    pub fn load(dir: &Path) -> Result<Case, InputError> {
        let origin = dir.display().to_string();
        let bad = |message: String| InputError::Case {
            path: origin.clone(),
            message,
        };
        let info_bytes =
            std::fs::read(dir.join("case.json")).map_err(|e| bad(format!("case.json: {e}")))?;
        let info: CaseInfo =
            serde_json::from_slice(&info_bytes).map_err(|e| bad(format!("case.json: {e}")))?;
        let mut newest: Option<(u32, String)> = None;
        if let Ok(entries) = std::fs::read_dir(dir.join("manifests")) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let version = name
                    .strip_prefix("manifest-v")
                    .and_then(|s| s.strip_suffix(".json"))
                    .and_then(|n| n.parse::<u32>().ok());
                if let Some(v) = version {
                    if newest.as_ref().is_none_or(|(n, _)| v > *n) {
                        newest = Some((v, format!("manifests/{name}")));
                    }
                }
            }
        }
        if newest.is_none() && dir.join("manifest.json").is_file() {
            newest = Some((0, "manifest.json".to_string()));
        }
        let manifest = match newest {
            Some((_, rel)) => {
                let bytes =
                    std::fs::read(dir.join(&rel)).map_err(|e| bad(format!("{rel}: {e}")))?;
                let m: Manifest =
                    serde_json::from_slice(&bytes).map_err(|e| bad(format!("{rel}: {e}")))?;
                Some((rel, m))
            }
            None => None,
        };
        // A zone the case states but that does not parse is an error: letters would
        // otherwise give local times in the wrong zone without a word.
        let offset = match info.time_zone.as_deref().filter(|t| !t.trim().is_empty()) {
            Some(tz) => Some(crate::times::parse_offset(tz).ok_or_else(|| {
                bad(format!(
                    "case.json: time_zone {tz:?} is not a UTC offset (+08:00, +0800, +08, Z)"
                ))
            })?),
            None => None,
        };
        let mut attachments = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir.join("attachments")) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = entry.path();
                if !path.is_file() || name.starts_with('.') {
                    continue;
                }
                let bytes =
                    std::fs::read(&path).map_err(|e| bad(format!("attachments/{name}: {e}")))?;
                attachments.push(ManifestFile {
                    path: format!("attachments/{name}"),
                    size: Some(bytes.len() as u64),
                    sha256: Some(crate::hash::sha256_hex(&bytes)),
                    sm3: None,
                });
            }
        }
        attachments.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Case {
            dir: dir.to_path_buf(),
            info,
            manifest,
            offset,
            attachments,
        })
    }
}
