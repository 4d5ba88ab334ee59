//! The chain-of-custody log `custody.jsonl`: one JSON object per line, append-only.
//!
//! Each entry carries `prev`, the lowercase hex SHA-256 of the previous line's exact
//! bytes without its terminating `\n` (64 zeros for the first entry), and `seq`, its
//! 1-based line number. Changing, deleting, inserting or reordering any line therefore
//! breaks the chain at a named line. Entries are never rewritten: a correction is a new
//! entry. Appends use `O_APPEND` and `fsync`, and a log whose chain does not verify is
//! never appended to. Several processes append to one case at once (a live capture, a
//! client run in the session, `session status`): each append holds an exclusive lock
//! on the log (`flock`) from reading its last line to syncing the new one, so every
//! line chains to the one before it.
//!
//! The chain alone cannot show that lines were cut from the end; but every entry
//! records at least one file it wrote, so a cut leaves files that nothing vouches for,
//! and verification reports them.
//!
//! Contract: reading a damaged log never panics; every problem is returned as a
//! [`ChainProblem`] naming the line.

use super::environment::{ClockSource, Machine, Tool};
use super::hash::sha256_hex;
use serde::{Deserialize, Serialize};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

/// File name of the log inside a case directory.
pub const FILE: &str = "custody.jsonl";

/// `prev` of the first entry.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A file an entry vouches for, by path relative to the case directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sm3: Option<String>,
}

/// One custody event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub prev: String,
    /// RFC 3339, UTC.
    pub time_utc: String,
    /// The same instant in the case's time zone.
    pub time_local: String,
    pub clock_source: ClockSource,
    /// Who did it: the operator named on the command line or in `case.json`.
    pub actor: String,
    /// What happened, e.g. `case.new`, `capture.add`, `seal`, `timestamp.reply`.
    pub action: String,
    /// Action-specific facts (source paths, manifest version and hash, genTime, ...).
    pub details: serde_json::Value,
    /// Files written or vouched for by this action, with their hashes.
    #[serde(default)]
    pub files: Vec<FileRecord>,
    /// The environment record of the session that wrote this entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<FileRecord>,
    pub tool: Tool,
    pub machine: Machine,
}

/// What is wrong with a log, naming the line (1-based).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainProblem {
    #[error("custody.jsonl line {line}: not a valid entry: {reason}")]
    Unparsable { line: usize, reason: String },
    #[error("custody.jsonl line {line}: seq expected {expected} found {found}")]
    Seq {
        line: usize,
        expected: u64,
        found: u64,
    },
    #[error("custody.jsonl line {line}: prev hash expected {expected} found {found}")]
    Prev {
        line: usize,
        expected: String,
        found: String,
    },
    /// Line `line` no longer hashes to what the next line recorded, while the next
    /// line is where it should be (its `seq` is right): line `line` was edited.
    #[error("custody.jsonl line {line}: content changed: line {next} recorded its hash as {recorded}, it now hashes to {found}")]
    Changed {
        line: usize,
        next: usize,
        recorded: String,
        found: String,
    },
    #[error("custody.jsonl: last line is not terminated by a newline (truncated write?)")]
    Unterminated,
    #[error("custody.jsonl line {line}: empty line")]
    Empty { line: usize },
}

/// A log read from disk: the entries that parsed, with the hash of each line, and every
/// problem found.
#[derive(Debug, Default)]
pub struct Log {
    pub entries: Vec<(Entry, String)>,
    pub problems: Vec<ChainProblem>,
}

impl Log {
    /// Hash of the last line, to chain the next entry to.
    pub fn head(&self) -> String {
        self.entries
            .last()
            .map_or_else(|| GENESIS.to_string(), |(_, h)| h.clone())
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.entries.len() as u64 + 1
    }
}

