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
