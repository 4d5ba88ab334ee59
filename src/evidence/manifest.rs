//! Manifests: `manifests/manifest-vN.json`, the list of every file of a case at seal N
//! with size and digests, sorted by path. The SHA-256 of the manifest file's exact
//! bytes is what the seal's custody entry records and what gets time-stamped.
//!
//! Listed: every regular file under the case directory except `custody.jsonl` (whose
//! state is bound instead through `custody_head`, the hash of its last line before the
//! seal) and the process state of running captures in `.run/`. Symbolic links and other special files are refused: evidence is plain files.
//!
//! Contract: a malformed manifest is a [`ManifestError`], never a panic.

use super::custody;
use super::hash::{hash_files_parallel, Algorithms, Digests};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub(crate) const FORMAT: &str = "whohosts-manifest/1";

/// Path of manifest version `n`, relative to the case directory.
pub(crate) fn path_of(version: u32) -> String {
    format!("manifests/manifest-v{version}.json")
}

/// The custody line a manifest follows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyHead {
    pub seq: u64,
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub path: String,
    #[serde(flatten)]
    pub digests: Digests,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub case_id: String,
    pub version: u32,
    pub created_utc: String,
    pub custody_head: CustodyHead,
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: is a symbolic link or special file; evidence must be plain files")]
    NotAFile { path: String },
    #[error("{path}: not a valid manifest: {reason}")]
    Malformed { path: String, reason: String },
}

/// What a case directory holds: plain files (relative paths with `/`, sorted, without
/// `custody.jsonl`), and entries that are not plain files or have non-UTF-8 names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    pub files: Vec<String>,
    pub not_plain: Vec<String>,
}

/// Lists a case directory without following symbolic links.
pub(crate) fn scan(case_dir: &Path) -> Result<Scan, ManifestError> {
    let mut out = Scan::default();
    walk(case_dir, case_dir, &mut out)?;
    out.files.retain(|p| p != custody::FILE);
    out.files.sort();
    out.not_plain.sort();
    Ok(out)
}

/// Every file of the case that a manifest lists; refuses links and special files.
pub(crate) fn case_files(case_dir: &Path) -> Result<Vec<String>, ManifestError> {
    let s = scan(case_dir)?;
    match s.not_plain.into_iter().next() {
        Some(path) => Err(ManifestError::NotAFile { path }),
        None => Ok(s.files),
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Scan) -> Result<(), ManifestError> {
    let io = |p: &Path, source| ManifestError::Io {
        path: p.display().to_string(),
        source,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io(dir, e))?;
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap_or(&path);
        let Some(rel_text) = rel.to_str() else {
            out.not_plain
                .push(format!("{} (name is not UTF-8)", rel.display()));
            continue;
        };
        let rel_text = rel_text.replace(std::path::MAIN_SEPARATOR, "/");
        // The process state of running captures, not evidence (see `super::live`).
        if rel_text == super::live::RUN_DIR {
            continue;
        }
        let kind = entry.file_type().map_err(|e| io(&path, e))?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            out.files.push(rel_text);
        } else {
            out.not_plain.push(rel_text);
        }
    }
    Ok(())
}

/// Fills `m.files` with `files` (relative paths, sorted on output): digests from
/// `known` where present (a verification pass that just read the file), the others
/// hashed now with `algos`, several files in parallel.
pub fn fill(
    m: &mut Manifest,
    case_dir: &Path,
    files: &[String],
    known: &BTreeMap<String, Digests>,
    algos: Algorithms,
) -> Result<(), ManifestError> {
    let rest: Vec<&String> = files.iter().filter(|f| !known.contains_key(*f)).collect();
    let full: Vec<PathBuf> = rest.iter().map(|f| case_dir.join(f)).collect();
    for (path, d) in rest.iter().zip(hash_files_parallel(&full, algos, 0)) {
        let d = d.map_err(|e| ManifestError::Io {
            path: path.to_string(),
            source: e.source,
        })?;
        m.files.push(ManifestFile {
            path: path.to_string(),
            digests: d,
        });
    }
    m.files.extend(files.iter().filter_map(|f| {
        known.get(f).map(|d| ManifestFile {
            path: f.clone(),
            digests: d.clone(),
        })
    }));
    m.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(())
}

