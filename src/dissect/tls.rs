//! dissect::tls: what a TLS handshake says in clear: the ClientHello (SNI, ALPN,
//! offered versions, JA4, Encrypted Client Hello), the ServerHello (selected version
//! and cipher) and, for TLS 1.2 and older, the server's certificate (subject CN, SANs).
//!
//! [`TlsStream`] reads one direction of a TCP stream: records split across segments,
//! several handshake messages in one record and one handshake message over several
//! records (RFC 8446 §5.1, RFC 5246 §6.2.1) are all reassembled, up to
//! [`HANDSHAKE_CAP`] bytes per message. After ChangeCipherSpec or application data the
//! rest is encrypted and the stream answers `Done`. [`parse_handshake`] reads one
//! handshake message and is shared with QUIC, whose CRYPTO frames carry handshake
//! messages without records (RFC 9001 §4).
//!
//! Record and handshake framing use `tls-parser`; extension payloads are read with a
//! checked reader because JA4 needs every extension code in wire order, GREASE and
//! unknown ones included. Certificates are read with `x509-parser`.
//!
//! Contract on bad input: never panics; a malformed record stops the stream with an
//! error saying where; a malformed handshake message is reported and skipped.

use super::ja4::{self, is_grease, Ja4Input, Transport};
use super::{Reader, Step, WireString};
use serde::Serialize;
use std::ops::Range;

/// Largest handshake message reassembled (a certificate chain can exceed one record;
/// a ClientHello with post-quantum key shares is about 2 KiB).
pub(crate) const HANDSHAKE_CAP: usize = 64 * 1024;

/// RFC 8446 §5.1: a plaintext record carries at most 2^14 bytes; RFC 5246 §6.2.3 allows
/// 2^14 + 2048 for compressed/protected ones, which we accept too.
pub(crate) const MAX_RECORD_LEN: usize = (1 << 14) + 2048;

const CT_CHANGE_CIPHER_SPEC: u8 = 20;
const CT_ALERT: u8 = 21;
const CT_HANDSHAKE: u8 = 22;
const CT_APPLICATION_DATA: u8 = 23;
const CT_HEARTBEAT: u8 = 24;

const HS_CLIENT_HELLO: u8 = 1;
const HS_SERVER_HELLO: u8 = 2;
const HS_CERTIFICATE: u8 = 11;

// IANA TLS ExtensionType values.
const EXT_SERVER_NAME: u16 = 0x0000;
const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
const EXT_ALPN: u16 = 0x0010;
const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;
/// draft-ietf-tls-esni (Encrypted Client Hello) `encrypted_client_hello`.
const EXT_ECH: u16 = 0xfe0d;

/// What a ClientHello offers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClientHelloInfo {
    /// The first `host_name` of the server_name extension. With ECH this is the
    /// *outer* (public) name, not the one the user asked for.
    pub sni: Option<WireString>,
    /// ALPN protocol names in offered order.
    pub alpn: Vec<WireString>,
    pub legacy_version: u16,
    /// `supported_versions` entries in offered order, GREASE removed.
    pub versions: Vec<u16>,
    /// Cipher suites offered, GREASE removed.
    pub cipher_suites: usize,
    /// Extension codes in wire order, GREASE removed.
    pub extensions: Vec<u16>,
    /// An `encrypted_client_hello` extension is present: the real server name may be
    /// encrypted and `sni` is then the outer (public) name. Browsers also send this
    /// extension as GREASE without ECH (draft-ietf-tls-esni §6.2), which the wire
    /// cannot tell apart: read it as "the SNI may not be the name the user asked for".
    pub ech: bool,
    /// Absent when the hello is damaged: a fingerprint of the extensions read
    /// before the damage would stand for a hello no client sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja4: Option<String>,
    /// What is wrong with the hello's extension block, when something is: the
    /// fields above hold what was read before the damage (as tshark shows them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub damaged: Option<String>,
}

/// What a ServerHello selects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerHelloInfo {
    /// The negotiated version: `supported_versions` when present (TLS 1.3), else the
    /// legacy field.
    pub version: u16,
    pub legacy_version: u16,
    pub cipher: u16,
    pub alpn: Option<WireString>,
}

