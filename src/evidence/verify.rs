//! Offline verification of a case directory (or of one file against given hashes).
//!
//! Checks, in order: the custody chain (every line parses, `seq` counts up, `prev` is
//! the hash of the line before); every file any custody entry recorded is present with
//! the recorded size and hashes; every file of the newest manifest likewise (SHA-256
//! and SM3); no file is present that neither records; each manifest's `custody_head`
//! matches the log; each time-stamp request stamps its manifest; each reply is granted,
//! stamps its manifest, is signed (see [`super::tsp`]) and
//! has a genTime between the seal entry and the entry recording the reply, allowing
//! [`Options::skew_secs`] either way (5 minutes by default: the two clocks are
//! independent and the TSA's accuracy is usually a second or better).
//!
//! The start of each session is checked like a seal's time-stamp, against its start
//! statement. A capture still being written, or interrupted and not yet recorded, is
//! named as such.
//!
//! Every difference is one line naming the place (file, custody line) with the
//! expected and the found value. Verification never modifies the case.

use super::custody::{self, FileRecord};
use super::hash::{hash_file, hash_files_parallel, Algorithms, Digests, HashError};
use super::info;
use super::manifest::{self, seals, Manifest};
use super::tsp;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use x509_cert::Certificate;

/// Default allowance between the TSA's clock and ours.
pub const DEFAULT_SKEW_SECS: i64 = 300;

#[derive(Clone, Debug)]
pub struct Options {
    /// The TSA certificate to check signatures with (else the token's own, noted).
    pub tsa_cert: Option<Certificate>,
    /// The CA that must have issued the TSA certificate.
    pub tsa_ca: Option<Certificate>,
    pub skew_secs: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tsa_cert: None,
            tsa_ca: None,
            skew_secs: DEFAULT_SKEW_SECS,
        }
    }
}

/// The outcome: differences (any one fails verification) and informative notes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub differences: Vec<String>,
    pub notes: Vec<String>,
    /// The digests computed for each file checked (SHA-256 and SM3), by relative path,
    /// so that a seal can reuse them instead of reading every file twice.
    pub digests: BTreeMap<String, Digests>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.differences.is_empty()
    }
}

/// Where an expected value comes from.
#[derive(Clone, Debug)]
struct Expected {
    origin: String,
    size: u64,
    sha256: String,
    /// SM3, and SHA-512 / MD5 where the manifest has them.
    others: Digests,
}

impl Expected {
    fn from_record(r: &FileRecord, line: u64) -> Expected {
        Expected {
            origin: format!("custody.jsonl line {line}"),
            size: r.size,
            sha256: r.sha256.clone(),
            others: Digests {
                sm3: r.sm3.clone(),
                ..Digests::default()
            },
        }
    }
}

