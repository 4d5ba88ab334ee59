//! pcapng blocks as `dumpcap` writes them: a section header naming the hardware, the
//! operating system and the application, one interface description per interface,
//! enhanced packet blocks, and interface statistics when a file is closed
//! (draft-ietf-opsawg-pcapng, §4). Little-endian, as on the machines we run on;
//! readers swap when needed.
//!
//! Encoding only: bytes are appended to a caller's buffer, so that a capture thread
//! can encode the packets it reads into the very buffer the file is written from.
//! Every block is whole in one buffer; a file written block after block is readable up
//! to its last complete block whatever happens to the writer.

use super::LinkType;

/// Block types (pcapng §11.1).
pub const SHB: u32 = 0x0A0D_0D0A;
pub const IDB: u32 = 0x0000_0001;
pub(crate) const ISB: u32 = 0x0000_0005;
pub const EPB: u32 = 0x0000_0006;

/// Option codes used here (pcapng §4.1-4.6).
const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_HARDWARE: u16 = 2;
const SHB_OS: u16 = 3;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_DESCRIPTION: u16 = 3;
const IF_IPV4ADDR: u16 = 4;
const IF_IPV6ADDR: u16 = 5;
const IF_TSRESOL: u16 = 9;
const IF_FILTER: u16 = 11;
const IF_OS: u16 = 12;
const ISB_STARTTIME: u16 = 2;
const ISB_ENDTIME: u16 = 3;
const ISB_IFRECV: u16 = 4;
const ISB_IFDROP: u16 = 5;
const ISB_OSDROP: u16 = 7;
const ISB_USRDELIV: u16 = 8;

/// `if_tsresol` 9: timestamps count nanoseconds (pcapng §4.2).
const TSRESOL_NANOS: u8 = 9;

/// Bytes an enhanced packet block adds around the packet data (header and trailer),
/// before padding.
pub(crate) const EPB_OVERHEAD: usize = 32;

/// What the section header says about where the capture was made.
#[derive(Clone, Debug, Default)]
pub struct Section {
    /// `shb_hardware`: the CPU, as dumpcap names it.
    pub hardware: Option<String>,
    /// `shb_os`: operating system and kernel.
    pub os: Option<String>,
    /// `shb_userappl`: the program and its version.
    pub application: String,
    /// `opt_comment`s: the case and the operator, say.
    pub comments: Vec<String>,
}

/// One interface as its description block records it.
#[derive(Clone, Debug)]
pub struct Interface {
    pub name: String,
    pub description: Option<String>,
    pub link_type: LinkType,
    pub snaplen: u32,
    /// The capture filter as given to libpcap (`if_filter`, type 0).
    pub filter: Option<String>,
    pub os: Option<String>,
    /// Addresses with their prefix length (`if_IPv4addr`, `if_IPv6addr`).
    pub addresses: Vec<(std::net::IpAddr, u8)>,
}

/// The counters of an interface statistics block (pcapng §4.6). Counts are those of
/// libpcap since the capture started; `None` leaves an option out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Statistics {
    /// Nanoseconds since the epoch at which the capture started and this block was
    /// written.
    pub start_ns: u64,
    pub end_ns: u64,
    /// `isb_ifrecv`: packets received (libpcap's `ps_recv`).
    pub received: Option<u64>,
    /// `isb_ifdrop`: dropped by the interface or its driver (`ps_ifdrop`).
    pub interface_drops: Option<u64>,
    /// `isb_osdrop`: dropped by the operating system, no room in the buffer (`ps_drop`).
    pub os_drops: Option<u64>,
    /// `isb_usrdeliv`: packets delivered to the application and written.
    pub delivered: Option<u64>,
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

fn push_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn push_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A 64-bit timestamp as pcapng stores it: upper 32 bits, then lower 32 bits.
fn push_ts(out: &mut Vec<u8>, ns: u64) {
    push_u32(out, (ns >> 32) as u32);
    push_u32(out, ns as u32);
}

fn push_option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    // An option value is at most 65 535 bytes; longer text is cut (at a character
    // boundary by the callers that pass text).
    let value = value.get(..usize::from(u16::MAX)).unwrap_or(value);
    push_u16(out, code);
    push_u16(out, value.len() as u16);
    out.extend_from_slice(value);
    out.resize(out.len() + pad4(value.len()), 0);
}

fn push_text(out: &mut Vec<u8>, code: u16, text: &str) {
    let mut end = text.len().min(usize::from(u16::MAX));
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    push_option(out, code, text.get(..end).unwrap_or_default().as_bytes());
}

