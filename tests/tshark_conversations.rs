//! The conversation and endpoint tables agree with tshark's own
//! (`-z conv,tcp -z conv,udp -z conv,ip -z conv,ipv6 -z endpoints,ip -z endpoints,ipv6`)
//! on every capture in `captures/`. tshark is a real peer here, not a mock: CI
//! installs it, and the test fails when it is missing.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use whohosts::model::Transport;
use whohosts::pipeline::{analyze_capture, AnalyzeOptions};
use whohosts::report::Report;

/// One conversation line of tshark's output.
#[derive(Debug, Clone, PartialEq)]
struct TsharkConv {
    a: String,
    b: String,
    frames_b_to_a: u64,
    bytes_b_to_a: String,
    frames_a_to_b: u64,
    bytes_a_to_b: String,
    rel_start: f64,
    duration: f64,
}

/// wsutil's `format_size` with SI prefixes, as tshark 4.x prints conversation
/// bytes: integer division, a prefix once the value reaches ten units.
fn tshark_size(n: u64) -> String {
    let p = 1000u64;
    if n / p / p / p / p >= 10 {
        format!("{} TB", n / p / p / p / p)
    } else if n / p / p / p >= 10 {
        format!("{} GB", n / p / p / p)
    } else if n / p / p >= 10 {
        format!("{} MB", n / p / p)
    } else if n / p >= 10 {
        format!("{} kB", n / p)
    } else {
        format!("{n} bytes")
    }
}

/// One conversation's exact byte counts, summed from tshark's per-frame fields.
#[derive(Debug, Clone, Default)]
struct Exact {
    a: String,
    b: String,
    rel_start: f64,
    bytes_a_to_b: u64,
    bytes_b_to_a: u64,
}

