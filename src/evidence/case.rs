//! Case directories: create one, copy evidence in, seal it, bring in a time-stamp
//! reply, write the notary sheet. Every action appends a custody entry that records the
//! files it wrote with their hashes; every working session (one command) first writes
//! an environment record, which its entries reference by hash.
//!
//! Contract: nothing existing is overwritten; a name already present is refused. A
//! case whose files or custody log do not verify is never sealed.

use super::custody::{self, Entry, FileRecord, NewEntry};
use super::environment::Environment;
use super::hash::{hash_file, sha256_hex, Algorithms, MultiHasher};
use super::info::{load_info, CaseInfo, NotACase, CASE_FILE, FORMAT};
use super::manifest::{self, seals, CustodyHead, Manifest};
use super::{sheet, tsp, verify, write_new, Now};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use time::UtcOffset;

/// What `case new` is given.
#[derive(Clone, Debug, Default)]
pub struct NewCase {
    pub id: String,
    pub title: String,
    pub rights_holder: String,
    pub operator: String,
    pub notary: Option<String>,
    pub notary_certificate: Option<String>,
    pub time_zone: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} exists and is not empty; a new case needs an empty or new directory")]
    NotEmpty { path: String },
    #[error(transparent)]
    NotACase(#[from] NotACase),
    #[error("time zone {found:?} is not a fixed UTC offset like +08:00")]
    TimeZone { found: String },
    #[error("{path} exists; evidence files are never overwritten")]
    Exists { path: String },
    #[error("{source_path}: the copy's {algorithm} {found} differs from the source's {expected}")]
    CopyMismatch {
        source_path: String,
        algorithm: &'static str,
        expected: String,
        found: String,
    },
    #[error("the case does not verify, refusing to continue:\n  {}", .differences.join("\n  "))]
    DoesNotVerify { differences: Vec<String> },
    #[error("no seal yet: run `whohosts case seal` first")]
    NotSealed,
    #[error("no seal version {version} in the custody log")]
    NoSuchSeal { version: u32 },
    #[error(transparent)]
    Custody(#[from] custody::AppendError),
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    #[error("time-stamp: {0}")]
    Tsp(#[from] tsp::TspError),
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> CaseError + '_ {
    move |source| CaseError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// One command's work on a case: its clock, its actor and its environment record.
pub struct Session {
    pub dir: PathBuf,
    pub info: CaseInfo,
    offset: UtcOffset,
    actor: String,
    environment: Option<FileRecord>,
    /// The environment record was written, but no entry lists it yet.
    pending_environment: bool,
    /// Rows this command adds to the notary sheets it writes (a session's start).
    pub sheet_rows: Vec<(String, String)>,
    /// The language of the notary sheets this command writes.
    pub sheet_lang: sheet::Lang,
}

impl Session {
    /// Opens an existing case. `actor` defaults to the operator in `case.json`.
    pub fn open(dir: &Path, actor: Option<String>) -> Result<Session, CaseError> {
        let info = load_info(dir)?;
        let offset = super::parse_offset(&info.time_zone).ok_or_else(|| CaseError::TimeZone {
            found: info.time_zone.clone(),
        })?;
        Ok(Session {
            dir: dir.to_path_buf(),
            actor: actor.unwrap_or_else(|| info.operator.clone()),
            info,
            offset,
            environment: None,
            pending_environment: false,
            sheet_rows: Vec::new(),
            sheet_lang: sheet::Lang::default(),
        })
    }

    /// Who acts in this session.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    pub fn now(&self) -> Now {
        Now::system(self.offset)
    }

    /// Appends an entry; the first entry of a session first writes the session's
    /// environment record and both reference it.
    pub fn append(
        &mut self,
        action: &str,
        details: serde_json::Value,
        mut files: Vec<FileRecord>,
    ) -> Result<(Entry, String), CaseError> {
        let now = self.now();
        match &self.environment {
            None => files.push(self.write_environment(&now)?),
            Some(rec) if self.pending_environment => {
                files.push(rec.clone());
                self.pending_environment = false;
            }
            Some(_) => {}
        }
        let entry = NewEntry {
            actor: self.actor.clone(),
            action: action.to_string(),
            details,
            files,
            environment: self.environment.clone(),
        };
        Ok(custody::append(&self.dir, entry, &now)?)
    }

    /// The environment record of this session, written now if it is not yet; the
    /// first entry appended afterwards lists it among its files.
    pub fn environment(&mut self) -> Result<FileRecord, CaseError> {
        if let Some(rec) = &self.environment {
            return Ok(rec.clone());
        }
        let now = self.now();
        let rec = self.write_environment(&now)?;
        self.pending_environment = true;
        Ok(rec)
    }

    fn write_environment(&mut self, now: &Now) -> Result<FileRecord, CaseError> {
        let log = custody::read(&self.dir).map_err(io_err(&self.dir))?;
        let env = Environment::collect(&now.utc);
        let mut bytes = serde_json::to_vec_pretty(&env).unwrap_or_default();
        bytes.push(b'\n');
        // Another process may be writing its own record at the same moment: its
        // name then has this process's id added.
        let mut rel = format!("environment/{:04}-{}.json", log.next_seq(), now.compact);
        let mut path = self.dir.join(&rel);
        if let Err(e) = write_new(&path, &bytes) {
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(io_err(&path)(e));
            }
            rel = format!(
                "environment/{:04}-{}-{}.json",
                log.next_seq(),
                now.compact,
                std::process::id()
            );
            path = self.dir.join(&rel);
            write_new(&path, &bytes).map_err(io_err(&path))?;
        }
        let rec = record_bytes(&rel, &bytes);
        self.environment = Some(rec.clone());
        Ok(rec)
    }

    /// [`Session::write_file`] for content written as it is made, hashed on its way
    /// to the file.
    pub fn write_file_with(
        &self,
        rel: &str,
        write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<FileRecord, CaseError> {
        let path = self.dir.join(rel);
        if path.symlink_metadata().is_ok() {
            return Err(CaseError::Exists {
                path: rel.to_string(),
            });
        }
        let mut h = MultiHasher::new(Algorithms::EVIDENCE);
        super::write_new_with(&path, |w| {
            let mut tee = Tee {
                inner: w,
                h: &mut h,
            };
            write(&mut tee)
        })
        .map_err(io_err(&path))?;
        let d = h.finish();
        Ok(FileRecord {
            path: rel.to_string(),
            size: d.size,
            sha256: d.sha256.unwrap_or_default(),
            sm3: d.sm3,
        })
    }

    /// Writes a new file in the case and returns its record (SHA-256 and SM3).
    pub fn write_file(&self, rel: &str, bytes: &[u8]) -> Result<FileRecord, CaseError> {
        let path = self.dir.join(rel);
        if path.symlink_metadata().is_ok() {
            return Err(CaseError::Exists {
                path: rel.to_string(),
            });
        }
        write_new(&path, bytes).map_err(io_err(&path))?;
        Ok(record_bytes(rel, bytes))
    }
}

/// Hashes what passes through on its way to `inner`.
struct Tee<'a> {
    inner: &'a mut dyn Write,
    h: &'a mut MultiHasher,
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.h.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The custody record of `bytes` as the case file `rel`: size, SHA-256 and SM3.
pub(crate) fn record_bytes(rel: &str, bytes: &[u8]) -> FileRecord {
    let mut h = MultiHasher::new(Algorithms::EVIDENCE);
    h.update(bytes);
    let d = h.finish();
    FileRecord {
        path: rel.to_string(),
        size: d.size,
        sha256: d.sha256.unwrap_or_default(),
        sm3: d.sm3,
    }
}

/// `case new`: creates the directory layout, `case.json` and the first custody entry;
/// returns the session that wrote them, for more entries of the same command.
pub fn create(dir: &Path, new: NewCase) -> Result<Session, CaseError> {
    if let Ok(mut entries) = std::fs::read_dir(dir) {
        if entries.next().is_some() {
            return Err(CaseError::NotEmpty {
                path: dir.display().to_string(),
            });
        }
    } else if dir.exists() {
        return Err(CaseError::NotEmpty {
            path: dir.display().to_string(),
        });
    }
    let offset = super::parse_offset(&new.time_zone).ok_or_else(|| CaseError::TimeZone {
        found: new.time_zone.clone(),
    })?;
    for sub in ["captures", "reports", "letters"] {
        let p = dir.join(sub);
        std::fs::create_dir_all(&p).map_err(io_err(&p))?;
    }
    let now = Now::system(offset);
    let info = CaseInfo {
        format: FORMAT.to_string(),
        id: new.id,
        title: new.title,
        rights_holder: new.rights_holder,
        operator: new.operator,
        notary: new.notary,
        notary_certificate: new.notary_certificate,
        time_zone: new.time_zone,
        created_utc: now.utc.clone(),
    };
    let mut bytes = serde_json::to_vec_pretty(&info).unwrap_or_default();
    bytes.push(b'\n');
    let path = dir.join(CASE_FILE);
    write_new(&path, &bytes).map_err(io_err(&path))?;
    let mut s = Session::open(dir, None)?;
    let rec = record_bytes(CASE_FILE, &bytes);
    s.append(
        "case.new",
        serde_json::json!({
            "case_id": info.id,
            "title": info.title,
            "rights_holder": info.rights_holder,
            "notary": info.notary,
            "notary_certificate": info.notary_certificate,
            "time_zone": info.time_zone,
        }),
        vec![rec],
    )?;
    Ok(s)
}

/// The folders `case add` puts files in: captures, reports and letters, and the other
/// evidence by kind (`--kind attachment|certificate|recording|receipt`): documents the
/// letters attach, scanned notarial certificates, screen recordings, delivery receipts.
pub(crate) const SUBDIRS: [&str; 7] = [
    "captures",
    "reports",
    "letters",
    "attachments",
    "certificates",
    "recordings",
    "receipts",
];

/// `case add --kind trusted-tsa`: the case's own TSA trust anchors, `trusted-tsa.pem`.
pub(crate) const TRUSTED_TSA: &str = "trusted-tsa";

/// The folder for a `--kind`.
pub fn folder_of_kind(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "capture" => "captures",
        "report" => "reports",
        "letter" => "letters",
        "attachment" => "attachments",
        "certificate" => "certificates",
        "recording" => "recordings",
        "receipt" => "receipts",
        "trusted-tsa" => TRUSTED_TSA,
        _ => return None,
    })
}

