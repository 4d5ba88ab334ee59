//! content::ranges: 206 parts of one resource stitched into one object, after the
//! pass (RFC 9110 §14: a part's `Content-Range` places its bytes in the whole).
//!
//! Parts belong together when they share the URL, the validator (ETag, else
//! Last-Modified) and the complete length. The stitched object lists its `parts` and
//! the byte ranges nobody saw (`gaps`, zero-filled in its file and its hash); it is
//! complete only without gaps. Parts that disagree on the bytes they share are a
//! recorded problem (the first part's bytes are kept).

use super::store::{Object, ObjectRange};
use std::io::{Read, Seek, SeekFrom, Write};

/// Largest whole a stitched object may have.
pub(crate) const MAX_STITCHED: u64 = 1 << 32;

/// `bytes FIRST-LAST/TOTAL` (TOTAL may be `*`); `None` when it does not parse.
pub(crate) fn parse_content_range(v: &[u8]) -> Option<ObjectRange> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let rest = s.strip_prefix("bytes")?.trim_start();
    let (span, total) = rest.split_once('/')?;
    let (first, last) = span.trim().split_once('-')?;
    let first: u64 = first.trim().parse().ok()?;
    let last: u64 = last.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse::<u64>().ok()?),
    };
    (first <= last && total.is_none_or(|t| last < t)).then_some(ObjectRange { first, last, total })
}

/// A stitched object and the indexes (into the part list given) of its parts.
pub(crate) struct Stitched {
    pub object: Object,
    pub parts: Vec<usize>,
    pub file: tempfile::TempPath,
}

