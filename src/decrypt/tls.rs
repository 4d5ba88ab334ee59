//! TLS record decryption with logged secrets (see [`super::keylog`]), sans-I/O.
//!
//! One [`TlsDecryptor`] per TCP connection, fed each direction's bytes in stream
//! order ([`TlsDecryptor::push`], with the frame that carried them) and told about
//! holes ([`TlsDecryptor::gap`]). It reads ClientHello (client random),
//! ServerHello (version, also from `supported_versions`; cipher suite; server
//! random), ChangeCipherSpec, and decrypts:
//!
//! - TLS 1.3: handshake records with the handshake traffic secrets (so that sequence
//!   numbers and the switch to application keys after each side's Finished are
//!   right; ALPN read from EncryptedExtensions), application records with
//!   `*_TRAFFIC_SECRET_0`, KeyUpdate followed (RFC 8446 §7.2).
//! - TLS 1.2: the key block from the master secret by the PRF (SHA-256 or SHA-384),
//!   AES-GCM with its explicit nonce (RFC 5288), ChaCha20-Poly1305 with the
//!   sequence number mixed into the IV (RFC 7905). ALPN from ServerHello.
//!
//! Suites: TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
//! TLS_CHACHA20_POLY1305_SHA256; TLS 1.2 {ECDHE_RSA, ECDHE_ECDSA, DHE_RSA, RSA}
//! with AES_128_GCM_SHA256 and AES_256_GCM_SHA384, and {ECDHE_RSA, ECDHE_ECDSA,
//! DHE_RSA} with CHACHA20_POLY1305_SHA256. CBC suites and 0-RTT early data are not
//! decrypted (the reason says so). Ciphers are ring's.
//!
//! Output ([`TlsDecryptor::take_output`]): the plaintext of each application data
//! record with the frames that carried the record. A connection that cannot be
//! decrypted gets one [`TlsDecryptor::failure`] reason and yields no plaintext from
//! the point of failure on.
//!
//! Bounds: a record is at most 2^14 + 256 bytes of payload (RFC 8446 §5.2; larger is
//! a failure), a direction buffers at most one record plus, while the other side's
//! hello is not yet known, [`MAX_PENDING`] bytes; handshake messages are read up to
//! [`MAX_HANDSHAKE`] bytes.

use super::keylog::{ClientRandom, KeyLog, Secrets};
use super::Side;
use crate::flow::carried::Carried;
use ring::{aead, hkdf, hmac};

/// Largest record payload accepted (ciphertext: 2^14 plus 256 bytes of expansion).
pub const MAX_RECORD: usize = (1 << 14) + 256;
/// Bytes a direction may hold while it waits for the other direction's hello.
pub(crate) const MAX_PENDING: usize = 1 << 20;
/// Largest handshake message read (certificate chains included).
pub const MAX_HANDSHAKE: usize = 1 << 18;

const CT_CCS: u8 = 20;
const CT_HANDSHAKE: u8 = 22;
const CT_APPDATA: u8 = 23;

/// SHA-256 of "HelloRetryRequest" (RFC 8446 §4.1.3): a ServerHello with this random
/// is a HelloRetryRequest.
const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// The AEAD and hash of a supported suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suite {
    pub id: u16,
    pub name: &'static str,
    cipher: Cipher,
    sha384: bool,
    tls13: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cipher {
    Aes128Gcm,
    Aes256Gcm,
    Chacha20,
}

impl Cipher {
    fn algorithm(self) -> &'static aead::Algorithm {
        match self {
            Cipher::Aes128Gcm => &aead::AES_128_GCM,
            Cipher::Aes256Gcm => &aead::AES_256_GCM,
            Cipher::Chacha20 => &aead::CHACHA20_POLY1305,
        }
    }
    fn key_len(self) -> usize {
        self.algorithm().key_len()
    }
    /// TLS 1.2 fixed IV length: 4 bytes salt for GCM, 12 for ChaCha20.
    fn tls12_iv_len(self) -> usize {
        match self {
            Cipher::Chacha20 => 12,
            _ => 4,
        }
    }
}

/// Looks a suite up by its IANA number; `None` when not decryptable here.
pub fn suite(id: u16) -> Option<Suite> {
    use Cipher::*;
    let (name, cipher, sha384, tls13) = match id {
        0x1301 => ("TLS_AES_128_GCM_SHA256", Aes128Gcm, false, true),
        0x1302 => ("TLS_AES_256_GCM_SHA384", Aes256Gcm, true, true),
        0x1303 => ("TLS_CHACHA20_POLY1305_SHA256", Chacha20, false, true),
        0xC02B => (
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            Aes128Gcm,
            false,
            false,
        ),
        0xC02C => (
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            Aes256Gcm,
            true,
            false,
        ),
        0xC02F => (
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            Aes128Gcm,
            false,
            false,
        ),
        0xC030 => (
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            Aes256Gcm,
            true,
            false,
        ),
        0x009C => ("TLS_RSA_WITH_AES_128_GCM_SHA256", Aes128Gcm, false, false),
        0x009D => ("TLS_RSA_WITH_AES_256_GCM_SHA384", Aes256Gcm, true, false),
        0x009E => (
            "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
            Aes128Gcm,
            false,
            false,
        ),
        0x009F => (
            "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
            Aes256Gcm,
            true,
            false,
        ),
        0xCCA8 => (
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            Chacha20,
            false,
            false,
        ),
        0xCCA9 => (
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            Chacha20,
            false,
            false,
        ),
        0xCCAA => (
            "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            Chacha20,
            false,
            false,
        ),
        _ => return None,
    };
    Some(Suite {
        id,
        name,
        cipher,
        sha384,
        tls13,
    })
}

