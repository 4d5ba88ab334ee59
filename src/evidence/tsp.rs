//! RFC 3161 time-stamps: build a `TimeStampReq` over a manifest's SHA-256, send it to a
//! time-stamp authority over HTTP (RFC 3161 §3.4, `application/timestamp-query`), and
//! verify a `TimeStampResp` offline.
//!
//! ASN.1 comes from RustCrypto `x509-tsp`, `cms` and `x509-cert` (all on `der` 0.7, one
//! consistent stable family); signatures are checked with `ring` (RSA PKCS#1 v1.5 with
//! SHA-256/384/512, ECDSA P-256/P-384), which is what rustls relies on.
//!
//! Verification follows RFC 3161 §2.4.2 and RFC 5652 §5.4/§5.6: status granted; the
//! token is SignedData over an id-ct-TSTInfo; the TSTInfo message imprint is SHA-256 of
//! the expected bytes; the signed attributes carry content-type TSTInfo and a
//! messageDigest equal to the digest of the encapsulated TSTInfo; the signature over the
//! DER SET OF signed attributes verifies with the TSA certificate; that certificate
//! is the one the ESS signing-certificate attribute names by hash (RFC 2634 §5.4, RFC
//! 5035); it has the timeStamping extended key usage (RFC 3161 §2.3) and was valid at
//! genTime. Trust is a separate answer: a chain from that certificate, through the
//! certificates in the token, to a trust anchor (each link's signature checked). A
//! token whose chain leads nowhere is "signature valid but TSA not trusted". Not
//! checked: revocation, name constraints, path length.
//!
//! Replies are decoded as BER allows: a certificate listed twice in the token (what
//! `openssl ts -reply` writes with `certs` in its configuration) is accepted, and the
//! signature is checked over the signed attributes exactly as received.
//!
//! genTime may carry fractional seconds (RFC 3161 §2.4.2 allows them; `der` 0.7's
//! `GeneralizedTime` does not), so TSTInfo is decoded with genTime kept as raw bytes
//! and read by [`parse_gen_time`].
//!
//! Contract: every malformed input is a [`TspError`] naming what was expected.

use der::asn1::{Int, Null, OctetString};
use der::oid::ObjectIdentifier;
use der::{Any, Decode, Encode, Tagged};
use sha2::Digest as _;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::Extensions;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;
use x509_tsp::{Accuracy, MessageImprint, TimeStampReq, TimeStampResp, TspVersion};

/// RFC 3161 §2.4.2 TSTInfo, as `x509_tsp::TstInfo` but with genTime undecoded, so that
/// fractional seconds (`20261121130000.123Z`) are accepted.
#[derive(Clone, Debug, Eq, PartialEq, der::Sequence)]
struct TstInfo {
    version: TspVersion,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: Int,
    gen_time: Any,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<Extensions>,
}

/// Reads a DER GeneralizedTime value (`YYYYMMDDHHMMSS[.f+]Z`, X.690 §11.7) into
/// RFC 3339 text and Unix seconds (the fraction is kept in the text, dropped from the
/// seconds).
pub(crate) fn parse_gen_time(value: &[u8]) -> Option<(String, i64)> {
    let text = std::str::from_utf8(value).ok()?;
    let body = text.strip_suffix('Z')?;
    let (whole, fraction) = match body.split_once('.') {
        Some((w, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => (w, Some(f)),
        Some(_) => return None,
        None => (body, None),
    };
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| whole.get(r).and_then(|s| s.parse::<u32>().ok());
    let month = time::Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::try_from(num(0..4)?).ok()?,
        month,
        u8::try_from(num(6..8)?).ok()?,
    )
    .ok()?;
    let t = time::Time::from_hms(
        u8::try_from(num(8..10)?).ok()?,
        u8::try_from(num(10..12)?).ok()?,
        u8::try_from(num(12..14)?).ok()?,
    )
    .ok()?;
    let unix = time::PrimitiveDateTime::new(date, t)
        .assume_utc()
        .unix_timestamp();
    let shown = format!(
        "{}-{}-{}T{}:{}:{}{}Z",
        whole.get(0..4)?,
        whole.get(4..6)?,
        whole.get(6..8)?,
        whole.get(8..10)?,
        whole.get(10..12)?,
        whole.get(12..14)?,
        fraction.map(|f| format!(".{f}")).unwrap_or_default()
    );
    Some((shown, unix))
}

const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const CT_TSTINFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ATTR_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ATTR_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const RSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const RSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
// RFC 2634 §5.4 / RFC 5035 §3: ESS signing-certificate attributes.
const ATTR_SIGNING_CERT: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.12");
const ATTR_SIGNING_CERT_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

/// Everything that can be wrong with a request, reply or token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TspError {
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("the TSA did not grant the request: status {status}{text}")]
    NotGranted { status: String, text: String },
    #[error("the reply carries no time-stamp token")]
    NoToken,
    #[error("message imprint algorithm expected SHA-256 found {found}")]
    ImprintAlgorithm { found: String },
    #[error("message imprint {found} does not match {expected}")]
    ImprintMismatch { expected: String, found: String },
    #[error("nonce expected {expected} found {found}")]
    NonceMismatch { expected: String, found: String },
    #[error("signed attribute {attribute}: expected {expected} found {found}")]
    SignedAttribute {
        attribute: &'static str,
        expected: String,
        found: String,
    },
    #[error("unsupported {what} {oid}")]
    Unsupported { what: &'static str, oid: String },
    #[error("signature does not verify with the certificate of {subject}")]
    BadSignature { subject: String },
    #[error("no signer certificate: the token carries none, pass --tsa-cert")]
    NoSignerCertificate,
    #[error(
        "token signed by issuer {issuer} serial {serial}, not by the given certificate ({subject})"
    )]
    OtherSigner {
        issuer: String,
        serial: String,
        subject: String,
    },
    #[error("TSA certificate {subject} lacks the timeStamping extended key usage (RFC 3161 §2.3)")]
    NotTimeStamping { subject: String },
    #[error("TSA certificate {subject} is not issued by the given CA {ca}: {reason}")]
    NotIssuedByCa {
        subject: String,
        ca: String,
        reason: String,
    },
    #[error("TSA certificate {subject} was not valid at genTime {gen_time} (valid {not_before} to {not_after})")]
    OutsideValidity {
        subject: String,
        gen_time: String,
        not_before: String,
        not_after: String,
    },
    #[error("sending the request to {url}: {reason}")]
    Transport { url: String, reason: String },
}

