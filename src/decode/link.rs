//! Link layers and link-level encapsulations stripped down to the network layer:
//! Ethernet II and 802.3 with LLC/SNAP, VLAN tags, PPPoE (session and discovery),
//! MPLS label stacks (with the pseudowire control word), Arista's timestamp header
//! (EtherType 0xD28B), PPP, Cisco HDLC and Frame Relay link types, ARCNET (BSD and
//! Linux), Juniper's capture header (Ethernet, PPPoE, PPP, Frame Relay and Cisco
//! HDLC interfaces), Linux NFLOG, Apple PKTAP, and 802.11 (bare, radiotap, PPI)
//! data frames, A-MSDUs subframe by subframe.
//!
//! Contract on bad input: never panics; a header that does not fit is an `Err` with
//! the reason, a frame that carries no IP (ARP, PPPoE discovery, LCP, management
//! frames) is [`Next::NoIp`].

use etherparse::EtherType;

/// What a link layer carries once stripped.
#[derive(Debug)]
pub(super) enum Next<'a> {
    /// A payload of this EtherType (IPv4, IPv6, ARP, ...).
    Ether(EtherType, &'a [u8]),
    /// A whole Ethernet frame (a tunnel's or a pseudowire's payload).
    Ethernet(&'a [u8]),
    /// A network packet whose version the first nibble gives.
    Ip(&'a [u8]),
    /// Nothing with an IP layer.
    NoIp,
    /// A protected (encrypted) 802.11 data frame: counted, not decoded.
    Encrypted,
    /// The body of an 802.11 A-MSDU: subframes, each an MSDU ([`amsdu`]).
    Amsdu(&'a [u8]),
}

type Step<'a> = Result<Next<'a>, String>;

const PPPOE_DISCOVERY: u16 = 0x8863;
const PPPOE_SESSION: u16 = 0x8864;
pub(super) const MPLS_UNICAST: u16 = 0x8847;
const MPLS_MULTICAST: u16 = 0x8848;

fn cut(what: &str, need: usize, have: usize) -> String {
    format!("{what} needs {need} bytes, frame has {have}")
}

/// An Ethernet frame (II or 802.3 with LLC/SNAP) down to its payload.
pub(super) fn ethernet(data: &[u8]) -> Step<'_> {
    let (Some(t), Some(rest)) = (data.get(12..14), data.get(14..)) else {
        return Err(cut("Ethernet header", 14, data.len()));
    };
    let value = u16::from_be_bytes([t[0], t[1]]);
    if value <= 1500 {
        // 802.3: a length, then LLC; only SNAP (AA-AA-03) carries an EtherType.
        return llc(rest.get(..usize::from(value)).unwrap_or(rest));
    }
    Ok(Next::Ether(EtherType(value), rest))
}

/// An 802.2 LLC header: SNAP carries an EtherType, OSI's SAP (FE) an OSI network
/// layer PDU, which may be IP by its NLPID; anything else (spanning tree, NetBIOS
/// over LLC) no IP.
pub(super) fn llc(data: &[u8]) -> Step<'_> {
    match data {
        [0xaa, 0xaa, 0x03, _, _, _, t0, t1, rest @ ..] => {
            Ok(Next::Ether(EtherType(u16::from_be_bytes([*t0, *t1])), rest))
        }
        [0xaa, 0xaa, ..] => Err(cut("LLC/SNAP header", 8, data.len())),
        [0xfe, 0xfe, 0x03, pdu @ ..] => Ok(osi(pdu)),
        _ => Ok(Next::NoIp),
    }
}

/// One step below an EtherType that is itself an encapsulation (VLAN, PPPoE,
/// MPLS); `None` when the EtherType is a network layer (or unknown).
pub(super) fn below(et: EtherType, data: &[u8]) -> Option<Step<'_>> {
    Some(match et.0 {
        0x8100 | 0x88a8 | 0x9100 => match (data.get(2..4), data.get(4..)) {
            (Some(t), Some(rest)) => Ok(Next::Ether(
                EtherType(u16::from_be_bytes([t[0], t[1]])),
                rest,
            )),
            _ => Err(cut("VLAN tag", 4, data.len())),
        },
        PPPOE_SESSION => pppoe(data),
        PPPOE_DISCOVERY => Ok(Next::NoIp),
        MPLS_UNICAST | MPLS_MULTICAST => mpls(data),
        // A Network Service Header (RFC 8300) straight on Ethernet.
        0x894f => super::tunnel::nsh(data),
        ARISTA => arista(data),
        _ => return None,
    })
}

