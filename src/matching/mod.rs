//! Content matching: proving, file by file, that what a server sent is the rights
//! holder's work.
//!
//! The originals are indexed once ([`index`]); every object a report lists
//! (`objects[]`) is walked as the originals are ([`archive`]), and each file seen on
//! either side is compared: by SHA-256 (identical), else by content-defined chunks
//! ([`similar`]). The result, [`MatchResult`], holds every match with the hashes of
//! both sides and the frames the object came from, and a summary per original
//! package: files identical, similar, missing, and files the served copy added.

pub mod archive;
pub mod html;
pub mod index;
pub mod similar;

use archive::{Limits, Refusal};
use index::{Index, IndexedFile};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The match result's format name and version.
pub(crate) const FORMAT: &str = "whohosts-matches";
pub(crate) const VERSION: u32 = 1;

/// One file on the served side: an object, or an entry inside one.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectSide {
    /// The object's `id` in the report.
    pub id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The frames the object came from, as the report has them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_frame: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_frame: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames_total: Option<u64>,
    /// The object's file in the extract folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The entry inside the object (`!/`-separated), absent for the object itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    pub size: u64,
    pub sha256: String,
}

/// One original file or archive entry.
#[derive(Debug, Clone, Serialize)]
pub struct OriginalSide {
    pub path: String,
    pub package: String,
    pub size: u64,
    pub sha256: String,
}

/// One original found in what was served.
#[derive(Debug, Clone, Serialize)]
pub struct Match {
    /// `sha256` (byte-identical) or `chunks` (similar by content-defined chunks).
    pub method: &'static str,
    /// The share of the original's bytes found in the object (1 when identical).
    pub share: f64,
    pub original: OriginalSide,
    pub object: ObjectSide,
}

/// An original file not found (identical or similar) in anything served.
#[derive(Debug, Clone, Serialize)]
pub struct Missing {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// The largest share of it found in any one served file.
    pub best_share: f64,
}

/// A file inside a served package that matches no original.
#[derive(Debug, Clone, Serialize)]
pub struct Added {
    pub object: u64,
    pub entry: String,
    pub size: u64,
    pub sha256: String,
}

/// The comparison for one top-level original (a package, or a loose file).
#[derive(Debug, Clone, Serialize)]
pub struct Package {
    pub package: String,
    pub size: u64,
    pub sha256: String,
    /// Files it holds (its entries that are not archives themselves; a loose file is
    /// one file).
    pub files: usize,
    pub identical: usize,
    pub similar: usize,
    pub missing: usize,
    pub added: usize,
    /// The objects where its files were found.
    pub objects: Vec<u64>,
    pub missing_files: Vec<Missing>,
    pub added_files: Vec<Added>,
}

/// What was done with one object of the report.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectSeen {
    pub id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Files seen in it (itself and its entries).
    pub files: usize,
    pub matched: usize,
    /// Why it was compared only by its recorded hash, or not at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub refusals: Vec<Refusal>,
}

/// The comparison of a report's objects with the originals.
#[derive(Debug, Clone, Serialize)]
pub struct MatchResult {
    pub format: &'static str,
    pub version: u32,
    pub threshold: f64,
    pub chunking: index::Chunking,
    pub packages: Vec<Package>,
    pub matches: Vec<Match>,
    pub objects: Vec<ObjectSeen>,
    /// Originals not indexed, and why.
    pub original_refusals: Vec<Refusal>,
}

struct Item {
    object: usize,
    entry: Option<String>,
    archive: bool,
    fp: similar::Fingerprint,
}

fn str_of(o: &Value, k: &str) -> Option<String> {
    o.get(k).and_then(Value::as_str).map(str::to_string)
}

/// The object's file, if it is a plain relative path (reports are read as untrusted).
fn safe_rel(file: &str) -> Option<&Path> {
    let p = Path::new(file);
    (archive::bad_name(file.as_bytes()).is_none()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_))))
    .then_some(p)
}

