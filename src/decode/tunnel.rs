//! IP-level tunnels looked through: GRE (with checksum, key, sequence number and
//! RFC 1701 source routes; ERSPAN types I, II and III; PPTP's enhanced GRE),
//! IP-in-IP and 6in4/6to4, Ethernet in IPv6 (next header 143, SRv6 layer-2
//! services), and the UDP encapsulations VXLAN (4789), VXLAN-GPE (4790, with the
//! Network Service Headers it may carry), Geneve (6081), GTP-U (2152, G-PDUs),
//! Teredo (3544, IPv6 over UDP), CAPWAP data (5247, wireless access points'
//! frames to their controller) and MPLS in UDP (6635); GRE's WCCP redirection and
//! Cisco MetaData; PIM Registers; a Network Service Header straight on Ethernet
//! (0x894F).
//!
//! Contract on bad input: never panics; a tunnel header that does not fit is an
//! `Err` with the reason; a tunnel message that carries no packet (a GTP echo, a
//! GRE keepalive of another protocol) is [`Next::NoIp`].

use super::link::{self, Next};
use etherparse::EtherType;

type Step<'a> = Result<Next<'a>, String>;

pub(super) const VXLAN_PORT: u16 = 4789;
pub(super) const VXLAN_GPE_PORT: u16 = 4790;
pub(super) const GENEVE_PORT: u16 = 6081;
pub(super) const GTPU_PORT: u16 = 2152;
/// MPLS in UDP (RFC 7510).
pub(super) const MPLS_UDP_PORT: u16 = 6635;
/// Teredo (RFC 4380): IPv6 over UDP through NATs, the server's or relay's port.
pub(super) const TEREDO_PORT: u16 = 3544;
/// CAPWAP's data channel (RFC 5415): an access point's clients' frames.
pub(super) const CAPWAP_DATA_PORT: u16 = 5247;

/// Whether a UDP datagram between these ports is a tunnel this module opens; the
/// lower port is tried first, as tshark does.
pub(super) fn udp_tunnel(src_port: u16, dst_port: u16) -> Option<u16> {
    let (lo, hi) = (src_port.min(dst_port), src_port.max(dst_port));
    [lo, hi].into_iter().find(|p| {
        matches!(
            *p,
            VXLAN_PORT
                | VXLAN_GPE_PORT
                | GENEVE_PORT
                | GTPU_PORT
                | MPLS_UDP_PORT
                | TEREDO_PORT
                | CAPWAP_DATA_PORT
        )
    })
}

/// The packet inside an IP payload of protocol `protocol`, if it is a tunnel.
pub(super) fn ip_payload(protocol: u8, payload: &[u8]) -> Option<Step<'_>> {
    Some(match protocol {
        4 => Ok(Next::Ether(EtherType::IPV4, payload)),
        41 => Ok(Next::Ether(EtherType::IPV6, payload)),
        47 => gre(payload),
        // RFC 8986 §10.1: an Ethernet frame straight in IPv6 (segment routing's
        // layer-2 services, End.DX2).
        143 => Ok(Next::Ethernet(payload)),
        // RFC 7761 §4.9.3: a PIMv2 Register carries the multicast packet it
        // registers after a 4-byte header and 4 bytes of flags.
        103 if payload.first() == Some(&0x21) => match payload.get(8..) {
            Some(ip) => Ok(Next::Ip(ip)),
            None => Err(cut("PIM Register header", 8, payload.len())),
        },
        _ => return None,
    })
}

/// The packet inside a UDP payload on tunnel port `port` (see [`udp_tunnel`]).
pub(super) fn udp_payload(port: u16, payload: &[u8]) -> Step<'_> {
    match port {
        VXLAN_PORT => vxlan(payload),
        VXLAN_GPE_PORT => vxlan_gpe(payload),
        GENEVE_PORT => geneve(payload),
        MPLS_UDP_PORT => Ok(Next::Ether(EtherType(link::MPLS_UNICAST), payload)),
        TEREDO_PORT => teredo(payload),
        CAPWAP_DATA_PORT => capwap_data(payload),
        _ => gtpu(payload),
    }
}

