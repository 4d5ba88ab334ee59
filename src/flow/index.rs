//! flow::index: which conversation a flow key names.
//!
//! Each conversation table (TCP and UDP; IP) finds a frame's conversation through
//! entries of 8 bytes: the conversation's number and 32 bits of its key's hash. The
//! key itself is read from the conversation (in memory, or from `flow::store`'s
//! file) to confirm a hash that matched.
//!
//! The newest entries are a hash table in memory, [`MEMORY_ENTRIES`] at most. When
//! it is full, its entries are sorted by hash and written to an unnamed temporary
//! file as a *run*, and the table starts again, empty, in the same allocation. A
//! lookup that misses in memory asks a filter of every hash written (a blocked Bloom
//! filter: one cache line a lookup, 8 bits an entry, a few false "maybe"s in a
//! hundred); on "maybe" the runs are searched newest first, each through its fences
//! (the hash of every [`FENCE`]th entry, kept in memory) and a read of the 4 KiB
//! block that may hold the hash. A conversation found in a run goes back into the
//! table, so that its next frames find it in memory.
//!
//! The filter in memory grows with the entries written up to 2 MiB
//! ([`MEMORY_FILTER_ENTRIES`]) and then stays that size, answering "maybe" more
//! often as it fills. Past that bound a second filter, in a temporary file of its
//! own and sized for every entry, answers the first one's "maybe"s with one 64-byte
//! read each before a run is searched. What grows in memory with the number of
//! conversations is then only the fences (a byte for every 128 conversations past
//! the first [`MEMORY_ENTRIES`]); the table (9 to 18 bytes a conversation) and the
//! filter are bounded. A run is written in parts, so that writing it copies a
//! sixteenth of the table at a time.
//!
//! In front of the table, a cache of [`RECENT`] entries (64 KiB) holds, for each
//! value of a hash's low bits, the entry last found or inserted: the conversations
//! a capture is busy with are found without a probe of the table, whose slots are
//! spread over megabytes. A cached entry answers only when its hash and its
//! conversation's key match the lookup's, and every insert writes its slot, so
//! that it is always the latest conversation of its key.
//!
//! Lookups are exact whatever is on disk: the same frames give the same
//! conversations. A file that cannot be made or written keeps the entries in memory
//! (the analysis is the same, only larger); one that cannot be read back is recorded
//! as the store's failure, which the pass turns into an error rather than miscounted
//! conversations. A filter on disk that cannot be made, written or read is
//! dropped: the one in memory answers alone, more runs are searched, the answers
//! are the same.

use super::store::Store;
use super::ConvId;
use crate::model::FlowKey;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// An entry: a conversation's number and 32 bits of its key's hash.
type Entry = [u32; 2];

fn entry(id: ConvId, hash: u64) -> Entry {
    [id as u32, (hash >> 32) as u32]
}

/// The table's hash of an entry: the 32 bits kept, in both halves of the 64 the
/// table reads (its slot from the low bits, its tag from the top seven).
fn entry_hash(e: &Entry) -> u64 {
    spread(e[1])
}

pub(super) fn spread(h: u32) -> u64 {
    (u64::from(h) << 32) | u64::from(h)
}

/// Entries in memory at most: seven eighths of 2^19, the most a table of 2^19
/// slots holds (4.5 MiB with its control bytes) before it would double.
const MEMORY_ENTRIES: usize = (1 << 19) / 8 * 7;

/// Entries of a run between two fences: one block read (4 KiB) per search.
const FENCE: usize = 512;

/// Bytes of an entry in a run: its hash, then its conversation's number (LE).
const ENTRY_BYTES: usize = 8;

/// Parts a run is written in, by the top bits of the hash (the copy sorted at
/// once is a part's entries, not the table's).
const RUN_PARTS: u32 = 16;

/// The part of a run a hash is written in: its top four bits, so that the parts
/// in turn are the run in order.
fn part_of(h: u32) -> u32 {
    h >> 28
}

/// Entries a filter takes per 512-bit block (8 bits an entry).
const FILTER_BLOCK_ENTRIES: usize = 64;

/// Entries the filter in memory takes at most: 2 MiB of it. More are held by a
/// filter on disk ([`DiskFilter`]) that answers the "maybe"s of the one in memory.
const MEMORY_FILTER_ENTRIES: usize = (2 << 20) / 64 * FILTER_BLOCK_ENTRIES;

