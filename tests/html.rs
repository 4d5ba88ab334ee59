//! The HTML report in a real browser: Debian's Chromium, headless, with a fresh
//! profile. The page loads without console messages or network requests, shows the
//! services and hashes, prints on A4 with the capture hash and page number in every
//! page's footer, and keeps hostile strings from a crafted capture inert.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn whohosts() -> Command {
    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join("empty-data-dir");
    std::fs::create_dir_all(&data).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_whohosts"));
    c.env("WHOHOSTS_DATA_DIR", data);
    c
}

fn chromium(profile: &Path, args: &[&str], page: &Path) -> Output {
    let out = Command::new("timeout")
        .arg("120")
        .arg("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium is needed (Debian package chromium; .ci/install-deps installs it)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// What the page logged to the console (CSP violations, script errors, anything).
fn console(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect()
}

/// URLs in Chromium's network log other than those of Chromium's own services
/// (component updates and account checks it makes whatever the page).
fn page_requests(netlog: &Path) -> Vec<String> {
    let log: serde_json::Value = serde_json::from_slice(&std::fs::read(netlog).unwrap()).unwrap();
    let own = [
        "google.com/",
        "googleapis.com/",
        "gvt1.com/",
        "gstatic.com/",
        "googleusercontent.com/",
    ];
    let mut urls: Vec<String> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["params"]["url"].as_str())
        .filter(|u| u.starts_with("http") || u.starts_with("ws"))
        .filter(|u| !own.iter().any(|o| u.contains(o)))
        .map(str::to_owned)
        .collect();
    urls.sort();
    urls.dedup();
    urls
}

fn render(capture: &Path, lang: &str, out: &Path) {
    let o = whohosts()
        .arg("analyze")
        .arg(capture)
        .args(["--lang", lang, "--html"])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn the_demo_report_loads_offline_without_errors_and_prints_the_hash_on_every_page() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = common::root().join("captures/demo.pcap");
    let sha = "488d283248bb2d5f1d09f94d744c562f6fb80de1942806696a4cf94855aa2441";
    for lang in ["en", "zh-CN"] {
        let page = tmp.path().join(format!("demo.{lang}.html"));
        render(&demo, lang, &page);
        let html = std::fs::read_to_string(&page).unwrap();
        // Nothing external: no src or href leaves the page.
        for attr in ["src=\"", "href=\"http", "url(", "@import"] {
            assert!(!html.contains(attr), "{lang}: {attr} in the page");
        }
        let netlog = tmp.path().join(format!("net.{lang}.json"));
        let profile = tmp.path().join(format!("profile.{lang}"));
        let out = chromium(
            &profile,
            &[&format!("--log-net-log={}", netlog.display()), "--dump-dom"],
            &page,
        );
        assert_eq!(console(&out), Vec::<String>::new(), "{lang}: console");
        assert_eq!(page_requests(&netlog), Vec::<String>::new(), "{lang}");
        let dom = String::from_utf8_lossy(&out.stdout);
        for want in [
            "dl.mtr-pirate.example",
            "api.mtr-pirate.example",
            "www.mtr-pirate.example",
            "game.mtr-pirate.example",
            "Alibaba Cloud",
            "Tencent Cloud",
            "Amazon Web Services",
            "Cloudflare",
            "ap-southeast-1",
            "eu-central-1",
            "(ip.addr == 47.236.91.18 &amp;&amp; tcp.port == 80)",
            "192.0.2.53",
            "<svg",
            sha,
        ] {
            assert!(dom.contains(want), "{lang}: {want} not on the page");
        }
        // The captures table gives the hash a row of its own, across the table,
        // so no narrow column cuts it.
        assert!(
            dom.contains(&format!(
                "<td colspan=\"6\" class=\"hash\">SHA-256 {sha}</td>"
            )),
            "{lang}: the capture's hash has no row of its own"
        );
        let heading = if lang == "en" { "Services" } else { "服务" };
        assert!(dom.contains(&format!("<h2 id=\"services\">{heading}</h2>")));
        // Internet services before the local heading, the resolver after it.
        let local = dom.find("<h2 id=\"local\">").expect("a local heading");
        assert!(dom.find("dl.mtr-pirate.example").unwrap() < local);
        assert!(dom[local..].contains("192.0.2.53:53"));

        // Printed: A4, and every page's footer carries the hash and the page number.
        let pdf = tmp.path().join(format!("demo.{lang}.pdf"));
        chromium(
            &profile,
            &[
                "--no-pdf-header-footer",
                &format!("--print-to-pdf={}", pdf.display()),
            ],
            &page,
        );
        let info = Command::new("pdfinfo").arg(&pdf).output().unwrap();
        let info = String::from_utf8_lossy(&info.stdout);
        assert!(info.contains("(A4)"), "{info}");
        let pages: usize = info
            .lines()
            .find_map(|l| l.strip_prefix("Pages:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(pages >= 2, "{pages} pages");
        let text = Command::new("pdftotext")
            .args(["-layout"])
            .arg(&pdf)
            .arg("-")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&text.stdout);
        let per_page: Vec<&str> = text
            .split('\u{c}')
            .filter(|p| !p.trim().is_empty())
            .collect();
        assert_eq!(per_page.len(), pages);
        for (i, p) in per_page.iter().enumerate() {
            assert!(
                p.contains(&format!("[0] SHA-256 {sha}")),
                "{lang}: page {} has no hash footer",
                i + 1
            );
            let number = if lang == "en" {
                format!("Page {} of {pages}", i + 1)
            } else {
                format!("第 {} 页，共 {pages} 页", i + 1)
            };
            assert!(p.contains(&number), "{lang}: page {}: no {number:?}", i + 1);
        }
    }
    // The same report gives the same bytes.
    let (a, b) = (tmp.path().join("a.html"), tmp.path().join("b.html"));
    render(&demo, "en", &a);
    render(&demo, "en", &b);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

/// The servers named by address through proxies have their section, after the
/// services and before the local ones, each with its proxy and attribution.
#[test]
fn servers_behind_proxies_have_their_section_with_their_attribution() {
    let tmp = tempfile::tempdir().unwrap();
    let capture = common::root().join("captures/proxy-target.pcap");
    for (lang, heading) in [("en", "Behind proxies"), ("zh-CN", "代理之后的服务器")] {
        let page = tmp.path().join(format!("proxy.{lang}.html"));
        render(&capture, lang, &page);
        let profile = tmp.path().join(format!("profile.{lang}"));
        let out = chromium(&profile, &["--dump-dom"], &page);
        assert_eq!(console(&out), Vec::<String>::new(), "{lang}: console");
        let dom = String::from_utf8_lossy(&out.stdout);
        let start = dom
            .find(&format!("<h2 id=\"behind\">{heading}</h2>"))
            .unwrap_or_else(|| panic!("{lang}: no section"));
        let end = dom.find("<h2 id=\"local\">").expect("a local heading");
        assert!(dom.find("<h2 id=\"services\">").unwrap() < start && start < end);
        let section = &dom[start..end];
        for want in [
            "<code>52.28.131.173:80</code>",
            "<code>127.0.0.12:1080</code> (socks4)",
            "eu-central-1",
            "<code>[2a05:d014::10]:443</code>",
            "Alibaba Cloud",
            "Tencent Cloud",
            "<code>104.21.48.7:8080</code>",
            "Cloudflare",
        ] {
            assert!(section.contains(want), "{lang}: {want} not in {section}");
        }
    }
}

/// A classic pcap of Ethernet frames built with etherparse.
fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut f = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes());
    for (i, d) in frames.iter().enumerate() {
        f.extend_from_slice(&(1_795_525_841u32 + i as u32).to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&(d.len() as u32).to_le_bytes());
        f.extend_from_slice(&(d.len() as u32).to_le_bytes());
        f.extend_from_slice(d);
    }
    f
}

fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst, 64)
        .udp(sport, dport);
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

