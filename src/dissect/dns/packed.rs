//! The bindings of a capture, packed: each one encoded back to back in one byte
//! buffer, in an order-preserving form (comparing two encodings byte by byte orders
//! them as [`Binding`]'s `Ord` does). A binding costs its encoding (about 60 bytes
//! for a typical name) and 8 bytes of index, not a struct and two heap strings;
//! sorting compares bytes and decodes nothing.
//!
//! Memory is bounded, not the count: once the buffer holds [`RUN_BYTES`], its
//! bindings are sorted and moved to an unnamed temporary file as one run (each
//! encoding after its length, 4 bytes big-endian), and the sorted list is a merge of
//! the runs, read [`READ_AHEAD`] bytes at a time, at most [`MERGE_WAYS`] at once
//! (more are merged in rounds into longer runs first). A file that cannot be written
//! keeps the bindings in memory; one that cannot be read back is an error.
//!
//! Each field is self-delimiting and ordered: strings with `00` escaped as `00 FF`
//! and ended by `00 00` (so a prefix sorts first); lists as `01` before each element
//! and `00` at the end; an address as a version tag then its octets; options as a
//! `00`/`01` tag; integers big-endian, the signed seconds with the sign bit flipped.

use super::{Binding, BindingKind};
use crate::dissect::WireString;
use crate::model::{Endpoint, Timestamp};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::os::unix::fs::FileExt;

/// Encodings held in memory before they move to the temporary file as a run: 64 KiB
/// short of 4 MiB, so that the bindings a frame adds before the check at the next
/// frame rarely make the buffer grow to 8 MiB.
const RUN_BYTES: usize = (4 << 20) - (64 << 10);
/// Runs merged at once.
const MERGE_WAYS: usize = 32;
/// What is read of a run at a time while merging.
const READ_AHEAD: usize = 64 << 10;

#[derive(Debug)]
pub(super) struct Packed {
    bytes: Vec<u8>,
    /// Where each binding in memory starts, in the order they were added.
    starts: Vec<u64>,
    /// Bindings moved to the file, all added before those in memory.
    moved: usize,
    runs: Option<Runs>,
    /// The file could not be written: every binding stays in memory from then on.
    stay: bool,
    run_bytes: usize,
}

impl Default for Packed {
    fn default() -> Self {
        Packed::with_run_bytes(RUN_BYTES)
    }
}

/// The temporary file and where each sorted run is in it.
#[derive(Debug)]
struct Runs {
    file: File,
    runs: Vec<Range<u64>>,
    end: u64,
}

impl Packed {
    pub(super) fn with_run_bytes(run_bytes: usize) -> Self {
        Packed {
            bytes: Vec::new(),
            starts: Vec::new(),
            moved: 0,
            runs: None,
            stay: false,
            run_bytes,
        }
    }

    pub(super) fn push(&mut self, b: &Binding) {
        self.starts.push(self.bytes.len() as u64);
        encode(b, &mut self.bytes);
    }

    /// How many bindings were added.
    pub(super) fn len(&self) -> usize {
        self.moved + self.starts.len()
    }

    /// The first binding still in memory (those before it are in the file).
    pub(super) fn first_in_memory(&self) -> usize {
        self.moved
    }

    fn slice(&self, i: usize) -> &[u8] {
        slice(&self.bytes, &self.starts, i)
    }

    /// Binding `i` (in the order added), while it is in memory.
    pub(super) fn get(&self, i: usize) -> Option<Binding> {
        let i = i.checked_sub(self.moved)?;
        (i < self.starts.len())
            .then(|| decode(self.slice(i)))
            .flatten()
    }

    /// Moves the bindings in memory to the temporary file, sorted, once they fill
    /// the buffer; if the file cannot be written they stay, and so do all later ones.
    pub(super) fn move_if_full(&mut self) {
        if self.stay || self.bytes.len() < self.run_bytes || self.starts.is_empty() {
            return;
        }
        match self.move_run() {
            Ok(()) => {
                self.moved += self.starts.len();
                self.bytes.clear();
                self.starts.clear();
            }
            Err(_) => self.stay = true,
        }
    }