fn malformed(what: &'static str) -> impl Fn(der::Error) -> TspError {
    move |e| TspError::Malformed {
        what,
        reason: e.to_string(),
    }
}

/// Builds a DER `TimeStampReq` (RFC 3161 §2.4.1) for a SHA-256 digest, with a nonce
/// and `certReq` true so the reply carries the TSA certificate.
pub fn request(sha256: &[u8], nonce: [u8; 8]) -> Result<Vec<u8>, TspError> {
    let mut n = nonce;
    // A positive INTEGER with no leading zero byte: clear the sign bit, set the next.
    n[0] = (n[0] & 0x7f) | 0x40;
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: SHA256,
                parameters: Some(Any::from(Null)),
            },
            hashed_message: OctetString::new(sha256).map_err(malformed("message imprint"))?,
        },
        req_policy: None,
        nonce: Some(Int::new(&n).map_err(malformed("nonce"))?),
        cert_req: true,
        extensions: None,
    };
    req.to_der().map_err(malformed("TimeStampReq"))
}

/// A fresh random nonce.
pub(crate) fn random_nonce() -> [u8; 8] {
    use ring::rand::SecureRandom;
    let mut n = [0u8; 8];
    // SystemRandom reads getrandom(2); if it ever fails, fall back to the clock, which
    // still makes replays detectable, just less strongly.
    if ring::rand::SystemRandom::new().fill(&mut n).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        n = (t as u64).to_be_bytes();
    }
    n
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    pub imprint_sha256: String,
    pub nonce: Option<String>,
}

pub fn parse_request(der: &[u8]) -> Result<RequestInfo, TspError> {
    let req = TimeStampReq::from_der(der).map_err(malformed("TimeStampReq"))?;
    if req.message_imprint.hash_algorithm.oid != SHA256 {
        return Err(TspError::ImprintAlgorithm {
            found: req.message_imprint.hash_algorithm.oid.to_string(),
        });
    }
    Ok(RequestInfo {
        imprint_sha256: super::hash::hex(req.message_imprint.hashed_message.as_bytes()),
        nonce: req.nonce.map(|n| super::hash::hex(n.as_bytes())),
    })
}

/// What a verified (or merely inspected) token says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    /// genTime as RFC 3339 UTC.
    pub gen_time: String,
    pub gen_time_unix: i64,
    pub serial: String,
    pub policy: String,
    /// The message imprint (hex), whatever its algorithm; `imprint_sha256` repeats it
    /// when the algorithm is SHA-256 and is empty otherwise.
    pub imprint_sha256: String,
    pub nonce: Option<String>,
    /// Subject of the certificate the signature was checked with, if it was.
    pub signer: Option<String>,
    /// `sha256`, `sha384` or `sha512`.
    #[serde(default)]
    pub imprint_algorithm: String,
    #[serde(default)]
    pub imprint: String,
    /// The TSA as its signing certificate names it: subject, serial, issuer.
    #[serde(default)]
    pub tsa: Option<TsaName>,
    /// The trust anchor the signer's chain leads to (subject and where it came from),
    /// or `None`: signature valid but TSA not trusted.
    #[serde(default)]
    pub trusted: Option<String>,
}

