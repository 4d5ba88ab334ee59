//! content::follow: the whole byte stream of one TCP direction, in order.
//!
//! Protocol-agnostic: it hands on bytes with the frame that carried them, and gaps
//! (bytes nobody saw) by length; whoever consumes it (HTTP/1.x framing, or a TLS
//! record layer once decrypted) decides what a gap means.
//!
//! Segments beyond a gap wait in a bounded window ([`WINDOW`] bytes per direction,
//! and a [`Budget`] shared by all directions). When the window or the budget is full,
//! the missing bytes are declared lost: a [`Delivery::Gap`] is handed on and the held
//! bytes follow. Overlaps keep the bytes seen first (as `flow::reassembly` does).
//! Memory: at most the window per direction, whatever the stream's length.

use std::collections::BTreeMap;

/// Out-of-order bytes one direction may hold while waiting for a gap to fill.
pub(crate) const WINDOW: usize = 256 * 1024;

/// Out-of-order bytes held over all followed directions at once.
pub(crate) const GLOBAL_BUDGET: u64 = 64 << 20;

/// Bytes held over all followers of an analysis.
#[derive(Debug)]
pub(crate) struct Budget {
    remaining: u64,
    /// Times a follower had to give up on a gap because the budget was spent.
    pub hits: u64,
}

impl Budget {
    pub(crate) fn new(total: u64) -> Budget {
        Budget {
            remaining: total,
            hits: 0,
        }
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new(GLOBAL_BUDGET)
    }
}

/// What the follower hands on, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Delivery<'a> {
    Data {
        bytes: &'a [u8],
        frame: u64,
    },
    /// `len` bytes of the stream were never seen; `why` says why they were given up.
    Gap {
        len: u64,
        why: &'static str,
    },
}

/// One direction's in-order follower.
#[derive(Debug, Default)]
pub(crate) struct Follower {
    /// Sequence number of stream offset 0 (after the SYN, or the first byte seen).
    base: Option<u32>,
    /// Stream offset of the next byte to hand on.
    next: u64,
    held: BTreeMap<u64, (u64, Vec<u8>)>,
    held_bytes: usize,
    /// Bytes handed on, and bytes given up as gaps.
    pub delivered: u64,
    pub lost: u64,
}

impl Follower {
    pub(crate) fn new() -> Follower {
        Follower::default()
    }

    /// Stream offset of `seq`, relative to the next expected byte (serial arithmetic:
    /// within 2^31 either side).
    fn offset_of(&self, base: u32, seq: u32) -> Option<u64> {
        let next_seq = base.wrapping_add(self.next as u32);
        let d = seq.wrapping_sub(next_seq) as i32;
        if d >= 0 {
            Some(self.next + d as u64)
        } else {
            self.next.checked_sub(u64::from(d.unsigned_abs()))
        }
    }