    fn move_run(&mut self) -> io::Result<()> {
        if self.runs.is_none() {
            self.runs = Some(Runs {
                file: tempfile::tempfile()?,
                runs: Vec::new(),
                end: 0,
            });
        }
        let order = self.order();
        let (bytes, starts) = (&self.bytes, &self.starts);
        let Some(runs) = self.runs.as_mut() else {
            return Ok(());
        };
        let mut out = RunWriter::new(&runs.file, runs.end);
        for &i in &order {
            out.record(slice(bytes, starts, i))?;
        }
        let run = out.finish()?;
        runs.end = run.end;
        runs.runs.push(run);
        Ok(())
    }

    /// The bindings in memory in `Ord` order, as indexes.
    fn order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.starts.len()).collect();
        order.sort_unstable_by(|&x, &y| self.slice(x).cmp(self.slice(y)));
        order
    }

    /// Every binding in `Ord` order, decoded one at a time: the runs in the file
    /// merged with those still in memory. An error reading the file back ends the
    /// list with that error.
    pub(super) fn into_sorted(self) -> io::Result<Sorted> {
        let order = self.order();
        let memory = Memory {
            bytes: self.bytes,
            starts: self.starts,
            order: order.into_iter(),
        };
        let (file, mut runs, mut end) = match self.runs {
            Some(r) => (Some(r.file), r.runs, r.end),
            None => (None, Vec::new(), 0),
        };
        if let Some(file) = &file {
            // Rounds: merge the oldest runs into one longer run at the file's end
            // until few enough are left to be read at once.
            while runs.len() > MERGE_WAYS {
                let group: Vec<Range<u64>> = runs.drain(..MERGE_WAYS).collect();
                let mut merge = Merge::new(file, group, None)?;
                let mut out = RunWriter::new(file, end);
                while let Some(rec) = merge.next(file)? {
                    out.record(&rec)?;
                }
                let run = out.finish()?;
                end = run.end;
                runs.push(run);
            }
        }
        let merge = match &file {
            Some(f) => Merge::new(f, runs, Some(memory))?,
            None => Merge::new_in_memory(memory),
        };
        Ok(Sorted { file, merge })
    }
}

fn slice<'a>(bytes: &'a [u8], starts: &[u64], i: usize) -> &'a [u8] {
    let start = starts.get(i).map_or(0, |&s| s as usize);
    let end = starts.get(i + 1).map_or(bytes.len(), |&e| e as usize);
    bytes.get(start..end).unwrap_or_default()
}

/// The sorted bindings (see [`Packed::into_sorted`]).
pub(super) struct Sorted {
    file: Option<File>,
    merge: Merge,
}

impl Iterator for Sorted {
    type Item = io::Result<Binding>;

    fn next(&mut self) -> Option<io::Result<Binding>> {
        let rec = match &self.file {
            Some(f) => self.merge.next(f),
            None => self.merge.next_in_memory(),
        };
        match rec {
            Ok(Some(rec)) => Some(decode(&rec).ok_or_else(|| damaged("a binding"))),
            Ok(None) => None,
            Err(e) => {
                // The list ends at its first error.
                self.merge = Merge::new_in_memory(Memory::default());
                Some(Err(e))
            }
        }
    }
}

fn damaged(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{what} in the temporary file of DNS answers is damaged"),
    )
}

/// Writes one run at the end of the file, buffered.
struct RunWriter<'a> {
    file: &'a File,
    start: u64,
    at: u64,
    buf: Vec<u8>,
}

impl<'a> RunWriter<'a> {
    fn new(file: &'a File, start: u64) -> Self {
        RunWriter {
            file,
            start,
            at: start,
            buf: Vec::with_capacity(READ_AHEAD),
        }
    }

