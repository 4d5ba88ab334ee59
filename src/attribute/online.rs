//! `--online`: reverse DNS and RDAP for the endpoints of an analysis or a lookup, kept
//! as evidence. The only place, with `data update`, where whohosts uses the network.
//!
//! RDAP follows LEGAL.md: the IANA bootstrap files (RFC 9224) say which
//! registry serves an address (longest match; cached a day in the data directory);
//! `GET {base}ip/{address}` with redirects followed; one request at a time, at least
//! `rdap_interval` apart per server; an answer's range serves the later addresses it
//! covers; answers cached a day on disk. Reverse DNS: [`crate::attribute::rdns`].
//!
//! Everything fetched is evidence: [`save`] writes each raw RDAP answer and DNS message
//! with an `index.json` giving query, server, time, status, size and SHA-256; [`load`]
//! reads such a folder back, so that a report can be made again from the same answers
//! without the network, byte for byte.
//!
//! Contract: a failure (timeout, unreachable server, error status, a body that is not
//! RDAP) is an answer with `error` set; the offline attribution stands. Nothing here
//! panics on what a server sends.

use crate::attribute::fetch;
use crate::attribute::geoip::hex;
use crate::attribute::rdap::{self, AbuseContact, Bootstrap, ContactSource};
use crate::attribute::rdns::{self, PtrAnswer, RdnsOptions};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the IANA publishes the RDAP bootstrap files.
pub const IANA_BOOTSTRAP: &str = "https://data.iana.org/rdap/";

/// Largest RDAP answer read.
const MAX_RDAP_BYTES: u64 = 4 << 20;

/// Cached answers and bootstrap files are used for this long.
const CACHE_TTL_SECS: i64 = 24 * 3600;

#[derive(Clone, Debug)]
pub struct OnlineOptions {
    pub rdns: RdnsOptions,
    /// Skip reverse DNS / RDAP.
    pub no_rdns: bool,
    pub no_rdap: bool,
    /// Base URL of the bootstrap files (`ipv4.json`, `ipv6.json`).
    pub bootstrap: String,
    /// Time allowed per RDAP request.
    pub timeout: Duration,
    /// At least this long between two requests to one RDAP server.
    pub rdap_interval: Duration,
    /// Cache of bootstrap files and answers (`<data-dir>/cache/rdap`); `None`: none.
    pub cache_dir: Option<PathBuf>,
}

impl Default for OnlineOptions {
    fn default() -> Self {
        OnlineOptions {
            rdns: RdnsOptions::default(),
            no_rdns: false,
            no_rdap: false,
            bootstrap: IANA_BOOTSTRAP.to_string(),
            timeout: Duration::from_secs(15),
            rdap_interval: Duration::from_secs(1),
            cache_dir: None,
        }
    }
}

/// One RDAP answer (or failure) for an address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RdapAnswer {
    pub ip: IpAddr,
    /// The URL asked, and the one that answered after redirects.
    pub query_url: String,
    #[serde(default)]
    pub final_url: String,
    /// Host (and port) of the server that answered.
    pub server: String,
    /// RFC 3339 UTC, when the answer came.
    pub time_utc: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The evidence file holding the raw answer (relative to the evidence folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The address whose answer's range covered this one (no request was sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covered_by: Option<IpAddr>,
    /// Read from the on-disk cache (the time is the original query's).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_cache: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip)]
    pub body: Vec<u8>,
    #[serde(skip)]
    pub network: Option<rdap::Network>,
}

/// Everything fetched for a set of addresses.
#[derive(Clone, Debug, Default)]
pub struct OnlineAnswers {
    pub ptr: BTreeMap<IpAddr, PtrAnswer>,
    pub rdap: BTreeMap<IpAddr, RdapAnswer>,
    pub bootstrap: Option<String>,
}

/// What an endpoint's attribution gains online (see `Attribution`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PtrSummary {
    pub names: Vec<String>,
    pub server: String,
    pub time_utc: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The evidence files (the message as received, its records as text).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RdapSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// The registry server that answered.
    pub server: String,
    pub url: String,
    pub time_utc: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Placeholder contacts the answer held, dropped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
}

/// The report's `online` section: where the evidence is and how it was fetched.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OnlineSummary {
    /// The folder holding the raw answers and `index.json`.
    pub evidence_dir: String,
    pub index_sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rdap_bootstrap: Option<String>,
    pub ptr_queries: usize,
    pub rdap_queries: usize,
    pub failures: usize,
}