fn kind_of(folder: &str) -> &str {
    match folder {
        "captures" => "capture",
        "reports" => "report",
        "letters" => "letter",
        "attachments" => "attachment",
        "certificates" => "certificate",
        "recordings" => "recording",
        "receipts" => "receipt",
        other => other,
    }
}

/// `case add`: copies each source into `subdir` (hashing while copying), re-reads the
/// copy and compares both digests, and records both in one custody entry per file.
pub fn add(
    s: &mut Session,
    sources: &[PathBuf],
    subdir: &str,
) -> Result<Vec<FileRecord>, CaseError> {
    if !SUBDIRS.contains(&subdir) && subdir != TRUSTED_TSA {
        return Err(CaseError::Invalid {
            path: subdir.to_string(),
            reason: format!("files go into one of {}", SUBDIRS.join(", ")),
        });
    }
    if subdir == TRUSTED_TSA {
        if sources.len() != 1 {
            return Err(CaseError::Invalid {
                path: TRUSTED_TSA.into(),
                reason: "give one PEM file with the trusted TSA certificates".into(),
            });
        }
        for src in sources {
            let bytes = std::fs::read(src).map_err(io_err(src))?;
            tsp::load_certificates(&bytes).map_err(|e| CaseError::Invalid {
                path: src.display().to_string(),
                reason: format!("not a PEM bundle of certificates: {e}"),
            })?;
        }
    }
    // Adding vouches only for the new files; the custody chain must hold first, so
    // that no copy is made that could not be recorded.
    check_chain(s)?;
    let mut out = Vec::new();
    for src in sources {
        let name = src
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| CaseError::Invalid {
                path: src.display().to_string(),
                reason: "no UTF-8 file name".into(),
            })?;
        let rel = if subdir == TRUSTED_TSA {
            verify::TRUSTED_TSA_FILE.to_string()
        } else {
            format!("{subdir}/{name}")
        };
        let dst = s.dir.join(&rel);
        if dst.symlink_metadata().is_ok() {
            return Err(CaseError::Exists { path: rel });
        }
        let source = copy_hashing(src, &dst)?;
        let copy = hash_file(&dst, Algorithms::EVIDENCE).map_err(|e| CaseError::Io {
            path: rel.clone(),
            source: e.source,
        })?;
        if let Some((algorithm, expected, found)) = source.differences(&copy).first().copied() {
            let err = CaseError::CopyMismatch {
                source_path: src.display().to_string(),
                algorithm,
                expected: expected.to_string(),
                found: found.to_string(),
            };
            // The copy is not evidence (no custody entry names it): take it away.
            let _ = std::fs::remove_file(&dst);
            return Err(err);
        }
        let rec = FileRecord {
            path: rel.clone(),
            size: copy.size,
            sha256: copy.sha256.clone().unwrap_or_default(),
            sm3: copy.sm3.clone(),
        };
        let source_abs = std::fs::canonicalize(src).unwrap_or_else(|_| src.clone());
        let appended = s.append(
            "file.add",
            serde_json::json!({
                "source": source_abs.display().to_string(),
                "source_size": source.size,
                "source_sha256": source.sha256,
                "source_sm3": source.sm3,
                "copy": rel,
                "copy_sha256": copy.sha256,
                "copy_sm3": copy.sm3,
                "copy_matches_source": true,
                "kind": kind_of(subdir),
            }),
            vec![rec.clone()],
        );
        if let Err(e) = appended {
            // Unrecorded, the copy is not evidence: take it away again.
            let _ = std::fs::remove_file(&dst);
            return Err(e);
        }
        out.push(rec);
    }
    Ok(out)
}