impl TokenInfo {
    /// The details a custody entry records of a reply, with `extra` fields first.
    pub(crate) fn custody_details(&self, extra: serde_json::Value) -> serde_json::Value {
        let mut d = match extra {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        for (k, v) in [
            ("gen_time", serde_json::json!(self.gen_time)),
            ("serial", serde_json::json!(self.serial)),
            ("policy", serde_json::json!(self.policy)),
            ("nonce", serde_json::json!(self.nonce)),
            ("imprint_sha256", serde_json::json!(self.imprint_sha256)),
        ] {
            d.insert(k.into(), v);
        }
        serde_json::Value::Object(d)
    }
}

/// Who signed a token, as its certificate says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TsaName {
    pub subject: String,
    pub serial: String,
    pub issuer: String,
}

impl std::fmt::Display for TsaName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (serial {}, issued by {})",
            self.subject, self.serial, self.issuer
        )
    }
}

/// A certificate a time-stamp may chain to, with where it came from (`--tsa-ca
/// ca.pem`, `trusted-tsa.pem in the case`, the bundled list).
#[derive(Clone, Debug)]
pub struct Anchor {
    pub cert: Certificate,
    pub source: String,
}

/// SignerInfo (RFC 5652 §5.3), decoded field by field so that the signed attributes
/// keep the exact bytes that were signed.
struct RawSignerInfo {
    sid: cms::signed_data::SignerIdentifier,
    digest_alg: AlgorithmIdentifierOwned,
    /// The DER of the signed attributes as a SET OF (tag 0x31), as received.
    signed_attrs_der: Option<Vec<u8>>,
    signed_attrs: Vec<x509_cert::attr::Attribute>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: Vec<u8>,
}

/// SignedData (RFC 5652 §5.1), decoded without insisting on DER's SET OF rules:
/// `openssl ts -reply` with `certs` in its configuration puts the signer's certificate
/// in the set twice, which BER allows and `openssl ts -verify` accepts, but which a
/// strict DER SET OF decoder refuses as a duplicate.
struct RawSignedData {
    econtent_type: ObjectIdentifier,
    econtent: Option<Vec<u8>>,
    certificates: Vec<Certificate>,
    signer_infos: Vec<RawSignerInfo>,
}

/// The elements of a constructed value, each as a whole TLV.
fn elements(value: &[u8], what: &'static str) -> Result<Vec<Any>, TspError> {
    use der::Reader as _;
    let mut r = der::SliceReader::new(value).map_err(malformed(what))?;
    let mut out = Vec::new();
    while !r.is_finished() {
        out.push(Any::decode(&mut r).map_err(malformed(what))?);
        if out.len() > 10_000 {
            return Err(TspError::Malformed {
                what,
                reason: "more than 10000 elements".into(),
            });
        }
    }
    Ok(out)
}

fn context_tag(a: &Any, n: u8) -> bool {
    matches!(a.tag(), der::Tag::ContextSpecific { number, .. } if number.value() == n)
}

fn parse_signed_data(content: &Any) -> Result<RawSignedData, TspError> {
    const WHAT: &str = "SignedData";
    if content.tag() != der::Tag::Sequence {
        return Err(TspError::Malformed {
            what: WHAT,
            reason: format!("expected SEQUENCE found {}", content.tag()),
        });
    }
    let els = elements(content.value(), WHAT)?;
    let mut it = els.into_iter();
    let (_version, _digests, encap) = match (it.next(), it.next(), it.next()) {
        (Some(v), Some(d), Some(e)) => (v, d, e),
        _ => {
            return Err(TspError::Malformed {
                what: WHAT,
                reason: "fewer than the required fields".into(),
            })
        }
    };
    let encap: cms::signed_data::EncapsulatedContentInfo = encap
        .decode_as()
        .map_err(malformed("EncapsulatedContentInfo"))?;
    let econtent = match &encap.econtent {
        Some(e) => Some(
            e.decode_as::<OctetString>()
                .map_err(malformed("encapsulated TSTInfo"))?
                .as_bytes()
                .to_vec(),
        ),
        None => None,
    };
    let mut out = RawSignedData {
        econtent_type: encap.econtent_type,
        econtent,
        certificates: Vec::new(),
        signer_infos: Vec::new(),
    };
    for el in it {
        if context_tag(&el, 0) {
            for c in elements(el.value(), "certificates")? {
                // CertificateChoices: only plain certificates (a SEQUENCE) are used;
                // attribute and other certificate formats are skipped.
                if c.tag() == der::Tag::Sequence {
                    let bytes = c.to_der().map_err(malformed("certificate"))?;
                    out.certificates
                        .push(Certificate::from_der(&bytes).map_err(malformed("certificate"))?);
                }
            }
        } else if context_tag(&el, 1) {
            // CRLs: not used.
        } else if el.tag() == der::Tag::Set {
            for si in elements(el.value(), "SignerInfos")? {
                out.signer_infos.push(parse_signer_info(&si)?);
            }
        } else {
            return Err(TspError::Malformed {
                what: WHAT,
                reason: format!("unexpected field with tag {}", el.tag()),
            });
        }
    }
    Ok(out)
}

