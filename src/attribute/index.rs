//! Longest-prefix-match index over IPv4 and IPv6 prefixes.
//!
//! Prefixes are flattened once, at build time, into disjoint sorted intervals per
//! address family, each pointing at the most specific prefix that covers it; a lookup
//! is then one binary search (O(log n), no allocation). Every value attached to the
//! same exact prefix is kept together, so a caller sees all feeds that list it.
//!
//! Contract: building never fails and never panics, whatever prefixes it is given
//! (duplicates, nesting, `0.0.0.0/0`); a lookup outside every prefix returns `None`.

use std::net::IpAddr;

pub use crate::model::{IpPrefix, PrefixError};

/// All values recorded for one exact prefix.
#[derive(Clone, Debug)]
pub struct PrefixGroup<V> {
    pub prefix: IpPrefix,
    pub values: Vec<V>,
}

/// Collects prefixes and their values; [`PrefixIndexBuilder::build`] flattens them.
#[derive(Debug)]
pub struct PrefixIndexBuilder<V> {
    items: Vec<(IpPrefix, V)>,
}

impl<V> Default for PrefixIndexBuilder<V> {
    fn default() -> Self {
        PrefixIndexBuilder { items: Vec::new() }
    }
}

impl<V> PrefixIndexBuilder<V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, prefix: IpPrefix, value: V) {
        self.items.push((prefix, value));
    }

    pub fn build(mut self) -> PrefixIndex<V> {
        // Stable sort: values of one prefix keep their insertion order, which is the
        // callers' priority order.
        self.items.sort_by_key(|(p, _)| *p);
        let mut groups: Vec<PrefixGroup<V>> = Vec::new();
        for (prefix, value) in self.items {
            match groups.last_mut() {
                Some(g) if g.prefix == prefix => g.values.push(value),
                _ => groups.push(PrefixGroup {
                    prefix,
                    values: vec![value],
                }),
            }
        }
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (i, g) in groups.iter().enumerate() {
            let slot = u32::try_from(i).unwrap_or(u32::MAX);
            match (g.prefix.first(), g.prefix.last()) {
                (IpAddr::V4(a), IpAddr::V4(b)) => v4.push((u32::from(a), u32::from(b), slot)),
                (IpAddr::V6(a), IpAddr::V6(b)) => v6.push((u128::from(a), u128::from(b), slot)),
                _ => {}
            }
        }
        // Each group's innermost enclosing group: groups are sorted by address, then
        // length, so enclosing blocks come first and a stack of open blocks finds it.
        let mut parents = Vec::with_capacity(groups.len());
        let mut open: Vec<usize> = Vec::new();
        for (i, g) in groups.iter().enumerate() {
            while let Some(&top) = open.last() {
                let t = &groups[top].prefix;
                if t.prefix_len() < g.prefix.prefix_len() && t.contains(g.prefix.first()) {
                    break;
                }
                open.pop();
            }
            parents.push(
                open.last()
                    .and_then(|&p| u32::try_from(p).ok())
                    .unwrap_or(u32::MAX),
            );
            open.push(i);
        }
        PrefixIndex {
            v4: Table::flatten(v4),
            v6: Table::flatten(v6),
            groups,
            parents,
        }
    }
}

/// The built index. Lookups are `&self` and allocation-free.
#[derive(Debug)]
pub struct PrefixIndex<V> {
    v4: Table<u32>,
    v6: Table<u128>,
    groups: Vec<PrefixGroup<V>>,
    /// Index of each group's innermost enclosing group, `u32::MAX` for none.
    parents: Vec<u32>,
}

impl<V> Default for PrefixIndex<V> {
    fn default() -> Self {
        PrefixIndexBuilder::new().build()
    }
}

impl<V> PrefixIndex<V> {
    /// The most specific prefix covering `ip`, with every value recorded for it.
    /// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are looked up as IPv4.
    pub fn lookup(&self, ip: IpAddr) -> Option<&PrefixGroup<V>> {
        let slot = match canonical(ip) {
            IpAddr::V4(a) => self.v4.find(u32::from(a)),
            IpAddr::V6(a) => self.v6.find(u128::from(a)),
        }?;
        self.groups.get(usize::try_from(slot).ok()?)
    }