    fn record(&mut self, rec: &[u8]) -> io::Result<()> {
        let len = u32::try_from(rec.len()).map_err(|_| damaged("an oversized binding"))?;
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(rec);
        if self.buf.len() >= READ_AHEAD {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.write_all_at(&self.buf, self.at)?;
        self.at += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    fn finish(mut self) -> io::Result<Range<u64>> {
        self.flush()?;
        Ok(self.start..self.at)
    }
}

/// Reads one run's records in order, [`READ_AHEAD`] bytes at a time.
struct RunReader {
    /// What of the run is not yet read into `buf`.
    rest: Range<u64>,
    buf: Vec<u8>,
    at: usize,
}

impl RunReader {
    /// The next record into `out`; `false` at the end of the run.
    fn next(&mut self, file: &File, out: &mut Vec<u8>) -> io::Result<bool> {
        if self.at == self.buf.len() && self.rest.is_empty() {
            return Ok(false);
        }
        let len = self.take(file, 4)?;
        let len = u32::from_be_bytes(len.try_into().map_err(|_| damaged("a length"))?);
        let rec = self.take(file, len as usize)?;
        out.clear();
        out.extend_from_slice(rec);
        Ok(true)
    }

    /// The next `n` bytes of the run, reading more of it as needed.
    fn take(&mut self, file: &File, n: usize) -> io::Result<&[u8]> {
        if self.buf.len() - self.at < n {
            self.buf.drain(..self.at);
            self.at = 0;
            let want = (n - self.buf.len()).max(READ_AHEAD) as u64;
            let get = want.min(self.rest.end - self.rest.start);
            if (self.buf.len() as u64) + get < n as u64 {
                return Err(damaged("a run"));
            }
            let old = self.buf.len();
            self.buf.resize(old + get as usize, 0);
            file.read_exact_at(&mut self.buf[old..], self.rest.start)?;
            self.rest.start += get;
        }
        let got = self
            .buf
            .get(self.at..self.at + n)
            .ok_or_else(|| damaged("a run"))?;
        self.at += n;
        Ok(got)
    }
}

/// The bindings that never left memory, in order.
#[derive(Default)]
struct Memory {
    bytes: Vec<u8>,
    starts: Vec<u64>,
    order: std::vec::IntoIter<usize>,
}

impl Memory {
    fn next(&mut self, out: &mut Vec<u8>) -> bool {
        match self.order.next() {
            Some(i) => {
                out.clear();
                out.extend_from_slice(slice(&self.bytes, &self.starts, i));
                true
            }
            None => false,
        }
    }
}

/// The smallest record of each source, ordered by bytes (then by source, which
/// only orders equal bindings among themselves).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Head {
    rec: Vec<u8>,
    source: usize,
}

/// A k-way merge of sorted runs (sources `0..runs`) and the bindings in memory
/// (the last source).
struct Merge {
    readers: Vec<RunReader>,
    memory: Memory,
    heads: BinaryHeap<Reverse<Head>>,
}

impl Merge {
    fn new(file: &File, runs: Vec<Range<u64>>, memory: Option<Memory>) -> io::Result<Merge> {
        let mut m = Merge {
            readers: runs
                .into_iter()
                .map(|rest| RunReader {
                    rest,
                    buf: Vec::new(),
                    at: 0,
                })
                .collect(),
            memory: memory.unwrap_or_default(),
            heads: BinaryHeap::new(),
        };
        for source in 0..=m.readers.len() {
            m.refill(file, source, Vec::new())?;
        }
        Ok(m)
    }

    fn new_in_memory(memory: Memory) -> Merge {
        Merge {
            readers: Vec::new(),
            memory,
            heads: BinaryHeap::new(),
        }
    }

