//! Link, network and transport headers of one frame, as borrowed views.
//!
//! etherparse slices the headers (`LaxSlicedPacket`, so that frames cut by the
//! snapshot length still yield what they carry); this module maps the capture's link
//! type to the right entry point and flattens the result into [`Packet`].
//!
//! Below the link layer, [`link`] strips link-level encapsulations (VLAN, PPPoE,
//! MPLS, LLC/SNAP, PPP, Cisco HDLC, NFLOG, 802.11 and its A-MSDUs, whose later
//! subframes [`Packet::subframes`] gives) and [`tunnel`] opens IP-level
//! tunnels (GRE, ERSPAN, IP-in-IP, 6in4, VXLAN, Geneve, GTP-U), up to
//! [`MAX_LAYERS`] IP layers: [`Packet::ip`] is the innermost, [`Packet::outer`] the
//! ones around it.
//!
//! Contract on bad input: never panics; a frame that cannot be decoded, or that
//! stops early, comes back with [`Packet::problem`] set, which the caller records as
//! an anomaly.

mod link;
mod tunnel;

use crate::capture::LinkType;
use etherparse::{EtherType, IpNumber, LaxNetSlice, LaxSlicedPacket, TransportSlice};
use link::Next;
use std::net::IpAddr;

/// IP layers looked through at most; a frame with more stops with a problem.
pub const MAX_LAYERS: usize = 8;

/// What one frame carries, as far as the analysis needs it.
#[derive(Debug, Default)]
pub struct Packet<'a> {
    /// The innermost IP layer.
    pub ip: Option<Ip<'a>>,
    /// The IP layers around it, outermost first (tunnels), each counted in the
    /// tables as tshark counts it.
    pub outer: Vec<Outer>,
    /// A protected 802.11 data frame: counted, not decoded.
    pub encrypted: bool,
    /// Why decoding stopped early or failed, if it did.
    pub problem: Option<String>,
    /// The frame's link type is not one this decoder knows.
    pub unknown_link: bool,
    /// When the frame is an 802.11 A-MSDU, the subframes after the one decoded
    /// here, which [`Packet::subframes`] decodes in turn.
    pub amsdu_rest: &'a [u8],
}

impl<'a> Packet<'a> {
    /// The packets of the A-MSDU subframes after this one, in order (none unless
    /// the frame is an A-MSDU with more than one subframe). Each counts as a
    /// packet of its own, as tshark counts it; the frame is the same.
    pub fn subframes(&self) -> Subframes<'a> {
        Subframes {
            rest: self.amsdu_rest,
        }
    }
}

/// The A-MSDU subframes of a frame after its first ([`Packet::subframes`]).
pub struct Subframes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Subframes<'a> {
    type Item = Packet<'a>;

    fn next(&mut self) -> Option<Packet<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        // Each subframe takes at least its 14-byte header, or ends the body.
        let (step, rest) = link::amsdu(self.rest);
        self.rest = rest;
        Some(walk(Packet::default(), step))
    }
}

/// An IP layer that carries a tunnel: its addresses, and its UDP ports when the
/// tunnel runs over UDP (VXLAN, Geneve, GTP-U).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outer {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub udp: Option<(u16, u16)>,
}

#[derive(Debug)]
pub struct Ip<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv6 with a routing header that still has segments to visit: the final
    /// destination it names (RFC 8200 §8.1), to which the transport belongs (its
    /// checksum's pseudo-header, and tshark's TCP and UDP tables, use it). `dst`
    /// stays the header's, which the IP tables count. `None` otherwise.
    pub final_dst: Option<IpAddr>,
    /// The protocol number of the payload after extension headers.
    pub protocol: u8,
    /// Set for fragments (IPv4, or IPv6 with a fragment header).
    pub fragment: Option<Fragment>,
    pub l4: L4<'a>,
    /// The IP payload after extension headers, as far as the frame holds it: a
    /// fragment's bytes, for reassembly.
    pub payload: &'a [u8],
}

/// Where a fragment sits in its datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    pub id: u32,
    /// Offset of this fragment's payload in the datagram, in bytes.
    pub offset: u32,
    /// Payload bytes this fragment carries.
    pub len: u32,
    pub more: bool,
    /// An IPv4 fragment whose header says it carries more bytes than the frame
    /// holds (a capture's snap length cut it): tshark puts it in no reassembly and
    /// reads a first one as it is. A cut IPv6 fragment is not marked: tshark keeps
    /// it for a reassembly like any other (and shows it as data).
    pub cut: bool,
}

#[derive(Debug)]
pub enum L4<'a> {
    Tcp(Tcp<'a>),
    Udp {
        src_port: u16,
        dst_port: u16,
        payload: &'a [u8],
    },
    Icmp,
    /// The transport header of a first fragment, ports only (the rest of the
    /// datagram is in later fragments).
    FirstFragment {
        src_port: u16,
        dst_port: u16,
    },
    /// A non-first fragment, or a protocol with no ports.
    None,
}

#[derive(Debug)]
pub struct Tcp<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub syn: bool,
    pub ack_flag: bool,
    pub fin: bool,
    pub rst: bool,
    pub payload: &'a [u8],
    /// The capture holds only the start of the segment's data (a snap length cut
    /// the frame): `payload` ends before the data the IP header counts.
    pub cut: bool,
}

/// Decodes one frame of the given link type.
pub fn decode(link: LinkType, data: &[u8]) -> Packet<'_> {
    fast(link, data).unwrap_or_else(|| lax(link, data))
}

/// Any frame, with etherparse's lax slicing below the link layers this module
/// strips itself: decodes as far as the bytes allow, through tunnels, and says
/// where and why it stopped.
fn lax(link: LinkType, data: &[u8]) -> Packet<'_> {
    let next = match link.0 {
        // Apple's PKTAP (258; 149, DLT_USER2, in older macOS captures, which tshark
        // reads as PKTAP too): a header naming the packet's own link type.
        149 | 258 => match link::pktap(data) {
            Ok(Some((inner, rest))) => link_step(inner, rest).unwrap_or_else(|| {
                Err(format!(
                    "PKTAP carries link type {inner}, which is not decoded"
                ))
            }),
            Ok(None) => Ok(Next::NoIp),
            Err(e) => Err(e),
        },
        other => match link_step(other, data) {
            Some(step) => step,
            None => {
                return Packet {
                    unknown_link: true,
                    ..Packet::default()
                }
            }
        },
    };
    walk(Packet::default(), next)
}

/// The first step below a link type's header; `None` for a link type not decoded.
fn link_step(link: u32, data: &[u8]) -> Option<Result<Next<'_>, String>> {
    Some(match link {
        1 => link::ethernet(data),
        // BSD loopback: a 4-byte address family in the writer's byte order; OpenBSD
        // loopback: the same field, in network byte order.
        0 | 108 => match data.get(4..) {
            Some(rest) => Ok(Next::Ip(rest)),
            None => Err(format!(
                "loopback header needs 4 bytes, frame has {}",
                data.len()
            )),
        },
        // Raw IP, of the version its first nibble gives; LINKTYPE_IPV6 holds IPv6
        // only (as IPv6's EtherType does).
        12 | 14 | 101 | 228 => Ok(Next::Ip(data)),
        229 => Ok(Next::Ether(EtherType::IPV6, data)),
        // Linux cooked v1: 16-byte header, protocol type at bytes 14-15.
        113 => typed_header(data, 14, 16, "Linux cooked"),
        // Linux cooked v2: 20-byte header, protocol type at bytes 0-1.
        276 => typed_header(data, 0, 20, "Linux cooked v2"),
        // PPP; PPP in HDLC-like framing, which may hold Cisco HDLC frames instead
        // (address 0x0F or 0x8F), as tshark reads it.
        9 | 50 if matches!(data.first(), Some(0x0f | 0x8f)) => link::chdlc(data),
        9 | 50 => link::ppp(data),
        // PPPoE session frames without their Ethernet header.
        51 => link::pppoe(data),
        104 => link::chdlc(data),
        7 => link::arcnet(data, false),
        107 => link::frame_relay(data),
        206 => link::frame_relay_with_direction(data),
        129 => link::arcnet(data, true),
        // Juniper's interfaces: Ethernet and PPPoE, PPP, Frame Relay, Cisco HDLC.
        167 | 178 => link::juniper(data, link::JuniperLink::Ethernet),
        179 => link::juniper(data, link::JuniperLink::Ppp),
        180 => link::juniper(data, link::JuniperLink::FrameRelay),
        181 => link::juniper(data, link::JuniperLink::Chdlc),
        105 => link::ieee80211(data),
        127 => link::radiotap(data),
        192 => link::ppi(data),
        239 => link::nflog(data),
        // IP over InfiniBand: a 44-byte header (the hardware addresses, as tcpdump and
        // tshark read it) whose EtherType is at bytes 40-41.
        242 => typed_header(data, 40, 44, "IP over InfiniBand"),
        // Solaris IPNET: a 24-byte header whose second byte is the address family
        // (2 IPv4, 26 IPv6); the packet starts with its own version.
        226 => match data.get(24..) {
            Some(rest) if matches!(data.get(1), Some(2 | 26)) => Ok(Next::Ip(rest)),
            Some(_) => Ok(Next::NoIp),
            None => Err(format!(
                "IPNET header needs 24 bytes, frame has {}",
                data.len()
            )),
        },
        _ => return None,
    })
}