    /// Every prefix covering `ip`, most specific first, each with its values: a
    /// caller can fall back to a broader block when the most specific one lacks
    /// something (a region).
    pub fn lookup_all(&self, ip: IpAddr) -> impl Iterator<Item = &PrefixGroup<V>> {
        let slot = match canonical(ip) {
            IpAddr::V4(a) => self.v4.find(u32::from(a)),
            IpAddr::V6(a) => self.v6.find(u128::from(a)),
        };
        let mut next = slot.and_then(|s| usize::try_from(s).ok());
        std::iter::from_fn(move || {
            let i = next?;
            next = self
                .parents
                .get(i)
                .filter(|p| **p != u32::MAX)
                .and_then(|p| usize::try_from(*p).ok());
            self.groups.get(i)
        })
    }

    /// Every distinct prefix, in address order.
    pub(crate) fn groups(&self) -> &[PrefixGroup<V>] {
        &self.groups
    }

    /// Each group's innermost enclosing group (`u32::MAX` for none), by position.
    pub(crate) fn parents(&self) -> &[u32] {
        &self.parents
    }

    /// The disjoint intervals per family, sorted, each with the group owning it: what
    /// [`super::compiled`] writes to disk.
    #[allow(clippy::type_complexity)]
    pub(crate) fn raw_intervals(&self) -> (Vec<(u32, u32, u32)>, Vec<(u128, u128, u32)>) {
        (self.v4.rows(), self.v6.rows())
    }

    /// Number of disjoint intervals per family (v4, v6), for statistics.
    pub fn interval_counts(&self) -> (usize, usize) {
        (self.v4.starts.len(), self.v6.starts.len())
    }
}

/// IPv4-mapped IPv6 addresses stand for their IPv4 address (RFC 4291 §2.5.5.2).
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

trait Key: Copy + Ord {
    fn succ(self) -> Option<Self>;
    fn pred(self) -> Option<Self>;
}

impl Key for u32 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn pred(self) -> Option<Self> {
        self.checked_sub(1)
    }
}

impl Key for u128 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn pred(self) -> Option<Self> {
        self.checked_sub(1)
    }
}

/// Disjoint intervals `[starts[i], ends[i]]`, sorted, each owned by `slots[i]`.
#[derive(Debug)]
struct Table<K> {
    starts: Vec<K>,
    ends: Vec<K>,
    slots: Vec<u32>,
}

impl<K: Key> Table<K> {
    /// `ranges` are CIDR blocks: any two are either nested or disjoint, so a sweep
    /// with a stack of open blocks gives each address its innermost block.
    fn flatten(mut ranges: Vec<(K, K, u32)>) -> Table<K> {
        // Outer blocks first when they start at the same address.
        ranges.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut t = Table {
            starts: Vec::with_capacity(ranges.len()),
            ends: Vec::with_capacity(ranges.len()),
            slots: Vec::with_capacity(ranges.len()),
        };
        let mut stack: Vec<(K, u32)> = Vec::new();
        // Next address not yet emitted; `None` once the end of the space is passed.
        let mut cursor: Option<K> = None;
        let mut started = false;
        for (start, end, slot) in ranges {
            // Close the open blocks that end before this one starts.
            while let Some(&(top_end, top_slot)) = stack.last() {
                if top_end >= start {
                    break;
                }
                t.emit(cursor, top_end, top_slot, started);
                cursor = top_end.succ();
                stack.pop();
            }
            if let Some(&(_, top_slot)) = stack.last() {
                if let Some(before) = start.pred() {
                    t.emit(cursor, before, top_slot, started);
                }
            }
            cursor = Some(start);
            started = true;
            stack.push((end, slot));
        }
        while let Some((top_end, top_slot)) = stack.pop() {
            t.emit(cursor, top_end, top_slot, started);
            cursor = top_end.succ();
        }
        t
    }

