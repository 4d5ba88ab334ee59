//! What a letter is drafted from besides the claimant profile: the analysis report
//! (`whohosts.report/1`) and, optionally, the case directory (`case.json` and its newest
//! manifest).
//!
//! Both are read with structs of their own that ignore fields they do not know (the
//! report keeps growing) and treat every field a letter can do without as optional.
//! Contract: a file that is not JSON, or not a whohosts report, is an [`InputError`]
//! naming the file and what was expected; nothing here panics on input.

use serde::Deserialize;
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
    #[error("{path}: expected schema whohosts.report/1, found {found:?}")]
    Schema { path: String, found: String },
    #[error("{path}: not a case directory: {message}")]
    Case { path: String, message: String },
}

/// The parts of a report a letter uses.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Report {
    #[serde(default)]
    pub schema: String,
    #[serde(default)]
    pub captures: Vec<Capture>,
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub services: Vec<Service>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Capture {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub sha256: String,
    /// Present when `analyze --sm3` computed it.
    #[serde(default)]
    pub sm3: Option<String>,
    #[serde(default)]
    pub first_seen: Option<String>,
    #[serde(default)]
    pub last_seen: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Service {
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub hostnames: Vec<Hostname>,
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    #[serde(default)]
    pub frames: Vec<FrameId>,
    /// Attribution per server address (what `analyze` writes); an endpoint's own
    /// fields, when present, take precedence.
    #[serde(default)]
    pub attribution: Vec<AddressAttribution>,
}

/// What the report says about one address.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AddressAttribution {
    #[serde(default)]
    pub ip: String,
    #[serde(default)]
    pub provider: Option<ProviderAttribution>,
    #[serde(default)]
    pub region: Option<RegionAttribution>,
    #[serde(default)]
    pub country: Option<CountryAttribution>,
    /// What the reader must weigh (data far from the capture's time).
    #[serde(default)]
    pub notes: Vec<String>,
    /// The RDAP record of the address block (`analyze --online`).
    #[serde(default)]
    pub rdap: Option<RdapRecord>,
    /// Abuse contacts read from it, best first.
    #[serde(default)]
    pub abuse_contacts: Vec<AbuseContact>,
}

/// What a report says about an RDAP record.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RdapRecord {
    #[serde(default)]
    pub handle: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub range: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub server: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub time_utc: String,
}

/// An abuse contact of an RDAP record.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AbuseContact {
    #[serde(default)]
    pub rank: u32,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    /// `rdap_abuse_entity`, `rdap_remarks` or `rfc2142_guess`.
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub from: Option<String>,
}

impl Service {
    /// The provider and region attributed to an endpoint: its own fields, else the
    /// service's attribution entry for its address.
    pub fn attribution_of<'a>(
        &'a self,
        e: &'a Endpoint,
    ) -> (
        Option<&'a ProviderAttribution>,
        Option<&'a RegionAttribution>,
    ) {
        let entry = self.attribution.iter().find(|a| a.ip == e.ip);
        (
            e.provider
                .as_ref()
                .or(entry.and_then(|a| a.provider.as_ref())),
            e.region.as_ref().or(entry.and_then(|a| a.region.as_ref())),
        )
    }

    /// The attribution entry of an endpoint's address, when the report has one.
    pub fn attribution_entry(&self, e: &Endpoint) -> Option<&AddressAttribution> {
        self.attribution.iter().find(|a| a.ip == e.ip)
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Hostname {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub strength: Option<String>,
    #[serde(default)]
    pub sources: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct FrameId {
    #[serde(default)]
    pub capture: u32,
    #[serde(default)]
    pub frame: u64,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Endpoint {
    #[serde(default)]
    pub ip: String,
    #[serde(default)]
    pub port: u16,
    #[serde(default)]
    pub transport: String,
    #[serde(default)]
    pub frames_to_server: u64,
    #[serde(default)]
    pub bytes_to_server: u64,
    #[serde(default)]
    pub frames_to_client: u64,
    #[serde(default)]
    pub bytes_to_client: u64,
    #[serde(default)]
    pub first_seen: Option<String>,
    #[serde(default)]
    pub last_seen: Option<String>,
    #[serde(default)]
    pub provider: Option<ProviderAttribution>,
    #[serde(default)]
    pub region: Option<RegionAttribution>,
    #[serde(default)]
    pub country: Option<CountryAttribution>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ProviderAttribution {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub service_model: Option<String>,
    /// A provenance object `{source, version, sha256}` or a plain name.
    #[serde(default)]
    pub source: Option<serde_json::Value>,
    #[serde(default)]
    pub confidence: Option<String>,
    /// How the answer was reached, for a person.
    #[serde(default)]
    pub evidence: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RegionAttribution {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub confidence: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct CountryAttribution {
    #[serde(default)]
    pub code: Option<String>,
}

/// A provenance value as the report gives it, for a person: `name version`.
pub fn source_text(v: &serde_json::Value) -> Option<String> {
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
        let r: Report = serde_json::from_slice(bytes).map_err(|e| InputError::Report {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        if !r.schema.starts_with("whohosts.report/1") {
            return Err(InputError::Schema {
                path: origin.to_string(),
                found: r.schema,
            });
        }
        Ok(r)
    }

    pub fn load(path: &Path) -> Result<Report, InputError> {
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| InputError::Read {
            path: origin.clone(),
            source,
        })?;
        Report::from_json(&bytes, &origin)
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
        Ok(Case {
            dir: dir.to_path_buf(),
            info,
            manifest,
        })
    }
}
