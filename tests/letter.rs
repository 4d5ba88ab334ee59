//! Notices to providers: the demo's letters as snapshots in every frame, the measures
//! each service model gets, completeness checks per element, hostile names from a
//! capture, and the `letter` command line.
//!
//! The report fixture `tests/fixtures/letter/demo-report.json` is the output of
//! `WHOHOSTS_DATA_DIR=/nowhere whohosts analyze captures/demo.pcap --json` run in the
//! repository (dl -> alibaba OSS, api -> tencent COS, game -> aws, www -> cloudflare),
//! see captures/README.md; `fixture_is_what_analyze_writes_today` keeps it so.

use assert_cmd::Command;
use std::path::{Path, PathBuf};
use whohosts::attribute::directory::Directory;
use whohosts::letter::{self, input, Claimant, DraftOptions, Frame, Letter};

/// SM3 of captures/demo.pcap, from `openssl dgst -sm3 captures/demo.pcap` (OpenSSL 3).
const DEMO_SM3: &str = "6187f0f938e5cc2538440b6e2d890988006a0b9326d07f898e6e122c7fceffdd";
const NOTARY_CERT: &str = "(2026)京长安内经证字第00001号";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/letter")
        .join(name)
}

fn report() -> input::Report {
    input::Report::load(&fixture("demo-report.json")).expect("fixture report")
}

fn claimant_text() -> String {
    std::fs::read_to_string(fixture("claimant.toml")).expect("fixture claimant")
}

fn claimant() -> Claimant {
    Claimant::from_toml(&claimant_text(), "claimant.toml").expect("fixture claimant parses")
}

fn options() -> DraftOptions {
    let mut o = DraftOptions {
        date: time::Date::from_calendar_date(2026, time::Month::November, 21).ok(),
        notary_certificate: Some(NOTARY_CERT.into()),
        ..DraftOptions::default()
    };
    o.sm3.insert("demo.pcap".into(), DEMO_SM3.into());
    o
}

fn draft_with(c: &Claimant, opts: &DraftOptions) -> Vec<Letter> {
    let dir = Directory::bundled().expect("bundled directory");
    letter::draft(&report(), c, None, &dir, opts)
        .expect("drafts")
        .letters
}

fn letter_for(letters: &[Letter], provider: &str) -> Letter {
    letters
        .iter()
        .find(|l| l.provider == provider)
        .cloned()
        .unwrap_or_else(|| panic!("no letter for {provider}"))
}

fn demo_letters() -> Vec<Letter> {
    draft_with(&claimant(), &options())
}

#[test]
fn demo_gets_one_letter_per_provider_in_its_jurisdictions_frame() {
    let letters = demo_letters();
    let got: Vec<(String, Frame)> = letters
        .iter()
        .map(|l| (l.provider.clone(), l.frame))
        .collect();
    assert_eq!(
        got,
        vec![
            ("alibaba".to_string(), Frame::Cn),
            ("aws".to_string(), Frame::Dmca),
            ("cloudflare".to_string(), Frame::Dmca),
            ("tencent".to_string(), Frame::Cn),
        ]
    );
}

#[test]
fn demo_letters_match_snapshots() {
    let letters = demo_letters();
    for id in ["alibaba", "tencent", "aws", "cloudflare"] {
        let l = letter_for(&letters, id);
        insta::assert_snapshot!(format!("{}.md", l.stem()), l.markdown);
        insta::assert_snapshot!(format!("{}.html", l.stem()), l.html);
        insta::assert_snapshot!(format!("{}.txt", l.stem()), l.text);
        insta::assert_snapshot!(format!("{}.evidence.json", l.stem()), l.extract);
    }
    let dir = Directory::bundled().expect("bundled directory");
    let drafts = letter::draft(&report(), &claimant(), None, &dir, &options()).expect("drafts");
    insta::assert_snapshot!("SENDER-SHEET.md", letter::sender_sheet(&drafts));
    let mut dsa = options();
    dsa.frame_for.insert("aws".into(), Frame::Dsa);
    let l = letter_for(&draft_with(&claimant(), &dsa), "aws");
    assert_eq!(l.frame, Frame::Dsa);
    insta::assert_snapshot!("aws.dsa.md", l.markdown);
    insta::assert_snapshot!("aws.dsa.html", l.html);
    insta::assert_snapshot!("aws.dsa.txt", l.text);
}

#[test]
fn complete_profile_gives_complete_letters_where_the_channel_and_address_are_known() {
    let letters = demo_letters();
    for id in ["aws", "cloudflare"] {
        let l = letter_for(&letters, id);
        assert!(l.missing.is_empty(), "{id}: {:?}", l.missing);
        assert!(!l.markdown.contains("DRAFT"), "{id}");
        assert!(letter::lint(&l.markdown, None).is_complete());
        assert!(letter::lint(&l.html, None).is_complete());
    }
    // Alibaba Cloud (Singapore): the directory knows no address; Tencent Cloud: no
    // channel. Each stays a draft naming why.
    let a = letter_for(&letters, "alibaba");
    assert_eq!(ids_of(&a), ["CN-10"]);
    assert!(
        a.missing[0].why.contains("address is unknown"),
        "{:?}",
        a.missing
    );
    let t = letter_for(&letters, "tencent");
    assert_eq!(ids_of(&t), ["CN-10"]);
    assert!(
        t.missing[0].why.contains("no notice channel"),
        "{:?}",
        t.missing
    );
    assert!(t.markdown.contains("草稿（DRAFT）"));
    assert!(t.html.contains("草稿（DRAFT）"));
    assert!(t.text.contains("草稿（DRAFT）"));
}

fn ids_of(l: &Letter) -> Vec<String> {
    l.missing.iter().map(|m| m.id.clone()).collect()
}

#[test]
fn user_channel_completes_a_letter_and_the_sender_sheet_says_where_it_came_from() {
    let mut o = options();
    o.addressee_for.insert(
        "tencent".into(),
        letter::Addressee::from_user("https://complaint.tencentcloud.example/ip"),
    );
    let t = letter_for(&draft_with(&claimant(), &o), "tencent");
    assert!(t.missing.is_empty(), "{:?}", t.missing);
    assert!(t.markdown.contains("complaint.tencentcloud"));
    assert!(t
        .sender_notes
        .iter()
        .any(|n| n.contains("given on the command line")));
}

/// Options where every provider has a channel (a user's), so that what remains is
/// the frame's fit and the addresses.
fn with_channels(frame: Option<Frame>) -> DraftOptions {
    let mut o = options();
    o.frame = frame;
    for p in ["tencent", "aws", "alibaba"] {
        o.addressee_for.insert(
            p.into(),
            letter::Addressee::from_user(&format!("abuse@{p}.example")),
        );
    }
    o
}

#[test]
fn a_frame_that_does_not_fit_the_recipient_makes_a_draft_naming_the_delivery_element() {
    // Issue 28 item 4: a Chinese letter to AWS Inc. for a Frankfurt server, a DMCA
    // letter to a mainland company, a DSA letter to a mainland company for a server in
    // Guangzhou.
    let cases: &[(Frame, &str, &[&str])] = &[
        (Frame::Cn, "aws", &["CN-10"]),
        (Frame::Cn, "cloudflare", &["CN-10"]),
        (Frame::Cn, "tencent", &[]),
        (Frame::Dmca, "aws", &[]),
        (Frame::Dmca, "cloudflare", &[]),
        (Frame::Dmca, "tencent", &["US-7"]),
        (Frame::Dsa, "aws", &[]),
        (Frame::Dsa, "cloudflare", &[]),
        (Frame::Dsa, "tencent", &["EU-5"]),
    ];
    for (frame, id, want) in cases {
        let l = letter_for(&draft_with(&claimant(), &with_channels(Some(*frame))), id);
        assert_eq!(l.frame, *frame);
        assert_eq!(ids_of(&l), *want, "{id} {frame}: {:?}", l.missing);
        if !want.is_empty() {
            assert!(l.missing[0].why.contains("does not fit"), "{:?}", l.missing);
        }
        // lint on the written letter agrees.
        assert_eq!(ids(&letter::lint(&l.markdown, None)), *want);
        assert_eq!(ids(&letter::lint(&l.html, None)), *want);
    }
    // The AWS China entity is never chosen for a server outside China.
    let l = letter_for(
        &draft_with(&claimant(), &with_channels(Some(Frame::Cn))),
        "aws",
    );
    assert!(!l.markdown.contains("光环新网"));
    assert!(l.markdown.contains("Amazon Web Services, Inc"));
}

#[test]
fn closest_or_missing_channel_unknown_address_and_missing_values_make_drafts() {
    // A DSA letter to AWS: the directory has no channel designated for DSA notices.
    let mut o = options();
    o.frame_for.insert("aws".into(), Frame::Dsa);
    let l = letter_for(&draft_with(&claimant(), &o), "aws");
    assert_eq!(ids_of(&l), ["EU-5"]);
    assert!(
        l.missing[0].why.contains("closest channel"),
        "{:?}",
        l.missing
    );
    // Hand edits: an unknown address, a [MISSING] value, a closest channel.
    let aws = letter_for(&demo_letters(), "aws");
    let addr = aws
        .markdown
        .lines()
        .find(|l| l.starts_with("Address: "))
        .expect("address line");
    let cut = aws.markdown.replace(addr, "Address: unknown");
    assert_eq!(ids(&letter::lint(&cut, None)), ["US-7"]);
    let cut = aws
        .markdown
        .replacen("Date: 2026-11-21", "Date: [MISSING]", 1);
    assert_eq!(ids(&letter::lint(&cut, None)), ["US-7"]);
    let cut = aws
        .markdown
        .replace("channel=designated", "channel=closest");
    assert_eq!(ids(&letter::lint(&cut, None)), ["US-7"]);
}

const DELETION_WORDS_EN: &[&str] = &[
    "remove",
    "delete",
    "disable",
    "take down",
    "terminate",
    "shut",
];
const DELETION_WORDS_ZH: &[&str] = &["删除", "断开", "屏蔽", "关停", "停止服务"];

#[test]
fn iaas_letters_ask_for_forwarding_never_deletion() {
    for frame in Frame::ALL {
        let l = letter_for(&draft_with(&claimant(), &with_channels(Some(frame))), "aws");
        assert_eq!(l.service_model, "iaas");
        assert_eq!(
            l.measures,
            [
                "forward_to_customer",
                "preserve_logs",
                "disclose_on_legal_process"
            ]
        );
        for text in [&l.markdown, &l.html, &l.text] {
            let lower = text.to_lowercase();
            let words = if frame == Frame::Cn {
                DELETION_WORDS_ZH
            } else {
                DELETION_WORDS_EN
            };
            for w in words {
                assert!(!lower.contains(w), "aws {frame}: asks for {w:?}");
            }
            if frame == Frame::Cn {
                assert!(text.contains("转送（转通知）"));
                assert!(text.contains("网络日志"));
            } else {
                assert!(text.contains("Forward this notice and the evidence extract"));
                assert!(text.contains("Preserve the subscriber records and connection logs"));
            }
        }
    }
}