/// The server certificate: as sent in clear (TLS 1.2 and older), or read from a
/// TLS 1.3 handshake decrypted with logged secrets (`decrypted`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertificateInfo {
    /// Read from a handshake decrypted with logged secrets (TLS 1.3).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub decrypted: bool,
    /// Certificates in the chain.
    pub chain_len: usize,
    /// Subject common name(s) of the first (leaf) certificate.
    pub subject_cn: Vec<WireString>,
    /// DNS names and IP addresses of its subjectAltName.
    pub sans: Vec<WireString>,
    /// Why the leaf could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A handshake message this dissector reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Handshake {
    ClientHello(ClientHelloInfo),
    ServerHello(ServerHelloInfo),
    Certificate(CertificateInfo),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("not a TLS record header: content type {content_type}, version {version:#06x}")]
    BadRecordHeader { content_type: u8, version: u16 },
    #[error("TLS record announces {len} bytes, more than the maximum {max}")]
    RecordTooLong { len: usize, max: usize },
    #[error(
        "TLS handshake message type {msg_type} announces {len} bytes, more than the {cap}-byte cap"
    )]
    HandshakeTooLarge {
        msg_type: u8,
        len: usize,
        cap: usize,
    },
    #[error("malformed TLS {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
}

fn malformed(what: &'static str, detail: impl Into<String>) -> TlsError {
    TlsError::Malformed {
        what,
        detail: detail.into(),
    }
}

/// Reads one complete handshake message (4-byte header included). Answers `Ok(None)`
/// for message types this dissector does not report.
pub fn parse_handshake(msg: &[u8], transport: Transport) -> Result<Option<Handshake>, TlsError> {
    let msg_type = *msg
        .first()
        .ok_or_else(|| malformed("handshake", "empty message"))?;
    if !matches!(msg_type, HS_CLIENT_HELLO | HS_SERVER_HELLO | HS_CERTIFICATE) {
        return Ok(None);
    }
    let parsed = tls_parser::parse_tls_message_handshake(msg);
    use tls_parser::{TlsMessage, TlsMessageHandshake as H};
    match parsed {
        Ok((_, TlsMessage::Handshake(H::ClientHello(ch)))) => {
            let ciphers: Vec<u16> = ch.ciphers.iter().map(|c| c.0).collect();
            client_hello(ch.version.0, &ciphers, ch.ext.unwrap_or(&[]), transport)
                .map(|c| Some(Handshake::ClientHello(c)))
        }
        Ok((_, TlsMessage::Handshake(H::ServerHello(sh)))) => {
            server_hello(sh.version.0, sh.cipher.0, sh.ext.unwrap_or(&[]))
                .map(|s| Some(Handshake::ServerHello(s)))
        }
        Ok((_, TlsMessage::Handshake(H::Certificate(c)))) => {
            Ok(Some(Handshake::Certificate(certificate(&c.cert_chain))))
        }
        // A draft-18 or retry-shaped ServerHello and the like: nothing we report.
        Ok(_) => Ok(None),
        Err(e) => Err(malformed(
            match msg_type {
                HS_CLIENT_HELLO => "ClientHello",
                HS_SERVER_HELLO => "ServerHello",
                _ => "Certificate",
            },
            // The parser's own error value quotes the remaining input; keep the
            // report to what is wrong.
            format!(
                "{} in a {}-byte message",
                if e.is_incomplete() {
                    "fields announce more bytes than the message holds"
                } else {
                    "invalid field value"
                },
                msg.len()
            ),
        )),
    }
}

/// Walks an extension block: (type, payload) pairs, checked. Answers the pairs read
/// up to the first that does not fit, and what is wrong with that one.
fn extensions(block: &[u8]) -> (Vec<(u16, &[u8])>, Option<TlsError>) {
    let mut r = Reader::new(block);
    let mut out = Vec::new();
    while !r.is_empty() {
        let at = r.pos();
        let (Some(t), Some(len)) = (r.u16(), r.u16()) else {
            let e = malformed("extensions", format!("truncated header at {at}"));
            return (out, Some(e));
        };
        let Some(data) = r.take(usize::from(len)) else {
            let e = malformed(
                "extensions",
                format!(
                    "extension {t:#06x} announces {len} bytes, {} left",
                    r.remaining()
                ),
            );
            return (out, Some(e));
        };
        out.push((t, data));
    }
    (out, None)
}

