//! Walking archives without extracting them: zip and the formats built on it (APK,
//! IPA, OBB, JAR, AAB), tar, and gzip (including `.tar.gz`), recursively.
//!
//! Everything is hashed in memory or as a stream; nothing is written to disk. Archives
//! come from hostile servers, so every walk is bounded (depth, entries, bytes per
//! entry and in total, compression ratio, time) and every entry that is not hashed is
//! recorded as a [`Refusal`] with its escaped name and the reason: encrypted entries,
//! names that would escape a directory or hide characters, links, entries whose data
//! overlaps another's, declared sizes over the limits, corrupt streams.
//!
//! An archive found inside an archive is read into memory (at most
//! [`Limits::max_nested_bytes`]) so that it can be walked in turn; any other entry is
//! streamed, so memory stays bounded by the nesting depth times that limit.

use super::similar::{self, Fingerprint};
use crate::report::escape;
use serde::{Deserialize, Serialize};
use std::io::{self, Cursor, Read, Seek};
use std::path::Path;
use std::time::{Duration, Instant};

/// The bounds of one walk (one top-level file and everything inside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Archives inside archives, counting the top-level file as depth 0.
    pub max_depth: u32,
    /// Entries looked at, in all archives of the walk.
    pub max_entries: u64,
    /// Decompressed bytes of any one entry.
    pub max_entry_bytes: u64,
    /// Decompressed bytes of all entries together.
    pub max_total_bytes: u64,
    /// Size up to which an archive inside an archive is held in memory to be walked.
    pub max_nested_bytes: u64,
    /// Declared size over compressed size above which a zip entry is refused (only for
    /// entries declaring more than 1 MiB).
    pub max_ratio: u64,
    /// Seconds for the whole walk.
    pub max_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 4,
            max_entries: 200_000,
            max_entry_bytes: 8 << 30,
            max_total_bytes: 64 << 30,
            max_nested_bytes: 512 << 20,
            max_ratio: 1000,
            max_seconds: 1800,
        }
    }
}

/// The archive formats recognised, by their first bytes (never by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Zip,
    Tar,
    Gzip,
}

/// Recognises an archive from its first bytes (up to 512).
pub(crate) fn sniff(head: &[u8]) -> Option<Kind> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(Kind::Zip)
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Some(Kind::Gzip)
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Some(Kind::Tar)
    } else {
        None
    }
}

/// One file seen: the top-level file itself or an entry inside an archive.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `top` for the file itself, `top!/name` for an entry, `top!/inner.zip!/name`
    /// further down; names escaped for display.
    pub path: String,
    /// 0 for the top-level file, 1 for its entries, and so on.
    pub depth: u32,
    /// The entry was recognised as an archive and walked.
    pub archive: bool,
    pub fingerprint: Fingerprint,
}

/// An entry not hashed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub path: String,
    pub reason: String,
}

/// What a walk found.
#[derive(Debug, Default)]
pub struct Walk {
    pub entries: Vec<Entry>,
    pub refusals: Vec<Refusal>,
}

struct Ctx<'a> {
    limits: &'a Limits,
    deadline: Instant,
    entries: u64,
    total: u64,
    walk: Walk,
}

