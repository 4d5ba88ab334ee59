//! flow::reassembly: bounded reassembly of the first bytes of one TCP direction.
//!
//! Dissectors only need the application headers at the start of a stream (a TLS
//! ClientHello, an HTTP request head, DNS messages), so each direction keeps a
//! *prefix* of its byte stream, capped by a per-direction byte budget and a global
//! [`Budget`] shared by all flows. Every time a cap is hit it is counted.
//!
//! What it copes with, and how (RFC 9293 §3.4 sequence numbers; RFC 1982 serial
//! arithmetic for the comparisons, so wrap-around at 2^32 is ordinary):
//! - out-of-order segments are held (at most [`MAX_PENDING_SEGMENTS`]) until the gap
//!   before them is filled; the contiguous prefix stops at a gap that is never filled;
//! - retransmissions with the same bytes are counted;
//! - overlaps with *different* bytes are counted and returned as an
//!   [`OverlapConflict`]; the bytes seen first are kept ("first wins", the usual IDS
//!   policy, so that a later injected segment cannot rewrite what was analysed);
//! - a flow seen without its SYN starts at the first payload byte seen (flagged
//!   `midstream`); bytes before that point are counted and dropped;
//! - every byte of the prefix remembers the frame that carried it, so a record found at
//!   some offset can name its frames ([`StreamPrefix::frames_of`]).
//!
//! Contract on bad input: never panics, never holds more than the per-direction budget
//! plus `MAX_PENDING_SEGMENTS` out-of-order segments (each trimmed to the budget window).

use serde::Serialize;
use std::ops::Range;

/// Default per-direction prefix budget: enough for a post-quantum ClientHello, a TLS 1.2
/// server's certificate chain or a few HTTP request heads.
pub(crate) const DEFAULT_DIRECTION_BUDGET: usize = 16 * 1024;

/// How many out-of-order segments one direction may hold while waiting for a gap.
pub(crate) const MAX_PENDING_SEGMENTS: usize = 16;

/// A byte budget shared by all stream prefixes of an analysis, bounding the memory
/// the capture can make us hold whatever its number of flows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Budget {
    remaining: u64,
    /// Times a prefix wanted bytes the budget no longer had.
    hits: u64,
}

impl Budget {
    pub fn new(total_bytes: u64) -> Self {
        Budget {
            remaining: total_bytes,
            hits: 0,
        }
    }

    #[cfg(test)]
    fn remaining(&self) -> u64 {
        self.remaining
    }

    /// How many times the budget ran dry for some prefix.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// Grants up to `want` bytes; counts a hit when it cannot grant them all.
    fn take(&mut self, want: usize) -> usize {
        let want64 = u64::try_from(want).unwrap_or(u64::MAX);
        let granted = want64.min(self.remaining);
        self.remaining -= granted;
        if granted < want64 {
            self.hits += 1;
        }
        usize::try_from(granted).unwrap_or(0)
    }

    fn give_back(&mut self, n: usize) {
        self.remaining = self
            .remaining
            .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    }
}

/// Counters of what one direction's reassembly met, for the anomaly report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReassemblyCounters {
    /// Segments whose bytes were all seen before, with the same content.
    pub retransmitted_segments: u64,
    /// Segments overlapping earlier bytes with different content.
    pub conflicting_overlaps: u64,
    /// Segments that arrived beyond a gap and were held.
    pub out_of_order_segments: u64,
    /// Out-of-order segments dropped because [`MAX_PENDING_SEGMENTS`] were held.
    pub pending_dropped: u64,
    /// Segments lying entirely before the first byte of a mid-stream flow.
    pub before_start_segments: u64,
    /// Times the per-direction budget cut a segment.
    pub direction_budget_hits: u64,
    /// Times the global [`Budget`] cut a segment.
    pub global_budget_hits: u64,
}

/// Two segments carried different bytes for the same stream offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct OverlapConflict {
    /// Stream offset of the first differing byte.
    pub offset: u64,
    /// Frame whose bytes were kept.
    pub kept_frame: u64,
    /// Frame whose different bytes were discarded.
    pub frame: u64,
}