fn u16_list(data: &[u8], len_bytes: usize) -> Vec<u16> {
    let mut r = Reader::new(data);
    let n = match len_bytes {
        1 => r.u8().map(usize::from),
        _ => r.u16().map(usize::from),
    };
    let Some(list) = n.and_then(|n| r.take(n)) else {
        return Vec::new();
    };
    let mut r = Reader::new(list);
    let mut out = Vec::with_capacity(list.len() / 2);
    while let Some(v) = r.u16() {
        out.push(v);
    }
    out
}

/// RFC 7301 §3.1: ProtocolNameList, each name prefixed by one length byte.
fn alpn_list(data: &[u8]) -> Vec<WireString> {
    let mut r = Reader::new(data);
    let Some(list) = r.u16().and_then(|n| r.take(usize::from(n))) else {
        return Vec::new();
    };
    let mut r = Reader::new(list);
    let mut out = Vec::new();
    while let Some(name) = r.u8().and_then(|n| r.take(usize::from(n))) {
        out.push(WireString::new(name));
    }
    out
}

/// RFC 6066 §3: ServerNameList; the first `host_name` (type 0) entry.
fn server_name(data: &[u8]) -> Option<WireString> {
    let mut r = Reader::new(data);
    let list = r.u16().and_then(|n| r.take(usize::from(n)))?;
    let mut r = Reader::new(list);
    while let Some(kind) = r.u8() {
        let name = r.u16().and_then(|n| r.take(usize::from(n)))?;
        if kind == 0 {
            return Some(WireString::new(name));
        }
    }
    None
}

fn client_hello(
    legacy_version: u16,
    ciphers: &[u16],
    ext_block: &[u8],
    transport: Transport,
) -> Result<ClientHelloInfo, TlsError> {
    let (exts, damage) = extensions(ext_block);
    let mut sni = None;
    let mut has_sni = false;
    let mut alpn = Vec::new();
    let mut versions = Vec::new();
    let mut sigs = Vec::new();
    let mut ech = false;
    let mut codes = Vec::with_capacity(exts.len());
    for &(t, data) in &exts {
        codes.push(t);
        match t {
            EXT_SERVER_NAME => {
                has_sni = true;
                if sni.is_none() {
                    sni = server_name(data);
                }
            }
            EXT_ALPN if alpn.is_empty() => alpn = alpn_list(data),
            EXT_SUPPORTED_VERSIONS => versions = u16_list(data, 1),
            EXT_SIGNATURE_ALGORITHMS => sigs = u16_list(data, 2),
            EXT_ECH => ech = true,
            _ => {}
        }
    }
    let fp = damage.is_none().then(|| {
        ja4::ja4(&Ja4Input {
            transport,
            legacy_version,
            supported_versions: &versions,
            has_sni,
            ciphers,
            extensions: &codes,
            first_alpn: alpn.first().map(|a| a.as_bytes()),
            signature_algorithms: &sigs,
        })
    });
    versions.retain(|v| !is_grease(*v));
    codes.retain(|c| !is_grease(*c));
    Ok(ClientHelloInfo {
        sni,
        alpn,
        legacy_version,
        versions,
        cipher_suites: ciphers.iter().filter(|c| !is_grease(**c)).count(),
        extensions: codes,
        ech,
        ja4: fp,
        damaged: damage.map(|e| e.to_string()),
    })
}

fn server_hello(
    legacy_version: u16,
    cipher: u16,
    ext_block: &[u8],
) -> Result<ServerHelloInfo, TlsError> {
    let mut version = legacy_version;
    let mut alpn = None;
    let (exts, damage) = extensions(ext_block);
    if let Some(e) = damage {
        return Err(e);
    }
    for (t, data) in exts {
        match t {
            // RFC 8446 §4.2.1: in a ServerHello, supported_versions holds one version.
            EXT_SUPPORTED_VERSIONS => {
                if let Some(v) = Reader::new(data).u16() {
                    version = v;
                }
            }
            EXT_ALPN => alpn = alpn_list(data).into_iter().next(),
            _ => {}
        }
    }
    Ok(ServerHelloInfo {
        version,
        legacy_version,
        cipher,
        alpn,
    })
}

