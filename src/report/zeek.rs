//! Zeek-style logs (`conn.log`, `dns.log`, `ssl.log`, `http.log`) in Zeek's JSON log
//! format: one object per line, field names and meanings as Zeek documents them,
//! `ts` in seconds since the epoch. What whohosts knows that Zeek does not (the
//! attribution, frame numbers, frame bytes) is under the `whohosts.` prefix.
//!
//! Filled as Zeek fills them: `ts`, `uid`, `id.orig_h`, `id.orig_p`, `id.resp_h`,
//! `id.resp_p`, `proto`, `service`, `duration`, `orig_pkts`, `resp_pkts` (conn);
//! `trans_id`, `query`, `qtype`, `rcode`, `TC`, `answers`, `TTLs` (dns); `version`,
//! `cipher`, `server_name`, `next_protocol` (ssl); `trans_depth`, `method`, `host`,
//! `uri`, `referrer`, `version`, `user_agent`, `status_code` (http). Not filled,
//! because whohosts does not count them: `orig_bytes`/`resp_bytes` (payload bytes),
//! `orig_ip_bytes`/`resp_ip_bytes`, `conn_state`, `history`, `missed_bytes`; frame
//! bytes (as tshark counts them) are in `whohosts.orig_frame_bytes` and
//! `whohosts.resp_frame_bytes`. The originator is the side that sent the
//! conversation's first frame, as in Zeek without a handshake to go by.

use super::Report;
use crate::attribute::Attribution;
use crate::model::{Endpoint, Timestamp, Transport};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

/// The files written into the directory given to [`write_dir`].
pub const FILES: [&str; 4] = ["conn.log", "dns.log", "ssl.log", "http.log"];

/// `ts` as Zeek writes it in JSON: seconds since the epoch, microseconds.
fn ts(t: Timestamp) -> Value {
    let micros = i128::from(t.secs) * 1_000_000 + i128::from(t.nanos / 1000);
    // Through a decimal string, so that the value prints exactly as computed.
    let text = format!(
        "{}{}.{:06}",
        if micros < 0 { "-" } else { "" },
        (micros / 1_000_000).abs(),
        (micros % 1_000_000).abs()
    );
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// A connection uid like Zeek's (`C` and 17 base-62 characters), derived from the
/// capture, transport, endpoints and first frame so that the same report gives the
/// same uids.
fn uid(capture: u32, transport: Transport, a: &str, b: &str, first_frame: u64) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("{capture}|{transport}|{a}|{b}|{first_frame}"));
    let mut n = u128::from_be_bytes(d[..16].try_into().unwrap_or([0; 16]));
    let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut s = String::from("C");
    for _ in 0..17 {
        s.push(char::from(alphabet[(n % 62) as usize]));
        n /= 62;
    }
    s
}

/// Key of a connection: capture, transport, client, server.
type ConnKey = (u32, Transport, Endpoint, Endpoint);

/// A transport conversation as the logs need it: its span, first frame (its uid
/// is made again from these and the key) and the services its records showed.
struct Conn {
    first: Timestamp,
    last: Timestamp,
    first_frame: u64,
    services: u8,
}

/// The services a connection's records show, as bits, in the order Zeek's
/// `service` field lists them (alphabetical).
const SERVICES: [(u8, &str); 4] = [(DNS, "dns"), (HTTP, "http"), (QUIC, "quic"), (SSL, "ssl")];
const DNS: u8 = 1;
const HTTP: u8 = 2;
const QUIC: u8 = 4;
const SSL: u8 = 8;

/// The fields every record has that the logs use (the rest is skipped as it is
/// read back).
#[derive(Deserialize)]
struct Base {
    #[serde(default)]
    capture: Option<u32>,
    #[serde(default)]
    transport: Option<Box<str>>,
    #[serde(default)]
    client: Side,
    #[serde(default)]
    server: Side,
    /// Records carry RFC 3339 times; parsed back to the nanosecond as read.
    #[serde(default, deserialize_with = "rfc3339")]
    ts: Timestamp,
    #[serde(default)]
    frame: Option<u64>,
}

fn rfc3339<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    let text = Option::<Box<str>>::deserialize(d)?;
    Ok(text
        .and_then(|s| {
            time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).ok()
        })
        .map(|t| {
            let n = t.unix_timestamp_nanos();
            Timestamp::new(
                (n.div_euclid(1_000_000_000)) as i64,
                n.rem_euclid(1_000_000_000) as u32,
            )
        })
        .unwrap_or_default())
}