    fn rows(&self) -> Vec<(K, K, u32)> {
        self.starts
            .iter()
            .zip(&self.ends)
            .zip(&self.slots)
            .map(|((s, e), g)| (*s, *e, *g))
            .collect()
    }

    fn emit(&mut self, cursor: Option<K>, end: K, slot: u32, started: bool) {
        let Some(from) = cursor else { return };
        if !started || from > end {
            return;
        }
        self.starts.push(from);
        self.ends.push(end);
        self.slots.push(slot);
    }

    fn find(&self, key: K) -> Option<u32> {
        let i = self.starts.partition_point(|s| *s <= key).checked_sub(1)?;
        if *self.ends.get(i)? >= key {
            self.slots.get(i).copied()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn p(s: &str) -> IpPrefix {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn index(items: &[(&str, &'static str)]) -> PrefixIndex<&'static str> {
        let mut b = PrefixIndexBuilder::new();
        for (pre, v) in items {
            b.insert(p(pre), *v);
        }
        b.build()
    }

    fn get(ix: &PrefixIndex<&'static str>, a: &str) -> Option<(String, Vec<&'static str>)> {
        ix.lookup(ip(a))
            .map(|g| (g.prefix.to_string(), g.values.clone()))
    }

    #[test]
    fn lookup_all_walks_from_the_most_specific_block_outwards() {
        let ix = index(&[
            ("20.231.128.0/19", "aad"),
            ("20.231.137.0/24", "nz"),
            ("20.231.137.0/27", "aad-se"),
            ("20.231.137.64/26", "other"),
            ("2001:db8::/32", "v6"),
        ]);
        let chain = |a: &str| -> Vec<String> {
            ix.lookup_all(ip(a)).map(|g| g.prefix.to_string()).collect()
        };
        assert_eq!(
            chain("20.231.137.1"),
            ["20.231.137.0/27", "20.231.137.0/24", "20.231.128.0/19"]
        );
        assert_eq!(
            chain("20.231.137.200"),
            ["20.231.137.0/24", "20.231.128.0/19"]
        );
        assert_eq!(chain("20.231.200.1"), Vec::<String>::new());
        assert_eq!(chain("2001:db8::1"), ["2001:db8::/32"]);
        assert_eq!(
            chain("::ffff:20.231.137.70"),
            ["20.231.137.64/26", "20.231.137.0/24", "20.231.128.0/19"]
        );
    }

    #[test]
    fn prefix_parsing_clears_host_bits_and_rejects_long_lengths() {
        assert_eq!(p("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert_eq!(p(" 2001:db8::1/32 ").to_string(), "2001:db8::/32");
        assert_eq!(p("192.0.2.1").to_string(), "192.0.2.1/32");
        assert!("10.0.0.0/33".parse::<IpPrefix>().is_err());
        assert!("2001:db8::/129".parse::<IpPrefix>().is_err());
        assert!("banana/8".parse::<IpPrefix>().is_err());
        assert!("10.0.0.0/x".parse::<IpPrefix>().is_err());
        assert_eq!(p("10.0.0.0/8").last(), ip("10.255.255.255"));
        assert_eq!(p("0.0.0.0/0").last(), ip("255.255.255.255"));
        assert_eq!(
            p("::/0").last(),
            ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
        );
    }

    #[test]
    fn most_specific_prefix_wins_on_both_sides_of_a_hole() {
        let ix = index(&[
            ("10.0.0.0/8", "outer"),
            ("10.1.0.0/16", "middle"),
            ("10.1.2.0/24", "inner"),
            ("10.200.0.0/16", "other"),
        ]);
        assert_eq!(get(&ix, "10.0.0.1").unwrap().1, ["outer"]);
        assert_eq!(get(&ix, "10.1.0.0").unwrap().1, ["middle"]);
        assert_eq!(get(&ix, "10.1.2.255").unwrap().1, ["inner"]);
        assert_eq!(get(&ix, "10.1.3.0").unwrap().1, ["middle"]);
        assert_eq!(get(&ix, "10.2.0.0").unwrap().1, ["outer"]);
        assert_eq!(get(&ix, "10.200.255.255").unwrap().1, ["other"]);
        assert_eq!(get(&ix, "10.201.0.0").unwrap().1, ["outer"]);
        assert_eq!(get(&ix, "10.255.255.255").unwrap().1, ["outer"]);
        assert!(get(&ix, "11.0.0.0").is_none());
        assert!(get(&ix, "9.255.255.255").is_none());
    }

    #[test]
    fn equal_prefixes_share_one_group_in_insertion_order() {
        let ix = index(&[("192.0.2.0/24", "a"), ("192.0.2.0/24", "b")]);
        assert_eq!(
            get(&ix, "192.0.2.9").unwrap(),
            ("192.0.2.0/24".into(), vec!["a", "b"])
        );
    }

    #[test]
    fn whole_address_space_and_its_last_address_are_covered() {
        let ix = index(&[
            ("0.0.0.0/0", "all4"),
            ("::/0", "all6"),
            ("255.255.255.255/32", "top"),
        ]);
        assert_eq!(get(&ix, "0.0.0.0").unwrap().1, ["all4"]);
        assert_eq!(get(&ix, "255.255.255.254").unwrap().1, ["all4"]);
        assert_eq!(get(&ix, "255.255.255.255").unwrap().1, ["top"]);
        assert_eq!(
            get(&ix, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
                .unwrap()
                .1,
            ["all6"]
        );
    }

    #[test]
    fn ipv4_mapped_ipv6_addresses_look_up_as_ipv4() {
        let ix = index(&[("198.51.100.0/24", "v4")]);
        assert_eq!(get(&ix, "::ffff:198.51.100.7").unwrap().1, ["v4"]);
    }

    /// Random nested prefixes crowded into one /8 (and one IPv6 /32), checked against
    /// a brute-force scan for the longest covering prefix.
    #[test]
    fn lookups_agree_with_a_brute_force_longest_match() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            // xorshift64 (Marsaglia 2003)
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut prefixes = Vec::new();
        for _ in 0..3000 {
            let r = next();
            let len4 = 8 + (r % 25) as u8;
            let a4 = 0x0a00_0000 | ((r >> 8) as u32 & 0x00ff_ffff);
            prefixes.push(IpPrefix::new(IpAddr::V4(Ipv4Addr::from(a4)), len4).unwrap());
            let len6 = 32 + (r % 97) as u8;
            let a6 = (0x2001_0db8_u128 << 96) | (u128::from(next()) << 32);
            prefixes.push(IpPrefix::new(IpAddr::V6(Ipv6Addr::from(a6)), len6).unwrap());
        }
        let mut b = PrefixIndexBuilder::new();
        for (i, p) in prefixes.iter().enumerate() {
            b.insert(*p, i);
        }
        let ix = b.build();
        for _ in 0..4000 {
            let r = next();
            let ip = if r % 2 == 0 {
                IpAddr::V4(Ipv4Addr::from(
                    0x0a00_0000 | ((r >> 16) as u32 & 0x00ff_ffff),
                ))
            } else {
                IpAddr::V6(Ipv6Addr::from(
                    (0x2001_0db8_u128 << 96) | (u128::from(next()) << 32),
                ))
            };
            let want = prefixes
                .iter()
                .filter(|p| p.contains(ip))
                .map(|p| p.prefix_len())
                .max();
            let got = ix.lookup(ip).map(|g| {
                assert!(g.prefix.contains(ip));
                assert!(g.values.iter().all(|v| prefixes[*v] == g.prefix));
                g.prefix.prefix_len()
            });
            assert_eq!(got, want, "{ip}");
        }
    }

    #[test]
    fn empty_index_answers_none() {
        let ix: PrefixIndex<u8> = PrefixIndex::default();
        assert!(ix.lookup(ip("1.1.1.1")).is_none());
        assert!(ix.lookup(ip("::1")).is_none());
    }
}
