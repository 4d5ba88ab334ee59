//! Evidence packages end to end, driving the real `whohosts` binary, with a real
//! time-stamp authority: a test CA and TSA certificate made by the `openssl` CLI in a
//! temporary directory, replies made by `openssl ts -reply` (also served over HTTP on
//! 127.0.0.1 for `case seal --tsa URL`).

mod common;

use assert_cmd::Command;
use common::tsa::{openssl, serve, Tsa};
use std::path::{Path, PathBuf};
use std::process::Command as Process;

fn whohosts() -> Command {
    Command::cargo_bin("whohosts").unwrap()
}

/// A case with two captures, sealed once; with a TSA, its reply imported.
fn sealed_case(tsa: Option<&Tsa>) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    let demo = tmp.path().join("demo.pcap");
    let other = tmp.path().join("second.pcap");
    std::fs::write(
        &demo,
        (0..5000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::write(&other, b"second capture").unwrap();
    whohosts()
        .args(["case", "new"])
        .arg(&case)
        .args([
            "--id",
            "BJ-2026-001",
            "--title",
            "Pirate <MT> & co",
            "--rights-holder",
        ])
        .args([
            "Locojoy",
            "--operator",
            "Li Lei",
            "--notary",
            "Beijing Notary Office",
        ])
        .args(["--notary-cert", "(2026) Jing Zheng 0001", "--tz", "+08:00"])
        .assert()
        .success();
    whohosts()
        .args(["case", "add"])
        .arg(&case)
        .arg(&demo)
        .arg(&other)
        .assert()
        .success();
    whohosts()
        .args(["case", "seal"])
        .arg(&case)
        .assert()
        .success();
    if let Some(tsa) = tsa {
        let reply = tmp.path().join("reply.tsr");
        tsa.reply(&case.join("timestamps/manifest-v1.tsq"), &reply);
        whohosts()
            .args(["case", "timestamp", "import"])
            .arg(&case)
            .arg(&reply)
            .assert()
            .success();
    }
    (tmp, case)
}

/// Runs `verify` and returns (exit code, stdout).
fn verify(case: &Path, tsa: Option<&Tsa>) -> (i32, String) {
    let mut cmd = whohosts();
    cmd.arg("verify").arg(case);
    if let Some(t) = tsa {
        cmd.args(t.verify_args());
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn assert_fails_naming(case: &Path, tsa: Option<&Tsa>, needle: &str) {
    let (code, out) = verify(case, tsa);
    assert_eq!(code, 3, "verify should fail with exit 3:\n{out}");
    assert!(out.contains(needle), "expected {needle:?} in:\n{out}");
}

fn custody_lines(case: &Path) -> Vec<String> {
    std::fs::read_to_string(case.join("custody.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_custody(case: &Path, lines: &[String]) {
    std::fs::write(case.join("custody.jsonl"), lines.join("\n") + "\n").unwrap();
}

#[test]
fn sealed_case_with_openssl_tsa_reply_verifies_and_interoperates() {
    let tsa = Tsa::new("Test");
    let (_tmp, case) = sealed_case(Some(&tsa));
    let (code, out) = verify(&case, Some(&tsa));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("time-stamp v1: granted"), "{out}");
    assert!(out.contains("signed by CN=Test TSA (serial 02"), "{out}");
    assert!(out.contains("trusted: chains to CN=Test Root CA"), "{out}");
    assert!(out.contains("custody.jsonl lines 1..4: anchored"), "{out}");
    // Without a trust anchor the signature still checks, but the TSA is nobody in
    // particular: not verified.
    let (code, out) = verify(&case, None);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("time-stamp signature valid but TSA not trusted: CN=Test TSA"),
        "{out}"
    );
    // openssl accepts our request and the stored reply.
    openssl(
        &case,
        &[
            "ts",
            "-verify",
            "-queryfile",
            "timestamps/manifest-v1.tsq",
            "-in",
            "timestamps/manifest-v1.tsr",
            "-CAfile",
            tsa.path("ca.pem").to_str().unwrap(),
            "-untrusted",
            tsa.path("tsa.pem").to_str().unwrap(),
        ],
    );
    // And the seal statement we time-stamped is the one openssl hashes.
    openssl(
        &case,
        &[
            "ts",
            "-verify",
            "-data",
            "timestamps/seal-v1.json",
            "-in",
            "timestamps/manifest-v1.tsr",
            "-CAfile",
            tsa.path("ca.pem").to_str().unwrap(),
            "-untrusted",
            tsa.path("tsa.pem").to_str().unwrap(),
        ],
    );
}

#[test]
fn ecdsa_p256_tsa_token_verifies() {
    let tsa = Tsa::with_tsa_key(
        "Ec",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    let (_tmp, case) = sealed_case(Some(&tsa));
    let (code, out) = verify(&case, Some(&tsa));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("signed by CN=Ec TSA"), "{out}");
    let cert = std::fs::read_to_string(tsa.path("tsa.pem")).unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
    let text = Process::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(tsa.path("tsa.pem"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("id-ecPublicKey"));
}

#[test]
fn gen_time_with_fractional_seconds_and_sha1_ess_cert_id_verifies() {
    let tsa = Tsa::new("Precise");
    // openssl writes genTime with milliseconds when asked (ts(1): clock_precision_digits),
    // and the version 1 (SHA-1) signing-certificate attribute by default.
    let cnf = tsa.path("openssl.cnf");
    let mut text = std::fs::read_to_string(&cnf)
        .unwrap()
        .replace("ess_cert_id_alg = sha256\n", "");
    text.push_str("clock_precision_digits = 3\n");
    std::fs::write(&cnf, text).unwrap();
    let (_tmp, case) = sealed_case(Some(&tsa));
    let (code, out) = verify(&case, Some(&tsa));
    assert_eq!(code, 0, "{out}");
    // DER drops trailing zeros (X.690 §11.7.3), so 1 to 3 digits, or none at .000.
    let gen = out.split("genTime ").nth(1).unwrap_or("");
    let end = gen.find('Z').unwrap_or(0);
    let fraction = gen.get(19..end).unwrap_or("?");
    assert!(
        fraction.is_empty() || (fraction.starts_with('.') && (2..=4).contains(&fraction.len())),
        "{out}"
    );
}

#[test]
fn reply_to_an_independent_request_for_the_manifest_verifies_with_a_note() {
    let tsa = Tsa::new("Web");
    let (tmp, case) = sealed_case(None);
    // As an operator would on a TSA's web page: a fresh request over the manifest file.
    let tsq = tmp.path().join("own.tsq");
    openssl(
        &case,
        &[
            "ts",
            "-query",
            "-data",
            "timestamps/seal-v1.json",
            "-sha256",
            "-cert",
            "-out",
            tsq.to_str().unwrap(),
        ],
    );
    let reply = tmp.path().join("own.tsr");
    tsa.reply(&tsq, &reply);
    whohosts()
        .args(["case", "timestamp", "import"])
        .arg(&case)
        .arg(&reply)
        .assert()
        .success();
    let (code, out) = verify(&case, Some(&tsa));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("answers another request for the same seal statement"),
        "{out}"
    );
}

#[test]
fn token_for_another_hash_is_refused_on_import_and_fails_verify_when_swapped_in() {
    let tsa = Tsa::new("Test");
    let (tmp, case) = sealed_case(Some(&tsa));
    let other = tmp.path().join("other.bin");
    std::fs::write(&other, b"not the manifest").unwrap();
    let tsq = tmp.path().join("other.tsq");
    openssl(
        tmp.path(),
        &[
            "ts",
            "-query",
            "-data",
            "other.bin",
            "-sha256",
            "-cert",
            "-out",
            "other.tsq",
        ],
    );
    let reply = tmp.path().join("other.tsr");
    tsa.reply(&tsq, &reply);
    let out = whohosts()
        .args(["case", "timestamp", "import"])
        .arg(&case)
        .arg(&reply)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("message imprint"));
    // Replacing the stored reply is caught by its imprint.
    std::fs::remove_file(case.join("timestamps/manifest-v1.tsr")).unwrap();
    std::fs::copy(&reply, case.join("timestamps/manifest-v1.tsr")).unwrap();
    assert_fails_naming(
        &case,
        Some(&tsa),
        "timestamps/manifest-v1.tsr: message imprint",
    );
    let (_, out) = verify(&case, Some(&tsa));
    assert!(
        out.contains("does not match timestamps/seal-v1.json"),
        "{out}"
    );
}

#[test]
fn token_from_another_ca_fails_verification() {
    let ours = Tsa::new("Ours");
    let theirs = Tsa::new("Theirs");
    let (tmp, case) = sealed_case(None);
    let reply = tmp.path().join("theirs.tsr");
    theirs.reply(&case.join("timestamps/manifest-v1.tsq"), &reply);
    whohosts()
        .args(["case", "timestamp", "import"])
        .arg(&case)
        .arg(&reply)
        .assert()
        .success();
    // Checked against our TSA certificate: signed by someone else.
    assert_fails_naming(
        &case,
        Some(&ours),
        "timestamps/manifest-v1.tsr: token signed by issuer CN=Theirs Root CA",
    );
    // Their certificate, but our CA: it chains to no anchor we trust.
    let out = whohosts()
        .arg("verify")
        .arg(&case)
        .arg("--tsa-cert")
        .arg(theirs.path("tsa.pem"))
        .arg("--tsa-ca")
        .arg(ours.path("ca.pem"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("timestamps/manifest-v1.tsr: time-stamp signature valid but TSA not trusted: CN=Theirs TSA (serial 02, issued by CN=Theirs Root CA)"),
        "{text}"
    );
    // And with their own chain it verifies.
    assert_eq!(verify(&case, Some(&theirs)).0, 0);
}

#[test]
fn seal_with_tsa_url_fetches_and_stores_the_reply_over_http() {
    let tsa = Tsa::new("Http");
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    whohosts()
        .args(["case", "new"])
        .arg(&case)
        .args([
            "--id",
            "C2",
            "--title",
            "t",
            "--rights-holder",
            "r",
            "--operator",
            "o",
        ])
        .assert()
        .success();
    let (url, server) = serve(&tsa, 1);
    let out = whohosts()
        .args(["case", "seal"])
        .arg(&case)
        .args(["--tsa", &url])
        .output()
        .unwrap();
    assert_eq!(server.join().unwrap(), Ok(()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("time-stamp reply: timestamps/manifest-v1.tsr genTime"),
        "{stdout}"
    );
    let (code, out) = verify(&case, Some(&tsa));
    assert_eq!(code, 0, "{out}");
    // The seal is the last line: the reply stamps it, so nothing follows unanchored.
    let log = custody_lines(&case);
    assert!(log.last().unwrap().contains("\"action\":\"seal\""));
    assert!(case.join("timestamps/manifest-v1.tsr").exists());
}

#[test]
fn unreachable_tsa_leaves_a_verifiable_case_with_the_request() {
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    whohosts()
        .args(["case", "new"])
        .arg(&case)
        .args([
            "--id",
            "C3",
            "--title",
            "t",
            "--rights-holder",
            "r",
            "--operator",
            "o",
        ])
        .assert()
        .success();
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    let out = whohosts()
        .args(["case", "seal"])
        .arg(&case)
        .args(["--tsa", "http://127.0.0.1:1/"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sealed, but the time-stamp failed"));
    assert!(case.join("timestamps/manifest-v1.tsq").exists());
    // Nothing differs, but nothing outside the case fixes the log: not fully verified.
    let (code, out) = verify(&case, None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("time-stamp v1: request only"), "{out}");
    assert!(out.contains("failed (recorded in custody)"), "{out}");
    assert!(
        out.contains("UNANCHORED: not yet anchored: custody.jsonl lines 1..3"),
        "{out}"
    );
}

#[test]
fn flipping_one_byte_of_any_file_is_named() {
    let tsa = Tsa::new("Test");
    let (_tmp, pristine) = sealed_case(Some(&tsa));
    // The reply vouches for itself by its signature; the bytes the TSA does not sign
    // are covered by the corrupted-token test below.
    let files: Vec<String> = walk(&pristine)
        .into_iter()
        .filter(|p| p != "custody.jsonl" && !p.ends_with(".tsr"))
        .collect();
    assert!(files.len() >= 10, "{files:?}");
    for rel in files {
        let copy = tempfile::tempdir().unwrap();
        let case = copy.path().join("case");
        copy_dir(&pristine, &case);
        let path = case.join(&rel);
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        std::fs::write(&path, bytes).unwrap();
        // Files recorded by hash are named with it; the seal statement and its request
        // are checked field by field and by imprint.
        let needle = if rel.starts_with("timestamps/") {
            rel.clone()
        } else {
            format!("{rel}: sha256 expected")
        };
        assert_fails_naming(&case, Some(&tsa), &needle);
    }
}

#[test]
fn flipped_capture_byte_names_file_and_both_digests() {
    let (_tmp, case) = sealed_case(None);
    let path = case.join("captures/demo.pcap");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0x80;
    std::fs::write(&path, bytes).unwrap();
    assert_fails_naming(&case, None, "captures/demo.pcap: sha256 expected");
    assert_fails_naming(&case, None, "captures/demo.pcap: sm3 expected");
    assert_fails_naming(&case, None, "(recorded in manifests/manifest-v1.json)");
    // Sealing again is refused while the case does not verify.
    let out = whohosts()
        .args(["case", "seal"])
        .arg(&case)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not verify"));
}

#[test]
fn deleted_custody_line_is_named() {
    let (_tmp, case) = sealed_case(None);
    let mut lines = custody_lines(&case);
    lines.remove(1);
    write_custody(&case, &lines);
    assert_fails_naming(&case, None, "custody.jsonl line 2: seq expected 2 found 3");
    assert_fails_naming(&case, None, "custody.jsonl line 2: prev hash expected");
}

#[test]
fn truncated_custody_log_leaves_its_files_unaccounted() {
    let tsa = Tsa::new("Test");
    let (_tmp, case) = sealed_case(Some(&tsa));
    let mut lines = custody_lines(&case);
    let last = lines.pop().unwrap();
    assert!(last.contains("\"action\":\"seal\""));
    write_custody(&case, &lines);
    assert_fails_naming(
        &case,
        Some(&tsa),
        "file not recorded in the custody log: manifests/manifest-v1.json",
    );
}

#[test]
fn reordered_custody_lines_are_named() {
    let (_tmp, case) = sealed_case(None);
    let mut lines = custody_lines(&case);
    lines.swap(1, 2);
    write_custody(&case, &lines);
    assert_fails_naming(&case, None, "custody.jsonl line 2: seq expected 2 found 3");
    assert_fails_naming(&case, None, "custody.jsonl line 3: seq expected 3 found 2");
}

#[test]
fn edited_custody_line_is_named_at_its_own_line_issue_27() {
    let (_tmp, case) = sealed_case(None);
    let mut lines = custody_lines(&case);
    // Line 3 is the last entry before the seal: the manifest's custody head.
    lines[2] = lines[2].replace("\"actor\":\"Li Lei\"", "\"actor\":\"Someone Else\"");
    assert_ne!(lines[2], custody_lines(&case)[2]);
    write_custody(&case, &lines);
    let (code, out) = verify(&case, None);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("custody.jsonl line 3: content changed: line 4 recorded its hash as"),
        "{out}"
    );
    assert!(!out.contains("custody.jsonl line 4:"), "{out}");
    assert!(
        out.contains("manifests/manifest-v1.json: custody head (custody.jsonl line 3)"),
        "{out}"
    );
    // A broken log is never appended to, and nothing is written beside it.
    let before = walk(&case);
    let out = whohosts()
        .args(["case", "sheet"])
        .arg(&case)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let extra = case.parent().unwrap().join("demo.pcap");
    let out = whohosts()
        .args(["case", "add"])
        .arg(&case)
        .arg(&extra)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("custody log does not verify"));
    assert_eq!(walk(&case), before);
}

/// Rewrites custody lines from `from` (0-based) on with a fresh chain, as someone
/// with write access and this tool's format knowledge could.
fn rechain(lines: &mut [String], from: usize) {
    for i in from..lines.len() {
        let prev = whohosts::evidence::hash::sha256_hex(lines[i - 1].as_bytes());
        let mut v: serde_json::Value = serde_json::from_str(&lines[i]).unwrap();
        v["prev"] = serde_json::Value::String(prev);
        lines[i] = serde_json::to_string(&v).unwrap();
    }
}

#[test]
fn gen_time_outside_the_custody_window_is_named() {
    let tsa = Tsa::new("Test");
    let (_tmp, case) = sealed_case(Some(&tsa));
    let mut lines = custody_lines(&case);
    let seal = lines
        .iter()
        .position(|l| l.contains("\"action\":\"seal\""))
        .unwrap();
    // Claim the seal happened a day later than the TSA says it saw the request.
    let mut v: serde_json::Value = serde_json::from_str(&lines[seal]).unwrap();
    v["time_utc"] = serde_json::Value::String("2099-01-01T00:00:00.000000000Z".into());
    lines[seal] = serde_json::to_string(&v).unwrap();
    rechain(&mut lines, seal + 1);
    write_custody(&case, &lines);
    assert_fails_naming(&case, Some(&tsa), "timestamps/manifest-v1.tsr: genTime ");
    let (_, out) = verify(&case, Some(&tsa));
    assert!(
        out.contains(&format!(
            "precedes the seal it stamps (custody.jsonl line {}, 2099-01-01T00:00:00",
            seal + 1
        )),
        "{out}"
    );
    assert!(out.contains("allowing 300 s"), "{out}");
}

#[test]
fn added_and_removed_files_are_named() {
    let (_tmp, case) = sealed_case(None);
    std::fs::write(case.join("captures/extra.pcap"), b"x").unwrap();
    std::fs::remove_file(case.join("captures/second.pcap")).unwrap();
    assert_fails_naming(&case, None, "file added since seal v1: captures/extra.pcap");
    assert_fails_naming(&case, None, "file missing: captures/second.pcap");
}

#[test]
fn planted_symlink_is_named_and_never_followed() {
    let (_tmp, case) = sealed_case(None);
    std::os::unix::fs::symlink("/dev/zero", case.join("captures/endless.pcap")).unwrap();
    assert_fails_naming(
        &case,
        None,
        "not a plain file (symbolic link or special file): captures/endless.pcap",
    );
    let out = whohosts()
        .args(["case", "seal"])
        .arg(&case)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sealed_case_grows_by_new_versions_and_refuses_overwrites() {
    let (tmp, case) = sealed_case(None);
    let v1 = std::fs::read(case.join("manifests/manifest-v1.json")).unwrap();
    let late = tmp.path().join("late.pcap");
    std::fs::write(&late, b"late capture").unwrap();
    whohosts()
        .args(["case", "add"])
        .arg(&case)
        .arg(&late)
        .assert()
        .success();
    let (code, out) = verify(&case, None);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("captures/late.pcap: recorded after the newest seal"),
        "{out}"
    );
    // The same name again is refused, the case untouched.
    let out = whohosts()
        .args(["case", "add"])
        .arg(&case)
        .arg(&late)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("captures/late.pcap exists"));
    whohosts()
        .args(["case", "seal"])
        .arg(&case)
        .assert()
        .success();
    assert_eq!(
        std::fs::read(case.join("manifests/manifest-v1.json")).unwrap(),
        v1
    );
    let v2 = std::fs::read_to_string(case.join("manifests/manifest-v2.json")).unwrap();
    assert!(v2.contains("\"path\": \"captures/late.pcap\""));
    assert!(v2.contains("\"path\": \"manifests/manifest-v1.json\""));
    assert_eq!(verify(&case, None).0, 1);
    // A new case is refused in a non-empty directory.
    let out = whohosts()
        .args(["case", "new"])
        .arg(&case)
        .args([
            "--id",
            "x",
            "--title",
            "t",
            "--rights-holder",
            "r",
            "--operator",
            "o",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn custody_entries_record_time_clock_tool_machine_and_environment() {
    let (_tmp, case) = sealed_case(None);
    let lines = custody_lines(&case);
    let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(first["seq"], 1);
    assert_eq!(first["prev"], "0".repeat(64));
    assert!(first["time_local"].as_str().unwrap().ends_with("+08:00"));
    assert_eq!(
        first["clock_source"]["clock"],
        "system clock (CLOCK_REALTIME)"
    );
    assert_eq!(first["tool"]["binary_sha256"].as_str().unwrap().len(), 64);
    let env_path = first["environment"]["path"].as_str().unwrap();
    let env: serde_json::Value =
        serde_json::from_slice(&std::fs::read(case.join(env_path)).unwrap()).unwrap();
    assert_eq!(env["resolv_conf"]["path"], "/etc/resolv.conf");
    assert!(env["hosts_file"]["sha256"].is_string());
    let add: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(add["action"], "file.add");
    assert_eq!(
        add["details"]["source_sha256"],
        add["details"]["copy_sha256"]
    );
    assert_eq!(add["details"]["source_sm3"], add["details"]["copy_sm3"]);
}

#[test]
fn notary_sheet_lists_files_with_both_hashes_escaped() {
    let (_tmp, case) = sealed_case(None);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(case.join("manifests/manifest-v1.json")).unwrap())
            .unwrap();
    let demo = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "captures/demo.pcap")
        .unwrap();
    let html = std::fs::read_to_string(case.join("sheets/sheet-v1.html")).unwrap();
    let md = std::fs::read_to_string(case.join("sheets/sheet-v1.md")).unwrap();
    for text in [&html, &md] {
        assert!(text.contains(demo["sha256"].as_str().unwrap()));
        assert!(text.contains(demo["sm3"].as_str().unwrap()));
    }
    assert!(html.contains("(2026) Jing Zheng 0001"));
    assert!(md.contains("(2026) Jing Zheng 0001"), "{md}");
    assert!(html.contains("Pirate &lt;MT&gt; &amp; co"));
    assert!(md.contains("Pirate \\<MT\\> &amp; co"), "{md}");
    // A second sheet gets a new name; the first is untouched.
    whohosts()
        .args(["case", "sheet"])
        .arg(&case)
        .assert()
        .success();
    assert!(case.join("sheets/sheet-v1-r2.html").exists());
    assert_eq!(
        std::fs::read_to_string(case.join("sheets/sheet-v1.html")).unwrap(),
        html
    );
    // The revision is a custody line after the seal: anchored by the next seal only.
    let (code, out) = verify(&case, None);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("not yet anchored: custody.jsonl lines 1..5 "),
        "{out}"
    );
}

// GB/T 32905-2016 Appendix A example 1 and FIPS 180-4 "abc".
#[test]
fn single_file_verify_checks_sha256_and_sm3() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("abc.txt");
    std::fs::write(&f, b"abc").unwrap();
    whohosts()
        .arg("verify")
        .arg(&f)
        .args([
            "--sha256",
            "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
        ])
        .args([
            "--sm3",
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
        ])
        .assert()
        .code(0);
    let out = whohosts()
        .arg("verify")
        .arg(&f)
        .args([
            "--sm3",
            "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!(
        "{}: sm3 expected debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732 found 66c7f0f4",
        f.display()
    )), "{text}");
}

fn walk(root: &Path) -> Vec<String> {
    fn go(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                go(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_str().unwrap().to_string());
            }
        }
    }
    let mut out = Vec::new();
    go(root, root, &mut out);
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    for rel in walk(from) {
        let dst = to.join(&rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&rel), dst).unwrap();
    }
}

