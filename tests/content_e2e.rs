//! From capture to the comparison in the notice, with real parts: a pirate server
//! (`openssl s_server -WWW`, TLS 1.3) serves a repacked copy of a game package (some
//! files identical, one changed, one removed, one added, inside an APK-like zip) and
//! a data file to `curl`, which keeps its TLS secrets (`SSLKEYLOGFILE`); `dumpcap`
//! records the session. Everything runs in a network namespace the test creates and
//! removes, on its loopback, where the server has an Alibaba Cloud address (never
//! reachable outside the namespace) so that the letter has a provider to address.
//! Then `analyze --keylog --extract`, `match --originals` and `letter --matches`:
//! the match names the identical, similar, missing and added files, and the Alibaba
//! letter's CN-7 carries the comparison with the hashes of both sides.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use whohosts::hash::sha256_hex as sha;

const PIRATE: &str = "47.236.91.18";
const CLIENT: &str = "198.18.250.2";
const HOST: &str = "dl.mtr-pirate.example";

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_whohosts"))
}

fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn zip_of(entries: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn must(cmd: &str, args: &[&str]) -> Output {
    let o = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(o.status.success(), "{cmd} {args:?}: {}", text(&o));
    o
}

/// A network namespace with its loopback up and the two addresses on it; removed
/// (with every process in it) on drop.
struct Ns(String);

impl Ns {
    fn new() -> Ns {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        assert!(
            status
                .lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0")),
            "this test needs root (a network namespace, capture rights): run the README's test command as root"
        );
        let ns = Ns(format!("whohosts-e2e-{}", std::process::id()));
        let _ = Command::new("ip").args(["netns", "del", &ns.0]).output();
        must("ip", &["netns", "add", &ns.0]);
        ns.run(&["ip", "link", "set", "lo", "up"]);
        for a in [PIRATE, CLIENT] {
            ns.run(&["ip", "addr", "add", &format!("{a}/32"), "dev", "lo"]);
        }
        ns
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0]).args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let o = self.cmd(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        o
    }

    fn spawn(&self, args: &[&str], dir: &Path, log: &Path) -> Killed {
        Killed(
            self.cmd(args)
                .current_dir(dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(log).unwrap())
                .spawn()
                .unwrap(),
        )
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "pids", &self.0])
            .output()
            .map(|o| {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).output();
                }
            });
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// A process stopped (SIGINT, then killed) on drop.
struct Killed(Child);