/// Parses and checks the chain of a log's bytes.
pub fn parse(bytes: &[u8]) -> Log {
    let mut log = Log::default();
    if bytes.is_empty() {
        return log;
    }
    let body = match bytes.strip_suffix(b"\n") {
        Some(b) => b,
        None => {
            log.problems.push(ChainProblem::Unterminated);
            bytes
        }
    };
    let mut expected_prev = GENESIS.to_string();
    // Whether the line before parsed with the right seq (else a Changed report about it
    // would guess).
    let mut prev_parsed = true;
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let hash = sha256_hex(line);
        if line.is_empty() {
            log.problems.push(ChainProblem::Empty { line: n });
            expected_prev = hash;
            prev_parsed = false;
            continue;
        }
        match serde_json::from_slice::<Entry>(line) {
            Ok(e) => {
                if e.seq != n as u64 {
                    log.problems.push(ChainProblem::Seq {
                        line: n,
                        expected: n as u64,
                        found: e.seq,
                    });
                }
                if e.prev != expected_prev && e.seq == n as u64 && n > 1 && prev_parsed {
                    // The line is in its place (seq right), so the one before it is
                    // what changed: name that line, not this one.
                    log.problems.push(ChainProblem::Changed {
                        line: n - 1,
                        next: n,
                        recorded: e.prev.clone(),
                        found: expected_prev.clone(),
                    });
                } else if e.prev != expected_prev {
                    log.problems.push(ChainProblem::Prev {
                        line: n,
                        expected: expected_prev.clone(),
                        found: e.prev.clone(),
                    });
                }
                prev_parsed = e.seq == n as u64;
                log.entries.push((e, hash.clone()));
            }
            Err(err) => {
                prev_parsed = false;
                log.problems.push(ChainProblem::Unparsable {
                    line: n,
                    reason: err.to_string(),
                })
            }
        }
        expected_prev = hash;
    }
    log
}

/// Reads a case's log; a missing log is an empty one. Holds a shared lock while
/// reading, so that a line another process is appending is never read half-written.
pub fn read(case_dir: &Path) -> std::io::Result<Log> {
    let mut f = match std::fs::File::open(case_dir.join(FILE)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Log::default()),
        Err(e) => return Err(e),
    };
    match f.lock_shared() {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {}
        Err(e) => return Err(e),
    }
    read_from(&mut f)
}

fn read_from(f: &mut std::fs::File) -> std::io::Result<Log> {
    use std::io::Read;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    Ok(parse(&bytes))
}

/// Errors while appending.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("custody log does not verify, refusing to append: {0}")]
    Broken(ChainProblem),
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The parts of an entry the caller decides; the chain, time and tool fields are
/// filled in by [`append`].
pub struct NewEntry {
    pub actor: String,
    pub action: String,
    pub details: serde_json::Value,
    pub files: Vec<FileRecord>,
    pub environment: Option<FileRecord>,
}