/// A link header of `len` bytes with the EtherType of its payload at `at`.
fn typed_header<'a>(data: &'a [u8], at: usize, len: usize, what: &str) -> Result<Next<'a>, String> {
    match (data.get(at..at + 2), data.get(len..)) {
        (Some(t), Some(rest)) => Ok(Next::Ether(
            EtherType(u16::from_be_bytes([t[0], t[1]])),
            rest,
        )),
        _ => Err(format!(
            "{what} header needs {len} bytes, frame has {}",
            data.len()
        )),
    }
}

/// What a reassembled IP datagram carries: `payload` is the datagram's payload
/// from its transport (or tunnel) header on, from `src` to `dst`, of protocol
/// `protocol`. A tunnel inside is opened as in a frame, and then
/// [`Packet::outer`]'s first layer is this datagram itself.
pub fn datagram(src: IpAddr, dst: IpAddr, protocol: u8, payload: &[u8]) -> Packet<'_> {
    let mut packet = Packet::default();
    let mut ip = Ip {
        src,
        dst,
        final_dst: None,
        protocol,
        fragment: None,
        l4: L4::None,
        payload,
    };
    let mut udp_ports = None;
    let step = match IpNumber(protocol) {
        IpNumber::TCP => match etherparse::TcpSlice::from_slice(payload) {
            Ok(t) => {
                ip.l4 = tcp(&t, false);
                None
            }
            Err(e) => {
                packet.problem = Some(format!("reassembled TCP segment: {e}"));
                None
            }
        },
        IpNumber::UDP => match etherparse::UdpSlice::from_slice_lax(payload) {
            Ok(u) => match tunnel::udp_tunnel(u.source_port(), u.destination_port()) {
                Some(port) => {
                    udp_ports = Some((u.source_port(), u.destination_port()));
                    Some(tunnel::udp_payload(port, u.payload()))
                }
                None => {
                    ip.l4 = udp(&u);
                    None
                }
            },
            Err(e) => {
                packet.problem = Some(format!("reassembled UDP datagram: {e}"));
                None
            }
        },
        IpNumber::ICMP | IpNumber::IPV6_ICMP => {
            ip.l4 = L4::Icmp;
            None
        }
        _ => tunnel::ip_payload(protocol, payload),
    };
    match step {
        Some(next) => {
            packet.outer.push(Outer {
                src,
                dst,
                udp: udp_ports,
            });
            walk(packet, next)
        }
        None => {
            packet.ip = Some(ip);
            packet
        }
    }
}

/// Decodes from `next` on, through tunnels, into `packet`.
fn walk<'a>(mut packet: Packet<'a>, mut next: Result<Next<'a>, String>) -> Packet<'a> {
    // Every step consumes a header of at least 4 bytes, and IP layers are capped:
    // bounded by the frame and by MAX_LAYERS.
    loop {
        let sliced = match next {
            Err(e) => {
                packet.problem = Some(e);
                return packet;
            }
            Ok(Next::NoIp) => return packet,
            Ok(Next::Encrypted) => {
                packet.encrypted = true;
                return packet;
            }
            Ok(Next::Amsdu(d)) => {
                let (step, rest) = link::amsdu(d);
                packet.amsdu_rest = rest;
                next = step;
                continue;
            }
            Ok(Next::Ethernet(d)) => {
                next = link::ethernet(d);
                continue;
            }
            // IPv6's EtherType (and link type) holds IPv6 only; tshark reads no IP
            // from another version there (IPv4's takes either).
            Ok(Next::Ether(EtherType::IPV6, [first, ..])) if first >> 4 != 6 => {
                packet.problem = Some(format!(
                    "IPv6 packet (by its EtherType or link type) has IP version {}",
                    first >> 4
                ));
                return packet;
            }
            Ok(Next::Ether(et, d)) => match link::below(et, d) {
                Some(step) => {
                    next = step;
                    continue;
                }
                None => LaxSlicedPacket::from_ether_type(et, d),
            },
            Ok(Next::Ip(d)) => match LaxSlicedPacket::from_ip(d) {
                Ok(s) => s,
                Err(e) => {
                    packet.problem = Some(e.to_string());
                    return packet;
                }
            },
        };
        let (layer, payload) = flatten(&sliced);
        let tunnel = match &layer.ip {
            Some(ip) if ip.fragment.is_none() && layer.problem.is_none() => {
                match (&ip.l4, tunnel::ip_payload(ip.protocol, payload)) {
                    (_, Some(step)) => Some((None, step)),
                    (
                        L4::Udp {
                            src_port,
                            dst_port,
                            payload,
                        },
                        None,
                    ) => tunnel::udp_tunnel(*src_port, *dst_port).map(|port| {
                        (
                            Some((*src_port, *dst_port)),
                            tunnel::udp_payload(port, payload),
                        )
                    }),
                    _ => None,
                }
            }
            _ => None,
        };
        match (tunnel, layer.ip) {
            (Some((udp, step)), Some(ip)) => {
                if packet.outer.len() + 1 >= MAX_LAYERS {
                    packet.ip = Some(ip);
                    packet.problem = Some(format!(
                        "more than {MAX_LAYERS} IP layers; the innermost were not decoded"
                    ));
                    return packet;
                }
                packet.outer.push(Outer {
                    src: ip.src,
                    dst: ip.dst,
                    udp,
                });
                next = step;
            }
            (_, ip) => {
                packet.ip = ip;
                packet.problem = layer.problem;
                return packet;
            }
        }
    }
}

/// The common case, sliced layer by layer with etherparse's strict slices (which
/// copy nothing): Ethernet II with at most two VLAN tags, or a cooked or raw header,
/// then an unfragmented IPv4 or IPv6 packet whose lengths all agree, carrying TCP or
/// UDP. Anything else, including any inconsistency, takes the lax path, which says
/// what is wrong; on the frames both accept, both give the same result.
fn fast(link: LinkType, data: &[u8]) -> Option<Packet<'_>> {
    let (ether_type, payload) = match link.0 {
        1 => {
            let eth = etherparse::Ethernet2Slice::from_slice_without_fcs(data).ok()?;
            let (mut et, mut rest) = (eth.ether_type(), eth.payload_slice());
            for _ in 0..2 {
                if !matches!(
                    et,
                    EtherType::VLAN_TAGGED_FRAME
                        | EtherType::PROVIDER_BRIDGING
                        | EtherType::VLAN_DOUBLE_TAGGED_FRAME
                ) {
                    break;
                }
                let tag = etherparse::SingleVlanSlice::from_slice(rest).ok()?;
                (et, rest) = (tag.ether_type(), tag.payload_slice());
            }
            (et, rest)
        }
        113 => (
            EtherType(u16::from_be_bytes([*data.get(14)?, *data.get(15)?])),
            data.get(16..)?,
        ),
        276 => (
            EtherType(u16::from_be_bytes([*data.first()?, *data.get(1)?])),
            data.get(20..)?,
        ),
        12 | 14 | 101 | 228 => match data.first()? >> 4 {
            4 => (EtherType::IPV4, data),
            6 => (EtherType::IPV6, data),
            _ => return None,
        },
        229 => (EtherType::IPV6, data),
        _ => return None,
    };
    let ip = etherparse::IpSlice::from_slice(payload).ok()?;
    let version_agrees = matches!(
        (ether_type, &ip),
        (EtherType::IPV4, etherparse::IpSlice::Ipv4(_))
            | (EtherType::IPV6, etherparse::IpSlice::Ipv6(_))
    );
    if !version_agrees || ip.is_fragmenting_payload() {
        return None;
    }
    let final_dst = match &ip {
        etherparse::IpSlice::Ipv6(v6) => final_destination(v6.extensions()),
        etherparse::IpSlice::Ipv4(_) => None,
    };
    let (src, dst, ip) = (
        ip.source_addr(),
        ip.destination_addr(),
        ip.payload().clone(),
    );
    let l4 = match ip.ip_number {
        IpNumber::TCP => tcp(&etherparse::TcpSlice::from_slice(ip.payload).ok()?, false),
        IpNumber::UDP => {
            let u = etherparse::UdpSlice::from_slice(ip.payload).ok()?;
            if tunnel::udp_tunnel(u.source_port(), u.destination_port()).is_some() {
                return None;
            }
            udp(&u)
        }
        _ => return None,
    };
    Some(Packet {
        ip: Some(Ip {
            src,
            dst,
            final_dst,
            protocol: ip.ip_number.0,
            fragment: None,
            l4,
            payload: ip.payload,
        }),
        outer: Vec::new(),
        encrypted: false,
        problem: None,
        unknown_link: false,
        amsdu_rest: &[],
    })
}

