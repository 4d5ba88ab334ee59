//! NetBIOS name service (RFC 1002 §4.2, UDP port 137): the names asked for and the
//! addresses answered for them.
//!
//! The message is framed like DNS, but its names are NetBIOS names in first-level
//! encoding (RFC 1001 §14.1): 16 bytes (15 characters padded with spaces and a suffix
//! byte saying what the name is: 0x00 workstation, 0x20 file server, 0x1b domain
//! master browser, ...), each byte as two letters `A`..`P`, in one 32-byte label,
//! optionally followed by a scope. Answers of type NB carry a list of (flags, IPv4
//! address); answers of type NBSTAT (a node status response, §4.2.18) list the
//! names the answering node holds, each 16 raw bytes and 2 bytes of flags. Names
//! are shown as tshark shows them: `NAME<xx>`, then `.scope`.
//!
//! Contract on bad input: never panics; at most [`MAX_RECORDS`] records are read and
//! compression pointers are followed only backwards, so a loop cannot hang.

use super::WireString;
use serde::Serialize;
use std::net::Ipv4Addr;

pub const PORT: u16 = 137;
/// Questions plus answers read from one message; the rest are ignored.
pub const MAX_RECORDS: usize = 64;
/// Type NB (RFC 1002 §4.2.1.3).
const TYPE_NB: u16 = 0x20;
/// Type NBSTAT (RFC 1002 §4.2.18).
const TYPE_NBSTAT: u16 = 0x21;

/// A decoded NetBIOS name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NbName {
    /// `NAME<xx>` (and `.scope`), as tshark's `nbns.name`.
    pub name: WireString,
    /// The 15 name characters without their padding.
    pub netbios: WireString,
    /// The 16th byte: what kind of name it is.
    pub suffix: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NbAnswer {
    #[serde(flatten)]
    pub name: NbName,
    pub rtype: u16,
    pub ttl: u32,
    /// NB answers: the addresses that hold the name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Ipv4Addr>,
    /// NBSTAT answers: the names the answering node holds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub node_names: Vec<NodeName>,
}

