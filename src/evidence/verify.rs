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
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use x509_cert::Certificate;

/// Default allowance between the TSA's clock and ours.
pub const DEFAULT_SKEW_SECS: i64 = 300;

#[derive(Clone, Debug)]
pub struct Options {
    /// The TSA certificate to check signatures with (else the token's own, noted).
    pub tsa_cert: Option<Certificate>,
    /// A CA a TSA certificate may chain to (`--tsa-ca`); a trust anchor.
    pub tsa_ca: Option<Certificate>,
    /// More trust anchors (further `--tsa-ca` files, each certificate of a bundle).
    pub more_cas: Vec<tsp::Anchor>,
    /// Leave out the bundled TSA list (`data/trusted-tsa.pem`).
    pub no_bundled: bool,
    /// Hashes recorded outside the case (`--anchor HEX`): a custody line's hash, a
    /// manifest's or a seal statement's SHA-256.
    pub anchors: Vec<String>,
    pub skew_secs: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tsa_cert: None,
            tsa_ca: None,
            more_cas: Vec::new(),
            no_bundled: false,
            anchors: Vec::new(),
            skew_secs: DEFAULT_SKEW_SECS,
        }
    }
}

/// The outcome: differences (any one fails verification), time-stamps whose TSA is
/// not trusted, the custody lines no anchor covers, and informative notes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub differences: Vec<String>,
    /// "time-stamp signature valid but TSA not trusted", one line per token.
    pub untrusted: Vec<String>,
    /// Custody lines after the last anchor (first, last), if any: they could be
    /// changed or cut without a trace.
    pub unanchored: Option<(u64, u64)>,
    /// Times out of a possible order (a capture's packets after the entry recording
    /// it, or after a genTime), each naming both times. A failure of verification,
    /// but no reason to refuse a seal: the seal fixes the files as they are.
    pub time_order: Vec<String>,
    pub notes: Vec<String>,
    /// The digests computed for each file checked (SHA-256 and SM3), by relative path,
    /// so that a seal can reuse them instead of reading every file twice.
    pub digests: BTreeMap<String, Digests>,
    /// First and last packet of each capture file read for the time-order check.
    pub spans: BTreeMap<String, (crate::model::Timestamp, crate::model::Timestamp)>,
}

impl Report {
    /// No difference (untrusted time-stamps and unanchored lines aside).
    pub fn ok(&self) -> bool {
        self.differences.is_empty()
    }

    /// No difference, every time-stamp trusted, every custody line anchored.
    pub fn fully_verified(&self) -> bool {
        self.differences.is_empty()
            && self.untrusted.is_empty()
            && self.time_order.is_empty()
            && self.unanchored.is_none()
    }

    /// The sentence for unanchored lines.
    pub fn unanchored_text(&self) -> Option<String> {
        self.unanchored.map(|(a, b)| {
            let lines = if a == b {
                format!("line {a}")
            } else {
                format!("lines {a}..{b}")
            };
            format!(
                "not yet anchored: custody.jsonl {lines} (no trusted time-stamp and no --anchor value covers them, so they could be changed or removed without a trace; seal the case with a TSA, import the seal's reply, or pass the custody head recorded elsewhere with --anchor)"
            )
        })
    }
}