/// Verifies a whole case directory.
pub fn verify_case(dir: &Path, opts: &Options) -> Report {
    let mut r = Report::default();
    if let Err(e) = info::load_info(dir) {
        r.differences.push(e.to_string());
    }
    let log = match custody::read(dir) {
        Ok(l) => l,
        Err(e) => {
            r.differences
                .push(format!("{}: cannot read: {e}", custody::FILE));
            return r;
        }
    };
    if log.entries.is_empty() && log.problems.is_empty() {
        r.differences
            .push(format!("{}: missing or empty", custody::FILE));
    }
    r.differences
        .extend(log.problems.iter().map(|p| p.to_string()));

    // What the custody log vouches for, path by path.
    let mut expected: BTreeMap<String, Vec<Expected>> = BTreeMap::new();
    for (e, _) in &log.entries {
        for f in e.files.iter().chain(e.environment.iter()) {
            let list = expected.entry(f.path.clone()).or_default();
            if !list.iter().any(|x| x.sha256 == f.sha256) {
                list.push(Expected::from_record(f, e.seq));
            }
        }
    }
    for (path, list) in &expected {
        if let [first, second, ..] = list.as_slice() {
            r.differences.push(format!(
                "{path}: recorded with different sha256 in {} ({}) and {} ({})",
                first.origin, first.sha256, second.origin, second.sha256
            ));
        }
    }

    // The newest manifest vouches for every file present at its seal.
    let all_seals = seals(&log);
    let mut manifests: BTreeMap<u32, Manifest> = BTreeMap::new();
    for seal in &all_seals {
        if seal.version == 0 || seal.manifest.is_empty() || seal.manifest_sha256.is_empty() {
            r.differences.push(format!(
                "custody.jsonl line {}: seal entry lacks its version, manifest or manifest_sha256",
                seal.line
            ));
            continue;
        }
        // A missing manifest is reported below as a missing file.
        if let Ok(bytes) = std::fs::read(dir.join(&seal.manifest)) {
            match Manifest::parse(&seal.manifest, &bytes) {
                Ok(m) => {
                    check_custody_head(&log, &seal.manifest, &m, seal.line, &mut r);
                    manifests.insert(seal.version, m);
                }
                Err(e) => r.differences.push(e.to_string()),
            }
        }
    }
    let newest = all_seals.last();
    if let Some(seal) = newest {
        if let Some(m) = manifests.get(&seal.version) {
            for f in &m.files {
                let list = expected.entry(f.path.clone()).or_default();
                let e = Expected {
                    origin: seal.manifest.clone(),
                    size: f.digests.size,
                    sha256: f.digests.sha256.clone().unwrap_or_default(),
                    others: Digests {
                        sha256: None,
                        ..f.digests.clone()
                    },
                };
                // Report a mismatch once when both the manifest and the custody log
                // expect the same value; keep both when they disagree.
                list.retain(|x| x.sha256 != e.sha256);
                list.insert(0, e);
            }
        }
    }

    // Compare with what is on disk.
    // Only plain files inside the directory are ever read: a recorded path that
    // climbs out (`../x`) or a planted link is reported, never followed.
    let present = match manifest::scan(dir) {
        Ok(scan) => {
            for p in &scan.not_plain {
                r.differences.push(format!(
                    "not a plain file (symbolic link or special file): {p}"
                ));
            }
            scan.files
        }
        Err(e) => {
            r.differences.push(e.to_string());
            Vec::new()
        }
    };
    let sealed: Vec<&str> = newest
        .and_then(|s| manifests.get(&s.version))
        .map(|m| m.files.iter().map(|f| f.path.as_str()).collect())
        .unwrap_or_default();
    // Files of captures that are still being written, or whose process died before
    // they were closed (see `super::live`): named as such.
    let mut capturing: BTreeMap<String, String> = BTreeMap::new();
    for c in super::live::captures(&log) {
        if c.stopped {
            continue;
        }
        let why = if super::live::is_running(dir, c.number) {
            format!(
                "being captured (capture {}, process {}); verify again once it is stopped",
                c.number,
                c.pid.map_or_else(|| "?".into(), |p| p.to_string())
            )
        } else {
            format!(
                "capture {} was interrupted and this file is not recorded yet; any case command records it (e.g. `whohosts session status --case {}`)",
                c.number,
                dir.display()
            )
        };
        let prefix = format!("captures/{}_", super::live::prefix(c.number));
        for p in present.iter().filter(|p| p.starts_with(&prefix)) {
            capturing.insert(p.clone(), why.clone());
        }
    }
    for p in &present {
        if !expected.contains_key(p) {
            r.differences.push(match (capturing.get(p), newest) {
                (Some(why), _) => format!("{p}: {why}"),
                (None, Some(s)) => format!("file added since seal v{}: {p}", s.version),
                (None, None) => format!("file not recorded in the custody log: {p}"),
            });
        }
    }
    let to_hash: Vec<&String> = expected.keys().filter(|p| present.contains(p)).collect();
    let full: Vec<PathBuf> = to_hash.iter().map(|p| dir.join(p)).collect();
    // SHA-512 and MD5 only when some manifest entry carries them.
    let extra = expected
        .values()
        .flatten()
        .fold(Algorithms::EVIDENCE, |a, e| {
            a.with(Algorithms {
                sha512: e.others.sha512.is_some(),
                md5: e.others.md5.is_some(),
                ..Algorithms::default()
            })
        });
    let digests = hash_files_parallel(&full, extra, 0);
    let found: BTreeMap<&str, Result<Digests, HashError>> =
        to_hash.iter().map(|p| p.as_str()).zip(digests).collect();
    for (path, list) in &expected {
        let Some(first) = list.first() else { continue };
        match found.get(path.as_str()) {
            None => r.differences.push(format!(
                "file missing: {path} (recorded in {})",
                first.origin
            )),
            Some(Err(e)) => r.differences.push(format!("{path}: {e}")),
            Some(Ok(d)) => {
                for e in list {
                    compare(path, e, d, &mut r);
                }
                // Seal artefacts and session records come after their own manifest by
                // design; note only evidence added since.
                let artefact = ["manifests/", "timestamps/", "sheets/", "environment/"]
                    .iter()
                    .any(|d| path.starts_with(d));
                if newest.is_some() && !artefact && !sealed.contains(&path.as_str()) {
                    r.notes.push(format!(
                        "{path}: recorded after the newest seal ({}), not yet in a manifest",
                        first.origin
                    ));
                }
            }
        }
    }

    for seal in &all_seals {
        check_timestamp(dir, &log, seal, opts, &mut r);
    }
    check_session_stamps(dir, &log, opts, &mut r);
    if let Some(s) = newest {
        r.notes.push(format!(
            "newest seal: v{} ({}, sha256 {}), custody.jsonl line {}",
            s.version, s.manifest, s.manifest_sha256, s.line
        ));
    }
    r.notes.push(format!(
        "{} custody entries, {} files checked",
        log.entries.len(),
        found.len()
    ));
    r.digests = found
        .into_iter()
        .filter_map(|(p, d)| d.ok().map(|d| (p.to_string(), d)))
        .collect();
    r
}

