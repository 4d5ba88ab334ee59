//! dissect::quic: the ClientHello inside QUIC Initial packets, versions 1 (RFC 9000,
//! RFC 9001) and 2 (RFC 9369), and the IETF drafts 22 to 32 that clients shipped
//! before them (their own initial salts, v1's labels and packet types).
//!
//! Initial packets are protected with keys anyone can derive from the Destination
//! Connection ID of the client's first Initial (RFC 9001 §5.2), so a passive observer
//! can read them: remove header protection (§5.4, AES-ECB mask over a 16-byte sample),
//! decrypt the payload (AES-128-GCM, nonce = IV xor packet number, §5.3), then collect
//! CRYPTO frames (RFC 9000 §19.6) by offset across packets, coalesced packets of one
//! datagram (§12.2) and datagrams, until the ClientHello handshake message is whole.
//! PADDING, PING and ACK frames are skipped. The ClientHello is read by
//! [`crate::dissect::tls::parse_handshake`], with JA4 protocol `q`.
//!
//! Contract on bad input: never panics; CRYPTO data is held up to [`CRYPTO_CAP`] bytes
//! and [`MAX_FRAGMENTS`] out-of-order pieces; anything else is an error value.

use super::ja4::Transport;
use super::tls::{self, ClientHelloInfo, Handshake};
use super::Reader;
use ring::aead::{self, quic as rquic, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf;
use serde::Serialize;

pub(crate) const QUIC_V1: u32 = 0x0000_0001;
/// RFC 9369 §3.1.
pub(crate) const QUIC_V2: u32 = 0x6b33_43cf;

/// RFC 9001 §5.2: initial salt for QUIC v1.
const INITIAL_SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
/// RFC 9369 §3.3.1: initial salt for QUIC v2.
const INITIAL_SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb,
    0xf9, 0xbd, 0x2e, 0xd9,
];
/// draft-ietf-quic-tls-22 §5.2: initial salt of draft 22 (version 0xff000016).
const INITIAL_SALT_DRAFT_22: [u8; 20] = [
    0x7f, 0xbc, 0xdb, 0x0e, 0x7c, 0x66, 0xbb, 0xe9, 0x19, 0x3a, 0x96, 0xcd, 0x21, 0x51, 0x9e, 0xbd,
    0x7a, 0x02, 0x64, 0x4a,
];
/// draft-ietf-quic-tls-23 §5.2: initial salt of drafts 23 to 28.
const INITIAL_SALT_DRAFT_23: [u8; 20] = [
    0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65,
    0xbe, 0xf9, 0xf5, 0x02,
];
/// draft-ietf-quic-tls-29 §5.2: initial salt of drafts 29 to 32 (draft 29 was what
/// browsers and many libraries shipped before RFC 9000).
const INITIAL_SALT_DRAFT_29: [u8; 20] = [
    0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0,
    0x43, 0x90, 0xa8, 0x99,
];

/// Google's QUIC versions with TLS 1.3 (T050, T051; Chrome 2020): the IETF long
/// header and packet protection with salts of their own, gQUIC's frames.
const GOOGLE_T050: u32 = 0x5430_3530;
const GOOGLE_T051: u32 = 0x5430_3531;
/// Initial salts of T050 and T051, as Chromium (quic_crypto_utils) and tshark use them.
const INITIAL_SALT_T050: [u8; 20] = [
    0x7f, 0xf5, 0x79, 0xe5, 0xac, 0xd0, 0x72, 0x91, 0x55, 0x80, 0x30, 0x4c, 0x43, 0xa2, 0x36, 0x7c,
    0x60, 0x48, 0x83, 0x10,
];
const INITIAL_SALT_T051: [u8; 20] = [
    0x7a, 0x4e, 0xde, 0xf4, 0xe7, 0xcc, 0xee, 0x5f, 0xa4, 0x50, 0x6c, 0x19, 0x12, 0x4f, 0xc8, 0xcc,
    0xda, 0x6e, 0x03, 0x3d,
];

/// Whether `version` carries gQUIC's frames in IETF-protected packets (T05x).
fn google_frames(version: u32) -> bool {
    matches!(version, GOOGLE_T050 | GOOGLE_T051)
}

/// How `version` protects its Initial packets: its initial salt, and whether it
/// uses v2's labels and long packet types (RFC 9369). `None` for a version whose
/// Initial packets are not read (gQUIC's own crypto, as Q050's; unassigned
/// versions).
fn protection(version: u32) -> Option<(&'static [u8; 20], bool)> {
    match version {
        QUIC_V1 => Some((&INITIAL_SALT_V1, false)),
        QUIC_V2 => Some((&INITIAL_SALT_V2, true)),
        // The IETF drafts' versions, 0xff000000 + the draft's number.
        0xff00_0016 => Some((&INITIAL_SALT_DRAFT_22, false)),
        0xff00_0017..=0xff00_001c => Some((&INITIAL_SALT_DRAFT_23, false)),
        0xff00_001d..=0xff00_0020 => Some((&INITIAL_SALT_DRAFT_29, false)),
        // Facebook's mvfst (its apps and servers): versions built on draft 22, and
        // on draft 27 (0xfaceb002, and 0xfaceb00e, its experimental one). tshark
        // reads them so.
        0xface_b001 => Some((&INITIAL_SALT_DRAFT_22, false)),
        0xface_b002 | 0xface_b00e => Some((&INITIAL_SALT_DRAFT_23, false)),
        GOOGLE_T050 => Some((&INITIAL_SALT_T050, false)),
        GOOGLE_T051 => Some((&INITIAL_SALT_T051, false)),
        // RFC 9000 §15: versions 0x?a?a?a?a are reserved, sent to make the server
        // negotiate. tshark reads their Initials as draft 29's, the version of the
        // interop tests that sent them; a wrong guess reads nothing (the AEAD tag
        // fails, and the packet is said to be undecryptable).
        v if v & 0x0f0f_0f0f == 0x0a0a_0a0a => Some((&INITIAL_SALT_DRAFT_29, false)),
        _ => None,
    }
}

