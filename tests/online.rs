//! The online parts against real servers on loopback: feed downloads from an HTTP
//! server (`tests/common/http.rs`) that answers in full, conditionally (304), cut
//! short, slowly, with errors and with redirects; RDAP answers in each registry's
//! shape; reverse DNS from a real dnsmasq. Nothing here talks to any address but
//! 127.0.0.1.

mod common;

use assert_cmd::Command;
use common::http::{Route, Server};
use std::path::Path;
use std::time::{Duration, Instant};
use whohosts::attribute::bundle::{unpack_feed, Bundle, FeedManifest};
use whohosts::hash::sha256_hex as sha256;

/// The provider's bytes of a bundled feed.
fn bundled(stored: &str) -> Vec<u8> {
    let b = Bundle::locate(Some(&common::root().join("data")), None).unwrap();
    let m: FeedManifest = serde_json::from_slice(&b.read("feeds.json").unwrap()).unwrap();
    let f = m.feeds.iter().find(|f| f.stored == stored).unwrap();
    unpack_feed(&b, f).unwrap()
}

/// The binary with a data directory, and no proxy that could take loopback traffic
/// elsewhere.
fn whohosts(data: &Path) -> Command {
    let mut c = Command::cargo_bin("whohosts").unwrap();
    c.env("WHOHOSTS_DATA_DIR", data);
    for v in [
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ] {
        c.env_remove(v);
    }
    c
}

