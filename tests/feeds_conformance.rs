//! Conformance of the feed parsers and the prefix index against the real feeds in
//! `../shared/feeds/` (a July 2025 snapshot; see its PROVENANCE.md). Every prefix of
//! every feed must look up to its own provider and region unless a more specific
//! prefix covers the address; the number of prefixes per feed is asserted.
//!
//! The feeds are never copied into the repository; when they are missing this test
//! fails, it does not skip.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use whohosts::attribute::feeds::FeedFormat;
use whohosts::attribute::{AttributeOptions, Attributor, LoadedFeed};
use whohosts::model::Confidence;

/// (file, expected format, provider, IPv4 prefixes, IPv6 prefixes), counted
/// independently from the JSON/CSV with a short script when the snapshot was taken.
const FEEDS: &[(&str, FeedFormat, &str, usize, usize)] = &[
    (
        "aws-ip-ranges.json",
        FeedFormat::AwsIpRanges,
        "aws",
        8971,
        4373,
    ),
    (
        "google-cloud-ip-ranges.json",
        FeedFormat::GoogleCloudJson,
        "gcp",
        736,
        46,
    ),
    (
        "microsoft-azure-ip-ranges.json",
        FeedFormat::AzureServiceTags,
        "azure",
        67078,
        23415,
    ),
    (
        "oracle-cloud-ip-ranges.json",
        FeedFormat::OraclePublicIpRanges,
        "oracle",
        896,
        0,
    ),
    (
        "digitalocean.csv",
        FeedFormat::Geofeed,
        "digitalocean",
        1037,
        145,
    ),
    ("linode.txt", FeedFormat::Geofeed, "linode", 4464, 88),
    (
        "cloudflare-v4-ip-ranges.txt",
        FeedFormat::CidrList,
        "cloudflare",
        15,
        0,
    ),
    (
        "cloudflare-v6-ip-ranges.txt",
        FeedFormat::CidrList,
        "cloudflare",
        0,
        7,
    ),
    (
        "fastly-ip-ranges.json",
        FeedFormat::FastlyPublicIpList,
        "fastly",
        19,
        2,
    ),
    (
        "github-ip-ranges.json",
        FeedFormat::GithubMeta,
        "github",
        4969,
        990,
    ),
    (
        "asn-derived/alibaba.json",
        FeedFormat::AsnDerived,
        "alibaba",
        792,
        89,
    ),
    (
        "asn-derived/hetzner.json",
        FeedFormat::AsnDerived,
        "hetzner",
        78,
        5,
    ),
    (
        "asn-derived/huawei-cloud.json",
        FeedFormat::AsnDerived,
        "huawei",
        502,
        93,
    ),
    ("asn-derived/ovh.json", FeedFormat::AsnDerived, "ovh", 2, 1),
    (
        "asn-derived/tencent.json",
        FeedFormat::AsnDerived,
        "tencent",
        2209,
        45,
    ),
];