#[test]
fn real_token_truncated_or_corrupted_anywhere_is_an_error_not_a_panic() {
    use whohosts::evidence::tsp;
    let tsa = Tsa::new("Fuzz");
    let (_tmp, case) = sealed_case(Some(&tsa));
    let reply = std::fs::read(case.join("timestamps/manifest-v1.tsr")).unwrap();
    let statement = std::fs::read(case.join("timestamps/seal-v1.json")).unwrap();
    let hash = whohosts::evidence::hash::sha256_hex(&statement);
    let cert = tsp::load_certificate(&std::fs::read(tsa.path("tsa.pem")).unwrap()).unwrap();
    assert!(tsp::verify(&reply, &hash, Some(&cert), None).is_ok());
    for len in 0..reply.len() {
        assert!(
            tsp::verify(&reply[..len], &hash, Some(&cert), None).is_err(),
            "prefix {len}"
        );
    }
    // Flipping any single byte must never panic, and must fail unless the byte lies in
    // a field nothing signs: the status (granted vs granted with modifications), the
    // SignedData digestAlgorithms set (the SignerInfo names its own), the SignerInfo's
    // unsigned parts. About a dozen bytes of some 1500 in openssl's replies.
    let mut accepted = Vec::new();
    for i in 0..reply.len() {
        let mut bad = reply.clone();
        bad[i] ^= 0x01;
        // With --tsa-cert, the embedded certificate copy is not used: only no panic.
        let _ = tsp::verify(&bad, &hash, Some(&cert), None);
        if tsp::verify(&bad, &hash, None, None).is_ok() {
            accepted.push(i);
        }
    }
    assert!(accepted.len() <= 32, "flips accepted at {accepted:?}");
}

