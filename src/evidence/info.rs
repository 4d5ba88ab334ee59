//! `case.json`: who and what a case is about, written once by `case new` and read by
//! every command that touches the case.
//!
//! Contract: a missing or malformed `case.json` is a [`NotACase`] error naming the
//! directory, never a panic.

use serde::{Deserialize, Serialize};
use std::path::Path;

pub const CASE_FILE: &str = "case.json";
pub(crate) const FORMAT: &str = "whohosts-case/1";

/// `case.json`: who and what the case is about. Written once, never changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseInfo {
    pub format: String,
    pub id: String,
    pub title: String,
    pub rights_holder: String,
    pub operator: String,
    #[serde(default)]
    pub notary: Option<String>,
    #[serde(default)]
    pub notary_certificate: Option<String>,
    /// Fixed UTC offset such as `+08:00` (see [`super::parse_offset`]).
    pub time_zone: String,
    pub created_utc: String,
}

/// The directory is not a case: `case.json` is missing or does not parse.
#[derive(Debug, thiserror::Error)]
#[error("{path}: not a case directory ({reason})")]
pub struct NotACase {
    pub path: String,
    pub reason: String,
}

/// Reads `case.json`.
pub(crate) fn load_info(dir: &Path) -> Result<CaseInfo, NotACase> {
    let path = dir.join(CASE_FILE);
    let bytes = std::fs::read(&path).map_err(|e| NotACase {
        path: dir.display().to_string(),
        reason: format!("reading {CASE_FILE}: {e}"),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| NotACase {
        path: dir.display().to_string(),
        reason: format!("{CASE_FILE}: {e}"),
    })
}
