//! The records identification finds (DNS, TLS, HTTP, QUIC), each with where it was
//! seen: plain data shared by [`super::identify`], which makes them, [`super::spool`],
//! which serialises them, and the report, which copies them out.

use crate::dissect::dns::Message;
use crate::dissect::http::HttpMessage;
use crate::dissect::tls::Handshake;
use crate::model::{Endpoint, Timestamp, Transport};
use serde::Serialize;

/// Where a record was seen: the frame that completed it (with its time), every
/// frame that carried its bytes, and the two ends.
#[derive(Clone, Debug, Serialize)]
pub struct Seen {
    pub capture: u32,
    /// The first frame that carried the record.
    pub frame: u64,
    /// Every frame that carried part of the record, in stream order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<u64>,
    /// Time of the frame that completed the record.
    pub ts: Timestamp,
    pub client: Endpoint,
    pub server: Endpoint,
    pub transport: Transport,
}

#[derive(Clone, Debug, Serialize)]
pub struct DnsRecord {
    #[serde(flatten)]
    pub seen: Seen,
    #[serde(flatten)]
    pub message: Message,
}

#[derive(Clone, Debug, Serialize)]
pub struct TlsRecord {
    #[serde(flatten)]
    pub seen: Seen,
    #[serde(flatten)]
    pub handshake: Handshake,
}

#[derive(Clone, Debug, Serialize)]
pub struct HttpRecord {
    #[serde(flatten)]
    pub seen: Seen,
    #[serde(flatten)]
    pub message: HttpMessage,
}

#[derive(Clone, Debug, Serialize)]
pub struct QuicRecord {
    #[serde(flatten)]
    pub seen: Seen,
    pub version: u32,
    pub dcid: String,
    pub scid: String,
    #[serde(flatten)]
    pub hello: crate::dissect::tls::ClientHelloInfo,
}

/// A proxy handshake in front of a TCP connection: SOCKS or HTTP `CONNECT` (and a
/// forward proxy's absolute-form request). `seen.server` is the proxy, `seen.frames`
/// the frames of the request; what the tunnel carried is identified as its own
/// records between the same two ends. Or a PROXY protocol header: `seen.client` is
/// the proxy (a load balancer), `seen.server` the server it relays to, `origin` the
/// original client and the target the address that client reached.
#[derive(Clone, Debug, Serialize)]
pub struct ProxyRecord {
    #[serde(flatten)]
    pub seen: Seen,
    /// `socks4`, `socks4a`, `socks5`, `http_connect`, `http_forward`, `proxy_v1` or
    /// `proxy_v2` (a PROXY protocol header).
    pub protocol: &'static str,
    /// `connect`, `bind`, `udp_associate`, `udp` (a target the client's datagrams
    /// named through a granted SOCKS5 UDP relay, recorded once per relay and
    /// target), the HTTP method, or, for a PROXY protocol header, the transport of
    /// the connection the proxy accepted (`tcp`, `udp`).
    pub command: crate::dissect::WireString,
    /// PROXY protocol: the original client, as the proxy told the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<crate::model::Endpoint>,
    /// The name the client asked the proxy for, as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_name: Option<crate::dissect::WireString>,
    /// The address the client asked the proxy for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_address: Option<std::net::IpAddr>,
    pub target_port: u16,
    /// SOCKS5: the authentication methods offered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<u8>,
    /// The SOCKS4 user id or SOCKS5 user name (passwords are not copied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<crate::dissect::WireString>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub password_sent: bool,
    /// The proxy's answer: SOCKS reply code or HTTP status; absent when no answer
    /// was seen, or a SOCKS5 proxy refused before the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<u16>,
    /// Whether the proxy granted the request; absent when its answer was not seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub granted: Option<bool>,
    /// The frames of the proxy's answer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reply_frames: Vec<u64>,
}