/// Most CRYPTO bytes collected per connection (a post-quantum ClientHello is ~2 KiB).
pub(crate) const CRYPTO_CAP: usize = 16 * 1024;
/// Out-of-order CRYPTO pieces held per connection.
pub(crate) const MAX_FRAGMENTS: usize = 32;
/// RFC 9000 §17.2: connection IDs are at most 20 bytes in v1 and v2.
const MAX_CID_LEN: usize = 20;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuicError {
    #[error("not a QUIC v1/v2 long-header packet")]
    NotInitial,
    #[error("truncated QUIC {what} at byte {offset}")]
    Truncated { what: &'static str, offset: usize },
    #[error("QUIC connection ID of {len} bytes exceeds {MAX_CID_LEN}")]
    ConnectionIdTooLong { len: usize },
    #[error("QUIC Initial packet number {packet_number} does not decrypt (AEAD tag mismatch)")]
    Decrypt { packet_number: u64 },
    #[error("frame type {frame_type:#x} is not allowed in an Initial packet")]
    UnexpectedFrame { frame_type: u64 },
    #[error("CRYPTO data beyond the {cap}-byte cap (offset {offset})")]
    CryptoCap { offset: u64, cap: usize },
    #[error("ClientHello in CRYPTO frames: {0}")]
    Tls(#[from] tls::TlsError),
}

/// The cleartext long header of an Initial packet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InitialHeader {
    pub version: u32,
    pub dcid: Vec<u8>,
    pub scid: Vec<u8>,
}

/// A ClientHello read from a connection's Initial packets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuicClientHello {
    pub version: u32,
    /// The client's original Destination Connection ID, hex.
    pub dcid: String,
    /// The client's Source Connection ID, hex.
    pub scid: String,
    pub hello: ClientHelloInfo,
    /// Frames whose datagrams carried the CRYPTO bytes, in arrival order.
    pub frames: Vec<u64>,
}

use crate::hash::hex;

/// May this client datagram open a QUIC connection? Its first packet is a long-header
/// Initial or 0-RTT packet of a version whose Initials can be read: a resuming client
/// may send 0-RTT packets first when the network reorders them (RFC 9001 §4.6.1).
pub fn may_open(datagram: &[u8]) -> bool {
    long_header(datagram).is_ok_and(|(h, _)| matches!(h.kind, Kind::Initial | Kind::ZeroRtt))
}

/// A long header packet's type (RFC 9000 §17.2), whatever the version numbers it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Initial,
    /// Early data a resuming client may send before, or coalesced with, its Initial.
    ZeroRtt,
    Handshake,
    Retry,
}

struct LongHeader<'a> {
    version: u32,
    kind: Kind,
    dcid: &'a [u8],
    scid: &'a [u8],
}

fn cid<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], QuicError> {
    let at = r.pos();
    let len = usize::from(r.u8().ok_or(QuicError::Truncated {
        what: "connection ID length",
        offset: at,
    })?);
    if len > MAX_CID_LEN {
        return Err(QuicError::ConnectionIdTooLong { len });
    }
    r.take(len).ok_or(QuicError::Truncated {
        what: "connection ID",
        offset: at,
    })
}

/// RFC 9000 §17.2 long header up to the connection IDs; answers the reader after them.
fn long_header(p: &[u8]) -> Result<(LongHeader<'_>, Reader<'_>), QuicError> {
    let mut r = Reader::new(p);
    let first = r.u8().ok_or(QuicError::NotInitial)?;
    if first & 0x80 == 0 {
        return Err(QuicError::NotInitial);
    }
    let version = r.u32().ok_or(QuicError::NotInitial)?;
    let v2 = protection(version).ok_or(QuicError::NotInitial)?.1;
    // RFC 9369 §3.2: v2 renumbers the long packet types, one up (Retry last).
    let kinds = [Kind::Initial, Kind::ZeroRtt, Kind::Handshake, Kind::Retry];
    let kind = kinds[(usize::from((first >> 4) & 0x03) + if v2 { 3 } else { 0 }) % 4];
    let dcid = cid(&mut r)?;
    let scid = cid(&mut r)?;
    Ok((
        LongHeader {
            version,
            kind,
            dcid,
            scid,
        },
        r,
    ))
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// RFC 8446 §7.1 HKDF-Expand-Label with an empty context, as RFC 9001 §5.1 uses it.
fn expand_label(prk: &hkdf::Prk, label: &[u8], out: &mut [u8]) -> Option<()> {
    let len = u16::try_from(out.len()).ok()?.to_be_bytes();
    let label_len = [u8::try_from(6 + label.len()).ok()?];
    let info: [&[u8]; 5] = [&len, &label_len, b"tls13 ", label, &[0]];
    prk.expand(&info, Len(out.len())).ok()?.fill(out).ok()
}

/// The Initial packet protection keys of one direction (RFC 9001 §5.2).
pub(crate) struct InitialKeys {
    key: LessSafeKey,
    iv: [u8; 12],
    hp: rquic::HeaderProtectionKey,
    /// Raw key material, for the tests against the RFC vectors.
    #[cfg(test)]
    raw: ([u8; 16], [u8; 12], [u8; 16]),
}

impl std::fmt::Debug for InitialKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InitialKeys(..)")
    }
}

