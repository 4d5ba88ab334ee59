//! DNS messages cut short by the snap length (captures/dns-cut.pcap, `editcap -s 110`
//! of dns.pcap): the questions and answers read before the cut equal tshark's
//! (`dns.qry.name`, `dns.a`), each such message is reported as an anomaly, and the
//! address an answer kept is still bound to its name. DNS over TCP too: a message
//! whose segment was cut is read as far as the capture holds it.

mod common;

use std::collections::BTreeSet;
use whohosts::pipeline::{analyze_capture, AnalyzeOptions};
use whohosts::services::NameSource;

#[test]
fn names_read_before_the_cut_equal_tsharks() {
    let path = common::root().join("captures/dns-cut.pcap");
    let a = analyze_capture(&path, 0, &AnalyzeOptions::default()).unwrap();
    let records = a.records.dns.values().unwrap();
    let mut ours: BTreeSet<(u64, String, String)> = BTreeSet::new();
    for d in &records {
        let frame = d["frame"].as_u64().unwrap();
        for q in d["questions"].as_array().unwrap() {
            ours.insert((frame, q["name"].as_str().unwrap().into(), String::new()));
        }
        for r in d["answers"].as_array().unwrap() {
            if r["data"]["type"] == "a" {
                let ip = r["data"]["address"].as_str().unwrap();
                ours.insert((frame, String::new(), ip.into()));
            }
        }
    }
    let mut theirs: BTreeSet<(u64, String, String)> = BTreeSet::new();
    for f in common::tshark_rows(&path, "dns", &["frame.number", "dns.qry.name", "dns.a"]) {
        let frame: u64 = f[0].parse().unwrap();
        for n in f[1].split(',').filter(|s| !s.is_empty()) {
            theirs.insert((frame, n.to_ascii_lowercase(), String::new()));
        }
        for ip in f[2].split(',').filter(|s| !s.is_empty()) {
            theirs.insert((frame, String::new(), ip.into()));
        }
    }
    assert_eq!(ours, theirs);
    assert!(
        ours.iter().any(|(_, _, ip)| !ip.is_empty()),
        "an answer survives"
    );
    let partial = a
        .anomalies
        .kept
        .iter()
        .filter(|x| x.code == "dns.partial")
        .count();
    let cut = common::tshark(&[
        "-n",
        "-r",
        path.to_str().unwrap(),
        "-Y",
        "dns && frame.cap_len < frame.len",
    ]);
    assert_eq!(
        partial,
        cut.lines().count(),
        "each cut message is reported, over UDP and over TCP"
    );
    assert!(
        records.iter().filter(|d| d["transport"] == "tcp").count() == 4,
        "the four messages over TCP are read as far as they go"
    );
    assert!(partial > 0);
    assert!(a
        .names
        .iter()
        .any(|n| n.source == NameSource::DnsAnswer && n.name == "www.mtr-pirate.example"));
}

/// A DNS answer fragmented by IP and cut by the snap length (captures/frag-cut.pcap,
/// `editcap -s 300` of frag.pcap). tshark puts an IPv4 fragment the frame holds
/// only part of in no reassembly and reads a first one as it is: the answer's
/// question is read from it, its UDP conversation counts it. whohosts reads the same
/// names from the same frames (the conversations are checked against tshark's by
/// tests/tshark_conversations.rs) and says of every cut IPv4 fragment that it was
/// not reassembled.
#[test]
fn a_cut_first_fragment_is_read_as_it_is_as_tshark_reads_it() {
    let path = common::root().join("captures/frag-cut.pcap");
    let a = analyze_capture(&path, 0, &AnalyzeOptions::default()).unwrap();
    let records = a.records.dns.values().unwrap();
    let ours: BTreeSet<(u64, bool, String)> = records
        .iter()
        .flat_map(|d| {
            let frame = d["frame"].as_u64().unwrap();
            let response = d["is_response"] == true;
            d["questions"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |q| (frame, response, q["name"].as_str().unwrap().to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    let theirs: BTreeSet<(u64, bool, String)> = common::tshark_rows(
        &path,
        "dns",
        &["frame.number", "dns.flags.response", "dns.qry.name"],
    )
    .iter()
    .map(|f| {
        (
            f[0].parse().unwrap(),
            f[1] == "1",
            f[2].to_ascii_lowercase(),
        )
    })
    .collect();
    assert_eq!(ours, theirs);
    assert!(
        ours.iter().any(|(_, response, _)| *response),
        "the answer's question is read from its cut first fragment"
    );
    let cut = common::tshark_rows(
        &path,
        "ip && (ip.flags.mf == 1 || ip.frag_offset > 0) && frame.cap_len < frame.len",
        &["frame.number"],
    );
    let said: Vec<u64> = a
        .anomalies
        .kept
        .iter()
        .filter(|x| x.code == "ip.fragment_cut")
        .filter_map(|x| x.frame)
        .collect();
    let cut: Vec<u64> = cut.iter().map(|f| f[0].parse().unwrap()).collect();
    assert!(!cut.is_empty());
    assert_eq!(said, cut, "each cut IPv4 fragment is said");
}
