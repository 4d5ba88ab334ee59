//! The conversation and endpoint tables, counted the way tshark's `conv,tcp`,
//! `conv,udp`, `conv,ip`/`conv,ipv6` and `endpoints,ip`/`endpoints,ipv6` count them:
//! frames and frame lengths on the wire, per direction.
//!
//! Side `a` of a conversation is the source of its first frame, as in Wireshark.
//! A TCP conversation whose 4-tuple is reused after it closed (a new SYN with
//! another initial sequence number after FIN or RST) starts a new conversation, as
//! tshark's TCP stream index does. Fragmented datagrams count in the UDP/TCP table on
//! the frame that completes them (tshark reassembles by default), and every fragment
//! frame is attributed to the conversation in `fragment_frames`.
//!
//! A frame counted in a TCP or UDP conversation touches only that conversation; its
//! IP conversation and the two endpoints receive it when the tables are finished
//! ([`Tables::finish`]), by summing. Frames with no transport conversation (ICMP,
//! fragments, other protocols) are counted in their IP conversation directly.
//!
//! Memory is bounded for pending fragments (`flow::defrag`); conversations beyond
//! the newest few chunks live in a temporary file (`flow::store`), and so do the
//! index entries beyond the newest 458 752 (`flow::index`), so what grows with the
//! number of flows in memory is the index's filter (a byte a conversation) and the
//! endpoint table.

pub mod carried;
pub mod defrag;
mod index;
pub mod reassembly;
mod store;

use crate::model::{Endpoint, FlowKey, FrameRef, Timestamp, Transport};
use index::{spread, Index};
use serde::Serialize;
use store::Store;
#[cfg(test)]
use store::CHUNK;

/// What stream following needs of a TCP header.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpSegment {
    pub seq: u32,
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    /// The capture holds only the start of the segment's data (snap length).
    pub cut: bool,
}
use std::net::IpAddr;

/// The flow tables are keyed by attacker-chosen addresses and ports, so they use a
/// keyed hash (aHash, randomly seeded) rather than SipHash: as resistant to crafted
/// collisions, and several times faster on this hot path. Iteration order never
/// reaches the output (conversations live in a `Vec`, endpoints are sorted).
type HashMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;

/// Figures for one direction of a conversation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Direction {
    pub frames: u64,
    pub bytes: u64,
}

impl Direction {
    fn add(&mut self, other: Direction) {
        self.frames += other.frames;
        self.bytes += other.bytes;
    }

    fn minus(self, other: Direction) -> Direction {
        Direction {
            frames: self.frames.saturating_sub(other.frames),
            bytes: self.bytes.saturating_sub(other.bytes),
        }
    }
}

/// One conversation, as it stands.
#[derive(Clone, Debug)]
pub struct Conversation {
    pub transport: Transport,
    pub a: Endpoint,
    pub b: Endpoint,
    pub a_to_b: Direction,
    pub b_to_a: Direction,
    pub first: FrameRef,
    pub last_seen: Timestamp,
    /// Frames that carried fragments of this conversation's datagrams.
    pub fragment_frames: u64,
    tcp: TcpState,
    /// The IP conversation this one runs over (itself for an IP conversation), and
    /// the endpoint entries of sides `a` and `b`: found once, on the first frame
    /// counted with its IP layer, so that each later frame costs one hash lookup,
    /// not four. [`UNLINKED`] before that frame.
    ip_conv: u32,
    ep_a: u32,
    ep_b: u32,
}

/// Transport conversations folded into their IP conversations at once, at most
/// (96 bytes each: 768 KiB).
const FOLD_BATCH: usize = 1 << 13;

/// What one transport conversation adds to its IP conversation.
struct Fold {
    /// The transport conversation's side `a`, which says which way `ab` goes.
    a_ip: IpAddr,
    ab: Direction,
    ba: Direction,
    last: Timestamp,
    first: Timestamp,
}

