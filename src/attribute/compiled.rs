//! The imported feeds compiled once into one index file, read in place.
//!
//! Parsing a provider's feed costs about 300 bytes of memory a prefix and most of a
//! `lookup` call's time; a data directory holding a feed of a million prefixes made
//! every call take seconds and gigabytes. `data update` (and the first load after the
//! stored feeds change) therefore compiles them into `compiled/feeds.idx`: the feeds'
//! descriptions (everything but their entries) in a JSON header, then the prefix
//! index of [`super::index`] as fixed-size little-endian records. A lookup reads the
//! records it needs with positioned reads (a binary search: about 20 reads of 12 or
//! 36 bytes), so loading costs the header and one pass hashing the records, and memory
//! stays that of the header whatever the feeds' size.
//!
//! The file is a cache of the stored feeds, never a source of its own: it records the
//! name, size and modification time of every stored feed file it was made from, and is
//! used only while they are all unchanged (else the feeds are parsed again and the
//! file rewritten). Its records carry a SHA-256 checked when it is opened, so a damaged
//! file is refused (and rebuilt), never read as different answers. Layout:
//!
//! ```text
//! "WHIDX\0\0\x01"   magic with the format version
//! u32 LE            header length
//! header            JSON (`Header`)
//! v4 records        start u32, end u32, group u32          (12 bytes each)
//! v6 records        start u128, end u128, group u32        (36 bytes each)
//! groups            address u128, length u8, IPv4 u8, 2 zero bytes,
//!                   parent u32, first value u32, values u32 (32 bytes each)
//! values            feed u16, 2 zero bytes, entry facts u32 (8 bytes each)
//! ```

use super::feeds::{Feed, FeedEntry, FeedFormat, FeedProblem};
use super::index::{canonical, IpPrefix, PrefixIndex, PrefixIndexBuilder};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"WHIDX\0\0\x01";
/// Largest header read: the feeds' problems (at most 1000 each) and the distinct
/// entry facts dominate it.
const MAX_HEADER: u32 = 256 << 20;
const V4_REC: u64 = 12;
const V6_REC: u64 = 36;
const GROUP_REC: u64 = 32;
const VALUE_REC: u64 = 8;

/// Every `FENCE`-th interval record's start is read once on open: a lookup finds
/// its block of records among these in memory, then reads that block with one
/// read, not one read per step of a binary search over the file.
const FENCE: u64 = 64;

/// Where the compiled index of a data directory's feeds lives.
pub(crate) fn index_path(data_dir: &Path) -> PathBuf {
    data_dir.join("compiled").join("feeds.idx")
}

/// Where the compiled index of the bundled feed snapshot lives: a cache, made on the
/// first load and used while the snapshot and the set of its feeds in use are the
/// same.
pub fn bundled_index_path(data_dir: &Path) -> PathBuf {
    data_dir.join("compiled").join("bundled.idx")
}

/// A stored feed file as the directory listing shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stamp {
    pub name: String,
    pub len: u64,
    /// Modification time, nanoseconds since the Unix epoch (0 when unknown).
    pub mtime_ns: u128,
}

impl Stamp {
    pub fn of(path: &Path, name: &str) -> Option<Stamp> {
        let m = std::fs::metadata(path).ok()?;
        let mtime_ns = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Some(Stamp {
            name: name.to_string(),
            len: m.len(),
            mtime_ns,
        })
    }
}

/// A compiled feed: the loaded feed without its entries.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct FeedMeta {
    pub name: String,
    pub provider: String,
    pub sha256: String,
    pub date: Option<String>,
    pub format: FeedFormat,
    pub version: Option<String>,
    pub declared_provider: Option<String>,
    pub declared_asns: Vec<u32>,
    pub serial: Option<u128>,
    pub problems: Vec<FeedProblem>,
    pub problems_dropped: usize,
    pub v4: usize,
    pub v6: usize,
    /// Set for a feed of the bundled snapshot.
    #[serde(default)]
    pub bundled: Option<super::BundledOrigin>,
}

impl FeedMeta {
    /// The feed as loaded, its entries left in the index.
    pub fn loaded(&self) -> super::LoadedFeed {
        super::LoadedFeed {
            name: self.name.clone(),
            provider: self.provider.clone(),
            sha256: self.sha256.clone(),
            date: self.date.clone(),
            feed: Feed {
                format: self.format,
                version: self.version.clone(),
                declared_provider: self.declared_provider.clone(),
                declared_asns: self.declared_asns.clone(),
                serial: self.serial,
                entries: Vec::new(),
                problems: self.problems.clone(),
                problems_dropped: self.problems_dropped,
                over_cap: false,
            },
            bundled: self.bundled.clone(),
            compiled: Some((self.v4, self.v6)),
        }
    }
}

