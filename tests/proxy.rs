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

/// A SOCKS request as tshark reads it: its frame, the proxy (the frame's
/// destination), the protocol, the target and its port.
struct TsharkRequest {
    frame: u64,
    proxy: String,
    protocol: String,
    target: String,
    port: String,
}

/// tshark's SOCKS requests, by TCP stream. tshark repeats the request's fields on
/// every later frame of the stream and gives a SOCKS5 request's port only on the
/// frames after it: the request is the first frame of a stream with a command, its
/// port the stream's first one.
fn tshark_socks_requests(path: &std::path::Path) -> BTreeMap<String, TsharkRequest> {
    let mut theirs: BTreeMap<String, TsharkRequest> = BTreeMap::new();
    let fields = [
        "frame.number",
        "tcp.stream",
        "socks.version",
        "socks.v4a_dns_name",
        "socks.remote_name",
        "socks.dst",
        "socks.dstV6",
        "socks.dstport",
        "ip.dst",
        "tcp.dstport",
    ];
    for r in common::tshark_rows(path, "socks.command", &fields) {
        let e = theirs.entry(r[1].clone()).or_insert_with(|| {
            let protocol = match (r[2].as_str(), r[3].is_empty()) {
                ("5", _) => "socks5",
                (_, false) => "socks4a",
                _ => "socks4",
            };
            let target = [&r[3], &r[4], &r[5], &r[6]]
                .into_iter()
                .find(|s| !s.is_empty())
                .unwrap()
                .clone();
            TsharkRequest {
                frame: r[0].parse().unwrap(),
                proxy: format!("{}:{}", r[8], r[9]),
                protocol: protocol.to_string(),
                target,
                port: String::new(),
            }
        });
        if e.port.is_empty() {
            e.port = r[7].clone();
        }
    }
    theirs
}

