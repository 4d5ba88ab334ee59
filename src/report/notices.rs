//! The notices filed in a case and the answers to them, per provider, as plain data:
//! `evidence::notices` reads them from the case's custody log, `letter status` prints
//! them, and the HTML report made with `--case` lists them. They live here, below
//! `evidence`, so that the report needs no evidence code (ARCHITECTURE.md's order).
//!
//! Contract: plain values only (paths inside the case, hashes, RFC 3339 UTC times as
//! filed); nothing here reads a file or the clock.

use serde::Serialize;

/// A file filed in the case, by its path inside the case and its SHA-256.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Filed {
    pub path: String,
    pub sha256: String,
}

/// One notice as sent (`letter sent`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SentNotice {
    /// When it was sent, RFC 3339 UTC, as filed.
    pub at: String,
    /// The channel it went through (the form's URL, the address mailed).
    pub channel: String,
    /// The provider's ticket or case number.
    pub ticket: Option<String>,
    /// The frame the letter names (`cn`, `dmca`, `dsa`), when it says.
    pub frame: Option<String>,
    /// The exact letter sent, as filed in the case (`letters/sent/NNNN-NAME`).
    pub letter: Filed,
    /// The proof of delivery filed with it (`receipts/NNNN-NAME`).
    pub receipts: Vec<Filed>,
    /// The custody log line that records it.
    pub custody_line: u64,
}

/// One answer of a provider (`letter reply`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Answer {
    /// When it was received, RFC 3339 UTC, as filed.
    pub at: String,
    /// The answer as filed in the case (`replies/NNNN-NAME`).
    pub file: Filed,
    /// What the answer says, in the filer's words.
    pub note: Option<String>,
    pub custody_line: u64,
}

/// One provider's notices and answers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProviderStatus {
    pub provider: String,
    /// In the order of the custody log.
    pub sent: Vec<SentNotice>,
    pub replies: Vec<Answer>,
    /// Whole days from the last notice to the `as_of` time when no answer came after
    /// it (the measure of "timely" that 民法典 Art. 1195 asks of a provider); `None`
    /// once answered.
    pub days_without_answer: Option<i64>,
}

/// The notices of a case, as of a time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CaseNotices {
    /// The case's id (`case.json`).
    pub case: Option<String>,
    /// The time days are counted up to, RFC 3339 UTC.
    pub as_of: String,
    /// Providers with at least one notice sent, by id.
    pub providers: Vec<ProviderStatus>,
}
