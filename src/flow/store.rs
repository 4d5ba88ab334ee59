//! Where the conversations live. While the pass counts them, the newest chunks of
//! conversations stay in memory and older chunks move to an unnamed temporary file;
//! a conversation of a moved chunk that sees another frame (or, for an IP
//! conversation, another transport conversation) is read back into a bounded set of
//! touched conversations (written back when that set is full), so
//! memory follows the conversations still active, not all conversations seen. Once
//! the tables are finished everything is in the file, and the report's stages
//! (services, the JSON report, CSV, Zeek logs), which walk the conversations once
//! each, read it back one chunk at a time.
//!
//! The file holds fixed-size records at fixed places (conversation number times the
//! record size), written by this module and read only by it. If the file cannot be
//! made or written, the conversations stay in memory (the analysis is the same,
//! only larger). A read that fails is kept as the store's failure, which the pass
//! and the report's writers turn into an error rather than a shorter list.

use super::{ConvId, Conversation, Direction, TcpState};
use crate::model::{Endpoint, FrameRef, Timestamp, Transport};
use std::borrow::Cow;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

type HashMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;

/// Conversations per chunk (a few hundred KiB).
pub(super) const CHUNK_BITS: u32 = 12;
pub(super) const CHUNK: usize = 1 << CHUNK_BITS;

/// Chunks kept in memory while the pass runs (the newest ones).
const RESIDENT_CHUNKS: usize = 8;

/// Conversations of moved chunks held in memory at most; when full, they are
/// written back to the file. Seven eighths of 2^13: the most the map holds in a
/// table of 2^13 slots, so it never grows to 2^14 (twice the memory) for the last
/// eighth. (With 2^14 slots a full set took 2.9 MB a store; at 5 million
/// conversations half of that made the whole run's read calls 1.3 % and its
/// write calls 5 % more.)
const TOUCHED_MAX: usize = (1 << 13) / 8 * 7;

/// Bytes of one conversation in the file.
const RECORD: usize = 144;

/// Updates of one moved chunk from which [`Store::update_sorted`] reads and writes
/// the whole chunk (590 KB) rather than each record on its own: about where one
/// positioned read of the chunk costs what that many reads of a record do.
const DENSE_UPDATES: usize = 256;

pub(super) struct Store {
    /// Chunks in memory; `None` for a chunk moved to the file.
    chunks: Vec<Option<Vec<Conversation>>>,
    len: usize,
    /// The oldest chunk still in memory.
    oldest_resident: usize,
    /// Chunks kept in memory while the pass runs (`usize::MAX`: all, after the file
    /// could not be written).
    keep: usize,
    /// Touched conversations held at most (`TOUCHED_MAX`; smaller in tests).
    touched_max: usize,
    file: Option<File>,
    /// Conversations of moved chunks that saw frames since, newer than the file.
    touched: HashMap<ConvId, Conversation>,
    /// Whether everything is in the file (the tables are finished).
    spilled: bool,
    failure: OnceLock<String>,
}

impl Default for Store {
    fn default() -> Self {
        Store::with_resident_chunks(RESIDENT_CHUNKS)
    }
}

