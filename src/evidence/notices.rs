//! Notices sent and answers received, filed in a case: what was sent to whom, when,
//! through which channel, with which proof of delivery, and what came back (the
//! founding appeal turned on whether the provider was duly notified, when, and what
//! it did; 民法典 Art. 1195 asks a provider to act in time).
//!
//! `sent` copies the exact letter into `letters/sent/`, each receipt into `receipts/`
//! (the copy re-hashed against the source), and enters them with the channel, ticket
//! and time in the custody log (`letter.sent`); `reply` files an answer in `replies/`
//! (`letter.reply`); `status` reads the custody log back. A re-sent or amended notice
//! is a new entry and a new file, never a rewrite.
//!
//! Contract: nothing is overwritten (every file gets a new numbered name); file names
//! from the command line are reduced to `[A-Za-z0-9._-]`; a time that does not parse
//! as RFC 3339 is an error, never the clock instead.

use super::case::{CaseError, Session};
use super::custody::{self, FileRecord};
use std::collections::BTreeMap;
use std::path::Path;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A file name reduced to letters, digits, `.`, `_` and `-` (at most 80 bytes).
fn safe_name(path: &Path) -> String {
    let raw = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    if out.trim_matches('.').is_empty() {
        out = "file".into();
    }
    out.trim_start_matches('.').to_string()
}

/// The first free `DIR/NNNN-NAME` in the case.
fn numbered(case: &Path, dir: &str, name: &str) -> Result<String, CaseError> {
    let full = case.join(dir);
    std::fs::create_dir_all(&full).map_err(|source| CaseError::Io {
        path: full.display().to_string(),
        source,
    })?;
    for n in 1..100_000u32 {
        let rel = format!("{dir}/{n:04}-{name}");
        if case.join(&rel).symlink_metadata().is_err() {
            return Ok(rel);
        }
    }
    Err(CaseError::Invalid {
        path: dir.to_string(),
        reason: "no free file number".into(),
    })
}

/// Copies `src` into the case as a new file and checks the copy against the bytes read.
fn file_in(s: &Session, dir: &str, src: &Path) -> Result<FileRecord, CaseError> {
    let bytes = std::fs::read(src).map_err(|source| CaseError::Io {
        path: src.display().to_string(),
        source,
    })?;
    let rel = numbered(&s.dir, dir, &safe_name(src))?;
    let rec = s.write_file(&rel, &bytes)?;
    let again = std::fs::read(s.dir.join(&rel)).map_err(|source| CaseError::Io {
        path: rel.clone(),
        source,
    })?;
    let found = crate::hash::sha256_hex(&again);
    if found != rec.sha256 {
        return Err(CaseError::CopyMismatch {
            source_path: src.display().to_string(),
            algorithm: "SHA-256",
            expected: rec.sha256,
            found,
        });
    }
    Ok(rec)
}

/// Parses `--at`: RFC 3339 with an offset; returned as RFC 3339 UTC.
pub fn parse_time(text: &str) -> Result<String, CaseError> {
    let t = OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|e| CaseError::Invalid {
        path: "--at".into(),
        reason: format!("{text:?} is not an RFC 3339 time with an offset ({e})"),
    })?;
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .map_err(|e| CaseError::Invalid {
            path: "--at".into(),
            reason: e.to_string(),
        })
}

/// What `letter sent` is told.
pub struct Sent<'a> {
    pub letter: &'a Path,
    pub channel: &'a str,
    pub receipts: &'a [std::path::PathBuf],
    pub ticket: Option<&'a str>,
    /// RFC 3339; the clock when `None`.
    pub at: Option<&'a str>,
    /// The provider, when neither the letter's marker nor its file name says it.
    pub provider: Option<&'a str>,
}

/// The provider and frame of a file named as `letter` writes them
/// (`PROVIDER.FRAME.md|html|txt`).
fn from_file_name(path: &Path) -> (Option<String>, Option<String>) {
    let name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parts: Vec<&str> = name.split('.').collect();
    match parts.as_slice() {
        [p, f, "md" | "html" | "txt"] if matches!(*f, "cn" | "dmca" | "dsa") => {
            (Some((*p).to_string()), Some((*f).to_string()))
        }
        _ => (None, None),
    }
}

/// The provider and frame a letter names in its `whohosts:letter` marker.
fn letter_marker(text: &str) -> (Option<String>, Option<String>) {
    let Some(start) = text.find("<!-- whohosts:letter ") else {
        return (None, None);
    };
    let rest = text.get(start..).unwrap_or("");
    let end = rest.find("-->").unwrap_or(rest.len());
    let mut provider = None;
    let mut frame = None;
    for kv in rest.get(..end).unwrap_or("").split_whitespace() {
        if let Some(v) = kv.strip_prefix("provider=") {
            provider = Some(v.to_string());
        }
        if let Some(v) = kv.strip_prefix("frame=") {
            frame = Some(v.to_string());
        }
    }
    (provider, frame)
}