impl InitialKeys {
    /// Derives the client's (`client == true`) or server's Initial keys for `version`
    /// from the client's original Destination Connection ID. `None` for other versions.
    pub(crate) fn derive(version: u32, dcid: &[u8], client: bool) -> Option<InitialKeys> {
        let (salt, v2) = protection(version)?;
        let labels: [&[u8]; 3] = if v2 {
            // RFC 9369 §3.3.2: v2 labels.
            [b"quicv2 key", b"quicv2 iv", b"quicv2 hp"]
        } else {
            [b"quic key", b"quic iv", b"quic hp"]
        };
        let initial = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(dcid);
        let mut secret = [0u8; 32];
        let side: &[u8] = if client { b"client in" } else { b"server in" };
        expand_label(&initial, side, &mut secret)?;
        let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, &secret);
        let mut key = [0u8; 16];
        let mut iv = [0u8; 12];
        let mut hp = [0u8; 16];
        expand_label(&prk, labels[0], &mut key)?;
        expand_label(&prk, labels[1], &mut iv)?;
        expand_label(&prk, labels[2], &mut hp)?;
        Some(InitialKeys {
            key: LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &key).ok()?),
            iv,
            hp: rquic::HeaderProtectionKey::new(&rquic::AES_128, &hp).ok()?,
            #[cfg(test)]
            raw: (key, iv, hp),
        })
    }

    /// (key, iv, hp) bytes.
    #[cfg(test)]
    fn material(&self) -> ([u8; 16], [u8; 12], [u8; 16]) {
        self.raw
    }
}

/// Decrypts one Initial packet at the start of `p`; answers the plaintext payload and
/// the packet's total length (to find the next coalesced packet).
fn open_initial(p: &[u8], keys: &InitialKeys) -> Result<(Vec<u8>, usize), QuicError> {
    let (_, mut r) = long_header(p)?;
    let at = r.pos();
    let token_len = r.varint().ok_or(QuicError::Truncated {
        what: "token length",
        offset: at,
    })?;
    let token_len = usize::try_from(token_len).map_err(|_| QuicError::Truncated {
        what: "token",
        offset: at,
    })?;
    r.take(token_len).ok_or(QuicError::Truncated {
        what: "token",
        offset: at,
    })?;
    let at = r.pos();
    let length = r
        .varint()
        .and_then(|l| usize::try_from(l).ok())
        .ok_or(QuicError::Truncated {
            what: "length",
            offset: at,
        })?;
    let pn_offset = r.pos();
    let end = pn_offset
        .checked_add(length)
        .filter(|e| *e <= p.len())
        .ok_or(QuicError::Truncated {
            what: "packet payload",
            offset: pn_offset,
        })?;
    // RFC 9001 §5.4.2: the sample starts 4 bytes after the packet number's start.
    let sample = p
        .get(pn_offset + 4..pn_offset + 20)
        .ok_or(QuicError::Truncated {
            what: "header protection sample",
            offset: pn_offset,
        })?;
    let mask = keys.hp.new_mask(sample).map_err(|_| QuicError::Truncated {
        what: "header protection sample",
        offset: pn_offset,
    })?;
    let mut header = p.get(..pn_offset).unwrap_or(&[]).to_vec();
    let first = header.first_mut().ok_or(QuicError::NotInitial)?;
    // §5.4.1: long headers protect the low 4 bits of the first byte.
    *first ^= mask[0] & 0x0f;
    let pn_len = usize::from(*first & 0x03) + 1;
    let pn_bytes = p
        .get(pn_offset..pn_offset + pn_len)
        .filter(|_| pn_offset + pn_len <= end)
        .ok_or(QuicError::Truncated {
            what: "packet number",
            offset: pn_offset,
        })?;
    let mut pn: u64 = 0;
    for (i, b) in pn_bytes.iter().enumerate() {
        let m = mask.get(1 + i).copied().unwrap_or(0);
        let clear = b ^ m;
        header.push(clear);
        pn = (pn << 8) | u64::from(clear);
    }
    let mut nonce = keys.iv;
    for (n, b) in nonce.iter_mut().rev().zip(pn.to_be_bytes().iter().rev()) {
        *n ^= b;
    }
    let mut payload = p.get(pn_offset + pn_len..end).unwrap_or(&[]).to_vec();
    let plain_len = keys
        .key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&header[..]),
            &mut payload,
        )
        .map_err(|_| QuicError::Decrypt { packet_number: pn })?
        .len();
    payload.truncate(plain_len);
    Ok((payload, end))
}

/// Collects the client's CRYPTO stream of one QUIC connection until its ClientHello
/// is whole. Keep one per client UDP flow (or per original DCID).
#[derive(Debug, Default)]
pub struct QuicConnection {
    header: Option<InitialHeader>,
    keys: Option<InitialKeys>,
    crypto: Vec<u8>,
    held: Vec<(u64, Vec<u8>)>,
    frames: Vec<u64>,
    /// Datagrams read before the first Initial (0-RTT packets that overtook it).
    before_initial: usize,
    done: bool,
}

/// Datagrams a connection may open with before its first Initial; past them it is
/// given up (a flow of 0-RTT look-alikes keeps no state for long).
const MAX_BEFORE_INITIAL: usize = 16;

impl QuicConnection {
    pub fn new() -> Self {
        QuicConnection::default()
    }

