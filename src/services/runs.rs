//! Records sorted in bounded memory: a buffer, sorted runs in an unnamed temporary
//! file past it, and a merge of the runs when they are read back.
//!
//! The service build gathers its records this way, so that none of them is held
//! whole when a capture has millions of conversations: the partial tallies of
//! server endpoints, the endpoints by their label's hash, by service and by key,
//! the first frame of each conversation by endpoint and by service, and the
//! services' rank keys (`services::list`). Records have a fixed size on disk and
//! are read back a window at a time.

use super::{FrameId, ServiceEndpoint};
use crate::model::{Timestamp, Transport};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::FileExt;

/// Bytes of records read from a run at once (a merge of many runs holds one
/// window each).
const WINDOW: usize = 16 << 10;

/// A record of fixed size on disk.
pub(super) trait Record: Ord + Sized {
    const SIZE: usize;
    fn put(&self, out: &mut Vec<u8>);
    /// `None` for bytes [`Record::put`] did not write.
    fn get(bytes: &[u8]) -> Option<Self>;
}

/// Collects records in any order; gives them back sorted ([`Sorter::finish`]).
pub(super) struct Sorter<T> {
    buf: Vec<T>,
    limit: usize,
    file: Option<File>,
    /// Each run's first record and number of records in the file.
    runs: Vec<(u64, u64)>,
    written: u64,
}

impl<T: Record> Sorter<T> {
    /// Keeps at most `limit` records in memory (at least one) before a run is
    /// written.
    pub(super) fn new(limit: usize) -> Sorter<T> {
        Sorter {
            buf: Vec::new(),
            limit: limit.max(1),
            file: None,
            runs: Vec::new(),
            written: 0,
        }
    }

    pub(super) fn push(&mut self, r: T) {
        if self.buf.len() == self.buf.capacity() {
            // Grows by doubling, but never past the bound (a doubling from just
            // under it would hold almost twice the records the bound allows).
            let more = self.buf.len().max(64).min(self.limit - self.buf.len());
            self.buf.reserve_exact(more.max(1));
        }
        self.buf.push(r);
        if self.buf.len() >= self.limit {
            self.buf.sort_unstable();
            let buf = std::mem::take(&mut self.buf);
            if self.write_run(buf.iter()) {
                self.buf = buf;
                self.buf.clear();
                self.buf.shrink_to(self.limit);
            } else {
                // No file to write to: every record stays in memory from now on.
                self.buf = buf;
                self.limit = usize::MAX;
            }
        }
    }

    /// Writes records given in order as a run; `false` (and nothing kept of them)
    /// when the temporary file cannot be created or written.
    pub(super) fn write_run<R: std::borrow::Borrow<T>>(
        &mut self,
        sorted: impl Iterator<Item = R>,
    ) -> bool {
        if self.file.is_none() {
            match tempfile::tempfile() {
                Ok(f) => self.file = Some(f),
                Err(_) => return false,
            }
        }
        let Some(file) = &self.file else {
            return false;
        };
        let mut bytes = Vec::new();
        let mut n = 0u64;
        let mut at = self.written;
        for r in sorted {
            r.borrow().put(&mut bytes);
            n += 1;
            if bytes.len() >= WINDOW {
                if file.write_all_at(&bytes, at * T::SIZE as u64).is_err() {
                    return false;
                }
                at = self.written + n;
                bytes.clear();
            }
        }
        if !bytes.is_empty() && file.write_all_at(&bytes, at * T::SIZE as u64).is_err() {
            return false;
        }
        self.runs.push((self.written, n));
        self.written += n;
        true
    }

    /// Adds records to those kept in memory, without writing a run.
    pub(super) fn keep(&mut self, records: impl Iterator<Item = T>) {
        self.buf.extend(records);
    }

    /// Whether any run was written.
    pub(super) fn spilled(&self) -> bool {
        !self.runs.is_empty()
    }