fn parse_signer_info(si: &Any) -> Result<RawSignerInfo, TspError> {
    const WHAT: &str = "SignerInfo";
    let short = || TspError::Malformed {
        what: WHAT,
        reason: "fewer than the required fields".into(),
    };
    let els = elements(si.value(), WHAT)?;
    let mut it = els.into_iter().peekable();
    let _version = it.next().ok_or_else(short)?;
    let sid_any = it.next().ok_or_else(short)?;
    let sid_der = sid_any.to_der().map_err(malformed("SignerIdentifier"))?;
    let sid = cms::signed_data::SignerIdentifier::from_der(&sid_der)
        .map_err(malformed("SignerIdentifier"))?;
    let digest_alg: AlgorithmIdentifierOwned = it
        .next()
        .ok_or_else(short)?
        .decode_as()
        .map_err(malformed("digestAlgorithm"))?;
    let mut signed_attrs_der = None;
    let mut signed_attrs = Vec::new();
    if it.peek().is_some_and(|a| context_tag(a, 0)) {
        let a = it.next().ok_or_else(short)?;
        // RFC 5652 §5.4: the signature covers the attributes' DER with the EXPLICIT SET
        // OF tag in place of the IMPLICIT [0].
        let mut bytes = a.to_der().map_err(malformed("signed attributes"))?;
        if let Some(first) = bytes.first_mut() {
            *first = 0x31;
        }
        for attr in elements(a.value(), "signed attributes")? {
            signed_attrs.push(attr.decode_as().map_err(malformed("signed attribute"))?);
        }
        signed_attrs_der = Some(bytes);
    }
    let signature_algorithm: AlgorithmIdentifierOwned = it
        .next()
        .ok_or_else(short)?
        .decode_as()
        .map_err(malformed("signatureAlgorithm"))?;
    let signature: OctetString = it
        .next()
        .ok_or_else(short)?
        .decode_as()
        .map_err(malformed("signature"))?;
    Ok(RawSignerInfo {
        sid,
        digest_alg,
        signed_attrs_der,
        signed_attrs,
        signature_algorithm,
        signature: signature.as_bytes().to_vec(),
    })
}

/// The parts of a reply needed for checks.
struct Parsed {
    info: TokenInfo,
    signed_data: RawSignedData,
    econtent: Vec<u8>,
}

fn algorithm_name(oid: &ObjectIdentifier) -> Option<&'static str> {
    match *oid {
        SHA256 => Some("sha256"),
        SHA384 => Some("sha384"),
        SHA512 => Some("sha512"),
        _ => None,
    }
}

fn parse_reply(der: &[u8]) -> Result<Parsed, TspError> {
    let resp = TimeStampResp::from_der(der).map_err(malformed("TimeStampResp"))?;
    use cmpv2::status::PkiStatus;
    match resp.status.status {
        PkiStatus::Accepted | PkiStatus::GrantedWithMods => {}
        other => {
            return Err(TspError::NotGranted {
                status: format!("{other:?}"),
                text: resp
                    .status
                    .status_string
                    .as_ref()
                    .map(|t| format!(" ({t:?})"))
                    .unwrap_or_default(),
            })
        }
    }
    let token = resp.time_stamp_token.ok_or(TspError::NoToken)?;
    if token.content_type != SIGNED_DATA {
        return Err(TspError::Unsupported {
            what: "token content type",
            oid: token.content_type.to_string(),
        });
    }
    let signed_data = parse_signed_data(&token.content)?;
    if signed_data.econtent_type != CT_TSTINFO {
        return Err(TspError::Unsupported {
            what: "encapsulated content type",
            oid: signed_data.econtent_type.to_string(),
        });
    }
    let econtent = signed_data.econtent.clone().ok_or(TspError::Malformed {
        what: "SignedData",
        reason: "no encapsulated TSTInfo".into(),
    })?;
    let tst = TstInfo::from_der(&econtent).map_err(malformed("TSTInfo"))?;
    let Some(algorithm) = algorithm_name(&tst.message_imprint.hash_algorithm.oid) else {
        return Err(TspError::ImprintAlgorithm {
            found: tst.message_imprint.hash_algorithm.oid.to_string(),
        });
    };
    if tst.gen_time.tag() != der::Tag::GeneralizedTime {
        return Err(TspError::Malformed {
            what: "TSTInfo genTime",
            reason: format!("expected GeneralizedTime, found tag {}", tst.gen_time.tag()),
        });
    }
    let (gen_time, gen_time_unix) =
        parse_gen_time(tst.gen_time.value()).ok_or_else(|| TspError::Malformed {
            what: "TSTInfo genTime",
            reason: format!(
                "not YYYYMMDDHHMMSS[.f]Z: {:?}",
                String::from_utf8_lossy(tst.gen_time.value())
            ),
        })?;
    let imprint = super::hash::hex(tst.message_imprint.hashed_message.as_bytes());
    let info = TokenInfo {
        gen_time,
        gen_time_unix,
        serial: super::hash::hex(tst.serial_number.as_bytes()),
        policy: tst.policy.to_string(),
        imprint_sha256: if algorithm == "sha256" {
            imprint.clone()
        } else {
            String::new()
        },
        nonce: tst.nonce.map(|n| super::hash::hex(n.as_bytes())),
        signer: None,
        imprint_algorithm: algorithm.to_string(),
        imprint,
        tsa: None,
        trusted: None,
    };
    Ok(Parsed {
        info,
        signed_data,
        econtent,
    })
}

