//! pcapng files: several sections (each with its own byte order), several
//! interfaces per section with their own link type, time resolution and offset;
//! enhanced, simple and obsolete packet blocks.

use super::{end_of_stream, ts_from_units, Frame, LinkType, ReadSummary, Window};
use super::{MAX_BLOCK, MAX_RESYNC_SCAN};
use crate::model::{Anomaly, Severity};
use pcap_parser::pcapng::{
    parse_enhancedpacketblock_be, parse_enhancedpacketblock_le, parse_interfacedescriptionblock_be,
    parse_interfacedescriptionblock_le, parse_sectionheaderblock, parse_simplepacketblock_be,
    parse_simplepacketblock_le,
};
use std::collections::BTreeSet;

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 0x0000_0001;
const OBSOLETE_PB: u32 = 0x0000_0002;
const SPB: u32 = 0x0000_0003;
const EPB: u32 = 0x0000_0006;
/// Decryption Secrets Block (pcapng §4.7): read and handed to the caller.
const DSB: u32 = 0x0000_000A;
/// Most secret bytes kept from all DSBs of a file (a TLS 1.3 session is ~800 bytes).
const MAX_SECRETS: usize = 64 << 20;
/// Block types that hold no frames and are skipped without comment
/// (name resolution, interface statistics, systemd journal, decryption secrets
/// (read before this list is consulted), custom blocks, process information).
const QUIET: [u32; 8] = [
    0x0000_0004,
    0x0000_0005,
    0x0000_0009,
    0x0000_000A,
    0x0000_0BAD,
    0x4000_0BAD,
    0x8000_0001,
    0x0000_0007,
];

#[derive(Clone, Copy, Debug)]
struct Interface {
    link_type: LinkType,
    units_per_sec: u64,
    offset_secs: i64,
    snaplen: u32,
}

pub(crate) struct PcapngReader {
    pub(crate) window: Window,
    capture: u32,
    big_endian: bool,
    interfaces: Vec<Interface>,
    frames: u64,
    sections: u32,
    total_interfaces: u32,
    link_types: BTreeSet<LinkType>,
    blocks: u64,
    complete_to: u64,
    done: bool,
    secrets: Vec<super::DecryptionSecrets>,
    secrets_bytes: usize,
}

/// Units per second for an `if_tsresol` value (pcapng §4.2): bit 7 clear means a
/// negative power of 10, set means a negative power of 2. `None` when out of range.
fn ts_units(tsresol: u8) -> Option<u64> {
    let exp = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(exp)
    } else {
        1u64.checked_shl(exp).filter(|_| exp < 64)
    }
}

impl PcapngReader {
    /// The section header is read with the first block, so opening cannot fail.
    pub(crate) fn new(window: Window, capture: u32) -> Self {
        PcapngReader {
            window,
            capture,
            big_endian: false,
            interfaces: Vec::new(),
            frames: 0,
            sections: 0,
            total_interfaces: 0,
            link_types: BTreeSet::new(),
            blocks: 0,
            complete_to: 0,
            done: false,
            secrets: Vec::new(),
            secrets_bytes: 0,
        }
    }

    pub(crate) fn summary(&self) -> ReadSummary {
        ReadSummary {
            link_types: self.link_types.iter().copied().collect(),
            sections: self.sections,
            interfaces: self.total_interfaces,
            blocks: self.blocks,
            complete_to: self.complete_to,
        }
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        let b = self.window.data().get(at..at + 4)?;
        let w = [b[0], b[1], b[2], b[3]];
        Some(if self.big_endian {
            u32::from_be_bytes(w)
        } else {
            u32::from_le_bytes(w)
        })
    }

    fn anomaly(
        &self,
        severity: Severity,
        frame: Option<u64>,
        offset: u64,
        code: &'static str,
        message: String,
    ) -> Anomaly {
        Anomaly {
            capture: self.capture,
            frame,
            offset,
            severity,
            code,
            message,
        }
    }

