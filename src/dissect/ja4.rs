//! dissect::ja4: the JA4 TLS client fingerprint (FoxIO, `technical_details/JA4.md` in
//! github.com/FoxIO-LLC/ja4; BSD-3-Clause licensed specification).
//!
//! `JA4 = a_b_c` where
//! - `a` = protocol (`t` TCP, `q` QUIC), TLS version (highest non-GREASE entry of
//!   `supported_versions`, else the ClientHello's legacy version), `d` when an SNI
//!   extension is present else `i`, two-digit cipher count, two-digit extension count
//!   (both without GREASE, capped at 99), first and last character of the first ALPN
//!   value (`00` without ALPN; a non-alphanumeric end uses the matching hex digit);
//! - `b` = first 12 hex digits of SHA-256 over the sorted cipher codes (4 lowercase hex
//!   digits each, comma-separated), `000000000000` without ciphers;
//! - `c` = first 12 hex digits of SHA-256 over the sorted extension codes without SNI
//!   (0000) and ALPN (0010), then `_` and the signature algorithms in wire order (the
//!   `_` part is left out when there are none); `000000000000` without extensions.
//!
//! GREASE values (RFC 8701: 0x?a?a with both bytes equal) are ignored everywhere.
//! Pure function of its inputs; never panics.

use sha2::{Digest, Sha256};

/// RFC 8701 §2: GREASE code points are 0x0A0A, 0x1A1A, ... 0xFAFA.
pub(crate) fn is_grease(v: u16) -> bool {
    let [hi, lo] = v.to_be_bytes();
    hi == lo && lo & 0x0f == 0x0a
}

/// Transport the ClientHello travelled on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Quic,
}

/// The ClientHello fields JA4 reads, in wire order, GREASE included (removed here).
#[derive(Clone, Copy, Debug)]
pub struct Ja4Input<'a> {
    pub transport: Transport,
    pub legacy_version: u16,
    pub supported_versions: &'a [u16],
    pub has_sni: bool,
    pub ciphers: &'a [u16],
    pub extensions: &'a [u16],
    pub first_alpn: Option<&'a [u8]>,
    pub signature_algorithms: &'a [u16],
}