impl Store {
    pub(super) fn with_resident_chunks(keep: usize) -> Self {
        Store {
            chunks: Vec::new(),
            len: 0,
            oldest_resident: 0,
            keep: keep.max(1),
            touched_max: TOUCHED_MAX,
            file: None,
            touched: HashMap::default(),
            spilled: false,
            failure: OnceLock::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Conversation `id` from memory: its chunk, or the touched set.
    pub(super) fn resident(&self, id: ConvId) -> Option<&Conversation> {
        match self.chunks.get(id >> CHUNK_BITS)? {
            Some(chunk) => chunk.get(id & (CHUNK - 1)),
            None => self.touched.get(&id),
        }
    }

    /// Conversation `id`, read from the file when it is not in memory.
    pub(super) fn get(&self, id: ConvId) -> Option<Cow<'_, Conversation>> {
        if id >= self.len {
            return None;
        }
        if let Some(c) = self.resident(id) {
            return Some(Cow::Borrowed(c));
        }
        self.read(id).map(Cow::Owned)
    }

    /// Conversation `id` to update: from the file into the touched set when moved.
    pub(super) fn get_mut(&mut self, id: ConvId) -> Option<&mut Conversation> {
        let in_memory = self.chunks.get(id >> CHUNK_BITS)?.is_some();
        if !in_memory && !self.touched.contains_key(&id) {
            let c = self.read(id)?;
            if self.touched.len() >= self.touched_max {
                self.write_back();
            }
            self.touched.insert(id, c);
        }
        match self.chunks.get_mut(id >> CHUNK_BITS)? {
            Some(chunk) => chunk.get_mut(id & (CHUNK - 1)),
            None => self.touched.get_mut(&id),
        }
    }

    /// Applies `apply` to the conversation of each update, in conversation order
    /// (`updates` is sorted by it): in place when in memory, else through the file,
    /// a chunk at a time where many of a chunk's conversations are updated, one
    /// record at a time elsewhere; each conversation is read and written once. A
    /// record that cannot be read or written is the store's failure.
    pub(super) fn update_sorted<D>(
        &mut self,
        updates: &mut [(ConvId, D)],
        mut apply: impl FnMut(ConvId, &mut Conversation, &D),
    ) {
        updates.sort_by_key(|(id, _)| *id);
        // The file holds every moved conversation as it stands from here on.
        self.write_back();
        // Numbers past the last conversation have nothing to update.
        let known = updates.partition_point(|(id, _)| *id < self.len);
        let mut rest = updates.get(..known).unwrap_or_default();
        while let Some(&(first, _)) = rest.first() {
            let chunk = first >> CHUNK_BITS;
            let n = rest.partition_point(|(id, _)| *id >> CHUNK_BITS == chunk);
            let (group, later) = rest.split_at(n);
            rest = later;
            let written = match self.chunks.get_mut(chunk) {
                Some(Some(resident)) => {
                    for (id, d) in group {
                        if let Some(c) = resident.get_mut(id & (CHUNK - 1)) {
                            apply(*id, c, d);
                        }
                    }
                    Ok(())
                }
                None => Ok(()),
                Some(None) if !self.touched.is_empty() => {
                    // The touched set could not be written back: what it holds is
                    // newer than the file, and updated there.
                    for (id, d) in group {
                        if let Some(c) = self.get_mut(*id) {
                            apply(*id, c, d);
                        }
                    }
                    Ok(())
                }
                Some(None) if group.len() >= DENSE_UPDATES => {
                    self.update_chunk(chunk, group, &mut apply)
                }
                Some(None) => self.update_records(group, &mut apply),
            };
            if let Err(e) = written {
                let _ = self.failure.set(format!(
                    "the temporary file of conversations could not be updated near conversation {first}: {e}"
                ));
                return;
            }
        }
    }

    /// Reads moved chunk `chunk`, applies `group`'s updates and writes it back.
    fn update_chunk<D>(
        &self,
        chunk: usize,
        group: &[(ConvId, D)],
        apply: &mut impl FnMut(ConvId, &mut Conversation, &D),
    ) -> std::io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let start = chunk * CHUNK;
        let n = CHUNK.min(self.len - start);
        let mut bytes = vec![0u8; n * RECORD];
        file.read_exact_at(&mut bytes, (start * RECORD) as u64)?;
        let mut rest = group;
        while let Some(&(id, _)) = rest.first() {
            let within = id - start;
            let Some(rec) = bytes.get_mut(within * RECORD..(within + 1) * RECORD) else {
                break;
            };
            rest = update_record(rec, rest, apply)?;
        }
        file.write_all_at(&bytes, (start * RECORD) as u64)
    }

