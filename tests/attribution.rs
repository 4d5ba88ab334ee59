//! Attribution behaviour end to end: bundled data alone, user databases, imported
//! feeds, hostnames from the capture, and the `lookup` / `data` commands.

use assert_cmd::Command;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use whohosts::attribute::datadir::{update_from, UpdateAction};
use whohosts::attribute::{AttributeOptions, Attributor, Basis, HostnameEvidence, HostnameKind};
use whohosts::model::Confidence;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The repository's bundled data set (`data/`): the library never looks for it in the
/// tree it was built from, so in-process tests name it.
fn repo_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
}

fn load(data_dir: &Path, mmdb: &[PathBuf]) -> Attributor {
    Attributor::load(&AttributeOptions {
        data_dir: Some(data_dir.to_path_buf()),
        mmdb: mmdb.to_vec(),
        bundled_dir: Some(repo_data()),
        ..AttributeOptions::default()
    })
    .unwrap()
}

/// The data directory's feeds without the bundled snapshot (the fixture feeds alone).
fn load_without_bundled_feeds(data_dir: &Path) -> Attributor {
    Attributor::load(&AttributeOptions {
        data_dir: Some(data_dir.to_path_buf()),
        no_bundled_feeds: true,
        bundled_dir: Some(repo_data()),
        ..AttributeOptions::default()
    })
    .unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Addresses announced by each provider's ASNs in the bundled ASN data
/// (`@ip-location-db/asn` 2.3.2026061719), one or more per ASN the issue names.
const PROVIDER_ADDRESSES: &[(&str, u32, &str)] = &[
    ("47.96.0.1", 37963, "alibaba"),
    ("2400:3200::1", 37963, "alibaba"),
    ("47.74.0.1", 45102, "alibaba"),
    ("8.208.136.1", 134963, "alibaba"),
    ("1.12.0.1", 45090, "tencent"),
    ("43.128.0.1", 132203, "tencent"),
    ("1.92.0.1", 55990, "huawei"),
    ("2405:f080::1", 136907, "huawei"),
    ("3.5.140.1", 16509, "aws"),
    ("2600:1f18::1", 14618, "aws"),
    ("34.1.208.1", 15169, "gcp"),
    ("35.190.0.1", 396982, "gcp"),
    ("13.64.0.1", 8075, "azure"),
    ("104.16.0.1", 13335, "cloudflare"),
    ("2606:4700::1", 13335, "cloudflare"),
    ("51.38.0.1", 16276, "ovh"),
    ("2001:41d0::1", 16276, "ovh"),
    ("5.9.0.1", 24940, "hetzner"),
    ("2a01:4f8::1", 24940, "hetzner"),
    ("164.90.128.1", 14061, "digitalocean"),
    ("2400:6180::1", 14061, "digitalocean"),
];

/// Those of [`PROVIDER_ADDRESSES`] that a feed of the bundled snapshot (July 2025)
/// lists, with the region it gives (`None`: GLOBAL, no region, or a geofeed city).
const FEED_LISTED: &[(&str, Option<&str>)] = &[
    ("3.5.140.1", Some("ap-northeast-2")),
    ("2600:1f18::1", Some("us-east-1")),
    ("34.1.208.1", Some("africa-south1")),
    ("35.190.0.1", None),
    ("13.64.0.1", Some("westus")),
    ("104.16.0.1", None),
    ("2606:4700::1", None),
    ("164.90.128.1", None),
];

#[test]
fn bundled_data_alone_names_the_provider_of_each_major_cloud() {
    let empty = tempfile::tempdir().unwrap();
    let a = load(empty.path(), &[]);
    assert!(a.feeds().iter().all(|f| f.bundled.is_some()));
    for (addr, asn, provider) in PROVIDER_ADDRESSES {
        let att = a.attribute(ip(addr), &[]);
        assert_eq!(att.asn.number, Some(*asn), "{addr}");
        assert_eq!(att.provider.id.as_deref(), Some(*provider), "{addr}");
        assert!(att.country.code.is_some(), "{addr}");
        let src = att.provider.source.as_ref().unwrap();
        assert_eq!(src.sha256.as_deref().map(str::len), Some(64));
        match FEED_LISTED.iter().find(|(a, _)| a == addr) {
            Some((_, region)) => {
                // The bundled feed snapshot gives the provider, and the region where
                // the feed names one.
                assert_eq!(att.provider.basis, Some(Basis::OfficialFeed), "{addr}");
                assert_eq!(att.provider.confidence, Some(Confidence::Strong), "{addr}");
                assert!(
                    src.source.contains("bundled feed snapshot 2025-07"),
                    "{src:?}"
                );
                assert!(src
                    .date
                    .as_deref()
                    .is_some_and(|d| d.starts_with("2025-07")));
                if region.is_some() {
                    assert_eq!(att.region.id.as_deref(), *region, "{addr}");
                    assert_eq!(att.region.confidence, Some(Confidence::Strong));
                }
            }
            None => {
                assert_eq!(att.provider.basis, Some(Basis::Asn), "{addr}");
                assert_eq!(att.provider.confidence, Some(Confidence::Medium), "{addr}");
                assert!(src.source.starts_with("asn-ipv"), "{addr}: {src:?}");
                assert_eq!(src.date.as_deref(), Some("2026-06-17"));
                assert!(att
                    .provider
                    .evidence
                    .as_deref()
                    .unwrap()
                    .contains(&format!("AS{asn}")));
                assert!(
                    att.region.id.is_none() && att.region.reason.is_some(),
                    "{addr}"
                );
            }
        }
    }
}

#[test]
fn answers_from_one_source_share_its_provenance_record() {
    // An attribution is kept for every address of a capture: the answers of one
    // database hold one record of its name, version, digest and date, not a copy each.
    let empty = tempfile::tempdir().unwrap();
    let a = load(empty.path(), &[]);
    let (one, two) = (
        a.attribute(ip("47.96.0.1"), &[]),
        a.attribute(ip("1.12.0.1"), &[]),
    );
    let (p1, p2) = (
        one.asn.source.clone().unwrap(),
        two.asn.source.clone().unwrap(),
    );
    assert_eq!(p1.source, "asn-ipv4.mmdb");
    assert!(std::ptr::eq::<whohosts::model::ProvenanceRecord>(
        &*p1, &*p2
    ));
    // Other sources keep their own.
    let country = one.country.source.clone().unwrap();
    assert_ne!(country.source, p1.source);
    assert!(!std::ptr::eq::<whohosts::model::ProvenanceRecord>(
        &*p1, &*country
    ));
}

#[test]
fn addresses_with_equal_answers_share_them() {
    // Equal parts of the addresses' attributions are one value: two addresses of one
    // AWS prefix, two of one Hetzner network (its provider answer rests on the ASN
    // and is said of the network), and the notes on the data's age.
    let empty = tempfile::tempdir().unwrap();
    let a = load(empty.path(), &[]);
    let addrs = ["52.28.54.98", "52.28.54.99", "5.9.0.4", "5.9.0.11"].map(ip);
    let mut all = a.attribute_all(addrs, std::iter::empty());
    // 2020-01-01: years before the bundled data.
    all.note_data_age(1_577_836_800);
    let get = |s: &str| all.by_ip.get(&ip(s)).expect(s);
    let (aws1, aws2) = (get("52.28.54.98"), get("52.28.54.99"));
    let (hz1, hz2) = (get("5.9.0.4"), get("5.9.0.11"));
    assert_eq!(aws1.provider.id.as_deref(), Some("aws"));
    assert_eq!(hz1.provider.id.as_deref(), Some("hetzner"));
    for (x, y) in [(aws1, aws2), (hz1, hz2)] {
        assert!(Arc::ptr_eq(&x.asn, &y.asn));
        assert!(Arc::ptr_eq(&x.country, &y.country));
        assert!(Arc::ptr_eq(&x.provider, &y.provider));
        assert!(Arc::ptr_eq(&x.region, &y.region));
        assert!(Arc::ptr_eq(&x.feeds, &y.feeds));
    }
    assert!(!aws1.notes.is_empty());
    assert!(Arc::ptr_eq(&aws1.notes, &aws2.notes));
    assert!(!Arc::ptr_eq(&aws1.provider, &hz1.provider));
    let ev = hz1.provider.evidence.as_deref().unwrap();
    assert!(ev.starts_with("5.9.0.0/16 is announced by AS24940"), "{ev}");
    // Shared or not, each reads as its own: the same JSON as one made alone.
    for s in ["52.28.54.99", "5.9.0.11"] {
        let mut alone = a.attribute(ip(s), &[]);
        alone.note_data_age(1_577_836_800);
        assert_eq!(
            serde_json::to_value(&alone).unwrap(),
            serde_json::to_value(get(s)).unwrap()
        );
    }
}

#[test]
fn lookup_json_names_the_provider_from_bundled_data_with_sources() {
    let empty = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = vec!["lookup".into(), "--json".into()];
    args.extend(PROVIDER_ADDRESSES.iter().map(|(a, _, _)| a.to_string()));
    let out = Command::cargo_bin("whohosts")
        .unwrap()
        .args(&args)
        .arg("--data-dir")
        .arg(empty.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), PROVIDER_ADDRESSES.len());
    for (row, (addr, asn, provider)) in rows.iter().zip(PROVIDER_ADDRESSES) {
        assert_eq!(row["ip"], *addr);
        assert_eq!(row["asn"]["number"], *asn);
        assert!(row["asn"]["organization"].is_string());
        assert!(row["asn"]["source"]["sha256"].is_string());
        assert!(row["country"]["code"].is_string());
        assert!(row["country"]["source"]["source"].is_string());
        assert_eq!(row["provider"]["id"], *provider);
        assert!(row["provider"]["name"].is_string());
        assert!(row["provider"]["service_model"].is_string());
        assert!(row["provider"]["source"]["date"].is_string(), "{addr}");
        if !FEED_LISTED.iter().any(|(a, _)| a == addr) {
            assert_eq!(row["provider"]["confidence"], "medium");
            assert!(row["region"]["id"].is_null());
            assert!(row["region"]["reason"].is_string());
        }
        for key in ["id", "city"] {
            assert!(row["region"].get(key).is_some(), "region.{key} present");
        }
        // One shape for every answer: the common fields always present, null when
        // not known.
        for kind in ["asn", "country", "provider", "region"] {
            for key in ["source", "confidence", "basis", "evidence", "reason"] {
                assert!(row[kind].get(key).is_some(), "{addr}: {kind}.{key} present");
            }
        }
    }
}

