//! The names whohosts reads from each capture equal tshark's: TLS and QUIC SNI
//! (`tls.handshake.extensions_server_name`, which tshark also fills from QUIC
//! CRYPTO frames), DNS query names (`dns.qry.name`, also on UDP 5300), the
//! addresses DNS answers give (`dns.a`, `dns.aaaa`), certificates' DNS names
//! (`x509ce.dNSName`) and HTTP hosts (`http.host`).

mod common;

use std::collections::BTreeSet;
use whohosts::pipeline::{analyze_capture, AnalyzeOptions};

/// The values tshark shows for each of `fields` in the capture, one set per field.
fn tshark_sets(path: &std::path::Path, fields: &[&str]) -> Vec<BTreeSet<String>> {
    let mut args = vec![
        "-n",
        "-r",
        path.to_str().unwrap(),
        // DNS on a port DNS does not use (captures/dns-port.pcap): whohosts finds it
        // by its content, tshark only when told.
        "-d",
        "udp.port==5300,dns",
        "-T",
        "fields",
        "-E",
        "separator=/t",
    ];
    for f in fields {
        args.extend(["-e", f]);
    }
    let out = common::tshark(&args);
    let mut sets = vec![BTreeSet::new(); fields.len()];
    for line in out.lines() {
        for (set, column) in sets.iter_mut().zip(line.split('\t')) {
            set.extend(
                column
                    .split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty()),
            );
        }
    }
    sets
}

/// SNI that tshark 4.0 does not read and whohosts does, by capture: the TLS that
/// follows FTP's `AUTH SSL` (captures/record-starttls.sh), which tshark's FTP
/// dissector shows as FTP commands.
const TSHARK_UNREAD_SNI: &[(&str, &str)] = &[("captures/starttls.pcap", "ftp.mtr-pirate.example")];

#[test]
fn sni_dns_and_http_names_equal_tsharks_on_every_capture() {
    let mut seen = [0usize; 5];
    for path in common::captures() {
        let name = path.display().to_string();
        let a = analyze_capture(&path, 0, &AnalyzeOptions::default()).unwrap();
        let readable = common::tshark_readable(&path);
        let [t_sni, t_qname, t_a, t_aaaa, t_san, t_host]: [BTreeSet<String>; 6] = tshark_sets(
            readable.path(),
            &[
                "tls.handshake.extensions_server_name",
                "dns.qry.name",
                "dns.a",
                "dns.aaaa",
                "x509ce.dNSName",
                "http.host",
            ],
        )
        .try_into()
        .unwrap();

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
        // tshark 4.0 reads no TLS after FTP's AUTH SSL or AUTH TLS; whohosts does.
        let mut t_sni = t_sni;
        for (capture, server) in TSHARK_UNREAD_SNI {
            if name.ends_with(capture) {
                assert!(
                    !t_sni.contains(*server),
                    "{name}: tshark now reads {server}"
                );
                t_sni.insert(server.to_string());
            }
        }
        assert_eq!(sni, t_sni, "{name}: SNI");

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
        assert_eq!(qnames, t_qname, "{name}: DNS query names");

        // The addresses of DNS A and AAAA records (including those of datagrams
        // reassembled from IP fragments), in every section as tshark's `dns.a`
        // lists them (the answers bind names; the authority and additional
        // sections' are recorded), and the certificates' DNS names.
        let addresses: BTreeSet<String> = values(&a.records.dns)
            .iter()
            .filter(|d| d["is_response"] == true)
            .flat_map(|d| {
                ["answers", "authority", "additional"]
                    .iter()
                    .flat_map(|s| d[s].as_array().into_iter().flatten())
                    .filter(|r| matches!(r["data"]["type"].as_str(), Some("a" | "aaaa")))
                    .filter_map(|r| text(&r["data"]["address"]))
                    .collect::<Vec<_>>()
            })
            .collect();
        let theirs: BTreeSet<String> = t_a.union(&t_aaaa).cloned().collect();
        assert_eq!(addresses, theirs, "{name}: DNS answer addresses");
        let sans: BTreeSet<String> = values(&a.records.tls)
            .iter()
            .filter(|t| t["type"] == "certificate")
            .flat_map(|t| {
                t["sans"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(text)
                    .collect::<Vec<_>>()
            })
            .collect();
        // tshark decrypts TLS 1.3 with the secrets a pcapng carries and then reads
        // its encrypted certificates; whohosts does so when asked to decrypt
        // (`--objects` or `--keylog`: tests/content_tls.rs), not in this default
        // analysis.
        if !name.ends_with("-dsb.pcapng") {
            assert_eq!(sans, t_san, "{name}: certificate DNS names");
        }

        let hosts: BTreeSet<String> = values(&a.records.http)
            .iter()
            .filter(|h| h["type"] == "request")
            .filter_map(|h| text(&h["host"]))
            .collect();
        assert_eq!(hosts, t_host, "{name}: HTTP hosts");
        seen[0] += sni.len();
        seen[1] += qnames.len();
        seen[2] += hosts.len();
        seen[3] += addresses.len();
        seen[4] += sans.len();
    }
    if common::all_bundled_captures() {
        assert!(seen.iter().all(|&n| n > 0), "names compared: {seen:?}");
    }
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
            .map(|s| s.service)
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
        let filter = s.wireshark_filter().to_string();
        assert!(filter.contains(ip), "{filter}");
        // The filter is valid for tshark and shows exactly the service's frames.
        let shown = common::tshark(&["-n", "-r", demo.to_str().unwrap(), "-Y", &filter]);
        let frames: u64 = s
            .endpoints
            .iter()
            .map(|e| e.frames_to_server + e.frames_to_client)
            .sum();
        assert_eq!(shown.lines().count() as u64, frames, "{host}: {filter}");
    }
}