/// CAPWAP data (RFC 5415 §4.3, RFC 5416): the header (its length in 4-byte words
/// in HLEN, with the optional radio MAC and wireless information), then an 802.3
/// frame, or with the T bit a native frame of the wireless binding: 802.11 (binding
/// 1), its frame control bytes swapped, as tshark reads it by default. DTLS-protected
/// data, keep-alives and fragments (not put back together) carry no packet read
/// here.
fn capwap_data(data: &[u8]) -> Step<'_> {
    let Some(h) = data.get(..8) else {
        return Err(cut("CAPWAP header", 8, data.len()));
    };
    if h[0] != 0 {
        // Version 0 only; preamble type 1 is a DTLS header (encrypted data).
        return Ok(Next::NoIp);
    }
    let hlen = 4 * usize::from(h[1] >> 3);
    let wbid = (h[2] >> 1) & 0x1f;
    let native = h[2] & 1 != 0;
    let (fragment, keep_alive) = (h[3] & 0x80 != 0, h[3] & 0x08 != 0);
    if fragment || keep_alive {
        return Ok(Next::NoIp);
    }
    let Some(frame) = data.get(hlen.max(8)..) else {
        return Err(cut("CAPWAP header", hlen, data.len()));
    };
    match (native, wbid) {
        (false, _) => Ok(Next::Ethernet(frame)),
        (true, 1) => link::ieee80211_swapped(frame),
        (true, _) => Ok(Next::NoIp),
    }
}

/// Teredo (RFC 4380 §5.1.1): an authentication indicator (0x0001, the client id's
/// and the value's lengths, both, an 8-byte nonce and a confirmation byte) and an
/// origin indication (0x0000, an obfuscated port and IPv4 address), each optional
/// and in that order, then the IPv6 packet. A bubble (an IPv6 header with nothing
/// after it) is still a packet. A payload that is not IPv6 is some other use of the
/// port: no IP, no damage.
fn teredo(data: &[u8]) -> Step<'_> {
    let mut rest = data;
    if let [0, 1, ..] = rest {
        let (Some(&id), Some(&au)) = (rest.get(2), rest.get(3)) else {
            return Err(cut("Teredo authentication indicator", 4, rest.len()));
        };
        let n = 4 + usize::from(id) + usize::from(au) + 9;
        rest = rest
            .get(n..)
            .ok_or_else(|| cut("Teredo authentication indicator", n, rest.len()))?;
    }
    if let [0, 0, ..] = rest {
        rest = rest
            .get(8..)
            .ok_or_else(|| cut("Teredo origin indication", 8, rest.len()))?;
    }
    match rest.first() {
        Some(b) if b >> 4 == 6 => Ok(Next::Ether(EtherType::IPV6, rest)),
        _ => Ok(Next::NoIp),
    }
}

