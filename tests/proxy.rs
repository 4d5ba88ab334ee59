//! The proxy handshakes whohosts records equal what tshark's `socks` and `http`
//! dissectors read from the captures of captures/record-proxy.sh (microsocks, danted
//! and tinyproxy with curl): per request frame, the protocol, target and port; per
//! answer frame, the reply code. The names asked for are bound to the proxy.

mod common;

use serde_json::Value;
use std::collections::BTreeMap;
use whohosts::pipeline::{analyze_capture, AnalyzeOptions, CaptureAnalysis};
use whohosts::services::NameSource;

fn analyse(name: &str) -> (CaptureAnalysis, Vec<Value>, std::path::PathBuf) {
    let path = common::root().join("captures").join(name);
    let a = analyze_capture(&path, 0, &AnalyzeOptions::default()).unwrap();
    let proxies = a.records.proxy.values().unwrap();
    (a, proxies, path)
}

fn last_frame(v: &Value, key: &str) -> u64 {
    v[key]
        .as_array()
        .and_then(|a| a.last())
        .and_then(Value::as_u64)
        .unwrap_or_else(|| v["frame"].as_u64().unwrap())
}

/// (protocol, target, port) as whohosts records them, by request frame.
fn ours(proxies: &[Value]) -> BTreeMap<u64, (String, String, String)> {
    proxies
        .iter()
        .map(|p| {
            let target = p["target_name"]
                .as_str()
                .or(p["target_address"].as_str())
                .unwrap()
                .to_string();
            let proto = p["protocol"].as_str().unwrap().to_string();
            (
                last_frame(p, "frames"),
                (proto, target, p["target_port"].to_string()),
            )
        })
        .collect()
}

#[test]
fn socks_requests_and_replies_equal_tsharks() {
    let (a, proxies, path) = analyse("proxy-socks.pcap");
    // tshark repeats the request's fields on every later frame of the stream and
    // gives a SOCKS5 request's port only on the frames after it: the request is the
    // first frame of a stream with a command, its port the stream's first one.
    let mut theirs: BTreeMap<String, (u64, String, String, String)> = BTreeMap::new();
    let fields = [
        "frame.number",
        "tcp.stream",
        "socks.version",
        "socks.v4a_dns_name",
        "socks.remote_name",
        "socks.dst",
        "socks.dstV6",
        "socks.dstport",
    ];
    for r in common::tshark_rows(&path, "socks.command", &fields) {
        let e = theirs.entry(r[1].clone()).or_insert_with(|| {
            let proto = match (r[2].as_str(), r[3].is_empty()) {
                ("5", _) => "socks5",
                (_, false) => "socks4a",
                _ => "socks4",
            };
            let target = [&r[3], &r[4], &r[5], &r[6]]
                .into_iter()
                .find(|s| !s.is_empty())
                .unwrap()
                .clone();
            let frame = r[0].parse().unwrap();
            (frame, proto.to_string(), target, String::new())
        });
        if e.3.is_empty() {
            e.3 = r[7].clone();
        }
    }
    let theirs: BTreeMap<u64, (String, String, String)> = theirs
        .into_values()
        .map(|(f, p, t, port)| (f, (p, t, port)))
        .collect();
    assert_eq!(ours(&proxies), theirs);
    assert_eq!(
        theirs.len(),
        7,
        "every curl run through a proxy: {theirs:?}"
    );

    // Replies: the frame that completed the answer and its code.
    let ours: BTreeMap<u64, String> = proxies
        .iter()
        .filter(|p| p["reply"].is_u64())
        .map(|p| (last_frame(p, "reply_frames"), p["reply"].to_string()))
        .collect();
    let theirs: BTreeMap<u64, String> =
        common::tshark_rows(&path, "socks.results", &["frame.number", "socks.results"])
            .into_iter()
            .map(|r| (r[0].parse().unwrap(), r[1].clone()))
            .collect();
    assert_eq!(ours, theirs);
    let granted: Vec<bool> = proxies.iter().map(|p| p["granted"] == true).collect();
    assert_eq!(
        granted.iter().filter(|g| !**g).count(),
        1,
        "danted refused SOCKS4a"
    );

    // The names asked for are bound to the proxy that carried them, as is the SNI
    // of the TLS connection inside the tunnel.
    for p in &proxies {
        let Some(name) = p["target_name"].as_str() else {
            continue;
        };
        let proxy: std::net::IpAddr = p["server"]["ip"].as_str().unwrap().parse().unwrap();
        assert!(
            a.names
                .iter()
                .any(|n| n.name == name && n.source == NameSource::Socks && n.ip == proxy),
            "{name} via {proxy}"
        );
    }
    assert!(a
        .names
        .iter()
        .any(|n| n.source == NameSource::TlsSni && n.ip.to_string() == "127.0.0.11"));
}