fn tcp<'a>(t: &etherparse::TcpSlice<'a>, cut: bool) -> L4<'a> {
    L4::Tcp(Tcp {
        src_port: t.source_port(),
        dst_port: t.destination_port(),
        seq: t.sequence_number(),
        ack: t.acknowledgment_number(),
        syn: t.syn(),
        ack_flag: t.ack(),
        fin: t.fin(),
        rst: t.rst(),
        payload: t.payload(),
        cut,
    })
}

fn udp<'a>(u: &etherparse::UdpSlice<'a>) -> L4<'a> {
    L4::Udp {
        src_port: u.source_port(),
        dst_port: u.destination_port(),
        payload: u.payload(),
    }
}

/// RFC 8200 §8.1: the final destination of an IPv6 packet whose routing header has
/// segments left, `None` when the header's destination is final (no routing header,
/// none left, or a routing type that names no address this way).
fn final_destination(exts: &etherparse::Ipv6ExtensionsSlice<'_>) -> Option<IpAddr> {
    extension_headers(exts)
        .filter(|(kind, _)| *kind == IpNumber::IPV6_ROUTE_HEADER.0)
        .find_map(|(_, h)| routed_to(h))
}

/// The extension headers of `exts` as (type, whole header), read from its bytes
/// with every length checked. etherparse's own iterator trusts the chain: where its
/// lax slicing stopped inside the chain (a hop-by-hop header out of place, say),
/// the iterator reads past the slice.
fn extension_headers<'a>(
    exts: &etherparse::Ipv6ExtensionsSlice<'a>,
) -> impl Iterator<Item = (u8, &'a [u8])> {
    let mut rest = exts.slice();
    let mut next = exts.first_header().map(|n| n.0);
    std::iter::from_fn(move || {
        let kind = next?;
        let len = match IpNumber(kind) {
            IpNumber::IPV6_HEADER_HOP_BY_HOP
            | IpNumber::IPV6_ROUTE_HEADER
            | IpNumber::IPV6_DESTINATION_OPTIONS => (usize::from(*rest.get(1)?) + 1) * 8,
            IpNumber::IPV6_FRAGMENTATION_HEADER => 8,
            IpNumber::AUTHENTICATION_HEADER => (usize::from(*rest.get(1)?) + 2) * 4,
            _ => return None,
        };
        let (header, after) = (rest.get(..len)?, rest.get(len..)?);
        rest = after;
        next = header.first().copied();
        Some((kind, header))
    })
}

/// The final destination a routing header (`h`, whole) names, if it has segments
/// left: after 8 bytes of header, type 0 (RFC 2460, deprecated by RFC 5095) lists
/// the addresses to visit, the last being final; type 2 (RFC 6275, Mobile IPv6)
/// holds the one home address; type 4 (RFC 8754, segment routing) lists the
/// segments in reverse, so that Segment List\[0\] is final.
fn routed_to(h: &[u8]) -> Option<IpAddr> {
    let (&kind, &left) = (h.get(2)?, h.get(3)?);
    if left == 0 {
        return None;
    }
    let addresses = h.len().checked_sub(8)? / 16;
    let at = match kind {
        0 | 2 => 8 + addresses.checked_sub(1)? * 16,
        4 if addresses > 0 => 8,
        _ => return None,
    };
    let bytes: [u8; 16] = h.get(at..at + 16)?.try_into().ok()?;
    Some(IpAddr::from(bytes))
}