impl Ctx<'_> {
    fn refuse(&mut self, path: &str, reason: impl Into<String>) {
        self.walk.refusals.push(Refusal {
            path: path.to_string(),
            reason: reason.into(),
        });
    }
    fn out_of_time(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

/// Walks the file at `path`, shown as `display`: the file itself, then, if it is an
/// archive, its entries, recursively.
pub(crate) fn walk_file(path: &Path, display: &str, limits: &Limits) -> io::Result<Walk> {
    let mut ctx = Ctx {
        limits,
        deadline: Instant::now() + Duration::from_secs(limits.max_seconds),
        entries: 0,
        total: 0,
        walk: Walk::default(),
    };
    let file = std::fs::File::open(path)?;
    let mut head = Vec::with_capacity(512);
    (&file).take(512).read_to_end(&mut head)?;
    let kind = sniff(&head);
    (&file).rewind()?;
    let fingerprint = similar::fingerprint(io::BufReader::with_capacity(1 << 20, &file))?;
    ctx.walk.entries.push(Entry {
        path: display.to_string(),
        depth: 0,
        archive: kind.is_some(),
        fingerprint,
    });
    (&file).rewind()?;
    if let Some(kind) = kind {
        walk_container(kind, io::BufReader::new(file), display, 1, &mut ctx);
    }
    Ok(ctx.walk)
}

/// Walks an archive held in memory (as [`walk_file`] does for a file).
pub fn walk_bytes(bytes: &[u8], display: &str, limits: &Limits) -> Walk {
    let mut ctx = Ctx {
        limits,
        deadline: Instant::now() + Duration::from_secs(limits.max_seconds),
        entries: 0,
        total: 0,
        walk: Walk::default(),
    };
    let kind = sniff(&bytes[..bytes.len().min(512)]);
    match similar::fingerprint(bytes) {
        Ok(fingerprint) => ctx.walk.entries.push(Entry {
            path: display.to_string(),
            depth: 0,
            archive: kind.is_some(),
            fingerprint,
        }),
        Err(e) => ctx.refuse(display, format!("unreadable: {e}")),
    }
    if let Some(kind) = kind {
        walk_container(kind, Cursor::new(bytes), display, 1, &mut ctx);
    }
    ctx.walk
}

fn walk_container<R: Read + Seek>(kind: Kind, r: R, path: &str, depth: u32, ctx: &mut Ctx) {
    match kind {
        Kind::Zip => walk_zip(r, path, depth, ctx),
        Kind::Tar => walk_tar(r, path, depth, ctx),
        Kind::Gzip => walk_gzip(r, path, depth, ctx),
    }
}

/// Why an entry name is refused, if it is: names that would leave a directory when
/// extracted, or that hide what they are from a reader.
pub(crate) fn bad_name(raw: &[u8]) -> Option<&'static str> {
    if raw.is_empty() {
        return Some("empty name");
    }
    if raw.contains(&0) {
        return Some("NUL in name");
    }
    let Ok(name) = std::str::from_utf8(raw) else {
        // Legacy code pages are common in zip files; only the checks below matter.
        return check_parts(&String::from_utf8_lossy(raw));
    };
    if name
        .chars()
        .any(|c| c.is_control() || escape::is_bidi_control(c))
    {
        return Some("control or bidirectional character in name");
    }
    check_parts(name)
}

fn check_parts(name: &str) -> Option<&'static str> {
    if name.starts_with('/') || name.starts_with('\\') {
        return Some("absolute name");
    }
    let b = name.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Some("drive letter in name");
    }
    if name.split(['/', '\\']).any(|p| p == "..") {
        return Some("`..` in name (path traversal)");
    }
    None
}

fn child(path: &str, raw: &[u8]) -> String {
    format!(
        "{path}!/{}",
        escape::terminal(&String::from_utf8_lossy(raw))
    )
}

