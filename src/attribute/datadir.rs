//! The data directory: imported provider feeds, and the import itself.
//!
//! Layout: `<data-dir>/feeds/<provider>.<format>[-v4|-v6].<ext>`, one file per feed,
//! the bytes exactly as published (so their SHA-256 matches the provider's file).
//! `data update --from DIR` recognises each file of DIR by its content, replaces the
//! stored copy atomically (temporary file in the same directory, fsync, rename), keeps
//! the replaced copy as `<name>.prev`, and never replaces a feed with a file that does
//! not parse, is larger than 64 MiB, lists a prefix broader than any provider
//! announces (IPv4 shorter than /8, IPv6 shorter than /16) or is mostly contradicted
//! by the ASN data; nor, unless forced, with an older publication than the installed
//! one, the same publication with other content, or one with less than half its
//! prefixes (see [`vet_replacement`]).
//!
//! The directory is `--data-dir`, else `WHOHOSTS_DATA_DIR`, else the platform's user
//! data directory (`directories::ProjectDirs`, e.g. `~/.local/share/whohosts`).
//!
//! Contract: a broken file in the data directory is skipped with a warning, never
//! fatal; only an unusable directory is an error.

use crate::attribute::bundle::MAX_FEED_BYTES;
use crate::attribute::compiled::{self, CompiledError, CompiledIndex, Skipped, Stamp};
use crate::attribute::feeds::{
    parse_feed, too_broad, Feed, FeedFormat, MIN_PREFIX_V4, MIN_PREFIX_V6,
};
use crate::attribute::geoip::hex;
use crate::attribute::{Attributor, LoadedFeed, SourceInfo, SourceKind};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Environment variable naming the data directory.
pub(crate) const DATA_DIR_ENV: &str = "WHOHOSTS_DATA_DIR";

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("no data directory: pass --data-dir or set {DATA_DIR_ENV} (the platform has no user data directory)")]
    NoDefault,
    #[error("{action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> DataDirError + 'a {
    move |source| DataDirError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// The data directory to use.
pub fn resolve_data_dir(explicit: Option<&Path>) -> Result<PathBuf, DataDirError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os(DATA_DIR_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    directories::ProjectDirs::from("", "", "whohosts")
        .map(|d| d.data_dir().to_path_buf())
        .ok_or(DataDirError::NoDefault)
}

/// Where feeds are stored.
pub(crate) fn feeds_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("feeds")
}

/// The provider id a stored file name starts with.
fn provider_of_stored(name: &str) -> Option<&str> {
    let (provider, rest) = name.split_once('.')?;
    (!provider.is_empty() && !rest.is_empty()).then_some(provider)
}

fn is_stored_feed(name: &str) -> bool {
    (name.ends_with(".json") || name.ends_with(".txt")) && !name.starts_with('.')
}

/// The stored feeds of a data directory, as [`load_feeds`] found them.
#[derive(Debug, Default)]
pub(crate) struct StoredFeeds {
    /// Usable feeds, in file-name order; with their entries, or (when `compiled` is
    /// set) without them.
    pub feeds: Vec<LoadedFeed>,
    /// Feeds skipped, for people.
    pub warnings: Vec<String>,
    /// Feeds skipped, as sources with their `problem`.
    pub unused: Vec<SourceInfo>,
    /// The compiled index holding the feeds' entries, when it was up to date.
    pub compiled: Option<CompiledIndex>,
    /// What happened to the compiled index, when worth telling.
    pub note: Option<String>,
}

/// A stored feed that is not used, as a source with its `problem`.
fn skipped_source(name: &str, sha256: Option<String>, problem: String) -> SourceInfo {
    SourceInfo {
        kind: SourceKind::Feed,
        name: name.to_string(),
        type_: "unreadable-feed".to_string(),
        provider: provider_of_stored(name).map(str::to_string),
        version: None,
        build_date: None,
        sha256: sha256.unwrap_or_default(),
        bundled: false,
        official: None,
        licence: None,
        attribution: None,
        records: "not used".to_string(),
        date: None,
        snapshot: None,
        url: None,
        terms: None,
        problem: Some(problem),
    }
}