fn suite_name(id: u16) -> String {
    match tls_parser::TlsCipherSuite::from_id(id) {
        Some(s) => format!("{} (0x{id:04x})", s.name),
        None => format!("0x{id:04x}"),
    }
}

// ---------------------------------------------------------------- key schedule

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context.
pub(crate) fn hkdf_expand_label(sha384: bool, secret: &[u8], label: &[u8], len: usize) -> Vec<u8> {
    let alg = if sha384 {
        hkdf::HKDF_SHA384
    } else {
        hkdf::HKDF_SHA256
    };
    let prk = hkdf::Prk::new_less_safe(alg, secret);
    let out_len = (len as u16).to_be_bytes();
    let full_len = [(6 + label.len()) as u8];
    let ctx_len = [0u8];
    let info: [&[u8]; 5] = [&out_len, &full_len, b"tls13 ", label, &ctx_len];
    let mut out = vec![0u8; len];
    // Lengths used here (12 to 48) are far below HKDF's limit of 255 hash lengths.
    if let Ok(okm) = prk.expand(&info, Len(len)) {
        let _ = okm.fill(&mut out);
    }
    out
}

/// The TLS 1.2 PRF (RFC 5246 §5) with SHA-256 or SHA-384.
pub(crate) fn prf12(sha384: bool, secret: &[u8], label: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let alg = if sha384 {
        hmac::HMAC_SHA384
    } else {
        hmac::HMAC_SHA256
    };
    let key = hmac::Key::new(alg, secret);
    let mut a = {
        let mut c = hmac::Context::with_key(&key);
        c.update(label);
        c.update(seed);
        c.sign()
    };
    let mut out = Vec::with_capacity(len + 48);
    while out.len() < len {
        let mut c = hmac::Context::with_key(&key);
        c.update(a.as_ref());
        c.update(label);
        c.update(seed);
        out.extend_from_slice(c.sign().as_ref());
        a = hmac::sign(&key, a.as_ref());
    }
    out.truncate(len);
    out
}

/// Keys of one direction.
struct DirKeys {
    key: aead::LessSafeKey,
    iv: [u8; 12],
    seq: u64,
    /// TLS 1.3 traffic secret (for KeyUpdate).
    secret: Vec<u8>,
}

impl DirKeys {
    fn new(cipher: Cipher, key: &[u8], iv: &[u8], secret: Vec<u8>) -> Option<Self> {
        let key = aead::UnboundKey::new(cipher.algorithm(), key).ok()?;
        let mut full = [0u8; 12];
        let n = iv.len().min(12);
        full[..n].copy_from_slice(&iv[..n]);
        Some(DirKeys {
            key: aead::LessSafeKey::new(key),
            iv: full,
            seq: 0,
            secret,
        })
    }

    fn tls13(suite: Suite, secret: &[u8]) -> Option<Self> {
        let key = hkdf_expand_label(suite.sha384, secret, b"key", suite.cipher.key_len());
        let iv = hkdf_expand_label(suite.sha384, secret, b"iv", 12);
        Self::new(suite.cipher, &key, &iv, secret.to_vec())
    }

    fn xor_nonce(&self) -> [u8; 12] {
        let mut n = self.iv;
        for (b, s) in n[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *b ^= s;
        }
        n
    }
}

/// Both directions' TLS 1.2 keys from the master secret.
fn tls12_keys(
    suite: Suite,
    master: &[u8; 48],
    cr: &[u8; 32],
    sr: &[u8; 32],
) -> Option<(DirKeys, DirKeys)> {
    let kl = suite.cipher.key_len();
    let il = suite.cipher.tls12_iv_len();
    let mut seed = Vec::with_capacity(64);
    seed.extend_from_slice(sr);
    seed.extend_from_slice(cr);
    let block = prf12(
        suite.sha384,
        master,
        b"key expansion",
        &seed,
        2 * kl + 2 * il,
    );
    let (ck, rest) = block.split_at(kl);
    let (sk, rest) = rest.split_at(kl);
    let (civ, siv) = rest.split_at(il);
    Some((
        DirKeys::new(suite.cipher, ck, civ, Vec::new())?,
        DirKeys::new(suite.cipher, sk, siv, Vec::new())?,
    ))
}

// ---------------------------------------------------------------- the decryptor

/// The TLS version a connection negotiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Tls12,
    Tls13,
    /// Anything else (SSL 3.0, TLS 1.0, 1.1): named by its number.
    Other(u16),
}

/// Plaintext of one application data record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plaintext {
    pub side: Side,
    pub data: Vec<u8>,
    /// Frames that carried the record, ascending, without repeats.
    pub frames: Vec<u64>,
    /// Record number on its side (0 = the first record of that side).
    pub record: u64,
}