/// Every trust anchor for a case: `--tsa-ca`, the case's `trusted-tsa.pem`, the
/// bundled list.
pub(crate) fn trust_anchors(dir: &Path, opts: &Options, r: &mut Report) -> Vec<tsp::Anchor> {
    let mut out: Vec<tsp::Anchor> = opts
        .tsa_ca
        .iter()
        .map(|c| tsp::Anchor {
            cert: c.clone(),
            source: "--tsa-ca".into(),
        })
        .collect();
    out.extend(opts.more_cas.iter().cloned());
    match std::fs::read(dir.join(TRUSTED_TSA_FILE)) {
        Ok(bytes) => match tsp::load_certificates(&bytes) {
            Ok(certs) => out.extend(certs.into_iter().map(|cert| tsp::Anchor {
                cert,
                source: format!("{TRUSTED_TSA_FILE} in the case"),
            })),
            Err(e) => r.differences.push(format!("{TRUSTED_TSA_FILE}: {e}")),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => r.differences.push(format!("{TRUSTED_TSA_FILE}: {e}")),
    }
    if !opts.no_bundled {
        out.extend(tsp::bundled_anchors());
    }
    out
}

/// A case's own list of trusted TSA certificates (PEM), recorded in custody like any
/// other file.
pub(crate) const TRUSTED_TSA_FILE: &str = "trusted-tsa.pem";

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
    let trust = trust_anchors(dir, opts, &mut r);
    // Files a seal statement vouches for (its sheets), and files that vouch for
    // themselves (statements, their requests and replies: checked below field by field
    // and by imprint, since no custody line can follow what stamps the last line).
    let mut intrinsic: BTreeSet<String> = BTreeSet::new();
    let mut statements: Vec<(&manifest::Seal, String)> = Vec::new();
    for seal in &all_seals {
        if let Some(st) = &seal.statement {
            let v = seal.version;
            intrinsic.insert(st.clone());
            intrinsic.insert(format!("timestamps/manifest-v{v}.tsq"));
            intrinsic.insert(format!("timestamps/manifest-v{v}.tsr"));
            statements.push((seal, st.clone()));
        }
    }
    let mut stamped: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (seal, st) in &statements {
        let Ok(bytes) = std::fs::read(dir.join(st)) else {
            r.differences.push(format!(
                "file missing: {st} (named by seal v{} at custody.jsonl line {})",
                seal.version, seal.line
            ));
            continue;
        };
        match serde_json::from_slice::<manifest::SealStatement>(&bytes) {
            Ok(stmt) => {
                check_statement(&log, seal, st, &stmt, &mut r);
                for f in &stmt.sheets {
                    let list = expected.entry(f.path.clone()).or_default();
                    if !list.iter().any(|x| x.sha256 == f.sha256) {
                        let mut e = Expected::from_record(f, 0);
                        e.origin.clone_from(st);
                        list.push(e);
                    }
                }
            }
            Err(e) => r
                .differences
                .push(format!("{st}: not a valid seal statement: {e}")),
        }
        stamped.insert(st.clone(), bytes);
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
        if !expected.contains_key(p) && !intrinsic.contains(p) {
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

    // Anchors: custody lines whose hash something outside the log fixes.
    let mut anchored: u64 = 0;
    let mut gen_times: Vec<GenTime> = Vec::new();
    // Seals whose TSA request is recorded as failed.
    let failed: BTreeSet<u32> = log
        .entries
        .iter()
        .filter(|(e, _)| e.action == "timestamp.failed")
        .filter_map(|(e, _)| e.details["version"].as_u64())
        .filter_map(|v| u32::try_from(v).ok())
        .collect();
    for seal in &all_seals {
        let line = match &seal.statement {
            Some(st) => stamped.get(st).and_then(|bytes| {
                check_statement_stamp(
                    dir,
                    seal,
                    st,
                    bytes,
                    &trust,
                    opts,
                    &mut r,
                    &mut gen_times,
                    &failed,
                )
            }),
            // A seal made before statements existed: its manifest binds the line
            // before the seal.
            None => check_timestamp(dir, &log, seal, &trust, opts, &mut r)
                .and_then(|_| manifests.get(&seal.version).map(|m| m.custody_head.seq)),
        };
        anchored = anchored.max(line.unwrap_or(0));
    }
    anchored = anchored.max(check_session_stamps(dir, &log, &trust, opts, &mut r));
    anchored = anchored.max(check_given_anchors(
        dir, &log, &all_seals, &stamped, &manifests, opts, &mut r,
    ));
    check_time_order(dir, &log, &manifests, &gen_times, opts.skew_secs, &mut r);
    let last = log.entries.last().map_or(0, |(e, _)| e.seq);
    if anchored < last {
        r.unanchored = Some((anchored + 1, last));
    } else if last > 0 {
        r.notes.push(format!(
            "custody.jsonl lines 1..{last}: anchored (every line is covered by a trusted time-stamp or an --anchor value)"
        ));
    }
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
    trust: &[tsp::Anchor],
    opts: &Options,
    r: &mut Report,
) -> Option<tsp::TokenInfo> {
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
        trust,
        opts,
        r,
    )
}

/// The start of each session is time-stamped too (see `super::session`). Returns the
/// custody line a trusted start time-stamp anchors (the statement binds the log's head
/// before `session.start`), 0 if none.
fn check_session_stamps(
    dir: &Path,
    log: &custody::Log,
    trust: &[tsp::Anchor],
    opts: &Options,
    r: &mut Report,
) -> u64 {
    let mut anchored = 0;
    for s in super::session::sessions(log) {
        let (statement, tsq, tsr) = super::session::start_paths(s.number);
        let info = check_stamp(
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
            trust,
            opts,
            r,
        );
        if info.is_none() || s.line < 2 {
            continue;
        }
        let head = std::fs::read(dir.join(&statement))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["custody_head"].as_str().map(str::to_string));
        let line = s.line - 1;
        let actual = log
            .entries
            .iter()
            .find(|(e, _)| e.seq == line)
            .map(|(_, h)| h.as_str());
        match (head, actual) {
            (Some(h), Some(a)) if h == a => anchored = anchored.max(line),
            (Some(h), Some(a)) => r.differences.push(format!(
                "custody.jsonl line {line}: content changed after session {} time-stamped it: {statement} records sha256 {h}, the line hashes to {a}",
                s.number
            )),
            _ => {}
        }
    }
    anchored
}