/// Exact bytes per conversation: `frame.len` of every frame, summed per TCP and UDP
/// stream (tshark's own stream index, side A the source of the first frame) and per
/// IP address pair, for every IP layer of the frame (a tunnel's outer and inner
/// headers both, as tshark's tables count them; the layers are walked in
/// `frame.protocols` order, stopping at ICMP, whose quoted headers tshark does not
/// count; an IPv6 fragment counts on the frame that completes its datagram, as
/// tshark's IP table counts it). The table tshark prints rounds bytes above 10 kB
/// (`301 kB`); these sums are what it rounded, and the comparison with whohosts is
/// exact.
fn exact_bytes(readable: &Path) -> BTreeMap<&'static str, Vec<Exact>> {
    // Two passes, so that a fragment names the frame that reassembles it.
    let out = common::tshark(&[
        "-2",
        "-n",
        "-r",
        readable.to_str().unwrap(),
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
        "-e",
        "frame.number",
        "-e",
        "frame.time_relative",
        "-e",
        "frame.len",
        "-e",
        "frame.protocols",
        "-e",
        "ip.src",
        "-e",
        "ip.dst",
        "-e",
        "ipv6.src",
        "-e",
        "ipv6.dst",
        "-e",
        "ipv6.reassembled.in",
        "-e",
        "tcp.stream",
        "-e",
        "tcp.srcport",
        "-e",
        "tcp.dstport",
        "-e",
        "udp.stream",
        "-e",
        "udp.srcport",
        "-e",
        "udp.dstport",
        "-e",
        "ipv6.routing.type",
        "-e",
        "ipv6.routing.segleft",
        "-e",
        "ipv6.routing.src.addr",
        "-e",
        "ipv6.routing.mipv6.home_address",
        "-e",
        "ipv6.routing.srh.addr",
        "-e",
        "ipv6.fragment.count",
    ]);
    let mut tables: BTreeMap<&'static str, BTreeMap<String, Exact>> = BTreeMap::new();
    let mut add = |table: &'static str, key: String, a: String, b: String, t: f64, len: u64| {
        let e = tables
            .entry(table)
            .or_default()
            .entry(key)
            .or_insert_with(|| Exact {
                a: a.clone(),
                b: b.clone(),
                rel_start: t,
                ..Exact::default()
            });
        // A conversation starts at its earliest frame (time can go backwards).
        e.rel_start = e.rel_start.min(t);
        if e.a == a {
            e.bytes_a_to_b += len;
        } else {
            e.bytes_b_to_a += len;
        }
    };
    for line in out.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let get = |i: usize| f.get(i).copied().unwrap_or("");
        let nth = |i: usize, n: usize| get(i).split(',').nth(n).unwrap_or("");
        let (number, t, len) = (get(0), get(1), get(2));
        let t: f64 = t.parse().unwrap_or(0.0);
        let len: u64 = len.parse().unwrap_or(0);
        // Occurrences used so far: IPv4, IPv6, TCP, UDP.
        let mut used = [0usize; 4];
        let mut current: Option<(String, String)> = None;
        let protos: Vec<&str> = get(3).split(':').collect();
        for (i, &proto) in protos.iter().enumerate() {
            match proto {
                // tshark 4.0 leaves an IPv6 packet with a Mobility header (after
                // its extension headers, reassembled or not) out of its IPv6 tables.
                "ipv6"
                    if protos[i + 1..].iter().find(|p| !p.starts_with("ipv6."))
                        == Some(&"mipv6") =>
                {
                    used[1] += 1;
                    current = None;
                }
                "ip" | "ipv6" => {
                    let v6 = proto == "ipv6";
                    let (k, col) = if v6 { (1, 6) } else { (0, 4) };
                    let (src, dst) = (nth(col, used[k]), nth(col + 1, used[k]));
                    let reassembled = nth(8, 0);
                    // An IPv6 fragment counts once, on the frame that completes its
                    // datagram (the one that lists the fragments); a fragment that
                    // completes none (a capture cut it, say) does not count.
                    let fragment = protos[i + 1..]
                        .iter()
                        .take_while(|p| p.starts_with("ipv6."))
                        .any(|p| *p == "ipv6.fraghdr");
                    let pending_fragment = v6
                        && used[k] == 0
                        && ((!reassembled.is_empty() && reassembled != number)
                            || (fragment && get(20).is_empty()));
                    used[k] += 1;
                    if src.is_empty() {
                        current = None;
                        continue;
                    }
                    // A routing header with segments left: the transport's conversation
                    // is with the final destination (RFC 8200 §8.1), the IP one with the
                    // header's. The bundled captures hold at most one routing header,
                    // in their first IPv6 layer, which is all this reads.
                    let final_dst = match (v6 && used[k] == 1, get(15), get(16)) {
                        (true, kind, left) if !left.is_empty() && left != "0" => match kind {
                            "0" => get(17).split(',').next_back(),
                            "2" => Some(get(18)),
                            "4" => get(19).split(',').next(),
                            _ => None,
                        },
                        _ => None,
                    };
                    let to = final_dst.filter(|d| !d.is_empty()).unwrap_or(dst);
                    current = Some((src.to_string(), to.to_string()));
                    if !pending_fragment {
                        let (lo, hi) = if src <= dst { (src, dst) } else { (dst, src) };
                        let table = if v6 {
                            "IPv6 Conversations"
                        } else {
                            "IPv4 Conversations"
                        };
                        add(table, format!("{lo} {hi}"), src.into(), dst.into(), t, len);
                    }
                }
                "tcp" | "udp" => {
                    let (k, col, table) = if proto == "tcp" {
                        (2, 9, "TCP Conversations")
                    } else {
                        (3, 12, "UDP Conversations")
                    };
                    let (stream, sport, dport) = (
                        nth(col, used[k]),
                        nth(col + 1, used[k]),
                        nth(col + 2, used[k]),
                    );
                    used[k] += 1;
                    if let (false, Some((src, dst))) = (stream.is_empty(), &current) {
                        add(
                            table,
                            stream.to_string(),
                            format!("{src}:{sport}"),
                            format!("{dst}:{dport}"),
                            t,
                            len,
                        );
                    }
                }
                "icmp" | "icmpv6" => break,
                _ => {}
            }
        }
    }
    tables
        .into_iter()
        .map(|(k, v)| (k, v.into_values().collect()))
        .collect()
}