/// Arista's vendor EtherType (AVSP).
const ARISTA: u16 = 0xd28b;

/// Arista's timestamp header (subtype 1): a version, then a timestamp of 64 bits
/// (versions 0x0010, TAI, and 0x0110, UTC) or 48 (0x0020, 0x0120), then the
/// original EtherType. Other subtypes and versions (those of R3 hardware among
/// them) are not decoded, as tshark does not decode them.
fn arista(data: &[u8]) -> Step<'_> {
    let (Some(h), Some(rest)) = (data.get(..4), data.get(4..)) else {
        return Err(cut("Arista header", 4, data.len()));
    };
    let stamp = match (
        u16::from_be_bytes([h[0], h[1]]),
        u16::from_be_bytes([h[2], h[3]]),
    ) {
        (1, 0x0010 | 0x0110) => 8,
        (1, 0x0020 | 0x0120) => 6,
        _ => return Ok(Next::NoIp),
    };
    match (rest.get(stamp..stamp + 2), rest.get(stamp + 2..)) {
        (Some(t), Some(payload)) => Ok(Next::Ether(
            EtherType(u16::from_be_bytes([t[0], t[1]])),
            payload,
        )),
        _ => Err(cut("Arista timestamp header", 4 + stamp + 2, data.len())),
    }
}

/// A Frame Relay frame (link type 107), read as tshark reads it by default
/// ("FRF 3.2/Cisco HDLC"): a Q.922 address of two octets or more, up to the one
/// whose EA bit is set; then, after an unnumbered-information control octet
/// (0x03), RFC 2427's NLPID (an optional pad octet first): SNAP (0x80), or an
/// OSI network layer PDU, IP by its NLPID (Q.933 and CLNP carry none); or else
/// Cisco's encapsulation, an EtherType, except on DLCI 0 (signalling) and in XID
/// frames.
pub(super) fn frame_relay(data: &[u8]) -> Step<'_> {
    let short = |need: usize| Err(cut("Frame Relay header", need, data.len()));
    let Some((dlci, mut at)) = q922(data) else {
        return short((data.len() + 1).max(2));
    };
    let Some(&control) = data.get(at) else {
        return short(at + 1);
    };
    if control != 0x03 {
        if dlci == 0 || control == 0xaf {
            return Ok(Next::NoIp);
        }
        return match (data.get(at..at + 2), data.get(at + 2..)) {
            (Some(t), Some(rest)) => Ok(Next::Ether(
                EtherType(u16::from_be_bytes([t[0], t[1]])),
                rest,
            )),
            _ => short(at + 2),
        };
    }
    at += 1;
    if data.get(at) == Some(&0) {
        at += 1;
    }
    let Some(pdu @ [nlpid, rest @ ..]) = data.get(at..) else {
        return short(at + 1);
    };
    match nlpid {
        0x80 => match rest {
            [0, 0, 0, t0, t1, payload @ ..] => Ok(Next::Ether(
                EtherType(u16::from_be_bytes([*t0, *t1])),
                payload,
            )),
            // Bridged Ethernet (IEEE 802.1's OUI), with or without its FCS.
            [0x00, 0x80, 0xc2, 0x00, 0x01 | 0x07, frame @ ..] => Ok(Next::Ethernet(frame)),
            [_, _, _, _, _, ..] => Ok(Next::NoIp),
            _ => short(at + 6),
        },
        _ => Ok(osi(pdu)),
    }
}