/// A new-format seal: its statement must name the seal's manifest and the seal line as
/// the log has them.
fn check_statement(
    log: &custody::Log,
    seal: &manifest::Seal,
    st: &str,
    stmt: &manifest::SealStatement,
    r: &mut Report,
) {
    if stmt.format != manifest::SEAL_FORMAT || stmt.version != seal.version {
        r.differences.push(format!(
            "{st}: format/version expected {}/{} found {}/{}",
            manifest::SEAL_FORMAT,
            seal.version,
            stmt.format,
            stmt.version
        ));
    }
    if stmt.manifest.path != seal.manifest || stmt.manifest.sha256 != seal.manifest_sha256 {
        r.differences.push(format!(
            "{st}: manifest expected {} sha256 {} (custody.jsonl line {}) found {} sha256 {}",
            seal.manifest,
            seal.manifest_sha256,
            seal.line,
            stmt.manifest.path,
            stmt.manifest.sha256
        ));
    }
    let line = seal.line as u64;
    if stmt.custody_head.seq != line {
        r.differences.push(format!(
            "{st}: custody head expected line {line} (the seal) found line {}",
            stmt.custody_head.seq
        ));
        return;
    }
    if let Some((_, h)) = log.entries.iter().find(|(e, _)| e.seq == line) {
        if *h != stmt.custody_head.sha256 {
            r.differences.push(format!(
                "custody.jsonl line {line}: content changed after seal v{} anchored it: {st} records sha256 {}, the line hashes to {h}",
                seal.version, stmt.custody_head.sha256
            ));
        }
    }
}