#[derive(Default)]
struct Direction {
    /// Unprocessed bytes, with the frames that carried them.
    buf: Carried,
    /// Records read on this side.
    records: u64,
    /// Handshake message bytes not yet complete.
    hs: Vec<u8>,
    /// Bytes of a handshake message being skipped (too long to keep).
    keys: Option<DirKeys>,
    /// TLS 1.2: ChangeCipherSpec seen, records are encrypted from here on.
    encrypting: bool,
    /// TLS 1.3: application keys are in use.
    app_keys: bool,
    stopped: bool,
    ended: bool,
}

/// A server certificate chain read from a decrypted TLS 1.3 handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecryptedCertificate {
    /// Certificates in the chain.
    pub chain_len: usize,
    /// The first (leaf) certificate, DER.
    pub leaf: Option<Vec<u8>>,
    /// The frames of the record that completed the message.
    pub frames: Vec<u64>,
}

/// The decryptor of one TLS connection. See the module documentation.
#[derive(Default)]
pub struct TlsDecryptor {
    client: Direction,
    server: Direction,
    client_random: Option<ClientRandom>,
    server_random: Option<[u8; 32]>,
    version: Option<Version>,
    suite: Option<Suite>,
    suite_id: Option<u16>,
    alpn: Option<Vec<u8>>,
    secrets: Option<Secrets>,
    failure: Option<String>,
    output: Vec<Plaintext>,
    /// TLS 1.3: a HelloRetryRequest was seen; the next ServerHello is the real one.
    retried: bool,
    /// The ClientHello offered 0-RTT early data (extension 42).
    early_offered: bool,
    /// Client records skipped as 0-RTT early data (they fail with the handshake keys
    /// before the first one that decrypts, as a server skips them, RFC 8446 §4.2.10).
    early_skipped: u64,
    /// The server's TLS 1.3 certificate chain, once decrypted, until taken.
    certificate: Option<DecryptedCertificate>,
}

impl TlsDecryptor {
    pub fn new() -> Self {
        Self::default()
    }

    /// The client random, once the ClientHello was read.
    pub(crate) fn client_random(&self) -> Option<&ClientRandom> {
        self.client_random.as_ref()
    }

    /// The negotiated version, once the ServerHello was read.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// The negotiated cipher suite's number, once the ServerHello was read.
    pub(crate) fn suite_id(&self) -> Option<u16> {
        self.suite_id
    }