fn compare(path: &str, e: &Expected, d: &Digests, r: &mut Report) {
    if e.size != d.size {
        r.differences.push(format!(
            "{path}: size expected {} found {} (recorded in {})",
            e.size, d.size, e.origin
        ));
    }
    if d.sha256.as_deref() != Some(e.sha256.as_str()) {
        r.differences.push(format!(
            "{path}: sha256 expected {} found {} (recorded in {})",
            e.sha256,
            d.sha256.as_deref().unwrap_or("-"),
            e.origin
        ));
    }
    for (alg, want, got) in [
        ("sm3", &e.others.sm3, &d.sm3),
        ("sha512", &e.others.sha512, &d.sha512),
        ("md5", &e.others.md5, &d.md5),
    ] {
        if let Some(want) = want {
            if got.as_deref() != Some(want.as_str()) {
                r.differences.push(format!(
                    "{path}: {alg} expected {want} found {} (recorded in {})",
                    got.as_deref().unwrap_or("-"),
                    e.origin
                ));
            }
        }
    }
}

fn check_custody_head(
    log: &custody::Log,
    path: &str,
    m: &Manifest,
    seal_line: usize,
    r: &mut Report,
) {
    let seq = m.custody_head.seq;
    let actual = match usize::try_from(seq) {
        Ok(0) => Some(custody::GENESIS.to_string()),
        Ok(n) if n < seal_line => log
            .entries
            .iter()
            .find(|(e, _)| e.seq == seq)
            .map(|(_, h)| h.clone()),
        _ => None,
    };
    match actual {
        Some(h) if h == m.custody_head.sha256 => {}
        Some(h) => r.differences.push(format!(
            "{path}: custody head (custody.jsonl line {seq}) expected {} found {h}",
            m.custody_head.sha256
        )),
        None => r.differences.push(format!(
            "{path}: custody head names line {seq}, which does not precede the seal at line {seal_line}"
        )),
    }
}

/// One RFC 3161 exchange to check: what it stamps and where its files are.
struct Stamp<'a> {
    /// How notes and differences name it: `time-stamp v2`, `session 1 start time-stamp`.
    label: String,
    /// What is stamped, as named in messages: `manifest-v2`.
    what: &'a str,
    /// The kind of hash stamped (`manifest`) and the event that made the request
    /// (`the seal`), as messages name them.
    kind: &'a str,
    event: &'a str,
    sha256: &'a str,
    tsq_rel: String,
    tsr_rel: String,
    /// The custody entry that wrote the request (the genTime cannot precede it).
    line: usize,
    time_unix: Option<i64>,
}

fn check_timestamp(
    dir: &Path,
    log: &custody::Log,
    seal: &manifest::Seal,
    opts: &Options,
    r: &mut Report,
) {
    let v = seal.version;
    let name = format!("manifest-v{v}");
    check_stamp(
        dir,
        log,
        &Stamp {
            label: format!("time-stamp v{v}"),
            what: &name,
            kind: "manifest",
            event: "the seal",
            sha256: &seal.manifest_sha256,
            tsq_rel: format!("timestamps/{name}.tsq"),
            tsr_rel: format!("timestamps/{name}.tsr"),
            line: seal.line,
            time_unix: seal.time_unix,
        },
        opts,
        r,
    );
}

/// The start of each session is time-stamped too (see `super::session`).
fn check_session_stamps(dir: &Path, log: &custody::Log, opts: &Options, r: &mut Report) {
    for s in super::session::sessions(log) {
        let (statement, tsq, tsr) = super::session::start_paths(s.number);
        check_stamp(
            dir,
            log,
            &Stamp {
                label: format!("session {} start time-stamp", s.number),
                what: &statement,
                kind: "start statement",
                event: "the session start",
                sha256: &s.statement_sha256,
                tsq_rel: tsq,
                tsr_rel: tsr,
                line: usize::try_from(s.line).unwrap_or(0),
                time_unix: super::parse_rfc3339(&s.started_utc),
            },
            opts,
            r,
        );
    }
}

