//! The real binary, driven as a user would: exit codes, the JSON report and its
//! determinism.

mod common;

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// The binary, with an empty data directory so that results do not depend on feeds
/// imported on this machine.
fn whohosts() -> Command {
    let data = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("empty-data-dir");
    std::fs::create_dir_all(&data).unwrap();
    let mut c = Command::cargo_bin("whohosts").unwrap();
    c.env("WHOHOSTS_DATA_DIR", data);
    c
}

/// `whohosts analyze demo.pcap ARGS --json -`, which must exit 0, as JSON.
fn analyze_demo_json(args: &[&str]) -> serde_json::Value {
    let out = whohosts()
        .arg("analyze")
        .arg(demo())
        .args(args)
        .args(["--json", "-"])
        .assert()
        .code(0);
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn demo() -> PathBuf {
    let p = common::root().join("captures/demo.pcap");
    assert!(p.is_file(), "the demo capture is missing: {}", p.display());
    p
}

#[test]
fn analyze_prints_tables_and_exits_zero_on_a_clean_capture() {
    let out = whohosts().arg("analyze").arg(demo()).assert().code(0);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    for section in ["CAPTURES", "CONVERSATIONS", "ENDPOINTS", "sha256 "] {
        assert!(text.contains(section), "missing {section} in:\n{text}");
    }
}

#[test]
fn json_report_is_versioned_and_byte_identical_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    for p in [&a, &b] {
        whohosts()
            .arg("analyze")
            .arg(demo())
            .arg("--json")
            .arg(p)
            .assert()
            .code(0);
    }
    let (ja, jb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(ja, jb, "same input, same bytes");
    let v: serde_json::Value = serde_json::from_slice(&ja).unwrap();
    assert_eq!(v["schema"], "whohosts.report/2");
    let cap = &v["captures"][0];
    for key in [
        "path",
        "format",
        "link_types",
        "packets",
        "bytes",
        "first_seen",
        "last_seen",
        "sha256",
        "anomalies",
    ] {
        assert!(!cap[key].is_null(), "captures[0].{key} missing");
    }
    let conv = &v["conversations"][0];
    for key in [
        "transport",
        "a",
        "b",
        "frames_a_to_b",
        "bytes_a_to_b",
        "frames_b_to_a",
        "bytes_b_to_a",
        "first_seen",
        "last_seen",
        "first_frame",
    ] {
        assert!(!conv[key].is_null(), "conversations[0].{key} missing");
    }
    assert!(cap["first_seen"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn capture_sha256_equals_sha256sum_of_the_file() {
    let v = analyze_demo_json(&[]);
    let sum = std::process::Command::new("sha256sum")
        .arg(demo())
        .output()
        .unwrap();
    let expected = String::from_utf8_lossy(&sum.stdout);
    assert_eq!(
        v["captures"][0]["sha256"].as_str().unwrap(),
        expected.split_whitespace().next().unwrap()
    );
}

#[test]
fn damaged_capture_exits_one_and_unreadable_input_exits_two() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(demo()).unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 7]).unwrap();
    whohosts().arg("analyze").arg(&cut).assert().code(1);
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a capture").unwrap();
    let out = whohosts().arg("analyze").arg(&text).assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("not a pcap or pcapng capture"), "{err}");
    whohosts()
        .arg("analyze")
        .arg(dir.path().join("missing.pcap"))
        .assert()
        .code(2);
}

#[test]
fn hostile_file_names_are_escaped_in_the_terminal_view() {
    let dir = tempfile::tempdir().unwrap();
    let evil = dir.path().join("x\u{1b}[31m\u{202e}.pcap");
    std::fs::copy(demo(), &evil).unwrap();
    let out = whohosts().arg("analyze").arg(&evil).assert().code(0);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{202e}'),
        "{text}"
    );
    assert!(text.contains("\\x1b[31m\\u{202e}.pcap"), "{text}");
}