/// Adds `folds` to their IP conversations (emptying it), and notes an IP
/// conversation's earlier start in `earliest`.
fn fold_into(
    ips: &mut Store,
    earliest: &mut HashMap<ConvId, Timestamp>,
    folds: &mut Vec<(ConvId, Fold)>,
) {
    ips.update_sorted(folds, |ip_id, ipc, f| {
        if ipc.a.ip == ipc.b.ip {
            ipc.a_to_b.add(f.ab);
            ipc.a_to_b.add(f.ba);
        } else if ipc.a.ip == f.a_ip {
            ipc.a_to_b.add(f.ab);
            ipc.b_to_a.add(f.ba);
        } else {
            ipc.a_to_b.add(f.ba);
            ipc.b_to_a.add(f.ab);
        }
        ipc.last_seen = ipc.last_seen.max(f.last);
        if f.first < ipc.first.ts {
            let e = earliest.entry(IP_CONV | ip_id).or_insert(f.first);
            *e = (*e).min(f.first);
        }
    });
    folds.clear();
}

#[derive(Clone, Copy, Debug, Default)]
struct TcpState {
    isn_a: Option<u32>,
    syn_from_b: bool,
    closed: bool,
}

impl Conversation {
    fn new(
        transport: Transport,
        a: Endpoint,
        b: Endpoint,
        first: FrameRef,
        ip_conv: u32,
        ep_a: u32,
        ep_b: u32,
    ) -> Self {
        Conversation {
            transport,
            a,
            b,
            a_to_b: Direction::default(),
            b_to_a: Direction::default(),
            first,
            last_seen: first.ts,
            fragment_frames: 0,
            tcp: TcpState::default(),
            ip_conv,
            ep_a,
            ep_b,
        }
    }

    /// Whether this is a conversation of `key`'s flow: its two sides are the key's,
    /// in either order (compared as they are, without building its own key).
    pub(super) fn is_of(&self, key: &FlowKey) -> bool {
        self.transport == key.transport
            && ((self.a == key.lo && self.b == key.hi) || (self.a == key.hi && self.b == key.lo))
    }

    /// For TCP: whether side `a` sent the opening SYN (`Some(false)` when `b` did,
    /// `None` when no SYN was seen, as in a capture started mid-stream).
    pub(crate) fn opened_by_a(&self) -> Option<bool> {
        if self.tcp.isn_a.is_some() {
            Some(true)
        } else if self.tcp.syn_from_b {
            Some(false)
        } else {
            None
        }
    }
}

/// Per-address figures, as tshark's endpoint table gives them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EndpointStats {
    pub tx: Direction,
    pub rx: Direction,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
}

/// What the table needs to know about a frame's transport layer.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Segment {
    Tcp {
        src_port: u16,
        dst_port: u16,
        seq: u32,
        syn: bool,
        ack: bool,
        fin: bool,
        rst: bool,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
    },
}

/// Index of a conversation in the table, stable for the table's life.
pub(crate) type ConvId = usize;

/// IP conversations are kept and numbered apart from TCP and UDP ones: their
/// numbers have this bit set.
const IP_CONV: ConvId = 1 << (usize::BITS - 1);

/// A transport conversation none of whose frames was counted with its IP layer yet
/// (so far its IP tables counted each frame apart: IPv6 fragments, or a routing
/// header whose final destination is not the header's).
const UNLINKED: u32 = u32::MAX;

/// The hash a key is indexed under: 32 bits, [`spread`] as the index reads them.
fn key_hash(hasher: &ahash::RandomState, key: &FlowKey) -> u64 {
    spread((hasher.hash_one(key) >> 32) as u32)
}

/// Conversation and endpoint tables for one capture.
#[derive(Default)]
pub struct Tables {
    /// TCP and UDP conversations: the newest in memory, the others on disk.
    convs: Store,
    /// IP conversations (one per pair of addresses), kept the same way.
    ips: Store,
    /// The latest conversation of each flow key, as its number in `convs`, with 32
    /// bits of the key's hash (the key itself is read from the conversation): the
    /// newest in memory, the others on disk (`flow::index`).
    index: Index,
    ip_index: Index,
    hasher: ahash::RandomState,
    /// Frames of a transport conversation that its IP conversation already counted
    /// (fragmented datagrams, counted fragment by fragment), per direction.
    counted_in_ip: HashMap<ConvId, [Direction; 2]>,
    /// The earliest time of a conversation whose frames were not in time order,
    /// when earlier than its first frame's.
    earliest: HashMap<ConvId, Timestamp>,
    finished: bool,
    endpoints: Vec<(IpAddr, EndpointStats)>,
    endpoint_index: HashMap<IpAddr, u32>,
}