/// `../shared/feeds` beside the checkout; `WHOHOSTS_SHARED_DIR` can point elsewhere
/// for checkouts that do not sit beside `shared/` (git worktrees).
fn shared_feeds() -> PathBuf {
    let shared = std::env::var_os("WHOHOSTS_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let dir = shared.join("feeds");
    assert!(
        dir.join("aws-ip-ranges.json").is_file(),
        "the real feeds are missing: expected them in {} (CI always has ../shared beside the checkout)",
        dir.display()
    );
    dir
}

fn bundled_only() -> Attributor {
    let empty = tempfile::tempdir().unwrap();
    Attributor::load(&AttributeOptions {
        data_dir: Some(empty.path().to_path_buf()),
        ..AttributeOptions::default()
    })
    .unwrap()
}

fn load_all() -> Vec<LoadedFeed> {
    let dir = shared_feeds();
    FEEDS
        .iter()
        .map(|(file, _, provider, _, _)| {
            let bytes = std::fs::read(dir.join(file)).unwrap();
            LoadedFeed::parse(file, provider, &bytes)
                .unwrap_or_else(|e| panic!("{file} does not parse: {e}"))
        })
        .collect()
}

#[test]
fn every_shared_feed_is_recognised_with_its_prefix_counts() {
    let a = bundled_only();
    for (lf, (file, format, provider, v4, v6)) in load_all().iter().zip(FEEDS) {
        assert_eq!(lf.feed.format, *format, "{file}");
        assert_eq!(lf.feed.counts(), (*v4, *v6), "{file}: IPv4 + IPv6 prefixes");
        assert!(
            lf.feed.problems.is_empty(),
            "{file}: {:?}",
            lf.feed.problems.first()
        );
        // The provider is told from the content (format, declared ASNs, or the ASNs
        // announcing the prefixes), never from the file name: pass a neutral name.
        let (who, how) = a.identify_provider(&lf.feed, "feed.txt").unwrap();
        assert_eq!(&who, provider, "{file}: identified by {how}");
    }
}

#[test]
fn shared_feed_directory_is_imported_by_content_whatever_the_file_names() {
    let a = bundled_only();
    let data = tempfile::tempdir().unwrap();
    let outcomes =
        whohosts::attribute::datadir::update_from(&a, data.path(), &shared_feeds()).unwrap();
    let installed: BTreeSet<String> = outcomes.iter().filter_map(|o| o.stored.clone()).collect();
    assert_eq!(installed.len(), FEEDS.len(), "{outcomes:#?}");
    // PROVENANCE.md is the only file that is not a feed.
    let skipped: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.stored.is_none())
        .map(|o| o.file.as_str())
        .collect();
    assert_eq!(skipped, ["PROVENANCE.md"]);
}

#[derive(Default, Debug)]
struct Tally {
    own: usize,
    shadowed: usize,
    provider_checked: usize,
    region_checked: usize,
    region_ambiguous: usize,
}

