//! Custody of live captures in a case: what a capture records while it runs, and the
//! recovery of a capture whose process died.
//!
//! A capture writes, in `custody.jsonl`:
//! - `capture.start`: its number K, the session, the process, the interfaces (name,
//!   link type, snap length, filter, promiscuous mode), stop and rotation settings,
//!   and the pattern its files are named by (`captures/capture-KKK_NNNNN_TIME.pcapng`);
//! - `capture.file.open` when it creates a file, before the file's first byte;
//! - `capture.file.close` when a file is closed: size, SHA-256 and SM3 (computed while
//!   writing), packets, blocks, and libpcap's counters per interface;
//! - `capture.stop`: why it stopped, the faults, the totals; `capture.report` for the
//!   analysis report it wrote.
//!
//! While it runs, it holds a lock on `.run/capture-K.lock` (released by the kernel
//! when the process ends, however it ends), keeps its live state in
//! `.run/capture-K.json`, and keeps `.run/reserve-K`, room set aside so that the
//! custody entries and the seal can still be written when the disk fills up. `.run/`
//! is the process state of the case, not evidence: verification ignores it.
//!
//! Recovery ([`open`]): a capture with no `capture.stop` whose lock is free was
//! interrupted (SIGKILL, a power cut). Each of its files not yet closed is read once,
//! hashed and checked block by block; `capture.recovered` records what was found
//! (complete blocks and packets, the bytes after the last complete block, the
//! digests), `capture.stop` records the interruption, and the case is sealed.
//! Nothing is deleted, truncated or rewritten.

use super::case::{self, CaseError, Session};
use super::custody::{self, FileRecord, Log};
use super::hash::Algorithms;
use crate::recorder::{ClosedFile, Journal, JournalError, OpenedFile};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The process state of a case (not evidence).
pub const RUN_DIR: &str = ".run";

/// Room set aside for the last custody entries and the seal when the disk fills up.
const RESERVE_BYTES: usize = 4 << 20;

/// The file name prefix of capture K's files.
pub fn prefix(capture: u32) -> String {
    format!("capture-{capture:03}")
}

fn lock_path(dir: &Path, capture: u32) -> PathBuf {
    dir.join(RUN_DIR).join(format!("capture-{capture}.lock"))
}

/// Where a running capture keeps its live state.
pub fn state_path(dir: &Path, capture: u32) -> PathBuf {
    dir.join(RUN_DIR).join(format!("capture-{capture}.json"))
}

fn reserve_path(dir: &Path, capture: u32) -> PathBuf {
    dir.join(RUN_DIR).join(format!("reserve-{capture}"))
}

/// A capture as the custody log records it.
#[derive(Clone, Debug, Default)]
pub struct CaptureRecord {
    pub number: u32,
    pub session: Option<u32>,
    /// Custody line of `capture.start`.
    pub line: u64,
    pub pid: Option<u32>,
    pub interfaces: Vec<String>,
    pub stopped: bool,
    /// Files recorded as opened, in order.
    pub opened: Vec<String>,
    /// Files closed or recovered, with their records.
    pub closed: Vec<FileRecord>,
    pub reports: Vec<String>,
}