impl Tables {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a frame that carries an IP header but no transport conversation: the IP
    /// conversation (and, when finished, both endpoints).
    pub(crate) fn count_ip(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        at: FrameRef,
        wire_len: u32,
    ) -> ConvId {
        let id = self.ip_conv(src, dst, at);
        let src = Endpoint {
            ip: src,
            port: None,
        };
        self.count_on(id, src, at, u64::from(wire_len));
        id
    }

    fn endpoint(&mut self, ip: IpAddr) -> u32 {
        if let Some(&i) = self.endpoint_index.get(&ip) {
            return i;
        }
        let i = self.endpoints.len() as u32;
        self.endpoints.push((ip, EndpointStats::default()));
        self.endpoint_index.insert(ip, i);
        i
    }

    /// The IP conversation of two addresses, created (with no frame counted) when new.
    fn ip_conv(&mut self, src: IpAddr, dst: IpAddr, at: FrameRef) -> ConvId {
        let s = Endpoint {
            ip: src,
            port: None,
        };
        let d = Endpoint {
            ip: dst,
            port: None,
        };
        let (key, _) = FlowKey::new(Transport::Ip, s, d);
        let hash = key_hash(&self.hasher, &key);
        if let Some(i) = self.ip_index.find(&self.ips, hash, &key) {
            // One moved to the file comes back into memory (the touched set): the
            // index confirms a key by reading its conversation, and the next
            // transport conversation between the two addresses then finds it
            // without a read.
            let _ = self.ips.get_mut(i);
            return IP_CONV | i;
        }
        let (ep_a, ep_b) = (self.endpoint(src), self.endpoint(dst));
        let i = self.ips.len();
        self.ips.push(Conversation::new(
            Transport::Ip,
            s,
            d,
            at,
            i as u32,
            ep_a,
            ep_b,
        ));
        self.ip_index.insert(&self.ips, hash, key, i);
        IP_CONV | i
    }

    /// Conversation `id` to update, wherever it is kept.
    fn conv_mut(&mut self, id: ConvId) -> Option<&mut Conversation> {
        if id & IP_CONV != 0 {
            self.ips.get_mut(id & !IP_CONV)
        } else {
            self.convs.get_mut(id)
        }
    }

    /// Counts a frame sent by `src` on conversation `id`; returns whether it went
    /// from side `a` to side `b`.
    fn count_on(&mut self, id: ConvId, src: Endpoint, at: FrameRef, len: u64) -> bool {
        let Some(c) = self.conv_mut(id) else {
            return true;
        };
        // An IP conversation between an address and itself counts every frame a to b.
        let forward = if c.transport == Transport::Ip {
            c.a.ip == src.ip
        } else {
            c.a == src
        };
        let dir = if forward {
            &mut c.a_to_b
        } else {
            &mut c.b_to_a
        };
        dir.frames += 1;
        dir.bytes += len;
        c.last_seen = c.last_seen.max(at.ts);
        if at.ts < c.first.ts {
            let e = self.earliest.entry(id).or_insert(at.ts);
            *e = (*e).min(at.ts);
        }
        forward
    }

    /// Counts a frame in the TCP or UDP table (call once per complete segment or
    /// datagram) and, with `with_ip`, in the IP conversation and endpoint tables too
    /// (when the tables are finished). Without `with_ip` the IP conversation has
    /// counted the frame already ([`Tables::count_ip`]).
    pub(crate) fn count_transport(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        seg: Segment,
        at: FrameRef,
        wire_len: u32,
        with_ip: bool,
    ) -> Option<ConvId> {
        let (id, forward) = self.count_transport_only(src, dst, seg, at, wire_len)?;
        if with_ip {
            // Right after its frame, the conversation is in memory.
            if self
                .convs
                .resident(id)
                .is_some_and(|c| c.ip_conv == UNLINKED)
            {
                self.link_ip(id, src, dst, at);
            }
        } else {
            let d = &mut self.counted_in_ip.entry(id).or_default()[usize::from(!forward)];
            d.frames += 1;
            d.bytes += u64::from(wire_len);
        }
        Some(id)
    }

