//! The built services, kept encoded and read back one at a time.
//!
//! A capture with millions of conversations can have hundreds of thousands of
//! services; held as values they were the largest part of the report's memory.
//! Each service is encoded as it is built, in memory while the encoded services are
//! few and in an unnamed temporary file past [`MEMORY_LIMIT`], sorted into rank
//! order by a small key each, and every writer (JSON, CSV, terminal, HTML, subsets)
//! walks the list in that order, decoding one service at a time. What follows from
//! a service's endpoints and names (bytes, times, scope and its reason, role, the
//! proxy flag, each name's strength) is not stored: it is worked out again when the
//! service is read, by the function that first worked it out
//! ([`Service::assemble`]).

use super::runs::{get_ip, put_ip, Record, Sorter, IP_SIZE};
use super::{FrameList, Hostname, NameSource, Service, ServiceEndpoint};
use crate::model::{Scope, Timestamp, Transport};
use std::cmp::Reverse;
use std::fs::File;
use std::net::IpAddr;
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

/// Encoded services kept in memory before they move to a temporary file (each of
/// the build's two lists).
pub const MEMORY_LIMIT: usize = 1 << 20;

/// How much a walk over a list on disk reads at once, and how much of a list
/// being written to disk waits in memory.
const WINDOW: usize = 256 << 10;

/// Bytes appended at the end and read back at any offset: in memory up to a limit,
/// then in an unnamed temporary file, with only the newest bytes (less than
/// [`WINDOW`]) in memory. A file that cannot be created or written keeps the rest
/// in memory; what it already holds is read from it.
struct Blob {
    file: Option<File>,
    /// Bytes in the file, from its start.
    flushed: u64,
    /// The bytes after them.
    tail: Vec<u8>,
    limit: usize,
    spilling: bool,
}

impl Blob {
    fn new(limit: usize) -> Blob {
        Blob {
            file: None,
            flushed: 0,
            tail: Vec::new(),
            limit,
            spilling: true,
        }
    }

    fn len(&self) -> u64 {
        self.flushed + self.tail.len() as u64
    }

    fn append(&mut self, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
        let at = if self.file.is_some() {
            WINDOW
        } else {
            self.limit
        };
        if self.spilling && self.tail.len() > at {
            self.flush();
        }
    }

    /// Moves the tail into the file.
    fn flush(&mut self) {
        if self.file.is_none() {
            match tempfile::tempfile() {
                Ok(f) => self.file = Some(f),
                Err(_) => {
                    self.spilling = false;
                    return;
                }
            }
        }
        let Some(file) = &self.file else { return };
        if file.write_all_at(&self.tail, self.flushed).is_ok() {
            self.flushed += self.tail.len() as u64;
            self.tail.clear();
            if self.tail.capacity() > 2 * WINDOW {
                self.tail.shrink_to(2 * WINDOW);
            }
        } else {
            self.spilling = false;
        }
    }

    /// `n` bytes from `at` into `out` (replacing what it held).
    fn read(&self, at: u64, n: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
        let end = at
            .checked_add(n as u64)
            .filter(|&e| e <= self.len())
            .ok_or_else(|| std::io::Error::other("a record runs past the end of the list"))?;
        out.clear();
        out.resize(n, 0);
        let in_file = end.min(self.flushed).saturating_sub(at) as usize;
        if in_file > 0 {
            let file = self
                .file
                .as_ref()
                .ok_or_else(|| std::io::Error::other("the list's file is gone"))?;
            file.read_exact_at(&mut out[..in_file], at)?;
        }
        if in_file < n {
            // The rest is in the tail: `at + in_file` is at or past `flushed`.
            let from = (at + in_file as u64 - self.flushed) as usize;
            out[in_file..].copy_from_slice(&self.tail[from..from + (n - in_file)]);
        }
        Ok(())
    }
}