fn walk_zip<R: Read + Seek>(r: R, path: &str, depth: u32, ctx: &mut Ctx) {
    let mut zip = match zip::ZipArchive::new(r) {
        Ok(z) => z,
        Err(e) => {
            ctx.refuse(path, format!("zip unreadable: {e}"));
            return;
        }
    };
    let n = zip.len();
    // Where each entry's data lies: two entries sharing bytes are the mark of a zip
    // bomb made of overlapping entries (one deflate stream counted many times).
    let mut spans: Vec<(u64, u64, usize)> = Vec::with_capacity(n.min(1 << 16));
    for i in 0..n {
        if let Ok(f) = zip.by_index_raw(i) {
            let start = f.data_start().unwrap_or_else(|| f.header_start());
            spans.push((
                f.header_start(),
                start.saturating_add(f.compressed_size()),
                i,
            ));
        }
    }
    spans.sort_unstable();
    let mut overlapping = vec![false; n];
    let mut furthest: Option<(u64, usize)> = None;
    for &(start, end, i) in &spans {
        if let Some((far_end, j)) = furthest {
            if start < far_end {
                overlapping[i] = true;
                overlapping[j] = true;
            }
        }
        if furthest.is_none_or(|(e, _)| end > e) {
            furthest = Some((end, i));
        }
    }
    for (i, overlaps) in overlapping.iter().enumerate() {
        if ctx.out_of_time() {
            ctx.refuse(path, "time limit reached; remaining entries not read");
            return;
        }
        ctx.entries += 1;
        if ctx.entries > ctx.limits.max_entries {
            ctx.refuse(
                path,
                format!(
                    "entry limit ({}) reached; remaining entries not read",
                    ctx.limits.max_entries
                ),
            );
            return;
        }
        let (name, declared, compressed) = match zip.by_index_raw(i) {
            Ok(f) => {
                let name = child(path, f.name_raw());
                if f.is_dir() {
                    continue;
                }
                let reason = if let Some(bad) = bad_name(f.name_raw()) {
                    Some(bad.to_string())
                } else if f.encrypted() {
                    Some("encrypted entry; not decrypted".to_string())
                } else if f.is_symlink() {
                    Some("symbolic link; not followed".to_string())
                } else if *overlaps {
                    Some("entry data overlaps another entry's (zip bomb)".to_string())
                } else {
                    None
                };
                if let Some(reason) = reason {
                    ctx.refuse(&name, reason);
                    continue;
                }
                (name, f.size(), f.compressed_size())
            }
            Err(e) => {
                ctx.refuse(&format!("{path}!/#{i}"), format!("entry unreadable: {e}"));
                continue;
            }
        };
        if let Some(reason) = declared_too_big(declared, ctx) {
            ctx.refuse(&name, reason);
            continue;
        }
        if declared > 1 << 20 && declared / compressed.max(1) > ctx.limits.max_ratio {
            ctx.refuse(
                &name,
                format!(
                    "compression ratio {}:1 over the limit {}:1 (zip bomb)",
                    declared / compressed.max(1),
                    ctx.limits.max_ratio
                ),
            );
            continue;
        }
        match zip.by_index(i) {
            Ok(f) => stream_entry(f, &name, depth, ctx),
            Err(e) => ctx.refuse(&name, format!("entry unreadable: {e}")),
        }
    }
}

fn declared_too_big(declared: u64, ctx: &Ctx) -> Option<String> {
    if declared > ctx.limits.max_entry_bytes {
        Some(format!(
            "declares {declared} bytes, over the per-entry limit of {}",
            ctx.limits.max_entry_bytes
        ))
    } else if declared > ctx.limits.max_total_bytes.saturating_sub(ctx.total) {
        Some(format!(
            "declares {declared} bytes, over what remains of the total limit of {}",
            ctx.limits.max_total_bytes
        ))
    } else {
        None
    }
}

fn walk_tar<R: Read>(r: R, path: &str, depth: u32, ctx: &mut Ctx) {
    let mut tar = tar::Archive::new(r);
    let entries = match tar.entries() {
        Ok(e) => e,
        Err(e) => {
            ctx.refuse(path, format!("tar unreadable: {e}"));
            return;
        }
    };
    for entry in entries {
        if ctx.out_of_time() {
            ctx.refuse(path, "time limit reached; remaining entries not read");
            return;
        }
        ctx.entries += 1;
        if ctx.entries > ctx.limits.max_entries {
            ctx.refuse(
                path,
                format!(
                    "entry limit ({}) reached; remaining entries not read",
                    ctx.limits.max_entries
                ),
            );
            return;
        }
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                ctx.refuse(path, format!("tar stream corrupt: {e}; rest not read"));
                return;
            }
        };
        let raw = entry.path_bytes().into_owned();
        let name = child(path, &raw);
        use tar::EntryType as T;
        let kind = entry.header().entry_type();
        let reason = match kind {
            T::Directory => continue,
            T::Regular | T::Continuous => bad_name(&raw).map(str::to_string),
            T::Symlink | T::Link => Some("link; not followed".to_string()),
            other => Some(format!("entry type {other:?}; not read")),
        };
        if let Some(reason) = reason {
            ctx.refuse(&name, reason);
            continue;
        }
        if let Some(reason) = declared_too_big(entry.size(), ctx) {
            ctx.refuse(&name, reason);
            continue;
        }
        stream_entry(entry, &name, depth, ctx);
    }
}