    /// Links transport conversation `id` to the IP conversation of its frame's
    /// addresses (`src`, `dst`), created when new.
    ///
    /// The endpoint entries are looked up by address (they exist: the IP conversation
    /// has them), not read from the IP conversation, which may have moved to disk.
    fn link_ip(&mut self, id: ConvId, src: IpAddr, dst: IpAddr, at: FrameRef) {
        let ip = self.ip_conv(src, dst, at) & !IP_CONV;
        let (ep_src, ep_dst) = (self.endpoint(src), self.endpoint(dst));
        if let Some(c) = self.convs.get_mut(id) {
            c.ip_conv = ip as u32;
            (c.ep_a, c.ep_b) = if c.a.ip == src {
                (ep_src, ep_dst)
            } else {
                (ep_dst, ep_src)
            };
        }
    }

    /// Folds the transport conversations into their IP conversations, and those into
    /// the endpoints. Call once, after the last frame; later calls do nothing.
    pub fn finish(&mut self) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        // No key is looked up from now on: the indexes (their tables and filters,
        // the largest part of the pass's memory) go before the walk below reads
        // conversations back from disk.
        self.index = Index::default();
        self.ip_index = Index::default();
        self.endpoint_index = HashMap::default();
        let earliest = |id: ConvId, c: &Conversation, e: &HashMap<ConvId, Timestamp>| {
            e.get(&id).map_or(c.first.ts, |t| (*t).min(c.first.ts))
        };
        // What each transport conversation adds to its IP conversation, gathered in
        // batches and added in IP conversation order: the IP conversations moved to
        // disk are then read and written a chunk (or a record) at a time, each once
        // a batch, not one read and one write per transport conversation.
        let mut folds: Vec<(ConvId, Fold)> = Vec::with_capacity(FOLD_BATCH.min(self.convs.len()));
        for (id, c) in self.convs.iter() {
            let (mut ab, mut ba) = (c.a_to_b, c.b_to_a);
            if let Some([x, y]) = self.counted_in_ip.get(&id) {
                ab = ab.minus(*x);
                ba = ba.minus(*y);
            }
            if ab.frames + ba.frames == 0 {
                continue;
            }
            let first = earliest(id, &c, &self.earliest);
            folds.push((
                c.ip_conv as usize,
                Fold {
                    a_ip: c.a.ip,
                    ab,
                    ba,
                    last: c.last_seen,
                    first,
                },
            ));
            if folds.len() >= FOLD_BATCH {
                fold_into(&mut self.ips, &mut self.earliest, &mut folds);
            }
        }
        fold_into(&mut self.ips, &mut self.earliest, &mut folds);
        for (i, c) in self.ips.iter() {
            if c.a_to_b.frames + c.b_to_a.frames == 0 {
                continue;
            }
            let first = earliest(IP_CONV | i, &c, &self.earliest);
            for (ep, tx, rx) in [(c.ep_a, c.a_to_b, c.b_to_a), (c.ep_b, c.b_to_a, c.a_to_b)] {
                let Some((_, e)) = self.endpoints.get_mut(ep as usize) else {
                    continue;
                };
                e.tx.add(tx);
                e.rx.add(rx);
                e.first_seen = Some(e.first_seen.map_or(first, |f| f.min(first)));
                e.last_seen = Some(e.last_seen.map_or(c.last_seen, |l| l.max(c.last_seen)));
            }
        }
        // Only the conversations and endpoints are read from now on: the rest of
        // the pass's lookup structures go before the report's data is loaded.
        self.counted_in_ip = HashMap::default();
        // Nothing refers to an endpoint by its number from now on: in address order
        // in place, the report's stages read them without a sorted copy.
        self.endpoints.sort_unstable_by_key(|(ip, _)| *ip);
        self.endpoints.shrink_to_fit();
        // `earliest` stays: `first_seen` reads it (it holds only conversations whose
        // frames went back in time).
        // The report's stages walk the conversations once each: from a file, so that
        // they are not all in memory next to what those stages build.
        self.convs.spill();
        self.ips.spill();
    }

    fn count_transport_only(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        seg: Segment,
        at: FrameRef,
        wire_len: u32,
    ) -> Option<(ConvId, bool)> {
        let len = u64::from(wire_len);
        match seg {
            Segment::Tcp {
                src_port,
                dst_port,
                seq,
                syn,
                ack,
                fin,
                rst,
            } => {
                let s = Endpoint {
                    ip: src,
                    port: Some(src_port),
                };
                let d = Endpoint {
                    ip: dst,
                    port: Some(dst_port),
                };
                let flags = TcpFlags {
                    seq,
                    syn,
                    ack,
                    fin,
                    rst,
                };
                Some(self.count(Transport::Tcp, s, d, at, len, Some(flags)))
            }
            Segment::Udp { src_port, dst_port } => {
                let s = Endpoint {
                    ip: src,
                    port: Some(src_port),
                };
                let d = Endpoint {
                    ip: dst,
                    port: Some(dst_port),
                };
                Some(self.count(Transport::Udp, s, d, at, len, None))
            }
        }
    }

    fn count(
        &mut self,
        transport: Transport,
        src: Endpoint,
        dst: Endpoint,
        at: FrameRef,
        len: u64,
        tcp: Option<TcpFlags>,
    ) -> (ConvId, bool) {
        let (key, _) = FlowKey::new(transport, src, dst);
        let hash = key_hash(&self.hasher, &key);
        let id = match self.index.find(&self.convs, hash, &key) {
            Some(id) if !tcp.is_some_and(|f| self.starts_new_stream(id, src, f)) => id,
            _ => {
                let id = self.convs.len();
                self.convs
                    .push(Conversation::new(transport, src, dst, at, UNLINKED, 0, 0));
                self.index.insert(&self.convs, hash, key, id);
                id
            }
        };
        let forward = self.count_on(id, src, at, len);
        if let (Some(f), Some(c)) = (tcp, self.convs.get_mut(id)) {
            if f.syn && !f.ack && forward && c.tcp.isn_a.is_none() {
                c.tcp.isn_a = Some(f.seq);
            }
            if f.syn && !f.ack && !forward {
                c.tcp.syn_from_b = true;
            }
            if f.fin || f.rst {
                c.tcp.closed = true;
            }
        }
        (id, forward)
    }

    /// tshark starts a new TCP stream on a 4-tuple when a SYN (without ACK) arrives
    /// after the previous connection closed, with a different initial sequence.
    fn starts_new_stream(&self, id: ConvId, src: Endpoint, f: TcpFlags) -> bool {
        let Some(c) = self.convs.get(id) else {
            return false;
        };
        f.syn && !f.ack && c.tcp.closed && !(c.a == src && c.tcp.isn_a == Some(f.seq))
    }

    pub(crate) fn add_fragment_frames(&mut self, id: ConvId, frames: u64) {
        if let Some(c) = self.conv_mut(id) {
            c.fragment_frames += frames;
        }
    }

    /// Conversation `id` if it is in memory, as it always is right after a frame was
    /// counted on it (the pass's use); one moved to disk is not read back here, so
    /// other callers walk [`Tables::conversations`].
    pub fn conversation(&self, id: ConvId) -> Option<&Conversation> {
        if id & IP_CONV != 0 {
            self.ips.resident(id & !IP_CONV)
        } else {
            self.convs.resident(id)
        }
    }

    /// When conversation `id` (`c`) was first seen: its earliest frame's time, which
    /// is its first frame's unless time went backwards in the capture.
    pub fn first_seen(&self, id: ConvId, c: &Conversation) -> Timestamp {
        self.earliest
            .get(&id)
            .map_or(c.first.ts, |t| (*t).min(c.first.ts))
    }

    /// Conversations in the order they started (IP conversations complete once
    /// [`Tables::finish`] has run).
    pub fn conversations(&self) -> ConversationList<'_> {
        ConversationList {
            convs: &self.convs,
            ips: &self.ips,
        }
    }

    /// The endpoints, in address order: [`Tables::finish`] fills them (from the
    /// conversations) and sorts them in place; before, they are not complete.
    pub fn endpoints(&self) -> impl Iterator<Item = (IpAddr, EndpointStats)> + '_ {
        self.endpoints.iter().copied()
    }

    /// How many endpoints there are.
    pub fn endpoint_count(&self) -> usize {
        self.endpoints.len()
    }
}

