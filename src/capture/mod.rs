//! Capture files in, borrowed frames out.
//!
//! [`open`] opens a pcap or pcapng file, optionally gzip- or zstd-compressed, and
//! returns a [`CaptureReader`] that lends one frame at a time (the `next` / consume /
//! refill loop of pcap-parser, over a window of bytes). The file's SHA-256 is
//! computed from the very bytes the reader consumes, on another thread ([`hashing`]),
//! so hashing costs no second pass. An uncompressed file's window is the reading
//! thread's own buffers, taken over in turn: only the start of a record cut by a
//! buffer's end is moved, into the room in front of the next.
//!
//! Contract on bad input: the reader never panics and never allocates more than its
//! bounded buffer (two records of [`MAX_RECORD`] plus slack, when a record whose
//! length lies is checked for one inside it). A truncated file, a record whose length
//! lies, an unknown link type or block becomes an [`Anomaly`] with the frame number and
//! byte offset, and reading resumes at the next plausible record when one can be found.
//! Offsets are positions in the decompressed capture stream.
//!
//! pcap-parser parses the file header and the pcapng blocks; record framing (finding
//! where each record starts and whether its length is plausible) is done here, because
//! recovering from a lying length needs to look at the bytes around it.

pub mod follow;
pub mod hashing;
pub mod live;
mod pcap;
mod pcapng;
pub mod write;

pub use pcap::ShortHeader;

use crate::model::{Anomaly, Severity, Timestamp};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

/// Largest record accepted (Wireshark's `WTAP_MAX_PACKET_SIZE_STANDARD`); a record
/// claiming more is treated as a lying length.
pub const MAX_RECORD: usize = 262_144;

/// Largest pcapng block accepted: a packet of [`MAX_RECORD`] bytes plus generous room
/// for options.
const MAX_BLOCK: usize = MAX_RECORD + 65_536;

/// How far (in bytes) the reader scans for the next plausible record after damage.
const MAX_RESYNC_SCAN: u64 = 64 << 20;

/// Errors that stop reading a capture before its first frame. Damage found later is
/// reported as anomalies instead.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot open {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: not a pcap or pcapng capture (first bytes {magic})")]
    NotACapture { path: PathBuf, magic: String },
    #[error("{path}: {source}")]
    BadHeader {
        path: PathBuf,
        source: pcap::ShortHeader,
    },
    #[error("{path}: cannot spool records to a temporary file (TMPDIR): {source}")]
    Spool { path: PathBuf, source: io::Error },
    #[error(
        "{path}: cannot read the DNS answers back from their temporary file (TMPDIR): {source}"
    )]
    Bindings { path: PathBuf, source: io::Error },
    #[error("{given} captures given: one analysis takes at most {max}")]
    TooMany { given: usize, max: usize },
}