    /// The ClientHello has been reported (or the connection gave up): later datagrams
    /// are ignored.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Feeds one client-to-server datagram seen in `frame`. Answers the ClientHello
    /// once it is whole, `Ok(None)` while more is needed or when nothing here is ours.
    pub fn push_client_datagram(
        &mut self,
        datagram: &[u8],
        frame: u64,
    ) -> Result<Option<QuicClientHello>, QuicError> {
        if self.done {
            return Ok(None);
        }
        let mut rest = datagram;
        let mut contributed = false;
        // RFC 9000 §12.2: several long-header packets may be coalesced in one datagram.
        while !rest.is_empty() {
            let Ok((h, _)) = long_header(rest) else {
                break; // a short-header packet or padding: nothing more to read
            };
            if h.kind != Kind::Initial {
                match skip_long_packet(rest) {
                    Some(n) => {
                        rest = rest.get(n..).unwrap_or(&[]);
                        continue;
                    }
                    None => break,
                }
            }
            if self.header.is_none() {
                self.header = Some(InitialHeader {
                    version: h.version,
                    dcid: h.dcid.to_vec(),
                    scid: h.scid.to_vec(),
                });
                self.keys = InitialKeys::derive(h.version, h.dcid, true);
            }
            let opened = match &self.keys {
                Some(k) => open_initial(rest, k),
                None => return Err(QuicError::NotInitial),
            };
            let (plain, len) = match opened {
                Ok(x) => x,
                Err(QuicError::Decrypt { .. }) => {
                    // After a Retry the client derives new keys from the DCID the server
                    // chose (RFC 9001 §5.2); try the packet's own DCID once.
                    let k = InitialKeys::derive(h.version, h.dcid, true)
                        .ok_or(QuicError::NotInitial)?;
                    let x = open_initial(rest, &k)?;
                    self.keys = Some(k);
                    x
                }
                Err(e) => return Err(e),
            };
            let crypto = if google_frames(h.version) {
                self.google_frames_of(&plain)?
            } else {
                self.frames_of(&plain)?
            };
            contributed |= crypto;
            rest = rest.get(len..).unwrap_or(&[]);
        }
        if contributed && !self.frames.contains(&frame) {
            self.frames.push(frame);
        }
        if self.header.is_none() {
            self.before_initial += 1;
            if self.before_initial >= MAX_BEFORE_INITIAL {
                self.done = true;
                return Ok(None);
            }
        }
        self.client_hello()
    }

    /// Reads the frames of one decrypted Initial payload; answers whether CRYPTO data
    /// was among them.
    fn frames_of(&mut self, plain: &[u8]) -> Result<bool, QuicError> {
        let mut r = Reader::new(plain);
        let mut crypto = false;
        while !r.is_empty() {
            let at = r.pos();
            let trunc = QuicError::Truncated {
                what: "frame",
                offset: at,
            };
            let t = r.varint().ok_or(trunc.clone())?;
            match t {
                0x00 | 0x01 => {} // PADDING, PING
                0x02 | 0x03 => {
                    // ACK (RFC 9000 §19.3): largest, delay, range count, first range,
                    // then (gap, length) pairs, then ECN counts for 0x03.
                    let _largest = r.varint().ok_or(trunc.clone())?;
                    let _delay = r.varint().ok_or(trunc.clone())?;
                    let count = r.varint().ok_or(trunc.clone())?;
                    let _first = r.varint().ok_or(trunc.clone())?;
                    for _ in 0..count {
                        r.varint().ok_or(trunc.clone())?;
                        r.varint().ok_or(trunc.clone())?;
                    }
                    if t == 0x03 {
                        for _ in 0..3 {
                            r.varint().ok_or(trunc.clone())?;
                        }
                    }
                }
                0x06 => {
                    self.crypto_frame(&mut r, trunc)?;
                    crypto = true;
                }
                0x1c => {
                    // CONNECTION_CLOSE: error code, frame type, reason.
                    r.varint().ok_or(trunc.clone())?;
                    r.varint().ok_or(trunc.clone())?;
                    let n = r
                        .varint()
                        .and_then(|l| usize::try_from(l).ok())
                        .ok_or(trunc.clone())?;
                    r.take(n).ok_or(trunc)?;
                }
                other => return Err(QuicError::UnexpectedFrame { frame_type: other }),
            }
        }
        Ok(crypto)
    }

    /// [`Self::frames_of`] for gQUIC's frames (T050, T051): CRYPTO is 0x08 (offset
    /// and length as variable-length integers), ACK 0x40 to 0x7f with its fields'
    /// widths in its type byte, PING 0x07, and PADDING (0x00) fills the rest.
    fn google_frames_of(&mut self, plain: &[u8]) -> Result<bool, QuicError> {
        let mut r = Reader::new(plain);
        let mut crypto = false;
        while let Some(t) = r.u8() {
            let trunc = QuicError::Truncated {
                what: "frame",
                offset: r.pos() - 1,
            };
            match t {
                0x00 => break,
                0x07 => {}
                0x08 => {
                    self.crypto_frame(&mut r, trunc)?;
                    crypto = true;
                }
                0x40..=0x7f => {
                    // 01ntllmm: n, ranges follow; ll and mm, the widths of the largest
                    // acknowledged packet number and of the block lengths (1, 2, 4, 6).
                    let width = |bits: u8| [1, 2, 4, 6][usize::from(bits & 3)];
                    let (largest, block) = (width(t >> 2), width(t));
                    let ranges = t & 0x20 != 0;
                    r.take(largest + 2).ok_or(trunc.clone())?; // + ack delay
                    let blocks = if ranges {
                        r.u8().ok_or(trunc.clone())?
                    } else {
                        0
                    };
                    r.take(block).ok_or(trunc.clone())?;
                    for _ in 0..blocks {
                        r.take(1 + block).ok_or(trunc.clone())?;
                    }
                    let stamps = usize::from(r.u8().ok_or(trunc.clone())?);
                    if stamps > 0 {
                        r.take(5 + (stamps - 1) * 3).ok_or(trunc)?;
                    }
                }
                other => {
                    return Err(QuicError::UnexpectedFrame {
                        frame_type: u64::from(other),
                    })
                }
            }
        }
        Ok(crypto)
    }