/// The conversations of a table: TCP and UDP in the order they started, then IP
/// in the order they started.
#[derive(Clone, Copy)]
pub struct ConversationList<'a> {
    convs: &'a Store,
    ips: &'a Store,
}

impl<'a> ConversationList<'a> {
    /// Each conversation with its number, read from memory or, once the tables are
    /// finished, from their temporary file one chunk at a time.
    pub fn iter(self) -> impl Iterator<Item = (ConvId, Conversation)> + 'a {
        self.convs
            .iter()
            .chain(self.ips.iter().map(|(i, c)| (IP_CONV | i, c)))
    }

    /// The TCP and UDP conversations only.
    pub fn transport(self) -> store::Iter<'a> {
        self.convs.iter()
    }

    /// The IP conversations only.
    pub fn ip(self) -> impl Iterator<Item = (ConvId, Conversation)> + 'a {
        self.ips.iter().map(|(i, c)| (IP_CONV | i, c))
    }

    pub fn len(self) -> usize {
        self.convs.len() + self.ips.len()
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Why a conversation could not be read back from the temporary file, if one
    /// could not: a list cut short must not pass for the whole list.
    pub fn failure(self) -> Option<&'a str> {
        self.convs.failure().or(self.ips.failure())
    }
}

#[derive(Clone, Copy, Debug)]
struct TcpFlags {
    seq: u32,
    syn: bool,
    ack: bool,
    fin: bool,
    rst: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn at(frame: u64, secs: i64) -> FrameRef {
        FrameRef {
            capture: 0,
            frame,
            offset: 0,
            ts: Timestamp::new(secs, 0),
        }
    }

