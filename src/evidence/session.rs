//! Notary-assisted evidence sessions: the custody side of `whohosts session`.
//!
//! A session is what a notary watches: it starts (`session.start`), clients run in it
//! (`session.run.start` / `session.run.end`), captures record their files (see
//! [`super::live`]), and it stops (`session.stop`), after which the case is sealed.
//!
//! The start is time-stamped: `sessions/session-NNNN-start.json` names the case file
//! and the environment record of the machine (with their digests), the operator, the
//! notary and the certificate number; its SHA-256 goes into an RFC 3161 request
//! (`timestamps/session-NNNN-start.tsq`), sent when a TSA is given. The reply is
//! recorded in the custody log, and every later line chains to that entry: whatever the
//! session recorded after it was recorded after the TSA's genTime. The seal at the end
//! time-stamps the manifest: it existed no later than that genTime. Between the two
//! lies the session.
//!
//! Contract: nothing is overwritten; one session is open at a time in a case; every
//! client run is recorded before it starts and after it ends, with its exit status.

use super::case::{self, CaseError, NewCase, Session};
use super::custody::{self, FileRecord, Log};
use super::info::CASE_FILE;
use super::tsp;
use serde::Serialize;
use std::path::Path;

/// A session as the custody log records it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SessionRecord {
    pub number: u32,
    /// Custody line of `session.start`.
    pub line: u64,
    pub started_utc: String,
    pub operator: String,
    pub notary: Option<String>,
    pub certificate: Option<String>,
    pub statement: String,
    pub statement_sha256: String,
    pub request: String,
    pub stopped_utc: Option<String>,
    /// Client runs: started and ended.
    pub runs: u32,
    pub runs_ended: u32,
}

/// Every session of a log, in order.
pub fn sessions(log: &Log) -> Vec<SessionRecord> {
    let mut out: Vec<SessionRecord> = Vec::new();
    for (e, _) in &log.entries {
        let number = e.details["session"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok());
        let text = |k: &str| e.details[k].as_str().map(str::to_string);
        match (e.action.as_str(), number) {
            ("session.start", Some(n)) => out.push(SessionRecord {
                number: n,
                line: e.seq,
                started_utc: e.time_utc.clone(),
                operator: text("operator").unwrap_or_default(),
                notary: text("notary"),
                certificate: text("notary_certificate"),
                statement: text("statement").unwrap_or_default(),
                statement_sha256: text("statement_sha256").unwrap_or_default(),
                request: text("request").unwrap_or_default(),
                ..SessionRecord::default()
            }),
            ("session.stop", Some(n)) => {
                if let Some(s) = out.iter_mut().rev().find(|s| s.number == n) {
                    s.stopped_utc = Some(e.time_utc.clone());
                }
            }
            ("session.run.start", Some(n)) => {
                if let Some(s) = out.iter_mut().rev().find(|s| s.number == n) {
                    s.runs += 1;
                }
            }
            ("session.run.end", Some(n)) => {
                if let Some(s) = out.iter_mut().rev().find(|s| s.number == n) {
                    s.runs_ended += 1;
                }
            }
            _ => {}
        }
    }
    out
}

/// The open session of a case, if any.
pub fn open_session(log: &Log) -> Option<SessionRecord> {
    sessions(log)
        .into_iter()
        .rev()
        .find(|s| s.stopped_utc.is_none())
}

/// What `session start` is given.
#[derive(Clone, Debug, Default)]
pub struct StartOptions {
    pub operator: String,
    pub notary: Option<String>,
    pub certificate: Option<String>,
    pub tsa: Option<String>,
    /// Used when the case does not exist yet.
    pub new_case: NewCase,
}

/// What `session start` did.
pub struct Started {
    pub session: Session,
    pub number: u32,
    pub created_case: bool,
    pub statement: String,
    pub statement_sha256: String,
    pub request: String,
    pub timestamp: Option<Result<(String, tsp::TokenInfo), CaseError>>,
    pub recovered: Vec<super::live::Recovered>,
}

/// The paths of session N's start statement and its time-stamp request and reply.
pub fn start_paths(number: u32) -> (String, String, String) {
    (
        format!("sessions/session-{number:04}-start.json"),
        format!("timestamps/session-{number:04}-start.tsq"),
        format!("timestamps/session-{number:04}-start.tsr"),
    )
}

