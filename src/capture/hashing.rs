//! Hashing a capture file from the same read as its analysis.
//!
//! A read-ahead thread owns the file: it reads it in 256 KiB chunks, feeds each chunk
//! to the digests, then hands the same buffer to the analysis ([`ChunkReader`]),
//! which gives it back once consumed. Every byte is read from the file once, hashed
//! once and parsed once; the read system calls and the hashing run beside the
//! analysis, on the other core. The capture reader takes an uncompressed file's
//! buffers over whole ([`ChunkReader::next_chunk`]): each has [`HEAD`] free bytes in
//! front of its data, where the reader puts the unread end of the previous buffer,
//! so the bytes are not copied again on their way to the parser. The thread always
//! reads to the end of the file, even when the analysis stops early (damage it could
//! not get past, trailing bytes after a compressed stream), so the digest covers the
//! whole file, as stored.
//!
//! With no algorithm selected (`analyze --no-hash`) the thread only reads and counts.

use crate::hash::{Algorithms, Digests, MultiHasher};
use std::fs::File;
use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

const CHUNK: usize = 1 << 18;
/// Free room in front of each chunk's data: where the capture reader puts the part
/// of a record the previous chunk ended with, instead of copying the chunk behind
/// it. Records up to this size (all but the rare jumbo ones) cost no copy.
pub(crate) const HEAD: usize = 1 << 17;
/// Chunks in flight between the reading thread and the analysis; bounds memory.
const IN_FLIGHT: usize = 4;

/// The analysis side: the file's bytes, in order, as the reading thread read them.
/// Each buffer holds its data from [`HEAD`] on.
pub(crate) struct ChunkReader {
    chunks: Receiver<io::Result<Vec<u8>>>,
    give_back: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    finished: bool,
}

/// The digest of a file being read; completes when the whole file has been read.
pub struct PendingDigest {
    thread: JoinHandle<io::Result<Digests>>,
}

/// Starts reading (and hashing, with the given algorithms) `file` on its own thread,
/// adding the bytes read to `progress`, when given, as they are read (for a progress
/// display).
pub(crate) fn read_ahead_counted(
    file: File,
    algos: Algorithms,
    progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
) -> io::Result<(ChunkReader, PendingDigest)> {
    // A small regular file needs no full-size buffer (one byte more than its size, to
    // see the end in one read; at least 64 KiB, in case it grows while read).
    let chunk = match file.metadata() {
        Ok(m) if m.is_file() => usize::try_from(m.len())
            .map_or(CHUNK, |n| n.saturating_add(1))
            .clamp(64 << 10, CHUNK),
        _ => CHUNK,
    };
    read_ahead(file, chunk, algos, progress)
}

/// Reads `source` on its own thread, in reads of at most `chunk` bytes.
pub(crate) fn read_ahead<R: Read + Send + 'static>(
    source: R,
    chunk: usize,
    algos: Algorithms,
    progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
) -> io::Result<(ChunkReader, PendingDigest)> {
    let (to_reader, chunks) = sync_channel::<io::Result<Vec<u8>>>(IN_FLIGHT);
    let (give_back, recycled) = sync_channel::<Vec<u8>>(IN_FLIGHT + 2);
    let chunk = chunk.max(1);
    let thread = std::thread::Builder::new()
        .name("whohosts-read".into())
        .spawn(move || read_and_hash(source, chunk, algos, &to_reader, &recycled, progress))?;
    Ok((
        ChunkReader {
            chunks,
            give_back,
            current: Vec::new(),
            pos: 0,
            finished: false,
        },
        PendingDigest { thread },
    ))
}

fn read_and_hash(
    mut file: impl Read,
    chunk: usize,
    algos: Algorithms,
    to_reader: &SyncSender<io::Result<Vec<u8>>>,
    recycled: &Receiver<Vec<u8>>,
    progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
) -> io::Result<Digests> {
    let mut h = MultiHasher::new(algos);
    // Buffers created so far; at most `IN_FLIGHT + 2` exist while the analysis
    // reads, after which this thread waits for one to come back.
    let mut allocated = 0;
    // Set once the analysis has stopped reading: the rest is only hashed.
    let mut alone: Option<Vec<u8>> = None;
    loop {
        let mut buf = match alone.take() {
            Some(b) => b,
            None => match recycled.try_recv() {
                Ok(b) => b,
                Err(_) if allocated < IN_FLIGHT + 2 => {
                    allocated += 1;
                    // Zeroed by the allocator (fresh pages), not by a loop.
                    vec![0u8; HEAD + chunk]
                }
                Err(_) => recycled.recv().unwrap_or_else(|_| vec![0u8; HEAD + chunk]),
            },
        };
        // Only the tail of a buffer that last held a short read is filled again (a
        // buffer the capture reader grew comes back longer, and is cut to size).
        buf.resize(HEAD + chunk, 0);
        let n = loop {
            match file.read(&mut buf[HEAD..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let digest_error = io::Error::new(e.kind(), e.to_string());
                    let _ = to_reader.send(Err(e));
                    return Err(digest_error);
                }
            }
        };
        if n == 0 {
            return Ok(h.finish());
        }
        buf.truncate(HEAD + n);
        h.update(&buf[HEAD..]);
        if let Some(p) = &progress {
            p.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        }
        // When the analysis has stopped reading, the buffer is kept for the rest.
        if let Err(std::sync::mpsc::SendError(Ok(b))) = to_reader.send(Ok(buf)) {
            alone = Some(b);
        }
    }
}

