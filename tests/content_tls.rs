//! Objects out of HTTPS, decrypted with the session's key log: the HTTPS captures of
//! `captures/record-tls.sh` (curl and headless Chromium against nginx on loopback,
//! each with the key log its client wrote) analysed with `--keylog` and `--extract`,
//! against tshark with the same key log: every object `tshark --export-objects http`
//! exports (HTTP/1.1) with the same bytes, and for HTTP/2 (which tshark 4.0 does not
//! export) every stream's DATA length as tshark's `http2` fields count it, and the
//! package's bytes as tshark exports them from the HTTP/1.1 recording of the same run. Without the
//! right key, nothing comes out, and the report says why.

mod common;

use assert_cmd::Command;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use whohosts::hash::sha256_hex as sha256;

const H1: &[&str] = &["tls12-h1-ecdsa-aes256", "tls13-h1-chacha"];
const H2: &[&str] = &[
    "tls12-h2-rsa-aes128",
    "tls12-h2-rsa-chacha",
    "tls13-h2-aes128",
    "tls13-h2-aes256",
    "tls13-h2-chromium",
];

fn whohosts() -> Command {
    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join("empty-data-dir");
    std::fs::create_dir_all(&data).unwrap();
    let mut c = Command::cargo_bin("whohosts").unwrap();
    c.env("WHOHOSTS_DATA_DIR", data);
    c
}

fn cap(name: &str) -> PathBuf {
    common::root().join(format!("captures/{name}.pcap"))
}

fn keys(name: &str) -> PathBuf {
    common::root().join(format!("captures/{name}.keys"))
}

fn hashes(dir: &Path) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        *m.entry(sha256(&std::fs::read(&p).unwrap())).or_default() += 1;
    }
    m
}

fn analyze(capture: &Path, args: &[&str]) -> Value {
    let out = whohosts()
        .arg("analyze")
        .arg(capture)
        .args(args)
        .args(["--json", "-", "-q"])
        .assert()
        .code(0);
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[test]
fn https_objects_are_those_tshark_exports_with_the_key_log() {
    for name in H1 {
        let tmp = tempfile::tempdir().unwrap();
        let ours = tmp.path().join("ours");
        let theirs = tmp.path().join("theirs");
        std::fs::create_dir_all(&theirs).unwrap();
        let k = keys(name);
        let report = analyze(
            &cap(name),
            &[
                "--keylog",
                k.to_str().unwrap(),
                "--extract",
                ours.to_str().unwrap(),
            ],
        );
        common::tshark(&[
            "-r",
            cap(name).to_str().unwrap(),
            "-o",
            &format!("tls.keylog_file:{}", k.display()),
            "--export-objects",
            &format!("http,{}", theirs.display()),
            "-q",
        ]);
        let want = hashes(&theirs);
        assert!(!want.is_empty(), "{name}: tshark exported nothing");
        assert_eq!(hashes(&ours), want, "{name}");
        for o in report["objects"].as_array().unwrap() {
            assert_eq!(o["tls"], true, "{name}");
            assert!(o["url"].as_str().unwrap().starts_with("https://"), "{name}");
        }
        let tls = report["tls_decryption"].as_array().unwrap();
        assert!(
            tls.iter().all(|t| t.get("reason").is_none()),
            "{name}: {tls:?}"
        );
    }
}

/// Per HTTP/2 stream, the DATA bytes the server sent, as tshark decrypts and counts
/// them (its DATA frame lengths; these recordings use no padding).
fn tshark_h2_lengths(capture: &Path, k: &Path) -> BTreeMap<u64, u64> {
    let out = common::tshark(&[
        "-r",
        capture.to_str().unwrap(),
        "-o",
        &format!("tls.keylog_file:{}", k.display()),
        "-Y",
        "http2 && tcp.srcport == 443",
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=|",
        "-e",
        "http2.type",
        "-e",
        "http2.streamid",
        "-e",
        "http2.length",
    ]);
    let mut lengths: BTreeMap<u64, u64> = BTreeMap::new();
    for line in out.lines() {
        let f: Vec<Vec<&str>> = line.split('\t').map(|c| c.split('|').collect()).collect();
        let (Some(types), Some(streams), Some(lens)) = (f.first(), f.get(1), f.get(2)) else {
            continue;
        };
        for ((t, s), l) in types.iter().zip(streams).zip(lens) {
            if *t == "0" {
                *lengths.entry(s.parse().unwrap()).or_default() += l.parse::<u64>().unwrap();
            }
        }
    }
    lengths.retain(|_, n| *n > 0);
    lengths
}

/// The package as tshark exports it from the HTTP/1.1 recording of the same run
/// (record-tls.sh serves the same file to every client).
fn package_as_tshark_exports() -> String {
    let tmp = tempfile::tempdir().unwrap();
    let name = "tls13-h1-chacha";
    common::tshark(&[
        "-r",
        cap(name).to_str().unwrap(),
        "-o",
        &format!("tls.keylog_file:{}", keys(name).display()),
        "--export-objects",
        &format!("http,{}", tmp.path().display()),
        "-q",
    ]);
    let apk = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("game.apk"))
        .expect("tshark exports game.apk");
    sha256(&std::fs::read(apk).unwrap())
}