fn update(data: &Path, args: &[&str]) -> (i32, String) {
    let o = whohosts(data)
        .args(["data", "update", "--timeout", "2"])
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

fn log_lines(data: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(data.join("downloads/log.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Issue 22: `data update` downloads the feeds; conditional requests, truncated,
/// failing, slow, unparseable and shrunken answers; the previous data survives every
/// failure, and every attempt is logged with URL, time, status and SHA-256.
#[test]
fn data_update_downloads_feeds_and_keeps_the_previous_copy_on_every_failure() {
    let srv = Server::start();
    let aws = bundled("aws.aws-ip-ranges.json");
    let gcp = bundled("gcp.google-cloud-json.json");
    let cf = bundled("cloudflare.cidr-list-v4.txt");
    srv.route(
        "/m/aws.aws-ip-ranges.json",
        Route::ok("application/json", aws.clone()).with_etag("\"aws-1\""),
    );
    // Google's answer comes through a redirect.
    srv.route(
        "/m/gcp.google-cloud-json.json",
        Route::redirect(&srv.url("/real/cloud.json")),
    );
    srv.route(
        "/real/cloud.json",
        Route::ok("application/json", gcp.clone()),
    );
    srv.route(
        "/m/cloudflare.cidr-list-v4.txt",
        Route::ok("text/plain", cf.clone()),
    );
    // Microsoft's weekly file, found through the page that links it.
    srv.route(
        "/details.html",
        Route::ok(
            "text/html",
            format!(
                "<html><a href=\"{}\">download</a></html>",
                srv.url("/dl/ServiceTags_Public_20250721.json")
            ),
        ),
    );
    srv.route(
        "/dl/ServiceTags_Public_20250721.json",
        Route::ok("application/json", bundled("azure.azure-service-tags.json")),
    );
    let data = tempfile::tempdir().unwrap();
    let mirror = srv.url("/m");
    let page = format!("azure={}", srv.url("/details.html"));
    let only = [
        "--mirror",
        &mirror,
        "--url",
        &page,
        "--only",
        "aws",
        "--only",
        "gcp",
        "--only",
        "cloudflare-v4",
        "--only",
        "azure",
    ];
    let (code, out) = update(data.path(), &only);
    assert_eq!(code, 0, "{out}");
    for id in ["aws", "gcp", "cloudflare-v4", "azure"] {
        assert!(out.contains(&format!("{id}: installed")), "{out}");
    }
    let feeds = data.path().join("feeds");
    assert_eq!(
        std::fs::read(feeds.join("aws.aws-ip-ranges.json")).unwrap(),
        aws
    );
    let log = log_lines(data.path());
    assert_eq!(log.len(), 4);
    for l in &log {
        assert!(l["url"].as_str().unwrap().starts_with("http://127.0.0.1:"));
        assert_eq!(l["status"], 200);
        assert_eq!(l["sha256"].as_str().unwrap().len(), 64);
        assert!(l["time_utc"].as_str().unwrap().ends_with('Z'));
    }
    let g = log
        .iter()
        .find(|l| l["feed"] == "gcp.google-cloud-json.json")
        .unwrap();
    assert!(
        g["final_url"]
            .as_str()
            .unwrap()
            .ends_with("/real/cloud.json"),
        "{g}"
    );
    // The way there is recorded: the URL asked for, then the one that answered.
    let hops: Vec<&str> = g["redirects"]
        .as_array()
        .map(|a| a.iter().filter_map(|u| u.as_str()).collect())
        .unwrap_or_default();
    assert!(
        hops.len() >= 2
            && hops[0] == g["url"].as_str().unwrap()
            && hops.last().unwrap().ends_with("/real/cloud.json"),
        "{g}"
    );
    // The downloaded feeds replace the bundled ones.
    let info = whohosts(data.path())
        .args(["data", "info"])
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.contains("bundled aws.aws-ip-ranges.json (snapshot 2025-07) is replaced"),
        "{info}"
    );

    // A feed that states no date (Azure's changeNumber) is dated by its download.
    let info = whohosts(data.path())
        .args(["data", "info", "--json"])
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    let az = info
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "azure.azure-service-tags.json")
        .unwrap();
    let downloaded = log
        .iter()
        .find(|l| l["feed"] == "azure.azure-service-tags.json")
        .unwrap();
    assert_eq!(
        az["date"].as_str(),
        downloaded["time_utc"].as_str().map(|t| &t[..10])
    );
    assert_eq!(az["bundled"], false);

    // Again: AWS answers 304 to the ETag it gave; nothing is rewritten.
    let before = std::fs::metadata(feeds.join("aws.aws-ip-ranges.json"))
        .unwrap()
        .modified()
        .unwrap();
    let (code, out) = update(data.path(), &["--mirror", &mirror, "--only", "aws"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("aws: unchanged") && out.contains("HTTP 304"),
        "{out}"
    );
    let last = srv
        .seen()
        .into_iter()
        .rev()
        .find(|s| s.path.ends_with("aws.aws-ip-ranges.json"))
        .unwrap();
    assert_eq!(
        last.headers.get("if-none-match").map(String::as_str),
        Some("\"aws-1\"")
    );
    assert!(last
        .headers
        .get("user-agent")
        .unwrap()
        .starts_with("whohosts/"));
    assert_eq!(
        std::fs::metadata(feeds.join("aws.aws-ip-ranges.json"))
            .unwrap()
            .modified()
            .unwrap(),
        before
    );

    // Every failure leaves the installed copy as it was.
    let newer = String::from_utf8(aws.clone())
        .unwrap()
        .replace("1753388594", "1753999999")
        .into_bytes();
    let shrunk = br#"{"syncToken":"1753999999","createDate":"2025-08-01-00-00-00","prefixes":[{"ip_prefix":"3.5.140.0/22","region":"ap-northeast-2","service":"EC2","network_border_group":"ap-northeast-2"}],"ipv6_prefixes":[]}"#.to_vec();
    let failures: Vec<(&str, Route, &str)> = vec![
        (
            "truncated",
            Route {
                truncate_at: Some(newer.len() / 3),
                ..Route::ok("application/json", newer.clone())
            },
            "truncated",
        ),
        ("failing", Route::status(500), "HTTP 500"),
        ("missing", Route::status(404), "HTTP 404"),
        (
            "slow",
            Route {
                delay: Some(Duration::from_secs(4)),
                ..Route::ok("application/json", newer.clone())
            },
            "timed out",
        ),
        (
            "not a feed",
            Route::ok("text/html", "<html>maintenance</html>"),
            "not a feed",
        ),
        (
            "shrunk",
            Route::ok("application/json", shrunk),
            "fewer than half",
        ),
        (
            "wrong format",
            Route::ok("text/plain", "3.5.140.0/22\n"),
            "expected aws-ip-ranges",
        ),
    ];
    let installed = std::fs::read(feeds.join("aws.aws-ip-ranges.json")).unwrap();
    for (what, route, why) in failures {
        srv.route("/m/aws.aws-ip-ranges.json", route);
        let t = Instant::now();
        let (code, out) = update(data.path(), &["--mirror", &mirror, "--only", "aws"]);
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "{what}: took {:?}",
            t.elapsed()
        );
        assert_eq!(code, 1, "{what}: {out}");
        assert!(out.contains("aws: failed"), "{what}: {out}");
        assert!(
            out.to_lowercase().contains(&why.to_lowercase()),
            "{what}: {out}"
        );
        assert!(out.contains("installed copy is unchanged"), "{what}: {out}");
        assert_eq!(
            std::fs::read(feeds.join("aws.aws-ip-ranges.json")).unwrap(),
            installed,
            "{what}"
        );
        assert!(
            !feeds.join("aws.aws-ip-ranges.json.prev").exists(),
            "{what}"
        );
    }
    // Unreachable: nothing listens there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (code, out) = update(
        data.path(),
        &[
            "--url",
            &format!("aws=http://{closed}/x.json"),
            "--only",
            "aws",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        std::fs::read(feeds.join("aws.aws-ip-ranges.json")).unwrap(),
        installed
    );

    // A good newer publication replaces it, and the old one is kept as .prev.
    srv.route(
        "/m/aws.aws-ip-ranges.json",
        Route::ok("application/json", newer.clone()),
    );
    let (code, out) = update(data.path(), &["--mirror", &mirror, "--only", "aws"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("aws: replaced"), "{out}");
    assert_eq!(
        std::fs::read(feeds.join("aws.aws-ip-ranges.json")).unwrap(),
        newer
    );
    assert_eq!(
        std::fs::read(feeds.join("aws.aws-ip-ranges.json.prev")).unwrap(),
        installed
    );
    let log = log_lines(data.path());
    assert!(log.iter().filter(|l| l["outcome"] == "failed").count() >= 8);
    assert!(log.iter().any(|l| l["status"] == 304));
}

/// A real dnsmasq (Debian package dnsmasq-base) answering PTR queries on a loopback
/// port, stopped when dropped.
struct Dnsmasq {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn dnsmasq(ptr: &[(&str, &str)]) -> Dnsmasq {
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let mut cmd = std::process::Command::new("dnsmasq");
    cmd.args([
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        "--listen-address=127.0.0.1",
        &format!("--port={port}"),
        &format!("--pid-file={}", dir.path().join("pid").display()),
    ]);
    for (ip, name) in ptr {
        let o: Vec<&str> = ip.split('.').collect();
        cmd.arg(format!(
            "--ptr-record={}.{}.{}.{}.in-addr.arpa,{name}",
            o[3], o[2], o[1], o[0]
        ));
    }
    let child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("dnsmasq must be installed (Debian package dnsmasq-base; .ci/install-deps)");
    let d = Dnsmasq {
        child,
        port,
        _dir: dir,
    };
    // Ready when dig (bind9-dnsutils) gets the first record back; at most 5 s.
    let (ip, name) = ptr[0];
    for _ in 0..50 {
        let out = std::process::Command::new("dig")
            .args([
                "@127.0.0.1",
                "-p",
                &port.to_string(),
                "-x",
                ip,
                "+short",
                "+time=1",
                "+tries=1",
            ])
            .output()
            .expect("dig must be installed (Debian package bind9-dnsutils)");
        if String::from_utf8_lossy(&out.stdout).contains(name) {
            return d;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("dnsmasq did not answer on 127.0.0.1:{port}");
}

/// RDAP answers in each registry's shape, cut down by hand from real answers (names
/// and handles kept where public, addresses of the made-up parts under .example):
/// ARIN nests the abuse entity under the registrant; RIPE puts it at the top level;
/// APNIC withholds the abuse mailbox (a placeholder) and names it in the remarks;
/// LACNIC and AFRINIC give the abuse role at the top level with their own vCard
/// spellings.
fn rdap_server() -> Server {
    let srv = Server::start();
    let base = |rir: &str| srv.url(&format!("/{rir}/"));
    let v4 = serde_json::json!({
        "version": "1.0",
        "publication": "2025-07-01T00:00:00Z",
        "services": [
            [["3.0.0.0/8", "104.0.0.0/8"], [base("arin")]],
            [["47.0.0.0/8", "43.0.0.0/8"], [base("apnic")]],
            [["116.0.0.0/8"], [base("old-ripe")]],
            [["200.0.0.0/8"], [base("lacnic")]],
            [["41.0.0.0/8"], [base("afrinic")]],
        ]
    });
    srv.route(
        "/iana/ipv4.json",
        Route::ok("application/json", v4.to_string()),
    );
    let vcard = |email: &str| {
        serde_json::json!([
            "vcard",
            [
                ["version", {}, "text", "4.0"],
                ["fn", {}, "text", "Abuse"],
                ["email", {}, "text", email]
            ]
        ])
    };
    let arin = |handle: &str,
                name: &str,
                start: &str,
                end: &str,
                abuse_handle: &str,
                email: &str| {
        serde_json::json!({
            "objectClassName": "ip network", "rdapConformance": ["rdap_level_0", "cidr0"],
            "handle": handle, "name": name, "startAddress": start, "endAddress": end,
            "type": "DIRECT ALLOCATION", "parentHandle": "NET-0-0-0-0-0", "port43": "whois.arin.net",
            "entities": [{
                "objectClassName": "entity", "handle": name, "roles": ["registrant"],
                "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", name], ["kind", {}, "text", "org"]]],
                "entities": [
                    {"objectClassName": "entity", "handle": abuse_handle, "roles": ["abuse"], "vcardArray": vcard(email)},
                    {"objectClassName": "entity", "handle": "NOC-ARIN", "roles": ["technical"], "vcardArray": vcard("noc@ops.example")}
                ]
            }]
        })
    };
    srv.route(
        "/arin/ip/3.121.45.67",
        Route::ok(
            "application/rdap+json",
            arin(
                "NET-3-120-0-0-1",
                "AT-88-Z",
                "3.120.0.0",
                "3.127.255.255",
                "AEA8-ARIN",
                "abuse@amazonaws.com",
            )
            .to_string(),
        ),
    );
    srv.route(
        "/arin/ip/104.21.48.7",
        Route::ok(
            "application/rdap+json",
            arin(
                "NET-104-16-0-0-1",
                "CLOUDFLARENET",
                "104.16.0.0",
                "104.31.255.255",
                "ABUSE2916-ARIN",
                "abuse@cloudflare.com",
            )
            .to_string(),
        ),
    );
    let apnic = |range: (&str, &str), name: &str, country: &str, remark: &str| {
        serde_json::json!({
            "objectClassName": "ip network", "handle": format!("{} - {}", range.0, range.1),
            "startAddress": range.0, "endAddress": range.1, "name": name, "country": country,
            "remarks": [{"title": "remarks", "description": [remark]}],
            "entities": [
                {"objectClassName": "entity", "handle": "IRT-EXAMPLE-AP", "roles": ["abuse"],
                 "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["email", {}, "text", "REDACTED FOR PRIVACY"], ["tel", {"type": "voice"}, "text", "+000000000"]]]},
                {"objectClassName": "entity", "handle": "NOC1-AP", "roles": ["administrative", "technical"], "vcardArray": vcard("hostmaster@tencent.example")}
            ]
        })
    };
    srv.route(
        "/apnic/ip/47.236.91.18",
        Route::ok(
            "application/rdap+json",
            apnic(
                ("47.236.0.0", "47.237.255.255"),
                "ALICLOUD-SG",
                "SG",
                "Abuse reports: please send them to abuse@alibaba-inc.com",
            )
            .to_string(),
        ),
    );
    srv.route(
        "/apnic/ip/47.74.0.1",
        Route::ok(
            "application/rdap+json",
            apnic(
                ("47.74.0.0", "47.87.255.255"),
                "ALICLOUD-US",
                "US",
                "Abuse reports: please send them to abuse@alibaba-inc.com",
            )
            .to_string(),
        ),
    );
    srv.route(
        "/apnic/ip/43.136.75.21",
        Route::ok(
            "application/rdap+json",
            apnic(
                ("43.136.0.0", "43.139.255.255"),
                "TENCENT-CN",
                "CN",
                "For abuse reports write to abuse@tencent.example",
            )
            .to_string(),
        ),
    );
    // RIPE, behind a redirect from an old base URL.
    srv.route(
        "/old-ripe/ip/116.202.118.33",
        Route::redirect(&srv.url("/ripe/ip/116.202.118.33")),
    );
    srv.route(
        "/ripe/ip/116.202.118.33",
        Route::ok("application/rdap+json", serde_json::json!({
            "objectClassName": "ip network", "handle": "116.202.0.0 - 116.203.255.255",
            "startAddress": "116.202.0.0", "endAddress": "116.203.255.255", "name": "HETZNER-fsn1-dc17", "country": "DE",
            "entities": [
                {"objectClassName": "entity", "handle": "HOAC1-RIPE", "roles": ["abuse"], "vcardArray": vcard("abuse@hetzner.com")},
                {"objectClassName": "entity", "handle": "HOAC1-RIPE", "roles": ["administrative"], "vcardArray": vcard("info@hetzner.com")}
            ]
        }).to_string()),
    );
    srv.route(
        "/lacnic/ip/200.160.2.3",
        Route::ok("application/rdap+json", serde_json::json!({
            "objectClassName": "ip network", "handle": "200.160.0.0/20", "startAddress": "200.160.0.0",
            "endAddress": "200.160.15.255", "name": "Example LACNIC holder", "country": "BR",
            "entities": [{"objectClassName": "entity", "handle": "ABU-LAC", "roles": ["abuse"],
                "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["email", {"pref": "1"}, "text", "abuse@lacnic-holder.example"], ["email", {"pref": "2"}, "text", "noc@lacnic-holder.example"]]]}]
        }).to_string()),
    );
    srv.route(
        "/afrinic/ip/41.63.64.1",
        Route::ok("application/rdap+json", serde_json::json!({
            "objectClassName": "ip network", "handle": "41.63.64.0 - 41.63.127.255", "startAddress": "41.63.64.0",
            "endAddress": "41.63.127.255", "name": "EXAMPLE-AFRINIC", "country": "ZA",
            "cidr0_cidrs": [{"v4prefix": "41.63.64.0", "length": 18}],
            "entities": [{"objectClassName": "entity", "handle": "AFR-ABUSE", "roles": ["abuse"],
                "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["email", {"type": "work"}, "text", "mailto:abuse@afrinic-holder.example"]]]}]
        }).to_string()),
    );
    srv
}

fn online_args(dns: &Dnsmasq, srv: &Server) -> Vec<String> {
    vec![
        "--online".into(),
        "--dns-server".into(),
        format!("127.0.0.1:{}", dns.port),
        "--rdap-bootstrap".into(),
        srv.url("/iana/"),
        "--rdap-interval-ms".into(),
        "20".into(),
        "--rdap-timeout".into(),
        "3".into(),
        "--dns-timeout".into(),
        "2".into(),
    ]
}

/// Issue 22: `analyze --online` puts PTR, RDAP and abuse contacts in the report and
/// the letters, and the raw answers with their hashes on disk; replaying them gives
/// the same report, byte for byte.
#[test]
fn analyze_online_records_ptr_rdap_and_abuse_contacts_as_evidence() {
    let dns = dnsmasq(&[(
        "3.121.45.67",
        "ec2-3-121-45-67.eu-central-1.compute.amazonaws.com",
    )]);
    let srv = rdap_server();
    let work = tempfile::tempdir().unwrap();
    let report = work.path().join("report.json");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = whohosts(&work.path().join("data"))
        .current_dir(root)
        .args(["analyze", "captures/demo.pcap", "--json"])
        .arg(&report)
        .args(online_args(&dns, &srv))
        .output()
        .unwrap();
    assert!(
        o.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("ptr: ec2-3-121-45-67.eu-central-1.compute.amazonaws.com"),
        "{text}"
    );
    assert!(
        text.contains("abuse contact 1: abuse@amazonaws.com (RDAP abuse contact of AEA8-ARIN)"),
        "{text}"
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let ep = |ip: &str| {
        r["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["ip"] == ip)
            .unwrap()
            .clone()
    };
    let aws = ep("3.121.45.67");
    assert_eq!(
        aws["ptr"]["names"][0],
        "ec2-3-121-45-67.eu-central-1.compute.amazonaws.com"
    );
    assert_eq!(aws["ptr"]["server"], format!("127.0.0.1:{}", dns.port));
    assert_eq!(aws["rdap"]["handle"], "NET-3-120-0-0-1");
    assert_eq!(aws["rdap"]["name"], "AT-88-Z");
    assert_eq!(aws["rdap"]["range"], "3.120.0.0 - 3.127.255.255");
    assert!(aws["rdap"]["server"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert_eq!(aws["abuse_contacts"][0]["email"], "abuse@amazonaws.com");
    assert_eq!(aws["abuse_contacts"][0]["source"], "rdap_abuse_entity");
    assert_eq!(aws["abuse_contacts"][0]["rank"], 1);
    // APNIC: the placeholder is dropped, the remarks name the mailbox.
    let ali = ep("47.236.91.18");
    assert_eq!(ali["abuse_contacts"][0]["email"], "abuse@alibaba-inc.com");
    assert_eq!(ali["abuse_contacts"][0]["source"], "rdap_remarks");
    assert!(ali["rdap"]["dropped"][0]
        .as_str()
        .unwrap()
        .contains("REDACTED"));
    // The client and its resolver (documentation addresses) were not asked about.
    assert!(ep("198.51.100.7").get("rdap").is_none());
    // The evidence folder beside the report: every file with its hash in the index.
    let online = &r["online"];
    let dir = Path::new(online["evidence_dir"].as_str().unwrap()).to_path_buf();
    assert_eq!(dir, work.path().join("report.json.online"));
    let index_bytes = std::fs::read(dir.join("index.json")).unwrap();
    assert_eq!(online["index_sha256"], sha256(&index_bytes));
    let index: serde_json::Value = serde_json::from_slice(&index_bytes).unwrap();
    for f in index["files"].as_array().unwrap() {
        let bytes = std::fs::read(dir.join(f["path"].as_str().unwrap())).unwrap();
        assert_eq!(f["sha256"], sha256(&bytes), "{f}");
    }
    let raw = std::fs::read(dir.join("rdap/3_121_45_67.json")).unwrap();
    assert!(String::from_utf8_lossy(&raw).contains("AEA8-ARIN"));
    assert_eq!(aws["rdap"]["sha256"], sha256(&raw));
    let rdap_index = index["rdap"].as_array().unwrap();
    let q = rdap_index
        .iter()
        .find(|a| a["ip"] == "3.121.45.67")
        .unwrap();
    assert!(q["time_utc"].as_str().unwrap().ends_with('Z'));
    assert_eq!(q["status"], 200);
    assert!(std::fs::read_to_string(dir.join("dns/3_121_45_67.ptr.txt"))
        .unwrap()
        .contains("ec2-3-121-45-67.eu-central-1.compute.amazonaws.com"));
    assert!(dir.join("dns/3_121_45_67.ptr.bin").is_file());

    // A second run with the same --json path keeps the first run's evidence and
    // writes its own beside it.
    let first = std::fs::read(&report).unwrap();
    let o = whohosts(&work.path().join("data"))
        .current_dir(root)
        .args(["analyze", "captures/demo.pcap", "--json"])
        .arg(&report)
        .args(online_args(&dns, &srv))
        .output()
        .unwrap();
    assert!(
        o.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r2: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert!(
        r2["online"]["evidence_dir"]
            .as_str()
            .unwrap()
            .ends_with("report.json.online-2"),
        "{}",
        r2["online"]
    );
    assert_eq!(std::fs::read(dir.join("index.json")).unwrap(), index_bytes);

    // The same answers replayed, without the network: the same report, byte for byte.
    let again = work.path().join("again.json");
    let o = whohosts(&work.path().join("data"))
        .current_dir(root)
        .args(["analyze", "captures/demo.pcap", "--json"])
        .arg(&again)
        .arg("--online-replay")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        o.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::read(&again).unwrap(), first);

    // Letters: the directory's providers get the RDAP contact beside the directory's
    // channel when it differs; a holder the directory does not list gets a letter to
    // its RDAP abuse contact, named as such.
    let claimant = root.join("tests/fixtures/letter/claimant.toml");
    let letters = work.path().join("letters");
    let o = whohosts(&work.path().join("data"))
        .args(["letter", "--report"])
        .arg(&report)
        .arg("--claimant")
        .arg(&claimant)
        .arg("--out")
        .arg(&letters)
        .args(["--date", "2026-11-21", "--allow-incomplete"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The RDAP contact beside the directory's channel is for the sender: it is in the
    // sender's sheet, not in the letter.
    let sheet = std::fs::read_to_string(letters.join("SENDER-SHEET.md")).unwrap();
    assert!(
        sheet.contains("abuse\\@cloudflare.com as the abuse contact"),
        "{sheet}"
    );
    let cf = std::fs::read_to_string(letters.join("cloudflare.dmca.md")).unwrap();
    assert!(!cf.contains("as the abuse contact"), "{cf}");
    let tencent = std::fs::read_to_string(letters.join("tencent.cn.md")).unwrap();
    assert!(tencent.contains("abuse\\@tencent.example"), "{tencent}");
    // Without Cloudflare in the directory, its address block's RDAP contact gets the
    // letter.
    let dir_text = std::fs::read_to_string(root.join("data/providers.toml")).unwrap();
    let start = dir_text.find("[[provider]]\nid = \"cloudflare\"").unwrap();
    let end = start + 12 + dir_text[start + 12..].find("[[provider]]").unwrap();
    let custom = work.path().join("providers.toml");
    std::fs::write(
        &custom,
        format!("{}{}", &dir_text[..start], &dir_text[end..]),
    )
    .unwrap();
    let letters2 = work.path().join("letters2");
    let o = whohosts(&work.path().join("data"))
        .args(["letter", "--report"])
        .arg(&report)
        .arg("--claimant")
        .arg(&claimant)
        .arg("--directory")
        .arg(&custom)
        .arg("--out")
        .arg(&letters2)
        .args([
            "--date",
            "2026-11-21",
            "--allow-incomplete",
            "--frame",
            "dmca",
            "--provider",
            "rdap-net-104-16-0-0-1",
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let names: Vec<String> = std::fs::read_dir(&letters2)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let md = names.iter().find(|n| n.ends_with(".md")).expect("a letter");
    let l = std::fs::read_to_string(letters2.join(md)).unwrap();
    assert!(l.contains("abuse\\@cloudflare.com"), "{l}");
    assert!(l.contains("CLOUDFLARENET"), "{l}");
    let sheet = std::fs::read_to_string(letters2.join("SENDER-SHEET.md")).unwrap();
    assert!(
        sheet.contains("the abuse contact of the address's RDAP record"),
        "{sheet}"
    );
}

/// Issue 22: `lookup --online` against each registry's shape (RIPE behind a redirect,
/// LACNIC, AFRINIC), a PTR name that embeds a region, one request per address block,
/// the on-disk cache, and failures that leave the offline answer standing.
#[test]
fn lookup_online_reads_every_registry_shape_and_fails_softly() {
    let dns = dnsmasq(&[("47.74.0.1", "ecs.us-west-1.aliyuncs.com")]);
    let srv = rdap_server();
    let data = tempfile::tempdir().unwrap();
    let run = |ips: &[&str], extra: &[String]| {
        let o = whohosts(data.path())
            .args(["lookup", "--json"])
            .args(ips)
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let ips = [
        "116.202.118.33",
        "200.160.2.3",
        "41.63.64.1",
        "47.74.0.1",
        "43.136.75.21",
        "43.136.80.9",
    ];
    let v = run(&ips, &online_args(&dns, &srv));
    let row = |ip: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|r| r["ip"] == ip)
            .unwrap()
            .clone()
    };
    let hz = row("116.202.118.33");
    assert!(
        hz["rdap"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/ripe/ip/116.202.118.33"),
        "{hz}"
    );
    assert_eq!(hz["abuse_contacts"][0]["email"], "abuse@hetzner.com");
    assert_eq!(hz["abuse_contacts"][0]["from"], "HOAC1-RIPE");
    let lac = row("200.160.2.3");
    let emails: Vec<&str> = lac["abuse_contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["abuse@lacnic-holder.example", "noc@lacnic-holder.example"]
    );
    let afr = row("41.63.64.1");
    assert_eq!(
        afr["abuse_contacts"][0]["email"],
        "abuse@afrinic-holder.example"
    );
    assert_eq!(afr["rdap"]["country"], "ZA");
    // The PTR name embeds an Alibaba Cloud region: the region ladder takes it, at
    // medium strength (a reverse name is set by whoever holds the reverse zone).
    let ali = row("47.74.0.1");
    assert_eq!(ali["ptr"]["names"][0], "ecs.us-west-1.aliyuncs.com");
    assert_eq!(ali["region"]["id"], "us-west-1");
    assert_eq!(ali["region"]["source"]["source"], "hostname:ptr");
    assert_eq!(ali["region"]["confidence"], "medium");
    // 43.136.80.9 lies in the range of 43.136.75.21's answer: no second request.
    let asked = |p: &str| srv.seen().iter().filter(|s| s.path == p).count();
    assert_eq!(asked("/apnic/ip/43.136.75.21"), 1);
    assert_eq!(asked("/apnic/ip/43.136.80.9"), 0);
    assert_eq!(
        row("43.136.80.9")["rdap"]["handle"],
        "43.136.0.0 - 43.139.255.255"
    );
    // Again within a day: from the cache in the data directory, no request.
    let before = srv.seen().len();
    let v2 = run(&["116.202.118.33"], &online_args(&dns, &srv));
    assert_eq!(v2[0]["abuse_contacts"][0]["email"], "abuse@hetzner.com");
    assert_eq!(
        srv.seen()
            .iter()
            .skip(before)
            .filter(|s| s.path.contains("/ip/"))
            .count(),
        0
    );

    // Into a case: the answers are written there and entered in its custody log, and
    // the case still verifies.
    let case = data.path().join("case");
    let o = whohosts(data.path())
        .args(["case", "new"])
        .arg(&case)
        .args([
            "--id",
            "C-22",
            "--title",
            "online",
            "--rights-holder",
            "R",
            "--operator",
            "O",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut args = online_args(&dns, &srv);
    args.push("--case".into());
    args.push(case.display().to_string());
    run(&["47.74.0.1"], &args);
    let custody = std::fs::read_to_string(case.join("custody.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(custody.lines().last().unwrap()).unwrap();
    assert_eq!(last["action"], "online.answers");
    let files: Vec<&str> = last["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with("/index.json")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f.ends_with("/dns/47_74_0_1.ptr.txt")),
        "{files:?}"
    );
    let o = whohosts(data.path())
        .arg("verify")
        .arg(&case)
        .output()
        .unwrap();
    // Nothing differs; the case is not sealed with a time-stamp, so its custody lines
    // are not anchored (exit 1).
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        !out.contains("DIFFERS") && out.contains("not yet anchored"),
        "{out}"
    );

    // Failures: an RDAP server that errs, one that is too slow, a bootstrap that is
    // not JSON, a DNS server that does not answer. The offline answer stands and the
    // error is named; nothing waits past its timeout.
    srv.route("/arin/ip/3.121.45.67", Route::status(503));
    srv.route(
        "/arin/ip/104.21.48.7",
        Route {
            delay: Some(Duration::from_secs(5)),
            ..Route::status(200)
        },
    );
    let mut args = online_args(&dns, &srv);
    let silent = free_udp_port();
    args[2] = format!("127.0.0.1:{silent}");
    let t = Instant::now();
    let v = run(&["3.121.45.67", "104.21.48.7"], &args);
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert_eq!(v[0]["provider"]["id"], "aws");
    assert_eq!(v[0]["region"]["id"], "eu-central-1");
    assert!(
        v[0]["rdap"]["error"].as_str().unwrap().contains("HTTP 503"),
        "{}",
        v[0]
    );
    assert!(
        v[1]["rdap"]["error"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{}",
        v[1]
    );
    assert!(v[0]["ptr"]["error"].is_string(), "{}", v[0]);
    assert!(v[0]["abuse_contacts"].is_null());
    srv.route("/iana/ipv4.json", Route::ok("text/html", "<html>no</html>"));
    let fresh = tempfile::tempdir().unwrap();
    let o = whohosts(fresh.path())
        .args(["lookup", "--json", "3.121.45.67"])
        .args(online_args(&dns, &srv))
        .args(["--no-rdns"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v[0]["rdap"]["error"]
            .as_str()
            .unwrap()
            .contains("bootstrap"),
        "{}",
        v[0]
    );
    assert_eq!(v[0]["provider"]["id"], "aws");
}