/// Copies `src` to a new file `dst` (through [`crate::atomic`]: never replacing),
/// returning the digests of the bytes read from `src`.
fn copy_hashing(src: &Path, dst: &Path) -> Result<super::hash::Digests, CaseError> {
    let dir = dst.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut input = std::fs::File::open(src).map_err(io_err(src))?;
    let mut h = MultiHasher::new(Algorithms::EVIDENCE);
    let mut read_error = None;
    let written = crate::atomic::create_new_with(dst, |out| {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Kept apart so that the error names the source, not the copy.
                    let kind = e.kind();
                    read_error = Some(e);
                    return Err(std::io::Error::from(kind));
                }
            };
            let chunk = buf.get(..n).unwrap_or_default();
            h.update(chunk);
            out.write_all(chunk)?;
        }
    });
    if let Some(e) = read_error {
        return Err(io_err(src)(e));
    }
    written.map_err(|e| io_err(dst)(std::io::Error::from(e)))?;
    Ok(h.finish())
}

/// Refuses to write into a case whose custody log does not verify.
fn check_chain(s: &Session) -> Result<(), CaseError> {
    let log = custody::read(&s.dir).map_err(io_err(&s.dir))?;
    match log.problems.into_iter().next() {
        Some(p) => Err(custody::AppendError::Broken(p).into()),
        None => Ok(()),
    }
}

