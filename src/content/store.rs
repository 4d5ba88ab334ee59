//! content::store: the objects found, their ids, and writing them out.
//!
//! Objects are numbered after the pass, in the order of their first frame (over the
//! captures in order), so that the same input gives the same ids. Extracted objects
//! are written while they pass into temporary files in the extract directory, and
//! named only then: `ID-HOST-LAST_SEGMENT`, sanitised (see [`safe_name`]), and moved
//! into place only if nothing has that name (never replacing a file).

use serde::Serialize;
use std::path::{Path, PathBuf};

/// Where a 206 part lies in the whole (RFC 9110 §14.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectRange {
    pub first: u64,
    pub last: u64,
    /// The whole's length, unless the server said `*`.
    pub total: Option<u64>,
}

/// One object an HTTP message carried (see the report schema's `objects`).
#[derive(Clone, Debug, Serialize)]
pub struct Object {
    pub id: u64,
    pub capture: u32,
    pub direction: &'static str,
    pub url: String,
    pub method: String,
    pub status: u16,
    pub http_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// Decoded size: what the client's program saw.
    pub size: u64,
    pub sha256: String,
    /// After transfer framing, before content decoding.
    pub wire_size: u64,
    pub wire_sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<ObjectRange>,
    pub complete: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    pub first_frame: u64,
    pub last_frame: u64,
    pub frames: Vec<u64>,
    pub frames_total: u64,
    pub client: String,
    pub server: String,
    pub tls: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<[u64; 2]>,
    /// ETag, else Last-Modified: what range parts must share to be stitched.
    #[serde(skip)]
    pub validator: Option<String>,
    /// The message's index on its connection.
    #[serde(skip)]
    pub stream: u64,
    /// The Host the request named.
    #[serde(skip)]
    pub host: Option<String>,
}

/// The report's account of an extraction.
#[derive(Clone, Debug, Serialize)]
pub struct ExtractSummary {
    /// The directory as given on the command line.
    pub dir: String,
    /// Objects written.
    pub objects: u64,
}

/// The URL of a request: its absolute form as sent, or scheme, Host and target.
pub(super) fn url_of(r: &super::Request, conn: &super::Conn) -> String {
    let target = String::from_utf8_lossy(&r.target);
    if target.contains("://") {
        return target.into_owned();
    }
    let scheme = r
        .scheme
        .as_deref()
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .unwrap_or_else(|| if conn.tls { "https" } else { "http" }.to_string());
    let host = match &r.authority {
        Some(h) => String::from_utf8_lossy(h).trim().to_string(),
        None => conn.server.to_string(),
    };
    format!("{scheme}://{host}{target}")
}

/// Longest file name written (bytes).
pub(crate) const MAX_NAME: usize = 120;

/// Characters kept from a name taken from the capture: letters, digits, `.-_+`.
/// Anything else (path separators, controls, bidi overrides, spaces, `%`) becomes
/// `_`; a leading dot is dropped so that no name is hidden or `..`.
fn clean(part: &str, max: usize) -> String {
    let mut s: String = part
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect();
    while s.contains("..") {
        s = s.replace("..", "_");
    }
    let s = s.trim_start_matches(['.', '-']).to_string();
    s.chars().take(max).collect()
}

/// The file name of object `id`: `0001-host-lastsegment`, never a path, never
/// empty, at most [`MAX_NAME`] bytes, ASCII only.
pub(crate) fn safe_name(id: u64, url: &str, host: Option<&str>) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    let (url_host, path) = after_scheme
        .split_once('/')
        .map_or((after_scheme, ""), |(h, p)| (h, p));
    let host = host.unwrap_or(url_host);
    let path = path.split(['?', '#']).next().unwrap_or("");
    let last = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or("");
    let mut name = format!("{id:04}");
    let host = clean(host, 60);
    if !host.is_empty() {
        name.push('-');
        name.push_str(&host);
    }
    let last = clean(last, MAX_NAME.saturating_sub(name.len() + 1));
    if !last.is_empty() {
        name.push('-');
        name.push_str(&last);
    }
    name.truncate(MAX_NAME);
    name
}

