//! SOCKS handshakes: SOCKS4 and its 4a extension (a name instead of an address), and
//! SOCKS5 (RFC 1928) with username/password authentication (RFC 1929).
//!
//! Each direction is read on its own from the start of its stream, and again from the
//! start while it is incomplete: the handshake is a few hundred bytes at most
//! ([`MAX_HANDSHAKE`]). [`client`] reads what the client sends (SOCKS5 greeting,
//! authentication, request; or the SOCKS4 request) and [`server`] what the proxy
//! answers. Both say how many bytes the handshake took, so that the caller reads what
//! follows as the tunnelled connection.
//!
//! The reading is strict, since the first byte alone (4 or 5) says little: versions,
//! reserved bytes, commands, address types and lengths must all be what the RFCs
//! allow, or the stream is not SOCKS.

use super::WireString;
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest client handshake read: greeting (257) + authentication (513) + request (262).
pub const MAX_HANDSHAKE: usize = 1032;
/// Longest SOCKS4 user id or 4a name read before the stream is not SOCKS.
const MAX_SOCKS4_STRING: usize = 255;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Version {
    Socks4,
    Socks4a,
    Socks5,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Connect,
    Bind,
    UdpAssociate,
}

/// What the client asked the proxy for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub version: Version,
    pub command: Command,
    /// The name asked for (SOCKS4a, SOCKS5 address type 3), as sent.
    pub name: Option<WireString>,
    /// The address asked for (SOCKS4, SOCKS5 address types 1 and 4).
    pub address: Option<IpAddr>,
    pub port: u16,
    /// SOCKS5: the methods the client offered (0 none, 2 username/password, ...).
    pub methods: Vec<u8>,
    /// The SOCKS4 user id or the RFC 1929 user name (never the password).
    pub user: Option<WireString>,
    /// Whether an RFC 1929 password was sent.
    pub password_sent: bool,
}

/// What the proxy answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// SOCKS5: the method the proxy chose (0xff: none acceptable).
    pub method: Option<u8>,
    /// RFC 1929 status, 0 for success.
    pub auth_status: Option<u8>,
    /// The reply code (SOCKS4: 90 granted, 91-93 refused; SOCKS5: 0 succeeded);
    /// `None` when the proxy refused before a request (method or authentication).
    pub code: Option<u8>,
    pub granted: bool,
    /// SOCKS5: the address and port the proxy bound (for UDP ASSOCIATE, where the
    /// client is to send its datagrams); `None` for a name.
    pub bound: Option<(Option<IpAddr>, u16)>,
}

/// One datagram a client exchanges with a SOCKS5 UDP relay (RFC 1928 section 7):
/// the target it is for (or, from the relay, the peer it came from) and its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    /// Fragment number; 0 for a datagram that stands alone.
    pub frag: u8,
    pub name: Option<WireString>,
    pub address: Option<IpAddr>,
    pub port: u16,
    pub data: &'a [u8],
}

/// The answer of [`client`] or [`server`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed<T> {
    /// The handshake, and the stream bytes it took.
    Complete(T, usize),
    /// SOCKS so far; more bytes are needed.
    Partial,
    /// The bytes are not (or no longer) a SOCKS handshake.
    NotSocks,
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

/// `None`: the stream ended before the bytes.
impl<'a> Cursor<'a> {
    fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.at)?;
        self.at += 1;
        Some(v)
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let v = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(v)
    }
    fn u16(&mut self) -> Option<u16> {
        let v = self.take(2)?;
        Some(u16::from_be_bytes([v[0], v[1]]))
    }
    /// A NUL-terminated string of at most `max` bytes: `Err` when longer.
    fn cstr(&mut self, max: usize) -> Result<Option<&'a [u8]>, ()> {
        let rest = self.b.get(self.at..).unwrap_or_default();
        match rest.iter().take(max + 1).position(|&b| b == 0) {
            Some(n) => {
                self.at += n + 1;
                Ok(rest.get(..n))
            }
            None if rest.len() > max => Err(()),
            None => Ok(None),
        }
    }
}