/// The services in rank order (internet ones first), encoded.
pub struct ServiceList {
    blob: Blob,
    len: usize,
    internet: usize,
    /// Where the first service not on the internet starts.
    local_at: u64,
    /// Where the first service of the list's second half (by bytes) starts: where
    /// two writers can split the walk.
    middle: u64,
    /// Why a walk ended early (a record that could not be read back).
    failure: Mutex<Option<String>>,
}

impl ServiceList {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many of the services are on the internet: the first ones.
    pub fn internet(&self) -> usize {
        self.internet
    }

    /// Every service, in rank order.
    pub fn iter(&self) -> Iter<'_> {
        self.walk(0, self.blob.len())
    }

    /// The services on the internet, in rank order.
    pub fn internet_iter(&self) -> Iter<'_> {
        self.walk(0, self.local_at)
    }

    /// The others (local, broadcast, multicast, special-purpose), in rank order.
    pub fn local_iter(&self) -> Iter<'_> {
        self.walk(self.local_at, self.blob.len())
    }

    /// Every service, in rank order, as two walks of about equal bytes, the first
    /// ending where the second starts: for two writers at once.
    pub fn halves(&self) -> [Iter<'_>; 2] {
        [
            self.walk(0, self.middle),
            self.walk(self.middle, self.blob.len()),
        ]
    }

    fn walk(&self, pos: u64, end: u64) -> Iter<'_> {
        Iter {
            list: self,
            pos,
            end,
            window: Vec::new(),
            window_at: 0,
        }
    }

    /// Why a walk over the list ended early: every writer checks it, so that a
    /// list cut short is an error, never a shorter report.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    pub(super) fn fail(&self, why: String) {
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(why);
        }
    }
}

/// A walk over a [`ServiceList`], reading a window at a time.
pub struct Iter<'a> {
    list: &'a ServiceList,
    pos: u64,
    end: u64,
    window: Vec<u8>,
    window_at: u64,
}

impl Iter<'_> {
    /// The `n` bytes at `at`, read into the window if they are not in it.
    fn bytes(&mut self, at: u64, n: usize) -> std::io::Result<&[u8]> {
        let have =
            at >= self.window_at && at + n as u64 <= self.window_at + self.window.len() as u64;
        if !have {
            let want = (n.max(WINDOW) as u64).min(self.end.saturating_sub(at)) as usize;
            self.list.blob.read(at, want.max(n), &mut self.window)?;
            self.window_at = at;
        }
        let from = (at - self.window_at) as usize;
        Ok(&self.window[from..from + n])
    }

    fn read(&mut self) -> std::io::Result<Service> {
        let head: [u8; 4] = self.bytes(self.pos, 4)?.try_into().unwrap_or_default();
        let n = u32::from_le_bytes(head) as usize;
        let record = self.bytes(self.pos + 4, n)?;
        let s = decode(record).ok_or_else(|| std::io::Error::other("a damaged record"))?;
        self.pos += 4 + n as u64;
        Ok(s)
    }
}

impl Iterator for Iter<'_> {
    type Item = Service;

    fn next(&mut self) -> Option<Service> {
        if self.pos >= self.end {
            return None;
        }
        match self.read() {
            Ok(s) => Some(s),
            Err(e) => {
                self.list.fail(format!(
                    "reading the services back from their temporary file: {e}"
                ));
                self.pos = self.end;
                None
            }
        }
    }
}

/// Bytes of its label a service's rank key holds; services whose figures and
/// first label bytes agree are put in order by their whole labels, read back.
const LABEL_PREFIX: usize = 32;

/// The rank of a service: internet services first, then by bytes (most first),
/// duration (longest first) and label (its first [`LABEL_PREFIX`] bytes, padded
/// with zeros: an order the whole labels' refines). Labels are unique, so with the
/// whole labels the order is total. A key also says where its service's record
/// is.
struct Key {
    local: bool,
    bytes: u64,
    duration: i128,
    label: [u8; LABEL_PREFIX],
    at: u64,
    len: u32,
}