    fn syn(seq: u32) -> Segment {
        Segment::Tcp {
            src_port: 40000,
            dst_port: 80,
            seq,
            syn: true,
            ack: false,
            fin: false,
            rst: false,
        }
    }

    /// The client's segment after `syn(100)` that closes the connection: a FIN, or
    /// with `reset` a RST.
    fn closing(reset: bool) -> Segment {
        Segment::Tcp {
            src_port: 40000,
            dst_port: 80,
            seq: 101,
            syn: false,
            ack: true,
            fin: !reset,
            rst: reset,
        }
    }

    #[test]
    fn side_a_is_the_source_of_the_first_frame() {
        let mut t = Tables::new();
        let c: IpAddr = "10.9.9.9".parse().unwrap();
        let s: IpAddr = "10.0.0.1".parse().unwrap();
        let id = t.count_transport(c, s, syn(1), at(1, 0), 60, true).unwrap();
        let conv = t.conversation(id).unwrap();
        assert_eq!(conv.a.ip, c);
        assert_eq!(conv.a_to_b.frames, 1);
    }

    #[test]
    fn finishing_folds_transport_frames_into_ip_conversations_and_endpoints() {
        let mut t = Tables::new();
        let c: IpAddr = "10.9.9.9".parse().unwrap();
        let s: IpAddr = "10.0.0.1".parse().unwrap();
        t.count_transport(c, s, syn(1), at(1, 10), 60, true);
        let reply = Segment::Tcp {
            src_port: 80,
            dst_port: 40000,
            seq: 7,
            syn: true,
            ack: true,
            fin: false,
            rst: false,
        };
        // The reply carries an earlier time than the first frame.
        t.count_transport(s, c, reply, at(2, 5), 70, true);
        let icmp = t.count_ip(c, s, at(3, 12), 100);
        // A loopback-like flow between an address and itself: all frames a to b.
        t.count_transport(c, c, syn(9), at(4, 13), 40, true);
        t.count_transport(c, c, reply, at(5, 14), 40, true);
        t.finish();
        t.finish();
        let (_, ip) = t
            .conversations()
            .iter()
            .find(|(id, _)| *id == icmp)
            .unwrap();
        assert_eq!(ip.transport, Transport::Ip);
        assert_eq!((ip.a_to_b.frames, ip.a_to_b.bytes), (2, 160));
        assert_eq!((ip.b_to_a.frames, ip.b_to_a.bytes), (1, 70));
        assert_eq!(ip.last_seen, Timestamp::new(12, 0));
        let eps: BTreeMap<IpAddr, EndpointStats> = t.endpoints().collect();
        let client = eps[&c];
        assert_eq!((client.tx.frames, client.tx.bytes), (4, 240));
        assert_eq!((client.rx.frames, client.rx.bytes), (3, 150));
        assert_eq!(client.first_seen, Some(Timestamp::new(5, 0)));
        assert_eq!(client.last_seen, Some(Timestamp::new(14, 0)));
        let (_, self_conv) = t
            .conversations()
            .iter()
            .find(|(_, x)| x.transport == Transport::Ip && x.a.ip == c && x.b.ip == c)
            .unwrap();
        assert_eq!((self_conv.a_to_b.frames, self_conv.b_to_a.frames), (2, 0));
    }

