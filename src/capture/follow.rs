//! Reading a capture file while it is being written, from the very chunks its
//! writer writes.
//!
//! The writer hands each chunk, with its offset in the file, to [`Follow`] and never
//! waits for it: when the reader is more than a set number of bytes behind, the chunk
//! is not handed over, and the reader later finds a gap between where it is and the
//! next chunk's offset. It
//! then reads the missing bytes from the file itself (they were written before the
//! next chunk was sent, so they are there). When the writer closes the file it
//! publishes the final length and drops its side of the channel; the reader reads
//! what it still lacks from the file and ends.
//!
//! So a slow analysis never slows a capture down, and in the usual case every byte is
//! read once, from memory.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

/// One chunk of the file, at its offset.
pub struct Chunk {
    pub offset: u64,
    pub bytes: Arc<Vec<u8>>,
}

/// The writer's side.
pub struct FollowSender {
    tx: Option<Sender<Chunk>>,
    final_len: Arc<AtomicU64>,
    /// Bytes handed over and not yet read, and how many may be.
    pending: Arc<AtomicUsize>,
    ceiling: usize,
    /// Chunks the reader had to get from the file instead.
    pub missed: u64,
}

/// The reader's side: a `Read` of the whole file, in order.
pub struct Follow {
    path: PathBuf,
    rx: Receiver<Chunk>,
    final_len: Arc<AtomicU64>,
    pending: Arc<AtomicUsize>,
    pos: u64,
    current: Option<Chunk>,
    /// Position in `current`.
    at: usize,
    file: Option<File>,
    /// The writer is done and everything up to the final length was delivered.
    ended: bool,
}

/// Length not yet known.
const OPEN: u64 = u64::MAX;

/// A channel for one file being written at `path`; up to `ceiling` bytes may wait.
pub fn channel(path: PathBuf, ceiling: usize) -> (FollowSender, Follow) {
    let (tx, rx) = std::sync::mpsc::channel();
    let final_len = Arc::new(AtomicU64::new(OPEN));
    let pending = Arc::new(AtomicUsize::new(0));
    (
        FollowSender {
            tx: Some(tx),
            final_len: Arc::clone(&final_len),
            pending: Arc::clone(&pending),
            ceiling,
            missed: 0,
        },
        Follow {
            path,
            rx,
            final_len,
            pending,
            pos: 0,
            current: None,
            at: 0,
            file: None,
            ended: false,
        },
    )
}

impl FollowSender {
    /// Offers a chunk written at `offset`; never waits.
    pub(crate) fn offer(&mut self, offset: u64, bytes: &Arc<Vec<u8>>) {
        let Some(tx) = &self.tx else { return };
        let n = bytes.len();
        if self.pending.load(Ordering::Acquire) + n > self.ceiling {
            self.missed += 1;
            return;
        }
        self.pending.fetch_add(n, Ordering::AcqRel);
        if tx
            .send(Chunk {
                offset,
                bytes: Arc::clone(bytes),
            })
            .is_err()
        {
            // The reader is gone (it stopped analysing): nothing more to offer.
            self.tx = None;
        }
    }

    /// The file is closed at `len` bytes.
    pub fn close(mut self, len: u64) {
        self.final_len.store(len, Ordering::Release);
        self.tx = None;
    }
}

impl Drop for FollowSender {
    fn drop(&mut self) {
        // Dropped without `close` (the writer failed): whatever reached the file is
        // all there is, and the reader finds its end there.
        if self.tx.is_some() {
            self.final_len.store(OPEN - 1, Ordering::Release);
        }
    }
}

impl Follow {
    fn done_with_current(&mut self) {
        if let Some(c) = self.current.take() {
            self.pending.fetch_sub(c.bytes.len(), Ordering::AcqRel);
        }
    }

    /// Reads up to `buf.len()` bytes at the current position from the file itself.
    fn read_file(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.file.is_none() {
            self.file = Some(File::open(&self.path)?);
        }
        let Some(f) = self.file.as_mut() else {
            return Ok(0);
        };
        f.seek(SeekFrom::Start(self.pos))?;
        loop {
            match f.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }
}

impl Read for Follow {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.ended {
            return Ok(0);
        }
        loop {
            // Bytes of the current chunk at the current position.
            if let Some(c) = &self.current {
                let start = c.offset + self.at as u64;
                if start == self.pos {
                    let rest = c.bytes.get(self.at..).unwrap_or_default();
                    if !rest.is_empty() {
                        let n = rest.len().min(buf.len());
                        buf[..n].copy_from_slice(&rest[..n]);
                        self.at += n;
                        self.pos += n as u64;
                        return Ok(n);
                    }
                    self.done_with_current();
                    continue;
                }
                if start > self.pos {
                    // A gap: chunks the writer could not hand over. They are in the
                    // file, before this chunk.
                    let want = usize::try_from(start - self.pos)
                        .unwrap_or(usize::MAX)
                        .min(buf.len());
                    let n = self.read_file(&mut buf[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!(
                                "{}: expected bytes {}..{} in the file, found its end",
                                self.path.display(),
                                self.pos,
                                start
                            ),
                        ));
                    }
                    self.pos += n as u64;
                    return Ok(n);
                }
                // Already read from the file: skip what is behind us.
                let behind = usize::try_from(self.pos - start).unwrap_or(usize::MAX);
                self.at = self.at.saturating_add(behind);
                if self.at >= c.bytes.len() {
                    self.done_with_current();
                }
                continue;
            }
            match self.rx.recv() {
                Ok(c) => {
                    self.current = Some(c);
                    self.at = 0;
                }
                Err(_) => {
                    // The writer is done: read what is missing up to the final length.
                    let end = self.final_len.load(Ordering::Acquire);
                    if self.pos >= end {
                        self.ended = true;
                        return Ok(0);
                    }
                    let want = usize::try_from(end - self.pos)
                        .unwrap_or(usize::MAX)
                        .min(buf.len());
                    let n = self.read_file(&mut buf[..want])?;
                    if n == 0 {
                        self.ended = true;
                    }
                    self.pos += n as u64;
                    return Ok(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn chunks_that_did_not_fit_are_read_from_the_file_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut file = File::create(&path).unwrap();
        let (mut tx, mut rx) = channel(path.clone(), 2100);
        let mut expected = Vec::new();
        let mut offset = 0u64;
        // Nobody reads while the writer writes: two chunks fit, then no more.
        for i in 0..10u8 {
            let chunk = Arc::new(vec![i; 1000 + usize::from(i)]);
            file.write_all(&chunk).unwrap();
            tx.offer(offset, &chunk);
            offset += chunk.len() as u64;
            expected.extend_from_slice(&chunk);
        }
        assert_eq!(tx.missed, 8);
        tx.close(offset);
        let mut got = Vec::new();
        rx.read_to_end(&mut got).unwrap();
        assert_eq!(got, expected);
    }

    #[test]
    fn a_reader_keeping_up_gets_every_chunk_from_memory() {
        let dir = tempfile::tempdir().unwrap();
        // No file at all: every byte must come from the chunks.
        let (mut tx, mut rx) = channel(dir.path().join("absent"), 64 << 10);
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            rx.read_to_end(&mut got).map(|_| got)
        });
        let mut expected = Vec::new();
        let mut offset = 0;
        for i in 0..20u8 {
            let chunk = Arc::new(vec![i; 777]);
            tx.offer(offset, &chunk);
            offset += 777;
            expected.extend_from_slice(&chunk);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(tx.missed, 0);
        tx.close(offset);
        assert_eq!(reader.join().unwrap().unwrap(), expected);
    }
}
