//! Where a connection's real protocol starts after a preamble: a PROXY protocol
//! header a load balancer put in front of the client's bytes ([`proxy_header`]), or
//! the text a protocol spoke before it turned to TLS (SMTP, LMTP, IMAP, POP3, FTP,
//! NNTP, ManageSieve: `STARTTLS`, `STLS` or `AUTH TLS`; XMPP: `<starttls/>`),
//! found by [`tls_after_text`]. A whole PROXY header's addresses (the connection the
//! load balancer accepted: the original client and the address it reached) are read
//! by [`proxied`].
//!
//! A text protocol is never told by its port or its commands: its bytes are read as
//! text up to the first one that is not, and TLS starts there if that byte opens a
//! TLS handshake record right after the end of a line (or of an XML tag). No text
//! protocol sends that byte (0x16, a control character), so a server on any port is
//! read the same, and a refused STARTTLS only means more text.

/// Text read in front of TLS at most, per direction; past it the direction is not
/// read on.
pub const TEXT_LIMIT: usize = 8192;

/// What [`tls_after_text`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum TextScan {
    /// A TLS handshake record starts this many bytes into the data.
    Tls(usize),
    /// Text up to this offset (scan on from it when more bytes come).
    More(usize),
    /// Not text, or text with no TLS after it within [`TEXT_LIMIT`].
    No,
}

/// A byte of a text protocol's dialogue: printable ASCII, tab, CR, LF, or any byte
/// of UTF-8 beyond ASCII.
fn is_text(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\r' | 0x20..=0x7e | 0x80..)
}

/// Could a direction whose bytes start with `first` be a text protocol's?
pub fn may_be_text(first: u8) -> bool {
    first.is_ascii_graphic()
}

/// Scans `data` (a direction's bytes from its start, or from where the last protocol
/// ended) from offset `from`, which an earlier [`TextScan::More`] answered, for the
/// point where text gives way to TLS.
pub fn tls_after_text(data: &[u8], from: usize) -> TextScan {
    let end = data.len().min(TEXT_LIMIT);
    let Some(rest) = data.get(from..end) else {
        return TextScan::No;
    };
    let Some(i) = rest.iter().position(|&b| !is_text(b)).map(|i| from + i) else {
        return if data.len() > TEXT_LIMIT {
            TextScan::No
        } else {
            TextScan::More(end)
        };
    };
    let after_line = i > 0 && matches!(data.get(i - 1), Some(b'\n' | b'>'));
    if data.get(i) != Some(&0x16) || !after_line {
        return TextScan::No;
    }
    // A handshake record of TLS 1.0 to 1.3 (or SSL 3.0) begins: 0x16, 3, minor.
    match data.get(i + 1..i + 3) {
        Some(&[3, minor]) if minor <= 4 => TextScan::Tls(i),
        Some(_) => TextScan::No,
        None => TextScan::More(i),
    }
}

/// What [`proxy_header`] found at a connection's start.
#[derive(Debug, PartialEq, Eq)]
pub enum ProxyHeader {
    /// A whole PROXY protocol header of this many bytes; the client's bytes follow.
    Whole(usize),
    /// The start of one: wait for more bytes.
    Partial,
    /// No PROXY protocol header.
    No,
}

/// The version 1 header's start, and its longest form (the specification's bound,
/// CRLF included).
const V1_START: &[u8] = b"PROXY ";
const V1_MAX: usize = 107;
/// The version 2 header's signature.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// Address data of a version 2 header at most (addresses and TLVs): the TLVs real
/// load balancers send stay far below it. A longer header is not taken for one.
const V2_MAX_DATA: usize = 4096;

