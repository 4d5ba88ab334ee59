//! The objects HTTP carried, against real peers: `captures/http-objects.pcap` (nginx
//! and curl on loopback, `captures/record-http-objects.sh`) analysed with
//! `--extract`, compared with what `tshark --export-objects http` writes, and the
//! report's account of them (decoding, range stitching, determinism, no file ever
//! replaced).

mod common;

use assert_cmd::Command;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use whohosts::hash::sha256_hex as sha256;

fn whohosts() -> Command {
    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join("empty-data-dir");
    std::fs::create_dir_all(&data).unwrap();
    let mut c = Command::cargo_bin("whohosts").unwrap();
    c.env("WHOHOSTS_DATA_DIR", data);
    c
}

fn capture() -> PathBuf {
    common::root().join("captures/http-objects.pcap")
}

/// SHA-256 of every file in `dir`, counted (the same bytes may come twice).
fn hashes(dir: &Path) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        *m.entry(sha256(&std::fs::read(&p).unwrap())).or_default() += 1;
    }
    m
}

fn analyze(args: &[&str]) -> (Value, Vec<u8>) {
    let out = whohosts()
        .arg("analyze")
        .arg(capture())
        .args(args)
        .args(["--json", "-", "-q"])
        .assert()
        .code(0);
    let bytes = out.get_output().stdout.clone();
    (serde_json::from_slice(&bytes).unwrap(), bytes)
}

#[test]
fn every_object_tshark_exports_is_extracted_with_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    let (report, _) = analyze(&["--extract", ours.to_str().unwrap()]);
    common::tshark(&[
        "-r",
        capture().to_str().unwrap(),
        "--export-objects",
        &format!("http,{}", theirs.display()),
    ]);
    let ours_h = hashes(&ours);
    let theirs_h = hashes(&theirs);
    assert!(theirs_h.len() >= 4, "tshark exported {theirs_h:?}");
    for (h, n) in &theirs_h {
        assert!(
            ours_h.get(h).is_some_and(|m| m >= n),
            "tshark exported {n} object(s) with SHA-256 {h} that whohosts did not extract: {ours_h:?}"
        );
    }
    // Each file is the object the report lists, under its `file` name.
    let objects = report["objects"].as_array().unwrap();
    for o in objects {
        let file = ours.join(o["file"].as_str().unwrap());
        assert_eq!(sha256(&std::fs::read(&file).unwrap()), o["sha256"], "{o}");
    }
    assert_eq!(report["extract"]["objects"], objects.len());
}

#[test]
fn the_report_decodes_gzip_stitches_ranges_and_skips_bodiless_responses() {
    let (report, bytes) = analyze(&["--objects"]);
    let objects = report["objects"].as_array().unwrap();
    let ids: Vec<u64> = objects.iter().map(|o| o["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (1..=objects.len() as u64).collect::<Vec<_>>());
    let by_url = |suffix: &str| -> Vec<&Value> {
        objects
            .iter()
            .filter(|o| o["url"].as_str().unwrap().ends_with(suffix))
            .collect()
    };
    // nginx sent the page gzip-compressed and chunked.
    let page = by_url("/index.html");
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["content_encoding"], "gzip");
    assert!(page[0]["size"].as_u64() > page[0]["wire_size"].as_u64());
    assert_eq!(page[0]["complete"], true);
    assert_eq!(page[0]["url"], "http://dl.objects.example:18089/index.html");
    // The whole file, two 206 parts, and the object stitched from them, which has
    // the whole file's bytes.
    let apk = by_url("/pkg/game.apk");
    let whole: Vec<_> = apk
        .iter()
        .filter(|o| o["status"] == 200 && o.get("parts").is_none())
        .collect();
    let parts: Vec<_> = apk.iter().filter(|o| o["status"] == 206).collect();
    let stitched: Vec<_> = apk.iter().filter(|o| o.get("parts").is_some()).collect();
    assert_eq!(
        (whole.len(), parts.len(), stitched.len()),
        (1, 2, 1),
        "{apk:?}"
    );
    assert_eq!(stitched[0]["sha256"], whole[0]["sha256"]);
    assert_eq!(stitched[0]["complete"], true);
    assert_eq!(stitched[0]["size"], 150_000);
    let part_ids: Vec<&Value> = parts.iter().map(|p| &p["id"]).collect();
    assert_eq!(
        stitched[0]["parts"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        part_ids
    );
    assert_eq!(parts[0]["range"]["first"], 0);
    assert_eq!(parts[1]["range"]["total"], 150_000);
    // HEAD and 304 answers carry no body: not objects.
    assert!(objects.iter().all(|o| o["status"] != 304));
    assert_eq!(by_url("/readme.txt").len(), 1);
    // Same input, byte-identical report.
    let (_, again) = analyze(&["--objects"]);
    assert_eq!(bytes, again);
    // A cap on the decoded size cuts the page there and says so; the wire hash stands.
    let (capped, _) = analyze(&["--objects", "--max-object-size", "1000"]);
    let cut = capped["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["url"].as_str().unwrap().ends_with("/index.html"))
        .unwrap();
    assert_eq!(cut["size"], 1000);
    assert_eq!(cut["complete"], false);
    assert_eq!(cut["wire_sha256"], page[0]["wire_sha256"]);
    assert!(
        cut["problems"].to_string().contains("compression bomb"),
        "{cut}"
    );
}

#[test]
fn extracting_again_into_the_same_directory_replaces_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("x");
    analyze(&["--extract", dir.to_str().unwrap()]);
    let first = hashes(&dir);
    let name = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&name, b"planted").unwrap();
    let out = whohosts()
        .arg("analyze")
        .arg(capture())
        .args(["--extract", dir.to_str().unwrap(), "--json", "-", "-q"])
        .assert()
        .code(0);
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["extract"]["objects"], 0);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("refusing to replace"));
    assert_eq!(std::fs::read(&name).unwrap(), b"planted");
    // Nothing left behind but the files of the first run.
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        first.values().sum::<usize>()
    );
}