fn parse_sections(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut sections: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("====") {
            current = None;
            continue;
        }
        if line.ends_with("Conversations") || line.ends_with("Endpoints") {
            current = Some(line.trim().to_string());
            sections.entry(line.trim().to_string()).or_default();
            continue;
        }
        if let Some(s) = &current {
            let t = line.trim_start();
            if t.starts_with("Filter:") || t.starts_with('|') || t.is_empty() {
                continue;
            }
            sections.get_mut(s).unwrap().push(line.to_string());
        }
    }
    sections
}

fn parse_conv(line: &str) -> TsharkConv {
    let (a, rest) = line.split_once("<->").expect("conversation line has <->");
    let t: Vec<&str> = rest.split_whitespace().collect();
    assert_eq!(t.len(), 12, "unexpected conversation line: {line}");
    TsharkConv {
        a: a.trim().to_string(),
        b: t[0].to_string(),
        frames_b_to_a: t[1].parse().unwrap(),
        bytes_b_to_a: format!("{} {}", t[2], t[3]),
        frames_a_to_b: t[4].parse().unwrap(),
        bytes_a_to_b: format!("{} {}", t[5], t[6]),
        rel_start: t[10].parse().unwrap(),
        duration: t[11].parse().unwrap(),
    }
}

/// tshark prints `addr:port` without brackets, also for IPv6.
fn endpoint(ip: std::net::IpAddr, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("{ip}:{p}"),
        None => ip.to_string(),
    }
}