/// Loads every stored feed, in file-name order: from the compiled index
/// ([`super::compiled`]) while it matches the stored files, else by parsing them,
/// then compiling them for the next call (best effort: a data directory that cannot
/// be written is only slower). A file that cannot be read, does not parse or lists a
/// prefix broader than any provider announces is skipped: it is named in the
/// warnings and listed as an unused source with its `problem` (so reports and
/// `lookup --json` carry it, not only the terminal).
pub(crate) fn load_feeds(data_dir: &Path) -> StoredFeeds {
    let dir = feeds_dir(data_dir);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return StoredFeeds::default();
    };
    let mut names: Vec<String> = rd
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_stored_feed(n))
        .collect();
    names.sort();
    if names.is_empty() {
        return StoredFeeds::default();
    }
    let stamps: Vec<Stamp> = names
        .iter()
        .filter_map(|n| Stamp::of(&dir.join(n), n))
        .collect();
    let index_path = compiled::index_path(data_dir);
    let note = match CompiledIndex::open(&index_path, Some(&stamps)) {
        Ok(index) => return from_compiled(&dir, index),
        Err(CompiledError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(CompiledError::Stale) => None,
        Err(e) => Some(format!("{}: not used ({e}); rebuilt", index_path.display())),
    };
    let mut out = parse_stored(data_dir, &dir, &names);
    out.note = note;
    let counted: Vec<(&LoadedFeed, (usize, usize))> =
        out.feeds.iter().map(|f| (f, f.feed.counts())).collect();
    let skipped: Vec<Skipped> = out
        .unused
        .iter()
        .map(|u| Skipped {
            name: u.name.clone(),
            sha256: (!u.sha256.is_empty()).then(|| u.sha256.clone()),
            problem: u.problem.clone().unwrap_or_default(),
        })
        .collect();
    if let Err(e) = compiled::write(&index_path, stamps, &counted, skipped) {
        let n = format!("{}: not written ({e})", index_path.display());
        out.note = Some(match out.note.take() {
            Some(before) => format!("{before}; {n}"),
            None => n,
        });
    }
    out
}

/// Brings the compiled index of the stored feeds up to date (after an update), and
/// says what it holds, for people.
pub fn compile_stored(data_dir: &Path) -> String {
    let path = compiled::index_path(data_dir);
    let stored = load_feeds(data_dir);
    if stored.feeds.is_empty() && stored.unused.is_empty() {
        return "no stored feed to compile".to_string();
    }
    let (v4, v6) = stored.feeds.iter().fold((0, 0), |(a, b), f| {
        let (x, y) = f.counts();
        (a + x, b + y)
    });
    let what = format!(
        "{} feeds, {v4} IPv4 + {v6} IPv6 prefixes",
        stored.feeds.len()
    );
    match (stored.compiled.is_some(), stored.note) {
        (true, _) => format!("{}: up to date ({what})", path.display()),
        (false, Some(n)) => n,
        (false, None) => format!("{}: written ({what})", path.display()),
    }
}

/// The stored feeds as the compiled index describes them.
fn from_compiled(dir: &Path, index: CompiledIndex) -> StoredFeeds {
    let mut out = StoredFeeds::default();
    for s in index.skipped() {
        out.warnings
            .push(format!("{}: {}", dir.join(&s.name).display(), s.problem));
        out.unused
            .push(skipped_source(&s.name, s.sha256.clone(), s.problem.clone()));
    }
    out.feeds
        .extend(index.feeds().iter().map(compiled::FeedMeta::loaded));
    out.compiled = Some(index);
    out
}

