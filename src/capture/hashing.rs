//! Hashing a capture file from the same read as its analysis.
//!
//! [`HashingReader`] sits directly on the file, below any buffering or
//! decompression: every byte the analysis reads from the file is also handed, in
//! chunks, to a hashing thread. When the analysis ends before the end of the file
//! (damage it could not get past, trailing bytes after a compressed stream),
//! [`PendingDigest::finish`] reads the rest through the same file handle so the
//! digest always covers the whole file, as stored.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

const CHUNK: usize = 1 << 20;
/// Chunks in flight between the reader and the hashing thread; bounds memory.
const IN_FLIGHT: usize = 8;

/// Lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

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
    thread: JoinHandle<[u8; 32]>,
}

/// What hashing found: the digest and how many bytes it covered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDigest {
    pub sha256: String,
    pub size: u64,
}

impl HashingReader {
    pub fn new(file: File) -> (HashingReader, PendingDigest) {
        let (to_hasher, chunks) = sync_channel::<Vec<u8>>(IN_FLIGHT);
        let (give_back, recycled) = sync_channel::<Vec<u8>>(IN_FLIGHT + 2);
        let thread = std::thread::spawn(move || {
            let mut h = Sha256::new();
            for chunk in chunks {
                h.update(&chunk);
                // The reader may be gone; then the buffer is simply dropped.
                let _ = give_back.try_send(chunk);
            }
            h.finalize().into()
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
    pub fn finish(mut self) -> io::Result<FileDigest> {
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
            let size = file.metadata()?.len();
            drop(self.to_hasher);
            let digest = self
                .thread
                .join()
                .map_err(|_| io::Error::other("the hashing thread failed"))?;
            return Ok(FileDigest {
                sha256: hex(&digest),
                size,
            });
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
        let (mut r, pending) = HashingReader::new(File::open(f.path()).unwrap());
        let mut two = [0u8; 2];
        r.read_exact(&mut two).unwrap();
        drop(r);
        let d = pending.finish().unwrap();
        let mut all = b"abc".to_vec();
        all.extend_from_slice(&[0u8; 5000]);
        assert_eq!(d.sha256, hex(&Sha256::digest(&all)));
        assert_eq!(d.size, 5003);
    }

    #[test]
    fn sha256_of_abc_matches_fips_180_4() {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), b"abc").unwrap();
        let (mut r, pending) = HashingReader::new(File::open(f.path()).unwrap());
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        drop(r);
        assert_eq!(
            pending.finish().unwrap().sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