/// What one [`StreamPrefix::push`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushOutcome {
    /// Bytes added to the contiguous prefix (including held segments it released).
    pub appended: usize,
    /// The segment lies beyond a gap and is held.
    pub buffered: bool,
    /// All or part of the segment repeated earlier bytes exactly.
    pub retransmission: bool,
    /// The first overlap with different bytes met during this push.
    pub conflict: Option<OverlapConflict>,
    /// A budget (per direction or global) cut bytes.
    pub truncated: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
    frame: u64,
}

#[derive(Clone, Debug)]
struct Held {
    offset: usize,
    frame: u64,
    bytes: Vec<u8>,
}

/// The reassembled prefix of one TCP direction.
#[derive(Clone, Debug)]
pub struct StreamPrefix {
    cap: usize,
    /// Sequence number of stream offset 0.
    base: Option<u32>,
    midstream: bool,
    full: bool,
    data: Vec<u8>,
    spans: Vec<Span>,
    held: Vec<Held>,
    counters: ReassemblyCounters,
}

impl Default for StreamPrefix {
    fn default() -> Self {
        StreamPrefix::new(DEFAULT_DIRECTION_BUDGET)
    }
}

impl StreamPrefix {
    /// A prefix that keeps at most `direction_budget` bytes.
    pub fn new(direction_budget: usize) -> Self {
        StreamPrefix {
            // Offsets are compared as 31-bit serial distances; a larger cap would make
            // "before" and "after" ambiguous.
            cap: direction_budget.min(1 << 30),
            base: None,
            midstream: false,
            full: false,
            data: Vec::new(),
            spans: Vec::new(),
            held: Vec::new(),
            counters: ReassemblyCounters::default(),
        }
    }

    /// Adds one segment: its sequence number, payload, whether it carries SYN, and the
    /// frame that carried it.
    pub fn push(
        &mut self,
        budget: &mut Budget,
        seq: u32,
        payload: &[u8],
        syn: bool,
        frame: u64,
    ) -> PushOutcome {
        let mut out = PushOutcome::default();
        let mut seq = seq;
        if syn {
            // RFC 9293 §3.4: the SYN occupies one sequence number; data starts after it.
            let data_seq = seq.wrapping_add(1);
            if self.base.is_none() || (self.data.is_empty() && self.held.is_empty()) {
                self.base = Some(data_seq);
                self.midstream = false;
            }
            seq = data_seq;
        }
        if payload.is_empty() {
            return out;
        }
        let base = match self.base {
            Some(b) => b,
            None => {
                self.base = Some(seq);
                self.midstream = true;
                seq
            }
        };
        // RFC 1982 serial arithmetic: the signed 32-bit distance says before/after.
        let rel = seq.wrapping_sub(base) as i32;
        let (offset, payload) = if rel < 0 {
            let skip = usize::try_from(rel.unsigned_abs()).unwrap_or(usize::MAX);
            match payload.get(skip..) {
                Some(rest) if !rest.is_empty() => (0usize, rest),
                _ => {
                    self.counters.before_start_segments += 1;
                    return out;
                }
            }
        } else {
            (usize::try_from(rel).unwrap_or(usize::MAX), payload)
        };
        if self.full {
            // The prefix is complete; later bytes are not kept (already counted when
            // the cap was hit).
            return out;
        }
        self.place(budget, offset, payload, frame, &mut out);
        self.release_held(budget, &mut out);
        out
    }