#[test]
fn json_to_a_device_writes_through_it_and_leaves_the_device_in_place() {
    whohosts()
        .arg("analyze")
        .arg(demo())
        .args(["--json", "/dev/null"])
        .assert()
        .code(0);
    use std::os::unix::fs::FileTypeExt;
    let m = std::fs::metadata("/dev/null").unwrap();
    assert!(
        m.file_type().is_char_device(),
        "/dev/null must stay a device"
    );
}

#[test]
fn sm3_on_request_comes_from_the_same_read_and_matches_the_evidence_hasher() {
    let v = analyze_demo_json(&["--sm3"]);
    let expected = whohosts::evidence::hash::hash_file(
        &demo(),
        whohosts::evidence::hash::Algorithms::EVIDENCE,
    )
    .unwrap();
    assert_eq!(v["captures"][0]["sm3"].as_str(), expected.sm3.as_deref());
    assert_eq!(
        v["captures"][0]["sha256"].as_str(),
        expected.sha256.as_deref()
    );
}

#[test]
fn no_hash_gives_the_same_analysis_with_a_null_sha256_and_says_so() {
    let mut a = analyze_demo_json(&[]);
    let b = analyze_demo_json(&["--no-hash"]);
    assert!(b["captures"][0]["sha256"].is_null());
    assert_eq!(
        b["captures"][0]["file_size"].as_u64(),
        Some(std::fs::metadata(demo()).unwrap().len())
    );
    a["captures"][0]["sha256"] = serde_json::Value::Null;
    assert_eq!(a, b, "only the hash differs");
    let table = whohosts()
        .arg("analyze")
        .arg(demo())
        .arg("--no-hash")
        .assert()
        .code(0);
    let text = String::from_utf8_lossy(&table.get_output().stdout).into_owned();
    assert!(text.contains("not computed (--no-hash)"), "{text}");
    whohosts()
        .arg("analyze")
        .arg(demo())
        .args(["--no-hash", "--sm3"])
        .assert()
        .code(2);
}

#[test]
fn demo_names_providers_and_regions_offline_from_bundled_data_and_capture_names() {
    let out = whohosts()
        .arg("analyze")
        .arg(demo())
        .args(["--json", "-"])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let services = v["services"].as_array().unwrap();
    let expect = [
        ("dl.mtr-pirate.example", "alibaba", Some("ap-southeast-1")),
        ("api.mtr-pirate.example", "tencent", Some("ap-guangzhou")),
        ("game.mtr-pirate.example", "aws", Some("eu-central-1")),
        ("www.mtr-pirate.example", "cloudflare", None),
    ];
    for (label, provider, region) in expect {
        let s = services
            .iter()
            .find(|s| s["label"] == label)
            .unwrap_or_else(|| panic!("no service {label}"));
        let a = &s["attribution"][0];
        assert_eq!(a["provider"]["id"], provider, "{label}: {a}");
        assert!(
            a["provider"]["source"].is_object(),
            "{label}: provider source"
        );
        assert!(a["asn"]["number"].is_u64(), "{label}: ASN");
        match region {
            Some(r) => {
                assert_eq!(a["region"]["id"], r, "{label}: {a}");
                assert!(a["region"]["source"].is_object(), "{label}: region source");
            }
            None => assert!(
                a["region"]["reason"].is_string(),
                "{label}: unknown region needs a reason"
            ),
        }
    }
    // The data used are listed with their hashes.
    let sources = v["sources"].as_array().unwrap();
    assert!(sources.len() >= 3);
    assert!(sources
        .iter()
        .all(|s| s["sha256"].as_str().is_some_and(|h| h.len() == 64)));
}