    /// Whether a block whose header is at `at` has sane, agreeing lengths and is
    /// wholly available. A section header sets its own byte order.
    fn block_ok_at(&self, at: usize) -> bool {
        let data = self.window.data();
        let Some(b) = data.get(at..at + 12) else {
            return false;
        };
        let ty_le = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let be = if ty_le == SHB {
            u32::from_le_bytes([b[8], b[9], b[10], b[11]]) != 0x1A2B_3C4D
        } else {
            self.big_endian
        };
        let rd = |x: &[u8]| {
            let w = [x[0], x[1], x[2], x[3]];
            if be {
                u32::from_be_bytes(w)
            } else {
                u32::from_le_bytes(w)
            }
        };
        let ty = rd(&b[0..4]);
        let len = rd(&b[4..8]) as usize;
        let known = ty == SHB
            || ty == IDB
            || ty == EPB
            || ty == SPB
            || ty == OBSOLETE_PB
            || QUIET.contains(&ty);
        known
            && (12..=MAX_BLOCK).contains(&len)
            && len.is_multiple_of(4)
            && data
                .get(at + len - 4..at + len)
                .is_some_and(|t| rd(t) as usize == len)
    }

    /// Skips forward in steps of 4 bytes (blocks are 32-bit aligned) to the next
    /// well-formed known block.
    fn resync(&mut self, from: u64, anomalies: &mut Vec<Anomaly>) {
        let mut skipped = 0u64;
        while skipped < MAX_RESYNC_SCAN {
            if self.window.fill(MAX_BLOCK) < 12 {
                break;
            }
            if skipped > 0 && self.block_ok_at(0) {
                let to = self.window.pos();
                anomalies.push(self.anomaly(
                    Severity::Damage,
                    None,
                    from,
                    "pcapng.resynchronised",
                    format!(
                        "skipped {} bytes from offset {from} to {to}, where the next well-formed block starts",
                        to - from
                    ),
                ));
                return;
            }
            self.window.consume(4);
            skipped += 4;
        }
        let to = self.window.pos();
        anomalies.push(self.anomaly(
            Severity::Damage,
            None,
            from,
            "pcapng.unrecoverable",
            format!(
                "no well-formed block found after offset {from} (searched up to offset {to}); the rest of the file was not analysed"
            ),
        ));
        self.done = true;
    }