    /// Reads `source`'s next record into `rec` and queues it.
    fn refill(&mut self, file: &File, source: usize, mut rec: Vec<u8>) -> io::Result<()> {
        let more = match self.readers.get_mut(source) {
            Some(r) => r.next(file, &mut rec)?,
            None => self.memory.next(&mut rec),
        };
        if more {
            self.heads.push(Reverse(Head { rec, source }));
        }
        Ok(())
    }

    fn next(&mut self, file: &File) -> io::Result<Option<Vec<u8>>> {
        let Some(Reverse(Head { rec, source })) = self.heads.pop() else {
            return Ok(None);
        };
        self.refill(file, source, Vec::with_capacity(rec.len()))?;
        Ok(Some(rec))
    }

    /// Without a file, the merge is the bindings in memory alone.
    fn next_in_memory(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut rec = Vec::new();
        Ok(self.memory.next(&mut rec).then_some(rec))
    }
}

fn string(s: &[u8], out: &mut Vec<u8>) {
    for &b in s {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

fn address(ip: IpAddr, out: &mut Vec<u8>) {
    match ip {
        IpAddr::V4(v4) => {
            out.push(0);
            out.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            out.push(1);
            out.extend_from_slice(&v6.octets());
        }
    }
}

fn endpoint(e: Endpoint, out: &mut Vec<u8>) {
    address(e.ip, out);
    match e.port {
        None => out.push(0),
        Some(p) => {
            out.push(1);
            out.extend_from_slice(&p.to_be_bytes());
        }
    }
}

fn encode(b: &Binding, out: &mut Vec<u8>) {
    string(b.name.as_bytes(), out);
    for c in &b.chain {
        out.push(1);
        string(c.as_bytes(), out);
    }
    out.push(0);
    address(b.address, out);
    out.push(match b.kind {
        BindingKind::Address => 0,
        BindingKind::SvcbHint => 1,
        BindingKind::Ptr => 2,
    });
    out.extend_from_slice(&b.ttl.to_be_bytes());
    match b.query_frame {
        None => out.push(0),
        Some(f) => {
            out.push(1);
            out.extend_from_slice(&f.to_be_bytes());
        }
    }
    out.extend_from_slice(&b.answer_frame.to_be_bytes());
    out.extend_from_slice(&b.answer_offset.to_be_bytes());
    out.extend_from_slice(&((b.ts.secs as u64) ^ (1 << 63)).to_be_bytes());
    out.extend_from_slice(&b.ts.nanos.to_be_bytes());
    endpoint(b.client, out);
    endpoint(b.server, out);
}

struct Reader<'a> {
    rec: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let b = self
            .rec
            .get(self.at..self.at.checked_add(N)?)?
            .try_into()
            .ok()?;
        self.at += N;
        Some(b)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take::<1>()?[0])
    }
    fn string(&mut self) -> Option<WireString> {
        let mut s = Vec::new();
        loop {
            match self.u8()? {
                0 => match self.u8()? {
                    0 => return Some(WireString(s)),
                    0xFF => s.push(0),
                    _ => return None,
                },
                b => s.push(b),
            }
        }
    }
    fn address(&mut self) -> Option<IpAddr> {
        match self.u8()? {
            0 => Some(IpAddr::V4(Ipv4Addr::from(self.take::<4>()?))),
            1 => Some(IpAddr::V6(Ipv6Addr::from(self.take::<16>()?))),
            _ => None,
        }
    }
    fn endpoint(&mut self) -> Option<Endpoint> {
        let ip = self.address()?;
        let port = match self.u8()? {
            0 => None,
            1 => Some(u16::from_be_bytes(self.take()?)),
            _ => return None,
        };
        Some(Endpoint { ip, port })
    }
}