/// GRE (RFC 2784, RFC 2890 keys and sequence numbers, RFC 1701 source routes;
/// version 1 is PPTP's).
fn gre(data: &[u8]) -> Step<'_> {
    let (Some(&f0), Some(&f1), Some(p)) = (data.first(), data.get(1), data.get(2..4)) else {
        return Err(cut("GRE header", 4, data.len()));
    };
    let proto = u16::from_be_bytes([p[0], p[1]]);
    let (checksum, routing, key, seq) = (
        f0 & 0x80 != 0,
        f0 & 0x40 != 0,
        f0 & 0x20 != 0,
        f0 & 0x10 != 0,
    );
    let mut len = 4;
    match f1 & 7 {
        0 => {
            len += 4 * (usize::from(checksum || routing) + usize::from(key) + usize::from(seq));
            if routing {
                len = source_routes(data, len)?;
            }
        }
        // Enhanced GRE (RFC 2637): key always, sequence and acknowledgement optional.
        1 => len += 4 * (usize::from(key) + usize::from(seq) + usize::from(f1 & 0x80 != 0)),
        v => return Err(format!("GRE version {v} is not decoded")),
    }
    let Some(rest) = data.get(len..) else {
        return Err(cut("GRE header", len, data.len()));
    };
    match proto {
        // Transparent Ethernet bridging.
        0x6558 => Ok(Next::Ethernet(rest)),
        0x880b => link::ppp(rest),
        // ERSPAN type I has no sequence number and no header; type II has both.
        0x88be if !seq => Ok(Next::Ethernet(rest)),
        0x88be => skip(rest, 8, "ERSPAN type II header"),
        0x22eb => {
            // ERSPAN type III: 12 bytes, and 8 more when the O flag (last bit) is set.
            let n = if rest.get(11).is_some_and(|b| b & 1 == 1) {
                20
            } else {
                12
            };
            skip(rest, n, "ERSPAN type III header")
        }
        // WCCP redirection: WCCPv2 puts a 4-byte redirect header before the IPv4
        // packet; a payload that already starts as IPv4 has none (tshark's test).
        0x883e => match rest.first() {
            Some(b) if b >> 4 == 4 => Ok(Next::Ip(rest)),
            _ => match rest.get(4..) {
                Some(ip) => Ok(Next::Ip(ip)),
                None => Err(cut("WCCP redirect header", 4, rest.len())),
            },
        },
        0x8909 => cisco_metadata(rest),
        _ => Ok(Next::Ether(EtherType(proto), rest)),
    }
}

/// The end of GRE's routing field at `at` (RFC 1701 2.2): source route entries
/// (address family, offset, length, then that many bytes) up to the null one
/// (family 0, length 0). Each entry takes at least 4 bytes, so the walk is bounded
/// by the datagram.
fn source_routes(data: &[u8], mut at: usize) -> Result<usize, String> {
    loop {
        let Some(e) = data.get(at..at + 4) else {
            return Err(cut("GRE source route entry", at + 4, data.len()));
        };
        let (family, n) = (u16::from_be_bytes([e[0], e[1]]), usize::from(e[3]));
        at += 4 + n;
        if family == 0 && n == 0 {
            return Ok(at);
        }
    }
}

fn skip<'a>(data: &'a [u8], n: usize, what: &str) -> Step<'a> {
    match data.get(n..) {
        Some(rest) => Ok(Next::Ethernet(rest)),
        None => Err(cut(what, n, data.len())),
    }
}

/// VXLAN (RFC 7348): 8 bytes, then Ethernet.
fn vxlan(data: &[u8]) -> Step<'_> {
    match data.get(8..) {
        Some(rest) => Ok(Next::Ethernet(rest)),
        None => Err(cut("VXLAN header", 8, data.len())),
    }
}

/// VXLAN-GPE (draft-ietf-nvo3-vxlan-gpe): 8 bytes, then what the next-protocol
/// field (byte 3) names: IPv4 (1), IPv6 (2), Ethernet (3), a Network Service
/// Header (4) or MPLS (5). tshark reads that field whatever the P flag says, and so
/// does this; another value carries nothing decoded.
fn vxlan_gpe(data: &[u8]) -> Step<'_> {
    let (Some(&next), Some(rest)) = (data.get(3), data.get(8..)) else {
        return Err(cut("VXLAN-GPE header", 8, data.len()));
    };
    next_protocol(next, rest)
}

/// The payload of a VXLAN-GPE or NSH next-protocol value (the two share the
/// numbers).
fn next_protocol(next: u8, rest: &[u8]) -> Step<'_> {
    match next {
        1 => Ok(Next::Ether(EtherType::IPV4, rest)),
        2 => Ok(Next::Ether(EtherType::IPV6, rest)),
        3 => Ok(Next::Ethernet(rest)),
        4 => nsh(rest),
        5 => Ok(Next::Ether(EtherType(link::MPLS_UNICAST), rest)),
        _ => Ok(Next::NoIp),
    }
}