/// `session start`: creates the case if needed, records the environment, writes and
/// time-stamps the start statement, records `session.start`.
pub fn start(dir: &Path, opts: StartOptions) -> Result<Started, CaseError> {
    let created_case = !dir.join(CASE_FILE).exists();
    let (mut s, recovered) = if created_case {
        (case::create(dir, opts.new_case.clone())?, Vec::new())
    } else {
        let (s, recovered, _) = super::live::open(dir, Some(opts.operator.clone()))?;
        (s, recovered)
    };
    let log = custody::read(dir).map_err(|e| io(dir, e))?;
    if let Some(open) = open_session(&log) {
        return Err(CaseError::Invalid {
            path: dir.display().to_string(),
            reason: format!(
                "session {} is open (started {} by {}); stop it first with `whohosts session stop --case {}`",
                open.number,
                open.started_utc,
                open.operator,
                dir.display()
            ),
        });
    }
    let number = sessions(&log).iter().map(|x| x.number).max().unwrap_or(0) + 1;
    let environment = s.environment()?;
    let case_bytes = std::fs::read(dir.join(CASE_FILE)).map_err(|e| io(dir, e))?;
    let case_rec = case::record_bytes(CASE_FILE, &case_bytes);
    let now = s.now();
    let statement = serde_json::json!({
        "format": "whohosts-session-start/1",
        "case_id": s.info.id,
        "session": number,
        "operator": opts.operator,
        "notary": opts.notary,
        "notary_certificate": opts.certificate,
        "time_utc": now.utc,
        "time_local": now.local,
        "case_json": case_rec,
        "environment": environment,
        "custody_head": log.head(),
    });
    let mut bytes = serde_json::to_vec_pretty(&statement).unwrap_or_default();
    bytes.push(b'\n');
    let (statement_rel, request_rel, reply_rel) = start_paths(number);
    let statement_rec = s.write_file(&statement_rel, &bytes)?;
    let digest = {
        use sha2::Digest as _;
        sha2::Sha256::digest(&bytes).to_vec()
    };
    let tsq = tsp::request(&digest, tsp::random_nonce())?;
    let request_rec = s.write_file(&request_rel, &tsq)?;
    s.append(
        "session.start",
        serde_json::json!({
            "session": number,
            "operator": opts.operator,
            "notary": opts.notary,
            "notary_certificate": opts.certificate,
            "statement": statement_rel,
            "statement_sha256": statement_rec.sha256,
            "request": request_rel,
            "tsa": opts.tsa,
        }),
        vec![statement_rec.clone(), request_rec],
    )?;
    let timestamp = opts.tsa.as_deref().map(|url| {
        let reply = tsp::send(url, &tsq)?;
        let info = tsp::inspect(&reply, &statement_rec.sha256)?;
        let rec = s.write_file(&reply_rel, &reply)?;
        s.append(
            "timestamp.reply",
            info.custody_details(serde_json::json!({
                "session": number,
                "stamps": statement_rel,
                "reply": reply_rel,
                "source": url,
            })),
            vec![rec],
        )?;
        Ok((reply_rel.clone(), info))
    });
    Ok(Started {
        session: s,
        number,
        created_case,
        statement: statement_rel,
        statement_sha256: statement_rec.sha256,
        request: request_rel,
        timestamp,
        recovered,
    })
}

/// The open session, or an error saying how to start one.
pub fn require_open(dir: &Path) -> Result<SessionRecord, CaseError> {
    let log = custody::read(dir).map_err(|e| io(dir, e))?;
    open_session(&log).ok_or_else(|| CaseError::Invalid {
        path: dir.display().to_string(),
        reason: format!(
            "no session is open in this case; start one with `whohosts session start --case {} --operator NAME`",
            dir.display()
        ),
    })
}

/// A client run about to start: its number in the session and the key log file
/// created for it (empty, so that it exists whether or not the client writes keys).
pub struct Run {
    pub session: u32,
    pub number: u32,
    pub keylog: String,
}

/// Records `session.run.start` and creates the client's TLS key log file.
pub fn run_start(
    s: &mut Session,
    session: &SessionRecord,
    argv: &[String],
    user: Option<&str>,
) -> Result<Run, CaseError> {
    let number = session.runs + 1;
    let keylog = format!(
        "sessions/session-{:04}-run-{number:02}.keylog",
        session.number
    );
    let path = s.dir.join(&keylog);
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| io(d, e))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| io(&path, e))?;
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    s.append(
        "session.run.start",
        serde_json::json!({
            "session": session.number,
            "run": number,
            "argv": argv,
            "cwd": cwd,
            "user": user,
            "sslkeylogfile": keylog,
        }),
        Vec::new(),
    )?;
    Ok(Run {
        session: session.number,
        number,
        keylog,
    })
}

/// How a client run ended.
#[derive(Clone, Debug, Serialize)]
pub struct RunEnd {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub started_utc: String,
    pub duration_secs: f64,
    /// Why the program could not be started, when it could not.
    pub error: Option<String>,
}

/// Records `session.run.end` with the key log file as the client left it.
pub fn run_end(s: &mut Session, run: &Run, end: &RunEnd) -> Result<FileRecord, CaseError> {
    let path = s.dir.join(&run.keylog);
    let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
    let rec = case::record_bytes(&run.keylog, &bytes);
    s.append(
        "session.run.end",
        serde_json::json!({
            "session": run.session,
            "run": run.number,
            "exit_code": end.exit_code,
            "signal": end.signal,
            "started_utc": end.started_utc,
            "duration_secs": end.duration_secs,
            "error": end.error,
            "tls_key_log_lines": bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count(),
        }),
        vec![rec.clone()],
    )?;
    Ok(rec)
}

/// Records `session.stop`.
pub fn record_stop(
    s: &mut Session,
    session: &SessionRecord,
    details: serde_json::Value,
    files: Vec<FileRecord>,
) -> Result<(), CaseError> {
    let mut d = details;
    // The log up to this line; the seal that follows a stop stamps the stop line itself.
    let log = custody::read(&s.dir).map_err(|e| io(&s.dir, e))?;
    if let Some(o) = d.as_object_mut() {
        o.insert("session".into(), session.number.into());
        o.insert(
            "custody_head".into(),
            serde_json::json!({ "seq": log.entries.len(), "sha256": log.head() }),
        );
    }
    s.append("session.stop", d, files)?;
    Ok(())
}

fn io(path: &Path, source: std::io::Error) -> CaseError {
    CaseError::Io {
        path: path.display().to_string(),
        source,
    }
}