#[test]
fn internet_services_rank_first_and_local_traffic_has_its_own_heading() {
    // captures/local.pcap (captures/record-local.sh): a download from an Alibaba
    // Cloud address beside a DHCP broadcast, an SSDP search, an mDNS query and the
    // router's resolver at a private address.
    let local = common::root().join("captures/local.pcap");
    for (capture, internet, locals) in [
        (
            local.clone(),
            vec!["dl.mtr-pirate.example"],
            vec![
                ("255.255.255.255:67", "broadcast", "DHCP"),
                ("192.168.77.1:53", "local", "DNS resolver"),
                ("239.255.255.250:1900", "multicast", "SSDP"),
                ("224.0.0.251:5353", "multicast", "mDNS"),
            ],
        ),
        (
            demo(),
            vec![
                "dl.mtr-pirate.example",
                "api.mtr-pirate.example",
                "www.mtr-pirate.example",
                "game.mtr-pirate.example",
            ],
            vec![("192.0.2.53:53", "special", "DNS resolver")],
        ),
    ] {
        // The terminal: internet services numbered under SERVICES, the rest after
        // them under their own heading, each with what it is and why.
        let out = whohosts().arg("analyze").arg(&capture).assert().code(0);
        let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        let (services, rest) = text
            .split_once("\nLOCAL NETWORK, BROADCAST, MULTICAST AND SPECIAL-PURPOSE")
            .unwrap_or_else(|| panic!("no local heading in\n{text}"));
        let (local_part, _) = rest.split_once("\nCAPTURES").unwrap();
        for (i, name) in internet.iter().enumerate() {
            assert!(
                services.contains(&format!("{:>2}. {name}  ", i + 1)),
                "{name} is not internet service {} in\n{services}",
                i + 1
            );
        }
        for (i, (label, _, role)) in locals.iter().enumerate() {
            assert!(!services.contains(label), "{label} among internet services");
            let line = format!("L{}. {label}  ", i + 1);
            let at = local_part
                .find(&line)
                .unwrap_or_else(|| panic!("no {line:?} in\n{local_part}"));
            assert!(
                local_part[at..].lines().nth(1).unwrap().contains(role),
                "{label} is not called {role} in\n{local_part}"
            );
        }
        // The JSON keeps them all, internet first, each with its scope.
        let out = whohosts()
            .arg("analyze")
            .arg(&capture)
            .args(["--json", "-"])
            .assert()
            .code(0);
        let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        let got: Vec<(String, String)> = report["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["label"].as_str().unwrap().to_string(),
                    s["scope"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = internet
            .iter()
            .map(|n| (n.to_string(), "internet".to_string()))
            .chain(
                locals
                    .iter()
                    .map(|(l, s, _)| (l.to_string(), s.to_string())),
            )
            .collect();
        assert_eq!(got, want);
    }
}

#[test]
fn csv_files_open_in_a_spreadsheet_and_agree_with_the_json_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("csv");
    let report = analyze_demo_json(&["--csv", out.to_str().unwrap()]);
    let read = |name: &str| -> (Vec<String>, Vec<Vec<String>>) {
        let bytes = std::fs::read(out.join(name)).unwrap();
        assert!(bytes.starts_with("\u{feff}".as_bytes()), "{name}: no BOM");
        assert!(bytes.windows(2).any(|w| w == b"\r\n"), "{name}: not CRLF");
        let mut r = csv::Reader::from_reader(&bytes[3..]);
        let header = r.headers().unwrap().iter().map(str::to_owned).collect();
        let rows = r
            .records()
            .map(|x| x.unwrap().iter().map(str::to_owned).collect())
            .collect();
        (header, rows)
    };
    // Services: internet first, numbered, then the local ones marked L.
    let (header, rows) = read("services.csv");
    assert_eq!(&header[..3], ["rank", "scope", "service"]);
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str(), r[2].as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("1", "internet", "dl.mtr-pirate.example"),
            ("2", "internet", "api.mtr-pirate.example"),
            ("3", "internet", "www.mtr-pirate.example"),
            ("4", "internet", "game.mtr-pirate.example"),
            ("L1", "special", "192.0.2.53:53"),
        ]
    );
    let col = |h: &[String], n: &str| h.iter().position(|x| x == n).unwrap();
    assert_eq!(rows[0][col(&header, "provider")], "Alibaba Cloud");
    assert_eq!(rows[0][col(&header, "region")], "ap-southeast-1");
    assert_eq!(rows[3][col(&header, "region")], "eu-central-1");
    // Conversations and endpoints: every one of the JSON report, with its figures.
    let (header, rows) = read("conversations.csv");
    let conversations = report["conversations"].as_array().unwrap();
    assert_eq!(rows.len(), conversations.len());
    for (row, c) in rows.iter().zip(conversations) {
        for field in [
            "frames_a_to_b",
            "bytes_a_to_b",
            "frames_b_to_a",
            "bytes_b_to_a",
            "first_frame",
        ] {
            assert_eq!(row[col(&header, field)], c[field].to_string(), "{field}");
        }
    }
    let (_, rows) = read("endpoints.csv");
    assert_eq!(rows.len(), report["endpoints"].as_array().unwrap().len());
    let (header, rows) = read("names.csv");
    assert_eq!(
        header,
        [
            "name",
            "service",
            "addresses",
            "sources",
            "strength",
            "frames"
        ]
    );
    assert!(rows
        .iter()
        .any(|r| r[0] == "mtr-pkg.oss-ap-southeast-1.aliyuncs.com"
            && r[2] == "47.236.91.18"
            && r[5] == "1 2"));
    // The demo has no server behind a proxy: no such file.
    assert!(!out.join("proxy_targets.csv").exists());
}