#[test]
fn every_prefix_of_every_feed_looks_up_to_its_own_provider_and_region() {
    let feeds = load_all();
    let a = bundled_only().with_feeds(feeds);
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    for lf in a.feeds() {
        let tally = tallies.entry(lf.name.clone()).or_default();
        for e in &lf.feed.entries {
            for addr in [e.prefix.first(), e.prefix.last()] {
                let matches = a.feed_matches(addr);
                let win = matches
                    .first()
                    .unwrap_or_else(|| panic!("{}: {addr} of {} finds nothing", lf.name, e.prefix));
                assert!(
                    win.prefix.prefix_len() >= e.prefix.prefix_len() && e.prefix.contains(addr),
                    "{}: {addr} of {} found the less specific {}",
                    lf.name,
                    e.prefix,
                    win.prefix
                );
                if win.prefix != e.prefix {
                    // A more specific prefix (of this feed or another) wins.
                    tally.shadowed += 1;
                    continue;
                }
                tally.own += 1;
                assert!(
                    matches.iter().any(|m| m.feed == lf.name
                        && m.region == e.region
                        && m.city == e.city
                        && m.service == e.service),
                    "{}: {addr} of {} lacks its own entry: {matches:?}",
                    lf.name,
                    e.prefix
                );
                let att = a.attribute(addr, &[]);
                // Provider: the feed's own, unless a feed of higher priority (the
                // network's own feed over a service running on it) lists the same
                // prefix for another provider.
                let first_rank = matches
                    .iter()
                    .filter_map(|m| a.feeds().iter().find(|f| f.name == m.feed))
                    .map(|f| f.feed.format.rank())
                    .min()
                    .unwrap_or(u8::MAX);
                let contested = matches.iter().any(|m| {
                    m.provider != lf.provider
                        && a.feeds()
                            .iter()
                            .find(|f| f.name == m.feed)
                            .is_some_and(|f| f.feed.format.rank() <= lf.feed.format.rank())
                });
                if lf.feed.format.rank() == first_rank && !contested {
                    tally.provider_checked += 1;
                    assert_eq!(
                        att.provider.id.as_deref(),
                        Some(lf.provider.as_str()),
                        "{addr}"
                    );
                    let want = if lf.feed.format.official() {
                        Confidence::Strong
                    } else {
                        Confidence::Medium
                    };
                    // An unofficial list yields to the ASN through the directory.
                    if lf.feed.format.official() {
                        assert_eq!(att.provider.confidence, Some(want), "{addr}");
                    }
                    // Region: the one the feed names, when this provider's entries
                    // for the prefix agree on one.
                    let regions: BTreeSet<&str> = matches
                        .iter()
                        .filter(|m| m.provider == lf.provider)
                        .filter_map(|m| m.region.as_deref())
                        .filter(|r| !r.eq_ignore_ascii_case("global"))
                        .collect();
                    if lf.feed.format.official() && e.region.is_some() {
                        if regions.len() == 1 {
                            tally.region_checked += 1;
                            assert_eq!(
                                att.region.id.as_deref(),
                                e.region
                                    .as_deref()
                                    .filter(|r| !r.eq_ignore_ascii_case("global"))
                                    .or(regions.first().copied()),
                                "{addr}"
                            );
                            assert_eq!(att.region.confidence, Some(Confidence::Strong));
                        } else {
                            tally.region_ambiguous += 1;
                            assert!(att.region.id.is_none(), "{addr}: {:?}", att.region);
                            assert!(att.region.reason.is_some());
                        }
                    }
                    if e.city.is_some() {
                        tally.region_checked += 1;
                        assert_eq!(att.region.city, e.city, "{addr}");
                    }
                }
            }
        }
    }
    for (name, t) in &tallies {
        eprintln!("{name}: {t:?}");
    }
    // Addresses (first and last of each prefix) that found their own prefix, found a
    // more specific one, had their provider checked, had a region checked, and had
    // a region the feed leaves open (AWS/Google `GLOBAL`, or several regions).
    // Shadowing: Azure, AWS and GitHub list sub-prefixes of their own larger blocks;
    // in the asn-derived lists, more specific announcements sit inside larger ones.
    let expected: &[(&str, usize, usize, usize, usize, usize)] = &[
        ("asn-derived/alibaba.json", 1344, 418, 1344, 0, 0),
        ("asn-derived/hetzner.json", 166, 0, 166, 0, 0),
        ("asn-derived/huawei-cloud.json", 1172, 18, 1172, 0, 0),
        ("asn-derived/ovh.json", 6, 0, 6, 0, 0),
        ("asn-derived/tencent.json", 4319, 189, 4319, 0, 0),
        ("aws-ip-ranges.json", 26597, 91, 26597, 25577, 1020),
        ("cloudflare-v4-ip-ranges.txt", 30, 0, 30, 0, 0),
        ("cloudflare-v6-ip-ranges.txt", 14, 0, 14, 0, 0),
        ("digitalocean.csv", 2364, 0, 2364, 2364, 0),
        ("fastly-ip-ranges.json", 42, 0, 42, 0, 0),
        ("github-ip-ranges.json", 11748, 170, 2044, 0, 0),
        ("google-cloud-ip-ranges.json", 1564, 0, 1564, 1494, 70),
        ("linode.txt", 9104, 0, 9104, 9104, 0),
        (
            "microsoft-azure-ip-ranges.json",
            179039,
            1947,
            179039,
            74211,
            0,
        ),
        ("oracle-cloud-ip-ranges.json", 1792, 0, 1792, 1792, 0),
    ];
    for (name, own, shadowed, provider, region, open) in expected {
        let t = &tallies[*name];
        assert_eq!(
            (
                t.own,
                t.shadowed,
                t.provider_checked,
                t.region_checked,
                t.region_ambiguous
            ),
            (*own, *shadowed, *provider, *region, *open),
            "{name}"
        );
    }
    assert_eq!(tallies.len(), expected.len());
    // Every address of every feed was checked either against its own prefix or
    // against a more specific one.
    for lf in a.feeds() {
        let t = &tallies[&lf.name];
        assert_eq!(t.own + t.shadowed, 2 * lf.feed.entries.len(), "{}", lf.name);
        assert!(t.own > 0, "{}", lf.name);
    }
}