fn now_utc() -> String {
    crate::times::Now::system(time::UtcOffset::UTC).utc
}

fn unix_of(rfc3339: &str) -> Option<i64> {
    crate::times::parse_rfc3339(rfc3339)
}

fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.split('/').next().unwrap_or("").to_string()
}

/// A file name from an address (`2001:db8::1` -> `2001_db8__1`).
fn key(ip: IpAddr) -> String {
    ip.to_string().replace([':', '.'], "_")
}

/// Why the IANA bootstrap file of an address family is not at hand; kept per family
/// for the run (so `Clone`), and written into each answer's `error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
enum BootstrapError {
    /// The cached copy does not parse.
    #[error("{0}")]
    Cached(String),
    #[error("{url}: {reason}")]
    Unparsable { url: String, reason: String },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    /// The request failed (name, connection, timeout, size).
    #[error("{0}")]
    Fetch(String),
}

/// Fetches a bootstrap file, from the cache when it is less than a day old.
fn bootstrap_for(
    ip: IpAddr,
    opts: &OnlineOptions,
    cache: &mut BTreeMap<&'static str, Result<Bootstrap, BootstrapError>>,
) -> Result<Bootstrap, BootstrapError> {
    let family = if ip.is_ipv4() {
        "ipv4.json"
    } else {
        "ipv6.json"
    };
    if let Some(b) = cache.get(family) {
        return b.clone();
    }
    let url = format!("{}/{family}", opts.bootstrap.trim_end_matches('/'));
    let cached = opts
        .cache_dir
        .as_ref()
        .map(|d| d.join(format!("bootstrap-{family}")));
    let fresh = cached.as_ref().and_then(|p| {
        let age = std::fs::metadata(p).ok()?.modified().ok()?.elapsed().ok()?;
        (age.as_secs() < CACHE_TTL_SECS as u64).then(|| std::fs::read(p).ok())?
    });
    let result = match fresh {
        Some(bytes) => {
            rdap::parse_bootstrap(&bytes).map_err(|e| BootstrapError::Cached(e.to_string()))
        }
        None => match fetch::get(
            &fetch::Request {
                url: &url,
                etag: None,
                last_modified: None,
                accept: "application/json",
                timeout: opts.timeout,
                max_bytes: 4 << 20,
            },
            &mut |_, _| {},
        ) {
            Ok(r) if r.status == 200 => {
                let b = rdap::parse_bootstrap(&r.body).map_err(|e| BootstrapError::Unparsable {
                    url: url.clone(),
                    reason: e.to_string(),
                });
                if let (Ok(_), Some(p)) = (&b, &cached) {
                    let _ = std::fs::create_dir_all(p.parent().unwrap_or(Path::new(".")));
                    let _ = crate::attribute::datadir::write_atomic(p, &r.body);
                }
                b
            }
            Ok(r) => Err(BootstrapError::Status {
                url,
                status: r.status,
            }),
            Err(e) => Err(BootstrapError::Fetch(e.to_string())),
        },
    };
    cache.insert(family, result.clone());
    result
}

/// Queries reverse DNS and RDAP for every address.
pub fn query(ips: &[IpAddr], opts: &OnlineOptions) -> OnlineAnswers {
    let mut out = OnlineAnswers::default();
    if !opts.no_rdns {
        match rdns::lookup_all(ips, &opts.rdns) {
            Ok(list) => {
                for a in list {
                    out.ptr.insert(a.ip, a);
                }
            }
            Err(e) => {
                for ip in ips {
                    out.ptr.insert(
                        *ip,
                        PtrAnswer {
                            ip: *ip,
                            query: rdns::reverse_name(*ip),
                            server: String::new(),
                            time_utc: now_utc(),
                            names: Vec::new(),
                            records: Vec::new(),
                            error: Some(e.to_string()),
                            wire: None,
                        },
                    );
                }
            }
        }
    }
    if opts.no_rdap {
        return out;
    }
    out.bootstrap = Some(opts.bootstrap.clone());
    let mut boots = BTreeMap::new();
    let mut last_at: BTreeMap<String, Instant> = BTreeMap::new();
    for ip in ips {
        // An earlier answer's range covers this address: no request.
        if let Some(prev) = out.rdap.values().find(|a| {
            a.covered_by.is_none()
                && a.network.as_ref().is_some_and(|n| match (n.start, n.end) {
                    (Some(s), Some(e)) => {
                        crate::attribute::index::canonical(*ip).is_ipv4() == s.is_ipv4()
                            && in_range(*ip, s, e)
                    }
                    _ => false,
                })
        }) {
            let mut a = prev.clone();
            a.ip = *ip;
            a.covered_by = Some(prev.ip);
            out.rdap.insert(*ip, a);
            continue;
        }
        let a = rdap_one(*ip, opts, &mut boots, &mut last_at);
        out.rdap.insert(*ip, a);
    }
    out
}