/// Issue 27's attacks: each fails with the place named and a non-zero exit.
#[test]
fn tail_edit_of_an_anchored_case_is_named_at_the_seal_line() {
    let tsa = Tsa::new("Test");
    let (_tmp, case) = sealed_case(Some(&tsa));
    assert_eq!(verify(&case, Some(&tsa)).0, 0);
    let mut lines = custody_lines(&case);
    let last = lines.len() - 1;
    lines[last] = lines[last].replace("\"actor\":\"Li Lei\"", "\"actor\":\"Someone Else\"");
    assert_ne!(lines[last], custody_lines(&case)[last]);
    write_custody(&case, &lines);
    assert_fails_naming(
        &case,
        Some(&tsa),
        "custody.jsonl line 4: content changed after seal v1 anchored it: timestamps/seal-v1.json records sha256",
    );
}

#[test]
fn removed_reply_leaves_the_log_unanchored_and_verify_non_zero() {
    let tsa = Tsa::new("Test");
    let (_tmp, case) = sealed_case(Some(&tsa));
    std::fs::remove_file(case.join("timestamps/manifest-v1.tsr")).unwrap();
    let (code, out) = verify(&case, Some(&tsa));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("time-stamp v1: request only"), "{out}");
    assert!(
        out.contains("either none was imported yet or it was removed"),
        "{out}"
    );
    assert!(
        out.contains("UNANCHORED: not yet anchored: custody.jsonl lines 1..4"),
        "{out}"
    );
    assert!(!out.contains("verified: no differences"), "{out}");
}

