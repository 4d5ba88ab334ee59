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
