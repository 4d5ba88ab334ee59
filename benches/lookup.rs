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

/// Load time and memory of the data a `lookup` call loads, with the real feeds
/// imported and without feeds.
fn load_costs() {
    use whohosts::attribute::bundle::{unpack_feed, Bundle, FeedManifest};
    let b = Bundle::locate(None, None).expect("bundled data");
    let m: FeedManifest =
        serde_json::from_slice(&b.read("feeds.json").expect("feeds.json")).expect("manifest");
    let from = tempfile::tempdir().expect("temp dir");
    let mut bytes = 0usize;
    for f in &m.feeds {
        let body = unpack_feed(&b, f).expect("bundled feed");
        bytes += body.len();
        std::fs::write(from.path().join(&f.stored), body).expect("write");
    }
    let data = tempfile::tempdir().expect("temp dir");
    let a = Attributor::load(&AttributeOptions {
        data_dir: Some(data.path().to_path_buf()),
        no_bundled_feeds: true,
        ..AttributeOptions::default()
    })
    .expect("databases");
    whohosts::attribute::datadir::update_from(&a, data.path(), from.path()).expect("import");
    drop(a);
    let none = tempfile::tempdir().expect("temp dir");
    let measure = |dir: &std::path::Path| {
        let before = rss_kib();
        let t = Instant::now();
        let a = Attributor::load(&AttributeOptions {
            data_dir: Some(dir.to_path_buf()),
            no_bundled_feeds: true,
            ..AttributeOptions::default()
        })
        .expect("load");
        let first = a.attribute("20.52.0.1".parse().expect("address"), &[]);
        let el = t.elapsed();
        let grown = rss_kib().saturating_sub(before);
        black_box(first);
        (el, grown, a.feeds().len())
    };
    let (t_no, m_no, _) = measure(none.path());
    let (t_feeds, m_feeds, n) = measure(data.path());
    println!(
        "load + first answer: databases alone {t_no:?}, +{m_no} KiB; with {n} real feeds imported ({} MB) {t_feeds:?}, +{m_feeds} KiB: {:.1}x the time, {:.1}x the memory",
        bytes / 1_000_000,
        t_feeds.as_secs_f64() / t_no.as_secs_f64().max(1e-9),
        m_feeds as f64 / (m_no.max(1)) as f64
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