#[test]
fn object_storage_letters_ask_to_remove_or_disable() {
    // Issue 28 item 2: the OSS and COS bucket names in the capture show storage, which
    // the provider controls; the letter asks to remove, not only to forward.
    for frame in Frame::ALL {
        let letters = draft_with(&claimant(), &with_channels(Some(frame)));
        for id in ["alibaba", "tencent"] {
            let l = letter_for(&letters, id);
            assert_eq!(l.service_model, "hosting", "{id}");
            assert_eq!(
                l.measures,
                ["remove_or_disable", "forward_to_customer", "preserve_logs"]
            );
            if frame == Frame::Cn {
                assert!(l.markdown.contains("删除其中的侵权内容"), "{id}");
                assert!(l.markdown.contains("对象存储或托管"), "{id}");
                assert!(!l.markdown.contains("云服务器（IaaS）"), "{id}");
            } else {
                assert!(l.markdown.contains("remove or disable access"), "{id}");
                assert!(!l.markdown.contains("cloud server (IaaS)"), "{id}");
            }
            assert!(
                l.sender_notes.iter().any(|n| n.contains("Object Storage")),
                "{id}: {:?}",
                l.sender_notes
            );
        }
    }
}

#[test]
fn cloudflare_letter_asks_to_forward_to_the_origin_and_name_the_hosting_provider() {
    for frame in Frame::ALL {
        let mut o = options();
        o.frame = Some(frame);
        let l = letter_for(&draft_with(&claimant(), &o), "cloudflare");
        assert_eq!(l.service_model, "cdn");
        assert_eq!(
            l.measures,
            [
                "forward_to_origin",
                "disclose_hosting_provider",
                "preserve_logs"
            ]
        );
        for text in [&l.markdown, &l.html] {
            if frame == Frame::Cn {
                assert!(text.contains("转送上述网站源站的托管服务提供者"));
                assert!(text.contains("向权利人披露上述网站源站的托管服务提供者"));
                assert!(!text.contains("删除"));
            } else {
                assert!(text.contains("to the hosting provider of the origin server"));
                assert!(text
                    .contains("the hosting provider (and origin IP address) of the sites listed"));
                assert!(!text.to_lowercase().contains("remove"));
            }
        }
    }
}

#[test]
fn hosting_letter_asks_to_remove_or_disable() {
    let mut r = report();
    for s in &mut r.services {
        for a in &mut s.attribution {
            if a.provider.id.as_deref() == Some("aws") {
                a.provider.service_model = Some("hosting".into());
            }
        }
    }
    let dir = Directory::bundled().expect("directory");
    let letters = letter::draft(&r, &claimant(), None, &dir, &options()).expect("drafts");
    let l = letter_for(&letters.letters, "aws");
    assert_eq!(
        l.measures,
        ["remove_or_disable", "forward_to_customer", "preserve_logs"]
    );
    assert!(l
        .markdown
        .contains("remove or disable access to the infringing material"));
}

#[test]
fn letters_are_byte_identical_for_the_same_input() {
    let a = demo_letters();
    let b = demo_letters();
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.markdown, y.markdown);
        assert_eq!(x.html, y.html);
    }
}

#[test]
fn evidence_shows_utc_and_claimant_time_server_frames_and_bytes() {
    let l = letter_for(&demo_letters(), "aws");
    assert!(l
        .markdown
        .contains("### 1. Server 3.121.45.67, TCP port 7777"));
    assert!(l.markdown.contains("2026-11-21 13:10:41.889196 UTC"));
    assert!(l.markdown.contains("2026-11-21 21:10:41.889196 +08:00"));
    assert!(l.markdown.contains(DEMO_SM3));
    assert!(l
        .markdown
        .contains("488d283248bb2d5f1d09f94d744c562f6fb80de1942806696a4cf94855aa2441"));
    assert!(l
        .html
        .contains("<h3>1. Server 3.121.45.67, TCP port 7777</h3>"));
    assert!(l
        .markdown
        .contains("934 client to server, 963 server to client"));
}

#[test]
fn server_frames_exclude_the_resolvers_and_dns_frames_are_cited_as_the_name_binding() {
    // Issue 28 item 6: frames 1 and 2 are the DNS query and answer.
    let l = letter_for(&draft_with(&claimant(), &with_channels(None)), "alibaba");
    assert!(
        l.markdown.contains("服务器帧号：3, 6, 8（"),
        "{}",
        l.markdown
    );
    assert!(l
        .markdown
        .contains("dl.mtr-pirate.example（本地解析器的 DNS 应答将该域名解析至上述地址，帧 1, 2）"));
    assert!(l
        .markdown
        .contains("dl.mtr-pirate.example（HTTP 请求的 Host 头，帧 6）"));
}

#[test]
fn the_exact_url_of_the_download_is_in_every_frame() {
    // Issue 28 item 1.
    for frame in Frame::ALL {
        let l = letter_for(
            &draft_with(&claimant(), &with_channels(Some(frame))),
            "alibaba",
        );
        for text in [&l.markdown, &l.text] {
            assert!(
                text.contains("dl.mtr-pirate.example/packages/mtr-reloaded-1.4.2-win64.pak"),
                "{frame}"
            );
            assert!(text.contains("20480"), "{frame}");
            assert!(text.contains("200"), "{frame}");
        }
        assert!(l
            .html
            .contains("http://dl.mtr-pirate.example/packages/mtr-reloaded-1.4.2-win64.pak"));
        assert!(letter::lint(&l.markdown, None).present.iter().any(|p| p
            == match frame {
                Frame::Cn => "CN-6",
                Frame::Dmca => "US-3",
                Frame::Dsa => "EU-2",
            }));
    }
}

#[test]
fn no_infringement_claim_for_the_game_protocol_and_tls_endpoints() {
    // Issue 28 item 5: only the download, compared with the original, is called an
    // infringing copy.
    for frame in Frame::ALL {
        let letters = draft_with(&claimant(), &with_channels(Some(frame)));
        for id in ["aws", "tencent", "cloudflare"] {
            let l = letter_for(&letters, id);
            for text in [&l.markdown, &l.text] {
                assert!(!text.contains("infringing copy"), "{id} {frame}");
                assert!(!text.contains("侵权复制品"), "{id} {frame}");
                assert!(!text.contains("being served"), "{id} {frame}");
            }
        }
        let a = letter_for(&letters, "alibaba");
        assert!(
            a.markdown.contains("infringing copy") || a.markdown.contains("侵权复制品"),
            "{frame}"
        );
    }
    let l = letter_for(&demo_letters(), "aws");
    assert!(l
        .markdown
        .contains("a protocol the analysis did not decode"));
    let c = letter_for(&demo_letters(), "cloudflare");
    assert!(c
        .text
        .contains("encrypted (TLS) session to www.mtr-pirate.example"));
    // Without a comparison, even the download is not called infringing.
    let mut cl = claimant();
    for w in &mut cl.works {
        w.comparison = None;
    }
    let a = letter_for(&draft_with(&cl, &with_channels(None)), "alibaba");
    assert!(!a.markdown.contains("侵权复制品"));
    assert!(a.markdown.contains("不就其作出认定"));
}

#[test]
fn attachments_are_the_extract_and_documents_never_the_report_or_the_case() {
    // Issue 28 item 3.
    let l = letter_for(&demo_letters(), "aws");
    let att = &l.markdown[l.markdown.find("## Attachments").expect("attachments")..];
    assert!(
        att.contains("- A-1 Evidence extract (this notice's servers only): aws.dmca.evidence.json")
    );
    for bad in [
        "report.json",
        "case.json",
        "environment",
        "manifest",
        ".pcap",
    ] {
        assert!(!att.contains(bad), "{bad}");
    }
    // The extract holds only this provider's servers and never the client's address.
    let x: serde_json::Value = serde_json::from_str(&l.extract).expect("json");
    let eps = x["endpoints"].as_array().expect("endpoints");
    assert_eq!(eps.len(), 1);
    assert_eq!(eps[0]["ip"], "3.121.45.67");
    for other in [
        "47.236.91.18",
        "43.136.75.21",
        "104.21.48.7",
        "198.51.100.7",
    ] {
        assert!(!l.extract.contains(other), "{other}");
    }
    assert!(att.contains(&whohosts::hash::sha256_hex(l.extract.as_bytes())));
    // The measure forwards the notice and the extract only.
    assert!(l
        .markdown
        .contains("Forward this notice and the evidence extract (attachment A-1)"));
}

#[test]
fn chinese_letters_hold_no_english_sentence_and_markdown_no_html_entity() {
    // Issue 28 item 7: outside the values of the profile and the capture (names,
    // URLs), a Chinese letter is Chinese; Markdown escapes with backslashes only.
    let mut c = claimant();
    c.agent = None;
    c.rights_holder.name = Some("A & B <legal@firm.example>".into());
    c.rights_holder.name_alt = None;
    c.rights_holder.id_document = Some("营业执照".into());
    c.rights_holder.address = Some("北京市".into());
    c.signature.role = None;
    c.signature.place = None;
    for w in &mut c.works {
        w.title_alt = None;
        w.proof_of_ownership = Some("登记证书".into());
        w.comparison = Some("比对报告".into());
    }
    let letters = draft_with(&c, &with_channels(Some(Frame::Cn)));
    let words = regex::Regex::new(r"[A-Za-z]{3,}( [A-Za-z]{2,}){2,}").expect("regex");
    for l in &letters {
        let text = &l.text;
        for line in text.lines() {
            if line.contains("DRAFT") {
                continue;
            }
            if line.starts_with("致：")
                || line.starts_with("抄送：")
                || line.starts_with("- CN-")
                || line.starts_with("地址：")
            {
                continue;
            }
            assert!(!words.is_match(line), "{}: English in {line:?}", l.provider);
        }
        assert!(!l.markdown.contains("&amp;") && !l.markdown.contains("&lt;"));
        assert!(l.markdown.contains("A \\& B \\<legal\\@firm.example\\>"));
        assert!(l.text.contains("A & B <legal@firm.example>"));
        assert!(l.html.contains("A &amp; B &lt;legal@firm.example&gt;"));
    }
}

/// Removes a key from the claimant TOML text (the first line starting with it after
/// the given table header).
fn without(text: &str, table: &str, key: &str) -> String {
    let mut out = String::new();
    let mut in_table = table.is_empty();
    let mut done = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_table = t == table;
        }
        if in_table && !done && t.starts_with(&format!("{key} =")) {
            done = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    assert!(done, "no {key} in {table}");
    out
}

fn missing_ids(c: &Claimant, frame: Frame) -> Vec<String> {
    // A recipient that fits each frame: Tencent (mainland) for CN, AWS for the others.
    let id = if frame == Frame::Cn { "tencent" } else { "aws" };
    let l = letter_for(&draft_with(c, &with_channels(Some(frame))), id);
    // lint on the written text agrees with what drafting found
    let md = letter::lint(&l.markdown, None);
    let html = letter::lint(&l.html, None);
    let ids: Vec<String> = l.missing.iter().map(|m| m.id.clone()).collect();
    assert_eq!(
        md.missing.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        ids
    );
    assert_eq!(
        html.missing
            .iter()
            .map(|m| m.id.clone())
            .collect::<Vec<_>>(),
        ids
    );
    ids
}

