//! Hashing a capture file from the same read as its analysis.
//!
//! [`HashingReader`] sits directly on the file, below any buffering or
//! decompression: every byte the analysis reads from the file is also handed, in
//! chunks, to a hashing thread. When the analysis ends before the end of the file
//! (damage it could not get past, trailing bytes after a compressed stream),
//! [`PendingDigest::finish`] reads the rest through the same file handle so the
//! digest always covers the whole file, as stored.

use crate::evidence::hash::{Algorithms, Digests, MultiHasher};
use std::fs::File;
use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

const CHUNK: usize = 1 << 20;
/// Chunks in flight between the reader and the hashing thread; bounds memory.
const IN_FLIGHT: usize = 8;

/// Reads a file and passes a copy of every byte to the hashing thread.
pub struct HashingReader {
    file: File,
    to_hasher: SyncSender<Vec<u8>>,
    recycled: Receiver<Vec<u8>>,
    /// Chunk buffers created so far; at most `IN_FLIGHT + 2` ever exist, after
    /// which the reader waits for the hasher to hand one back (no allocation churn,
    /// bounded memory).
    allocated: usize,
}

/// The digest of a file being read; completes when the reading is finished.
pub struct PendingDigest {
    file: Option<File>,
    to_hasher: SyncSender<Vec<u8>>,
    thread: JoinHandle<Digests>,
}

impl HashingReader {
    /// Starts hashing `file` with the given algorithms (SHA-256 always, for the
    /// report; SM3 and others on request).
    pub fn new(file: File, algos: Algorithms) -> (HashingReader, PendingDigest) {
        let (to_hasher, chunks) = sync_channel::<Vec<u8>>(IN_FLIGHT);
        let (give_back, recycled) = sync_channel::<Vec<u8>>(IN_FLIGHT + 2);
        let thread = std::thread::spawn(move || {
            let mut h = MultiHasher::new(algos.with(Algorithms::SHA256));
            for chunk in chunks {
                h.update(&chunk);
                // The reader may be gone; then the buffer is simply dropped.
                let _ = give_back.try_send(chunk);
            }
            h.finish()
        });
        let drain = file.try_clone().ok();
        (
            HashingReader {
                file,
                to_hasher: to_hasher.clone(),
                recycled,
                allocated: 0,
            },
            PendingDigest {
                file: drain,
                to_hasher,
                thread,
            },
        )
    }
}

impl Read for HashingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        if n > 0 {
            let mut chunk = match self.recycled.try_recv() {
                Ok(c) => c,
                Err(_) if self.allocated < IN_FLIGHT + 2 => {
                    self.allocated += 1;
                    Vec::with_capacity(CHUNK)
                }
                // Wait for the hasher; if it is gone, finish() reports it.
                Err(_) => self.recycled.recv().unwrap_or_default(),
            };
            chunk.clear();
            chunk.extend_from_slice(buf.get(..n).unwrap_or(&[]));
            // A send fails only if the hashing thread died; finish() reports that.
            let _ = self.to_hasher.send(chunk);
        }
        Ok(n)
    }
}

impl PendingDigest {
    /// Hashes whatever the analysis did not read, then returns the digest. Call it
    /// after the capture's reader has been dropped, so that no chunk is still on its
    /// way from the reader.
    pub fn finish(mut self) -> io::Result<Digests> {
        if let Some(mut file) = self.file.take() {
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                let chunk = buf.get(..n).unwrap_or(&[]).to_vec();
                if self.to_hasher.send(chunk).is_err() {
                    break;
                }
            }
            drop(self.to_hasher);
            return self
                .thread
                .join()
                .map_err(|_| io::Error::other("the hashing thread failed"));
        }
        Err(io::Error::other(
            "cannot reopen the capture to complete its hash",
        ))
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
        f.write_all(&[0u8; 5000]).unwrap();
        let (mut r, pending) =
            HashingReader::new(File::open(f.path()).unwrap(), Algorithms::SHA256);
        let mut two = [0u8; 2];
        r.read_exact(&mut two).unwrap();
        drop(r);
        let d = pending.finish().unwrap();
        let mut all = b"abc".to_vec();
        all.extend_from_slice(&[0u8; 5000]);
        assert_eq!(d.sha256, Some(crate::evidence::hash::sha256_hex(&all)));
        assert_eq!(d.size, 5003);
    }

    #[test]
    fn sha256_and_sm3_of_abc_match_their_standards() {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), b"abc").unwrap();
        let (mut r, pending) =
            HashingReader::new(File::open(f.path()).unwrap(), Algorithms::EVIDENCE);
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