/// Every capture of a log, in order.
pub fn captures(log: &Log) -> Vec<CaptureRecord> {
    let mut out: Vec<CaptureRecord> = Vec::new();
    for (e, _) in &log.entries {
        let Some(k) = e.details["capture"]
            .as_u64()
            .and_then(|k| u32::try_from(k).ok())
        else {
            continue;
        };
        if e.action == "capture.start" {
            out.push(CaptureRecord {
                number: k,
                session: e.details["session"]
                    .as_u64()
                    .and_then(|s| u32::try_from(s).ok()),
                line: e.seq,
                pid: e.details["pid"]
                    .as_u64()
                    .and_then(|p| u32::try_from(p).ok()),
                interfaces: e.details["interfaces"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|i| i["name"].as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                ..CaptureRecord::default()
            });
            continue;
        }
        let Some(c) = out.iter_mut().rev().find(|c| c.number == k) else {
            continue;
        };
        match e.action.as_str() {
            "capture.file.open" => {
                if let Some(f) = e.details["file"].as_str() {
                    c.opened.push(f.to_string());
                }
            }
            // An entry's files may include its command's environment record.
            "capture.file.close" | "capture.recovered" => c.closed.extend(
                e.files
                    .iter()
                    .filter(|f| f.path.starts_with("captures/"))
                    .cloned(),
            ),
            "capture.report" => c.reports.extend(
                e.files
                    .iter()
                    .filter(|f| f.path.starts_with("reports/"))
                    .map(|f| f.path.clone()),
            ),
            "capture.stop" => c.stopped = true,
            _ => {}
        }
    }
    out
}

/// Whether capture K's process is alive: it holds its lock.
pub fn is_running(dir: &Path, capture: u32) -> bool {
    let Ok(f) = File::open(lock_path(dir, capture)) else {
        return false;
    };
    matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

/// A capture under way in a case: its number, its lock and its reserve.
pub struct Running {
    pub dir: PathBuf,
    pub number: u32,
    _lock: File,
}

impl Running {
    /// The room set aside for this capture's last entries (see [`record`]).
    pub fn reserve(&self) -> PathBuf {
        reserve_path(&self.dir, self.number)
    }

    /// Gives the reserved room back to the file system (the disk is full).
    pub fn release_reserve(&self) {
        let _ = std::fs::remove_file(reserve_path(&self.dir, self.number));
    }

    /// Replaces the live state file (atomically: a reader sees the old or the new).
    pub fn write_state(&self, bytes: &[u8]) {
        // Best effort: `session status` shows the last state that made it.
        let _ = crate::atomic::replace(&state_path(&self.dir, self.number), bytes);
    }

    /// The capture is over and recorded: its process state goes.
    pub fn end(self) {
        self.release_reserve();
        let state = state_path(&self.dir, self.number);
        let _ = std::fs::remove_file(state);
        let _ = std::fs::remove_file(lock_path(&self.dir, self.number));
    }
}

/// Starts capture K in the case: takes its lock, sets room aside and records
/// `capture.start` with `details` (interfaces, settings) added.
pub fn begin(
    s: &mut Session,
    session: Option<u32>,
    mut details: serde_json::Value,
) -> Result<Running, CaseError> {
    let log = custody::read(&s.dir).map_err(|e| io(&s.dir, e))?;
    if let Some(p) = log.problems.first() {
        return Err(custody::AppendError::Broken(p.clone()).into());
    }
    let all = captures(&log);
    if let Some(c) = all
        .iter()
        .find(|c| !c.stopped && is_running(&s.dir, c.number))
    {
        return Err(CaseError::Invalid {
            path: s.dir.display().to_string(),
            reason: format!(
                "capture {} is running in this case (process {}, on {}); stop it first (`whohosts session stop`), or capture several interfaces at once with -i A -i B",
                c.number,
                c.pid.map_or_else(|| "?".into(), |p| p.to_string()),
                c.interfaces.join(", ")
            ),
        });
    }
    let number = all.iter().map(|c| c.number).max().unwrap_or(0) + 1;
    let run = s.dir.join(RUN_DIR);
    std::fs::create_dir_all(&run).map_err(|e| io(&run, e))?;
    let lock_file = lock_path(&s.dir, number);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_file)
        .map_err(|e| io(&lock_file, e))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(CaseError::Invalid {
                path: lock_file.display().to_string(),
                reason: "another capture is starting in this case at this moment".into(),
            })
        }
        Err(std::fs::TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {}
        Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_file, e)),
    }
    let reserve = reserve_path(&s.dir, number);
    let written = (|| -> std::io::Result<()> {
        let mut f = File::create(&reserve)?;
        f.write_all(&vec![0u8; RESERVE_BYTES])?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&reserve);
        return Err(io(&reserve, e));
    }
    if let Some(obj) = details.as_object_mut() {
        obj.insert("capture".into(), number.into());
        obj.insert("session".into(), session.into());
        obj.insert("pid".into(), std::process::id().into());
        obj.insert(
            "files".into(),
            format!("captures/{}_NNNNN_YYYYmmddHHMMSS.pcapng", prefix(number)).into(),
        );
    }
    s.append("capture.start", details, Vec::new())?;
    Ok(Running {
        dir: s.dir.clone(),
        number,
        _lock: lock,
    })
}