fn version_code(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

fn hex_digit(n: u8) -> char {
    char::from_digit(u32::from(n & 0x0f), 16).unwrap_or('0')
}

fn alpn_chars(alpn: Option<&[u8]>) -> (char, char) {
    let Some(v) = alpn else { return ('0', '0') };
    let (Some(&first), Some(&last)) = (v.first(), v.last()) else {
        return ('0', '0');
    };
    if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() {
        (char::from(first), char::from(last))
    } else {
        // Spec, "ALPN Extension Value": otherwise the first and last characters of the
        // value's hex representation: high nibble of the first byte, low nibble of the
        // last byte.
        (hex_digit(first >> 4), hex_digit(last))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends the first 12 hex digits of the SHA-256 of `s`.
fn push_hash12(out: &mut String, s: &[u8]) {
    let digest = Sha256::digest(s);
    for b in digest.iter().take(6) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
}

/// Appends `v` as comma-separated 4-digit lowercase hex.
fn join_hex(out: &mut Vec<u8>, v: impl IntoIterator<Item = u16>) {
    for (i, x) in v.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        for shift in [12, 8, 4, 0] {
            out.push(HEX[usize::from((x >> shift) & 0x0f)]);
        }
    }
}

/// Appends a count as two decimal digits, capped at 99.
fn push_count(out: &mut String, n: usize) {
    let n = n.min(99) as u8;
    out.push(char::from(b'0' + n / 10));
    out.push(char::from(b'0' + n % 10));
}

/// Computes the JA4 fingerprint. Built in one string, with one list of codes and
/// one text to hash, both reused for the `b` and `c` parts: it runs once for every
/// ClientHello of a capture.
pub fn ja4(input: &Ja4Input<'_>) -> String {
    let version = input
        .supported_versions
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .max()
        .unwrap_or(input.legacy_version);
    let not_grease = |v: &u16| !is_grease(*v);
    let mut codes: Vec<u16> = Vec::with_capacity(input.ciphers.len().max(input.extensions.len()));
    codes.extend(input.ciphers.iter().copied().filter(not_grease));
    let extensions = input.extensions.iter().filter(|e| not_grease(e)).count();
    let (a1, a2) = alpn_chars(input.first_alpn);
    let mut out = String::with_capacity(36);
    out.push(match input.transport {
        Transport::Tcp => 't',
        Transport::Quic => 'q',
    });
    out.push_str(version_code(version));
    out.push(if input.has_sni { 'd' } else { 'i' });
    push_count(&mut out, codes.len());
    push_count(&mut out, extensions);
    out.push(a1);
    out.push(a2);
    out.push('_');
    let mut text = Vec::with_capacity(
        5 * codes
            .len()
            .max(input.extensions.len() + input.signature_algorithms.len()),
    );
    if codes.is_empty() {
        out.push_str("000000000000");
    } else {
        codes.sort_unstable();
        join_hex(&mut text, codes.iter().copied());
        push_hash12(&mut out, &text);
    }
    out.push('_');
    codes.clear();
    codes.extend(
        input
            .extensions
            .iter()
            .copied()
            .filter(|e| not_grease(e) && *e != 0x0000 && *e != 0x0010),
    );
    if codes.is_empty() {
        out.push_str("000000000000");
    } else {
        codes.sort_unstable();
        text.clear();
        join_hex(&mut text, codes.iter().copied());
        let mut sigs = input
            .signature_algorithms
            .iter()
            .copied()
            .filter(not_grease)
            .peekable();
        if sigs.peek().is_some() {
            text.push(b'_');
            join_hex(&mut text, sigs);
        }
        push_hash12(&mut out, &text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grease_values_are_recognised() {
        assert!(is_grease(0x0a0a));
        assert!(is_grease(0xfafa));
        assert!(!is_grease(0x0a1a));
        assert!(!is_grease(0x1301));
    }

    #[test]
    fn chrome_fingerprint_matches_published_vector() {
        // Vector: a Chrome 143 ClientHello as fingerprinted by browserleaks.com
        // (quoted in github.com/service0427/v2_cp_app, tls.md): JA4_ro lists ciphers,
        // extensions and signature algorithms in wire order, JA4 is the expected value.
        let ciphers = [
            0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
            0x009c, 0x009d, 0x002f, 0x0035,
        ];
        let exts = [
            0x002d, 0x0033, 0x0010, 0xfe0d, 0x0017, 0x44cd, 0x0000, 0x000b, 0x000a, 0x002b, 0xff01,
            0x0023, 0x0012, 0x0005, 0x000d, 0x001b,
        ];
        let sigs = [
            0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
        ];
        let fp = ja4(&Ja4Input {
            transport: Transport::Tcp,
            legacy_version: 0x0303,
            supported_versions: &[0x3a3a, 0x0304, 0x0303],
            has_sni: true,
            ciphers: &ciphers,
            extensions: &exts,
            first_alpn: Some(b"h2"),
            signature_algorithms: &sigs,
        });
        assert_eq!(fp, "t13d1516h2_8daaf6152771_d8a2da3f94cd");
    }

    #[test]
    fn empty_hello_gives_zero_hashes() {
        let fp = ja4(&Ja4Input {
            transport: Transport::Quic,
            legacy_version: 0x0303,
            supported_versions: &[],
            has_sni: false,
            ciphers: &[],
            extensions: &[],
            first_alpn: None,
            signature_algorithms: &[],
        });
        assert_eq!(fp, "q12i000000_000000000000_000000000000");
    }

    #[test]
    fn non_alphanumeric_alpn_uses_hex_digits() {
        assert_eq!(alpn_chars(Some(&[0xab, 0x01])), ('a', '1'));
        assert_eq!(alpn_chars(Some(b"http/1.1")), ('h', '1'));
        assert_eq!(alpn_chars(Some(b"x")), ('x', 'x'));
        assert_eq!(alpn_chars(Some(b"")), ('0', '0'));
    }
}
