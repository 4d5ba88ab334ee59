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

/// The provider's bytes of a bundled feed.
fn bundled(stored: &str) -> Vec<u8> {
    let b = Bundle::locate(None, None).unwrap();
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