/// Refuses to seal a case whose files or custody log do not verify: a seal vouches
/// for every file, so sealing a changed case would launder the change. Returns the
/// digests computed, for the manifest.
fn check_case(s: &Session) -> Result<verify::Report, CaseError> {
    let report = verify::verify_case(&s.dir, &verify::Options::default());
    if report.differences.is_empty() {
        Ok(report)
    } else {
        Err(CaseError::DoesNotVerify {
            differences: report.differences,
        })
    }
}

/// What a seal produced.
#[derive(Debug)]
pub struct Sealed {
    pub version: u32,
    pub manifest: String,
    pub manifest_sha256: String,
    pub request: String,
    /// The reply path and what it says, when a TSA was asked and answered.
    pub timestamp: Option<Result<(String, tsp::TokenInfo), CaseError>>,
    pub sheets: Vec<String>,
    /// The seal statement, which the time-stamp stamps.
    pub statement: String,
    /// The seal's custody line and hash: the value to keep outside the case.
    pub custody_head: CustodyHead,
    /// Times out of order found before sealing (the seal goes ahead; `verify` fails).
    pub time_order: Vec<String>,
}

/// `case seal`: verifies the case, writes manifest version N and its time-stamp
/// request, records the seal, optionally asks a TSA, and writes the notary sheet.
///
/// `algos` beyond SHA-256 and SM3 (SHA-512, MD5) are added to every manifest entry.
pub fn seal(
    s: &mut Session,
    tsa_url: Option<&str>,
    algos: Algorithms,
) -> Result<Sealed, CaseError> {
    let algos = algos.with(Algorithms::EVIDENCE);
    let report = check_case(s)?;
    let mut known = report.digests;
    if algos != Algorithms::EVIDENCE {
        // The verification pass computed SHA-256 and SM3 only: hash everything anew.
        known.clear();
    }
    let log = custody::read(&s.dir).map_err(io_err(&s.dir))?;
    let version = seals(&log).iter().map(|x| x.version).max().unwrap_or(0) + 1;
    let head = CustodyHead {
        seq: log.entries.len() as u64,
        sha256: log.head(),
    };
    let files = manifest::case_files(&s.dir)?;
    let now = s.now();
    let mut m = Manifest::new(&s.info.id, version, &now.utc, head.clone());
    manifest::fill(&mut m, &s.dir, &files, &known, algos)?;
    let bytes = m.to_bytes();
    let manifest_rel = manifest::path_of(version);
    let manifest_rec = s.write_file(&manifest_rel, &bytes)?;
    let request_rel = format!("timestamps/manifest-v{version}.tsq");
    let statement_rel = manifest::statement_path(version);
    // The seal line is the last custody line of the seal: what follows (sheets, the
    // statement, request and reply) is bound by the statement, which binds this line,
    // and is stamped; so the time-stamp covers the whole log.
    let (_, seal_hash) = s.append(
        "seal",
        serde_json::json!({
            "version": version,
            "manifest": manifest_rel,
            "manifest_sha256": manifest_rec.sha256,
            "manifest_sm3": manifest_rec.sm3,
            "files": m.files.len(),
            "bytes": m.files.iter().map(|f| f.digests.size).sum::<u64>(),
            "custody_head": head,
            "statement": statement_rel,
            "request": request_rel,
            "tsa": tsa_url,
        }),
        vec![manifest_rec.clone()],
    )?;
    let log = custody::read(&s.dir).map_err(io_err(&s.dir))?;
    let seal_head = CustodyHead {
        seq: log
            .entries
            .iter()
            .find(|(_, h)| *h == seal_hash)
            .map_or(0, |(e, _)| e.seq),
        sha256: seal_hash,
    };
    let sheets = write_sheet_files(
        s,
        version,
        &m,
        &manifest_rec,
        &seal_head,
        None,
        tsa_url,
        &report.spans,
    )?;
    // The request's nonce is fixed before the statement, which records it, so that the
    // request file is bound too.
    let nonce = tsp::random_nonce();
    let request_nonce = tsp::parse_request(&tsp::request(&[0u8; 32], nonce)?)?
        .nonce
        .unwrap_or_default();
    let statement = manifest::SealStatement {
        format: manifest::SEAL_FORMAT.to_string(),
        case_id: s.info.id.clone(),
        version,
        manifest: manifest_rec.clone(),
        custody_head: seal_head.clone(),
        sheets: sheets.clone(),
        request_nonce,
    };
    let statement_bytes = statement.to_bytes();
    s.write_file(&statement_rel, &statement_bytes)?;
    let tsq = tsp::request(&sha2_digest(&statement_bytes), nonce)?;
    s.write_file(&request_rel, &tsq)?;
    let timestamp = tsa_url.map(|url| -> Result<(String, tsp::TokenInfo), CaseError> {
        let got = (|| -> Result<(String, tsp::TokenInfo), CaseError> {
            let reply = tsp::send(url, &tsq)?;
            let info = tsp::inspect_stamped(&reply, tsp::Stamped::Data(&statement_bytes))?;
            let rel = format!("timestamps/manifest-v{version}.tsr");
            s.write_file(&rel, &reply)?;
            Ok((rel, info))
        })();
        if let Err(e) = &got {
            // The seal line says a TSA was asked; a missing reply is then explained
            // here, or it is a difference (a reply taken away).
            s.append(
                "timestamp.failed",
                serde_json::json!({ "version": version, "tsa": url, "error": e.to_string() }),
                Vec::new(),
            )?;
        }
        got
    });
    Ok(Sealed {
        version,
        manifest: manifest_rel,
        manifest_sha256: manifest_rec.sha256,
        request: request_rel,
        timestamp,
        sheets: sheets.into_iter().map(|r| r.path).collect(),
        statement: statement_rel,
        custody_head: seal_head,
        time_order: report.time_order,
    })
}