impl Killed {
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .output();
        for _ in 0..50 {
            if self.0.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..100 {
        if f() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn a_repacked_package_served_over_https_is_matched_and_the_notice_carries_the_comparison() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    // The rights holder's originals: a game package and a data file.
    let (a, b, c, dex) = (
        noise(300_000, 1),
        noise(400_000, 2),
        noise(100_000, 3),
        noise(50_000, 4),
    );
    let original = zip_of(
        &[
            ("assets/a.bin", &a),
            ("assets/b.bin", &b),
            ("assets/c.bin", &c),
            ("classes.dex", &dex),
        ],
        zip::CompressionMethod::Deflated,
    );
    let obb = noise(250_000, 5);
    let originals = dir.join("originals");
    std::fs::create_dir_all(&originals).unwrap();
    std::fs::write(originals.join("game.apk"), &original).unwrap();
    std::fs::write(originals.join("main.obb"), &obb).unwrap();
    // The pirate copy: repacked, b.bin patched, c.bin gone, an ad library added.
    let mut b2 = b.clone();
    b2.splice(200_000..200_004, *b"CRCK");
    let ads = noise(60_000, 6);
    let pirate = zip_of(
        &[
            ("classes.dex", &dex),
            ("assets/a.bin", &a),
            ("assets/b.bin", &b2),
            ("lib/ads.so", &ads),
        ],
        zip::CompressionMethod::Stored,
    );
    let www = dir.join("www");
    std::fs::create_dir_all(www.join("pkg")).unwrap();
    std::fs::write(www.join("pkg/game.apk"), &pirate).unwrap();
    std::fs::write(www.join("pkg/main.obb"), &obb).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    must(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            &format!("/CN={HOST}"),
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ],
    );

    // The session: server, capture, client.
    let ns = Ns::new();
    let server = ns.spawn(
        &[
            "openssl",
            "s_server",
            "-quiet",
            "-WWW",
            "-tls1_3",
            "-accept",
            &format!("{PIRATE}:443"),
            "-cert",
            cert.to_str().unwrap(),
            "-key",
            key.to_str().unwrap(),
        ],
        &www,
        &dir.join("server.log"),
    );
    let pcap = dir.join("session.pcapng");
    let dumpcap = ns.spawn(
        &[
            "dumpcap",
            "-q",
            "-i",
            "lo",
            "-f",
            "tcp port 443",
            "-w",
            pcap.to_str().unwrap(),
        ],
        dir,
        &dir.join("dumpcap.log"),
    );
    wait_for("dumpcap to start", || {
        std::fs::metadata(&pcap).is_ok_and(|m| m.len() > 0)
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let keys = dir.join("session.keys");
    for path in ["pkg/game.apk", "pkg/main.obb"] {
        let o = ns
            .cmd(&[
                "timeout",
                "20",
                "curl",
                "-sS",
                "-k",
                "--http1.1",
                "--interface",
                CLIENT,
                "--resolve",
                &format!("{HOST}:443:{PIRATE}"),
                "-o",
                "/dev/null",
                &format!("https://{HOST}/{path}"),
            ])
            .env("SSLKEYLOGFILE", &keys)
            .output()
            .unwrap();
        assert!(o.status.success(), "curl {path}: {}", text(&o));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    dumpcap.stop();
    server.stop();
    drop(ns);

    // Analysis: the two objects, decrypted with the session's key log.
    let objects = dir.join("objects");
    let report = dir.join("report.json");
    let o = Command::new(bin())
        .env("WHOHOSTS_DATA_DIR", dir.join("data"))
        .arg("analyze")
        .arg(&pcap)
        .arg("--keylog")
        .arg(&keys)
        .arg("--extract")
        .arg(&objects)
        .arg("--sm3")
        .arg("--json")
        .arg(&report)
        .arg("-q")
        .output()
        .unwrap();
    assert!(o.status.code().is_some_and(|c| c <= 1), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let list = r["objects"].as_array().unwrap();
    let by_url = |u: &str| {
        list.iter()
            .find(|o| o["url"] == format!("https://{HOST}/{u}"))
            .unwrap_or_else(|| panic!("no object {u}: {list:?}"))
    };
    assert_eq!(by_url("pkg/game.apk")["sha256"], sha(&pirate));
    assert_eq!(by_url("pkg/main.obb")["sha256"], sha(&obb));
    assert_eq!(by_url("pkg/game.apk")["server"], format!("{PIRATE}:443"));

    // The comparison with the originals.
    let matches = dir.join("matches.json");
    let o = Command::new(bin())
        .args(["match", "--originals"])
        .arg(&originals)
        .arg("--out")
        .arg(&matches)
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&matches).unwrap()).unwrap();
    let pkg = m["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["package"] == "game.apk")
        .unwrap_or_else(|| panic!("{m}"));
    assert_eq!(pkg["missing_files"][0]["sha256"], sha(&c), "{pkg}");
    assert_eq!(pkg["added_files"][0]["sha256"], sha(&ads), "{pkg}");
    let all = m["matches"].as_array().unwrap();
    let similar = all
        .iter()
        .find(|x| x["original"]["sha256"] == sha(&b))
        .unwrap_or_else(|| panic!("b.bin: {m}"));
    assert_eq!(similar["object"]["sha256"], sha(&b2));
    for identical in [&a, &dex, &obb] {
        assert!(
            all.iter().any(|x| x["original"]["sha256"] == sha(identical)
                && x["object"]["sha256"] == sha(identical)
                && x["method"] == "sha256"),
            "{m}"
        );
    }

    // The notice to Alibaba Cloud carries the comparison, hashes on both sides.
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/letter");
    let letters = dir.join("letters");
    let o = Command::new(bin())
        .env("WHOHOSTS_DATA_DIR", dir.join("data"))
        .arg("letter")
        .arg("--report")
        .arg(&report)
        .arg("--claimant")
        .arg(fx.join("claimant.toml"))
        .arg("--matches")
        .arg(&matches)
        .arg("--out")
        .arg(&letters)
        .output()
        .unwrap();
    // The letter stays a DRAFT for another reason (no postal address of Alibaba
    // Cloud's Singapore entity is sourced), never for CN-7.
    assert!(o.status.code().is_some(), "{}", text(&o));
    assert!(!text(&o).contains("CN-7"), "{}", text(&o));
    let letter = std::fs::read_to_string(letters.join("alibaba.cn.md"))
        .unwrap_or_else(|e| panic!("alibaba.cn.md: {e}; {}", text(&o)));
    // Both sides of every file the server sent, and the original package.
    for h in [
        sha(&b),
        sha(&b2),
        sha(&a),
        sha(&dex),
        sha(&obb),
        sha(&original),
    ] {
        assert!(
            letter.contains(&h),
            "{h} missing from the letter:\n{letter}"
        );
    }
    assert!(
        letter.contains(&sha(&std::fs::read(&matches).unwrap())),
        "{letter}"
    );
}