/// The container format as found in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// A data link type number (LINKTYPE_*, tcpdump.org), with a name for known ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    pub(crate) const NULL: LinkType = LinkType(0);
    pub(crate) const ETHERNET: LinkType = LinkType(1);
    pub(crate) const RAW: LinkType = LinkType(101);
    pub(crate) const LOOP: LinkType = LinkType(108);
    pub(crate) const LINUX_SLL: LinkType = LinkType(113);
    pub(crate) const IPV4: LinkType = LinkType(228);
    pub(crate) const IPV6: LinkType = LinkType(229);
    pub(crate) const LINUX_SLL2: LinkType = LinkType(276);

    /// The LINKTYPE_ name used by libpcap, or `LINKTYPE_<n>` for others.
    pub fn name(self) -> String {
        let known = match self {
            LinkType::NULL => "NULL",
            LinkType::ETHERNET => "ETHERNET",
            // DLT_RAW's older numbers on some systems.
            LinkType(12 | 14) | LinkType::RAW => "RAW",
            LinkType::LOOP => "LOOP",
            LinkType::LINUX_SLL => "LINUX_SLL",
            LinkType::IPV4 => "IPV4",
            LinkType::IPV6 => "IPV6",
            LinkType::LINUX_SLL2 => "LINUX_SLL2",
            LinkType(9) => "PPP",
            LinkType(50) => "PPP_HDLC",
            LinkType(51) => "PPP_ETHER",
            LinkType(7) => "ARCNET_BSD",
            LinkType(104) => "C_HDLC",
            LinkType(105) => "IEEE802_11",
            LinkType(107) => "FRELAY",
            LinkType(127) => "IEEE802_11_RADIOTAP",
            LinkType(129) => "ARCNET_LINUX",
            LinkType(167) => "JUNIPER_PPPOE",
            LinkType(178) => "JUNIPER_ETHER",
            LinkType(179) => "JUNIPER_PPP",
            LinkType(180) => "JUNIPER_FRELAY",
            LinkType(181) => "JUNIPER_CHDLC",
            LinkType(192) => "PPI",
            LinkType(206) => "FRELAY_WITH_DIR",
            LinkType(226) => "IPNET",
            LinkType(239) => "NFLOG",
            LinkType(242) => "IPOIB",
            LinkType(258) => "PKTAP",
            _ => return format!("LINKTYPE_{}", self.0),
        };
        known.to_string()
    }
}

impl serde::Serialize for LinkType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// One frame, borrowed from the reader's buffer until the next call.
#[derive(Debug)]
pub struct Frame<'a> {
    /// 1-based frame number, as Wireshark numbers frames.
    pub number: u64,
    /// Offset of the frame's record (header included) in the capture stream.
    pub offset: u64,
    pub ts: Timestamp,
    pub link_type: LinkType,
    /// Length of the frame on the wire (`frame.len` in Wireshark).
    pub wire_len: u32,
    /// The captured bytes (may be shorter than `wire_len`).
    pub data: &'a [u8],
}

/// Summary of what a reader saw, available once it has finished.
#[derive(Clone, Debug, Default)]
pub struct ReadSummary {
    pub link_types: Vec<LinkType>,
    pub sections: u32,
    pub interfaces: u32,
    /// pcapng: blocks read whole, with both lengths agreeing (0 for pcap).
    pub blocks: u64,
    /// pcapng: the offset just past the last such block (0 for pcap).
    pub complete_to: u64,
}

/// Which container the capture uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Pcap,
    Pcapng,
}

/// Smallest read worth issuing; below this the window shifts first.
const MIN_READ: usize = 256 << 10;

/// What a window reads from.
pub(crate) enum Input {
    /// An uncompressed file, read by the reading thread: its buffers are taken over
    /// whole, not copied.
    Chunks(hashing::ChunkReader),
    /// Any other stream (a decompressor, a stream given by the caller), copied in.
    Stream(Box<dyn Read + Send>),
}

/// The buffer the readers frame records from, with the stream offset of its start.
pub(crate) struct Window {
    source: Input,
    held: Held,
    /// Stream offset of `held.buf[held.start]`.
    pos: u64,
    eof: bool,
    /// The read error that ended the stream, if any (a corrupt gzip stream, say).
    error: Option<io::Error>,
}

/// The bytes a window holds: `buf[start..end]` not consumed yet.
struct Held {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Window {
    fn new(source: Input) -> Self {
        // A window over chunks lives in the chunks' buffers.
        let buf = match source {
            Input::Chunks(_) => Vec::new(),
            Input::Stream(_) => vec![0; 1 << 20],
        };
        Window {
            source,
            held: Held {
                buf,
                start: 0,
                end: 0,
            },
            pos: 0,
            eof: false,
            error: None,
        }
    }

    /// The bytes available from the current position.
    pub(crate) fn data(&self) -> &[u8] {
        let h = &self.held;
        h.buf.get(h.start..h.end).unwrap_or(&[])
    }