fn in_range(ip: IpAddr, start: IpAddr, end: IpAddr) -> bool {
    match (ip, start, end) {
        (IpAddr::V4(i), IpAddr::V4(s), IpAddr::V4(e)) => s <= i && i <= e,
        (IpAddr::V6(i), IpAddr::V6(s), IpAddr::V6(e)) => s <= i && i <= e,
        _ => false,
    }
}

fn rdap_one(
    ip: IpAddr,
    opts: &OnlineOptions,
    boots: &mut BTreeMap<&'static str, Result<Bootstrap, BootstrapError>>,
    last_at: &mut BTreeMap<String, Instant>,
) -> RdapAnswer {
    let mut a = RdapAnswer {
        ip,
        query_url: String::new(),
        final_url: String::new(),
        server: String::new(),
        time_utc: now_utc(),
        status: 0,
        sha256: None,
        size: None,
        file: None,
        covered_by: None,
        from_cache: false,
        error: None,
        body: Vec::new(),
        network: None,
    };
    // The on-disk cache.
    let cache = opts.cache_dir.as_ref().map(|d| {
        (
            d.join(format!("ip-{}.json", key(ip))),
            d.join(format!("ip-{}.body", key(ip))),
        )
    });
    if let Some((meta, body)) = &cache {
        if let (Ok(m), Ok(b)) = (std::fs::read(meta), std::fs::read(body)) {
            if let Ok(mut cached) = serde_json::from_slice::<RdapAnswer>(&m) {
                let age = unix_of(&cached.time_utc)
                    .map(|t| time::OffsetDateTime::now_utc().unix_timestamp() - t);
                if age.is_some_and(|s| (0..CACHE_TTL_SECS).contains(&s))
                    && cached.sha256.as_deref() == Some(&hex(&Sha256::digest(&b)))
                {
                    cached.network = rdap::parse_network(&b).ok();
                    cached.body = b;
                    cached.from_cache = true;
                    cached.file = None;
                    return cached;
                }
            }
        }
    }
    let base = match bootstrap_for(ip, opts, boots) {
        Ok(b) => match b.base_for(ip) {
            Some(base) => base,
            None => {
                a.error = Some("the IANA bootstrap names no RDAP server for the address".into());
                return a;
            }
        },
        Err(e) => {
            a.error = Some(format!("RDAP bootstrap: {e}"));
            return a;
        }
    };
    a.query_url = format!("{base}ip/{ip}");
    a.server = host_of(&a.query_url);
    // Politeness: one request at a time, spaced per server.
    if let Some(t) = last_at.get(&a.server) {
        let wait = opts.rdap_interval.saturating_sub(t.elapsed());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
    let r = fetch::get(
        &fetch::Request {
            url: &a.query_url,
            etag: None,
            last_modified: None,
            accept: "application/rdap+json, application/json",
            timeout: opts.timeout,
            max_bytes: MAX_RDAP_BYTES,
        },
        &mut |_, _| {},
    );
    last_at.insert(a.server.clone(), Instant::now());
    a.time_utc = now_utc();
    match r {
        Err(e) => a.error = Some(e.to_string()),
        Ok(resp) => {
            a.status = resp.status;
            a.final_url = resp.final_url.clone();
            a.server = host_of(&resp.final_url);
            a.sha256 = Some(hex(&Sha256::digest(&resp.body)));
            a.size = Some(resp.body.len() as u64);
            if resp.status != 200 {
                a.error = Some(format!("HTTP {}", resp.status));
            } else {
                match rdap::parse_network(&resp.body) {
                    Ok(n) => a.network = Some(n),
                    Err(e) => a.error = Some(e.to_string()),
                }
            }
            a.body = resp.body;
        }
    }
    if let (Some((meta, body)), true) = (&cache, a.network.is_some()) {
        if let Some(dir) = meta.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = crate::attribute::datadir::write_atomic(body, &a.body);
        if let Ok(m) = serde_json::to_vec(&a) {
            let _ = crate::attribute::datadir::write_atomic(meta, &m);
        }
    }
    a
}

/// One file of the evidence folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// `index.json` of an evidence folder.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Index {
    pub format: String,
    #[serde(default)]
    pub rdap_bootstrap: Option<String>,
    #[serde(default)]
    pub ptr: Vec<PtrAnswer>,
    #[serde(default)]
    pub rdap: Vec<RdapAnswer>,
    #[serde(default)]
    pub files: Vec<EvidenceFile>,
}

