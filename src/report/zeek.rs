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
use crate::model::{Timestamp, Transport};
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
type ConnKey = (u32, Transport, String, String);

struct Conn {
    uid: String,
    first: Timestamp,
    last: Timestamp,
    services: std::collections::BTreeSet<&'static str>,
}

fn sockaddr(v: &Value) -> String {
    format!("{}|{}", v["ip"].as_str().unwrap_or(""), v["port"])
}

fn id_fields(m: &mut Map<String, Value>, client: &Value, server: &Value) {
    m.insert("id.orig_h".into(), client["ip"].clone());
    m.insert("id.orig_p".into(), client["port"].clone());
    m.insert("id.resp_h".into(), server["ip"].clone());
    m.insert("id.resp_p".into(), server["port"].clone());
}

fn record_ts(r: &Value) -> Timestamp {
    // Records carry RFC 3339 times; parsed back to the nanosecond.
    r["ts"]
        .as_str()
        .and_then(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
        })
        .map(|t| {
            let n = t.unix_timestamp_nanos();
            Timestamp::new(
                (n.div_euclid(1_000_000_000)) as i64,
                n.rem_euclid(1_000_000_000) as u32,
            )
        })
        .unwrap_or_default()
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

fn line(w: &mut dyn Write, m: Map<String, Value>) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, &Value::Object(m)).map_err(std::io::Error::other)?;
    w.write_all(b"\n")
}

