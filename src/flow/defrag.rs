//! IP datagrams put back together from their fragments, so that what a fragmented
//! datagram carries (a DNS answer longer than the path's MTU, a tunnel packet split
//! by its underlay) is counted and identified on the frame that completes it, as
//! tshark does (Wireshark reassembles IP by default).
//!
//! Fragments are keyed by source, destination, protocol and identification. When
//! fragments overlap, the first copy of a byte wins and a later copy that differs
//! marks the datagram as conflicting. A datagram is complete when every byte from 0
//! to the end its last fragment gives has arrived.
//!
//! Bounded: at most [`MAX_PENDING`] datagrams wait (the oldest is dropped first); a
//! datagram's bytes are kept only up to [`MAX_DATAGRAM`] (IPv4's limit; a longer
//! one is counted, its bytes are not kept) and while all pending datagrams hold less
//! than [`MAX_BYTES`] (past it, a datagram is still counted, its bytes are not kept).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

/// Datagrams waiting for fragments at most.
pub const MAX_PENDING: usize = 4096;
/// The longest datagram payload whose bytes are kept.
pub const MAX_DATAGRAM: u32 = 65_535;
/// Bytes held over all pending datagrams at most.
pub const MAX_BYTES: usize = 8 << 20;

/// Source, destination, protocol, identification.
type Key = (IpAddr, IpAddr, u8, u32);

/// One fragment as the decoder saw it.
#[derive(Clone, Copy, Debug)]
pub struct Piece<'a> {
    pub id: u32,
    /// Where its bytes start in the datagram's payload.
    pub offset: u32,
    pub more: bool,
    pub bytes: &'a [u8],
}

#[derive(Debug)]
struct Pending {
    serial: u64,
    first_frame: u64,
    frames: u64,
    ports: Option<(u16, u16)>,
    total: Option<u32>,
    /// Byte ranges received, sorted, disjoint and not adjacent.
    have: Vec<(u32, u32)>,
    data: Kept,
    conflict: bool,
}

#[derive(Debug)]
enum Kept {
    Bytes(Vec<u8>),
    Lost(Lost),
}

/// Why a completed datagram's bytes are not there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lost {
    /// The pending datagrams already held [`MAX_BYTES`].
    Budget,
    /// A fragment ended past [`MAX_DATAGRAM`].
    TooLong,
}

/// A completed datagram.
#[derive(Debug)]
pub struct Datagram {
    /// The ports of its first fragment, when it had them (TCP, UDP).
    pub ports: Option<(u16, u16)>,
    /// Fragment frames it took, this one included.
    pub frames: u64,
    pub first_frame: u64,
    /// Its payload, from the transport header on, or why it was not kept.
    pub payload: Result<Vec<u8>, Lost>,
    /// Overlapping fragments disagreed on some bytes (the first copy was kept).
    pub conflict: bool,
}

/// The result of feeding one fragment.
#[derive(Debug)]
pub enum Outcome {
    /// More fragments are needed.
    Pending,
    Complete(Datagram),
    /// A pending datagram was dropped to keep memory bounded.
    Evicted {
        first_frame: u64,
    },
}

/// The pending datagrams of one capture.
#[derive(Default)]
pub struct Defrag {
    pending: HashMap<Key, Pending>,
    /// Keys in arrival order, with the serial they were pending under: an entry
    /// whose datagram completed is stale and skipped.
    order: VecDeque<(u64, Key)>,
    serial: u64,
    /// Bytes held by pending datagrams.
    held: usize,
}

