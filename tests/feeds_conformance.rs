//! Conformance of the feed parsers and the prefix index against the real feeds of the
//! bundled snapshot (`data/feeds/`, July 2025; see `data/README.md`). Every prefix of
//! every feed must look up, from the bundled data alone, to its own provider and
//! region unless a more specific prefix covers the address; the number of prefixes per
//! feed is asserted.

use std::collections::{BTreeMap, BTreeSet};
use whohosts::attribute::bundle::{self, Bundle, FeedManifest};
use whohosts::attribute::feeds::FeedFormat;
use whohosts::attribute::{AttributeOptions, Attributor, LoadedFeed};
use whohosts::model::Confidence;

/// (stored name, expected format, provider, IPv4 prefixes, IPv6 prefixes), counted
/// independently from the JSON/CSV by `data/build-feeds.py`.
const FEEDS: &[(&str, FeedFormat, &str, usize, usize)] = &[
    (
        "aws.aws-ip-ranges.json",
        FeedFormat::AwsIpRanges,
        "aws",
        8971,
        4373,
    ),
    (
        "gcp.google-cloud-json.json",
        FeedFormat::GoogleCloudJson,
        "gcp",
        736,
        46,
    ),
    (
        "azure.azure-service-tags.json",
        FeedFormat::AzureServiceTags,
        "azure",
        67078,
        23415,
    ),
    (
        "oracle.oracle-public-ip-ranges.json",
        FeedFormat::OraclePublicIpRanges,
        "oracle",
        896,
        0,
    ),
    (
        "digitalocean.geofeed.txt",
        FeedFormat::Geofeed,
        "digitalocean",
        1037,
        145,
    ),
    (
        "linode.geofeed.txt",
        FeedFormat::Geofeed,
        "linode",
        4464,
        88,
    ),
    (
        "cloudflare.cidr-list-v4.txt",
        FeedFormat::CidrList,
        "cloudflare",
        15,
        0,
    ),
    (
        "cloudflare.cidr-list-v6.txt",
        FeedFormat::CidrList,
        "cloudflare",
        0,
        7,
    ),
    (
        "fastly.fastly-public-ip-list.json",
        FeedFormat::FastlyPublicIpList,
        "fastly",
        19,
        2,
    ),
    (
        "github.github-meta.json",
        FeedFormat::GithubMeta,
        "github",
        4969,
        990,
    ),
];