    /// Stream offset of the current position.
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.held.len());
        self.held.start += n;
        self.pos += n as u64;
    }

    /// Makes at least `want` bytes available, unless the stream ends first; returns
    /// how many are available. `want` is capped by the caller to a bounded size.
    pub(crate) fn fill(&mut self, want: usize) -> usize {
        while self.held.len() < want && !self.eof {
            let read = match &mut self.source {
                Input::Chunks(chunks) => match chunks.next_chunk() {
                    Some(Ok((chunk, at))) => {
                        let n = chunk.len() - at;
                        chunks.recycle(self.held.take(chunk, at));
                        Ok(n)
                    }
                    Some(Err(e)) => Err(e),
                    None => Ok(0),
                },
                Input::Stream(source) => self.held.read_from(source, want),
            };
            match read {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error = Some(e);
                    self.eof = true;
                }
            }
        }
        self.held.len()
    }

    /// The last `n` bytes consumed: a frame's data, valid until the next `fill`.
    pub(crate) fn consumed_slice(&self, n: usize) -> &[u8] {
        let h = &self.held;
        h.buf.get(h.start.saturating_sub(n)..h.start).unwrap_or(&[])
    }

    fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }
}

impl Held {
    fn len(&self) -> usize {
        self.end - self.start
    }

    /// Moves the unread bytes to the front of the buffer.
    fn shift(&mut self) {
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
    }

    /// Goes on into `chunk[at..]`: the unread bytes are moved in front of it when they
    /// fit there (the usual case: they are the start of one record), else the chunk
    /// is copied behind them. Returns the buffer no longer needed.
    fn take(&mut self, mut chunk: Vec<u8>, at: usize) -> Vec<u8> {
        let unread = self.len();
        if unread <= at {
            let front = at - unread;
            chunk[front..at].copy_from_slice(&self.buf[self.start..self.end]);
            self.start = front;
            self.end = chunk.len();
            return std::mem::replace(&mut self.buf, chunk);
        }
        let data = &chunk[at..];
        if self.start > 0 && self.buf.len() - self.end < data.len() {
            self.shift();
        }
        if self.buf.len() < self.end + data.len() {
            self.buf.resize(self.end + data.len(), 0);
        }
        self.buf[self.end..self.end + data.len()].copy_from_slice(data);
        self.end += data.len();
        chunk
    }

    /// Reads from `source` into the free end of the buffer: the bytes read, 0 at the
    /// end of the stream.
    fn read_from(&mut self, source: &mut dyn Read, want: usize) -> io::Result<usize> {
        // Shift when the request would not fit or the free space left is too small
        // for an efficient read.
        if self.start > 0
            && (self.buf.len() - self.start < want || self.buf.len() - self.end < MIN_READ)
        {
            self.shift();
        }
        // Grows only for requests beyond the initial size (bounded by the largest
        // record or block the readers accept).
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        let n = source.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }
}

/// The contents of one pcapng Decryption Secrets Block (pcapng §4.7), as
/// `editcap --inject-secrets` writes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecryptionSecrets {
    /// File offset of the block.
    pub offset: u64,
    /// Secrets type: [`DecryptionSecrets::TLS_KEY_LOG`] for an NSS key log,
    /// others (WireGuard, ZigBee, ...) are passed on as they are.
    pub secrets_type: u32,
    pub data: Vec<u8>,
}

impl DecryptionSecrets {
    /// `TLSK`: the secrets are NSS key log lines.
    pub const TLS_KEY_LOG: u32 = 0x544c_534b;
}

/// Reads frames from one capture. Created by [`open`].
pub struct CaptureReader {
    inner: Inner,
    anomalies: Vec<Anomaly>,
}

enum Inner {
    Pcap(pcap::PcapReader),
    Pcapng(pcapng::PcapngReader),
}

/// An opened capture: its reader, and the digest that completes when reading ends.
pub struct OpenCapture {
    pub path: PathBuf,
    pub format: Format,
    pub compression: Compression,
    pub reader: CaptureReader,
    pub digest: hashing::PendingDigest,
}

