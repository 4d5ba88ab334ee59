//! The JSON report's written schema (`schema/report.schema.json`) holds for the
//! reports of every capture in `captures/`, checked by a real validator (Debian's
//! python3-jsonschema), which also refuses a report with a field renamed.

mod common;

use std::path::Path;
use std::process::Command;

const VALIDATE: &str = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
bad = 0
for path in sys.argv[2:]:
    for e in v.iter_errors(json.load(open(path))):
        bad += 1
        print(f"{path}: /{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}")
sys.exit(1 if bad else 0)
"#;

fn validate(files: &[&Path]) -> (bool, String) {
    let o = Command::new("/usr/bin/python3")
        .args(["-c", VALIDATE])
        .arg(common::root().join("schema/report.schema.json"))
        .args(files)
        .output()
        .expect("/usr/bin/python3 with jsonschema (Debian python3-jsonschema)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

#[test]
fn every_report_of_the_recorded_captures_holds_to_the_written_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join("empty-data-dir");
    std::fs::create_dir_all(&data).unwrap();
    let mut reports = Vec::new();
    for (i, capture) in common::captures().iter().enumerate() {
        let out = tmp.path().join(format!("{i}.json"));
        let o = Command::new(env!("CARGO_BIN_EXE_whohosts"))
            .env("WHOHOSTS_DATA_DIR", &data)
            .arg("analyze")
            .arg(capture)
            .arg("--json")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.code().is_some_and(|c| c <= 1), "{capture:?}");
        reports.push(out);
    }
    // All captures in one report, too, with --sm3, --objects and a target.
    let all = tmp.path().join("all.json");
    let o = Command::new(env!("CARGO_BIN_EXE_whohosts"))
        .env("WHOHOSTS_DATA_DIR", &data)
        .arg("analyze")
        .args(common::captures())
        .args([
            "--sm3",
            "--objects",
            "--target",
            "*.mtr-pirate.example",
            "--json",
        ])
        .arg(&all)
        .output()
        .unwrap();
    assert!(o.status.code().is_some_and(|c| c <= 1));
    reports.push(all.clone());
    let paths: Vec<&Path> = reports.iter().map(|p| p.as_path()).collect();
    let (ok, text) = validate(&paths);
    assert!(ok, "{text}");

    // A service that groups addresses of several captures under one label gives
    // each of its names only the addresses the evidence binds it to: never none,
    // never one outside the service.
    let mut report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&all).unwrap()).unwrap();
    let mut narrower = 0;
    let mut several_ports = 0;
    for s in report["services"].as_array().unwrap() {
        let eps: std::collections::BTreeSet<&str> = s["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["ip"].as_str().unwrap())
            .collect();
        for h in s["hostnames"].as_array().unwrap() {
            let ips: std::collections::BTreeSet<&str> = h["addresses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            assert!(!ips.is_empty() && ips.is_subset(&eps), "{s}");
            narrower += usize::from(ips.len() < eps.len());
        }
        // Each address of the endpoints is attributed once, however many ports
        // it serves on.
        let attributed: Vec<&str> = s["attribution"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["ip"].as_str().unwrap())
            .collect();
        let distinct: std::collections::BTreeSet<&str> = attributed.iter().copied().collect();
        assert_eq!(distinct, eps, "{s}");
        assert_eq!(distinct.len(), attributed.len(), "{s}");
        several_ports += usize::from(s["endpoints"].as_array().unwrap().len() > eps.len());
    }
    assert!(narrower > 0, "no name bound to only part of its service");
    assert!(
        several_ports > 0,
        "no service with an address on several ports"
    );

    // A renamed field is refused, naming the place.
    let service = report["services"][0].as_object_mut().unwrap();
    let label = service.remove("label").unwrap();
    service.insert("name".into(), label);
    let renamed = tmp.path().join("renamed.json");
    std::fs::write(&renamed, serde_json::to_vec(&report).unwrap()).unwrap();
    let (ok, text) = validate(&[&renamed]);
    assert!(!ok);
    assert!(text.contains("/services/0"), "{text}");
}