#[test]
fn http2_objects_carry_every_stream_tshark_decrypts() {
    let package = package_as_tshark_exports();
    for name in H2 {
        let tmp = tempfile::tempdir().unwrap();
        let ours = tmp.path().join("ours");
        let k = keys(name);
        let report = analyze(
            &cap(name),
            &[
                "--keylog",
                k.to_str().unwrap(),
                "--extract",
                ours.to_str().unwrap(),
            ],
        );
        let mut want: Vec<u64> = tshark_h2_lengths(&cap(name), &k).into_values().collect();
        want.sort_unstable();
        assert!(!want.is_empty(), "{name}: tshark decrypted no DATA");
        let objects = report["objects"].as_array().unwrap();
        let mut got: Vec<u64> = objects
            .iter()
            .filter_map(|o| o["wire_size"].as_u64())
            .filter(|n| *n > 0)
            .collect();
        got.sort_unstable();
        assert_eq!(got, want, "{name}: DATA bytes per stream");
        for o in objects {
            assert_eq!(o["http_version"], "2", "{name}");
            assert_eq!(o["complete"], true, "{name}: {o}");
        }
        // The package, byte for byte as tshark exports it over HTTP/1.1, extracted
        // under a safe name.
        let apk = objects
            .iter()
            .find(|o| o["url"] == "https://dl.mtr-pirate.example/pkg/game.apk")
            .unwrap_or_else(|| panic!("{name}: no game.apk"));
        let file = ours.join(apk["file"].as_str().unwrap());
        assert_eq!(
            sha256(&std::fs::read(file).unwrap()),
            apk["sha256"].as_str().unwrap()
        );
        // Chromium's recording was made in a run of its own (another random package).
        if !name.ends_with("chromium") {
            assert_eq!(apk["sha256"], package.as_str(), "{name}");
        }
    }
}