    #[test]
    fn tcp_port_reuse_after_close_is_a_new_conversation() {
        let mut t = Tables::new();
        let c: IpAddr = "10.9.9.9".parse().unwrap();
        let s: IpAddr = "10.0.0.1".parse().unwrap();
        let first = t
            .count_transport(c, s, syn(100), at(1, 0), 60, true)
            .unwrap();
        let rst = closing(true);
        t.count_transport(c, s, rst, at(2, 1), 60, true);
        // A retransmitted SYN with the same ISN stays in the same conversation...
        assert_eq!(
            t.count_transport(c, s, syn(100), at(3, 2), 60, true),
            Some(first)
        );
        // ...a SYN with a new ISN starts a new one.
        let second = t
            .count_transport(c, s, syn(9999), at(4, 3), 60, true)
            .unwrap();
        assert_ne!(first, second);
    }

    #[test]
    fn tcp_port_reuse_is_seen_when_the_closed_conversation_is_on_disk() {
        // The conversation and its index entry both on disk.
        let mut t = Tables {
            convs: Store::with_resident_chunks(1),
            index: Index::with_limit(100),
            ..Tables::new()
        };
        let c: IpAddr = "10.9.9.9".parse().unwrap();
        let s: IpAddr = "10.0.0.1".parse().unwrap();
        let first = t
            .count_transport(c, s, syn(100), at(1, 0), 60, true)
            .unwrap();
        let fin = closing(false);
        t.count_transport(c, s, fin, at(2, 1), 60, true);
        // Enough other flows that the closed one's chunk moves to disk.
        for port in 0..(2 * CHUNK) as u16 {
            let seg = Segment::Udp {
                src_port: port,
                dst_port: 53,
            };
            t.count_transport(c, s, seg, at(3, 2), 60, true);
        }
        assert!(t.convs.resident(first).is_none());
        let second = t
            .count_transport(c, s, syn(9999), at(4, 3), 60, true)
            .unwrap();
        assert_ne!(
            first, second,
            "a new ISN after FIN starts a new conversation"
        );
        // A late segment of the new connection stays in it.
        assert_eq!(
            t.count_transport(c, s, fin, at(5, 4), 60, true),
            Some(second)
        );
    }

    #[test]
    fn tables_on_disk_count_what_tables_in_memory_count() {
        // Thousands of address pairs, so that both stores move chunks to disk and
        // both indexes write runs (their filters in memory bounded to 64 entries in
        // the last case, so that filters on disk answer too), and frames for old
        // conversations after that: the same tables either way.
        let run = |keep: usize, limit: usize, filter: usize| {
            let mut t = Tables {
                convs: Store::with_resident_chunks(keep),
                ips: Store::with_resident_chunks(keep),
                index: Index::with_limits(limit, filter),
                ip_index: Index::with_limits(limit, filter),
                ..Tables::new()
            };
            let n = 3 * CHUNK as u32 + 11;
            let host = |i: u32| IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
            let server: IpAddr = "192.0.2.1".parse().unwrap();
            let udp = Segment::Udp {
                src_port: 5000,
                dst_port: 53,
            };
            for round in 0..2u32 {
                for i in 0..n {
                    let frame = u64::from(round * n + i) + 1;
                    let secs = i64::from(round * 100) + i64::from(i % 7);
                    t.count_transport(host(i), server, udp, at(frame, secs), 60 + i % 5, true);
                    if i % 3 == 0 {
                        t.count_ip(server, host(i), at(frame, secs - 50), 90);
                    }
                }
            }
            t.finish();
            let list: Vec<String> = t
                .conversations()
                .iter()
                .map(|(id, c)| format!("{id} {c:?} {:?}", t.first_seen(id, &c)))
                .collect();
            assert!(t.conversations().failure().is_none());
            (list, format!("{:?}", t.endpoints().collect::<Vec<_>>()))
        };
        let in_memory = run(usize::MAX, usize::MAX, usize::MAX);
        assert_eq!(in_memory.0.len(), 2 * (3 * CHUNK + 11));
        for (keep, limit, filter) in [
            (1, usize::MAX, usize::MAX),
            (1, 1000, usize::MAX),
            (usize::MAX, 77, usize::MAX),
            (2, 5000, usize::MAX),
            (1, 1000, 64),
        ] {
            assert_eq!(
                run(keep, limit, filter),
                in_memory,
                "{keep} chunks, {limit} entries, filter {filter}"
            );
        }
    }