fn check_stamp(dir: &Path, log: &custody::Log, st: &Stamp<'_>, opts: &Options, r: &mut Report) {
    let name = st.what;
    let tsq_rel = &st.tsq_rel;
    let mut request_nonce = None;
    // A missing request is reported by the file check.
    if let Ok(tsq) = std::fs::read(dir.join(tsq_rel)) {
        match tsp::parse_request(&tsq) {
            Ok(info) if info.imprint_sha256 != st.sha256 => r.differences.push(format!(
                "{tsq_rel}: message imprint {} does not match {name} {}",
                info.imprint_sha256, st.sha256
            )),
            Ok(info) => request_nonce = info.nonce,
            Err(e) => r.differences.push(format!("{tsq_rel}: {e}")),
        }
    }
    let tsr_rel = &st.tsr_rel;
    let Ok(reply) = std::fs::read(dir.join(tsr_rel)) else {
        r.notes.push(format!(
            "{}: request only ({tsq_rel}); no reply recorded",
            st.label
        ));
        return;
    };
    let info = match tsp::verify(
        &reply,
        st.sha256,
        opts.tsa_cert.as_ref(),
        opts.tsa_ca.as_ref(),
    ) {
        Ok(i) => i,
        Err(tsp::TspError::ImprintMismatch { expected, found }) => {
            r.differences.push(format!(
                "{tsr_rel}: message imprint {found} does not match {name} {expected}"
            ));
            return;
        }
        Err(e) => {
            r.differences.push(format!("{tsr_rel}: {e}"));
            return;
        }
    };
    // A reply to another request for the same hash (made with `openssl ts -query` or on
    // a TSA's web page, then imported) stamps the file just as well: the nonce only
    // shows freshness of an online exchange, so a different one is noted, not failed.
    if request_nonce != info.nonce {
        r.notes.push(format!(
            "{tsr_rel}: answers another request for the same {} hash (nonce {} here, {} in {tsq_rel})",
            st.kind,
            info.nonce.as_deref().unwrap_or("none"),
            request_nonce.as_deref().unwrap_or("none")
        ));
    }
    // The reply must date from between the request's entry and the entry recording
    // the reply.
    let recorded = log
        .entries
        .iter()
        .find(|(e, _)| e.seq as usize > st.line && e.files.iter().any(|f| &f.path == tsr_rel));
    match (st.time_unix, recorded) {
        (Some(start), Some((entry, _))) => {
            let end = super::parse_rfc3339(&entry.time_utc).unwrap_or(i64::MAX);
            let g = info.gen_time_unix;
            if g < start.saturating_sub(opts.skew_secs) || g > end.saturating_add(opts.skew_secs) {
                r.differences.push(format!(
                    "{tsr_rel}: genTime {} is not between {} (custody.jsonl line {}) and the entry recording the reply (custody.jsonl line {}, {}), allowing {} s",
                    info.gen_time, st.event, st.line, entry.seq, entry.time_utc, opts.skew_secs
                ));
            }
        }
        _ => r.differences.push(format!(
            "{tsr_rel}: no custody entry after {} (custody.jsonl line {}) records this reply",
            st.event, st.line
        )),
    }
    let who = match (&opts.tsa_cert, &info.signer) {
        (Some(_), Some(s)) => format!("signed by {s} (given certificate)"),
        (None, Some(s)) => format!(
            "signature checked only with the certificate inside the token ({s}); pass --tsa-cert to check who signed"
        ),
        _ => String::new(),
    };
    r.notes.push(format!(
        "{}: granted, genTime {}, serial {}, {who}{}",
        st.label,
        info.gen_time,
        info.serial,
        if opts.tsa_ca.is_some() {
            ", issued by the given CA"
        } else {
            ""
        }
    ));
}

/// Verifies one file against expected hashes (hex, case-insensitive). With none given,
/// the report's notes carry the file's SHA-256 and SM3.
pub fn verify_file(
    path: &Path,
    sha256: Option<&str>,
    sm3: Option<&str>,
) -> Result<Report, HashError> {
    let d = hash_file(path, Algorithms::EVIDENCE)?;
    let mut r = Report::default();
    let shown = path.display();
    for (alg, want, got) in [("sha256", sha256, &d.sha256), ("sm3", sm3, &d.sm3)] {
        let got = got.as_deref().unwrap_or("-");
        match want {
            Some(w) if !w.trim().eq_ignore_ascii_case(got) => r.differences.push(format!(
                "{shown}: {alg} expected {} found {got}",
                w.trim().to_ascii_lowercase()
            )),
            Some(_) => r.notes.push(format!("{shown}: {alg} {got} matches")),
            None => r.notes.push(format!("{shown}: {alg} {got}")),
        }
    }
    r.notes.push(format!("{shown}: {} bytes", d.size));
    Ok(r)
}
