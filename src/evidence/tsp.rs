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
//! 5035); it has the timeStamping extended key usage (RFC 3161 §2.3) and, when a CA is
//! given, was issued and signed by it (one level: the TSA certificate directly under
//! the CA). Not checked: revocation, validity periods, intermediate CAs.
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
pub fn parse_gen_time(value: &[u8]) -> Option<(String, i64)> {
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
pub fn random_nonce() -> [u8; 8] {
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
    pub imprint_sha256: String,
    pub nonce: Option<String>,
    /// Subject of the certificate the signature was checked with, if it was.
    pub signer: Option<String>,
}

/// The parts of a reply needed for checks.
struct Parsed {
    info: TokenInfo,
    signed_data: cms::signed_data::SignedData,
    econtent: Vec<u8>,
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
    let signed_data: cms::signed_data::SignedData =
        token.content.decode_as().map_err(malformed("SignedData"))?;
    if signed_data.encap_content_info.econtent_type != CT_TSTINFO {
        return Err(TspError::Unsupported {
            what: "encapsulated content type",
            oid: signed_data.encap_content_info.econtent_type.to_string(),
        });
    }
    let econtent = signed_data
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or(TspError::Malformed {
            what: "SignedData",
            reason: "no encapsulated TSTInfo".into(),
        })?
        .decode_as::<OctetString>()
        .map_err(malformed("encapsulated TSTInfo"))?
        .as_bytes()
        .to_vec();
    let tst = TstInfo::from_der(&econtent).map_err(malformed("TSTInfo"))?;
    if tst.message_imprint.hash_algorithm.oid != SHA256 {
        return Err(TspError::ImprintAlgorithm {
            found: tst.message_imprint.hash_algorithm.oid.to_string(),
        });
    }
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
    let info = TokenInfo {
        gen_time,
        gen_time_unix,
        serial: super::hash::hex(tst.serial_number.as_bytes()),
        policy: tst.policy.to_string(),
        imprint_sha256: super::hash::hex(tst.message_imprint.hashed_message.as_bytes()),
        nonce: tst.nonce.map(|n| super::hash::hex(n.as_bytes())),
        signer: None,
    };
    Ok(Parsed {
        info,
        signed_data,
        econtent,
    })
}

/// Checks status and imprint only, without a signature check (for `case timestamp
/// import`, which records the reply; `verify` does the full check).
pub fn inspect(reply: &[u8], expected_sha256: &str) -> Result<TokenInfo, TspError> {
    let p = parse_reply(reply)?;
    check_imprint(&p.info, expected_sha256)?;
    Ok(p.info)
}

fn check_imprint(info: &TokenInfo, expected_sha256: &str) -> Result<(), TspError> {
    if !info.imprint_sha256.eq_ignore_ascii_case(expected_sha256) {
        return Err(TspError::ImprintMismatch {
            expected: expected_sha256.to_string(),
            found: info.imprint_sha256.clone(),
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
    let Parsed {
        mut info,
        signed_data,
        econtent,
    } = parse_reply(reply)?;
    check_imprint(&info, expected_sha256)?;
    let signer = signed_data
        .signer_infos
        .0
        .iter()
        .next()
        .ok_or(TspError::Malformed {
            what: "SignedData",
            reason: "no SignerInfo".into(),
        })?;
    let embedded: Vec<&Certificate> = signed_data
        .certificates
        .as_ref()
        .map(|set| {
            set.0
                .iter()
                .filter_map(|c| match c {
                    cms::cert::CertificateChoices::Certificate(c) => Some(c),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
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
    let attrs = signer.signed_attrs.as_ref().ok_or(TspError::Malformed {
        what: "SignerInfo",
        reason: "no signed attributes (RFC 3161 §2.4.2 requires them)".into(),
    })?;
    let attr = |oid: ObjectIdentifier| {
        attrs
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
    let signed = attrs.to_der().map_err(malformed("signed attributes"))?;
    verify_signature(
        &signer.signature_algorithm,
        Some(&signer.digest_alg.oid),
        &cert.tbs_certificate.subject_public_key_info,
        &signed,
        signer.signature.as_bytes(),
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
    if let Some(ca) = ca {
        let ca_name = ca.tbs_certificate.subject.to_string();
        let not_issued = |reason: String| TspError::NotIssuedByCa {
            subject: subject.clone(),
            ca: ca_name.clone(),
            reason,
        };
        if cert.tbs_certificate.issuer != ca.tbs_certificate.subject {
            return Err(not_issued(format!(
                "issuer is {}",
                cert.tbs_certificate.issuer
            )));
        }
        let tbs = cert
            .tbs_certificate
            .to_der()
            .map_err(malformed("TBSCertificate"))?;
        let sig = cert.signature.as_bytes().ok_or(TspError::Malformed {
            what: "certificate signature",
            reason: "bit string has unused bits".into(),
        })?;
        verify_signature(
            &cert.signature_algorithm,
            None,
            &ca.tbs_certificate.subject_public_key_info,
            &tbs,
            sig,
        )
        .map_err(|e| not_issued(format!("certificate signature: {e}")))?;
    }
    info.signer = Some(subject);
    Ok(info)
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
