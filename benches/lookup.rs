//! One million lookups: the prefix index alone, and the whole attribution (bundled
//! ASN/country databases + every feed of the bundled snapshot, `data/feeds/`).
//!
//! Run: `cargo bench --bench lookup`. Addresses come from a fixed linear congruential
//! generator, half of them drawn inside feed prefixes so that hits and misses are both
//! measured.
//!
//! First, what one `lookup` call pays before its first answer: loading the data with
//! the largest real feeds imported into a data directory (the snapshot's own files,
//! AWS 2.1 MB and Azure 4.1 MB among them, imported with `data update --from`), against
//! loading the databases alone; time and resident memory, as ratios of one run.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;
use whohosts::attribute::index::PrefixIndexBuilder;
use whohosts::attribute::{AttributeOptions, Attributor};

const N: usize = 1_000_000;

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        // Knuth's MMIX constants.
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0
    }
}

/// Resident memory of this process, in KiB (Linux), 0 elsewhere.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Load time and memory of the data a `lookup` call loads: the databases alone; the
/// real feeds imported (read through their compiled index, and parsed, as every
/// call did before the index); and a large geofeed of 900,000 prefixes (Linode's real
/// IPv4 blocks cut into /32s) imported the same way. Compiled cases are measured
/// first: memory is the growth of this process's resident set, which freed memory
/// does not give back.
fn load_costs() {
    use whohosts::attribute::bundle::{unpack_feed, Bundle, FeedManifest};
    use whohosts::attribute::datadir::{update_from_with, UpdateOptions};
    use whohosts::attribute::LoadedFeed;
    let b = Bundle::locate(None, None).expect("bundled data");
    let m: FeedManifest =
        serde_json::from_slice(&b.read("feeds.json").expect("feeds.json")).expect("manifest");
    let from = tempfile::tempdir().expect("temp dir");
    let mut bytes = 0usize;
    let mut linode = Vec::new();
    for f in &m.feeds {
        let body = unpack_feed(&b, f).expect("bundled feed");
        bytes += body.len();
        if f.stored.starts_with("linode.") {
            linode = body.clone();
        }
        std::fs::write(from.path().join(&f.stored), body).expect("write");
    }
    let options = |dir: &std::path::Path| AttributeOptions {
        data_dir: Some(dir.to_path_buf()),
        no_bundled_feeds: true,
        ..AttributeOptions::default()
    };
    let import = |from: &std::path::Path| {
        let data = tempfile::tempdir().expect("temp dir");
        let a = Attributor::load(&options(data.path())).expect("databases");
        update_from_with(&a, data.path(), from, UpdateOptions { force: true }).expect("import");
        data
    };
    let data = import(from.path());

    // A large geofeed: Linode's IPv4 blocks as /32s, 900,000 lines.
    let large_from = tempfile::tempdir().expect("temp dir");
    let mut large = String::from("# Last modified: 2025-07-24 10:00:06\n");
    let mut n = 0u32;
    'outer: for line in String::from_utf8_lossy(&linode).lines() {
        let Some((prefix, rest)) = line.split_once(',') else {
            continue;
        };
        let Ok(p) = prefix.parse::<whohosts::attribute::index::IpPrefix>() else {
            continue;
        };
        let IpAddr::V4(first) = p.first() else {
            continue;
        };
        let IpAddr::V4(last) = p.last() else { continue };
        for a in u32::from(first)..=u32::from(last) {
            large.push_str(&format!("{}/32,{rest}\n", Ipv4Addr::from(a)));
            n += 1;
            if n == 900_000 {
                break 'outer;
            }
        }
    }
    std::fs::write(large_from.path().join("linode.geofeed.txt"), &large).expect("write");
    let large_data = import(large_from.path());
    let large_feed =
        LoadedFeed::parse("linode.geofeed.txt", "linode", large.as_bytes()).expect("large feed");
    drop(large_feed);

    let none = tempfile::tempdir().expect("temp dir");
    let measure = |load: &dyn Fn() -> Attributor| {
        let before = rss_kib();
        let t = Instant::now();
        let a = load();
        let first = a.attribute("20.52.0.1".parse().expect("address"), &[]);
        let el = t.elapsed();
        let grown = rss_kib().saturating_sub(before);
        black_box(first);
        (el, grown, a.feeds().len())
    };
    let (t_no, m_no, _) = measure(&|| Attributor::load(&options(none.path())).expect("load"));
    let (t_c, m_c, n_c) = measure(&|| Attributor::load(&options(data.path())).expect("load"));
    let (t_lc, m_lc, _) = measure(&|| Attributor::load(&options(large_data.path())).expect("load"));
    let parsed = |body: &[(String, String, Vec<u8>)]| {
        let feeds = body
            .iter()
            .map(|(name, provider, b)| LoadedFeed::parse(name, provider, b).expect("feed"))
            .collect();
        Attributor::load(&options(none.path()))
            .expect("load")
            .with_feeds(feeds)
    };
    let real: Vec<(String, String, Vec<u8>)> = m
        .feeds
        .iter()
        .map(|f| {
            (
                f.stored.clone(),
                f.provider.clone(),
                unpack_feed(&b, f).expect("bundled feed"),
            )
        })
        .collect();
    let big = vec![(
        "linode.geofeed.txt".to_string(),
        "linode".to_string(),
        large.into_bytes(),
    )];
    let (t_p, m_p, _) = measure(&|| parsed(&real));
    let (t_lp, m_lp, _) = measure(&|| parsed(&big));
    let ratio = |a: std::time::Duration, b: std::time::Duration| {
        a.as_secs_f64() / b.as_secs_f64().max(1e-9)
    };
    println!("load + first answer (one run; memory = resident growth):");
    println!("  databases alone: {t_no:?}, +{m_no} KiB");
    println!(
        "  {n_c} real feeds imported ({} MB), compiled index: {t_c:?}, +{m_c} KiB ({:.1}x the time of the databases alone)",
        bytes / 1_000_000,
        ratio(t_c, t_no)
    );
    println!(
        "  the same feeds parsed: {t_p:?}, +{m_p} KiB ({:.1}x the compiled index's time)",
        ratio(t_p, t_c)
    );
    println!(
        "  a 900,000-prefix geofeed imported, compiled index: {t_lc:?}, +{m_lc} KiB; parsed: {t_lp:?}, +{m_lp} KiB ({:.1}x the time, {:.1}x the memory)",
        ratio(t_lp, t_lc),
        m_lp as f64 / m_lc.max(1) as f64
    );
}