/// Writes the four logs into `dir` (created if needed), each atomically.
pub fn write_dir(r: &Report, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let records = |spools: &[&crate::pipeline::spool::Spool]| -> std::io::Result<Vec<Value>> {
        let mut v = Vec::new();
        for s in spools {
            v.extend(s.values()?);
        }
        Ok(v)
    };
    let dns = records(&r.dns)?;
    let tls = records(&r.tls)?;
    let http = records(&r.http)?;
    let quic = records(&r.quic)?;
    let attribution: BTreeMap<IpAddr, &Attribution> = r
        .endpoints
        .iter()
        .filter_map(|e| e.attribution.map(|a| (e.ip, a)))
        .collect();

    // Connections: the transport conversations, client as originator.
    let mut conns: BTreeMap<ConnKey, Vec<Conn>> = BTreeMap::new();
    let mut order = Vec::new();
    for c in r.conversations.iter() {
        if c.transport == Transport::Ip {
            continue;
        }
        // The conversation's first sender is `a`: Zeek's originator.
        let (client, server) = (c.a, c.b);
        let (client_v, server_v) = (json!(client), json!(server));
        let id = uid(
            c.capture,
            c.transport,
            &client.to_string(),
            &server.to_string(),
            c.first_frame,
        );
        let key = (
            c.capture,
            c.transport,
            sockaddr(&client_v),
            sockaddr(&server_v),
        );
        conns.entry(key.clone()).or_default().push(Conn {
            uid: id.clone(),
            first: c.first_seen,
            last: c.last_seen,
            services: Default::default(),
        });
        order.push((key, id, c));
    }
    if let Some(f) = r.conversations.failure() {
        return Err(std::io::Error::other(f));
    }
    // Which connection a record belongs to: same endpoints either way round, the
    // one whose span holds the record's time.
    let mut find = |r: &Value, service: &'static str| -> Option<String> {
        let capture = r["capture"].as_u64()? as u32;
        let transport = match r["transport"].as_str()? {
            "tcp" => Transport::Tcp,
            "udp" => Transport::Udp,
            _ => return None,
        };
        let (c, s) = (sockaddr(&r["client"]), sockaddr(&r["server"]));
        let t = record_ts(r);
        // The conversation's first sender need not be the client (a capture that
        // starts mid-connection).
        for key in [
            (capture, transport, c.clone(), s.clone()),
            (capture, transport, s, c),
        ] {
            if let Some(list) = conns.get_mut(&key) {
                let i = list
                    .iter()
                    .position(|x| x.first <= t && t <= x.last)
                    .unwrap_or(0);
                let conn = list.get_mut(i)?;
                conn.services.insert(service);
                return Some(conn.uid.clone());
            }
        }
        None
    };
    let dns_uid: Vec<Option<String>> = dns.iter().map(|r| find(r, "dns")).collect();
    let tls_uid: Vec<Option<String>> = tls.iter().map(|r| find(r, "ssl")).collect();
    let http_uid: Vec<Option<String>> = http.iter().map(|r| find(r, "http")).collect();
    for r in &quic {
        find(r, "quic");
    }

    // conn.log
    super::write_atomic_with(&dir.join("conn.log"), |w| {
        let mut w = std::io::BufWriter::new(w);
        for (key, id, c) in &order {
            let conn = conns.get(key).and_then(|l| l.iter().find(|x| &x.uid == id));
            let mut m = Map::new();
            m.insert("ts".into(), ts(c.first_seen));
            m.insert("uid".into(), json!(id));
            id_fields(&mut m, &json!(c.a), &json!(c.b));
            m.insert("proto".into(), json!(c.transport.to_string()));
            if let Some(conn) = conn.filter(|x| !x.services.is_empty()) {
                let s: Vec<&str> = conn.services.iter().copied().collect();
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
            line(&mut w, m)?;
        }
        w.flush()
    })?;

    let base = |r: &Value, uid: Option<String>, proto: &str| {
        let mut m = Map::new();
        m.insert("ts".into(), ts(record_ts(r)));
        if let Some(u) = uid {
            m.insert("uid".into(), json!(u));
        }
        id_fields(&mut m, &r["client"], &r["server"]);
        if !proto.is_empty() {
            m.insert("proto".into(), json!(proto));
        }
        m.insert("whohosts.capture".into(), r["capture"].clone());
        m.insert("whohosts.frame".into(), r["frame"].clone());
        m
    };

    // dns.log: one line per query, with its answer when one came (same id and
    // endpoints); answers without a query seen are logged on their own.
    super::write_atomic_with(&dir.join("dns.log"), |w| {
        let mut w = std::io::BufWriter::new(w);
        let mut answered = std::collections::BTreeSet::new();
        let key = |r: &Value| {
            (
                r["capture"].as_u64(),
                r["id"].as_u64(),
                sockaddr(&r["client"]),
                sockaddr(&r["server"]),
            )
        };
        let mut responses: BTreeMap<_, Vec<usize>> = BTreeMap::new();
        for (i, r) in dns.iter().enumerate() {
            if r["is_response"] == true {
                responses.entry(key(r)).or_default().push(i);
            }
        }
        for (i, r) in dns.iter().enumerate() {
            let is_response = r["is_response"] == true;
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
            let uid = dns_uid.get(i).cloned().flatten();
            let mut m = base(first, uid, first["transport"].as_str().unwrap_or(""));
            m.insert("trans_id".into(), first["id"].clone());
            let q = &first["questions"][0];
            if !q.is_null() {
                m.insert("query".into(), q["name"].clone());
                m.insert("qtype".into(), q["qtype"].clone());
                if let Some(t) = q["qtype"].as_u64().and_then(|t| u16::try_from(t).ok()) {
                    m.insert(
                        "qtype_name".into(),
                        json!(hickory_proto::rr::RecordType::from(t).to_string()),
                    );
                }
            }
            if let Some(resp) = response {
                m.insert("rcode".into(), resp["rcode"].clone());
                let names = [
                    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
                    "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
                ];
                if let Some(name) = resp["rcode"]
                    .as_u64()
                    .and_then(|c| names.get(usize::try_from(c).ok()?))
                {
                    m.insert("rcode_name".into(), json!(name));
                }
                let answers: Vec<Value> = resp["answers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        let d = &a["data"];
                        d.get("address")
                            .or_else(|| d.get("target"))
                            .cloned()
                            .unwrap_or_else(|| json!(d.to_string()))
                    })
                    .collect();
                let ttls: Vec<Value> = resp["answers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| a["ttl"].clone())
                    .collect();
                if !answers.is_empty() {
                    m.insert("answers".into(), json!(answers));
                    m.insert("TTLs".into(), json!(ttls));
                }
                m.insert("whohosts.response_frame".into(), resp["frame"].clone());
            }
            line(&mut w, m)?;
        }
        w.flush()
    })?;

    // ssl.log: one line per connection, from its ClientHello and ServerHello.
    super::write_atomic_with(&dir.join("ssl.log"), |w| {
        let mut w = std::io::BufWriter::new(w);
        let mut by_conn: BTreeMap<String, (Option<&Value>, Option<&Value>)> = BTreeMap::new();
        let mut lone = Vec::new();
        for (r, uid) in tls.iter().zip(&tls_uid) {
            let Some(uid) = uid.clone() else {
                lone.push(r);
                continue;
            };
            let e = by_conn.entry(uid).or_default();
            match r["type"].as_str() {
                Some("client_hello") if e.0.is_none() => e.0 = Some(r),
                Some("server_hello") if e.1.is_none() => e.1 = Some(r),
                _ => {}
            }
        }
        let mut rows: Vec<(Timestamp, Map<String, Value>)> = Vec::new();
        for (uid, (ch, sh)) in by_conn {
            let Some(first) = ch.or(sh) else { continue };
            let mut m = base(first, Some(uid), "");
            if let Some(sh) = sh {
                if let Some(v) = sh["version"].as_u64() {
                    m.insert("version".into(), json!(tls_version(v)));
                }
                if let Some(id) = sh["cipher"].as_u64() {
                    let name = u16::try_from(id)
                        .ok()
                        .and_then(tls_parser::TlsCipherSuite::from_id)
                        .map_or_else(|| format!("unknown-{id}"), |c| c.name.to_string());
                    m.insert("cipher".into(), json!(name));
                }
                if let Some(a) = sh["alpn"].as_str() {
                    m.insert("next_protocol".into(), json!(a));
                }
            }
            if let Some(ch) = ch {
                if !ch["sni"].is_null() {
                    m.insert("server_name".into(), ch["sni"].clone());
                }
                if !ch["ja4"].is_null() {
                    m.insert("ja4".into(), ch["ja4"].clone());
                }
            }
            rows.push((record_ts(first), m));
        }
        for r in lone {
            rows.push((record_ts(r), base(r, None, "")));
        }
        rows.sort_by_key(|r| r.0);
        for (_, m) in rows {
            line(&mut w, m)?;
        }
        w.flush()
    })?;

    // http.log: one line per request, with the status of the response that follows
    // it on the same connection.
    super::write_atomic_with(&dir.join("http.log"), |w| {
        let mut w = std::io::BufWriter::new(w);
        let mut depth: BTreeMap<String, u64> = BTreeMap::new();
        let mut open: BTreeMap<String, Vec<Map<String, Value>>> = BTreeMap::new();
        let mut rows: Vec<(Timestamp, String, usize)> = Vec::new();
        for (r, uid) in http.iter().zip(&http_uid) {
            let uid = uid.clone();
            let conn = uid.clone().unwrap_or_default();
            match r["type"].as_str() {
                Some("request") => {
                    let d = depth.entry(conn.clone()).or_default();
                    *d += 1;
                    let mut m = base(r, uid, "");
                    m.insert("trans_depth".into(), json!(*d));
                    m.insert("method".into(), r["method"].clone());
                    m.insert("host".into(), r["host"].clone());
                    m.insert("uri".into(), r["uri"].clone());
                    if !r["referer"].is_null() {
                        m.insert("referrer".into(), r["referer"].clone());
                    }
                    m.insert("version".into(), json!(format!("1.{}", r["version"])));
                    if !r["user_agent"].is_null() {
                        m.insert("user_agent".into(), r["user_agent"].clone());
                    }
                    let list = open.entry(conn.clone()).or_default();
                    list.push(m);
                    rows.push((record_ts(r), conn, list.len() - 1));
                }
                Some("response") => {
                    if let Some(m) = open
                        .get_mut(&conn)
                        .and_then(|l| l.iter_mut().find(|m| !m.contains_key("status_code")))
                    {
                        m.insert("status_code".into(), r["status"].clone());
                    }
                }
                _ => {}
            }
        }
        for (_, conn, i) in rows {
            if let Some(m) = open.get(&conn).and_then(|l| l.get(i)) {
                line(&mut w, m.clone())?;
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