    /// Reads, updates and writes back each conversation of `group` on its own.
    fn update_records<D>(
        &self,
        group: &[(ConvId, D)],
        apply: &mut impl FnMut(ConvId, &mut Conversation, &D),
    ) -> std::io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let mut rec = [0u8; RECORD];
        let mut rest = group;
        while let Some(&(id, _)) = rest.first() {
            let at = (id * RECORD) as u64;
            file.read_exact_at(&mut rec, at)?;
            rest = update_record(&mut rec, rest, apply)?;
            file.write_all_at(&rec, at)?;
        }
        Ok(())
    }

    /// Appends a conversation; the table grows by one chunk at a time, never by
    /// copying what it holds into an allocation twice its size.
    pub(super) fn push(&mut self, c: Conversation) {
        // Finished tables take no more conversations.
        debug_assert!(
            !self.spilled,
            "a conversation added after the tables finished"
        );
        match self.chunks.last_mut() {
            Some(Some(last)) if last.len() < CHUNK => last.push(c),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(c);
                self.chunks.push(Some(chunk));
                while !self.spilled && self.chunks.len() - self.oldest_resident > self.keep {
                    self.move_oldest();
                }
            }
        }
        self.len += 1;
    }

    /// Moves the oldest chunk in memory to the file; on an error, keeps every chunk
    /// in memory from now on.
    fn move_oldest(&mut self) {
        let i = self.oldest_resident;
        let written = self
            .ensure_file()
            .and_then(|()| match (&self.file, self.chunks.get(i)) {
                (Some(file), Some(Some(chunk))) => write_chunk(file, i, chunk),
                _ => Ok(()),
            });
        match written {
            Ok(()) => {
                if let Some(slot) = self.chunks.get_mut(i) {
                    *slot = None;
                }
                self.oldest_resident += 1;
            }
            Err(_) => self.keep = usize::MAX,
        }
    }

    fn ensure_file(&mut self) -> std::io::Result<()> {
        if self.file.is_none() {
            self.file = Some(tempfile::tempfile()?);
        }
        Ok(())
    }

    /// Writes the touched conversations back to the file and forgets them.
    fn write_back(&mut self) {
        let Some(file) = &self.file else { return };
        let mut ids: Vec<ConvId> = self.touched.keys().copied().collect();
        ids.sort_unstable();
        let mut rec = [0u8; RECORD];
        for (done, &id) in ids.iter().enumerate() {
            if let Some(c) = self.touched.get(&id) {
                encode(c, &mut rec);
                if file.write_all_at(&rec, (id * RECORD) as u64).is_err() {
                    // The newer figures cannot be stored: they stay in memory.
                    for written in &ids[..done] {
                        self.touched.remove(written);
                    }
                    return;
                }
            }
        }
        // Emptied at once, not entry by entry: removals leave tombstones, and a
        // table full of them grows to twice its size when it fills again.
        self.touched.clear();
    }

    fn read(&self, id: ConvId) -> Option<Conversation> {
        let file = self.file.as_ref()?;
        let mut rec = [0u8; RECORD];
        let got = file
            .read_exact_at(&mut rec, (id * RECORD) as u64)
            .map_err(|e| e.to_string())
            .and_then(|()| decode(&rec).ok_or_else(|| "a record is damaged".to_string()));
        match got {
            Ok(c) => Some(c),
            Err(e) => {
                let _ = self.failure.set(format!(
                    "the temporary file of conversations could not be read at conversation {id}: {e}"
                ));
                None
            }
        }
    }

    /// Moves every conversation into the temporary file (the tables are finished).
    /// Memory is released chunk by chunk as each is written; on an error, the
    /// chunks not yet written stay in memory.
    pub(super) fn spill(&mut self) {
        if self.spilled || self.len == 0 {
            return;
        }
        if self.ensure_file().is_err() {
            return;
        }
        self.write_back();
        if !self.touched.is_empty() {
            return;
        }
        for i in self.oldest_resident..self.chunks.len() {
            let written = match (&self.file, self.chunks.get(i)) {
                (Some(file), Some(Some(chunk))) => write_chunk(file, i, chunk),
                _ => Ok(()),
            };
            if written.is_err() {
                self.keep = usize::MAX;
                return;
            }
            if let Some(slot) = self.chunks.get_mut(i) {
                *slot = None;
            }
            self.oldest_resident = i + 1;
        }
        self.spilled = true;
        self.touched = HashMap::default();
    }

    /// Whether every conversation is in the temporary file.
    #[cfg(test)]
    pub(super) fn is_spilled(&self) -> bool {
        self.spilled
    }

    /// Records why something the pass needed could not be read back (the first
    /// reason is kept).
    pub(super) fn fail(&self, why: String) {
        let _ = self.failure.set(why);
    }

    /// Why a conversation could not be read back, if one could not.
    pub(super) fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }

    /// Every conversation in order, each with its number.
    pub(super) fn iter(&self) -> Iter<'_> {
        Iter {
            store: self,
            next: 0,
            buf: Vec::new(),
            bytes: Vec::new(),
        }
    }
}