impl Key {
    fn rank(&self) -> (bool, Reverse<u64>, Reverse<i128>, [u8; LABEL_PREFIX]) {
        (
            self.local,
            Reverse(self.bytes),
            Reverse(self.duration),
            self.label,
        )
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> std::cmp::Ordering {
        self.rank().cmp(&other.rank()).then(self.at.cmp(&other.at))
    }
}

impl Record for Key {
    const SIZE: usize = 1 + 8 + 16 + LABEL_PREFIX + 8 + 4;

    fn put(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.local));
        out.extend_from_slice(&self.bytes.to_le_bytes());
        out.extend_from_slice(&self.duration.to_le_bytes());
        out.extend_from_slice(&self.label);
        out.extend_from_slice(&self.at.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
    }

    fn get(b: &[u8]) -> Option<Key> {
        let mut r = Reader { bytes: b };
        let local = match r.byte()? {
            0 => false,
            1 => true,
            _ => return None,
        };
        let mut take = |n: usize| r.take(n);
        Some(Key {
            local,
            bytes: u64::from_le_bytes(take(8)?.try_into().ok()?),
            duration: i128::from_le_bytes(take(16)?.try_into().ok()?),
            label: take(LABEL_PREFIX)?.try_into().ok()?,
            at: u64::from_le_bytes(take(8)?.try_into().ok()?),
            len: u32::from_le_bytes(take(4)?.try_into().ok()?),
        })
    }
}

/// Takes services as they are built, in any order, and gives them back as a
/// [`ServiceList`] in rank order. Memory holds at most `limit` bytes of encoded
/// services and of their keys; more go to temporary files.
pub(super) struct Builder {
    staged: Blob,
    keys: Sorter<Key>,
    record: Vec<u8>,
    limit: usize,
    /// Services pushed.
    count: u64,
}

impl Builder {
    pub(super) fn new(limit: usize) -> Builder {
        Builder {
            staged: Blob::new(limit),
            keys: Sorter::new(limit / Key::SIZE),
            record: Vec::new(),
            limit,
            count: 0,
        }
    }

    pub(super) fn push(&mut self, s: &Service) {
        self.record.clear();
        encode(s, &mut self.record);
        let at = self.staged.len();
        self.staged.append(&self.record);
        self.count += 1;
        let mut label = [0u8; LABEL_PREFIX];
        for (to, from) in label.iter_mut().zip(s.label.as_bytes()) {
            *to = *from;
        }
        self.keys.push(Key {
            local: s.scope != Scope::Internet,
            bytes: s.bytes,
            duration: s.last_seen.nanos_since(s.first_seen),
            label,
            at,
            len: self.record.len() as u32,
        });
    }

    pub(super) fn finish(self) -> ServiceList {
        let Builder {
            staged,
            keys,
            mut record,
            limit,
            count,
        } = self;
        // The list's size: every record with its 4-byte length.
        let total = staged.len() + 4 * count;
        let mut middle = None;
        let mut list = ServiceList {
            blob: Blob::new(limit),
            len: 0,
            internet: 0,
            local_at: 0,
            middle: 0,
            failure: Mutex::new(None),
        };
        let fail = |list: &ServiceList, e: std::io::Error| {
            list.fail(format!(
                "reading the services back from their temporary file: {e}"
            ));
        };
        let mut keys = keys.finish();
        // Keys of equal rank (figures and label prefix), put in order by label.
        let mut tied: Vec<(String, Key)> = Vec::new();
        'keys: while let Some(first) = keys.next() {
            let rank = first.rank();
            tied.clear();
            tied.push((String::new(), first));
            while let Some(next) = keys.next_if(|n| n.rank() == rank) {
                tied.push((String::new(), next));
            }
            if tied.len() > 1 {
                for (label, k) in &mut tied {
                    if let Err(e) = staged.read(k.at, k.len as usize, &mut record) {
                        fail(&list, e);
                        break 'keys;
                    }
                    let Some(whole) = (Reader { bytes: &record }).string() else {
                        fail(&list, std::io::Error::other("a damaged record"));
                        break 'keys;
                    };
                    *label = whole;
                }
                tied.sort_by(|x, y| x.0.cmp(&y.0));
            }
            for (_, k) in tied.drain(..) {
                if let Err(e) = staged.read(k.at, k.len as usize, &mut record) {
                    fail(&list, e);
                    break 'keys;
                }
                if !k.local {
                    list.internet += 1;
                    list.local_at = list.blob.len() + 4 + record.len() as u64;
                }
                if middle.is_none() && list.blob.len() * 2 >= total {
                    middle = Some(list.blob.len());
                }
                list.len += 1;
                list.blob.append(&k.len.to_le_bytes());
                list.blob.append(&record);
            }
        }
        if let Some(f) = keys.failure() {
            list.fail(f.to_string());
        }
        list.middle = middle.unwrap_or(list.blob.len());
        list
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7F) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_time(out: &mut Vec<u8>, t: Timestamp) {
    // Zig-zag, so that a time before 1970 stays short.
    put_varint(out, ((t.secs << 1) ^ (t.secs >> 63)) as u64);
    put_varint(out, u64::from(t.nanos));
}

