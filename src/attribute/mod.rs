//! Attribution of server addresses, offline: ASN, country, hosting provider and
//! region, each with its source and strength.
//!
//! Sources, loaded once into an [`Attributor`]:
//! - MaxMind-format databases ([`geoip`]): the bundled ASN and country databases in
//!   `data/` and any the user adds (`--mmdb`);
//! - providers' official range feeds ([`feeds`]) imported into the data directory
//!   ([`datadir`]), searched through one longest-prefix-match [`index`];
//! - the provider directory ([`dirview`]): ASN -> provider, hostname patterns,
//!   city -> region.
//!
//! Order of strength. Provider: official feed (strong), then the announcing ASN
//! through the directory (medium), then an unofficial ASN-derived list (medium), then
//! a provider hostname seen in the capture (the pattern's strength). Region: official
//! feed, then a provider hostname that embeds a region, then the GeoIP city mapped to
//! the provider's region list (weak). Whatever cannot be told is "unknown" with the
//! reason.
//!
//! Contract: `attribute` never fails and never panics; missing or broken data makes
//! answers unknown, with reasons. Output depends only on the loaded data and the
//! arguments (no clock, no network).

pub mod bundle;
pub mod compiled;
pub mod datadir;
pub mod directory;
pub mod dirview;
pub mod download;
pub mod feeds;
pub mod fetch;
pub mod geoip;
pub mod index;
pub mod online;
pub mod rdap;
pub mod rdns;

use crate::model::{Confidence, FrameRef, Provenance};
use dirview::{DirectoryView, ProviderRef, RegionRef};
use feeds::{Feed, FeedFormat};
use geoip::{DbInfo, GeoDb};
use index::{canonical, IpPrefix, PrefixIndex, PrefixIndexBuilder};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub use bundle::{EmbeddedFiles, BUNDLED_DIR_ENV};

/// The bundled database files, in the order they are consulted (after user files).
pub const BUNDLED_DATABASES: [&str; 3] = ["asn-ipv4.mmdb", "asn-ipv6.mmdb", "country.mmdb"];

/// Attribution text the bundled data's licences ask for.
pub const BUNDLED_ATTRIBUTION: &str = "ASN data: @ip-location-db/asn (CC BY 4.0) by RouteViews \
(routeviews.org), DB-IP (db-ip.com, IP Geolocation by DB-IP) and the NRO (nro.net). Country \
data: @ip-location-db/geo-whois-asn-country-mmdb (CC0-1.0), from RIR data by the NRO (nro.net).";

/// What to load.
#[derive(Clone, Debug, Default)]
pub struct AttributeOptions {
    /// Data directory holding imported feeds; `None`: `WHOHOSTS_DATA_DIR`, then the
    /// platform's user data directory.
    pub data_dir: Option<PathBuf>,
    /// Bundled data set; `None`: `WHOHOSTS_BUNDLED_DIR`, then `embedded`, then the
    /// install places (see [`bundle`]).
    pub bundled_dir: Option<PathBuf>,
    /// The bundled data set compiled into the binary, if the binary carries one.
    pub embedded: Option<EmbeddedFiles>,
    /// Leave out the bundled feed snapshot (an archived data set of a capture's time
    /// in `data_dir` then stands alone).
    pub no_bundled_feeds: bool,
    /// Extra MaxMind databases, consulted before the bundled ones, in this order.
    pub mmdb: Vec<PathBuf>,
    /// Skip the bundled databases (tests of user databases alone).
    pub no_bundled: bool,
    /// A provider directory file to use instead of the bundled `data/providers.toml`.
    pub directory: Option<PathBuf>,
}

/// Errors that stop loading: the environment, not the data's content.
#[derive(Debug, thiserror::Error)]
pub enum AttributeError {
    #[error(transparent)]
    GeoIp(#[from] geoip::GeoIpError),
    #[error(
        "bundled database {path} is missing ({where_}); pass --bundled-dir DIR or set \
         WHOHOSTS_BUNDLED_DIR to the `data/` directory of the whohosts source tree"
    )]
    BundledMissing {
        path: PathBuf,
        where_: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    BundleNotFound(#[from] bundle::NotFound),
    #[error(transparent)]
    DataDir(#[from] datadir::DataDirError),
    #[error("provider directory: {0}")]
    Directory(Box<directory::DirectoryError>),
}

/// How a hostname was seen in the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostnameKind {
    DnsAnswer,
    Cname,
    /// The reverse DNS name of the address (`--online`), set by whoever holds the
    /// reverse zone: at most medium evidence.
    Ptr,
    Sni,
    Cert,
    HttpHost,
}

impl HostnameKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HostnameKind::DnsAnswer => "dns_answer",
            HostnameKind::Cname => "cname",
            HostnameKind::Sni => "sni",
            HostnameKind::Cert => "cert",
            HostnameKind::HttpHost => "http_host",
            HostnameKind::Ptr => "ptr",
        }
    }
}

/// A hostname bound to the address in the capture.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct HostnameEvidence {
    pub name: String,
    pub kind: HostnameKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<FrameRef>,
}

impl HostnameEvidence {
    /// A name as it came off the wire (DNS, SNI, certificate, Host header): invalid
    /// UTF-8 is replaced, case folded, one trailing dot dropped. Names are only
    /// matched against patterns here, never interpreted further.
    pub fn from_wire(name: &[u8], kind: HostnameKind, frame: Option<FrameRef>) -> Self {
        let mut name = String::from_utf8_lossy(name).to_ascii_lowercase();
        if name.ends_with('.') {
            name.pop();
        }
        HostnameEvidence { name, kind, frame }
    }
}