fn certificate(chain: &[tls_parser::RawCertificate<'_>]) -> CertificateInfo {
    certificate_info(chain.len(), chain.first().map(|c| c.data))
}

/// The names of a chain of `chain_len` certificates whose first (leaf) is `leaf`
/// (DER), wherever the chain was read.
pub fn certificate_info(chain_len: usize, leaf: Option<&[u8]>) -> CertificateInfo {
    let mut info = CertificateInfo {
        decrypted: false,
        chain_len,
        subject_cn: Vec::new(),
        sans: Vec::new(),
        error: None,
    };
    let Some(leaf) = leaf else {
        info.error = Some("empty certificate chain".into());
        return info;
    };
    match x509_parser::parse_x509_certificate(leaf) {
        Ok((_, cert)) => {
            for cn in cert.subject().iter_common_name() {
                info.subject_cn.push(WireString::new(cn.as_slice()));
            }
            match cert.subject_alternative_name() {
                Ok(Some(san)) => {
                    use x509_parser::extensions::GeneralName;
                    for name in &san.value.general_names {
                        match name {
                            GeneralName::DNSName(s) => info.sans.push(WireString::from(*s)),
                            GeneralName::IPAddress(b) => {
                                let ip = match b.len() {
                                    4 => <[u8; 4]>::try_from(*b)
                                        .ok()
                                        .map(|a| std::net::IpAddr::from(a).to_string()),
                                    16 => <[u8; 16]>::try_from(*b)
                                        .ok()
                                        .map(|a| std::net::IpAddr::from(a).to_string()),
                                    _ => None,
                                };
                                if let Some(ip) = ip {
                                    info.sans.push(WireString::from(ip.as_str()));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => info.error = Some(format!("subjectAltName: {e}")),
            }
        }
        Err(e) => info.error = Some(format!("leaf certificate: {e}")),
    }
    info
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    Encrypted,
    Stopped,
    NotMine,
}

/// A whole handshake message and the stream range of the records that carried it.
type Popped = (Vec<u8>, Range<usize>);

/// One record's contribution to the handshake buffer.
#[derive(Clone, Copy, Debug)]
struct Contribution {
    /// Length of the handshake buffer after this record's bytes.
    hs_end: usize,
    record: (usize, usize),
}

/// Reads the TLS handshake of one TCP direction from its contiguous prefix.
///
/// Call [`TlsStream::next`] with the whole contiguous prefix (it only grows) until it
/// answers `NeedMore`, `Done` or `NotMine`.
#[derive(Clone, Debug)]
pub struct TlsStream {
    /// Stream offset of the next record header.
    offset: usize,
    state: State,
    hs: Vec<u8>,
    parts: Vec<Contribution>,
}

impl Default for TlsStream {
    fn default() -> Self {
        TlsStream::new()
    }
}

impl TlsStream {
    pub fn new() -> Self {
        TlsStream {
            offset: 0,
            state: State::Open,
            hs: Vec::new(),
            parts: Vec::new(),
        }
    }

    /// The handshake is over in this direction (encrypted from here on).
    pub(crate) fn is_encrypted(&self) -> bool {
        self.state == State::Encrypted
    }

    fn stop(&mut self, state: State) {
        self.state = state;
        self.hs = Vec::new();
        self.parts = Vec::new();
    }

    /// Pops one complete handshake message from the buffer, with the stream range of
    /// the records that carried it.
    fn pop_message(&mut self) -> Option<Result<Popped, TlsError>> {
        let mut r = Reader::new(&self.hs);
        let msg_type = r.u8()?;
        let len = usize::try_from(r.u24()?).ok()?;
        if len > HANDSHAKE_CAP {
            return Some(Err(TlsError::HandshakeTooLarge {
                msg_type,
                len,
                cap: HANDSHAKE_CAP,
            }));
        }
        let total = 4 + len;
        if self.hs.len() < total {
            return None;
        }
        let first = self.parts.first()?.record;
        let last = self.parts.iter().find(|p| p.hs_end >= total)?.record;
        // The message leaves in the buffer's own allocation; what follows it (most
        // often nothing) is copied into a new one.
        let rest = self.hs.split_off(total);
        let msg = std::mem::replace(&mut self.hs, rest);
        self.parts.retain(|p| p.hs_end > total);
        for p in &mut self.parts {
            p.hs_end -= total;
        }
        Some(Ok((msg, first.0..last.1)))
    }

    pub fn next(&mut self, stream: &[u8]) -> Step<Handshake, TlsError> {
        loop {
            match self.state {
                State::NotMine => return Step::NotMine,
                State::Stopped | State::Encrypted if self.hs.is_empty() => return Step::Done,
                _ => {}
            }
            match self.pop_message() {
                Some(Ok((msg, range))) => match parse_handshake(&msg, Transport::Tcp) {
                    Ok(Some(record)) => return Step::Record { range, record },
                    Ok(None) => continue,
                    Err(error) => {
                        return Step::Error {
                            offset: range.start,
                            error,
                        }
                    }
                },
                Some(Err(error)) => {
                    let offset = self.parts.first().map_or(self.offset, |p| p.record.0);
                    self.stop(State::Stopped);
                    return Step::Error { offset, error };
                }
                None => {}
            }
            if self.state != State::Open {
                // Leftover partial handshake bytes can never complete.
                self.stop(self.state);
                return Step::Done;
            }
            let start = self.offset;
            let Some(header) = stream.get(start..start.saturating_add(5)) else {
                return Step::NeedMore {
                    need: start.checked_add(5),
                };
            };
            let mut r = Reader::new(header);
            let (Some(ct), Some(version), Some(len)) = (r.u8(), r.u16(), r.u16()) else {
                return Step::NeedMore { need: None };
            };
            let len = usize::from(len);
            let known = matches!(ct, CT_CHANGE_CIPHER_SPEC..=CT_HEARTBEAT);
            if !known || version >> 8 != 3 || (start == 0 && ct != CT_HANDSHAKE) {
                if start == 0 {
                    self.stop(State::NotMine);
                    return Step::NotMine;
                }
                self.stop(State::Stopped);
                return Step::Error {
                    offset: start,
                    error: TlsError::BadRecordHeader {
                        content_type: ct,
                        version,
                    },
                };
            }
            if len > MAX_RECORD_LEN {
                self.stop(State::Stopped);
                return Step::Error {
                    offset: start,
                    error: TlsError::RecordTooLong {
                        len,
                        max: MAX_RECORD_LEN,
                    },
                };
            }
            let end = start + 5 + len;
            let Some(body) = stream.get(start + 5..end) else {
                return Step::NeedMore { need: Some(end) };
            };
            self.offset = end;
            match ct {
                CT_HANDSHAKE => {
                    if self.hs.len() + body.len() > HANDSHAKE_CAP + 4 {
                        self.stop(State::Stopped);
                        return Step::Error {
                            offset: start,
                            error: TlsError::HandshakeTooLarge {
                                msg_type: self.hs.first().copied().unwrap_or(0),
                                len: self.hs.len() + body.len(),
                                cap: HANDSHAKE_CAP,
                            },
                        };
                    }
                    self.hs.extend_from_slice(body);
                    self.parts.push(Contribution {
                        hs_end: self.hs.len(),
                        record: (start, end),
                    });
                }
                // RFC 5246 §7.1 / RFC 8446 §5: after ChangeCipherSpec or application
                // data, handshake bytes are encrypted.
                CT_CHANGE_CIPHER_SPEC | CT_APPLICATION_DATA => self.state = State::Encrypted,
                // Plaintext alerts and heartbeats carry nothing we report.
                CT_ALERT | CT_HEARTBEAT => {}
                _ => {}
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::flow::reassembly::{Budget, StreamPrefix};

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
        s.chunks(2)
            .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }

    // Chromium 156 headless ClientHello (X25519MLKEM768 key share, 1988 bytes of TCP
    // payload) recorded on loopback against `openssl s_server`; see
    // tests/fixtures/dissect/README.md.
    const CHROMIUM_HELLO: &str =
        include_str!("../../tests/fixtures/dissect/chromium156_client_hello.hex");
    // The server's first flight (ServerHello, CCS, encrypted records), same capture.
    const OPENSSL_TLS13_FLIGHT: &str =
        include_str!("../../tests/fixtures/dissect/openssl30_tls13_server_flight.hex");
    // curl --tls-max 1.2 ClientHello and the openssl s_server -tls1_2 flight
    // (ServerHello, Certificate, ServerKeyExchange, ServerHelloDone).
    const CURL_TLS12_HELLO: &str =
        include_str!("../../tests/fixtures/dissect/curl_tls12_client_hello.hex");
    const OPENSSL_TLS12_FLIGHT: &str =
        include_str!("../../tests/fixtures/dissect/openssl30_tls12_server_flight.hex");

    fn all(stream: &[u8]) -> Vec<Step<Handshake, TlsError>> {
        let mut t = TlsStream::new();
        let mut out = Vec::new();
        loop {
            let s = t.next(stream);
            let stop = !matches!(s, Step::Record { .. } | Step::Error { .. });
            out.push(s);
            if stop || out.len() > 100 {
                return out;
            }
        }
    }

    fn client_hello_of(steps: &[Step<Handshake, TlsError>]) -> &ClientHelloInfo {
        steps
            .iter()
            .find_map(|s| match s {
                Step::Record {
                    record: Handshake::ClientHello(c),
                    ..
                } => Some(c),
                _ => None,
            })
            .expect("a ClientHello")
    }

    #[test]
    fn chromium_client_hello_gives_sni_alpn_versions_and_ja4() {
        let bytes = hex(CHROMIUM_HELLO);
        let steps = all(&bytes);
        let ch = client_hello_of(&steps);
        assert_eq!(ch.sni, Some(WireString::from("www.example.test")));
        assert_eq!(
            ch.alpn,
            vec![WireString::from("h2"), WireString::from("http/1.1")]
        );
        assert_eq!(ch.versions, vec![0x0304, 0x0303]);
        // Chromium always sends an encrypted_client_hello extension (GREASE ECH when
        // it has no ECH configuration, indistinguishable on the wire by design).
        assert!(ch.ech);
        // Expected value computed from tshark's decoding of the same frame by
        // tests/fixtures/dissect/ja4_from_tshark.py.
        assert_eq!(
            ch.ja4.as_deref(),
            Some("t13d1517h2_8daaf6152771_cb7bf5808d99")
        );
        assert!(
            matches!(steps.first(), Some(Step::Record { range, .. }) if *range == (0..bytes.len()))
        );
        assert_eq!(
            steps.last(),
            Some(&Step::NeedMore {
                need: Some(bytes.len() + 5)
            })
        );
    }

    fn split_and_feed(
        bytes: &[u8],
        cuts: &[usize],
        order: &[usize],
    ) -> (ClientHelloInfo, Vec<u64>) {
        let mut pieces = Vec::new();
        let mut start = 0;
        for &c in cuts.iter().chain(std::iter::once(&bytes.len())) {
            pieces.push((start, &bytes[start..c]));
            start = c;
        }
        let mut budget = Budget::new(1 << 20);
        let mut p = StreamPrefix::default();
        let isn = u32::MAX - 700; // also crosses the sequence wrap
        p.push(&mut budget, isn, b"", true, 1);
        let mut t = TlsStream::new();
        let mut found = None;
        for &i in order {
            let (off, piece) = pieces[i];
            let seq = isn.wrapping_add(1).wrapping_add(off as u32);
            p.push(&mut budget, seq, piece, false, 10 + i as u64);
            loop {
                match t.next(p.contiguous()) {
                    Step::Record {
                        range,
                        record: Handshake::ClientHello(c),
                    } => found = Some((c, p.frames_of(range))),
                    Step::Record { .. } => {}
                    _ => break,
                }
            }
        }
        found.expect("ClientHello after all segments")
    }

    #[test]
    fn sni_survives_browser_client_hello_split_over_two_segments_out_of_order() {
        let bytes = hex(CHROMIUM_HELLO);
        let (ch, frames) = split_and_feed(&bytes, &[1000], &[1, 0]);
        assert_eq!(ch.sni, Some(WireString::from("www.example.test")));
        assert_eq!(frames, vec![10, 11]);
    }

    #[test]
    fn sni_survives_browser_client_hello_split_over_three_segments_out_of_order() {
        let bytes = hex(CHROMIUM_HELLO);
        for order in [[2, 1, 0], [1, 2, 0], [2, 0, 1], [0, 2, 1]] {
            let (ch, frames) = split_and_feed(&bytes, &[3, 700], &order);
            assert_eq!(ch.sni, Some(WireString::from("www.example.test")));
            assert_eq!(frames, vec![10, 11, 12]);
        }
    }

    /// Re-frames one handshake message into TLS records of at most `max` bytes each.
    fn reframe(stream: &[u8], max: usize) -> Vec<u8> {
        let body = &stream[5..];
        let mut out = Vec::new();
        for chunk in body.chunks(max) {
            out.extend_from_slice(&[22, 3, 1]);
            out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
            out.extend_from_slice(chunk);
        }
        out
    }

    #[test]
    fn client_hello_spread_over_several_records_is_reassembled() {
        let bytes = hex(CHROMIUM_HELLO);
        let direct = client_hello_of(&all(&bytes)).clone();
        let reframed = reframe(&bytes, 300);
        let steps = all(&reframed);
        assert_eq!(client_hello_of(&steps), &direct);
        assert!(
            matches!(steps.first(), Some(Step::Record { range, .. }) if *range == (0..reframed.len()))
        );
    }

    #[test]
    fn tls13_server_hello_reports_selected_version_then_done() {
        let bytes = hex(OPENSSL_TLS13_FLIGHT);
        let steps = all(&bytes);
        match steps.first() {
            Some(Step::Record {
                record: Handshake::ServerHello(s),
                ..
            }) => {
                assert_eq!(s.version, 0x0304);
                assert_eq!(s.legacy_version, 0x0303);
                assert_eq!(s.cipher, 0x1301);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(steps.last(), Some(&Step::Done));
    }

    #[test]
    fn tls12_certificate_gives_subject_and_sans() {
        let ch = client_hello_of(&all(&hex(CURL_TLS12_HELLO))).clone();
        assert_eq!(ch.sni, Some(WireString::from("www.example.test")));
        assert!(!ch.ech);
        // Expected value from tests/fixtures/dissect/ja4_from_tshark.py on the capture.
        assert_eq!(
            ch.ja4.as_deref(),
            Some("t12d2807h2_d943125447b4_a44c6288192a")
        );
        let steps = all(&hex(OPENSSL_TLS12_FLIGHT));
        let cert = steps
            .iter()
            .find_map(|s| match s {
                Step::Record {
                    record: Handshake::Certificate(c),
                    ..
                } => Some(c),
                _ => None,
            })
            .expect("certificate");
        assert_eq!(cert.subject_cn, vec![WireString::from("www.example.test")]);
        assert_eq!(
            cert.sans,
            vec![
                WireString::from("www.example.test"),
                WireString::from("cdn.example.test")
            ]
        );
        let sh = steps.iter().find_map(|s| match s {
            Step::Record {
                record: Handshake::ServerHello(s),
                ..
            } => Some(s),
            _ => None,
        });
        assert_eq!(sh.map(|s| s.version), Some(0x0303));
    }

    #[test]
    fn ech_extension_is_flagged_and_sni_is_the_outer_name() {
        // Chromium's hello carries encrypted_client_hello (0xfe0d): the flag is raised
        // and the SNI is the outer name. With the extension code rewritten to an
        // unassigned one (0xfe0e), the same hello is not flagged.
        let mut bytes = hex(CHROMIUM_HELLO);
        let ch = client_hello_of(&all(&bytes)).clone();
        assert!(ch.ech);
        assert_eq!(ch.sni, Some(WireString::from("www.example.test")));
        let at = bytes
            .windows(2)
            .enumerate()
            .filter(|(_, w)| *w == [0xfe, 0x0d])
            .map(|(i, _)| i)
            .find(|&i| {
                let mut b = bytes.clone();
                b[i + 1] = 0x0e;
                !client_hello_of(&all(&b)).ech
            })
            .expect("the extension code");
        bytes[at + 1] = 0x0e;
        assert!(!client_hello_of(&all(&bytes)).ech);
    }

    #[test]
    fn http_bytes_are_not_mine() {
        assert_eq!(all(b"GET / HTTP/1.1\r\n\r\n"), vec![Step::NotMine]);
    }

    #[test]
    fn oversized_handshake_length_is_an_error_not_a_wait() {
        let rec = [22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff];
        let steps = all(&rec);
        assert!(matches!(
            steps.first(),
            Some(Step::Error {
                error: TlsError::HandshakeTooLarge { .. },
                ..
            })
        ));
    }

    #[test]
    fn record_length_beyond_maximum_is_an_error() {
        let steps = all(&[22, 3, 3, 0xff, 0xff]);
        assert!(matches!(
            steps.first(),
            Some(Step::Error {
                error: TlsError::RecordTooLong { len: 65535, .. },
                ..
            })
        ));
    }

    /// A ClientHello record offering TLS_AES_128_GCM_SHA256 with `exts` as its
    /// extension block, whatever that holds.
    fn hello_with_extensions(exts: &[u8]) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend([7u8; 32]);
        body.extend([0, 0, 2, 0x13, 0x01, 1, 0]);
        body.extend((exts.len() as u16).to_be_bytes());
        body.extend(exts);
        let mut hs = vec![HS_CLIENT_HELLO, 0];
        hs.extend((body.len() as u16).to_be_bytes());
        hs.extend(body);
        let mut rec = vec![0x16, 0x03, 0x01];
        rec.extend((hs.len() as u16).to_be_bytes());
        rec.extend(hs);
        rec
    }

    #[test]
    fn a_hello_damaged_after_its_server_name_keeps_the_name_not_a_fingerprint() {
        let name = b"damaged.example";
        let mut exts = vec![0, 0];
        exts.extend(((name.len() + 5) as u16).to_be_bytes());
        exts.extend(((name.len() + 3) as u16).to_be_bytes());
        exts.push(0);
        exts.extend((name.len() as u16).to_be_bytes());
        exts.extend(name);
        // ALPN whose list claims far more than the extension holds, then an
        // extension announcing more bytes than are left (as in nDPI's
        // tls_invalid_reads.pcap, read by tshark up to the damage).
        exts.extend([0x00, 0x10, 0x00, 0x04, 0xb8, 0x89, 0x02, 0x68]);
        exts.extend([0x47, 0xe3, 0x4f, 0xc6, 1, 2, 3]);
        let steps = all(&hello_with_extensions(&exts));
        let ch = client_hello_of(&steps);
        assert_eq!(ch.sni, Some(WireString::from("damaged.example")));
        assert!(ch.alpn.is_empty());
        assert_eq!(ch.extensions, vec![0x0000, 0x0010]);
        assert_eq!(ch.ja4, None, "no fingerprint of a hello no client sent");
        assert_eq!(
            ch.damaged.as_deref(),
            Some("malformed TLS extensions: extension 0x47e3 announces 20422 bytes, 3 left")
        );
        let json = serde_json::to_value(ch).unwrap();
        assert!(json.get("ja4").is_none() && json["damaged"].is_string());
        // Whole, the same hello has its fingerprint and no damage.
        let whole = all(&hello_with_extensions(&exts[..exts.len() - 7]));
        let ch = client_hello_of(&whole);
        assert!(ch.ja4.is_some() && ch.damaged.is_none());
        assert!(serde_json::to_value(ch).unwrap().get("damaged").is_none());
    }

    #[test]
    fn every_truncation_of_a_real_hello_is_safe() {
        let bytes = hex(CHROMIUM_HELLO);
        assert!(matches!(
            all(&bytes).first(),
            Some(Step::Record {
                record: Handshake::ClientHello(_),
                ..
            })
        ));
        // Cut anywhere, nothing is reported yet: the dissector waits for more bytes.
        for n in 0..bytes.len() {
            let steps = all(&bytes[..n]);
            assert!(
                matches!(steps.as_slice(), [Step::NeedMore { .. }]),
                "cut at {n}: {steps:?}"
            );
        }
        // And with corrupted bytes.
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xff;
            let _ = all(&b);
        }
    }
}