/// Applies to record `rec` the updates at the start of `updates` that are for its
/// conversation (the first one's); returns the updates after them.
fn update_record<'u, D>(
    rec: &mut [u8],
    updates: &'u [(ConvId, D)],
    apply: &mut impl FnMut(ConvId, &mut Conversation, &D),
) -> std::io::Result<&'u [(ConvId, D)]> {
    let Some(&(id, _)) = updates.first() else {
        return Ok(updates);
    };
    let mut c = decode(rec).ok_or_else(|| std::io::Error::other("a record is damaged"))?;
    let n = updates.partition_point(|(next, _)| *next == id);
    for (_, d) in updates.get(..n).unwrap_or_default() {
        apply(id, &mut c, d);
    }
    encode(&c, rec);
    Ok(updates.get(n..).unwrap_or_default())
}

/// Writes chunk `i` at its place in the file.
fn write_chunk(file: &File, i: usize, chunk: &[Conversation]) -> std::io::Result<()> {
    let mut bytes = vec![0u8; chunk.len() * RECORD];
    for (c, rec) in chunk.iter().zip(bytes.chunks_exact_mut(RECORD)) {
        encode(c, rec);
    }
    file.write_all_at(&bytes, (i * CHUNK * RECORD) as u64)
}

/// A walk over the conversations: from memory, or one chunk of the file at a time.
pub struct Iter<'a> {
    store: &'a Store,
    next: ConvId,
    buf: Vec<Conversation>,
    bytes: Vec<u8>,
}

impl Iterator for Iter<'_> {
    type Item = (ConvId, Conversation);

    fn next(&mut self) -> Option<Self::Item> {
        let id = self.next;
        let s = self.store;
        if id >= s.len {
            return None;
        }
        let within = id & (CHUNK - 1);
        let c = match s.chunks.get(id >> CHUNK_BITS)? {
            Some(chunk) => chunk.get(within)?.clone(),
            None => {
                if within == 0 || self.buf.is_empty() {
                    if let Err(e) = self.load(id) {
                        let _ = s.failure.set(format!(
                            "the temporary file of conversations could not be read at conversation {id}: {e}"
                        ));
                        self.next = s.len;
                        return None;
                    }
                }
                match s.touched.get(&id) {
                    Some(t) => t.clone(),
                    None => self.buf.get(within)?.clone(),
                }
            }
        };
        self.next += 1;
        Some((id, c))
    }
}

impl Iter<'_> {
    /// Reads and decodes the chunk holding conversation `id`.
    fn load(&mut self, id: ConvId) -> Result<(), String> {
        let file = self.store.file.as_ref().ok_or("no temporary file")?;
        let start = id & !(CHUNK - 1);
        let n = CHUNK.min(self.store.len - start);
        self.bytes.resize(n * RECORD, 0);
        file.read_exact_at(&mut self.bytes, (start * RECORD) as u64)
            .map_err(|e| e.to_string())?;
        self.buf.clear();
        for rec in self.bytes.chunks_exact(RECORD) {
            self.buf
                .push(decode(rec).ok_or("a record is damaged".to_string())?);
        }
        Ok(())
    }
}