#[test]
fn removed_reply_of_an_online_seal_is_a_named_difference() {
    let tsa = Tsa::new("Http");
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    whohosts()
        .args(["case", "new"])
        .arg(&case)
        .args([
            "--id",
            "C9",
            "--title",
            "t",
            "--rights-holder",
            "r",
            "--operator",
            "o",
        ])
        .assert()
        .success();
    let (url, server) = serve(&tsa, 1);
    whohosts()
        .args(["case", "seal"])
        .arg(&case)
        .args(["--tsa", &url])
        .assert()
        .success();
    assert_eq!(server.join().unwrap(), Ok(()));
    assert_eq!(verify(&case, Some(&tsa)).0, 0);
    std::fs::remove_file(case.join("timestamps/manifest-v1.tsr")).unwrap();
    assert_fails_naming(
        &case,
        Some(&tsa),
        "file missing: timestamps/manifest-v1.tsr (seal v1 at custody.jsonl line 2 asked http://127.0.0.1:",
    );
}

#[test]
fn reply_swapped_with_another_genuine_reply_of_the_same_tsa_is_named() {
    let tsa = Tsa::new("Test");
    let (_a, case) = sealed_case(Some(&tsa));
    let (_b, other) = sealed_case(Some(&tsa));
    std::fs::remove_file(case.join("timestamps/manifest-v1.tsr")).unwrap();
    std::fs::copy(
        other.join("timestamps/manifest-v1.tsr"),
        case.join("timestamps/manifest-v1.tsr"),
    )
    .unwrap();
    assert_fails_naming(
        &case,
        Some(&tsa),
        "timestamps/manifest-v1.tsr: message imprint",
    );
}