/// Frame Relay with a direction octet first (link type 206: 0 received, 1 sent).
pub(super) fn frame_relay_with_direction(data: &[u8]) -> Step<'_> {
    match data.get(1..) {
        Some(rest) => frame_relay(rest),
        None => Err(cut("Frame Relay direction octet", 1, 0)),
    }
}

/// A Q.922 address: its DLCI and its length, two octets or more up to the one
/// whose EA bit is set (past three, octets without it are skipped, as tshark
/// skips them); the last octet holds 6 more bits of DLCI unless it is DL-CORE
/// control. `None` when the frame ends first.
fn q922(data: &[u8]) -> Option<(u32, usize)> {
    let [a0, a1, ..] = *data else {
        return None;
    };
    let dlci = (u32::from(a0 & 0xfc) << 2) | u32::from(a1 >> 4);
    if a1 & 1 == 1 {
        return Some((dlci, 2));
    }
    let third = *data.get(2)?;
    let (dlci, last) = if third & 1 == 1 {
        (dlci, 2)
    } else {
        let more = data.get(3..)?.iter().position(|o| o & 1 == 1)?;
        ((dlci << 7) | u32::from(third >> 1), 3 + more)
    };
    let octet = *data.get(last)?;
    let dlci = if octet & 0x02 == 0 {
        (dlci << 6) | u32::from(octet >> 2)
    } else {
        dlci
    };
    Some((dlci, last + 1))
}

/// An ARCNET frame as BSD (link type 7) or Linux (129, with a 2-byte offset after
/// the addresses) captures it: source and destination (a byte each), a protocol
/// ID, and, except for RFC 1051's IDs (and diagnostics and BACnet), RFC 1201's
/// split flag and sequence number; on BSD a split flag of 0xFF marks an exception
/// frame, whose header is four bytes longer. The IDs of IP (RFC 1201 and 1051)
/// and IPv6 carry a packet, others no IP; as tshark reads it.
pub(super) fn arcnet(data: &[u8], linux: bool) -> Step<'_> {
    let mut at = if linux { 4 } else { 2 };
    let Some(&id) = data.get(at) else {
        return Err(cut("ARCNET header", at + 1, data.len()));
    };
    at += 1;
    if !matches!(id, 0xf0 | 0xf1 | 0x80 | 0xcd) {
        if !linux && data.get(at) == Some(&0xff) {
            at += 4;
        }
        at += 3;
    }
    let Some(rest) = data.get(at..) else {
        return Err(cut("ARCNET header", at, data.len()));
    };
    Ok(match id {
        0xd4 | 0xf0 | 0xc4 => Next::Ip(rest),
        _ => Next::NoIp,
    })
}

/// What a Juniper link type carries after Juniper's header.
#[derive(Clone, Copy, Debug)]
pub(super) enum JuniperLink {
    /// Ethernet (link type 178) and PPPoE (167) interfaces: an Ethernet frame.
    Ethernet,
    /// PPP interfaces (179): two bytes, then PPP's protocol field.
    Ppp,
    /// Frame Relay interfaces (180).
    FrameRelay,
    /// Cisco HDLC interfaces (181).
    Chdlc,
}