/// A name a client may ask for: printable ASCII without spaces, 1 to 255 bytes.
fn plausible_name(n: &[u8]) -> bool {
    !n.is_empty() && n.len() <= 255 && n.iter().all(|b| b.is_ascii_graphic())
}

/// Reads the client's side of a SOCKS handshake from the start of its stream.
pub fn client(b: &[u8]) -> Parsed<Request> {
    match b.first() {
        Some(4) => socks4(b),
        Some(5) => socks5(b),
        Some(_) => Parsed::NotSocks,
        None => Parsed::Partial,
    }
}

fn command(c: u8, socks5: bool) -> Option<Command> {
    match c {
        1 => Some(Command::Connect),
        2 => Some(Command::Bind),
        3 if socks5 => Some(Command::UdpAssociate),
        _ => None,
    }
}

macro_rules! need {
    ($e:expr) => {
        match $e {
            Some(v) => v,
            None => return Parsed::Partial,
        }
    };
}

fn socks4(b: &[u8]) -> Parsed<Request> {
    let mut c = Cursor { b, at: 1 };
    let Some(command) = command(need!(c.u8()), false) else {
        return Parsed::NotSocks;
    };
    let port = need!(c.u16());
    let ip = need!(c.take(4));
    let ip = Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]);
    let user = match c.cstr(MAX_SOCKS4_STRING) {
        Ok(u) => need!(u),
        Err(()) => return Parsed::NotSocks,
    };
    if !user.iter().all(|b| b.is_ascii_graphic()) {
        return Parsed::NotSocks;
    }
    // SOCKS4a: 0.0.0.x with x not 0 says a name follows the user id.
    let o = ip.octets();
    let (version, name, address) = if o[..3] == [0, 0, 0] && o[3] != 0 {
        let name = match c.cstr(MAX_SOCKS4_STRING) {
            Ok(n) => need!(n),
            Err(()) => return Parsed::NotSocks,
        };
        if !plausible_name(name) {
            return Parsed::NotSocks;
        }
        (Version::Socks4a, Some(WireString::new(name)), None)
    } else {
        (Version::Socks4, None, Some(IpAddr::V4(ip)))
    };
    if port == 0 || (address.is_some() && ip.is_unspecified()) {
        return Parsed::NotSocks;
    }
    Parsed::Complete(
        Request {
            version,
            command,
            name,
            address,
            port,
            methods: Vec::new(),
            user: (!user.is_empty()).then(|| WireString::new(user)),
            password_sent: false,
        },
        c.at,
    )
}