    #[test]
    fn an_ip_conversation_found_on_disk_comes_back_into_memory() {
        // One chunk of IP conversations in memory: the first address pair's moves
        // to the file when a second chunk starts.
        let mut t = Tables {
            ips: Store::with_resident_chunks(1),
            ..Tables::new()
        };
        let server: IpAddr = "192.0.2.1".parse().unwrap();
        let host = |i: u32| IpAddr::from([10, 0, (i >> 8) as u8, i as u8]);
        let udp = |src_port| Segment::Udp {
            src_port,
            dst_port: 53,
        };
        for i in 0..CHUNK as u32 + 1 {
            t.count_transport(
                host(i),
                server,
                udp(5000),
                at(u64::from(i) + 1, 0),
                60,
                true,
            );
        }
        assert!(t.ips.resident(0).is_none());
        // A new transport conversation of the first pair finds its IP conversation
        // in the file, which then stays in memory for the next one.
        let frame = CHUNK as u64 + 2;
        t.count_transport(host(0), server, udp(5001), at(frame, 1), 60, true);
        assert!(t.ips.resident(0).is_some());
        t.count_transport(host(0), server, udp(5002), at(frame + 1, 2), 60, true);
        t.finish();
        let list = t.conversations();
        assert!(list.failure().is_none());
        let (_, first) = list.ip().next().unwrap();
        assert_eq!((first.a.ip, first.b.ip), (host(0), server));
        assert_eq!(first.a_to_b.frames, 3);
    }

    #[test]
    fn conversations_keep_their_numbers_and_order_across_chunks() {
        // One chunk in memory: the others go to disk while the pass runs, and the
        // second round of frames finds each conversation there.
        let mut t = Tables {
            convs: Store::with_resident_chunks(1),
            ..Tables::new()
        };
        let c: IpAddr = "10.9.9.9".parse().unwrap();
        let s: IpAddr = "10.0.0.1".parse().unwrap();
        let n = 2 * CHUNK + 3;
        let mut ids = Vec::new();
        for port in 0..n as u16 {
            let seg = Segment::Udp {
                src_port: 1000 + port,
                dst_port: 53,
            };
            ids.push(t.count_transport(c, s, seg, at(u64::from(port) + 1, 0), 60, true));
        }
        // Each flow again, in reverse: found under the number it got.
        for port in (0..n as u16).rev() {
            let seg = Segment::Udp {
                src_port: 53,
                dst_port: 1000 + port,
            };
            let id = t.count_transport(s, c, seg, at(u64::from(port) + 1, 1), 70, true);
            assert_eq!(id, ids[usize::from(port)]);
        }
        t.finish();
        let list = t.conversations();
        // The UDP ones in the order they started, then the IP conversation.
        assert_eq!(list.len(), n + 1);
        let firsts: Vec<u64> = list.transport().map(|(_, x)| x.first.frame).collect();
        assert_eq!(firsts, (1..=n as u64).collect::<Vec<_>>());
        assert!(list.transport().enumerate().all(|(i, (id, _))| i == id));
        let ips: Vec<_> = list.ip().collect();
        assert_eq!(ips.len(), 1);
        let (_, ip) = &ips[0];
        assert_eq!((ip.a_to_b.frames, ip.b_to_a.frames), (n as u64, n as u64));
        assert_eq!(list.iter().count(), n + 1);
        assert!(list.failure().is_none());
    }
}