/// Juniper's capture header: the magic "MGC", a flags octet, and, when its top bit
/// is set, extensions (a 2-byte total length, then TLVs, skipped whole). With the
/// "no layer 2" flag (0x02), a payload type (its first octet read, four octets
/// long) says what follows; otherwise the interface's own link layer does. A frame
/// without the magic is read as that link layer from its first byte. As tshark 4.0
/// reads it.
pub(super) fn juniper(data: &[u8], link: JuniperLink) -> Step<'_> {
    let Some(&flags) = data.get(3) else {
        return Err(cut("Juniper header", 4, data.len()));
    };
    let magic = data.starts_with(b"MGC");
    let len = match (magic, flags & 0x80 != 0) {
        (false, _) => 0,
        (true, false) => 4,
        (true, true) => match data.get(4..6) {
            Some(l) => 6 + usize::from(u16::from_be_bytes([l[0], l[1]])),
            None => return Err(cut("Juniper header", 6, data.len())),
        },
    };
    let Some(rest) = data.get(len..) else {
        return Err(cut("Juniper header", len, data.len()));
    };
    if magic && flags & 0x02 != 0 {
        let (Some(&payload_type), Some(payload)) = (rest.first(), rest.get(4..)) else {
            return Err(cut("Juniper payload type", len + 4, data.len()));
        };
        return juniper_payload(payload_type, payload);
    }
    match link {
        JuniperLink::Ethernet => ethernet(rest),
        JuniperLink::Ppp => match rest.get(2..) {
            Some(ppp) => ppp_protocol(ppp),
            None => Err(cut("Juniper PPP header", len + 2, data.len())),
        },
        JuniperLink::FrameRelay => frame_relay(rest),
        JuniperLink::Chdlc => chdlc(rest),
    }
}

/// A payload of one of Juniper's payload types (IPv4, IPv6, MPLS, PPP, ISO/CLNP,
/// LLC, Ethernet, Frame Relay, Cisco HDLC; the others carry no IP).
fn juniper_payload(payload_type: u8, payload: &[u8]) -> Step<'_> {
    match payload_type {
        2 | 3 => Ok(Next::Ether(EtherType::IPV4, payload)),
        6 | 7 => Ok(Next::Ether(EtherType::IPV6, payload)),
        4 | 5 | 8 | 32 => Ok(Next::Ether(EtherType(MPLS_UNICAST), payload)),
        10 | 33 | 201 => Ok(osi(payload)),
        200 => ppp_protocol(payload),
        202 | 203 => llc(payload),
        204 => ethernet(payload),
        207 => frame_relay(payload),
        208 => chdlc(payload),
        _ => Ok(Next::NoIp),
    }
}

/// An OSI network layer PDU: its NLPID, then IPv4 (0xCC) or IPv6 (0x8E); the
/// others (CLNP, IS-IS, ES-IS) carry no IP.
fn osi(data: &[u8]) -> Next<'_> {
    match data {
        [0xcc, ip @ ..] => Next::Ether(EtherType::IPV4, ip),
        [0x8e, ip @ ..] => Next::Ether(EtherType::IPV6, ip),
        _ => Next::NoIp,
    }
}

/// A PPPoE session header (RFC 2516: version/type, code, session, length), then PPP.
pub(super) fn pppoe(data: &[u8]) -> Step<'_> {
    let (Some(h), Some(rest)) = (data.get(..6), data.get(6..)) else {
        return Err(cut("PPPoE header", 6, data.len()));
    };
    if h[0] != 0x11 {
        return Err(format!("PPPoE version/type {:#04x} is not 0x11", h[0]));
    }
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    ppp_protocol(rest.get(..len).unwrap_or(rest))
}

/// A PPP frame with or without the HDLC address and control bytes (FF 03).
pub(super) fn ppp(data: &[u8]) -> Step<'_> {
    match data {
        [0xff, 0x03, rest @ ..] => ppp_protocol(rest),
        _ => ppp_protocol(data),
    }
}

/// The PPP protocol field (RFC 1661; one byte when compressed), then its payload.
fn ppp_protocol(data: &[u8]) -> Step<'_> {
    let (proto, rest) = match data {
        [p, rest @ ..] if p & 1 == 1 => (u16::from(*p), rest),
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
        _ => return Err(cut("PPP protocol field", 2, data.len())),
    };
    Ok(match proto {
        0x0021 => Next::Ether(EtherType::IPV4, rest),
        0x0057 => Next::Ether(EtherType::IPV6, rest),
        0x0281 => Next::Ether(EtherType(MPLS_UNICAST), rest),
        _ => Next::NoIp,
    })
}

/// Cisco HDLC (link type 104): address, control, then an EtherType.
pub(super) fn chdlc(data: &[u8]) -> Step<'_> {
    match data {
        [_, _, t0, t1, rest @ ..] => {
            Ok(Next::Ether(EtherType(u16::from_be_bytes([*t0, *t1])), rest))
        }
        _ => Err(cut("Cisco HDLC header", 4, data.len())),
    }
}

