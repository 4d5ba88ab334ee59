//! Zeek-style logs (`analyze --zeek`) of every capture in `captures/` agree with the
//! conversation table and the names of the JSON report, field by field as Zeek's
//! documentation defines them (conn.log: the 5-tuple, `proto`, `orig_pkts`,
//! `resp_pkts`; dns.log `query`; ssl.log `server_name`; http.log `host`, `uri`).

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn strings<'a>(v: impl Iterator<Item = &'a serde_json::Value>) -> BTreeSet<String> {
    v.filter_map(|x| x.as_str().map(str::to_owned)).collect()
}

#[test]
fn zeek_logs_agree_with_the_conversations_and_names_of_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join("empty-data-dir");
    std::fs::create_dir_all(&data).unwrap();
    let mut seen = [0usize; 4];
    for (i, capture) in common::captures().iter().enumerate() {
        let dir = tmp.path().join(i.to_string());
        let o = Command::new(env!("CARGO_BIN_EXE_whohosts"))
            .env("WHOHOSTS_DATA_DIR", &data)
            .arg("analyze")
            .arg(capture)
            .args(["--json", "-", "--zeek"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(o.status.code().is_some_and(|c| c <= 1), "{capture:?}");
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let name = capture.display();

        // conn.log: one line per TCP/UDP conversation, with its figures.
        let conn = lines(&dir.join("conn.log"));
        let convs: Vec<&serde_json::Value> = report["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["transport"] != "ip")
            .collect();
        assert_eq!(conn.len(), convs.len(), "{name}: conn.log lines");
        let mut uids = BTreeSet::new();
        for (l, c) in conn.iter().zip(&convs) {
            let uid = l["uid"].as_str().unwrap();
            assert!(uid.starts_with('C') && uid.len() == 18, "{uid}");
            assert!(uids.insert(uid.to_string()), "{name}: uid {uid} twice");
            assert!(l["ts"].is_f64() || l["ts"].is_u64(), "{l}");
            assert_eq!(l["id.orig_h"], c["a"]["ip"], "{name}");
            assert_eq!(l["id.orig_p"], c["a"]["port"], "{name}");
            assert_eq!(l["id.resp_h"], c["b"]["ip"], "{name}");
            assert_eq!(l["id.resp_p"], c["b"]["port"], "{name}");
            assert_eq!(l["proto"], c["transport"], "{name}");
            assert_eq!(l["orig_pkts"], c["frames_a_to_b"], "{name}");
            assert_eq!(l["resp_pkts"], c["frames_b_to_a"], "{name}");
            assert_eq!(l["whohosts.orig_frame_bytes"], c["bytes_a_to_b"], "{name}");
            assert_eq!(l["whohosts.resp_frame_bytes"], c["bytes_b_to_a"], "{name}");
            assert_eq!(l["duration"], c["duration"], "{name}");
            // Zeek fields whohosts does not count are absent, never guessed.
            for absent in ["orig_bytes", "resp_bytes", "conn_state", "history"] {
                assert!(l.get(absent).is_none(), "{name}: {absent}");
            }
        }
        seen[0] += conn.len();

        // dns.log: the query names of the report, each line tied to a connection.
        let dns = lines(&dir.join("dns.log"));
        let want = strings(report["dns"].as_array().unwrap().iter().flat_map(|d| {
            d["questions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|q| &q["name"])
        }));
        assert_eq!(
            strings(dns.iter().map(|l| &l["query"])),
            want,
            "{name}: dns"
        );
        for l in &dns {
            assert!(uids.contains(l["uid"].as_str().unwrap()), "{name}: {l}");
        }
        seen[1] += dns.len();

        // ssl.log: the SNI of each ClientHello.
        let ssl = lines(&dir.join("ssl.log"));
        let want = strings(
            report["tls"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["type"] == "client_hello")
                .map(|t| &t["sni"]),
        );
        assert_eq!(
            strings(ssl.iter().map(|l| &l["server_name"])),
            want,
            "{name}: ssl"
        );
        for l in &ssl {
            assert!(uids.contains(l["uid"].as_str().unwrap()), "{name}: {l}");
        }
        seen[2] += ssl.len();

        // http.log: host and uri of each request, with the response's status.
        let http = lines(&dir.join("http.log"));
        let requests: Vec<&serde_json::Value> = report["http"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["type"] == "request")
            .collect();
        assert_eq!(http.len(), requests.len(), "{name}: http.log lines");
        for (l, r) in http.iter().zip(&requests) {
            assert_eq!(l["host"], r["host"]);
            assert_eq!(l["uri"], r["uri"]);
            assert_eq!(l["method"], r["method"]);
        }
        seen[3] += http.len();
    }
    assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
    // The demo's download: GET, 200, tied to its connection.
    let demo = tmp.path().join("demo");
    let o = Command::new(env!("CARGO_BIN_EXE_whohosts"))
        .env("WHOHOSTS_DATA_DIR", &data)
        .arg("analyze")
        .arg(common::root().join("captures/demo.pcap"))
        .arg("--zeek")
        .arg(&demo)
        .output()
        .unwrap();
    assert!(o.status.success());
    let http = lines(&demo.join("http.log"));
    assert_eq!(http[0]["status_code"], 200);
    assert_eq!(http[0]["uri"], "/packages/mtr-reloaded-1.4.2-win64.pak");
    let conn = lines(&demo.join("conn.log"));
    let c = conn.iter().find(|c| c["uid"] == http[0]["uid"]).unwrap();
    assert_eq!(c["service"], "http");
    assert_eq!(c["id.resp_h"], "47.236.91.18");
    assert_eq!(c["whohosts.region"], "ap-southeast-1");
}