    /// A CRYPTO frame after its type (IETF 0x06, gQUIC 0x08 alike): offset and
    /// length as variable-length integers, then the data, added to the handshake.
    fn crypto_frame(&mut self, r: &mut Reader<'_>, trunc: QuicError) -> Result<(), QuicError> {
        let offset = r.varint().ok_or(trunc.clone())?;
        let len = r
            .varint()
            .and_then(|l| usize::try_from(l).ok())
            .ok_or(trunc.clone())?;
        let data = r.take(len).ok_or(trunc)?;
        self.add_crypto(offset, data)
    }

    fn add_crypto(&mut self, offset: u64, data: &[u8]) -> Result<(), QuicError> {
        let end = offset.saturating_add(data.len() as u64);
        if end > CRYPTO_CAP as u64 {
            return Err(QuicError::CryptoCap {
                offset,
                cap: CRYPTO_CAP,
            });
        }
        let have = self.crypto.len() as u64;
        if end <= have {
            return Ok(()); // retransmitted CRYPTO data
        }
        if offset > have {
            if self.held.len() < MAX_FRAGMENTS {
                self.held.push((offset, data.to_vec()));
            }
            return Ok(());
        }
        let skip = usize::try_from(have - offset).unwrap_or(usize::MAX);
        self.crypto
            .extend_from_slice(data.get(skip..).unwrap_or(&[]));
        // Held pieces that now touch the contiguous end.
        while let Some(i) = self
            .held
            .iter()
            .position(|(o, _)| *o <= self.crypto.len() as u64)
        {
            let (o, d) = self.held.swap_remove(i);
            let have = self.crypto.len() as u64;
            let e = o + d.len() as u64;
            if e > have {
                let skip = usize::try_from(have - o).unwrap_or(usize::MAX);
                self.crypto.extend_from_slice(d.get(skip..).unwrap_or(&[]));
            }
        }
        Ok(())
    }

    fn client_hello(&mut self) -> Result<Option<QuicClientHello>, QuicError> {
        let mut r = Reader::new(&self.crypto);
        let (Some(_t), Some(len)) = (r.u8(), r.u24()) else {
            return Ok(None);
        };
        let total = 4 + len as usize;
        let Some(msg) = self.crypto.get(..total) else {
            return Ok(None);
        };
        let parsed = tls::parse_handshake(msg, Transport::Quic);
        self.done = true;
        self.crypto = Vec::new();
        self.held = Vec::new();
        let Some(Handshake::ClientHello(hello)) = parsed? else {
            return Ok(None);
        };
        let (version, dcid, scid) = match &self.header {
            Some(h) => (h.version, hex(&h.dcid), hex(&h.scid)),
            None => (0, String::new(), String::new()),
        };
        Ok(Some(QuicClientHello {
            version,
            dcid,
            scid,
            hello,
            frames: std::mem::take(&mut self.frames),
        }))
    }
}

/// Length of a non-Initial long-header packet that carries a Length field (0-RTT,
/// Handshake); `None` for Retry or malformed input.
fn skip_long_packet(p: &[u8]) -> Option<usize> {
    let (h, mut r) = long_header(p).ok()?;
    if h.kind == Kind::Retry {
        return None;
    }
    let len = usize::try_from(r.varint()?).ok()?;
    r.pos().checked_add(len).filter(|e| *e <= p.len())
}