/// A stored feed that was not used, with why.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Skipped {
    pub name: String,
    pub sha256: Option<String>,
    pub problem: String,
}

/// What an entry says beyond its prefix: region, service, country, subdivision, city.
type Facts = [Option<String>; 5];

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Header {
    stamps: Vec<Stamp>,
    feeds: Vec<FeedMeta>,
    skipped: Vec<Skipped>,
    facts: Vec<Facts>,
    v4: u64,
    v6: u64,
    groups: u64,
    values: u64,
    records_sha256: String,
}

/// One entry covering a looked-up address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// Position of the feed in [`CompiledIndex::feeds`].
    pub feed: u16,
    pub prefix: IpPrefix,
    pub entry: FeedEntry,
}

/// An open compiled index.
#[derive(Debug)]
pub struct CompiledIndex {
    file: File,
    header: Header,
    /// File offsets of the record sections.
    v4_at: u64,
    v6_at: u64,
    groups_at: u64,
    values_at: u64,
    /// The start of every [`FENCE`]-th IPv4 and IPv6 record.
    v4_fences: Vec<u32>,
    v6_fences: Vec<u128>,
}

/// Why a compiled index was not used.
#[derive(Debug, thiserror::Error)]
pub enum CompiledError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a compiled feed index of this version")]
    Magic,
    #[error("header: {0}")]
    Header(String),
    #[error("the file is {actual} bytes, its header describes {expected}")]
    Length { actual: u64, expected: u64 },
    #[error("its records do not match the SHA-256 its header records (damaged)")]
    Damaged,
    #[error("the stored feeds changed since it was compiled")]
    Stale,
}

/// Writes the compiled index of `feeds` (with their entries) to `dest`, replacing
/// any older one atomically.
pub fn write(
    dest: &Path,
    stamps: Vec<Stamp>,
    feeds: &[(&super::LoadedFeed, (usize, usize))],
    skipped: Vec<Skipped>,
) -> std::io::Result<()> {
    let mut facts: Vec<Facts> = Vec::new();
    let mut fact_ids: ahash::HashMap<Facts, u32> = ahash::HashMap::default();
    let mut builder = PrefixIndexBuilder::new();
    for (fi, (f, _)) in feeds.iter().enumerate() {
        let Ok(feed) = u16::try_from(fi) else { break };
        for e in &f.feed.entries {
            let key: Facts = [
                e.region.clone(),
                e.service.clone(),
                e.country.clone(),
                e.subdivision.clone(),
                e.city.clone(),
            ];
            let id = match fact_ids.get(&key) {
                Some(id) => *id,
                None => {
                    let id = u32::try_from(facts.len()).unwrap_or(u32::MAX);
                    facts.push(key.clone());
                    fact_ids.insert(key, id);
                    id
                }
            };
            builder.insert(e.prefix, (feed, id));
        }
    }
    let index: PrefixIndex<(u16, u32)> = builder.build();
    let (v4, v6) = index.raw_intervals();
    let mut body = Vec::new();
    for (s, e, g) in &v4 {
        body.extend_from_slice(&s.to_le_bytes());
        body.extend_from_slice(&e.to_le_bytes());
        body.extend_from_slice(&g.to_le_bytes());
    }
    for (s, e, g) in &v6 {
        body.extend_from_slice(&s.to_le_bytes());
        body.extend_from_slice(&e.to_le_bytes());
        body.extend_from_slice(&g.to_le_bytes());
    }
    let mut values = Vec::new();
    for (g, parent) in index.groups().iter().zip(index.parents()) {
        let addr = match g.prefix.addr() {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        };
        body.extend_from_slice(&addr.to_le_bytes());
        body.push(g.prefix.prefix_len());
        body.push(u8::from(g.prefix.is_ipv4()));
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&parent.to_le_bytes());
        let first = u32::try_from(values.len()).unwrap_or(u32::MAX);
        let n = u32::try_from(g.values.len()).unwrap_or(u32::MAX);
        body.extend_from_slice(&first.to_le_bytes());
        body.extend_from_slice(&n.to_le_bytes());
        values.extend(g.values.iter().copied());
    }
    for (feed, fact) in &values {
        body.extend_from_slice(&feed.to_le_bytes());
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&fact.to_le_bytes());
    }
    let header = Header {
        stamps,
        feeds: feeds
            .iter()
            .map(|(f, (v4, v6))| FeedMeta {
                name: f.name.clone(),
                provider: f.provider.clone(),
                sha256: f.sha256.clone(),
                date: f.date.clone(),
                format: f.feed.format,
                version: f.feed.version.clone(),
                declared_provider: f.feed.declared_provider.clone(),
                declared_asns: f.feed.declared_asns.clone(),
                serial: f.feed.serial,
                problems: f.feed.problems.clone(),
                problems_dropped: f.feed.problems_dropped,
                v4: *v4,
                v6: *v6,
                bundled: f.bundled.clone(),
            })
            .collect(),
        skipped,
        facts,
        v4: v4.len() as u64,
        v6: v6.len() as u64,
        groups: index.groups().len() as u64,
        values: values.len() as u64,
        records_sha256: super::geoip::hex(&Sha256::digest(&body)),
    };
    let json = serde_json::to_vec(&header).map_err(std::io::Error::other)?;
    let len = u32::try_from(json.len())
        .ok()
        .filter(|l| *l <= MAX_HEADER)
        .ok_or_else(|| std::io::Error::other("compiled index header too large"))?;
    let mut out = Vec::with_capacity(12 + json.len() + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&body);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    crate::atomic::replace(dest, &out).map_err(|e| std::io::Error::new(e.kind(), e.to_string()))
}