fn put_frames(out: &mut Vec<u8>, f: &FrameList) {
    put_varint(out, f.len as u64);
    put_varint(out, f.bytes.len() as u64);
    out.extend_from_slice(&f.bytes);
}

/// What a service is made from: its label, names, endpoints and frames, and whether
/// its endpoints carried connections or datagrams through a proxy (the names say it
/// too when they were asked of one).
fn encode(s: &Service, out: &mut Vec<u8>) {
    put_str(out, &s.label);
    put_varint(out, s.hostnames.len() as u64);
    for h in &s.hostnames {
        put_str(out, &h.name);
        put_varint(out, h.sources.len() as u64);
        for &src in &h.sources {
            out.push(src.code());
        }
        put_varint(out, h.addresses.len() as u64);
        for &ip in &h.addresses {
            put_ip(ip, out);
        }
        put_frames(out, &h.frames);
    }
    put_varint(out, s.endpoints.len() as u64);
    for e in &s.endpoints {
        put_ip(e.ip, out);
        put_varint(out, u64::from(e.port));
        out.push(e.transport.code());
        for v in [
            e.conversations,
            e.frames_to_server,
            e.bytes_to_server,
            e.frames_to_client,
            e.bytes_to_client,
        ] {
            put_varint(out, v);
        }
        put_time(out, e.first_seen);
        put_time(out, e.last_seen);
    }
    put_frames(out, &s.frames);
    out.push(u8::from(s.via_proxy));
}

/// Reads what [`encode`] wrote; `None` for anything else.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// A count of items each at least one byte long (so a damaged count cannot
    /// ask for more memory than the record has bytes).
    fn count(&mut self) -> Option<usize> {
        let n = usize::try_from(self.varint()?).ok()?;
        (n <= self.bytes.len()).then_some(n)
    }

    fn string(&mut self) -> Option<String> {
        let n = self.count()?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }

    fn ip(&mut self) -> Option<IpAddr> {
        get_ip(self.take(IP_SIZE)?)
    }

    fn time(&mut self) -> Option<Timestamp> {
        let z = self.varint()?;
        let secs = ((z >> 1) as i64) ^ -((z & 1) as i64);
        let nanos = u32::try_from(self.varint()?).ok()?;
        Some(Timestamp::new(secs, nanos))
    }

    fn frames(&mut self) -> Option<FrameList> {
        let len = usize::try_from(self.varint()?).ok()?;
        let n = self.count()?;
        let bytes = self.take(n)?.to_vec();
        let mut list = FrameList {
            bytes,
            len: 0,
            last: None,
        };
        let (mut count, mut last) = (0, None);
        for f in list.iter() {
            count += 1;
            last = Some(f);
        }
        if count != len || list.bytes.last().is_some_and(|b| b & 0x80 != 0) {
            return None;
        }
        list.len = len;
        list.last = last;
        Some(list)
    }

    fn transport(&mut self) -> Option<Transport> {
        Transport::from_code(self.byte()?)
    }
}