impl Manifest {
    /// An empty manifest; [`fill`] adds the files.
    pub fn new(case_id: &str, version: u32, created_utc: &str, custody_head: CustodyHead) -> Self {
        Manifest {
            format: FORMAT.to_string(),
            case_id: case_id.to_string(),
            version,
            created_utc: created_utc.to_string(),
            custody_head,
            files: Vec::new(),
        }
    }

    /// The exact bytes written to disk: pretty JSON and a final newline.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    pub fn parse(path: &str, bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed {
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        if m.format != FORMAT {
            return Err(ManifestError::Malformed {
                path: path.to_string(),
                reason: format!("format expected {FORMAT} found {}", m.format),
            });
        }
        Ok(m)
    }
}

/// What a seal's time-stamp stamps: `timestamps/seal-vN.json`, written after the seal's
/// custody line, binding the manifest, that line's hash (so the whole log up to and
/// including the seal) and the notary sheets. It is checked field by field against
/// the log and the files, so it needs no custody line of its own; its time-stamp reply
/// needs none either, and nothing follows the seal that the time-stamp does not cover.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SealStatement {
    pub format: String,
    pub case_id: String,
    pub version: u32,
    pub manifest: custody::FileRecord,
    /// The seal's own custody line.
    pub custody_head: CustodyHead,
    pub sheets: Vec<custody::FileRecord>,
    /// The nonce of the seal's own request (`timestamps/manifest-vN.tsq`), hex.
    pub request_nonce: String,
}

pub(crate) const SEAL_FORMAT: &str = "whohosts-seal/1";

/// Path of seal N's statement.
pub(crate) fn statement_path(version: u32) -> String {
    format!("timestamps/seal-v{version}.json")
}

impl SealStatement {
    /// The exact bytes written: pretty JSON and a final newline.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

/// A seal as its custody entry records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seal {
    pub version: u32,
    /// 1-based custody line of the seal entry.
    pub line: usize,
    pub time_unix: Option<i64>,
    pub manifest: String,
    pub manifest_sha256: String,
    pub request: Option<String>,
    /// The seal statement (seals made since statements exist).
    pub statement: Option<String>,
    /// The TSA asked at sealing, if any.
    pub tsa: Option<String>,
}

/// The seals recorded in a log, in order.
pub fn seals(log: &custody::Log) -> Vec<Seal> {
    log.entries
        .iter()
        .filter(|(e, _)| e.action == "seal")
        .map(|(e, _)| Seal {
            version: e.details["version"]
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0),
            line: usize::try_from(e.seq).unwrap_or(0),
            time_unix: super::parse_rfc3339(&e.time_utc),
            manifest: e.details["manifest"].as_str().unwrap_or("").to_string(),
            manifest_sha256: e.details["manifest_sha256"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            request: e.details["request"].as_str().map(str::to_string),
            statement: e.details["statement"].as_str().map(str::to_string),
            tsa: e.details["tsa"].as_str().map(str::to_string),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_lists_every_file_but_the_custody_log_sorted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("captures")).unwrap();
        std::fs::write(dir.path().join("captures/b.pcap"), b"b").unwrap();
        std::fs::write(dir.path().join("case.json"), b"{}").unwrap();
        std::fs::write(dir.path().join("custody.jsonl"), b"").unwrap();
        std::fs::write(dir.path().join("captures/a.pcap"), b"abc").unwrap();
        let files = case_files(dir.path()).unwrap();
        assert_eq!(files, ["captures/a.pcap", "captures/b.pcap", "case.json"]);
        let head = CustodyHead {
            seq: 1,
            sha256: "00".into(),
        };
        let mut m = Manifest::new("C1", 1, "t", head);
        let mut known = BTreeMap::new();
        // A digest passed in is used as is, not recomputed.
        known.insert(
            "case.json".to_string(),
            Digests {
                size: 99,
                ..Digests::default()
            },
        );
        fill(&mut m, dir.path(), &files, &known, Algorithms::EVIDENCE).unwrap();
        assert_eq!(m.files[2].digests.size, 99);
        // GB/T 32905-2016 Appendix A example 1.
        assert_eq!(
            m.files[0].digests.sm3.as_deref(),
            Some("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")
        );
        let again = Manifest::parse("m", &m.to_bytes()).unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn garbage_manifest_is_an_error_naming_the_file() {
        let e = Manifest::parse("manifests/manifest-v1.json", b"[1,2").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("manifests/manifest-v1.json: not a valid manifest"));
    }
}