/// All objects of an analysis, numbered, stitched and (when asked) written out.
#[derive(Debug, Default)]
pub struct Objects {
    pub list: Vec<Object>,
    pub extract: Option<ExtractSummary>,
    /// Files written, relative to the extract directory, with their objects' ids.
    pub written: Vec<(u64, PathBuf)>,
    pub problems: Vec<String>,
    /// The TLS connections followed for decryption, by capture and first frame.
    pub tls: Vec<super::TlsSession>,
}

/// Numbers the objects of all captures, stitches range parts, and moves extracted
/// files into place in `extract` (given as `shown` in the report).
pub fn finish(collected: Vec<super::Collected>, extract: Option<(&Path, &str)>) -> Objects {
    let mut objects = Vec::new();
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let mut tls = Vec::new();
    for c in collected {
        tls.extend(c.tls);
        objects.extend(c.objects);
        files.extend(c.files);
        problems.extend(c.problems);
    }
    let stitched = super::ranges::stitch(&objects, &files, extract.map(|(d, _)| d));
    let n_parts = objects.len();
    let mut part_lists: Vec<Vec<usize>> = vec![Vec::new(); n_parts];
    for s in stitched {
        match s {
            Ok(s) => {
                objects.push(s.object);
                files.push(Some(s.file));
                part_lists.push(s.parts);
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    // Order: capture, first frame, a stitched object after its first part.
    let mut order: Vec<usize> = (0..objects.len()).collect();
    order.sort_by_key(|&i| {
        let o = &objects[i];
        (o.capture, o.first_frame, i >= n_parts, o.stream, i)
    });
    let mut id_of = vec![0u64; objects.len()];
    for (n, &i) in order.iter().enumerate() {
        id_of[i] = n as u64 + 1;
    }
    let mut out = Objects::default();
    let mut slots: Vec<Option<Object>> = objects.into_iter().map(Some).collect();
    let mut file_slots: Vec<Option<tempfile::TempPath>> = files;
    for &i in &order {
        let Some(mut o) = slots[i].take() else {
            continue;
        };
        o.id = id_of[i];
        o.parts = part_lists.get(i).map_or_else(Vec::new, |p| {
            let mut ids: Vec<u64> = p.iter().map(|&j| id_of[j]).collect();
            ids.sort_unstable();
            ids
        });
        let file = file_slots.get_mut(i).and_then(Option::take);
        if let (Some((dir, _)), Some(tmp)) = (extract, file) {
            let name = safe_name(o.id, &o.url, o.host.as_deref());
            let dest = dir.join(&name);
            match crate::atomic::persist_new(tmp, &dest) {
                Ok(()) => {
                    o.file = Some(name.clone());
                    out.written.push((o.id, PathBuf::from(name)));
                }
                Err(e) => problems.push(format!("object {}: {e}", o.id)),
            }
        }
        out.list.push(o);
    }
    out.extract = extract.map(|(_, shown)| ExtractSummary {
        dir: shown.to_string(),
        objects: out.written.len() as u64,
    });
    out.problems = problems;
    tls.sort_by(|a, b| {
        (a.capture, a.first_frame, &a.client).cmp(&(b.capture, b.first_frame, &b.client))
    });
    out.tls = tls;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe() {
        assert_eq!(
            safe_name(
                1,
                "http://dl.example.com/pkg/game.apk?x=1",
                Some("dl.example.com")
            ),
            "0001-dl.example.com-game.apk"
        );
        for (url, host) in [
            ("http://h/../../etc/passwd", Some("../..")),
            ("http://h/a/..", Some("h/../x")),
            ("http://h/\u{202e}gpj.exe", Some("\u{0}h\n")),
            ("http://h/%2e%2e%2fx", None),
            ("http://h/", Some("")),
        ] {
            let n = safe_name(7, url, host);
            assert!(n.starts_with("0007"), "{n}");
            assert!(
                !n.contains('/') && !n.contains("..") && !n.contains('\\'),
                "{n}"
            );
            assert!(n.bytes().all(|b| b.is_ascii_graphic()), "{n:?}");
        }
        let long = format!("http://h/{}", "a".repeat(1000));
        assert!(safe_name(123456, &long, Some(&"b".repeat(500))).len() <= MAX_NAME);
    }
}