/// What a token must stamp: a SHA-256 given as hex, or the data itself (then any of
/// SHA-256, SHA-384 and SHA-512 is accepted, as `openssl ts -verify -data` does).
#[derive(Clone, Copy, Debug)]
pub enum Stamped<'a> {
    Sha256(&'a str),
    Data(&'a [u8]),
}

/// Checks status and imprint only, without a signature check (for `case timestamp
/// import`, which records the reply; `verify` does the full check).
pub fn inspect(reply: &[u8], expected_sha256: &str) -> Result<TokenInfo, TspError> {
    inspect_stamped(reply, Stamped::Sha256(expected_sha256))
}

/// [`inspect`] for any [`Stamped`].
pub(crate) fn inspect_stamped(reply: &[u8], stamped: Stamped<'_>) -> Result<TokenInfo, TspError> {
    let p = parse_reply(reply)?;
    check_imprint(&p.info, stamped)?;
    Ok(p.info)
}

fn check_imprint(info: &TokenInfo, stamped: Stamped<'_>) -> Result<(), TspError> {
    let expected = match stamped {
        Stamped::Sha256(hex) => {
            if info.imprint_algorithm != "sha256" {
                return Err(TspError::ImprintAlgorithm {
                    found: info.imprint_algorithm.clone(),
                });
            }
            hex.to_ascii_lowercase()
        }
        Stamped::Data(data) => {
            let oid = match info.imprint_algorithm.as_str() {
                "sha384" => SHA384,
                "sha512" => SHA512,
                _ => SHA256,
            };
            super::hash::hex(&digest(&oid, data)?)
        }
    };
    if !info.imprint.eq_ignore_ascii_case(&expected) {
        return Err(TspError::ImprintMismatch {
            expected,
            found: info.imprint.clone(),
        });
    }
    Ok(())
}

/// Fully verifies a reply against the SHA-256 it should stamp. The signer certificate
/// is `tsa_cert` when given, else the one embedded in the token (then only the token's
/// integrity is shown, not who signed it). With `ca`, the signer certificate must be
/// issued and signed by it.
pub fn verify(
    reply: &[u8],
    expected_sha256: &str,
    tsa_cert: Option<&Certificate>,
    ca: Option<&Certificate>,
) -> Result<TokenInfo, TspError> {
    let anchors: Vec<Anchor> = ca
        .map(|c| Anchor {
            cert: c.clone(),
            source: "the given CA".into(),
        })
        .into_iter()
        .collect();
    let info = verify_stamped(reply, Stamped::Sha256(expected_sha256), tsa_cert, &anchors)?;
    if let (Some(ca), None) = (ca, &info.trusted) {
        return Err(TspError::NotIssuedByCa {
            subject: info.signer.clone().unwrap_or_default(),
            ca: ca.tbs_certificate.subject.to_string(),
            reason: "no chain from the signer's certificate leads to it".into(),
        });
    }
    Ok(info)
}

/// Fully verifies a reply (signature, signed attributes, ESS certificate hash,
/// timeStamping key usage, the signer's validity at genTime) and looks for a chain
/// from the signer's certificate, through the certificates in the token, to one of
/// `anchors` (each link's signature checked). `info.trusted` names the anchor reached,
/// or is `None`: the signature is valid but the TSA is not trusted. The caller decides
/// what an untrusted TSA means; `verify` says so.
pub fn verify_stamped(
    reply: &[u8],
    stamped: Stamped<'_>,
    tsa_cert: Option<&Certificate>,
    anchors: &[Anchor],
) -> Result<TokenInfo, TspError> {
    let Parsed {
        mut info,
        signed_data,
        econtent,
    } = parse_reply(reply)?;
    check_imprint(&info, stamped)?;
    let signer = signed_data
        .signer_infos
        .first()
        .ok_or(TspError::Malformed {
            what: "SignedData",
            reason: "no SignerInfo".into(),
        })?;
    let embedded: Vec<&Certificate> = signed_data.certificates.iter().collect();
    let by_sid = |c: &Certificate| match &signer.sid {
        cms::signed_data::SignerIdentifier::IssuerAndSerialNumber(is) => {
            c.tbs_certificate.issuer == is.issuer
                && c.tbs_certificate.serial_number == is.serial_number
        }
        // Subject key identifiers need the extension parsed; accept and let the
        // signature check decide.
        cms::signed_data::SignerIdentifier::SubjectKeyIdentifier(_) => true,
    };
    let cert = match tsa_cert {
        Some(c) => {
            if !by_sid(c) {
                let (issuer, serial) = match &signer.sid {
                    cms::signed_data::SignerIdentifier::IssuerAndSerialNumber(is) => (
                        is.issuer.to_string(),
                        super::hash::hex(is.serial_number.as_bytes()),
                    ),
                    cms::signed_data::SignerIdentifier::SubjectKeyIdentifier(_) => {
                        (String::new(), String::new())
                    }
                };
                return Err(TspError::OtherSigner {
                    issuer,
                    serial,
                    subject: c.tbs_certificate.subject.to_string(),
                });
            }
            c
        }
        None => embedded
            .iter()
            .copied()
            .find(|c| by_sid(c))
            .ok_or(TspError::NoSignerCertificate)?,
    };
    let subject = cert.tbs_certificate.subject.to_string();

    // RFC 5652 §5.4: with signed attributes, content-type and messageDigest are
    // mandatory and the signature covers their DER encoding as a SET OF.
    let signed = signer
        .signed_attrs_der
        .as_ref()
        .ok_or(TspError::Malformed {
            what: "SignerInfo",
            reason: "no signed attributes (RFC 3161 §2.4.2 requires them)".into(),
        })?;
    let attr = |oid: ObjectIdentifier| {
        signer
            .signed_attrs
            .iter()
            .find(|a| a.oid == oid)
            .and_then(|a| a.values.iter().next())
    };
    let content_type: ObjectIdentifier = attr(ATTR_CONTENT_TYPE)
        .ok_or(TspError::Malformed {
            what: "signed attributes",
            reason: "no content-type".into(),
        })?
        .decode_as()
        .map_err(malformed("content-type attribute"))?;
    if content_type != CT_TSTINFO {
        return Err(TspError::SignedAttribute {
            attribute: "content-type",
            expected: CT_TSTINFO.to_string(),
            found: content_type.to_string(),
        });
    }
    let message_digest: OctetString = attr(ATTR_MESSAGE_DIGEST)
        .ok_or(TspError::Malformed {
            what: "signed attributes",
            reason: "no messageDigest".into(),
        })?
        .decode_as()
        .map_err(malformed("messageDigest attribute"))?;
    let actual = digest(&signer.digest_alg.oid, &econtent)?;
    if message_digest.as_bytes() != actual.as_slice() {
        return Err(TspError::SignedAttribute {
            attribute: "messageDigest",
            expected: super::hash::hex(&actual),
            found: super::hash::hex(message_digest.as_bytes()),
        });
    }
    verify_signature(
        &signer.signature_algorithm,
        Some(&signer.digest_alg.oid),
        &cert.tbs_certificate.subject_public_key_info,
        signed,
        &signer.signature,
    )
    .map_err(|e| match e {
        TspError::BadSignature { .. } => TspError::BadSignature {
            subject: subject.clone(),
        },
        other => other,
    })?;

    // RFC 3161 §2.4.1: the token names its signing certificate by hash (ESS), so a
    // different certificate with the same key cannot be passed off as the signer.
    check_ess_cert_id(
        attr(ATTR_SIGNING_CERT),
        attr(ATTR_SIGNING_CERT_V2),
        cert,
        &subject,
    )?;

    if !has_time_stamping_eku(cert) {
        return Err(TspError::NotTimeStamping { subject });
    }
    let validity = &cert.tbs_certificate.validity;
    let not_before = validity.not_before.to_unix_duration().as_secs() as i64;
    let not_after = validity.not_after.to_unix_duration().as_secs() as i64;
    if info.gen_time_unix < not_before || info.gen_time_unix > not_after {
        return Err(TspError::OutsideValidity {
            subject,
            gen_time: info.gen_time.clone(),
            not_before: validity.not_before.to_string(),
            not_after: validity.not_after.to_string(),
        });
    }
    info.tsa = Some(TsaName {
        subject: subject.clone(),
        serial: super::hash::hex(cert.tbs_certificate.serial_number.as_bytes()),
        issuer: cert.tbs_certificate.issuer.to_string(),
    });
    info.trusted = chain_to_anchor(cert, &embedded, anchors);
    info.signer = Some(subject);
    Ok(info)
}

/// Follows issuers from `cert` through `pool` to one of `anchors`, checking each
/// certificate's signature with its issuer's key (at most 6 links). Returns the anchor
/// reached, as "SUBJECT (SOURCE)".
fn chain_to_anchor(
    cert: &Certificate,
    pool: &[&Certificate],
    anchors: &[Anchor],
) -> Option<String> {
    let signed_by = |child: &Certificate, parent: &Certificate| -> bool {
        if child.tbs_certificate.issuer != parent.tbs_certificate.subject {
            return false;
        }
        let (Ok(tbs), Some(sig)) = (child.tbs_certificate.to_der(), child.signature.as_bytes())
        else {
            return false;
        };
        verify_signature(
            &child.signature_algorithm,
            None,
            &parent.tbs_certificate.subject_public_key_info,
            &tbs,
            sig,
        )
        .is_ok()
    };
    let mut current = cert.clone();
    for _ in 0..6 {
        for a in anchors {
            // The anchor itself (a TSA certificate trusted directly), or its issuer.
            if a.cert == current || signed_by(&current, &a.cert) {
                return Some(format!("{} ({})", a.cert.tbs_certificate.subject, a.source));
            }
        }
        let next = pool
            .iter()
            .find(|p| **p != &current && signed_by(&current, p))?;
        current = (*next).clone();
    }
    None
}

/// Checks the first ESSCertID(v2) of the signing-certificate attribute against the
/// certificate's hash. V1 hashes with SHA-1, v2 with its hashAlgorithm (default SHA-256).
fn check_ess_cert_id(
    v1: Option<&Any>,
    v2: Option<&Any>,
    cert: &Certificate,
    subject: &str,
) -> Result<(), TspError> {
    let bad = |reason: String| TspError::Malformed {
        what: "signing-certificate attribute",
        reason,
    };
    let (value, is_v2) = match (v2, v1) {
        (Some(v), _) => (v, true),
        (None, Some(v)) => (v, false),
        (None, None) => return Err(bad("absent (RFC 3161 §2.4.1 requires it)".into())),
    };
    // SigningCertificate(V2) ::= SEQUENCE { certs SEQUENCE OF ESSCertID(v2), ... }
    let outer: Vec<Any> = value.decode_as().map_err(|e| bad(e.to_string()))?;
    let certs: Vec<Any> = outer
        .first()
        .ok_or_else(|| bad("no certs".into()))?
        .decode_as()
        .map_err(|e| bad(e.to_string()))?;
    let id: Vec<Any> = certs
        .first()
        .ok_or_else(|| bad("empty certs".into()))?
        .decode_as()
        .map_err(|e| bad(e.to_string()))?;
    // ESSCertIDv2 ::= SEQUENCE { hashAlgorithm DEFAULT sha256, certHash, issuerSerial OPTIONAL }
    let (alg, hash) = match id.first() {
        Some(first) if is_v2 && first.tag() == der::Tag::Sequence => {
            let alg: AlgorithmIdentifierOwned =
                first.decode_as().map_err(|e| bad(e.to_string()))?;
            (Some(alg.oid), id.get(1))
        }
        other => (if is_v2 { Some(SHA256) } else { None }, other),
    };
    let hash: OctetString = hash
        .ok_or_else(|| bad("no certHash".into()))?
        .decode_as()
        .map_err(|e| bad(e.to_string()))?;
    let der = cert.to_der().map_err(malformed("certificate"))?;
    let actual = match alg {
        Some(oid) => digest(&oid, &der)?,
        None => ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &der)
            .as_ref()
            .to_vec(),
    };
    if hash.as_bytes() != actual.as_slice() {
        return Err(TspError::SignedAttribute {
            attribute: "signing-certificate",
            expected: format!("{} (hash of {subject})", super::hash::hex(&actual)),
            found: super::hash::hex(hash.as_bytes()),
        });
    }
    Ok(())
}