impl CompiledIndex {
    /// Opens `path` if it was compiled from exactly the stored feeds `stamps` lists
    /// (with `None`, from whatever feeds: for inspecting a file).
    pub fn open(path: &Path, stamps: Option<&[Stamp]>) -> Result<CompiledIndex, CompiledError> {
        let mut file = File::open(path)?;
        let actual = file.metadata()?.len();
        let mut head = [0u8; 12];
        file.read_exact(&mut head)
            .map_err(|_| CompiledError::Magic)?;
        if &head[..8] != MAGIC {
            return Err(CompiledError::Magic);
        }
        let len = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
        if len > MAX_HEADER || u64::from(len) + 12 > actual {
            return Err(CompiledError::Header(format!("length {len} out of bounds")));
        }
        let mut json = vec![0u8; len as usize];
        file.read_exact(&mut json)?;
        let header: Header =
            serde_json::from_slice(&json).map_err(|e| CompiledError::Header(e.to_string()))?;
        if stamps.is_some_and(|s| s != header.stamps.as_slice()) {
            return Err(CompiledError::Stale);
        }
        let v4_at = 12 + u64::from(len);
        let sections = [
            (header.v4, V4_REC),
            (header.v6, V6_REC),
            (header.groups, GROUP_REC),
            (header.values, VALUE_REC),
        ];
        let mut expected = v4_at;
        for (n, size) in sections {
            expected = n
                .checked_mul(size)
                .and_then(|b| expected.checked_add(b))
                .ok_or_else(|| CompiledError::Header("section sizes overflow".to_string()))?;
        }
        if expected != actual {
            return Err(CompiledError::Length { actual, expected });
        }
        // One streaming pass over the records: a damaged file is never read as
        // different answers.
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        if super::geoip::hex(&hasher.finalize()) != header.records_sha256 {
            return Err(CompiledError::Damaged);
        }
        let v6_at = v4_at + header.v4 * V4_REC;
        let groups_at = v6_at + header.v6 * V6_REC;
        let values_at = groups_at + header.groups * GROUP_REC;
        let mut index = CompiledIndex {
            file,
            header,
            v4_at,
            v6_at,
            groups_at,
            values_at,
            v4_fences: Vec::new(),
            v6_fences: Vec::new(),
        };
        for i in (0..index.header.v4).step_by(FENCE as usize) {
            let (start, _, _) = index.v4_record(i).ok_or(CompiledError::Damaged)?;
            index.v4_fences.push(start);
        }
        for i in (0..index.header.v6).step_by(FENCE as usize) {
            let (start, _, _) = index.v6_record(i).ok_or(CompiledError::Damaged)?;
            index.v6_fences.push(start);
        }
        Ok(index)
    }

    /// The compiled feeds, in the order their positions in [`Hit::feed`] refer to.
    pub fn feeds(&self) -> &[FeedMeta] {
        &self.header.feeds
    }

    /// The stored feeds that were not used, with why.
    pub fn skipped(&self) -> &[Skipped] {
        &self.header.skipped
    }