/// Parses the stored feeds `names` (see [`load_feeds`]).
fn parse_stored(data_dir: &Path, dir: &Path, names: &[String]) -> StoredFeeds {
    let mut out = StoredFeeds::default();
    for name in names {
        let path = dir.join(name);
        let mut skipped = |sha256: Option<String>, problem: String| {
            out.warnings.push(format!("{}: {problem}", path.display()));
            out.unused.push(skipped_source(name, sha256, problem));
        };
        let bytes = match read_capped(&path) {
            Ok(b) => b,
            Err(e) => {
                skipped(None, format!("skipped: {e}"));
                continue;
            }
        };
        let sha256 = hex(&Sha256::digest(&bytes));
        match parse_feed(&bytes) {
            Ok(feed) if feed.unusable().is_some() => skipped(
                Some(sha256),
                format!("skipped: {}", feed.unusable().unwrap_or_default()),
            ),
            Ok(feed) if too_broad(&feed).is_some() => skipped(
                Some(sha256),
                format!(
                    "skipped: lists {}, broader than any provider announces",
                    too_broad(&feed)
                        .map(|e| e.prefix.to_string())
                        .unwrap_or_default()
                ),
            ),
            Ok(feed) => {
                let provider = feed
                    .format
                    .provider()
                    .or_else(|| provider_of_stored(name))
                    .unwrap_or("unknown")
                    .to_string();
                // A feed that states no date is dated by its download, when the data
                // directory's record of it is for these very bytes.
                let date = feed
                    .data_date()
                    .or_else(|| downloaded_on(data_dir, name, &sha256));
                out.feeds.push(LoadedFeed {
                    name: name.clone(),
                    provider,
                    sha256,
                    date,
                    feed,
                    bundled: None,
                    compiled: None,
                });
            }
            Err(e) => skipped(Some(sha256), format!("skipped: does not parse: {e}")),
        }
    }
    out
}

/// The day (`YYYY-MM-DD`) a stored feed was downloaded, from
/// `downloads/<name>.json`, when that record is of the same bytes.
fn downloaded_on(data_dir: &Path, name: &str, sha256: &str) -> Option<String> {
    let bytes = std::fs::read(data_dir.join("downloads").join(format!("{name}.json"))).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    if v.get("sha256")?.as_str()? != sha256 {
        return None;
    }
    Some(v.get("time_utc")?.as_str()?.get(..10)?.to_string())
}

/// What `data update` did with one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UpdateOutcome {
    pub file: String,
    pub action: UpdateAction,
    /// Stored name, when installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored: Option<String>,
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateAction {
    /// New feed stored.
    Installed,
    /// Replaced a stored feed; the old one is kept as `.prev`.
    Replaced,
    /// Same bytes as the stored copy.
    Unchanged,
    /// Not a feed, or not attributable to a provider; nothing changed.
    Skipped,
}

/// How `data update` treats a replacement that looks wrong.
#[derive(Clone, Copy, Debug, Default)]
pub struct UpdateOptions {
    /// Install a feed older than (or as old as, with other content) the installed
    /// copy, or one much smaller: for going back to an archived publication.
    pub force: bool,
}

/// Imports every recognisable feed file of `from` (not recursing into
/// subdirectories except one level, as `asn-derived/`).
pub fn update_from(
    attributor: &Attributor,
    data_dir: &Path,
    from: &Path,
) -> Result<Vec<UpdateOutcome>, DataDirError> {
    update_from_with(attributor, data_dir, from, UpdateOptions::default())
}

