//! Hostile captures: random packets from Debian's `randpkt`, every truncation point
//! of the demo capture, zero-length records, long runs of garbage, IP fragments that
//! overlap with other bytes, flood the reassembly or run past 65 535 bytes. Each run must
//! finish, with anomalies where the input is damaged, without a panic, within a
//! bounded time and memory (the binary runs under `prlimit` and `timeout`).

mod common;

use std::path::Path;
use std::process::Command;
use whohosts::pipeline::{analyze_capture, AnalyzeOptions};

/// Runs the real binary with a 512 MiB address-space limit and a 120 s time limit;
/// returns its exit code (0 or 1 expected: completed, with or without anomalies).
fn run_bounded(path: &Path) -> i32 {
    run_bounded_report(path).0
}

/// `run_bounded`, also returning the JSON report.
fn run_bounded_report(path: &Path) -> (i32, serde_json::Value) {
    let bin = assert_cmd::cargo::cargo_bin("whohosts");
    let out = Command::new("timeout")
        .args(["120", "prlimit", "--as=536870912", "--"])
        .arg(bin)
        .env(
            "WHOHOSTS_DATA_DIR",
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("empty-data-dir"),
        )
        .arg("analyze")
        .arg(path)
        .args(["--json", "-"])
        .output()
        .expect("timeout and prlimit (coreutils, util-linux) run the binary");
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "{}: exit {code} (124 = timed out, 101 = panic)\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(v["schema"], "whohosts.report/2");
    (code, v)
}

fn randpkt_types() -> Vec<String> {
    let out = Command::new("randpkt")
        .arg("-h")
        .output()
        .expect("randpkt must be installed (Debian package wireshark-common, with tshark)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let types: Vec<String> = text
        .lines()
        .skip_while(|l| !l.starts_with("Types:"))
        .skip(1)
        .filter(|l| l.starts_with('\t'))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    assert!(
        types.len() >= 10,
        "could not read randpkt's types from:\n{text}"
    );
    types
}

#[test]
fn randpkt_every_packet_type_finishes_without_panic_in_bounded_memory() {
    const PER_TYPE: usize = 400;
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for ty in randpkt_types() {
        let path = dir.path().join(format!("{ty}.pcap"));
        let ok = Command::new("randpkt")
            .args(["-b", "3000", "-c", &PER_TYPE.to_string(), "-t", &ty])
            .arg(&path)
            .status()
            .unwrap()
            .success();
        assert!(ok, "randpkt -t {ty} failed");
        run_bounded(&path);
        files.push(path);
    }
    // And every type interleaved in one pcapng file, one interface per type. randpkt's
    // own `-r` writes pcap, which holds one link type, so it drops every packet whose
    // type differs from the first; mergecap (wireshark-common, beside randpkt) keeps
    // them all.
    let mixed = dir.path().join("mixed.pcapng");
    assert!(Command::new("mergecap")
        .arg("-w")
        .arg(&mixed)
        .args(&files)
        .status()
        .expect("mergecap must be installed (Debian package wireshark-common, with tshark)")
        .success());
    let (_, report) = run_bounded_report(&mixed);
    let capture = &report["captures"][0];
    assert_eq!(capture["interfaces"], files.len());
    assert_eq!(capture["packets"], files.len() * PER_TYPE);
}

#[test]
fn every_truncation_point_of_the_demo_capture_is_handled() {
    let demo = common::root().join("captures/demo.pcap");
    let bytes = std::fs::read(&demo).unwrap();
    // Record ends, to know how many frames each cut keeps.
    let mut ends = vec![24usize];
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + caplen;
        ends.push(at);
    }
    assert_eq!(*ends.last().unwrap(), bytes.len());
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), &bytes).unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(tmp.path())
        .unwrap();
    // Cut from the end down, truncating the same file in place.
    for cut in (0..bytes.len()).rev() {
        file.set_len(cut as u64).unwrap();
        match analyze_capture(tmp.path(), 0, &AnalyzeOptions::default()) {
            Ok(a) => {
                let complete = ends.iter().filter(|&&e| e <= cut).count() as u64 - 1;
                assert_eq!(a.packets, complete, "cut at {cut}");
                let on_boundary = ends.contains(&cut);
                assert_eq!(
                    a.anomalies.is_empty(),
                    on_boundary,
                    "cut at {cut}: {:?}",
                    a.anomalies.kept
                );
                if !on_boundary {
                    let last_end = *ends.iter().filter(|&&e| e <= cut).max().unwrap();
                    let first = &a.anomalies.kept[0];
                    assert_eq!(first.offset, last_end as u64, "cut at {cut}");
                    assert_eq!(first.frame, Some(complete + 1), "cut at {cut}");
                }
            }
            Err(e) => assert!(cut < 24, "cut at {cut}: {e}"),
        }
    }
}

