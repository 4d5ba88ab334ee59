//! Evidence packages: hashing, case directories, the chained custody log, manifests,
//! RFC 3161 time-stamps, notary sheets and offline verification.
//!
//! A case directory looks like this (every name is fixed, nothing is ever rewritten):
//!
//! ```text
//! CASE/
//!   case.json                       case id, title, rights holder, operator, notary, time zone
//!   custody.jsonl                   append-only custody log, each line chained to the previous
//!   captures/  reports/  letters/   evidence files, copied in by `case add`
//!   letters/sent/ receipts/ replies/  notices as sent, proofs of delivery, answers
//!                                   (`letter sent`, `letter reply`; see [`notices`])
//!   environment/0001-<time>.json    the machine facts of each working session
//!   manifests/manifest-vN.json      version N of the manifest, one per seal
//!   attachments/ certificates/ recordings/ receipts/   other evidence, by `case add --kind`
//!   trusted-tsa.pem                 TSA certificates or CAs this case trusts (optional)
//!   timestamps/seal-vN.json         seal N's statement: manifest-vN and the seal's custody line
//!   timestamps/manifest-vN.tsq      RFC 3161 request over SHA-256 of seal-vN.json
//!   timestamps/manifest-vN.tsr      the TSA's reply, when one was obtained
//!   sheets/sheet-vN.md, .html       the notary summary sheet of seal N (zh-CN, then English)
//! ```
//!
//! Anchoring: a hash chain shows that no line changed relative to the lines after it,
//! but not that the last lines are the ones written. So a seal's custody line is the
//! last line of the seal: the sheets, the statement (binding the manifest and that
//! line's hash), its request and the TSA's reply come after it and vouch for
//! themselves, and the time-stamp covers the whole log. [`verify`] calls lines after
//! the last anchor (a trusted time-stamp, or a hash given with `--anchor`) "not yet
//! anchored" and never calls such a case fully verified.
//!
//! There is no mutable top-level `manifest.json`: a seal never replaces an earlier one,
//! it adds `manifests/manifest-v(N+1).json`, which lists every file present at that
//! moment (including earlier manifests and time-stamps) except `custody.jsonl`, and
//! records the hash of the custody line it follows. Every file the tool writes is also
//! recorded with its hash in the custody entry that wrote it, so [`verify`] can account
//! for every file, sealed or not.
//!
//! Contract: nothing here overwrites a file. New files are written to a temporary name
//! in the same directory, synced, and hard-linked into place, which fails if the name
//! exists.

pub mod case;
pub mod custody;
pub(crate) mod environment;
pub mod export;
pub mod info;
pub mod live;
pub mod manifest;
pub mod notices;
pub mod session;
pub mod sheet;
pub mod tsp;
pub mod verify;

/// Hashing is a stage of its own (`crate::hash`), used by capture as well; it is
/// reachable here too, where the evidence modules use it.
pub use crate::hash;

pub use crate::times::{parse_offset, parse_rfc3339, Now};

pub use crate::atomic::{write_new, write_new_with};

#[cfg(test)]
mod tests {
    use super::*;
    use time::{OffsetDateTime, UtcOffset};

    #[test]
    fn offsets_parse_in_the_usual_spellings() {
        assert_eq!(parse_offset("+08:00"), UtcOffset::from_hms(8, 0, 0).ok());
        assert_eq!(parse_offset("-0530"), UtcOffset::from_hms(-5, -30, 0).ok());
        assert_eq!(parse_offset("UTC"), Some(UtcOffset::UTC));
        assert_eq!(parse_offset("Asia/Shanghai"), None);
        assert_eq!(parse_offset("+25:00"), None);
    }

    #[test]
    fn write_new_refuses_to_replace_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/a.txt");
        write_new(&p, b"one").unwrap();
        let err = write_new(&p, b"two").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn local_time_carries_the_case_offset() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let now = Now::at(t, UtcOffset::from_hms(8, 0, 0).unwrap());
        assert_eq!(now.utc, "2023-11-14T22:13:20.000000000Z");
        assert_eq!(now.local, "2023-11-15T06:13:20.000000000+08:00");
        assert_eq!(parse_rfc3339(&now.utc), Some(1_700_000_000));
        assert_eq!(now.compact, "20231114T221320Z");
        assert_eq!(parse_rfc3339(&now.local), Some(1_700_000_000));
    }
}