/// Appends one entry at the given time and returns it with its line hash.
pub fn append(
    case_dir: &Path,
    new: NewEntry,
    now: &super::Now,
) -> Result<(Entry, String), AppendError> {
    let path = case_dir.join(FILE);
    let io = |source| AppendError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&path)
        .map_err(io)?;
    // Released when `f` is closed, also if this process dies. A file system without
    // locks (some network ones) leaves one writer at a time to the user.
    match f.lock() {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {}
        Err(e) => return Err(io(e)),
    }
    // Read through the locked descriptor: a second one would wait for this lock.
    let log = read_from(&mut f).map_err(io)?;
    if let Some(p) = log.problems.first() {
        return Err(AppendError::Broken(p.clone()));
    }
    let entry = Entry {
        seq: log.next_seq(),
        prev: log.head(),
        time_utc: now.utc.clone(),
        time_local: now.local.clone(),
        clock_source: ClockSource::current(),
        actor: new.actor,
        action: new.action,
        details: new.details,
        files: new.files,
        environment: new.environment,
        tool: Tool::current(),
        machine: Machine::current(),
    };
    let line = serde_json::to_string(&entry).map_err(|e| io(std::io::Error::other(e)))?;
    let hash = sha256_hex(line.as_bytes());
    // One write of the whole line; readers hold a shared lock, so none sees it half
    // written.
    let mut bytes = line.into_bytes();
    bytes.push(b'\n');
    let before = f.metadata().map_err(io)?.len();
    if let Err(e) = f.write_all(&bytes).and_then(|()| f.sync_all()) {
        // A full disk can leave part of the line: take it back, so that the log stays
        // as it was (and a retry, once there is room, appends to a sound log). Only
        // bytes this call wrote, under its lock, are removed.
        let _ = f.set_len(before);
        let _ = f.sync_all();
        return Err(io(e));
    }
    Ok((entry, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64, prev: &str) -> String {
        format!(
            r#"{{"seq":{seq},"prev":"{prev}","time_utc":"2026-01-01T00:00:00Z","time_local":"2026-01-01T08:00:00+08:00","clock_source":{{"clock":"c","ntp_synchronized":"yes"}},"actor":"a","action":"x","details":null,"tool":{{"name":"whohosts","version":"0","binary_sha256":"00"}},"machine":{{"hostname":"h","os":"o","kernel":"k"}}}}"#
        )
    }

    #[test]
    fn well_chained_lines_parse_without_problems() {
        // Known answers, computed outside whohosts (Python's hashlib over the same
        // lines): line 2 carries line 1's SHA-256, the head is line 2's.
        const H1: &str = "2dd7df55d51cb593ecf8dd642dc9b6c850c5b0b26b244119e878f74f69ca171b";
        const H2: &str = "3a916a081a7af37abae8371e06637b4d3c9e4bf5506bf01d69302b776feac4c5";
        let l1 = line(1, GENESIS);
        let l2 = line(2, H1);
        let log = parse(format!("{l1}\n{l2}\n").as_bytes());
        assert!(log.problems.is_empty(), "{:?}", log.problems);
        assert_eq!(log.entries.len(), 2);
        assert_eq!(log.head(), H2);
        // A line 2 recording another hash: line 1 is named as changed, with both.
        let l2 = line(2, H2);
        let log = parse(format!("{l1}\n{l2}\n").as_bytes());
        assert!(
            matches!(
                log.problems.as_slice(),
                [ChainProblem::Changed { line: 1, next: 2, recorded, found }]
                    if recorded == H2 && found == H1
            ),
            "{:?}",
            log.problems
        );
    }

    #[test]
    fn swapped_lines_are_named_by_line_number() {
        let l1 = line(1, GENESIS);
        let l2 = line(2, &sha256_hex(l1.as_bytes()));
        let log = parse(format!("{l2}\n{l1}\n").as_bytes());
        let text: Vec<String> = log.problems.iter().map(|p| p.to_string()).collect();
        assert!(text
            .iter()
            .any(|t| t.starts_with("custody.jsonl line 1: seq expected 1 found 2")));
        assert!(text
            .iter()
            .any(|t| t.starts_with("custody.jsonl line 2: prev hash expected")));
    }

    #[test]
    fn appends_chain_and_a_broken_log_is_never_appended_to() {
        let dir = tempfile::tempdir().unwrap();
        let now = crate::evidence::Now::at(time::OffsetDateTime::UNIX_EPOCH, time::UtcOffset::UTC);
        let new = || NewEntry {
            actor: "a".into(),
            action: "x".into(),
            details: serde_json::Value::Null,
            files: Vec::new(),
            environment: None,
        };
        let (first, h1) = append(dir.path(), new(), &now).unwrap();
        let (second, _) = append(dir.path(), new(), &now).unwrap();
        assert_eq!((first.seq, first.prev.as_str()), (1, GENESIS));
        assert_eq!((second.seq, second.prev), (2, h1));
        let log = read(dir.path()).unwrap();
        assert!(log.problems.is_empty());
        // Drop the final newline, as a torn write would.
        let path = dir.path().join(FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.pop();
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            append(dir.path(), new(), &now),
            Err(AppendError::Broken(ChainProblem::Unterminated))
        ));
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn garbage_and_truncation_are_problems_not_panics() {
        let log = parse(b"{not json\n\xff\xfe");
        assert!(matches!(log.problems[0], ChainProblem::Unterminated));
        assert!(matches!(
            log.problems[1],
            ChainProblem::Unparsable { line: 1, .. }
        ));
        assert!(matches!(
            log.problems[2],
            ChainProblem::Unparsable { line: 2, .. }
        ));
    }
}