fn io(path: &Path, source: std::io::Error) -> CaseError {
    CaseError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Appends an entry; when the disk is full, gives the reserved room back and tries
/// once more.
pub fn record(
    s: &Mutex<Session>,
    reserve: &Path,
    action: &str,
    details: serde_json::Value,
    files: Vec<FileRecord>,
) -> Result<(), CaseError> {
    let mut s = s.lock().unwrap_or_else(|e| e.into_inner());
    match s.append(action, details.clone(), files.clone()) {
        Ok(_) => Ok(()),
        Err(e) if is_disk_full(&e) => {
            let _ = std::fs::remove_file(reserve);
            s.append(action, details, files).map(|_| ())
        }
        Err(e) => Err(e),
    }
}

fn is_disk_full(e: &CaseError) -> bool {
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::StorageFull || io.raw_os_error() == Some(28) {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

/// The case side of a capture's journal: each file opened and closed becomes a
/// custody entry.
pub struct CaseJournal {
    pub session: Arc<Mutex<Session>>,
    pub capture: u32,
    pub dir: PathBuf,
}

impl CaseJournal {
    fn rel(&self, p: &Path) -> String {
        p.strip_prefix(&self.dir)
            .unwrap_or(p)
            .to_string_lossy()
            .replace(std::path::MAIN_SEPARATOR, "/")
    }
}

/// RFC 3339 UTC with nanoseconds, for a time in nanoseconds since the epoch.
pub fn rfc3339_ns(ns: u64) -> String {
    let t = time::OffsetDateTime::UNIX_EPOCH
        + time::Duration::nanoseconds(i64::try_from(ns).unwrap_or(i64::MAX));
    super::Now::at(t, time::UtcOffset::UTC).utc
}

impl Journal for CaseJournal {
    fn opened(&mut self, f: &OpenedFile) -> Result<(), JournalError> {
        record(
            &self.session,
            &reserve_path(&self.dir, self.capture),
            "capture.file.open",
            serde_json::json!({
                "capture": self.capture,
                "number": f.number,
                "file": self.rel(&f.path),
                "opened_utc": rfc3339_ns(f.opened_ns),
            }),
            Vec::new(),
        )
        .map_err(Into::into)
    }

    fn closed(&mut self, f: &ClosedFile) -> Result<(), JournalError> {
        let rel = self.rel(&f.path);
        let rec = FileRecord {
            path: rel.clone(),
            size: f.digests.size,
            sha256: f.digests.sha256.clone().unwrap_or_default(),
            sm3: f.digests.sm3.clone(),
        };
        record(
            &self.session,
            &reserve_path(&self.dir, self.capture),
            "capture.file.close",
            serde_json::json!({
                "capture": self.capture,
                "number": f.number,
                "file": rel,
                "packets": f.packets,
                "blocks": f.blocks,
                "complete": f.complete,
                "opened_utc": rfc3339_ns(f.opened_ns),
                "closed_utc": rfc3339_ns(f.closed_ns),
                "hashed": "while written",
                "interfaces": f.interfaces,
            }),
            vec![rec],
        )
        .map_err(Into::into)
    }

    fn removed(&mut self, f: &ClosedFile) -> Result<(), JournalError> {
        // A case refuses ring buffers; should one get here, the removal is recorded.
        record(
            &self.session,
            &reserve_path(&self.dir, self.capture),
            "capture.file.removed",
            serde_json::json!({ "capture": self.capture, "file": self.rel(&f.path) }),
            Vec::new(),
        )
        .map_err(Into::into)
    }
}

/// What recovery found in one file of an interrupted capture.
#[derive(Clone, Debug, Serialize)]
pub struct Recovered {
    pub capture: u32,
    pub file: String,
    pub size: u64,
    pub sha256: String,
    pub sm3: Option<String>,
    /// Blocks read whole (both lengths agreeing).
    pub complete_blocks: u64,
    pub packets: u64,
    /// The offset just past the last complete block.
    pub complete_bytes: u64,
    /// What the reader met, with offsets (a cut block at the end, say).
    pub damage: Vec<String>,
}

/// Opens a case for a command, first recording and sealing any capture whose process
/// died (see the module documentation). Returns the session, what was recovered, and
/// the seal made for it.
pub fn open(
    dir: &Path,
    actor: Option<String>,
) -> Result<(Session, Vec<Recovered>, Option<case::Sealed>), CaseError> {
    let mut s = Session::open(dir, actor)?;
    let recovered = recover(&mut s)?;
    let sealed = if recovered.is_empty() {
        None
    } else {
        Some(case::seal(&mut s, None, Algorithms::EVIDENCE)?)
    };
    Ok((s, recovered, sealed))
}

/// Records every interrupted capture of the case (without sealing).
pub(crate) fn recover(s: &mut Session) -> Result<Vec<Recovered>, CaseError> {
    let log = custody::read(&s.dir).map_err(|e| io(&s.dir, e))?;
    if !log.problems.is_empty() {
        // A broken log is reported by whatever the command does next.
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for c in captures(&log) {
        if c.stopped || is_running(&s.dir, c.number) {
            continue;
        }
        let done: BTreeSet<&str> = c.closed.iter().map(|f| f.path.as_str()).collect();
        let mut files: BTreeSet<String> = c
            .opened
            .iter()
            .filter(|f| !done.contains(f.as_str()))
            .cloned()
            .collect();
        // A file created just before its entry could be written is found by name.
        let p = format!("{}_", prefix(c.number));
        if let Ok(entries) = std::fs::read_dir(s.dir.join("captures")) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let rel = format!("captures/{name}");
                if name.starts_with(&p) && !done.contains(rel.as_str()) {
                    files.insert(rel);
                }
            }
        }
        let mut missing = Vec::new();
        let mut found = Vec::new();
        for rel in files {
            let path = s.dir.join(&rel);
            if !path.is_file() {
                missing.push(rel);
                continue;
            }
            let r = inspect(&path, &rel, c.number)?;
            s.append(
                "capture.recovered",
                serde_json::json!({
                    "capture": c.number,
                    "file": rel,
                    "found": format!(
                        "the capture process{} ended without closing this file",
                        c.pid.map_or_else(String::new, |p| format!(" ({p})"))
                    ),
                    "complete_blocks": r.complete_blocks,
                    "packets": r.packets,
                    "complete_bytes": r.complete_bytes,
                    "bytes_after_last_complete_block": r.size.saturating_sub(r.complete_bytes),
                    "damage": r.damage,
                    "hashed": "at recovery, as found",
                }),
                vec![FileRecord {
                    path: rel.clone(),
                    size: r.size,
                    sha256: r.sha256.clone(),
                    sm3: r.sm3.clone(),
                }],
            )?;
            found.push(r);
        }
        s.append(
            "capture.stop",
            serde_json::json!({
                "capture": c.number,
                "session": c.session,
                "reason": "interrupted",
                "found": "no capture.stop entry and the capture's process is gone (killed, or the machine stopped)",
                "files_recovered": found.iter().map(|r| r.file.clone()).collect::<Vec<_>>(),
                "files_recorded_but_absent": missing,
            }),
            Vec::new(),
        )?;
        for p in [
            lock_path(&s.dir, c.number),
            state_path(&s.dir, c.number),
            reserve_path(&s.dir, c.number),
        ] {
            let _ = std::fs::remove_file(p);
        }
        out.extend(found);
    }
    Ok(out)
}

/// Reads a file once: its digests, and how far it is made of whole blocks.
fn inspect(path: &Path, rel: &str, capture: u32) -> Result<Recovered, CaseError> {
    let opened = crate::capture::open(path, 0, Algorithms::EVIDENCE);
    let (summary, mut damage, digests) = match opened {
        Ok(o) => {
            let mut reader = o.reader;
            let mut packets = 0u64;
            while reader.next_frame().is_some() {
                packets += 1;
            }
            let summary = reader.summary();
            let damage: Vec<String> = reader
                .take_anomalies()
                .into_iter()
                .take(20)
                .map(|a| a.message)
                .collect();
            drop(reader);
            let d = o.digest.finish().map_err(|e| io(path, e))?;
            ((summary, packets), damage, d)
        }
        Err(e) => {
            // Not even a section header made it to the disk: hash what is there.
            let d =
                super::hash::hash_file(path, Algorithms::EVIDENCE).map_err(|h| CaseError::Io {
                    path: path.display().to_string(),
                    source: h.source,
                })?;
            (
                (crate::capture::ReadSummary::default(), 0),
                vec![e.to_string()],
                d,
            )
        }
    };
    damage.truncate(20);
    let ((summary, packets), size) = (summary, digests.size);
    Ok(Recovered {
        capture,
        file: rel.to_string(),
        size,
        sha256: digests.sha256.unwrap_or_default(),
        sm3: digests.sm3,
        complete_blocks: summary.blocks,
        packets,
        complete_bytes: summary.complete_to,
        damage,
    })
}
