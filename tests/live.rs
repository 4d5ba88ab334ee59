//! Live capture and evidence sessions, end to end, as root: real traffic from real
//! clients (`curl`, `openssl s_client`, `dig`) over a veth pair between a network
//! namespace each test creates and removes, to real servers (`openssl s_server`,
//! `dnsmasq`, an HTTP responder in the test), captured by the real binary, checked
//! with `tshark` and `capinfos`.
//!
//! Every address is on the test's own veth pair (198.18.N.0/30, the benchmarking
//! range of RFC 2544) or loopback; every loop is bounded by a deadline.

mod common;

use std::io::Read;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_whohosts"))
}

fn whohosts(args: &[&str]) -> Output {
    bounded(
        Command::new(bin()).args(args).env_remove("WHOHOSTS_CASE"),
        180,
    )
}

/// Runs a command to its end, killing it (and failing) if it takes longer than `secs`.
fn bounded(cmd: &mut Command, secs: u64) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting a command");
    // Read both pipes on threads, so that a chatty command never blocks on a full one.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let status = wait_child(&mut child, secs);
    let o = Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    assert!(
        o.status.code().is_some() || o.status.signal().is_none_or(|s| s != 9),
        "{cmd:?} did not end within {secs} s: {}",
        text(&o)
    );
    o
}

/// Waits for a child, killing it after `secs` (its status then says signal 9).
fn wait_child(child: &mut Child, secs: u64) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} must be installed (.ci/install-deps): {e}"))
}

fn must(cmd: &str, args: &[&str]) -> String {
    let o = run(cmd, args);
    assert!(o.status.success(), "{cmd} {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Live capture needs root (or the capabilities); CI runs as root.
fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"));
    assert!(
        root,
        "the live capture tests need root (network namespaces, capture rights): run the README's test command as root"
    );
}

static NEXT: AtomicU32 = AtomicU32::new(1);

/// A veth pair: `host` in this namespace (198.18.N.1), `peer` in a new namespace
/// (198.18.N.2). Removed on drop.
struct Net {
    ns: String,
    host: String,
    peer: String,
    n: u32,
}

impl Net {
    fn new() -> Net {
        require_root();
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let id = std::process::id() % 10_000;
        let net = Net {
            ns: format!("whohosts-t{id}-{n}"),
            host: format!("wh{id}h{n}"),
            peer: format!("wh{id}p{n}"),
            n,
        };
        let _ = run("ip", &["netns", "del", &net.ns]);
        let _ = run("ip", &["link", "del", &net.host]);
        must("ip", &["netns", "add", &net.ns]);
        must(
            "ip",
            &[
                "link", "add", &net.host, "type", "veth", "peer", "name", &net.peer,
            ],
        );
        must("ip", &["link", "set", &net.peer, "netns", &net.ns]);
        must(
            "ip",
            &[
                "addr",
                "add",
                &format!("{}/30", net.host_ip()),
                "dev",
                &net.host,
            ],
        );
        // No IPv6 on the pair: router and neighbour solicitations would add packets
        // that no test asks for.
        let _ = run(
            "sysctl",
            &["-qw", &format!("net.ipv6.conf.{}.disable_ipv6=1", net.host)],
        );
        must("ip", &["link", "set", &net.host, "up"]);
        net.exec_ok(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{}.disable_ipv6=1", net.peer),
        ]);
        net.exec_ok(&[
            "ip",
            "addr",
            "add",
            &format!("{}/30", net.peer_ip()),
            "dev",
            &net.peer,
        ]);
        net.exec_ok(&["ip", "link", "set", &net.peer, "up"]);
        net.exec_ok(&["ip", "link", "set", "lo", "up"]);
        net
    }

    fn host_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.n as u8, 1)
    }

    fn peer_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.n as u8, 2)
    }

    /// Runs a program in the peer's namespace.
    fn exec(&self, args: &[&str]) -> Output {
        let mut a = vec!["netns", "exec", &self.ns];
        a.extend_from_slice(args);
        run("ip", &a)
    }

    fn exec_ok(&self, args: &[&str]) -> String {
        let o = self.exec(args);
        assert!(o.status.success(), "{args:?} in {}: {}", self.ns, text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = run("ip", &["link", "del", &self.host]);
        let _ = run("ip", &["netns", "del", &self.ns]);
    }
}