/// The time-stamp of a new-format seal: request and reply over the statement. Returns
/// the seal's line when a trusted reply anchors it.
#[allow(clippy::too_many_arguments)]
fn check_statement_stamp(
    dir: &Path,
    seal: &manifest::Seal,
    st: &str,
    bytes: &[u8],
    trust: &[tsp::Anchor],
    opts: &Options,
    r: &mut Report,
    gen_times: &mut Vec<GenTime>,
    failed: &BTreeSet<u32>,
) -> Option<u64> {
    let v = seal.version;
    let tsq_rel = format!("timestamps/manifest-v{v}.tsq");
    let tsr_rel = format!("timestamps/manifest-v{v}.tsr");
    let sha = super::hash::sha256_hex(bytes);
    let nonce = serde_json::from_slice::<manifest::SealStatement>(bytes)
        .map(|s| s.request_nonce)
        .unwrap_or_default();
    match std::fs::read(dir.join(&tsq_rel)) {
        Ok(tsq) => match tsp::parse_request(&tsq) {
            Ok(info) if info.imprint_sha256 != sha => r.differences.push(format!(
                "{tsq_rel}: message imprint {} does not match {st} {sha}",
                info.imprint_sha256
            )),
            Ok(info) => {
                if info.nonce.as_deref() != Some(nonce.as_str()) {
                    r.differences.push(format!(
                        "{tsq_rel}: nonce expected {nonce} (recorded in {st}) found {}",
                        info.nonce.as_deref().unwrap_or("none")
                    ));
                }
            }
            Err(e) => r.differences.push(format!("{tsq_rel}: {e}")),
        },
        Err(_) => r.differences.push(format!(
            "file missing: {tsq_rel} (the request of seal v{v}, custody.jsonl line {})",
            seal.line
        )),
    }
    let Ok(reply) = std::fs::read(dir.join(&tsr_rel)) else {
        match seal.tsa.as_deref() {
            // The seal asked a TSA and no failure is recorded: the reply was there.
            Some(url) if !failed.contains(&v) => r.differences.push(format!(
                "file missing: {tsr_rel} (seal v{v} at custody.jsonl line {} asked {url} for it, and no failure is recorded)",
                seal.line
            )),
            Some(url) => r.notes.push(format!(
                "time-stamp v{v}: request only ({tsq_rel}, over {st}); asking {url} failed (recorded in custody)"
            )),
            // Nothing in the case records that a reply was imported (the reply
            // itself is that record): a reply never imported and one removed look
            // the same, so the lines it would anchor stay unanchored and say so.
            None => r.notes.push(format!(
                "time-stamp v{v}: request only ({tsq_rel}, over {st}); no reply in the case: either none was imported yet or it was removed, which nothing inside the case can tell apart; `whohosts case timestamp import` files it"
            )),
        }
        return None;
    };
    let info = match tsp::verify_stamped(
        &reply,
        tsp::Stamped::Data(bytes),
        opts.tsa_cert.as_ref(),
        trust,
    ) {
        Ok(i) => i,
        Err(tsp::TspError::ImprintMismatch { expected, found }) => {
            r.differences.push(format!(
                "{tsr_rel}: message imprint {found} does not match {st} {expected}"
            ));
            return None;
        }
        Err(e) => {
            r.differences.push(format!("{tsr_rel}: {e}"));
            return None;
        }
    };
    if info.nonce.as_deref() != Some(nonce.as_str()) {
        r.notes.push(format!(
            "{tsr_rel}: answers another request for the same seal statement (nonce {} here, {nonce} in {tsq_rel})",
            info.nonce.as_deref().unwrap_or("none")
        ));
    }
    if let Some(t) = seal.time_unix {
        if info.gen_time_unix > t.saturating_add(opts.skew_secs) {
            // Legitimate for a reply obtained later (`case timestamp import`); said, as
            // it only shows the case existed by then.
            r.notes.push(format!(
                "{tsr_rel}: genTime {} is {} s after the seal (custody.jsonl line {}, {}): the case is shown to exist at genTime, not at the seal's own time",
                info.gen_time,
                info.gen_time_unix - t,
                seal.line,
                utc_text(t)
            ));
        }
        if info.gen_time_unix < t.saturating_sub(opts.skew_secs) {
            r.differences.push(format!(
                "{tsr_rel}: genTime {} precedes the seal it stamps (custody.jsonl line {}, {}), allowing {} s",
                info.gen_time,
                seal.line,
                utc_text(t),
                opts.skew_secs
            ));
        }
    }
    gen_times.push(GenTime {
        version: v,
        reply: tsr_rel.clone(),
        text: info.gen_time.clone(),
        unix: info.gen_time_unix,
    });
    note_token(&format!("time-stamp v{v}"), &tsr_rel, &info, r).then_some(seal.line as u64)
}