    /// The negotiated application protocol (ALPN), e.g. `h2` or `http/1.1`.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.alpn.as_deref()
    }

    /// The server's certificate chain of a TLS 1.3 handshake, once decrypted (given
    /// once).
    pub fn take_certificate(&mut self) -> Option<DecryptedCertificate> {
        self.certificate.take()
    }

    /// Why (part of) this connection could not be decrypted: the first reason found.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Client records skipped as 0-RTT early data (not decrypted).
    #[cfg(test)]
    fn early_data_skipped(&self) -> u64 {
        self.early_skipped
    }

    /// Bytes held now: records not yet whole, data waiting for the other side's
    /// hello, handshake messages being assembled.
    pub fn held(&self) -> usize {
        [&self.client, &self.server]
            .iter()
            .map(|d| d.buf.len() + d.hs.len())
            .sum()
    }

    /// Stops decrypting both directions, for a reason outside this connection (a
    /// memory budget shared with others); the first reason given stays.
    pub(crate) fn give_up(&mut self, reason: String) {
        self.fail(Side::Client, reason.clone());
        self.fail(Side::Server, reason);
    }

    /// Plaintext records decrypted since the last call, in the order decrypted.
    pub fn take_output(&mut self) -> Vec<Plaintext> {
        std::mem::take(&mut self.output)
    }

    fn dir(&mut self, side: Side) -> &mut Direction {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    fn fail(&mut self, side: Side, reason: String) {
        let d = self.dir(side);
        d.stopped = true;
        d.buf.clear();
        d.hs = Vec::new();
        if self.failure.is_none() {
            self.failure = Some(reason);
        }
    }

    /// Feeds the next bytes of one direction, carried by `frame`. `keys` is consulted
    /// when the handshake needs secrets (it may have grown since the last call).
    pub fn push(&mut self, keys: &KeyLog, side: Side, data: &[u8], frame: u64) {
        // In pieces, so that a large chunk is processed as it goes rather than held.
        for piece in data.chunks(MAX_RECORD + 5) {
            self.push_piece(keys, side, piece, frame);
        }
    }

    fn push_piece(&mut self, keys: &KeyLog, side: Side, data: &[u8], frame: u64) {
        let d = self.dir(side);
        if d.stopped || data.is_empty() {
            return;
        }
        if d.buf.len() + data.len() > MAX_PENDING + MAX_RECORD + 5 {
            let n = d.records;
            self.fail(
                side,
                format!(
                    "{} stream: more than {MAX_PENDING} bytes waiting for the other side's hello after record {n}",
                    side.name()
                ),
            );
            return;
        }
        d.buf.push(data, &[frame]);
        self.run(keys);
    }

    /// Bytes of one direction are missing (`missing` bytes, if known): record
    /// boundaries and sequence numbers are lost, so that direction stops here.
    pub fn gap(&mut self, side: Side, missing: u64) {
        let n = self.dir(side).records;
        if self.dir(side).stopped {
            return;
        }
        self.fail(
            side,
            format!(
                "gap in the {} stream ({missing} bytes missing) after record {n}",
                side.name()
            ),
        );
    }

    /// One direction ended (FIN or end of capture): a partial record left is
    /// reported.
    pub fn end(&mut self, side: Side) {
        let failed = self.failure.is_some();
        let d = self.dir(side);
        d.ended = true;
        if !d.stopped && !d.buf.is_empty() && !failed {
            let (n, len) = (d.records, d.buf.len());
            self.fail(
                side,
                format!(
                    "{} stream ends inside record {n} ({len} bytes of it seen)",
                    side.name()
                ),
            );
        }
    }

    fn run(&mut self, keys: &KeyLog) {
        // Alternate until neither side makes progress: a side may wait for the
        // other side's hello.
        loop {
            let a = self.step_side(keys, Side::Server);
            let b = self.step_side(keys, Side::Client);
            if !a && !b {
                break;
            }
        }
    }

    /// Whether a side may read its next record now.
    fn ready(&self, side: Side) -> bool {
        let d = match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        };
        match side {
            // The client's first record (ClientHello) needs nothing; later ones
            // need the ServerHello.
            Side::Client => d.records == 0 || self.suite_id.is_some() || self.server.stopped,
            // The server's hello can be read at once; its encrypted records need
            // the client random.
            Side::Server => d.records == 0 || self.client_random.is_some() || self.client.stopped,
        }
    }

    /// Processes one record of `side`, if complete and ready. Returns whether it did.
    fn step_side(&mut self, keys: &KeyLog, side: Side) -> bool {
        if self.dir(side).stopped || !self.ready(side) {
            return false;
        }
        let d = self.dir(side);
        let Some(h) = d.buf.bytes().get(..5) else {
            return false;
        };
        let h = [h[0], h[1], h[2], h[3], h[4]];
        let (ctype, ver, len) = (
            h[0],
            u16::from_be_bytes([h[1], h[2]]),
            u16::from_be_bytes([h[3], h[4]]) as usize,
        );
        let n = d.records;
        if !(CT_CCS..=CT_APPDATA).contains(&ctype) && ctype != 24 || ver >> 8 != 3 {
            self.fail(
                side,
                format!(
                    "{} record {n}: not a TLS record header ({:02x} {:02x} {:02x})",
                    side.name(),
                    h[0],
                    h[1],
                    h[2]
                ),
            );
            return false;
        }
        if len > MAX_RECORD {
            self.fail(
                side,
                format!(
                    "{} record {n}: length {len} exceeds {MAX_RECORD}",
                    side.name()
                ),
            );
            return false;
        }
        if d.buf.len() < 5 + len {
            return false;
        }
        let header = h;
        let body = d.buf.bytes()[5..5 + len].to_vec();
        let frames = d.buf.frames_of_front(5 + len);
        d.buf.consume(5 + len);
        d.records += 1;
        self.record(keys, side, n, header, body, frames);
        true
    }

    fn record(
        &mut self,
        keys: &KeyLog,
        side: Side,
        n: u64,
        header: [u8; 5],
        mut body: Vec<u8>,
        frames: Vec<u64>,
    ) {
        let ctype = header[0];
        let tls13 = self.version == Some(Version::Tls13);
        let encrypted = {
            let d = self.dir(side);
            if tls13 {
                ctype == CT_APPDATA && self.suite.is_some()
            } else {
                d.encrypting
            }
        };
        if ctype == CT_CCS && (tls13 || !encrypted) {
            if !tls13 {
                if self.suite.is_none() || self.secrets.is_none() && self.failure.is_some() {
                    // No keys: the failure was recorded at the ServerHello.
                    self.dir(side).stopped = true;
                    return;
                }
                if self.dir(side).keys.is_none() && !self.install_tls12(keys) {
                    self.dir(side).stopped = true;
                    return;
                }
                self.dir(side).encrypting = true;
            }
            return;
        }
        if !encrypted {
            match ctype {
                CT_HANDSHAKE => self.handshake_bytes(keys, side, &body, &frames),
                // Application data before any keys: not decryptable.
                CT_APPDATA => self.fail(
                    side,
                    format!(
                        "{} record {n}: application data before the handshake completed",
                        side.name()
                    ),
                ),
                _ => {}
            }
            return;
        }
        // Encrypted record.
        if tls13 && self.dir(side).keys.is_none() && !self.install_tls13_handshake(keys, side) {
            self.dir(side).stopped = true;
            return;
        }
        let Some(suite) = self.suite else {
            return;
        };
        let early = side == Side::Client && self.early_offered;
        let d = self.dir(side);
        let Some(k) = d.keys.as_mut() else {
            d.stopped = true;
            return;
        };
        let plain_len;
        let inner_type;
        if suite.tls13 {
            let nonce = aead::Nonce::assume_unique_for_key(k.xor_nonce());
            match k
                .key
                .open_in_place(nonce, aead::Aad::from(header), &mut body)
            {
                Ok(p) => {
                    // Strip the zero padding; the last non-zero byte is the type.
                    let Some(last) = p.iter().rposition(|&b| b != 0) else {
                        let name = side.name();
                        self.fail(
                            side,
                            format!("{name} record {n}: no content type after decryption"),
                        );
                        return;
                    };
                    inner_type = p[last];
                    plain_len = last;
                }
                Err(_) if early && !d.app_keys && k.seq == 0 => {
                    // 0-RTT early data before the client's first handshake record:
                    // skipped as a server skips it (RFC 8446 §4.2.10); the sequence
                    // number stays at 0.
                    self.early_skipped += 1;
                    return;
                }
                Err(_) => {
                    let name = side.name();
                    let phase = if d.app_keys {
                        "application"
                    } else {
                        "handshake"
                    };
                    self.fail(
                        side,
                        format!(
                            "authentication failed at {name} record {n} ({phase} keys): wrong key"
                        ),
                    );
                    return;
                }
            }
        } else {
            let (nonce, ct_start) = if suite.cipher == Cipher::Chacha20 {
                (k.xor_nonce(), 0)
            } else {
                let Some(explicit) = body.get(..8) else {
                    let name = side.name();
                    self.fail(
                        side,
                        format!("{name} record {n}: too short for an AES-GCM record"),
                    );
                    return;
                };
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(&k.iv[..4]);
                nonce[4..].copy_from_slice(explicit);
                (nonce, 8)
            };
            let ct_len = body.len().saturating_sub(ct_start + 16);
            if body.len() < ct_start + 16 {
                let name = side.name();
                self.fail(
                    side,
                    format!("{name} record {n}: too short for its authentication tag"),
                );
                return;
            }
            let mut aad = [0u8; 13];
            aad[..8].copy_from_slice(&k.seq.to_be_bytes());
            aad[8..11].copy_from_slice(&header[..3]);
            aad[11..].copy_from_slice(&(ct_len as u16).to_be_bytes());
            let nonce = aead::Nonce::assume_unique_for_key(nonce);
            match k
                .key
                .open_in_place(nonce, aead::Aad::from(aad), &mut body[ct_start..])
            {
                Ok(_) => {
                    body.drain(..ct_start);
                    plain_len = ct_len;
                    inner_type = ctype;
                }
                Err(_) => {
                    let name = side.name();
                    self.fail(
                        side,
                        format!("authentication failed at {name} record {n}: wrong key"),
                    );
                    return;
                }
            }
        }
        k.seq = k.seq.wrapping_add(1);
        body.truncate(plain_len);
        match inner_type {
            CT_APPDATA if !body.is_empty() => self.output.push(Plaintext {
                side,
                data: body,
                frames,
                record: n,
            }),
            CT_HANDSHAKE => self.handshake_bytes(keys, side, &body, &frames),
            // Alerts, empty application data, other types: nothing to pass on.
            _ => {}
        }
    }

    /// Handshake message bytes (possibly several messages, possibly a part of one).
    fn handshake_bytes(&mut self, keys: &KeyLog, side: Side, data: &[u8], frames: &[u64]) {
        let d = self.dir(side);
        d.hs.extend_from_slice(data);
        loop {
            let d = self.dir(side);
            let Some(h) = d.hs.get(..4) else { return };
            let len = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
            if len > MAX_HANDSHAKE {
                let name = side.name();
                self.fail(
                    side,
                    format!("{name} handshake message of {len} bytes exceeds {MAX_HANDSHAKE}"),
                );
                return;
            }
            if d.hs.len() < 4 + len {
                return;
            }
            let msg: Vec<u8> = d.hs.drain(..4 + len).collect();
            self.handshake_message(keys, side, msg[0], &msg[4..], frames);
            if self.dir(side).stopped {
                return;
            }
        }
    }

    fn handshake_message(
        &mut self,
        keys: &KeyLog,
        side: Side,
        ty: u8,
        body: &[u8],
        frames: &[u64],
    ) {
        match (side, ty) {
            // ClientHello (the second one after a HelloRetryRequest has the same random).
            (Side::Client, 1) if self.client_random.is_none() => {
                let mut r = Reader(body);
                let (Some(_), Some(random)) = (r.u16(), r.take(32)) else {
                    return;
                };
                let mut cr = [0u8; 32];
                cr.copy_from_slice(random);
                self.client_random = Some(cr);
                if let (Some(_), Some(_), Some(_), Some(exts)) =
                    (r.vec8(), r.vec16(), r.vec8(), r.vec16())
                {
                    let mut e = Reader(exts);
                    while let (Some(ty), Some(_)) = (e.u16(), e.vec16()) {
                        self.early_offered |= ty == 42;
                    }
                }
            }
            (Side::Server, 2) => self.server_hello(keys, body),
            // EncryptedExtensions (TLS 1.3): ALPN.
            (Side::Server, 8) => {
                if let Some(exts) = Reader(body).vec16() {
                    self.read_extensions(exts);
                }
            }
            // Certificate (TLS 1.3, decrypted): the chain's length and its leaf.
            (Side::Server, 11) if self.version == Some(Version::Tls13) => {
                let mut r = Reader(body);
                let (Some(_context), Some(list)) = (r.vec8(), r.vec24()) else {
                    return;
                };
                let mut list = Reader(list);
                let (mut chain_len, mut leaf) = (0, None);
                while let (Some(cert), Some(_extensions)) = (list.vec24(), list.vec16()) {
                    chain_len += 1;
                    leaf.get_or_insert_with(|| cert.to_vec());
                }
                self.certificate = Some(DecryptedCertificate {
                    chain_len,
                    leaf,
                    frames: frames.to_vec(),
                });
            }
            // Finished: TLS 1.3 switches this side to its application keys.
            (_, 20) if self.version == Some(Version::Tls13) => {
                let d = self.dir(side);
                if !d.app_keys {
                    self.install_tls13_app(side);
                }
            }
            // KeyUpdate (TLS 1.3).
            (_, 24) if self.version == Some(Version::Tls13) => {
                let Some(suite) = self.suite else { return };
                if let Some(k) = self.dir(side).keys.as_ref() {
                    let next = hkdf_expand_label(
                        suite.sha384,
                        &k.secret,
                        b"traffic upd",
                        if suite.sha384 { 48 } else { 32 },
                    );
                    self.dir(side).keys = DirKeys::tls13(suite, &next);
                }
            }
            _ => {}
        }
    }

    fn server_hello(&mut self, keys: &KeyLog, body: &[u8]) {
        let mut r = Reader(body);
        let (Some(legacy), Some(random)) = (r.u16(), r.take(32)) else {
            self.fail(Side::Server, "ServerHello too short".into());
            return;
        };
        let mut server_random = [0u8; 32];
        server_random.copy_from_slice(random);
        if server_random == HRR_RANDOM {
            // HelloRetryRequest: the client sends a second ClientHello with the same
            // random; the real ServerHello follows.
            self.retried = true;
            return;
        }
        let (Some(_sid), Some(suite_id), Some(_comp)) = (r.vec8(), r.u16(), r.u8()) else {
            self.fail(Side::Server, "ServerHello too short".into());
            return;
        };
        self.server_random = Some(server_random);
        self.suite_id = Some(suite_id);
        self.version = Some(match legacy {
            0x0303 => Version::Tls12,
            v => Version::Other(v),
        });
        if let Some(exts) = r.vec16() {
            self.read_extensions(exts);
        }
        let version = self.version.unwrap_or(Version::Other(legacy));
        let Some(suite) = suite(suite_id).filter(|s| s.tls13 == (version == Version::Tls13)) else {
            let reason = match version {
                Version::Tls12 | Version::Tls13 => {
                    format!("unsupported suite {}", suite_name(suite_id))
                }
                Version::Other(v) => format!(
                    "unsupported version 0x{v:04x} (suite {})",
                    suite_name(suite_id)
                ),
            };
            self.fail(Side::Server, reason.clone());
            self.client.stopped = true;
            return;
        };
        self.suite = Some(suite);
        let Some(cr) = self.client_random else {
            self.fail(
                Side::Server,
                "ServerHello without a ClientHello before it".into(),
            );
            self.client.stopped = true;
            return;
        };
        match keys.get(&cr) {
            Some(s) => self.secrets = Some(s.clone()),
            None => {
                let hex: String = cr.iter().map(|b| format!("{b:02x}")).collect();
                self.fail(Side::Server, format!("no key for client random {hex}"));
                self.client.stopped = true;
            }
        }
    }

    /// ServerHello or EncryptedExtensions extensions: supported_versions and ALPN.
    fn read_extensions(&mut self, exts: &[u8]) {
        let mut r = Reader(exts);
        while let (Some(ty), Some(data)) = (r.u16(), r.vec16()) {
            match ty {
                43 => {
                    if let Some(v) = Reader(data).u16() {
                        self.version = Some(match v {
                            0x0304 => Version::Tls13,
                            0x0303 => Version::Tls12,
                            v => Version::Other(v),
                        });
                    }
                }
                16 => {
                    let mut list = Reader(data);
                    if let Some(mut names) = list.vec16().map(Reader) {
                        if let Some(name) = names.vec8() {
                            self.alpn = Some(name.to_vec());
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn install_tls12(&mut self, _keys: &KeyLog) -> bool {
        let (Some(suite), Some(cr), Some(sr)) =
            (self.suite, self.client_random, self.server_random)
        else {
            return false;
        };
        let Some(master) = self.secrets.as_ref().and_then(|s| s.master_secret) else {
            if self.failure.is_none() {
                let hex: String = cr.iter().map(|b| format!("{b:02x}")).collect();
                self.fail(
                    Side::Server,
                    format!("no TLS 1.2 master secret (CLIENT_RANDOM) for client random {hex}"),
                );
            }
            self.client.stopped = true;
            return false;
        };
        match tls12_keys(suite, &master, &cr, &sr) {
            Some((c, s)) => {
                self.client.keys = Some(c);
                self.server.keys = Some(s);
                true
            }
            None => false,
        }
    }

    fn install_tls13_handshake(&mut self, _keys: &KeyLog, side: Side) -> bool {
        let Some(suite) = self.suite else {
            return false;
        };
        let secret = self.secrets.as_ref().and_then(|s| match side {
            Side::Client => s.client_handshake.clone(),
            Side::Server => s.server_handshake.clone(),
        });
        let want = if suite.sha384 { 48 } else { 32 };
        match secret.filter(|s| s.len() == want) {
            Some(s) => {
                self.dir(side).keys = DirKeys::tls13(suite, &s);
                self.dir(side).keys.is_some()
            }
            None => {
                let name = match side {
                    Side::Client => "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
                    Side::Server => "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                };
                let hex: String = self
                    .client_random
                    .unwrap_or_default()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                self.fail(
                    side,
                    format!("no {name} of {want} bytes for client random {hex}"),
                );
                false
            }
        }
    }

    fn install_tls13_app(&mut self, side: Side) {
        let Some(suite) = self.suite else { return };
        let secret = self.secrets.as_ref().and_then(|s| match side {
            Side::Client => s.client_traffic_0.clone(),
            Side::Server => s.server_traffic_0.clone(),
        });
        let want = if suite.sha384 { 48 } else { 32 };
        match secret.filter(|s| s.len() == want) {
            Some(s) => {
                let d = self.dir(side);
                d.keys = DirKeys::tls13(suite, &s);
                d.app_keys = true;
            }
            None => {
                let name = match side {
                    Side::Client => "CLIENT_TRAFFIC_SECRET_0",
                    Side::Server => "SERVER_TRAFFIC_SECRET_0",
                };
                self.fail(side, format!("no {name} of {want} bytes in the key log"));
            }
        }
    }
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

/// A bounds-checked reader over a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()? as usize;
        self.take(n)
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()? as usize;
        self.take(n)
    }
    fn vec24(&mut self) -> Option<&'a [u8]> {
        let b = self.take(3)?;
        self.take(u32::from_be_bytes([0, b[0], b[1], b[2]]) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decrypt::keylog::unhex;

    fn h(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        unhex(s.as_bytes()).unwrap()
    }

    /// RFC 8448 §3 (simple 1-RTT handshake): the server handshake traffic secret
    /// and the key and IV derived from it.
    #[test]
    fn rfc8448_handshake_key_and_iv() {
        let secret = h("b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38");
        assert_eq!(
            hkdf_expand_label(false, &secret, b"key", 16),
            h("3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc")
        );
        assert_eq!(
            hkdf_expand_label(false, &secret, b"iv", 12),
            h("5d 31 3e b2 67 12 76 ee 13 00 0b 30")
        );
    }

    /// RFC 8448 §3: server application traffic secret 0 -> key and IV.
    #[test]
    fn rfc8448_application_key_and_iv() {
        let secret = h("a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32 82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43");
        assert_eq!(
            hkdf_expand_label(false, &secret, b"key", 16),
            h("9f 02 28 3b 6c 9c 07 ef c2 6b b9 f2 ac 92 e3 56")
        );
        assert_eq!(
            hkdf_expand_label(false, &secret, b"iv", 12),
            h("cf 78 2b 88 dd 83 54 9a ad f1 e9 84")
        );
    }

    /// The TLS 1.2 PRF (SHA-256) test vector published with RFC 5246 implementations
    /// (IETF TLS WG mailing list, "P_SHA256" vector, first 100 bytes).
    #[test]
    fn prf_sha256_vector() {
        let secret = h("9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35");
        let seed = h("a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c");
        let out = prf12(false, &secret, b"test label", &seed, 100);
        assert_eq!(
            out,
            h("e3 f2 29 ba 72 7b e1 7b 8d 12 26 20 55 7c d4 53 c2 aa b2 1d 07 c3 d4 95 32 9b 52 d4 e6 1e db 5a
               6b 30 17 91 e9 0d 35 c9 c9 a4 6b 4e 14 ba f9 af 0f a0 22 f7 07 7d ef 17 ab fd 37 97 c0 56 4b ab
               4f bc 91 66 6e 9d ef 9b 97 fc e3 4f 79 67 89 ba a4 80 82 d1 22 ee 42 c5 a7 2e 5a 51 10 ff f7 01
               87 34 7b 66")
        );
    }

    /// The same published vector set, P_SHA384 (first 148 bytes).
    #[test]
    fn prf_sha384_vector() {
        let secret = h("b8 0b 73 3d 6c ee fc dc 71 56 6e a4 8e 55 67 df");
        let seed = h("cd 66 5c f6 a8 44 7d d6 ff 8b 27 55 5e db 74 65");
        let out = prf12(true, &secret, b"test label", &seed, 148);
        assert_eq!(
            out,
            h("7b 0c 18 e9 ce d4 10 ed 18 04 f2 cf a3 4a 33 6a 1c 14 df fb 49 00 bb 5f d7 94 21 07 e8 1c 83 cd
               e9 ca 0f aa 60 be 9f e3 4f 82 b1 23 3c 91 46 a0 e5 34 cb 40 0f ed 27 00 88 4f 9d c2 36 f8 0e dd
               8b fa 96 11 44 c9 e8 d7 92 ec a7 22 a7 b3 2f c3 d4 16 d4 73 eb c2 c5 fd 4a bf da d0 5d 91 84 25
               9b 5b f8 cd 4d 90 fa 0d 31 e2 de c4 79 e4 f1 a2 60 66 f2 ee a9 a6 92 36 a3 e5 26 55 c9 e9 ae e6
               91 c8 f3 a2 68 54 30 8d 5e aa 3b e8 5e 09 90 70 3d 73 e5 6f")
        );
    }

    /// A TLS 1.3 record sealed with `secret` at sequence number `seq`.
    fn sealed(secret: &[u8], seq: u64, inner: &[u8], ty: u8) -> Vec<u8> {
        let suite = suite(0x1301).unwrap();
        let mut k = DirKeys::tls13(suite, secret).unwrap();
        k.seq = seq;
        let mut buf = inner.to_vec();
        buf.push(ty);
        let len = (buf.len() + 16) as u16;
        let header = [23, 3, 3, (len >> 8) as u8, len as u8];
        let nonce = aead::Nonce::assume_unique_for_key(k.xor_nonce());
        k.key
            .seal_in_place_append_tag(nonce, aead::Aad::from(header), &mut buf)
            .unwrap();
        let mut rec = header.to_vec();
        rec.extend(buf);
        rec
    }

    fn plain(ty: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![ty, 3, 3];
        r.extend((body.len() as u16).to_be_bytes());
        r.extend(body);
        r
    }

    fn hs(ty: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![ty];
        m.extend(&(body.len() as u32).to_be_bytes()[1..]);
        m.extend(body);
        m
    }

    /// A synthetic TLS 1.3 connection: handshake keys, the switch after each
    /// Finished, ALPN from EncryptedExtensions, a KeyUpdate, and (when offered)
    /// 0-RTT records skipped.
    fn synthetic(early: bool) -> (TlsDecryptor, Vec<Plaintext>) {
        let cr = [1u8; 32];
        let (chs, shs, cap, sap) = ([3u8; 32], [4u8; 32], [5u8; 32], [6u8; 32]);
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let mut keys = KeyLog::new();
        for (label, secret) in [
            ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", chs),
            ("SERVER_HANDSHAKE_TRAFFIC_SECRET", shs),
            ("CLIENT_TRAFFIC_SECRET_0", cap),
            ("SERVER_TRAFFIC_SECRET_0", sap),
        ] {
            keys.add_line(format!("{label} {} {}", hex(&cr), hex(&secret)).as_bytes())
                .unwrap();
        }
        let mut ch = vec![3, 3];
        ch.extend(cr);
        ch.extend([0, 0, 2, 0x13, 0x01, 1, 0]);
        let exts: &[u8] = if early { &[0, 42, 0, 0] } else { &[] };
        ch.extend((exts.len() as u16).to_be_bytes());
        ch.extend(exts);
        let mut sh = vec![3, 3];
        sh.extend([2u8; 32]);
        sh.extend([0, 0x13, 0x01, 0, 0, 6, 0, 43, 0, 2, 3, 4]);
        // EncryptedExtensions with ALPN "h2", then Finished.
        let mut flight = hs(8, &[0, 9, 0, 16, 0, 5, 0, 3, 2, b'h', b'2']);
        flight.extend(hs(20, &[0u8; 32]));
        let mut t = TlsDecryptor::new();
        let mut out = Vec::new();
        let mut frame = 0;
        let mut send = |t: &mut TlsDecryptor, side, bytes: Vec<u8>| {
            frame += 1;
            t.push(&keys, side, &bytes, frame);
            out.extend(t.take_output());
        };
        send(&mut t, Side::Client, plain(22, &hs(1, &ch)));
        if early {
            send(&mut t, Side::Client, sealed(&[9u8; 32], 0, b"early", 23));
        }
        send(&mut t, Side::Server, plain(22, &hs(2, &sh)));
        send(&mut t, Side::Server, plain(20, &[1]));
        send(&mut t, Side::Server, sealed(&shs, 0, &flight, 22));
        send(&mut t, Side::Server, sealed(&sap, 0, b"hello", 23));
        send(&mut t, Side::Server, sealed(&sap, 1, &hs(24, &[0]), 22));
        let next = hkdf_expand_label(false, &sap, b"traffic upd", 32);
        send(&mut t, Side::Server, sealed(&next, 0, b"world", 23));
        send(&mut t, Side::Client, plain(20, &[1]));
        send(
            &mut t,
            Side::Client,
            sealed(&chs, 0, &hs(20, &[0u8; 32]), 22),
        );
        send(&mut t, Side::Client, sealed(&cap, 0, b"GET", 23));
        (t, out)
    }

    #[test]
    fn tls13_handshake_keys_switch_and_key_update() {
        let (t, out) = synthetic(false);
        assert_eq!(t.failure(), None);
        assert_eq!(t.alpn(), Some(&b"h2"[..]));
        assert_eq!(t.version(), Some(Version::Tls13));
        let got: Vec<(Side, &[u8], Vec<u64>)> = out
            .iter()
            .map(|p| (p.side, p.data.as_slice(), p.frames.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Side::Server, &b"hello"[..], vec![5]),
                (Side::Server, &b"world"[..], vec![7]),
                (Side::Client, &b"GET"[..], vec![10]),
            ]
        );
    }

    #[test]
    fn tls13_early_data_is_skipped_and_counted() {
        let (t, out) = synthetic(true);
        assert_eq!(t.failure(), None);
        assert_eq!(t.early_data_skipped(), 1);
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn garbage_records_fail_without_panic() {
        let keys = KeyLog::new();
        let mut t = TlsDecryptor::new();
        t.push(&keys, Side::Client, b"GET / HTTP/1.1\r\n\r\n", 1);
        assert!(t.failure().unwrap().contains("not a TLS record header"));
        assert!(t.take_output().is_empty());
        let mut t = TlsDecryptor::new();
        t.push(&keys, Side::Server, &[22, 3, 3, 0xff, 0xff], 1);
        assert!(t.failure().unwrap().contains("exceeds"));
    }
}