/// Reads a PROXY protocol header (HAProxy's specification, versions 1 and 2) at the
/// start of a connection's client bytes: a load balancer or proxy telling the server
/// who the client was, before the client's own bytes.
pub fn proxy_header(data: &[u8]) -> ProxyHeader {
    let prefix_of = |whole: &[u8]| data.len() < whole.len() && whole.starts_with(data);
    if data.starts_with(V1_START) {
        let line = &data[..data.len().min(V1_MAX)];
        return match line.windows(2).position(|w| w == b"\r\n") {
            Some(i)
                if line[..i].iter().all(|&b| (0x20..=0x7e).contains(&b))
                    && [&b"TCP4 "[..], b"TCP6 ", b"UNKNOWN"]
                        .iter()
                        .any(|p| line[V1_START.len()..i].starts_with(p)) =>
            {
                ProxyHeader::Whole(i + 2)
            }
            Some(_) => ProxyHeader::No,
            None if data.len() < V1_MAX => ProxyHeader::Partial,
            None => ProxyHeader::No,
        };
    }
    if prefix_of(V1_START) || prefix_of(V2_SIGNATURE) {
        return ProxyHeader::Partial;
    }
    if !data.starts_with(V2_SIGNATURE) {
        return ProxyHeader::No;
    }
    // Version 2: the version (2) in the high nibble of byte 12, the command (LOCAL
    // or PROXY) in its low one; the family in byte 13, the length in 14 and 15.
    let Some(&[version_command, _family, hi, lo]) = data.get(12..16) else {
        return ProxyHeader::Partial;
    };
    if version_command >> 4 != 2 || version_command & 0x0f > 1 {
        return ProxyHeader::No;
    }
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len > V2_MAX_DATA {
        return ProxyHeader::No;
    }
    if data.len() < 16 + len {
        ProxyHeader::Partial
    } else {
        ProxyHeader::Whole(16 + len)
    }
}

/// The connection a PROXY protocol header stands for: the one the proxy accepted,
/// between the original client (`source`) and the address that client reached
/// (`destination`), which the proxy then relayed to the server of the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proxied {
    /// 1 or 2.
    pub version: u8,
    /// The accepted connection's transport: TCP (version 1's `TCP4` and `TCP6`,
    /// version 2's stream family) or UDP (version 2's datagram family).
    pub udp: bool,
    pub source: std::net::SocketAddr,
    pub destination: std::net::SocketAddr,
}