#[test]
fn servers_behind_proxies_get_a_csv_of_their_own_that_agrees_with_the_json_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("csv");
    let o = whohosts()
        .env("WHOHOSTS_DATA_DIR", dir.path().join("no-extra-data"))
        .arg("analyze")
        .arg(common::root().join("captures/proxy-target.pcap"))
        .args(["-q", "--csv", out.to_str().unwrap(), "--json", "-"])
        .assert()
        .code(0);
    let report: serde_json::Value = serde_json::from_slice(&o.get_output().stdout).unwrap();
    let bytes = std::fs::read(out.join("proxy_targets.csv")).unwrap();
    assert!(bytes.starts_with("\u{feff}".as_bytes()));
    let mut r = csv::Reader::from_reader(&bytes[3..]);
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    let col = |n: &str| header.iter().position(|x| x == n).unwrap();
    let rows: Vec<Vec<String>> = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_owned).collect())
        .collect();
    let targets = report["proxy_targets"].as_array().unwrap();
    assert_eq!(rows.len(), targets.len());
    for (row, t) in rows.iter().zip(targets) {
        // The proxies of this capture are IPv4 addresses.
        let proxy = match t["proxy"]["port"].as_u64() {
            Some(port) => format!("{}:{port}", t["proxy"]["ip"].as_str().unwrap()),
            None => t["proxy"]["ip"].as_str().unwrap().to_string(),
        };
        assert_eq!(row[col("address")], t["ip"].as_str().unwrap());
        assert_eq!(row[col("port")], t["port"].to_string());
        assert_eq!(row[col("proxy")], proxy);
        for field in ["requests", "granted", "refused"] {
            assert_eq!(row[col(field)], t[field].to_string(), "{field}");
        }
        assert_eq!(
            row[col("provider")],
            t["provider"]["name"].as_str().unwrap_or("")
        );
        assert_eq!(row[col("region")], t["region"]["id"].as_str().unwrap_or(""));
    }
    let by_address: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r[col("address")].as_str(), r[col("provider")].as_str()))
        .collect();
    assert!(
        by_address.contains(&("47.236.91.18", "Alibaba Cloud")),
        "{by_address:?}"
    );
    assert!(
        by_address.contains(&("43.136.75.21", "Tencent Cloud")),
        "{by_address:?}"
    );
}