/// Opens a capture file, detects compression and format, and starts hashing the raw
/// file bytes as they are read. `capture` is the index used in frame references.
pub fn open(
    path: &Path,
    capture: u32,
    algos: crate::hash::Algorithms,
) -> Result<OpenCapture, CaptureError> {
    open_counted(path, capture, algos, None)
}

/// [`open`], adding the file bytes read to `progress` as they are read.
pub(crate) fn open_counted(
    path: &Path,
    capture: u32,
    algos: crate::hash::Algorithms,
    progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
) -> Result<OpenCapture, CaptureError> {
    let file = File::open(path).map_err(|source| CaptureError::Open {
        path: path.to_owned(),
        source,
    })?;
    let (mut tee, digest) =
        hashing::read_ahead_counted(file, algos, progress).map_err(|source| {
            CaptureError::Read {
                path: path.to_owned(),
                source,
            }
        })?;
    // Peek at the first bytes to recognise a compressed file; they are put back in
    // front of the stream, so every byte is read (and hashed) exactly once.
    let mut head = [0u8; 4];
    let mut have = 0;
    while have < head.len() {
        match tee.read(&mut head[have..]) {
            Ok(0) => break,
            Ok(n) => have += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(CaptureError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        }
    }
    let peeked = head.get(..have).unwrap_or(&[]).to_vec();
    let compression = match peeked.as_slice() {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        _ => Compression::None,
    };
    // An uncompressed file is framed from the reading thread's own buffers, the
    // peeked bytes put back in front of them.
    let input = match compression {
        Compression::None if tee.unread(have) => Input::Chunks(tee),
        _ => {
            let raw = io::Cursor::new(peeked).chain(tee);
            Input::Stream(match compression {
                Compression::None => Box::new(raw),
                Compression::Gzip => Box::new(BufReader::with_capacity(
                    1 << 20,
                    flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(1 << 20, raw)),
                )),
                Compression::Zstd => Box::new(
                    zstd::stream::read::Decoder::with_buffer(BufReader::with_capacity(
                        1 << 20,
                        raw,
                    ))
                    .map_err(|source| CaptureError::Read {
                        path: path.to_owned(),
                        source,
                    })?,
                ),
            })
        }
    };
    let (format, reader) = CaptureReader::from_input(input, capture).map_err(|e| match e {
        StreamError::Read(source) => CaptureError::Read {
            path: path.to_owned(),
            source,
        },
        StreamError::NotACapture(magic) => CaptureError::NotACapture {
            path: path.to_owned(),
            magic,
        },
        StreamError::BadHeader(source) => CaptureError::BadHeader {
            path: path.to_owned(),
            source,
        },
    })?;
    Ok(OpenCapture {
        path: path.to_owned(),
        format,
        compression,
        reader,
        digest,
    })
}

/// Why a stream could not be opened as a capture.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("{0}")]
    Read(io::Error),
    /// The first bytes, in hex, or a note that there were none.
    #[error("not a capture ({0})")]
    NotACapture(String),
    #[error(transparent)]
    BadHeader(pcap::ShortHeader),
}

impl CaptureReader {
    /// Opens an uncompressed capture stream (pcap or pcapng, recognised by its
    /// magic). [`open`] is the way in for files; this serves tests and fuzzing.
    pub fn from_stream(
        stream: Box<dyn Read + Send>,
        capture: u32,
    ) -> Result<(Format, CaptureReader), StreamError> {
        Self::from_input(Input::Stream(stream), capture)
    }