fn pcap_header() -> Vec<u8> {
    let mut h = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&65535u32.to_le_bytes());
    h.extend_from_slice(&1u32.to_le_bytes());
    h
}

fn record(ts: u32, data: &[u8]) -> Vec<u8> {
    let mut r = ts.to_le_bytes().to_vec();
    r.extend_from_slice(&0u32.to_le_bytes());
    r.extend_from_slice(&(data.len() as u32).to_le_bytes());
    r.extend_from_slice(&(data.len() as u32).to_le_bytes());
    r.extend_from_slice(data);
    r
}

#[test]
fn zero_length_records_are_counted_and_flagged() {
    let mut bytes = pcap_header();
    for i in 0..50 {
        bytes.extend(record(1_700_000_000 + i, &[]));
    }
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), &bytes).unwrap();
    let a = analyze_capture(tmp.path(), 0, &AnalyzeOptions::default()).unwrap();
    assert_eq!(a.packets, 50);
    assert_eq!(a.anomalies.kept.len(), 50, "each empty frame is reported");
    assert!(a
        .anomalies
        .kept
        .iter()
        .all(|x| x.code == "decode.incomplete"));
    assert_eq!(run_bounded(tmp.path()), 1);
}

#[test]
fn megabytes_of_garbage_between_records_are_skipped_in_one_resynchronisation() {
    let frame = std::fs::read(common::root().join("captures/demo.pcap")).unwrap();
    // The demo's first record, reused.
    let caplen = u32::from_le_bytes(frame[32..36].try_into().unwrap()) as usize;
    let first = &frame[24..24 + 16 + caplen];
    let mut bytes = pcap_header();
    bytes.extend_from_slice(first);
    let garbage_at = bytes.len();
    let mut s: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..(4 << 20) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        bytes.push((s >> 24) as u8);
    }
    let resume_at = bytes.len();
    for _ in 0..3 {
        bytes.extend_from_slice(first);
    }
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), &bytes).unwrap();
    let a = analyze_capture(tmp.path(), 0, &AnalyzeOptions::default()).unwrap();
    assert_eq!(a.packets, 4, "{:?}", a.anomalies.kept);
    let resync = a
        .anomalies
        .kept
        .iter()
        .find(|x| x.code == "pcap.resynchronised")
        .expect("a resynchronisation anomaly");
    assert_eq!(resync.offset, garbage_at as u64);
    assert!(
        resync.message.contains(&format!("to {resume_at}")),
        "{}",
        resync.message
    );
    run_bounded(tmp.path());
}

#[test]
fn thousands_of_lying_lengths_keep_the_report_bounded() {
    // Every record claims a huge length: each is an anomaly, but only the first
    // `max_anomalies` are kept in full; the rest are counted.
    let mut bytes = pcap_header();
    let frame = [0u8; 60];
    for i in 0..5000u32 {
        let mut r = record(1_700_000_000 + i, &frame);
        if i % 2 == 0 {
            r[8..12].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
        }
        bytes.extend(r);
    }
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), &bytes).unwrap();
    let a = analyze_capture(
        tmp.path(),
        0,
        &AnalyzeOptions {
            max_anomalies: 100,
            ..AnalyzeOptions::default()
        },
    )
    .unwrap();
    assert_eq!(a.anomalies.kept.len(), 100);
    assert!(a.anomalies.total() >= 5000, "{}", a.anomalies.total());
    run_bounded(tmp.path());
}

/// An Ethernet frame holding one IPv4 fragment of a UDP datagram (protocol 17)
/// from 192.0.2.53 to 198.51.100.7: `offset` in bytes (a multiple of 8).
fn ipv4_fragment(id: u16, offset: usize, more: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = (20 + payload.len()) as u16;
    let flags = ((offset / 8) as u16) | if more { 0x2000 } else { 0 };
    f.extend([0x45, 0]);
    f.extend(total.to_be_bytes());
    f.extend(id.to_be_bytes());
    f.extend(flags.to_be_bytes());
    f.extend([64, 17, 0, 0, 192, 0, 2, 53, 198, 51, 100, 7]);
    f.extend(payload);
    f
}