    fn place(
        &mut self,
        budget: &mut Budget,
        mut offset: usize,
        mut payload: &[u8],
        frame: u64,
        out: &mut PushOutcome,
    ) {
        let len = self.data.len();
        let end = offset.saturating_add(payload.len());
        if offset < len {
            let overlap_end = end.min(len);
            let old = self.data.get(offset..overlap_end).unwrap_or(&[]);
            let new = payload.get(..overlap_end - offset).unwrap_or(&[]);
            match old.iter().zip(new).position(|(a, b)| a != b) {
                None => {
                    if !out.retransmission && end <= len {
                        self.counters.retransmitted_segments += 1;
                    }
                    out.retransmission = true;
                }
                Some(i) => {
                    self.counters.conflicting_overlaps += 1;
                    let at = offset + i;
                    if out.conflict.is_none() {
                        out.conflict = Some(OverlapConflict {
                            offset: at as u64,
                            kept_frame: self.frame_at(at).unwrap_or(frame),
                            frame,
                        });
                    }
                }
            }
            if end <= len {
                return;
            }
            payload = payload.get(len - offset..).unwrap_or(&[]);
            offset = len;
        }
        if offset >= self.cap {
            return;
        }
        if offset > len {
            self.hold(offset, payload, frame, out);
            return;
        }
        let room = self.cap - len;
        let want = payload.len().min(room);
        if want < payload.len() {
            self.counters.direction_budget_hits += 1;
            self.full = true;
            out.truncated = true;
        }
        let granted = budget.take(want);
        if granted < want {
            self.counters.global_budget_hits += 1;
            self.full = true;
            out.truncated = true;
        }
        let Some(bytes) = payload.get(..granted) else {
            return;
        };
        if bytes.is_empty() {
            return;
        }
        self.data.extend_from_slice(bytes);
        let new_end = len + bytes.len();
        match self.spans.last_mut() {
            Some(last) if last.frame == frame && last.end == len => last.end = new_end,
            _ => self.spans.push(Span {
                start: len,
                end: new_end,
                frame,
            }),
        }
        out.appended += bytes.len();
    }

    fn hold(&mut self, offset: usize, payload: &[u8], frame: u64, out: &mut PushOutcome) {
        let keep = payload.len().min(self.cap - offset);
        let Some(bytes) = payload.get(..keep) else {
            return;
        };
        if let Some(h) = self
            .held
            .iter()
            .find(|h| h.offset == offset && h.bytes == bytes)
        {
            let _ = h;
            self.counters.retransmitted_segments += 1;
            out.retransmission = true;
            return;
        }
        if self.held.len() >= MAX_PENDING_SEGMENTS {
            self.counters.pending_dropped += 1;
            return;
        }
        self.counters.out_of_order_segments += 1;
        out.buffered = true;
        let at = self.held.partition_point(|h| h.offset <= offset);
        self.held.insert(
            at,
            Held {
                offset,
                frame,
                bytes: bytes.to_vec(),
            },
        );
    }

    fn release_held(&mut self, budget: &mut Budget, out: &mut PushOutcome) {
        while let Some(first) = self.held.first() {
            if self.full {
                self.held = Vec::new();
                return;
            }
            if first.offset > self.data.len() {
                return;
            }
            let h = self.held.remove(0);
            self.place(budget, h.offset, &h.bytes, h.frame, out);
        }
        if self.held.is_empty() && self.held.capacity() > 0 {
            self.held = Vec::new();
        }
    }