/// Starts a block in `out`; returns where it starts, for [`end_block`].
fn begin_block(out: &mut Vec<u8>, kind: u32) -> usize {
    let start = out.len();
    push_u32(out, kind);
    push_u32(out, 0);
    start
}

/// Ends the options, writes both total lengths.
fn end_block(out: &mut Vec<u8>, start: usize, with_options: bool) {
    if with_options {
        push_u16(out, OPT_END);
        push_u16(out, 0);
    }
    let total = (out.len() - start + 4) as u32;
    push_u32(out, total);
    if let Some(len) = out.get_mut(start + 4..start + 8) {
        len.copy_from_slice(&total.to_le_bytes());
    }
}

/// Appends a section header block (section length unknown: -1).
pub(crate) fn section_header(out: &mut Vec<u8>, s: &Section) {
    let start = begin_block(out, SHB);
    push_u32(out, 0x1A2B_3C4D);
    push_u16(out, 1);
    push_u16(out, 0);
    out.extend_from_slice(&(-1i64).to_le_bytes());
    for c in &s.comments {
        push_text(out, OPT_COMMENT, c);
    }
    if let Some(h) = &s.hardware {
        push_text(out, SHB_HARDWARE, h);
    }
    if let Some(o) = &s.os {
        push_text(out, SHB_OS, o);
    }
    push_text(out, SHB_USERAPPL, &s.application);
    end_block(out, start, true);
}

/// Appends an interface description block with nanosecond timestamps.
pub(crate) fn interface_description(out: &mut Vec<u8>, i: &Interface) {
    let start = begin_block(out, IDB);
    push_u16(out, i.link_type.0 as u16);
    push_u16(out, 0);
    push_u32(out, i.snaplen);
    push_text(out, IF_NAME, &i.name);
    if let Some(d) = &i.description {
        push_text(out, IF_DESCRIPTION, d);
    }
    for (addr, prefix) in &i.addresses {
        match addr {
            std::net::IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from((*prefix).min(32)))
                    .unwrap_or(0);
                let mut v = a.octets().to_vec();
                v.extend_from_slice(&mask.to_be_bytes());
                push_option(out, IF_IPV4ADDR, &v);
            }
            std::net::IpAddr::V6(a) => {
                let mut v = a.octets().to_vec();
                v.push((*prefix).min(128));
                push_option(out, IF_IPV6ADDR, &v);
            }
        }
    }
    push_option(out, IF_TSRESOL, &[TSRESOL_NANOS]);
    if let Some(f) = &i.filter {
        // Type 0: a libpcap filter string (pcapng §4.2, if_filter).
        let mut v = vec![0u8];
        v.extend_from_slice(f.as_bytes());
        push_option(out, IF_FILTER, &v);
    }
    if let Some(o) = &i.os {
        push_text(out, IF_OS, o);
    }
    end_block(out, start, true);
}

/// Appends an enhanced packet block for one packet; `ts_ns` counts nanoseconds
/// since the epoch, `data` is what was captured, `wire_len` the length on the wire.
#[inline]
pub(crate) fn enhanced_packet(
    out: &mut Vec<u8>,
    interface: u32,
    ts_ns: u64,
    data: &[u8],
    wire_len: u32,
) {
    let padded = data.len() + pad4(data.len());
    let total = (EPB_OVERHEAD + padded) as u32;
    out.reserve(total as usize);
    push_u32(out, EPB);
    push_u32(out, total);
    push_u32(out, interface);
    push_ts(out, ts_ns);
    push_u32(out, data.len() as u32);
    push_u32(out, wire_len);
    out.extend_from_slice(data);
    out.resize(out.len() + (padded - data.len()), 0);
    push_u32(out, total);
}

/// Appends an enhanced packet block with a comment (`opt_comment`), as a copy of a
/// packet made elsewhere carries where it came from.
pub(crate) fn enhanced_packet_commented(
    out: &mut Vec<u8>,
    interface: u32,
    ts_ns: u64,
    data: &[u8],
    wire_len: u32,
    comment: &str,
) {
    let start = begin_block(out, EPB);
    push_u32(out, interface);
    push_ts(out, ts_ns);
    push_u32(out, data.len() as u32);
    push_u32(out, wire_len);
    out.extend_from_slice(data);
    out.resize(out.len() + pad4(data.len()), 0);
    push_text(out, OPT_COMMENT, comment);
    end_block(out, start, true);
}