/// A DNS answer (id 0x4242) for `good.example` A 203.0.113.9 in a UDP datagram
/// from port 53 to 40000, as the bytes of the IP payload.
fn dns_datagram() -> Vec<u8> {
    let mut dns = vec![0x42, 0x42, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    dns.extend(b"\x04good\x07example\x00\x00\x01\x00\x01");
    dns.extend([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 203, 0, 113, 9]);
    let mut udp = vec![0, 53, 0x9c, 0x40];
    udp.extend(((8 + dns.len()) as u16).to_be_bytes());
    udp.extend([0, 0]);
    udp.extend(dns);
    udp
}

#[test]
fn overlapping_fragments_that_disagree_keep_the_first_copy_and_say_so() {
    let d = dns_datagram();
    // The second fragment repeats bytes 24..32 (inside the name) with other bytes:
    // a reassembler that let it win would read another name.
    let mut second = d[24..].to_vec();
    second[..8].copy_from_slice(b"d\x07evilpl");
    let mut bytes = pcap_header();
    bytes.extend(record(1_700_000_000, &ipv4_fragment(7, 0, true, &d[..32])));
    bytes.extend(record(1_700_000_001, &ipv4_fragment(7, 24, false, &second)));
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), &bytes).unwrap();
    let a = analyze_capture(tmp.path(), 0, &AnalyzeOptions::default()).unwrap();
    let dns = a.records.dns.values().unwrap();
    assert_eq!(dns.len(), 1, "{dns:?}");
    assert_eq!(dns[0]["questions"][0]["name"], "good.example");
    assert_eq!(dns[0]["frame"], 2, "read on the frame that completes it");
    assert!(a
        .names
        .iter()
        .any(|n| n.name == "good.example" && n.ip.to_string() == "203.0.113.9"));
    let overlap: Vec<_> = a
        .anomalies
        .kept
        .iter()
        .filter(|x| x.code == "ip.fragment_overlap")
        .collect();
    assert_eq!(overlap.len(), 1, "{:?}", a.anomalies.kept);
    assert_eq!(overlap[0].frame, Some(2));
}

#[test]
fn fragment_floods_and_oversized_datagrams_stay_bounded_and_are_reported() {
    let mut bytes = pcap_header();
    // 10 000 first fragments of 8 000 bytes that never complete: more datagrams
    // than are kept pending and more bytes than are held.
    let big = vec![0x5a; 8000];
    for id in 0..10_000u16 {
        bytes.extend(record(1_700_000_000, &ipv4_fragment(id, 0, true, &big)));
    }
    // A whole datagram whose last fragment ends past 65 535 bytes ("ping of
    // death"): eight fragments of 8 000 bytes, then 1 600 bytes at 64 000.
    for i in 0..8 {
        let f = ipv4_fragment(60_000, i * 8000, true, &big);
        bytes.extend(record(1_700_000_001, &f));
    }
    let last = ipv4_fragment(60_000, 64_000, false, &big[..1600]);
    bytes.extend(record(1_700_000_001, &last));
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), &bytes).unwrap();
    let a = analyze_capture(tmp.path(), 0, &AnalyzeOptions::default()).unwrap();
    let count = |code: &str| {
        a.anomalies.kept.iter().filter(|x| x.code == code).count() as u64
            + a.anomalies.suppressed.get(code).copied().unwrap_or(0)
    };
    assert_eq!(count("ip.fragments_dropped"), 10_000 + 1 - 4096);
    assert_eq!(count("ip.datagram_not_kept"), 1);
    assert_eq!(count("ip.incomplete_datagram"), 4096 - 1);
    let (code, report) = run_bounded_report(tmp.path());
    assert_eq!(code, 1);
    assert_eq!(report["captures"][0]["packets"], 10_009);
}

/// Thousands of IPv4 first fragments, each cut short by the frame's end and each
/// carrying the next (IP in IP): every one would be read as it is, one inside
/// another. They are read two deep at most, as reassembled datagrams are, and
/// the rest is counted and said; nothing recurses without bound.
#[test]
fn nested_cut_first_fragments_are_read_to_a_bounded_depth() {
    let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let layers = 3000;
    for _ in 0..layers {
        // Total length 65 535: more than the frame holds, so each is cut.
        frame.extend([0x45, 0, 0xff, 0xff, 0, 7, 0x20, 0, 64, 4, 0, 0]);
        frame.extend([192, 0, 2, 53, 198, 51, 100, 7]);
    }
    frame.extend(dns_datagram());
    let mut bytes = pcap_header();
    bytes.extend(record(1_700_000_000, &frame));
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), &bytes).unwrap();
    let (_, report) = run_bounded_report(tmp.path());
    let anomalies = report["captures"][0]["anomalies"].as_array().unwrap();
    let said = |code: &str| anomalies.iter().filter(|a| a["code"] == code).count();
    assert_eq!(said("ip.reassembly_depth"), 1, "{anomalies:?}");
    assert!(said("ip.fragment_cut") >= 1);
}
