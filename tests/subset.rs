//! Court-exhibit subsets (`analyze --subset`) against tshark on the original: the
//! frames of the targeted service's display filter and the DNS exchanges that named
//! it, byte for byte, each commented with its original frame number.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn whohosts() -> Command {
    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join("empty-data-dir");
    std::fs::create_dir_all(&data).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_whohosts"));
    c.env("WHOHOSTS_DATA_DIR", data);
    c
}

/// Every frame of a capture: (number, time in ns, wire length, bytes).
fn frames(path: &Path) -> Vec<(u64, i128, u32, Vec<u8>)> {
    let mut opened = whohosts::capture::open(path, 0, whohosts::hash::Algorithms::NONE).unwrap();
    let mut v = Vec::new();
    while let Some(f) = opened.reader.next_frame() {
        v.push((f.number, f.ts.as_nanos(), f.wire_len, f.data.to_vec()));
    }
    v
}

/// The frames tshark selects with `filter`, and those they depend on: the frames
/// that carried the fragments of a datagram reassembled in a selected one.
fn tshark_frames(path: &Path, filter: &str) -> BTreeSet<u64> {
    common::tshark(&[
        "-r",
        path.to_str().unwrap(),
        "-Y",
        filter,
        "-T",
        "fields",
        "-E",
        "separator=,",
        "-e",
        "frame.number",
        "-e",
        "ip.fragment",
        "-e",
        "ipv6.fragment",
    ])
    .lines()
    .flat_map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>())
    .filter(|n| !n.trim().is_empty())
    .map(|n| n.trim().parse().unwrap())
    .collect()
}