/// On what an answer rests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    OfficialFeed,
    UnofficialFeed,
    Asn,
    Hostname,
    GeoipCity,
    GeoipCountry,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AsnAttribution {
    pub number: Option<u32>,
    pub organization: Option<String>,
    /// The database's network holding the address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<IpPrefix>,
    pub source: Option<Provenance>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CountryAttribution {
    /// ISO 3166-1 alpha-2.
    pub code: Option<String>,
    pub source: Option<Provenance>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProviderAttribution {
    pub id: Option<String>,
    pub name: Option<String>,
    pub service_model: Option<String>,
    pub source: Option<Provenance>,
    pub confidence: Option<Confidence>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basis: Option<Basis>,
    /// How the answer was reached, for a person: which prefix, which ASN, which name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// Set when sources disagree (a feed and the ASN data): the answer is then not
    /// strong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict: Option<String>,
    /// The service or tag of the provider's feed that decided the service model
    /// (`CLOUDFRONT`, `EC2`, `AzureFrontDoor.Frontend`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Other providers' official feeds that list the address too (GitHub's ranges on
    /// Azure's network): the same prefix, or one nested inside the prefix that named
    /// the provider.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_listed: Vec<FeedMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ProviderAttribution {
    /// The provider's name for a reader, else its id.
    pub fn display_name(&self) -> Option<&str> {
        self.name.as_deref().or(self.id.as_deref())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RegionAttribution {
    pub id: Option<String>,
    pub city: Option<String>,
    pub source: Option<Provenance>,
    pub confidence: Option<Confidence>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basis: Option<Basis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// The frame where the hostname that gave the region was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<FrameRef>,
    /// The region as the feed spells it, when that is not the directory's id
    /// (Azure's `germanywc` for `germanywestcentral`): the evidence, kept as found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feed_region: Option<String>,
    /// The provider's regions that fit when several do (a geofeed city with two
    /// data centres): `id` is then unknown.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One feed entry covering the address (all of the most specific prefix's entries).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FeedMatch {
    pub feed: String,
    pub provider: String,
    pub official: bool,
    pub prefix: IpPrefix,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// Everything known about one address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Attribution {
    pub asn: AsnAttribution,
    pub country: CountryAttribution,
    pub provider: ProviderAttribution,
    pub region: RegionAttribution,
    /// Feed entries of the most specific prefix covering the address.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub feeds: Vec<FeedMatch>,
    /// What a reader must weigh: data much older or newer than the capture.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Reverse DNS (`--online`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ptr: Option<online::PtrSummary>,
    /// The RDAP record of the address block (`--online`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rdap: Option<online::RdapSummary>,
    /// Abuse contacts from RDAP, best first (`--online`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub abuse_contacts: Vec<rdap::AbuseContact>,
}

/// Kind of a data source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Mmdb,
    Feed,
    Directory,
}

/// A data source used for attribution, enough to obtain the same file again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceInfo {
    pub kind: SourceKind,
    /// File name (or `providers.toml`).
    pub name: String,
    /// Database type or feed format.
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub version: Option<String>,
    /// Build date of a database (`YYYY-MM-DD`, from its metadata).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_date: Option<String>,
    pub sha256: String,
    pub bundled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub official: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribution: Option<String>,
    /// Records held: node count of a database, `N IPv4 + M IPv6` prefixes of a feed.
    pub records: String,
    /// Date of the data (`YYYY-MM-DD`, or `YYYY-MM` when only the month is known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The bundled feed snapshot a feed belongs to (`bundled feed snapshot 2025-07`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Where the provider publishes the feed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Terms of use of a bundled feed, as far as known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terms: Option<String>,
    /// What is wrong with the source: a stored feed that does not parse (then it is
    /// not used), a bundled database whose licence record (`bundled.json`) is broken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// A feed as loaded from the data directory or the bundled snapshot.
#[derive(Debug)]
pub struct LoadedFeed {
    /// Stored file name.
    pub name: String,
    pub provider: String,
    pub sha256: String,
    pub feed: Feed,
    /// Date of the data (`YYYY-MM-DD` or `YYYY-MM`), when known.
    pub date: Option<String>,
    /// Set for a feed of the bundled snapshot.
    pub bundled: Option<BundledOrigin>,
    /// Set when the feed's entries are in the compiled index ([`compiled`]), not in
    /// `feed.entries`: its IPv4 and IPv6 prefix counts.
    pub compiled: Option<(usize, usize)>,
}

/// Where a bundled feed came from.
#[derive(Clone, Debug)]
pub struct BundledOrigin {
    /// `YYYY-MM` of the snapshot.
    pub snapshot: String,
    pub url: String,
    pub terms: String,
}

impl LoadedFeed {
    /// Parses feed bytes for a provider already known (tests, benchmarks, callers that
    /// import feeds themselves).
    pub fn parse(name: &str, provider: &str, bytes: &[u8]) -> Result<LoadedFeed, feeds::FeedError> {
        use sha2::Digest;
        let feed = feeds::parse_feed(bytes)?;
        Ok(LoadedFeed {
            name: name.to_string(),
            provider: provider.to_string(),
            sha256: geoip::hex(&sha2::Sha256::digest(bytes)),
            date: feed.data_date(),
            feed,
            bundled: None,
            compiled: None,
        })
    }

    fn feed_match(&self, e: &feeds::FeedEntry) -> FeedMatch {
        FeedMatch {
            feed: self.name.clone(),
            provider: self.provider.clone(),
            official: self.feed.format.official(),
            prefix: e.prefix,
            region: e.region.clone(),
            service: e.service.clone(),
            city: e.city.clone(),
            country: e.country.clone(),
        }
    }

    /// Number of IPv4 and IPv6 prefixes.
    pub fn counts(&self) -> (usize, usize) {
        self.compiled.unwrap_or_else(|| self.feed.counts())
    }

    /// `, bundled feed snapshot 2025-07, data of 2025-07-24` or `, data of ...`, for
    /// evidence text.
    fn describe_origin(&self) -> String {
        let date = self
            .date
            .as_deref()
            .map(|d| format!(", data of {d}"))
            .unwrap_or_default();
        match &self.bundled {
            Some(b) => format!(", bundled feed snapshot {}{date}", b.snapshot),
            None => date,
        }
    }

    fn provenance(&self) -> Provenance {
        Provenance {
            source: match &self.bundled {
                Some(b) => format!("{} (bundled feed snapshot {})", self.name, b.snapshot),
                None => self.name.clone(),
            },
            version: self.feed.version.clone(),
            sha256: Some(self.sha256.clone()),
            date: self.date.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct FeedRef {
    feed: u16,
    entry: u32,
}

/// Licence facts of the bundled files, from `data/bundled.json`.
#[derive(Clone, Debug, Default, serde::Deserialize)]
struct BundledManifest {
    #[serde(default)]
    files: Vec<BundledFile>,
}

#[derive(Clone, Debug, serde::Deserialize)]
struct BundledFile {
    file: String,
    package: Option<String>,
    version: Option<String>,
    licence: Option<String>,
    attribution: Option<String>,
}

/// Loaded attribution data.
pub struct Attributor {
    dbs: Vec<GeoDb>,
    manifest: BundledManifest,
    feeds: Vec<LoadedFeed>,
    index: PrefixIndex<FeedRef>,
    /// The imported feeds' entries, when read from their compiled index.
    compiled: Option<compiled::CompiledIndex>,
    /// Position in `feeds` of each compiled feed.
    compiled_pos: Vec<u16>,
    directory: DirectoryView,
    data_dir: PathBuf,
    warnings: Vec<String>,
    /// Where the bundled data set was found, for people.
    bundle: Option<String>,
    /// Facts about loading worth telling (bundled feeds replaced by newer copies).
    notes: Vec<String>,
    /// Sources found but not used (a stored feed that does not parse), each with its
    /// `problem`, listed in [`Attributor::sources`] after the ones used.
    unused: Vec<SourceInfo>,
    /// Why `bundled.json` (licence and package of the bundled databases) could not be
    /// used, when it could not.
    manifest_problem: Option<String>,
}

/// The bundled feed snapshot, less the feeds the data directory holds a copy of (an
/// imported or downloaded feed replaces the bundled one of the same name). Returns
/// the feeds, warnings (a bundled feed that does not unpack or parse) and notes.
fn load_bundled_feeds(
    b: &bundle::Bundle,
    installed: &[LoadedFeed],
) -> (Vec<LoadedFeed>, Vec<String>, Vec<String>) {
    let mut feeds = Vec::new();
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    let manifest: bundle::FeedManifest = match b.read("feeds.json") {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(m) => m,
            Err(e) => {
                warnings.push(format!("bundled feeds.json does not parse: {e}"));
                return (feeds, warnings, notes);
            }
        },
        Err(e) => {
            warnings.push(format!(
                "no bundled feed snapshot ({}: {e})",
                b.path_of("feeds.json").display()
            ));
            return (feeds, warnings, notes);
        }
    };
    for f in &manifest.feeds {
        if let Some(i) = installed.iter().find(|i| i.name == f.stored) {
            notes.push(format!(
                "bundled {} (snapshot {}) is replaced by the data directory's copy{}",
                f.stored,
                manifest.snapshot,
                i.feed
                    .version
                    .as_deref()
                    .map(|v| format!(" (version {v})"))
                    .unwrap_or_default()
            ));
            continue;
        }
        let bytes = match bundle::unpack_feed(b, f) {
            Ok(bytes) => bytes,
            Err(e) => {
                warnings.push(format!("bundled feed skipped: {e}"));
                continue;
            }
        };
        match LoadedFeed::parse(&f.stored, &f.provider, &bytes) {
            Ok(mut lf) => {
                lf.date = Some(f.date.clone());
                lf.bundled = Some(BundledOrigin {
                    snapshot: manifest.snapshot.clone(),
                    url: f.url.clone(),
                    terms: f.terms.clone(),
                });
                feeds.push(lf);
            }
            Err(e) => warnings.push(format!("bundled feed {} skipped: {e}", f.file)),
        }
    }
    (feeds, warnings, notes)
}

impl std::fmt::Debug for Attributor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attributor")
            .field("dbs", &self.dbs)
            .field("feeds", &self.feeds.len())
            .field("data_dir", &self.data_dir)
            .finish()
    }
}

impl Attributor {
    /// Loads the bundled and user databases, the feeds in the data directory and the
    /// directory. Feeds that no longer parse are skipped with a warning (see
    /// [`Attributor::warnings`]); unreadable databases are errors.
    pub fn load(opts: &AttributeOptions) -> Result<Attributor, AttributeError> {
        let mut dbs = Vec::new();
        for p in &opts.mmdb {
            dbs.push(GeoDb::open(p, false)?);
        }
        let mut manifest = BundledManifest::default();
        let mut manifest_problem = None;
        let mut bundle = None;
        if !opts.no_bundled {
            let b = bundle::Bundle::locate(opts.bundled_dir.as_deref(), opts.embedded)?;
            for name in BUNDLED_DATABASES {
                let path = b.path_of(name);
                let bytes = b
                    .read(name)
                    .map_err(|source| AttributeError::BundledMissing {
                        path: path.clone(),
                        where_: b.describe(),
                        source,
                    })?;
                dbs.push(GeoDb::from_bytes(bytes, &path, true)?);
            }
            // The licence record of the bundled databases: a broken or missing one is
            // a problem every source list shows, never silently an empty record.
            match b.read("bundled.json") {
                Ok(bytes) => match serde_json::from_slice::<BundledManifest>(&bytes) {
                    Ok(m) if !m.files.is_empty() => manifest = m,
                    Ok(_) => {
                        manifest_problem = Some(format!(
                            "{} lists no file",
                            b.path_of("bundled.json").display()
                        ))
                    }
                    Err(e) => {
                        manifest_problem = Some(format!(
                            "{} does not parse ({e})",
                            b.path_of("bundled.json").display()
                        ))
                    }
                },
                Err(e) => {
                    manifest_problem = Some(format!(
                        "{} cannot be read ({e})",
                        b.path_of("bundled.json").display()
                    ))
                }
            }
            bundle = Some(b);
        }
        let data_dir = datadir::resolve_data_dir(opts.data_dir.as_deref())?;
        let directory = match &opts.directory {
            Some(p) => DirectoryView::load(p),
            None => DirectoryView::bundled(),
        }
        .map_err(|e| AttributeError::Directory(Box::new(e)))?;
        let stored = datadir::load_feeds(&data_dir);
        let (mut feeds, mut warnings, unused) = (stored.feeds, stored.warnings, stored.unused);
        if let Some(p) = &manifest_problem {
            warnings.push(format!(
                "{p}: the package, version, licence and attribution of the bundled databases are unknown"
            ));
        }
        let mut notes: Vec<String> = stored.note.into_iter().collect();
        if let (Some(b), false) = (&bundle, opts.no_bundled_feeds) {
            let (bundled, w, n) = load_bundled_feeds(b, &feeds);
            feeds.extend(bundled);
            warnings.extend(w);
            notes.extend(n);
        }
        let mut a = Self::assemble(
            dbs,
            manifest,
            feeds,
            stored.compiled,
            directory,
            data_dir,
            warnings,
        );
        a.bundle = bundle.as_ref().map(bundle::Bundle::describe);
        a.notes = notes;
        a.unused = unused;
        a.manifest_problem = manifest_problem;
        Ok(a)
    }

    /// Builds an attributor from feeds already parsed (tests, benchmarks, conformance).
    pub fn with_feeds(mut self, feeds: Vec<LoadedFeed>) -> Attributor {
        let mut all = std::mem::take(&mut self.feeds);
        all.extend(feeds);
        let mut a = Self::assemble(
            self.dbs,
            self.manifest,
            all,
            self.compiled,
            self.directory,
            self.data_dir,
            self.warnings,
        );
        a.bundle = self.bundle;
        a.notes = self.notes;
        a.unused = self.unused;
        a.manifest_problem = self.manifest_problem;
        a
    }

    fn assemble(
        dbs: Vec<GeoDb>,
        manifest: BundledManifest,
        mut feeds: Vec<LoadedFeed>,
        compiled: Option<compiled::CompiledIndex>,
        directory: DirectoryView,
        data_dir: PathBuf,
        warnings: Vec<String>,
    ) -> Attributor {
        // Insertion order is the priority among feeds listing the same prefix: the
        // network's own feeds first, then imported or downloaded before bundled ones.
        feeds.sort_by(|a, b| {
            (
                a.feed.format.rank(),
                a.bundled.is_some(),
                &a.provider,
                &a.name,
            )
                .cmp(&(
                    b.feed.format.rank(),
                    b.bundled.is_some(),
                    &b.provider,
                    &b.name,
                ))
        });
        let mut builder = PrefixIndexBuilder::new();
        for (fi, f) in feeds.iter().enumerate() {
            let Ok(feed) = u16::try_from(fi) else { break };
            for (ei, e) in f.feed.entries.iter().enumerate() {
                let Ok(entry) = u32::try_from(ei) else { break };
                builder.insert(e.prefix, FeedRef { feed, entry });
            }
        }
        // Each compiled feed's place in the priority order.
        let compiled_pos = compiled
            .as_ref()
            .map(|c| {
                c.feeds()
                    .iter()
                    .map(|m| {
                        feeds
                            .iter()
                            .position(|f| f.compiled.is_some() && f.name == m.name)
                            .and_then(|p| u16::try_from(p).ok())
                            .unwrap_or(u16::MAX)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Attributor {
            dbs,
            manifest,
            feeds,
            index: builder.build(),
            compiled,
            compiled_pos,
            directory,
            data_dir,
            warnings,
            bundle: None,
            notes: Vec::new(),
            unused: Vec::new(),
            manifest_problem: None,
        }
    }

    /// Loaded feeds, in priority order.
    pub fn feeds(&self) -> &[LoadedFeed] {
        &self.feeds
    }

    /// Databases, in the order they are consulted.
    pub fn databases(&self) -> impl Iterator<Item = &DbInfo> {
        self.dbs.iter().map(GeoDb::info)
    }

    pub fn directory(&self) -> &DirectoryView {
        &self.directory
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Problems met while loading (feeds that did not parse).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Facts about loading worth telling (bundled feeds replaced by newer copies).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Where the bundled data set was found (`embedded in the binary`, a directory),
    /// or `None` when it was not loaded.
    pub fn bundle(&self) -> Option<&str> {
        self.bundle.as_deref()
    }

    /// Every source used, for the report: databases, feeds, the directory.
    pub fn sources(&self) -> Vec<SourceInfo> {
        let mut out = Vec::new();
        for db in self.databases() {
            let m = self
                .manifest
                .files
                .iter()
                .find(|f| db.bundled && f.file == db.name);
            out.push(SourceInfo {
                kind: SourceKind::Mmdb,
                name: db.name.clone(),
                type_: db.database_type.clone(),
                provider: None,
                version: Some(
                    match m.and_then(|m| m.package.as_ref().zip(m.version.as_ref())) {
                        Some((p, v)) => format!("{p} {v}, built {}", db.build_date),
                        None => format!("built {}", db.build_date),
                    },
                ),
                build_date: Some(db.build_date.clone()),
                sha256: db.sha256.clone(),
                bundled: db.bundled,
                official: None,
                licence: m.and_then(|m| m.licence.clone()),
                attribution: m.and_then(|m| m.attribution.clone()),
                records: format!("{} search-tree nodes", db.node_count),
                date: Some(db.build_date.clone()),
                snapshot: None,
                url: None,
                terms: None,
                problem: match (&self.manifest_problem, db.bundled, m) {
                    (Some(p), true, _) => Some(format!(
                        "{p}: package, licence and attribution unknown"
                    )),
                    (None, true, None) => Some(
                        "bundled.json has no record of this file: package, licence and attribution unknown"
                            .to_string(),
                    ),
                    _ => None,
                },
            });
        }
        for f in &self.feeds {
            let (v4, v6) = f.counts();
            out.push(SourceInfo {
                kind: SourceKind::Feed,
                name: f.name.clone(),
                type_: f.feed.format.as_str().to_string(),
                provider: Some(f.provider.clone()),
                version: f.feed.version.clone(),
                build_date: None,
                sha256: f.sha256.clone(),
                bundled: f.bundled.is_some(),
                official: Some(f.feed.format.official()),
                licence: None,
                attribution: None,
                records: format!("{v4} IPv4 + {v6} IPv6 prefixes"),
                date: f.date.clone(),
                snapshot: f
                    .bundled
                    .as_ref()
                    .map(|b| format!("bundled feed snapshot {}", b.snapshot)),
                url: f.bundled.as_ref().map(|b| b.url.clone()),
                terms: f.bundled.as_ref().map(|b| b.terms.clone()),
                problem: None,
            });
        }
        out.extend(self.unused.iter().cloned());
        out.push(SourceInfo {
            kind: SourceKind::Directory,
            name: self.directory.origin().to_string(),
            type_: "provider-directory".to_string(),
            provider: None,
            version: Some(self.directory.version().to_string()),
            build_date: None,
            sha256: self.directory.sha256().to_string(),
            bundled: true,
            official: None,
            licence: None,
            attribution: None,
            records: format!("{} providers", self.directory.provider_count()),
            date: Some(self.directory.version().to_string()),
            snapshot: None,
            url: None,
            terms: None,
            problem: None,
        });
        out
    }

    fn db_provenance(info: &DbInfo) -> Provenance {
        Provenance {
            source: info.name.clone(),
            version: Some(format!("{} built {}", info.database_type, info.build_date)),
            sha256: Some(info.sha256.clone()),
            date: Some(info.build_date.clone()),
        }
    }

    /// The ASN announcing `ip`, from the first database that knows.
    pub fn asn(&self, ip: IpAddr) -> AsnAttribution {
        for db in &self.dbs {
            if let Some(hit) = db.asn(ip) {
                return AsnAttribution {
                    number: Some(hit.number),
                    organization: hit.organization,
                    network: hit.network,
                    source: Some(Self::db_provenance(db.info())),
                    reason: None,
                };
            }
        }
        AsnAttribution {
            reason: Some(if self.dbs.iter().any(|d| d.info().capabilities.asn) {
                format!("no ASN database lists {ip}")
            } else {
                "no ASN database is loaded".to_string()
            }),
            ..AsnAttribution::default()
        }
    }

    /// Feed entries of the most specific prefix covering `ip`, in priority order.
    pub fn feed_matches(&self, ip: IpAddr) -> Vec<FeedMatch> {
        self.feed_levels(ip).into_iter().next().unwrap_or_default()
    }

    /// Feed entries of every prefix covering `ip`, most specific prefix first, each
    /// prefix's entries in priority order: the in-memory index (bundled feeds) and the
    /// compiled one (imported feeds) together.
    pub fn feed_levels(&self, ip: IpAddr) -> Vec<Vec<FeedMatch>> {
        let mut levels: Vec<(IpPrefix, Vec<(usize, FeedMatch)>)> = self
            .index
            .lookup_all(ip)
            .map(|g| (g.prefix, self.group_matches(g)))
            .collect();
        if let Some(c) = &self.compiled {
            for (prefix, hits) in c.lookup_all(ip) {
                let matches = hits.into_iter().filter_map(|h| {
                    let pos = usize::from(*self.compiled_pos.get(usize::from(h.feed))?);
                    let f = self.feeds.get(pos)?;
                    Some((pos, f.feed_match(&h.entry)))
                });
                match levels.iter_mut().find(|(p, _)| *p == prefix) {
                    Some((_, l)) => l.extend(matches),
                    None => levels.push((prefix, matches.collect())),
                }
            }
            levels.sort_by_key(|(p, _)| std::cmp::Reverse(p.prefix_len()));
            for (_, l) in &mut levels {
                l.sort_by_key(|(pos, _)| *pos);
            }
        }
        levels
            .into_iter()
            .map(|(_, l)| l.into_iter().map(|(_, m)| m).collect::<Vec<_>>())
            .filter(|l| !l.is_empty())
            .collect()
    }

    fn group_matches(&self, group: &index::PrefixGroup<FeedRef>) -> Vec<(usize, FeedMatch)> {
        group
            .values
            .iter()
            .filter_map(|r| {
                let f = self.feeds.get(usize::from(r.feed))?;
                let e = f.feed.entries.get(usize::try_from(r.entry).ok()?)?;
                Some((usize::from(r.feed), f.feed_match(e)))
            })
            .collect()
    }

    /// An entry of the official feed of the network the address is on (not a
    /// service running on others' networks, as GitHub's, nor a third-party list).
    fn is_network_feed(&self, m: &FeedMatch) -> bool {
        m.official
            && self
                .feed_by_name(&m.feed)
                .is_some_and(|f| f.feed.format.rank() == 0)
    }

    /// Attribution of one address, given the hostnames seen for it in the capture.
    pub fn attribute(&self, ip: IpAddr, hostnames: &[HostnameEvidence]) -> Attribution {
        let ip = canonical(ip);
        if let Some(why) = special_purpose(ip) {
            let reason = Some(format!("{ip} is {why}: not attributable to a provider"));
            return Attribution {
                asn: AsnAttribution {
                    reason: reason.clone(),
                    ..Default::default()
                },
                country: CountryAttribution {
                    reason: reason.clone(),
                    ..Default::default()
                },
                provider: ProviderAttribution {
                    reason: reason.clone(),
                    ..Default::default()
                },
                region: RegionAttribution {
                    reason,
                    ..Default::default()
                },
                feeds: Vec::new(),
                notes: Vec::new(),
                ptr: None,
                rdap: None,
                abuse_contacts: Vec::new(),
            };
        }
        let asn = self.asn(ip);
        let geo = self.geo(ip);
        let country = match &geo.country {
            Some((code, db)) => CountryAttribution {
                code: Some(code.clone()),
                source: Some(Self::db_provenance(db)),
                reason: None,
            },
            None => CountryAttribution {
                reason: Some(format!("no country database lists {ip}")),
                ..Default::default()
            },
        };
        let mut levels = self.feed_levels(ip);
        // The prefix that names the provider: the most specific one listed by the
        // official feed of a network (a GitHub range nested in one of Azure's is on
        // Azure's network), else the most specific one.
        let decisive = levels
            .iter()
            .position(|l| l.iter().any(|m| self.is_network_feed(m)))
            .unwrap_or(0);
        let at: &[FeedMatch] = levels.get(decisive).map(Vec::as_slice).unwrap_or(&[]);
        let mut provider = self.provider_of(ip, &asn, at, hostnames);
        if let Some(pid) = provider.id.clone() {
            provider.also_listed = levels
                .iter()
                .take(decisive + 1)
                .flatten()
                .filter(|m| m.official && m.provider != pid)
                .cloned()
                .collect();
            let nested: Vec<String> = levels
                .iter()
                .take(decisive)
                .flatten()
                .filter(|m| m.official && m.provider != pid)
                .map(|m| {
                    format!(
                        "{} lists {} inside it for {}{}",
                        m.feed,
                        m.prefix,
                        m.provider,
                        m.service
                            .as_deref()
                            .map(|s| format!(" ({s})"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            if let (false, Some(ev)) = (nested.is_empty(), provider.evidence.as_mut()) {
                ev.push_str(&format!("; {}", nested.join("; ")));
            }
        }
        let (region, region_level) = self.region_of(&provider, &levels, decisive, hostnames, &geo);
        // What the answer shows of the feeds: the most specific prefix's entries, then
        // those of broader prefixes that named the provider or the region.
        let mut feeds = Vec::new();
        let mut shown = Vec::new();
        for i in [Some(0), Some(decisive), region_level]
            .into_iter()
            .flatten()
        {
            if !shown.contains(&i) {
                shown.push(i);
                if let Some(l) = levels.get_mut(i) {
                    feeds.append(l);
                }
            }
        }
        Attribution {
            asn,
            country,
            provider,
            region,
            feeds,
            notes: Vec::new(),
            ptr: None,
            rdap: None,
            abuse_contacts: Vec::new(),
        }
    }

    fn geo(&self, ip: IpAddr) -> GeoAnswer<'_> {
        let mut out = GeoAnswer::default();
        for db in &self.dbs {
            if out.country.is_some() && out.city.is_some() {
                break;
            }
            let Some(hit) = db.geo(ip) else { continue };
            if out.country.is_none() {
                out.country = hit.country.clone().map(|c| (c, db.info()));
            }
            if out.city.is_none() {
                out.city = hit.city.map(|c| (c, hit.country, db.info()));
            }
        }
        out
    }

    /// The first of `provider`'s feed services (directory order) that its official
    /// feed entries for the prefix name, with the names the entries give (sorted).
    fn feed_service(
        &self,
        provider: &str,
        feeds: &[FeedMatch],
    ) -> Option<(&directory::FeedService, Vec<String>)> {
        let names: std::collections::BTreeSet<&str> = feeds
            .iter()
            .filter(|m| m.official && m.provider == provider)
            .filter_map(|m| m.service.as_deref())
            .collect();
        let p = self.directory.directory().provider(provider)?;
        let fs = p
            .feed_services
            .iter()
            .find(|fs| names.iter().any(|n| fs.matches(n)))?;
        Some((fs, names.into_iter().map(str::to_string).collect()))
    }

    fn feed_by_name(&self, name: &str) -> Option<&LoadedFeed> {
        self.feeds.iter().find(|f| f.name == name)
    }

    fn provider_ref(&self, id: &str) -> ProviderRef {
        self.directory.provider(id).unwrap_or_else(|| ProviderRef {
            id: id.to_string(),
            name: id.to_string(),
            service_model: "unknown".to_string(),
        })
    }

    fn provider_of(
        &self,
        ip: IpAddr,
        asn: &AsnAttribution,
        feeds: &[FeedMatch],
        hostnames: &[HostnameEvidence],
    ) -> ProviderAttribution {
        let from = |p: ProviderRef, source: Provenance, confidence, basis, evidence: String| {
            ProviderAttribution {
                id: Some(p.id),
                name: Some(p.name),
                service_model: Some(p.service_model),
                source: Some(source),
                confidence: Some(confidence),
                basis: Some(basis),
                evidence: Some(evidence),
                conflict: None,
                service: None,
                also_listed: Vec::new(),
                reason: None,
            }
        };
        // 1. An official feed lists the prefix.
        if let Some(m) = feeds.iter().find(|m| m.official) {
            if let Some(f) = self.feed_by_name(&m.feed) {
                let others: Vec<&str> = feeds
                    .iter()
                    .filter(|o| o.provider != m.provider)
                    .map(|o| o.provider.as_str())
                    .collect();
                let mut evidence = format!(
                    "{} lists {} ({}{})",
                    m.feed,
                    m.prefix,
                    f.feed.format.as_str(),
                    f.describe_origin()
                );
                if !others.is_empty() {
                    evidence.push_str(&format!(
                        "; the same prefix is also listed for {}",
                        others.join(", ")
                    ));
                }
                // A feed that the ASN data contradicts is not strong evidence: one of
                // the two is wrong (or the provider runs on another's network).
                let conflict = asn.number.and_then(|n| {
                    let holders = self.directory.directory().asn_holders(n);
                    let first = holders.first()?;
                    (!holders.iter().any(|h| h.provider.id == m.provider)).then(|| {
                        format!(
                            "the feed and the ASN data disagree: {ip} is announced by AS{n}{}, which the provider directory assigns to {}, not {}",
                            asn.organization
                                .as_deref()
                                .map(|o| format!(" ({o})"))
                                .unwrap_or_default(),
                            first.provider.id,
                            m.provider
                        )
                    })
                });
                let confidence = match &conflict {
                    Some(c) => {
                        evidence.push_str(&format!("; {c}"));
                        Confidence::Medium
                    }
                    None => Confidence::Strong,
                };
                // What the feed's services or tags for the prefix say: a CDN, storage,
                // compute, or the provider's own first-party space.
                let service = self.feed_service(&m.provider, feeds);
                let mut provider = self.provider_ref(&m.provider);
                if let Some((fs, named)) = &service {
                    evidence.push_str(&format!(
                        "; the feed names {} for it: {}",
                        named.join(", "),
                        fs.what
                    ));
                    if let Some(other) = &fs.provider {
                        provider = self.provider_ref(other);
                    }
                    if let Some(model) = fs.model {
                        provider.service_model = model.as_str().to_string();
                    }
                }
                let mut p = from(
                    provider,
                    f.provenance(),
                    confidence,
                    Basis::OfficialFeed,
                    evidence,
                );
                p.conflict = conflict;
                p.service = service.map(|(fs, _)| fs.service.clone());
                return p;
            }
        }
        // 2. The announcing ASN belongs to a provider of the directory.
        if let (Some(n), Some(src)) = (asn.number, &asn.source) {
            if let Some(owner) = self.directory.asn_owner(n) {
                let mut evidence = format!(
                    "{ip} is announced by AS{n}{} per {}; the provider directory (version {}) assigns AS{n} to {}",
                    asn.network.map(|p| format!(" ({p})")).unwrap_or_default(),
                    src.source,
                    self.directory.version(),
                    owner.provider.id
                );
                // An ASN the directory lists only as unverified, or that several
                // providers share, is weaker evidence.
                let mut confidence = Confidence::Medium;
                if !owner.verified {
                    confidence = Confidence::Weak;
                    evidence.push_str(" (listed as unverified)");
                }
                if !owner.shared_with.is_empty() {
                    confidence = Confidence::Weak;
                    evidence.push_str(&format!(
                        "; AS{n} is shared with {}",
                        owner.shared_with.join(", ")
                    ));
                }
                // A cloud whose official feed lists all its customers' ranges: an
                // address of its ASN outside the feed is the company's own space.
                let outside = self
                    .directory
                    .directory()
                    .provider(&owner.provider.id)
                    .and_then(|p| p.outside_feed.as_ref())
                    .filter(|o| o.asns.contains(&n));
                if let Some(o) = outside {
                    let feed = self.feeds.iter().find(|f| {
                        f.provider == owner.provider.id && f.feed.format.as_str() == o.feed
                    });
                    match feed {
                        Some(f) => {
                            let evidence = format!(
                                "{evidence}; {}{} does not list {ip}: {}",
                                f.name,
                                f.describe_origin(),
                                o.what
                            );
                            let confidence = match o.strength {
                                directory::Strength::Strong => Confidence::Medium,
                                directory::Strength::Medium => Confidence::Weak,
                            };
                            return from(
                                self.provider_ref(&o.provider),
                                src.clone(),
                                confidence,
                                Basis::Asn,
                                evidence,
                            );
                        }
                        None => evidence.push_str(&format!(
                            "; no {} feed of {} is loaded, so whether the address is {}'s own space cannot be told",
                            o.feed, owner.provider.id, o.provider
                        )),
                    }
                }
                return from(
                    owner.provider,
                    src.clone(),
                    confidence,
                    Basis::Asn,
                    evidence,
                );
            }
        }
        // 3. An unofficial ASN-derived list holds the prefix.
        if let Some(m) = feeds.first() {
            if let Some(f) = self.feed_by_name(&m.feed) {
                let evidence = format!("{} (not official: prefixes announced by the provider's ASNs, third-party list) holds {}", m.feed, m.prefix);
                return from(
                    self.provider_ref(&m.provider),
                    f.provenance(),
                    Confidence::Medium,
                    Basis::UnofficialFeed,
                    evidence,
                );
            }
        }
        // 4. A provider hostname seen in the capture.
        for h in sorted_hostnames(hostnames) {
            if let Some(hm) = self.directory.match_hostname(&h.name) {
                let evidence = format!(
                    "{} `{}` (pattern {}){}",
                    h.kind.as_str(),
                    h.name,
                    hm.pattern,
                    h.frame
                        .map(|f| format!(", capture {} frame {}", f.capture, f.frame))
                        .unwrap_or_default()
                );
                let source = Provenance {
                    source: format!("hostname:{}", h.kind.as_str()),
                    version: Some(format!("provider directory {}", self.directory.version())),
                    sha256: None,
                    date: None,
                };
                let confidence = hm.confidence.min(hostname_kind_cap(h.kind));
                return from(
                    self.provider_ref(&hm.provider),
                    source,
                    confidence,
                    Basis::Hostname,
                    evidence,
                );
            }
        }
        let mut why = Vec::new();
        if self.feeds.is_empty() {
            why.push("no provider feeds are loaded".to_string());
        } else {
            why.push("no loaded feed lists the address".to_string());
        }
        match asn.number {
            Some(n) => why.push(format!(
                "AS{n}{} is not in the provider directory",
                asn.organization
                    .as_ref()
                    .map(|o| format!(" ({o})"))
                    .unwrap_or_default()
            )),
            None => why.push("its ASN is unknown".to_string()),
        }
        if !hostnames.is_empty() {
            why.push("no hostname seen for it matches a provider pattern".to_string());
        }
        ProviderAttribution {
            reason: Some(why.join("; ")),
            ..Default::default()
        }
    }

    /// The region, and which of `levels` gave it when a feed did.
    fn region_of(
        &self,
        provider: &ProviderAttribution,
        levels: &[Vec<FeedMatch>],
        decisive: usize,
        hostnames: &[HostnameEvidence],
        geo: &GeoAnswer<'_>,
    ) -> (RegionAttribution, Option<usize>) {
        let Some(pid) = provider.id.as_deref() else {
            return (
                RegionAttribution {
                    reason: Some("provider unknown, so no provider region".to_string()),
                    ..Default::default()
                },
                None,
            );
        };
        let mut why: Vec<String> = Vec::new();
        // 1. Official feed: the regions its entries for this prefix name.
        let own_at = |i: usize| -> Vec<&FeedMatch> {
            levels
                .get(i)
                .map(|l| {
                    l.iter()
                        .filter(|m| m.official && m.provider == pid)
                        .collect()
                })
                .unwrap_or_default()
        };
        let own = own_at(decisive);
        if !own.is_empty() {
            let regions = self.feed_regions(pid, &own);
            let global = own
                .iter()
                .filter_map(|m| m.region.as_deref())
                .any(|r| r.eq_ignore_ascii_case("global"));
            let prefix = own
                .first()
                .map(|m| m.prefix.to_string())
                .unwrap_or_default();
            if regions.len() == 1 {
                return (
                    self.feed_region_answer(pid, &own, &regions, None),
                    Some(decisive),
                );
            }
            if regions.len() > 1 {
                why.push(format!(
                    "the feed lists {prefix} in several regions ({})",
                    regions.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            } else if global {
                why.push(format!(
                    "the feed lists {prefix} as GLOBAL (not tied to a region)"
                ));
            }
            // Geofeeds (RFC 8805) give a city instead of a region id.
            if let Some(m) = own.iter().find(|m| m.city.is_some()) {
                return (self.geofeed_region(pid, m), Some(decisive));
            }
            if regions.is_empty() && !global {
                // A more specific block listed without a region (Azure lists service
                // tags without one inside its regional blocks): the innermost broader
                // block of the same provider's feed that names one region gives it.
                for i in decisive + 1..levels.len() {
                    let broader = own_at(i);
                    let r = self.feed_regions(pid, &broader);
                    if r.len() == 1 {
                        return (
                            self.feed_region_answer(pid, &broader, &r, Some(&prefix)),
                            Some(i),
                        );
                    }
                    if r.len() > 1 {
                        break;
                    }
                }
                why.push(format!("the feed gives no region for {prefix}"));
            }
        } else {
            why.push("no official feed of the provider lists the address".to_string());
        }
        // 2. A provider hostname seen for the address that embeds a region.
        for h in sorted_hostnames(hostnames) {
            let Some(hm) = self.directory.match_hostname(&h.name) else {
                continue;
            };
            if hm.provider != pid {
                why.push(format!("`{}` names {}, not {pid}", h.name, hm.provider));
                continue;
            }
            match hm.region {
                Some(RegionRef { id, city }) => {
                    return (
                        RegionAttribution {
                            id: Some(id.clone()),
                            city,
                            source: Some(Provenance {
                                source: format!("hostname:{}", h.kind.as_str()),
                                version: Some(format!(
                                    "provider directory {}",
                                    self.directory.version()
                                )),
                                sha256: None,
                                date: None,
                            }),
                            confidence: Some(hm.confidence.min(hostname_kind_cap(h.kind))),
                            basis: Some(Basis::Hostname),
                            evidence: Some(format!(
                                "{} `{}` embeds region {id} (pattern {})",
                                h.kind.as_str(),
                                h.name,
                                hm.pattern
                            )),
                            frame: h.frame,
                            ..Default::default()
                        },
                        None,
                    );
                }
                None => why.push(
                    hm.no_region_reason
                        .unwrap_or_else(|| format!("`{}` embeds no region", h.name)),
                ),
            }
        }
        if hostnames.is_empty() {
            why.push("no hostname was seen for the address".to_string());
        }
        // 3. GeoIP city mapped to the provider's regions (weakest).
        match &geo.city {
            Some((city, country, db)) => {
                let candidates = self
                    .directory
                    .regions_by_city(pid, city, country.as_deref());
                if let [r] = candidates.as_slice() {
                    return (
                        RegionAttribution {
                            id: Some(r.id.clone()),
                            city: Some(city.clone()),
                            source: Some(Self::db_provenance(db)),
                            confidence: Some(Confidence::Weak),
                            basis: Some(Basis::GeoipCity),
                            evidence: Some(format!(
                                "{} places the address in {city}; {pid} has region {} there",
                                db.name, r.id
                            )),
                            ..Default::default()
                        },
                        None,
                    );
                }
                if candidates.is_empty() {
                    why.push(format!(
                        "GeoIP city {city} is not a city of {pid}'s regions"
                    ));
                } else {
                    why.push(format!(
                        "GeoIP city {city} holds several {pid} regions ({})",
                        candidates
                            .iter()
                            .map(|r| r.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            None => why.push("no city database places the address".to_string()),
        }
        (
            RegionAttribution {
                reason: Some(why.join("; ")),
                ..Default::default()
            },
            None,
        )
    }

    /// The regions `entries` name, by the directory's id (the feed's spellings of
    /// each kept), GLOBAL and empty ones left out.
    fn feed_regions(&self, pid: &str, entries: &[&FeedMatch]) -> BTreeMap<String, Vec<String>> {
        let p = self.directory.directory().provider(pid);
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in entries.iter().filter_map(|m| m.region.as_deref()) {
            let r = r.trim();
            if r.is_empty() || r.eq_ignore_ascii_case("global") {
                continue;
            }
            let id = p
                .and_then(|p| p.region(r))
                .map(|reg| reg.id.clone())
                .unwrap_or_else(|| r.to_string());
            let spellings = out.entry(id).or_default();
            if !spellings.iter().any(|s| s == r) {
                spellings.push(r.to_string());
            }
        }
        out
    }

    /// The answer for the one region `regions` holds, from `entries` of the
    /// provider's feed; `inner` is the more specific prefix listed without a region,
    /// when the region comes from a broader block.
    fn feed_region_answer(
        &self,
        pid: &str,
        entries: &[&FeedMatch],
        regions: &BTreeMap<String, Vec<String>>,
        inner: Option<&str>,
    ) -> RegionAttribution {
        let Some((id, spellings)) = regions.iter().next() else {
            return RegionAttribution::default();
        };
        let first = entries.first();
        let feed_name = first.map(|m| m.feed.as_str()).unwrap_or("");
        let prefix = first.map(|m| m.prefix.to_string()).unwrap_or_default();
        let region = self
            .directory
            .directory()
            .provider(pid)
            .and_then(|p| p.region(id));
        let spelled: Vec<&String> = spellings.iter().filter(|s| *s != id).collect();
        let mut evidence = match inner {
            Some(inner) => format!(
                "{feed_name} lists {inner} without a region, inside {prefix}, which it lists in region {}",
                spellings.join(", ")
            ),
            None => format!("{feed_name} lists {prefix} in region {}", spellings.join(", ")),
        };
        if !spelled.is_empty() {
            evidence.push_str(&format!(" (the provider directory's {id})"));
        }
        if region.is_none() {
            evidence.push_str(&format!(
                "; {id} is not in the provider directory's region list (version {}), so its city is unknown",
                self.directory.version()
            ));
        }
        RegionAttribution {
            id: Some(id.clone()),
            city: region.and_then(|r| r.city.clone()),
            source: first
                .and_then(|m| self.feed_by_name(&m.feed))
                .map(LoadedFeed::provenance),
            confidence: Some(Confidence::Strong),
            basis: Some(Basis::OfficialFeed),
            evidence: Some(evidence),
            feed_region: (!spelled.is_empty()).then(|| {
                spelled
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
            ..Default::default()
        }
    }

    /// A geofeed (RFC 8805) entry's city and country, mapped to the provider's
    /// regions: one region there names it; several are listed as candidates.
    fn geofeed_region(&self, pid: &str, m: &FeedMatch) -> RegionAttribution {
        let candidates = m
            .city
            .as_deref()
            .map(|c| self.directory.regions_by_city(pid, c, m.country.as_deref()))
            .unwrap_or_default();
        let region = match candidates.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        };
        let ids: Vec<String> = candidates.iter().map(|r| r.id.clone()).collect();
        let note = match candidates.len() {
            0 => "; no region of the provider's list is in that city".to_string(),
            1 => String::new(),
            _ => format!(
                "; the provider has several regions there ({}), so which one cannot be told",
                ids.join(", ")
            ),
        };
        RegionAttribution {
            id: region.as_ref().map(|r| r.id.clone()),
            city: m.city.clone(),
            source: self.feed_by_name(&m.feed).map(LoadedFeed::provenance),
            confidence: Some(Confidence::Strong),
            basis: Some(Basis::OfficialFeed),
            evidence: Some(format!(
                "{} (RFC 8805 geofeed) places {} in {}, {}{}",
                m.feed,
                m.prefix,
                m.city.as_deref().unwrap_or("?"),
                m.country.as_deref().unwrap_or("?"),
                note
            )),
            candidates: if ids.len() > 1 { ids } else { Vec::new() },
            ..Default::default()
        }
    }

    /// What the ASN data says about a feed's prefixes, from a sample of at most 500
    /// entries spread over the feed: how many are announced by an ASN the directory
    /// gives to `provider`, how many by an ASN it gives to another provider, how many
    /// by an ASN it does not know (or none).
    pub fn asn_agreement(&self, feed: &Feed, provider: &str) -> AsnAgreement {
        let n = feed.entries.len();
        let step = n.div_ceil(500).max(1);
        let mut out = AsnAgreement::default();
        for e in feed.entries.iter().step_by(step) {
            out.sampled += 1;
            let Some(asn) = self.asn(e.prefix.first()).number else {
                out.unknown += 1;
                continue;
            };
            let holders = self.directory.directory().asn_holders(asn);
            if holders.is_empty() {
                out.unknown += 1;
            } else if holders.iter().any(|h| h.provider.id == provider) {
                out.agree += 1;
            } else {
                out.contradict += 1;
                if out.examples.len() < 3 {
                    out.examples.push(format!(
                        "{} is announced by AS{asn} ({})",
                        e.prefix,
                        holders
                            .first()
                            .map(|h| h.provider.id.as_str())
                            .unwrap_or("?")
                    ));
                }
            }
        }
        out
    }

    /// Decides which provider publishes a geofeed or CIDR list (the file does not
    /// say): the provider of the ASN announcing most of its prefixes, by the loaded
    /// ASN databases and the directory; failing that, a provider id in the file name.
    pub fn identify_provider(
        &self,
        feed: &Feed,
        file_name: &str,
    ) -> Result<(String, String), String> {
        if let Some(p) = feed.format.provider() {
            return Ok((
                p.to_string(),
                "the format is the provider's own".to_string(),
            ));
        }
        if feed.format == FeedFormat::AsnDerived || feed.format == FeedFormat::GeofeedJson {
            for a in &feed.declared_asns {
                if let Some(p) = self.directory.by_asn(*a) {
                    return Ok((p.id, format!("the file names AS{a}")));
                }
            }
            if let Some(name) = &feed.declared_provider {
                let lower = name.to_ascii_lowercase();
                if let Some(id) = self.directory.provider_ids().into_iter().find(|id| {
                    lower
                        .split(|c: char| !c.is_ascii_alphanumeric())
                        .any(|w| w == id)
                }) {
                    return Ok((id, format!("the file names provider `{name}`")));
                }
            }
        }
        let mut votes: BTreeMap<String, usize> = BTreeMap::new();
        let sample: Vec<_> = feed.entries.iter().take(500).collect();
        for e in &sample {
            if let Some(n) = self.asn(e.prefix.first()).number {
                if let Some(p) = self.directory.by_asn(n) {
                    *votes.entry(p.id).or_default() += 1;
                }
            }
        }
        if let Some((id, n)) = votes
            .iter()
            .max_by_key(|(id, n)| (**n, std::cmp::Reverse((*id).clone())))
        {
            if n * 2 > sample.len() {
                return Ok((
                    id.clone(),
                    format!(
                        "{n} of {} sampled prefixes are announced by {id}'s ASNs",
                        sample.len()
                    ),
                ));
            }
        }
        let lower = file_name.to_ascii_lowercase();
        let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphanumeric()).collect();
        if let Some(id) = self
            .directory
            .provider_ids()
            .into_iter()
            .find(|id| words.contains(&id.as_str()))
        {
            return Ok((
                id,
                format!("the file name `{file_name}` names it (ASN data did not decide)"),
            ));
        }
        Err(format!(
            "cannot tell which provider publishes this {}: its prefixes' ASNs belong to no single provider of the directory and the file name names none",
            feed.format.as_str()
        ))
    }
}

/// See [`Attributor::asn_agreement`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AsnAgreement {
    pub sampled: usize,
    pub agree: usize,
    pub contradict: usize,
    pub unknown: usize,
    /// Up to three contradicting prefixes, for messages.
    pub examples: Vec<String>,
}

impl AsnAgreement {
    /// Most prefixes whose ASN the directory knows belong to another provider.
    pub fn mostly_contradicts(&self) -> bool {
        self.contradict > self.agree && self.contradict * 2 > self.sampled - self.unknown
    }
}

#[derive(Default)]
struct GeoAnswer<'a> {
    country: Option<(String, &'a DbInfo)>,
    city: Option<(String, Option<String>, &'a DbInfo)>,
}

/// Hostnames in order of how directly they bind the name to the address: DNS answer
/// and CNAME chain first, then SNI and certificate names, then HTTP Host.
fn sorted_hostnames(h: &[HostnameEvidence]) -> Vec<&HostnameEvidence> {
    let mut v: Vec<&HostnameEvidence> = h.iter().collect();
    v.sort_by(|a, b| (a.kind, &a.name, a.frame).cmp(&(b.kind, &b.name, b.frame)));
    v
}

/// HTTP Host headers are written by the client and prove nothing about the server:
/// they never give more than weak evidence.
fn hostname_kind_cap(kind: HostnameKind) -> Confidence {
    match kind {
        HostnameKind::HttpHost => Confidence::Weak,
        HostnameKind::Ptr => Confidence::Medium,
        _ => Confidence::Strong,
    }
}

/// Why an address belongs to no provider (private, loopback, documentation, ...), or
/// `None` for a public address.
pub fn special_purpose_reason(ip: IpAddr) -> Option<&'static str> {
    special_purpose(canonical(ip))
}

/// Special-purpose addresses (RFC 6890 and successors) belong to no provider.
fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    crate::model::address_scope(ip).1
}

/// Days beyond which the data a provider or region answer rests on is called far from
/// the capture's time: address blocks change hands, and providers move ranges between
/// regions.
pub const DATA_AGE_WARN_DAYS: i64 = 180;

/// Days beyond which data is called stale by `lookup` and `data info`, measured to
/// their reference date (`--at`, else today by the clock), for every answer (ASN,
/// country, provider, region): providers publish their feeds weekly and ASN data
/// changes daily, so three months is already far behind.
pub const LOOKUP_AGE_WARN_DAYS: i64 = 90;

/// The day a data date (`YYYY-MM-DD`, or `YYYY-MM` taken as its first day) stands for,
/// as days since the Unix epoch.
pub fn data_day(date: &str) -> Option<i64> {
    let y: i32 = date.get(0..4)?.parse().ok()?;
    if date.get(4..5)? != "-" {
        return None;
    }
    let m: u8 = date.get(5..7)?.parse().ok()?;
    let d: u8 = match date.get(7..) {
        Some("") => 1,
        Some(rest) => rest.strip_prefix('-')?.get(..2)?.parse().ok()?,
        None => return None,
    };
    let date = time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()?;
    Some(
        i64::from(date.to_julian_day())
            - i64::from(time::macros::date!(1970 - 01 - 01).to_julian_day()),
    )
}

/// `YYYY-MM-DD` of a day counted from the Unix epoch.
pub fn day_text(day: i64) -> String {
    let julian = i64::from(time::macros::date!(1970 - 01 - 01).to_julian_day()) + day;
    i32::try_from(julian)
        .ok()
        .and_then(|j| time::Date::from_julian_day(j).ok())
        .map(|d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
        .unwrap_or_else(|| "?".to_string())
}

impl Attribution {
    /// Notes, for the provider and region answers, when the data they rest on is more
    /// than [`DATA_AGE_WARN_DAYS`] from the capture's time (`capture_secs`, Unix).
    /// Depends on the data and the capture only: the same input, the same notes.
    pub fn note_data_age(&mut self, capture_secs: i64) {
        self.note_age(
            capture_secs.div_euclid(86_400),
            "the capture",
            DATA_AGE_WARN_DAYS,
            false,
        );
    }

    /// Notes, for every answer (ASN, country, provider, region), when the data it
    /// rests on is more than `max_days` from `day` (days since the Unix epoch), which
    /// `label` names (`2026-12-04 (today)`, `2026-01-01 (--at)`).
    pub fn note_data_age_at(&mut self, day: i64, label: &str, max_days: i64) {
        self.note_age(day, label, max_days, true);
    }

    fn note_age(&mut self, day: i64, label: &str, max_days: i64, databases: bool) {
        // source -> (date, gap in days, answers resting on it)
        let mut far: BTreeMap<String, (String, i64, Vec<&str>)> = BTreeMap::new();
        let dbs = [
            ("ASN", self.asn.source.as_ref()),
            ("country", self.country.source.as_ref()),
        ];
        let answers = [
            ("provider", self.provider.source.as_ref()),
            ("region", self.region.source.as_ref()),
        ];
        let dbs = if databases { &dbs[..] } else { &[] };
        for &(what, src) in dbs.iter().chain(answers.iter()) {
            let Some(src) = src else { continue };
            let Some(date) = src.date.as_deref() else {
                continue;
            };
            let Some(data) = data_day(date) else { continue };
            let gap = day - data;
            if gap.abs() > max_days {
                far.entry(src.source.clone())
                    .or_insert_with(|| (date.to_string(), gap, Vec::new()))
                    .2
                    .push(what);
            }
        }
        for (source, (date, gap, whats)) in far {
            let advice = if databases {
                format!(" (more than {max_days} days): address blocks change hands, so check against newer data (whohosts data update) or data of the time that matters (--data-dir with an archived data set, --no-bundled-feeds)")
            } else {
                ": address blocks change hands, so check against data of the capture's time (--data-dir with an archived data set, --no-bundled-feeds)".to_string()
            };
            self.notes.push(format!(
                "the {} {} on {source} with data of {date}, about {} months {} {label}{advice}",
                whats.join(" and "),
                if whats.len() > 1 {
                    "answers rest"
                } else {
                    "answer rests"
                },
                gap.abs() / 30,
                if gap > 0 { "before" } else { "after" }
            ));
        }
    }
}

/// Attribution of every address of an analysis, computed once per address after the
/// records are finished, with the sources used.
#[derive(Clone, Debug, Default)]
pub struct Attributions {
    pub by_ip: std::collections::BTreeMap<IpAddr, Attribution>,
    pub sources: Vec<SourceInfo>,
    /// Where the online answers are kept, when `--online` ran.
    pub online: Option<online::OnlineSummary>,
}

impl From<crate::services::NameSource> for HostnameKind {
    fn from(s: crate::services::NameSource) -> Self {
        use crate::services::NameSource as N;
        match s {
            N::TlsSni | N::QuicSni | N::EchOuterSni => HostnameKind::Sni,
            // A name the client asked a proxy for weighs as a Host header does.
            N::HttpHost | N::Socks | N::HttpProxy => HostnameKind::HttpHost,
            N::DnsAnswer | N::Netbios => HostnameKind::DnsAnswer,
            N::DnsCname => HostnameKind::Cname,
            N::Certificate => HostnameKind::Cert,
        }
    }
}

impl Attributor {
    /// Attributes each address, with the hostnames the capture bound to it.
    pub fn attribute_all<'a>(
        &self,
        ips: impl IntoIterator<Item = IpAddr>,
        names: impl IntoIterator<Item = &'a crate::services::NameEvidence>,
    ) -> Attributions {
        self.attribute_all_online(ips, names, None)
    }

    /// [`Attributor::attribute_all`] with online answers: PTR names join the capture's
    /// hostnames (so a region a PTR name embeds enters the region ladder), and each
    /// address gains its PTR, RDAP record and abuse contacts.
    pub fn attribute_all_online<'a>(
        &self,
        ips: impl IntoIterator<Item = IpAddr>,
        names: impl IntoIterator<Item = &'a crate::services::NameEvidence>,
        answers: Option<&online::OnlineAnswers>,
    ) -> Attributions {
        let mut by_name: std::collections::BTreeMap<IpAddr, Vec<HostnameEvidence>> =
            std::collections::BTreeMap::new();
        for n in names {
            let e = HostnameEvidence::from_wire(n.name.as_bytes(), n.source.into(), Some(n.at));
            by_name.entry(n.ip).or_default().push(e);
        }
        let by_ip = ips
            .into_iter()
            .map(|ip| {
                let mut hostnames = by_name.get(&ip).cloned().unwrap_or_default();
                (ip, self.attribute_online(ip, &mut hostnames, answers))
            })
            .collect();
        Attributions {
            by_ip,
            sources: self.sources(),
            online: None,
        }
    }

    /// One address with its hostnames and, when given, its online answers.
    pub fn attribute_online(
        &self,
        ip: IpAddr,
        hostnames: &mut Vec<HostnameEvidence>,
        answers: Option<&online::OnlineAnswers>,
    ) -> Attribution {
        let Some(ans) = answers else {
            return self.attribute(ip, hostnames);
        };
        let ptr = ans.ptr_summary(ip);
        for n in ptr.iter().flat_map(|p| p.names.iter()) {
            hostnames.push(HostnameEvidence::from_wire(
                n.as_bytes(),
                HostnameKind::Ptr,
                None,
            ));
        }
        let mut a = self.attribute(ip, hostnames);
        a.ptr = ptr;
        if let Some((summary, contacts)) = ans.rdap_summary(ip) {
            a.rdap = Some(summary);
            a.abuse_contacts = contacts;
        }
        a
    }
}

impl Attributions {
    /// Adds [`Attribution::note_data_age`] notes for a capture that began at
    /// `capture_secs` (Unix seconds).
    pub fn note_data_age(&mut self, capture_secs: i64) {
        for a in self.by_ip.values_mut() {
            a.note_data_age(capture_secs);
        }
    }
}
