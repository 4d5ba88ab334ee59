//! The names whohosts reads from each capture equal tshark's: TLS and QUIC SNI
//! (`tls.handshake.extensions_server_name`, which tshark also fills from QUIC
//! CRYPTO frames), DNS query names (`dns.qry.name`, also on UDP 5300) and HTTP hosts
//! (`http.host`).

mod common;

use std::collections::BTreeSet;
use whohosts::pipeline::{analyze_capture, AnalyzeOptions};

fn tshark_set(path: &std::path::Path, field: &str) -> BTreeSet<String> {
    let out = common::tshark(&[
        "-n",
        "-r",
        path.to_str().unwrap(),
        // DNS on a port DNS does not use (captures/dns-port.pcap): whohosts finds it
        // by its content, tshark only when told.
        "-d",
        "udp.port==5300,dns",
        "-T",
        "fields",
        "-e",
        field,
    ]);
    out.lines()
        .flat_map(|l| l.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn sni_dns_and_http_names_equal_tsharks_on_every_capture() {
    let mut seen = [0usize; 3];
    for path in common::captures() {
        let name = path.display().to_string();
        let a = analyze_capture(&path, 0, &AnalyzeOptions::default()).unwrap();
        let readable = common::tshark_readable(&path);
        let p = readable.path();

        // The records as the report carries them.
        let values = |spool: &whohosts::pipeline::spool::Spool| spool.values().unwrap();
        let text = |v: &serde_json::Value| v.as_str().map(|s| s.to_ascii_lowercase());
        let mut sni: BTreeSet<String> = values(&a.records.tls)
            .iter()
            .filter(|t| t["type"] == "client_hello")
            .filter_map(|t| text(&t["sni"]))
            .collect();
        sni.extend(
            values(&a.records.quic)
                .iter()
                .filter_map(|q| text(&q["sni"])),
        );
        assert_eq!(
            sni,
            tshark_set(p, "tls.handshake.extensions_server_name"),
            "{name}: SNI"
        );

        let qnames: BTreeSet<String> = values(&a.records.dns)
            .iter()
            .flat_map(|d| {
                d["questions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|q| text(&q["name"]))
                    .collect::<Vec<_>>()
            })
            .map(|n| n.trim_end_matches('.').to_string())
            .collect();
        assert_eq!(
            qnames,
            tshark_set(p, "dns.qry.name"),
            "{name}: DNS query names"
        );

        let hosts: BTreeSet<String> = values(&a.records.http)
            .iter()
            .filter(|h| h["type"] == "request")
            .filter_map(|h| text(&h["host"]))
            .collect();
        assert_eq!(hosts, tshark_set(p, "http.host"), "{name}: HTTP hosts");
        seen[0] += sni.len();
        seen[1] += qnames.len();
        seen[2] += hosts.len();
    }
    assert!(seen.iter().all(|&n| n > 0), "names compared: {seen:?}");
}

#[test]
fn demo_services_name_the_pirate_games_hosts_with_addresses_and_frames() {
    let demo = common::root().join("captures/demo.pcap");
    let a = analyze_capture(&demo, 0, &AnalyzeOptions::default()).unwrap();
    let report = whohosts::report::Report::build(std::slice::from_ref(&a));
    let expect = [
        ("dl.mtr-pirate.example", "47.236.91.18", 80),
        ("api.mtr-pirate.example", "43.136.75.21", 443),
        ("game.mtr-pirate.example", "3.121.45.67", 7777),
        ("www.mtr-pirate.example", "104.21.48.7", 443),
    ];
    for (host, ip, port) in expect {
        let s = report
            .services
            .iter()
            .map(|s| &s.service)
            .find(|s| s.label == host)
            .unwrap_or_else(|| panic!("no service labelled {host}"));
        assert!(
            s.endpoints
                .iter()
                .any(|e| e.ip.to_string() == ip && e.port == port),
            "{host}"
        );
        assert!(!s.frames.is_empty(), "{host}: evidence frames");
        assert!(s
            .hostnames
            .iter()
            .any(|h| h.name == host && !h.frames.is_empty()));
        assert!(s.wireshark_filter.contains(ip), "{}", s.wireshark_filter);
        // The filter is valid for tshark and shows exactly the service's frames.
        let shown = common::tshark(&[
            "-n",
            "-r",
            demo.to_str().unwrap(),
            "-Y",
            &s.wireshark_filter,
        ]);
        let frames: u64 = s
            .endpoints
            .iter()
            .map(|e| e.frames_to_server + e.frames_to_client)
            .sum();
        assert_eq!(
            shown.lines().count() as u64,
            frames,
            "{host}: {}",
            s.wireshark_filter
        );
    }
}