impl Defrag {
    /// Feeds one fragment of a datagram from `src` to `dst` carrying `protocol`;
    /// `ports` are the transport ports when this is a first fragment that has them.
    pub fn feed(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        protocol: u8,
        piece: Piece<'_>,
        ports: Option<(u16, u16)>,
        frame: u64,
    ) -> Outcome {
        let key = (src, dst, protocol, piece.id);
        // A datagram whole in one piece (an IPv6 atomic fragment, RFC 6946) waits
        // for nothing and evicts nothing.
        if piece.offset == 0 && !piece.more && !self.pending.contains_key(&key) {
            let payload = if piece.bytes.len() > MAX_DATAGRAM as usize {
                Err(Lost::TooLong)
            } else {
                Ok(piece.bytes.to_vec())
            };
            return Outcome::Complete(Datagram {
                ports,
                frames: 1,
                first_frame: frame,
                payload,
                conflict: false,
            });
        }
        let mut evicted = None;
        if !self.pending.contains_key(&key) {
            if self.pending.len() >= MAX_PENDING {
                evicted = self.evict_oldest();
            }
            self.serial += 1;
            self.order.push_back((self.serial, key));
            if self.order.len() > 2 * MAX_PENDING {
                let pending = &self.pending;
                self.order
                    .retain(|(s, k)| pending.get(k).is_some_and(|p| p.serial == *s));
            }
            self.pending.insert(
                key,
                Pending {
                    serial: self.serial,
                    first_frame: frame,
                    frames: 0,
                    ports: None,
                    total: None,
                    have: Vec::new(),
                    data: Kept::Bytes(Vec::new()),
                    conflict: false,
                },
            );
        }
        let Some(p) = self.pending.get_mut(&key) else {
            return Outcome::Pending;
        };
        p.frames += 1;
        if ports.is_some() {
            p.ports = ports;
        }
        let len = u32::try_from(piece.bytes.len()).unwrap_or(u32::MAX);
        let start = piece.offset;
        let end = start.saturating_add(len);
        if !piece.more {
            p.total = Some(end);
        }
        p.keep(start, piece.bytes, &mut self.held);
        cover(&mut p.have, start, end);
        let done = p
            .total
            .is_some_and(|t| matches!(p.have.first(), Some(&(0, e)) if e >= t));
        if done {
            let Some(p) = self.pending.remove(&key) else {
                return Outcome::Pending;
            };
            let total = p.total.unwrap_or(0) as usize;
            let payload = match p.data {
                Kept::Bytes(mut b) => {
                    self.held -= b.capacity();
                    b.truncate(total);
                    Ok(b)
                }
                Kept::Lost(why) => Err(why),
            };
            return Outcome::Complete(Datagram {
                ports: p.ports,
                frames: p.frames,
                first_frame: p.first_frame,
                payload,
                conflict: p.conflict,
            });
        }
        match evicted {
            Some(first_frame) => Outcome::Evicted { first_frame },
            None => Outcome::Pending,
        }
    }

    fn evict_oldest(&mut self) -> Option<u64> {
        while let Some((serial, key)) = self.order.pop_front() {
            if self.pending.get(&key).is_some_and(|p| p.serial == serial) {
                let p = self.pending.remove(&key)?;
                if let Kept::Bytes(b) = &p.data {
                    self.held -= b.capacity();
                }
                return Some(p.first_frame);
            }
        }
        None
    }

    /// Datagrams still incomplete: (first frame, fragment frames), by first frame.
    pub fn incomplete(&self) -> Vec<(u64, u64)> {
        let mut v: Vec<_> = self
            .pending
            .values()
            .map(|p| (p.first_frame, p.frames))
            .collect();
        v.sort_unstable();
        v
    }
}

impl Pending {
    /// Copies the bytes at `start` that no earlier fragment gave and notes a
    /// conflict where one gave other bytes; `held` follows the buffer's size. Stops
    /// keeping bytes (and gives the buffer back) past [`MAX_DATAGRAM`] or
    /// [`MAX_BYTES`].
    fn keep(&mut self, start: u32, bytes: &[u8], held: &mut usize) {
        let Kept::Bytes(buf) = &mut self.data else {
            return;
        };
        let (start, end) = (start as usize, start as usize + bytes.len());
        let lost = if end > MAX_DATAGRAM as usize {
            Some(Lost::TooLong)
        } else if end > buf.capacity() && *held + (end - buf.capacity()) > MAX_BYTES {
            Some(Lost::Budget)
        } else {
            None
        };
        if let Some(why) = lost {
            *held -= buf.capacity();
            self.data = Kept::Lost(why);
            return;
        }
        if end > buf.len() {
            let before = buf.capacity();
            buf.reserve_exact(end - buf.len());
            *held += buf.capacity() - before;
            buf.resize(end, 0);
        }
        // Walk the ranges already held that meet [start, end): copy around them,
        // compare within them.
        let mut pos = start;
        let from = self.have.partition_point(|&(_, e)| (e as usize) <= start);
        for &(hs, he) in &self.have[from..] {
            let (hs, he) = (hs as usize, he as usize);
            if hs >= end {
                break;
            }
            if hs > pos {
                buf[pos..hs].copy_from_slice(&bytes[pos - start..hs - start]);
            }
            let (os, oe) = (hs.max(pos), he.min(end));
            if buf[os..oe] != bytes[os - start..oe - start] {
                self.conflict = true;
            }
            pos = oe;
        }
        if pos < end {
            buf[pos..end].copy_from_slice(&bytes[pos - start..]);
        }
    }
}