/// A process killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends UDP datagrams from the host side to the peer, about 20 000 a second, until
/// dropped or for at most `secs`.
struct Flood {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Flood {
    fn start(net: &Net, secs: u64) -> Flood {
        let sock = UdpSocket::bind((net.host_ip(), 0)).unwrap();
        let to = (net.peer_ip(), 9);
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let payload = [0x5au8; 1200];
            let deadline = Instant::now() + Duration::from_secs(secs);
            let mut sent: u64 = 0;
            while !s.load(Ordering::SeqCst) && Instant::now() < deadline {
                if sock.send_to(&payload, to).is_ok() {
                    sent += 1;
                }
                if sent.is_multiple_of(20) {
                    // About 20 000 packets (25 MB) a second: enough to fill a file or
                    // a small disk quickly, and the tests running beside keep a core.
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            sent
        });
        Flood {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().map_or(0, |t| t.join().unwrap_or(0))
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The custody log's complete lines (a line being appended by the capture is not yet
/// one).
fn custody(case: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(case.join("custody.jsonl")).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |i| &text[..i]);
    complete
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn actions(case: &Path) -> Vec<String> {
    custody(case)
        .iter()
        .map(|e| e["action"].as_str().unwrap_or("").to_string())
        .collect()
}

fn entries<'a>(log: &'a [serde_json::Value], action: &str) -> Vec<&'a serde_json::Value> {
    log.iter().filter(|e| e["action"] == action).collect()
}

/// Waits until `f` holds, or fails after `secs`.
fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

fn signal(pid: u32, sig: &str) {
    must("kill", &[&format!("-{sig}"), &pid.to_string()]);
}

/// The running capture of a case (pid from `capture.start`), once its first file is
/// recorded as opened.
fn capture_pid(case: &Path) -> u32 {
    let mut pid = 0;
    wait_for("the capture to open its first file", 30, || {
        let log = custody(case);
        if entries(&log, "capture.file.open").is_empty() {
            return false;
        }
        pid = entries(&log, "capture.start")
            .last()
            .and_then(|e| e["details"]["pid"].as_u64())
            .unwrap_or(0) as u32;
        pid != 0
    });
    pid
}

/// tshark's packet count for a file, and whether it read it without complaint.
fn tshark_count(file: &Path) -> (usize, bool) {
    let o = run(
        "tshark",
        &[
            "-n",
            "-r",
            file.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "frame.number",
        ],
    );
    (
        String::from_utf8_lossy(&o.stdout).lines().count(),
        o.status.success(),
    )
}

fn capinfos(file: &Path) -> String {
    must("capinfos", &["-M", file.to_str().unwrap()])
}

/// Every option of every block, as tshark's pcapng file-format dissector shows them.
fn blocks(file: &Path) -> String {
    must(
        "tshark",
        &[
            "-r",
            file.to_str().unwrap(),
            "-X",
            "read_format:MIME Files Format",
            "-V",
        ],
    )
}

fn capture_files(case: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(case.join("captures"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    must(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=api.pirate.example",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ],
    );
    (cert, key)
}

/// Where the pirate service of the session test lives: an Alibaba Cloud address
/// (AS45102 in the bundled data), given to the test's own veth peer, so that the
/// attribution and the letters have a provider to name. Traffic to it never leaves the
/// veth pair: the route to it exists only while the pair does.
const PIRATE: &str = "47.236.91.18";

#[test]
fn session_on_a_veth_pair_with_real_clients_stops_on_sigint_and_verifies() {
    let net = Net::new();
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    let dns = net.peer_ip().to_string();
    net.exec_ok(&[
        "ip",
        "addr",
        "add",
        &format!("{PIRATE}/32"),
        "dev",
        &net.peer,
    ]);
    must(
        "ip",
        &["route", "add", &format!("{PIRATE}/32"), "dev", &net.host],
    );
    // Servers in the namespace: HTTP (busybox), TLS (openssl s_server), DNS (dnsmasq).
    let www = tmp.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("package.bin"), b"pirate game package\n").unwrap();
    let spawn_in_ns = |args: &[&str]| {
        let mut a = vec!["netns", "exec", &net.ns];
        a.extend_from_slice(args);
        Server(
            Command::new("ip")
                .args(&a)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{args:?}: {e}")),
        )
    };
    let _http = spawn_in_ns(&[
        "busybox",
        "httpd",
        "-f",
        "-p",
        &format!("{PIRATE}:80"),
        "-h",
        www.to_str().unwrap(),
    ]);
    let (cert, key) = self_signed(tmp.path());
    let _tls = spawn_in_ns(&[
        "openssl",
        "s_server",
        "-quiet",
        "-www",
        "-accept",
        &format!("{PIRATE}:443"),
        "-cert",
        cert.to_str().unwrap(),
        "-key",
        key.to_str().unwrap(),
    ]);
    let _dns = spawn_in_ns(&[
        "dnsmasq",
        "--no-daemon",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        "--port=53",
        &format!("--listen-address={dns}"),
        &format!("--address=/pirate.example/{PIRATE}"),
        &format!("--pid-file={}", tmp.path().join("dnsmasq.pid").display()),
    ]);
    // A real time-stamp authority for the start and the seal.
    let tsa = common::tsa::Tsa::new("Session");
    let (tsa_url, tsa_server) = common::tsa::serve(&tsa, 2);

    let case_s = case.to_str().unwrap();
    let o = whohosts(&[
        "session",
        "start",
        "--case",
        case_s,
        "--operator",
        "Li Wei",
        "--notary",
        "Zhang San",
        "--certificate",
        "(2026) Jing No. 1234",
        "--id",
        "C-LIVE-1",
        "--rights-holder",
        "Example Games Ltd.",
        "--tsa",
        &tsa_url,
        "-i",
        &net.host,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("time-stamp reply: timestamps/session-0001-start.tsr"),
        "{}",
        text(&o)
    );
    let pid = capture_pid(&case);
    wait_for("the servers to listen", 20, || {
        std::net::TcpStream::connect((PIRATE, 443)).is_ok()
            && std::net::TcpStream::connect((PIRATE, 80)).is_ok()
    });

    // The clients, each run in the session.
    let runs: Vec<Vec<String>> = vec![
        vec![
            "dig",
            "+short",
            "+tries=3",
            "+time=2",
            &format!("@{dns}"),
            "game.pirate.example",
        ],
        vec![
            "curl",
            "-sS",
            "--max-time",
            "10",
            "-H",
            "Host: cdn.pirate.example",
            &format!("http://{PIRATE}/package.bin"),
        ],
        vec![
            "curl",
            "-sSk",
            "--max-time",
            "10",
            "--resolve",
            &format!("api.pirate.example:443:{PIRATE}"),
            "https://api.pirate.example/",
        ],
    ]
    .into_iter()
    .map(|r| r.into_iter().map(String::from).collect())
    .collect();
    for r in &runs {
        let mut args = vec![
            "session".to_string(),
            "run".into(),
            "--case".into(),
            case_s.into(),
            "--".into(),
        ];
        args.extend(r.iter().cloned());
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = whohosts(&a);
        assert!(o.status.success(), "{r:?}: {}", text(&o));
    }
    // openssl s_client, outside the session's runs but inside the capture.
    let o = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("{PIRATE}:443"),
            "-servername",
            "login.pirate.example",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("CONNECTED"),
        "{}",
        text(&o)
    );

    // The live view, through `session status`: the services seen so far, attributed.
    let mut status = String::new();
    wait_for("session status to show the services", 20, || {
        let o = whohosts(&["session", "status", "--case", case_s]);
        status = String::from_utf8_lossy(&o.stdout).into_owned();
        [
            "game.pirate.example",
            "cdn.pirate.example",
            "api.pirate.example",
            "login.pirate.example",
        ]
        .iter()
        .all(|n| status.contains(n))
    });
    assert!(
        status.contains("running") && status.contains("Alibaba Cloud"),
        "{status}"
    );

    // Ctrl-C, twice: the second changes nothing.
    std::thread::sleep(Duration::from_millis(300));
    signal(pid, "INT");
    signal(pid, "INT");
    wait_for("the capture to stop", 60, || !pid_alive(pid));
    let claimant = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/claimant.example.toml");
    let o = whohosts(&[
        "session",
        "stop",
        "--case",
        case_s,
        "--tsa",
        &tsa_url,
        "--claimant",
        claimant.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    tsa_server.join().unwrap().unwrap();
    let summary = String::from_utf8_lossy(&o.stdout).into_owned();
    for needle in [
        "For the notary",
        "time-stamp: timestamps/manifest-v1.tsr, genTime",
        "start time-stamp: timestamps/session-0001-start.tsr",
    ] {
        assert!(summary.contains(needle), "{needle:?} missing:\n{summary}");
    }

    // The notary sheet names the session, its notary and its start time-stamp.
    let sheet = std::fs::read_to_string(case.join("sheets/sheet-v1.md")).unwrap();
    for needle in [
        "| 公证机构 Notary | Zhang San |",
        "| 会话开始时间戳 Session start time-stamp | genTime ",
    ] {
        assert!(sheet.contains(needle), "{needle:?} missing:\n{sheet}");
    }

    // The capture file: every packet readable by tshark, as many as recorded.
    let files = capture_files(&case);
    assert_eq!(files.len(), 1, "{files:?}");
    let log = custody(&case);
    let close = entries(&log, "capture.file.close");
    assert_eq!(close.len(), 1);
    let recorded = close[0]["details"]["packets"].as_u64().unwrap() as usize;
    assert!(
        summary.contains(close[0]["files"][0]["sha256"].as_str().unwrap()),
        "{summary}"
    );
    let (count, clean) = tshark_count(&files[0]);
    assert!(
        clean && count == recorded && count > 20,
        "tshark {count}, recorded {recorded}"
    );
    let info = capinfos(&files[0]);
    for needle in [
        "Capture application: whohosts",
        "Capture oper-sys:",
        &format!("Name = {}", net.host),
        "Time precision = nanoseconds (9)",
        "Capture length = 262144",
        "Number of stat entries = 1",
    ] {
        assert!(info.contains(needle), "capinfos lacks {needle:?}:\n{info}");
    }
    let b = blocks(&files[0]);
    for needle in [
        "Option: Hardware Description",
        "Option: OS Description",
        "Option: User Application = whohosts",
        "Option: Comment = case C-LIVE-1; capture 1 of session 1; operator Li Wei",
        &format!("Option: Interface Name = {}", net.host),
        "Option: Timestamp Resolution",
        "Option: OS = ",
        "Option: Start Time",
        "Option: End Time",
        "Option: Number of Received Packets",
        "Option: Number of Dropped Packets = 0",
        "Option: Number of Packets Dropped by OS = 0",
        &format!("Option: Number of Packets Delivered to the User = {recorded}"),
    ] {
        assert!(b.contains(needle), "the file's blocks lack {needle:?}");
    }

    // verify passes, offline, checking both time-stamps against the TSA's certificate.
    let mut args = vec!["verify".to_string(), case_s.to_string()];
    args.extend(tsa.verify_args());
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = whohosts(&a);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("session 1 start time-stamp: granted")
            && out.contains("time-stamp v1: granted"),
        "{out}"
    );

    // The names the clients used are in the report, made while capturing, and the
    // report is the one `analyze` makes of the file.
    let report = std::fs::read(case.join("reports/capture-001.json")).unwrap();
    let r: serde_json::Value = serde_json::from_slice(&report).unwrap();
    let names: Vec<String> = r["services"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["hostnames"].as_array().cloned().unwrap_or_default())
        .filter_map(|n| n["name"].as_str().map(String::from))
        .collect();
    for n in [
        "game.pirate.example",
        "cdn.pirate.example",
        "api.pirate.example",
        "login.pirate.example",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} not among {names:?}");
    }
    let rel = files[0].strip_prefix(&case).unwrap();
    let o = Command::new(bin())
        .current_dir(&case)
        .args(["analyze", "--sm3", "--json", "-"])
        .arg(rel)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        o.stdout == report,
        "the live report differs from analyze --sm3 of its file"
    );

    // Custody: start, client runs with their exit status and TLS keys, the file's
    // close with its hashes, the stop, the letters, the session's stop, the seal.
    let acts = actions(&case);
    for a in [
        "session.start",
        "timestamp.reply",
        "capture.start",
        "capture.file.open",
        "session.run.start",
        "session.run.end",
        "capture.file.close",
        "capture.stop",
        "capture.report",
        "letter.draft",
        "session.stop",
        "seal",
    ] {
        assert!(acts.iter().any(|x| x == a), "custody lacks {a}: {acts:?}");
    }
    let ends = entries(&log, "session.run.end");
    assert_eq!(ends.len(), runs.len());
    assert!(ends.iter().all(|e| e["details"]["exit_code"] == 0));
    // curl wrote its TLS keys into the case.
    let keys = std::fs::read_to_string(case.join("sessions/session-0001-run-03.keylog")).unwrap();
    assert!(keys.contains("CLIENT_"), "{keys}");
    let stop = entries(&log, "capture.stop");
    assert_eq!(stop[0]["details"]["reason"], "requested");
    assert!(close[0]["files"][0]["sm3"].as_str().is_some());
    // A letter to the provider hosting the pirate service, carrying the capture's hash.
    assert!(case.join("letters/session-0001/alibaba.cn.md").is_file());
    let letter = std::fs::read_to_string(case.join("letters/session-0001/alibaba.cn.html"))
        .expect("a letter to Alibaba Cloud");
    assert!(
        letter.contains(close[0]["files"][0]["sha256"].as_str().unwrap()),
        "{letter}"
    );
    assert!(letter.contains(PIRATE), "{letter}");
}

#[test]
fn capture_to_a_file_rotates_by_size_and_by_time_as_capinfos_counts() {
    let net = Net::new();
    let tmp = tempfile::tempdir().unwrap();
    // By size: 50 kB files.
    let out = tmp.path().join("size.pcapng");
    let mut child = Command::new(bin())
        .args(["capture", "-q", "-i", &net.host, "-b", "filesize:50", "-w"])
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let flood = Flood::start(&net, 30);
    wait_for("several files", 30, || {
        std::fs::read_dir(tmp.path()).map_or(0, |d| d.count()) >= 4
    });
    flood.stop();
    std::thread::sleep(Duration::from_millis(300));
    signal(child.id(), "INT");
    let status = wait_child(&mut child, 30);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    let files: Vec<PathBuf> = {
        let mut v: Vec<PathBuf> = std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().contains("size_"))
            .collect();
        v.sort();
        v
    };
    assert!(files.len() >= 4, "{files:?}");
    // Each file: named as dumpcap names them, at most one packet over 50 kB, every
    // packet readable, the count the tool printed when closing it.
    for (i, f) in files.iter().enumerate() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(&format!("size_{:05}_", i + 1)), "{name}");
        let size = std::fs::metadata(f).unwrap().len();
        if i + 1 < files.len() {
            assert!(size <= 50_000 + 1_600, "{name}: {size} bytes");
            assert!(size > 40_000, "{name}: {size} bytes");
        }
        let info = capinfos(f);
        let packets: usize = info
            .lines()
            .find(|l| l.starts_with("Number of packets:"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .unwrap();
        let (count, clean) = tshark_count(f);
        assert!(
            clean && count == packets,
            "{name}: tshark {count}, capinfos {packets}"
        );
        let closed = format!("closed {}: {packets} packets, {size} bytes", f.display());
        assert!(err.contains(&closed), "missing {closed:?} in:\n{err}");
        assert!(info.contains("Number of stat entries = 1"), "{info}");
    }

    // By time: one file a second.
    let out = tmp.path().join("time.pcapng");
    let mut child = Command::new(bin())
        .args([
            "capture",
            "-q",
            "-i",
            &net.host,
            "-b",
            "duration:1",
            "-a",
            "files:3",
            "-w",
        ])
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let flood = Flood::start(&net, 20);
    let status = wait_child(&mut child, 30);
    flood.stop();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    assert!(err.contains("file count reached"), "{err}");
    let files: Vec<PathBuf> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("time_"))
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    for f in &files {
        let info = capinfos(f);
        let duration: f64 = info
            .lines()
            .find(|l| l.starts_with("Capture duration:"))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0);
        assert!(duration < 1.3, "{}: {duration} s\n{info}", f.display());
        let packets: usize = info
            .lines()
            .find(|l| l.starts_with("Number of packets:"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert!(
            err.contains(&format!("{}: {packets} packets", f.display())),
            "{err}"
        );
    }
}

#[test]
fn sigkill_mid_write_leaves_a_readable_file_that_the_next_command_records_and_seals() {
    let net = Net::new();
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    let case_s = case.to_str().unwrap();
    let o = whohosts(&[
        "session",
        "start",
        "--case",
        case_s,
        "--operator",
        "Li Wei",
        "--rights-holder",
        "Example Games Ltd.",
        "-i",
        &net.host,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let pid = capture_pid(&case);
    let flood = Flood::start(&net, 30);
    let file = capture_files(&case).pop().unwrap();
    wait_for("a few megabytes", 30, || {
        std::fs::metadata(&file).map_or(0, |m| m.len()) > 4_000_000
    });
    // Killed while packets pour in: no statistics blocks, perhaps half a block.
    signal(pid, "KILL");
    wait_for("the capture to die", 10, || !pid_alive(pid));
    flood.stop();
    let before = std::fs::read(&file).unwrap();
    let o = whohosts(&["verify", case_s]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("was interrupted"),
        "{}",
        text(&o)
    );

    // The next command records what it finds and seals.
    let o = whohosts(&["session", "status", "--case", case_s]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("recorded an interrupted capture"),
        "{}",
        text(&o)
    );
    let log = custody(&case);
    let rec = entries(&log, "capture.recovered");
    assert_eq!(rec.len(), 1);
    let d = &rec[0]["details"];
    let complete = d["complete_bytes"].as_u64().unwrap();
    let packets = d["packets"].as_u64().unwrap() as usize;
    assert_eq!(
        d["bytes_after_last_complete_block"].as_u64().unwrap(),
        before.len() as u64 - complete
    );
    assert_eq!(d["complete_blocks"].as_u64().unwrap(), packets as u64 + 2);
    assert_eq!(
        rec[0]["files"][0]["sha256"].as_str().unwrap(),
        whohosts::hash::sha256_hex(&before)
    );
    assert!(entries(&log, "capture.stop")[0]["details"]["reason"] == "interrupted");
    assert!(actions(&case).iter().any(|a| a == "seal"));
    // Nothing rewritten; tshark reads every complete packet.
    assert_eq!(std::fs::read(&file).unwrap(), before);
    let (count, _) = tshark_count(&file);
    assert_eq!(count, packets);
    let o = whohosts(&["verify", case_s]);
    assert_unanchored_only(&o);
    // The session goes on to its stop, with the report made from the file.
    let o = whohosts(&["session", "stop", "--case", case_s]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(case.join("reports/capture-001.json").is_file());
    let o = whohosts(&["verify", case_s]);
    assert_unanchored_only(&o);
}

/// `verify` of a case sealed without a TSA: nothing differs, but no time-stamp anchors
/// the custody log, so it is not fully verified (exit 1).
fn assert_unanchored_only(o: &Output) {
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{}", text(o));
    assert!(
        out.contains("not yet anchored") && !out.contains("DIFFERS"),
        "{}",
        text(o)
    );
}

/// A new case at `case` and a capture into it on `net`'s host end, running; returns
/// the capture's process once its first file is recorded.
fn capture_into_new_case(net: &Net, case: &Path, id: &str) -> Child {
    let case_s = case.to_str().unwrap();
    let o = whohosts(&[
        "case",
        "new",
        case_s,
        "--id",
        id,
        "--title",
        "t",
        "--rights-holder",
        "r",
        "--operator",
        "Li Wei",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let child = Command::new(bin())
        .args(["capture", "-q", "-i", &net.host, "--case", case_s])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = capture_pid(case);
    child
}

/// Waits for a capture to stop by itself (within `secs`, else fails naming `what`);
/// its exit code and standard error.
fn stopped_by_itself(mut child: Child, secs: u64, what: &str) -> (Option<i32>, String) {
    let status = wait_child(&mut child, secs);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        status.signal() != Some(9),
        "the capture did not stop {what}:\n{err}"
    );
    (status.code(), err)
}

/// A small tmpfs mounted for the test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        must(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "tmpfs",
                dir.to_str().unwrap(),
            ],
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = run("umount", &["-l", self.0.to_str().unwrap()]);
    }
}

#[test]
fn a_full_disk_stops_the_capture_with_everything_kept_recorded_and_sealed() {
    let net = Net::new();
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("small");
    let _fs = Tmpfs::mount(&mnt, "24m");
    let case = mnt.join("case");
    let case_s = case.to_str().unwrap();
    let child = capture_into_new_case(&net, &case, "C-FULL");
    let flood = Flood::start(&net, 60);
    let (code, err) = stopped_by_itself(child, 60, "on a full disk");
    flood.stop();
    assert_eq!(code, Some(2), "{err}");
    let file = capture_files(&case).pop().unwrap();
    assert!(
        err.contains(&file.display().to_string()) && err.contains("No space left on device"),
        "{err}"
    );
    let log = custody(&case);
    let close = entries(&log, "capture.file.close");
    assert_eq!(close.len(), 1);
    assert_eq!(close[0]["details"]["complete"], false);
    let stop = entries(&log, "capture.stop");
    assert_eq!(stop[0]["details"]["reason"], "fault");
    assert!(stop[0]["details"]["faults_text"][0]
        .as_str()
        .unwrap()
        .contains("No space left"));
    assert!(actions(&case).iter().any(|a| a == "seal"));
    let recorded = close[0]["details"]["packets"].as_u64().unwrap() as usize;
    let (count, _) = tshark_count(&file);
    assert_eq!(count, recorded);
    let o = whohosts(&["verify", case_s]);
    assert_unanchored_only(&o);
}

#[test]
fn an_interface_that_goes_away_stops_the_capture_naming_it_with_everything_sealed() {
    let net = Net::new();
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    let case_s = case.to_str().unwrap();
    let child = capture_into_new_case(&net, &case, "C-GONE");
    let flood = Flood::start(&net, 30);
    let file = capture_files(&case).pop().unwrap();
    wait_for("some packets", 20, || {
        std::fs::metadata(&file).map_or(0, |m| m.len()) > 200_000
    });
    must("ip", &["link", "del", &net.host]);
    let (code, err) = stopped_by_itself(child, 30, "when its interface went away");
    flood.stop();
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("error: {}:", net.host)), "{err}");
    let log = custody(&case);
    let close = entries(&log, "capture.file.close");
    assert_eq!(close[0]["details"]["complete"], true);
    let stop = entries(&log, "capture.stop");
    assert_eq!(stop[0]["details"]["reason"], "fault");
    assert!(actions(&case).iter().any(|a| a == "seal"));
    let (count, clean) = tshark_count(&file);
    assert!(clean && count as u64 == close[0]["details"]["packets"].as_u64().unwrap());
    assert!(blocks(&file).contains("Option: Number of Packets Delivered to the User"));
    let o = whohosts(&["verify", case_s]);
    assert_unanchored_only(&o);
}