fn compare(path: &Path) {
    let name = path.display().to_string();
    let analysis = analyze_capture(path, 0, &AnalyzeOptions::default()).expect("analysis");
    let report = Report::build(std::slice::from_ref(&analysis));
    let readable = common::tshark_readable(path);
    // tshark's times are relative to the first frame of the file, which is not the
    // earliest when time goes backwards (a clock stepped back, merged taps).
    let first_frame = common::tshark(&[
        "-n",
        "-r",
        readable.path().to_str().unwrap(),
        "-c",
        "1",
        "-T",
        "fields",
        "-e",
        "frame.time_epoch",
    ]);
    let first_frame: f64 = first_frame.trim().parse().expect("first frame's time");
    let since_first = |t: whohosts::model::Timestamp| t.as_nanos() as f64 / 1e9 - first_frame;
    let out = common::tshark(&[
        "-n",
        "-q",
        "-r",
        readable.path().to_str().unwrap(),
        "-z",
        "conv,tcp",
        "-z",
        "conv,udp",
        "-z",
        "conv,ip",
        "-z",
        "conv,ipv6",
        "-z",
        "endpoints,ip",
        "-z",
        "endpoints,ipv6",
    ]);
    let sections = parse_sections(&out);
    let exact = exact_bytes(readable.path());
    let tables = [
        ("TCP Conversations", Transport::Tcp, false),
        ("UDP Conversations", Transport::Udp, false),
        ("IPv4 Conversations", Transport::Ip, false),
        ("IPv6 Conversations", Transport::Ip, true),
    ];
    let mut compared = 0;
    for (title, transport, v6) in tables {
        let theirs: Vec<TsharkConv> = sections
            .get(title)
            .unwrap_or_else(|| panic!("{name}: tshark printed no {title} table"))
            .iter()
            .map(|l| parse_conv(l))
            .collect();
        let ours: Vec<_> = report
            .conversations
            .iter()
            .filter(|c| {
                c.transport == transport && (transport != Transport::Ip || c.a.ip.is_ipv6() == v6)
            })
            .collect();
        assert_eq!(
            ours.len(),
            theirs.len(),
            "{name}: {title}: whohosts has {} conversations, tshark {}",
            ours.len(),
            theirs.len()
        );
        for t in &theirs {
            let c = ours
                .iter()
                .find(|c| {
                    endpoint(c.a.ip, c.a.port) == t.a
                        && endpoint(c.b.ip, c.b.port) == t.b
                        && (since_first(c.first_seen) - t.rel_start).abs() < 2e-6
                })
                .unwrap_or_else(|| panic!("{name}: {title}: tshark's {} <-> {} (start {}) not found with the same orientation", t.a, t.b, t.rel_start));
            let what = format!("{name}: {title} {} <-> {}", t.a, t.b);
            assert_eq!(c.frames_a_to_b, t.frames_a_to_b, "{what}: frames A->B");
            assert_eq!(c.frames_b_to_a, t.frames_b_to_a, "{what}: frames B->A");
            // tshark's exact figures: the per-frame sums for this conversation, which
            // must round to what its table printed (so they are the same figures)...
            let x = exact
                .get(title)
                .into_iter()
                .flatten()
                .find(|x| x.a == t.a && x.b == t.b && (x.rel_start - t.rel_start).abs() < 2e-6)
                .unwrap_or_else(|| panic!("{what}: no per-frame sums from tshark"));
            assert_eq!(
                (tshark_size(x.bytes_a_to_b), tshark_size(x.bytes_b_to_a)),
                (t.bytes_a_to_b.clone(), t.bytes_b_to_a.clone()),
                "{what}: tshark's per-frame sums disagree with its own table"
            );
            // ...and whohosts's bytes equal them exactly, not just after rounding.
            assert_eq!(c.bytes_a_to_b, x.bytes_a_to_b, "{what}: bytes A->B");
            assert_eq!(c.bytes_b_to_a, x.bytes_b_to_a, "{what}: bytes B->A");
            assert!(
                (c.duration - t.duration).abs() <= 0.000051,
                "{what}: duration {} vs tshark {}",
                c.duration,
                t.duration
            );
            compared += 1;
        }
    }
    for (title, v6) in [("IPv4 Endpoints", false), ("IPv6 Endpoints", true)] {
        let theirs = sections
            .get(title)
            .unwrap_or_else(|| panic!("{name}: tshark printed no {title} table"));
        let ours: Vec<_> = report
            .endpoints
            .iter()
            .filter(|e| e.ip.is_ipv6() == v6)
            .collect();
        assert_eq!(ours.len(), theirs.len(), "{name}: {title}: count");
        for line in theirs {
            let t: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(t.len(), 7, "unexpected endpoint line: {line}");
            let e = ours
                .iter()
                .find(|e| e.ip.to_string() == t[0])
                .unwrap_or_else(|| panic!("{name}: {title}: {} missing", t[0]));
            let n = |i: usize| t[i].parse::<u64>().unwrap();
            assert_eq!(
                (
                    e.frames,
                    e.bytes,
                    e.tx_frames,
                    e.tx_bytes,
                    e.rx_frames,
                    e.rx_bytes
                ),
                (n(1), n(2), n(3), n(4), n(5), n(6)),
                "{name}: {title} {}",
                t[0]
            );
            compared += 1;
        }
    }
    // A capture whose one IP packet is bogus (tshark reads no IP from it, and
    // neither does whohosts) has empty tables on both sides; every other has rows.
    if NO_IP_TO_COUNT.iter().any(|n| name.ends_with(n)) {
        assert_eq!(compared, 0, "{name}: rows where none were expected");
        return;
    }
    assert!(compared > 0, "{name}: nothing compared");
    eprintln!("{name}: {compared} rows agree with tshark");
}

/// Captures with no IP packet tshark counts.
const NO_IP_TO_COUNT: &[&str] = &["/ipv4_invalid_total_length_2.pcap"];

#[test]
fn conversations_and_endpoints_equal_tsharks_on_every_capture() {
    let captures = common::captures();
    assert!(
        captures.len() >= 5 || !common::all_bundled_captures(),
        "captures/ should hold the recorded captures, found {captures:?}"
    );
    for path in captures {
        compare(&path);
    }
}

#[test]
fn tshark_size_matches_its_rounding() {
    assert_eq!(tshark_size(9999), "9999 bytes");
    assert_eq!(tshark_size(10_000), "10 kB");
    assert_eq!(tshark_size(301_136), "301 kB");
    assert_eq!(tshark_size(12_345_678), "12 MB");
}
