//! NSS key log files (the `SSLKEYLOGFILE` format written by curl, Firefox, Chromium,
//! OpenSSL and others), and the same text as pcapng Decryption Secrets Blocks carry it.
//!
//! One line per secret: `LABEL <client random, 64 hex digits> <secret, hex>`.
//! TLS 1.2 uses `CLIENT_RANDOM` (the 48-byte master secret); TLS 1.3 uses
//! `CLIENT_HANDSHAKE_TRAFFIC_SECRET`, `SERVER_HANDSHAKE_TRAFFIC_SECRET`,
//! `CLIENT_TRAFFIC_SECRET_0`, `SERVER_TRAFFIC_SECRET_0`, `EXPORTER_SECRET` and
//! `CLIENT_EARLY_TRAFFIC_SECRET`. Lines starting with `#` and blank lines are skipped;
//! other labels (`RSA`, `EARLY_EXPORTER_SECRET`, ...) are counted and ignored.
//!
//! A malformed line is recorded with its line number and a shortened, escaped copy;
//! reading goes on. Bounded: lines longer than [`MAX_LINE`] are rejected, and at most
//! [`MAX_ENTRIES`] client randoms are kept (the rest recorded as one problem).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// The longest line accepted (a TLS 1.3 line with a SHA-384 secret is 31 + 1 + 64 + 1
/// + 96 = 193 characters).
pub(crate) const MAX_LINE: usize = 1024;
/// The most client randoms kept from all sources together.
pub(crate) const MAX_ENTRIES: usize = 1_000_000;
/// The most problems recorded one by one; further ones are only counted.
pub(crate) const MAX_PROBLEMS: usize = 100;

/// A TLS client random, the key of every key log entry.
pub(crate) type ClientRandom = [u8; 32];

/// The secrets logged for one client random. TLS 1.3 secrets are as long as the
/// suite's hash (32 or 48 bytes).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// TLS 1.2 (and earlier) master secret, `CLIENT_RANDOM`.
    pub master_secret: Option<[u8; 48]>,
    pub client_handshake: Option<Vec<u8>>,
    pub server_handshake: Option<Vec<u8>>,
    pub client_traffic_0: Option<Vec<u8>>,
    pub server_traffic_0: Option<Vec<u8>>,
    pub exporter: Option<Vec<u8>>,
    pub client_early: Option<Vec<u8>>,
}

impl fmt::Debug for Secrets {
    // Secrets are never printed, only which ones are present.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("master_secret", &self.master_secret.is_some())
            .field("client_handshake", &self.client_handshake.is_some())
            .field("server_handshake", &self.server_handshake.is_some())
            .field("client_traffic_0", &self.client_traffic_0.is_some())
            .field("server_traffic_0", &self.server_traffic_0.is_some())
            .field("exporter", &self.exporter.is_some())
            .field("client_early", &self.client_early.is_some())
            .finish()
    }
}

/// A line that could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where the line came from: a file name, or `pcapng DSB at offset N`.
    pub source: String,
    /// 1-based line number within the source.
    pub line: u64,
    /// What was wrong, with a shortened, escaped copy of the line.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}: {}", self.source, self.line, self.message)
    }
}

/// Secrets from any number of key log sources, keyed by client random.
#[derive(Clone, Default, Debug)]
pub struct KeyLog {
    entries: HashMap<ClientRandom, Secrets>,
    problems: Vec<Problem>,
    more_problems: u64,
    lines: u64,
    ignored: u64,
}

/// Escapes a line for a message: printable ASCII as is, the rest as `\xNN`, at most
/// 48 bytes shown.
fn shown(line: &[u8]) -> String {
    const SHOW: usize = 48;
    let mut out = String::new();
    for &b in line.iter().take(SHOW) {
        out.extend(std::ascii::escape_default(b).map(char::from));
    }
    if line.len() > SHOW {
        out.push_str(&format!("... ({} bytes)", line.len()));
    }
    out
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex digits; `None` if odd or not hex.
pub(crate) fn unhex(s: &[u8]) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks_exact(2)
        .map(|p| Some(hex_digit(p[0])? << 4 | hex_digit(p[1])?))
        .collect()
}