impl ChunkReader {
    /// Waits for the reading thread's next buffer: `Ok(false)` at the end of the file.
    fn advance(&mut self) -> io::Result<bool> {
        if self.finished {
            return Ok(false);
        }
        match self.chunks.recv() {
            Ok(Ok(next)) => {
                let done = std::mem::replace(&mut self.current, next);
                self.pos = HEAD;
                self.recycle(done);
                Ok(true)
            }
            Ok(Err(e)) => {
                self.finished = true;
                Err(e)
            }
            // The thread has read the whole file.
            Err(_) => {
                self.finished = true;
                Ok(false)
            }
        }
    }

    /// Hands the next unread bytes over in their buffer, with the offset they start
    /// at (at least [`HEAD`]: the bytes before it are free for the caller's use);
    /// `None` at the end of the file. The caller gives the buffer back through
    /// [`ChunkReader::recycle`] once done with it.
    pub(crate) fn next_chunk(&mut self) -> Option<io::Result<(Vec<u8>, usize)>> {
        while self.pos >= self.current.len() {
            match self.advance() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
        let at = std::mem::replace(&mut self.pos, 0);
        Some(Ok((std::mem::take(&mut self.current), at)))
    }

    /// Returns a buffer to the reading thread for its next read. A buffer with no
    /// room (a new, empty one) is not worth sending back.
    pub(crate) fn recycle(&mut self, buf: Vec<u8>) {
        if buf.capacity() > 0 {
            // The reading thread may be gone; the buffer is then dropped.
            let _ = self.give_back.try_send(buf);
        }
    }

    /// Puts the last `n` bytes read back in front of the stream, when they are all
    /// still in the current buffer; `false` (and nothing done) otherwise.
    pub(crate) fn unread(&mut self, n: usize) -> bool {
        if self.pos >= HEAD + n {
            self.pos -= n;
            true
        } else {
            false
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.current.len() {
            if !self.advance()? {
                return Ok(0);
            }
        }
        let rest = self.current.get(self.pos..).unwrap_or(&[]);
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl PendingDigest {
    /// Waits until the whole file has been read and hashed. Call it after the
    /// capture's reader has been dropped, so that the thread is not left waiting
    /// for the analysis.
    pub fn finish(self) -> io::Result<Digests> {
        self.thread
            .join()
            .map_err(|_| io::Error::other("the hashing thread failed"))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn digest_covers_the_whole_file_even_when_reading_stops_early() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"abc").unwrap();
        // More than the chunks in flight, so that the thread must go on alone.
        f.write_all(&vec![0u8; 20 * CHUNK + 5000]).unwrap();
        let (mut r, pending) =
            read_ahead_counted(File::open(f.path()).unwrap(), Algorithms::SHA256, None).unwrap();
        let mut two = [0u8; 2];
        r.read_exact(&mut two).unwrap();
        drop(r);
        let d = pending.finish().unwrap();
        let mut all = b"abc".to_vec();
        all.extend_from_slice(&vec![0u8; 20 * CHUNK + 5000]);
        assert_eq!(d.sha256, Some(crate::hash::sha256_hex(&all)));
        assert_eq!(d.size, all.len() as u64);
    }

    #[test]
    fn bytes_arrive_in_order_across_chunks_and_without_hashing_only_the_size_is_known() {
        let data: Vec<u8> = (0..3 * CHUNK + 77).map(|i| (i % 251) as u8).collect();
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), &data).unwrap();
        let (mut r, pending) =
            read_ahead_counted(File::open(f.path()).unwrap(), Algorithms::NONE, None).unwrap();
        let mut back = Vec::new();
        let mut small = [0u8; 4099];
        loop {
            let n = r.read(&mut small).unwrap();
            if n == 0 {
                break;
            }
            back.extend_from_slice(&small[..n]);
        }
        assert!(back == data);
        drop(r);
        let d = pending.finish().unwrap();
        assert_eq!((d.size, d.sha256), (data.len() as u64, None));
    }

    #[test]
    fn sha256_and_sm3_of_abc_match_their_standards() {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), b"abc").unwrap();
        let (mut r, pending) =
            read_ahead_counted(File::open(f.path()).unwrap(), Algorithms::EVIDENCE, None).unwrap();
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        drop(r);
        let d = pending.finish().unwrap();
        assert_eq!(
            d.sha256.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        // GB/T 32905-2016 Appendix A.1.
        assert_eq!(
            d.sm3.as_deref(),
            Some("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")
        );
    }
}
