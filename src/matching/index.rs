//! The originals index: every original file (and every entry of the originals that
//! are archives) with its relative path, size, SHA-256 and chunk fingerprints, hashed
//! once and kept in a file for the next `match`.
//!
//! Reuse: the index records the listing it was made from (each file's relative path,
//! size and modification time in nanoseconds), the format version, the chunk sizes
//! and the walking limits. It is reused only when all of these are the same now; any
//! file added, removed, resized or touched, or any change of version or limits, makes
//! it again (as `make` and `rsync` decide, without reading the files). `--rehash`
//! makes it again regardless. An index file that cannot be read as this version is
//! never trusted: it is made again, and the reason is said.

use super::archive::{self, Limits, Refusal};
use super::similar;
use crate::report::escape;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The index file's format name.
pub(crate) const FORMAT: &str = "whohosts-originals-index";
/// The index file's format version; a different one is made again.
pub(crate) const VERSION: u32 = 1;

/// One file of the originals folder as listed (not read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub path: String,
    pub size: u64,
    pub mtime_ns: i128,
}

/// One original file or archive entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedFile {
    /// Relative path in the originals folder, `pkg.apk!/assets/a.bin` for entries.
    pub path: String,
    /// The top-level file it belongs to (itself for a top-level file).
    pub package: String,
    /// 0 for a top-level file, 1 for its entries, and so on.
    pub depth: u32,
    /// It is an archive whose entries are listed too.
    pub archive: bool,
    pub size: u64,
    pub sha256: String,
    pub chunks: Vec<similar::Chunk>,
}

impl IndexedFile {}

/// The chunk sizes an index was made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunking {
    pub min: u32,
    pub avg: u32,
    pub max: u32,
}

fn chunking() -> Chunking {
    Chunking {
        min: similar::MIN_CHUNK,
        avg: similar::AVG_CHUNK,
        max: similar::MAX_CHUNK,
    }
}

/// The whole index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Index {
    pub format: String,
    pub version: u32,
    pub chunking: Chunking,
    pub limits: Limits,
    pub listing: Vec<Stamp>,
    pub files: Vec<IndexedFile>,
    /// Entries not indexed, and why; also symbolic links and unreadable files.
    pub refusals: Vec<Refusal>,
}

/// Whether the index was reused, and if not why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    Reused,
    Made(String),
}

/// Lists the regular files under `root`, sorted by relative path; symbolic links and
/// other special files are refused, not followed.
pub fn list(root: &Path) -> anyhow::Result<(Vec<Stamp>, Vec<Refusal>)> {
    let mut stamps = Vec::new();
    let mut refusals = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let rd = std::fs::read_dir(&dir)
            .map_err(|e| anyhow::anyhow!("reading the folder {}: {e}", dir.display()))?;
        for item in rd {
            let item = item?;
            let rel = rel.join(item.file_name());
            let shown = escape::terminal(&rel.to_string_lossy());
            let meta = std::fs::symlink_metadata(item.path())?;
            if meta.is_dir() {
                stack.push(rel);
            } else if meta.is_file() {
                let mtime_ns = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos() as i128);
                stamps.push(Stamp {
                    path: shown,
                    size: meta.len(),
                    mtime_ns,
                });
            } else {
                refusals.push(Refusal {
                    path: shown,
                    reason: "symbolic link or special file; not followed".into(),
                });
            }
        }
    }
    stamps.sort_by(|a, b| a.path.cmp(&b.path));
    refusals.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((stamps, refusals))
}

/// Why an index file cannot be used; the messages follow the file's name
/// (`originals.json is not JSON (...)`).
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("cannot be read ({0})")]
    Read(#[from] std::io::Error),
    #[error("is not JSON ({0})")]
    NotJson(serde_json::Error),
    #[error("is not an originals index")]
    NotAnIndex,
    #[error("is not version {VERSION}")]
    Version,
    #[error("is damaged ({0})")]
    Damaged(serde_json::Error),
}

/// Reads an index file; `Err` says why it cannot be used.
pub fn read(path: &Path) -> Result<Index, IndexError> {
    parse(&std::fs::read(path)?)
}

/// Parses index bytes, checking the format and version.
pub fn parse(bytes: &[u8]) -> Result<Index, IndexError> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(IndexError::NotJson)?;
    if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(IndexError::NotAnIndex);
    }
    if v.get("version").and_then(|f| f.as_u64()) != Some(u64::from(VERSION)) {
        return Err(IndexError::Version);
    }
    serde_json::from_value(v).map_err(IndexError::Damaged)
}

/// Makes the index of `root` (reading every file).
pub fn build(root: &Path, limits: &Limits) -> anyhow::Result<Index> {
    let (listing, mut refusals) = list(root)?;
    let mut files = Vec::new();
    for stamp in &listing {
        // The stamp's path is escaped for display; the file is found by the real name.
        let real = find_real(root, &stamp.path)?;
        let walk = archive::walk_file(&real, &stamp.path, limits)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", real.display()))?;
        for e in walk.entries {
            files.push(IndexedFile {
                path: e.path,
                package: stamp.path.clone(),
                depth: e.depth,
                archive: e.archive,
                size: e.fingerprint.size,
                sha256: e.fingerprint.sha256,
                chunks: e.fingerprint.chunks,
            });
        }
        refusals.extend(walk.refusals);
    }
    Ok(Index {
        format: FORMAT.into(),
        version: VERSION,
        chunking: chunking(),
        limits: limits.clone(),
        listing,
        files,
        refusals,
    })
}

fn find_real(root: &Path, shown: &str) -> anyhow::Result<PathBuf> {
    // Names without characters needing escapes are shown as they are.
    let direct = root.join(shown);
    if escape::terminal(shown) == shown && direct.is_file() {
        return Ok(direct);
    }
    // Otherwise find the file whose escaped relative path is the one shown.
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for item in std::fs::read_dir(root.join(&rel))? {
            let item = item?;
            let rel = rel.join(item.file_name());
            let meta = std::fs::symlink_metadata(item.path())?;
            if meta.is_dir() {
                stack.push(rel);
            } else if meta.is_file() && escape::terminal(&rel.to_string_lossy()) == shown {
                return Ok(root.join(rel));
            }
        }
    }
    anyhow::bail!("{shown} disappeared while indexing")
}

/// The index of `root`: the one in `index_file` if it is still true of the folder,
/// otherwise made again and written there (atomically).
pub fn load_or_build(
    root: &Path,
    index_file: &Path,
    limits: &Limits,
    rehash: bool,
) -> anyhow::Result<(Index, Freshness)> {
    let why = if rehash {
        "--rehash was given".to_string()
    } else if !index_file.exists() {
        "no index yet".to_string()
    } else {
        match read(index_file) {
            Err(e) => format!("the index file {e}"),
            Ok(old) => {
                let (listing, _) = list(root)?;
                if old.chunking != chunking() || old.limits != *limits {
                    "the chunk sizes or limits changed".to_string()
                } else if old.listing != listing {
                    "the originals folder changed (files added, removed, resized or touched)"
                        .to_string()
                } else {
                    return Ok((old, Freshness::Reused));
                }
            }
        }
    };
    let index = build(root, limits)?;
    let mut json = serde_json::to_vec(&index)?;
    json.push(b'\n');
    crate::atomic::replace(index_file, &json)?;
    Ok((index, Freshness::Made(why)))
}