/// An MPLS label stack (RFC 3032) down to its bottom, then IPv4 or IPv6 by the
/// first nibble. An Ethernet pseudowire (first nibble 0: a control word) is not
/// looked into: tshark 4.0 guesses its layout frame by frame and mostly finds no IP
/// there, and its tables are the reference.
pub(super) fn mpls(data: &[u8]) -> Step<'_> {
    // Bounded by the frame: 4 bytes per label.
    let mut rest = data;
    loop {
        let (Some(l), Some(after)) = (rest.get(..4), rest.get(4..)) else {
            return Err(cut("MPLS label", 4, rest.len()));
        };
        rest = after;
        if l[2] & 1 == 1 {
            break;
        }
    }
    match rest.first().map(|b| b >> 4) {
        Some(4 | 6) => Ok(Next::Ip(rest)),
        Some(0) => Ok(Next::NoIp),
        Some(n) => Err(format!(
            "MPLS payload starts with nibble {n}, not IPv4, IPv6 or a control word"
        )),
        None => Ok(Next::NoIp),
    }
}

/// Linux NFLOG (link type 239): a 4-byte header (family, version, resource), then
/// TLVs in host byte order; the payload attribute (type 9) holds the IP packet.
pub(super) fn nflog(data: &[u8]) -> Step<'_> {
    let Some(mut rest) = data.get(4..) else {
        return Err(cut("NFLOG header", 4, data.len()));
    };
    // Each TLV is at least 4 bytes, so the loop ends with the frame.
    while rest.len() >= 4 {
        // The writer's byte order; NFLOG captures are written little-endian in practice,
        // and a big-endian length shows as one larger than the frame.
        let le = u16::from_le_bytes([rest[0], rest[1]]);
        let be = u16::from_be_bytes([rest[0], rest[1]]);
        let (len, kind) = if usize::from(le) <= rest.len() && le >= 4 {
            (usize::from(le), u16::from_le_bytes([rest[2], rest[3]]))
        } else {
            (usize::from(be), u16::from_be_bytes([rest[2], rest[3]]))
        };
        if len < 4 || len > rest.len() {
            return Err(format!(
                "NFLOG attribute length {len} does not fit the {} bytes left",
                rest.len()
            ));
        }
        if kind & 0x7fff == 9 {
            return Ok(Next::Ip(&rest[4..len]));
        }
        let padded = (len + 3) & !3;
        rest = rest.get(padded..).unwrap_or(&[]);
    }
    Ok(Next::NoIp)
}

/// A radiotap header (link type 127): its length, then an 802.11 frame.
pub(super) fn radiotap(data: &[u8]) -> Step<'_> {
    match data.get(2..4) {
        Some(l) => match data.get(usize::from(u16::from_le_bytes([l[0], l[1]]))..) {
            Some(rest) => ieee80211(rest),
            None => Err(cut(
                "radiotap header",
                usize::from(u16::from_le_bytes([l[0], l[1]])),
                data.len(),
            )),
        },
        None => Err(cut("radiotap header", 4, data.len())),
    }
}

/// A PPI header (link type 192): its length and the link type that follows.
pub(super) fn ppi(data: &[u8]) -> Step<'_> {
    let (Some(l), Some(d)) = (data.get(2..4), data.get(4..8)) else {
        return Err(cut("PPI header", 8, data.len()));
    };
    let len = usize::from(u16::from_le_bytes([l[0], l[1]]));
    let Some(rest) = data.get(len..) else {
        return Err(cut("PPI header", len, data.len()));
    };
    match u32::from_le_bytes([d[0], d[1], d[2], d[3]]) {
        105 => ieee80211(rest),
        1 => ethernet(rest),
        other => Err(format!(
            "PPI carries link type {other}, which is not decoded"
        )),
    }
}

