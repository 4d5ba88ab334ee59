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
    assert_eq!(v["schema"], "whohosts.report/1");
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