    /// Every record, in order (equal ones side by side).
    pub(super) fn finish(mut self) -> Merged<T> {
        if self.spilled() && !self.buf.is_empty() {
            // The records still in memory become a run too, so that the merge
            // holds a window of each run and nothing more.
            self.buf.sort_unstable();
            let buf = std::mem::take(&mut self.buf);
            if !self.write_run(buf.iter()) {
                self.buf = buf;
            }
        }
        // At most FAN_IN runs are merged at once (a window each): more are merged
        // into longer runs first, FAN_IN at a time, each written at the file's end.
        while self.runs.len() > FAN_IN {
            let group: Vec<(u64, u64)> = self.runs.drain(..FAN_IN).collect();
            let file = self.file.as_ref().and_then(|f| f.try_clone().ok());
            let mut merged = Merged::<T>::over(Vec::new(), file, &group);
            let n: u64 = group.iter().map(|r| r.1).sum();
            let before = self.written;
            let written = self.write_run(merged.by_ref());
            if !written || self.written - before != n {
                // The longer run could not be written, or a run not read whole:
                // the final merge takes the runs as they are (and meets the same
                // read failure, which it reports).
                if written {
                    self.runs.pop();
                }
                self.runs.splice(0..0, group);
                break;
            }
        }
        self.buf.sort_unstable();
        Merged::over(std::mem::take(&mut self.buf), self.file, &self.runs)
    }
}

/// Runs merged at once.
const FAN_IN: usize = 64;

impl<T: Record> Merged<T> {
    /// A merge of `memory` (sorted) and the runs `runs` of `file`.
    fn over(memory: Vec<T>, file: Option<File>, runs: &[(u64, u64)]) -> Merged<T> {
        let mut merged = Merged {
            memory: memory.into_iter().peekable(),
            runs: runs
                .iter()
                .map(|&(start, len)| Run {
                    next: start,
                    end: start + len,
                    window: Vec::new(),
                })
                .collect(),
            file,
            heap: BinaryHeap::new(),
            failure: None,
        };
        for i in 0..merged.runs.len() {
            merged.refill(i);
        }
        merged
    }
}

/// A run in the file, read a window at a time (the window is kept reversed, so
/// that its next record is popped from the end).
struct Run<T> {
    next: u64,
    end: u64,
    window: Vec<T>,
}

/// The records of a [`Sorter`], merged: its runs and what stayed in memory.
pub(super) struct Merged<T> {
    memory: std::iter::Peekable<std::vec::IntoIter<T>>,
    file: Option<File>,
    runs: Vec<Run<T>>,
    /// The next record of each run that has one, with the run's number.
    heap: BinaryHeap<Reverse<(T, usize)>>,
    failure: Option<String>,
}

impl<T: Record> Merged<T> {
    /// Puts run `i`'s next record on the heap, reading its next window if needed.
    fn refill(&mut self, i: usize) {
        let Some(run) = self.runs.get_mut(i) else {
            return;
        };
        if run.window.is_empty() && run.next < run.end {
            let n = (run.end - run.next).min((WINDOW / T::SIZE).max(1) as u64);
            let mut bytes = vec![0u8; n as usize * T::SIZE];
            let read = match &self.file {
                Some(f) => f.read_exact_at(&mut bytes, run.next * T::SIZE as u64),
                None => Err(std::io::Error::other("the file is gone")),
            };
            let decoded: Option<Vec<T>> = match read {
                Ok(()) => bytes.chunks_exact(T::SIZE).map(T::get).collect(),
                Err(e) => {
                    self.failure.get_or_insert(format!(
                        "reading the services' records back from their temporary file: {e}"
                    ));
                    None
                }
            };
            let Some(mut decoded) = decoded else {
                self.failure
                    .get_or_insert("a damaged record in the services' temporary file".into());
                run.next = run.end;
                return;
            };
            decoded.reverse();
            run.window = decoded;
            run.next += n;
        }
        if let Some(r) = run.window.pop() {
            self.heap.push(Reverse((r, i)));
        }
    }