fn sha2_digest(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).to_vec()
}

fn store_reply(
    s: &mut Session,
    version: u32,
    reply: &[u8],
    info: &tsp::TokenInfo,
    action: &str,
    source: &str,
) -> Result<String, CaseError> {
    let rel = format!("timestamps/manifest-v{version}.tsr");
    let rec = s.write_file(&rel, reply)?;
    s.append(
        action,
        info.custody_details(serde_json::json!({
            "version": version,
            "reply": rel,
            "source": source,
        })),
        vec![rec],
    )?;
    Ok(rel)
}

/// `case timestamp import`: records a reply obtained separately for seal `version`
/// (default: the newest). The reply must be granted and stamp that manifest's hash.
pub fn import_timestamp(
    s: &mut Session,
    reply_path: &Path,
    version: Option<u32>,
) -> Result<(String, tsp::TokenInfo), CaseError> {
    check_chain(s)?;
    let log = custody::read(&s.dir).map_err(io_err(&s.dir))?;
    let all = seals(&log);
    let seal = match version {
        Some(v) => all
            .iter()
            .find(|x| x.version == v)
            .ok_or(CaseError::NoSuchSeal { version: v })?,
        None => all.last().ok_or(CaseError::NotSealed)?,
    };
    let reply = std::fs::read(reply_path).map_err(io_err(reply_path))?;
    if let Some(st) = &seal.statement {
        // The reply vouches for itself (its imprint is the statement's hash, which binds
        // the seal line): stored without a custody line, which would come after what
        // it stamps and so stay unanchored.
        let path = s.dir.join(st);
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        let info = tsp::inspect_stamped(&reply, tsp::Stamped::Data(&bytes))?;
        let rel = format!("timestamps/manifest-v{}.tsr", seal.version);
        s.write_file(&rel, &reply)?;
        return Ok((rel, info));
    }
    let info = tsp::inspect(&reply, &seal.manifest_sha256)?;
    let source = format!(
        "{} (sha256 {})",
        std::fs::canonicalize(reply_path)
            .unwrap_or_else(|_| reply_path.to_path_buf())
            .display(),
        sha256_hex(&reply)
    );
    let path = store_reply(s, seal.version, &reply, &info, "timestamp.import", &source)?;
    Ok((path, info))
}