    /// One segment; `deliver` gets what it makes contiguous.
    pub(crate) fn push(
        &mut self,
        budget: &mut Budget,
        seq: u32,
        syn: bool,
        payload: &[u8],
        frame: u64,
        deliver: &mut dyn FnMut(Delivery<'_>),
    ) {
        let mut seq = seq;
        if syn {
            seq = seq.wrapping_add(1);
            if self.base.is_none() {
                self.base = Some(seq);
            }
        }
        if payload.is_empty() {
            return;
        }
        let base = *self.base.get_or_insert(seq);
        let Some(start) = self.offset_of(base, seq) else {
            return;
        };
        let end = start + payload.len() as u64;
        if end <= self.next {
            return; // a retransmission of bytes already handed on
        }
        if start <= self.next {
            let skip = (self.next - start) as usize;
            self.hand_on(&payload[skip..], frame, deliver);
            self.release(budget, deliver);
            return;
        }
        // Beyond a gap: hold it, making room by giving up the oldest gap if needed.
        while self.held_bytes + payload.len() > WINDOW || budget.remaining < payload.len() as u64 {
            if self.held.is_empty() {
                // Nothing held to give up: this segment alone is too large to hold.
                budget.hits += u64::from(budget.remaining < payload.len() as u64);
                let len = start - self.next;
                self.lost += len;
                deliver(Delivery::Gap {
                    len,
                    why: "the out-of-order window was full",
                });
                self.next = start;
                self.hand_on(payload, frame, deliver);
                self.release(budget, deliver);
                return;
            }
            if budget.remaining < payload.len() as u64 {
                budget.hits += 1;
            }
            self.skip_to_held(budget, deliver, "the out-of-order window was full");
            if start <= self.next {
                let skip = ((self.next - start) as usize).min(payload.len());
                self.hand_on(&payload[skip..], frame, deliver);
                self.release(budget, deliver);
                return;
            }
        }
        if self.held.contains_key(&start) {
            return; // first wins
        }
        self.held_bytes += payload.len();
        budget.remaining -= payload.len() as u64;
        self.held.insert(start, (frame, payload.to_vec()));
    }

    fn hand_on(&mut self, bytes: &[u8], frame: u64, deliver: &mut dyn FnMut(Delivery<'_>)) {
        if bytes.is_empty() {
            return;
        }
        self.next += bytes.len() as u64;
        self.delivered += bytes.len() as u64;
        deliver(Delivery::Data { bytes, frame });
    }

    /// Hands on held segments that have become contiguous.
    fn release(&mut self, budget: &mut Budget, deliver: &mut dyn FnMut(Delivery<'_>)) {
        while let Some(entry) = self.held.first_entry() {
            let start = *entry.key();
            if start > self.next {
                break;
            }
            let (frame, bytes) = entry.remove();
            self.held_bytes -= bytes.len();
            budget.remaining += bytes.len() as u64;
            let end = start + bytes.len() as u64;
            if end > self.next {
                let skip = (self.next - start) as usize;
                self.hand_on(&bytes[skip..], frame, deliver);
            }
        }
    }

    /// Gives up the gap before the first held segment and hands on what follows it.
    fn skip_to_held(
        &mut self,
        budget: &mut Budget,
        deliver: &mut dyn FnMut(Delivery<'_>),
        why: &'static str,
    ) {
        if let Some((&start, _)) = self.held.first_key_value() {
            if start > self.next {
                let len = start - self.next;
                self.lost += len;
                deliver(Delivery::Gap { len, why });
                self.next = start;
            }
            self.release(budget, deliver);
        }
    }

    /// The direction ended (FIN, RST, or the end of the capture): whatever is held is
    /// handed on after the gaps before it.
    pub(crate) fn finish(&mut self, budget: &mut Budget, deliver: &mut dyn FnMut(Delivery<'_>)) {
        while !self.held.is_empty() {
            self.skip_to_held(budget, deliver, "the bytes before it were never seen");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: &mut Follower, b: &mut Budget, segs: &[(u32, &[u8], u64)]) -> Vec<String> {
        let mut out = Vec::new();
        for &(seq, p, frame) in segs {
            f.push(b, seq, false, p, frame, &mut |d| {
                out.push(match d {
                    Delivery::Data { bytes, frame } => {
                        format!("{}@{frame}", String::from_utf8_lossy(bytes))
                    }
                    Delivery::Gap { len, .. } => format!("gap{len}"),
                })
            });
        }
        f.finish(b, &mut |d| {
            out.push(match d {
                Delivery::Data { bytes, frame } => {
                    format!("{}@{frame}", String::from_utf8_lossy(bytes))
                }
                Delivery::Gap { len, .. } => format!("gap{len}"),
            })
        });
        out
    }

    #[test]
    fn reorders_trims_and_reports_gaps() {
        let mut b = Budget::default();
        let mut f = Follower::new();
        let mut s = Follower::new();
        f.push(&mut b, 99, true, b"", 1, &mut |_| {});
        let out = run(
            &mut f,
            &mut b,
            &[
                (100, b"ab", 2),
                (104, b"ef", 3),
                (102, b"cd", 4),
                (101, b"bcX", 5),
            ],
        );
        assert_eq!(out, ["ab@2", "cd@4", "ef@3"]);
        // Wrap-around and a gap never filled.
        let out = run(
            &mut s,
            &mut b,
            &[(u32::MAX - 1, b"xy", 1), (2, b"zz", 2), (0, b"", 3)],
        );
        assert_eq!(out, ["xy@1", "gap2", "zz@2"]);
        assert_eq!(b.remaining, GLOBAL_BUDGET);
    }

    #[test]
    fn window_full_gives_up_the_gap() {
        let mut b = Budget::default();
        let mut f = Follower::new();
        let big = vec![b'x'; WINDOW];
        let mut out = Vec::new();
        f.push(&mut b, 0, false, b"a", 1, &mut |_| {});
        f.push(&mut b, 10, false, &big, 2, &mut |_| {});
        f.push(&mut b, 10 + WINDOW as u32, false, b"b", 3, &mut |d| {
            out.push(matches!(d, Delivery::Gap { len: 9, .. }))
        });
        assert_eq!(out.first(), Some(&true));
        assert_eq!(f.next, 11 + WINDOW as u64);
        assert_eq!(f.lost, 9);
        assert_eq!(b.remaining, GLOBAL_BUDGET);
    }
}