#[test]
fn secrets_inside_the_pcapng_open_it_without_a_key_log() {
    let dsb = common::root().join("captures/tls13-h2-dsb.pcapng");
    let with_dsb = analyze(&dsb, &["--objects"]);
    let with_file = analyze(
        &cap("tls13-h2-aes128"),
        &["--keylog", keys("tls13-h2-aes128").to_str().unwrap()],
    );
    let sums = |r: &Value| -> Vec<(String, String)> {
        r["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["url"].as_str().unwrap().to_string(),
                    o["sha256"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(sums(&with_dsb), sums(&with_file));
    assert_eq!(sums(&with_dsb).len(), 3);
}

#[test]
fn without_the_right_key_nothing_is_decrypted_and_the_report_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.keys");
    std::fs::write(&empty, b"# no secrets\n").unwrap();
    for (name, k, why) in [
        // Another session's keys: the client random is not in them.
        (
            "tls13-h2-aes128",
            keys("tls13-h2-aes256"),
            "for client random",
        ),
        (
            "tls12-h2-rsa-aes128",
            keys("tls13-h1-chacha"),
            "for client random",
        ),
        ("tls13-h1-chacha", empty.clone(), "client random"),
    ] {
        let out = tmp.path().join(name);
        let report = analyze(
            &cap(name),
            &[
                "--keylog",
                k.to_str().unwrap(),
                "--extract",
                out.to_str().unwrap(),
            ],
        );
        assert_eq!(report["objects"].as_array().unwrap().len(), 0, "{name}");
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "{name}");
        let tls = report["tls_decryption"].as_array().unwrap();
        assert!(!tls.is_empty(), "{name}");
        for t in tls {
            let reason = t["reason"].as_str().unwrap_or_default();
            assert!(reason.contains(why), "{name}: {reason}");
            assert_eq!(t["plaintext_to_client"], 0, "{name}");
        }
    }
}

/// The client's half of a real TLS 1.3 connection, without the server's frames (a
/// hostile or one-sided capture): the decryptor holds the client's records while it
/// waits for a server hello that never comes. All connections together hold at most
/// the budget; the one that would pass it stops, and says why.
#[test]
fn decryptors_waiting_for_a_hello_share_one_memory_budget() {
    use whohosts::content::ContentOptions;
    use whohosts::pipeline::{analyze_capture, AnalyzeOptions};
    let dir = tempfile::tempdir().unwrap();
    let one_sided = dir.path().join("client-half.pcap");
    common::tshark(&[
        "-r",
        cap("tls13-h1-chacha").to_str().unwrap(),
        "-Y",
        "tcp.dstport == 443",
        "-F",
        "pcap",
        "-w",
        one_sided.to_str().unwrap(),
    ]);
    let mut keylog = whohosts::decrypt::keylog::KeyLog::new();
    keylog.add_text("keys", &std::fs::read(keys("tls13-h1-chacha")).unwrap());
    let keylog = std::sync::Arc::new(keylog);
    let reasons = |tls_budget: usize| -> Vec<Option<String>> {
        let opts = AnalyzeOptions {
            content: Some(ContentOptions {
                keylog: Some(keylog.clone()),
                tls_budget,
                ..ContentOptions::default()
            }),
            ..AnalyzeOptions::default()
        };
        let a = analyze_capture(&one_sided, 0, &opts).unwrap();
        a.objects
            .unwrap()
            .tls
            .iter()
            .map(|t| t.reason.clone())
            .collect()
    };
    let small = reasons(100);
    assert_eq!(small.len(), 1, "{small:?}");
    assert!(
        small[0]
            .as_deref()
            .is_some_and(|r| r.contains("the most allowed (100)")),
        "{small:?}"
    );
    let default = reasons(whohosts::content::TLS_BUDGET);
    assert_eq!(default.len(), 1, "{default:?}");
    assert!(
        !default[0]
            .as_deref()
            .unwrap_or("")
            .contains("the most allowed"),
        "{default:?}"
    );
}

/// The server certificates of TLS 1.3 handshakes, which only decryption shows:
/// read with the key log (or the pcapng's own secrets), recorded as decrypted, with
/// the frames and DNS names tshark shows with the same keys, and naming the server.
#[test]
fn decrypted_tls13_certificates_name_their_servers_as_tshark_reads_them() {
    let mut runs: Vec<(PathBuf, Vec<String>, Option<PathBuf>)> = H1
        .iter()
        .chain(H2)
        .filter(|n| n.starts_with("tls13"))
        .map(|n| {
            let k = keys(n);
            (
                cap(n),
                vec!["--keylog".into(), k.display().to_string()],
                Some(k),
            )
        })
        .collect();
    runs.push((
        common::root().join("captures/tls13-h2-dsb.pcapng"),
        vec!["--objects".into()],
        None,
    ));
    for (capture, args, k) in runs {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = analyze(&capture, &args);
        let ours: BTreeMap<u64, Vec<String>> = r["tls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["type"] == "certificate")
            .map(|t| {
                assert_eq!(t["decrypted"], true, "{}", capture.display());
                let sans = t["sans"].as_array().unwrap();
                let sans = sans.iter().map(|s| s.as_str().unwrap().to_string());
                (t["frame"].as_u64().unwrap(), sans.collect())
            })
            .collect();
        let mut targs = vec!["-r".to_string(), capture.display().to_string()];
        if let Some(k) = &k {
            targs.extend(["-o".into(), format!("tls.keylog_file:{}", k.display())]);
        }
        targs.extend(
            [
                "-Y",
                "x509ce.dNSName",
                "-T",
                "fields",
                "-e",
                "frame.number",
                "-e",
                "x509ce.dNSName",
            ]
            .map(String::from),
        );
        let targs: Vec<&str> = targs.iter().map(String::as_str).collect();
        let theirs: BTreeMap<u64, Vec<String>> = common::tshark(&targs)
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(f, names)| {
                let names = names.split(',').map(str::to_string).collect();
                (f.parse().unwrap(), names)
            })
            .collect();
        assert!(!ours.is_empty(), "{}", capture.display());
        assert_eq!(ours, theirs, "{}", capture.display());
        let named = r["services"].as_array().unwrap().iter().any(|s| {
            s["hostnames"].as_array().unwrap().iter().any(|h| {
                h["name"] == "dl.mtr-pirate.example"
                    && h["sources"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|x| x == "certificate")
            })
        });
        assert!(
            named,
            "{}: the certificate names the server",
            capture.display()
        );
    }
}

/// DNS over HTTPS (`captures/record-doh.sh`: curl resolving over unbound's DoH,
/// HTTP/2, then fetching the name): with the key log, each DoH response is read as
/// a DNS answer, on the frames and with the names and addresses tshark shows with
/// the same keys, and it names the server curl then reached; without it, nothing.
#[test]
fn dns_over_https_answers_bind_names_as_tshark_reads_them_with_the_key_log() {
    let capture = cap("doh");
    let k = keys("doh");
    let r = analyze(&capture, &["--keylog", k.to_str().unwrap()]);
    let ours: BTreeMap<u64, (String, String)> = r["dns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["transport"], "tcp");
            assert_eq!(d["server"]["port"], 443);
            let names: Vec<&str> = d["questions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|q| q["name"].as_str().unwrap())
                .collect();
            let addresses: Vec<&str> = d["answers"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|a| a["data"]["address"].as_str())
                .collect();
            (
                d["frame"].as_u64().unwrap(),
                (names.join(","), addresses.join(",")),
            )
        })
        .collect();
    let theirs: BTreeMap<u64, (String, String)> = common::tshark(&[
        "-r",
        capture.to_str().unwrap(),
        "-o",
        &format!("tls.keylog_file:{}", k.display()),
        "-Y",
        "dns.flags.response == 1",
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "dns.qry.name",
        "-e",
        "dns.a",
        "-e",
        "dns.aaaa",
    ])
    .lines()
    .map(|l| {
        let f: Vec<&str> = l.split('\t').collect();
        let addresses: Vec<&str> = f[2..].iter().copied().filter(|s| !s.is_empty()).collect();
        (
            f[0].parse().unwrap(),
            (f[1].to_string(), addresses.join(",")),
        )
    })
    .collect();
    assert_eq!(ours.len(), 2, "the A and AAAA answers: {ours:?}");
    assert_eq!(ours, theirs);
    let service = r["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["endpoints"][0]["port"] == 8443)
        .expect("the server curl reached");
    let named = service["hostnames"].as_array().unwrap().iter().any(|h| {
        h["name"] == "dl.mtr-pirate.example"
            && h["sources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == "dns_answer")
    });
    assert!(named, "{service}");

    let without = analyze(&capture, &[]);
    assert!(without["dns"].as_array().unwrap().is_empty());
}