/// `case sheet`: writes a fresh notary sheet for the newest seal (a new revision
/// name if one exists already), with the time-stamp as now recorded: its TSA and
/// whether it chains to a trust anchor (the bundled list, the case's
/// `trusted-tsa.pem`). The revision is recorded in a custody line of its own, which the
/// next seal anchors.
pub fn sheet(s: &mut Session) -> Result<Vec<String>, CaseError> {
    check_chain(s)?;
    let log = custody::read(&s.dir).map_err(io_err(&s.dir))?;
    let seal = seals(&log).pop().ok_or(CaseError::NotSealed)?;
    let path = s.dir.join(&seal.manifest);
    let bytes = std::fs::read(&path).map_err(io_err(&path))?;
    let m = Manifest::parse(&seal.manifest, &bytes)?;
    let rec = record_bytes(&seal.manifest, &bytes);
    let reply = std::fs::read(
        s.dir
            .join(format!("timestamps/manifest-v{}.tsr", seal.version)),
    )
    .ok();
    let mut ignored = verify::Report::default();
    let anchors = verify::trust_anchors(&s.dir, &verify::Options::default(), &mut ignored);
    let statement = seal
        .statement
        .as_ref()
        .and_then(|st| std::fs::read(s.dir.join(st)).ok());
    let token = reply.and_then(|r| {
        let stamped = match &statement {
            Some(b) => tsp::Stamped::Data(b),
            None => tsp::Stamped::Sha256(&seal.manifest_sha256),
        };
        tsp::verify_stamped(&r, stamped, None, &anchors).ok()
    });
    let head = CustodyHead {
        seq: seal.line as u64,
        sha256: log
            .entries
            .iter()
            .find(|(e, _)| e.seq == seal.line as u64)
            .map(|(_, h)| h.clone())
            .unwrap_or_default(),
    };
    let files = write_sheet_files(
        s,
        seal.version,
        &m,
        &rec,
        &head,
        token.as_ref(),
        seal.tsa.as_deref(),
        &BTreeMap::new(),
    )?;
    let paths = files.iter().map(|f| f.path.clone()).collect();
    s.append(
        "sheet",
        serde_json::json!({ "version": seal.version, "manifest_sha256": rec.sha256 }),
        files,
    )?;
    Ok(paths)
}