    /// The next record, without taking it.
    pub(super) fn peek(&mut self) -> Option<&T> {
        let from_file = self.heap.peek().map(|r| &r.0 .0);
        match (from_file, self.memory.peek()) {
            (Some(a), Some(b)) => Some(if b <= a { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// The next record if it satisfies `f`.
    pub(super) fn next_if(&mut self, f: impl FnOnce(&T) -> bool) -> Option<T> {
        if f(self.peek()?) {
            self.next()
        } else {
            None
        }
    }

    /// Why a run could not be read back (the records given are then incomplete).
    pub(super) fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }
}

impl<T: Record> Iterator for Merged<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let memory_first = match (self.heap.peek(), self.memory.peek()) {
            (Some(a), Some(b)) => *b <= a.0 .0,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        if memory_first {
            return self.memory.next();
        }
        let Reverse((r, i)) = self.heap.pop()?;
        self.refill(i);
        Some(r)
    }
}

/// A conversation's first frame by service: the service number inverted (so that
/// the highest service comes first, the order in which the services are
/// assembled), then the frame.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct FramePair(u32, u64);

impl FramePair {
    pub(super) fn new(service: u32, frame: FrameId) -> FramePair {
        FramePair(u32::MAX - service, frame.0)
    }

    pub(super) fn service(self) -> u32 {
        u32::MAX - self.0
    }

    pub(super) fn frame(self) -> FrameId {
        FrameId(self.1)
    }
}

impl Record for FramePair {
    const SIZE: usize = 12;

    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
        out.extend_from_slice(&self.1.to_le_bytes());
    }

    fn get(b: &[u8]) -> Option<FramePair> {
        Some(FramePair(
            u32::from_le_bytes(b.get(..4)?.try_into().ok()?),
            u64::from_le_bytes(b.get(4..12)?.try_into().ok()?),
        ))
    }
}

/// A server endpoint: address, port, transport (ordered as the report lists a
/// service's endpoints).
pub(super) type EndpointKey = (IpAddr, u16, Transport);

/// A server endpoint's traffic, summed over its conversations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tally {
    pub(super) conversations: u64,
    pub(super) frames_to_server: u64,
    pub(super) bytes_to_server: u64,
    pub(super) frames_to_client: u64,
    pub(super) bytes_to_client: u64,
    pub(super) first_seen: Timestamp,
    pub(super) last_seen: Timestamp,
}

impl Tally {
    pub(super) fn add(&mut self, other: &Tally) {
        self.conversations += other.conversations;
        self.frames_to_server += other.frames_to_server;
        self.bytes_to_server += other.bytes_to_server;
        self.frames_to_client += other.frames_to_client;
        self.bytes_to_client += other.bytes_to_client;
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
    }
}

/// Bytes of an endpoint key and a tally on disk.
const KEY_SIZE: usize = 20;
const TALLY_SIZE: usize = 64;

/// Bytes of an address: its family (4 or 6), then 16 bytes (an IPv4 address
/// padded with zeros).
pub(super) const IP_SIZE: usize = 17;

pub(super) fn put_ip(ip: IpAddr, out: &mut Vec<u8>) {
    match ip {
        IpAddr::V4(a) => {
            out.push(4);
            out.extend_from_slice(&a.octets());
            out.extend_from_slice(&[0; 12]);
        }
        IpAddr::V6(a) => {
            out.push(6);
            out.extend_from_slice(&a.octets());
        }
    }
}

/// The address [`put_ip`] wrote at the start of `b`.
pub(super) fn get_ip(b: &[u8]) -> Option<IpAddr> {
    match b.first()? {
        4 => Some(IpAddr::V4(Ipv4Addr::from(
            <[u8; 4]>::try_from(b.get(1..5)?).ok()?,
        ))),
        6 => Some(IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(b.get(1..IP_SIZE)?).ok()?,
        ))),
        _ => None,
    }
}