/// `--anchor` with the hash of an exported bag (`case export`), when `dir` is that
/// bag's `data/`: the bag's `tagmanifest-sha256.txt` must hash to it, list
/// `manifest-sha256.txt` with its hash, which must list `data/custody.jsonl` with the
/// log's hash. Then every line of the log is as exported. `None` when `dir` is not in
/// a bag or the value is not the bag's.
fn bag_anchor(dir: &Path, log: &custody::Log, want: &str, r: &mut Report) -> Option<u64> {
    if dir.file_name()? != "data" {
        return None;
    }
    let bag = dir.parent()?;
    let tags = std::fs::read(bag.join("tagmanifest-sha256.txt")).ok()?;
    if super::hash::sha256_hex(&tags) != want {
        return None;
    }
    let listed = |text: &[u8], path: &str| -> Option<String> {
        String::from_utf8_lossy(text).lines().find_map(|l| {
            let (sum, p) = l.split_once(char::is_whitespace)?;
            (p.trim() == path).then(|| sum.to_ascii_lowercase())
        })
    };
    let manifest = std::fs::read(bag.join("manifest-sha256.txt")).ok()?;
    let log_bytes = std::fs::read(dir.join(custody::FILE)).ok()?;
    let ok = listed(&tags, "manifest-sha256.txt") == Some(super::hash::sha256_hex(&manifest))
        && listed(&manifest, "data/custody.jsonl") == Some(super::hash::sha256_hex(&log_bytes));
    if !ok {
        r.differences.push(format!(
            "--anchor {want}: the bag's tagmanifest-sha256.txt has this hash, but its manifests no longer match data/custody.jsonl"
        ));
        return Some(0);
    }
    let last = log.entries.last().map_or(0, |(e, _)| e.seq);
    r.notes.push(format!(
        "--anchor {want}: the bag's tagmanifest-sha256.txt (binds custody.jsonl up to line {last} and every file as exported)"
    ));
    Some(last)
}

/// A seal's genTime, for the time-order check.
struct GenTime {
    version: u32,
    reply: String,
    text: String,
    unix: i64,
}

fn utc_text(unix: i64) -> String {
    super::Now::at(
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        time::UtcOffset::UTC,
    )
    .utc
}

