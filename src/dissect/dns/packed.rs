//! The bindings of a capture, packed: each one encoded back to back in one byte
//! buffer, in an order-preserving form (comparing two encodings byte by byte orders
//! them as [`Binding`]'s `Ord` does). A binding costs its encoding (about 60 bytes
//! for a typical name) and 8 bytes of index, not a struct and two heap strings;
//! sorting compares bytes and decodes nothing.
//!
//! Each field is self-delimiting and ordered: strings with `00` escaped as `00 FF`
//! and ended by `00 00` (so a prefix sorts first); lists as `01` before each element
//! and `00` at the end; an address as a version tag then its octets; options as a
//! `00`/`01` tag; integers big-endian, the signed seconds with the sign bit flipped.

use super::{Binding, BindingKind};
use crate::dissect::WireString;
use crate::model::{Endpoint, Timestamp};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Clone, Debug, Default)]
pub(super) struct Packed {
    bytes: Vec<u8>,
    /// Where each binding starts, in the order they were added.
    starts: Vec<u64>,
}

impl Packed {
    pub(super) fn push(&mut self, b: &Binding) {
        self.starts.push(self.bytes.len() as u64);
        encode(b, &mut self.bytes);
    }

    pub(super) fn len(&self) -> usize {
        self.starts.len()
    }

    fn slice(&self, i: usize) -> &[u8] {
        let start = self.starts.get(i).map_or(0, |&s| s as usize);
        let end = self
            .starts
            .get(i + 1)
            .map_or(self.bytes.len(), |&e| e as usize);
        self.bytes.get(start..end).unwrap_or_default()
    }

    /// Binding `i` (in the order added).
    pub(super) fn get(&self, i: usize) -> Option<Binding> {
        (i < self.len()).then(|| decode(self.slice(i))).flatten()
    }

    /// Every binding in `Ord` order, decoded one at a time.
    pub(super) fn into_sorted(self) -> impl Iterator<Item = Binding> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_unstable_by(|&x, &y| self.slice(x).cmp(self.slice(y)));
        order.into_iter().filter_map(move |i| decode(self.slice(i)))
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
            let mut sorted = list.clone();
            sorted.sort();
            prop_assert_eq!(p.into_sorted().collect::<Vec<_>>(), sorted);
        }
    }

    #[test]
    fn a_damaged_encoding_is_refused() {
        let b = Binding {
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
        };
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