/// A name of a node status response's name table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeName {
    #[serde(flatten)]
    pub name: NbName,
    /// A group name (a workgroup, say), not one unique to the node.
    pub group: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NbnsMessage {
    pub id: u16,
    pub is_response: bool,
    /// 0 query, 5 registration, 6 release, 7 WACK, 8 refresh.
    pub opcode: u8,
    pub rcode: u8,
    pub questions: Vec<NbName>,
    /// Answer and additional records (registrations carry theirs as additional).
    pub answers: Vec<NbAnswer>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NbnsError {
    #[error("NetBIOS name service message cut short at byte {at} (of {len})")]
    Short { at: usize, len: usize },
    #[error("NetBIOS name at byte {at} is not first-level encoded")]
    BadName { at: usize },
}

fn be16(b: &[u8], at: usize) -> Result<u16, NbnsError> {
    match b.get(at..at + 2) {
        Some(v) => Ok(u16::from_be_bytes([v[0], v[1]])),
        None => Err(NbnsError::Short { at, len: b.len() }),
    }
}

/// Reads the name at `at`: the decoded name and where the record goes on.
fn name(b: &[u8], at: usize) -> Result<(NbName, usize), NbnsError> {
    let short = |at| NbnsError::Short { at, len: b.len() };
    let mut pos = at;
    let mut end = None;
    let mut labels: Vec<&[u8]> = Vec::new();
    for _ in 0..64 {
        let len = *b.get(pos).ok_or(short(pos))?;
        match len {
            0 => {
                end.get_or_insert(pos + 1);
                break;
            }
            0xc0..=0xff => {
                let target = usize::from(be16(b, pos)? & 0x3fff);
                end.get_or_insert(pos + 2);
                // Only backwards: no loop.
                if target >= pos {
                    return Err(NbnsError::BadName { at: pos });
                }
                pos = target;
            }
            1..=63 => {
                let label = b
                    .get(pos + 1..pos + 1 + usize::from(len))
                    .ok_or(short(pos))?;
                labels.push(label);
                pos += 1 + usize::from(len);
            }
            _ => return Err(NbnsError::BadName { at: pos }),
        }
    }
    let (Some(end), Some(first)) = (end, labels.first()) else {
        return Err(NbnsError::BadName { at });
    };
    if first.len() != 32 || !first.iter().all(|c| (b'A'..=b'P').contains(c)) {
        return Err(NbnsError::BadName { at });
    }
    let mut raw = [0u8; 16];
    for (r, p) in raw.iter_mut().zip(first.chunks(2)) {
        *r = ((p[0] - b'A') << 4) | (p[1] - b'A');
    }
    Ok((decoded(&raw, &labels[1..]), end))
}

/// A name of 16 raw bytes (15 characters and the suffix), with its scope labels.
fn decoded(raw: &[u8; 16], scope: &[&[u8]]) -> NbName {
    let suffix = raw[15];
    let mut netbios = raw[..15].to_vec();
    while netbios.last() == Some(&b' ') {
        netbios.pop();
    }
    // As tshark shows it: a byte that is not printable as `<xx>`.
    let mut shown = Vec::new();
    for &c in &netbios {
        if c.is_ascii_graphic() || c == b' ' {
            shown.push(c);
        } else {
            shown.extend(format!("<{c:02x}>").bytes());
        }
    }
    shown.extend(format!("<{suffix:02x}>").bytes());
    for l in scope {
        shown.push(b'.');
        shown.extend_from_slice(l);
    }
    NbName {
        name: WireString(shown),
        netbios: WireString(netbios),
        suffix,
    }
}

/// The name table of an NBSTAT answer: a count, then 18 bytes a name (at most 255,
/// within the record's data). The statistics after it are not read.
fn node_names(rdata: &[u8], at: usize, len: usize) -> Result<Vec<NodeName>, NbnsError> {
    let Some((&n, table)) = rdata.split_first() else {
        return Err(NbnsError::Short { at, len });
    };
    let mut names = Vec::with_capacity(usize::from(n));
    for i in 0..usize::from(n) {
        let Some(e) = table.get(18 * i..18 * i + 18) else {
            return Err(NbnsError::Short {
                at: at + 1 + 18 * i,
                len,
            });
        };
        let mut raw = [0u8; 16];
        raw.copy_from_slice(&e[..16]);
        names.push(NodeName {
            name: decoded(&raw, &[]),
            group: e[16] & 0x80 != 0,
        });
    }
    Ok(names)
}

/// Parses one NBNS datagram.
pub fn parse(b: &[u8]) -> Result<NbnsMessage, NbnsError> {
    let flags = be16(b, 2)?;
    let counts = [be16(b, 4)?, be16(b, 6)?, be16(b, 8)?, be16(b, 10)?];
    let mut m = NbnsMessage {
        id: be16(b, 0)?,
        is_response: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0xf) as u8,
        rcode: (flags & 0xf) as u8,
        questions: Vec::new(),
        answers: Vec::new(),
    };
    let mut pos = 12;
    let mut read = 0;
    for _ in 0..counts[0] {
        if read == MAX_RECORDS {
            return Ok(m);
        }
        let (n, next) = name(b, pos)?;
        be16(b, next + 2)?;
        pos = next + 4;
        m.questions.push(n);
        read += 1;
    }
    let records = usize::from(counts[1]) + usize::from(counts[2]) + usize::from(counts[3]);
    for _ in 0..records {
        if read == MAX_RECORDS {
            break;
        }
        let (n, next) = name(b, pos)?;
        let rtype = be16(b, next)?;
        let ttl = u32::from(be16(b, next + 4)?) << 16 | u32::from(be16(b, next + 6)?);
        let rdlen = usize::from(be16(b, next + 8)?);
        let rdata = b
            .get(next + 10..next + 10 + rdlen)
            .ok_or(NbnsError::Short {
                at: next + 10,
                len: b.len(),
            })?;
        let (mut addresses, mut names) = (Vec::new(), Vec::new());
        match rtype {
            TYPE_NB => {
                addresses = rdata
                    .chunks_exact(6)
                    .map(|e| Ipv4Addr::new(e[2], e[3], e[4], e[5]))
                    .collect()
            }
            TYPE_NBSTAT if m.is_response => names = node_names(rdata, next + 10, b.len())?,
            _ => {}
        }
        pos = next + 10 + rdlen;
        m.answers.push(NbAnswer {
            name: n,
            rtype,
            ttl,
            addresses,
            node_names: names,
        });
        read += 1;
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `WHOHOSTS<20>` in first-level encoding.
    fn encoded() -> Vec<u8> {
        let mut raw = *b"WHOHOSTS       \x20";
        raw[15] = 0x20;
        let mut out = vec![32];
        for c in raw {
            out.push(b'A' + (c >> 4));
            out.push(b'A' + (c & 0xf));
        }
        out.push(0);
        out
    }

    #[test]
    fn a_positive_answer_binds_the_decoded_name_to_its_address() {
        let mut b = vec![0x12, 0x34, 0x85, 0x00, 0, 0, 0, 1, 0, 0, 0, 0];
        b.extend(encoded());
        b.extend([0, 0x20, 0, 1, 0, 0, 0x0e, 0x10, 0, 6, 0, 0, 10, 0, 0, 7]);
        let m = parse(&b).unwrap();
        assert!(m.is_response);
        let a = &m.answers[0];
        assert_eq!(a.name.name, "WHOHOSTS<20>".into());
        assert_eq!(a.name.netbios, "WHOHOSTS".into());
        assert_eq!(a.addresses, vec![Ipv4Addr::new(10, 0, 0, 7)]);
        for cut in 0..b.len() {
            assert!(parse(&b[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn a_node_status_answer_lists_the_nodes_names() {
        // Response, authoritative; one NBSTAT answer for `*`.
        let mut b = vec![0x46, 0xf6, 0x84, 0x00, 0, 0, 0, 1, 0, 0, 0, 0, 32];
        b.extend(b"CK".iter().chain([b'A'; 30].iter()));
        b.extend([0, 0, 0x21, 0, 1, 0, 0, 0, 0]);
        let mut rdata = vec![3];
        rdata.extend(b"PIRATEBOX      \x20\x64\x00");
        rdata.extend(b"MTR            \x00\xe4\x00");
        rdata.extend(b"BAD\x01           \x03\x64\x00");
        rdata.extend([0; 46]);
        b.extend((rdata.len() as u16).to_be_bytes());
        b.extend(&rdata);
        let m = parse(&b).unwrap();
        let names: Vec<(String, bool)> = m.answers[0]
            .node_names
            .iter()
            .map(|n| (n.name.name.to_string(), n.group))
            .collect();
        assert_eq!(
            names,
            [
                ("PIRATEBOX<20>".to_string(), false),
                ("MTR<00>".to_string(), true),
                ("BAD<01><03>".to_string(), false)
            ]
        );
        // A table longer than its record is cut short, wherever it is cut.
        let at = b.len() - rdata.len();
        for cut in at..at + 1 + 3 * 18 {
            let mut short = b[..cut].to_vec();
            short[at - 2..at].copy_from_slice(&((cut - at) as u16).to_be_bytes());
            assert!(parse(&short).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn a_pointer_forward_or_to_itself_is_an_error() {
        let mut b = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        b.extend([0xc0, 12, 0, 0x20, 0, 1]);
        assert!(parse(&b).is_err());
    }
}