#[test]
fn a_segment_missing_from_the_capture_is_a_recorded_problem_of_its_object() {
    let (report, _) = analyze(&["--objects"]);
    let whole = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| {
            o["url"].as_str().unwrap().ends_with("/pkg/game.apk")
                && o["status"] == 200
                && o.get("parts").is_none()
        })
        .unwrap()
        .clone();
    let frames: Vec<u64> = whole["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_u64().unwrap())
        .collect();
    assert!(frames.len() >= 3, "{whole}");
    // A frame in the middle of the body, dropped with editcap.
    let drop = frames[frames.len() - 2];
    let tmp = tempfile::tempdir().unwrap();
    let cut = tmp.path().join("cut.pcap");
    let o = std::process::Command::new("editcap")
        .arg(capture())
        .arg(&cut)
        .arg(drop.to_string())
        .output()
        .expect("editcap (Debian package wireshark-common)");
    assert!(o.status.success());
    let out = whohosts()
        .arg("analyze")
        .arg(&cut)
        .args(["--objects", "--json", "-", "-q"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cut_obj = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["first_frame"] == whole["first_frame"])
        .unwrap();
    assert_eq!(cut_obj["complete"], false, "{cut_obj}");
    let problems = cut_obj["problems"].to_string();
    assert!(problems.contains("never seen"), "{problems}");
    assert_ne!(cut_obj["sha256"], whole["sha256"]);
}

#[test]
fn inside_a_case_objects_go_to_its_objects_folder_under_custody() {
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    let o = whohosts()
        .args(["case", "new"])
        .arg(&case)
        .args([
            "--id",
            "OB-1",
            "--title",
            "Objects",
            "--rights-holder",
            "Example Games",
        ])
        .args(["--operator", "Li Wei"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A DIR besides --case is refused: the case decides where objects go.
    let o = whohosts()
        .arg("analyze")
        .arg(capture())
        .args(["--extract", "elsewhere", "--case"])
        .arg(&case)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let o = whohosts()
        .arg("analyze")
        .arg(capture())
        .arg("--case")
        .arg(&case)
        .args(["--extract", "--json", "-", "-q"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["extract"]["dir"], "objects");
    let log = std::fs::read_to_string(case.join("custody.jsonl")).unwrap();
    let entry: Value = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["action"] == "objects")
        .expect("an objects entry in custody");
    // The session names its environment record too.
    let files: Vec<&Value> = entry["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["path"].as_str().unwrap().starts_with("objects/"))
        .collect();
    assert_eq!(files.len(), report["objects"].as_array().unwrap().len());
    for (f, o) in files.iter().zip(report["objects"].as_array().unwrap()) {
        assert_eq!(
            f["path"],
            format!("objects/{}", o["file"].as_str().unwrap())
        );
        assert_eq!(f["sha256"], o["sha256"]);
        let bytes = std::fs::read(case.join(f["path"].as_str().unwrap())).unwrap();
        assert_eq!(sha256(&bytes), o["sha256"]);
    }
    // Sealed, the case verifies with the objects in it.
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