#[test]
fn self_made_tsa_named_like_a_real_one_is_not_trusted() {
    // A TSA of one's own, named as a public one; nothing vouches for its CA.
    let fake = Tsa::new("DigiCert Timestamp 2024");
    let (tmp, case) = sealed_case(None);
    let reply = tmp.path().join("fake.tsr");
    fake.reply(&case.join("timestamps/manifest-v1.tsq"), &reply);
    whohosts()
        .args(["case", "timestamp", "import"])
        .arg(&case)
        .arg(&reply)
        .assert()
        .success();
    let (code, out) = verify(&case, None);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("UNTRUSTED: timestamps/manifest-v1.tsr: time-stamp signature valid but TSA not trusted: CN=DigiCert Timestamp 2024 TSA"),
        "{out}"
    );
    assert!(
        out.contains("not yet anchored: custody.jsonl lines 1..4"),
        "{out}"
    );
    // The sheet written now names the TSA and says it is not trusted.
    whohosts()
        .args(["case", "sheet"])
        .arg(&case)
        .assert()
        .success();
    let md = std::fs::read_to_string(case.join("sheets/sheet-v1-r2.md")).unwrap();
    assert!(md.contains("NOT trusted"), "{md}");
    assert!(md.contains("DigiCert Timestamp 2024 TSA"), "{md}");
    // Trusting its CA in the case (recorded in custody) makes it trusted.
    whohosts()
        .args(["case", "add"])
        .arg(&case)
        .arg(fake.path("ca.pem"))
        .args(["--kind", "trusted-tsa"])
        .assert()
        .success();
    let out = whohosts().arg("verify").arg(&case).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "trusted: chains to CN=DigiCert Timestamp 2024 Root CA (trusted-tsa.pem in the case)"
        ),
        "{text}"
    );
}

#[test]
fn edit_of_line_2_is_named_at_line_2() {
    let (_tmp, case) = sealed_case(None);
    let mut lines = custody_lines(&case);
    lines[1] = lines[1].replace("\"actor\":\"Li Lei\"", "\"actor\":\"Someone Else\"");
    write_custody(&case, &lines);
    assert_fails_naming(
        &case,
        None,
        "custody.jsonl line 2: content changed: line 3 recorded its hash as",
    );
}