/// Entries written together, sorted by hash.
struct Run {
    /// Where the run starts in the file.
    start: u64,
    len: usize,
    /// The hash of entries 0, FENCE, 2 * FENCE, ...
    fences: Vec<u32>,
}

/// Slots of the cache in front of the table (a power of two): 64 KiB of entries,
/// which stay in the core's own cache where the table's 2 to 4.5 MiB do not.
const RECENT: usize = 1 << 13;

pub(super) struct Index {
    /// The entry last found or inserted for each hash's low bits: a lookup whose
    /// hash and conversation match it needs no probe of the table. Every insert
    /// writes its slot, so that an entry here is the latest for its key.
    recent: Box<[Entry]>,
    memory: hashbrown::HashTable<Entry>,
    /// Entries in memory at most ([`MEMORY_ENTRIES`]; smaller in tests).
    limit: usize,
    /// Entries the filter in memory takes at most ([`MEMORY_FILTER_ENTRIES`];
    /// smaller in tests).
    filter_limit: usize,
    file: Option<File>,
    /// Bytes written to the file.
    end: u64,
    runs: Vec<Run>,
    /// Every hash written to a run, in memory (`filter_limit` bytes at most).
    filter: Filter,
    /// Every hash written to a run, on disk, once the filter in memory is full;
    /// `None` before, or when it could not be made or read (the filter in memory
    /// then answers alone: more "maybe"s, the same lookups).
    disk_filter: Option<DiskFilter>,
    /// The file could not be made or written: every entry stays in memory.
    in_memory_only: bool,
}

impl Default for Index {
    fn default() -> Self {
        Index::with_limit(MEMORY_ENTRIES)
    }
}

impl Index {
    pub(super) fn with_limit(limit: usize) -> Self {
        Index::with_limits(limit, MEMORY_FILTER_ENTRIES)
    }

    /// With at most `limit` entries in the table and `filter_limit` in the filter
    /// in memory.
    pub(super) fn with_limits(limit: usize, filter_limit: usize) -> Self {
        Index {
            // No conversation has the number u32::MAX: an empty slot matches nothing.
            recent: vec![[u32::MAX, 0]; RECENT].into_boxed_slice(),
            memory: hashbrown::HashTable::new(),
            limit: limit.max(1),
            filter_limit,
            file: None,
            end: 0,
            runs: Vec::new(),
            filter: Filter::default(),
            disk_filter: None,
            in_memory_only: false,
        }
    }

    /// The latest conversation of `store` with this key (`hash` its
    /// [`spread`] hash). One found on disk is put back in memory.
    pub(super) fn find(&mut self, store: &Store, hash: u64, key: &FlowKey) -> Option<ConvId> {
        let h = (hash >> 32) as u32;
        let slot = recent_slot(h);
        if let Some(&e) = self.recent.get(slot) {
            if e[1] == h && is_conversation_of(store, e[0] as usize, key) {
                return Some(e[0] as usize);
            }
        }
        if let Some(&e) = self.memory.find(hash, names(store, hash, key)) {
            if let Some(r) = self.recent.get_mut(slot) {
                *r = e;
            }
            return Some(e[0] as usize);
        }
        if self.runs.is_empty() || !self.filter.may_hold(h) || !self.disk_may_hold(h) {
            return None;
        }
        let found = self.find_on_disk(store, h, key);
        if let Some(id) = found {
            self.insert(store, hash, *key, id);
        }
        found
    }

    /// The filter on disk's answer; "maybe" when there is none.
    fn disk_may_hold(&mut self, h: u32) -> bool {
        let Some(disk) = &self.disk_filter else {
            return true;
        };
        disk.may_hold(h).unwrap_or_else(|_| {
            self.disk_filter = None;
            true
        })
    }

    /// Searches the runs, newest first (a key replaced later is in a newer run).
    fn find_on_disk(&self, store: &Store, h: u32, key: &FlowKey) -> Option<ConvId> {
        let file = self.file.as_ref()?;
        let mut block = [0u8; FENCE * ENTRY_BYTES];
        for run in self.runs.iter().rev() {
            match find_in_run(file, run, h, &mut block, |id| {
                is_conversation_of(store, id, key)
            }) {
                Ok(Some(id)) => return Some(id),
                Ok(None) => {}
                Err(e) => {
                    store.fail(unreadable(&e));
                    return None;
                }
            }
        }
        None
    }