#[test]
fn removing_each_claimant_field_makes_lint_name_its_element() {
    let base = claimant_text();
    let cases: &[(&str, &str, Frame, &[&str])] = &[
        ("[rights_holder]", "name", Frame::Cn, &["CN-1"]),
        ("[rights_holder]", "id_document", Frame::Cn, &["CN-1"]),
        ("[rights_holder]", "address", Frame::Cn, &["CN-2"]),
        ("[rights_holder]", "phone", Frame::Cn, &["CN-2"]),
        ("[rights_holder]", "email", Frame::Cn, &["CN-2"]),
        ("[agent]", "authorisation", Frame::Cn, &["CN-3"]),
        ("[[works]]", "title", Frame::Cn, &["CN-4"]),
        ("[[works]]", "proof_of_ownership", Frame::Cn, &["CN-5"]),
        ("[signature]", "name", Frame::Cn, &["CN-9"]),
        ("[rights_holder]", "name", Frame::Dmca, &["US-4"]),
        ("[rights_holder]", "address", Frame::Dmca, &["US-4"]),
        ("[rights_holder]", "phone", Frame::Dmca, &["US-4"]),
        ("[rights_holder]", "email", Frame::Dmca, &["US-4"]),
        ("[[works]]", "title", Frame::Dmca, &["US-2"]),
        ("[signature]", "name", Frame::Dmca, &["US-1"]),
        ("[rights_holder]", "name", Frame::Dsa, &["EU-1", "EU-3"]),
        ("[rights_holder]", "email", Frame::Dsa, &["EU-3"]),
        ("[[works]]", "title", Frame::Dsa, &["EU-1"]),
    ];
    assert!(missing_ids(&claimant(), Frame::Cn).is_empty());
    for (table, key, frame, want) in cases {
        let c = Claimant::from_toml(&without(&base, table, key), "edited").expect("parses");
        assert_eq!(missing_ids(&c, *frame), *want, "{table} {key} ({frame})");
    }
}

#[test]
fn no_agent_needs_no_authorisation_and_no_works_misses_work_and_proof() {
    let mut c = claimant();
    c.agent = None;
    assert!(missing_ids(&c, Frame::Cn).is_empty());
    c.works.clear();
    // Without works there is no comparison with the original either (CN-7).
    assert_eq!(missing_ids(&c, Frame::Cn), ["CN-4", "CN-5", "CN-7"]);
}

#[test]
fn missing_sm3_leaves_cn7_missing() {
    let mut o = with_channels(None);
    o.sm3.clear();
    let l = letter_for(&draft_with(&claimant(), &o), "tencent");
    assert_eq!(ids_of(&l), ["CN-7"]);
    assert!(l.missing[0].why.contains("SM3"));
}

#[test]
fn letters_claim_a_notary_only_when_one_and_a_certificate_are_named() {
    // Issue 31 item 2: a certificate number alone (no notary) makes no claim.
    for frame in Frame::ALL {
        let l = letter_for(&draft_with(&claimant(), &with_channels(Some(frame))), "aws");
        for text in [&l.markdown, &l.text, &l.html] {
            assert!(!letter::lint::claims_notarisation(text), "{frame}");
            assert!(!text.contains("notarial supervision"), "{frame}");
        }
    }
    let t = letter_for(&draft_with(&claimant(), &with_channels(None)), "tencent");
    assert!(t.markdown.contains("未经公证"));
    assert!(!letter::lint::claims_notarisation(&t.markdown));
    // With a notary and a certificate the letters say so, and lint passes.
    let mut o = with_channels(None);
    o.notary = Some("北京市长安公证处".into());
    let letters = draft_with(&claimant(), &o);
    let t = letter_for(&letters, "tencent");
    assert!(t.missing.is_empty(), "{:?}", t.missing);
    assert!(t.markdown.contains("经公证（公证机构：北京市长安公证处"));
    let a = letter_for(&letters, "aws");
    assert!(a.markdown.contains("recorded under notarial supervision"));
    // A claim inserted by hand into a letter without a notary is an error.
    let t = letter_for(&draft_with(&claimant(), &with_channels(None)), "tencent");
    let forged = t
        .markdown
        .replace("权利人一方录制、未经公证的网络抓包", "经公证的网络抓包")
        .replace("无（抓包未经公证）", "[MISSING]");
    let r = letter::lint(&forged, None);
    assert_eq!(ids(&r), ["CN-7"]);
    let forged = t
        .markdown
        .replace("权利人一方录制、未经公证的网络抓包", "经公证的网络抓包");
    let r = letter::lint(&forged, None);
    assert_eq!(ids(&r), ["CN-7"], "{:?}", r.missing);
    assert!(r.missing[0].why.contains("notarised"));
    let a = letter_for(&draft_with(&claimant(), &with_channels(None)), "aws");
    let forged = a.markdown.replace(
        "made by the complaining party (not notarised)",
        "recorded under notarial supervision",
    );
    assert_eq!(ids(&letter::lint(&forged, None)), ["US-6"]);
}

#[test]
fn hand_edited_letters_fail_lint_for_deleted_sections_and_contents() {
    let letters = draft_with(&claimant(), &with_channels(None));
    let aws = letter_for(&letters, "aws");
    let cut = aws.markdown.replace("under penalty of perjury, ", "");
    assert_eq!(ids(&letter::lint(&cut, None)), ["US-6"]);
    let cut = aws.html.replace("<!-- whohosts:element US-5 -->", "");
    assert_eq!(ids(&letter::lint(&cut, None)), ["US-5"]);
    let t = letter_for(&letters, "tencent");
    assert!(letter::lint(&t.markdown, None).is_complete());
    let cut = t.markdown.replace("权利人保证", "权利人");
    assert_eq!(ids(&letter::lint(&cut, None)), ["CN-9"]);
    let cut = t.markdown.replace("- 电话：+86 10 5555 0100\n", "");
    assert_eq!(ids(&letter::lint(&cut, None)), ["CN-2"]);
    // A letter marked as to an IaaS provider that asks for deletion fails CN-8.
    let cut = t.markdown.replace("model=hosting", "model=iaas");
    assert_eq!(ids(&letter::lint(&cut, None)), ["CN-8"]);
    // Everything after the evidence cut off.
    let idx = t.markdown.find("<!-- whohosts:element CN-7").expect("CN-7");
    let cut = &t.markdown[..idx];
    assert_eq!(ids(&letter::lint(cut, None)), ["CN-7", "CN-8", "CN-9"]);
    // Not a letter at all.
    let r = letter::lint("hello", None);
    assert_eq!(r.frame, None);
    assert!(!r.is_complete());
}

fn ids(r: &letter::LintReport) -> Vec<String> {
    r.missing.iter().map(|m| m.id.clone()).collect()
}

const HOSTILE: &[&str] = &[
    "<script>alert(1)</script>.example",
    "](javascript:alert(1))",
    "[x](javascript:alert(1))",
    "a|b",
    "line\nbreak.example",
    "quote\"d'.example",
    "<img src=x onerror=alert(1)>",
    "www.evil.example",
    "user@evil.example",
    "`code`*em*_u_",
    "&lt;script&gt;",
    "<!-- whohosts:element CN-2 -->",
];

fn hostile_report() -> input::Report {
    let mut r = report();
    for s in &mut r.services {
        s.hostnames = HOSTILE
            .iter()
            .map(|h| input::Hostname {
                name: (*h).to_string(),
                sources: vec!["http_host".into()],
                frames: vec![input::FrameId {
                    capture: 0,
                    frame: 6,
                }],
                ..input::Hostname::default()
            })
            .collect();
        for e in &mut s.endpoints {
            e.transport = "tcp<b>".into();
        }
        for a in &mut s.attribution {
            a.region.id = Some("<script>x</script>".into());
        }
    }
    for c in &mut r.captures {
        c.path = "captures/<script>](javascript:x).pcap".into();
    }
    for t in &mut r.tls {
        t.sni = Some(HOSTILE[0].into());
    }
    for h in &mut r.http {
        h.uri = Some("/<img src=x onerror=alert(1)>](javascript:x)".into());
    }
    r
}

#[test]
fn hostile_names_from_a_capture_come_out_inert_in_markdown_and_html() {
    let dir = Directory::bundled().expect("directory");
    for frame in Frame::ALL {
        let mut o = options();
        o.frame = Some(frame);
        let letters = letter::draft(&hostile_report(), &claimant(), None, &dir, &o)
            .expect("drafts")
            .letters;
        assert!(!letters.is_empty());
        for l in &letters {
            let html = l.html.to_lowercase();
            assert!(!html.contains("<script"), "{} {frame}", l.provider);
            assert!(!html.contains("<img"), "{} {frame}", l.provider);
            assert!(!html.contains("<b>"), "{} {frame}", l.provider);
            assert!(!html.contains("href"), "{} {frame}", l.provider);
            // Only our own markers are raw HTML in the Markdown; every other `<` is
            // backslash-escaped.
            for (i, _) in l.markdown.match_indices('<') {
                let rest = &l.markdown[i..];
                assert!(
                    l.markdown[..i].ends_with('\\')
                        || rest.starts_with("<!-- whohosts:letter ")
                        || rest.starts_with("<!-- whohosts:element ")
                        || rest.starts_with("<!-- whohosts:end -->"),
                    "{} {frame}: raw < at {:?}",
                    l.provider,
                    &rest[..rest.len().min(40)]
                );
            }
            assert!(!l.markdown.contains("]("), "{} {frame}", l.provider);
            // A forged marker in a name does not count as a marker.
            let markers = l.markdown.matches("whohosts:element CN-2 -->").count();
            assert!(markers <= 1);
            // Rendered as CommonMark, the Markdown holds no link and no HTML but ours.
            use pulldown_cmark::{Event, Options, Parser, Tag};
            for ev in Parser::new_ext(&l.markdown, Options::all()) {
                match ev {
                    Event::Start(Tag::Link { dest_url, .. })
                    | Event::Start(Tag::Image { dest_url, .. }) => {
                        panic!("{} {frame}: link to {dest_url:?} in Markdown", l.provider)
                    }
                    Event::Html(h) | Event::InlineHtml(h) => {
                        assert!(
                            h.trim_start().starts_with("<!-- whohosts:"),
                            "{} {frame}: html {h:?}",
                            l.provider
                        )
                    }
                    _ => {}
                }
            }
            // The hostile names still appear, escaped.
            assert!(l
                .html
                .contains("&lt;script&gt;alert(1)&lt;/script&gt;.example"));
            assert!(l
                .markdown
                .contains("\\<script\\>alert\\(1\\)\\</script\\>.example"));
        }
    }
}