fn put_key(k: &EndpointKey, out: &mut Vec<u8>) {
    put_ip(k.0, out);
    out.extend_from_slice(&k.1.to_le_bytes());
    out.push(k.2.code());
}

fn get_key(b: &[u8]) -> Option<EndpointKey> {
    let ip = get_ip(b)?;
    let port = u16::from_le_bytes(b.get(IP_SIZE..IP_SIZE + 2)?.try_into().ok()?);
    let transport = Transport::from_code(*b.get(IP_SIZE + 2)?)?;
    Some((ip, port, transport))
}

fn put_tally(t: &Tally, out: &mut Vec<u8>) {
    for v in [
        t.conversations,
        t.frames_to_server,
        t.bytes_to_server,
        t.frames_to_client,
        t.bytes_to_client,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for ts in [t.first_seen, t.last_seen] {
        out.extend_from_slice(&ts.secs.to_le_bytes());
        out.extend_from_slice(&ts.nanos.to_le_bytes());
    }
}

fn get_tally(b: &[u8]) -> Option<Tally> {
    let u =
        |i: usize| -> Option<u64> { Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?)) };
    let ts = |i: usize| -> Option<Timestamp> {
        Some(Timestamp::new(
            i64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?),
            u32::from_le_bytes(b.get(i + 8..i + 12)?.try_into().ok()?),
        ))
    };
    Some(Tally {
        conversations: u(0)?,
        frames_to_server: u(8)?,
        bytes_to_server: u(16)?,
        frames_to_client: u(24)?,
        bytes_to_client: u(32)?,
        first_seen: ts(40)?,
        last_seen: ts(52)?,
    })
}

/// A partial tally of one endpoint (ordered by the endpoint only: partial tallies
/// of one endpoint come side by side, to be added up).
pub(super) struct PartialTally(pub(super) EndpointKey, pub(super) Tally);

impl PartialEq for PartialTally {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for PartialTally {}

impl PartialOrd for PartialTally {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PartialTally {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

impl Record for PartialTally {
    const SIZE: usize = KEY_SIZE + TALLY_SIZE;

    fn put(&self, out: &mut Vec<u8>) {
        put_key(&self.0, out);
        put_tally(&self.1, out);
    }

    fn get(b: &[u8]) -> Option<PartialTally> {
        Some(PartialTally(
            get_key(b.get(..KEY_SIZE)?)?,
            get_tally(b.get(KEY_SIZE..)?)?,
        ))
    }
}

/// A server endpoint and its traffic, after a prefix it is ordered by first
/// (then by endpoint): a service number ([`ServicePart`]) or a label's hash
/// ([`Labelled`]).
pub(super) struct Tallied<P>(pub(super) P, pub(super) EndpointKey, pub(super) Tally);

/// An endpoint of a service: the service number inverted (the highest service
/// first, the order in which the services are assembled).
pub(super) type ServicePart = Tallied<u32>;

/// An endpoint with the hash of its label: the endpoints of one label come side
/// by side (labels whose hashes agree are told apart when they are numbered).
pub(super) type Labelled = Tallied<u64>;

/// A value of fixed size, little-endian on disk: the prefix of a [`Tallied`] or
/// what follows the endpoint in a [`Keyed`].
pub(super) trait Field: Copy + Ord {
    const SIZE: usize;
    fn put(self, out: &mut Vec<u8>);
    fn get(b: &[u8]) -> Option<Self>;
}

/// [`Field`] for unsigned integers, little-endian.
macro_rules! le_field {
    ($($t:ty),*) => {$(
        impl Field for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn get(b: &[u8]) -> Option<$t> {
                Some(<$t>::from_le_bytes(b.try_into().ok()?))
            }
        }
    )*};
}

le_field!(u32, u64);

impl ServicePart {
    pub(super) fn new(service: u32, key: EndpointKey, t: Tally) -> ServicePart {
        Tallied(u32::MAX - service, key, t)
    }