fn has_time_stamping_eku(cert: &Certificate) -> bool {
    let Some(exts) = &cert.tbs_certificate.extensions else {
        return false;
    };
    exts.iter().filter(|e| e.extn_id == EXT_KEY_USAGE).any(|e| {
        x509_cert::ext::pkix::ExtendedKeyUsage::from_der(e.extn_value.as_bytes())
            .is_ok_and(|eku| eku.0.contains(&KP_TIME_STAMPING))
    })
}

fn digest(alg: &ObjectIdentifier, data: &[u8]) -> Result<Vec<u8>, TspError> {
    Ok(match *alg {
        SHA256 => sha2::Sha256::digest(data).to_vec(),
        SHA384 => sha2::Sha384::digest(data).to_vec(),
        SHA512 => sha2::Sha512::digest(data).to_vec(),
        other => {
            return Err(TspError::Unsupported {
                what: "digest algorithm",
                oid: other.to_string(),
            })
        }
    })
}

/// Verifies `sig` over `msg`. `digest_alg` names the hash when the signature algorithm
/// is plain `rsaEncryption` (as CMS SignerInfos often say, RFC 3370 §3.2).
fn verify_signature(
    sig_alg: &AlgorithmIdentifierOwned,
    digest_alg: Option<&ObjectIdentifier>,
    spki: &SubjectPublicKeyInfoOwned,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), TspError> {
    use ring::signature as rs;
    let unsupported = |what, oid: &ObjectIdentifier| TspError::Unsupported {
        what,
        oid: oid.to_string(),
    };
    let curve = || -> Option<ObjectIdentifier> {
        spki.algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
    };
    let alg: &dyn rs::VerificationAlgorithm = match sig_alg.oid {
        RSA => match digest_alg {
            Some(&SHA256) => &rs::RSA_PKCS1_2048_8192_SHA256,
            Some(&SHA384) => &rs::RSA_PKCS1_2048_8192_SHA384,
            Some(&SHA512) => &rs::RSA_PKCS1_2048_8192_SHA512,
            Some(other) => return Err(unsupported("digest algorithm", other)),
            None => return Err(unsupported("signature algorithm", &sig_alg.oid)),
        },
        RSA_SHA256 => &rs::RSA_PKCS1_2048_8192_SHA256,
        RSA_SHA384 => &rs::RSA_PKCS1_2048_8192_SHA384,
        RSA_SHA512 => &rs::RSA_PKCS1_2048_8192_SHA512,
        ECDSA_SHA256 => match curve() {
            Some(P256) => &rs::ECDSA_P256_SHA256_ASN1,
            Some(P384) => &rs::ECDSA_P384_SHA256_ASN1,
            _ => return Err(unsupported("public key curve", &spki.algorithm.oid)),
        },
        ECDSA_SHA384 => match curve() {
            Some(P256) => &rs::ECDSA_P256_SHA384_ASN1,
            Some(P384) => &rs::ECDSA_P384_SHA384_ASN1,
            _ => return Err(unsupported("public key curve", &spki.algorithm.oid)),
        },
        other => return Err(unsupported("signature algorithm", &other)),
    };
    rs::UnparsedPublicKey::new(alg, spki.subject_public_key.raw_bytes())
        .verify(msg, sig)
        .map_err(|_| TspError::BadSignature {
            subject: String::new(),
        })
}