#[test]
fn case_directory_gives_notary_certificate_sm3_and_attachments() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let case = tmp.path();
    std::fs::create_dir_all(case.join("manifests")).expect("mkdir");
    std::fs::write(
        case.join("case.json"),
        format!(
            r#"{{"format":"whohosts-case/1","id":"MT-2026-01","title":"MT Reloaded","rights_holder":"Example Games","operator":"Wang Wu","notary":"北京市长安公证处","notary_certificate":"{NOTARY_CERT}","time_zone":"+08:00","created_utc":"2026-11-21T12:00:00Z"}}"#
        ),
    )
    .expect("case.json");
    let manifest = |v: u32, sm3: &str| {
        format!(
            r#"{{"format":"whohosts-manifest/1","case_id":"MT-2026-01","version":{v},"created_utc":"2026-11-21T13:30:00Z","custody_head":{{"seq":3,"sha256":"00"}},"files":[{{"path":"captures/demo.pcap","size":46338,"sha256":"488d283248bb2d5f1d09f94d744c562f6fb80de1942806696a4cf94855aa2441","sm3":"{sm3}"}},{{"path":"case.json","size":10,"sha256":"{z}","sm3":"{z}"}}]}}"#,
            z = "0".repeat(64)
        )
    };
    std::fs::write(
        case.join("manifests/manifest-v1.json"),
        manifest(1, &"1".repeat(64)),
    )
    .expect("v1");
    std::fs::write(
        case.join("manifests/manifest-v2.json"),
        manifest(2, DEMO_SM3),
    )
    .expect("v2");
    let c = input::Case::load(case).expect("case loads");
    let mut o = options();
    o.sm3.clear();
    o.notary_certificate = None;
    let dir = Directory::bundled().expect("directory");
    let letters = letter::draft(&report(), &claimant(), Some(&c), &dir, &o)
        .expect("drafts")
        .letters;
    let l = letter_for(&letters, "tencent");
    assert_eq!(ids_of(&l), ["CN-10"], "no channel for Tencent");
    assert!(l.markdown.contains(DEMO_SM3));
    assert!(l
        .sender_notes
        .iter()
        .any(|n| n.contains("case manifest manifests/manifest-v2.json")));
    assert!(l.markdown.contains("经公证（公证机构：北京市长安公证处"));
    // The capture is named by its path in the case; case files are not attachments,
    // the case's attachments/ folder is.
    assert!(l.markdown.contains("抓包文件：captures/demo.pcap（"));
    assert!(!l.markdown.contains("案卷文件"));
    assert!(!l.markdown.contains("manifest"));
    std::fs::create_dir_all(case.join("attachments")).expect("mkdir");
    std::fs::write(case.join("attachments/licence.pdf"), b"%PDF-1.4 licence").expect("write");
    let c = input::Case::load(case).expect("case loads");
    let l = letter_for(
        &letter::draft(&report(), &claimant(), Some(&c), &dir, &o)
            .expect("drafts")
            .letters,
        "tencent",
    );
    assert!(
        l.markdown.contains(&format!(
            "- A-6 案卷附件：attachments/licence.pdf，16 字节，SHA-256 {}",
            whohosts::hash::sha256_hex(b"%PDF-1.4 licence")
        )),
        "{}",
        l.markdown
    );
}

#[test]
fn a_case_time_zone_in_any_accepted_form_is_used_and_a_bad_one_is_an_error() {
    // Issue 30 item 3: `case new --tz +0800` was accepted, but letters parsed the zone
    // with another parser that refused it and fell back to UTC without a word.
    let tmp = tempfile::tempdir().expect("tempdir");
    let case = tmp.path();
    let write = |tz: &str| {
        std::fs::write(
            case.join("case.json"),
            format!(r#"{{"id":"C-1","notary":null,"notary_certificate":null,"time_zone":"{tz}"}}"#),
        )
        .expect("case.json")
    };
    let mut c = claimant();
    c.timezone = None;
    let dir = Directory::bundled().expect("directory");
    for tz in ["+0800", "+08:00", "+08"] {
        write(tz);
        let k = input::Case::load(case).expect("case loads");
        let l = letter_for(
            &letter::draft(&report(), &c, Some(&k), &dir, &options())
                .expect("drafts")
                .letters,
            "aws",
        );
        assert!(
            l.markdown.contains("2026-11-21 21:10:41.889196 +08:00"),
            "{tz}"
        );
    }
    write("Asia/Shanghai");
    let e = input::Case::load(case).expect_err("refused");
    assert!(e.to_string().contains("time_zone"), "{e}");
}

#[test]
fn user_templates_replace_the_bundled_ones_and_still_escape() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        tmp.path().join("dmca.md.j2"),
        "<!-- whohosts:letter frame=dmca -->\nCustom {{ rows[0].hostnames[0] }}\n",
    )
    .expect("template");
    let mut o = options();
    o.templates = Some(tmp.path().to_path_buf());
    let dir = Directory::bundled().expect("directory");
    let letters = letter::draft(&hostile_report(), &claimant(), None, &dir, &o)
        .expect("drafts")
        .letters;
    let l = letter_for(&letters, "aws");
    assert!(l.markdown.contains("Custom \\<script\\>"), "{}", l.markdown);
    assert!(l.html.contains("Custom &lt;script&gt;"));
    // Every element missing from the custom template is named.
    assert_eq!(l.missing.len(), 7);
    // The HTML is made from the same template.
    assert!(l.html.contains("<!DOCTYPE html>"));
}

fn bin() -> Command {
    Command::cargo_bin("whohosts").expect("binary")
}

#[test]
fn cli_drafts_writes_both_formats_and_exits_3_on_a_draft() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("letters");
    let base = |cmd: &mut Command| {
        cmd.arg("letter")
            .arg("--report")
            .arg(fixture("demo-report.json"))
            .arg("--claimant")
            .arg(fixture("claimant.toml"))
            .args(["--date", "2026-11-21", "--notary-cert", NOTARY_CERT])
            .arg("--sm3")
            .arg(format!("demo.pcap={DEMO_SM3}"))
            .arg("--out")
            .arg(&out);
    };
    let mut cmd = bin();
    base(&mut cmd);
    let o = cmd.output().expect("runs");
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("tencent.cn: cn letter, DRAFT"));
    assert!(stdout.contains("aws.dmca: dmca letter, complete"));
    for f in ["alibaba.cn", "tencent.cn", "aws.dmca", "cloudflare.dmca"] {
        for ext in ["md", "html", "txt", "evidence.json"] {
            assert!(out.join(format!("{f}.{ext}")).is_file(), "{f}.{ext}");
        }
    }
    let written = std::fs::read_to_string(out.join("alibaba.cn.md")).expect("read");
    assert_eq!(written, letter_for(&demo_letters(), "alibaba").markdown);
    // Issue 26: no letter carries a directory note or a path outside the case, and the
    // plain text holds no Markdown escape; the notes are in the sender's sheet.
    let sheet = std::fs::read_to_string(out.join("SENDER-SHEET.md")).expect("sheet");
    assert!(
        sheet.contains("LEGAL.md"),
        "the directory's sources go to the sheet"
    );
    for f in ["alibaba.cn", "tencent.cn", "aws.dmca", "cloudflare.dmca"] {
        for ext in ["md", "html", "txt"] {
            let t = std::fs::read_to_string(out.join(format!("{f}.{ext}"))).expect("read");
            for bad in [
                "LEGAL.md",
                "as recalled",
                "providers.toml",
                "Attribution",
                "归属依据",
                "asn-ipv4",
                fixture("").to_str().unwrap_or("/"),
            ] {
                assert!(!t.contains(bad), "{f}.{ext}: {bad:?}");
            }
        }
        let txt = std::fs::read_to_string(out.join(format!("{f}.txt"))).expect("read");
        for esc in ["\\.", "\\(", "\\:", "\\@", "\\-", "<!--", "&amp;"] {
            assert!(!txt.contains(esc), "{f}.txt: {esc}");
        }
    }
    // Refuses to overwrite without --force.
    let mut cmd = bin();
    base(&mut cmd);
    let o = cmd.output().expect("runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    // Letters are written as they are drafted; a file of a later letter already
    // there stops the run, and the letters written before it are taken back: the
    // directory is left as it was (here, one edited letter and nothing else).
    let edited = tmp.path().join("edited");
    std::fs::create_dir_all(&edited).expect("mkdir");
    std::fs::write(edited.join("tencent.cn.md"), "edited by hand").expect("write");
    let mut cmd = bin();
    cmd.arg("letter")
        .arg("--report")
        .arg(fixture("demo-report.json"))
        .arg("--claimant")
        .arg(fixture("claimant.toml"))
        .args(["--date", "2026-11-21", "--out"])
        .arg(&edited);
    let o = cmd.output().expect("runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("tencent.cn.md exists; use --force"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let left: Vec<_> = std::fs::read_dir(&edited)
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, ["tencent.cn.md"]);
    assert_eq!(
        std::fs::read_to_string(edited.join("tencent.cn.md")).expect("read"),
        "edited by hand"
    );
    // --force, --allow-incomplete, and a channel for Tencent: exit 0.
    let mut cmd = bin();
    base(&mut cmd);
    cmd.args(["--force", "--allow-incomplete"]);
    assert_eq!(cmd.output().expect("runs").status.code(), Some(0));
    let mut cmd = bin();
    base(&mut cmd);
    cmd.args([
        "--force",
        "--provider",
        "tencent",
        "--to",
        "tencent=abuse@tencent.example",
    ]);
    assert_eq!(cmd.output().expect("runs").status.code(), Some(0));
    // The `draft` spelling and a per-provider frame.
    let out2 = tmp.path().join("dsa");
    let mut cmd = bin();
    cmd.args(["letter", "draft", "--report"])
        .arg(fixture("demo-report.json"))
        .arg("--claimant")
        .arg(fixture("claimant.toml"))
        .args([
            "--date",
            "2026-11-21",
            "--provider",
            "aws",
            "--frame",
            "aws=dsa",
            "--to",
            "aws=https://aws.example/dsa-form",
        ])
        .arg("--out")
        .arg(&out2);
    let o = cmd.output().expect("runs");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out2.join("aws.dsa.md").is_file());
    assert_eq!(std::fs::read_dir(&out2).expect("dir").count(), 5);
}