    fn read_at<const N: usize>(&self, offset: u64) -> Option<[u8; N]> {
        use std::os::unix::fs::FileExt;
        let mut b = [0u8; N];
        self.file.read_exact_at(&mut b, offset).ok()?;
        Some(b)
    }

    fn v4_record(&self, i: u64) -> Option<(u32, u32, u32)> {
        let b: [u8; 12] = self.read_at(self.v4_at + i * V4_REC)?;
        Some(v4_fields(&b))
    }

    fn v6_record(&self, i: u64) -> Option<(u128, u128, u32)> {
        let b: [u8; 36] = self.read_at(self.v6_at + i * V6_REC)?;
        Some(v6_fields(&b))
    }

    /// The group owning `key`'s interval: the last of the sorted, disjoint
    /// intervals starting at or before `key`, if it reaches `key`. The fences
    /// give the block holding it; the block is read whole.
    fn find<K: Ord + Copy>(
        &self,
        (n, at, size): (u64, u64, u64),
        fences: &[K],
        key: K,
        fields: impl Fn(&[u8]) -> (K, K, u32),
    ) -> Option<u32> {
        let block = (fences.partition_point(|f| *f <= key) as u64).checked_sub(1)?;
        let first = block * FENCE;
        let count = n.checked_sub(first)?.min(FENCE);
        let mut buf = [0u8; (FENCE * V6_REC) as usize];
        let buf = buf.get_mut(..usize::try_from(count * size).ok()?)?;
        use std::os::unix::fs::FileExt;
        self.file.read_exact_at(buf, at + first * size).ok()?;
        let (_, end, group) = buf
            .chunks_exact(usize::try_from(size).ok()?)
            .map(fields)
            .take_while(|(start, _, _)| *start <= key)
            .last()?;
        (end >= key).then_some(group)
    }

    fn group(&self, i: u32) -> Option<(IpPrefix, u32, u32, u32)> {
        if u64::from(i) >= self.header.groups {
            return None;
        }
        let b: [u8; 32] = self.read_at(self.groups_at + u64::from(i) * GROUP_REC)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(&b[..16]);
        let addr = u128::from_le_bytes(a);
        let ip = if b[17] == 1 {
            IpAddr::V4(Ipv4Addr::from(u32::try_from(addr).ok()?))
        } else {
            IpAddr::V6(Ipv6Addr::from(addr))
        };
        let w = |k: usize| u32::from_le_bytes([b[k], b[k + 1], b[k + 2], b[k + 3]]);
        Some((IpPrefix::new(ip, b[16])?, w(20), w(24), w(28)))
    }

    /// Every prefix covering `ip`, most specific first, each with its entries in
    /// priority order. A read error ends the walk (the file was checked on open).
    pub fn lookup_all(&self, ip: IpAddr) -> Vec<(IpPrefix, Vec<Hit>)> {
        let slot = match canonical(ip) {
            IpAddr::V4(a) => self.find(
                (self.header.v4, self.v4_at, V4_REC),
                &self.v4_fences,
                u32::from(a),
                v4_fields,
            ),
            IpAddr::V6(a) => self.find(
                (self.header.v6, self.v6_at, V6_REC),
                &self.v6_fences,
                u128::from(a),
                v6_fields,
            ),
        };
        let mut out = Vec::new();
        let mut next = slot;
        // Nesting is at most 129 deep; the bound also stops a cycle in a crafted file.
        while let Some(g) = next.filter(|_| out.len() <= 128) {
            let Some((prefix, parent, first, n)) = self.group(g) else {
                break;
            };
            let mut hits = Vec::new();
            for v in 0..u64::from(n.min(1 << 16)) {
                let Some(b) =
                    self.read_at::<8>(self.values_at + (u64::from(first) + v) * VALUE_REC)
                else {
                    break;
                };
                let feed = u16::from_le_bytes([b[0], b[1]]);
                let fact = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
                let Some([region, service, country, subdivision, city]) = usize::try_from(fact)
                    .ok()
                    .and_then(|f| self.header.facts.get(f))
                    .cloned()
                else {
                    continue;
                };
                hits.push(Hit {
                    feed,
                    prefix,
                    entry: FeedEntry {
                        prefix,
                        region,
                        service,
                        country,
                        subdivision,
                        city,
                    },
                });
            }
            out.push((prefix, hits));
            next = (parent != u32::MAX).then_some(parent);
        }
        out
    }
}