fn socks5(b: &[u8]) -> Parsed<Request> {
    let mut c = Cursor { b, at: 1 };
    let n = need!(c.u8());
    if n == 0 {
        return Parsed::NotSocks;
    }
    let methods = need!(c.take(usize::from(n))).to_vec();
    // Methods: 0 none, 1 GSSAPI, 2 username/password, 3..=0x7f IANA, 0x80..=0xfe
    // private; 0xff is the proxy's "none acceptable", never offered.
    if methods.contains(&0xff) {
        return Parsed::NotSocks;
    }
    let mut user = None;
    let mut password_sent = false;
    // RFC 1929 sub-negotiation (version 1) when the client offered it; a request
    // starts with 5.
    if need!(b.get(c.at)) == &1 {
        if !methods.contains(&2) {
            return Parsed::NotSocks;
        }
        c.at += 1;
        let ulen = need!(c.u8());
        let u = need!(c.take(usize::from(ulen)));
        let plen = need!(c.u8());
        need!(c.take(usize::from(plen)));
        user = Some(WireString::new(u));
        password_sent = true;
    }
    if need!(c.u8()) != 5 {
        return Parsed::NotSocks;
    }
    let Some(command) = command(need!(c.u8()), true) else {
        return Parsed::NotSocks;
    };
    if need!(c.u8()) != 0 {
        return Parsed::NotSocks;
    }
    let (name, address) = match need!(c.u8()) {
        1 => {
            let a = need!(c.take(4));
            (
                None,
                Some(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
            )
        }
        3 => {
            let len = need!(c.u8());
            let n = need!(c.take(usize::from(len)));
            if !plausible_name(n) {
                return Parsed::NotSocks;
            }
            (Some(WireString::new(n)), None)
        }
        4 => {
            let a: [u8; 16] = need!(c.take(16)).try_into().unwrap_or([0; 16]);
            (None, Some(IpAddr::V6(Ipv6Addr::from(a))))
        }
        _ => return Parsed::NotSocks,
    };
    let port = need!(c.u16());
    Parsed::Complete(
        Request {
            version: Version::Socks5,
            command,
            name,
            address,
            port,
            methods,
            user,
            password_sent,
        },
        c.at,
    )
}

/// Reads the proxy's side of a handshake whose client side spoke `version`.
pub fn server(b: &[u8], version: Version) -> Parsed<Reply> {
    let mut c = Cursor { b, at: 0 };
    if version != Version::Socks5 {
        // VN 0, CD, DSTPORT, DSTIP: eight bytes.
        if need!(c.u8()) != 0 {
            return Parsed::NotSocks;
        }
        let code = need!(c.u8());
        if !(90..=93).contains(&code) {
            return Parsed::NotSocks;
        }
        need!(c.take(6));
        return Parsed::Complete(
            Reply {
                method: None,
                auth_status: None,
                code: Some(code),
                granted: code == 90,
                bound: None,
            },
            c.at,
        );
    }
    if need!(c.u8()) != 5 {
        return Parsed::NotSocks;
    }
    let method = need!(c.u8());
    let refused = |auth_status| Reply {
        method: Some(method),
        auth_status,
        code: None,
        granted: false,
        bound: None,
    };
    if method == 0xff {
        return Parsed::Complete(refused(None), c.at);
    }
    let mut auth_status = None;
    if method == 2 {
        if need!(c.u8()) != 1 {
            return Parsed::NotSocks;
        }
        let status = need!(c.u8());
        if status != 0 {
            return Parsed::Complete(refused(Some(status)), c.at);
        }
        auth_status = Some(status);
    }
    if need!(c.u8()) != 5 {
        return Parsed::NotSocks;
    }
    let code = need!(c.u8());
    if code > 8 || need!(c.u8()) != 0 {
        return Parsed::NotSocks;
    }
    let address = match need!(c.u8()) {
        1 => need!(c.take(4))
            .try_into()
            .ok()
            .map(|a: [u8; 4]| IpAddr::from(a)),
        3 => {
            let n = usize::from(need!(c.u8()));
            need!(c.take(n));
            None
        }
        4 => need!(c.take(16))
            .try_into()
            .ok()
            .map(|a: [u8; 16]| IpAddr::from(a)),
        _ => return Parsed::NotSocks,
    };
    let port = need!(c.u16());
    Parsed::Complete(
        Reply {
            method: Some(method),
            auth_status,
            code: Some(code),
            granted: code == 0,
            bound: Some((address, port)),
        },
        c.at,
    )
}

/// Reads a datagram sent to or by a SOCKS5 UDP relay: two reserved zero bytes, the
/// fragment number, the address (type 1, 3 or 4) and port, then the data. `None`
/// when the header does not fit or is not one.
pub fn udp_datagram(b: &[u8]) -> Option<UdpDatagram<'_>> {
    let mut c = Cursor { b, at: 0 };
    if c.u16()? != 0 {
        return None;
    }
    let frag = c.u8()?;
    let (name, address) = match c.u8()? {
        1 => (
            None,
            Some(IpAddr::from(<[u8; 4]>::try_from(c.take(4)?).ok()?)),
        ),
        3 => {
            let n = usize::from(c.u8()?);
            let n = c.take(n)?;
            if !plausible_name(n) {
                return None;
            }
            (Some(WireString::new(n)), None)
        }
        4 => (
            None,
            Some(IpAddr::from(<[u8; 16]>::try_from(c.take(16)?).ok()?)),
        ),
        _ => return None,
    };
    let port = c.u16()?;
    Some(UdpDatagram {
        frag,
        name,
        address,
        port,
        data: b.get(c.at..).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_relay_datagrams_give_their_target_and_data() {
        let d = udp_datagram(b"\0\0\0\x01\x7f\0\0\x35\0\x35dns").unwrap();
        assert_eq!(d.address, Some(IpAddr::from([127, 0, 0, 53])));
        assert_eq!((d.frag, d.port, d.data), (0, 53, &b"dns"[..]));
        let d = udp_datagram(b"\0\0\x01\x03\x0bdl.example.\x01\xbbquic").unwrap();
        assert_eq!(d.name, Some(WireString::new(b"dl.example.")));
        assert_eq!((d.frag, d.port, d.data), (1, 443, &b"quic"[..]));
        // Reserved bytes set, an unknown address type, a cut header.
        assert_eq!(udp_datagram(b"\0\x01\0\x01\x7f\0\0\x35\0\x35"), None);
        assert_eq!(udp_datagram(b"\0\0\0\x02\x7f\0\0\x35\0\x35"), None);
        assert_eq!(udp_datagram(b"\0\0\0\x04\x7f\0\0\x35"), None);
    }

    #[test]
    fn socks5_replies_give_the_bound_address() {
        let Parsed::Complete(r, n) = server(
            b"\x05\x00\x05\x00\x00\x01\x7f\0\0\x0c\x9c\x41",
            Version::Socks5,
        ) else {
            panic!("reply");
        };
        assert_eq!(n, 12);
        assert_eq!(r.bound, Some((Some(IpAddr::from([127, 0, 0, 12])), 40001)));
    }

    #[test]
    fn socks5_with_a_name_and_password_reads_to_the_end_of_the_request() {
        let mut b = vec![5, 2, 0, 2, 1, 3];
        b.extend(b"bob\x06secret\x05\x01\x00\x03\x0bwww.example\x01\xbb");
        b.extend(b"\x16\x03\x01");
        let Parsed::Complete(r, n) = client(&b) else {
            panic!("{:?}", client(&b));
        };
        assert_eq!(n, b.len() - 3);
        assert_eq!(r.name, Some("www.example".into()));
        assert_eq!(
            (r.port, r.version, r.user),
            (443, Version::Socks5, Some("bob".into()))
        );
        assert!(r.password_sent);
        for cut in 0..n {
            assert_eq!(client(&b[..cut]), Parsed::Partial, "cut at {cut}");
        }
        let reply = [5, 2, 1, 0, 5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90, 0x16];
        let Parsed::Complete(r, n) = server(&reply, Version::Socks5) else {
            panic!()
        };
        assert_eq!((n, r.granted, r.code), (14, true, Some(0)));
    }

    #[test]
    fn socks4a_carries_a_name_and_socks4_an_address() {
        let b = b"\x04\x01\x00\x50\x00\x00\x00\x01\x00dl.example\x00";
        let Parsed::Complete(r, n) = client(b) else {
            panic!()
        };
        assert_eq!(
            (r.version, n, r.name),
            (Version::Socks4a, b.len(), Some("dl.example".into()))
        );
        let b = b"\x04\x01\x01\xbb\xc0\x00\x02\x01user\x00";
        let Parsed::Complete(r, _) = client(b) else {
            panic!()
        };
        assert_eq!(r.address, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(r.user, Some("user".into()));
        let Parsed::Complete(r, 8) = server(&[0, 91, 0, 0, 0, 0, 0, 0], Version::Socks4) else {
            panic!()
        };
        assert!(!r.granted);
    }

    #[test]
    fn other_protocols_are_not_socks() {
        assert_eq!(client(b"GET / HTTP/1.1\r\n"), Parsed::NotSocks);
        assert_eq!(client(b"\x05\x00"), Parsed::NotSocks);
        assert_eq!(client(b"\x05\x01\x00\x05\x09"), Parsed::NotSocks);
        assert_eq!(client(b"\x04\x07"), Parsed::NotSocks);
        assert_eq!(
            client(&[4, 1, 0, 80, 1, 2, 3, 4, b'a'].repeat(40)),
            Parsed::NotSocks
        );
        assert_eq!(server(b"\x16\x03\x03", Version::Socks5), Parsed::NotSocks);
    }
}