pub(crate) const INDEX_FORMAT: &str = "whohosts.online/1";

/// The files of an evidence folder as `(relative path, bytes)`, and its index: raw RDAP
/// answers (`rdap/<address>.json`), DNS messages (`dns/<address>.ptr.bin`) and their
/// records as text (`dns/<address>.ptr.txt`). The caller writes them (a plain folder,
/// or a case through its custody log).
pub fn evidence_files(answers: &mut OnlineAnswers) -> (Vec<(String, Vec<u8>)>, Index) {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for a in answers.ptr.values() {
        if let Some(w) = &a.wire {
            files.push((format!("dns/{}.ptr.bin", key(a.ip)), w.clone()));
        }
        let mut text = format!(
            "; query {} PTR\n; server {}\n; time {}\n",
            a.query, a.server, a.time_utc
        );
        if let Some(e) = &a.error {
            text.push_str(&format!("; error {e}\n"));
        }
        for r in &a.records {
            text.push_str(r);
            text.push('\n');
        }
        files.push((format!("dns/{}.ptr.txt", key(a.ip)), text.into_bytes()));
    }
    for a in answers.rdap.values_mut() {
        if a.covered_by.is_none() && !a.body.is_empty() {
            let path = format!("rdap/{}.json", key(a.ip));
            files.push((path.clone(), a.body.clone()));
            a.file = Some(path);
        }
    }
    // Covered addresses point at the file of the answer that covers them.
    let by_ip: BTreeMap<IpAddr, Option<String>> = answers
        .rdap
        .iter()
        .map(|(ip, a)| (*ip, a.file.clone()))
        .collect();
    for a in answers.rdap.values_mut() {
        if let Some(c) = a.covered_by {
            a.file = by_ip.get(&c).cloned().flatten();
        }
    }
    let index = Index {
        format: INDEX_FORMAT.to_string(),
        rdap_bootstrap: answers.bootstrap.clone(),
        ptr: answers.ptr.values().cloned().collect(),
        rdap: answers.rdap.values().cloned().collect(),
        files: files
            .iter()
            .map(|(p, b)| EvidenceFile {
                path: p.clone(),
                size: b.len() as u64,
                sha256: hex(&Sha256::digest(b)),
            })
            .collect(),
    };
    (files, index)
}

/// Writes the evidence into a new folder (never over an existing file) and returns
/// the SHA-256 of `index.json`.
pub fn save(answers: &mut OnlineAnswers, dir: &Path) -> std::io::Result<String> {
    let (files, index) = evidence_files(answers);
    for (rel, bytes) in &files {
        crate::atomic::write_new(&dir.join(rel), bytes)?;
    }
    let mut bytes = serde_json::to_vec_pretty(&index).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    crate::atomic::write_new(&dir.join("index.json"), &bytes)?;
    Ok(hex(&Sha256::digest(&bytes)))
}

/// Why an evidence folder cannot be read back; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: format {found:?}, expected {INDEX_FORMAT}", path.display())]
    Format { path: PathBuf, found: String },
    #[error("index.json names {0:?} outside the folder")]
    Outside(String),
    #[error("{rel}: SHA-256 differs from the index's {expected}")]
    Differs { rel: String, expected: String },
    #[error("{0} is not in the index")]
    NotIndexed(String),
}