#[test]
fn cli_lint_lists_missing_ids_and_init_writes_a_template() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let profile = tmp.path().join("claimant.toml");
    let o = bin()
        .args(["letter", "init"])
        .arg(&profile)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&profile).expect("read"),
        letter::claimant::TEMPLATE
    );
    let o = bin()
        .args(["letter", "init"])
        .arg(&profile)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    // Issue 26 item 1: the profile `init` writes, unchanged, fails lint naming every
    // field to fill in; letters drafted from it are drafts.
    let o = bin()
        .args(["letter", "lint"])
        .arg(&profile)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for f in [
        "rights_holder.name",
        "rights_holder.id_document",
        "rights_holder.address",
        "rights_holder.phone",
        "rights_holder.email",
        "agent.authorisation",
        "works[0].title",
        "works[0].proof_of_ownership",
        "signature.name",
    ] {
        assert!(stdout.contains(&format!("{f}: ")), "{f}: {stdout}");
    }
    let c = Claimant::load(&profile).expect("parses");
    for l in draft_with(&c, &with_channels(None)) {
        assert!(!l.missing.is_empty(), "{}", l.provider);
        assert!(l.markdown.contains("DRAFT") || l.markdown.contains("草稿"));
    }
    let o = bin()
        .args(["letter", "lint"])
        .arg(fixture("claimant.toml"))
        .output()
        .expect("runs");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    let good = tmp.path().join("aws.dmca.md");
    let aws = letter_for(&demo_letters(), "aws");
    std::fs::write(&good, &aws.markdown).expect("write");
    let bad = tmp.path().join("edited.html");
    std::fs::write(&bad, aws.html.replace("penalty of perjury", "")).expect("write");
    let o = bin()
        .args(["letter", "lint"])
        .arg(&good)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("complete (dmca"));
    let o = bin()
        .args(["letter", "lint"])
        .arg(&good)
        .arg(&bad)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("US-6"), "{stdout}");
    assert!(stdout.contains("penalty of perjury"), "{stdout}");
    // Bad input exits 2.
    let o = bin()
        .args(["letter", "--report"])
        .arg(&good)
        .arg("--claimant")
        .arg(&profile)
        .arg("--out")
        .arg(tmp.path())
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn cli_letter_reads_a_real_sealed_case() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let case = tmp.path().join("case");
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/demo.pcap");
    let run = |args: &[&std::ffi::OsStr]| {
        let o = bin().args(args).output().expect("runs");
        assert_eq!(
            o.status.code(),
            Some(0),
            "{:?}: {}",
            args,
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    run(&[
        os("case"),
        os("new"),
        case.as_os_str(),
        os("--id"),
        os("MT-2026-01"),
        os("--title"),
        os("MT Reloaded"),
        os("--rights-holder"),
        os("Example Games"),
        os("--operator"),
        os("Wang Wu"),
        os("--notary"),
        os("北京市长安公证处"),
        os("--notary-cert"),
        os(NOTARY_CERT),
        os("--tz"),
        os("+08:00"),
    ]);
    run(&[os("case"), os("add"), case.as_os_str(), demo.as_os_str()]);
    run(&[os("case"), os("seal"), case.as_os_str()]);
    let out = tmp.path().join("letters");
    let o = bin()
        .args(["letter", "--report"])
        .arg(fixture("demo-report.json"))
        .arg("--claimant")
        .arg(fixture("claimant.toml"))
        .arg("--case")
        .arg(&case)
        .args(["--date", "2026-11-21", "--provider", "aws", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let md = std::fs::read_to_string(out.join("aws.dmca.md")).expect("letter");
    assert!(md.contains(DEMO_SM3), "SM3 from the case manifest");
    assert!(md.contains("recorded under notarial supervision (北京市长安公证处, certificate \\(2026\\)京长安内经证字第00001号)"), "{md}");
    assert!(md.contains("Capture file: captures/demo.pcap ("));
    assert!(letter::lint(&md, None).is_complete());
}

#[test]
fn sm3_from_analyze_is_used_when_no_case_is_given() {
    let mut r = report();
    for c in &mut r.captures {
        c.sm3 = Some(DEMO_SM3.into());
    }
    let mut o = options();
    o.sm3.clear();
    let dir = Directory::bundled().expect("directory");
    let l = letter_for(
        &letter::draft(&r, &claimant(), None, &dir, &o)
            .expect("drafts")
            .letters,
        "aws",
    );
    assert!(l.missing.is_empty(), "{:?}", l.missing);
    assert!(l.markdown.contains(DEMO_SM3));
    assert!(l.sender_notes.iter().any(|n| n.contains("analysis report")));
}

#[test]
fn letters_from_the_real_analysis_of_the_demo_capture() {
    // The attribution and the hostnames are analyze's own: providers by ASN from the
    // bundled data, names and regions from the capture's DNS, SNI and Host headers.
    let tmp = tempfile::tempdir().expect("tempdir");
    let report = tmp.path().join("report.json");
    // Relative path and working directory: the report (and so the letters) name the
    // capture as `captures/demo.pcap` on every machine.
    let o = bin()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("WHOHOSTS_DATA_DIR", tmp.path().join("no-extra-data"))
        .arg("analyze")
        .arg("captures/demo.pcap")
        .arg("--sm3")
        .arg("--json")
        .arg(&report)
        .output()
        .expect("runs");
    assert!(
        o.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r = input::Report::load(&report).expect("report");
    let dir = Directory::bundled().expect("directory");
    let mut opts = options();
    opts.sm3.clear();
    let drafts = letter::draft(&r, &claimant(), None, &dir, &opts).expect("drafts");
    let got: Vec<(String, Frame, String)> = drafts
        .letters
        .iter()
        .map(|l| (l.provider.clone(), l.frame, l.service_model.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("alibaba".into(), Frame::Cn, "hosting".into()),
            ("aws".into(), Frame::Dmca, "iaas".into()),
            ("cloudflare".into(), Frame::Dmca, "cdn".into()),
            ("tencent".into(), Frame::Cn, "hosting".into()),
        ]
    );
    assert_eq!(drafts.skipped.len(), 1, "{:?}", drafts.skipped);
    let ali = letter_for(&drafts.letters, "alibaba");
    assert!(ali.markdown.contains(DEMO_SM3));
    assert!(ali
        .markdown
        .contains("### 1. 服务器 47.236.91.18，TCP 端口 80"));
    assert!(
        !ali.markdown.contains("AS45102"),
        "attribution goes to the sheet"
    );
    assert!(ali.sender_notes.iter().any(|n| n.contains("AS45102")));
    // The report analyze writes today is the fixture's (same letters).
    let fixture_letters = demo_letters();
    for l in &drafts.letters {
        let f = letter_for(&fixture_letters, &l.provider);
        assert_eq!(
            l.markdown, f.markdown,
            "{}: regenerate the fixture",
            l.provider
        );
    }
}

#[test]
fn rdap_contact_replaces_the_directory_channel_and_is_labelled_so() {
    let mut o = options();
    o.addressee_for.insert(
        "tencent".into(),
        letter::Addressee::from_rdap(
            "abuse@tencent.example",
            "https://rdap.apnic.net/ip/43.136.75.21",
            "2026-11-21T13:20:00Z",
        ),
    );
    let t = letter_for(&draft_with(&claimant(), &o), "tencent");
    assert!(t.missing.is_empty(), "{:?}", t.missing);
    assert_eq!(t.addressee.source, letter::AddresseeSource::Rdap);
    assert!(t
        .sender_notes
        .iter()
        .any(|n| n.contains("the abuse contact of the address's RDAP record")));
    assert!(t.markdown.contains("abuse\\@tencent.example"));
    // The legal entity still comes from the directory.
    assert!(t.markdown.contains("腾讯云计算（北京）有限责任公司"));
}

#[test]
fn cdn_letter_without_a_domain_is_a_draft_naming_the_location_element() {
    let mut r = report();
    for s in &mut r.services {
        s.hostnames.clear();
    }
    for t in &mut r.tls {
        t.sni = None;
    }
    let dir = Directory::bundled().expect("directory");
    for frame in Frame::ALL {
        let o = with_channels(Some(frame));
        let letters = letter::draft(&r, &claimant(), None, &dir, &o)
            .expect("drafts")
            .letters;
        let cf = letter_for(&letters, "cloudflare");
        let want: &[&str] = match frame {
            // Cloudflare, Inc. is in the US: a Chinese-law letter does not fit it.
            Frame::Cn => &["CN-6", "CN-10"],
            Frame::Dmca => &["US-3"],
            Frame::Dsa => &["EU-2"],
        };
        assert_eq!(ids(&letter::lint(&cf.markdown, None)), want);
        assert!(cf.missing[0].why.contains("no domain or URL"));
        // For a cloud server, address, port and time are the location.
        if frame != Frame::Cn {
            assert!(letter_for(&letters, "aws").missing.is_empty());
        }
    }
}

#[test]
fn lint_never_panics_on_a_letter_cut_anywhere() {
    let l = letter_for(&demo_letters(), "alibaba");
    for text in [&l.markdown, &l.html] {
        let cuts: Vec<usize> = (0..=text.len())
            .filter(|i| text.is_char_boundary(*i))
            .step_by(5)
            .collect();
        for i in cuts {
            let r = letter::lint(&text[..i], None);
            if i < text.len() / 2 {
                assert!(!r.is_complete(), "cut at {i}");
            }
        }
    }
}

#[test]
fn broken_user_template_is_an_error_naming_the_template() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("cn.md.j2"), "{% if %}").expect("template");
    let mut o = options();
    o.templates = Some(tmp.path().to_path_buf());
    let dir = Directory::bundled().expect("directory");
    let e = letter::draft(&report(), &claimant(), None, &dir, &o).expect_err("refused");
    assert!(e.to_string().contains("cn.md.j2"), "{e}");
    o.templates = Some(tmp.path().join("nowhere"));
    assert!(letter::draft(&report(), &claimant(), None, &dir, &o).is_err());
}

/// Every key of `view` (a letter's input view, serialised) is in `report` at the same
/// place; `path` names where a difference is.
fn keys_in(
    view: &serde_json::Value,
    report: &serde_json::Value,
    path: &str,
    out: &mut Vec<String>,
) {
    match (view, report) {
        (serde_json::Value::Object(v), serde_json::Value::Object(r)) => {
            for (k, vv) in v {
                match r.get(k) {
                    Some(rv) => keys_in(vv, rv, &format!("{path}.{k}"), out),
                    None => out.push(format!("{path}.{k}")),
                }
            }
        }
        (serde_json::Value::Array(v), serde_json::Value::Array(r)) => {
            for (i, (vv, rv)) in v.iter().zip(r).enumerate() {
                keys_in(vv, rv, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_letter_reads_the_report_with_its_own_field_names_and_fails_loudly_on_a_rename() {
    // Issue 30 item 5: every field the letter reads is a field analyze writes (checked
    // on the report analyze writes today), and a renamed field is an error naming it
    // instead of a silently empty value.
    let text = std::fs::read_to_string(fixture("demo-report.json")).expect("fixture");
    let full: serde_json::Value = serde_json::from_str(&text).expect("json");
    let view = serde_json::to_value(report()).expect("view");
    let mut extra = Vec::new();
    keys_in(&view, &full, "report", &mut extra);
    assert!(
        extra.is_empty(),
        "fields the report does not write: {extra:?}"
    );
    for (from, to) in [
        ("\"bytes_to_server\"", "\"bytes_up\""),
        ("\"first_seen\"", "\"first\""),
        ("\"sha256\"", "\"digest\""),
        ("\"service_model\"", "\"model\""),
        ("\"conversations\"", "\"convs\""),
    ] {
        let renamed = text.replace(from, to);
        let e = input::Report::from_json(renamed.as_bytes(), "r.json").expect_err(from);
        let name = from.trim_matches('"');
        assert!(e.to_string().contains(name), "{from}: {e}");
    }
}

#[test]
fn the_entity_follows_the_region_alibaba_singapore_and_tencent_international() {
    // Issue 26 item 4. ap-southeast-1 (Singapore) is served by Alibaba Cloud
    // (Singapore), with the mainland entity named as a copy; a Tencent server in
    // ap-singapore goes to Tencent Cloud International.
    let a = letter_for(&demo_letters(), "alibaba");
    assert!(a
        .markdown
        .contains("致：Alibaba Cloud \\(Singapore\\) Private Limited"));
    assert!(a.markdown.contains("抄送：阿里云计算有限公司"));
    assert!(a
        .markdown
        .contains("位于 ap-southeast-1 区域，据通知人所知该区域的客户由贵司签约服务"));
    assert!(a
        .markdown
        .contains("通知渠道：https\\://www\\.alibabacloud.com/report"));
    assert!(a
        .sender_notes
        .iter()
        .any(|n| n.contains("because the servers are in region ap-southeast-1")));
    let mut r = report();
    for s in &mut r.services {
        for at in &mut s.attribution {
            if at.provider.id.as_deref() == Some("tencent") {
                at.region.id = Some("ap-singapore".into());
            }
        }
        for h in &mut s.hostnames {
            h.name = h.name.replace("ap-guangzhou", "ap-singapore");
        }
    }
    let dir = Directory::bundled().expect("directory");
    let t = letter_for(
        &letter::draft(&r, &claimant(), None, &dir, &options())
            .expect("drafts")
            .letters,
        "tencent",
    );
    assert!(
        t.markdown
            .contains("致：Tencent Cloud International Pte. Ltd."),
        "{}",
        t.markdown
    );
    assert!(t.markdown.contains("抄送：腾讯云计算（北京）有限责任公司"));
    assert!(t
        .sender_notes
        .iter()
        .any(|n| n.contains("region ap-singapore")));
}

#[test]
fn every_provider_in_the_directory_has_a_channel_or_says_where_to_find_one() {
    // Issue 26 item 5: every provider a letter can go to has at least one notice
    // channel, with its source and the date it was last confirmed (or "unconfirmed");
    // one whose target is not known says so (`unknown: ...`) and where it would be
    // found, and its letters are drafts until the sender gives one (--to).
    let dir = Directory::bundled().expect("directory");
    let mut without_target = Vec::new();
    for p in dir.providers() {
        assert!(!p.notices.is_empty(), "{}: no notice channel", p.id);
        for n in &p.notices {
            assert!(
                n.target.is_some()
                    || n.reason
                        .as_deref()
                        .is_some_and(|r| r.starts_with("unknown:")),
                "{}: a channel with neither target nor reason",
                p.id
            );
            assert!(
                !n.source.trim().is_empty(),
                "{}: channel without source",
                p.id
            );
            // `confirmed` is a real date no later than the directory's version, or
            // "unconfirmed" (the loader refuses anything else); shown as written.
            let shown = n.confirmed.to_string();
            match n.confirmed.date() {
                Some(d) => {
                    assert_eq!(whohosts::times::parse_date(&shown), Some(d));
                    assert!(shown.as_str() <= dir.version(), "{}: {shown}", p.id);
                }
                None => assert_eq!(shown, "unconfirmed", "{}", p.id),
            }
        }
        if p.notices.iter().all(|n| n.target.is_none()) {
            without_target.push(p.id.clone());
        }
    }
    // Those the demo addresses have a target, except Tencent Cloud (not confirmed).
    for id in ["alibaba", "aws", "cloudflare"] {
        assert!(!without_target.contains(&id.to_string()), "{id}");
    }
    assert!(without_target.contains(&"tencent".to_string()));
}

#[test]
fn the_sender_sheet_gives_each_channel_and_entity_its_confirmed_date_or_says_unconfirmed() {
    // Issue 26: per chosen channel, "confirmed YYYY-MM-DD from SOURCE" or
    // "unconfirmed: check before sending"; never in the letter itself.
    let bundled =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/providers.toml"))
            .expect("directory file");
    let form = "target = \"https://support.aws.amazon.com/#/contacts/report-abuse\"";
    let at = bundled.find(form).expect("the AWS form");
    let (head, tail) = bundled.split_at(at);
    let dated = format!(
        "{head}{}",
        tail.replacen(
            "confirmed = \"unconfirmed\"",
            "confirmed = \"2026-10-01\"",
            1
        )
    );
    let entity = "role = \"contracting entity for most customers\"\nconfirmed = \"unconfirmed\"";
    assert!(dated.contains(entity));
    let dated = dated.replacen(
        entity,
        "role = \"contracting entity for most customers\"\nconfirmed = \"2026-10-02\"\nsource = \"aws.amazon.com/agreement (dated 2026-10-02)\"",
        1,
    );
    let dir = Directory::from_toml(&dated, "dated.toml").expect("dated directory");
    let drafts = letter::draft(&report(), &claimant(), None, &dir, &options()).expect("drafts");
    let aws = letter_for(&drafts.letters, "aws");
    let channel = aws
        .sender_notes
        .iter()
        .find(|n| n.starts_with("Channel: "))
        .expect("channel note");
    assert!(
        channel.ends_with("confirmed 2026-10-01 from LEGAL.md: 'Report Amazon AWS abuse' form (covers DMCA); URL as recalled from aws.amazon.com/premiumsupport/knowledge-center/report-aws-abuse/"),
        "{channel}"
    );
    let entity = aws
        .sender_notes
        .iter()
        .find(|n| n.starts_with("Entity "))
        .expect("entity note");
    assert_eq!(
        entity,
        "Entity Amazon Web Services, Inc.: confirmed 2026-10-02 from aws.amazon.com/agreement (dated 2026-10-02)"
    );
    // The bundled directory dates neither: the sheet says so, per letter.
    let sheet = letter::sender_sheet(
        &letter::draft(
            &report(),
            &claimant(),
            None,
            &Directory::bundled().expect("directory"),
            &options(),
        )
        .expect("drafts"),
    );
    assert_eq!(
        sheet.matches("unconfirmed\\: check before sending").count(),
        4,
        "{sheet}"
    );
    for l in &drafts.letters {
        for text in [&l.markdown, &l.html, &l.text] {
            assert!(!text.contains("confirmed 2026"), "{}", l.provider);
            assert!(!text.contains("unconfirmed"), "{}", l.provider);
        }
    }
}

#[test]
fn sent_reply_and_status_are_filed_in_a_sealed_case_that_verifies_and_catches_tampering() {
    // Issue 26: what was sent, when, through which channel, with which proof of
    // delivery, and what came back, under custody.
    let tmp = tempfile::tempdir().expect("tempdir");
    let case = tmp.path().join("case");
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/demo.pcap");
    let run = |args: Vec<std::ffi::OsString>| {
        let o = bin().args(&args).output().expect("runs");
        assert_eq!(
            o.status.code(),
            Some(0),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let a = |v: &[&str]| -> Vec<std::ffi::OsString> { v.iter().map(|s| s.into()).collect() };
    let c = case.to_str().expect("utf-8 path");
    run(a(&[
        "case",
        "new",
        c,
        "--id",
        "MT-1",
        "--title",
        "MT",
        "--rights-holder",
        "Example Games",
        "--operator",
        "Wang Wu",
        "--notary",
        "N",
        "--notary-cert",
        "C-1",
        "--tz",
        "+0800",
    ]));
    run(a(&["case", "add", c, demo.to_str().expect("path")]));
    run(a(&["case", "seal", c]));
    let out = tmp.path().join("letters");
    run(vec![
        "letter".into(),
        "--report".into(),
        fixture("demo-report.json").into(),
        "--claimant".into(),
        fixture("claimant.toml").into(),
        "--case".into(),
        case.clone().into(),
        "--date".into(),
        "2026-11-21".into(),
        "--provider".into(),
        "aws".into(),
        "--out".into(),
        out.clone().into(),
    ]);
    let receipt = tmp.path().join("aws confirmation.eml");
    std::fs::write(&receipt, b"Subject: We received your report (case 1234)\n").expect("w");
    let letter = out.join("aws.dmca.txt");
    let o = run(vec![
        "letter".into(),
        "sent".into(),
        case.clone().into(),
        letter.clone().into(),
        "--channel".into(),
        "https://support.aws.amazon.com/#/contacts/report-abuse".into(),
        "--receipt".into(),
        receipt.clone().into(),
        "--ticket".into(),
        "1234".into(),
        "--at".into(),
        "2026-11-22T10:00:00+08:00".into(),
    ]);
    assert!(o.contains("letter.sent"), "{o}");
    // The exact letter, byte for byte, and the receipt, under safe names.
    let sent = std::fs::read(case.join("letters/sent/0001-aws.dmca.txt")).expect("sent copy");
    assert_eq!(sent, std::fs::read(&letter).expect("letter"));
    assert!(case.join("receipts/0001-aws_confirmation.eml").is_file());
    let status = run(a(&["letter", "status", c, "--now", "2026-11-29T02:00:00Z"]));
    assert!(status.contains("aws"), "{status}");
    assert!(status.contains("2026-11-22T02:00:00Z"), "{status}");
    assert!(status.contains("ticket 1234"), "{status}");
    assert!(
        status.contains("7 days since the last notice without an answer"),
        "{status}"
    );
    // A re-sent notice is a new file and entry, never a rewrite.
    run(vec![
        "letter".into(),
        "sent".into(),
        case.clone().into(),
        letter.clone().into(),
        "--channel".into(),
        "abuse@amazonaws.com".into(),
        "--at".into(),
        "2026-11-25T00:00:00Z".into(),
    ]);
    assert!(case.join("letters/sent/0002-aws.dmca.txt").is_file());
    let answer = tmp.path().join("answer.eml");
    std::fs::write(&answer, b"We forwarded your notice to our customer.\n").expect("w");
    run(vec![
        "letter".into(),
        "reply".into(),
        case.clone().into(),
        "aws".into(),
        answer.into(),
        "--at".into(),
        "2026-12-01T00:00:00Z".into(),
        "--note".into(),
        "forwarded <script>alert(1)</script>".into(),
    ]);
    let status = run(a(&[
        "letter",
        "status",
        c,
        "--now",
        "2026-12-02T00:00:00Z",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&status).expect("json");
    assert_eq!(v[0]["sent"].as_array().map(Vec::len), Some(2));
    assert_eq!(v[0]["replies"].as_array().map(Vec::len), Some(1));
    assert!(v[0]["days_without_answer"].is_null());
    let letter_sha256 = v[0]["sent"][0]["letter"]["sha256"]
        .as_str()
        .expect("the letter's hash")
        .to_string();
    assert_eq!(
        letter_sha256,
        whohosts::hash::sha256_hex(&std::fs::read(&letter).expect("letter"))
    );
    assert_eq!(
        v[0]["sent"][0]["receipts"][0]["path"],
        "receipts/0001-aws_confirmation.eml"
    );
    // The HTML report made in the case lists the notices and the answer, in both
    // languages, and goes into the case's reports/ under custody; one made without a
    // case says nothing of notices.
    for (lang, name, sent_word, answer_word, ticket_word) in [
        ("en", "notices.html", "notice sent", "answer", "ticket"),
        (
            "zh-CN",
            "notices.zh-CN.html",
            "已发送通知",
            "答复",
            "工单号",
        ),
    ] {
        let asked = tmp.path().join(name);
        let mut args = a(&["analyze"]);
        args.push(demo.clone().into());
        args.extend(a(&[
            "--case",
            c,
            "--html",
            asked.to_str().expect("path"),
            "--lang",
            lang,
            "--now",
            "2026-12-02T00:00:00Z",
        ]));
        run(args);
        assert!(
            !asked.exists(),
            "inside a case the report goes into reports/"
        );
        let page =
            std::fs::read_to_string(case.join("reports").join(name)).expect("the case's report");
        for want in [
            "id=\"notices\"",
            sent_word,
            answer_word,
            ticket_word,
            "1234",
            "letters/sent/0001-aws.dmca.txt",
            "letters/sent/0002-aws.dmca.txt",
            &letter_sha256,
            "receipts/0001-aws_confirmation.eml",
            "replies/0001-answer.eml",
            "https://support.aws.amazon.com/#/contacts/report-abuse",
            "abuse@amazonaws.com",
            "2026-11-22T02:00:00Z",
            "2026-12-01T00:00:00Z",
            "2026-12-02T00:00:00Z",
            "forwarded &lt;script&gt;alert(1)&lt;/script&gt;",
        ] {
            assert!(page.contains(want), "{lang}: {want}");
        }
        assert!(!page.contains("<script>alert"), "{lang}");
    }
    let log = std::fs::read_to_string(case.join("custody.jsonl")).expect("log");
    assert_eq!(log.matches("\"action\":\"report.html\"").count(), 2);
    let plain = tmp.path().join("plain.html");
    let mut args = a(&["analyze"]);
    args.push(demo.clone().into());
    args.extend(a(&["--html", plain.to_str().expect("path")]));
    run(args);
    let page = std::fs::read_to_string(&plain).expect("plain report");
    assert!(!page.contains("id=\"notices\""));
    assert!(!page.contains("Notices sent"));
    // A new sheet for the first seal lists the notices filed since, as not covered
    // by it; the next seal's sheet lists them as covered.
    let o = run(a(&["case", "sheet", c]));
    let newest = o
        .lines()
        .find_map(|l| {
            l.strip_prefix("notary sheet: ")
                .filter(|p| p.ends_with(".md"))
        })
        .expect("sheet path")
        .to_string();
    let sheet = std::fs::read_to_string(case.join(&newest)).expect("sheet");
    assert_eq!(
        sheet
            .matches("本次封存后发送的通知 Notice sent after this seal")
            .count(),
        2,
        "{sheet}"
    );
    assert!(sheet.contains("not covered by this seal"), "{sheet}");
    assert!(sheet.contains(&letter_sha256), "{sheet}");
    run(a(&["case", "seal", c]));
    // The notary sheet of that seal lists the notices sent and the answer filed.
    let sheets: Vec<std::path::PathBuf> = std::fs::read_dir(case.join("sheets"))
        .expect("sheets")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    let newest = sheets.iter().max().expect("a sheet");
    let sheet = std::fs::read_to_string(newest).expect("sheet");
    assert_eq!(
        sheet.matches("已发送通知 Notice sent").count(),
        2,
        "{sheet}"
    );
    assert!(sheet.contains("服务商答复 Provider answer"), "{sheet}");
    assert!(sheet.contains("ticket 1234"), "{sheet}");
    assert!(!sheet.contains("after this seal"), "{sheet}");
    assert!(
        sheet.contains("proof of delivery: receipts/0001-aws\\_confirmation.eml")
            || sheet.contains("proof of delivery: receipts/0001-aws_confirmation.eml"),
        "{sheet}"
    );
    // Sealed without a time-stamp: nothing differs, the log is only not anchored yet.
    let o = bin().args(["verify", c]).output().expect("runs");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("no differences") && !out.contains("DIFFERS"),
        "{out}"
    );
    // Tampering with a filed receipt is caught.
    std::fs::write(
        case.join("receipts/0001-aws_confirmation.eml"),
        b"Subject: nothing\n",
    )
    .expect("tamper");
    let o = bin().args(["verify", c]).output().expect("runs");
    assert_eq!(o.status.code(), Some(3));
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(
        text.contains("receipts/0001-aws_confirmation.eml"),
        "{text}"
    );
}

#[test]
fn no_letter_in_any_frame_or_form_holds_a_directory_note_or_a_path_outside_the_case() {
    // Issue 26 items 2, 3 and 6.
    let mut r = report();
    for c in &mut r.captures {
        c.path = "/home/analyst/secret-project/captures/demo.pcap".into();
    }
    let dir = Directory::bundled().expect("directory");
    for frame in Frame::ALL {
        let mut o = options();
        o.frame = Some(frame);
        for l in letter::draft(&r, &claimant(), None, &dir, &o)
            .expect("drafts")
            .letters
        {
            for (form, text) in [("md", &l.markdown), ("html", &l.html), ("txt", &l.text)] {
                for bad in [
                    "LEGAL.md",
                    "as recalled",
                    "providers.toml",
                    "third-party",
                    "/home/analyst",
                    "secret-project",
                    "asn-ipv4",
                    "announced by",
                ] {
                    assert!(
                        !text.contains(bad),
                        "{} {frame} {form}: {bad:?}",
                        l.provider
                    );
                }
                assert!(text.contains("demo.pcap"), "{} {frame} {form}", l.provider);
            }
            for esc in ["\\.", "\\(", "\\:", "\\@", "<!--", "&amp;", "&lt;"] {
                assert!(!l.text.contains(esc), "{} {frame} txt: {esc}", l.provider);
            }
        }
    }
}

#[test]
fn zh_cn_plus_en_adds_an_english_version_to_chinese_letters_for_international_entities() {
    let mut o = options();
    o.language = Some("zh-CN+en".into());
    let letters = draft_with(&claimant(), &o);
    // Frames still follow the recipient: AWS gets its DMCA letter.
    assert_eq!(letter_for(&letters, "aws").frame, Frame::Dmca);
    let a = letter_for(&letters, "alibaba");
    assert_eq!(a.frame, Frame::Cn);
    for text in [&a.markdown, &a.text] {
        assert!(text.contains("(English version)"));
        assert!(text.contains("which governs"));
        assert!(text.contains("dl.mtr-pirate.example/packages/mtr-reloaded-1.4.2-win64.pak"));
    }
    assert!(a.html.contains("(English version)"));
    // The English version adds no element of its own: lint reads the Chinese text.
    assert_eq!(
        ids(&letter::lint(&a.markdown, None)),
        ids_of(&letter_for(&demo_letters(), "alibaba"))
    );
    // A mainland entity gets the Chinese letter alone.
    assert!(!letter_for(&letters, "tencent")
        .markdown
        .contains("English version"));
}

#[test]
fn en_plus_zh_cn_adds_a_chinese_version_to_english_letters() {
    let mut o = options();
    o.language = Some("en+zh-CN".into());
    let letters = draft_with(&claimant(), &o);
    // Frames follow the recipient as without it.
    let aws = letter_for(&letters, "aws");
    assert_eq!(aws.frame, Frame::Dmca);
    for text in [&aws.markdown, &aws.text, &aws.html] {
        assert!(text.contains("（中文译本）"), "{text}");
        assert!(text.contains("以英文通知为准"));
        assert!(text.contains("伪证罪"));
    }
    // The Chinese version is escaped as the rest: no Markdown escapes in the plain text.
    assert!(!aws.text.contains("\\."));
    // It adds no element of its own: lint reads the English text, as without it.
    assert_eq!(
        ids(&letter::lint(&aws.markdown, None)),
        ids_of(&letter_for(&demo_letters(), "aws"))
    );
    // A Chinese letter stays Chinese alone.
    let alibaba = letter_for(&letters, "alibaba");
    assert_eq!(alibaba.frame, Frame::Cn);
    assert!(!alibaba.markdown.contains("中文译本"));
    assert!(!alibaba.markdown.contains("English version"));
}

#[test]
fn a_report_of_the_previous_schema_is_read_and_an_unknown_schema_refused() {
    // whohosts.report/1 differs from /2 only in leaving some of an answer's common
    // fields out instead of writing null: its letters are still drafted.
    let text = std::fs::read_to_string(fixture("demo-report.json")).expect("fixture");
    assert!(text.contains("\"schema\":\"whohosts.report/2\""));
    let v1 = text.replace("\"whohosts.report/2\"", "\"whohosts.report/1\"");
    input::Report::from_json(v1.as_bytes(), "v1.json").expect("a /1 report is read");
    let v3 = text.replace("\"whohosts.report/2\"", "\"whohosts.report/3\"");
    let e = input::Report::from_json(v3.as_bytes(), "v3.json").expect_err("/3");
    assert!(
        matches!(&e, input::InputError::Schema { found, .. } if found == "whohosts.report/3"),
        "{e}"
    );
}

#[test]
fn a_report_file_is_parsed_as_read_and_another_document_named_as_such() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    };
    let report = write(
        "report.json",
        &std::fs::read_to_string(fixture("demo-report.json")).expect("fixture"),
    );
    let r = input::Report::load(&report).expect("the demo report is read");
    assert!(!r.services.is_empty());
    // Another document, whatever fields it lacks, is named by its schema.
    let other = write("other.json", r#"{"schema":"whohosts.match/1","x":1}"#);
    let e = input::Report::load(&other).expect_err("another document");
    assert!(
        matches!(&e, input::InputError::Schema { found, .. } if found == "whohosts.match/1"),
        "{e}"
    );
    let none = write("none.json", r#"{"services":[]}"#);
    let e = input::Report::load(&none).expect_err("no schema");
    assert!(
        matches!(&e, input::InputError::Schema { found, .. } if found.is_empty()),
        "{e}"
    );
    // A report cut short names the field it lacks; a file that is not JSON, where
    // it stops being JSON.
    let short = write("short.json", r#"{"schema":"whohosts.report/2"}"#);
    let e = input::Report::load(&short).expect_err("cut short");
    assert!(
        matches!(&e, input::InputError::Report { message, .. } if message.contains("missing field")),
        "{e}"
    );
    let text = write("text.json", "{\"schema\":\"whohosts.report/2\", oops");
    let e = input::Report::load(&text).expect_err("not JSON");
    assert!(
        matches!(&e, input::InputError::Report { message, .. } if message.contains("line 1 column")),
        "{e}"
    );
    // A file that cannot be read (here a directory) is said to be unreadable.
    let e = input::Report::load(dir.path()).expect_err("a directory");
    assert!(matches!(&e, input::InputError::Read { .. }), "{e}");
    // Bytes after the report are refused, as before.
    let trailing = write(
        "trailing.json",
        &format!("{} x", std::fs::read_to_string(&report).expect("read")),
    );
    assert!(input::Report::load(&trailing).is_err());
}

/// The letter's view of the report `analyze` writes for a bundled capture (no data
/// directory beside the bundled data), after checking that the view reads only
/// fields the report has.
fn analysed_view(capture: &str) -> input::Report {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("report.json");
    let o = bin()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("WHOHOSTS_DATA_DIR", tmp.path().join("no-extra-data"))
        .args(["analyze", capture, "--json"])
        .arg(&path)
        .output()
        .expect("runs");
    assert!(
        o.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(&path).expect("report");
    let r = input::Report::from_json(text.as_bytes(), "report.json").expect("report");
    let full: serde_json::Value = serde_json::from_str(&text).expect("json");
    let mut extra = Vec::new();
    keys_in(
        &serde_json::to_value(&r).expect("view"),
        &full,
        "report",
        &mut extra,
    );
    assert!(
        extra.is_empty(),
        "{capture}: fields the report does not write: {extra:?}"
    );
    r
}

#[test]
fn servers_behind_proxies_get_letters_to_their_own_providers_saying_the_proxy_carried_the_traffic()
{
    // captures/proxy-target.pcap: curl through danted (SOCKS4), microsocks (SOCKS5)
    // and tinyproxy (CONNECT) to AWS, Alibaba Cloud and Tencent Cloud addresses, and
    // to a Cloudflare one the proxy refused; the proxies themselves are on loopback.
    let r = analysed_view("captures/proxy-target.pcap");

    let dir = Directory::bundled().expect("directory");
    let mut opts = options();
    opts.sm3.clear();
    let drafts = letter::draft(&r, &claimant(), None, &dir, &opts).expect("drafts");
    let got: Vec<(&str, Frame)> = drafts
        .letters
        .iter()
        .map(|l| (l.provider.as_str(), l.frame))
        .collect();
    assert_eq!(
        got,
        [
            ("alibaba", Frame::Cn),
            ("aws", Frame::Dmca),
            ("tencent", Frame::Cn)
        ]
    );
    // The proxy refused the Cloudflare address: nothing shows the client reached it.
    let refused: Vec<&letter::Skipped> = drafts
        .skipped
        .iter()
        .filter(|s| s.endpoint == "104.21.48.7:8080/tcp")
        .collect();
    assert_eq!(refused.len(), 1, "{:?}", drafts.skipped);
    assert!(
        refused[0].reason.contains("granted none"),
        "{}",
        refused[0].reason
    );

    let aws = letter_for(&drafts.letters, "aws");
    assert_eq!(
        aws.locations,
        [
            "https://v6.mtr-pirate.example/",
            "http://52.28.131.173/packages/mtr-reloaded-1.4.2-win64.pak"
        ]
    );
    for want in [
        "Server 52.28.131.173, TCP port 80",
        "the client asked the proxy at 127.0.0.12:1080 (socks4; request frames 4) to connect it to this server by its address, and the proxy accepted 1 of 1 such requests",
        "not packets of this server. Through the proxy the client downloaded content from the URL below",
        "URL: http://52.28.131.173/packages/mtr-reloaded-1.4.2-win64.pak (GET, HTTP status 200, 4096 bytes; frames 8, 9)",
        "Region: eu-central-1 (Frankfurt)",
        "Server 2a05:d014::10, TCP port 443",
        "the client asked the proxy at 127.0.0.10:1080 (socks5; request frames 54, 58)",
        "Through the proxy the client opened an encrypted (TLS) session to v6.mtr-pirate.example",
    ] {
        assert!(aws.text.contains(want), "{want} not in\n{}", aws.text);
    }
    // The extract carries the proxy and the records of the connection it granted.
    let extract: serde_json::Value = serde_json::from_str(&aws.extract).expect("extract");
    let row = extract["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .find(|e| e["ip"] == "52.28.131.173")
        .expect("row");
    assert_eq!(row["via"]["proxy"], "127.0.0.12:1080");
    assert_eq!(row["shows"], "proxied");
    let frames: Vec<u64> = row["http"]
        .as_array()
        .expect("http")
        .iter()
        .map(|h| h["frame"].as_u64().expect("frame"))
        .collect();
    assert_eq!(frames, [8, 9]);

    let ali = letter_for(&drafts.letters, "alibaba");
    assert!(
        ali.text.contains("客户端请求位于 127.0.0.10:1080 的代理（socks5；请求帧号 16, 20, 35, 39）按地址将其连接至该服务器，代理接受了 2 次此类请求中的 2 次"),
        "{}",
        ali.text
    );
    assert!(ali
        .text
        .contains("客户端经由该代理与 dl.mtr-pirate.example 建立了加密（TLS）会话"));
    // The CONNECT that opened Tencent's tunnel, and its answer, are no download.
    let tencent = letter_for(&drafts.letters, "tencent");
    assert!(tencent
        .text
        .contains("127.0.0.13:8888 的代理（http_connect；请求帧号 73）"));
    assert!(!tencent.text.contains("下载"), "{}", tencent.text);

    // A report focused on targets keeps the servers behind the proxies that carried
    // its services, and those a target address covers.
    let tmp = tempfile::tempdir().expect("tempdir");
    for (target, want) in [
        (
            "dl.mtr-pirate.example",
            vec![
                ("alibaba", "47.236.91.18"),
                ("aws", "2a05:d014::10"),
                ("tencent", "43.136.75.21"),
            ],
        ),
        ("52.28.131.173", vec![("aws", "52.28.131.173")]),
    ] {
        let path = tmp.path().join(format!("{target}.json"));
        let o = bin()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("WHOHOSTS_DATA_DIR", tmp.path().join("no-extra-data"))
            .args([
                "analyze",
                "captures/proxy-target.pcap",
                "--target",
                target,
                "--json",
            ])
            .arg(&path)
            .output()
            .expect("runs");
        assert!(o.status.code().is_some_and(|c| c <= 1), "{target}");
        let r = input::Report::load(&path).expect("report");
        let drafts = letter::draft(&r, &claimant(), None, &dir, &opts).expect("drafts");
        let mut got: Vec<(String, String)> = Vec::new();
        for l in &drafts.letters {
            let extract: serde_json::Value = serde_json::from_str(&l.extract).expect("extract");
            for e in extract["endpoints"].as_array().expect("endpoints") {
                got.push((l.provider.clone(), e["ip"].as_str().expect("ip").into()));
            }
        }
        let want: Vec<(String, String)> = want
            .into_iter()
            .map(|(p, ip)| (p.to_string(), ip.to_string()))
            .collect();
        assert_eq!(got, want, "{target}");
    }
}

#[test]
fn a_quic_server_is_said_to_have_served_an_encrypted_quic_session_to_its_name() {
    // captures/quic.pcap: a DNS answer, then a QUIC v1 handshake (SNI
    // assets.mtr-pirate.example) with a Google Cloud address on UDP 443.
    let r = analysed_view("captures/quic.pcap");
    let dir = Directory::bundled().expect("directory");
    for (frame, shows, name) in [
        (
            Frame::Dmca,
            "- What the capture shows: the client opened an encrypted (QUIC) session to assets.mtr-pirate.example; its content is not visible in the capture.",
            "- Name: assets.mtr-pirate.example (QUIC server name, frames 3)",
        ),
        (
            Frame::Dsa,
            "- What the capture shows: the client opened an encrypted (QUIC) session to assets.mtr-pirate.example; its content is not visible in the capture.",
            "- Name: assets.mtr-pirate.example (QUIC server name, frames 3)",
        ),
        (
            Frame::Cn,
            "- 所见内容：客户端与 assets.mtr-pirate.example 建立了加密（QUIC）会话；会话内容经加密，抓包中不可见。",
            "- 域名：assets.mtr-pirate.example（QUIC 握手中的服务器名称，帧 3）",
        ),
    ] {
        let mut opts = options();
        opts.sm3.clear();
        opts.frame = Some(frame);
        let drafts = letter::draft(&r, &claimant(), None, &dir, &opts).expect("drafts");
        let l = letter_for(&drafts.letters, "gcp");
        let md = &l.markdown;
        assert!(md.contains(shows), "{frame:?}:\n{md}");
        assert!(md.contains(name), "{frame:?}:\n{md}");
        assert!(
            md.contains("https\\://assets.mtr-pirate.example/"),
            "{frame:?}:\n{md}"
        );
        assert!(!md.contains("did not decode") && !md.contains("未经解析"), "{md}");
        let extract: serde_json::Value = serde_json::from_str(&l.extract).expect("extract");
        let e = &extract["endpoints"][0];
        assert_eq!(e["transport"], "udp");
        assert_eq!(e["shows"], "quic");
        assert_eq!(e["quic"][0]["frame"], 3);
        assert_eq!(e["quic"][0]["sni"], "assets.mtr-pirate.example");
        assert_eq!(e["tls"].as_array().map(Vec::len), Some(0));
    }
}

#[test]
fn servers_reached_through_a_udp_relay_get_letters_and_a_shared_relay_is_said_to_be_shared() {
    // captures/proxy-relay-target.pcap: a client asks danted for two UDP relays; the
    // first carries DNS queries to a resolver on a Tencent Cloud address (by address)
    // and to the same resolver by name, the second a QUIC handshake to an Alibaba
    // Cloud address (SNI game.mtr-pirate.example).
    let r = analysed_view("captures/proxy-relay-target.pcap");
    let relay_of = |ip: &str| {
        let t = r.proxy_targets.iter().find(|t| t.ip == ip).expect("target");
        format!("{}\\:{}", t.proxy.ip, t.proxy.port.expect("relay port"))
    };
    let (game_relay, dns_relay) = (relay_of("47.236.91.18"), relay_of("43.136.75.21"));
    let dir = Directory::bundled().expect("directory");
    let mut opts = options();
    opts.sm3.clear();
    opts.frame = Some(Frame::Dsa);
    let drafts = letter::draft(&r, &claimant(), None, &dir, &opts).expect("drafts");
    let got: Vec<&str> = drafts.letters.iter().map(|l| l.provider.as_str()).collect();
    assert_eq!(got, ["alibaba", "tencent"]);

    let a = letter_for(&drafts.letters, "alibaba");
    let md = &a.markdown;
    for want in [
        "### 1. Server 47.236.91.18, UDP port 443".to_string(),
        format!("- What the capture shows: the client sent datagrams for this server, by its address, through the UDP relay at {game_relay} that a SOCKS5 proxy had granted it (the first such datagram through each relay: frames 26). The traffic went through the relay: the capture holds the client's side of it, not packets of this server. Through the relay the client opened an encrypted (QUIC) session to game.mtr-pirate.example; its content is not visible in the capture."),
        "- Location: https\\://game.mtr-pirate.example/".to_string(),
        "- Name: game.mtr-pirate.example (QUIC server name, frames 26)".to_string(),
        "- Bytes: 2504 client to server, 1252 server to client".to_string(),
    ] {
        assert!(md.contains(&want), "{want}\n{md}");
    }
    let extract: serde_json::Value = serde_json::from_str(&a.extract).expect("extract");
    let e = &extract["endpoints"][0];
    assert_eq!(e["transport"], "udp");
    assert_eq!(e["via"]["relay"], true);
    assert_eq!(e["via"]["shared"], false);
    assert_eq!(e["quic"][0]["sni"], "game.mtr-pirate.example");

    let t = letter_for(&drafts.letters, "tencent");
    let md = &t.markdown;
    for want in [
        format!("through the UDP relay at {dns_relay} that a SOCKS5 proxy had granted it (the first such datagram through each relay: frames 10)."),
        "The relay carried datagrams for other servers as well, so the capture does not tell which of the traffic through it was this server's (the byte counts and the filter below cover all of it).".to_string(),
        "- Location: 43.136.75.21\\:53".to_string(),
    ] {
        assert!(md.contains(&want), "{want}\n{md}");
    }
    assert!(
        !md.contains("- Name: resolver.") && !md.contains("- Name: game."),
        "no name is this server's: {md}"
    );
    let extract: serde_json::Value = serde_json::from_str(&t.extract).expect("extract");
    assert_eq!(extract["endpoints"][0]["via"]["shared"], true);
    assert_eq!(
        extract["endpoints"][0]["quic"].as_array().map(Vec::len),
        Some(0),
        "nothing through a shared relay is this server's"
    );

    // The Chinese letter says the same.
    opts.frame = Some(Frame::Cn);
    let drafts = letter::draft(&r, &claimant(), None, &dir, &opts).expect("drafts");
    let md = &letter_for(&drafts.letters, "tencent").markdown;
    assert!(
        md.contains("该中继同时为其他服务器转发了数据报，抓包无法区分其中哪些流量属于该服务器（下列字节数与过滤器涵盖该中继的全部流量）。"),
        "{md}"
    );
    let md = &letter_for(&drafts.letters, "alibaba").markdown;
    assert!(
        md.contains("客户端经由该中继与 game.mtr-pirate.example 建立了加密（QUIC）会话"),
        "{md}"
    );
}