fn decode(bytes: &[u8]) -> Option<Service> {
    let mut r = Reader { bytes };
    let label = r.string()?;
    let n = r.count()?;
    let mut hostnames = Vec::with_capacity(n);
    for _ in 0..n {
        let name = r.string()?;
        let k = r.count()?;
        let mut sources = Vec::with_capacity(k);
        for _ in 0..k {
            sources.push(*NameSource::ALL.get(usize::from(r.byte()?))?);
        }
        let k = r.count()?;
        let mut addresses = Vec::with_capacity(k);
        for _ in 0..k {
            addresses.push(r.ip()?);
        }
        let frames = r.frames()?;
        hostnames.push(Hostname::new(name, sources, addresses, frames));
    }
    let n = r.count()?;
    let mut endpoints = Vec::with_capacity(n);
    for _ in 0..n {
        let ip = r.ip()?;
        let port = u16::try_from(r.varint()?).ok()?;
        let transport = r.transport()?;
        let mut v = [0u64; 5];
        for x in &mut v {
            *x = r.varint()?;
        }
        let [conversations, frames_to_server, bytes_to_server, frames_to_client, bytes_to_client] =
            v;
        endpoints.push(ServiceEndpoint {
            ip,
            port,
            transport,
            conversations,
            frames_to_server,
            bytes_to_server,
            frames_to_client,
            bytes_to_client,
            first_seen: r.time()?,
            last_seen: r.time()?,
        });
    }
    let frames = r.frames()?;
    let carried = match r.byte()? {
        0 => false,
        1 => true,
        _ => return None,
    };
    if !r.bytes.is_empty() {
        return None;
    }
    let mut s = Service::assemble(label, hostnames, endpoints, frames)?;
    s.via_proxy |= carried;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::FrameId;
    use std::net::Ipv4Addr;

    fn service(label: &str, bytes: u64, ip: IpAddr, port: u16) -> Service {
        let t = |s| Timestamp::new(s, 5);
        let endpoints = vec![ServiceEndpoint {
            ip,
            port,
            transport: Transport::Tcp,
            conversations: 2,
            frames_to_server: 3,
            bytes_to_server: bytes,
            frames_to_client: 4,
            bytes_to_client: 7,
            first_seen: t(-3),
            last_seen: t(1_700_000_000),
        }];
        let frames: FrameList = [1, 9, 400, 70_000]
            .into_iter()
            .map(|f| FrameId::new(0, f))
            .collect();
        let names = vec![Hostname::new(
            format!("{label}.example"),
            vec![NameSource::DnsAnswer, NameSource::TlsSni],
            vec![ip],
            [FrameId::new(3, 2)].into_iter().collect(),
        )];
        Service::assemble(label.to_string(), names, endpoints, frames).expect("endpoints")
    }

    fn json(s: &Service) -> String {
        serde_json::to_string(s).expect("serialises")
    }

    /// Many services, most of them written to the file in several windows and read
    /// back across window edges, come back whole and in rank order.
    #[test]
    fn a_list_on_disk_reads_back_across_windows() {
        let all: Vec<Service> = (0..6000u32)
            .map(|i| {
                let ip = IpAddr::V4(Ipv4Addr::from(0x0B00_0000 + i));
                // Half the labels share their first 57 bytes: equal figures and
                // key prefixes, put in order by the labels read back.
                let label = if i % 2 == 0 {
                    format!("s{i:05}")
                } else {
                    format!("{}{i:05}", "a-long-shared-prefix-".repeat(3))
                };
                service(&label, u64::from(i % 97), ip, 443)
            })
            .collect();
        let mut b = Builder::new(0);
        for s in all.iter().rev() {
            b.push(s);
        }
        let list = b.finish();
        assert!(list.blob.flushed > WINDOW as u64, "{}", list.blob.flushed);
        let mut want: Vec<&Service> = all.iter().collect();
        want.sort_by(|x, y| {
            y.bytes
                .cmp(&x.bytes)
                .then(y.duration.total_cmp(&x.duration))
                .then(x.label.cmp(&y.label))
        });
        let got: Vec<Service> = list.iter().collect();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert_eq!(json(g), json(w));
        }
        assert_eq!(list.failure(), None);
    }

    /// A service read back shows exactly what it showed when built, and the list
    /// gives the services in rank order, internet ones first, from memory and from
    /// its temporary file alike.
    #[test]
    fn services_read_back_as_built_in_rank_order() {
        let all = [
            service("small", 10, "9.9.9.9".parse().unwrap(), 443),
            service("local", 9_000, "192.168.1.1".parse().unwrap(), 53),
            service("big", 5_000, "2606:4700::1111".parse().unwrap(), 8443),
            service("also-big", 5_000, "8.8.4.4".parse().unwrap(), 80),
            // Equal in everything the key holds, zero padding included.
            service("tie\u{0}", 10, "9.9.9.8".parse().unwrap(), 443),
            service("tie", 10, "9.9.9.7".parse().unwrap(), 443),
        ];
        for limit in [MEMORY_LIMIT, 0, 100] {
            let mut b = Builder::new(limit);
            for s in &all {
                b.push(s);
            }
            let list = b.finish();
            let labels: Vec<String> = list.iter().map(|s| s.label).collect();
            let want = ["also-big", "big", "small", "tie", "tie\u{0}", "local"];
            assert_eq!(labels, want, "limit {limit}");
            assert_eq!((list.len(), list.internet()), (6, 5));
            let local: Vec<String> = list.local_iter().map(|s| s.label).collect();
            assert_eq!(local, ["local"]);
            assert_eq!(list.internet_iter().count(), 5);
            for s in list.iter() {
                let built = all.iter().find(|x| x.label == s.label).expect("built");
                assert_eq!(json(&s), json(built));
            }
            assert_eq!(list.failure(), None);
        }
    }

    /// The two halves of a list, walked one after the other, are the whole list in
    /// order, split near the middle of its bytes: for none, one and many services,
    /// in memory and on disk.
    #[test]
    fn the_halves_are_the_list_split_near_its_middle() {
        for n in [0u32, 1, 2, 3, 6000] {
            for limit in [MEMORY_LIMIT, 0] {
                let mut b = Builder::new(limit);
                for i in 0..n {
                    let ip = IpAddr::V4(Ipv4Addr::from(0x0B00_0000 + i));
                    b.push(&service(&format!("s{i:05}"), u64::from(i % 7), ip, 443));
                }
                let list = b.finish();
                let whole: Vec<String> = list.iter().map(|s| s.label).collect();
                let [first, second] = list.halves();
                let first: Vec<String> = first.map(|s| s.label).collect();
                let second: Vec<String> = second.map(|s| s.label).collect();
                assert_eq!(
                    [first.clone(), second.clone()].concat(),
                    whole,
                    "{n} {limit}"
                );
                // The services are of about one size: the halves differ by one at
                // most.
                let (a, b) = (first.len(), second.len());
                assert!(a.abs_diff(b) <= 1, "{n} {limit}: {a} and {b}");
                assert_eq!(list.failure(), None);
            }
        }
    }

    /// A damaged record ends the walk with a failure, never a panic or a shorter
    /// list taken for whole.
    #[test]
    fn a_damaged_record_is_a_failure() {
        let mut b = Builder::new(MEMORY_LIMIT);
        b.push(&service("a", 1, "8.8.8.8".parse().unwrap(), 1));
        let mut list = b.finish();
        let last = list.blob.tail.len() - 1;
        list.blob.tail[last] ^= 0x80;
        assert_eq!(list.iter().count(), 0);
        assert!(list.failure().is_some_and(|f| f.contains("damaged")));
        for cut in 0..list.blob.tail.len() {
            assert!(decode(&list.blob.tail[4..cut.max(4)]).is_none());
        }
    }
}