    /// Makes `id` the conversation of `key`, replacing an earlier one (a reused TCP
    /// 4-tuple); writes the table to a run first when it is full.
    pub(super) fn insert(&mut self, store: &Store, hash: u64, key: FlowKey, id: ConvId) {
        if self.memory.len() >= self.limit && !self.in_memory_only {
            // A key already in the table goes to the run with it; the new entry
            // in the table is found first.
            self.write_run(store);
        }
        if let Some(r) = self.recent.get_mut(recent_slot((hash >> 32) as u32)) {
            *r = entry(id, hash);
        }
        match self
            .memory
            .entry(hash, names(store, hash, &key), entry_hash)
        {
            hashbrown::hash_table::Entry::Occupied(mut o) => *o.get_mut() = entry(id, hash),
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(entry(id, hash));
            }
        }
    }

    /// Moves the table's entries to a new run in the file. The run is written in
    /// [`RUN_PARTS`] parts by the top bits of the hash, each sorted on its own, so
    /// that only a part's entries are copied at once.
    fn write_run(&mut self, store: &Store) {
        let len = self.memory.len();
        let written = self.runs.iter().map(|r| r.len).sum::<usize>() + len;
        // A filter too small for every entry written is made again from the file,
        // up to its size in memory at most.
        let refill = written > self.filter.capacity() && self.filter.capacity() < self.filter_limit;
        let mut fences = Vec::with_capacity(len.div_ceil(FENCE));
        let mut part: Vec<[u32; 2]> = Vec::new();
        let mut done = 0;
        for top in 0..RUN_PARTS {
            part.clear();
            part.extend(
                self.memory
                    .iter()
                    .filter(|e| part_of(e[1]) == top)
                    .map(|e| [e[1], e[0]]),
            );
            part.sort_unstable();
            let at = self.end + (done * ENTRY_BYTES) as u64;
            if self.write(&part, at).is_err() {
                // Entries stay in memory from now on; the lookups are the same.
                self.in_memory_only = true;
                return;
            }
            for (i, e) in part.iter().enumerate() {
                if (done + i) % FENCE == 0 {
                    fences.push(e[0]);
                }
                if !refill {
                    self.filter.add(e[0]);
                }
            }
            done += part.len();
        }
        self.runs.push(Run {
            start: self.end,
            len,
            fences,
        });
        self.end += (len * ENTRY_BYTES) as u64;
        self.memory.clear();
        if refill {
            // A larger filter (half as large again as the entries written, up to
            // its bound), filled again from every run (the file is read once). The
            // old one goes first, so that the two are never held together.
            self.filter = Filter::default();
            self.filter = Filter::with_capacity((written + written / 2).min(self.filter_limit));
            if let Err(e) = self.refill_filter() {
                store.fail(unreadable(&e));
                self.filter.saturate();
            }
        }
        if written > self.filter.capacity() && self.fill_disk_filter(written).is_err() {
            // The filter in memory answers alone: more runs searched, the same
            // answers. A run that cannot be read fails there.
            self.disk_filter = None;
        }
    }

    /// Past the filter in memory's bound: adds the newest run to the filter on
    /// disk, or, when there is none or it is too small for every entry `written`,
    /// makes a new one twice as large and adds every run.
    fn fill_disk_filter(&mut self, written: usize) -> std::io::Result<()> {
        let Some(file) = self.file.as_ref() else {
            return Ok(());
        };
        let (disk, runs) = match self.disk_filter.take() {
            Some(disk) if written <= disk.capacity() => {
                (disk, &self.runs[self.runs.len().saturating_sub(1)..])
            }
            old => {
                drop(old);
                (DiskFilter::with_capacity(2 * written)?, &self.runs[..])
            }
        };
        for run in runs {
            disk.add_run(file, run)?;
        }
        self.disk_filter = Some(disk);
        Ok(())
    }

    fn refill_filter(&mut self) -> std::io::Result<()> {
        let Some(file) = self.file.as_ref() else {
            return Ok(());
        };
        let every = (self.end / ENTRY_BYTES as u64) as usize;
        each_hash(file, 0, every, |h| {
            self.filter.add(h);
            Ok(())
        })
    }

    /// Writes entries given sorted at `at` in the file.
    fn write(&mut self, sorted: &[[u32; 2]], at: u64) -> std::io::Result<()> {
        if self.file.is_none() {
            self.file = Some(tempfile::tempfile()?);
        }
        let Some(file) = self.file.as_ref() else {
            return Ok(());
        };
        let mut at = at;
        for part in sorted.chunks(8 * FENCE) {
            let mut bytes = Vec::with_capacity(part.len() * ENTRY_BYTES);
            for [h, id] in part {
                bytes.extend_from_slice(&h.to_le_bytes());
                bytes.extend_from_slice(&id.to_le_bytes());
            }
            file.write_all_at(&bytes, at)?;
            at += bytes.len() as u64;
        }
        Ok(())
    }

    /// Entries in memory (tests).
    #[cfg(test)]
    fn in_memory(&self) -> usize {
        self.memory.len()
    }
}