/// What is wrong with one key log line; each message shows the line (shortened,
/// escaped).
#[derive(Debug, thiserror::Error)]
pub(crate) enum LineError {
    #[error("line of {len} bytes, longer than {MAX_LINE}: {line}")]
    TooLong { len: usize, line: String },
    #[error("expected LABEL CLIENT_RANDOM SECRET: {line}")]
    Fields { line: String },
    #[error("client random is not 64 hex digits: {line}")]
    Random { line: String },
    #[error("secret is not 2 to 128 hex digits: {line}")]
    Secret { line: String },
    #[error("more than {MAX_ENTRIES} client randoms; line not kept")]
    TooMany,
    #[error("master secret of {len} bytes, expected 48: {line}")]
    MasterLen { len: usize, line: String },
}

impl KeyLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a key log file (`--keylog FILE`). I/O errors are returned; bad lines
    /// are recorded as [`Problem`]s.
    pub fn add_file(&mut self, path: &Path) -> std::io::Result<()> {
        // Key logs are small; one bounded read (64 MiB is ~300 000 TLS 1.3 sessions).
        use std::io::Read;
        let mut text = Vec::new();
        std::fs::File::open(path)?
            .take(64 << 20)
            .read_to_end(&mut text)?;
        self.add_text(&path.display().to_string(), &text);
        Ok(())
    }

    /// Adds the lines of one source (a file's contents, or the secrets of one
    /// pcapng Decryption Secrets Block).
    pub fn add_text(&mut self, source: &str, text: &[u8]) {
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            let number = i as u64 + 1;
            if let Err(message) = self.add_line(line) {
                self.problem(source, number, message.to_string());
            }
        }
    }

    fn problem(&mut self, source: &str, line: u64, message: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem {
                source: source.to_string(),
                line,
                message,
            });
        } else {
            self.more_problems += 1;
        }
    }

    /// Adds one line; `Err` says what is wrong with it.
    pub(crate) fn add_line(&mut self, line: &[u8]) -> Result<(), LineError> {
        if line.len() > MAX_LINE {
            return Err(LineError::TooLong {
                len: line.len(),
                line: shown(line),
            });
        }
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() || trimmed.starts_with(b"#") {
            return Ok(());
        }
        self.lines += 1;
        let mut fields = trimmed
            .split(|b| b.is_ascii_whitespace())
            .filter(|f| !f.is_empty());
        let (Some(label), Some(random), Some(secret), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(LineError::Fields { line: shown(line) });
        };
        let known: &[&[u8]] = &[
            b"CLIENT_RANDOM",
            b"CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            b"SERVER_HANDSHAKE_TRAFFIC_SECRET",
            b"CLIENT_TRAFFIC_SECRET_0",
            b"SERVER_TRAFFIC_SECRET_0",
            b"EXPORTER_SECRET",
            b"CLIENT_EARLY_TRAFFIC_SECRET",
        ];
        if !known.contains(&label) {
            // RSA, EARLY_EXPORTER_SECRET, ECH labels, ...: valid, not needed here.
            self.ignored += 1;
            return Ok(());
        }
        let random: ClientRandom = unhex(random)
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| LineError::Random { line: shown(line) })?;
        let secret = unhex(secret)
            .filter(|s| !s.is_empty() && s.len() <= 64)
            .ok_or_else(|| LineError::Secret { line: shown(line) })?;
        if !self.entries.contains_key(&random) && self.entries.len() >= MAX_ENTRIES {
            return Err(LineError::TooMany);
        }
        let master: Option<[u8; 48]> = if label == b"CLIENT_RANDOM" {
            Some(
                secret
                    .as_slice()
                    .try_into()
                    .map_err(|_| LineError::MasterLen {
                        len: secret.len(),
                        line: shown(line),
                    })?,
            )
        } else {
            None
        };
        let e = self.entries.entry(random).or_default();
        match label {
            b"CLIENT_RANDOM" => e.master_secret = master,
            b"CLIENT_HANDSHAKE_TRAFFIC_SECRET" => e.client_handshake = Some(secret),
            b"SERVER_HANDSHAKE_TRAFFIC_SECRET" => e.server_handshake = Some(secret),
            b"CLIENT_TRAFFIC_SECRET_0" => e.client_traffic_0 = Some(secret),
            b"SERVER_TRAFFIC_SECRET_0" => e.server_traffic_0 = Some(secret),
            b"EXPORTER_SECRET" => e.exporter = Some(secret),
            _ => e.client_early = Some(secret),
        }
        Ok(())
    }

    /// The secrets logged for a client random.
    pub fn get(&self, random: &ClientRandom) -> Option<&Secrets> {
        self.entries.get(random)
    }

    /// Number of client randoms with at least one secret.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Secret lines read (comments and blank lines not counted).
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Well-formed lines with a label not used for decryption.
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    /// Lines that could not be used, in order (at most [`MAX_PROBLEMS`]).
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "ad0868e87c22086e316cc15d800bae40fb0d2a687050d3b260ed9a859115684a";

    #[test]
    fn reads_tls12_and_tls13_lines_comments_and_blank_lines() {
        let text = format!(
            "# written by curl\n\nCLIENT_RANDOM {R} {}\r\nSERVER_TRAFFIC_SECRET_0 {R} {}\nRSA 0011 2233\n",
            "ab".repeat(48),
            "cd".repeat(32)
        );
        let mut k = KeyLog::new();
        k.add_text("keys", text.as_bytes());
        assert!(k.problems().is_empty(), "{:?}", k.problems());
        let r: ClientRandom = unhex(R.as_bytes()).unwrap().try_into().unwrap();
        let s = k.get(&r).unwrap();
        assert_eq!(s.master_secret, Some([0xab; 48]));
        assert_eq!(s.server_traffic_0.as_deref(), Some(&[0xcd; 32][..]));
        assert_eq!(k.len(), 1);
        assert_eq!(k.lines(), 3);
        assert_eq!(k.ignored(), 1);
    }

    #[test]
    fn bad_lines_are_reported_with_number_and_escaped() {
        let long = "A".repeat(MAX_LINE + 1);
        let text = format!(
            "CLIENT_RANDOM zz {}\nCLIENT_RANDOM {R} abcd\nonly two\n{long}\nCLIENT_RANDOM \x1b[31m {}\n",
            "ab".repeat(48),
            "ab".repeat(48)
        );
        let mut k = KeyLog::new();
        k.add_text("keys.txt", text.as_bytes());
        let p = k.problems();
        assert_eq!(p.len(), 5);
        assert_eq!(
            p.iter().map(|p| p.line).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );
        assert!(p[1].message.contains("master secret of 2 bytes"));
        assert!(p[3].message.contains("longer than"));
        assert!(p[3].message.len() < 200);
        assert!(p[4].message.contains("\\x1b"), "{}", p[4].message);
        assert!(!p[4].message.contains('\x1b'));
        assert_eq!(
            p[0].to_string(),
            format!(
                "keys.txt line 1: client random is not 64 hex digits: CLIENT_RANDOM zz abababababababababababababababa... (113 bytes)"
            )
        );
        assert!(k.is_empty());
    }

    #[test]
    fn each_bad_line_gives_its_own_error() {
        let hex = |n: usize| "ab".repeat(n);
        let mut k = KeyLog::new();
        type Expected = fn(&LineError) -> bool;
        let cases: [(String, Expected); 5] = [
            ("x".repeat(MAX_LINE + 1), |e| {
                matches!(e, LineError::TooLong { .. })
            }),
            ("only two".into(), |e| matches!(e, LineError::Fields { .. })),
            (format!("CLIENT_RANDOM zz {}", hex(48)), |e| {
                matches!(e, LineError::Random { .. })
            }),
            (format!("CLIENT_RANDOM {R} {}", hex(65)), |e| {
                matches!(e, LineError::Secret { .. })
            }),
            (format!("CLIENT_RANDOM {R} {}", hex(2)), |e| {
                matches!(e, LineError::MasterLen { len: 2, .. })
            }),
        ];
        for (line, expected) in cases {
            let err = k.add_line(line.as_bytes()).expect_err(&line);
            assert!(expected(&err), "{line}: {err:?}");
        }
        assert!(k.is_empty());
    }
}