#[test]
fn without_capture_rights_one_message_says_what_is_needed_and_exit_is_2() {
    require_root();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.pcapng");
    // Root without the two capabilities, as an unprivileged user would be.
    let o = Command::new("setpriv")
        .args([
            "--inh-caps=-all",
            "--bounding-set=-net_raw,-net_admin",
            "--",
        ])
        .arg(bin())
        .args(["capture", "-i", "lo", "-w"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("CAP_NET_RAW") && err.contains("setcap cap_net_raw,cap_net_admin=eip"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn a_missing_interface_and_a_bad_filter_are_named() {
    require_root();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.pcapng");
    let o = whohosts(&["capture", "-i", "no-such-if0", "-w", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no interface named \"no-such-if0\""),
        "{}",
        text(&o)
    );
    let o = whohosts(&[
        "capture",
        "-i",
        "lo",
        "-f",
        "tcp port",
        "-w",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("capture filter \"tcp port\" does not compile for lo"),
        "{}",
        text(&o)
    );
    assert!(!out.exists());
    let o = whohosts(&["capture", "-D"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(". lo"),
        "{}",
        text(&o)
    );
}

#[test]
fn two_interfaces_go_into_one_file_and_count_size_duration_and_ring_buffer_stop_as_asked() {
    let (a, b) = (Net::new(), Net::new());
    let tmp = tempfile::tempdir().unwrap();
    // Two interfaces, one file, two seconds, with a filter and a snap length.
    let out = tmp.path().join("two.pcapng");
    let floods = (Flood::start(&a, 60), Flood::start(&b, 60));
    let o = bounded(
        Command::new(bin())
            .args([
                "capture",
                "-q",
                "-i",
                &a.host,
                "-i",
                &b.host,
                "-f",
                "udp",
                "-s",
                "100",
                "-a",
                "duration:2",
                "-w",
            ])
            .arg(&out),
        30,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("duration reached"),
        "{}",
        text(&o)
    );
    let info = capinfos(&out);
    assert!(info.contains("Number of interfaces in file: 2"), "{info}");
    let ids = must(
        "tshark",
        &[
            "-n",
            "-r",
            out.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "frame.interface_id",
        ],
    );
    assert!(
        ids.lines().any(|l| l == "0") && ids.lines().any(|l| l == "1"),
        "both interfaces: {} on 0, {} on 1\n{}",
        ids.lines().filter(|l| *l == "0").count(),
        ids.lines().filter(|l| *l == "1").count(),
        text(&o)
    );
    // The filter and the snap length held.
    assert!(
        info.contains("Capture length = 100") && info.contains("udp"),
        "{info}"
    );
    let other = must(
        "tshark",
        &[
            "-n",
            "-r",
            out.to_str().unwrap(),
            "-Y",
            "not udp or frame.cap_len > 100",
        ],
    );
    assert!(other.trim().is_empty(), "{other}");
    // Exactly 500 packets.
    let counted = tmp.path().join("count.pcapng");
    let o = bounded(
        Command::new(bin())
            .args(["capture", "-q", "-i", &a.host, "-c", "500", "-w"])
            .arg(&counted),
        30,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("packet count reached"),
        "{}",
        text(&o)
    );
    assert_eq!(tshark_count(&counted), (500, true));
    // A size over all files: 200 kB.
    let sized = tmp.path().join("sized.pcapng");
    let o = bounded(
        Command::new(bin())
            .args(["capture", "-q", "-i", &a.host, "-a", "filesize:200", "-w"])
            .arg(&sized),
        30,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("size reached"),
        "{}",
        text(&o)
    );
    let size = std::fs::metadata(&sized).unwrap().len();
    assert!((200_000..2_000_000).contains(&size), "{size} bytes");
    // A duration, with a ring buffer of two files of 300 kB: the oldest go.
    let ring = tmp.path().join("ring.pcapng");
    let started = Instant::now();
    let o = bounded(
        Command::new(bin())
            .args([
                "capture",
                "-q",
                "-i",
                &a.host,
                "-a",
                "duration:2",
                "-b",
                "filesize:300",
                "-b",
                "files:2",
                "-w",
            ])
            .arg(&ring),
        30,
    );
    let took = started.elapsed();
    drop(floods);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("duration reached"), "{err}");
    assert!(
        err.contains("ring buffer: removed the oldest file"),
        "{err}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(15),
        "{took:?}"
    );
    let left: Vec<PathBuf> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("ring_"))
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    for f in &left {
        let (count, clean) = tshark_count(f);
        assert!(
            clean && count > 0,
            "{}: {count} packets, read cleanly: {clean}",
            f.display()
        );
    }
}