/// An Apple PKTAP header (link type 258, macOS `tcpdump -i pktap`; Darwin's
/// `struct pktap_header`, in the writer's byte order, little-endian in practice, as
/// tshark reads it): its length (at least 108 bytes), the record type (1: a packet)
/// and the packet's own link type; the packet follows the header. Another record
/// type carries no packet.
pub(super) fn pktap(data: &[u8]) -> Result<Option<(u32, &[u8])>, String> {
    const MIN: usize = 108;
    let le32 = |at: usize| {
        data.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (Some(len), Some(record), Some(inner)) = (le32(0), le32(4), le32(8)) else {
        return Err(cut("PKTAP header", MIN, data.len()));
    };
    let len = len as usize;
    if len < MIN {
        return Err(format!(
            "PKTAP header length {len} is below its {MIN} bytes"
        ));
    }
    let Some(rest) = data.get(len..) else {
        return Err(cut("PKTAP header", len, data.len()));
    };
    Ok((record == 1).then_some((inner, rest)))
}

/// An 802.11 frame (link type 105): data frames' LLC/SNAP payload; protected data
/// frames are [`Next::Encrypted`]; management, control and null frames carry no IP.
pub(super) fn ieee80211(data: &[u8]) -> Step<'_> {
    let (Some(&fc0), Some(&fc1)) = (data.first(), data.get(1)) else {
        return Err(cut("802.11 frame control", 2, data.len()));
    };
    ieee80211_with(fc0, fc1, data)
}

/// An 802.11 frame whose frame control bytes come swapped, as some access points
/// send them in CAPWAP (tshark's `capwap.swap_fc`, on by default).
pub(super) fn ieee80211_swapped(data: &[u8]) -> Step<'_> {
    let (Some(&fc1), Some(&fc0)) = (data.first(), data.get(1)) else {
        return Err(cut("802.11 frame control", 2, data.len()));
    };
    ieee80211_with(fc0, fc1, data)
}

/// An 802.11 frame with frame control `fc0`, `fc1`.
fn ieee80211_with(fc0: u8, fc1: u8, data: &[u8]) -> Step<'_> {
    let (kind, subtype) = ((fc0 >> 2) & 3, fc0 >> 4);
    if kind != 2 || subtype & 4 != 0 {
        return Ok(Next::NoIp);
    }
    let qos = subtype & 8 != 0;
    let mut len = 24;
    if fc1 & 3 == 3 {
        len += 6;
    }
    // The QoS Control field's first byte: bit 7 says the body is an A-MSDU.
    let qos_control = len;
    if qos {
        len += 2;
        if fc1 & 0x80 != 0 {
            len += 4;
        }
    }
    let Some(body) = data.get(len..) else {
        return Err(cut("802.11 data header", len, data.len()));
    };
    if fc1 & 0x40 != 0 {
        return Ok(Next::Encrypted);
    }
    if qos && data.get(qos_control).is_some_and(|b| b & 0x80 != 0) {
        return Ok(Next::Amsdu(body));
    }
    llc(body)
}

/// The first subframe of an A-MSDU body (IEEE 802.11-2020 9.3.2.2.2: destination,
/// source, a big-endian length, then the MSDU, LLC/SNAP first), and the subframes
/// after it: each is padded to a multiple of four bytes, but the last. A subframe
/// that does not fit (cut by the capture's snap length, or with a length past the
/// frame's end) is read as far as the frame goes, as tshark reads it, and ends the
/// body.
pub(super) fn amsdu(data: &[u8]) -> (Step<'_>, &[u8]) {
    let Some(l) = data.get(12..14) else {
        return (Err(cut("A-MSDU subframe header", 14, data.len())), &[]);
    };
    let end = 14 + usize::from(u16::from_be_bytes([l[0], l[1]]));
    match data.get(14..end) {
        Some(msdu) => (
            llc(msdu),
            data.get(end.next_multiple_of(4)..).unwrap_or(&[]),
        ),
        None => (llc(&data[14..]), &[]),
    }
}