/// A record's client or server: its two fields, not a map of them.
#[derive(Deserialize, Default)]
struct Side {
    #[serde(default)]
    ip: Option<Box<str>>,
    #[serde(default)]
    port: Option<u16>,
}

impl Side {
    fn of(e: Endpoint) -> Side {
        Side {
            ip: Some(e.ip.to_string().into()),
            port: e.port,
        }
    }
}

#[derive(Deserialize)]
struct DnsRec {
    #[serde(flatten)]
    base: Base,
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    is_response: Option<bool>,
    #[serde(default, deserialize_with = "list")]
    questions: Vec<Question>,
    #[serde(default)]
    rcode: Option<u64>,
    #[serde(default, deserialize_with = "list")]
    answers: Vec<DnsAnswer>,
}

#[derive(Deserialize)]
struct Question {
    #[serde(default)]
    name: Value,
    #[serde(default)]
    qtype: Value,
}

/// An answer as `dns.log` shows it: its address or target, else its data as
/// JSON text; and its TTL.
#[derive(Deserialize)]
struct DnsAnswer {
    #[serde(default = "null_shown", deserialize_with = "shown")]
    data: Value,
    #[serde(default)]
    ttl: Value,
}

fn shown<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    let d = Value::deserialize(d)?;
    Ok(d.get("address")
        .or_else(|| d.get("target"))
        .cloned()
        .unwrap_or_else(|| json!(d.to_string())))
}

/// A list, `null` read as empty (as the logs read a missing one).
fn list<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

fn null_shown() -> Value {
    json!(Value::Null.to_string())
}

#[derive(Deserialize)]
struct TlsRec {
    #[serde(flatten)]
    base: Base,
    #[serde(default, rename = "type")]
    kind: Value,
    #[serde(default)]
    version: Value,
    #[serde(default)]
    cipher: Value,
    #[serde(default)]
    alpn: Value,
    #[serde(default)]
    sni: Value,
    #[serde(default)]
    ja4: Value,
}

#[derive(Deserialize)]
struct HttpRec {
    #[serde(flatten)]
    base: Base,
    #[serde(default, rename = "type")]
    kind: Value,
    #[serde(default)]
    method: Value,
    #[serde(default)]
    host: Value,
    #[serde(default)]
    uri: Value,
    #[serde(default)]
    referer: Value,
    #[serde(default)]
    version: Value,
    #[serde(default)]
    user_agent: Value,
    #[serde(default)]
    status: Value,
}

/// A record's side as an endpoint.
fn endpoint(v: &Side) -> Option<Endpoint> {
    Some(Endpoint {
        ip: v.ip.as_deref()?.parse().ok()?,
        port: v.port,
    })
}

fn id_fields(m: &mut Map<String, Value>, client: &Side, server: &Side) {
    m.insert("id.orig_h".into(), json!(client.ip));
    m.insert("id.orig_p".into(), json!(client.port));
    m.insert("id.resp_h".into(), json!(server.ip));
    m.insert("id.resp_p".into(), json!(server.port));
}

fn attribution_fields(m: &mut Map<String, Value>, a: Option<&Attribution>) {
    let Some(a) = a else { return };
    let p = &a.provider;
    if let Some(name) = p.display_name() {
        m.insert("whohosts.provider".into(), json!(name));
        m.insert("whohosts.provider_confidence".into(), json!(p.confidence));
        m.insert(
            "whohosts.provider_source".into(),
            json!(p.source.as_ref().map(|s| &s.source)),
        );
    }
    if let Some(region) = &a.region.id {
        m.insert("whohosts.region".into(), json!(region));
        m.insert(
            "whohosts.region_confidence".into(),
            json!(a.region.confidence),
        );
    }
    if let Some(asn) = a.asn.number {
        m.insert("whohosts.asn".into(), json!(asn));
        m.insert("whohosts.as_org".into(), json!(a.asn.organization));
    }
    if let Some(cc) = &a.country.code {
        m.insert("whohosts.country".into(), json!(cc));
    }
}

fn line(w: &mut dyn Write, m: &Map<String, Value>) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, m).map_err(std::io::Error::other)?;
    w.write_all(b"\n")
}

/// The transport conversations by key, each key's in report order.
struct Conns(BTreeMap<ConnKey, Vec<Conn>>);