#[test]
fn lookup_table_prints_sources_and_attribution() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("whohosts")
        .unwrap()
        .args(["lookup", "47.96.0.1", "--data-dir"])
        .arg(empty.path())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("AS37963"), "{text}");
    assert!(text.contains("alibaba (medium"), "{text}");
    assert!(text.contains("asn-ipv4.mmdb"), "{text}");
    assert!(text.contains("RouteViews"), "{text}");
}

#[test]
fn version_output_carries_the_bundled_data_attribution() {
    let out = Command::cargo_bin("whohosts")
        .unwrap()
        .arg("--version")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("RouteViews") && text.contains("DB-IP") && text.contains("NRO"),
        "{text}"
    );
}

#[test]
fn special_purpose_addresses_are_unknown_with_the_reason() {
    let empty = tempfile::tempdir().unwrap();
    let a = load(empty.path(), &[]);
    for addr in [
        "10.1.2.3",
        "192.168.0.1",
        "127.0.0.1",
        "fe80::1",
        "fd00::1",
        "100.64.0.1",
    ] {
        let att = a.attribute(ip(addr), &[]);
        assert!(att.provider.id.is_none(), "{addr}");
        assert!(att.asn.number.is_none(), "{addr}");
        for reason in [
            &att.asn.reason,
            &att.country.reason,
            &att.provider.reason,
            &att.region.reason,
        ] {
            assert!(
                reason.as_deref().unwrap().contains(addr),
                "{addr}: {reason:?}"
            );
        }
    }
}

#[test]
fn user_databases_are_recognised_by_metadata_and_consulted_first() {
    let empty = tempfile::tempdir().unwrap();
    let m = fixtures().join("mmdb");
    let a = load(
        empty.path(),
        &[
            m.join("geolite2-city-fixture.mmdb"),
            m.join("ipinfo-lite-fixture.mmdb"),
        ],
    );
    let infos: Vec<_> = a.databases().collect();
    assert_eq!(infos[0].database_type, "GeoLite2-City");
    assert!(infos[0].capabilities.city && !infos[0].capabilities.asn);
    assert_eq!(infos[0].build_date, "2023-11-14");
    assert_eq!(infos[1].database_type, "ipinfo lite.mmdb");
    assert!(infos[1].capabilities.asn);
    // IPinfo lite answers the ASN before the bundled database does.
    let att = a.attribute(ip("88.198.1.1"), &[]);
    assert_eq!(att.asn.number, Some(24940));
    assert_eq!(
        att.asn.organization.as_deref(),
        Some("Hetzner (IPinfo fixture)")
    );
    assert_eq!(
        att.asn.source.as_ref().unwrap().source,
        "ipinfo-lite-fixture.mmdb"
    );
    assert_eq!(att.provider.id.as_deref(), Some("hetzner"));
    // The City database gives the country; addresses it lacks fall through to the
    // bundled databases.
    let att = a.attribute(ip("47.96.0.1"), &[]);
    assert_eq!(
        att.country.source.as_ref().unwrap().source,
        "geolite2-city-fixture.mmdb"
    );
    let att = a.attribute(ip("8.8.8.8"), &[]);
    assert_eq!(att.country.source.as_ref().unwrap().source, "country.mmdb");
    // Every database is listed with its hash.
    let sources = a.sources();
    assert!(sources
        .iter()
        .any(|s| s.name == "geolite2-city-fixture.mmdb" && !s.bundled && s.sha256.len() == 64));
    assert!(sources.iter().any(|s| s.name == "asn-ipv4.mmdb"
        && s.bundled
        && s.licence.as_deref() == Some("CC-BY-4.0")
        && s.attribution.is_some()));
}