    /// The contiguous bytes from the stream's first byte, up to the first gap or cap.
    pub fn contiguous(&self) -> &[u8] {
        &self.data
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Frames that carried any byte of `range` (stream offsets), in stream order,
    /// without repeats.
    pub fn frames_of(&self, range: Range<usize>) -> Vec<u64> {
        let mut frames: Vec<u64> = Vec::new();
        for s in &self.spans {
            if s.end > range.start && s.start < range.end && !frames.contains(&s.frame) {
                frames.push(s.frame);
            }
        }
        frames
    }

    /// The frame that carried the byte at `offset`.
    pub fn frame_at(&self, offset: usize) -> Option<u64> {
        let i = self.spans.partition_point(|s| s.end <= offset);
        self.spans
            .get(i)
            .filter(|s| s.start <= offset)
            .map(|s| s.frame)
    }

    /// The flow was seen without its SYN: offset 0 is the first byte seen, not the
    /// first byte sent.
    pub(crate) fn midstream(&self) -> bool {
        self.midstream
    }

    /// Bytes beyond a gap are held (or were dropped): the prefix stops at a gap.
    pub(crate) fn has_gap(&self) -> bool {
        !self.held.is_empty()
    }

    /// Whether every byte sent before sequence number `end` (say, a FIN's) is in the
    /// prefix, or will never be (the prefix is full): nothing is left to wait for.
    pub(crate) fn complete_before(&self, end: u32) -> bool {
        if self.full {
            return true;
        }
        if self.has_gap() {
            return false;
        }
        match self.base {
            None => true,
            Some(base) => {
                let sent = end.wrapping_sub(base) as i32;
                sent <= 0 || (sent as usize) <= self.data.len()
            }
        }
    }

    /// Whether `seq` is exactly the next byte the stream expects (RFC 5961 §3.2: the
    /// only place a reset is accepted), or the prefix is full and cannot tell.
    pub(crate) fn expects(&self, seq: u32) -> bool {
        if self.full {
            return true;
        }
        !self.has_gap()
            && self
                .base
                .is_none_or(|base| seq.wrapping_sub(base) as usize == self.data.len())
    }

    /// A budget cut the prefix; later bytes are not kept.
    pub(crate) fn is_full(&self) -> bool {
        self.full
    }

    pub fn counters(&self) -> &ReassemblyCounters {
        &self.counters
    }

    /// Frees the prefix once the dissectors are done with it, giving its bytes back to
    /// the global budget. Later segments are ignored; frame lookups answer nothing.
    pub fn release(&mut self, budget: &mut Budget) {
        budget.give_back(self.data.len());
        self.data = Vec::new();
        self.spans = Vec::new();
        self.held = Vec::new();
        self.full = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big() -> Budget {
        Budget::new(1 << 20)
    }

    #[test]
    fn in_order_segments_after_syn_form_the_prefix_with_their_frames() {
        let mut p = StreamPrefix::new(100);
        let mut b = big();
        p.push(&mut b, 1000, b"", true, 1);
        p.push(&mut b, 1001, b"GET ", false, 3);
        p.push(&mut b, 1005, b"/ HTTP/1.1", false, 4);
        assert_eq!(p.contiguous(), b"GET / HTTP/1.1");
        assert!(!p.midstream());
        assert_eq!(p.frames_of(0..4), vec![3]);
        assert_eq!(p.frames_of(2..6), vec![3, 4]);
        assert_eq!(p.frame_at(13), Some(4));
        assert_eq!(p.frame_at(14), None);
    }

    #[test]
    fn out_of_order_segments_are_held_until_the_gap_fills() {
        let mut p = StreamPrefix::new(100);
        let mut b = big();
        p.push(&mut b, 0, b"", true, 1);
        let o = p.push(&mut b, 7, b"ccc", false, 4);
        assert!(o.buffered);
        let o = p.push(&mut b, 4, b"bbb", false, 3);
        assert!(o.buffered);
        assert!(p.has_gap());
        assert_eq!(p.contiguous(), b"");
        let o = p.push(&mut b, 1, b"aaa", false, 2);
        assert_eq!(o.appended, 9);
        assert_eq!(p.contiguous(), b"aaabbbccc");
        assert!(!p.has_gap());
        assert_eq!(p.frames_of(0..9), vec![2, 3, 4]);
        assert_eq!(p.counters().out_of_order_segments, 2);
    }

    #[test]
    fn retransmission_with_same_bytes_is_counted_not_appended() {
        let mut p = StreamPrefix::new(100);
        let mut b = big();
        p.push(&mut b, 10, b"hello", false, 1);
        let o = p.push(&mut b, 10, b"hello", false, 2);
        assert!(o.retransmission);
        assert_eq!(o.appended, 0);
        assert_eq!(p.counters().retransmitted_segments, 1);
        // A partial retransmission that also brings new bytes.
        let o = p.push(&mut b, 13, b"lo world", false, 3);
        assert!(o.retransmission);
        assert_eq!(p.contiguous(), b"hello world");
        assert_eq!(p.frames_of(5..11), vec![3]);
    }

    #[test]
    fn overlap_with_different_bytes_keeps_first_and_reports_both_frames() {
        let mut p = StreamPrefix::new(100);
        let mut b = big();
        p.push(&mut b, 0, b"", true, 1);
        p.push(&mut b, 1, b"abcdef", false, 2);
        let o = p.push(&mut b, 3, b"cXefgh", false, 7);
        assert_eq!(
            o.conflict,
            Some(OverlapConflict {
                offset: 3,
                kept_frame: 2,
                frame: 7
            })
        );
        assert_eq!(p.contiguous(), b"abcdefgh");
        assert_eq!(p.counters().conflicting_overlaps, 1);
    }

    #[test]
    fn conflicting_held_segment_is_reported_when_released() {
        let mut p = StreamPrefix::new(100);
        let mut b = big();
        p.push(&mut b, 0, b"", true, 1);
        p.push(&mut b, 3, b"Zd", false, 5);
        let o = p.push(&mut b, 1, b"abc", false, 6);
        assert_eq!(p.contiguous(), b"abcd");
        assert_eq!(
            o.conflict.map(|c| (c.offset, c.kept_frame, c.frame)),
            Some((2, 6, 5))
        );
    }

    #[test]
    fn sequence_numbers_wrap_around_at_two_to_the_32() {
        let mut p = StreamPrefix::new(100);
        let mut b = big();
        p.push(&mut b, u32::MAX - 2, b"", true, 1);
        // Data starts at u32::MAX - 1: 2 bytes before the wrap, then 0, 1, ...
        p.push(&mut b, 2, b"cd", false, 3);
        p.push(&mut b, u32::MAX - 1, b"ab", false, 2);
        p.push(&mut b, 0, b"xy", false, 4);
        assert_eq!(p.contiguous(), b"abxycd");
    }

    #[test]
    fn synless_flow_starts_at_first_seen_byte_and_drops_earlier_bytes() {
        let mut p = StreamPrefix::new(100);
        let mut b = big();
        p.push(&mut b, 5000, b"middle", false, 10);
        assert!(p.midstream());
        let o = p.push(&mut b, 4990, b"0123456789", false, 9);
        assert_eq!(o.appended, 0);
        assert_eq!(p.counters().before_start_segments, 1);
        // A segment straddling the start keeps only its tail (here a retransmission).
        p.push(&mut b, 4998, b"..middle!", false, 11);
        assert_eq!(p.contiguous(), b"middle!");
    }

    #[test]
    fn gap_that_never_fills_stops_the_prefix() {
        let mut p = StreamPrefix::new(100);
        let mut b = big();
        p.push(&mut b, 0, b"", true, 1);
        p.push(&mut b, 1, b"ab", false, 2);
        p.push(&mut b, 10, b"zz", false, 3);
        assert_eq!(p.contiguous(), b"ab");
        assert!(p.has_gap());
    }

    #[test]
    fn direction_budget_cuts_and_is_counted_once_full() {
        let mut p = StreamPrefix::new(4);
        let mut b = big();
        let o = p.push(&mut b, 0, b"abcdef", false, 1);
        assert!(o.truncated);
        assert_eq!(p.contiguous(), b"abcd");
        assert!(p.is_full());
        p.push(&mut b, 6, b"gh", false, 2);
        assert_eq!(p.counters().direction_budget_hits, 1);
        assert_eq!(b.remaining(), (1 << 20) - 4);
    }

    #[test]
    fn global_budget_is_shared_and_counts_hits() {
        let mut b = Budget::new(5);
        let mut p1 = StreamPrefix::new(100);
        let mut p2 = StreamPrefix::new(100);
        p1.push(&mut b, 0, b"abc", false, 1);
        let o = p2.push(&mut b, 0, b"defg", false, 2);
        assert!(o.truncated);
        assert_eq!(p2.contiguous(), b"de");
        assert_eq!(b.hits(), 1);
        assert_eq!(p2.counters().global_budget_hits, 1);
        p1.release(&mut b);
        assert_eq!(b.remaining(), 3);
    }

    #[test]
    fn held_segments_are_bounded() {
        let mut p = StreamPrefix::new(10_000);
        let mut b = big();
        p.push(&mut b, 0, b"", true, 1);
        for i in 0..(MAX_PENDING_SEGMENTS as u32 + 5) {
            p.push(&mut b, 100 + i * 10, b"x", false, u64::from(i) + 2);
        }
        assert_eq!(p.counters().pending_dropped, 5);
        assert_eq!(
            p.counters().out_of_order_segments,
            MAX_PENDING_SEGMENTS as u64
        );
    }

    #[test]
    fn out_of_order_beyond_the_cap_is_not_held() {
        let mut p = StreamPrefix::new(8);
        let mut b = big();
        p.push(&mut b, 0, b"", true, 1);
        p.push(&mut b, 20, b"far away", false, 2);
        assert!(!p.has_gap());
        p.push(&mut b, 5, b"4567890", false, 3);
        p.push(&mut b, 1, b"0123", false, 4);
        assert_eq!(p.contiguous(), b"01234567");
    }
}