/// Reads one PEM (or DER) certificate.
pub fn load_certificate(bytes: &[u8]) -> Result<Certificate, TspError> {
    use der::DecodePem;
    if bytes.starts_with(b"-----") {
        Certificate::from_pem(bytes).map_err(malformed("PEM certificate"))
    } else {
        Certificate::from_der(bytes).map_err(malformed("DER certificate"))
    }
}

/// Reads every certificate of a PEM bundle (or one DER certificate).
pub fn load_certificates(bytes: &[u8]) -> Result<Vec<Certificate>, TspError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(vec![load_certificate(bytes)?]);
    };
    if !text.contains(BEGIN) {
        return Ok(vec![load_certificate(bytes)?]);
    }
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let tail = rest.get(start..).unwrap_or_default();
        let Some(end) = tail.find(END) else {
            return Err(TspError::Malformed {
                what: "PEM certificate",
                reason: "no END CERTIFICATE line".into(),
            });
        };
        let block = tail.get(..end + END.len()).unwrap_or_default();
        out.push(load_certificate(block.as_bytes())?);
        rest = tail.get(end + END.len()..).unwrap_or_default();
    }
    Ok(out)
}

/// The TSA trust anchors bundled with whohosts (`data/trusted-tsa.pem`; its source and
/// date are in `data/README.md`).
pub fn bundled_anchors() -> Vec<Anchor> {
    const PEM: &str = include_str!("../../data/trusted-tsa.pem");
    load_certificates(PEM.as_bytes())
        .unwrap_or_default()
        .into_iter()
        .map(|cert| Anchor {
            cert,
            source: "bundled trusted-tsa.pem".into(),
        })
        .collect()
}