/// Whether an entry of the table names the conversation of `key` (`hash` its
/// spread hash): its 32 bits agree and the conversation's own key is `key`.
fn names<'a>(store: &'a Store, hash: u64, key: &'a FlowKey) -> impl Fn(&Entry) -> bool + 'a {
    move |e| entry_hash(e) == hash && is_conversation_of(store, e[0] as usize, key)
}

/// The slot of the cache in front of the table for the 32 bits `h` kept of a hash.
fn recent_slot(h: u32) -> usize {
    h as usize & (RECENT - 1)
}

fn is_conversation_of(store: &Store, id: ConvId, key: &FlowKey) -> bool {
    store.get(id).is_some_and(|c| c.is_of(key))
}

/// The store's failure when the index's file cannot be read back.
fn unreadable(e: &std::io::Error) -> String {
    format!("the temporary file of the conversation index could not be read: {e}")
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        w.copy_from_slice(s);
    }
    u32::from_le_bytes(w)
}

/// Calls `f` with the hash of each of the `len` entries written at `start` in the
/// index's file, in order, reading them a few thousand at a time.
fn each_hash(
    file: &File,
    start: u64,
    len: usize,
    mut f: impl FnMut(u32) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; len.min(8 * FENCE) * ENTRY_BYTES];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(8 * FENCE);
        let bytes = buf.get_mut(..n * ENTRY_BYTES).unwrap_or_default();
        file.read_exact_at(bytes, start + (done * ENTRY_BYTES) as u64)?;
        for e in bytes.chunks_exact(ENTRY_BYTES) {
            f(le32(e, 0))?;
        }
        done += n;
    }
    Ok(())
}

/// The conversation of a run whose hash is `h` and for which `is_key` holds.
fn find_in_run(
    file: &File,
    run: &Run,
    h: u32,
    block: &mut [u8; FENCE * ENTRY_BYTES],
    is_key: impl Fn(ConvId) -> bool,
) -> std::io::Result<Option<ConvId>> {
    // Entries before the last fence below `h` all hash below it; equal hashes may
    // continue past a fence, so blocks are read until a larger hash.
    let mut first = run.fences.partition_point(|&f| f < h).saturating_sub(1) * FENCE;
    while first < run.len {
        let n = (run.len - first).min(FENCE);
        let bytes = block.get_mut(..n * ENTRY_BYTES).unwrap_or_default();
        file.read_exact_at(bytes, run.start + (first * ENTRY_BYTES) as u64)?;
        for e in bytes.chunks_exact(ENTRY_BYTES) {
            let eh = le32(e, 0);
            if eh > h {
                return Ok(None);
            }
            if eh == h {
                let id = le32(e, 4) as usize;
                if is_key(id) {
                    return Ok(Some(id));
                }
            }
        }
        first += n;
    }
    Ok(None)
}

/// A blocked Bloom filter of 32-bit hashes in memory: three bits in one 512-bit
/// block each. It takes [`MEMORY_FILTER_ENTRIES`] bytes at most; past that, a
/// [`DiskFilter`] answers its "maybe"s.
#[derive(Default)]
struct Filter {
    blocks: Vec<[u64; 8]>,
    /// Answers "maybe" to everything (it could not be filled).
    saturated: bool,
}

impl Filter {
    fn with_capacity(entries: usize) -> Self {
        Filter {
            blocks: vec![[0; 8]; entries.div_ceil(FILTER_BLOCK_ENTRIES).max(1)],
            saturated: false,
        }
    }

    fn capacity(&self) -> usize {
        self.blocks.len() * FILTER_BLOCK_ENTRIES
    }

    fn saturate(&mut self) {
        self.saturated = true;
    }