#[test]
fn progress_shows_on_a_terminal_only_and_quiet_silences_it() {
    // `script` (util-linux) gives the command a terminal.
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("whohosts");
    let demo = demo();
    let data = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("empty-data-dir");
    let run = |extra: &str| -> String {
        let log = dir.path().join(format!("typescript{extra}"));
        let cmd = format!(
            "WHOHOSTS_DATA_DIR={} {} analyze {} {extra} > /dev/null",
            data.display(),
            bin.display(),
            demo.display()
        );
        let o = std::process::Command::new("script")
            .args(["-qec", &cmd])
            .arg(&log)
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
        String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned()
    };
    assert!(run("").contains("left"), "no progress on a terminal");
    assert!(!run("-q").contains("left"), "--quiet still shows progress");
    // Not a terminal: nothing on standard error.
    let out = whohosts().arg("analyze").arg(demo).assert().code(0);
    assert!(out.get_output().stderr.is_empty());
}

#[test]
fn completions_and_man_pages_come_from_the_command_definitions() {
    let out = whohosts().args(["completions", "bash"]).assert().code(0);
    let script = out.get_output().stdout.clone();
    let text = String::from_utf8_lossy(&script);
    for word in ["analyze", "capture", "session", "--subset", "--html"] {
        assert!(text.contains(word), "{word} not in the bash completions");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("whohosts.bash");
    std::fs::write(&file, &script).unwrap();
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{syntax:?}");
    whohosts().args(["completions", "zsh"]).assert().code(0);
    whohosts().args(["completions", "fish"]).assert().code(0);

    let man = dir.path().join("man");
    whohosts().arg("manpages").arg(&man).assert().code(0);
    for page in [
        "whohosts.1",
        "whohosts-analyze.1",
        "whohosts-session-start.1",
    ] {
        let text = std::fs::read_to_string(man.join(page)).unwrap();
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{page}");
    }
    let analyze = std::fs::read_to_string(man.join("whohosts-analyze.1")).unwrap();
    assert!(
        analyze.contains("subset"),
        "the analyze page lacks --subset"
    );
}

#[test]
fn records_name_the_conversations_client_and_server_whichever_side_sent_them() {
    // A TLS 1.2 certificate and an HTTP response come from the server: their records
    // still name the client as client, and the certificate's names bind to the server.
    let tls12 = common::root().join("captures/tls12.pcap");
    let out = whohosts()
        .arg("analyze")
        .arg(tls12)
        .args(["--json", "-"])
        .assert()
        .code(0);
    let r: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    for t in r["tls"].as_array().unwrap() {
        assert_eq!(t["server"]["ip"], "43.136.75.21", "{t}");
        assert_eq!(t["server"]["port"], 443, "{t}");
    }
    let service = &r["services"][0];
    assert_eq!(service["endpoints"][0]["ip"], "43.136.75.21");
    let sources = &service["hostnames"][0]["sources"];
    assert!(
        sources
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "certificate"),
        "{service}"
    );
    let demo = analyze_demo_json(&[]);
    for h in demo["http"].as_array().unwrap() {
        assert_eq!(h["server"]["ip"], "47.236.91.18", "{h}");
        assert_eq!(h["client"]["ip"], "198.51.100.7", "{h}");
    }
}

/// Issue 30: CI runs exactly the README's test command, and that command checks the
/// formatting and the lints as well as running the tests.
#[test]
fn ci_runs_the_readme_test_command_with_fmt_and_clippy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let two = readme
        .split("## Two commands")
        .nth(1)
        .expect("README has its two commands");
    let blocks: Vec<&str> = two
        .split("```sh\n")
        .skip(1)
        .filter_map(|b| b.split("\n```").next())
        .take(2)
        .collect();
    let test_command = blocks[1].trim();
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    let last = ci.lines().rfind(|l| !l.trim().is_empty()).unwrap().trim();
    assert_eq!(
        last, test_command,
        ".ci/run must run exactly the README's test command"
    );
    for needed in [
        "cargo fmt --check",
        "cargo clippy --all-targets --all-features -- -D warnings",
        "cargo test",
    ] {
        assert!(
            test_command.contains(needed),
            "{needed:?} missing from {test_command:?}"
        );
    }
}