/// A Network Service Header (RFC 8300): its length (6 bits, in 4-byte words,
/// at least the 8-byte base and service path headers), then its next protocol.
/// One NSH inside another is read in turn, each at least 8 bytes: bounded by the
/// datagram.
pub(super) fn nsh(mut data: &[u8]) -> Step<'_> {
    loop {
        let (Some(&l), Some(&next)) = (data.get(1), data.get(3)) else {
            return Err(cut("NSH base header", 8, data.len()));
        };
        let len = 4 * usize::from(l & 0x3f);
        if len < 8 {
            return Err(format!(
                "NSH length of {len} bytes, less than its 8-byte headers"
            ));
        }
        let Some(rest) = data.get(len..) else {
            return Err(cut("NSH", len, data.len()));
        };
        if next != 4 {
            return next_protocol(next, rest);
        }
        data = rest;
    }
}

/// Geneve (RFC 8926): 8 bytes and the options, then the protocol type's payload.
fn geneve(data: &[u8]) -> Step<'_> {
    let (Some(&b0), Some(p)) = (data.first(), data.get(2..4)) else {
        return Err(cut("Geneve header", 8, data.len()));
    };
    let len = 8 + 4 * usize::from(b0 & 0x3f);
    let Some(rest) = data.get(len..) else {
        return Err(cut("Geneve header", len, data.len()));
    };
    match u16::from_be_bytes([p[0], p[1]]) {
        0x6558 => Ok(Next::Ethernet(rest)),
        proto => Ok(Next::Ether(EtherType(proto), rest)),
    }
}

/// GTP-U (3GPP TS 29.281): a G-PDU's header with its optional fields and extension
/// headers, then the user's IP packet; other messages carry none.
fn gtpu(data: &[u8]) -> Step<'_> {
    let (Some(&flags), Some(&kind)) = (data.first(), data.get(1)) else {
        return Err(cut("GTP-U header", 8, data.len()));
    };
    if flags >> 5 != 1 {
        return Err(format!("GTP version {} is not GTP-U version 1", flags >> 5));
    }
    if kind != 0xff {
        return Ok(Next::NoIp);
    }
    let mut at = 8;
    if flags & 0x07 != 0 {
        at = 12;
        let mut next = data.get(11).copied().unwrap_or(0);
        if flags & 0x04 == 0 {
            next = 0;
        }
        // Each extension header is at least 4 bytes: bounded by the datagram.
        while next != 0 {
            let Some(&units) = data.get(at) else {
                return Err(cut("GTP-U extension header", at + 1, data.len()));
            };
            if units == 0 {
                return Err("GTP-U extension header of length 0".into());
            }
            at += 4 * usize::from(units);
            next = match data.get(at - 1) {
                Some(&n) => n,
                None => return Err(cut("GTP-U extension header", at, data.len())),
            };
        }
    }
    match data.get(at..) {
        Some([]) => Ok(Next::NoIp),
        Some(rest) => Ok(Next::Ip(rest)),
        None => Err(cut("GTP-U header", at, data.len())),
    }
}

/// Cisco MetaData in GRE (0x8909, TrustSec's security group tags), laid out as
/// tshark reads it there: the payload's EtherType, a version, a length counting
/// 4-byte options, the options.
fn cisco_metadata(data: &[u8]) -> Step<'_> {
    const WHAT: &str = "Cisco MetaData header";
    let (Some(t), Some(&options)) = (data.get(..2), data.get(3)) else {
        return Err(cut(WHAT, 4, data.len()));
    };
    let n = 4 + 4 * usize::from(options);
    match data.get(n..) {
        Some(rest) => Ok(Next::Ether(
            EtherType(u16::from_be_bytes([t[0], t[1]])),
            rest,
        )),
        None => Err(cut(WHAT, n, data.len())),
    }
}

fn cut(what: &str, need: usize, have: usize) -> String {
    format!("{what} needs {need} bytes, tunnel payload has {have}")
}
