//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub(crate) mod tsa;

use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether a file name is one of the capture formats whohosts reads.
pub(crate) fn is_capture(p: &Path) -> bool {
    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    [".pcap", ".pcapng", ".cap"].iter().any(|e| {
        n.ends_with(e) || n.ends_with(&format!("{e}.gz")) || n.ends_with(&format!("{e}.zst"))
    })
}

/// Whether the tests run on the bundled captures whole (no
/// `WHOHOSTS_TEST_CAPTURES` or `WHOHOSTS_TEST_CAPTURES_DIR`): checks of the set as a
/// whole (every kind of name compared somewhere) hold only then.
pub(crate) fn all_bundled_captures() -> bool {
    std::env::var_os("WHOHOSTS_TEST_CAPTURES").is_none()
        && std::env::var_os("WHOHOSTS_TEST_CAPTURES_DIR").is_none()
}

/// Every capture in `captures/` (recursively), sorted.
pub(crate) fn captures() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if is_capture(&p) {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    // WHOHOSTS_TEST_CAPTURES_DIR=DIR compares the captures of DIR instead (a
    // collection of one's own, say) with the tests that walk every capture.
    match std::env::var_os("WHOHOSTS_TEST_CAPTURES_DIR") {
        Some(dir) => walk(Path::new(&dir), &mut v),
        None => walk(&root().join("captures"), &mut v),
    }
    // WHOHOSTS_TEST_CAPTURES=part limits a run to the captures whose path holds it.
    if let Ok(part) = std::env::var("WHOHOSTS_TEST_CAPTURES") {
        v.retain(|p| p.to_string_lossy().contains(&part));
    }
    v.sort();
    v
}

/// Runs tshark and returns its standard output; fails loudly when tshark is not
/// installed (CI installs it) or fails.
pub(crate) fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark")
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .expect("tshark must be installed (Debian package tshark); .ci/run installs it");
    assert!(
        out.status.success(),
        "tshark {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// tshark's fields for the frames `filter` shows, one row a frame, `|`-separated.
pub(crate) fn tshark_rows(path: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    tshark_rows_with(path, &[], filter, fields)
}

/// [`tshark_rows`] with tshark options before the filter (`-o name:value`, `-d`).
pub(crate) fn tshark_rows_with(
    path: &Path,
    options: &[&str],
    filter: &str,
    fields: &[&str],
) -> Vec<Vec<String>> {
    let mut args = vec!["-n", "-r", path.to_str().unwrap()];
    args.extend(options);
    args.extend(["-Y", filter, "-T", "fields", "-E", "separator=|"]);
    for f in fields {
        args.extend(["-e", f]);
    }
    tshark(&args)
        .lines()
        .map(|l| l.split('|').map(str::to_string).collect())
        .collect()
}

/// A path tshark can read: the capture itself, or a decompressed temporary copy
/// of a zstd capture (tshark 4.0 reads gzip but not zstd).
pub(crate) enum Readable {
    Same(PathBuf),
    Temp(tempfile::TempPath),
}

impl Readable {
    pub(crate) fn path(&self) -> &Path {
        match self {
            Readable::Same(p) => p,
            Readable::Temp(t) => t,
        }
    }
}

pub(crate) fn tshark_readable(path: &Path) -> Readable {
    if path.extension().is_some_and(|e| e == "zst") {
        let data = std::fs::read(path).unwrap();
        let plain = zstd::decode_all(&data[..]).unwrap();
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), plain).unwrap();
        Readable::Temp(tmp.into_temp_path())
    } else {
        Readable::Same(path.to_owned())
    }
}
pub(crate) mod http;