/// Reads an evidence folder back (to make a report again without the network): every
/// file is checked against the index's SHA-256.
pub fn load(dir: &Path) -> Result<(OnlineAnswers, String), FolderError> {
    let path = dir.join("index.json");
    let index_bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(source) => return Err(FolderError::Read { path, source }),
    };
    let index: Index = match serde_json::from_slice(&index_bytes) {
        Ok(i) => i,
        Err(source) => return Err(FolderError::Json { path, source }),
    };
    if index.format != INDEX_FORMAT {
        return Err(FolderError::Format {
            path,
            found: index.format,
        });
    }
    let mut out = OnlineAnswers {
        bootstrap: index.rdap_bootstrap.clone(),
        ..OnlineAnswers::default()
    };
    let read = |rel: &str| -> Result<Vec<u8>, FolderError> {
        if rel.contains("..") || rel.starts_with('/') {
            return Err(FolderError::Outside(rel.to_string()));
        }
        let b = std::fs::read(dir.join(rel)).map_err(|source| FolderError::Read {
            path: PathBuf::from(rel),
            source,
        })?;
        let want = index.files.iter().find(|f| f.path == rel);
        match want {
            Some(f) if f.sha256 == hex(&Sha256::digest(&b)) => Ok(b),
            Some(f) => Err(FolderError::Differs {
                rel: rel.to_string(),
                expected: f.sha256.clone(),
            }),
            None => Err(FolderError::NotIndexed(rel.to_string())),
        }
    };
    for mut p in index.ptr {
        let bin = format!("dns/{}.ptr.bin", key(p.ip));
        if index.files.iter().any(|f| f.path == bin) {
            p.wire = Some(read(&bin)?);
        }
        out.ptr.insert(p.ip, p);
    }
    for mut a in index.rdap {
        if let Some(f) = a.file.clone() {
            a.body = read(&f)?;
            a.network = rdap::parse_network(&a.body).ok();
        }
        out.rdap.insert(a.ip, a);
    }
    Ok((out, hex(&Sha256::digest(&index_bytes))))
}

impl OnlineAnswers {
    /// The summary of the PTR answer for an address.
    pub(crate) fn ptr_summary(&self, ip: IpAddr) -> Option<PtrSummary> {
        let a = self.ptr.get(&ip)?;
        let k = key(ip);
        Some(PtrSummary {
            names: a.names.clone(),
            server: a.server.clone(),
            time_utc: a.time_utc.clone(),
            error: a.error.clone(),
            files: if a.wire.is_some() {
                vec![format!("dns/{k}.ptr.bin"), format!("dns/{k}.ptr.txt")]
            } else {
                vec![format!("dns/{k}.ptr.txt")]
            },
        })
    }

    /// The summary of the RDAP answer for an address, and its abuse contacts.
    pub(crate) fn rdap_summary(&self, ip: IpAddr) -> Option<(RdapSummary, Vec<AbuseContact>)> {
        let a = self.rdap.get(&ip)?;
        let n = a.network.clone().unwrap_or_default();
        Some((
            RdapSummary {
                handle: n.handle,
                name: n.name,
                range: n.range,
                country: n.country,
                server: a.server.clone(),
                url: if a.final_url.is_empty() {
                    a.query_url.clone()
                } else {
                    a.final_url.clone()
                },
                time_utc: a.time_utc.clone(),
                sha256: a.sha256.clone(),
                file: a.file.clone(),
                error: a.error.clone(),
                dropped: n.dropped,
            },
            n.abuse_contacts,
        ))
    }

    pub fn failures(&self) -> usize {
        self.ptr
            .values()
            .filter(|a| a.error.is_some() && a.names.is_empty())
            .count()
            + self.rdap.values().filter(|a| a.error.is_some()).count()
    }
}

/// Labels an abuse contact for people: where it was read and how much it is worth.
pub fn describe_contact(c: &AbuseContact) -> String {
    let what = c.email.as_deref().or(c.url.as_deref()).unwrap_or("?");
    match c.source {
        ContactSource::RdapAbuseEntity => format!(
            "{what} (RDAP abuse contact{})",
            c.from
                .as_deref()
                .map(|h| format!(" of {h}"))
                .unwrap_or_default()
        ),
        ContactSource::RdapRemarks => format!("{what} (named in the RDAP record's remarks)"),
        ContactSource::Rfc2142Guess => {
            format!("{what} (RFC 2142 guess, last resort: not confirmed by the registry)")
        }
    }
}