/// Writes a notary sheet (Markdown and HTML) for seal `version`, under a new name;
/// returns their records. Recording them is the caller's.
#[allow(clippy::too_many_arguments)]
fn write_sheet_files(
    s: &mut Session,
    version: u32,
    m: &Manifest,
    manifest_rec: &FileRecord,
    head: &CustodyHead,
    token: Option<&tsp::TokenInfo>,
    tsa_url: Option<&str>,
    spans: &BTreeMap<String, (crate::model::Timestamp, crate::model::Timestamp)>,
) -> Result<Vec<FileRecord>, CaseError> {
    let mut stem = format!("sheets/sheet-v{version}");
    let mut revision = 1;
    while s.dir.join(format!("{stem}.md")).exists() || s.dir.join(format!("{stem}.html")).exists() {
        revision += 1;
        stem = format!("sheets/sheet-v{version}-r{revision}");
    }
    // The session's rows, then the notices sent and the answers filed.
    let mut extra = s.sheet_rows.clone();
    extra.extend(super::notices::sheet_rows(&s.dir, head.seq));
    let input = sheet::Sheet {
        info: &s.info,
        manifest: m,
        manifest_path: &manifest_rec.path,
        manifest_sha256: &manifest_rec.sha256,
        manifest_sm3: manifest_rec.sm3.as_deref().unwrap_or(""),
        timestamp: token,
        extra: &extra,
        custody_head: head,
        tsa_url,
        capture_period: sheet::capture_period(&s.dir, m, s.offset, spans),
        tool: super::environment::Tool::current(),
        lang: s.sheet_lang,
    };
    let md = s.write_file(&format!("{stem}.md"), sheet::markdown(&input).as_bytes())?;
    let html = s.write_file(&format!("{stem}.html"), sheet::html(&input).as_bytes())?;
    Ok(vec![md, html])
}