#[test]
fn a_file_that_is_not_a_database_is_refused_with_its_path() {
    let empty = tempfile::tempdir().unwrap();
    let bogus = fixtures().join("feeds/list.txt");
    let e = Attributor::load(&AttributeOptions {
        data_dir: Some(empty.path().to_path_buf()),
        mmdb: vec![bogus],
        bundled_dir: Some(repo_data()),
        ..AttributeOptions::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("list.txt"), "{e}");
}

fn install_fixtures() -> (tempfile::TempDir, Attributor) {
    let data = tempfile::tempdir().unwrap();
    let a = load_without_bundled_feeds(data.path());
    let outcomes = update_from(&a, data.path(), &fixtures().join("feeds")).unwrap();
    let stored: Vec<_> = outcomes.iter().filter_map(|o| o.stored.clone()).collect();
    assert_eq!(
        stored,
        [
            "digitalocean.geofeed.txt",
            "cloudflare.cidr-list-v4.txt",
            "aws.aws-ip-ranges.json",
            "vultr.geofeed-json.json"
        ],
        "{outcomes:#?}"
    );
    let bad = outcomes
        .iter()
        .find(|o| o.file == "truncated-aws.json.bad")
        .unwrap();
    assert_eq!(bad.action, UpdateAction::Skipped);
    let a = load_without_bundled_feeds(data.path());
    (data, a)
}

#[test]
fn feeds_are_recognised_by_content_whatever_their_file_names() {
    let (_data, a) = install_fixtures();
    assert_eq!(a.feeds().len(), 4);
    // Official feed beats the ASN; most specific prefix wins; region from the feed.
    let att = a.attribute(ip("52.94.76.9"), &[]);
    assert_eq!(att.provider.id.as_deref(), Some("aws"));
    assert_eq!(att.provider.basis, Some(Basis::OfficialFeed));
    assert_eq!(att.provider.confidence, Some(Confidence::Strong));
    assert_eq!(att.region.id.as_deref(), Some("us-west-1"));
    assert_eq!(att.region.confidence, Some(Confidence::Strong));
    assert_eq!(
        att.region.source.as_ref().unwrap().source,
        "aws.aws-ip-ranges.json"
    );
    assert_eq!(
        att.region.source.as_ref().unwrap().version.as_deref(),
        Some("2023-11-14-22-13-20 (syncToken 1700000000)")
    );
    let att = a.attribute(ip("52.94.77.9"), &[]);
    assert_eq!(att.region.id.as_deref(), Some("us-west-2"));
    // GLOBAL is not a region.
    let att = a.attribute(ip("205.251.192.1"), &[]);
    assert_eq!(att.provider.id.as_deref(), Some("aws"));
    assert!(att.region.id.is_none());
    assert!(att.region.reason.as_deref().unwrap().contains("GLOBAL"));
    // Geofeeds give the city.
    let att = a.attribute(ip("5.101.96.1"), &[]);
    assert_eq!(att.provider.id.as_deref(), Some("digitalocean"));
    assert_eq!(att.region.city.as_deref(), Some("Amsterdam"));
    let att = a.attribute(ip("45.32.0.1"), &[]);
    assert_eq!(att.provider.id.as_deref(), Some("vultr"));
    assert_eq!(att.region.city.as_deref(), Some("Piscataway"));
    // Cloudflare's list was recognised through the ASN of its prefixes.
    let att = a.attribute(ip("104.16.0.1"), &[]);
    assert_eq!(att.provider.basis, Some(Basis::OfficialFeed));
    assert_eq!(att.provider.id.as_deref(), Some("cloudflare"));
}

#[test]
fn update_replaces_atomically_keeps_the_previous_copy_and_refuses_broken_files() {
    let (data, a) = install_fixtures();
    let feeds = data.path().join("feeds");
    let original = std::fs::read(feeds.join("aws.aws-ip-ranges.json")).unwrap();
    // Same files again: nothing changes.
    let again = update_from(&a, data.path(), &fixtures().join("feeds")).unwrap();
    assert!(again
        .iter()
        .filter(|o| o.stored.is_some())
        .all(|o| o.action == UpdateAction::Unchanged));
    // A newer AWS file under another name replaces the stored one; the old is kept.
    let src = tempfile::tempdir().unwrap();
    let newer = String::from_utf8(original.clone())
        .unwrap()
        .replace("1700000000", "1700000099");
    std::fs::write(src.path().join("whatever.dat"), &newer).unwrap();
    // A broken file never replaces anything.
    std::fs::write(
        src.path().join("aws-ip-ranges.json"),
        b"{\"syncToken\": \"1\", \"prefixes\": [",
    )
    .unwrap();
    let out = update_from(&a, data.path(), src.path()).unwrap();
    let replaced = out.iter().find(|o| o.file == "whatever.dat").unwrap();
    assert_eq!(replaced.action, UpdateAction::Replaced);
    let broken = out.iter().find(|o| o.file == "aws-ip-ranges.json").unwrap();
    assert_eq!(broken.action, UpdateAction::Skipped);
    assert!(broken.detail.contains("not a feed"), "{}", broken.detail);
    assert_eq!(
        std::fs::read(feeds.join("aws.aws-ip-ranges.json")).unwrap(),
        newer.as_bytes()
    );
    assert_eq!(
        std::fs::read(feeds.join("aws.aws-ip-ranges.json.prev")).unwrap(),
        original
    );
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(&feeds)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
    // The .prev copy is not loaded as a feed.
    assert_eq!(load_without_bundled_feeds(data.path()).feeds().len(), 4);
}

#[test]
fn a_broken_stored_feed_is_skipped_with_a_warning() {
    let (data, _) = install_fixtures();
    std::fs::write(
        data.path().join("feeds/aws.aws-ip-ranges.json"),
        b"{ broken",
    )
    .unwrap();
    let a = load_without_bundled_feeds(data.path());
    assert_eq!(a.feeds().len(), 3);
    assert!(a
        .warnings()
        .iter()
        .any(|w| w.contains("aws.aws-ip-ranges.json")));
}

fn seen(name: &str, kind: HostnameKind) -> HostnameEvidence {
    HostnameEvidence {
        name: name.to_string(),
        kind,
        frame: None,
    }
}

#[test]
fn provider_hostname_in_the_capture_gives_the_region_when_no_feed_does() {
    let empty = tempfile::tempdir().unwrap();
    let a = load(empty.path(), &[]);
    let att = a.attribute(
        ip("47.96.0.1"),
        &[seen(
            "game-cdn.oss-cn-hangzhou.aliyuncs.com",
            HostnameKind::DnsAnswer,
        )],
    );
    assert_eq!(att.provider.id.as_deref(), Some("alibaba"));
    assert_eq!(att.region.id.as_deref(), Some("cn-hangzhou"));
    assert_eq!(att.region.basis, Some(Basis::Hostname));
    assert_eq!(
        att.region.source.as_ref().unwrap().source,
        "hostname:dns_answer"
    );
    // A client-written Host header is weak evidence at most.
    let att = a.attribute(
        ip("47.96.0.1"),
        &[seen(
            "x.oss-cn-hangzhou.aliyuncs.com",
            HostnameKind::HttpHost,
        )],
    );
    assert_eq!(att.region.confidence, Some(Confidence::Weak));
    // Another provider's hostname says nothing about this address's region.
    let att = a.attribute(
        ip("47.96.0.1"),
        &[seen(
            "ec2-1-2-3-4.eu-central-1.compute.amazonaws.com",
            HostnameKind::Cname,
        )],
    );
    assert!(att.region.id.is_none());
    assert!(att
        .region
        .reason
        .as_deref()
        .unwrap()
        .contains("not alibaba"));
}

#[test]
fn official_feed_region_outranks_a_hostname() {
    let (_data, a) = install_fixtures();
    let att = a.attribute(
        ip("3.5.140.1"),
        &[seen(
            "ec2-3-5-140-1.eu-central-1.compute.amazonaws.com",
            HostnameKind::Sni,
        )],
    );
    assert_eq!(att.region.id.as_deref(), Some("ap-northeast-2"));
    assert_eq!(att.region.basis, Some(Basis::OfficialFeed));
}

#[test]
fn data_info_lists_databases_feeds_and_directory_with_hashes() {
    let (data, _) = install_fixtures();
    let out = Command::cargo_bin("whohosts")
        .unwrap()
        .args(["data", "info", "--json", "--no-bundled-feeds", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = v.as_array().unwrap();
    let kinds: Vec<&str> = list.iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "mmdb").count(), 3);
    assert_eq!(kinds.iter().filter(|k| **k == "feed").count(), 4);
    assert_eq!(kinds.iter().filter(|k| **k == "directory").count(), 1);
    let asn4 = list.iter().find(|s| s["name"] == "asn-ipv4.mmdb").unwrap();
    assert_eq!(asn4["build_date"], "2026-06-17");
    assert_eq!(asn4["type"], "ip-location-db-asn");
    assert_eq!(asn4["licence"], "CC-BY-4.0");
    let aws = list
        .iter()
        .find(|s| s["name"] == "aws.aws-ip-ranges.json")
        .unwrap();
    assert_eq!(aws["records"], "5 IPv4 + 1 IPv6 prefixes");
    assert_eq!(aws["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn data_dir_comes_from_the_environment_when_no_flag_is_given() {
    let (data, _) = install_fixtures();
    let out = Command::cargo_bin("whohosts")
        .unwrap()
        .args(["data", "info"])
        .env("WHOHOSTS_DATA_DIR", data.path())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("aws.aws-ip-ranges.json"), "{text}");
}

#[test]
fn geoip_city_maps_to_the_provider_region_as_weak_evidence() {
    let empty = tempfile::tempdir().unwrap();
    let m = fixtures().join("mmdb");
    let a = load(empty.path(), &[m.join("geolite2-city-fixture.mmdb")]);
    let att = a.attribute(ip("47.96.0.1"), &[]);
    assert_eq!(att.provider.id.as_deref(), Some("alibaba"));
    assert_eq!(att.region.id.as_deref(), Some("cn-hangzhou"));
    assert_eq!(att.region.city.as_deref(), Some("Hangzhou"));
    assert_eq!(att.region.basis, Some(Basis::GeoipCity));
    assert_eq!(att.region.confidence, Some(Confidence::Weak));
    assert_eq!(
        att.region.source.as_ref().unwrap().source,
        "geolite2-city-fixture.mmdb"
    );
    // A hostname from the capture outranks the GeoIP city.
    let att = a.attribute(
        ip("47.96.0.1"),
        &[seen("cdn.oss-cn-shanghai.aliyuncs.com", HostnameKind::Sni)],
    );
    assert_eq!(att.region.id.as_deref(), Some("cn-shanghai"));
    assert_eq!(att.region.basis, Some(Basis::Hostname));
}

/// The demo capture (`captures/demo.pcap`, see `captures/README.md`): its servers and
/// the CNAME targets its DNS answers carry, as tshark prints them
/// (`tshark -r captures/demo.pcap -Y dns.flags.response==1 -T fields -e dns.qry.name
/// -e dns.cname -e dns.a`).
#[test]
fn demo_servers_get_provider_and_region_from_bundled_data_and_capture_names() {
    let empty = tempfile::tempdir().unwrap();
    let a = load(empty.path(), &[]);
    // Region: from the bundled feed snapshot where a feed lists the address (AWS,
    // Google Cloud), else from the provider hostname of the CNAME chain.
    type Case<'a> = (&'a str, Option<&'a str>, &'a str, Option<(&'a str, Basis)>);
    let cases: &[Case] = &[
        (
            "47.236.91.18",
            Some("mtr-pkg.oss-ap-southeast-1.aliyuncs.com"),
            "alibaba",
            Some(("ap-southeast-1", Basis::Hostname)),
        ),
        (
            "43.136.75.21",
            Some("mtr-api-1301234567.cos.ap-guangzhou.myqcloud.com"),
            "tencent",
            Some(("ap-guangzhou", Basis::Hostname)),
        ),
        (
            "3.121.45.67",
            Some("ec2-3-121-45-67.eu-central-1.compute.amazonaws.com"),
            "aws",
            Some(("eu-central-1", Basis::OfficialFeed)),
        ),
        ("104.21.48.7", None, "cloudflare", None),
        ("116.202.118.33", None, "hetzner", None),
        (
            "34.159.24.89",
            None,
            "gcp",
            Some(("europe-west3", Basis::OfficialFeed)),
        ),
        // The bundled ASN data puts this Tencent IPv6 address under another AS; the
        // CNAME seen in the capture still names the provider and the region.
        (
            "2402:4e00:1013:e500::21",
            Some("mtr-api-1301234567.cos.ap-guangzhou.myqcloud.com"),
            "tencent",
            Some(("ap-guangzhou", Basis::Hostname)),
        ),
    ];
    for (addr, cname, provider, region) in cases {
        let names: Vec<HostnameEvidence> =
            cname.iter().map(|n| seen(n, HostnameKind::Cname)).collect();
        let att = a.attribute(ip(addr), &names);
        assert_eq!(
            att.provider.id.as_deref(),
            Some(*provider),
            "{addr}: {:?}",
            att.provider
        );
        assert_eq!(
            att.region.id.as_deref(),
            region.map(|r| r.0),
            "{addr}: {:?}",
            att.region
        );
        if let Some((_, basis)) = region {
            assert_eq!(att.region.basis, Some(*basis), "{addr}");
            if *basis == Basis::Hostname {
                assert_eq!(att.region.source.as_ref().unwrap().source, "hostname:cname");
            }
        }
    }
}

#[test]
fn databases_listed_in_the_data_directory_config_are_loaded() {
    let data = tempfile::tempdir().unwrap();
    let fixture = fixtures().join("mmdb/ipinfo-lite-fixture.mmdb");
    std::fs::write(
        data.path().join("mmdb.conf"),
        format!("# extra databases\n{}\n", fixture.display()),
    )
    .unwrap();
    let out = Command::cargo_bin("whohosts")
        .unwrap()
        .args(["lookup", "--json", "88.198.1.1", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["asn"]["organization"], "Hetzner (IPinfo fixture)");
    assert_eq!(v[0]["asn"]["source"]["source"], "ipinfo-lite-fixture.mmdb");
}

#[test]
fn a_dns_answer_outranks_a_host_header_whatever_the_order_given() {
    let empty = tempfile::tempdir().unwrap();
    let a = load(empty.path(), &[]);
    let names = [
        seen("a.oss-cn-beijing.aliyuncs.com", HostnameKind::HttpHost),
        seen("z.oss-cn-shenzhen.aliyuncs.com", HostnameKind::DnsAnswer),
    ];
    let att = a.attribute(ip("47.96.0.1"), &names);
    assert_eq!(att.region.id.as_deref(), Some("cn-shenzhen"));
    assert_eq!(
        att.region.source.as_ref().unwrap().source,
        "hostname:dns_answer"
    );
}

/// Issue 22: a binary copied away from its source tree still attributes with regions.
/// The copy runs in a private mount namespace where an empty tmpfs hides the source
/// tree's `data/` (the rest of the suite keeps seeing it), from an empty directory,
/// with no bundled-dir or data-dir setting pointing back.
#[test]
fn a_copied_binary_attributes_with_regions_without_its_source_tree() {
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("bin/whohosts");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(assert_cmd::cargo::cargo_bin("whohosts"), &bin).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/demo.pcap"),
        work.path().join("demo.pcap"),
    )
    .unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let run = |args: &str| {
        let script = format!(
            "mount -t tmpfs -o size=1m whohosts-hidden {data} && test ! -e {data}/asn-ipv4.mmdb && exec {bin} {args}",
            data = data.display(),
            bin = bin.display()
        );
        // Root (CI) unshares the mount namespace directly; anyone else needs a user
        // namespace mapped to root.
        let mut cmd = std::process::Command::new("unshare");
        if !is_root() {
            cmd.arg("--map-root-user");
        }
        let out = cmd
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .current_dir(work.path())
            .env_remove("WHOHOSTS_BUNDLED_DIR")
            .env("WHOHOSTS_DATA_DIR", work.path().join("no-data-dir"))
            .output()
            .expect("unshare (util-linux) runs");
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "{args}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let info = run("data info");
    assert!(
        info.contains("bundled data: embedded in the binary"),
        "{info}"
    );
    // The embedded databases' hashes come from the build: each is the hash of the
    // repository's file.
    for name in ["asn-ipv4.mmdb", "asn-ipv6.mmdb", "country.mmdb"] {
        let sha = whohosts::hash::sha256_hex(&std::fs::read(repo_data().join(name)).unwrap());
        assert!(
            info.lines()
                .any(|l| l.contains(name) && l.contains(&format!("sha256:{sha}"))),
            "{name} {sha}: {info}"
        );
    }
    // Every feed of the snapshot's manifest is embedded and loads.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo_data().join("feeds.json")).unwrap()).unwrap();
    for f in manifest["feeds"].as_array().unwrap() {
        let stored = f["stored"].as_str().unwrap();
        assert!(
            info.lines().any(|l| l.contains(stored)
                && l.contains(&format!("sha256:{}", f["sha256"].as_str().unwrap()))),
            "{stored} is not loaded from the binary: {info}"
        );
    }
    assert!(!info.contains("skipped"), "{info}");
    let v: serde_json::Value =
        serde_json::from_str(&run("lookup --json 3.121.45.67 20.50.2.1 34.159.24.89")).unwrap();
    let regions: Vec<(&str, &str)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["provider"]["id"].as_str().unwrap(),
                r["region"]["id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        regions,
        [
            ("aws", "eu-central-1"),
            ("azure", "westeurope"),
            ("gcp", "europe-west3")
        ]
    );
    let report: serde_json::Value =
        serde_json::from_str(&run("analyze demo.pcap --json -")).unwrap();
    let aws = report["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ip"] == "3.121.45.67")
        .unwrap();
    assert_eq!(aws["region"]["id"], "eu-central-1");
    assert_eq!(aws["region"]["basis"], "official_feed");
    assert!(report["sources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["snapshot"] == "bundled feed snapshot 2025-07"));
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// The real AWS feed of the bundled snapshot, as AWS publishes it.
fn real_aws_feed() -> Vec<u8> {
    use whohosts::attribute::bundle::{unpack_feed, Bundle, FeedManifest};
    let b = Bundle::locate(Some(&repo_data()), None).unwrap();
    let m: FeedManifest = serde_json::from_slice(&b.read("feeds.json").unwrap()).unwrap();
    let f = m
        .feeds
        .iter()
        .find(|f| f.stored == "aws.aws-ip-ranges.json")
        .unwrap();
    unpack_feed(&b, f).unwrap()
}

/// An AWS-format feed with the given syncToken and IPv4 prefixes, all in us-east-1.
fn aws_feed(sync_token: u64, prefixes: &[String]) -> String {
    let entries: Vec<String> = prefixes
        .iter()
        .map(|p| {
            format!(
                r#"{{"ip_prefix":"{p}","region":"us-east-1","service":"EC2","network_border_group":"us-east-1"}}"#
            )
        })
        .collect();
    format!(
        r#"{{"syncToken":"{sync_token}","createDate":"2025-01-01-00-00-00","prefixes":[{}],"ipv6_prefixes":[]}}"#,
        entries.join(",")
    )
}

fn whohosts_in(data: &Path) -> Command {
    let mut c = Command::cargo_bin("whohosts").unwrap();
    c.env("WHOHOSTS_DATA_DIR", data);
    c
}

/// Every file of a directory with its bytes, to show nothing changed.
fn snapshot_dir(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Issue 22: hostile, stale, shrunken, truncated, invalid and huge feeds are refused by
/// `data update --from`, each with its reason, and the installed data stays as it was.
#[test]
fn hostile_feeds_are_refused_and_the_installed_feed_survives() {
    let data = tempfile::tempdir().unwrap();
    let real = real_aws_feed();
    let good = tempfile::tempdir().unwrap();
    std::fs::write(good.path().join("ip-ranges.json"), &real).unwrap();
    let o = whohosts_in(data.path())
        .args(["data", "update", "--from"])
        .arg(good.path())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let feeds = data.path().join("feeds");
    let installed = snapshot_dir(&feeds);
    assert_eq!(installed.len(), 1);

    let real_text = String::from_utf8(real.clone()).unwrap();
    let huawei: Vec<String> = (0..=255)
        .flat_map(|x| [format!("121.36.{x}.0/24"), format!("121.37.{x}.0/24")])
        .collect();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        // The issue's report: 0.0.0.0/0 for us-east-1 with an older syncToken.
        (
            "aws-ip-ranges.json",
            aws_feed(1_600_000_000, &["0.0.0.0/0".to_string()]).into_bytes(),
            "broader than any provider announces",
        ),
        (
            "cloudflare-ips-v4.txt",
            b"0.0.0.0/0\n".to_vec(),
            "broader than any provider announces",
        ),
        (
            "cloudflare-v6.txt",
            b"2000::/3\n2606:4700::/32\n".to_vec(),
            "broader than any provider announces",
        ),
        // The real feed under an older syncToken.
        (
            "older.json",
            real_text
                .replace(
                    "\"syncToken\": \"1753388594\"",
                    "\"syncToken\": \"1700000000\"",
                )
                .into_bytes(),
            "older than the installed",
        ),
        // Its own syncToken with content changed.
        (
            "same-token.json",
            real_text
                .replacen("3.4.12.4/32", "3.4.12.5/32", 1)
                .into_bytes(),
            "other content",
        ),
        // Newer, but 10 prefixes where 13,344 are installed.
        (
            "shrunk.json",
            aws_feed(
                1_800_000_000,
                &(0..10).map(|i| format!("3.5.{i}.0/24")).collect::<Vec<_>>(),
            )
            .into_bytes(),
            "fewer than half",
        ),
        // Newer and large, but every prefix is Huawei Cloud's (AS55990).
        (
            "huawei-as-aws.json",
            aws_feed(1_800_000_000, &huawei).into_bytes(),
            "the ASN data contradicts it",
        ),
        // Cut in the middle, and not a feed at all.
        (
            "truncated.json",
            real[..real.len() / 2].to_vec(),
            "not a feed",
        ),
        ("garbage.bin", vec![0xff, 0x00, 0x17, 0x80], "not a feed"),
    ];
    for (name, bytes, why) in &cases {
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join(name), bytes).unwrap();
        let o = whohosts_in(data.path())
            .args(["data", "update", "--from"])
            .arg(src.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{name}: {text}");
        assert!(
            text.contains("skipped") && text.contains(why),
            "{name}: {text}"
        );
        assert_eq!(snapshot_dir(&feeds), installed, "{name} changed the data");
    }
    // A 200 MB file is refused without being read whole.
    let src = tempfile::tempdir().unwrap();
    let huge = std::fs::File::create(src.path().join("huge.json")).unwrap();
    huge.set_len(200 << 20).unwrap();
    let o = whohosts_in(data.path())
        .args(["data", "update", "--from"])
        .arg(src.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("larger than 64 MiB"), "{text}");
    assert_eq!(snapshot_dir(&feeds), installed);

    // The Huawei Cloud address of the issue is still Huawei's.
    let o = whohosts_in(data.path())
        .args(["lookup", "--json", "121.36.0.8"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["provider"]["id"], "huawei");

    // --force goes back to an older publication (archives of a capture's time), but
    // never installs an implausible one.
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("older.json"), &cases[3].1).unwrap();
    std::fs::write(src.path().join("all.json"), &cases[0].1).unwrap();
    let o = whohosts_in(data.path())
        .args(["data", "update", "--force", "--from"])
        .arg(src.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("older.json: replaced"), "{text}");
    assert!(text.contains("all.json: skipped"), "{text}");
    assert_eq!(
        std::fs::read(feeds.join("aws.aws-ip-ranges.json")).unwrap(),
        cases[3].1
    );
}

/// Issue 22: when an official feed and the ASN data name different providers, the
/// answer says so and is not strong.
#[test]
fn a_feed_contradicted_by_the_asn_data_is_not_strong() {
    let data = tempfile::tempdir().unwrap();
    // Forced in with --force would still be refused (ASN check); install it directly,
    // as a file someone dropped into the data directory.
    std::fs::create_dir_all(data.path().join("feeds")).unwrap();
    std::fs::write(
        data.path().join("feeds/aws.aws-ip-ranges.json"),
        aws_feed(1_800_000_000, &["121.36.0.0/16".to_string()]),
    )
    .unwrap();
    let a = load(data.path(), &[]);
    let att = a.attribute(ip("121.36.0.8"), &[]);
    assert_eq!(att.provider.id.as_deref(), Some("aws"));
    assert_eq!(att.provider.confidence, Some(Confidence::Medium));
    let c = att.provider.conflict.as_deref().unwrap();
    assert!(c.contains("AS55990") && c.contains("huawei"), "{c}");
    assert!(att.provider.evidence.as_deref().unwrap().contains(c));
}

/// Issue 22: the feeds' services and tags tell a CDN from compute from storage, and
/// the clouds' own first-party space from their customers'. Addresses from the real
/// feeds of the bundled snapshot (and, for the space outside them, from the bundled
/// ASN data).
#[test]
fn feed_services_and_first_party_space_are_told_apart_with_reasons() {
    let empty = tempfile::tempdir().unwrap();
    let a = load(empty.path(), &[]);
    // (address, provider, service model, feed service, confidence)
    let cases: &[(&str, &str, &str, Option<&str>, Confidence)] = &[
        // AWS ip-ranges.json: 13.224.0.0/14 CLOUDFRONT, 3.120.0.0/14 EC2,
        // 52.219.170.0/23 S3, 3.2.58.0/24 GLOBALACCELERATOR, 3.4.12.4/32 AMAZON only.
        (
            "13.224.0.1",
            "aws",
            "cdn",
            Some("CLOUDFRONT"),
            Confidence::Strong,
        ),
        (
            "3.121.45.67",
            "aws",
            "iaas",
            Some("EC2"),
            Confidence::Strong,
        ),
        (
            "52.219.170.1",
            "aws",
            "hosting",
            Some("S3"),
            Confidence::Strong,
        ),
        (
            "3.2.58.1",
            "aws",
            "cdn",
            Some("GLOBALACCELERATOR"),
            Confidence::Strong,
        ),
        (
            "3.4.12.4",
            "aws",
            "iaas",
            Some("AMAZON"),
            Confidence::Strong,
        ),
        // AS16509, not in ip-ranges.json: Amazon's own space or a customer's block.
        ("1.44.96.1", "amazon", "hosting", None, Confidence::Weak),
        // Azure Service Tags: 13.107.208.0/24 AzureFrontDoor.Frontend, 4.175.0.0/16
        // only AzureCloud(.westeurope), 13.107.4.0/22 AzureFrontDoor.FirstParty.
        (
            "13.107.208.1",
            "azure",
            "cdn",
            Some("AzureFrontDoor.Frontend"),
            Confidence::Strong,
        ),
        (
            "4.175.0.1",
            "azure",
            "iaas",
            Some("AzureCloud"),
            Confidence::Strong,
        ),
        (
            "13.107.4.1",
            "microsoft",
            "hosting",
            Some("AzureFrontDoor.FirstParty"),
            Confidence::Strong,
        ),
        // AS8075 outside the Service Tags (Microsoft 365's 52.96.0.0/14).
        ("52.96.0.1", "microsoft", "hosting", None, Confidence::Weak),
        // AS15169 outside cloud.json (142.250.0.0/15) is Google, not Google Cloud;
        // 34.159.0.0/16 is Google Cloud europe-west3.
        ("142.250.1.1", "google", "hosting", None, Confidence::Medium),
        ("34.159.24.89", "gcp", "iaas", None, Confidence::Strong),
    ];
    for (addr, provider, model, service, conf) in cases {
        let p = a.attribute(ip(addr), &[]).provider;
        assert_eq!(p.id.as_deref(), Some(*provider), "{addr}: {p:?}");
        assert_eq!(p.service_model.as_deref(), Some(*model), "{addr}");
        assert_eq!(p.service.as_deref(), *service, "{addr}");
        assert_eq!(p.confidence, Some(*conf), "{addr}");
        let why = p.evidence.clone().unwrap();
        if let Some(s) = service {
            assert!(why.contains("the feed names") && why.contains(s), "{why}");
        }
    }
    let why = |addr: &str| {
        a.attribute(ip(addr), &[])
            .provider
            .evidence
            .clone()
            .unwrap()
    };
    assert!(why("142.250.1.1").contains("gcp.google-cloud-json.json"));
    assert!(why("142.250.1.1").contains("not a Google Cloud customer"));
    assert!(why("1.44.96.1").contains("BYOIP"));
    assert!(why("13.224.0.1").contains("CDN"));
    // Without the Google Cloud feed the first-party question stays open, and says so.
    let a = load_without_bundled_feeds(empty.path());
    let p = a.attribute(ip("142.250.1.1"), &[]).provider;
    assert_eq!(p.id.as_deref(), Some("gcp"));
    assert!(
        p.evidence.clone().unwrap().contains("cannot be told"),
        "the answer says why it may be Google's own space"
    );
}

/// Issue 22: an answer whose data is months away from the capture's time says so.
#[test]
fn data_far_from_the_capture_time_is_noted_in_the_answer() {
    let empty = tempfile::tempdir().unwrap();
    let a = load(empty.path(), &[]);
    let at = |date: &str| {
        let d =
            time::Date::parse(date, &time::format_description::well_known::Iso8601::DATE).unwrap();
        d.midnight().assume_utc().unix_timestamp()
    };
    // The AWS feed of the snapshot is of 2025-07-24.
    let mut near = a.attribute(ip("3.121.45.67"), &[]);
    near.note_data_age(at("2025-09-01"));
    assert!(near.notes.is_empty(), "{:?}", near.notes);
    let mut far = a.attribute(ip("3.121.45.67"), &[]);
    far.note_data_age(at("2026-11-21"));
    assert_eq!(far.notes.len(), 1, "{:?}", far.notes);
    assert!(far.notes[0].contains("provider and region answers"));
    assert!(far.notes[0].contains("2025-07-24") && far.notes[0].contains("16 months before"));
    // A capture older than the data is named too.
    let mut older = a.attribute(ip("3.121.45.67"), &[]);
    older.note_data_age(at("2024-01-01"));
    assert!(
        older.notes[0].contains("after the capture"),
        "{:?}",
        older.notes
    );
}

/// The real feed `stored` of the bundled snapshot, as its provider publishes it.
fn bundled_feed(stored: &str) -> Vec<u8> {
    use whohosts::attribute::bundle::{unpack_feed, Bundle, FeedManifest};
    let b = Bundle::locate(Some(&repo_data()), None).unwrap();
    let m: FeedManifest = serde_json::from_slice(&b.read("feeds.json").unwrap()).unwrap();
    let f = m.feeds.iter().find(|f| f.stored == stored).unwrap();
    unpack_feed(&b, f).unwrap()
}

/// Issue 32.1 and 32.2: the Chinese clouds' ASNs, Amazon's and Cloudflare's secondary
/// ASNs, and AWS space no ASN database covers, from the bundled data alone. Each ASN's
/// holder is named so in the bundled ASN data (@ip-location-db/asn 2.3.2026061719).
#[test]
fn chinese_clouds_secondary_asns_and_asn_less_space_are_attributed() {
    let empty = tempfile::tempdir().unwrap();
    let a = load(empty.path(), &[]);
    // (address, ASN, provider, confidence)
    let cases: &[(&str, Option<u32>, &str, Confidence)] = &[
        ("101.124.128.1", Some(131486), "jdcloud", Confidence::Medium),
        // AS58519's holder is `Cloud Computing Corporation`: listed unverified.
        ("36.111.160.1", Some(58519), "ctyun", Confidence::Weak),
        ("113.31.192.1", Some(59077), "ucloud", Confidence::Medium),
        ("23.91.96.1", Some(135377), "ucloud", Confidence::Medium),
        ("103.26.66.1", Some(59019), "kingsoft", Confidence::Medium),
        ("14.103.2.1", Some(137718), "volcengine", Confidence::Medium),
        ("45.113.192.1", Some(55967), "baidu", Confidence::Medium),
        ("139.198.128.1", Some(59078), "qingcloud", Confidence::Weak),
        // Listed by the official feeds as well as announced by secondary ASNs.
        ("172.96.110.1", Some(62785), "aws", Confidence::Strong),
        (
            "141.101.64.7",
            Some(202623),
            "cloudflare",
            Confidence::Strong,
        ),
        (
            "198.41.128.7",
            Some(395747),
            "cloudflare",
            Confidence::Strong,
        ),
        // No ASN database lists these; AWS's feed does.
        ("15.230.39.68", None, "aws", Confidence::Strong),
        ("150.222.152.70", None, "aws", Confidence::Strong),
        ("16.199.0.1", None, "aws", Confidence::Strong),
    ];
    for (addr, asn, provider, confidence) in cases {
        let r = a.attribute(ip(addr), &[]);
        assert_eq!(r.asn.number, *asn, "{addr}");
        assert_eq!(r.provider.id.as_deref(), Some(*provider), "{addr}: {r:#?}");
        assert_eq!(r.provider.confidence, Some(*confidence), "{addr}: {r:#?}");
        assert!(r.provider.conflict.is_none(), "{addr}: {r:#?}");
        if asn.is_none() {
            assert!(r
                .asn
                .reason
                .as_deref()
                .unwrap()
                .contains("no ASN database lists"));
        }
    }
    // Without the feed snapshot, the secondary ASNs alone name the provider.
    let bare = load_without_bundled_feeds(empty.path());
    for (addr, provider) in [
        ("172.96.110.1", "aws"),
        ("141.101.64.7", "cloudflare"),
        ("198.41.128.7", "cloudflare"),
    ] {
        let r = bare.attribute(ip(addr), &[]);
        assert_eq!(r.provider.id.as_deref(), Some(provider), "{addr}: {r:#?}");
        assert_eq!(r.provider.basis, Some(Basis::Asn));
    }
}

/// Issue 32.1: every Chinese cloud a letter can be addressed to has at least one ASN
/// in the directory, each named in the provider's sources; China Mobile Cloud and
/// China Unicom Cloud have only carrier ASNs (their space is announced by the
/// carriers' broadband networks), which explain an address without deciding it.
#[test]
fn every_chinese_cloud_has_an_asn_with_its_source() {
    let empty = tempfile::tempdir().unwrap();
    let a = load(empty.path(), &[]);
    let dir = a.directory().directory();
    for id in [
        "alibaba",
        "tencent",
        "huawei",
        "baidu",
        "volcengine",
        "kingsoft",
        "ucloud",
        "jdcloud",
        "ctyun",
        "cucloud",
        "qingcloud",
        "ecloud",
    ] {
        let p = dir
            .provider(id)
            .unwrap_or_else(|| panic!("{id} is missing"));
        let deciding: Vec<u32> = p
            .asns
            .iter()
            .chain(p.asns_unverified.iter())
            .copied()
            .collect();
        if id == "ecloud" || id == "cucloud" {
            assert!(deciding.is_empty(), "{id}: {deciding:?}");
            assert!(!p.carrier_asns.is_empty(), "{id} has no carrier ASN");
            assert!(p.notes.iter().any(|n| n.contains("`carrier_asns`")));
        }
        let asns: Vec<u32> = deciding.iter().chain(&p.carrier_asns).copied().collect();
        assert!(!asns.is_empty(), "{id} has no ASN");
        for asn in asns {
            assert!(
                p.sources.iter().any(|s| s.contains(&format!("AS{asn}"))),
                "{id}: AS{asn} has no source"
            );
        }
    }
}

/// Issue 32.1: an address of a carrier ASN is explained, not attributed: the reason
/// names the cloud the ASN carries; a name of that cloud seen for the address decides
/// it, and the evidence says the carrier network agrees.
#[test]
fn a_carrier_asn_explains_an_address_without_deciding_it() {
    let empty = tempfile::tempdir().unwrap();
    let a = load(empty.path(), &[]);
    for (addr, asn, cloud) in [
        ("36.133.0.1", 9808, "China Mobile Cloud (ecloud)"),
        ("123.125.0.1", 4808, "China Unicom Cloud (cucloud)"),
    ] {
        let r = a.attribute(ip(addr), &[]);
        assert_eq!(r.asn.number, Some(asn), "{addr}: {r:#?}");
        assert_eq!(r.provider.id, None, "{addr}: {r:#?}");
        let reason = r.provider.reason.as_deref().unwrap_or_default();
        assert!(
            reason.contains(&format!("AS{asn}"))
                && reason.contains(cloud)
                && reason.contains("the ASN alone does not tell"),
            "{addr}: {reason}"
        );
    }
    let named = a.attribute(
        ip("36.133.0.1"),
        &[seen("bucket.eos-wuxi-1.cmecloud.cn", HostnameKind::Sni)],
    );
    assert_eq!(named.provider.id.as_deref(), Some("ecloud"));
    assert_eq!(named.provider.basis, Some(Basis::Hostname));
    let evidence = named.provider.evidence.as_deref().unwrap_or_default();
    assert!(
        evidence.contains("AS9808, which announces the address, is one of ecloud's carrier ASNs"),
        "{evidence}"
    );
    // A broadband address of another carrier says nothing of the kind.
    let other = a.attribute(ip("36.111.160.1"), &[]);
    assert!(!other
        .provider
        .reason
        .as_deref()
        .unwrap_or_default()
        .contains("carrier"));
}

/// Issue 32.3: a more specific block listed without a region (an Azure service tag)
/// falls back to the innermost regional block around it.
#[test]
fn a_regionless_block_falls_back_to_the_regional_block_around_it() {
    let empty = tempfile::tempdir().unwrap();
    let a = load(empty.path(), &[]);
    for (addr, inner, region, outer) in [
        (
            "20.231.137.1",
            "20.231.137.0/27",
            "newzealandnorth",
            "20.231.137.0/24",
        ),
        (
            "20.190.128.1",
            "20.190.128.0/26",
            "southcentralus",
            "20.190.128.0/24",
        ),
    ] {
        let r = a.attribute(ip(addr), &[]);
        assert_eq!(r.provider.id.as_deref(), Some("azure"));
        assert_eq!(r.region.id.as_deref(), Some(region), "{addr}: {r:#?}");
        assert_eq!(r.region.confidence, Some(Confidence::Strong));
        let ev = r.region.evidence.as_deref().unwrap();
        assert!(ev.contains(inner) && ev.contains(outer), "{ev}");
        // Both blocks are shown with their entries.
        let prefixes: Vec<String> = r.feeds.iter().map(|m| m.prefix.to_string()).collect();
        assert!(prefixes.contains(&inner.to_string()) && prefixes.contains(&outer.to_string()));
    }
}

/// Issue 33.3: a GitHub range nested in an Azure block is on Azure's network: the
/// answer is Azure with its region, and GitHub's listing is named beside it.
#[test]
fn a_github_range_inside_an_azure_block_names_both() {
    let empty = tempfile::tempdir().unwrap();
    let a = load(empty.path(), &[]);
    let inside = a.attribute(ip("20.162.255.225"), &[]);
    let beside = a.attribute(ip("20.162.255.200"), &[]);
    for r in [&inside, &beside] {
        assert_eq!(r.provider.id.as_deref(), Some("azure"), "{r:#?}");
        assert_eq!(r.region.id.as_deref(), Some("uksouth"));
    }
    let gh = &inside.provider.also_listed;
    assert_eq!(gh.len(), 1, "{gh:#?}");
    assert_eq!(gh[0].provider, "github");
    assert_eq!(gh[0].prefix.to_string(), "20.162.255.224/28");
    assert_eq!(gh[0].service.as_deref(), Some("codespaces"));
    assert!(inside
        .provider
        .evidence
        .as_deref()
        .unwrap()
        .contains("lists 20.162.255.224/28 inside it for github (codespaces)"));
    assert!(beside.provider.also_listed.is_empty());
}

/// Issue 33.1: every region the real AWS, Google Cloud, Azure and Oracle feeds name is
/// a region of the directory, by its id or an alias (Azure's `germanywc` is
/// `germanywestcentral`), except the two whose place no source here states; the
/// feed's spelling is kept as evidence.
#[test]
fn feed_region_spellings_are_normalised_to_directory_ids() {
    let empty = tempfile::tempdir().unwrap();
    let a = load(empty.path(), &[]);
    let dir = a.directory().directory();
    let mut missing = std::collections::BTreeSet::new();
    let mut seen = 0;
    for f in a.feeds().iter().filter(|f| f.bundled.is_some()) {
        if !["aws", "gcp", "azure", "oracle"].contains(&f.provider.as_str()) {
            continue;
        }
        let p = dir.provider(&f.provider).unwrap();
        for r in f.feed.entries.iter().filter_map(|e| e.region.as_deref()) {
            if r.is_empty() || r.eq_ignore_ascii_case("global") {
                continue;
            }
            seen += 1;
            if p.region(r).is_none() {
                missing.insert(format!("{} {r}", f.provider));
            }
        }
    }
    assert!(seen > 50_000, "{seen}");
    assert_eq!(
        missing.into_iter().collect::<Vec<_>>(),
        ["aws me-west-1", "azure northeurope2"]
    );
    let r = a.attribute(ip("20.52.0.1"), &[]);
    assert_eq!(r.region.id.as_deref(), Some("germanywestcentral"));
    assert_eq!(r.region.feed_region.as_deref(), Some("germanywc"));
    assert_eq!(r.region.city.as_deref(), Some("Frankfurt"));
    // A region the directory does not list keeps the feed's id and says so.
    let me = a
        .feeds()
        .iter()
        .find(|f| f.provider == "aws")
        .unwrap()
        .feed
        .entries
        .iter()
        .find(|e| e.region.as_deref() == Some("me-west-1"))
        .unwrap()
        .prefix;
    let r = a.attribute(me.first(), &[]);
    assert_eq!(r.region.id.as_deref(), Some("me-west-1"));
    assert!(r.region.city.is_none());
    assert!(r
        .region
        .evidence
        .as_deref()
        .unwrap()
        .contains("not in the provider directory's region list"));
}

/// Issue 33.2: the cities of DigitalOcean's and Linode's real geofeeds map to their
/// regions: one region (Cedar Knolls is Linode's Newark region), or the candidates
/// when several fit (DigitalOcean's ams2 and ams3 in Amsterdam).
#[test]
fn geofeed_cities_map_to_regions_or_name_the_candidates() {
    let empty = tempfile::tempdir().unwrap();
    let a = load(empty.path(), &[]);
    let mut unmapped = std::collections::BTreeSet::new();
    for stored in ["digitalocean.geofeed.txt", "linode.geofeed.txt"] {
        let f = a.feeds().iter().find(|f| f.name == stored).unwrap();
        for e in &f.feed.entries {
            let r = a.attribute(e.prefix.first(), &[]);
            if r.region.basis != Some(Basis::OfficialFeed) {
                continue; // a more specific prefix of another feed
            }
            if r.region.id.is_none() && r.region.candidates.is_empty() {
                unmapped.insert(format!(
                    "{} {}",
                    f.provider,
                    e.city.as_deref().unwrap_or("-")
                ));
            }
        }
    }
    // Linode sites the directory's region list does not hold (no source here names
    // their region ids).
    assert_eq!(
        unmapped.into_iter().collect::<Vec<_>>(),
        [
            "linode Auckland",
            "linode Berlin",
            "linode Bogota",
            "linode Denver",
            "linode Hamburg",
            "linode Houston",
            "linode Johannesburg",
            "linode Kuala Lumpur",
            "linode Marseille",
            "linode Oslo",
            "linode Queretaro",
            "linode Santiago",
        ]
    );
    let in_city = |stored: &str, city: &str| {
        a.feeds()
            .iter()
            .find(|f| f.name == stored)
            .unwrap()
            .feed
            .entries
            .iter()
            .find(|e| e.city.as_deref() == Some(city) && e.prefix.is_ipv4())
            .unwrap()
            .prefix
            .first()
    };
    let r = a.attribute(in_city("linode.geofeed.txt", "Cedar Knolls"), &[]);
    assert_eq!(r.region.id.as_deref(), Some("us-east"), "{r:#?}");
    let r = a.attribute(in_city("linode.geofeed.txt", "Richardson"), &[]);
    assert_eq!(r.region.id.as_deref(), Some("us-central"));
    let r = a.attribute(in_city("digitalocean.geofeed.txt", "Amsterdam"), &[]);
    assert_eq!(r.region.id, None);
    assert_eq!(r.region.candidates, ["ams2", "ams3"]);
    assert!(r
        .region
        .evidence
        .as_deref()
        .unwrap()
        .contains("several regions there"));
}

/// Issue 32.4 and 33.7: a bad argument does not stop the batch; addresses come from
/// arguments, standard input and files alike; a huge argument is shown shortened.
#[test]
fn lookup_answers_every_valid_address_and_names_each_invalid_one() {
    let empty = tempfile::tempdir().unwrap();
    let huge = "x".repeat(100_000);
    let out = whohosts_in(empty.path())
        .args([
            "lookup",
            "--json",
            "--at",
            "2025-08-01",
            "8.8.8.8",
            "garbage",
        ])
        .arg(&huge)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["ip"], "8.8.8.8");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("argument 2: `garbage` is not an IP address"),
        "{err}"
    );
    assert!(err.contains("argument 3: `xxxx"), "{err}");
    assert!(err.contains("(100000 bytes)"), "{err}");
    assert!(err.len() < 2000, "{}", err.len());

    let list = empty.path().join("list.txt");
    std::fs::write(
        &list,
        "# servers\n1.12.0.1\n\n2606:4700::1\nnot-an-address\n",
    )
    .unwrap();
    let out = whohosts_in(empty.path())
        .args([
            "lookup",
            "--json",
            "--at",
            "2025-08-01",
            "47.96.0.1",
            "-",
            "--file",
        ])
        .arg(&list)
        .write_stdin("3.5.140.1\n13.64.0.1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ips: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ip"].as_str().unwrap())
        .collect();
    assert_eq!(
        ips,
        [
            "47.96.0.1",
            "3.5.140.1",
            "13.64.0.1",
            "1.12.0.1",
            "2606:4700::1"
        ]
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("list.txt line 5: `not-an-address` is not an IP address"),
        "{err}"
    );
}

/// Issue 32.6: answers and `data info` say when the data is more than 90 days older
/// than the reference date (`--at`, else today); with `--at` the output is the same
/// on every run.
#[test]
fn stale_data_is_named_in_every_answer_and_in_data_info() {
    let empty = tempfile::tempdir().unwrap();
    let run = |at: &str| {
        let out = whohosts_in(empty.path())
            .args(["lookup", "--json", "--at", at, "3.5.140.1"])
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
    };
    let fresh: serde_json::Value = serde_json::from_slice(&run("2025-08-01")).unwrap();
    let notes = fresh[0]["notes"].as_array().unwrap();
    // The feed is of 2025-07-24; the ASN data of 2026-06-17 is newer than that day.
    assert!(notes
        .iter()
        .all(|n| !n.as_str().unwrap().contains("provider")));
    let late = run("2026-12-04");
    assert_eq!(late, run("2026-12-04"), "same --at, same bytes");
    let late: serde_json::Value = serde_json::from_slice(&late).unwrap();
    let notes: Vec<&str> = late[0]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("the ASN answer rests on asn-ipv4.mmdb")
                && n.contains("5 months before 2026-12-04 (--at)")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("provider and region answers") && n.contains("16 months before")),
        "{notes:?}"
    );
    let out = whohosts_in(empty.path())
        .args(["data", "info", "--at", "2026-12-04"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("STALE: data of 2026-06-17 is 170 days older than 2026-12-04 (--at)"),
        "{text}"
    );
    assert!(text.contains("STALE: data of 2025-07-24"), "{text}");
}

/// Issue 33.4: a real feed cut short that still parses never replaces the good copy,
/// and after forced bad copies `.prev` still holds the last good one.
#[test]
fn truncated_feeds_never_replace_the_last_known_good_copy() {
    use whohosts::attribute::datadir::{update_from_with, UpdateOptions};
    let data = tempfile::tempdir().unwrap();
    let a = load(data.path(), &[]);
    let linode = bundled_feed("linode.geofeed.txt");
    let cut = |bytes: &[u8], keep_lines: usize| -> Vec<u8> {
        bytes
            .split_inclusive(|b| *b == b'\n')
            .take(keep_lines)
            .flatten()
            .copied()
            .collect()
    };
    let lines = linode.split(|b| *b == b'\n').count();
    let import = |bytes: &[u8], name: &str, force: bool| {
        let from = tempfile::tempdir().unwrap();
        std::fs::write(from.path().join(name), bytes).unwrap();
        update_from_with(&a, data.path(), from.path(), UpdateOptions { force }).unwrap()
    };
    // Half of Linode's geofeed, and Cloudflare's list cut to 2 of 15: refused.
    let o = import(&cut(&linode, lines / 2), "linode.csv", false);
    assert_eq!(o[0].action, UpdateAction::Skipped, "{o:#?}");
    assert!(o[0].detail.contains("fewer than half"), "{o:#?}");
    let cf = bundled_feed("cloudflare.cidr-list-v4.txt");
    let o = import(&cut(&cf, 2), "cloudflare-ips-v4.txt", false);
    assert_eq!(o[0].action, UpdateAction::Skipped, "{o:#?}");
    assert!(
        o[0].detail
            .contains("2 prefixes where the bundled copy holds 15"),
        "{o:#?}"
    );
    // The good copy, then two bad ones forced in: `.prev` keeps the good one.
    let feeds = data.path().join("feeds");
    assert_eq!(
        import(&linode, "linode.csv", false)[0].action,
        UpdateAction::Installed
    );
    let bad1 = cut(&linode, lines / 3);
    let bad2 = cut(&linode, lines / 4);
    let o = import(&bad1, "linode.csv", true);
    assert_eq!(o[0].action, UpdateAction::Replaced, "{o:#?}");
    assert_eq!(
        import(&bad2, "linode.csv", true)[0].action,
        UpdateAction::Replaced
    );
    assert_eq!(
        std::fs::read(feeds.join("linode.geofeed.txt.prev")).unwrap(),
        linode
    );
    assert_eq!(
        std::fs::read(feeds.join("linode.geofeed.txt")).unwrap(),
        bad2
    );
    // Unforced, a cut copy is measured against the last good one and refused.
    let o = import(&cut(&linode, lines * 2 / 5), "linode.csv", false);
    assert!(o[0].detail.contains("last known good"), "{o:#?}");
    // The good one comes back; `.prev` is still the good copy, not a cut one.
    assert_eq!(
        import(&linode, "linode.csv", false)[0].action,
        UpdateAction::Replaced
    );
    assert_eq!(
        std::fs::read(feeds.join("linode.geofeed.txt.prev")).unwrap(),
        linode
    );
}

/// Issue 33.6: a stored feed that no longer parses is named in the JSON answer of
/// `lookup`, in `data info` and in the sources every report lists.
#[test]
fn a_corrupt_stored_feed_is_carried_by_answers_and_sources() {
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data.path().join("feeds")).unwrap();
    std::fs::write(
        data.path().join("feeds/aws.aws-ip-ranges.json"),
        b"{ \"syncToken\": ",
    )
    .unwrap();
    let a = load(data.path(), &[]);
    let s = a
        .sources()
        .into_iter()
        .find(|s| s.name == "aws.aws-ip-ranges.json" && !s.bundled)
        .expect("the broken feed is a source");
    assert!(
        s.problem.as_deref().unwrap().contains("does not parse"),
        "{s:#?}"
    );
    assert_eq!(s.sha256.len(), 64);
    let out = whohosts_in(data.path())
        .args(["lookup", "--json", "--at", "2025-08-01", "3.5.140.1"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = v[0]["data_problems"].as_array().unwrap();
    assert!(problems.iter().any(|p| p
        .as_str()
        .unwrap()
        .contains("aws.aws-ip-ranges.json: skipped: does not parse")));
    let out = whohosts_in(data.path())
        .args(["data", "info"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("PROBLEM: skipped: does not parse"), "{text}");
    let out = whohosts_in(data.path())
        .args(["data", "info", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["name"] == "aws.aws-ip-ranges.json" && s["problem"].is_string()));
    // The report of a capture lists it in its sources.
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures/demo.pcap");
    let out = whohosts_in(data.path())
        .arg("analyze")
        .arg(&demo)
        .args(["--json", "-"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["sources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["name"] == "aws.aws-ip-ranges.json"
            && s["problem"]
                .as_str()
                .unwrap_or("")
                .contains("does not parse")));
}

/// Issue 30.8: a corrupt `bundled.json` is not dropped in silence: the databases'
/// sources carry the problem, `data info` shows it and every answer carries it.
#[test]
fn a_corrupt_bundled_manifest_is_a_visible_problem() {
    let bundled = tempfile::tempdir().unwrap();
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data");
    for name in [
        "asn-ipv4.mmdb",
        "asn-ipv6.mmdb",
        "country.mmdb",
        "feeds.json",
    ] {
        std::fs::copy(src.join(name), bundled.path().join(name)).unwrap();
    }
    std::fs::create_dir(bundled.path().join("feeds")).unwrap();
    for e in std::fs::read_dir(src.join("feeds")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), bundled.path().join("feeds").join(e.file_name())).unwrap();
    }
    std::fs::write(
        bundled.path().join("bundled.json"),
        b"{\"files\": [ {\"file\": ",
    )
    .unwrap();
    let empty = tempfile::tempdir().unwrap();
    let a = Attributor::load(&AttributeOptions {
        data_dir: Some(empty.path().to_path_buf()),
        bundled_dir: Some(bundled.path().to_path_buf()),
        ..AttributeOptions::default()
    })
    .unwrap();
    let dbs: Vec<_> = a
        .sources()
        .into_iter()
        .filter(|s| s.bundled && s.build_date.is_some())
        .collect();
    assert_eq!(dbs.len(), 3);
    for s in &dbs {
        let p = s.problem.as_deref().unwrap_or_default();
        assert!(p.contains("bundled.json does not parse"), "{s:#?}");
        assert!(s.licence.is_none());
    }
    let out = whohosts_in(empty.path())
        .args(["data", "info", "--bundled-dir"])
        .arg(bundled.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("PROBLEM:") && text.contains("bundled.json does not parse"),
        "{text}"
    );
    let out = whohosts_in(empty.path())
        .args([
            "lookup",
            "--json",
            "--at",
            "2025-08-01",
            "3.5.140.1",
            "--bundled-dir",
        ])
        .arg(bundled.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v[0]["data_problems"][0]
        .as_str()
        .unwrap()
        .contains("bundled.json does not parse"));
}

/// Issue 32.5: a CIDR list with more prefixes than any provider publishes is read no
/// further than the cap (memory stays bounded) and refused; one larger than 64 MiB is
/// refused by its size, unread.
#[test]
fn a_huge_feed_is_refused_without_reading_it_whole() {
    use std::io::Write;
    use whohosts::attribute::feeds::MAX_FEED_PREFIXES;
    let data = tempfile::tempdir().unwrap();
    let a = load_without_bundled_feeds(data.path());
    let from = tempfile::tempdir().unwrap();
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(from.path().join("cloudflare-v4.txt")).unwrap(),
    );
    // 104.16.0.0/12 and beyond, as /28s: Cloudflare's space first, as the list's
    // provider is told by the ASNs of its first prefixes.
    for i in 0..=MAX_FEED_PREFIXES as u32 {
        let addr = std::net::Ipv4Addr::from(0x6810_0000u32 + (i << 4));
        writeln!(f, "{addr}/28").unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let o = update_from(&a, data.path(), from.path()).unwrap();
    assert_eq!(o[0].action, UpdateAction::Skipped, "{o:#?}");
    assert!(o[0].detail.contains("more than 1000000 prefixes"), "{o:#?}");
    // The same file put into the data directory by hand is skipped with the problem.
    std::fs::create_dir_all(data.path().join("feeds")).unwrap();
    std::fs::copy(
        from.path().join("cloudflare-v4.txt"),
        data.path().join("feeds/cloudflare.cidr-list-v4.txt"),
    )
    .unwrap();
    let a = load_without_bundled_feeds(data.path());
    assert!(a.feeds().is_empty());
    assert!(a
        .warnings()
        .iter()
        .any(|w| w.contains("more than 1000000 prefixes")));
    // Larger than 64 MiB: a sparse file, refused by its size.
    let big = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(big.path().join("huge.txt")).unwrap();
    file.set_len(65 << 20).unwrap();
    let o = update_from(&a, data.path(), big.path()).unwrap();
    assert!(o[0].detail.contains("larger than 64 MiB"), "{o:#?}");
}

/// Checks that `compiled` answers as `parsed` (whose feeds hold their entries) at the
/// first and last address of every prefix of every feed (whole attributions at every
/// 97th entry); returns the number of addresses checked.
fn assert_same_answers(parsed: &Attributor, compiled: &Attributor) -> usize {
    let mut checked = 0;
    for f in parsed.feeds() {
        for (i, e) in f.feed.entries.iter().enumerate() {
            for addr in [e.prefix.first(), e.prefix.last()] {
                assert_eq!(
                    parsed.feed_levels(addr),
                    compiled.feed_levels(addr),
                    "{addr} ({} of {})",
                    e.prefix,
                    f.name
                );
                if i % 97 == 0 {
                    assert_eq!(
                        serde_json::to_value(parsed.attribute(addr, &[])).unwrap(),
                        serde_json::to_value(compiled.attribute(addr, &[])).unwrap(),
                        "{addr}"
                    );
                }
                checked += 1;
            }
        }
    }
    checked
}

/// Issue 33.5: the imported feeds are compiled once into an index file read in
/// place; it answers exactly as the parsed feeds do, for every prefix of the real
/// feeds, and is never used once the stored feeds change or the file is damaged.
#[test]
fn the_compiled_feed_index_answers_as_the_parsed_feeds() {
    use whohosts::attribute::bundle::{unpack_feed, Bundle, FeedManifest};
    use whohosts::attribute::LoadedFeed;
    let b = Bundle::locate(Some(&repo_data()), None).unwrap();
    let m: FeedManifest = serde_json::from_slice(&b.read("feeds.json").unwrap()).unwrap();
    let from = tempfile::tempdir().unwrap();
    let mut parsed = Vec::new();
    for f in &m.feeds {
        let body = unpack_feed(&b, f).unwrap();
        std::fs::write(from.path().join(&f.stored), &body).unwrap();
        parsed.push(LoadedFeed::parse(&f.stored, &f.provider, &body).unwrap());
    }
    let data = tempfile::tempdir().unwrap();
    let importer = load_without_bundled_feeds(data.path());
    let outcomes = update_from(&importer, data.path(), from.path()).unwrap();
    assert!(outcomes.iter().all(|o| o.action == UpdateAction::Installed));
    let idx = data.path().join("compiled/feeds.idx");
    assert!(idx.is_file(), "update compiles the stored feeds");

    // The same feeds parsed in memory, beside the compiled index.
    let empty = tempfile::tempdir().unwrap();
    let memory = load_without_bundled_feeds(empty.path()).with_feeds(parsed);
    let compiled = load_without_bundled_feeds(data.path());
    assert!(compiled.feeds().iter().all(|f| f.compiled.is_some()));
    assert!(compiled.feeds().iter().all(|f| f.feed.entries.is_empty()));
    let counts = |a: &Attributor| {
        let mut v: Vec<_> = a
            .feeds()
            .iter()
            .map(|f| (f.name.clone(), f.sha256.clone(), f.counts(), f.date.clone()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(counts(&memory), counts(&compiled));

    let checked = assert_same_answers(&memory, &compiled);
    assert!(checked > 200_000, "{checked}");
    for outside in ["192.0.2.1", "2001:db8::1", "1.1.1.1", "::ffff:20.52.0.1"] {
        assert_eq!(
            memory.feed_levels(ip(outside)),
            compiled.feed_levels(ip(outside))
        );
    }

    // A stored feed removed: the index is stale, the feeds are parsed again and the
    // index rewritten without it.
    std::fs::remove_file(data.path().join("feeds/cloudflare.cidr-list-v4.txt")).unwrap();
    let a = load_without_bundled_feeds(data.path());
    assert!(a
        .feeds()
        .iter()
        .all(|f| f.name != "cloudflare.cidr-list-v4.txt"));
    assert!(a
        .feed_levels(ip("104.16.0.1"))
        .iter()
        .flatten()
        .all(|m| m.feed != "cloudflare.cidr-list-v4.txt"));
    let a = load_without_bundled_feeds(data.path());
    assert!(a.feeds().iter().all(|f| f.compiled.is_some()), "rewritten");

    // One byte of its records damaged: refused with the reason, answers unchanged.
    let mut bytes = std::fs::read(&idx).unwrap();
    let n = bytes.len();
    bytes[n - 5] ^= 0x01;
    std::fs::write(&idx, &bytes).unwrap();
    let a = load_without_bundled_feeds(data.path());
    assert!(
        a.notes()
            .iter()
            .any(|n| n.contains("feeds.idx: not used (its records do not match")),
        "{:?}",
        a.notes()
    );
    assert!(a.feeds().iter().all(|f| f.compiled.is_none()));
    assert_eq!(
        memory.feed_levels(ip("20.52.0.1")),
        a.feed_levels(ip("20.52.0.1"))
    );
    // ... and rebuilt for the next call.
    let a = load_without_bundled_feeds(data.path());
    assert!(a.feeds().iter().all(|f| f.compiled.is_some()));

    // Cut short: refused the same way.
    std::fs::write(&idx, &std::fs::read(&idx).unwrap()[..n / 2]).unwrap();
    let a = load_without_bundled_feeds(data.path());
    assert!(a.notes().iter().any(|n| n.contains("feeds.idx: not used")));
}

/// Issue 25 (speed): the bundled feed snapshot is compiled into
/// `compiled/bundled.idx` on the first load and read in place after, answering exactly
/// as the parsed snapshot, for every prefix; a damaged index is named, not used, and
/// rebuilt; an imported copy of a bundled feed changes the set in use, so the index is
/// made again without it.
#[test]
fn the_bundled_snapshot_is_compiled_once_and_answers_as_parsed() {
    let data = tempfile::tempdir().unwrap();
    let parsed = load(data.path(), &[]);
    let idx = data.path().join("compiled/bundled.idx");
    assert!(idx.is_file(), "the first load compiles the snapshot");
    assert!(parsed.feeds().len() >= 10);
    assert!(parsed
        .feeds()
        .iter()
        .all(|f| f.compiled.is_none() && f.bundled.is_some()));
    let compiled = load(data.path(), &[]);
    assert!(compiled
        .feeds()
        .iter()
        .all(|f| f.compiled.is_some() && f.feed.entries.is_empty() && f.bundled.is_some()));
    assert_eq!(
        serde_json::to_value(parsed.sources()).unwrap(),
        serde_json::to_value(compiled.sources()).unwrap()
    );
    assert_eq!(parsed.notes(), compiled.notes());
    assert_eq!(parsed.warnings(), compiled.warnings());
    let checked = assert_same_answers(&parsed, &compiled);
    assert!(checked > 200_000, "{checked}");

    // One byte of its records damaged: named, not used, answers unchanged, rebuilt.
    let mut bytes = std::fs::read(&idx).unwrap();
    let n = bytes.len();
    bytes[n - 5] ^= 0x01;
    std::fs::write(&idx, &bytes).unwrap();
    let a = load(data.path(), &[]);
    assert!(
        a.notes()
            .iter()
            .any(|n| n.contains("bundled.idx: not used (its records do not match")),
        "{:?}",
        a.notes()
    );
    assert!(a.feeds().iter().all(|f| f.compiled.is_none()));
    assert_eq!(
        parsed.feed_levels(ip("20.231.137.1")),
        a.feed_levels(ip("20.231.137.1"))
    );
    let a = load(data.path(), &[]);
    assert!(a.feeds().iter().all(|f| f.compiled.is_some()), "rebuilt");
    assert!(a.notes().is_empty(), "{:?}", a.notes());

    // A stored copy of one bundled feed: that feed comes from the data directory, the
    // rest from a new compiled snapshot index without it.
    use whohosts::attribute::bundle::{unpack_feed, Bundle, FeedManifest};
    let b = Bundle::locate(Some(&repo_data()), None).unwrap();
    let m: FeedManifest = serde_json::from_slice(&b.read("feeds.json").unwrap()).unwrap();
    let cf = m
        .feeds
        .iter()
        .find(|f| f.stored == "cloudflare.cidr-list-v4.txt")
        .unwrap();
    let feeds = data.path().join("feeds");
    std::fs::create_dir_all(&feeds).unwrap();
    std::fs::write(feeds.join(&cf.stored), unpack_feed(&b, cf).unwrap()).unwrap();
    for _ in 0..2 {
        let a = load(data.path(), &[]);
        let copies: Vec<_> = a
            .feeds()
            .iter()
            .filter(|f| f.name == cf.stored)
            .map(|f| f.bundled.is_some())
            .collect();
        assert_eq!(copies, [false], "the stored copy alone");
        assert!(a
            .notes()
            .iter()
            .any(|n| n.contains("bundled cloudflare.cidr-list-v4.txt")));
        assert_eq!(
            parsed.feed_levels(ip("104.16.0.1")).len(),
            a.feed_levels(ip("104.16.0.1")).len()
        );
    }
}

#[test]
fn a_refused_feed_copy_says_which_check_and_whether_force_overrides_it() {
    use whohosts::attribute::datadir::{vet_replacement, Refusal, UpdateOptions};
    use whohosts::attribute::feeds::parse_feed;
    let empty = tempfile::tempdir().unwrap();
    let a = load(empty.path(), &[]);
    let strict = UpdateOptions::default();
    let forced = UpdateOptions { force: true };
    let broad = parse_feed(b"0.0.0.0/0\n").unwrap();
    let e = vet_replacement(&a, &broad, "cloudflare", None, None, forced).unwrap_err();
    assert_eq!(
        e,
        Refusal::TooBroad {
            prefix: "0.0.0.0/0".into()
        }
    );
    assert!(!e.forceable(), "--force never installs a /0");
    let before: String = (0..16).map(|i| format!("104.{i}.0.0/16\n")).collect();
    let before = parse_feed(before.as_bytes()).unwrap();
    let cut = parse_feed(b"104.16.0.0/16\n").unwrap();
    let e = vet_replacement(&a, &cut, "cloudflare", Some(&before), None, strict).unwrap_err();
    assert!(
        matches!(
            e,
            Refusal::Shrunk {
                prefixes: 1,
                against: "last known good",
                before: 16
            }
        ),
        "{e}"
    );
    assert!(e.forceable());
    assert!(e.to_string().contains("fewer than half"), "{e}");
    vet_replacement(&a, &cut, "cloudflare", Some(&before), None, forced).expect("forced");
}