/// Why a feed file was not read.
#[derive(Debug, thiserror::Error)]
enum ReadFeedError {
    #[error("unreadable: {0}")]
    Unreadable(#[source] std::io::Error),
    #[error("larger than {} MiB, more than any provider's feed", MAX_FEED_BYTES >> 20)]
    TooLarge,
}

/// Reads a feed file of at most [`MAX_FEED_BYTES`]: a larger one is refused by its
/// size without being read, and a file that grows while read is cut at the cap and
/// refused too, so memory stays bounded by the cap whatever the file.
fn read_capped(path: &Path) -> Result<Vec<u8>, ReadFeedError> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(ReadFeedError::Unreadable)?;
    let too_large = || ReadFeedError::TooLarge;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX_FEED_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    f.take(MAX_FEED_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadFeedError::Unreadable)?;
    if bytes.len() as u64 > MAX_FEED_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Why a new copy of a feed is refused. The first three are refused whatever the
/// user says; the last three are what `--force` overrides.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The feed itself says it cannot be used (more prefixes than any provider has).
    #[error("{0}")]
    Unusable(String),
    #[error("lists {prefix}, broader than any provider announces (IPv4 shorter than /{MIN_PREFIX_V4} or IPv6 shorter than /{MIN_PREFIX_V6} is refused)")]
    TooBroad { prefix: String },
    #[error("the ASN data contradicts it: of {sampled} sampled prefixes, {contradict} are announced by other providers' ASNs and {agree} by {provider}'s (e.g. {})", .examples.join("; "))]
    AsnContradicts {
        provider: String,
        sampled: usize,
        contradict: usize,
        agree: usize,
        examples: Vec<String>,
    },
    #[error("its version {version} is older than the installed {installed} (use --force to go back to it)")]
    Older { version: String, installed: String },
    #[error("it has the installed copy's version {version} but other content (use --force to install it anyway)")]
    SameVersionOtherContent { version: String },
    /// `against`: `last known good` or `bundled`, the copy compared with.
    #[error("it holds {prefixes} prefixes where the {against} copy holds {before}: fewer than half, as a cut or emptied download would (use --force to install it anyway)")]
    Shrunk {
        prefixes: usize,
        against: &'static str,
        before: usize,
    },
}

impl Refusal {
    /// Whether `--force` installs the copy anyway.
    pub fn forceable(&self) -> bool {
        matches!(
            self,
            Refusal::Older { .. }
                | Refusal::SameVersionOtherContent { .. }
                | Refusal::Shrunk { .. }
        )
    }
}

/// The checks a new copy of a feed must pass before it replaces anything: no prefix
/// broader than a provider announces, the ASN data does not mostly name another
/// provider, and (unless forced) it is not older than the installed copy, not the
/// same version with other content, and not less than half its size. `installed` is
/// the data directory's copy, `bundled` the snapshot's (for the size check when
/// nothing is installed). Returns why the feed is refused.
pub fn vet_replacement(
    attributor: &Attributor,
    feed: &Feed,
    provider: &str,
    installed: Option<&Feed>,
    bundled: Option<&Feed>,
    opts: UpdateOptions,
) -> Result<(), Refusal> {
    if let Some(why) = feed.unusable() {
        return Err(Refusal::Unusable(why));
    }
    if let Some(e) = too_broad(feed) {
        return Err(Refusal::TooBroad {
            prefix: e.prefix.to_string(),
        });
    }
    // GitHub lists ranges of the clouds its services run on: its prefixes are
    // announced by Azure's and AWS's ASNs by design.
    if feed.format != FeedFormat::GithubMeta {
        let ag = attributor.asn_agreement(feed, provider);
        if ag.mostly_contradicts() {
            return Err(Refusal::AsnContradicts {
                provider: provider.to_string(),
                sampled: ag.sampled,
                contradict: ag.contradict,
                agree: ag.agree,
                examples: ag.examples,
            });
        }
    }
    if opts.force {
        return Ok(());
    }
    if let Some(old) = installed {
        if let (Some(new_key), Some(old_key)) = (feed.version_key(), old.version_key()) {
            match new_key.compare(&old_key) {
                Some(std::cmp::Ordering::Less) => {
                    return Err(Refusal::Older {
                        version: feed.version.as_deref().unwrap_or("?").to_string(),
                        installed: old.version.as_deref().unwrap_or("?").to_string(),
                    })
                }
                Some(std::cmp::Ordering::Equal) => {
                    return Err(Refusal::SameVersionOtherContent {
                        version: feed.version.as_deref().unwrap_or("?").to_string(),
                    })
                }
                _ => {}
            }
        }
    }
    if let Some(old) = installed.or(bundled) {
        if shrunk(feed, old) {
            return Err(Refusal::Shrunk {
                prefixes: feed.entries.len(),
                against: if installed.is_some() {
                    "last known good"
                } else {
                    "bundled"
                },
                before: old.entries.len(),
            });
        }
    }
    Ok(())
}