/// The times of a case must be in a possible order: custody lines in time order; each
/// capture's packets no later than the custody entry that recorded the file, and no
/// later than the genTime of any seal whose manifest lists it; all allowing `skew`
/// seconds. Every inversion is named with both times.
fn check_time_order(
    dir: &Path,
    log: &custody::Log,
    manifests: &BTreeMap<u32, Manifest>,
    gen_times: &[GenTime],
    skew: i64,
    r: &mut Report,
) {
    let mut previous: Option<(u64, i64, &str)> = None;
    for (e, _) in &log.entries {
        let Some(t) = super::parse_rfc3339(&e.time_utc) else {
            r.time_order.push(format!(
                "custody.jsonl line {}: time {:?} is not RFC 3339",
                e.seq, e.time_utc
            ));
            continue;
        };
        if let Some((line, before, text)) = previous {
            if t < before.saturating_sub(skew) {
                r.time_order.push(format!(
                    "custody.jsonl line {}: time {} precedes line {line}'s {text} (allowing {skew} s)",
                    e.seq, e.time_utc
                ));
            }
        }
        previous = Some((e.seq, t, e.time_utc.as_str()));
    }
    // Each environment record's own reading of the clock against the entry that
    // first lists it (written one after the other, by the same process).
    let mut seen_env: BTreeSet<&str> = BTreeSet::new();
    let mut unsynced: Vec<String> = Vec::new();
    for (e, _) in &log.entries {
        let Some(t) = super::parse_rfc3339(&e.time_utc) else {
            continue;
        };
        for f in e
            .files
            .iter()
            .filter(|f| f.path.starts_with("environment/"))
        {
            if !seen_env.insert(f.path.as_str()) {
                continue;
            }
            let Some(env) = std::fs::read(dir.join(&f.path))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            else {
                continue;
            };
            if let Some(c) = env["collected_utc"].as_str() {
                if let Some(ct) = super::parse_rfc3339(c) {
                    if (ct - t).abs() > skew {
                        r.time_order.push(format!(
                            "{}: clock read at {c}, but the custody entry listing it (custody.jsonl line {}) says {}, allowing {skew} s",
                            f.path, e.seq, e.time_utc
                        ));
                    }
                }
            }
            if env["clock"]["ntp_synchronized"].as_str() != Some("yes") {
                unsynced.push(f.path.clone());
            }
        }
    }
    if !unsynced.is_empty() {
        r.notes.push(format!(
            "the clock was not known to be NTP-synchronised in {}: custody times are only as good as that clock; the time-stamps' genTimes are independent",
            unsynced.join(", ")
        ));
    }
    // The custody entry that first recorded each capture file.
    let mut recorded: BTreeMap<&str, (u64, &str, i64)> = BTreeMap::new();
    for (e, _) in &log.entries {
        let Some(t) = super::parse_rfc3339(&e.time_utc) else {
            continue;
        };
        for f in &e.files {
            if f.path.starts_with("captures/") {
                recorded
                    .entry(f.path.as_str())
                    .or_insert((e.seq, &e.time_utc, t));
            }
        }
    }
    for (path, (line, when, t)) in &recorded {
        // Only plain files inside the case are read (a missing one is reported above).
        let full = dir.join(path);
        if !full.symlink_metadata().is_ok_and(|m| m.is_file()) {
            continue;
        }
        let Some((first, last)) = packet_span(&full) else {
            continue;
        };
        r.spans.insert(path.to_string(), (first, last));
        let shown = last.rfc3339();
        if last.secs > t.saturating_add(skew) {
            r.time_order.push(format!(
                "{path}: last packet at {shown} is later than the custody entry that recorded the file (custody.jsonl line {line}, {when}), allowing {skew} s"
            ));
        }
        for g in gen_times {
            let listed = manifests
                .get(&g.version)
                .is_some_and(|m| m.files.iter().any(|f| f.path == *path));
            if listed && last.secs > g.unix.saturating_add(skew) {
                r.time_order.push(format!(
                    "{path}: last packet at {shown} is later than the genTime {} of {} (seal v{} lists the file), allowing {skew} s",
                    g.text, g.reply, g.version
                ));
            }
        }
    }
}

/// The earliest and latest packet times of a capture file (one streaming read), or
/// `None` when it is not a capture this reader knows or holds no packet.
pub(crate) fn packet_span(
    path: &Path,
) -> Option<(crate::model::Timestamp, crate::model::Timestamp)> {
    let mut c = crate::capture::open(path, 0, crate::hash::Algorithms::default()).ok()?;
    let mut span: Option<(crate::model::Timestamp, crate::model::Timestamp)> = None;
    while let Some(f) = c.reader.next_frame() {
        span = Some(span.map_or((f.ts, f.ts), |(a, b)| (a.min(f.ts), b.max(f.ts))));
    }
    span
}

/// Notes a verified token, or records it as untrusted. True when trusted.
fn note_token(label: &str, tsr_rel: &str, info: &tsp::TokenInfo, r: &mut Report) -> bool {
    let tsa = info
        .tsa
        .as_ref()
        .map_or_else(|| "?".to_string(), |t| t.to_string());
    match &info.trusted {
        Some(anchor) => {
            r.notes.push(format!(
                "{label}: granted, genTime {}, serial {}, policy {}, signed by {tsa}, trusted: chains to {anchor}",
                info.gen_time, info.serial, info.policy
            ));
            true
        }
        None => {
            r.untrusted.push(format!(
                "{tsr_rel}: time-stamp signature valid but TSA not trusted: {tsa} leads to no trust anchor (give --tsa-ca CA.pem, or record the TSA's CA in the case as {TRUSTED_TSA_FILE}); genTime {} is the TSA's claim only",
                info.gen_time
            ));
            false
        }
    }
}