    pub(crate) fn next(&mut self, anomalies: &mut Vec<Anomaly>) -> Option<Frame<'_>> {
        loop {
            if self.done {
                return None;
            }
            let offset = self.window.pos();
            let avail = self.window.fill(12);
            if avail == 0 {
                self.done = true;
                end_of_stream(&mut self.window, self.capture, self.frames, anomalies);
                return None;
            }
            if avail < 12 {
                anomalies.push(self.anomaly(
                    Severity::Damage,
                    None,
                    offset,
                    "pcapng.truncated_block",
                    format!(
                        "block at offset {offset}: the file ends inside the block header (expected 12 bytes, have {avail})"
                    ),
                ));
                self.window.consume(avail);
                continue;
            }
            let raw_type = self.u32_at(0).unwrap_or(0);
            if raw_type == SHB {
                // The byte-order magic decides how this section is read.
                let bom = self
                    .window
                    .data()
                    .get(8..12)
                    .map(|b| [b[0], b[1], b[2], b[3]]);
                match bom {
                    Some([0x4d, 0x3c, 0x2b, 0x1a]) => self.big_endian = false,
                    Some([0x1a, 0x2b, 0x3c, 0x4d]) => self.big_endian = true,
                    _ => {
                        anomalies.push(self.anomaly(
                            Severity::Damage,
                            None,
                            offset,
                            "pcapng.bad_byte_order_magic",
                            format!("section header at offset {offset}: byte-order magic is neither 1a2b3c4d nor 4d3c2b1a"),
                        ));
                        self.resync(offset, anomalies);
                        continue;
                    }
                }
            }
            let block_type = self.u32_at(0).unwrap_or(0);
            let len = self.u32_at(4).unwrap_or(0) as usize;
            let is_packet = matches!(block_type, EPB | SPB | OBSOLETE_PB);
            let number = self.frames + 1;
            let frame_no = is_packet.then_some(number);
            if len < 12 || !len.is_multiple_of(4) || len > MAX_BLOCK {
                anomalies.push(self.anomaly(
                    Severity::Damage,
                    frame_no,
                    offset,
                    "pcapng.bad_block_length",
                    format!(
                        "block of type 0x{block_type:08x} at offset {offset}: length {len} is not a multiple of 4 between 12 and {MAX_BLOCK}"
                    ),
                ));
                if is_packet {
                    self.frames = number;
                }
                self.resync(offset, anomalies);
                continue;
            }
            let avail = self.window.fill(len);
            if avail < len {
                anomalies.push(self.anomaly(
                    Severity::Damage,
                    frame_no,
                    offset,
                    "pcapng.truncated_block",
                    format!(
                        "block of type 0x{block_type:08x} at offset {offset}: claims {len} bytes, the file ends after {avail}"
                    ),
                ));
                if is_packet {
                    self.frames = number;
                }
                self.window.consume(avail);
                continue;
            }
            let trailing = self.u32_at(len - 4).unwrap_or(0) as usize;
            if trailing != len {
                anomalies.push(self.anomaly(
                    Severity::Damage,
                    frame_no,
                    offset,
                    "pcapng.block_lengths_disagree",
                    format!(
                        "block of type 0x{block_type:08x} at offset {offset}: leading length {len} and trailing length {trailing} disagree"
                    ),
                ));
                if is_packet {
                    self.frames = number;
                }
                self.resync(offset, anomalies);
                continue;
            }
            // Both lengths agree and the whole block is there.
            self.blocks += 1;
            self.complete_to = offset + len as u64;
            match block_type {
                SHB => {
                    self.read_section_header(len, offset, anomalies);
                    self.window.consume(len);
                }
                IDB => {
                    self.read_interface(len, offset, anomalies);
                    self.window.consume(len);
                }
                EPB | SPB | OBSOLETE_PB => {
                    self.frames = number;
                    match self.packet(block_type, len, number, offset) {
                        Ok((iface, ts, wire_len, start, caplen)) => {
                            self.window.consume(len);
                            let data = self.window.consumed_slice(len);
                            let data = data.get(start..start + caplen).unwrap_or(&[]);
                            return Some(Frame {
                                number,
                                offset,
                                ts,
                                link_type: iface.link_type,
                                wire_len,
                                data,
                            });
                        }
                        Err(a) => {
                            anomalies.push(a);
                            self.window.consume(len);
                        }
                    }
                }
                DSB => {
                    self.read_secrets(len, offset, anomalies);
                    self.window.consume(len);
                }
                t if QUIET.contains(&t) => self.window.consume(len),
                t => {
                    anomalies.push(self.anomaly(
                        Severity::Notice,
                        None,
                        offset,
                        "pcapng.unknown_block",
                        format!("block at offset {offset}: unknown block type 0x{t:08x} ({len} bytes) skipped"),
                    ));
                    self.window.consume(len);
                }
            }
        }
    }

    /// Decryption secrets collected since the last call, in file order.
    pub(crate) fn take_secrets(&mut self) -> Vec<super::DecryptionSecrets> {
        std::mem::take(&mut self.secrets)
    }

    /// A Decryption Secrets Block: secrets type (u32), secrets length (u32), the
    /// secrets, padding to 32 bits, options.
    fn read_secrets(&mut self, len: usize, offset: u64, anomalies: &mut Vec<Anomaly>) {
        let (Some(kind), Some(n)) = (self.u32_at(8), self.u32_at(12)) else {
            anomalies.push(self.anomaly(
                Severity::Damage,
                None,
                offset,
                "pcapng.bad_secrets_block",
                format!("decryption secrets block at offset {offset}: too short ({len} bytes)"),
            ));
            return;
        };
        let n = n as usize;
        let Some(data) = self
            .window
            .data()
            .get(16..16 + n)
            .filter(|_| 16 + n <= len - 4)
        else {
            anomalies.push(self.anomaly(
                Severity::Damage,
                None,
                offset,
                "pcapng.bad_secrets_block",
                format!("decryption secrets block at offset {offset}: secrets length {n} exceeds the block of {len} bytes"),
            ));
            return;
        };
        if self.secrets_bytes + n > MAX_SECRETS {
            anomalies.push(self.anomaly(
                Severity::Notice,
                None,
                offset,
                "pcapng.secrets_budget",
                format!("decryption secrets block at offset {offset}: more than {MAX_SECRETS} bytes of secrets in the file; this block's {n} bytes were not kept"),
            ));
            return;
        }
        self.secrets_bytes += n;
        let data = data.to_vec();
        self.secrets.push(super::DecryptionSecrets {
            offset,
            secrets_type: kind,
            data,
        });
    }

    fn read_section_header(&mut self, len: usize, offset: u64, anomalies: &mut Vec<Anomaly>) {
        let parsed = self
            .window
            .data()
            .get(..len)
            .map(parse_sectionheaderblock)
            .and_then(|r| r.ok())
            .map(|(_, shb)| (shb.major_version, shb.big_endian()));
        self.sections += 1;
        self.interfaces.clear();
        match parsed {
            Some((1, be)) => self.big_endian = be,
            Some((major, _)) => anomalies.push(self.anomaly(
                Severity::Damage,
                None,
                offset,
                "pcapng.unsupported_version",
                format!("section header at offset {offset}: major version {major}, expected 1"),
            )),
            None => anomalies.push(self.anomaly(
                Severity::Damage,
                None,
                offset,
                "pcapng.bad_section_header",
                format!("section header at offset {offset}: malformed ({len} bytes)"),
            )),
        }
    }

    fn read_interface(&mut self, len: usize, offset: u64, anomalies: &mut Vec<Anomaly>) {
        let slice = self.window.data().get(..len).unwrap_or(&[]);
        let parsed = if self.big_endian {
            parse_interfacedescriptionblock_be(slice)
        } else {
            parse_interfacedescriptionblock_le(slice)
        };
        let index = self.interfaces.len();
        let iface = match parsed {
            Ok((_, idb)) => {
                let units = ts_units(idb.if_tsresol);
                if units.is_none() {
                    anomalies.push(self.anomaly(
                        Severity::Damage,
                        None,
                        offset,
                        "pcapng.bad_tsresol",
                        format!(
                            "interface {index} at offset {offset}: if_tsresol 0x{:02x} is out of range; microseconds assumed",
                            idb.if_tsresol
                        ),
                    ));
                }
                Interface {
                    link_type: LinkType(u32::from(idb.linktype.0 as u16)),
                    units_per_sec: units.unwrap_or(1_000_000),
                    offset_secs: idb.if_tsoffset,
                    snaplen: idb.snaplen,
                }
            }
            Err(_) => {
                anomalies.push(self.anomaly(
                    Severity::Damage,
                    None,
                    offset,
                    "pcapng.bad_interface",
                    format!("interface {index} at offset {offset}: malformed interface description block; its packets are not analysed"),
                ));
                // Keep the index numbering right; packets on it decode as unknown.
                Interface {
                    link_type: LinkType(u32::MAX),
                    units_per_sec: 1_000_000,
                    offset_secs: 0,
                    snaplen: 0,
                }
            }
        };
        self.link_types.insert(iface.link_type);
        self.total_interfaces += 1;
        self.interfaces.push(iface);
    }

    /// Reads a packet block's header fields; returns the interface, timestamp, wire
    /// length, and the data's start and length within the block.
    #[allow(clippy::type_complexity)]
    fn packet(
        &self,
        block_type: u32,
        len: usize,
        number: u64,
        offset: u64,
    ) -> Result<(Interface, crate::model::Timestamp, u32, usize, usize), Anomaly> {
        let block = self.window.data().get(..len).unwrap_or(&[]);
        let bad = |code: &'static str, message: String| {
            self.anomaly(Severity::Damage, Some(number), offset, code, message)
        };
        let iface_of = |id: u32| {
            self.interfaces.get(id as usize).copied().ok_or_else(|| {
                bad(
                    "pcapng.unknown_interface",
                    format!(
                        "frame {number} at offset {offset}: interface {id} was not described in this section ({} interfaces)",
                        self.interfaces.len()
                    ),
                )
            })
        };
        match block_type {
            EPB => {
                let parsed = if self.big_endian {
                    parse_enhancedpacketblock_be(block)
                } else {
                    parse_enhancedpacketblock_le(block)
                };
                let (_, epb) = parsed.map_err(|_| {
                    bad(
                        "pcapng.bad_packet_block",
                        format!("frame {number} at offset {offset}: malformed enhanced packet block ({len} bytes)"),
                    )
                })?;
                let iface = iface_of(epb.if_id)?;
                let room = len.saturating_sub(32);
                let caplen = epb.caplen as usize;
                if caplen > room {
                    return Err(bad(
                        "pcapng.caplen_exceeds_block",
                        format!("frame {number} at offset {offset}: captured length {caplen} exceeds the block's room of {room} bytes"),
                    ));
                }
                let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                let ts = ts_from_units(raw, iface.units_per_sec, iface.offset_secs);
                Ok((iface, ts, epb.origlen.max(epb.caplen), 28, caplen))
            }
            OBSOLETE_PB => {
                // pcapng draft §4.7 (obsolete Packet Block): interface id (u16),
                // drops count (u16), timestamp high/low, caplen, origlen, data.
                let id = block.get(8..10).map(|b| {
                    if self.big_endian {
                        u16::from_be_bytes([b[0], b[1]])
                    } else {
                        u16::from_le_bytes([b[0], b[1]])
                    }
                });
                let (Some(id), Some(hi), Some(lo), Some(cap), Some(orig)) = (
                    id,
                    self.u32_at(12),
                    self.u32_at(16),
                    self.u32_at(20),
                    self.u32_at(24),
                ) else {
                    return Err(bad(
                        "pcapng.bad_packet_block",
                        format!("frame {number} at offset {offset}: packet block too short ({len} bytes)"),
                    ));
                };
                let iface = iface_of(u32::from(id))?;
                let room = len.saturating_sub(32);
                if cap as usize > room {
                    return Err(bad(
                        "pcapng.caplen_exceeds_block",
                        format!("frame {number} at offset {offset}: captured length {cap} exceeds the block's room of {room} bytes"),
                    ));
                }
                let raw = (u64::from(hi) << 32) | u64::from(lo);
                let ts = ts_from_units(raw, iface.units_per_sec, iface.offset_secs);
                Ok((iface, ts, orig.max(cap), 28, cap as usize))
            }
            _ => {
                let parsed = if self.big_endian {
                    parse_simplepacketblock_be(block)
                } else {
                    parse_simplepacketblock_le(block)
                };
                let (_, spb) = parsed.map_err(|_| {
                    bad(
                        "pcapng.bad_packet_block",
                        format!("frame {number} at offset {offset}: malformed simple packet block ({len} bytes)"),
                    )
                })?;
                // pcapng §4.4: a simple packet block belongs to interface 0 and holds
                // min(original length, snaplen) bytes; it has no timestamp.
                let iface = iface_of(0)?;
                let room = len.saturating_sub(16);
                let mut caplen = (spb.origlen as usize).min(room);
                if iface.snaplen != 0 {
                    caplen = caplen.min(iface.snaplen as usize);
                }
                Ok((
                    iface,
                    crate::model::Timestamp::default(),
                    spb.origlen,
                    12,
                    caplen,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ts_units;

    #[test]
    fn tsresol_decimal_and_binary_resolutions() {
        assert_eq!(ts_units(6), Some(1_000_000));
        assert_eq!(ts_units(9), Some(1_000_000_000));
        assert_eq!(ts_units(0x80 | 10), Some(1024));
        assert_eq!(ts_units(20), None);
        assert_eq!(ts_units(0x80 | 64), None);
    }
}
