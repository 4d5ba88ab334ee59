//! Classic pcap (libpcap) files: both byte orders, microsecond and nanosecond
//! timestamps, and the "modified" (Kuznetzov) variant with 24-byte record headers.

use super::MAX_RESYNC_SCAN;
use super::{end_of_stream, ts_from_units, Frame, LinkType, ReadSummary, Window, MAX_RECORD};
use crate::model::{Anomaly, Severity};
use pcap_parser::pcap::parse_pcap_header;

const FILE_HEADER_LEN: usize = 24;
/// Timestamps further apart than this from their neighbours do not look like records.
const WEEK: u32 = 7 * 86_400;
/// Largest original length a plausible record claims (jumbo frames, TSO segments).
const MAX_ORIGLEN: u32 = 16 << 20;

pub(crate) fn is_magic(m: [u8; 4]) -> bool {
    let le = u32::from_le_bytes(m);
    matches!(
        le,
        0xa1b2_c3d4 | 0xa1b2_3c4d | 0xa1b2_cd34 | 0xd4c3_b2a1 | 0x4d3c_b2a1 | 0x34cd_b2a1
    )
}

/// A record header as read, before any check.
#[derive(Clone, Copy, Debug)]
struct RecordHeader {
    ts_sec: u32,
    ts_frac: u32,
    caplen: u32,
    origlen: u32,
}

pub(crate) struct PcapReader {
    pub(crate) window: Window,
    capture: u32,
    big_endian: bool,
    /// Timestamp units per second: 10^6 or 10^9.
    units: u64,
    record_header_len: usize,
    link_type: LinkType,
    frames: u64,
    last_ts_sec: Option<u32>,
    done: bool,
}

/// A pcap file too short to hold its file header (the magic was read, the rest is
/// missing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("pcap file header: expected {FILE_HEADER_LEN} bytes, the file has {have}")]
pub struct ShortHeader {
    /// Bytes the file has.
    pub have: usize,
}

impl PcapReader {
    pub(crate) fn new(mut window: Window, capture: u32) -> Result<Self, ShortHeader> {
        let have = window.fill(FILE_HEADER_LEN);
        let header = match parse_pcap_header(window.data()) {
            Ok((_, h)) => h,
            Err(_) => return Err(ShortHeader { have }),
        };
        let magic = header.magic_number;
        let big_endian = header.is_bigendian();
        let nanos = header.is_nanosecond_precision();
        let modified = matches!(magic, 0xa1b2_cd34 | 0x34cd_b2a1);
        // LT_LINKTYPE(x): the low 16 bits; the high bits may carry FCS information.
        let link_type = LinkType((header.network.0 as u32) & 0xffff);
        window.consume(FILE_HEADER_LEN);
        Ok(PcapReader {
            window,
            capture,
            big_endian,
            units: if nanos { 1_000_000_000 } else { 1_000_000 },
            record_header_len: if modified { 24 } else { 16 },
            link_type,
            frames: 0,
            last_ts_sec: None,
            done: false,
        })
    }

    pub(crate) fn summary(&self) -> ReadSummary {
        ReadSummary {
            link_types: vec![self.link_type],
            sections: 1,
            interfaces: 1,
            ..ReadSummary::default()
        }
    }

    fn header_at(&self, at: usize) -> Option<RecordHeader> {
        let b = self.window.data().get(at..at + 16)?;
        let word = |i: usize| {
            let w = [b[i], b[i + 1], b[i + 2], b[i + 3]];
            if self.big_endian {
                u32::from_be_bytes(w)
            } else {
                u32::from_le_bytes(w)
            }
        };
        Some(RecordHeader {
            ts_sec: word(0),
            ts_frac: word(4),
            caplen: word(8),
            origlen: word(12),
        })
    }

    /// A strict check used to decide whether bytes look like the start of a record:
    /// lengths in range and consistent, the fraction below one second, and the time
    /// within a week of the last good record.
    /// A real frame has a non-zero original length, which also rules out the
    /// all-zero headers that padding and zero-filled regions look like.
    fn plausible(&self, h: RecordHeader) -> bool {
        (h.caplen as usize) <= MAX_RECORD
            && h.caplen <= h.origlen
            && (1..=MAX_ORIGLEN).contains(&h.origlen)
            && self.timely(h)
    }

    /// Whether a header's time looks like a record's (whatever its lengths say):
    /// the fraction below one second, within a week of the last good record.
    fn timely(&self, h: RecordHeader) -> bool {
        let near = match self.last_ts_sec {
            Some(last) => h.ts_sec.abs_diff(last) <= WEEK,
            None => true,
        };
        u64::from(h.ts_frac) < self.units && near
    }

    fn anomaly(
        &self,
        frame: Option<u64>,
        offset: u64,
        code: &'static str,
        message: String,
    ) -> Anomaly {
        Anomaly {
            capture: self.capture,
            frame,
            offset,
            severity: Severity::Damage,
            code,
            message,
        }
    }

