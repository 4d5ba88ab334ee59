//! Reverse DNS (PTR) for `--online`: one query per address, built and read with
//! `hickory-proto` (the DNS library this program already uses for captures), sent over
//! UDP to the nameserver given or the first of `/etc/resolv.conf`, again over TCP when
//! the answer is truncated (RFC 1035 §4.2.1, RFC 7766), a timeout per query and a
//! bounded number of queries in flight.
//!
//! Each answer is kept as evidence exactly as received: the DNS message's bytes, its
//! records in presentation form, the query time and the server. (`hickory-resolver`,
//! the project's resolver, parses answers into its own types and does not hand out the
//! received bytes; it also brings an async runtime and a cache, some twenty crates, for
//! what is here a few hundred blocking queries at most.) PTR names are written by
//! whoever holds the reverse zone: they are kept as text for the caller to escape, and
//! used only to match provider hostname patterns.
//!
//! Contract: a timeout, a refusal or NXDOMAIN is an answer (`names` empty, `error`
//! set), never a hang or a panic; an answer whose ID or question does not match the
//! query is ignored (RFC 5452 §9.1), until the timeout.

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// How to ask.
#[derive(Clone, Debug)]
pub struct RdnsOptions {
    /// A nameserver to ask instead of the system's (`127.0.0.1:5353`).
    pub server: Option<SocketAddr>,
    pub timeout: Duration,
    /// Queries in flight at most.
    pub concurrency: usize,
}

impl Default for RdnsOptions {
    fn default() -> Self {
        RdnsOptions {
            server: None,
            timeout: Duration::from_secs(3),
            concurrency: 8,
        }
    }
}

/// One reverse lookup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PtrAnswer {
    pub ip: IpAddr,
    /// The query name (`4.3.2.1.in-addr.arpa.`).
    pub query: String,
    /// The nameserver asked.
    pub server: String,
    /// RFC 3339 UTC, when the answer (or the failure) came.
    pub time_utc: String,
    /// PTR targets, lower case, without the trailing dot.
    pub names: Vec<String>,
    /// Every answer record in presentation form.
    pub records: Vec<String>,
    /// Why there is no name: NXDOMAIN, no PTR record, timeout, refused.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// The DNS message as received (absent when none came).
    #[serde(skip)]
    pub wire: Option<Vec<u8>>,
}

/// The in-addr.arpa / ip6.arpa name of an address (RFC 1035 §3.5, RFC 3596 §2.5).
pub(crate) fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(a) => {
            let mut s = String::new();
            for b in a.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s.push_str("ip6.arpa.");
            s
        }
    }
}

fn now_utc() -> String {
    crate::times::Now::system(time::UtcOffset::UTC).utc
}

/// Why the system's resolver cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NameserverError {
    #[error("reading /etc/resolv.conf: {0}; pass --dns-server")]
    Read(#[from] std::io::Error),
    #[error("no usable nameserver in /etc/resolv.conf; pass --dns-server")]
    NoneUsable,
}

/// The first `nameserver` of `/etc/resolv.conf` (port 53).
pub(crate) fn system_nameserver() -> Result<SocketAddr, NameserverError> {
    let text = std::fs::read_to_string("/etc/resolv.conf")?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| {
            // A scoped IPv6 address (`fe80::1%eth0`) cannot be used as written here.
            rest.trim().split('%').next()?.parse::<IpAddr>().ok()
        })
        .map(|ip| SocketAddr::new(ip, 53))
        .next()
        .ok_or(NameserverError::NoneUsable)
}

/// Looks up the PTR records of every address, at most `concurrency` at once. The
/// answers come back in the order of `ips`.
pub fn lookup_all(ips: &[IpAddr], opts: &RdnsOptions) -> Result<Vec<PtrAnswer>, NameserverError> {
    let server = match opts.server {
        Some(s) => s,
        None => system_nameserver()?,
    };
    let mut out = Vec::with_capacity(ips.len());
    for (n, chunk) in ips.chunks(opts.concurrency.max(1)).enumerate() {
        let answers: Vec<PtrAnswer> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(i, ip)| {
                    let id = query_id(n * opts.concurrency.max(1) + i);
                    scope.spawn(move || lookup(*ip, server, opts.timeout, id))
                })
                .collect();
            handles
                .into_iter()
                .zip(chunk)
                .map(|(h, ip)| {
                    h.join()
                        .unwrap_or_else(|_| failed(*ip, server, "the lookup stopped".into()))
                })
                .collect()
        });
        out.extend(answers);
    }
    Ok(out)
}

/// A query ID that a blind attacker cannot guess in advance (RFC 5452 §4.3): the
/// clock's nanoseconds mixed with the query's number.
fn query_id(n: usize) -> u16 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let x = u64::from(t) ^ (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x ^ (x >> 16) ^ (x >> 32)) as u16
}

fn failed(ip: IpAddr, server: SocketAddr, error: String) -> PtrAnswer {
    PtrAnswer {
        ip,
        query: reverse_name(ip),
        server: server.to_string(),
        time_utc: now_utc(),
        names: Vec::new(),
        records: Vec::new(),
        error: Some(error),
        wire: None,
    }
}