impl ProxyRecord {
    /// A request of `protocol` and `command` seen at `seen`, with no target, no
    /// authentication and no answer yet.
    pub(crate) fn new(
        seen: Seen,
        protocol: &'static str,
        command: crate::dissect::WireString,
    ) -> ProxyRecord {
        ProxyRecord {
            seen,
            protocol,
            command,
            origin: None,
            target_name: None,
            target_address: None,
            target_port: 0,
            methods: Vec::new(),
            user: None,
            password_sent: false,
            reply: None,
            granted: None,
            reply_frames: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct NbnsRecord {
    #[serde(flatten)]
    pub seen: Seen,
    #[serde(flatten)]
    pub message: crate::dissect::nbns::NbnsMessage,
}

/// A server address a client named by number through a proxy: a SOCKS `connect`
/// or UDP relay target, an HTTP `CONNECT` or forward request to an IP literal, or
/// the address a PROXY protocol header says the original client reached. Not an
/// endpoint of the capture (the packets went to the proxy), but a server the traffic
/// was for, attributed as the endpoints are. One per capture, target and proxy.
#[derive(Clone, Debug, Serialize)]
pub struct ProxyTarget {
    pub capture: u32,
    pub ip: std::net::IpAddr,
    pub port: u16,
    /// The proxy asked: the server of the connection (SOCKS, HTTP), or for a PROXY
    /// protocol header the proxy that sent it (its address only).
    pub proxy: Endpoint,
    /// The protocols of the requests, as in `proxies[].protocol`, sorted.
    pub protocols: Vec<&'static str>,
    pub requests: u64,
    /// Requests the proxy granted, and refused; the rest had no answer seen (a PROXY
    /// header has none). A datagram through a SOCKS5 UDP relay counts as granted:
    /// the relay it went through was granted (only those are followed).
    pub granted: u64,
    pub refused: u64,
    /// The times of the first and last request.
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// The first [`MAX_TARGET_FRAMES`] frames of the requests, in order.
    pub frames: Vec<u64>,
    /// The transport to `proxy`: `tcp`, or `udp` for a SOCKS5 UDP relay (`proxy`
    /// is then the relay the proxy granted).
    pub transport: crate::model::Transport,
}

impl ProxyTarget {
    /// Whether `proxy` is a SOCKS5 UDP relay that carried the client's datagrams.
    pub fn is_relay(&self) -> bool {
        self.transport == crate::model::Transport::Udp
    }
}

/// Request frames kept per proxy target.
pub const MAX_TARGET_FRAMES: usize = 64;

/// Proxy targets kept per capture; requests for more are counted, not kept.
pub const MAX_PROXY_TARGETS: usize = 4096;

/// The proxy targets of one capture, tallied as its proxy records are made.
#[derive(Debug, Default)]
pub(crate) struct ProxyTargets {
    by_key: std::collections::BTreeMap<
        (std::net::IpAddr, u16, Endpoint, crate::model::Transport),
        ProxyTarget,
    >,
    /// Requests for targets past [`MAX_PROXY_TARGETS`], and the first one's frame.
    pub(crate) dropped: Option<(u64, u64)>,
}

impl ProxyTargets {
    /// Counts `r` when it names a server by number: a SOCKS `connect` or relayed
    /// datagram, an HTTP request to an IP literal, a PROXY header. A SOCKS `bind` or
    /// `udp_associate` names the client's own side; an unspecified address names
    /// nothing.
    pub(crate) fn add(&mut self, r: &ProxyRecord) {
        let Some(ip) = r.target_address.filter(|ip| !ip.is_unspecified()) else {
            return;
        };
        let proxy = match r.protocol {
            "proxy_v1" | "proxy_v2" => Endpoint {
                ip: r.seen.client.ip,
                port: None,
            },
            "socks4" | "socks4a" | "socks5"
                if !matches!(r.command.as_bytes(), b"connect" | b"udp") =>
            {
                return
            }
            _ => r.seen.server,
        };
        let frames = if r.seen.frames.is_empty() {
            std::slice::from_ref(&r.seen.frame)
        } else {
            &r.seen.frames[..]
        };
        let key = (ip, r.target_port, proxy, r.seen.transport);
        if !self.by_key.contains_key(&key) && self.by_key.len() >= MAX_PROXY_TARGETS {
            let d = self.dropped.get_or_insert((0, r.seen.frame));
            d.0 += 1;
            return;
        }
        let t = self.by_key.entry(key).or_insert_with(|| ProxyTarget {
            capture: r.seen.capture,
            ip,
            port: r.target_port,
            proxy,
            protocols: Vec::new(),
            requests: 0,
            granted: 0,
            refused: 0,
            first_seen: r.seen.ts,
            last_seen: r.seen.ts,
            frames: Vec::new(),
            transport: r.seen.transport,
        });
        if let Err(at) = t.protocols.binary_search(&r.protocol) {
            t.protocols.insert(at, r.protocol);
        }
        t.requests += 1;
        let relayed = r.protocol == "socks5" && r.command.as_bytes() == b"udp";
        match r.granted {
            _ if relayed => t.granted += 1,
            Some(true) => t.granted += 1,
            Some(false) => t.refused += 1,
            None => {}
        }
        t.first_seen = t.first_seen.min(r.seen.ts);
        t.last_seen = t.last_seen.max(r.seen.ts);
        t.frames.extend(frames);
        if t.frames.len() > 2 * MAX_TARGET_FRAMES {
            first_frames(&mut t.frames);
        }
    }

    /// The targets in address, port and proxy order, each one's frames sorted.
    pub(crate) fn finish(self) -> Vec<ProxyTarget> {
        self.by_key
            .into_values()
            .map(|mut t| {
                first_frames(&mut t.frames);
                t
            })
            .collect()
    }
}

/// The first [`MAX_TARGET_FRAMES`] of `frames`, sorted, each once.
fn first_frames(frames: &mut Vec<u64>) {
    frames.sort_unstable();
    frames.dedup();
    frames.truncate(MAX_TARGET_FRAMES);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::WireString;

    fn request(protocol: &'static str, command: &str, target: &str, frame: u64) -> ProxyRecord {
        let ep = |ip: &str, port| Endpoint {
            ip: ip.parse().unwrap(),
            port,
        };
        let seen = Seen {
            capture: 0,
            frame,
            frames: vec![frame - 1, frame],
            ts: Timestamp::new(frame as i64, 0),
            client: ep("192.0.2.1", Some(40000)),
            server: ep("192.0.2.9", Some(1080)),
            transport: Transport::Tcp,
        };
        ProxyRecord {
            target_address: Some(target.parse().unwrap()),
            target_port: 443,
            ..ProxyRecord::new(seen, protocol, WireString::from(command))
        }
    }

    #[test]
    fn targets_are_tallied_per_address_port_and_proxy() {
        let mut t = ProxyTargets::default();
        let mut granted = request("socks5", "connect", "52.28.131.173", 10);
        granted.granted = Some(true);
        t.add(&granted);
        let mut refused = request("socks4", "connect", "52.28.131.173", 4);
        refused.granted = Some(false);
        t.add(&refused);
        // The client's own side, and no address at all: not servers.
        t.add(&request("socks5", "bind", "198.51.100.1", 20));
        t.add(&request("socks5", "udp_associate", "198.51.100.2", 22));
        t.add(&request("socks5", "connect", "0.0.0.0", 24));
        // A PROXY header's proxy is the connection's client, without its port.
        t.add(&request("proxy_v2", "tcp", "52.28.131.173", 30));
        let all = t.finish();
        assert_eq!(all.len(), 2, "{all:?}");
        let by_socks = &all[1];
        assert_eq!(by_socks.proxy.to_string(), "192.0.2.9:1080");
        assert_eq!(by_socks.protocols, ["socks4", "socks5"]);
        assert_eq!(
            (by_socks.requests, by_socks.granted, by_socks.refused),
            (2, 1, 1)
        );
        assert_eq!(by_socks.frames, [3, 4, 9, 10]);
        assert_eq!(by_socks.first_seen, Timestamp::new(4, 0));
        assert_eq!(by_socks.last_seen, Timestamp::new(10, 0));
        assert_eq!(all[0].proxy.to_string(), "192.0.2.1");
        assert_eq!(all[0].protocols, ["proxy_v2"]);
    }

    #[test]
    fn a_datagram_through_a_relay_counts_as_granted_and_a_method_named_udp_does_not() {
        let mut t = ProxyTargets::default();
        t.add(&request("socks5", "udp", "47.236.91.18", 10));
        t.add(&request("http_forward", "udp", "43.136.75.21", 12));
        let all = t.finish();
        let got: Vec<(String, u64, u64)> = all
            .iter()
            .map(|t| (t.ip.to_string(), t.requests, t.granted))
            .collect();
        assert_eq!(
            got,
            [
                ("43.136.75.21".to_string(), 1, 0),
                ("47.236.91.18".to_string(), 1, 1)
            ]
        );
    }

    #[test]
    fn frames_and_targets_are_bounded() {
        let mut t = ProxyTargets::default();
        for frame in (2..1000).rev() {
            t.add(&request("socks5", "connect", "52.28.131.173", frame));
        }
        let one = t.finish().remove(0);
        assert_eq!(one.requests, 998);
        assert_eq!(
            one.frames,
            (1..=MAX_TARGET_FRAMES as u64).collect::<Vec<_>>()
        );

        let mut t = ProxyTargets::default();
        for i in 0..MAX_PROXY_TARGETS as u32 + 3 {
            let ip = std::net::Ipv4Addr::from(0x3400_0000 + i).to_string();
            t.add(&request("socks5", "connect", &ip, 10 + u64::from(i)));
        }
        assert_eq!(t.dropped, Some((3, 10 + MAX_PROXY_TARGETS as u64)));
        assert_eq!(t.finish().len(), MAX_PROXY_TARGETS);
    }
}