/// Fixed little-endian layout of one conversation (`RECORD` bytes).
fn encode(c: &Conversation, out: &mut [u8]) {
    let mut w = Writer { out, at: 0 };
    w.u8(c.transport.code());
    w.endpoint(c.a);
    w.endpoint(c.b);
    for d in [c.a_to_b, c.b_to_a] {
        w.u64(d.frames);
        w.u64(d.bytes);
    }
    w.u32(c.first.capture);
    w.u64(c.first.frame);
    w.u64(c.first.offset);
    w.ts(c.first.ts);
    w.ts(c.last_seen);
    w.u64(c.fragment_frames);
    w.u8(u8::from(c.tcp.isn_a.is_some()));
    w.u32(c.tcp.isn_a.unwrap_or(0));
    w.u8(u8::from(c.tcp.syn_from_b));
    w.u8(u8::from(c.tcp.closed));
    w.u32(c.ip_conv);
    w.u32(c.ep_a);
    w.u32(c.ep_b);
    debug_assert!(w.at <= RECORD);
}

fn decode(rec: &[u8]) -> Option<Conversation> {
    let mut r = Reader { rec, at: 0 };
    let transport = Transport::from_code(r.u8()?)?;
    let a = r.endpoint()?;
    let b = r.endpoint()?;
    let mut dirs = [Direction::default(); 2];
    for d in &mut dirs {
        d.frames = r.u64()?;
        d.bytes = r.u64()?;
    }
    let first = FrameRef {
        capture: r.u32()?,
        frame: r.u64()?,
        offset: r.u64()?,
        ts: r.ts()?,
    };
    let last_seen = r.ts()?;
    let fragment_frames = r.u64()?;
    let has_isn = r.u8()? != 0;
    let isn = r.u32()?;
    let tcp = TcpState {
        isn_a: has_isn.then_some(isn),
        syn_from_b: r.u8()? != 0,
        closed: r.u8()? != 0,
    };
    Some(Conversation {
        transport,
        a,
        b,
        a_to_b: dirs[0],
        b_to_a: dirs[1],
        first,
        last_seen,
        fragment_frames,
        tcp,
        ip_conv: r.u32()?,
        ep_a: r.u32()?,
        ep_b: r.u32()?,
    })
}

struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) {
        if let Some(dst) = self.out.get_mut(self.at..self.at + b.len()) {
            dst.copy_from_slice(b);
        }
        self.at += b.len();
    }
    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn ts(&mut self, t: Timestamp) {
        self.bytes(&t.secs.to_le_bytes());
        self.u32(t.nanos);
    }
    fn endpoint(&mut self, e: Endpoint) {
        match e.ip {
            IpAddr::V4(v4) => {
                self.u8(4);
                self.bytes(&v4.octets());
                self.bytes(&[0; 12]);
            }
            IpAddr::V6(v6) => {
                self.u8(6);
                self.bytes(&v6.octets());
            }
        }
        self.u8(u8::from(e.port.is_some()));
        self.bytes(&e.port.unwrap_or(0).to_le_bytes());
    }
}