    /// Skips forward, byte by byte, to the next offset where a plausible record is
    /// followed by another plausible record (or by the end of the file). Returns the
    /// number of bytes skipped, or `None` if no such place was found.
    fn resync(&mut self) -> Option<u64> {
        let hl = self.record_header_len;
        let mut skipped = 0u64;
        while skipped < MAX_RESYNC_SCAN {
            let avail = self.window.fill(hl + MAX_RECORD + hl);
            if avail < hl {
                return None;
            }
            if let Some(h) = self.header_at(0) {
                if self.plausible(h) {
                    let next = hl + h.caplen as usize;
                    // `fill` returns less than asked only at the end of the stream.
                    let ends_here = avail == next;
                    // The next header only needs a record's time: its own length
                    // may be the next lie, reported when it is reached.
                    let next_ok = self
                        .header_at(next)
                        .is_some_and(|n| self.timely(n) && n.ts_sec.abs_diff(h.ts_sec) <= WEEK);
                    if next_ok || ends_here {
                        return Some(skipped);
                    }
                }
            }
            self.window.consume(1);
            skipped += 1;
        }
        None
    }

    pub(crate) fn next(&mut self, anomalies: &mut Vec<Anomaly>) -> Option<Frame<'_>> {
        let hl = self.record_header_len;
        loop {
            if self.done {
                return None;
            }
            let offset = self.window.pos();
            let avail = self.window.fill(hl);
            if avail == 0 {
                self.done = true;
                end_of_stream(&mut self.window, self.capture, self.frames, anomalies);
                return None;
            }
            let number = self.frames + 1;
            let Some(h) = self.header_at(0).filter(|_| avail >= hl) else {
                anomalies.push(self.anomaly(
                    Some(number),
                    offset,
                    "pcap.truncated_header",
                    format!(
                        "frame {number} at offset {offset}: the file ends inside the record header (expected {hl} bytes, have {avail})"
                    ),
                ));
                self.window.consume(avail);
                continue;
            };
            if h.caplen as usize > MAX_RECORD {
                anomalies.push(self.anomaly(
                    Some(number),
                    offset,
                    "pcap.record_too_long",
                    format!(
                        "frame {number} at offset {offset}: record claims {} captured bytes, at most {MAX_RECORD} expected; skipping to the next plausible record",
                        h.caplen
                    ),
                ));
                self.frames = number;
                self.skip_damage(offset, anomalies);
                continue;
            }
            let total = hl + h.caplen as usize;
            let avail = self.window.fill(total + hl);
            if avail < total {
                anomalies.push(self.anomaly(
                    Some(number),
                    offset,
                    "pcap.truncated_record",
                    format!(
                        "frame {number} at offset {offset}: record claims {} captured bytes, the file ends after {}",
                        h.caplen,
                        avail - hl
                    ),
                ));
                self.frames = number;
                self.window.consume(avail);
                continue;
            }
            // A lying length shows as an implausible next header. If a plausible
            // record starts inside this one, this record's length is the lie. A file
            // that ends inside the next header says nothing about this record: the
            // cut is the next record's (its payload may hold header-like bytes, as
            // NFLOG's little-endian attributes do).
            let next_ok =
                avail < total + hl || self.header_at(total).is_some_and(|n| self.plausible(n));
            if !next_ok && self.record_inside(total) {
                anomalies.push(self.anomaly(
                    Some(number),
                    offset,
                    "pcap.record_length_mismatch",
                    format!(
                        "frame {number} at offset {offset}: record claims {} captured bytes, but no record follows there while one starts earlier; frame not analysed",
                        h.caplen
                    ),
                ));
                self.frames = number;
                self.window.consume(hl);
                self.skip_damage(offset, anomalies);
                continue;
            }
            if h.caplen > h.origlen {
                anomalies.push(Anomaly {
                    severity: Severity::Notice,
                    ..self.anomaly(
                        Some(number),
                        offset,
                        "pcap.caplen_exceeds_origlen",
                        format!(
                            "frame {number} at offset {offset}: captured length {} exceeds the original length {}",
                            h.caplen, h.origlen
                        ),
                    )
                });
            }
            self.frames = number;
            self.last_ts_sec = Some(h.ts_sec);
            let ts = ts_from_units(
                u64::from(h.ts_sec) * self.units + u64::from(h.ts_frac),
                self.units,
                0,
            );
            self.window.consume(total);
            let data = self.window.consumed_slice(h.caplen as usize);
            return Some(Frame {
                number,
                offset,
                ts,
                link_type: self.link_type,
                wire_len: h.origlen.max(h.caplen),
                data,
            });
        }
    }

    /// Whether a plausible pair of records starts strictly inside the record whose
    /// header is at the current position and which is `total` bytes long. Judged on
    /// the file, not on what happens to be read yet: all that a record inside this
    /// one could reach is read first.
    fn record_inside(&mut self, total: usize) -> bool {
        let hl = self.record_header_len;
        self.window.fill(total + 2 * hl + MAX_RECORD);
        (hl..total).any(|at| {
            self.header_at(at).is_some_and(|h| {
                self.plausible(h) && {
                    let next = at + hl + h.caplen as usize;
                    self.header_at(next).is_some_and(|n| self.plausible(n))
                }
            })
        })
    }

    fn skip_damage(&mut self, from: u64, anomalies: &mut Vec<Anomaly>) {
        match self.resync() {
            Some(_) => {
                let to = self.window.pos();
                anomalies.push(self.anomaly(
                    None,
                    from,
                    "pcap.resynchronised",
                    format!(
                        "skipped {} bytes from offset {from} to {to}, where the next plausible record starts",
                        to - from
                    ),
                ));
            }
            None => {
                let to = self.window.pos();
                anomalies.push(self.anomaly(
                    None,
                    from,
                    "pcap.unrecoverable",
                    format!(
                        "no plausible record found after offset {from} (searched up to offset {to}); the rest of the file was not analysed"
                    ),
                ));
                self.done = true;
            }
        }
    }
}