/// `--anchor HEX`: each value must be the hash of a custody line, a manifest or a seal
/// statement of this case. Returns the last custody line they anchor.
fn check_given_anchors(
    dir: &Path,
    log: &custody::Log,
    seals: &[manifest::Seal],
    statements: &BTreeMap<String, Vec<u8>>,
    manifests: &BTreeMap<u32, Manifest>,
    opts: &Options,
    r: &mut Report,
) -> u64 {
    let mut anchored = 0;
    for given in &opts.anchors {
        let want = given.trim().to_ascii_lowercase();
        if let Some((e, _)) = log.entries.iter().find(|(_, h)| *h == want) {
            r.notes.push(format!(
                "--anchor {want}: custody.jsonl line {} (the custody head up to that line)",
                e.seq
            ));
            anchored = anchored.max(e.seq);
        } else if let Some(seal) = seals.iter().find(|s| s.manifest_sha256 == want) {
            let head = manifests
                .get(&seal.version)
                .map_or(0, |m| m.custody_head.seq);
            r.notes.push(format!(
                "--anchor {want}: {} (seal v{}; it binds custody.jsonl up to line {head})",
                seal.manifest, seal.version
            ));
            anchored = anchored.max(head);
        } else if let Some((st, _)) = statements
            .iter()
            .find(|(_, b)| super::hash::sha256_hex(b) == want)
        {
            let line = seals
                .iter()
                .find(|s| s.statement.as_deref() == Some(st.as_str()))
                .map_or(0, |s| s.line as u64);
            r.notes.push(format!(
                "--anchor {want}: {st} (binds custody.jsonl up to line {line})"
            ));
            anchored = anchored.max(line);
        } else if let Some(line) = bag_anchor(dir, log, &want, r) {
            anchored = anchored.max(line);
        } else {
            r.differences.push(format!(
                "--anchor {want}: matches no custody line, manifest, seal statement or bag of this case"
            ));
        }
    }
    anchored
}

fn check_stamp(
    dir: &Path,
    log: &custody::Log,
    st: &Stamp<'_>,
    trust: &[tsp::Anchor],
    opts: &Options,
    r: &mut Report,
) -> Option<tsp::TokenInfo> {
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
        return None;
    };
    let info = match tsp::verify_stamped(
        &reply,
        tsp::Stamped::Sha256(st.sha256),
        opts.tsa_cert.as_ref(),
        trust,
    ) {
        Ok(i) => i,
        Err(tsp::TspError::ImprintMismatch { expected, found }) => {
            r.differences.push(format!(
                "{tsr_rel}: message imprint {found} does not match {name} {expected}"
            ));
            return None;
        }
        Err(e) => {
            r.differences.push(format!("{tsr_rel}: {e}"));
            return None;
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
    note_token(&st.label, tsr_rel, &info, r).then_some(info)
}

/// Verifies one file against expected hashes (hex, case-insensitive). With none given
/// nothing is compared, which is a difference (the notes carry the file's SHA-256 and
/// SM3): a check that looked at nothing never passes.
pub fn verify_file(
    path: &Path,
    sha256: Option<&str>,
    sm3: Option<&str>,
) -> Result<Report, HashError> {
    let d = hash_file(path, Algorithms::EVIDENCE)?;
    let mut r = Report::default();
    let shown = path.display();
    if sha256.is_none() && sm3.is_none() {
        r.differences.push(format!(
            "{shown}: nothing to compare (give an expected SHA-256 or SM3)"
        ));
    }
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