#[allow(clippy::too_many_arguments)]
fn tcp(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst, 64)
        .tcp(sport, dport, seq, 64240);
    if syn {
        b = b.syn();
    }
    if let Some(a) = ack {
        b = b.ack(a);
    }
    if !payload.is_empty() {
        b = b.psh();
    }
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

/// A DNS query for `labels` (raw label bytes), type A.
fn dns_query(labels: &[&[u8]]) -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for l in labels {
        m.push(l.len() as u8);
        m.extend_from_slice(l);
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    m
}

/// A DNS answer for `labels` (raw label bytes) with one A record.
fn dns_answer(labels: &[&[u8]], addr: [u8; 4]) -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    let mut qname = Vec::new();
    for l in labels {
        qname.push(l.len() as u8);
        qname.extend_from_slice(l);
    }
    qname.push(0);
    m.extend_from_slice(&qname);
    m.extend_from_slice(&[0, 1, 0, 1]);
    m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4]);
    m.extend_from_slice(&addr);
    m
}

#[test]
fn hostile_names_stay_inert_in_the_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let (client, server, resolver) = ([198, 51, 100, 7], [47, 236, 91, 18], [192, 0, 2, 53]);
    let script_host = "<script>document.title='pwned'</script>\u{202e}gpj.exe.example";
    let img_label: &[u8] = b"<img src=x onerror=\"document.title='pwned2'\">\x1b[31m";
    let request = format!(
        "GET /\"><script>alert(1)</script> HTTP/1.1\r\nHost: {script_host}\r\nUser-Agent: x\r\n\r\n"
    );
    let frames = vec![
        udp(
            client,
            resolver,
            40000,
            53,
            &dns_query(&[img_label, b"example"]),
        ),
        udp(
            resolver,
            client,
            53,
            40000,
            &dns_answer(&[img_label, b"example"], server),
        ),
        tcp(client, server, 41000, 80, 1000, None, true, b""),
        tcp(server, client, 80, 41000, 5000, Some(1001), true, b""),
        tcp(client, server, 41000, 80, 1001, Some(5001), false, b""),
        tcp(
            client,
            server,
            41000,
            80,
            1001,
            Some(5001),
            false,
            request.as_bytes(),
        ),
    ];
    let capture = tmp.path().join("hostile.pcap");
    std::fs::write(&capture, pcap(&frames)).unwrap();
    let page = tmp.path().join("hostile.html");
    render(&capture, "en", &page);
    let html = std::fs::read_to_string(&page).unwrap();
    // The hostile strings reached the page, escaped.
    assert!(
        html.contains("&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;"),
        "the HTTP Host is not on the page escaped"
    );
    assert!(
        html.contains("&lt;img src=x onerror="),
        "the DNS name is missing"
    );
    assert!(!html.contains('\u{202e}') && !html.contains('\u{1b}'));
    assert!(html.contains("\\u{202e}gpj.exe.example"));
    assert!(
        html.contains("\\x1b[31m.example"),
        "the escape is not shown as its code"
    );
    let out = chromium(&tmp.path().join("profile"), &["--dump-dom"], &page);
    assert_eq!(console(&out), Vec::<String>::new());
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("<title>whohosts report</title>"),
        "a script ran"
    );
    assert_eq!(
        dom.matches("<script").count(),
        1,
        "only the page's own script"
    );
    assert!(
        !dom.contains("<img"),
        "markup from the capture became an element"
    );
    assert!(
        !dom.contains('\u{202e}'),
        "a bidirectional override reached the page"
    );
}