/// Adds `[start, end)` to the sorted, disjoint ranges `have`, merging neighbours.
fn cover(have: &mut Vec<(u32, u32)>, start: u32, end: u32) {
    if start >= end {
        return;
    }
    let (mut s, mut e) = (start, end);
    // The ranges that touch or overlap [s, e) are contiguous in the sorted list.
    let first = have.partition_point(|&(_, he)| he < s);
    let mut last = first;
    while last < have.len() && have[last].0 <= e {
        s = s.min(have[last].0);
        e = e.max(have[last].1);
        last += 1;
    }
    have.splice(first..last, [(s, e)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn feed(d: &mut Defrag, id: u32, offset: u32, more: bool, bytes: &[u8], frame: u64) -> Outcome {
        let piece = Piece {
            id,
            offset,
            more,
            bytes,
        };
        d.feed(addr("10.0.0.1"), addr("10.0.0.2"), 17, piece, None, frame)
    }

    fn payload(o: Outcome) -> Datagram {
        match o {
            Outcome::Complete(d) => d,
            other => panic!("expected a complete datagram, got {other:?}"),
        }
    }

    #[test]
    fn completes_in_any_order_with_its_bytes() {
        let mut d = Defrag::default();
        assert!(matches!(
            feed(&mut d, 7, 8, false, b"ijkl", 1),
            Outcome::Pending
        ));
        assert!(matches!(
            feed(&mut d, 7, 0, true, b"abcdefgh", 2),
            Outcome::Complete(_)
        ));
        let mut d = Defrag::default();
        feed(&mut d, 7, 8, false, b"ijkl", 1);
        let g = payload(feed(&mut d, 7, 0, true, b"abcdefgh", 2));
        assert_eq!(g.payload.as_deref(), Ok(&b"abcdefghijkl"[..]));
        assert_eq!((g.frames, g.first_frame, g.conflict), (2, 1, false));
        assert!(d.incomplete().is_empty());
        assert_eq!(d.held, 0);
    }

    #[test]
    fn a_repeated_fragment_does_not_complete_the_datagram() {
        let mut d = Defrag::default();
        feed(&mut d, 1, 0, true, b"abcdefgh", 1);
        assert!(matches!(
            feed(&mut d, 1, 0, true, b"abcdefgh", 2),
            Outcome::Pending
        ));
        assert!(matches!(
            feed(&mut d, 1, 16, false, b"qrst", 3),
            Outcome::Pending
        ));
        let g = payload(feed(&mut d, 1, 8, true, b"ijklmnop", 4));
        assert_eq!(g.payload.as_deref(), Ok(&b"abcdefghijklmnopqrst"[..]));
        assert_eq!(g.frames, 4);
    }

    #[test]
    fn overlaps_keep_the_first_copy_and_say_when_they_differ() {
        let mut d = Defrag::default();
        feed(&mut d, 2, 0, true, b"abcdefgh", 1);
        let g = payload(feed(&mut d, 2, 4, false, b"efghIJ", 2));
        assert_eq!(g.payload.as_deref(), Ok(&b"abcdefghIJ"[..]));
        assert!(!g.conflict);
        feed(&mut d, 3, 0, true, b"abcdefgh", 1);
        let g = payload(feed(&mut d, 3, 4, false, b"XXXXIJ", 2));
        assert_eq!(g.payload.as_deref(), Ok(&b"abcdefghIJ"[..]));
        assert!(g.conflict);
        // A fragment that covers two held ranges and the gap between them.
        feed(&mut d, 4, 0, true, b"ab", 1);
        feed(&mut d, 4, 4, false, b"ef", 2);
        let g = payload(feed(&mut d, 4, 0, true, b"abcdef", 3));
        assert_eq!(g.payload.as_deref(), Ok(&b"abcdef"[..]));
        assert!(!g.conflict);
    }

    #[test]
    fn a_datagram_longer_than_ip_allows_is_counted_without_its_bytes() {
        let mut d = Defrag::default();
        feed(&mut d, 5, 0, true, &[0; 8], 1);
        let g = payload(feed(
            &mut d,
            5,
            8,
            false,
            &vec![0; MAX_DATAGRAM as usize],
            2,
        ));
        assert_eq!(g.payload, Err(Lost::TooLong));
        assert_eq!(d.held, 0);
    }

    #[test]
    fn pending_datagrams_and_their_bytes_are_bounded() {
        let mut d = Defrag::default();
        let big = vec![1u8; 4000];
        let mut evicted = 0;
        for id in 0..(3 * MAX_PENDING as u32) {
            if let Outcome::Evicted { .. } = feed(&mut d, id, 0, true, &big, u64::from(id)) {
                evicted += 1;
            }
            assert!(d.held <= MAX_BYTES);
            assert!(d.order.len() <= 2 * MAX_PENDING + 1);
        }
        assert_eq!(d.pending.len(), MAX_PENDING);
        assert_eq!(evicted, 2 * MAX_PENDING);
        // The oldest went first: the first pending one is the 2 * MAX_PENDING-th.
        assert_eq!(d.incomplete()[0].0, 2 * MAX_PENDING as u64);
    }

    #[test]
    fn past_the_byte_budget_datagrams_complete_without_their_bytes() {
        let mut d = Defrag::default();
        let big = vec![1u8; 4000];
        let fit = (MAX_BYTES / big.len()) as u32;
        for id in 0..fit + 10 {
            feed(&mut d, id, 0, true, &big, 1);
            assert!(d.held <= MAX_BYTES);
        }
        let g = payload(feed(&mut d, fit + 5, 4000, false, b"end", 2));
        assert_eq!(g.payload, Err(Lost::Budget));
        let g = payload(feed(&mut d, 0, 4000, false, b"end", 2));
        assert_eq!(g.payload.map(|b| b.len()), Ok(4003));
    }

    #[test]
    fn completed_datagrams_leave_no_order_behind() {
        let mut d = Defrag::default();
        for id in 0..(5 * MAX_PENDING as u32) {
            feed(&mut d, id, 8, false, b"tail", 1);
            payload(feed(&mut d, id, 0, true, b"headhead", 2));
            assert!(d.order.len() <= 2 * MAX_PENDING + 1);
        }
        assert_eq!(d.held, 0);
    }

    #[test]
    fn a_datagram_whole_in_one_piece_completes_at_once_and_evicts_nothing() {
        let mut d = Defrag::default();
        for id in 0..MAX_PENDING as u32 {
            feed(&mut d, id, 0, true, b"waiting!", 1);
        }
        let g = payload(feed(&mut d, 1 << 20, 0, false, b"atomic", 2));
        assert_eq!((g.payload.as_deref(), g.frames), (Ok(&b"atomic"[..]), 1));
        assert_eq!(d.pending.len(), MAX_PENDING);
    }

    #[test]
    fn cover_merges_touching_and_overlapping_ranges() {
        let mut have = Vec::new();
        cover(&mut have, 10, 20);
        cover(&mut have, 30, 40);
        cover(&mut have, 0, 5);
        assert_eq!(have, [(0, 5), (10, 20), (30, 40)]);
        cover(&mut have, 20, 30);
        assert_eq!(have, [(0, 5), (10, 40)]);
        cover(&mut have, 3, 12);
        assert_eq!(have, [(0, 40)]);
        cover(&mut have, 7, 7);
        assert_eq!(have, [(0, 40)]);
    }
}