fn decode(rec: &[u8]) -> Option<Binding> {
    let mut r = Reader { rec, at: 0 };
    let name = r.string()?;
    let mut chain = Vec::new();
    loop {
        match r.u8()? {
            0 => break,
            1 => chain.push(r.string()?),
            _ => return None,
        }
    }
    let address = r.address()?;
    let kind = match r.u8()? {
        0 => BindingKind::Address,
        1 => BindingKind::SvcbHint,
        2 => BindingKind::Ptr,
        _ => return None,
    };
    let ttl = u32::from_be_bytes(r.take()?);
    let query_frame = match r.u8()? {
        0 => None,
        1 => Some(u64::from_be_bytes(r.take()?)),
        _ => return None,
    };
    let answer_frame = u64::from_be_bytes(r.take()?);
    let answer_offset = u64::from_be_bytes(r.take()?);
    let secs = (u64::from_be_bytes(r.take()?) ^ (1 << 63)) as i64;
    let ts = Timestamp::new(secs, u32::from_be_bytes(r.take()?));
    let client = r.endpoint()?;
    let server = r.endpoint()?;
    (r.at == rec.len()).then_some(Binding {
        name,
        chain,
        address,
        kind,
        ttl,
        query_frame,
        answer_frame,
        answer_offset,
        ts,
        client,
        server,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Each field drawn from a few edge values, so that lists hold many bindings
    // equal up to some field and every field's order is exercised.
    fn wire() -> impl Strategy<Value = WireString> {
        proptest::collection::vec(prop_oneof![Just(0u8), Just(0xFF), Just(b'a')], 0..3)
            .prop_map(WireString)
    }

    fn ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            Just(IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4))),
            Just(IpAddr::V4(Ipv4Addr::new(1, 2, 3, 255))),
            Just(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            Just(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        ]
    }

    fn endpoint() -> impl Strategy<Value = Endpoint> {
        (
            ip(),
            proptest::option::of(prop_oneof![Just(0u16), Just(1), Just(256)]),
        )
            .prop_map(|(ip, port)| Endpoint { ip, port })
    }

    fn binding() -> impl Strategy<Value = Binding> {
        (
            (wire(), proptest::collection::vec(wire(), 0..3), ip()),
            (
                0u8..3,
                prop_oneof![Just(0u32), Just(1), Just(256), Just(u32::MAX)],
            ),
            (
                proptest::option::of(prop_oneof![Just(0u64), Just(1), Just(u64::MAX)]),
                prop_oneof![Just(0u64), Just(1), Just(256), Just(u64::MAX)],
                prop_oneof![Just(0u64), Just(24), Just(u64::MAX)],
            ),
            (
                prop_oneof![Just(i64::MIN), Just(-1), Just(0), Just(1), Just(i64::MAX)],
                prop_oneof![Just(0u32), Just(1), Just(999_999_999)],
            ),
            (endpoint(), endpoint()),
        )
            .prop_map(
                |(
                    (name, chain, address),
                    (kind, ttl),
                    (query_frame, answer_frame, answer_offset),
                    (secs, nanos),
                    (client, server),
                )| Binding {
                    name,
                    chain,
                    address,
                    kind: [
                        BindingKind::Address,
                        BindingKind::SvcbHint,
                        BindingKind::Ptr,
                    ][usize::from(kind)],
                    ttl,
                    query_frame,
                    answer_frame,
                    answer_offset,
                    ts: Timestamp::new(secs, nanos),
                    client,
                    server,
                },
            )
    }

    /// Bindings equal up to their last fields: only those fields order them.
    fn tied() -> impl Strategy<Value = Vec<Binding>> {
        (binding(), proptest::collection::vec(binding(), 0..60)).prop_map(|(base, rest)| {
            rest.into_iter()
                .enumerate()
                .map(|(i, b)| match i % 4 {
                    0 => b,
                    1 => Binding {
                        name: base.name.clone(),
                        chain: base.chain.clone(),
                        address: base.address,
                        kind: base.kind,
                        ..b
                    },
                    2 => Binding {
                        client: b.client,
                        server: b.server,
                        ts: b.ts,
                        ..base.clone()
                    },
                    _ => Binding {
                        server: b.server,
                        ..base.clone()
                    },
                })
                .collect()
        })
    }

    fn sorted(p: Packed) -> Vec<Binding> {
        p.into_sorted()
            .and_then(|s| s.collect::<io::Result<Vec<_>>>())
            .expect("read back")
    }

    proptest! {
        #[test]
        fn packed_bindings_read_back_and_sort_as_the_structs_do(list in tied()) {
            let mut p = Packed::default();
            for b in &list {
                p.push(b);
            }
            prop_assert_eq!(p.len(), list.len());
            for (i, b) in list.iter().enumerate() {
                prop_assert_eq!(p.get(i), Some(b.clone()));
            }
            let mut want = list.clone();
            want.sort();
            prop_assert_eq!(sorted(p), want);
        }

        /// Small runs: many runs in the file (more than are merged at once, so
        /// in rounds), the newest bindings still in memory, the same sorted list.
        #[test]
        fn bindings_moved_in_runs_merge_into_the_same_order(
            list in tied(),
            run_bytes in 1usize..400,
            every in 1usize..4,
        ) {
            let mut p = Packed::with_run_bytes(run_bytes);
            for (i, b) in list.iter().enumerate() {
                if i % every == 0 {
                    p.move_if_full();
                }
                p.push(b);
                prop_assert_eq!(p.len(), i + 1);
                prop_assert_eq!(p.get(i), Some(b.clone()));
            }
            for i in 0..p.first_in_memory() {
                prop_assert_eq!(p.get(i), None);
            }
            let mut want = list.clone();
            want.sort();
            prop_assert_eq!(sorted(p), want);
        }
    }

    #[test]
    fn more_runs_than_merged_at_once_are_merged_in_rounds() {
        let mut p = Packed::with_run_bytes(1);
        let n = MERGE_WAYS * MERGE_WAYS + 5;
        let mut want = Vec::new();
        for i in 0..n {
            let b = Binding {
                ttl: (i * 7919 % n) as u32,
                ..example()
            };
            p.push(&b);
            p.move_if_full();
            want.push(b);
        }
        assert_eq!(p.first_in_memory(), n);
        assert_eq!(p.runs.as_ref().map(|r| r.runs.len()), Some(n));
        want.sort();
        assert_eq!(sorted(p), want);
    }

    #[test]
    fn a_run_damaged_in_the_file_is_an_error_not_a_shorter_list() {
        let mut p = Packed::with_run_bytes(1);
        for ttl in 0..3 {
            p.push(&Binding { ttl, ..example() });
            p.move_if_full();
        }
        // The last run's length says more than the run holds.
        let last = p
            .runs
            .as_ref()
            .and_then(|r| r.runs.last().cloned())
            .unwrap();
        let file = &p.runs.as_ref().unwrap().file;
        file.write_all_at(&u32::MAX.to_be_bytes(), last.start)
            .unwrap();
        let got: Vec<io::Result<Binding>> = p
            .into_sorted()
            .map(|s| s.collect())
            .unwrap_or_else(|e| vec![Err(e)]);
        assert!(got.last().is_some_and(|r| r.is_err()), "{got:?}");
        assert!(got.len() <= 3);
    }

    fn example() -> Binding {
        Binding {
            name: WireString(b"a\0b".to_vec()),
            chain: vec![WireString(b"c".to_vec())],
            address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            kind: BindingKind::Address,
            ttl: 60,
            query_frame: Some(1),
            answer_frame: 2,
            answer_offset: 40,
            ts: Timestamp::new(0, 0),
            client: Endpoint {
                ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                port: Some(5353),
            },
            server: Endpoint {
                ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                port: Some(53),
            },
        }
    }

    #[test]
    fn a_damaged_encoding_is_refused() {
        let b = example();
        let mut bytes = Vec::new();
        encode(&b, &mut bytes);
        assert_eq!(decode(&bytes).as_ref(), Some(&b));
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        bytes.push(0);
        assert!(decode(&bytes).is_none(), "trailing byte");
    }
}