/// Files a sent letter and its proof of delivery; returns the custody entry's number.
pub fn sent(s: &mut Session, what: &Sent<'_>) -> Result<u64, CaseError> {
    let text = std::fs::read_to_string(what.letter).map_err(|source| CaseError::Io {
        path: what.letter.display().to_string(),
        source,
    })?;
    let (marked, marked_frame) = letter_marker(&text);
    let (named, named_frame) = from_file_name(what.letter);
    let frame = marked_frame.or(named_frame);
    let provider = what
        .provider
        .map(String::from)
        .or(marked)
        .or(named)
        .ok_or_else(|| CaseError::Invalid {
            path: what.letter.display().to_string(),
            reason: "which provider? neither a `whohosts:letter` marker nor a PROVIDER.FRAME file name names it; give --provider".into(),
        })?;
    let at = match what.at {
        Some(t) => parse_time(t)?,
        None => s.now().utc,
    };
    let letter = file_in(s, "letters/sent", what.letter)?;
    let mut files = vec![letter.clone()];
    for r in what.receipts {
        files.push(file_in(s, "receipts", r)?);
    }
    let (entry, _) = s.append(
        "letter.sent",
        serde_json::json!({
            "provider": provider,
            "frame": frame,
            "letter": letter.path,
            "letter_sha256": letter.sha256,
            "channel": what.channel,
            "ticket": what.ticket,
            "sent_utc": at,
            "receipts": files.iter().skip(1).map(|f| f.path.clone()).collect::<Vec<_>>(),
        }),
        files,
    )?;
    Ok(entry.seq)
}

/// Files a provider's answer.
pub fn reply(
    s: &mut Session,
    provider: &str,
    file: &Path,
    at: Option<&str>,
    note: Option<&str>,
) -> Result<u64, CaseError> {
    let at = match at {
        Some(t) => parse_time(t)?,
        None => s.now().utc,
    };
    let rec = file_in(s, "replies", file)?;
    let (entry, _) = s.append(
        "letter.reply",
        serde_json::json!({
            "provider": provider,
            "reply": rec.path,
            "received_utc": at,
            "note": note,
        }),
        vec![rec],
    )?;
    Ok(entry.seq)
}

pub use crate::report::notices::{Answer, CaseNotices, Filed, ProviderStatus, SentNotice};

/// Every provider's notices and answers, as of `now` (RFC 3339; the clock by default),
/// from the custody log; providers with a notice sent, by id.
pub fn status(case: &Path, now: &str) -> Result<Vec<ProviderStatus>, CaseError> {
    Ok(case_notices(case, now)?.providers)
}