    /// The block and the three bits of `h`.
    fn place(&self, h: u32) -> (usize, [u32; 3]) {
        let x = u64::from(h).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let block = ((x >> 32) * self.blocks.len() as u64) >> 32;
        let y = (x ^ (x >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let bits = [
            (y >> 55) as u32,
            ((y >> 46) & 511) as u32,
            ((y >> 37) & 511) as u32,
        ];
        (block as usize, bits)
    }

    fn add(&mut self, h: u32) {
        let (b, bits) = self.place(h);
        if let Some(block) = self.blocks.get_mut(b) {
            for bit in bits {
                if let Some(w) = block.get_mut((bit / 64) as usize) {
                    *w |= 1 << (bit % 64);
                }
            }
        }
    }

    fn may_hold(&self, h: u32) -> bool {
        if self.saturated {
            return true;
        }
        let (b, bits) = self.place(h);
        self.blocks.get(b).is_some_and(|block| {
            bits.iter().all(|&bit| {
                block
                    .get((bit / 64) as usize)
                    .is_some_and(|w| w & (1 << (bit % 64)) != 0)
            })
        })
    }
}

/// A blocked Bloom filter of 32-bit hashes in a temporary file of its own, for
/// more hashes than the filter in memory takes: three bits in one 512-bit block
/// each, the block chosen by the hash's top bits, so that the entries of a run
/// (sorted by hash) fill the blocks in order and the filter is written a slice at
/// a time. A lookup reads one block.
struct DiskFilter {
    file: File,
    blocks: u64,
}

/// Bytes of a filter block.
const FILTER_BLOCK_BYTES: usize = 64;

/// Blocks of the filter held at once while entries are added (256 KiB).
const FILTER_SLICE_BLOCKS: u64 = 4096;

impl DiskFilter {
    /// A filter for `entries` hashes, in a new file, empty.
    fn with_capacity(entries: usize) -> std::io::Result<Self> {
        let blocks = entries.div_ceil(FILTER_BLOCK_ENTRIES).max(1) as u64;
        let file = tempfile::tempfile()?;
        file.set_len(blocks * FILTER_BLOCK_BYTES as u64)?;
        Ok(DiskFilter { file, blocks })
    }

    fn capacity(&self) -> usize {
        self.blocks as usize * FILTER_BLOCK_ENTRIES
    }

    /// The block of `h`: its top bits, scaled to the blocks.
    fn block(&self, h: u32) -> u64 {
        (u64::from(h) * self.blocks) >> 32
    }

    /// The three bits of `h` in its block (mixed otherwise than in the filter in
    /// memory, so that the two say a false "maybe" for different hashes).
    fn bits(h: u32) -> [usize; 3] {
        let x = u64::from(h).wrapping_mul(0xd6e8_feb8_6659_fd93);
        let y = (x ^ (x >> 32)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        [
            (y >> 55) as usize,
            ((y >> 46) & 511) as usize,
            ((y >> 37) & 511) as usize,
        ]
    }

    /// Adds the hashes of `run`, read from the index's `file`. Sorted hashes read
    /// and write each slice of the filter once.
    fn add_run(&self, file: &File, run: &Run) -> std::io::Result<()> {
        let own = &self.file;
        let mut slice = Slice::default();
        each_hash(file, run.start, run.len, |h| {
            let b = self.block(h);
            if !slice.holds(b) {
                slice.write(own)?;
                slice.read(own, b, self.blocks)?;
            }
            slice.set(b, DiskFilter::bits(h));
            Ok(())
        })?;
        slice.write(own)
    }

    /// Whether `h` may have been added: false only if it was not.
    fn may_hold(&self, h: u32) -> std::io::Result<bool> {
        let mut block = [0u8; FILTER_BLOCK_BYTES];
        self.file
            .read_exact_at(&mut block, self.block(h) * FILTER_BLOCK_BYTES as u64)?;
        Ok(DiskFilter::bits(h).iter().all(|&bit| {
            block
                .get(bit / 8)
                .is_some_and(|b| b & (1 << (bit % 8)) != 0)
        }))
    }
}

/// Consecutive blocks of a filter, read from its file to be added to.
#[derive(Default)]
struct Slice {
    first: u64,
    bytes: Vec<u8>,
}

impl Slice {
    fn holds(&self, block: u64) -> bool {
        !self.bytes.is_empty()
            && block >= self.first
            && block - self.first < (self.bytes.len() / FILTER_BLOCK_BYTES) as u64
    }

    fn read(&mut self, file: &File, first: u64, blocks: u64) -> std::io::Result<()> {
        let n = FILTER_SLICE_BLOCKS.min(blocks.saturating_sub(first)).max(1);
        self.first = first;
        self.bytes.resize(n as usize * FILTER_BLOCK_BYTES, 0);
        file.read_exact_at(&mut self.bytes, first * FILTER_BLOCK_BYTES as u64)
    }

    fn write(&mut self, file: &File) -> std::io::Result<()> {
        if !self.bytes.is_empty() {
            file.write_all_at(&self.bytes, self.first * FILTER_BLOCK_BYTES as u64)?;
        }
        self.bytes.clear();
        Ok(())
    }

    fn set(&mut self, block: u64, bits: [usize; 3]) {
        let base = (block - self.first) as usize * FILTER_BLOCK_BYTES;
        for bit in bits {
            if let Some(b) = self.bytes.get_mut(base + bit / 8) {
                *b |= 1 << (bit % 8);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::store::CHUNK;
    use crate::flow::Conversation;
    use crate::model::{Endpoint, FrameRef, Timestamp, Transport};
    use std::net::IpAddr;

    fn at(frame: u64) -> FrameRef {
        FrameRef {
            capture: 0,
            frame,
            offset: 0,
            ts: Timestamp::new(0, 0),
        }
    }

    fn ep(last: u8, port: u16) -> Endpoint {
        Endpoint {
            ip: IpAddr::from([192, 0, 2, last]),
            port: Some(port),
        }
    }

    fn client(i: usize) -> Endpoint {
        ep(1, 1024 + i as u16)
    }

    fn key(i: usize) -> FlowKey {
        FlowKey::new(Transport::Udp, client(i), ep(2, 53)).0
    }

    fn push(store: &mut Store, i: usize) {
        store.push(Conversation::new(
            Transport::Udp,
            client(i),
            ep(2, 53),
            at(1),
            0,
            0,
            1,
        ));
    }

    /// Entries keep 32 bits of a key's hash: keys whose hashes agree (here in
    /// fours) are still told apart by the key read from their conversation, in
    /// memory or on disk, in the table or in a run, and a key found again replaces
    /// its own entry only.
    #[test]
    fn keys_sharing_a_hash_are_told_apart_in_memory_and_in_runs() {
        // The last two keep a filter in memory of 64 entries: past it, the filter
        // on disk answers its "maybe"s.
        for (limit, filter_limit) in [
            (usize::MAX, MEMORY_FILTER_ENTRIES),
            (3, MEMORY_FILTER_ENTRIES),
            (100, MEMORY_FILTER_ENTRIES),
            (1000, MEMORY_FILTER_ENTRIES),
            (100, 64),
            (1000, 64),
        ] {
            let mut store = Store::with_resident_chunks(1);
            let mut index = Index::with_limits(limit, filter_limit);
            let n = 2 * CHUNK + 10;
            // Hashes over the whole range, as the table's are (the filter on disk
            // picks a block by their top bits).
            let hash = |i: usize| spread(((i / 4) as u32).wrapping_mul(0x9e37_79b9));
            for id in 0..n {
                assert_eq!(index.find(&store, hash(id), &key(id)), None);
                push(&mut store, id);
                index.insert(&store, hash(id), key(id), id);
            }
            assert!(store.resident(0).is_none());
            if limit < n {
                assert!(!index.runs.is_empty(), "limit {limit}: no run written");
                assert!(index.in_memory() <= limit);
            }
            let written: usize = index.runs.iter().map(|r| r.len).sum();
            assert!(index.filter.capacity() <= filter_limit.max(written + written / 2) + 63);
            if filter_limit == 64 {
                let disk = index.disk_filter.as_ref().expect("a filter on disk");
                assert!(index.filter.capacity() == 64 && disk.capacity() >= written);
            }
            for id in (0..n).step_by(7) {
                assert_eq!(index.find(&store, hash(id), &key(id)), Some(id), "{limit}");
            }
            // Key 1 reused: the new conversation replaces it, wherever it was.
            push(&mut store, 1);
            index.insert(&store, hash(1), key(1), n);
            assert_eq!(index.find(&store, hash(1), &key(1)), Some(n), "{limit}");
            assert_eq!(index.find(&store, hash(0), &key(0)), Some(0), "{limit}");
            // Still the new one after more runs were written over it.
            for id in n + 1..n + 50 {
                push(&mut store, id);
                index.insert(&store, hash(id), key(id), id);
            }
            assert_eq!(index.find(&store, hash(1), &key(1)), Some(n), "{limit}");
            assert!(store.failure().is_none());
            assert_eq!(entry_hash(&entry(5, hash(9))), hash(9));
        }
    }

    /// Many entries with one hash cross the fences of their run: all are found.
    #[test]
    fn equal_hashes_spanning_blocks_are_all_searched() {
        let mut store = Store::with_resident_chunks(1);
        let mut index = Index::with_limit(3 * FENCE);
        let n = 3 * FENCE;
        let hash = |i: usize| spread(if i < FENCE / 2 { 7 } else { 9 });
        for id in 0..=n {
            push(&mut store, id);
            index.insert(&store, hash(id), key(id), id);
        }
        assert_eq!(index.runs.len(), 1);
        for id in [0, FENCE / 2, FENCE, 2 * FENCE + 3, n - 1] {
            assert_eq!(index.find(&store, hash(id), &key(id)), Some(id));
        }
        assert_eq!(index.find(&store, spread(8), &key(n + 1)), None);
    }

    /// Hashes over the whole range are written in parts by their top bits: each
    /// run reads back sorted, its fences are every FENCE-th hash of it, and every
    /// key is found.
    #[test]
    fn runs_written_in_parts_read_back_sorted_and_fenced() {
        let mut store = Store::with_resident_chunks(1);
        let limit = 3 * FENCE + 17;
        let mut index = Index::with_limit(limit);
        let hash = |i: usize| spread((i as u32).wrapping_mul(0x9e37_79b9));
        let n = 4 * limit;
        for id in 0..n {
            push(&mut store, id);
            index.insert(&store, hash(id), key(id), id);
        }
        assert_eq!(index.runs.len(), 3);
        let file = index.file.as_ref().unwrap();
        for run in &index.runs {
            let mut bytes = vec![0u8; run.len * ENTRY_BYTES];
            file.read_exact_at(&mut bytes, run.start).unwrap();
            let hashes: Vec<u32> = bytes.chunks(ENTRY_BYTES).map(|e| le32(e, 0)).collect();
            assert!(hashes.windows(2).all(|w| w[0] <= w[1]));
            let fences: Vec<u32> = hashes.iter().step_by(FENCE).copied().collect();
            assert_eq!(run.fences, fences);
            assert!(part_of(hashes[0]) < part_of(hashes[run.len - 1]));
        }
        for id in 0..n {
            assert_eq!(index.find(&store, hash(id), &key(id)), Some(id));
        }
        assert!(store.failure().is_none());
    }

    /// The cache in front of the table answers only with the latest conversation of
    /// the key asked: a slot shared by other hashes, or holding an older
    /// conversation of a reused key, sends the lookup to the table.
    #[test]
    fn the_cache_in_front_of_the_table_answers_only_for_its_key() {
        let mut store = Store::default();
        let mut index = Index::default();
        // Three hashes in one slot, two keys with one hash.
        let hashes = [
            spread(7),
            spread(7 + RECENT as u32),
            spread(7 + 2 * RECENT as u32),
            spread(7),
        ];
        for (id, &h) in hashes.iter().enumerate() {
            push(&mut store, id);
            index.insert(&store, h, key(id), id);
        }
        assert_eq!(recent_slot(7), recent_slot(7 + RECENT as u32));
        for _ in 0..2 {
            for (id, &h) in hashes.iter().enumerate() {
                assert_eq!(index.find(&store, h, &key(id)), Some(id));
            }
        }
        assert_eq!(index.find(&store, spread(7), &key(9)), None);
        // Key 1 reused: the new conversation, whichever way it was last found.
        push(&mut store, 1);
        index.insert(&store, hashes[1], key(1), 4);
        assert_eq!(index.find(&store, hashes[1], &key(1)), Some(4));
        assert_eq!(index.find(&store, hashes[0], &key(0)), Some(0));
        assert_eq!(index.find(&store, hashes[1], &key(1)), Some(4));
    }

    /// A run that cannot be read back is the store's failure, not a new conversation
    /// passed off as the only one of its key.
    #[test]
    fn an_unreadable_run_is_the_stores_failure() {
        let mut store = Store::with_resident_chunks(1);
        let mut index = Index::with_limit(4);
        for id in 0..10 {
            push(&mut store, id);
            index.insert(&store, spread(id as u32), key(id), id);
        }
        assert!(!index.runs.is_empty());
        if let Some(f) = &index.file {
            f.set_len(0).unwrap();
        }
        // The cache in front of the table would answer from the conversation
        // itself: emptied, the lookup goes to the run.
        index.recent.fill([u32::MAX, 0]);
        assert_eq!(index.find(&store, spread(0), &key(0)), None);
        assert!(store
            .failure()
            .is_some_and(|f| f.contains("conversation index")));
    }

    /// A run of `hashes` at the start of a new file, in the order given.
    fn run_of(hashes: &[u32]) -> (File, Run) {
        let file = tempfile::tempfile().unwrap();
        let mut bytes = Vec::new();
        for (i, h) in hashes.iter().enumerate() {
            bytes.extend_from_slice(&h.to_le_bytes());
            bytes.extend_from_slice(&(i as u32).to_le_bytes());
        }
        file.write_all_at(&bytes, 0).unwrap();
        let run = Run {
            start: 0,
            len: hashes.len(),
            fences: Vec::new(),
        };
        (file, run)
    }

    /// Hashes added in runs, sorted (as the index writes them) or not, across
    /// more blocks than a slice holds: every one is held, and few others are.
    #[test]
    fn the_filter_on_disk_never_forgets_and_rarely_says_maybe() {
        let hash = |i: u32| i.wrapping_mul(0x85eb_ca6b).rotate_left(13);
        let n = 300_000;
        let f = DiskFilter::with_capacity(n as usize).unwrap();
        assert!(f.blocks > FILTER_SLICE_BLOCKS);
        // Two sorted runs, then a few hashes out of order (each one reads and
        // writes a slice: correct, only slow).
        let mut first: Vec<u32> = (0..n / 2).map(hash).collect();
        let mut second: Vec<u32> = (n / 2..n - 100).map(hash).collect();
        first.sort_unstable();
        second.sort_unstable();
        let unsorted: Vec<u32> = (n - 100..n).map(hash).collect();
        for hashes in [&first, &second, &unsorted] {
            let (file, run) = run_of(hashes);
            f.add_run(&file, &run).unwrap();
        }
        let holds = |i| f.may_hold(hash(i)).unwrap();
        assert!((0..n).all(holds));
        let maybe = (n..n + 100_000).filter(|&i| holds(i)).count();
        assert!(maybe < 6_000, "{maybe} false positives in 100 000");
        let empty = DiskFilter::with_capacity(10).unwrap();
        assert!(empty.capacity() == 64 && !empty.may_hold(1).unwrap());
    }

    #[test]
    fn the_filter_in_memory_never_forgets_and_rarely_says_maybe() {
        let mut f = Filter::with_capacity(10_000);
        let hash = |i: u32| i.wrapping_mul(0x85eb_ca6b).rotate_left(13);
        for i in 0..10_000 {
            f.add(hash(i));
        }
        assert!((0..10_000).all(|i| f.may_hold(hash(i))));
        let maybe = (10_000..110_000).filter(|&i| f.may_hold(hash(i))).count();
        assert!(maybe < 6_000, "{maybe} false positives in 100 000");
        assert!(Filter::default().capacity() == 0 && !Filter::default().may_hold(1));
    }

    /// A filter on disk whose file cannot be read is dropped: the filter in memory
    /// answers alone, the runs are searched more often, and the lookups stay exact.
    #[test]
    fn an_unreadable_filter_on_disk_leaves_the_lookups_exact() {
        let (file, run) = run_of(&[1, 2, 3]);
        let f = DiskFilter::with_capacity(1000).unwrap();
        f.add_run(&file, &run).unwrap();
        assert!(!f.may_hold(0x8000_0000).unwrap());
        f.file.set_len(0).unwrap();
        assert!(f.may_hold(0x8000_0000).is_err());

        let mut store = Store::with_resident_chunks(1);
        let mut index = Index::with_limits(4, 64);
        let hash = |i: usize| spread((i as u32).wrapping_mul(0x9e37_79b9));
        let n = 300;
        for id in 0..n {
            push(&mut store, id);
            index.insert(&store, hash(id), key(id), id);
        }
        let disk = index.disk_filter.as_ref().expect("a filter on disk");
        disk.file.set_len(0).unwrap();
        for id in n..n + 100 {
            assert_eq!(index.find(&store, hash(id), &key(id)), None);
        }
        assert!(index.disk_filter.is_none());
        for id in 0..n {
            assert_eq!(index.find(&store, hash(id), &key(id)), Some(id));
        }
        assert!(store.failure().is_none());
    }
}