/// Imports every recognisable feed file of `from`, with [`vet_replacement`]'s checks.
pub fn update_from_with(
    attributor: &Attributor,
    data_dir: &Path,
    from: &Path,
    opts: UpdateOptions,
) -> Result<Vec<UpdateOutcome>, DataDirError> {
    let mut files = Vec::new();
    collect_files(from, 1, &mut files).map_err(io("reading", from))?;
    files.sort();
    let target = feeds_dir(data_dir);
    std::fs::create_dir_all(&target).map_err(io("creating", &target))?;
    let mut out = Vec::new();
    for path in files {
        let shown = path
            .strip_prefix(from)
            .unwrap_or(&path)
            .display()
            .to_string();
        let bytes = match read_capped(&path) {
            Ok(b) => b,
            Err(e) => {
                out.push(skip(shown, format!("{e}; stored feeds unchanged")));
                continue;
            }
        };
        let feed = match parse_feed(&bytes) {
            Ok(f) => f,
            Err(e) => {
                out.push(skip(
                    shown,
                    format!("not a feed ({e}); stored feeds unchanged"),
                ));
                continue;
            }
        };
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (provider, how) = match attributor.identify_provider(&feed, &file_name) {
            Ok(p) => p,
            Err(why) => {
                out.push(skip(shown, why.to_string()));
                continue;
            }
        };
        let (v4, v6) = feed.counts();
        // Plain CIDR lists come one per family (Cloudflare's ips-v4, ips-v6): keep both.
        let family = match (feed.format, v4, v6) {
            (FeedFormat::CidrList, _, 0) => "-v4",
            (FeedFormat::CidrList, 0, _) => "-v6",
            _ => "",
        };
        let stored = format!(
            "{provider}.{}{family}.{}",
            feed.format.as_str(),
            feed.format.extension()
        );
        if let Err(why) =
            vet_against_stored(attributor, &feed, &bytes, &provider, &target, &stored, opts)
        {
            let installed = target.join(&stored).exists();
            out.push(skip(
                shown,
                format!(
                    "{} for {provider}: refused: {why}; {}",
                    feed.format.as_str(),
                    if installed {
                        format!("the installed {stored} and its last known good copy are unchanged")
                    } else {
                        "nothing installed".to_string()
                    }
                ),
            ));
            continue;
        }
        let summary = format!(
            "{} for {provider} ({how}); {v4} IPv4 + {v6} IPv6 prefixes{}{}",
            feed.format.as_str(),
            feed.version
                .as_deref()
                .map(|v| format!(", version {v}"))
                .unwrap_or_default(),
            if feed.problems.is_empty() {
                String::new()
            } else {
                format!(
                    ", {} entries did not parse (first: {} {})",
                    feed.problems.len() + feed.problems_dropped,
                    feed.problems
                        .first()
                        .map(|p| p.place.as_str())
                        .unwrap_or(""),
                    feed.problems
                        .first()
                        .map(|p| p.detail.as_str())
                        .unwrap_or("")
                )
            }
        );
        let action = install(&target, &stored, &bytes)?;
        out.push(UpdateOutcome {
            file: shown,
            action,
            stored: Some(stored),
            detail: summary,
        });
    }
    // Compiled now, so that the next lookup reads the new feeds at once.
    if out
        .iter()
        .any(|o| matches!(o.action, UpdateAction::Installed | UpdateAction::Replaced))
    {
        compile_stored(data_dir);
    }
    Ok(out)
}

fn skip(file: String, detail: String) -> UpdateOutcome {
    UpdateOutcome {
        file,
        action: UpdateAction::Skipped,
        stored: None,
        detail,
    }
}

fn collect_files(dir: &Path, depth: u8, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if t.is_dir() && depth > 0 {
            collect_files(&e.path(), depth - 1, out)?;
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    Ok(())
}

/// Writes `bytes` to `dest` atomically (see [`crate::atomic`]): a reader sees the old
/// file or the new one, never a part, and nothing planted under a temporary name is
/// followed.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<(), DataDirError> {
    crate::atomic::replace(dest, bytes).map_err(|e| DataDirError::Io {
        action: e.action,
        path: e.path,
        source: e.source,
    })
}