    pub(super) fn service(&self) -> u32 {
        u32::MAX - self.0
    }

    pub(super) fn endpoint(&self) -> ServiceEndpoint {
        let (ip, port, transport) = self.1;
        let t = &self.2;
        ServiceEndpoint {
            ip,
            port,
            transport,
            conversations: t.conversations,
            frames_to_server: t.frames_to_server,
            bytes_to_server: t.bytes_to_server,
            frames_to_client: t.frames_to_client,
            bytes_to_client: t.bytes_to_client,
            first_seen: t.first_seen,
            last_seen: t.last_seen,
        }
    }
}

impl<P: Field> PartialEq for Tallied<P> {
    fn eq(&self, other: &Self) -> bool {
        (self.0, self.1) == (other.0, other.1)
    }
}

impl<P: Field> Eq for Tallied<P> {}

impl<P: Field> PartialOrd for Tallied<P> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<P: Field> Ord for Tallied<P> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.0, self.1).cmp(&(other.0, other.1))
    }
}

impl<P: Field> Record for Tallied<P> {
    const SIZE: usize = P::SIZE + KEY_SIZE + TALLY_SIZE;

    fn put(&self, out: &mut Vec<u8>) {
        self.0.put(out);
        put_key(&self.1, out);
        put_tally(&self.2, out);
    }

    fn get(b: &[u8]) -> Option<Tallied<P>> {
        Some(Tallied(
            P::get(b.get(..P::SIZE)?)?,
            get_key(b.get(P::SIZE..P::SIZE + KEY_SIZE)?)?,
            get_tally(b.get(P::SIZE + KEY_SIZE..)?)?,
        ))
    }
}

impl Field for FrameId {
    const SIZE: usize = 8;
    fn put(self, out: &mut Vec<u8>) {
        self.0.put(out);
    }
    fn get(b: &[u8]) -> Option<FrameId> {
        u64::get(b).map(FrameId)
    }
}

/// A server endpoint and a value, ordered by endpoint then value.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Keyed<V>(pub(super) EndpointKey, pub(super) V);

/// A server endpoint and the number of its service.
pub(super) type KeyNumber = Keyed<u32>;

/// A conversation's first frame by its server endpoint.
pub(super) type KeyFrame = Keyed<FrameId>;

impl<V: Field> Record for Keyed<V> {
    const SIZE: usize = KEY_SIZE + V::SIZE;

    fn put(&self, out: &mut Vec<u8>) {
        put_key(&self.0, out);
        self.1.put(out);
    }