/// One-shot form: reads the ClientHello from a single client datagram (most browsers
/// fit it in one; post-quantum ones need [`QuicConnection`] across two).
pub fn parse_initial(datagram: &[u8], frame: u64) -> Result<Option<QuicClientHello>, QuicError> {
    QuicConnection::new().push_client_datagram(datagram, frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::tls::tests::hex as unhex;
    use crate::dissect::WireString;

    // RFC 9001 Appendix A.1 and RFC 9369 Appendix A.1: keys from DCID 8394c8f03e515708.
    const RFC_DCID: [u8; 8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];

    fn material(version: u32, client: bool) -> (String, String, String) {
        let (k, iv, hp) = InitialKeys::derive(version, &RFC_DCID, client)
            .unwrap()
            .material();
        (hex(&k), hex(&iv), hex(&hp))
    }

    #[test]
    fn v1_initial_keys_match_rfc9001_appendix_a1() {
        assert_eq!(
            material(QUIC_V1, true),
            (
                "1f369613dd76d5467730efcbe3b1a22d".into(),
                "fa044b2f42a3fd3b46fb255c".into(),
                "9f50449e04a0e810283a1e9933adedd2".into()
            )
        );
        assert_eq!(
            material(QUIC_V1, false),
            (
                "cf3a5331653c364c88f0f379b6067e37".into(),
                "0ac1493ca1905853b0bba03e".into(),
                "c206b8d9b9f0f37644430b490eeaa314".into()
            )
        );
    }

    #[test]
    fn v2_initial_keys_match_rfc9369_appendix_a1() {
        assert_eq!(
            material(QUIC_V2, true),
            (
                "8b1a0bc121284290a29e0971b5cd045d".into(),
                "91f73e2351d8fa91660e909f".into(),
                "45b95e15235d6f45a6b19cbcb0294ba9".into()
            )
        );
        assert_eq!(
            material(QUIC_V2, false),
            (
                "82db637861d55e1d011f19ea71d5d2a7".into(),
                "dd13c276499c0249d3310652".into(),
                "edf6d05c83121201b436e16877593c3a".into()
            )
        );
    }

    /// draft-ietf-quic-tls-29 Appendix A: keys from the same DCID with draft 29's salt.
    #[test]
    fn draft29_initial_keys_match_its_appendix_a() {
        assert_eq!(
            material(0xff00_001d, true),
            (
                "175257a31eb09dea9366d8bb79ad80ba".into(),
                "6b26114b9cba2b63a9e8dd4f".into(),
                "9ddd12c994c0698b89374a9c077a3077".into()
            )
        );
        assert_eq!(
            material(0xff00_001d, false),
            (
                "149d0b1662ab871fbe63c49b5e655a5d".into(),
                "bab2b12a4c76016ace47856d".into(),
                "c0c499a65a60024a18a250974ea01dfa".into()
            )
        );
    }

    /// Each draft's version takes its draft's salt (22; 23 to 28; 29 to 32), a
    /// reserved version draft 29's, mvfst's the drafts they were built on; gQUIC and
    /// unassigned versions none.
    #[test]
    fn versions_map_to_their_drafts_salts() {
        let salt = |v: u32| protection(v).map(|(s, v2)| (*s, v2));
        assert_eq!(salt(0xff00_0016), Some((INITIAL_SALT_DRAFT_22, false)));
        for v in 0xff00_0017..=0xff00_001c {
            assert_eq!(salt(v), Some((INITIAL_SALT_DRAFT_23, false)), "{v:#x}");
        }
        for v in [0xff00_001d, 0xff00_0020, 0x0a0a_0a0a, 0x1a2a_3a4a] {
            assert_eq!(salt(v), Some((INITIAL_SALT_DRAFT_29, false)), "{v:#x}");
        }
        assert_eq!(salt(QUIC_V1), Some((INITIAL_SALT_V1, false)));
        assert_eq!(salt(QUIC_V2), Some((INITIAL_SALT_V2, true)));
        assert_eq!(salt(0xface_b001), Some((INITIAL_SALT_DRAFT_22, false)));
        assert_eq!(salt(0xface_b002), Some((INITIAL_SALT_DRAFT_23, false)));
        assert_eq!(salt(0xface_b00e), Some((INITIAL_SALT_DRAFT_23, false)));
        assert_eq!(salt(GOOGLE_T050), Some((INITIAL_SALT_T050, false)));
        assert_eq!(salt(GOOGLE_T051), Some((INITIAL_SALT_T051, false)));
        // Q050 (gQUIC's own crypto, no TLS), T052 (never shipped).
        for v in [
            0,
            0xff00_0015,
            0xff00_0021,
            0x5130_3530,
            0x5430_3532,
            0xface_b003,
        ] {
            assert_eq!(salt(v), None, "{v:#x}");
        }
    }

    // Client Initial datagrams (1200 bytes) from aioquic 1.7.2's client with
    // server_name quic.example.test and ALPN h3, recorded on loopback; see
    // tests/fixtures/dissect/README.md (rec_quic.py).
    const AIOQUIC_V1: &str = include_str!("../../tests/fixtures/dissect/aioquic172_v1_initial.hex");
    const AIOQUIC_V2: &str = include_str!("../../tests/fixtures/dissect/aioquic172_v2_initial.hex");

    #[test]
    fn v1_initial_from_aioquic_gives_sni_and_alpn() {
        let d = unhex(AIOQUIC_V1);
        let (h, _) = long_header(&d).ok().unwrap();
        assert!(h.kind == Kind::Initial && h.version == QUIC_V1);
        let ch = parse_initial(&d, 1).unwrap().expect("ClientHello");
        assert_eq!(ch.hello.sni, Some(WireString::from("quic.example.test")));
        assert_eq!(ch.hello.alpn, vec![WireString::from("h3")]);
        let ja4 = ch.hello.ja4.as_deref().unwrap_or_default();
        assert!(ja4.starts_with("q13d"), "{ja4}");
        assert_eq!(ch.dcid, hex(h.dcid));
        assert_eq!(ch.frames, vec![1]);
    }

    #[test]
    fn v2_initial_from_aioquic_gives_sni() {
        let d = unhex(AIOQUIC_V2);
        let (h, _) = long_header(&d).ok().unwrap();
        assert!(h.kind == Kind::Initial && h.version == QUIC_V2);
        let ch = parse_initial(&d, 6).unwrap().expect("ClientHello");
        assert_eq!(ch.version, QUIC_V2);
        assert_eq!(ch.hello.sni, Some(WireString::from("quic.example.test")));
    }

    /// A v1 (or v2) 0-RTT packet: header, 8-byte DCID, no SCID, 32 opaque bytes.
    fn zero_rtt(version: u32) -> Vec<u8> {
        let first = if version == QUIC_V1 { 0xd1u8 } else { 0xe1 };
        let mut p = vec![first];
        p.extend(version.to_be_bytes());
        p.push(8);
        p.extend([7; 8]);
        p.extend([0, 0x40, 32]);
        p.extend([0x5a; 32]);
        p
    }

    #[test]
    fn long_packet_types_follow_each_versions_numbering() {
        let kind = |version: u32, t: u8| {
            let mut p = vec![0xc0 | (t << 4)];
            p.extend(version.to_be_bytes());
            p.extend([0, 0]);
            long_header(&p).ok().unwrap().0.kind
        };
        let v1 = [Kind::Initial, Kind::ZeroRtt, Kind::Handshake, Kind::Retry];
        let v2 = [Kind::Retry, Kind::Initial, Kind::ZeroRtt, Kind::Handshake];
        for t in 0..4u8 {
            assert!(kind(QUIC_V1, t) == v1[usize::from(t)], "v1 {t}");
            assert!(kind(0xff00_001d, t) == v1[usize::from(t)], "draft 29 {t}");
            assert!(kind(QUIC_V2, t) == v2[usize::from(t)], "v2 {t}");
        }
    }

    #[test]
    fn a_connection_may_open_with_0rtt_packets_that_overtook_its_initial() {
        assert!(may_open(&zero_rtt(QUIC_V1)));
        assert!(may_open(&zero_rtt(QUIC_V2)));
        assert!(may_open(&unhex(AIOQUIC_V1)));
        // A Handshake packet, a short header, an unknown version: not an opening.
        let mut handshake = zero_rtt(QUIC_V1);
        handshake[0] = 0xe1;
        assert!(!may_open(&handshake));
        assert!(!may_open(&[0x41, 1, 2, 3]));
        let mut unknown = zero_rtt(QUIC_V1);
        unknown[1..5].copy_from_slice(&0x5130_3530u32.to_be_bytes());
        assert!(!may_open(&unknown));

        // Two 0-RTT datagrams, then the Initial: the ClientHello is read from it.
        let mut c = QuicConnection::new();
        assert_eq!(c.push_client_datagram(&zero_rtt(QUIC_V1), 3).unwrap(), None);
        assert_eq!(c.push_client_datagram(&zero_rtt(QUIC_V1), 4).unwrap(), None);
        assert!(!c.is_done());
        let ch = c
            .push_client_datagram(&unhex(AIOQUIC_V1), 5)
            .unwrap()
            .unwrap();
        assert_eq!(ch.hello.sni, Some(WireString::from("quic.example.test")));
        assert_eq!(ch.frames, vec![5]);

        // A flow that never sends its Initial is given up.
        let mut c = QuicConnection::new();
        for frame in 0..MAX_BEFORE_INITIAL as u64 {
            assert_eq!(
                c.push_client_datagram(&zero_rtt(QUIC_V1), frame).unwrap(),
                None
            );
        }
        assert!(c.is_done());
    }

    #[test]
    fn tampered_ciphertext_fails_authentication() {
        let mut d = unhex(AIOQUIC_V1);
        // A byte inside the protected payload (the header and sample end before 100).
        d[300] ^= 1;
        assert!(matches!(
            parse_initial(&d, 1),
            Err(QuicError::Decrypt { .. })
        ));
    }

    /// Builds a protected client Initial packet (RFC 9001 §5.3-5.4, the inverse of
    /// `open_initial`) carrying `frames`, padded to at least `min_len` bytes.
    fn seal_initial(version: u32, dcid: &[u8], pn: u32, frames: &[u8], min_len: usize) -> Vec<u8> {
        let keys = InitialKeys::derive(version, dcid, true).unwrap();
        // Initial (v2 renumbers it), 4-byte packet number.
        let first = if protection(version).unwrap().1 {
            0xd3
        } else {
            0xc3u8
        };
        let mut payload = frames.to_vec();
        // first, version, DCID length and DCID, SCID length, token length, Length, packet number
        let header_len = 1 + 4 + 1 + dcid.len() + 1 + 1 + 2 + 4;
        while header_len + payload.len() + 16 < min_len {
            payload.push(0); // PADDING
        }
        let length = 4 + payload.len() + 16;
        let mut p = vec![first];
        p.extend_from_slice(&version.to_be_bytes());
        p.push(dcid.len() as u8);
        p.extend_from_slice(dcid);
        p.push(0); // empty SCID
        p.push(0); // no token
        p.extend_from_slice(&(0x4000u16 | length as u16).to_be_bytes());
        let pn_offset = p.len();
        p.extend_from_slice(&pn.to_be_bytes());
        let mut nonce = keys.iv;
        for (n, b) in nonce
            .iter_mut()
            .rev()
            .zip(u64::from(pn).to_be_bytes().iter().rev())
        {
            *n ^= b;
        }
        keys.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&p[..]),
                &mut payload,
            )
            .unwrap();
        p.extend_from_slice(&payload);
        let mask = keys.hp.new_mask(&p[pn_offset + 4..pn_offset + 20]).unwrap();
        p[0] ^= mask[0] & 0x0f;
        for i in 0..4 {
            p[pn_offset + i] ^= mask[1 + i];
        }
        p
    }

    fn crypto_frame(offset: usize, data: &[u8]) -> Vec<u8> {
        // Type 0x06, offset as a 4-byte varint, length as a 2-byte varint (RFC 9000 §16).
        let mut f = vec![0x06, 0x80 | ((offset >> 24) as u8 & 0x3f)];
        f.extend_from_slice(&[(offset >> 16) as u8, (offset >> 8) as u8, offset as u8]);
        f.push(0x40 | (data.len() >> 8) as u8);
        f.push(data.len() as u8);
        f.extend_from_slice(data);
        f
    }

    /// gQUIC's CRYPTO frame (T050, T051): IETF QUIC's with type 0x08.
    fn gquic_crypto_frame(offset: usize, data: &[u8]) -> Vec<u8> {
        let mut f = crypto_frame(offset, data);
        f[0] = 0x08;
        f
    }

    // The Chromium 156 ClientHello (X25519MLKEM768 key share, 1984-byte handshake
    // message) recorded over TCP, carried here in CRYPTO frames as Chromium does over
    // QUIC, where it no longer fits one 1200-byte datagram.
    fn browser_hello_message() -> Vec<u8> {
        let rec = unhex(include_str!(
            "../../tests/fixtures/dissect/chromium156_client_hello.hex"
        ));
        rec[5..].to_vec()
    }

    #[test]
    fn post_quantum_client_hello_over_two_datagrams_out_of_order_gives_sni() {
        let msg = browser_hello_message();
        let dcid = [0x11u8; 8];
        let versions = [QUIC_V1, QUIC_V2, 0xff00_001d, 0xface_b001, 0xface_b002];
        for version in versions.into_iter().chain([GOOGLE_T050, GOOGLE_T051]) {
            let (a, b) = msg.split_at(1000);
            // An ACK first, then CRYPTO; in gQUIC's frames (T05x): an ACK 0x40 (no
            // ranges, 1-byte fields: largest, delay, first block, no timestamps),
            // a PING, CRYPTO as 0x08.
            let google = google_frames(version);
            let crypto = |offset: usize, data: &[u8]| {
                if google {
                    gquic_crypto_frame(offset, data)
                } else {
                    crypto_frame(offset, data)
                }
            };
            let mut fa = if google {
                vec![0x40, 0x01, 0x00, 0x00, 0x01, 0x00, 0x07]
            } else {
                vec![0x02, 0x00, 0x00, 0x00, 0x00, 0x01]
            };
            fa.extend(crypto(0, a));
            let d1 = seal_initial(version, &dcid, 0, &fa, 1200);
            let d2 = seal_initial(version, &dcid, 1, &crypto(1000, b), 1200);
            let mut c = QuicConnection::new();
            assert_eq!(c.push_client_datagram(&d2, 8).unwrap(), None);
            let ch = c
                .push_client_datagram(&d1, 7)
                .unwrap()
                .expect("ClientHello");
            assert_eq!(ch.version, version);
            assert_eq!(ch.hello.sni, Some(WireString::from("www.example.test")));
            let ja4 = ch.hello.ja4.as_deref().unwrap_or_default();
            assert!(ja4.starts_with("q13d1517h2_8daaf6152771_"), "{ja4}");
            assert_eq!(ch.frames, vec![8, 7]);
        }
    }

    #[test]
    fn googles_t05x_frames_are_gquics() {
        let msg = browser_hello_message();
        let dcid = [0x33u8; 8];
        // (Their Initials are read in the test above.) IETF QUIC's CRYPTO type is
        // an unknown frame there.
        for version in [GOOGLE_T050, GOOGLE_T051] {
            let ietf = seal_initial(version, &dcid, 0, &crypto_frame(0, &msg[..1000]), 1200);
            assert!(matches!(
                QuicConnection::new().push_client_datagram(&ietf, 1),
                Err(QuicError::UnexpectedFrame { frame_type: 0x06 })
            ));
        }
        // An ACK with ranges and timestamps (0x65: 2-byte block lengths): skipped whole.
        let mut c = QuicConnection::new();
        // Type; largest (2 bytes); delay (2); one more block; the first block's
        // length (2); a gap (1) and a length (2); two timestamps: the first's delta
        // (1) and time (4), the second's delta (1) and time since (2).
        let mut with_hello = vec![0x65, 0x00, 0x09, 0x00, 0x02, 0x01, 0x00, 0x03];
        with_hello.extend([0x02, 0x00, 0x01, 0x02, 0x01, 0x00, 0x00, 0x00, 0x05]);
        with_hello.extend([0x01, 0x00, 0x07]);
        with_hello.extend(gquic_crypto_frame(0, &msg[..1000]));
        let d = seal_initial(GOOGLE_T051, &dcid, 0, &with_hello, 1200);
        assert_eq!(c.push_client_datagram(&d, 1).unwrap(), None);
        assert_eq!(c.crypto.len(), 1000);
        // Any frame type, cut anywhere: an error or nothing, never a panic.
        for t in 0..=255u8 {
            for n in 0..24 {
                let mut p = vec![t];
                p.extend(std::iter::repeat_n(0xff, n));
                let _ = QuicConnection::new().google_frames_of(&p);
            }
        }
    }

    #[test]
    fn coalesced_initial_packets_in_one_datagram_are_all_read() {
        let msg = browser_hello_message();
        let dcid = [0x22u8; 8];
        let (a, b) = msg.split_at(900);
        let mut d = seal_initial(QUIC_V1, &dcid, 0, &crypto_frame(0, a), 0);
        d.extend_from_slice(&seal_initial(QUIC_V1, &dcid, 1, &crypto_frame(900, b), 0));
        let ch = parse_initial(&d, 3).unwrap().expect("ClientHello");
        assert_eq!(ch.hello.sni, Some(WireString::from("www.example.test")));
    }

    #[test]
    fn crypto_frames_across_packets_are_reassembled_out_of_order() {
        let mut c = QuicConnection::new();
        c.add_crypto(5, b"fghij").unwrap();
        c.add_crypto(0, b"abcde").unwrap();
        c.add_crypto(3, b"defg").unwrap();
        assert_eq!(c.crypto, b"abcdefghij");
        assert!(matches!(
            c.add_crypto(u64::MAX - 2, b"xyz"),
            Err(QuicError::CryptoCap { .. })
        ));
    }

    #[test]
    fn every_truncation_and_corruption_is_safe() {
        let d = unhex(AIOQUIC_V1);
        assert!(matches!(parse_initial(&d, 1), Ok(Some(_))));
        // Cut before the Initial packet's end (its padding follows it), no ClientHello
        // comes out (its length or its AEAD tag fails); from there on, it does.
        let whole = (0..d.len())
            .find(|n| matches!(parse_initial(&d[..*n], 1), Ok(Some(_))))
            .unwrap_or(d.len());
        assert!(whole > 100, "{whole}");
        for n in 0..d.len() {
            let hello = matches!(parse_initial(&d[..n], 1), Ok(Some(_)));
            assert_eq!(hello, n >= whole, "cut at {n}");
        }
        for i in 0..64 {
            let mut b = d.clone();
            b[i] ^= 0xff;
            let _ = parse_initial(&b, 1);
        }
    }
}