/// One reply shape made by `openssl ts -reply`: config lines added, request options.
fn import_shape(extra_config: &str, query: &[&str], cert_in_token: bool) {
    let tsa = Tsa::new("Shape");
    let cnf = tsa.path("openssl.cnf");
    let mut text = std::fs::read_to_string(&cnf).unwrap();
    for line in extra_config.lines() {
        let key = line.split('=').next().unwrap().trim();
        text = text
            .lines()
            .filter(|l| !l.starts_with(&format!("{key} ")))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(&cnf, text).unwrap();
    let (tmp, case) = sealed_case(None);
    let tsq = tmp.path().join("q.tsq");
    let mut args = vec!["ts", "-query", "-data", "timestamps/seal-v1.json"];
    args.extend_from_slice(query);
    args.extend_from_slice(&["-out", tsq.to_str().unwrap()]);
    openssl(&case, &args);
    let reply = tmp.path().join("r.tsr");
    tsa.reply(&tsq, &reply);
    // openssl accepts it...
    let mut check = vec![
        "ts".to_string(),
        "-verify".into(),
        "-data".into(),
        "timestamps/seal-v1.json".into(),
        "-in".into(),
        reply.display().to_string(),
        "-CAfile".into(),
        tsa.path("ca.pem").display().to_string(),
    ];
    if !cert_in_token {
        check.extend([
            "-untrusted".into(),
            tsa.path("tsa.pem").display().to_string(),
        ]);
    }
    let refs: Vec<&str> = check.iter().map(String::as_str).collect();
    openssl(&case, &refs);
    // ...and so do import and verify.
    let out = whohosts()
        .args(["case", "timestamp", "import"])
        .arg(&case)
        .arg(&reply)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{extra_config} {query:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, out) = verify(&case, Some(&tsa));
    assert_eq!(code, 0, "{extra_config} {query:?}: {out}");
}

#[test]
fn every_reply_openssl_accepts_imports_issue_27() {
    // The TSA certificate listed twice (`certs` names it, certReq adds it again).
    import_shape("certs = tsa.pem", &["-sha256", "-cert"], true);
    // The full chain (TSA and CA certificates) in the token, with ESSCertIDs for both.
    import_shape(
        "certs = ca.pem\ness_cert_id_chain = yes",
        &["-sha256", "-cert"],
        true,
    );
    // No certificate in the token: the examiner gives it.
    import_shape("", &["-sha256"], false);
    // SHA-384 and SHA-512 imprints; ESSCertIDv2 (SHA-256) is the helper's default.
    import_shape(
        "digests = sha256, sha384, sha512",
        &["-sha384", "-cert"],
        true,
    );
    import_shape(
        "digests = sha256, sha384, sha512",
        &["-sha512", "-cert"],
        true,
    );
}

#[test]
fn anchor_values_from_elsewhere_are_checked_issue_31() {
    let (_tmp, case) = sealed_case(None);
    let lines = custody_lines(&case);
    let head = whohosts::evidence::hash::sha256_hex(lines.last().unwrap().as_bytes());
    let md = std::fs::read_to_string(case.join("sheets/sheet-v1.md")).unwrap();
    assert!(
        md.contains(&head),
        "the sheet prints the value for the certificate"
    );
    let out = whohosts()
        .arg("verify")
        .arg(&case)
        .args(["--anchor", &head])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("--anchor {head}: custody.jsonl line 4")),
        "{text}"
    );
    let wrong = "ab".repeat(32);
    let out = whohosts()
        .arg("verify")
        .arg(&case)
        .args(["--anchor", &wrong])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains(&format!("--anchor {wrong}: matches no custody line")),
        "{text}"
    );
}