impl Conns {
    /// The connection a record belongs to: same endpoints either way round, the
    /// one whose span holds the record's time (else the first).
    fn find(&mut self, r: &Base) -> Option<(ConnKey, &mut Conn)> {
        let capture = r.capture?;
        let transport = match r.transport.as_deref()? {
            "tcp" => Transport::Tcp,
            "udp" => Transport::Udp,
            _ => return None,
        };
        let (c, s) = (endpoint(&r.client)?, endpoint(&r.server)?);
        let t = r.ts;
        // The conversation's first sender need not be the client (a capture that
        // starts mid-connection).
        let key = [(capture, transport, c, s), (capture, transport, s, c)]
            .into_iter()
            .find(|k| self.0.contains_key(k))?;
        let list = self.0.get_mut(&key)?;
        let i = list
            .iter()
            .position(|x| x.first <= t && t <= x.last)
            .unwrap_or(0);
        Some((key, list.get_mut(i)?))
    }

    /// Marks the service of a record on its connection.
    fn mark(&mut self, r: &Base, service: u8) {
        if let Some((_, conn)) = self.find(r) {
            conn.services |= service;
        }
    }

    /// The uid of a record's connection.
    fn uid_of(&mut self, r: &Base) -> Option<String> {
        let ((capture, transport, a, b), conn) = self.find(r)?;
        Some(uid(
            capture,
            transport,
            &a.to_string(),
            &b.to_string(),
            conn.first_frame,
        ))
    }
}