/// The bundle of the source tree, as the tests (which do not carry the embedded copy)
/// find it.
fn bundle() -> Bundle {
    Bundle::locate(
        Some(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data")),
        None,
    )
    .expect("the bundled data set of the source tree")
}

fn manifest() -> FeedManifest {
    serde_json::from_slice(&bundle().read("feeds.json").unwrap()).unwrap()
}

/// The provider's bytes of each bundled feed, in the order of `FEEDS`.
fn raw_feeds() -> Vec<Vec<u8>> {
    let b = bundle();
    let m = manifest();
    FEEDS
        .iter()
        .map(|(stored, ..)| {
            let f = m
                .feeds
                .iter()
                .find(|f| f.stored == *stored)
                .unwrap_or_else(|| panic!("{stored} is not in data/feeds.json"));
            bundle::unpack_feed(&b, f).unwrap()
        })
        .collect()
}

fn bundled_only() -> Attributor {
    let empty = tempfile::tempdir().unwrap();
    Attributor::load(&AttributeOptions {
        data_dir: Some(empty.path().to_path_buf()),
        bundled_dir: Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data")),
        ..AttributeOptions::default()
    })
    .unwrap()
}

#[test]
fn the_bundled_snapshot_holds_exactly_these_feeds() {
    let listed: BTreeSet<String> = manifest().feeds.into_iter().map(|f| f.stored).collect();
    let want: BTreeSet<String> = FEEDS.iter().map(|f| f.0.to_string()).collect();
    assert_eq!(listed, want);
    let a = bundled_only();
    assert!(a.warnings().is_empty(), "{:?}", a.warnings());
    let loaded: BTreeSet<String> = a.feeds().iter().map(|f| f.name.clone()).collect();
    assert_eq!(loaded, want);
    for s in a.sources().iter().filter(|s| s.provider.is_some()) {
        assert!(s.bundled, "{}", s.name);
        assert_eq!(s.snapshot.as_deref(), Some("bundled feed snapshot 2025-07"));
        assert!(s.date.as_deref().is_some_and(|d| d.starts_with("2025-07")));
        assert!(s.url.as_deref().is_some_and(|u| u.starts_with("https://")));
    }
}

#[test]
fn every_bundled_feed_is_recognised_with_its_prefix_counts() {
    let a = bundled_only();
    for (bytes, (file, format, provider, v4, v6)) in raw_feeds().iter().zip(FEEDS) {
        let lf = LoadedFeed::parse(file, provider, bytes).unwrap();
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
fn bundled_feeds_are_imported_by_content_whatever_the_file_names() {
    let a = bundled_only();
    let src = tempfile::tempdir().unwrap();
    for (i, bytes) in raw_feeds().iter().enumerate() {
        std::fs::write(src.path().join(format!("download-{i}.dat")), bytes).unwrap();
    }
    let data = tempfile::tempdir().unwrap();
    let outcomes = whohosts::attribute::datadir::update_from(&a, data.path(), src.path()).unwrap();
    let installed: BTreeSet<String> = outcomes.iter().filter_map(|o| o.stored.clone()).collect();
    let want: BTreeSet<String> = FEEDS.iter().map(|f| f.0.to_string()).collect();
    assert_eq!(installed, want, "{outcomes:#?}");
    // An imported copy replaces the bundled feed of the same name.
    let again = Attributor::load(&AttributeOptions {
        data_dir: Some(data.path().to_path_buf()),
        bundled_dir: Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data")),
        ..AttributeOptions::default()
    })
    .unwrap();
    assert_eq!(again.feeds().len(), FEEDS.len());
    assert!(again.feeds().iter().all(|f| f.bundled.is_none()));
    assert_eq!(again.notes().len(), FEEDS.len(), "{:?}", again.notes());
}

#[derive(Default, Debug)]
struct Tally {
    own: usize,
    shadowed: usize,
    provider_checked: usize,
    region_checked: usize,
    region_ambiguous: usize,
    /// Addresses where the ASN data names another provider than the feed.
    conflicted: usize,
    /// Addresses a first-party tag gives to the company's own services.
    first_party: usize,
    /// Addresses of a service's range (GitHub's) nested in a network's own block
    /// (Azure's): the network is the provider, the service's listing is named beside.
    nested: usize,
}

#[test]
fn every_prefix_of_every_feed_looks_up_to_its_own_provider_and_region() {
    // From the bundled data alone.
    let a = bundled_only();
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
                // A broader block of a network's own feed (for another provider) around
                // a service's range: the network answers, the range is named beside it.
                let network_around = lf.feed.format.rank() > 0
                    && a.feed_levels(addr).iter().skip(1).flatten().any(|m| {
                        m.official
                            && m.provider != lf.provider
                            && a.feeds()
                                .iter()
                                .find(|f| f.name == m.feed)
                                .is_some_and(|f| f.feed.format.rank() == 0)
                    });
                if network_around && !contested {
                    tally.nested += 1;
                    assert_ne!(att.provider.id.as_deref(), Some(lf.provider.as_str()));
                    assert!(
                        att.provider
                            .also_listed
                            .iter()
                            .any(|m| m.feed == lf.name && m.prefix == e.prefix),
                        "{addr}: {:?}",
                        att.provider
                    );
                    continue;
                }
                if lf.feed.format.rank() == first_rank && !contested {
                    tally.provider_checked += 1;
                    // A tag of the provider's own services (Azure's
                    // AzureFrontDoor.FirstParty) moves the address to the company's
                    // first-party entry; anything else stays the feed's provider.
                    let first_party = lf
                        .feed
                        .format
                        .provider()
                        .and_then(|p| a.directory().directory().provider(p))
                        .and_then(|p| {
                            p.feed_services.iter().find(|fs| {
                                fs.provider.is_some()
                                    && att.provider.service.as_deref() == Some(fs.service.as_str())
                            })
                        })
                        .and_then(|fs| fs.provider.clone());
                    if first_party.is_some() {
                        tally.first_party += 1;
                    }
                    assert_eq!(
                        att.provider.id.as_deref(),
                        Some(first_party.as_deref().unwrap_or(lf.provider.as_str())),
                        "{addr}"
                    );
                    let want = if lf.feed.format.official() {
                        Confidence::Strong
                    } else {
                        Confidence::Medium
                    };
                    // An unofficial list yields to the ASN through the directory. A feed
                    // the ASN data contradicts is medium, and says why.
                    if lf.feed.format.official() {
                        if let Some(c) = &att.provider.conflict {
                            tally.conflicted += 1;
                            assert_eq!(att.provider.confidence, Some(Confidence::Medium));
                            assert!(c.contains("disagree"), "{c}");
                            assert!(att.provider.evidence.as_deref().unwrap().contains(c));
                        } else {
                            assert_eq!(att.provider.confidence, Some(want), "{addr}");
                        }
                    }
                    // Region: the one the feed names, when this provider's entries
                    // for the prefix agree on one.
                    // Compared by the directory's id: the feed's spelling (Azure's
                    // `germanywc`) is kept beside it as `feed_region`.
                    let dir_provider = a.directory().directory().provider(&lf.provider);
                    let canonical = |r: &str| -> String {
                        dir_provider
                            .and_then(|p| p.region(r))
                            .map(|x| x.id.clone())
                            .unwrap_or_else(|| r.to_string())
                    };
                    let regions: BTreeSet<String> = matches
                        .iter()
                        .filter(|m| m.provider == lf.provider)
                        .filter_map(|m| m.region.as_deref())
                        .filter(|r| !r.eq_ignore_ascii_case("global"))
                        .map(canonical)
                        .collect();
                    if lf.feed.format.official() && e.region.is_some() {
                        if regions.len() == 1 {
                            tally.region_checked += 1;
                            let spelled = e
                                .region
                                .as_deref()
                                .filter(|r| !r.eq_ignore_ascii_case("global"));
                            assert_eq!(
                                att.region.id,
                                spelled.map(canonical).or(regions.first().cloned()),
                                "{addr}"
                            );
                            if let Some(s) = spelled.filter(|s| canonical(s) != *s) {
                                assert_eq!(att.region.feed_region.as_deref(), Some(s));
                            }
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
    // The sixth column counts addresses whose ASN the directory gives to another
    // provider: GitHub's ranges are mostly Azure's and AWS's (GitHub runs there); ten
    // Linode addresses are announced by Akamai's AS20940. The seventh counts addresses
    // a first-party tag gives to the company itself (Azure's AzureFrontDoor.FirstParty).
    // The eighth counts addresses of GitHub ranges nested in an Azure or AWS block:
    // the network is the provider, GitHub's range is named beside it (`also_listed`).
    let expected: &[(&str, [usize; 8])] = &[
        (
            "aws.aws-ip-ranges.json",
            [26597, 91, 26597, 25577, 1020, 0, 0, 0],
        ),
        ("cloudflare.cidr-list-v4.txt", [30, 0, 30, 0, 0, 0, 0, 0]),
        ("cloudflare.cidr-list-v6.txt", [14, 0, 14, 0, 0, 0, 0, 0]),
        (
            "digitalocean.geofeed.txt",
            [2364, 0, 2364, 2364, 0, 0, 0, 0],
        ),
        (
            "fastly.fastly-public-ip-list.json",
            [42, 0, 42, 0, 0, 0, 0, 0],
        ),
        (
            "github.github-meta.json",
            [11748, 170, 1454, 0, 0, 1372, 0, 590],
        ),
        (
            "gcp.google-cloud-json.json",
            [1564, 0, 1564, 1494, 70, 0, 0, 0],
        ),
        ("linode.geofeed.txt", [9104, 0, 9104, 9104, 0, 10, 0, 0]),
        (
            "azure.azure-service-tags.json",
            [179039, 1947, 179039, 74211, 0, 0, 136, 0],
        ),
        (
            "oracle.oracle-public-ip-ranges.json",
            [1792, 0, 1792, 1792, 0, 0, 0, 0],
        ),
    ];
    for (name, want) in expected {
        let t = &tallies[*name];
        assert_eq!(
            [
                t.own,
                t.shadowed,
                t.provider_checked,
                t.region_checked,
                t.region_ambiguous,
                t.conflicted,
                t.first_party,
                t.nested
            ],
            *want,
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