/// One PTR query: UDP, then TCP when the answer is truncated.
pub fn lookup(ip: IpAddr, server: SocketAddr, timeout: Duration, id: u16) -> PtrAnswer {
    let qname = reverse_name(ip);
    let name = match Name::from_ascii(&qname) {
        Ok(n) => n,
        Err(e) => return failed(ip, server, format!("query name: {e}")),
    };
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(name.clone(), RecordType::PTR));
    let bytes = match msg.to_vec() {
        Ok(b) => b,
        Err(e) => return failed(ip, server, format!("encoding the query: {e}")),
    };
    let deadline = Instant::now() + timeout;
    let (wire, reply) = match udp(&bytes, server, deadline, id, &name) {
        Ok((w, m)) if m.metadata.truncation => match tcp(&bytes, server, deadline, id, &name) {
            Ok(x) => x,
            Err(_) => (w, m),
        },
        Ok(x) => x,
        Err(e) => return failed(ip, server, e),
    };
    let mut a = failed(ip, server, String::new());
    a.error = None;
    a.wire = Some(wire);
    for r in &reply.answers {
        a.records.push(r.to_string());
        if let RData::PTR(p) = &r.data {
            let mut n = p.0.to_ascii().to_ascii_lowercase();
            if n.ends_with('.') {
                n.pop();
            }
            a.names.push(n);
        }
    }
    a.names.sort();
    a.names.dedup();
    a.error = match reply.metadata.response_code {
        ResponseCode::NXDomain => Some("NXDOMAIN: no reverse name".into()),
        ResponseCode::NoError if a.names.is_empty() => Some("no PTR record".into()),
        ResponseCode::NoError => None,
        other => Some(format!("the server answered {other}")),
    };
    a
}

/// Whether a reply answers our query: same ID, a response, the same question.
fn matches(m: &Message, id: u16, name: &Name) -> bool {
    m.metadata.id == id
        && m.metadata.message_type == MessageType::Response
        && m.queries
            .first()
            .is_some_and(|q| q.name() == name && q.query_type() == RecordType::PTR)
}

fn left(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

fn udp(
    query: &[u8],
    server: SocketAddr,
    deadline: Instant,
    id: u16,
    name: &Name,
) -> Result<(Vec<u8>, Message), String> {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().map_err(|_| "bind address")?
    } else {
        "[::]:0".parse().map_err(|_| "bind address")?
    };
    let sock = UdpSocket::bind(bind).map_err(|e| format!("UDP socket: {e}"))?;
    sock.connect(server)
        .map_err(|e| format!("UDP to {server}: {e}"))?;
    sock.send(query)
        .map_err(|e| format!("sending to {server}: {e}"))?;
    let mut buf = vec![0u8; 65_535];
    loop {
        let Some(wait) = left(deadline) else {
            return Err(format!("no answer from {server} within the timeout"));
        };
        sock.set_read_timeout(Some(wait))
            .map_err(|e| format!("UDP socket: {e}"))?;
        match sock.recv(&mut buf) {
            Ok(n) => {
                let got = buf.get(..n).unwrap_or_default();
                if let Ok(m) = Message::from_vec(got) {
                    if matches(&m, id, name) {
                        return Ok((got.to_vec(), m));
                    }
                }
                // Not ours, or not DNS: keep waiting until the deadline.
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!("no answer from {server} within the timeout"))
            }
            Err(e) => return Err(format!("receiving from {server}: {e}")),
        }
    }
}

fn tcp(
    query: &[u8],
    server: SocketAddr,
    deadline: Instant,
    id: u16,
    name: &Name,
) -> Result<(Vec<u8>, Message), String> {
    let wait = left(deadline).ok_or("no time left for TCP")?;
    let mut s =
        TcpStream::connect_timeout(&server, wait).map_err(|e| format!("TCP to {server}: {e}"))?;
    let wait = left(deadline).ok_or("no time left for TCP")?;
    s.set_read_timeout(Some(wait)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(wait)).map_err(|e| e.to_string())?;
    let len = u16::try_from(query.len()).map_err(|_| "query too long")?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    s.write_all(&framed)
        .map_err(|e| format!("TCP to {server}: {e}"))?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len)
        .map_err(|e| format!("TCP from {server}: {e}"))?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut body)
        .map_err(|e| format!("TCP from {server}: {e}"))?;
    let m = Message::from_vec(&body).map_err(|e| format!("TCP answer from {server}: {e}"))?;
    if !matches(&m, id, name) {
        return Err(format!("TCP answer from {server} does not match the query"));
    }
    Ok((body, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that first sends an answer with another ID, then nothing: the stray
    /// answer is ignored (RFC 5452 §9.1) and the lookup ends at its timeout.
    #[test]
    fn an_answer_with_another_id_is_ignored_and_the_timeout_holds() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let (n, from) = server.recv_from(&mut buf).unwrap();
            let mut m = Message::from_vec(&buf[..n]).unwrap();
            m.metadata.id = m.metadata.id.wrapping_add(1);
            m.metadata.message_type = MessageType::Response;
            server.send_to(&m.to_vec().unwrap(), from).unwrap();
        });
        let start = Instant::now();
        let a = lookup(
            "192.0.2.1".parse().unwrap(),
            addr,
            Duration::from_millis(300),
            7,
        );
        t.join().unwrap();
        assert!(a.names.is_empty());
        assert!(a.error.unwrap().contains("within the timeout"));
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn reverse_names_follow_rfc_1035_and_3596() {
        assert_eq!(
            reverse_name("3.121.45.67".parse().unwrap()),
            "67.45.121.3.in-addr.arpa."
        );
        let v6 = reverse_name("2001:db8::1".parse().unwrap());
        assert!(v6.starts_with("1.0.0.0.0.0.0.0"));
        assert!(v6.ends_with("8.b.d.0.1.0.0.2.ip6.arpa."));
    }
}