#[test]
fn socks_requests_and_replies_equal_tsharks() {
    let (a, proxies, path) = analyse("proxy-socks.pcap");
    let theirs: BTreeMap<u64, (String, String, String)> = tshark_socks_requests(&path)
        .into_values()
        .map(|r| (r.frame, (r.protocol, r.target, r.port)))
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

/// Servers named by address through proxies (captures/record-proxy-target.sh: curl
/// through danted, microsocks and tinyproxy to AWS, Alibaba Cloud, Tencent Cloud and
/// Cloudflare addresses put on the recording namespace's loopback; only the
/// client-to-proxy legs captured). The requests equal tshark's; the targets are
/// tallied per address, port and proxy with the proxies' answers as tshark reads
/// them; and each is attributed in the report as an endpoint is, though no packet
/// of the capture went to it.
#[test]
fn proxy_targets_named_by_address_are_tallied_as_tshark_reads_them_and_attributed() {
    let (a, proxies, path) = analyse("proxy-target.pcap");
    let socks = tshark_socks_requests(&path);
    let connect: Vec<Vec<String>> = common::tshark_rows(
        &path,
        "http.request.method == \"CONNECT\"",
        &[
            "frame.number",
            "tcp.stream",
            "ip.dst",
            "tcp.dstport",
            "http.request.uri",
        ],
    );
    let mut requests: BTreeMap<u64, (String, String, String)> = socks
        .values()
        .map(|r| {
            let request = (r.protocol.clone(), r.target.clone(), r.port.clone());
            (r.frame, request)
        })
        .collect();
    for r in &connect {
        let (host, port) = r[4].rsplit_once(':').unwrap();
        let request = ("http_connect".into(), host.into(), port.into());
        requests.insert(r[0].parse().unwrap(), request);
    }
    assert_eq!(ours(&proxies), requests);
    assert_eq!(requests.len(), 6, "every curl run: {requests:?}");

    // The answers, by TCP stream: granted or refused.
    let mut granted: BTreeMap<String, bool> = BTreeMap::new();
    for r in common::tshark_rows(&path, "socks.results", &["tcp.stream", "socks.results"]) {
        // SOCKS4 grants with 90, SOCKS5 with 0.
        granted.insert(r[0].clone(), r[1] == "90" || r[1] == "0");
    }
    for r in common::tshark_rows(
        &path,
        "http.response.code",
        &["tcp.stream", "http.response.code"],
    ) {
        granted.insert(r[0].clone(), r[1].starts_with('2'));
    }

    // tshark's requests tallied per target address, port and proxy: the protocols,
    // requests, granted, refused, and the requests' frames.
    type Tally = (Vec<String>, u64, u64, u64);
    let mut theirs: BTreeMap<(String, String, String), (Tally, Vec<u64>)> = BTreeMap::new();
    let socks_requests = socks.iter().map(|(stream, r)| {
        let proxy = r.proxy.clone();
        let target = (r.target.clone(), r.port.clone(), proxy);
        (stream.clone(), r.frame, r.protocol.clone(), target)
    });
    let connect_requests = connect.iter().map(|r| {
        let (host, port) = r[4].rsplit_once(':').unwrap();
        let proxy = format!("{}:{}", r[2], r[3]);
        let target = (host.to_string(), port.to_string(), proxy);
        (
            r[1].clone(),
            r[0].parse().unwrap(),
            "http_connect".into(),
            target,
        )
    });
    for (stream, frame, protocol, target) in socks_requests.chain(connect_requests) {
        let (t, frames) = theirs.entry(target).or_default();
        if !t.0.contains(&protocol) {
            t.0.push(protocol);
        }
        t.1 += 1;
        match granted.get(&stream) {
            Some(true) => t.2 += 1,
            Some(false) => t.3 += 1,
            None => {}
        }
        frames.push(frame);
    }
    let ours: BTreeMap<(String, String, String), (Tally, &[u64])> = a
        .proxy_targets
        .iter()
        .map(|t| {
            let proxy = format!("{}:{}", t.proxy.ip, t.proxy.port.unwrap());
            let protocols = t.protocols.iter().map(|p| p.to_string()).collect();
            (
                (t.ip.to_string(), t.port.to_string(), proxy),
                ((protocols, t.requests, t.granted, t.refused), &t.frames[..]),
            )
        })
        .collect();
    let ours_tallied: Vec<_> = ours.iter().map(|(k, (t, _))| (k, t)).collect();
    let theirs_tallied: Vec<_> = theirs.iter().map(|(k, (t, _))| (k, t)).collect();
    assert_eq!(ours_tallied, theirs_tallied);
    assert_eq!(theirs.len(), 5, "{theirs:?}");
    // Every request frame tshark names is among the target's frames (which also
    // hold the SOCKS5 greeting before a request).
    for (key, (_, frames)) in &theirs {
        let kept = ours[key].1;
        assert!(
            frames.iter().all(|f| kept.contains(f)),
            "{key:?}: {frames:?} in {kept:?}"
        );
    }

    // Attributed in the report, each by its own address.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_whohosts"))
        .args(["analyze", "-q", "--json", "-"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let attributed: BTreeMap<String, (String, String)> = report["proxy_targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(t["scope"], "internet");
            let provider = t["provider"]["id"].as_str().unwrap_or("-").to_string();
            let region = t["region"]["id"].as_str().unwrap_or("-").to_string();
            (t["ip"].as_str().unwrap().to_string(), (provider, region))
        })
        .collect();
    let expected: BTreeMap<String, (String, String)> = [
        ("104.21.48.7", "cloudflare", "-"),
        ("2a05:d014::10", "aws", "eu-central-1"),
        ("43.136.75.21", "tencent", "-"),
        ("47.236.91.18", "alibaba", "-"),
        ("52.28.131.173", "aws", "eu-central-1"),
    ]
    .into_iter()
    .map(|(ip, p, r)| (ip.to_string(), (p.to_string(), r.to_string())))
    .collect();
    assert_eq!(attributed, expected);
    // No endpoint of the capture is one of them: the packets went to the proxies.
    for e in report["endpoints"].as_array().unwrap() {
        assert!(!attributed.contains_key(e["ip"].as_str().unwrap()));
    }
    assert!(a.proxy_targets.iter().all(|t| !t.is_relay()));
    // Every service is on a proxy that let the client through: danted's, which
    // carried only connections to servers named by address, too.
    for s in report["services"].as_array().unwrap() {
        assert_eq!(s["via_proxy"], true, "{}", s["label"]);
    }
}

/// Servers named by address in datagrams through SOCKS5 UDP relays
/// (captures/record-socks-udp.sh targets: danted's relays, a resolver on a Tencent
/// Cloud address and a QUIC server on an Alibaba Cloud one, on the namespace's
/// loopback). Each address tshark reads in a relayed datagram's SOCKS header is a
/// target of its relay, granted (the relay was), and attributed.
#[test]
fn servers_named_in_relayed_datagrams_are_targets_of_their_relays_and_granted() {
    let (a, proxies, path) = analyse("proxy-relay-target.pcap");
    let associated: Vec<&Value> = proxies
        .iter()
        .filter(|p| p["command"] == "udp_associate" && p["granted"] == true)
        .collect();
    assert_eq!(associated.len(), 2, "two relays: {proxies:?}");
    let client = associated[0]["client"]["ip"].as_str().unwrap();
    // tshark: (relay, target address, port) of every datagram the client sent
    // through a relay that names its target by address, and the first one's frame.
    let mut theirs: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for r in common::tshark_rows(
        &path,
        &format!("socks.fragment_number == 0 && ip.src == {client} && socks.dst"),
        &[
            "frame.number",
            "ip.dst",
            "udp.dstport",
            "socks.dst",
            "socks.dstport",
        ],
    ) {
        let relay = format!("{}:{}", r[1], r[2]);
        theirs
            .entry((r[3].clone(), r[4].clone(), relay))
            .or_insert(r[0].parse().unwrap());
    }
    let ours: BTreeMap<(String, String, String), u64> = a
        .proxy_targets
        .iter()
        .map(|t| {
            assert_eq!(t.protocols, ["socks5"]);
            assert!(t.is_relay(), "{t:?}");
            assert_eq!((t.requests, t.granted, t.refused), (1, 1, 0), "{t:?}");
            let relay = format!("{}:{}", t.proxy.ip, t.proxy.port.unwrap());
            ((t.ip.to_string(), t.port.to_string(), relay), t.frames[0])
        })
        .collect();
    assert_eq!(ours, theirs);
    let targets: Vec<&str> = ours.keys().map(|k| k.0.as_str()).collect();
    assert_eq!(targets, ["43.136.75.21", "47.236.91.18"]);
    // The two relays differ: each target came through its own.
    assert_ne!(ours.keys().next().unwrap().2, ours.keys().last().unwrap().2);

    // The service on the game's relay is named by its QUIC SNI only, never asked
    // of the proxy by name: it is said to be behind a relay all the same, and so
    // is the resolver's; the proxy's own control port carried nothing itself.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_whohosts"))
        .args(["analyze", "-q", "--json", "-"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.code().is_some_and(|c| c <= 1));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let flagged: BTreeMap<String, bool> = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let label = s["label"].as_str().unwrap().to_string();
            (label, s["via_proxy"] == true)
        })
        .collect();
    let want: BTreeMap<String, bool> = [
        ("127.0.0.12:1080", false),
        ("game.mtr-pirate.example", true),
        ("resolver.mtr-pirate.example", true),
    ]
    .into_iter()
    .map(|(l, v)| (l.to_string(), v))
    .collect();
    assert_eq!(flagged, want);
}