/// Why a group of parts could not be stitched: the file system, never the parts
/// (gaps and disagreeing overlaps are the object's `problems`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum StitchError {
    #[error("creating a file for a stitched object: {0}")]
    Create(#[source] std::io::Error),
    #[error("stitching range parts: {0}")]
    Io(#[from] std::io::Error),
}

/// Stitches the groups of two or more complete, unencoded 206 parts with a known
/// total; `files[i]` is part `i`'s file. `dir`: where the stitched file is made
/// (the extract directory, or the system's temporary one).
pub(crate) fn stitch(
    objects: &[Object],
    files: &[Option<tempfile::TempPath>],
    dir: Option<&std::path::Path>,
) -> Vec<Result<Stitched, StitchError>> {
    let mut groups: std::collections::BTreeMap<(u32, &str, Option<&str>, u64), Vec<usize>> =
        std::collections::BTreeMap::new();
    for (i, o) in objects.iter().enumerate() {
        let Some(r) = &o.range else { continue };
        let Some(total) = r.total else { continue };
        if o.content_encoding.is_some() || files.get(i).is_none_or(|f| f.is_none()) {
            continue;
        }
        if total > MAX_STITCHED || o.url.is_empty() {
            continue;
        }
        groups
            .entry((o.capture, o.url.as_str(), o.validator.as_deref(), total))
            .or_default()
            .push(i);
    }
    groups
        .into_iter()
        .filter(|(_, parts)| parts.len() >= 2)
        .map(|((_, _, _, total), parts)| build(objects, files, dir, total, parts))
        .collect()
}

fn build(
    objects: &[Object],
    files: &[Option<tempfile::TempPath>],
    dir: Option<&std::path::Path>,
    total: u64,
    parts: Vec<usize>,
) -> Result<Stitched, StitchError> {
    let made = match dir {
        Some(d) => tempfile::Builder::new()
            .prefix(".whohosts-object-")
            .tempfile_in(d),
        None => tempfile::NamedTempFile::new(),
    };
    let (mut out, path) = made.map_err(StitchError::Create)?.into_parts();
    out.set_len(total)?;
    // Covered byte ranges, to find the gaps and the overlaps.
    let mut covered: Vec<(u64, u64)> = Vec::new();
    let mut problems = Vec::new();
    let mut complete_parts = true;
    let first = &objects[parts[0]];
    for &i in &parts {
        let o = &objects[i];
        let (Some(r), Some(Some(f))) = (&o.range, files.get(i)) else {
            continue;
        };
        complete_parts &= o.complete;
        // The bytes the part holds (it may be cut short).
        let have = o.size.min(r.last - r.first + 1);
        if have == 0 {
            continue;
        }
        let (start, end) = (r.first, r.first + have - 1);
        let mut src = std::fs::File::open(f)?;
        // Bytes already covered by an earlier part are compared, not written.
        let mut pos = start;
        let mut buf = vec![0u8; 64 * 1024];
        while pos <= end {
            let n = ((end - pos + 1) as usize).min(buf.len());
            src.read_exact(&mut buf[..n])?;
            let mut k = 0;
            while k < n {
                let at = pos + k as u64;
                let seen = covered.iter().find(|&&(a, b)| a <= at && at <= b).copied();
                let run_end = match seen {
                    Some((_, b)) => b.min(pos + n as u64 - 1),
                    None => covered
                        .iter()
                        .filter(|&&(a, _)| a > at)
                        .map(|&(a, _)| a - 1)
                        .min()
                        .unwrap_or(u64::MAX)
                        .min(pos + n as u64 - 1),
                };
                let len = (run_end - at + 1) as usize;
                let chunk = &buf[k..k + len];
                out.seek(SeekFrom::Start(at))?;
                if seen.is_some() {
                    let mut old = vec![0u8; len];
                    out.read_exact(&mut old)?;
                    if old != chunk && problems.len() < 8 {
                        problems.push(format!(
                            "range parts disagree on bytes {at}-{run_end}: the earlier part's are kept"
                        ));
                    }
                } else {
                    out.write_all(chunk)?;
                }
                k += len;
            }
            pos += n as u64;
        }
        covered.push((start, end));
        covered.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (a, b) in covered.drain(..) {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        covered = merged;
    }
    let mut gaps = Vec::new();
    let mut next = 0u64;
    for &(a, b) in &covered {
        if a > next {
            gaps.push([next, a - 1]);
        }
        next = b + 1;
    }
    if next < total {
        gaps.push([next, total - 1]);
    }
    out.flush()?;
    out.seek(SeekFrom::Start(0))?;
    let digests = crate::hash::hash_reader(&mut out, crate::hash::Algorithms::SHA256)?;
    if !gaps.is_empty() {
        problems.push(format!(
            "{} byte ranges were never seen; they are zero-filled",
            gaps.len()
        ));
    }
    if !complete_parts {
        problems.push("a part is incomplete".to_string());
    }
    let frames_total = parts.iter().map(|&i| objects[i].frames_total).sum();
    let mut frames: Vec<u64> = parts
        .iter()
        .flat_map(|&i| objects[i].frames.iter().copied())
        .collect();
    frames.sort_unstable();
    frames.dedup();
    frames.truncate(super::MAX_OBJECT_FRAMES);
    let object = Object {
        id: 0,
        capture: first.capture,
        direction: "response",
        url: first.url.clone(),
        method: first.method.clone(),
        status: 200,
        http_version: first.http_version,
        content_type: first.content_type.clone(),
        content_encoding: None,
        size: total,
        sha256: digests.sha256.unwrap_or_default(),
        wire_size: total,
        wire_sha256: String::new(),
        range: None,
        complete: gaps.is_empty() && complete_parts && problems.is_empty(),
        problems,
        first_frame: parts
            .iter()
            .map(|&i| objects[i].first_frame)
            .min()
            .unwrap_or(0),
        last_frame: parts
            .iter()
            .map(|&i| objects[i].last_frame)
            .max()
            .unwrap_or(0),
        frames,
        frames_total,
        client: first.client.clone(),
        server: first.server.clone(),
        tls: first.tls,
        file: None,
        parts: Vec::new(),
        gaps,
        validator: first.validator.clone(),
        stream: first.stream,
        host: first.host.clone(),
    };
    let mut object = object;
    object.wire_sha256 = object.sha256.clone();
    Ok(Stitched {
        object,
        parts,
        file: path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        let r = parse_content_range(b"bytes 0-99/1000").unwrap();
        assert_eq!((r.first, r.last, r.total), (0, 99, Some(1000)));
        assert_eq!(parse_content_range(b"bytes 5-9/*").unwrap().total, None);
        for bad in [
            &b"bytes 9-5/10"[..],
            b"bytes 0-10/10",
            b"items 0-1/2",
            b"bytes x",
            b"",
        ] {
            assert!(parse_content_range(bad).is_none());
        }
    }
}