#[test]
fn other_evidence_goes_under_custody_by_kind_issue_31() {
    let (tmp, case) = sealed_case(None);
    let mut expected = Vec::new();
    for (kind, folder) in [
        ("attachment", "attachments"),
        ("certificate", "certificates"),
        ("recording", "recordings"),
        ("receipt", "receipts"),
    ] {
        let f = tmp.path().join(format!("{kind}.pdf"));
        std::fs::write(&f, kind.as_bytes()).unwrap();
        whohosts()
            .args(["case", "add"])
            .arg(&case)
            .arg(&f)
            .args(["--kind", kind])
            .assert()
            .success();
        expected.push(format!("{folder}/{kind}.pdf"));
    }
    let log = custody_lines(&case).join("\n");
    for p in &expected {
        assert!(case.join(p).is_file(), "{p}");
        assert!(log.contains(&format!("\"copy\":\"{p}\"")), "{p}");
    }
    assert!(log.contains("\"kind\":\"attachment\""));
    whohosts()
        .args(["case", "seal"])
        .arg(&case)
        .assert()
        .success();
    let (code, out) = verify(&case, None);
    assert_eq!(code, 1, "unanchored only: {out}");
    let m = std::fs::read_to_string(case.join("manifests/manifest-v2.json")).unwrap();
    for p in &expected {
        assert!(m.contains(p.as_str()), "{p}");
    }
    let out = whohosts()
        .args(["case", "add"])
        .arg(&case)
        .arg(tmp.path().join("receipt.pdf"))
        .args(["--kind", "photo"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn verify_without_anything_to_compare_is_not_a_success_issue_30() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("abc.txt");
    std::fs::write(&f, b"abc").unwrap();
    let out = whohosts().arg("verify").arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("verified"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to compare"));
}

#[test]
fn verify_escapes_names_from_the_case_issue_30() {
    let (_tmp, case) = sealed_case(None);
    // A planted file whose name would clear the screen and reverse the line.
    std::fs::write(case.join("captures/\u{1b}[2J\u{202e}evil.pcap"), b"x").unwrap();
    let (code, out) = verify(&case, None);
    assert_eq!(code, 3, "{out}");
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{202e}'),
        "{out:?}"
    );
    assert!(out.contains("captures/\\x1b[2J\\u{202e}evil.pcap"), "{out}");
}

#[test]
fn capture_shifted_into_the_future_fails_naming_both_times_issue_31() {
    let tsa = Tsa::new("Test");
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    let shifted = tmp.path().join("shifted.pcap");
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/demo.pcap");
    // 30 days ahead, as `editcap -t` shifts every packet.
    let out = Process::new("editcap")
        .args(["-t", "2592000"])
        .arg(&demo)
        .arg(&shifted)
        .output()
        .expect("editcap (wireshark-common) must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    whohosts()
        .args(["case", "new"])
        .arg(&case)
        .args([
            "--id",
            "T1",
            "--title",
            "t",
            "--rights-holder",
            "r",
            "--operator",
            "o",
        ])
        .assert()
        .success();
    whohosts()
        .args(["case", "add"])
        .arg(&case)
        .arg(&demo)
        .arg(&shifted)
        .assert()
        .success();
    // Sealing goes ahead (the seal fixes the files as they are) and warns.
    let out = whohosts()
        .args(["case", "seal"])
        .arg(&case)
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("times out of order (verify will fail): captures/shifted.pcap"),
        "{err}"
    );
    let reply = tmp.path().join("r.tsr");
    tsa.reply(&case.join("timestamps/manifest-v1.tsq"), &reply);
    whohosts()
        .args(["case", "timestamp", "import"])
        .arg(&case)
        .arg(&reply)
        .assert()
        .success();
    let (code, out) = verify(&case, Some(&tsa));
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("captures/shifted.pcap: last packet at ")
            && out.contains("is later than the genTime ")
            && out.contains("of timestamps/manifest-v1.tsr (seal v1 lists the file)"),
        "{out}"
    );
    assert!(
        out.contains(
            "is later than the custody entry that recorded the file (custody.jsonl line 3, "
        ),
        "{out}"
    );
    // The genuine capture is in order.
    assert!(!out.contains("captures/demo.pcap: last packet"), "{out}");
}

/// Recomputes a bag's manifests after a change, as an attacker who knows BagIt would.
fn rebag(bag: &Path) {
    use whohosts::hash::{hash_file, Algorithms};
    let mut sha = String::new();
    let mut sm3 = String::new();
    let (mut bytes, mut count) = (0u64, 0usize);
    for rel in walk(&bag.join("data")) {
        let d = hash_file(&bag.join("data").join(&rel), Algorithms::EVIDENCE).unwrap();
        bytes += d.size;
        count += 1;
        sha += &format!("{}  data/{rel}\n", d.sha256.unwrap());
        sm3 += &format!("{}  data/{rel}\n", d.sm3.unwrap());
    }
    for (name, text) in [("manifest-sha256.txt", &sha), ("manifest-sm3.txt", &sm3)] {
        std::fs::write(bag.join(name), text).unwrap();
    }
    let info = std::fs::read_to_string(bag.join("bag-info.txt")).unwrap();
    let info: String = info
        .lines()
        .map(|l| {
            if l.starts_with("Payload-Oxum:") {
                format!("Payload-Oxum: {bytes}.{count}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(bag.join("bag-info.txt"), info).unwrap();
    let mut tags = String::new();
    for name in [
        "bagit.txt",
        "bag-info.txt",
        "manifest-sha256.txt",
        "manifest-sm3.txt",
        "VERIFY.md",
        "verify.sh",
    ] {
        let bytes = std::fs::read(bag.join(name)).unwrap();
        tags += &format!("{}  {name}\n", whohosts::evidence::hash::sha256_hex(&bytes));
    }
    std::fs::write(bag.join("tagmanifest-sha256.txt"), tags).unwrap();
}

fn run_bag_script(bag: &Path, tsa: &Tsa) -> (i32, String) {
    let out = Process::new("sh")
        .arg(bag.join("verify.sh"))
        .arg("--tsa-ca")
        .arg(tsa.path("ca.pem"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn exported_bag_validates_and_its_script_catches_tampering_issue_27() {
    let tsa = Tsa::new("Test");
    let (tmp, case) = sealed_case(Some(&tsa));
    let bag = tmp.path().join("bag");
    let out = whohosts()
        .args(["case", "export"])
        .arg(&case)
        .arg(&bag)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = std::fs::read_to_string(bag.join("bag-info.txt")).unwrap();
    for needle in [
        "External-Identifier: BJ-2026-001",
        "Source-Organization: Locojoy",
        "Whohosts-Notarial-Certificate: (2026) Jing Zheng 0001",
        "Whohosts-Custody-Head: custody.jsonl line 4 sha256 ",
        "Payload-Oxum: ",
    ] {
        assert!(info.contains(needle), "{needle:?} missing:\n{info}");
    }
    // A BagIt validator (bagit from PyPI) accepts it...
    let v = Process::new("python3")
        .args(["-m", "bagit", "--validate"])
        .arg(&bag)
        .output()
        .expect("python3 with bagit (pip install bagit) must be installed");
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    // ...and so does the bundled script, with openssl, sha256sum and python3 alone.
    let (code, text) = run_bag_script(&bag, &tsa);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("bag verified"), "{text}");
    // The bag's hash, kept elsewhere, anchors a case sealed without a time-stamp.
    let (plain_tmp, plain) = sealed_case(None);
    let plain_bag = plain_tmp.path().join("bag");
    let out = whohosts()
        .args(["case", "export"])
        .arg(&plain)
        .arg(&plain_bag)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let bag_sha = stdout
        .split("bag sha256 (of tagmanifest-sha256.txt): ")
        .nth(1)
        .and_then(|s| s.get(..64))
        .unwrap_or_else(|| panic!("{stdout}"))
        .to_string();
    assert_eq!(verify(&plain_bag.join("data"), None).0, 1);
    let out = whohosts()
        .arg("verify")
        .arg(plain_bag.join("data"))
        .args(["--anchor", &bag_sha])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("the bag's tagmanifest-sha256.txt (binds custody.jsonl up to line 4"),
        "{text}"
    );
    // Exporting again onto the same place is refused.
    let again = whohosts()
        .args(["case", "export"])
        .arg(&case)
        .arg(&bag)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));

    let tampered = |name: &str, change: &dyn Fn(&Path), rebagged: bool, needle: &str| {
        let copy = tmp.path().join(name);
        copy_dir(&bag, &copy);
        change(&copy);
        if rebagged {
            rebag(&copy);
        }
        let (code, text) = run_bag_script(&copy, &tsa);
        assert_eq!(code, 1, "{name}: {text}");
        assert!(text.contains(needle), "{name}: {needle:?} missing:\n{text}");
        let v = Process::new("python3")
            .args(["-m", "bagit", "--validate"])
            .arg(&copy)
            .output()
            .unwrap();
        assert_eq!(v.status.success(), rebagged, "{name}: bagit");
    };
    // A flipped byte: the manifests catch it.
    tampered(
        "flipped",
        &|b| {
            let p = b.join("data/captures/demo.pcap");
            let mut bytes = std::fs::read(&p).unwrap();
            bytes[10] ^= 1;
            std::fs::write(&p, bytes).unwrap();
        },
        false,
        "payload files differ from manifest-sha256.txt",
    );
    // A custody edit with the bag's manifests made anew: the chain catches it.
    tampered(
        "custody",
        &|b| {
            let p = b.join("data/custody.jsonl");
            let text = std::fs::read_to_string(&p).unwrap();
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            lines[1] = lines[1].replace("\"actor\":\"Li Lei\"", "\"actor\":\"Someone Else\"");
            std::fs::write(&p, lines.join("\n") + "\n").unwrap();
        },
        true,
        "custody.jsonl line 3: prev expected",
    );
    // Another genuine reply of the same TSA swapped in, manifests made anew: openssl
    // ts -verify catches it.
    let (_other_tmp, other) = sealed_case(Some(&tsa));
    tampered(
        "swapped",
        &|b| {
            std::fs::copy(
                other.join("timestamps/manifest-v1.tsr"),
                b.join("data/timestamps/manifest-v1.tsr"),
            )
            .unwrap();
        },
        true,
        "data/timestamps/manifest-v1.tsr: openssl ts -verify -data data/timestamps/seal-v1.json fails",
    );
}

#[test]
fn notary_sheet_is_chinese_first_with_every_field_in_both_formats_issue_27() {
    let tsa = Tsa::new("Sheet");
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/demo.pcap");
    whohosts()
        .args(["case", "new"])
        .arg(&case)
        .args([
            "--id",
            "BJ-2026-002",
            "--title",
            "《我叫MT畅爽版》",
            "--rights-holder",
        ])
        .args([
            "乐动卓越",
            "--operator",
            "李雷",
            "--notary",
            "北京市方圆公证处",
        ])
        .args([
            "--notary-cert",
            "(2026)京方圆内经证字第0002号",
            "--tz",
            "+08:00",
        ])
        .assert()
        .success();
    whohosts()
        .args(["case", "add"])
        .arg(&case)
        .arg(&demo)
        .assert()
        .success();
    let (url, server) = serve(&tsa, 1);
    whohosts()
        .args(["case", "seal"])
        .arg(&case)
        .args(["--tsa", &url])
        .assert()
        .success();
    assert_eq!(server.join().unwrap(), Ok(()));
    whohosts()
        .args(["case", "sheet"])
        .arg(&case)
        .assert()
        .success();
    let log = custody_lines(&case);
    let seal_line = &log[log
        .iter()
        .position(|l| l.contains("\"action\":\"seal\""))
        .unwrap()];
    let head = whohosts::evidence::hash::sha256_hex(seal_line.as_bytes());
    let manifest = std::fs::read(case.join("manifests/manifest-v1.json")).unwrap();
    let msha = whohosts::evidence::hash::sha256_hex(&manifest);
    for name in [
        "sheet-v1.md",
        "sheet-v1.html",
        "sheet-v1-r2.md",
        "sheet-v1-r2.html",
    ] {
        let text = std::fs::read_to_string(case.join("sheets").join(name)).unwrap();
        let zh = text.find("证据摘要表").unwrap();
        let en = text.find("Evidence summary").unwrap();
        assert!(zh < en, "{name}: Chinese first");
        for needle in [
            "BJ-2026-002",
            "乐动卓越",
            "北京市方圆公证处",
            "(2026)京方圆内经证字第0002号",
            "取证时间段 ",
            "Capture period",
            "UTC 2026-",
            "+08:00 (抓包文件中首个与最后一个数据包 first and last packet of the captures)",
            msha.as_str(),
            head.as_str(),
            "Custody head (write this into the notarial certificate)",
            "whohosts binary SHA-256",
            "操作人签名",
            "Operator's signature",
            "公证员签名",
            "Notary's signature",
            "盖章",
            "openssl dgst -sm3",
            "openssl ts -verify -data timestamps/seal-v1.json",
        ] {
            assert!(text.contains(needle), "{name}: {needle:?} missing:\n{text}");
        }
    }
    // The revision, written after the reply, names the TSA and says it is trusted only
    // when it is (this test CA is in no trust list).
    let r2 = std::fs::read_to_string(case.join("sheets/sheet-v1-r2.md")).unwrap();
    assert!(
        r2.contains("TSA CN=Sheet TSA (serial 02, issued by CN=Sheet Root CA)"),
        "{r2}"
    );
    assert!(r2.contains("NOT trusted"), "{r2}");
    let html = std::fs::read_to_string(case.join("sheets/sheet-v1.html")).unwrap();
    assert!(html.contains("@page{size:A4"), "printable on A4");
    // One language alone, on request.
    for (lang, has, lacks) in [
        ("en", "Evidence summary", "证据摘要表"),
        ("zh-CN", "证据摘要表", "Evidence summary"),
    ] {
        let out = whohosts()
            .args(["case", "sheet"])
            .arg(&case)
            .args(["--lang", lang])
            .output()
            .unwrap();
        assert!(out.status.success());
        let path = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| {
                l.strip_prefix("notary sheet: ")
                    .filter(|p| p.ends_with(".md"))
                    .map(str::to_string)
            })
            .unwrap();
        let text = std::fs::read_to_string(case.join(&path)).unwrap();
        assert!(
            text.contains(has) && !text.contains(lacks),
            "{lang}: {text}"
        );
        assert!(text.contains(&head), "{lang}: {text}");
    }
}