struct Reader<'a> {
    rec: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let b = self.rec.get(self.at..self.at + N)?.try_into().ok()?;
        self.at += N;
        Some(b)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take::<1>()?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take()?))
    }
    fn ts(&mut self) -> Option<Timestamp> {
        let secs = i64::from_le_bytes(self.take()?);
        Some(Timestamp::new(secs, self.u32()?))
    }
    fn endpoint(&mut self) -> Option<Endpoint> {
        let tag = self.u8()?;
        let octets: [u8; 16] = self.take()?;
        let ip = match tag {
            4 => {
                let [a, b, c, d, ..] = octets;
                IpAddr::V4(Ipv4Addr::new(a, b, c, d))
            }
            6 => IpAddr::V6(Ipv6Addr::from(octets)),
            _ => return None,
        };
        let has_port = self.u8()? != 0;
        let port = u16::from_le_bytes(self.take()?);
        Some(Endpoint {
            ip,
            port: has_port.then_some(port),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(i: u32) -> Conversation {
        let a = Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8)),
            port: Some(40000),
        };
        let b = Endpoint {
            ip: "2001:db8::1".parse().unwrap(),
            port: (!i.is_multiple_of(3)).then_some(443),
        };
        let first = FrameRef {
            capture: 2,
            frame: u64::from(i) + 1,
            offset: u64::MAX - u64::from(i),
            ts: Timestamp::new(-5 - i64::from(i), 999_999_999),
        };
        let mut c = Conversation::new(Transport::Udp, a, b, first, i, i + 1, i + 2);
        c.a_to_b = Direction {
            frames: u64::from(i),
            bytes: u64::MAX,
        };
        c.b_to_a.frames = 7;
        c.last_seen = Timestamp::new(i64::MAX, 1);
        c.fragment_frames = 3;
        c.tcp.isn_a = i.is_multiple_of(2).then_some(u32::MAX - i);
        c.tcp.closed = i.is_multiple_of(5);
        c
    }

    #[test]
    fn a_record_reads_back_as_written() {
        for i in 0..40 {
            let c = conv(i);
            let mut rec = [0u8; RECORD];
            encode(&c, &mut rec);
            let back = decode(&rec).unwrap();
            assert_eq!(format!("{back:?}"), format!("{c:?}"));
        }
        // A damaged tag is refused, not guessed.
        let mut rec = [0u8; RECORD];
        encode(&conv(1), &mut rec);
        rec[0] = 9;
        assert!(decode(&rec).is_none());
    }

    #[test]
    fn moved_chunks_are_read_back_updated_and_written_back() {
        let mut s = Store::with_resident_chunks(1);
        s.touched_max = 3;
        let n = 3 * CHUNK + 5;
        for i in 0..n as u32 {
            s.push(conv(i));
        }
        // Only the newest chunk is in memory.
        assert!(s.resident(0).is_none() && s.resident(2 * CHUNK).is_none());
        assert!(s.resident(3 * CHUNK).is_some());
        // Updates to moved conversations, more than the touched set holds.
        for id in [0, 1, 2, 7, CHUNK + 1, 2 * CHUNK + 9, 0] {
            s.get_mut(id).unwrap().fragment_frames += 100;
        }
        assert!(s.touched.len() <= 3);
        let mut expect: Vec<String> = (0..n as u32)
            .map(|i| {
                let mut c = conv(i);
                let i = i as usize;
                if [0, 1, 2, 7, CHUNK + 1, 2 * CHUNK + 9].contains(&i) {
                    c.fragment_frames += if i == 0 { 200 } else { 100 };
                }
                format!("{c:?}")
            })
            .collect();
        // The same with the touched set still in memory, then after the spill.
        let walk = |s: &Store| -> Vec<String> { s.iter().map(|(_, c)| format!("{c:?}")).collect() };
        assert_eq!(walk(&s), expect);
        assert_eq!(format!("{:?}", s.get(7).unwrap()), expect[7]);
        s.spill();
        assert!(s.is_spilled() && s.touched.is_empty());
        assert_eq!(walk(&s), std::mem::take(&mut expect));
        assert!(s.failure().is_none());
    }

    /// Batched updates reach every conversation once each, however it is held: in
    /// memory, in a moved chunk read and written whole (many updates), record by
    /// record (few), and after conversations of the touched set were changed.
    #[test]
    fn sorted_updates_reach_moved_and_resident_conversations_alike() {
        let mut s = Store::with_resident_chunks(1);
        let n = 3 * CHUNK + 5;
        for i in 0..n as u32 {
            s.push(conv(i));
        }
        // A moved conversation changed first: the touched set is newer than the file.
        s.get_mut(CHUNK + 3).unwrap().fragment_frames += 1000;
        // Chunk 0 densely (every other conversation, twice some), chunk 1 sparsely,
        // chunk 3 (in memory) and ids past the end, out of order.
        let mut updates: Vec<(ConvId, u64)> = (0..CHUNK).step_by(2).map(|id| (id, 1)).collect();
        updates.extend([
            (6, 10),
            (CHUNK + 3, 5),
            (2 * CHUNK - 1, 7),
            (3 * CHUNK + 4, 9),
        ]);
        updates.extend([(n + 10, 1), (0, 100), (ConvId::MAX, 1)]);
        updates.reverse();
        assert!(updates.len() / 2 >= DENSE_UPDATES);
        s.update_sorted(&mut updates, |_, c, add| c.fragment_frames += add);
        let expect: Vec<u64> = (0..n)
            .map(|id| {
                let mut f = 3 + if id < CHUNK && id % 2 == 0 { 1 } else { 0 };
                f += match id {
                    0 => 100,
                    6 => 10,
                    x if x == CHUNK + 3 => 1005,
                    x if x == 2 * CHUNK - 1 => 7,
                    x if x == 3 * CHUNK + 4 => 9,
                    _ => 0,
                };
                f
            })
            .collect();
        let got: Vec<u64> = s.iter().map(|(_, c)| c.fragment_frames).collect();
        assert_eq!(got, expect);
        // Every other field is as it was.
        let mut c1 = conv(1);
        c1.fragment_frames = 3;
        assert_eq!(format!("{:?}", s.get(1).unwrap()), format!("{c1:?}"));
        s.spill();
        let got: Vec<u64> = s.iter().map(|(_, c)| c.fragment_frames).collect();
        assert_eq!(got, expect);
        assert!(s.failure().is_none());
    }

    /// The read-back set keeps the size its bound needs, however many times it is
    /// filled and written back.
    #[test]
    fn the_read_back_set_does_not_grow_past_its_bound() {
        let mut s = Store::with_resident_chunks(1);
        s.touched_max = 896;
        let n = 8 * CHUNK;
        for i in 0..n as u32 {
            s.push(conv(i));
        }
        let mut cap = None;
        // A different stride each cycle, as conversations come back in any order.
        for round in 0..40usize {
            for k in 0..896usize {
                let id = (k * (2 * round + 7) + round) % (7 * CHUNK);
                if let Some(c) = s.get_mut(id) {
                    c.fragment_frames += 1;
                }
            }
            let now = s.touched.capacity();
            assert!(now <= *cap.get_or_insert(now), "round {round}: {now}");
        }
        assert!(s.failure().is_none());
    }

    #[test]
    fn a_damaged_record_ends_the_walk_and_is_named() {
        let mut s = Store::default();
        for i in 0..(CHUNK + 3) as u32 {
            s.push(conv(i));
        }
        s.spill();
        // A byte of the second chunk's first record no encoding writes.
        let file = s.file.as_ref().unwrap();
        file.write_all_at(&[9], (CHUNK * RECORD) as u64).unwrap();
        assert_eq!(s.iter().count(), CHUNK, "the walk stops at the damage");
        let f = s.failure().unwrap();
        assert!(
            f.contains(&format!("conversation {CHUNK}")) && f.contains("damaged"),
            "{f}"
        );
        assert!(s.get(CHUNK).is_none());
    }

    #[test]
    fn spilled_conversations_walk_in_order_across_chunks() {
        let mut s = Store::default();
        let n = 2 * CHUNK + 17;
        for i in 0..n as u32 {
            s.push(conv(i));
        }
        let before: Vec<String> = s.iter().map(|(_, c)| format!("{c:?}")).collect();
        s.spill();
        assert!(s.is_spilled());
        assert!(s.resident(0).is_none(), "nothing stays in memory");
        assert_eq!(
            format!("{:?}", s.get(5).unwrap()),
            format!("{:?}", conv(5)),
            "a conversation is read back on its own"
        );
        let after: Vec<(ConvId, String)> = s.iter().map(|(i, c)| (i, format!("{c:?}"))).collect();
        assert_eq!(after.len(), n);
        assert!(after.iter().enumerate().all(|(i, (id, _))| i == *id));
        let after: Vec<String> = after.into_iter().map(|(_, c)| c).collect();
        assert_eq!(before, after);
        assert!(s.failure().is_none());
    }
}