fn walk_gzip<R: Read>(r: R, path: &str, depth: u32, ctx: &mut Ctx) {
    let inner = flate2::read::MultiGzDecoder::new(r);
    let name = match path
        .strip_suffix(".gz")
        .or_else(|| path.strip_suffix(".tgz"))
    {
        Some(stem) => format!("{path}!/{}", stem.rsplit("!/").next().unwrap_or(stem)),
        None => format!("{path}!/(gzip content)"),
    };
    ctx.entries += 1;
    stream_entry(inner, &name, depth, ctx);
}

/// A reader that stops with an error past the entry's and the walk's byte limits or
/// the deadline, counting what it read.
struct Bounded<'a, R> {
    inner: R,
    read: u64,
    limit: u64,
    deadline: Instant,
    why: &'a str,
}

impl<R: Read> Read for Bounded<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if Instant::now() >= self.deadline {
            return Err(io::Error::other("time limit reached"));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::other(self.why.to_string()));
        }
        Ok(n)
    }
}

/// Hashes one entry as a stream; an entry that is itself an archive is read into
/// memory and walked.
fn stream_entry<R: Read>(r: R, name: &str, depth: u32, ctx: &mut Ctx) {
    let remaining = ctx.limits.max_total_bytes.saturating_sub(ctx.total);
    let (limit, why) = if ctx.limits.max_entry_bytes <= remaining {
        (ctx.limits.max_entry_bytes, "over the per-entry byte limit")
    } else {
        (remaining, "over the total byte limit of the walk")
    };
    let mut reader = Bounded {
        inner: r,
        read: 0,
        limit,
        deadline: ctx.deadline,
        why,
    };
    let mut head = Vec::with_capacity(512);
    if let Err(e) = (&mut reader).take(512).read_to_end(&mut head) {
        ctx.total += reader.read;
        ctx.refuse(name, format!("unreadable: {e}"));
        return;
    }
    let kind = sniff(&head);
    if kind.is_some() && depth < ctx.limits.max_depth {
        let mut bytes = head;
        let cap = ctx.limits.max_nested_bytes;
        let res = (&mut reader)
            .take(cap.saturating_sub(bytes.len() as u64) + 1)
            .read_to_end(&mut bytes);
        ctx.total += reader.read;
        if let Err(e) = res {
            ctx.refuse(name, format!("unreadable: {e}"));
            return;
        }
        if bytes.len() as u64 > cap {
            // Too big to hold: hash it whole as a stream, without walking inside.
            let before = reader.read;
            let res = similar::fingerprint(Cursor::new(bytes).chain(&mut reader));
            ctx.total += reader.read - before;
            match res {
                Ok(fingerprint) => ctx.walk.entries.push(Entry {
                    path: name.to_string(),
                    depth,
                    archive: false,
                    fingerprint,
                }),
                Err(e) => ctx.refuse(name, format!("unreadable: {e}")),
            }
            ctx.refuse(
                name,
                format!("nested archive over {cap} bytes; hashed whole, entries not read"),
            );
            return;
        }
        match similar::fingerprint(&bytes[..]) {
            Ok(fingerprint) => ctx.walk.entries.push(Entry {
                path: name.to_string(),
                depth,
                archive: true,
                fingerprint,
            }),
            Err(e) => {
                ctx.refuse(name, format!("unreadable: {e}"));
                return;
            }
        }
        walk_container(
            kind.unwrap_or(Kind::Zip),
            Cursor::new(&bytes[..]),
            name,
            depth + 1,
            ctx,
        );
        return;
    }
    let res = similar::fingerprint(Cursor::new(&head).chain(&mut reader));
    ctx.total += reader.read;
    match res {
        Ok(fingerprint) => {
            if kind.is_some() {
                ctx.refuse(
                    name,
                    format!(
                        "archive nested deeper than {} levels; hashed whole, entries not read",
                        ctx.limits.max_depth
                    ),
                );
            }
            ctx.walk.entries.push(Entry {
                path: name.to_string(),
                depth,
                archive: false,
                fingerprint,
            });
        }
        Err(e) => ctx.refuse(name, format!("unreadable: {e}")),
    }
}
