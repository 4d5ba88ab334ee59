//! TLS that does not start a connection is read where tshark reads it: after a
//! plaintext start turned to TLS (SMTP, IMAP and POP3 STARTTLS; FTP AUTH, which
//! tshark 4.0 does not follow) and after a PROXY protocol header (versions 1 and
//! 2). The captures are captures/record-starttls.sh's, real servers (aiosmtpd,
//! dovecot, vsftpd, nginx behind haproxy) and curl. Every ClientHello is the one
//! tshark reads, in the same frame, between the same ends. So is a ClientHello
//! damaged after its server name (captures/record-damaged-hello.sh, against
//! `openssl s_server`). Each PROXY header's addresses are those tshark's PROXY
//! dissector reads.

mod common;

use serde_json::Value;
use std::collections::BTreeSet;
use whohosts::pipeline::{analyze_capture, AnalyzeOptions};

/// (frame, client, server, name) of every ClientHello whohosts records, and of the
/// HTTP requests with a host.
fn ours(name: &str) -> (BTreeSet<(u64, String, String, String)>, usize) {
    let path = common::root().join("captures").join(name);
    let a = analyze_capture(&path, 0, &AnalyzeOptions::default()).unwrap();
    let end = |v: &Value| format!("{}:{}", v["ip"].as_str().unwrap(), v["port"]);
    let hellos = a.records.tls.values().unwrap();
    let http = a.records.http.values().unwrap();
    let set = hellos
        .iter()
        .filter(|t| t["type"] == "client_hello")
        .map(|t| (t, "sni"))
        .chain(
            http.iter()
                .filter(|h| h["type"] == "request")
                .map(|h| (h, "host")),
        )
        .map(|(r, key)| {
            (
                r["frame"].as_u64().unwrap(),
                end(&r["client"]),
                end(&r["server"]),
                r[key].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (set, a.anomalies.kept.len())
}

/// The same, as tshark reads it.
fn theirs(name: &str) -> BTreeSet<(u64, String, String, String)> {
    let path = common::root().join("captures").join(name);
    let out = common::tshark(&[
        "-n",
        "-r",
        path.to_str().unwrap(),
        "-Y",
        "tls.handshake.type == 1 || http.request",
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-e",
        "frame.number",
        "-e",
        "ip.src",
        "-e",
        "tcp.srcport",
        "-e",
        "ip.dst",
        "-e",
        "tcp.dstport",
        "-e",
        "tls.handshake.extensions_server_name",
        "-e",
        "http.host",
    ]);
    out.lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let name = if f[5].is_empty() { f[6] } else { f[5] };
            (
                f[0].parse().unwrap(),
                format!("{}:{}", f[1], f[2]),
                format!("{}:{}", f[3], f[4]),
                name.to_string(),
            )
        })
        .collect()
}

#[test]
fn tls_after_starttls_is_read_in_tsharks_frames() {
    let (mut ours, anomalies) = ours("starttls.pcap");
    assert_eq!(anomalies, 0);
    // FTP's: tshark shows its TLS as FTP commands. Its frame follows the server's
    // "234" answer to AUTH SSL.
    let ftp: Vec<_> = ours
        .iter()
        .filter(|h| h.3 == "ftp.mtr-pirate.example")
        .cloned()
        .collect();
    assert_eq!(ftp.len(), 1, "{ours:?}");
    assert!(ftp[0].2.ends_with(":21"), "{ftp:?}");
    let answer = common::tshark(&[
        "-n",
        "-r",
        common::root()
            .join("captures/starttls.pcap")
            .to_str()
            .unwrap(),
        "-Y",
        "ftp.response.code == 234",
        "-T",
        "fields",
        "-e",
        "frame.number",
    ]);
    let answered: u64 = answer.trim().parse().unwrap();
    assert!(ftp[0].0 > answered, "{ftp:?} after {answered}");
    ours.remove(&ftp[0]);
    let theirs = theirs("starttls.pcap");
    assert_eq!(ours, theirs);
    let ports: BTreeSet<&str> = ours
        .iter()
        .map(|h| h.2.rsplit(':').next().unwrap())
        .collect();
    assert_eq!(ports, BTreeSet::from(["110", "143", "25"]));
}

#[test]
fn tls_and_http_behind_proxy_protocol_headers_are_read_in_tsharks_frames() {
    let (ours, anomalies) = ours("proxy-header.pcap");
    assert_eq!(anomalies, 0);
    let theirs = theirs("proxy-header.pcap");
    assert_eq!(ours, theirs);
    // Version 1 from curl (HTTPS and HTTP), version 2 from haproxy: the same
    // ClientHello on both of haproxy's legs.
    let names: Vec<&str> = ours.iter().map(|h| h.3.as_str()).collect();
    assert_eq!(
        names,
        [
            "www.mtr-pirate.example",
            "www.mtr-pirate.example",
            "dl.mtr-pirate.example",
            "dl.mtr-pirate.example"
        ]
    );
    // The headers, as the streams' first bytes (tshark's heuristic dissector
    // names only the first).
    let payloads = common::tshark(&[
        "-n",
        "-r",
        common::root()
            .join("captures/proxy-header.pcap")
            .to_str()
            .unwrap(),
        "-Y",
        "tcp.len > 0",
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-e",
        "tcp.stream",
        "-e",
        "tcp.payload",
    ]);
    let mut first = std::collections::BTreeMap::new();
    for line in payloads.lines() {
        let (stream, payload) = line.split_once('\t').unwrap();
        first
            .entry(stream.to_string())
            .or_insert(payload.to_string());
    }
    let count = |start: &str| first.values().filter(|p| p.starts_with(start)).count();
    assert_eq!(count("50524f585920"), 2, "{first:?}"); // "PROXY "
    assert_eq!(count("0d0a0d0a000d0a515549540a"), 1, "{first:?}");
}

/// Each PROXY protocol header is recorded with the connection it stands for (the
/// original client, the address it reached), in the frame and with the addresses
/// tshark's PROXY dissector reads (tried before the port's protocols, so that it
/// reads all three headers, not only the first).
#[test]
fn proxy_protocol_headers_are_recorded_with_tsharks_addresses() {
    let path = common::root().join("captures/proxy-header.pcap");
    let a = analyze_capture(&path, 0, &AnalyzeOptions::default()).unwrap();
    let end = |v: &Value| format!("{}:{}", v["ip"].as_str().unwrap(), v["port"]);
    let proxies = a.records.proxy.values().unwrap();
    let ours: BTreeSet<(u64, String, String, String, String)> = proxies
        .iter()
        .map(|r| {
            assert_eq!(r["command"], "tcp", "{r}");
            (
                r["frame"].as_u64().unwrap(),
                r["protocol"].as_str().unwrap().to_string(),
                end(&r["origin"]),
                format!(
                    "{}:{}",
                    r["target_address"].as_str().unwrap(),
                    r["target_port"]
                ),
                end(&r["client"]),
            )
        })
        .collect();
    let rows = common::tshark_rows_with(
        &path,
        &["-o", "tcp.try_heuristic_first:TRUE"],
        "proxy",
        &[
            "frame.number",
            "proxy.v2.version",
            "proxy.src.ipv4",
            "proxy.srcport",
            "proxy.dst.ipv4",
            "proxy.dstport",
            "ip.src",
            "tcp.srcport",
        ],
    );
    let theirs: BTreeSet<(u64, String, String, String, String)> = rows
        .iter()
        .map(|f| {
            let protocol = if f[1] == "2" { "proxy_v2" } else { "proxy_v1" };
            (
                f[0].parse().unwrap(),
                protocol.to_string(),
                format!("{}:{}", f[2], f[3]),
                format!("{}:{}", f[4], f[5]),
                format!("{}:{}", f[6], f[7]),
            )
        })
        .collect();
    assert_eq!(theirs.len(), 3, "{rows:?}");
    assert_eq!(ours, theirs);
}

#[test]
fn a_hello_damaged_after_its_server_name_is_read_up_to_the_damage() {
    let (ours, anomalies) = ours("tls-damaged-hello.pcap");
    assert_eq!(ours, theirs("tls-damaged-hello.pcap"));
    let names: Vec<&str> = ours.iter().map(|h| h.3.as_str()).collect();
    assert_eq!(
        names,
        [
            "bad-hello.mtr-pirate.example",
            "good-hello.mtr-pirate.example"
        ]
    );
    assert_eq!(anomalies, 1);
    let path = common::root().join("captures/tls-damaged-hello.pcap");
    let a = analyze_capture(&path, 0, &AnalyzeOptions::default()).unwrap();
    let anomaly = &a.anomalies.kept[0];
    assert_eq!(
        (anomaly.code, anomaly.frame),
        ("tls.damaged_hello", Some(4))
    );
    assert!(
        anomaly.message.contains("its server name among it"),
        "{}",
        anomaly.message
    );
    let hellos = a.records.tls.values().unwrap();
    let hello = |name: &str| {
        hellos
            .iter()
            .find(|t| t["sni"] == name)
            .unwrap_or_else(|| panic!("no hello for {name}: {hellos:?}"))
            .clone()
    };
    // The damaged one: the extensions before the damage, no fingerprint.
    let bad = hello("bad-hello.mtr-pirate.example");
    assert_eq!(bad["extensions"], serde_json::json!([0, 10, 16]));
    assert!(bad.get("ja4").is_none(), "{bad}");
    assert_eq!(
        bad["damaged"],
        "malformed TLS extensions: extension 0x47e3 announces 20422 bytes, 3 left"
    );
    let good = hello("good-hello.mtr-pirate.example");
    assert!(
        good["ja4"].is_string() && good.get("damaged").is_none(),
        "{good}"
    );
}