/// One IP layer of a lax slicing, and the IP payload (empty when there is none).
fn flatten<'a>(s: &LaxSlicedPacket<'a>) -> (Packet<'a>, &'a [u8]) {
    let problem = s
        .stop_err
        .as_ref()
        .map(|(e, layer)| format!("{layer}: {e}"));
    let (src, dst, fragment, payload, protocol, cut, final_dst) = match &s.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            // A total length shorter than the header is bogus, and tshark reads
            // nothing of the packet past it. Zero is not: hardware that segments
            // TCP leaves it so, and the frame's length stands for it (as etherparse
            // and tshark both take it).
            let (total, header) = (usize::from(h.total_len()), h.slice().len());
            if total != 0 && total < header {
                let problem =
                    format!("IPv4 total length {total} is less than its header length {header}");
                return (
                    Packet {
                        problem: Some(problem),
                        ..Packet::default()
                    },
                    &[],
                );
            }
            let p = v4.payload();
            let fragment =
                (h.more_fragments() || h.fragments_offset().value() != 0).then(|| Fragment {
                    id: u32::from(h.identification()),
                    offset: u32::from(h.fragments_offset().value()) * 8,
                    len: p.payload.len() as u32,
                    more: h.more_fragments(),
                    cut: p.incomplete,
                });
            (
                IpAddr::from(h.source_addr()),
                IpAddr::from(h.destination_addr()),
                fragment,
                p.payload,
                p.ip_number,
                p.incomplete,
                None,
            )
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            let p = v6.payload();
            let fragment = if v6.is_payload_fragmented() {
                extension_headers(v6.extensions())
                    .filter(|(kind, _)| *kind == IpNumber::IPV6_FRAGMENTATION_HEADER.0)
                    .find_map(|(_, h)| etherparse::Ipv6FragmentHeaderSlice::from_slice(h).ok())
                    .map(|f| Fragment {
                        id: f.identification(),
                        offset: u32::from(f.fragment_offset().value()) * 8,
                        len: p.payload.len() as u32,
                        more: f.more_fragments(),
                        cut: false,
                    })
            } else {
                None
            };
            (
                IpAddr::from(h.source_addr()),
                IpAddr::from(h.destination_addr()),
                fragment,
                p.payload,
                p.ip_number,
                p.incomplete,
                final_destination(v6.extensions()),
            )
        }
        _ => {
            return (
                Packet {
                    problem,
                    ..Packet::default()
                },
                &[],
            )
        }
    };
    let l4 = match (&s.transport, fragment) {
        (_, Some(f)) if f.offset != 0 => L4::None,
        (_, Some(_)) => match (protocol, payload.get(0..4)) {
            (IpNumber::TCP | IpNumber::UDP, Some(p)) => L4::FirstFragment {
                src_port: u16::from_be_bytes([p[0], p[1]]),
                dst_port: u16::from_be_bytes([p[2], p[3]]),
            },
            _ => L4::None,
        },
        (Some(TransportSlice::Tcp(t)), None) => tcp(t, cut),
        (Some(TransportSlice::Udp(u)), None) => udp(u),
        (Some(TransportSlice::Icmpv4(_) | TransportSlice::Icmpv6(_)), None) => L4::Icmp,
        _ => L4::None,
    };
    (
        Packet {
            ip: Some(Ip {
                src,
                dst,
                final_dst,
                protocol: protocol.0,
                fragment,
                l4,
                payload,
            }),
            problem,
            ..Packet::default()
        },
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4/UDP packet: 192.0.2.1:5353 -> 198.51.100.2:53 with 4 payload bytes,
    /// written by hand from RFC 791 / RFC 768 layouts.
    const IPV4_UDP: [u8; 32] = [
        0x45, 0, 0, 32, 0x12, 0x34, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2, //
        0x14, 0xe9, 0, 53, 0, 12, 0, 0, b'a', b'b', b'c', b'd',
    ];

    #[test]
    fn raw_ipv4_udp_yields_ports_and_payload() {
        let p = decode(LinkType::RAW, &IPV4_UDP);
        let ip = p.ip.expect("ip");
        assert_eq!(ip.src, "192.0.2.1".parse::<IpAddr>().unwrap());
        match ip.l4 {
            L4::Udp {
                src_port,
                dst_port,
                payload,
            } => {
                assert_eq!((src_port, dst_port), (5353, 53));
                assert_eq!(payload, b"abcd");
            }
            other => panic!("{other:?}"),
        }
    }

    /// A total length shorter than the IPv4 header leaves the packet undecoded, said
    /// (tshark: "Bogus IP length"); a total length of 0 (TSO) is read as the
    /// frame's, as tshark reads it.
    #[test]
    fn an_ipv4_total_length_shorter_than_its_header_is_bogus_and_zero_is_tso() {
        for total in [1u16, 19] {
            let mut bogus = IPV4_UDP;
            bogus[2..4].copy_from_slice(&total.to_be_bytes());
            let p = decode(LinkType::RAW, &bogus);
            assert!(p.ip.is_none(), "total length {total}");
            let problem = p.problem.expect("problem");
            assert!(
                problem.contains(&format!(
                    "total length {total} is less than its header length 20"
                )),
                "{problem}"
            );
        }
        let mut tso = IPV4_UDP;
        tso[2..4].copy_from_slice(&[0, 0]);
        let p = decode(LinkType::RAW, &tso);
        assert!(p.problem.is_none(), "{:?}", p.problem);
        match p.ip.expect("ip").l4 {
            L4::Udp { payload, .. } => assert_eq!(payload, b"abcd"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn null_and_loop_headers_are_skipped() {
        let mut framed = vec![2, 0, 0, 0];
        framed.extend_from_slice(&IPV4_UDP);
        assert!(decode(LinkType::NULL, &framed).ip.is_some());
        let mut framed = vec![0, 0, 0, 2];
        framed.extend_from_slice(&IPV4_UDP);
        assert!(decode(LinkType::LOOP, &framed).ip.is_some());
    }

    /// An IPv6/UDP packet: 2001:db8::1:1111 -> 2001:db8::2:53 with 4 payload bytes.
    fn ipv6_udp() -> Vec<u8> {
        let mut v6 = vec![0x60, 0, 0, 0, 0, 12, 17, 64];
        v6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        v6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        v6.extend_from_slice(&[0x04, 0x57, 0, 53, 0, 12, 0, 0, b'a', b'b', b'c', b'd']);
        v6
    }

    #[test]
    fn capwap_data_carries_80211_with_swapped_frame_control_or_ethernet() {
        // UDP 12223 -> 5247 around a CAPWAP header with `opts` and `frame`.
        let capwap = |native: bool, flags: u8, opts: &[u8], frame: &[u8]| {
            let hlen = ((8 + opts.len()) / 4) as u8;
            let mut c = vec![0, hlen << 3, 0x42 | u8::from(native), flags, 0, 0, 0, 0];
            c.extend_from_slice(opts);
            c.extend_from_slice(frame);
            let mut u = vec![0x2f, 0xbf, 0x14, 0x7f];
            u.extend_from_slice(&(8 + c.len() as u16).to_be_bytes());
            u.extend_from_slice(&[0, 0]);
            u.extend_from_slice(&c);
            wrap_v4(17, &u)
        };
        // QoS data, To DS, its frame control swapped (0x01 0x88), LLC/SNAP, IPv4.
        let mut wlan = vec![0x01, 0x88, 0, 0];
        wlan.extend_from_slice(&[0; 18]);
        wlan.extend_from_slice(&[0, 0, 0, 0]);
        wlan.extend_from_slice(&[0xaa, 0xaa, 3, 0, 0, 0, 8, 0]);
        wlan.extend_from_slice(&IPV4_UDP);
        let mut ether = vec![0; 12];
        ether.extend_from_slice(&[8, 0]);
        ether.extend_from_slice(&IPV4_UDP);
        let radio_mac = [6, 2, 0, 0, 0x25, 2, 2, 0];
        for (native, flags, opts, frame) in [
            (true, 0, &[][..], &wlan),
            (true, 0x10, &radio_mac[..], &wlan),
            (false, 0, &[][..], &ether),
        ] {
            let f = capwap(native, flags, opts, frame);
            let p = decode(LinkType::RAW, &f);
            assert!(p.problem.is_none(), "{:?}", p.problem);
            let ip = p.ip.expect("the inner packet");
            assert_eq!(ip.src, "192.0.2.1".parse::<IpAddr>().unwrap());
            assert_eq!(p.outer[0].udp, Some((12223, 5247)));
        }
        // Fragments, keep-alives and DTLS-protected data carry no packet read here;
        // a header longer than the datagram is said.
        for (flags, first) in [(0x80u8, 0u8), (0x08, 0), (0, 1)] {
            let mut f = capwap(true, flags, &[], &wlan);
            f[28] = first;
            let p = decode(LinkType::RAW, &f);
            assert!(p.ip.is_none() && p.problem.is_none(), "{flags:#x} {first}");
        }
        let mut f = capwap(true, 0, &[], &[]);
        f[29] = 31 << 3;
        assert!(decode(LinkType::RAW, &f)
            .problem
            .unwrap()
            .contains("CAPWAP"));
    }

    #[test]
    fn teredo_carries_ipv6_after_its_optional_indicators() {
        // UDP 51812 -> 3544 around `body`, in IPv4.
        let teredo = |body: &[u8]| {
            let mut u = vec![0xca, 0x64, 0x0d, 0xd8];
            u.extend_from_slice(&(8 + body.len() as u16).to_be_bytes());
            u.extend_from_slice(&[0, 0]);
            u.extend_from_slice(body);
            wrap_v4(17, &u)
        };
        let auth = [0, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0];
        let origin = [0, 0, 0x35, 0x9b, 0xf5, 0x05, 0xfe, 0xfe];
        let v6 = ipv6_udp();
        let both = [&auth[..], &origin].concat();
        for lead in [&[][..], &auth, &origin, &both] {
            let f = teredo(&[lead, &v6[..]].concat());
            let p = decode(LinkType::RAW, &f);
            let ip = p.ip.expect("the inner IPv6 packet");
            assert_eq!(ip.src, "2001:db8::1".parse::<IpAddr>().unwrap(), "{lead:?}");
            assert_eq!(p.outer.len(), 1);
            assert!(p.problem.is_none());
        }
        // Another use of the port: the outer UDP packet, no problem.
        let f = teredo(b"HELLO, not IPv6");
        let p = decode(LinkType::RAW, &f);
        assert!(p.problem.is_none(), "{:?}", p.problem);
        assert!(p.ip.is_none());
        assert_eq!(p.outer.len(), 1);
        assert_eq!(p.outer[0].udp, Some((51812, 3544)));
        // Cut indicators are said.
        for cut in [&auth[..3], &auth[..10], &origin[..5]] {
            let f = teredo(cut);
            let p = decode(LinkType::RAW, &f);
            assert!(p.problem.unwrap().contains("Teredo"), "{cut:?}");
        }
    }

    #[test]
    fn ethernet_802_3_with_osis_llc_carries_ip_by_its_nlpid() {
        // Length, then LLC with OSI's SAP (FE FE 03), then the NLPID: IPv4 (0xCC),
        // IPv6 (0x8E), IS-IS (0x83, no IP); as tshark reads it.
        let frame = |pdu: &[u8]| {
            let mut f = vec![0; 12];
            f.extend_from_slice(&(3 + pdu.len() as u16).to_be_bytes());
            f.extend_from_slice(&[0xfe, 0xfe, 0x03]);
            f.extend_from_slice(pdu);
            f
        };
        let src = |f: &[u8]| {
            decode(LinkType::ETHERNET, f)
                .ip
                .map(|ip| ip.src.to_string())
        };
        let v4 = frame(&[&[0xcc][..], &IPV4_UDP].concat());
        assert_eq!(src(&v4), Some("192.0.2.1".into()));
        let v6 = frame(&[&[0x8e][..], &ipv6_udp()].concat());
        assert_eq!(src(&v6), Some("2001:db8::1".into()));
        let isis = frame(&[0x83, 0x1b, 1, 0]);
        let isis = decode(LinkType::ETHERNET, &isis);
        assert!(isis.ip.is_none() && isis.problem.is_none());
    }

    #[test]
    fn ipv6s_link_type_and_ethertype_hold_ipv6_only() {
        let v6 = ipv6_udp();
        let eth = |et: [u8; 2], packet: &[u8]| [&[0; 12][..], &et, packet].concat();
        // Raw IP and LINKTYPE_IPV4 take either version, as IPv4's EtherType does.
        for link in [LinkType::RAW, LinkType::IPV4] {
            assert!(decode(link, &IPV4_UDP).ip.is_some());
            assert!(decode(link, &v6).ip.is_some());
        }
        assert!(decode(LinkType::ETHERNET, &eth([8, 0], &v6)).ip.is_some());
        // LINKTYPE_IPV6 and EtherType 0x86DD: an IPv4 packet is damage, said.
        assert!(decode(LinkType::IPV6, &v6).ip.is_some());
        for p in [
            decode(LinkType::IPV6, &IPV4_UDP),
            decode(LinkType::ETHERNET, &eth([0x86, 0xdd], &IPV4_UDP)),
        ] {
            assert!(p.ip.is_none(), "{p:?}");
            assert!(p.problem.unwrap().contains("IP version 4"));
        }
    }

    #[test]
    fn unknown_link_type_is_flagged_not_decoded() {
        let p = decode(LinkType(147), &IPV4_UDP);
        assert!(p.unknown_link && p.ip.is_none());
    }

    #[test]
    fn short_and_empty_frames_do_not_panic() {
        for link in [0, 1, 101, 108, 113, 228, 229, 276] {
            for n in 0..IPV4_UDP.len() {
                let p = decode(LinkType(link), &IPV4_UDP[..n]);
                // Read as what it is (Ethernet), a cut frame never passes for whole:
                // it says where it stopped, or carries no IP layer.
                if link == 1 {
                    assert!(p.problem.is_some() || p.ip.is_none(), "cut at {n}");
                }
            }
        }
    }

    /// The fast path and the lax path agree on every frame of every recorded capture
    /// and on every truncation of them; the fast path declines what it cannot
    /// decode in full.
    #[test]
    fn fast_path_agrees_with_the_lax_path() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        let mut fast_hits = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let Ok(opened) = crate::capture::open(&path, 0, crate::hash::Algorithms::NONE) else {
                continue;
            };
            let mut reader = opened.reader;
            while let Some(frame) = reader.next_frame() {
                for cut in [
                    frame.data.len(),
                    frame.data.len().saturating_sub(1),
                    20,
                    34,
                    54,
                ] {
                    let data = &frame.data[..cut.min(frame.data.len())];
                    if let Some(f) = fast(frame.link_type, data) {
                        fast_hits += 1;
                        let l = lax(frame.link_type, data);
                        assert_eq!(format!("{f:?}"), format!("{l:?}"), "{}", path.display());
                    }
                }
            }
        }
        assert!(fast_hits > 1000, "{fast_hits}");
    }

    #[test]
    fn first_fragment_gives_ports_and_later_fragments_none() {
        let mut first = IPV4_UDP;
        first[6] = 0x20; // MF set, offset 0
        match decode(LinkType::RAW, &first).ip.unwrap().l4 {
            L4::FirstFragment { src_port, dst_port } => {
                assert_eq!((src_port, dst_port), (5353, 53))
            }
            other => panic!("{other:?}"),
        }
        let mut later = IPV4_UDP;
        later[7] = 0x02; // offset 16 bytes, MF clear
        let ip = decode(LinkType::RAW, &later).ip.unwrap();
        assert!(matches!(ip.l4, L4::None));
        assert_eq!(ip.fragment.unwrap().offset, 16);
    }

    #[test]
    fn a_reassembled_datagram_decodes_as_its_frame_would() {
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        // UDP: ports and payload, no outer layer.
        let p = datagram(a, b, 17, &IPV4_UDP[20..]);
        assert!(p.outer.is_empty() && p.problem.is_none());
        match p.ip.unwrap().l4 {
            L4::Udp {
                src_port,
                dst_port,
                payload,
            } => assert_eq!((src_port, dst_port, payload), (5353, 53, &b"abcd"[..])),
            other => panic!("{other:?}"),
        }
        // IP-in-IP: the datagram is the outer layer, the packet inside the inner.
        let p = datagram(a, b, 4, &IPV4_UDP);
        assert_eq!(p.outer.len(), 1);
        assert_eq!((p.outer[0].src, p.outer[0].udp), (a, None));
        assert_eq!(p.ip.unwrap().src, "192.0.2.1".parse::<IpAddr>().unwrap());
        // A TCP header that does not fit: said, not guessed.
        let p = datagram(a, b, 6, &[0; 10]);
        assert!(matches!(p.ip.unwrap().l4, L4::None));
        assert!(p.problem.unwrap().starts_with("reassembled TCP segment"));
    }

    /// IPv4 around `inner` with protocol `proto` (no options, checksum not set).
    fn wrap_v4(proto: u8, inner: &[u8]) -> Vec<u8> {
        let len = (20 + inner.len()) as u16;
        let mut v = vec![
            0x45,
            0,
            (len >> 8) as u8,
            len as u8,
            0,
            1,
            0,
            0,
            64,
            proto,
            0,
            0,
        ];
        v.extend_from_slice(&[10, 250, 1, 1, 10, 250, 1, 2]);
        v.extend_from_slice(inner);
        v
    }

    #[test]
    fn ip_in_ip_gives_the_inner_packet_and_the_outer_pair() {
        let f = wrap_v4(4, &IPV4_UDP);
        let p = decode(LinkType::RAW, &f);
        assert_eq!(p.outer.len(), 1);
        assert_eq!(p.outer[0].src, "10.250.1.1".parse::<IpAddr>().unwrap());
        assert_eq!(p.ip.unwrap().src, "192.0.2.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn nesting_stops_at_the_layer_cap_with_a_problem() {
        let mut v = IPV4_UDP.to_vec();
        for _ in 0..MAX_LAYERS + 2 {
            v = wrap_v4(4, &v);
        }
        let p = decode(LinkType::RAW, &v);
        assert_eq!(p.outer.len(), MAX_LAYERS - 1);
        assert!(p.problem.unwrap().contains("IP layers"));
    }

    #[test]
    fn gre_with_key_and_sequence_and_bad_gre_say_why() {
        let mut gre = vec![0x30, 0, 0x08, 0, 0, 0, 0, 7, 0, 0, 0, 1];
        gre.extend_from_slice(&IPV4_UDP);
        let f = wrap_v4(47, &gre);
        let p = decode(LinkType::RAW, &f);
        assert!(p.problem.is_none() && p.ip.is_some() && p.outer.len() == 1);
        // RFC 1701 source routes: checksum and offset, key, sequence number, one
        // IPv4 entry of two addresses, the null entry, then the packet.
        let mut routed = vec![0x70, 0, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1];
        routed.extend_from_slice(&[0x08, 0, 0, 8, 192, 0, 2, 1, 192, 0, 2, 2, 0, 0, 0, 0]);
        routed.extend_from_slice(&IPV4_UDP);
        let f = wrap_v4(47, &routed);
        let p = decode(LinkType::RAW, &f);
        assert!(p.problem.is_none() && p.ip.is_some(), "{p:?}");
        // Entries without the null one run off the end, and say so.
        let f = wrap_v4(47, &routed[..28]);
        let p = decode(LinkType::RAW, &f);
        assert!(p.problem.unwrap().contains("GRE source route entry"));
        let f = wrap_v4(47, &gre[..6]);
        let cut = decode(LinkType::RAW, &f);
        assert!(cut.problem.unwrap().contains("GRE header"));
    }

    #[test]
    fn gre_cisco_metadata_gives_the_packet_after_its_tags() {
        // GRE with a key, protocol 0x8909; then the payload's EtherType (IPv4),
        // version 1, one 4-byte option (SGT 0x0001 = 5), as in tcpdump's
        // various_gre.pcap.
        let mut gre = vec![0x20, 0, 0x89, 0x09, 0, 0, 0, 0x28];
        gre.extend_from_slice(&[0x08, 0x00, 1, 1, 0, 1, 0, 5]);
        gre.extend_from_slice(&IPV4_UDP);
        let f = wrap_v4(47, &gre);
        let p = decode(LinkType::RAW, &f);
        assert!(p.problem.is_none() && p.outer.len() == 1, "{p:?}");
        assert_eq!(p.ip.unwrap().src, "192.0.2.1".parse::<IpAddr>().unwrap());
        // Options announced beyond the payload: said, not read.
        let f = wrap_v4(47, &[0x20, 0, 0x89, 0x09, 0, 0, 0, 0x28, 8, 0, 1, 9]);
        let cut = decode(LinkType::RAW, &f);
        let problem = cut.problem.unwrap();
        assert!(
            problem.contains("Cisco MetaData header needs 40 bytes"),
            "{problem}"
        );
    }

    #[test]
    fn a_pim_register_gives_the_packet_it_registers() {
        // PIMv2 Register (RFC 7761 §4.9.3): version 2 type 1, reserved, checksum,
        // then the B and N flags and reserved bits, then the data packet.
        let mut pim = vec![0x21, 0, 0, 0, 0, 0, 0, 0];
        pim.extend_from_slice(&IPV4_UDP);
        let f = wrap_v4(103, &pim);
        let p = decode(LinkType::RAW, &f);
        assert!(p.problem.is_none() && p.outer.len() == 1, "{p:?}");
        assert_eq!(p.ip.unwrap().src, "192.0.2.1".parse::<IpAddr>().unwrap());
        // Other PIM messages (a hello, type 0) carry no packet.
        let f = wrap_v4(103, &[0x20, 0, 0, 0, 0, 1, 0, 2, 0, 105]);
        let p = decode(LinkType::RAW, &f);
        assert!(p.outer.is_empty() && p.ip.is_some());
        let f = wrap_v4(103, &[0x21, 0, 0, 0]);
        let cut = decode(LinkType::RAW, &f);
        assert!(cut.problem.unwrap().contains("PIM Register header"));
    }

    #[test]
    fn solaris_ipnet_gives_the_packet_of_its_family() {
        // Version 1, family 2 (IPv4), type, length, interface indexes, zones.
        let mut f = vec![1, 2, 0, 0, 0, 0, 0, 32, 0, 0, 0, 2, 0, 0, 0, 0];
        f.extend_from_slice(&[0xff; 4]);
        f.extend_from_slice(&[0; 4]);
        f.extend_from_slice(&IPV4_UDP);
        let p = decode(LinkType(226), &f);
        assert!(p.problem.is_none() && p.ip.is_some(), "{p:?}");
        // Another family carries no IP; a short header says so.
        f[1] = 30;
        assert!(decode(LinkType(226), &f).ip.is_none());
        let cut = decode(LinkType(226), &f[..10]);
        assert!(cut.problem.unwrap().contains("IPNET header"));
    }

    #[test]
    fn arcnet_gives_the_packet_after_either_rfcs_header() {
        let src: IpAddr = "192.0.2.1".parse().unwrap();
        // Linux (129): source, destination, 2-byte offset, then RFC 1201's IP
        // (0xD4) with split flag and sequence number, or RFC 1051's (0xF0) alone.
        let mut f = vec![0xbe, 0, 0xea, 0x08, 0xd4, 0, 1, 0x65];
        f.extend_from_slice(&IPV4_UDP);
        let p = decode(LinkType(129), &f);
        assert!(
            p.problem.is_none() && p.ip.as_ref().unwrap().src == src,
            "{p:?}"
        );
        let mut f = vec![0xbe, 0, 0xea, 0x08, 0xf0];
        f.extend_from_slice(&IPV4_UDP);
        assert_eq!(decode(LinkType(129), &f).ip.unwrap().src, src);
        // BSD (7): no offset; a split flag of 0xFF is an exception frame, whose
        // header is four bytes longer.
        let mut f = vec![0xbe, 0, 0xd4, 0xff, 0, 0, 0xd4, 0, 0, 1];
        f.extend_from_slice(&IPV4_UDP);
        assert_eq!(decode(LinkType(7), &f).ip.unwrap().src, src);
        // ARP carries no IP; headers cut short say so, never a panic.
        let arp = decode(
            LinkType(129),
            &[0xbe, 0, 0xea, 0x08, 0xd5, 0, 1, 0x65, 0, 7],
        );
        assert!(arp.ip.is_none() && arp.problem.is_none() && !arp.unknown_link);
        for cut in [&[0xbe, 0, 0xea][..], &[0xbe, 0, 0xea, 0x08, 0xd4, 0]] {
            let problem = decode(LinkType(129), cut).problem.unwrap();
            assert!(problem.contains("ARCNET header"), "{problem}");
        }
    }

    #[test]
    fn frame_relay_gives_the_packet_of_either_encapsulation() {
        let src: IpAddr = "192.0.2.1".parse().unwrap();
        let ip_of = |link: u32, f: &[u8]| {
            let p = decode(LinkType(link), f);
            assert!(p.problem.is_none(), "{f:02x?}: {p:?}");
            p.ip.map(|ip| ip.src)
        };
        let with = |head: &[u8]| {
            let mut f = head.to_vec();
            f.extend_from_slice(&IPV4_UDP);
            f
        };
        // Cisco's encapsulation: DLCI 302 (0x48 0xe1), then an EtherType.
        assert_eq!(ip_of(107, &with(&[0x48, 0xe1, 0x08, 0x00])), Some(src));
        // RFC 2427: UI control, NLPID IPv4, with and without the pad octet; a
        // three- and a four-octet address.
        assert_eq!(ip_of(107, &with(&[0x48, 0xe1, 0x03, 0xcc])), Some(src));
        assert_eq!(
            ip_of(107, &with(&[0x48, 0xe1, 0x03, 0x00, 0xcc])),
            Some(src)
        );
        assert_eq!(
            ip_of(107, &with(&[0x48, 0xe0, 0x11, 0x03, 0xcc])),
            Some(src)
        );
        assert_eq!(
            ip_of(107, &with(&[0x48, 0xe0, 0x10, 0x11, 0x03, 0xcc])),
            Some(src)
        );
        // SNAP with an EtherType; with a direction octet first (link type 206).
        let snap = [0x48, 0xe1, 0x03, 0x00, 0x80, 0, 0, 0, 0x08, 0x00];
        assert_eq!(ip_of(107, &with(&snap)), Some(src));
        assert_eq!(ip_of(206, &with(&[&[1][..], &snap].concat())), Some(src));
        // NLPID IPv4 takes either version, as tshark's `ip` does; NLPID IPv6 holds
        // IPv6 only.
        let v6 = ipv6_udp();
        assert!(decode(
            LinkType(107),
            &[&[0x48, 0xe1, 0x03, 0xcc][..], &v6].concat()
        )
        .ip
        .is_some_and(|ip| ip.src.is_ipv6()));
        let v4_as_v6 = with(&[0x48, 0xe1, 0x03, 0x8e]);
        let v4_as_v6 = decode(LinkType(107), &v4_as_v6);
        assert!(v4_as_v6.ip.is_none() && v4_as_v6.problem.is_some());
        // Q.933 (NLPID 0x08), signalling on DLCI 0, and XID frames carry no IP.
        assert_eq!(ip_of(107, &with(&[0x48, 0xe1, 0x03, 0x08])), None);
        assert_eq!(ip_of(107, &with(&[0x00, 0x01, 0x08, 0x00])), None);
        assert_eq!(ip_of(107, &with(&[0x48, 0xe1, 0xaf, 0x08, 0x00])), None);
        // Cut headers are said.
        for cut in [
            &[0x48][..],
            &[0x48, 0xe0],
            &[0x48, 0xe0, 0x10],
            &[0x48, 0xe1, 0x08],
        ] {
            let problem = decode(LinkType(107), cut).problem.unwrap();
            assert!(
                problem.contains("Frame Relay header"),
                "{cut:02x?}: {problem}"
            );
        }
    }

    #[test]
    fn juniper_header_gives_the_packet_of_its_interface_or_payload_type() {
        let src: IpAddr = "192.0.2.1".parse().unwrap();
        let ip_of = |link: u32, f: &[u8]| {
            let p = decode(LinkType(link), f);
            assert!(p.problem.is_none(), "{link} {f:02x?}: {p:?}");
            p.ip.map(|ip| ip.src)
        };
        let with = |parts: &[&[u8]]| {
            let mut f = parts.concat();
            f.extend_from_slice(&IPV4_UDP);
            f
        };
        // The magic, flags with extensions (0x80; 0x01 inbound), their total
        // length and TLVs (media type, encapsulation, interface indexes).
        let ext: &[u8] = &[
            b'M', b'G', b'C', 0x81, 0, 16, 3, 1, 1, 6, 1, 14, 1, 2, 0x8c, 0, 4, 4, 0x4c, 1, 0, 0,
        ];
        let eth: &[u8] = &[
            0, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 0x66, 0x77, 0x88, 0x99, 0xaa, 8, 0,
        ];
        assert_eq!(ip_of(178, &with(&[ext, eth])), Some(src));
        assert_eq!(ip_of(167, &with(&[ext, eth])), Some(src));
        // Without extensions, and with an empty extension list.
        assert_eq!(ip_of(178, &with(&[b"MGC\x00", eth])), Some(src));
        assert_eq!(ip_of(178, &with(&[b"MGC\x80\x00\x00", eth])), Some(src));
        // Without the magic, the frame is the interface's link layer from its start.
        assert_eq!(ip_of(178, &with(&[eth])), Some(src));
        // PPP interfaces: two bytes, then the protocol field (no FF 03 is looked
        // for); Frame Relay and Cisco HDLC interfaces.
        assert_eq!(
            ip_of(179, &with(&[b"MGC\x00", &[0, 0, 0, 0x21]])),
            Some(src)
        );
        assert_eq!(
            ip_of(179, &with(&[b"MGC\x00", &[0xff, 0x03, 0, 0x21]])),
            Some(src)
        );
        assert_eq!(
            ip_of(179, &with(&[b"MGC\x00", &[0, 0, 0xff, 0x03, 0, 0x21]])),
            None
        );
        assert_eq!(
            ip_of(180, &with(&[ext, &[0x04, 0x01, 0x03, 0xcc]])),
            Some(src)
        );
        assert_eq!(ip_of(181, &with(&[ext, &[0x0f, 0, 0x08, 0]])), Some(src));
        // No layer 2 (0x02): the payload type's first octet (of four) says what
        // follows: IPv4 (2), MPLS (5), PPP (200), ISO (201), LLC (202), Ethernet
        // (204), Frame Relay (207), Cisco HDLC (208); others carry no IP.
        let no_l2 = |t: u32| [&b"MGC\x02"[..], &t.to_le_bytes()].concat();
        assert_eq!(ip_of(178, &with(&[&no_l2(2)])), Some(src));
        assert_eq!(ip_of(179, &with(&[&no_l2(0x102)])), Some(src));
        assert_eq!(
            ip_of(
                178,
                &with(&[&no_l2(2).iter().rev().copied().collect::<Vec<_>>()])
            ),
            None
        );
        assert_eq!(ip_of(178, &with(&[&no_l2(5), &[0, 1, 1, 0x40]])), Some(src));
        assert_eq!(ip_of(178, &with(&[&no_l2(200), &[0x21]])), Some(src));
        assert_eq!(
            ip_of(178, &with(&[&no_l2(200), &[0xff, 0x03, 0, 0x21]])),
            None
        );
        assert_eq!(ip_of(178, &with(&[&no_l2(201), &[0xcc]])), Some(src));
        assert_eq!(
            ip_of(178, &with(&[&no_l2(202), &[0xfe, 0xfe, 0x03, 0xcc]])),
            Some(src)
        );
        assert_eq!(
            ip_of(178, &with(&[&no_l2(203), &[0xaa, 0xaa, 3, 0, 0, 0, 8, 0]])),
            Some(src)
        );
        assert_eq!(ip_of(178, &with(&[&no_l2(204), eth])), Some(src));
        assert_eq!(
            ip_of(178, &with(&[&no_l2(207), &[0x04, 0x01, 0x03, 0xcc]])),
            Some(src)
        );
        assert_eq!(
            ip_of(178, &with(&[&no_l2(208), &[0x0f, 0, 0x08, 0]])),
            Some(src)
        );
        assert_eq!(ip_of(178, &with(&[&no_l2(99)])), None);
        assert_eq!(ip_of(178, &with(&[&no_l2(0xa248), &[0; 4]])), None);
        // Cut headers are said.
        for (link, cut) in [
            (178, &b"MG"[..]),
            (178, b"MGC\x80\x00"),
            (178, b"MGC\x80\x00\x10\x03"),
            (178, b"MGC\x02\x02"),
            (179, b"MGC\x00\x00"),
        ] {
            let problem = decode(LinkType(link), cut).problem.unwrap();
            assert!(problem.contains("Juniper"), "{cut:02x?}: {problem}");
        }
    }

    #[test]
    fn arista_timestamp_header_gives_the_packet_after_it() {
        let src: IpAddr = "192.0.2.1".parse().unwrap();
        let frame = |version: u16, stamp: usize| {
            let mut f = vec![0, 0, 0, 0, 0, 1, 0, 0x11, 0x22, 0x33, 0x44, 0x55];
            f.extend_from_slice(&[0xd2, 0x8b, 0, 1]);
            f.extend_from_slice(&version.to_be_bytes());
            f.extend(std::iter::repeat_n(0x5c, stamp));
            f.extend_from_slice(&[0x08, 0x00]);
            f.extend_from_slice(&IPV4_UDP);
            f
        };
        // 64-bit timestamps (TAI, UTC) and 48-bit ones.
        for (version, stamp) in [(0x0010, 8), (0x0110, 8), (0x0020, 6), (0x0120, 6)] {
            let f = frame(version, stamp);
            let p = decode(LinkType::ETHERNET, &f);
            assert!(p.problem.is_none(), "{version:#06x}: {p:?}");
            assert_eq!(p.ip.unwrap().src, src, "{version:#06x}");
        }
        // R3 hardware's versions and other subtypes are not decoded, as tshark
        // does not decode them; a cut header is said.
        assert!(decode(LinkType::ETHERNET, &frame(0x0011, 8)).ip.is_none());
        let mut other = frame(0x0010, 8);
        other[15] = 2;
        assert!(decode(LinkType::ETHERNET, &other).ip.is_none());
        let f = frame(0x0010, 8);
        let cut = decode(LinkType::ETHERNET, &f[..22]);
        let problem = cut.problem.unwrap();
        assert!(problem.contains("Arista timestamp header"), "{problem}");
    }

    #[test]
    fn ip_over_infiniband_gives_the_packet_after_its_44_byte_header() {
        let mut f = vec![0; 40];
        f.extend_from_slice(&[0x08, 0x00, 0, 0]);
        f.extend_from_slice(&IPV4_UDP);
        let p = decode(LinkType(242), &f);
        assert!(p.problem.is_none() && p.ip.is_some(), "{p:?}");
        let cut = decode(LinkType(242), &f[..30]);
        assert!(cut
            .problem
            .unwrap()
            .contains("InfiniBand header needs 44 bytes"));
    }

    fn udp_v4(port: u16, payload: &[u8]) -> Vec<u8> {
        let mut u = vec![0xc0, 0x01, (port >> 8) as u8, port as u8];
        u.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(payload);
        wrap_v4(17, &u)
    }

    #[test]
    fn vxlan_gpe_reads_its_next_protocol_through_service_headers() {
        // Flags I and P, next protocol IPv4, VNI 42.
        let mut gpe = vec![0x0c, 0, 0, 1, 0, 0, 42, 0];
        gpe.extend_from_slice(&IPV4_UDP);
        let f = udp_v4(4790, &gpe);
        let p = decode(LinkType::RAW, &f);
        assert!(p.problem.is_none(), "{p:?}");
        assert_eq!(p.ip.as_ref().unwrap().dst.to_string(), "198.51.100.2");
        assert_eq!(p.outer.len(), 1);
        // An NSH of MD type 2 with one 4-byte context word (length 3 words) in
        // another NSH, then IPv4.
        let mut nsh = vec![0x0c, 0, 0, 4, 0, 0, 42, 0];
        nsh.extend_from_slice(&[0x0f, 0xc2, 0x02, 0x04, 0, 0, 1, 0xff]);
        nsh.extend_from_slice(&[0x0f, 0xc3, 0x02, 0x01, 0, 0, 1, 0xfe, 0, 0, 0, 0]);
        nsh.extend_from_slice(&IPV4_UDP);
        let f = udp_v4(4790, &nsh);
        let p = decode(LinkType::RAW, &f);
        assert!(p.problem.is_none(), "{p:?}");
        assert!(p.ip.is_some());
        // An NSH shorter than its own headers, and a next protocol not decoded.
        let mut bad = nsh.clone();
        bad[9] = 0xc1;
        let f = udp_v4(4790, &bad);
        let p = decode(LinkType::RAW, &f);
        assert!(p.problem.unwrap().contains("NSH length of 4 bytes"));
        let mut other = gpe.clone();
        other[3] = 9;
        let f = udp_v4(4790, &other);
        let p = decode(LinkType::RAW, &f);
        assert!(
            p.problem.is_none() && p.ip.is_none() && p.outer.len() == 1,
            "{p:?}"
        );
        // Every truncation ends.
        for n in 0..=nsh.len() {
            let _ = decode(LinkType::RAW, &udp_v4(4790, &nsh[..n]));
        }
    }

    #[test]
    fn pktap_reads_the_packet_of_the_link_type_it_names() {
        // 108-byte header: length, record type 1, DLT 12 (raw IP), "en0".
        let mut f = vec![108, 0, 0, 0, 1, 0, 0, 0, 12, 0, 0, 0, b'e', b'n', b'0'];
        f.resize(108, 0);
        f.extend_from_slice(&IPV4_UDP);
        for link in [258, 149] {
            let p = decode(LinkType(link), &f);
            assert!(p.problem.is_none() && !p.unknown_link, "{p:?}");
            assert_eq!(p.ip.as_ref().unwrap().dst.to_string(), "198.51.100.2");
        }
        // Another record type carries no packet.
        let mut other = f.clone();
        other[4] = 2;
        let p = decode(LinkType(258), &other);
        assert!(p.problem.is_none() && p.ip.is_none());
        // A link type not decoded inside (PKTAP itself among them), a length below
        // the header's own, and every cut say why.
        let mut nested = f.clone();
        nested[8..12].copy_from_slice(&258u32.to_le_bytes());
        let p = decode(LinkType(258), &nested);
        assert!(p.problem.unwrap().contains("PKTAP carries link type 258"));
        let mut short = f.clone();
        short[0] = 100;
        let p = decode(LinkType(258), &short);
        assert!(p.problem.unwrap().contains("below its 108 bytes"));
        for n in 0..108 {
            let p = decode(LinkType(258), &f[..n]);
            assert!(p.problem.unwrap().contains("PKTAP header"), "{n}");
        }
    }

    #[test]
    fn ppp_links_read_ppp_and_cisco_hdlc_framing() {
        for head in [
            &[0xff, 0x03, 0x00, 0x21][..],
            &[0x0f, 0x00, 0x08, 0x00],
            &[0x8f, 0x00, 0x08, 0x00],
        ] {
            let mut f = head.to_vec();
            f.extend_from_slice(&IPV4_UDP);
            for link in [9, 50] {
                assert!(decode(LinkType(link), &f).ip.is_some(), "{link} {head:?}");
            }
        }
    }

    #[test]
    fn protected_80211_data_is_flagged_not_decoded() {
        let mut f = vec![0x88, 0x41, 0, 0];
        f.extend_from_slice(&[0; 20]);
        f.extend_from_slice(&[0; 2]);
        f.extend_from_slice(&IPV4_UDP);
        let p = decode(LinkType(105), &f);
        assert!(p.encrypted && p.ip.is_none());
        f[1] = 0x01;
        f.splice(26..26, [0xaa, 0xaa, 3, 0, 0, 0, 8, 0]);
        let p = decode(LinkType(105), &f);
        assert!(!p.encrypted && p.ip.is_some(), "{p:?}");
    }

    /// An 802.11 QoS data frame with the A-MSDU Present bit, holding `subframes`.
    fn amsdu(subframes: &[&[u8]]) -> Vec<u8> {
        let mut f = vec![0x88, 0x01, 0, 0];
        f.extend_from_slice(&[0; 20]);
        f.extend_from_slice(&[0x80, 0]);
        for (i, msdu) in subframes.iter().enumerate() {
            let start = f.len();
            f.extend_from_slice(&[2; 12]);
            f.extend_from_slice(&(msdu.len() as u16).to_be_bytes());
            f.extend_from_slice(msdu);
            if i + 1 < subframes.len() {
                while (f.len() - start) % 4 != 0 {
                    f.push(0);
                }
            }
        }
        f
    }

    #[test]
    fn an_amsdu_yields_every_subframe_and_says_where_one_does_not_fit() {
        let mut snap = vec![0xaa, 0xaa, 3, 0, 0, 0, 8, 0];
        snap.extend_from_slice(&IPV4_UDP);
        // Three subframes: the first two padded to four bytes (40 + 14 = 54 -> 56).
        let mut other = snap.clone();
        other[8 + 19] = 3;
        let f = amsdu(&[&snap, &other, &snap]);
        let p = decode(LinkType(105), &f);
        assert!(p.problem.is_none(), "{p:?}");
        assert_eq!(p.ip.as_ref().unwrap().dst.to_string(), "198.51.100.2");
        let rest: Vec<Packet<'_>> = p.subframes().collect();
        assert_eq!(rest.len(), 2);
        assert_eq!(rest[0].ip.as_ref().unwrap().dst.to_string(), "198.51.100.3");
        assert_eq!(rest[1].ip.as_ref().unwrap().dst.to_string(), "198.51.100.2");
        // A frame without the A-MSDU bit reads the same body as one MSDU: no IP.
        let mut plain = f.clone();
        plain[24] = 0;
        let p = decode(LinkType(105), &plain);
        assert!(p.ip.is_none() && p.subframes().next().is_none());
        // A length past the frame's end is read as far as the frame goes, as
        // tshark reads it, and ends the body.
        let mut lying = f.clone();
        let second = 26 + 56;
        lying[second + 12] = 0x40;
        let p = decode(LinkType(105), &lying);
        let rest: Vec<Packet<'_>> = p.subframes().collect();
        assert_eq!(rest.len(), 1);
        assert!(rest[0].problem.is_none(), "{:?}", rest[0].problem);
        assert_eq!(rest[0].ip.as_ref().unwrap().dst.to_string(), "198.51.100.3");
        // So is a subframe cut by the snap length, down to its IP header.
        let cut = decode(LinkType(105), &f[..second + 14 + 8 + 24]);
        let rest: Vec<Packet<'_>> = cut.subframes().collect();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].ip.as_ref().unwrap().dst.to_string(), "198.51.100.3");
        // A subframe header that does not fit says so.
        let cut = decode(LinkType(105), &f[..second + 10]);
        let rest: Vec<Packet<'_>> = cut.subframes().collect();
        assert!(rest[0]
            .problem
            .as_deref()
            .unwrap()
            .contains("A-MSDU subframe header"));
        // Every truncation ends, with at most as many packets as subframes.
        for n in 0..=f.len() {
            let p = decode(LinkType(105), &f[..n]);
            assert!(p.subframes().count() <= 2);
        }
    }

    #[test]
    fn every_link_type_survives_every_truncation_of_every_encapsulation() {
        let mut frames = vec![wrap_v4(4, &IPV4_UDP), wrap_v4(41, &IPV4_UDP)];
        let mut gre = vec![0xb0, 0, 0x88, 0xbe, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1];
        gre.extend_from_slice(&[0; 8]);
        frames.push(wrap_v4(47, &gre));
        for port in [4789u16, 4790, 6081, 2152, 3544, 5247] {
            let mut u = vec![
                0,
                9,
                (port >> 8) as u8,
                port as u8,
                0,
                0,
                0,
                0,
                0x34,
                0xff,
                0,
                0,
            ];
            u.extend_from_slice(&[0; 8]);
            frames.push(wrap_v4(17, &u));
        }
        for f in &frames {
            for link in [
                0, 1, 9, 50, 51, 101, 104, 105, 113, 127, 149, 192, 239, 258, 276,
            ] {
                for n in 0..=f.len() {
                    let _ = decode(LinkType(link), &f[..n]);
                }
            }
        }
    }

    /// A routing header of `kind` with `left` segments left over `addrs`, as RFC
    /// 8200 §4.4 lays it out (next header, length in 8-byte units after the first
    /// 8, type, segments left, 4 type-specific bytes, addresses).
    fn routing(kind: u8, left: u8, addrs: &[&str]) -> Vec<u8> {
        let mut h = vec![17, (addrs.len() * 2) as u8, kind, left, 0, 0, 0, 0];
        for a in addrs {
            h.extend_from_slice(&a.parse::<std::net::Ipv6Addr>().unwrap().octets());
        }
        h
    }

    #[test]
    fn a_routing_header_with_segments_left_names_the_final_destination() {
        let final_of = |h: Vec<u8>| routed_to(&h).map(|a| a.to_string());
        // Type 0: the last address to visit.
        assert_eq!(
            final_of(routing(0, 2, &["2001:db8::1", "2001:db8::2"])),
            Some("2001:db8::2".into())
        );
        // Type 2 (Mobile IPv6): the home address.
        assert_eq!(
            final_of(routing(2, 1, &["2001:db8::9"])),
            Some("2001:db8::9".into())
        );
        // Type 4 (SRH): Segment List[0], the first listed.
        assert_eq!(
            final_of(routing(4, 1, &["2001:db8::a", "2001:db8::b"])),
            Some("2001:db8::a".into())
        );
        // No segment left: the header's destination is final.
        assert_eq!(final_of(routing(0, 0, &["2001:db8::1"])), None);
        // No address, an unknown type, a header cut short: nothing named.
        assert_eq!(final_of(routing(0, 1, &[])), None);
        assert_eq!(final_of(routing(3, 1, &["2001:db8::1"])), None);
        let mut cut = routing(4, 1, &["2001:db8::a"]);
        cut.truncate(20);
        assert_eq!(final_of(cut), None);
        assert_eq!(routed_to(&[0, 0]), None);
    }

    #[test]
    fn an_extension_chain_broken_midway_is_read_no_further() {
        // tcpdump's ipv6hdr-heapoverflow.pcap and ipv6-next-header-oobr-*.pcap: a
        // hop-by-hop header followed by another hop-by-hop (or a routing header, or
        // AH) the frame has no room for. etherparse's lax slicing stops there; its
        // extension iterator read past the slice (a crash) before whohosts walked the
        // chain itself.
        for next in [0x00, 0x2b, 0x33] {
            let mut f = vec![0x63, 0x30, 0x30, 0x30, 0x30, 0x30, 0x00, 0x30];
            f.extend_from_slice(&[0x30; 32]);
            f.extend_from_slice(&[next, 0, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30]);
            let p = decode(LinkType(229), &f);
            assert!(p.problem.is_some(), "{p:?}");
            assert!(p
                .ip
                .is_some_and(|ip| ip.final_dst.is_none() && ip.fragment.is_none()));
        }
    }
}
