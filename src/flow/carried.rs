//! Bytes of one direction waiting to be read as whole messages (TLS records, HTTP/2
//! frames), with the frames that carried them: pushed at the back, taken from the
//! front a message at a time, each message naming the frames its bytes came in.
//!
//! The bookkeeping is one small entry per push (stream offsets and a frame number),
//! dropped once its bytes are consumed, so it grows with the bytes held, never with
//! the bytes seen.

use std::collections::VecDeque;

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Carried {
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    base: u64,
    /// (start, end, frame): stream offsets `start..end` came in `frame`. Entries are in
    /// stream order; one push of several frames adds one entry per frame.
    spans: VecDeque<(u64, u64, u64)>,
}

impl Carried {
    /// Appends `data`, carried by `frames` (one or more).
    pub(crate) fn push(&mut self, data: &[u8], frames: &[u64]) {
        if data.is_empty() {
            return;
        }
        let start = self.base + self.buf.len() as u64;
        self.buf.extend_from_slice(data);
        let end = self.base + self.buf.len() as u64;
        self.spans
            .extend(frames.iter().map(|&frame| (start, end, frame)));
    }

    /// The bytes held, from the front.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The frames that carried the first `n` bytes held, sorted, each once.
    pub(crate) fn frames_of_front(&self, n: usize) -> Vec<u64> {
        let end = self.base + n as u64;
        let mut out: Vec<u64> = self
            .spans
            .iter()
            .take_while(|&&(start, _, _)| start < end)
            .filter(|&&(_, span_end, _)| span_end > self.base)
            .map(|&(_, _, frame)| frame)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Drops the first `n` bytes held (at most all of them).
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.drain(..n);
        self.base += n as u64;
        while self
            .spans
            .front()
            .is_some_and(|&(_, end, _)| end <= self.base)
        {
            self.spans.pop_front();
        }
    }

    /// Forgets everything held (the stream stopped being read).
    pub(crate) fn clear(&mut self) {
        self.base += self.buf.len() as u64;
        self.buf = Vec::new();
        self.spans.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_names_every_frame_its_bytes_came_in() {
        let mut c = Carried::default();
        c.push(b"abc", &[1]);
        c.push(b"de", &[2]);
        c.push(b"fgh", &[3, 4]);
        assert_eq!(c.frames_of_front(3), vec![1]);
        assert_eq!(c.frames_of_front(4), vec![1, 2]);
        assert_eq!(c.frames_of_front(8), vec![1, 2, 3, 4]);
        c.consume(4);
        assert_eq!(c.bytes(), b"efgh");
        // The rest of frame 2's bytes, then frames 3 and 4.
        assert_eq!(c.frames_of_front(1), vec![2]);
        assert_eq!(c.frames_of_front(2), vec![2, 3, 4]);
        c.consume(4);
        assert!(c.is_empty());
        assert!(c.spans.is_empty());
        c.push(b"x", &[9]);
        assert_eq!(c.frames_of_front(1), vec![9]);
        c.clear();
        assert!(c.is_empty() && c.frames_of_front(1).is_empty());
    }
}