    /// Reads `bytes` the way [`open`] reads an uncompressed file: on a reading
    /// thread, in reads of at most `chunk` bytes whose buffers the reader takes over.
    /// For tests and fuzzing, which compare it with [`CaptureReader::from_stream`].
    /// The reading thread ends with the digest (the size only), once the reader
    /// has been dropped.
    pub fn from_bytes_in_chunks(
        bytes: Vec<u8>,
        chunk: usize,
        capture: u32,
    ) -> Result<(Format, CaptureReader, hashing::PendingDigest), StreamError> {
        let (chunks, digest) = hashing::read_ahead(
            io::Cursor::new(bytes),
            chunk,
            crate::hash::Algorithms::NONE,
            None,
        )
        .map_err(StreamError::Read)?;
        let (format, reader) = Self::from_input(Input::Chunks(chunks), capture)?;
        Ok((format, reader, digest))
    }

    fn from_input(input: Input, capture: u32) -> Result<(Format, CaptureReader), StreamError> {
        let mut window = Window::new(input);
        window.fill(4);
        if let Some(e) = window.take_error() {
            return Err(StreamError::Read(e));
        }
        let magic = window.data().get(..4).map(|m| [m[0], m[1], m[2], m[3]]);
        let (format, inner) = match magic {
            Some([0x0a, 0x0d, 0x0d, 0x0a]) => (
                Format::Pcapng,
                Inner::Pcapng(pcapng::PcapngReader::new(window, capture)),
            ),
            Some(m) if pcap::is_magic(m) => (
                Format::Pcap,
                Inner::Pcap(
                    pcap::PcapReader::new(window, capture).map_err(StreamError::BadHeader)?,
                ),
            ),
            _ => {
                let shown = window
                    .data()
                    .iter()
                    .take(8)
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                return Err(StreamError::NotACapture(if shown.is_empty() {
                    "none: the file is empty".into()
                } else {
                    shown
                }));
            }
        };
        Ok((
            format,
            CaptureReader {
                inner,
                anomalies: Vec::new(),
            },
        ))
    }

    /// Lends the next frame, or `None` at the end of the capture. Damage is recorded
    /// as anomalies (see [`CaptureReader::take_anomalies`]) and reading goes on.
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        match &mut self.inner {
            Inner::Pcap(r) => r.next(&mut self.anomalies),
            Inner::Pcapng(r) => r.next(&mut self.anomalies),
        }
    }

    /// Decryption secrets (pcapng Decryption Secrets Blocks) read since the last
    /// call, in file order; a secrets block is read when the frames after it are.
    /// Always empty for pcap files.
    pub fn take_secrets(&mut self) -> Vec<DecryptionSecrets> {
        match &mut self.inner {
            Inner::Pcap(_) => Vec::new(),
            Inner::Pcapng(r) => r.take_secrets(),
        }
    }

    /// Anomalies recorded so far, in the order found.
    pub fn take_anomalies(&mut self) -> Vec<Anomaly> {
        std::mem::take(&mut self.anomalies)
    }

    pub fn summary(&self) -> ReadSummary {
        match &self.inner {
            Inner::Pcap(r) => r.summary(),
            Inner::Pcapng(r) => r.summary(),
        }
    }
}

/// Records the read error that ended a stream, if any, once the reader is done.
pub(crate) fn end_of_stream(
    window: &mut Window,
    capture: u32,
    frames: u64,
    anomalies: &mut Vec<Anomaly>,
) {
    if let Some(e) = window.take_error() {
        let pos = window.pos();
        anomalies.push(Anomaly {
            capture,
            frame: None,
            offset: pos,
            severity: Severity::Damage,
            code: "capture.read_error",
            message: format!(
                "reading stopped after frame {frames} at offset {pos}: {e}; the rest of the file was not analysed"
            ),
        });
    }
}

/// Converts a timestamp in `units` per second to seconds and nanoseconds. Any value
/// is accepted; the result saturates instead of overflowing.
pub(crate) fn ts_from_units(value: u64, units_per_sec: u64, offset_secs: i64) -> Timestamp {
    // Microseconds and nanoseconds, nearly every capture's, are divided by constants
    // (a multiplication each) instead of a 128-bit division at run time, once a frame.
    let (secs, nanos) = match units_per_sec {
        1_000_000 => (value / 1_000_000, (value % 1_000_000) as u32 * 1_000),
        1_000_000_000 => (value / 1_000_000_000, (value % 1_000_000_000) as u32),
        units => split_units(value, units),
    };
    let secs = i64::try_from(secs)
        .unwrap_or(i64::MAX)
        .saturating_add(offset_secs);
    Timestamp::new(secs, nanos)
}