/// An IPv4 interval record: start, end, group.
fn v4_fields(b: &[u8]) -> (u32, u32, u32) {
    let w = |k: usize| {
        b.get(k..k + 4)
            .and_then(|s| s.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    };
    (w(0), w(4), w(8))
}

/// An IPv6 interval record: start, end, group.
fn v6_fields(b: &[u8]) -> (u128, u128, u32) {
    let q = |k: usize| {
        b.get(k..k + 16)
            .and_then(|s| s.try_into().ok())
            .map_or(0, u128::from_le_bytes)
    };
    let w = b
        .get(32..36)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes);
    (q(0), q(16), w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribute::feeds::{Feed, FeedFormat};
    use crate::attribute::LoadedFeed;
    use proptest::prelude::*;

    /// Covering prefixes, each with (feed, region) of its entries.
    type Levels = Vec<(IpPrefix, Vec<(u16, Option<String>)>)>;

    fn feed(name: &str, entries: Vec<FeedEntry>) -> LoadedFeed {
        LoadedFeed {
            name: name.to_string(),
            provider: "p".to_string(),
            sha256: "00".to_string(),
            date: None,
            feed: Feed {
                format: FeedFormat::CidrList,
                version: None,
                declared_provider: None,
                declared_asns: Vec::new(),
                serial: None,
                entries,
                problems: Vec::new(),
                problems_dropped: 0,
                over_cap: false,
            },
            bundled: None,
            compiled: None,
        }
    }

    /// Prefixes crowded into 10.0.0.0/8 and 2001:db8::/32 so that they nest.
    fn prefix() -> impl Strategy<Value = IpPrefix> {
        prop_oneof![
            (any::<u32>(), 8u8..=32).prop_map(|(a, len)| {
                IpPrefix::new(
                    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (a & 0x00ff_ffff))),
                    len,
                )
                .unwrap_or_default()
            }),
            (any::<u64>(), 32u8..=128).prop_map(|(a, len)| {
                let a = (0x2001_0db8_u128 << 96) | (u128::from(a) << 32);
                IpPrefix::new(IpAddr::V6(Ipv6Addr::from(a)), len).unwrap_or_default()
            }),
        ]
    }

    fn address() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (a & 0x00ff_ffff)))),
            any::<u64>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(
                (0x2001_0db8_u128 << 96) | (u128::from(a) << 32)
            ))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The compiled index answers every covering prefix, most specific first, with
        /// every entry listing it in feed order: what a naive scan of the entries says.
        #[test]
        fn compiled_lookups_agree_with_a_naive_scan(
            // Up to hundreds of intervals: lookups cross several fenced blocks.
            a in proptest::collection::vec((prefix(), 0u8..4), 1..200),
            b in proptest::collection::vec((prefix(), 0u8..4), 0..200),
            probes in proptest::collection::vec(address(), 1..40),
        ) {
            let entries = |v: &[(IpPrefix, u8)]| -> Vec<FeedEntry> {
                v.iter()
                    .map(|(p, r)| FeedEntry {
                        prefix: *p,
                        region: (*r > 0).then(|| format!("r{r}")),
                        ..FeedEntry::default()
                    })
                    .collect()
            };
            let feeds = [feed("a", entries(&a)), feed("b", entries(&b))];
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("feeds.idx");
            let counted: Vec<_> = feeds.iter().map(|f| (f, f.feed.counts())).collect();
            write(&path, Vec::new(), &counted, Vec::new()).unwrap();
            let ix = CompiledIndex::open(&path, Some(&[])).unwrap();
            // Probe the given addresses and every prefix's first and last address.
            let mut all = probes.clone();
            for (p, _) in a.iter().chain(&b) {
                all.push(p.first());
                all.push(p.last());
            }
            for ip in all {
                let mut naive: Levels = Vec::new();
                for (fi, f) in feeds.iter().enumerate() {
                    for e in f.feed.entries.iter().filter(|e| e.prefix.contains(ip)) {
                        let hit = (fi as u16, e.region.clone());
                        match naive.iter_mut().find(|(p, _)| *p == e.prefix) {
                            Some((_, l)) => l.push(hit),
                            None => naive.push((e.prefix, vec![hit])),
                        }
                    }
                }
                naive.sort_by_key(|(p, _)| std::cmp::Reverse(p.prefix_len()));
                let got: Levels = ix
                    .lookup_all(ip)
                    .into_iter()
                    .map(|(p, hits)| {
                        (p, hits.into_iter().map(|h| (h.feed, h.entry.region)).collect())
                    })
                    .collect();
                prop_assert_eq!(got, naive, "{}", ip);
            }
        }
    }
}
