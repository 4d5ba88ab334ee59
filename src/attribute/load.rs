//! Loading: the bundled and user databases, the data directory's feeds and the
//! bundled feed snapshot, the provider directory; and the list of sources used.

use super::*;

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
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

    pub(super) fn feed_match(&self, e: &feeds::FeedEntry) -> FeedMatch {
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
    pub(super) fn describe_origin(&self) -> String {
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

    /// Where the feed's answers come from (shared by [`Attributor::shared`]).
    pub(super) fn provenance(&self) -> ProvenanceRecord {
        ProvenanceRecord {
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
pub(super) struct FeedRef {
    pub(super) feed: u16,
    pub(super) entry: u32,
}

/// Licence facts of the bundled files, from `data/bundled.json`.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub(super) struct BundledManifest {
    #[serde(default)]
    files: Vec<BundledFile>,
}

#[derive(Clone, Debug, serde::Deserialize)]
pub(super) struct BundledFile {
    file: String,
    package: Option<String>,
    version: Option<String>,
    licence: Option<String>,
    attribution: Option<String>,
}

/// The bundled feed snapshot, less the feeds the data directory holds a copy of (an
/// imported or downloaded feed replaces the bundled one of the same name).
pub(super) struct BundledFeeds {
    pub(super) feeds: Vec<LoadedFeed>,
    /// The feeds' entries, when read from the cached compiled index
    /// ([`compiled::bundled_index_path`]) instead of parsed.
    pub(super) compiled: Option<compiled::CompiledIndex>,
    /// A bundled feed that does not unpack or parse.
    pub(super) warnings: Vec<String>,
    pub(super) notes: Vec<String>,
}

/// Loads the bundled feed snapshot: from its compiled index in the data directory
/// while that was made from the same snapshot and the same feeds in use, else by
/// unpacking and parsing the feeds, then compiling them for the next call (best
/// effort: a data directory that cannot be written is only slower). Either way the
/// feeds, their entries and what is said about them are the same.
pub(super) fn load_bundled_feeds(
    b: &bundle::Bundle,
    installed: &[LoadedFeed],
    data_dir: &Path,
) -> BundledFeeds {
    let mut out = BundledFeeds {
        feeds: Vec::new(),
        compiled: None,
        warnings: Vec::new(),
        notes: Vec::new(),
    };
    let raw = match b.read("feeds.json") {
        Ok(bytes) => bytes,
        Err(e) => {
            out.warnings.push(format!(
                "no bundled feed snapshot ({}: {e})",
                b.path_of("feeds.json").display()
            ));
            return out;
        }
    };
    let manifest: bundle::FeedManifest = match serde_json::from_slice(&raw) {
        Ok(m) => m,
        Err(e) => {
            out.warnings
                .push(format!("bundled feeds.json does not parse: {e}"));
            return out;
        }
    };
    let mut used = Vec::new();
    for f in &manifest.feeds {
        match installed.iter().find(|i| i.name == f.stored) {
            Some(i) => out.notes.push(format!(
                "bundled {} (snapshot {}) is replaced by the data directory's copy{}",
                f.stored,
                manifest.snapshot,
                i.feed
                    .version
                    .as_deref()
                    .map(|v| format!(" (version {v})"))
                    .unwrap_or_default()
            )),
            None => used.push(f),
        }
    }
    if used.is_empty() {
        return out;
    }
    // The manifest records every feed's size, SHA-256, date, address and terms: its
    // hash and the names in use decide whether the compiled index is this snapshot.
    let stamps: Vec<compiled::Stamp> = std::iter::once(compiled::Stamp {
        name: format!("feeds.json sha256:{}", crate::hash::sha256_hex(&raw)),
        len: raw.len() as u64,
        mtime_ns: 0,
    })
    .chain(used.iter().map(|f| compiled::Stamp {
        name: f.stored.clone(),
        len: f.size,
        mtime_ns: 0,
    }))
    .collect();
    let path = compiled::bundled_index_path(data_dir);
    match compiled::CompiledIndex::open(&path, Some(&stamps)) {
        Ok(index) => {
            out.warnings
                .extend(index.skipped().iter().map(|s| s.problem.clone()));
            out.feeds = index
                .feeds()
                .iter()
                .map(compiled::FeedMeta::loaded)
                .collect();
            out.compiled = Some(index);
            return out;
        }
        Err(compiled::CompiledError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(compiled::CompiledError::Stale) => {}
        Err(e) => out
            .notes
            .push(format!("{}: not used ({e}); rebuilt", path.display())),
    }
    let mut skipped = Vec::new();
    for f in used {
        let parsed = bundle::unpack_feed(b, f)
            .map_err(|e| format!("bundled feed skipped: {e}"))
            .and_then(|bytes| {
                LoadedFeed::parse(&f.stored, &f.provider, &bytes)
                    .map_err(|e| format!("bundled feed {} skipped: {e}", f.file))
            });
        match parsed {
            Ok(mut lf) => {
                lf.date = Some(f.date.clone());
                lf.bundled = Some(BundledOrigin {
                    snapshot: manifest.snapshot.clone(),
                    url: f.url.clone(),
                    terms: f.terms.clone(),
                });
                out.feeds.push(lf);
            }
            Err(problem) => {
                out.warnings.push(problem.clone());
                skipped.push(compiled::Skipped {
                    name: f.stored.clone(),
                    sha256: None,
                    problem,
                });
            }
        }
    }
    let counted: Vec<(&LoadedFeed, (usize, usize))> =
        out.feeds.iter().map(|f| (f, f.feed.counts())).collect();
    // A cache: failing to write it changes no answer, only the next call's time.
    let _ = compiled::write(&path, stamps, &counted, skipped);
    out
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
                dbs.push(GeoDb::from_bytes(bytes, &path, true, b.known_sha256(name))?);
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
        let mut compiled: Vec<compiled::CompiledIndex> = stored.compiled.into_iter().collect();
        if let (Some(b), false) = (&bundle, opts.no_bundled_feeds) {
            let bundled = load_bundled_feeds(b, &feeds, &data_dir);
            feeds.extend(bundled.feeds);
            compiled.extend(bundled.compiled);
            warnings.extend(bundled.warnings);
            notes.extend(bundled.notes);
        }
        let mut a = Self::assemble(
            dbs, manifest, feeds, compiled, directory, data_dir, warnings,
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

    pub(super) fn assemble(
        dbs: Vec<GeoDb>,
        manifest: BundledManifest,
        mut feeds: Vec<LoadedFeed>,
        compiled: Vec<compiled::CompiledIndex>,
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
        // Each compiled feed's place in the priority order, index by index (the
        // stored feeds', the bundled snapshot's).
        let compiled_pos = compiled
            .iter()
            .map(|c| {
                c.feeds()
                    .iter()
                    .map(|m| {
                        feeds
                            .iter()
                            .position(|f| {
                                f.compiled.is_some()
                                    && f.name == m.name
                                    && f.bundled.is_some() == m.bundled.is_some()
                            })
                            .and_then(|p| u16::try_from(p).ok())
                            .unwrap_or(u16::MAX)
                    })
                    .collect()
            })
            .collect();
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
            provenances: Default::default(),
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

    pub(super) fn db_provenance(&self, info: &DbInfo) -> Provenance {
        self.shared(ProvenanceRecord {
            source: info.name.clone(),
            version: Some(format!("{} built {}", info.database_type, info.build_date)),
            sha256: Some(info.sha256.clone()),
            date: Some(info.build_date.clone()),
        })
    }

    /// The one shared provenance of a source: every answer from it holds the same
    /// record, not a copy of its four strings. Unshared if the set's lock was
    /// poisoned (the answer is the same; only memory differs).
    pub(super) fn shared(&self, record: ProvenanceRecord) -> Provenance {
        let Ok(mut set) = self.provenances.lock() else {
            return record.into();
        };
        if let Some(p) = set.get(&record) {
            return p.clone();
        }
        let p = Provenance::from(record);
        set.insert(p.clone());
        p
    }
}