/// Sends a request to a TSA over HTTP(S) and returns the reply bytes (at most 1 MiB,
/// 60 s overall).
pub fn send(url: &str, tsq: &[u8]) -> Result<Vec<u8>, TspError> {
    let transport = |reason: String| TspError::Transport {
        url: url.to_string(),
        reason,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(60)))
        .build()
        .into();
    let mut resp = agent
        .post(url)
        .header("Content-Type", "application/timestamp-query")
        .send(tsq)
        .map_err(|e| transport(e.to_string()))?;
    resp.body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_vec()
        .map_err(|e| transport(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_imprint_and_positive_nonce() {
        let h = sha2::Sha256::digest(b"manifest");
        let der = request(&h, [0xff; 8]).unwrap();
        let info = parse_request(&der).unwrap();
        assert_eq!(info.imprint_sha256, super::super::hash::hex(&h));
        assert_eq!(info.nonce.as_deref(), Some("7fffffffffffffff"));
    }

    #[test]
    fn gen_time_with_and_without_fraction() {
        // X.690 §11.7 forms as openssl ts writes them (clock_precision_digits 0 and 3).
        assert_eq!(
            parse_gen_time(b"20231114221320Z"),
            Some(("2023-11-14T22:13:20Z".to_string(), 1_700_000_000))
        );
        assert_eq!(
            parse_gen_time(b"20231114221320.123Z"),
            Some(("2023-11-14T22:13:20.123Z".to_string(), 1_700_000_000))
        );
        for bad in [
            &b"20231114221320"[..],
            b"20231314221320Z",
            b"2023111422132.Z",
            b"\xff",
            b"",
            b"20231114221320.Z",
        ] {
            assert_eq!(parse_gen_time(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn garbage_reply_is_malformed_not_a_panic() {
        for bad in [
            &b""[..],
            b"\x30\x03\x02\x01",
            b"\x30\x80\x00\x00",
            &[0x30; 40],
        ] {
            assert!(matches!(
                inspect(bad, "00"),
                Err(TspError::Malformed { .. })
            ));
        }
    }
}