/// The case's notices as the HTML report lists them: its id, the time days are
/// counted up to, and every provider's notices and answers.
pub fn case_notices(case: &Path, now: &str) -> Result<CaseNotices, CaseError> {
    let log = custody::read(case).map_err(|source| CaseError::Io {
        path: case.display().to_string(),
        source,
    })?;
    let now_t = OffsetDateTime::parse(now, &Rfc3339).map_err(|e| CaseError::Invalid {
        path: "--now".into(),
        reason: format!("{now:?} is not an RFC 3339 time with an offset ({e})"),
    })?;
    let as_of = now_t
        .to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .map_err(|e| CaseError::Invalid {
            path: "--now".into(),
            reason: e.to_string(),
        })?;
    let mut by: BTreeMap<String, ProviderStatus> = BTreeMap::new();
    let text = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(String::from);
    for (e, _) in &log.entries {
        let d = &e.details;
        let Some(p) = text(d, "provider") else {
            continue;
        };
        // A file of the entry by its path, with the hash the entry recorded.
        let filed = |path: String| Filed {
            sha256: e
                .files
                .iter()
                .find(|f| f.path == path)
                .map(|f| f.sha256.clone())
                .unwrap_or_default(),
            path,
        };
        match e.action.as_str() {
            "letter.sent" => {
                let letter = text(d, "letter").unwrap_or_default();
                let mut letter = filed(letter);
                if let Some(h) = text(d, "letter_sha256") {
                    letter.sha256 = h;
                }
                let receipts = d
                    .get("receipts")
                    .and_then(|r| r.as_array())
                    .map(|r| {
                        r.iter()
                            .filter_map(|x| x.as_str())
                            .map(|x| filed(x.to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                entry_for(&mut by, &p).sent.push(SentNotice {
                    at: text(d, "sent_utc").unwrap_or_else(|| e.time_utc.clone()),
                    channel: text(d, "channel").unwrap_or_default(),
                    ticket: text(d, "ticket"),
                    frame: text(d, "frame"),
                    letter,
                    receipts,
                    custody_line: e.seq,
                });
            }
            "letter.reply" => entry_for(&mut by, &p).replies.push(Answer {
                at: text(d, "received_utc").unwrap_or_else(|| e.time_utc.clone()),
                file: filed(text(d, "reply").unwrap_or_default()),
                note: text(d, "note"),
                custody_line: e.seq,
            }),
            _ => {}
        }
    }
    let parse = |t: &str| OffsetDateTime::parse(t, &Rfc3339).ok();
    let mut providers: Vec<ProviderStatus> =
        by.into_values().filter(|s| !s.sent.is_empty()).collect();
    for st in &mut providers {
        let last_sent = st.sent.iter().filter_map(|s| parse(&s.at)).max();
        let last_reply = st.replies.iter().filter_map(|r| parse(&r.at)).max();
        st.days_without_answer = match (last_sent, last_reply) {
            (Some(s), Some(r)) if r >= s => None,
            (Some(s), _) => Some((now_t - s).whole_days()),
            _ => None,
        };
    }
    Ok(CaseNotices {
        case: super::info::load_info(case).ok().map(|i| i.id),
        as_of,
        providers,
    })
}

fn entry_for<'a>(by: &'a mut BTreeMap<String, ProviderStatus>, p: &str) -> &'a mut ProviderStatus {
    by.entry(p.to_string()).or_insert_with(|| ProviderStatus {
        provider: p.to_string(),
        ..ProviderStatus::default()
    })
}

/// Rows for the notary sheet: each notice sent (with the exact letter's SHA-256 and
/// its proof of delivery) and each answer filed, in the order of the custody log (no
/// clock: the same log gives the same rows). Entries after custody line `sealed` (the
/// sheet's seal) are labelled as filed after it: that seal does not cover them.
pub fn sheet_rows(case: &Path, sealed: u64) -> Vec<(String, String)> {
    let Ok(log) = custody::read(case) else {
        return Vec::new();
    };
    let text = |v: &serde_json::Value, k: &str| {
        v.get(k).and_then(|x| x.as_str()).unwrap_or("-").to_string()
    };
    let mut rows = Vec::new();
    for (e, _) in &log.entries {
        let d = &e.details;
        let after = e.seq > sealed;
        let label = |base: &str| {
            if after {
                format!("{base} after this seal")
            } else {
                base.to_string()
            }
        };
        let line = if after {
            format!(" (custody line {}, not covered by this seal)", e.seq)
        } else {
            format!(" (custody line {})", e.seq)
        };
        match e.action.as_str() {
            "letter.sent" => {
                let receipts: Vec<String> = d
                    .get("receipts")
                    .and_then(|r| r.as_array())
                    .map(|r| {
                        r.iter()
                            .filter_map(|x| x.as_str())
                            .map(|x| {
                                let hash = e
                                    .files
                                    .iter()
                                    .find(|f| f.path == x)
                                    .map_or("-", |f| f.sha256.as_str());
                                format!("{x} (SHA-256 {hash})")
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                rows.push((
                    label("Notice sent"),
                    format!(
                        "{} at {} through {}{}: {} (SHA-256 {}); proof of delivery: {}{line}",
                        text(d, "provider"),
                        d.get("sent_utc")
                            .and_then(|x| x.as_str())
                            .unwrap_or(&e.time_utc),
                        text(d, "channel"),
                        d.get("ticket")
                            .and_then(|x| x.as_str())
                            .map(|t| format!(" (ticket {t})"))
                            .unwrap_or_default(),
                        text(d, "letter"),
                        text(d, "letter_sha256"),
                        if receipts.is_empty() {
                            "none filed".to_string()
                        } else {
                            receipts.join(", ")
                        },
                    ),
                ))
            }
            "letter.reply" => rows.push((
                label("Provider answer"),
                format!(
                    "{} at {}: {} (SHA-256 {}){line}",
                    text(d, "provider"),
                    d.get("received_utc")
                        .and_then(|x| x.as_str())
                        .unwrap_or(&e.time_utc),
                    text(d, "reply"),
                    e.files.first().map_or("-", |f| f.sha256.as_str()),
                ),
            )),
            _ => {}
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_from_the_command_line_are_made_safe() {
        assert_eq!(safe_name(Path::new("/x/receipt 1.pdf")), "receipt_1.pdf");
        assert_eq!(safe_name(Path::new("../..")), "file");
        assert_eq!(safe_name(Path::new("a/\u{202e}fdp.exe")), "_fdp.exe");
    }

    #[test]
    fn times_must_be_rfc3339() {
        assert_eq!(
            parse_time("2026-11-22T10:00:00+08:00").ok().as_deref(),
            Some("2026-11-22T02:00:00Z")
        );
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn the_file_name_names_the_provider_of_a_plain_text_letter() {
        let (p, f) = from_file_name(Path::new("out/tencent.cn.txt"));
        assert_eq!((p.as_deref(), f.as_deref()), (Some("tencent"), Some("cn")));
        assert_eq!(from_file_name(Path::new("x.txt")), (None, None));
    }

    #[test]
    fn the_marker_names_the_provider() {
        let (p, f) =
            letter_marker("<!-- whohosts:letter frame=cn provider=alibaba model=hosting -->\n");
        assert_eq!(p.as_deref(), Some("alibaba"));
        assert_eq!(f.as_deref(), Some("cn"));
    }
}