    fn get(b: &[u8]) -> Option<Keyed<V>> {
        Some(Keyed(
            get_key(b.get(..KEY_SIZE)?)?,
            V::get(b.get(KEY_SIZE..)?)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(n: u64, secs: i64) -> Tally {
        Tally {
            conversations: n,
            frames_to_server: n * 2,
            bytes_to_server: n * 100,
            frames_to_client: n * 3,
            bytes_to_client: n * 1000,
            first_seen: Timestamp::new(secs, 7),
            last_seen: Timestamp::new(secs + 5, 999_999_999),
        }
    }

    proptest::proptest! {
        /// Whatever the order given and the memory bound, the records come back
        /// sorted, each once.
        #[test]
        fn records_come_back_sorted(
            pairs in proptest::collection::vec((0u32..20, 0u64..1000), 0..400),
            limit in 1usize..50,
        ) {
            let mut s = Sorter::new(limit);
            for &(service, frame) in &pairs {
                s.push(FramePair::new(service, FrameId::new(0, frame)));
            }
            let mut want: Vec<(u32, u64)> = pairs.clone();
            want.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let merged = s.finish();
            let got: Vec<(u32, u64)> =
                merged.map(|p| (p.service(), p.frame().frame())).collect();
            proptest::prop_assert_eq!(got, want);
        }

        /// Endpoint keys and tallies read back as written, and order as the
        /// values do (IPv4 before IPv6, then port, then transport).
        #[test]
        fn parts_read_back_and_order_as_their_values(
            parts in proptest::collection::vec(
                (0u32..5, proptest::prelude::any::<[u8; 16]>(), proptest::prelude::any::<bool>(),
                 proptest::prelude::any::<u16>(), 0u8..3, 1u64..1000, proptest::prelude::any::<i64>()),
                0..200),
            limit in 1usize..40,
        ) {
            let mut s = Sorter::new(limit);
            let mut want = Vec::new();
            for &(service, octets, v4, port, t, n, secs) in &parts {
                let ip = if v4 {
                    IpAddr::V4(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]))
                } else {
                    IpAddr::V6(Ipv6Addr::from(octets))
                };
                let transport = [Transport::Tcp, Transport::Udp, Transport::Ip][usize::from(t)];
                let key = (ip, port, transport);
                s.push(ServicePart::new(service, key, tally(n, secs / 2)));
                want.push((std::cmp::Reverse(service), key, tally(n, secs / 2)));
            }
            want.sort_by_key(|a| (a.0, a.1));
            let got: Vec<_> = s
                .finish()
                .map(|p| (std::cmp::Reverse(p.service()), p.1, p.2))
                .collect();
            // In key order; equal keys may come in either order, so the records
            // themselves are compared as sets.
            let keys = |v: &[(std::cmp::Reverse<u32>, EndpointKey, Tally)]| {
                v.iter().map(|x| (x.0, x.1)).collect::<Vec<_>>()
            };
            proptest::prop_assert_eq!(keys(&got), keys(&want));
            let whole = |v: &[(std::cmp::Reverse<u32>, EndpointKey, Tally)]| {
                let mut w: Vec<_> = v
                    .iter()
                    .map(|(s, k, t)| (*s, *k, t.conversations, t.first_seen, t.last_seen))
                    .collect();
                w.sort();
                w
            };
            proptest::prop_assert_eq!(whole(&got), whole(&want));
        }
    }

    /// Runs written and records kept in memory merge; bytes `put` did not write
    /// do not decode.
    #[test]
    fn runs_and_memory_merge_and_strange_bytes_do_not_decode() {
        let mut s: Sorter<FramePair> = Sorter::new(2);
        for f in 0..5 {
            s.push(FramePair::new(1, FrameId::new(0, f)));
        }
        assert!(s.spilled());
        s.keep([FramePair::new(1, FrameId::new(0, 2))].into_iter());
        let mut merged = s.finish();
        let got: Vec<u64> = merged.by_ref().map(|p| p.frame().frame()).collect();
        assert_eq!(got, [0, 1, 2, 2, 3, 4]);
        assert!(merged.failure().is_none());
        let k = (IpAddr::V4(Ipv4Addr::LOCALHOST), 1, Transport::Tcp);
        let mut bytes = Vec::new();
        PartialTally(k, tally(1, 0)).put(&mut bytes);
        assert_eq!(bytes.len(), PartialTally::SIZE);
        bytes[0] = 5;
        assert!(PartialTally::get(&bytes).is_none());

        // More runs than are merged at once: merged into longer ones first.
        let mut s: Sorter<FramePair> = Sorter::new(3);
        for f in (0..1000u64).rev() {
            s.push(FramePair::new((f % 7) as u32, FrameId::new(1, f)));
        }
        assert!(s.runs.len() > 4 * FAN_IN);
        let merged = s.finish();
        assert!(merged.runs.len() <= FAN_IN);
        let got: Vec<(u32, u64)> = merged.map(|p| (p.service(), p.frame().frame())).collect();
        let mut want: Vec<(u32, u64)> = (0..1000u64).map(|f| ((f % 7) as u32, f)).collect();
        want.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        assert_eq!(got, want);
    }
}