/// Appends an interface statistics block.
pub(crate) fn interface_statistics(
    out: &mut Vec<u8>,
    interface: u32,
    s: &Statistics,
    comment: &str,
) {
    let start = begin_block(out, ISB);
    push_u32(out, interface);
    push_ts(out, s.end_ns);
    push_text(out, OPT_COMMENT, comment);
    let mut ts = Vec::with_capacity(8);
    push_ts(&mut ts, s.start_ns);
    push_option(out, ISB_STARTTIME, &ts);
    ts.clear();
    push_ts(&mut ts, s.end_ns);
    push_option(out, ISB_ENDTIME, &ts);
    for (code, value) in [
        (ISB_IFRECV, s.received),
        (ISB_IFDROP, s.interface_drops),
        (ISB_OSDROP, s.os_drops),
        (ISB_USRDELIV, s.delivered),
    ] {
        if let Some(v) = value {
            push_option(out, code, &v.to_le_bytes());
        }
    }
    end_block(out, start, true);
}

/// The type and total length of the block at the start of `bytes`, if its header is
/// there (little-endian, as written here).
pub(crate) fn block_header(bytes: &[u8]) -> Option<(u32, usize)> {
    let kind = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
    let len = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
    Some((kind, len as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{CaptureReader, Format};

    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        section_header(
            &mut out,
            &Section {
                hardware: Some("AMD EPYC".into()),
                os: Some("Linux 6.1".into()),
                application: "whohosts 0.1.0".into(),
                comments: vec!["case C-1; operator Li Wei".into()],
            },
        );
        for (name, link) in [("lo", LinkType::ETHERNET), ("any", LinkType::LINUX_SLL2)] {
            interface_description(
                &mut out,
                &Interface {
                    name: name.into(),
                    description: Some("d".into()),
                    link_type: link,
                    snaplen: 262_144,
                    filter: Some("tcp port 443".into()),
                    os: Some("Linux 6.1".into()),
                    addresses: vec![
                        ("127.0.0.1".parse().unwrap(), 8),
                        ("::1".parse().unwrap(), 128),
                    ],
                },
            );
        }
        enhanced_packet(&mut out, 0, 1_700_000_000_123_456_789, &[1, 2, 3, 4, 5], 60);
        enhanced_packet(&mut out, 1, 1_700_000_001_000_000_001, &[9; 8], 8);
        interface_statistics(
            &mut out,
            0,
            &Statistics {
                start_ns: 1_700_000_000_000_000_000,
                end_ns: 1_700_000_002_000_000_000,
                received: Some(3),
                interface_drops: Some(0),
                os_drops: Some(1),
                delivered: Some(1),
            },
            "Counters provided by libpcap",
        );
        out
    }

    #[test]
    fn blocks_are_whole_and_lengths_agree_at_both_ends() {
        let out = sample();
        let mut at = 0;
        let mut kinds = Vec::new();
        while at < out.len() {
            let (kind, len) = block_header(&out[at..]).unwrap();
            assert_eq!(len % 4, 0);
            let trailer = u32::from_le_bytes(out[at + len - 4..at + len].try_into().unwrap());
            assert_eq!(trailer as usize, len);
            kinds.push(kind);
            at += len;
        }
        assert_eq!(at, out.len());
        assert_eq!(kinds, [SHB, IDB, IDB, EPB, EPB, ISB]);
    }

    #[test]
    fn our_reader_reads_back_frames_times_and_link_types() {
        let (format, mut r) =
            CaptureReader::from_stream(Box::new(std::io::Cursor::new(sample())), 0).unwrap();
        assert_eq!(format, Format::Pcapng);
        let f = r.next_frame().unwrap();
        assert_eq!(
            (f.number, f.wire_len, f.data),
            (1, 60, &[1u8, 2, 3, 4, 5][..])
        );
        assert_eq!((f.ts.secs, f.ts.nanos), (1_700_000_000, 123_456_789));
        let f = r.next_frame().unwrap();
        assert_eq!((f.link_type, f.ts.nanos), (LinkType::LINUX_SLL2, 1));
        assert!(r.next_frame().is_none());
        assert!(r.take_anomalies().is_empty());
        assert_eq!(r.summary().interfaces, 2);
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        let mut out = Vec::new();
        let long = "é".repeat(40_000);
        section_header(
            &mut out,
            &Section {
                application: long,
                ..Section::default()
            },
        );
        let (_, len) = block_header(&out).unwrap();
        assert_eq!(len, out.len());
        // 65 534 bytes of two-byte characters, padded.
        assert!(out.windows(2).filter(|w| w == &[0xc3, 0xa9]).count() == 32_767);
    }
}