fn main() {
    load_costs();
    let empty = std::env::temp_dir().join("whohosts-bench-empty-data-dir");
    let t = Instant::now();
    let a = Attributor::load(&AttributeOptions {
        data_dir: Some(empty),
        ..AttributeOptions::default()
    })
    .expect("bundled data");
    let prefixes: Vec<_> = a
        .feeds()
        .iter()
        .flat_map(|f| f.feed.entries.iter().map(|e| e.prefix))
        .collect();
    eprintln!(
        "loaded the bundled databases and {} feeds ({} prefixes), built the index in {:?}",
        a.feeds().len(),
        prefixes.len(),
        t.elapsed()
    );

    let mut rng = Lcg(42);
    let addrs: Vec<IpAddr> = (0..N)
        .map(|i| {
            let r = rng.next();
            if i % 2 == 0 {
                // Inside a feed prefix.
                let p = prefixes[(r as usize) % prefixes.len()];
                match p.first() {
                    IpAddr::V4(a) => {
                        let host = 32 - u32::from(p.prefix_len());
                        let off = if host == 0 {
                            0
                        } else {
                            (rng.next() as u32) & (u32::MAX >> (32 - host))
                        };
                        IpAddr::V4(Ipv4Addr::from(u32::from(a) | off))
                    }
                    IpAddr::V6(a) => {
                        let host = 128 - u32::from(p.prefix_len());
                        let r = (u128::from(rng.next()) << 64) | u128::from(rng.next());
                        let off = if host == 0 {
                            0
                        } else {
                            r & (u128::MAX >> (128 - host))
                        };
                        IpAddr::V6(Ipv6Addr::from(u128::from(a) | off))
                    }
                }
            } else if i % 10 == 1 {
                IpAddr::V6(Ipv6Addr::from((0x2000u128 << 112) | (u128::from(r) << 32)))
            } else {
                IpAddr::V4(Ipv4Addr::from((r >> 32) as u32))
            }
        })
        .collect();

    // The prefix index alone.
    let mut b = PrefixIndexBuilder::new();
    for (i, p) in prefixes.iter().enumerate() {
        b.insert(*p, i as u32);
    }
    let ix = b.build();
    let t = Instant::now();
    let mut hits = 0usize;
    for ip in &addrs {
        if black_box(ix.lookup(*ip)).is_some() {
            hits += 1;
        }
    }
    let el = t.elapsed();
    println!(
        "prefix index: {N} lookups in {:?} ({:.0} ns/lookup), {hits} hits, {} + {} intervals",
        el,
        el.as_nanos() as f64 / N as f64,
        ix.interval_counts().0,
        ix.interval_counts().1
    );

    // ASN alone, through the bundled MMDB files.
    let t = Instant::now();
    let mut with_asn = 0usize;
    for ip in &addrs {
        if black_box(a.asn(*ip)).number.is_some() {
            with_asn += 1;
        }
    }
    let el = t.elapsed();
    println!(
        "asn(): {N} lookups in {:?} ({:.0} ns/lookup), ASN known for {with_asn}",
        el,
        el.as_nanos() as f64 / N as f64
    );

    // Whole attribution: ASN + country (MMDB), feeds, directory, no hostnames.
    let t = Instant::now();
    let mut known = 0usize;
    for ip in &addrs {
        if black_box(a.attribute(*ip, &[])).provider.id.is_some() {
            known += 1;
        }
    }
    let el = t.elapsed();
    println!(
        "attribute(): {N} lookups in {:?} ({:.0} ns/lookup), provider named for {known}",
        el,
        el.as_nanos() as f64 / N as f64
    );
}