#[test]
fn a_subset_holds_exactly_the_services_frames_and_their_dns_as_tshark_selects_them() {
    let tmp = tempfile::tempdir().unwrap();
    for (capture, target) in [
        ("captures/demo.pcap", "dl.mtr-pirate.example"),
        ("captures/demo.pcap", "*.mtr-pirate.example"),
        ("captures/ipv6.pcap", "api.mtr-pirate.example"),
        ("captures/local.pcap", "47.236.91.18"),
        // A TLS server's hello and certificate in two outer IP fragments of a
        // VXLAN packet: both frames are copied.
        ("captures/frag-vxlan.pcap", "dl.mtr-pirate.example"),
        // Every TCP segment longer than 552 bytes in outer GRE fragments.
        ("captures/encap-grefrag.pcap", "*.mtr-pirate.example"),
        // A DNS answer's first IPv4 fragment cut by the snap length: read as it
        // is, without the later fragments it could not be reassembled with.
        ("captures/frag-cut.pcap", "192.0.2.53"),
        // 802.11 A-MSDUs: a frame is copied when any of its subframes matches.
        ("captures/encap-amsdu.pcap", "www.mtr-pirate.example"),
        // VXLAN-GPE, IPv4 and IPv6 inside.
        ("captures/encap-vxlan-gpe.pcap", "*.mtr-pirate.example"),
        // ERSPAN type III made live by Open vSwitch.
        ("captures/encap-ovs-erspan3.pcap", "*.mtr-pirate.example"),
    ] {
        let original = common::root().join(capture);
        let subset = tmp
            .path()
            .join(format!("{}.pcapng", target.replace('*', "all")));
        let _ = std::fs::remove_file(&subset);
        let o = whohosts()
            .arg("analyze")
            .arg(&original)
            .args(["--target", target, "--json", "-", "--subset"])
            .arg(&subset)
            .output()
            .unwrap();
        // 1: done, with anomalies recorded (frag-cut.pcap's cut fragments); 0
        // for every other capture here.
        let expected = if capture.ends_with("frag-cut.pcap") {
            1
        } else {
            0
        };
        assert_eq!(
            o.status.code(),
            Some(expected),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        // What tshark selects with the services' own filters, and the DNS frames the
        // report cites for their names.
        let mut want = BTreeSet::new();
        for s in report["services"].as_array().unwrap() {
            want.extend(tshark_frames(
                &original,
                s["wireshark_filter"].as_str().unwrap(),
            ));
            for h in s["hostnames"].as_array().unwrap() {
                let dns = h["sources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x == "dns_answer" || x == "dns_cname");
                if dns {
                    let cited: Vec<String> = h["frames"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|f| f["frame"].to_string())
                        .collect();
                    want.extend(tshark_frames(
                        &original,
                        &format!("frame.number in {{{}}}", cited.join(", ")),
                    ));
                }
            }
        }
        assert!(!want.is_empty(), "{capture} {target}");
        // The subset's packet comments name the original frames, in order.
        let comments: Vec<u64> = common::tshark(&[
            "-r",
            subset.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "frame.comment",
        ])
        .lines()
        .map(|l| {
            l.trim()
                .strip_prefix("frame ")
                .and_then(|r| r.split_once(" of "))
                .unwrap_or_else(|| panic!("comment {l:?}"))
                .0
                .parse()
                .unwrap()
        })
        .collect();
        assert_eq!(
            comments.iter().copied().collect::<BTreeSet<_>>(),
            want,
            "{capture} {target}"
        );
        assert!(comments.windows(2).all(|w| w[0] < w[1]), "out of order");
        // Byte for byte, with the original times and lengths.
        let all = frames(&original);
        let copied = frames(&subset);
        assert_eq!(copied.len(), comments.len());
        for (c, n) in copied.iter().zip(&comments) {
            let o = &all[*n as usize - 1];
            assert_eq!((c.1, c.2, &c.3), (o.1, o.2, &o.3), "frame {n}");
        }
        // The section names the source and its hash; the hash printed is the file's.
        let info = Command::new("capinfos").arg(&subset).output().unwrap();
        let info = String::from_utf8_lossy(&info.stdout);
        let sha = report["captures"][0]["sha256"].as_str().unwrap();
        assert!(info.contains(&format!("(SHA-256 {sha})")), "{info}");
        let sum = Command::new("sha256sum").arg(&subset).output().unwrap();
        let sum = String::from_utf8_lossy(&sum.stdout);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            stderr.contains(&format!("SHA-256 {}", &sum[..64])),
            "{stderr}"
        );
    }
}

#[test]
fn a_subset_never_replaces_a_file_and_needs_a_target() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = common::root().join("captures/demo.pcap");
    let out = tmp.path().join("exhibit.pcapng");
    std::fs::write(&out, b"evidence").unwrap();
    let o = whohosts()
        .arg("analyze")
        .arg(&demo)
        .args(["--target", "dl.mtr-pirate.example", "--subset"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("never replaces"));
    assert_eq!(std::fs::read(&out).unwrap(), b"evidence");
    let o = whohosts()
        .arg("analyze")
        .arg(&demo)
        .arg("--subset")
        .arg(tmp.path().join("new.pcapng"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!tmp.path().join("new.pcapng").exists());
}

#[test]
fn inside_a_case_the_subset_is_a_new_exhibit_under_custody_and_the_case_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    let demo = common::root().join("captures/demo.pcap");
    let o = whohosts()
        .args(["case", "new"])
        .arg(&case)
        .args([
            "--id",
            "MT-1",
            "--title",
            "MT",
            "--rights-holder",
            "Example Games",
            "--operator",
            "Li Wei",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = whohosts()
        .arg("analyze")
        .arg(&demo)
        .args(["--target", "dl.mtr-pirate.example", "--case"])
        .arg(&case)
        .args(["--subset", "dl-exhibit.pcapng"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let exhibit = case.join("exhibits/dl-exhibit.pcapng");
    let sum = Command::new("sha256sum").arg(&exhibit).output().unwrap();
    let sum = String::from_utf8_lossy(&sum.stdout)[..64].to_string();
    let log = std::fs::read_to_string(case.join("custody.jsonl")).unwrap();
    let entry: serde_json::Value = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["action"] == "subset")
        .expect("a subset entry in custody");
    assert_eq!(entry["files"][0]["path"], "exhibits/dl-exhibit.pcapng");
    assert_eq!(entry["files"][0]["sha256"], sum.as_str());
    assert_eq!(entry["details"]["sources"][0]["frames"], 43);
    // The same name again is refused; the exhibit stays as it was.
    let o = whohosts()
        .arg("analyze")
        .arg(&demo)
        .args(["--target", "*.mtr-pirate.example", "--case"])
        .arg(&case)
        .args(["--subset", "dl-exhibit.pcapng"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let again = Command::new("sha256sum").arg(&exhibit).output().unwrap();
    assert_eq!(&String::from_utf8_lossy(&again.stdout)[..64], sum);
    // Sealed, the case verifies with the exhibit in it (no time-stamp: exit 1, only
    // "not yet anchored").
    let o = whohosts()
        .args(["case", "seal"])
        .arg(&case)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = whohosts().arg("verify").arg(&case).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.code().is_some_and(|c| c <= 1), "{out}");
    assert!(!out.contains("DIFFER"), "{out}");
}