/// Writes the four logs into `dir` (created if needed), each atomically.
///
/// Records are read back from their spools one at a time, keeping only the
/// fields the logs use: the connections (a few words each) are held, and the
/// DNS, TLS and HTTP records in that reduced form, to pair queries with
/// answers, hellos and requests with responses.
pub fn write_dir(r: &Report, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    fn records<T: serde::de::DeserializeOwned>(
        spools: &[&crate::pipeline::spool::Spool],
    ) -> std::io::Result<Vec<T>> {
        let mut v = Vec::new();
        for s in spools {
            s.for_each(|rec: T| {
                v.push(rec);
                Ok(())
            })?;
        }
        Ok(v)
    }
    let dns: Vec<DnsRec> = records(&r.dns)?;
    let http: Vec<HttpRec> = records(&r.http)?;
    let attribution: BTreeMap<IpAddr, &Attribution> = r
        .endpoints
        .iter()
        .filter_map(|e| e.attribution.map(|a| (e.ip, a)))
        .collect();

    // Connections: the transport conversations, client as originator (the
    // conversation's first sender, `a`).
    let mut conns = Conns(BTreeMap::new());
    for c in r.conversations.iter() {
        if c.transport == Transport::Ip {
            continue;
        }
        conns
            .0
            .entry((c.capture, c.transport, c.a, c.b))
            .or_default()
            .push(Conn {
                first: c.first_seen,
                last: c.last_seen,
                first_frame: c.first_frame,
                services: 0,
            });
    }
    if let Some(f) = r.conversations.failure() {
        return Err(std::io::Error::other(f));
    }
    for d in &dns {
        conns.mark(&d.base, DNS);
    }
    for h in &http {
        conns.mark(&h.base, HTTP);
    }
    // TLS and QUIC records are read back here only for their connections.
    for (spools, service) in [(&r.tls, SSL), (&r.quic, QUIC)] {
        for s in spools {
            s.for_each(|b: Base| {
                conns.mark(&b, service);
                Ok(())
            })?;
        }
    }

    // conn.log: the conversations walked again, in report order.
    super::write_atomic_with(&dir.join("conn.log"), |w| {
        let mut w = std::io::BufWriter::new(w);
        for c in r.conversations.iter() {
            if c.transport == Transport::Ip {
                continue;
            }
            let id = uid(
                c.capture,
                c.transport,
                &c.a.to_string(),
                &c.b.to_string(),
                c.first_frame,
            );
            let services = conns
                .0
                .get(&(c.capture, c.transport, c.a, c.b))
                .and_then(|l| l.iter().find(|x| x.first_frame == c.first_frame))
                .map_or(0, |x| x.services);
            let mut m = Map::new();
            m.insert("ts".into(), ts(c.first_seen));
            m.insert("uid".into(), json!(id));
            id_fields(&mut m, &Side::of(c.a), &Side::of(c.b));
            m.insert("proto".into(), json!(c.transport.to_string()));
            if services != 0 {
                let s: Vec<&str> = SERVICES
                    .iter()
                    .filter(|(bit, _)| services & bit != 0)
                    .map(|(_, name)| *name)
                    .collect();
                m.insert("service".into(), json!(s.join(",")));
            }
            m.insert("duration".into(), json!(c.duration));
            m.insert("orig_pkts".into(), json!(c.frames_a_to_b));
            m.insert("resp_pkts".into(), json!(c.frames_b_to_a));
            m.insert("whohosts.orig_frame_bytes".into(), json!(c.bytes_a_to_b));
            m.insert("whohosts.resp_frame_bytes".into(), json!(c.bytes_b_to_a));
            m.insert("whohosts.capture".into(), json!(c.capture));
            m.insert("whohosts.first_frame".into(), json!(c.first_frame));
            attribution_fields(&mut m, attribution.get(&c.b.ip).copied());
            line(&mut w, &m)?;
        }
        w.flush()
    })?;
    if let Some(f) = r.conversations.failure() {
        return Err(std::io::Error::other(f));
    }

    let base = |r: &Base, uid: Option<String>, proto: &str| {
        let mut m = Map::new();
        m.insert("ts".into(), ts(r.ts));
        if let Some(u) = uid {
            m.insert("uid".into(), json!(u));
        }
        id_fields(&mut m, &r.client, &r.server);
        if !proto.is_empty() {
            m.insert("proto".into(), json!(proto));
        }
        m.insert("whohosts.capture".into(), json!(r.capture));
        m.insert("whohosts.frame".into(), json!(r.frame));
        m
    };

    // dns.log: one line per query, with its answer when one came (same id and
    // endpoints); answers without a query seen are logged on their own.
    super::write_atomic_with(&dir.join("dns.log"), |w| {
        let mut w = std::io::BufWriter::new(w);
        let mut answered = std::collections::BTreeSet::new();
        let key = |r: &DnsRec| {
            (
                r.base.capture,
                r.id,
                endpoint(&r.base.client),
                endpoint(&r.base.server),
            )
        };
        let mut responses: BTreeMap<_, Vec<usize>> = BTreeMap::new();
        for (i, r) in dns.iter().enumerate() {
            if r.is_response == Some(true) {
                responses.entry(key(r)).or_default().push(i);
            }
        }
        for (i, r) in dns.iter().enumerate() {
            let is_response = r.is_response == Some(true);
            let response = if is_response {
                if answered.contains(&i) {
                    continue;
                }
                Some(r)
            } else {
                responses.get_mut(&key(r)).and_then(|v| {
                    let j = v.iter().position(|&j| j > i)?;
                    let j = v.remove(j);
                    answered.insert(j);
                    dns.get(j)
                })
            };
            let query = if is_response { None } else { Some(r) };
            let first = query.or(response).unwrap_or(r);
            let uid = conns.uid_of(&r.base);
            let mut m = base(
                &first.base,
                uid,
                first.base.transport.as_deref().unwrap_or(""),
            );
            m.insert("trans_id".into(), json!(first.id));
            if let Some(q) = first.questions.first() {
                m.insert("query".into(), q.name.clone());
                m.insert("qtype".into(), q.qtype.clone());
                if let Some(t) = q.qtype.as_u64().and_then(|t| u16::try_from(t).ok()) {
                    m.insert(
                        "qtype_name".into(),
                        json!(hickory_proto::rr::RecordType::from(t).to_string()),
                    );
                }
            }
            if let Some(resp) = response {
                m.insert("rcode".into(), json!(resp.rcode));
                let names = [
                    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
                    "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
                ];
                if let Some(name) = resp.rcode.and_then(|c| names.get(usize::try_from(c).ok()?)) {
                    m.insert("rcode_name".into(), json!(name));
                }
                if !resp.answers.is_empty() {
                    let answers: Vec<&Value> = resp.answers.iter().map(|a| &a.data).collect();
                    let ttls: Vec<&Value> = resp.answers.iter().map(|a| &a.ttl).collect();
                    m.insert("answers".into(), json!(answers));
                    m.insert("TTLs".into(), json!(ttls));
                }
                m.insert("whohosts.response_frame".into(), json!(resp.base.frame));
            }
            line(&mut w, &m)?;
        }
        w.flush()
    })?;

    // ssl.log: one line per connection, from its ClientHello and ServerHello.
    super::write_atomic_with(&dir.join("ssl.log"), |w| {
        let mut w = std::io::BufWriter::new(w);
        // Each row kept as its line's bytes until they are put in time order.
        let text = |m: Map<String, Value>| serde_json::to_vec(&m);
        // The records are read back one at a time: a connection's first hellos
        // are kept, a record without a connection is a row of its own.
        let mut by_conn: BTreeMap<String, (Option<TlsRec>, Option<TlsRec>)> = BTreeMap::new();
        let mut lone: Vec<(Timestamp, Vec<u8>)> = Vec::new();
        for s in &r.tls {
            s.for_each(|r: TlsRec| {
                let Some(uid) = conns.uid_of(&r.base) else {
                    lone.push((r.base.ts, text(base(&r.base, None, ""))?));
                    return Ok(());
                };
                let e = by_conn.entry(uid).or_default();
                match r.kind.as_str() {
                    Some("client_hello") if e.0.is_none() => e.0 = Some(r),
                    Some("server_hello") if e.1.is_none() => e.1 = Some(r),
                    _ => {}
                }
                Ok(())
            })?;
        }
        let mut rows: Vec<(Timestamp, Vec<u8>)> = Vec::new();
        for (uid, (ch, sh)) in by_conn {
            let (ch, sh) = (ch.as_ref(), sh.as_ref());
            let Some(first) = ch.or(sh) else { continue };
            let mut m = base(&first.base, Some(uid), "");
            if let Some(sh) = sh {
                if let Some(v) = sh.version.as_u64() {
                    m.insert("version".into(), json!(tls_version(v)));
                }
                if let Some(id) = sh.cipher.as_u64() {
                    let name = u16::try_from(id)
                        .ok()
                        .and_then(tls_parser::TlsCipherSuite::from_id)
                        .map_or_else(|| format!("unknown-{id}"), |c| c.name.to_string());
                    m.insert("cipher".into(), json!(name));
                }
                if let Some(a) = sh.alpn.as_str() {
                    m.insert("next_protocol".into(), json!(a));
                }
            }
            if let Some(ch) = ch {
                if !ch.sni.is_null() {
                    m.insert("server_name".into(), ch.sni.clone());
                }
                if !ch.ja4.is_null() {
                    m.insert("ja4".into(), ch.ja4.clone());
                }
            }
            rows.push((first.base.ts, text(m)?));
        }
        rows.append(&mut lone);
        rows.sort_by_key(|r| r.0);
        for (_, l) in rows {
            w.write_all(&l)?;
            w.write_all(b"\n")?;
        }
        w.flush()
    })?;

    // http.log: one line per request, with the status of the response that follows
    // it on the same connection.
    super::write_atomic_with(&dir.join("http.log"), |w| {
        let mut w = std::io::BufWriter::new(w);
        let mut depth: BTreeMap<String, u64> = BTreeMap::new();
        let mut open: BTreeMap<String, Vec<Map<String, Value>>> = BTreeMap::new();
        // The requests in the order they came: their connection and place in it.
        let mut rows: Vec<(String, usize)> = Vec::new();
        for r in &http {
            let uid = conns.uid_of(&r.base);
            let conn = uid.clone().unwrap_or_default();
            match r.kind.as_str() {
                Some("request") => {
                    let d = depth.entry(conn.clone()).or_default();
                    *d += 1;
                    let mut m = base(&r.base, uid, "");
                    m.insert("trans_depth".into(), json!(*d));
                    m.insert("method".into(), r.method.clone());
                    m.insert("host".into(), r.host.clone());
                    m.insert("uri".into(), r.uri.clone());
                    if !r.referer.is_null() {
                        m.insert("referrer".into(), r.referer.clone());
                    }
                    m.insert("version".into(), json!(format!("1.{}", r.version)));
                    if !r.user_agent.is_null() {
                        m.insert("user_agent".into(), r.user_agent.clone());
                    }
                    let list = open.entry(conn.clone()).or_default();
                    list.push(m);
                    rows.push((conn, list.len() - 1));
                }
                Some("response") => {
                    if let Some(m) = open
                        .get_mut(&conn)
                        .and_then(|l| l.iter_mut().find(|m| !m.contains_key("status_code")))
                    {
                        m.insert("status_code".into(), r.status.clone());
                    }
                }
                _ => {}
            }
        }
        for (conn, i) in rows {
            if let Some(m) = open.get(&conn).and_then(|l| l.get(i)) {
                line(&mut w, m)?;
            }
        }
        w.flush()
    })
}

/// Zeek's names of TLS versions.
fn tls_version(v: u64) -> String {
    match v {
        0x0300 => "SSLv3".into(),
        0x0301 => "TLSv10".into(),
        0x0302 => "TLSv11".into(),
        0x0303 => "TLSv12".into(),
        0x0304 => "TLSv13".into(),
        v => format!("unknown-{v}"),
    }
}