/// The addresses of a whole PROXY protocol header, as [`proxy_header`] measured it
/// (`header` is its bytes, no more). `None` when the header carries none: version
/// 1's `UNKNOWN`, version 2's `LOCAL` command (the proxy's own connection, a health
/// check) or a family with no IP addresses (unspecified, UNIX), and fields that do
/// not read as the specification writes them (then the header is still skipped).
pub fn proxied(header: &[u8]) -> Option<Proxied> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    if let Some(line) = header
        .strip_prefix(V1_START)
        .and_then(|l| l.strip_suffix(b"\r\n"))
    {
        // PROXY TCP4 192.0.2.1 198.51.100.7 56324 443
        let line = std::str::from_utf8(line).ok()?;
        let mut fields = line.split(' ');
        let family = fields.next()?;
        let (src, dst, sport, dport) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        if fields.next().is_some() {
            return None;
        }
        let ip = |s: &str| -> Option<IpAddr> {
            match family {
                "TCP4" => s.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
                "TCP6" => s.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
                _ => None,
            }
        };
        // A port is a decimal number, with no sign or leading zero.
        let port = |s: &str| -> Option<u16> {
            (s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0')))
                .then(|| s.parse().ok())
                .flatten()
        };
        return Some(Proxied {
            version: 1,
            udp: false,
            source: SocketAddr::new(ip(src)?, port(sport)?),
            destination: SocketAddr::new(ip(dst)?, port(dport)?),
        });
    }
    let mut r = super::Reader::new(header.strip_prefix(V2_SIGNATURE.as_slice())?);
    let (version_command, family, len) = (r.u8()?, r.u8()?, r.u16()?);
    // The PROXY command (1), not LOCAL (0).
    if version_command != 0x21 {
        return None;
    }
    let udp = match family & 0x0f {
        1 => false,
        2 => true,
        _ => return None,
    };
    // Source address, destination address, source port, destination port.
    let mut a = super::Reader::new(r.take(usize::from(len))?);
    let v4 = |a: &mut super::Reader<'_>| Some(IpAddr::V4(Ipv4Addr::from(a.u32()?)));
    let v6 =
        |a: &mut super::Reader<'_>| Some(IpAddr::from(<[u8; 16]>::try_from(a.take(16)?).ok()?));
    let (source, destination) = match family >> 4 {
        1 => (v4(&mut a)?, v4(&mut a)?),
        2 => (v6(&mut a)?, v6(&mut a)?),
        _ => return None,
    };
    let (source, destination) = (
        SocketAddr::new(source, a.u16()?),
        SocketAddr::new(destination, a.u16()?),
    );
    Some(Proxied {
        version: 2,
        udp,
        source,
        destination,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &[u8] = &[0x16, 3, 1, 0, 200, 1];

    fn joined(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn tls_is_found_after_each_protocols_starttls() {
        // SMTP, IMAP, POP3, FTP: the client's commands, then its ClientHello.
        for text in [
            &b"EHLO client.example\r\nSTARTTLS\r\n"[..],
            b"a001 CAPABILITY\r\na002 STARTTLS\r\n",
            b"CAPA\r\nSTLS\r\n",
            b"AUTH TLS\r\n",
            // A server's side: its greeting and answer, then its ServerHello.
            b"220 mx.example ESMTP\r\n250-mx.example\r\n250 STARTTLS\r\n220 2.0.0 go ahead\r\n",
            // XMPP: TLS right after the tag, no line end.
            b"<?xml version='1.0'?><stream:stream to='x'><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
            // UTF-8 beyond ASCII is text.
            "220 pöst.example\n".as_bytes(),
        ] {
            let data = joined(&[text, HELLO]);
            assert_eq!(tls_after_text(&data, 0), TextScan::Tls(text.len()), "{text:?}");
        }
    }

    #[test]
    fn text_without_tls_or_other_bytes_is_not_read_on() {
        // Only text so far: more may come, and the scan goes on from its end.
        assert_eq!(tls_after_text(b"220 mx ESMTP\r\n", 0), TextScan::More(14));
        assert_eq!(
            tls_after_text(b"220 mx ESMTP\r\n250 ok", 14),
            TextScan::More(20)
        );
        // The record's version bytes are not here yet.
        assert_eq!(tls_after_text(b"STLS\r\n\x16", 0), TextScan::More(6));
        assert_eq!(tls_after_text(b"STLS\r\n\x16\x03", 6), TextScan::More(6));
        // 0x16 inside a line, or not followed by a TLS version; a binary protocol
        // after its banner (SSH).
        assert_eq!(tls_after_text(b"AB\x16\x03\x01\x00", 0), TextScan::No);
        assert_eq!(tls_after_text(b"STLS\r\n\x16\x02\x00", 0), TextScan::No);
        assert_eq!(
            tls_after_text(b"SSH-2.0-x\r\n\x00\x00\x01\x0c", 0),
            TextScan::No
        );
        // Text past the limit.
        let long = vec![b'a'; TEXT_LIMIT + 1];
        assert_eq!(tls_after_text(&long, 0), TextScan::No);
        assert_eq!(
            tls_after_text(&long[..TEXT_LIMIT], 0),
            TextScan::More(TEXT_LIMIT)
        );
        // An offset past the data (never answered, but safe).
        assert_eq!(tls_after_text(b"ab", 5), TextScan::No);
        assert!(may_be_text(b'2') && may_be_text(b'<') && !may_be_text(b' '));
        assert!(!may_be_text(0x16) && !may_be_text(0xc3));
    }

    #[test]
    fn a_proxy_headers_addresses_are_the_connection_the_proxy_accepted() {
        let at = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
        let v1 = b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n";
        assert_eq!(
            proxied(v1),
            Some(Proxied {
                version: 1,
                udp: false,
                source: at("192.0.2.1:56324"),
                destination: at("198.51.100.7:443"),
            })
        );
        let v6 = b"PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n";
        let p = proxied(v6).unwrap();
        assert_eq!(
            (p.source, p.destination),
            (at("[2001:db8::1]:0"), at("[2001:db8::2]:65535"))
        );
        // No addresses (UNKNOWN), or fields the specification does not write: the
        // wrong family for the addresses, a leading zero, a port too large, a field
        // too many or too few.
        for bad in [
            &b"PROXY UNKNOWN\r\n"[..],
            b"PROXY UNKNOWN 192.0.2.1 198.51.100.7 1 2\r\n",
            b"PROXY TCP6 192.0.2.1 198.51.100.7 1 2\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.7 01 2\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.7 1 65536\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.7 1 2 3\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.7 1\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.7 1 2",
        ] {
            assert_eq!(proxied(bad), None, "{}", String::from_utf8_lossy(bad));
        }

        // Version 2: TCP over IPv4, then UDP over IPv6 with a TLV after the
        // addresses.
        let mut v2 = V2_SIGNATURE.to_vec();
        v2.extend([0x21, 0x11, 0, 12]);
        v2.extend([192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0x01, 0xbb]);
        assert_eq!(
            proxied(&v2),
            Some(Proxied {
                version: 2,
                udp: false,
                source: at("192.0.2.1:56324"),
                destination: at("198.51.100.7:443"),
            })
        );
        let mut v2u = V2_SIGNATURE.to_vec();
        v2u.extend([0x21, 0x22, 0, 36 + 4]);
        let (a, b): (std::net::Ipv6Addr, std::net::Ipv6Addr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        v2u.extend(a.octets());
        v2u.extend(b.octets());
        v2u.extend([0x00, 0x35, 0x11, 0x5c, 0x04, 0x00, 0x01, b'x']);
        let p = proxied(&v2u).unwrap();
        assert!(p.udp);
        assert_eq!(
            (p.source, p.destination),
            (at("[2001:db8::1]:53"), at("[2001:db8::2]:4444"))
        );
        // LOCAL, an unspecified or UNIX family, addresses cut short, a header cut
        // before its announced length.
        let mut local = v2.clone();
        local[12] = 0x20;
        let mut unspec = v2.clone();
        unspec[13] = 0x00;
        let mut unix = v2.clone();
        unix[13] = 0x31;
        let mut short = v2.clone();
        short[15] = 8;
        short.truncate(16 + 8);
        for bad in [&local, &unspec, &unix, &short, &v2[..v2.len() - 1].to_vec()] {
            assert_eq!(proxied(bad), None, "{bad:?}");
        }
        // Every cut of either version reads as no addresses, never a panic.
        for h in [&v1[..], &v2, &v2u] {
            for cut in 0..h.len() {
                assert_eq!(proxied(&h[..cut]), None);
            }
        }
    }

    #[test]
    fn proxy_protocol_headers_of_both_versions_are_read_whole() {
        let v1 = b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n";
        assert_eq!(
            proxy_header(&joined(&[v1, HELLO])),
            ProxyHeader::Whole(v1.len())
        );
        assert_eq!(proxy_header(b"PROXY UNKNOWN\r\n"), ProxyHeader::Whole(15));
        for cut in 1..v1.len() - 1 {
            assert_eq!(proxy_header(&v1[..cut]), ProxyHeader::Partial, "{cut}");
        }
        // No line end within the bound, a control byte in the line, other text.
        assert_eq!(
            proxy_header(&[b"PROXY ".as_slice(), &[b'1'; 120]].concat()),
            ProxyHeader::No
        );
        assert_eq!(proxy_header(b"PROXY \x01\r\n"), ProxyHeader::No);
        assert_eq!(proxy_header(b"PROXY \r\n"), ProxyHeader::No);
        assert_eq!(proxy_header(b"PROXY UDP4 1.2.3.4\r\n"), ProxyHeader::No);
        assert_eq!(proxy_header(b"PROXIMITY"), ProxyHeader::No);
        assert_eq!(proxy_header(b"GET / HTTP/1.1\r\n"), ProxyHeader::No);

        // Version 2, PROXY command, TCP over IPv4: 12 bytes of addresses and ports.
        let mut v2 = V2_SIGNATURE.to_vec();
        v2.extend([0x21, 0x11, 0, 12]);
        v2.extend([192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0x01, 0xbb]);
        assert_eq!(proxy_header(&joined(&[&v2, HELLO])), ProxyHeader::Whole(28));
        for cut in 1..v2.len() {
            assert_eq!(proxy_header(&v2[..cut]), ProxyHeader::Partial, "{cut}");
        }
        // A LOCAL command with no addresses.
        let mut local = V2_SIGNATURE.to_vec();
        local.extend([0x20, 0x00, 0, 0]);
        assert_eq!(proxy_header(&local), ProxyHeader::Whole(16));
        // Another version, an unknown command, a length past the bound.
        for (vc, len) in [(0x11, 0u16), (0x22, 0), (0x21, 4097)] {
            let mut h = V2_SIGNATURE.to_vec();
            h.push(vc);
            h.push(0x11);
            h.extend(len.to_be_bytes());
            assert_eq!(proxy_header(&h), ProxyHeader::No, "{vc:#x} {len}");
        }
    }
}
