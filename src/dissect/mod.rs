//! dissect: sans-I/O parsers for the application protocols that name services:
//! DNS ([`dns`]), NetBIOS names ([`nbns`]), TLS ([`tls`], fingerprinted by [`ja4`]), HTTP/1.x ([`http`]) and
//! QUIC Initial packets ([`quic`]); the proxy handshakes in front of them, SOCKS
//! ([`socks`]) and HTTP `CONNECT` ([`http::authority`]); and where TLS starts after
//! a PROXY protocol header or a text protocol's STARTTLS ([`upgrade`]).
//!
//! Bytes in, small records out. No dissector touches a socket, a file or the clock.
//! Stream dissectors ([`tls::TlsStream`], [`http::HttpStream`], [`dns::TcpDnsStream`])
//! read the contiguous prefix of one TCP direction (see `crate::flow::reassembly`) and
//! answer one [`Step`] at a time: a record with the byte range of the stream that
//! carried it (so that the caller can name the frames), "need more bytes", "not mine",
//! an error, or "done".
//!
//! The loop a pipeline runs per TCP direction, after each segment:
//!
//! ```
//! use whohosts::dissect::{tls::TlsStream, Step};
//! use whohosts::flow::reassembly::{Budget, StreamPrefix};
//!
//! let mut budget = Budget::new(64 << 20); // shared by all flows
//! let mut prefix = StreamPrefix::default(); // one per direction
//! let mut tls = TlsStream::new(); // one per direction
//! prefix.push(&mut budget, 1000, b"", true, 1); // SYN seen in frame 1
//! prefix.push(&mut budget, 1001, &[22, 3, 1, 0, 200], false, 4); // a record begins
//! loop {
//!     match tls.next(prefix.contiguous()) {
//!         Step::Record { range, record } => {
//!             let _frames = prefix.frames_of(range); // provenance of the record
//!             let _ = record;
//!         }
//!         Step::Error { offset, error } => {
//!             let _frame = prefix.frame_at(offset); // anomaly with its frame
//!             let _ = error;
//!         }
//!         Step::NeedMore { .. } | Step::NotMine | Step::Done => break,
//!     }
//! }
//! ```
//!
//! Contract on bad input: no dissector panics, loops without bound or allocates more
//! than its documented cap, whatever the bytes. Malformed input is answered with an
//! error value that says what was expected, what was found and where.

pub mod dns;
pub mod h2;
pub mod http;
pub mod ja4;
pub mod nbns;
pub mod quic;
pub mod socks;
pub mod tls;
pub mod upgrade;

use serde::{Serialize, Serializer};
use std::fmt;
use std::ops::Range;

/// A string as it came off the wire: raw bytes, never interpreted.
///
/// Serialises as a JSON string with invalid UTF-8 replaced by U+FFFD (serde_json then
/// escapes control characters); `Display` escapes everything that is not printable
/// ASCII as `\xNN` (or `\u{..}` for valid non-ASCII characters), so that a hostile name
/// cannot drive a terminal. HTML or Markdown escaping is the report's job.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WireString(pub Vec<u8>);

impl WireString {
    pub fn new(bytes: &[u8]) -> Self {
        WireString(bytes.to_vec())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes as a DNS-style name compared case-insensitively: ASCII lowercased.
    pub fn to_ascii_lowercase(&self) -> WireString {
        WireString(self.0.to_ascii_lowercase())
    }
}

impl From<&str> for WireString {
    fn from(s: &str) -> Self {
        WireString(s.as_bytes().to_vec())
    }
}

impl Serialize for WireString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Valid UTF-8, nearly every name, is checked by the standard library's
        // validator (word at a time over ASCII); only the rest is replaced.
        match std::str::from_utf8(&self.0) {
            Ok(valid) => s.serialize_str(valid),
            Err(_) => s.serialize_str(&String::from_utf8_lossy(&self.0)),
        }
    }
}

impl fmt::Display for WireString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    ' '..='~' if c != '\\' => write!(f, "{c}")?,
                    '\\' => f.write_str("\\\\")?,
                    c if c.is_ascii() => write!(f, "\\x{:02x}", c as u32)?,
                    c => write!(f, "\\u{{{:x}}}", c as u32)?,
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for WireString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// One answer of a stream dissector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step<T, E> {
    /// A record, carried by bytes `range` of the direction's stream (offsets from the
    /// first payload byte). Ask `StreamPrefix::frames_of(range)` for its frames.
    Record { range: Range<usize>, record: T },
    /// The stream must grow before anything more can be said; `need` is the total
    /// stream length required, when the protocol says it.
    NeedMore { need: Option<usize> },
    /// This stream is not this protocol; the dissector will answer `NotMine` from now on.
    NotMine,
    /// Malformed input at `offset` of the stream; the dissector stops (answers `Done`
    /// afterwards) unless the error says otherwise.
    Error { offset: usize, error: E },
    /// Nothing more will come out of this stream (encrypted part reached, cap hit,
    /// or the protocol cannot be followed further).
    Done,
}

/// Checked big-endian reader over a byte slice: every read is bounds-checked and
/// answers `None` past the end, so parsers written with `?` cannot panic.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1).and_then(|s| s.first().copied())
    }
    pub(crate) fn u16(&mut self) -> Option<u16> {
        let s = self.take(2)?;
        Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
    }
    pub(crate) fn u24(&mut self) -> Option<u32> {
        let s = self.take(3)?;
        Some(u32::from_be_bytes([0, *s.first()?, *s.get(1)?, *s.get(2)?]))
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        let s = self.take(4)?;
        Some(u32::from_be_bytes([
            *s.first()?,
            *s.get(1)?,
            *s.get(2)?,
            *s.get(3)?,
        ]))
    }
    /// QUIC variable-length integer (RFC 9000 §16).
    pub(crate) fn varint(&mut self) -> Option<u64> {
        let first = self.u8()?;
        let len = 1usize << (first >> 6);
        let mut v = u64::from(first & 0x3f);
        for _ in 1..len {
            v = (v << 8) | u64::from(self.u8()?);
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_string_display_escapes_control_and_invalid_bytes() {
        let w = WireString(b"a\x1b[31m\\\xff\xc3\xa9".to_vec());
        assert_eq!(w.to_string(), "a\\x1b[31m\\\\\\xff\\u{e9}");
    }

    #[test]
    fn wire_string_serialises_lossily_as_json_string() {
        let w = WireString(b"ex\xffample\n".to_vec());
        assert_eq!(serde_json::to_string(&w).unwrap(), "\"ex\u{fffd}ample\\n\"");
    }

    #[test]
    fn reader_answers_none_past_the_end() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), Some(0x0102));
        assert_eq!(r.u16(), None);
        assert_eq!(r.u8(), Some(3));
        assert_eq!(r.take(usize::MAX), None);
    }

    #[test]
    fn reader_reads_quic_varints_from_rfc9000_appendix_a1() {
        // RFC 9000 Appendix A.1 sample encodings.
        let mut r = Reader::new(&[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c]);
        assert_eq!(r.varint(), Some(151_288_809_941_952_652));
        let mut r = Reader::new(&[0x9d, 0x7f, 0x3e, 0x7d]);
        assert_eq!(r.varint(), Some(494_878_333));
        let mut r = Reader::new(&[0x7b, 0xbd]);
        assert_eq!(r.varint(), Some(15_293));
        let mut r = Reader::new(&[0x25]);
        assert_eq!(r.varint(), Some(37));
    }
}