#[test]
fn http_connect_and_forward_requests_equal_tsharks() {
    let (a, proxies, path) = analyse("proxy-http.pcap");
    let theirs: BTreeMap<u64, (String, String, String)> = common::tshark_rows(
        &path,
        "http.request.method == \"CONNECT\" || http.request.uri contains \"://\"",
        &["frame.number", "http.request.method", "http.request.uri"],
    )
    .into_iter()
    .map(|r| {
        let (proto, authority) = match r[2].strip_prefix("http://") {
            Some(rest) => ("http_forward", format!("{}:80", rest.trim_end_matches('/'))),
            None => ("http_connect", r[2].clone()),
        };
        let (host, port) = authority.rsplit_once(':').unwrap();
        (
            r[0].parse().unwrap(),
            (proto.into(), host.into(), port.into()),
        )
    })
    .collect();
    assert_eq!(ours(&proxies), theirs);
    assert_eq!(theirs.len(), 5);

    // nginx keeps the connection alive: two forward requests for two hosts on it,
    // each a record with its own answer, each name bound to the proxy.
    let kept: Vec<&Value> = proxies
        .iter()
        .filter(|p| p["server"]["ip"] == "127.0.0.14")
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(kept[0]["client"], kept[1]["client"], "one connection");
    for (p, host) in kept
        .iter()
        .zip(["www.mtr-pirate.example", "dl.mtr-pirate.example"])
    {
        assert_eq!(p["protocol"], "http_forward");
        assert_eq!(p["target_name"], host);
        assert_eq!(p["reply"], 200);
        assert!(a.names.iter().any(|n| n.name == host
            && n.source == NameSource::HttpProxy
            && n.ip.to_string() == "127.0.0.14"));
    }

    // The proxy's answer to each request (tshark: `http.request_in`).
    let ours: BTreeMap<u64, String> = proxies
        .iter()
        .map(|p| (last_frame(p, "frames"), p["reply"].to_string()))
        .collect();
    let theirs: BTreeMap<u64, String> = common::tshark_rows(
        &path,
        "http.response",
        &["http.request_in", "http.response.code"],
    )
    .into_iter()
    .map(|r| (r[0].parse().unwrap(), r[1].clone()))
    .collect();
    assert_eq!(ours, theirs);
    let connect: Vec<&Value> = proxies
        .iter()
        .filter(|p| p["protocol"] == "http_connect")
        .collect();
    assert_eq!(connect[0]["granted"], true);
    assert_eq!(connect[1]["granted"], false, "tinyproxy refuses port 8443");
    // The TLS connection inside the granted tunnel is read, bound to the proxy.
    assert!(a.names.iter().any(|n| n.name == "dl.mtr-pirate.example"
        && n.source == NameSource::TlsSni
        && n.ip.to_string() == "127.0.0.13"));
    assert!(a
        .names
        .iter()
        .any(|n| n.source == NameSource::HttpProxy && n.name == "www.mtr-pirate.example"));
}

/// A SOCKS5 UDP relay (captures/record-socks-udp.sh: danted, a client sending DNS
/// and QUIC through the relay): the association is recorded from the control
/// connection, each target the client's datagrams name once, as tshark's `socks`
/// dissector reads them; what the datagrams carry is read as if sent directly, and
/// its names are bound to the relay.
#[test]
fn socks5_udp_relay_targets_equal_tsharks_and_their_names_are_bound_to_the_relay() {
    let (a, proxies, path) = analyse("proxy-socks-udp.pcap");
    let associate: Vec<&Value> = proxies
        .iter()
        .filter(|p| p["command"] == "udp_associate")
        .collect();
    assert_eq!(associate.len(), 1, "{proxies:?}");
    assert_eq!(associate[0]["granted"], true);
    let answered = common::tshark_rows(&path, "socks.results", &["frame.number"]);
    assert_eq!(
        last_frame(associate[0], "reply_frames").to_string(),
        answered.last().unwrap()[0]
    );

    let ours: BTreeMap<u64, (String, String)> = proxies
        .iter()
        .filter(|p| p["command"] == "udp")
        .map(|p| {
            let target = p["target_name"]
                .as_str()
                .or(p["target_address"].as_str())
                .unwrap();
            (
                p["frame"].as_u64().unwrap(),
                (target.to_string(), p["target_port"].to_string()),
            )
        })
        .collect();
    // tshark reads every relayed datagram's header; the client's name its target.
    let client = associate[0]["client"]["ip"].as_str().unwrap();
    let mut theirs: BTreeMap<u64, (String, String)> = BTreeMap::new();
    for r in common::tshark_rows(
        &path,
        &format!("socks.fragment_number == 0 && ip.src == {client}"),
        &[
            "frame.number",
            "socks.remote_name",
            "socks.dst",
            "socks.dstport",
        ],
    ) {
        let target = if r[1].is_empty() { &r[2] } else { &r[1] };
        let key = (target.clone(), r[3].clone());
        if !theirs.values().any(|v| *v == key) {
            theirs.insert(r[0].parse().unwrap(), key);
        }
    }
    assert_eq!(ours, theirs);
    assert_eq!(
        ours.len(),
        3,
        "a resolver by address and by name, a QUIC server"
    );

    // The relay is the server the client reached: the QUIC SNI and the names asked
    // of the proxy are bound to it.
    let relay: std::net::IpAddr = proxies
        .iter()
        .find(|p| p["command"] == "udp")
        .map(|p| p["server"]["ip"].as_str().unwrap().parse().unwrap())
        .unwrap();
    for (name, source) in [
        ("game.mtr-pirate.example", NameSource::QuicSni),
        ("game.mtr-pirate.example", NameSource::Socks),
        ("resolver.mtr-pirate.example", NameSource::Socks),
    ] {
        assert!(
            a.names
                .iter()
                .any(|n| n.name == name && n.source == source && n.ip == relay),
            "{name} ({source:?}) via {relay}"
        );
    }
    // The DNS answers that came back through the relay bind their names.
    assert!(a
        .names
        .iter()
        .any(|n| n.name == "dl.mtr-pirate.example" && n.ip.to_string() == "47.236.91.18"));
}