/// Whole seconds and nanoseconds of `value` units, `units` a second (any value;
/// 0 is taken as 1).
fn split_units(value: u64, units: u64) -> (u64, u32) {
    let units = units.max(1);
    let frac = value % units;
    let nanos = (u128::from(frac) * 1_000_000_000 / u128::from(units)) as u32;
    (value / units, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_resolutions_split_as_any_other() {
        let values = [
            0,
            1,
            999_999,
            1_000_000,
            1_767_225_600_123_456,
            1_767_225_600_123_456_789,
            u64::MAX - 1,
            u64::MAX,
        ];
        for units in [1_000_000, 1_000_000_000] {
            for v in values {
                let t = ts_from_units(v, units, 0);
                let (secs, nanos) = split_units(v, units);
                assert_eq!(
                    t,
                    Timestamp::new(i64::try_from(secs).unwrap_or(i64::MAX), nanos)
                );
            }
        }
    }

    fn open_bytes(b: &'static [u8]) -> Result<Format, StreamError> {
        CaptureReader::from_stream(Box::new(b), 0).map(|(f, _)| f)
    }

    #[test]
    fn a_stream_that_is_not_a_capture_or_cut_in_its_header_says_which() {
        assert!(matches!(
            open_bytes(b"hello, this is text"),
            Err(StreamError::NotACapture(m)) if m == "68 65 6c 6c 6f 2c 20 74"
        ));
        assert!(matches!(
            open_bytes(b""),
            Err(StreamError::NotACapture(m)) if m.contains("empty")
        ));
        // A little-endian microsecond pcap magic and 6 more bytes of a 24-byte header.
        let e = open_bytes(b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00").unwrap_err();
        assert!(
            matches!(e, StreamError::BadHeader(ShortHeader { have: 10 })),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "pcap file header: expected 24 bytes, the file has 10"
        );
        // A pcapng's section header is read with its first block: opening succeeds.
        assert!(matches!(
            open_bytes(b"\x0a\x0d\x0d\x0a"),
            Ok(Format::Pcapng)
        ));
    }

    #[test]
    fn an_uncompressed_file_is_framed_in_the_reading_threads_chunks() {
        // (That both ways give the same frames: tests/damaged.rs.)
        let pcap = [
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0,
        ];
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("x.pcap");
        std::fs::write(&plain, pcap).unwrap();
        let gz = dir.path().join("x.pcap.gz");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut e, &pcap).unwrap();
        std::fs::write(&gz, e.finish().unwrap()).unwrap();
        let chunked = |path: &Path| {
            let opened = open(path, 0, crate::hash::Algorithms::NONE).unwrap();
            matches!(
                opened.reader.inner,
                Inner::Pcap(ref r) if matches!(r.window.source, Input::Chunks(_))
            )
        };
        assert!(chunked(&plain));
        assert!(!chunked(&gz));
    }

    #[test]
    fn timestamp_units_convert_for_micro_nano_and_binary_resolutions() {
        assert_eq!(
            ts_from_units(1_500_000, 1_000_000, 0),
            Timestamp::new(1, 500_000_000)
        );
        assert_eq!(
            ts_from_units(2_000_000_001, 1_000_000_000, 0),
            Timestamp::new(2, 1)
        );
        assert_eq!(
            ts_from_units(3 * 1024 + 512, 1024, 10),
            Timestamp::new(13, 500_000_000)
        );
        // Saturates rather than overflowing.
        assert_eq!(ts_from_units(u64::MAX, 1, i64::MAX).secs, i64::MAX);
    }
}