/// Whether `new` holds fewer than half the prefixes of `old`: what a cut or emptied
/// download looks like (providers' feeds grow or change a little between
/// publications; none halves).
pub fn shrunk(new: &Feed, old: &Feed) -> bool {
    let (new_n, old_n) = (new.entries.len(), old.entries.len());
    old_n >= 2 && new_n * 2 < old_n
}

fn read_feed_bytes(path: &Path) -> Option<(Feed, Vec<u8>)> {
    let bytes = read_capped(path).ok()?;
    Some((parse_feed(&bytes).ok()?, bytes))
}

/// The last known good copy of `target/stored`, with its bytes: the installed copy,
/// unless it shrank implausibly next to the `.prev` copy beside it, which is then
/// the good one.
pub(crate) fn last_known_good_bytes(target: &Path, stored: &str) -> Option<(Feed, Vec<u8>)> {
    let installed = read_feed_bytes(&target.join(stored));
    let prev = read_feed_bytes(&target.join(format!("{stored}.prev")));
    match (installed, prev) {
        (Some(i), Some(p)) if shrunk(&i.0, &p.0) => Some(p),
        (Some(i), _) => Some(i),
        (None, p) => p,
    }
}

/// The checks of [`vet_replacement`] against the last known good copy, passed at
/// once by that very copy coming back (after bad copies were forced in).
pub(crate) fn vet_against_stored(
    attributor: &Attributor,
    feed: &Feed,
    bytes: &[u8],
    provider: &str,
    target: &Path,
    stored: &str,
    opts: UpdateOptions,
) -> Result<Option<Feed>, Refusal> {
    let good = last_known_good_bytes(target, stored);
    if good.as_ref().is_some_and(|(_, b)| b == bytes) {
        return Ok(good.map(|(f, _)| f));
    }
    let installed = good.map(|(f, _)| f);
    let bundled = attributor
        .feeds()
        .iter()
        .find(|f| f.bundled.is_some() && f.name == stored)
        .map(|f| &f.feed);
    vet_replacement(
        attributor,
        feed,
        provider,
        installed.as_ref(),
        bundled,
        opts,
    )?;
    Ok(installed)
}

/// Installs `bytes` as `target/stored`, keeping the last known good copy as
/// `<stored>.prev`: the replaced copy becomes `.prev`, unless it was itself
/// implausible next to the `.prev` already there (see [`last_known_good_bytes`]), which is
/// then kept. `Unchanged` when the bytes are those installed.
pub fn install(target: &Path, stored: &str, bytes: &[u8]) -> Result<UpdateAction, DataDirError> {
    let dest = target.join(stored);
    let old = match std::fs::read(&dest) {
        Ok(old) => old,
        Err(_) => {
            write_atomic(&dest, bytes)?;
            return Ok(UpdateAction::Installed);
        }
    };
    if old == bytes {
        return Ok(UpdateAction::Unchanged);
    }
    let prev = target.join(format!("{stored}.prev"));
    let old_is_good = match (parse_feed(&old), read_feed_bytes(&prev).map(|(f, _)| f)) {
        (Ok(o), Some(p)) => !shrunk(&o, &p),
        (Ok(_), None) => true,
        (Err(_), p) => p.is_none(),
    };
    if old_is_good {
        // Written atomically too: `.prev` is never seen half-written, and the rename
        // of `dest` below leaves no moment without a feed.
        write_atomic(&prev, &old)?;
    }
    write_atomic(&dest, bytes)?;
    Ok(UpdateAction::Replaced)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// Issue 30.6: the temporary name used to be `.<name>.tmp.<pid>`, opened with
    /// `File::create`, which wrote through a symbolic link planted there.
    #[test]
    fn a_symlink_planted_at_a_predictable_temporary_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let dest = dir.path().join("aws.aws-ip-ranges.json");
        let planted = dir.path().join(format!(
            ".aws.aws-ip-ranges.json.tmp.{}",
            std::process::id()
        ));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        write_atomic(&dest, b"new").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        let meta = std::fs::symlink_metadata(&dest).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
    }
}