/// Compares every object of `report` (files under `objects_dir`) with `index`.
pub fn compare(
    index: &Index,
    report: &Value,
    objects_dir: Option<&Path>,
    limits: &Limits,
    threshold: f64,
) -> MatchResult {
    let objects: Vec<&Value> = report
        .get("objects")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mut seen = Vec::new();
    let mut sides = Vec::new();
    let mut items: Vec<Item> = Vec::new();
    for o in &objects {
        let id = o.get("id").and_then(Value::as_u64).unwrap_or(0);
        let file = str_of(o, "file");
        let side = ObjectSide {
            id,
            url: str_of(o, "url"),
            server: str_of(o, "server"),
            first_frame: o.get("first_frame").and_then(Value::as_u64),
            last_frame: o.get("last_frame").and_then(Value::as_u64),
            frames_total: o.get("frames_total").and_then(Value::as_u64),
            file: file.clone(),
            entry: None,
            size: o.get("size").and_then(Value::as_u64).unwrap_or(0),
            sha256: str_of(o, "sha256").unwrap_or_default(),
        };
        let mut s = ObjectSeen {
            id,
            url: side.url.clone(),
            file: file.clone(),
            files: 0,
            matched: 0,
            note: None,
            refusals: Vec::new(),
        };
        let k = sides.len();
        let walked = match (&file, objects_dir) {
            (Some(f), Some(dir)) => {
                match safe_rel(f) {
                    Some(rel) => match archive::walk_file(&dir.join(rel), f, limits) {
                        Ok(w) => Some(w),
                        Err(e) => {
                            s.note = Some(format!(
                                "file unreadable ({e}); compared by its recorded SHA-256"
                            ));
                            None
                        }
                    },
                    None => {
                        s.note = Some("file name is not a plain relative path; compared by its recorded SHA-256".into());
                        None
                    }
                }
            }
            (Some(_), None) => {
                s.note = Some("no objects folder; compared by its recorded SHA-256".into());
                None
            }
            (None, _) => {
                s.note = Some("not extracted; compared by its recorded SHA-256".into());
                None
            }
        };
        match walked {
            Some(w) => {
                s.refusals = w.refusals;
                if let Some(top) = w.entries.first() {
                    if !side.sha256.is_empty() && top.fingerprint.sha256 != side.sha256 {
                        s.refusals.push(Refusal {
                            path: file.clone().unwrap_or_default(),
                            reason: format!(
                                "file's SHA-256 {} differs from the report's {}",
                                top.fingerprint.sha256, side.sha256
                            ),
                        });
                    }
                }
                s.files = w.entries.len();
                for e in w.entries {
                    let entry = (e.depth > 0).then(|| {
                        e.path
                            .split_once("!/")
                            .map_or(e.path.clone(), |(_, rest)| rest.to_string())
                    });
                    items.push(Item {
                        object: k,
                        entry,
                        archive: e.archive,
                        fp: e.fingerprint,
                    });
                }
            }
            None if side.sha256.len() == 64 => {
                s.files = 1;
                items.push(Item {
                    object: k,
                    entry: None,
                    archive: false,
                    fp: similar::Fingerprint {
                        size: side.size,
                        sha256: side.sha256.clone(),
                        chunks: Vec::new(),
                    },
                });
            }
            None => {}
        }
        sides.push(side);
        seen.push(s);
    }

    let files = &index.files;
    let mut by_sha: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, f) in files.iter().enumerate() {
        by_sha.entry(f.sha256.as_str()).or_default().push(i);
    }
    let mut matches = Vec::new();
    let mut identical = vec![false; files.len()];
    let mut item_matched = vec![false; items.len()];
    let match_of = |f: &IndexedFile, it: &Item, method, share| Match {
        method,
        share,
        original: OriginalSide {
            path: f.path.clone(),
            package: f.package.clone(),
            size: f.size,
            sha256: f.sha256.clone(),
        },
        object: ObjectSide {
            entry: it.entry.clone(),
            size: it.fp.size,
            sha256: it.fp.sha256.clone(),
            ..sides[it.object].clone()
        },
    };
    for (j, it) in items.iter().enumerate() {
        if let Some(hits) = by_sha.get(it.fp.sha256.as_str()) {
            for &i in hits {
                identical[i] = true;
                item_matched[j] = true;
                matches.push(match_of(&files[i], it, "sha256", 1.0));
            }
        }
    }

    // Similarity: chunk postings of the originals not found identical.
    let leaf = |f: &IndexedFile| !f.archive;
    let mut postings: HashMap<u64, Vec<(usize, u64)>> = HashMap::new();
    for (i, f) in files.iter().enumerate() {
        if identical[i] || !leaf(f) || f.size == 0 {
            continue;
        }
        let mut bytes: HashMap<u64, u64> = HashMap::new();
        for c in &f.chunks {
            *bytes.entry(c.0).or_default() += u64::from(c.1);
        }
        for (h, b) in bytes {
            postings.entry(h).or_default().push((i, b));
        }
    }
    // The best served file for each original, and the best share each served file has.
    let mut best: HashMap<usize, (f64, usize)> = HashMap::new();
    for (j, it) in items.iter().enumerate() {
        if item_matched[j] || it.archive || it.fp.chunks.is_empty() {
            continue;
        }
        let mut acc: HashMap<usize, u64> = HashMap::new();
        for h in similar::chunk_set(&it.fp) {
            for &(i, b) in postings.get(&h).map(Vec::as_slice).unwrap_or(&[]) {
                *acc.entry(i).or_default() += b;
            }
        }
        for (i, b) in acc {
            let share = b as f64 / files[i].size as f64;
            let e = best.entry(i).or_insert((0.0, j));
            if share > e.0 || (share == e.0 && j < e.1) {
                *e = (share, j);
            }
        }
    }
    let mut similar_ok = vec![false; files.len()];
    for (&i, &(share, j)) in &best {
        if share >= threshold {
            similar_ok[i] = true;
            item_matched[j] = true;
            matches.push(match_of(&files[i], &items[j], "chunks", round(share)));
        }
    }

    // Packages, and which package each served archive stands for.
    let mut packages: BTreeMap<&str, Package> = BTreeMap::new();
    for (i, f) in files.iter().enumerate() {
        let p = packages
            .entry(f.package.as_str())
            .or_insert_with(|| Package {
                package: f.package.clone(),
                size: 0,
                sha256: String::new(),
                files: 0,
                identical: 0,
                similar: 0,
                missing: 0,
                added: 0,
                objects: Vec::new(),
                missing_files: Vec::new(),
                added_files: Vec::new(),
            });
        if f.depth == 0 {
            p.size = f.size;
            p.sha256 = f.sha256.clone();
        }
        if !leaf(f) {
            continue;
        }
        p.files += 1;
        if identical[i] {
            p.identical += 1;
        } else if similar_ok[i] {
            p.similar += 1;
        } else {
            p.missing += 1;
            p.missing_files.push(Missing {
                path: f.path.clone(),
                size: f.size,
                sha256: f.sha256.clone(),
                best_share: round(best.get(&i).map_or(0.0, |b| b.0)),
            });
        }
    }
    // An object counts for the package most of whose files it carries.
    let side_of: HashMap<u64, usize> = sides.iter().enumerate().map(|(k, s)| (s.id, k)).collect();
    let mut votes: BTreeMap<usize, BTreeMap<String, usize>> = BTreeMap::new();
    for m in &matches {
        let k = side_of.get(&m.object.id).copied().unwrap_or(0);
        *votes
            .entry(k)
            .or_default()
            .entry(m.original.package.clone())
            .or_default() += 1;
    }
    for (k, v) in &votes {
        let Some((pkg, _)) = v.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))) else {
            continue;
        };
        let Some(p) = packages.get_mut(pkg.as_str()) else {
            continue;
        };
        p.objects.push(sides[*k].id);
        for (j, it) in items.iter().enumerate() {
            if it.object == *k && it.entry.is_some() && !it.archive && !item_matched[j] {
                p.added += 1;
                p.added_files.push(Added {
                    object: sides[*k].id,
                    entry: it.entry.clone().unwrap_or_default(),
                    size: it.fp.size,
                    sha256: it.fp.sha256.clone(),
                });
            }
        }
    }
    for p in packages.values_mut() {
        p.added_files
            .sort_by(|a, b| (a.object, &a.entry).cmp(&(b.object, &b.entry)));
        p.objects.sort_unstable();
        p.objects.dedup();
    }
    for m in &matches {
        if let Some(p) = packages.get_mut(m.original.package.as_str()) {
            if !p.objects.contains(&m.object.id) {
                p.objects.push(m.object.id);
                p.objects.sort_unstable();
            }
        }
    }
    for (j, it) in items.iter().enumerate() {
        if item_matched[j] {
            seen[it.object].matched += 1;
        }
    }
    matches.sort_by(|a, b| {
        (
            &a.original.package,
            &a.original.path,
            a.object.id,
            &a.object.entry,
        )
            .cmp(&(
                &b.original.package,
                &b.original.path,
                b.object.id,
                &b.object.entry,
            ))
    });
    MatchResult {
        format: FORMAT,
        version: VERSION,
        threshold,
        chunking: index.chunking.clone(),
        packages: packages.into_values().collect(),
        matches,
        objects: seen,
        original_refusals: index.refusals.clone(),
    }
}

/// Shares are kept to four decimals so that the same input gives the same bytes.
fn round(x: f64) -> f64 {
    (x * 10_000.0).floor() / 10_000.0
}

/// The summary table for a terminal, every name escaped.
pub fn table(r: &MatchResult) -> String {
    use crate::report::escape::terminal;
    let mut rows = vec![[
        "package".to_string(),
        "files".into(),
        "identical".into(),
        "similar".into(),
        "missing".into(),
        "added".into(),
        "objects".into(),
    ]];
    for p in &r.packages {
        rows.push([
            terminal(&p.package),
            p.files.to_string(),
            p.identical.to_string(),
            p.similar.to_string(),
            p.missing.to_string(),
            p.added.to_string(),
            p.objects
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, v)| {
                if c == 0 {
                    format!("{v:<w$}", w = widths[c])
                } else {
                    format!("{v:>w$}", w = widths[c])
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Whether a result saw anything refused or odd.
pub fn has_refusals(r: &MatchResult) -> bool {
    !r.original_refusals.is_empty() || r.objects.iter().any(|o| !o.refusals.is_empty())
}
