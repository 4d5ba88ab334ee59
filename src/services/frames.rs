//! The first frame of every conversation, by the service it belongs to, gathered
//! without a list per service in memory.
//!
//! A capture with millions of conversations gives millions of (service, frame)
//! pairs. They are kept in a buffer of bounded size; a full buffer is sorted and
//! written as a run to an unnamed temporary file, and the runs are merged when read
//! back, each through a small window. The pairs come back ordered by service number
//! from the highest down (the order in which the services are assembled), then by
//! frame.

use super::FrameId;
use std::collections::BinaryHeap;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Bytes of one pair in a run: the inverted service number (4, little-endian) and
/// the frame (8).
const PAIR: usize = 12;

/// Pairs read from a run at once.
const WINDOW: usize = 4096;

/// A pair as sorted: the service number inverted (so that ascending order gives
/// the highest service first), then the frame.
type Key = (u32, u64);

fn key(service: u32, frame: FrameId) -> Key {
    (u32::MAX - service, frame.0)
}

/// Collects (service, frame) pairs in any order.
pub(super) struct FrameSorter {
    buf: Vec<Key>,
    limit: usize,
    file: Option<File>,
    /// Each run's first pair and number of pairs in the file.
    runs: Vec<(u64, u64)>,
    written: u64,
}

impl FrameSorter {
    /// Keeps at most `limit` pairs in memory (at least one).
    pub(super) fn new(limit: usize) -> FrameSorter {
        FrameSorter {
            buf: Vec::new(),
            limit: limit.max(1),
            file: None,
            runs: Vec::new(),
            written: 0,
        }
    }

    pub(super) fn push(&mut self, service: u32, frame: FrameId) {
        self.buf.push(key(service, frame));
        if self.buf.len() >= self.limit {
            self.spill();
        }
    }

    /// Writes the buffer as a sorted run; a file that cannot be created or written
    /// keeps the pairs in memory instead, and every later one.
    fn spill(&mut self) {
        self.buf.sort_unstable();
        if self.file.is_none() {
            match tempfile::tempfile() {
                Ok(f) => self.file = Some(f),
                Err(_) => {
                    self.limit = usize::MAX;
                    return;
                }
            }
        }
        let Some(file) = &self.file else { return };
        let mut bytes = Vec::with_capacity(self.buf.len() * PAIR);
        for &(s, f) in &self.buf {
            bytes.extend_from_slice(&s.to_le_bytes());
            bytes.extend_from_slice(&f.to_le_bytes());
        }
        if file
            .write_all_at(&bytes, self.written * PAIR as u64)
            .is_ok()
        {
            self.runs.push((self.written, self.buf.len() as u64));
            self.written += self.buf.len() as u64;
            self.buf.clear();
            self.buf.shrink_to(self.limit);
        } else {
            self.limit = usize::MAX;
        }
    }

    /// The pairs, highest service first, each service's frames in order.
    pub(super) fn finish(mut self) -> Merged {
        self.buf.sort_unstable();
        let mut runs: Vec<Run> = self
            .runs
            .iter()
            .map(|&(start, len)| Run {
                next: start,
                end: start + len,
                window: Vec::new(),
                at: 0,
            })
            .collect();
        let mut heap = BinaryHeap::new();
        let mut failure = None;
        if let Some(file) = &self.file {
            for (i, r) in runs.iter_mut().enumerate() {
                match r.pop(file) {
                    Ok(Some(k)) => heap.push(std::cmp::Reverse((k, i))),
                    Ok(None) => {}
                    Err(e) => failure = Some(e),
                }
            }
        }
        Merged {
            memory: std::mem::take(&mut self.buf).into_iter().peekable(),
            file: self.file,
            runs,
            heap,
            failure,
        }
    }
}

/// A run in the file, read a window at a time.
struct Run {
    next: u64,
    end: u64,
    window: Vec<Key>,
    at: usize,
}

impl Run {
    fn pop(&mut self, file: &File) -> Result<Option<Key>, String> {
        if self.at == self.window.len() {
            if self.next == self.end {
                return Ok(None);
            }
            let n = (self.end - self.next).min(WINDOW as u64) as usize;
            let mut bytes = vec![0u8; n * PAIR];
            file.read_exact_at(&mut bytes, self.next * PAIR as u64)
                .map_err(|e| format!("reading the services' frames back: {e}"))?;
            self.window.clear();
            self.window.extend(bytes.chunks_exact(PAIR).map(|c| {
                let (s, f) = c.split_at(4);
                (
                    u32::from_le_bytes(s.try_into().unwrap_or_default()),
                    u64::from_le_bytes(f.try_into().unwrap_or_default()),
                )
            }));
            self.at = 0;
            self.next += n as u64;
        }
        let k = self.window.get(self.at).copied();
        self.at += 1;
        Ok(k)
    }
}

/// The merged pairs: the runs in the file and what stayed in memory.
pub(super) struct Merged {
    memory: std::iter::Peekable<std::vec::IntoIter<Key>>,
    file: Option<File>,
    runs: Vec<Run>,
    heap: BinaryHeap<std::cmp::Reverse<(Key, usize)>>,
    failure: Option<String>,
}

impl Merged {
    /// The frames of `service`, in order, if it is the highest service not yet
    /// taken; the services must be asked for from the highest down.
    pub(super) fn take(&mut self, service: u32) -> impl Iterator<Item = FrameId> + '_ {
        let want = u32::MAX - service;
        std::iter::from_fn(move || {
            let from_file = self.heap.peek().map(|r| r.0 .0);
            let from_memory = self.memory.peek().copied();
            let next = match (from_file, from_memory) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => return None,
            };
            if next.0 > want {
                return None;
            }
            // Pairs of a higher service not taken are passed over.
            if from_memory == Some(next) {
                self.memory.next();
            } else if let Some(std::cmp::Reverse((_, i))) = self.heap.pop() {
                if let (Some(file), Some(run)) = (&self.file, self.runs.get_mut(i)) {
                    match run.pop(file) {
                        Ok(Some(k)) => self.heap.push(std::cmp::Reverse((k, i))),
                        Ok(None) => {}
                        Err(e) => {
                            self.failure.get_or_insert(e);
                        }
                    }
                }
            }
            Some((next.0 == want).then_some(FrameId(next.1)))
        })
        .flatten()
    }

    /// Why a run could not be read back (the frames given are then incomplete).
    pub(super) fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Whatever the order given and the memory bound, each service's frames
        /// come back sorted (repeats kept), services taken from the highest down.
        #[test]
        fn pairs_come_back_by_service_then_frame(
            pairs in proptest::collection::vec((0u32..20, 0u64..1000), 0..400),
            limit in 1usize..50,
        ) {
            let mut s = FrameSorter::new(limit);
            for &(service, frame) in &pairs {
                s.push(service, FrameId::new(0, frame));
            }
            let mut m = s.finish();
            for service in (0..20u32).rev() {
                let got: Vec<u64> = m.take(service).map(|f| f.frame()).collect();
                let mut want: Vec<u64> = pairs
                    .iter()
                    .filter(|p| p.0 == service)
                    .map(|p| p.1)
                    .collect();
                want.sort_unstable();
                proptest::prop_assert_eq!(got, want);
            }
            proptest::prop_assert!(m.failure().is_none());
        }
    }
}
