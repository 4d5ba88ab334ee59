//! One million lookups: the prefix index alone, and the whole attribution (bundled
//! ASN/country databases + every feed of the bundled snapshot, `data/feeds/`).
//!
//! Run: `cargo bench --bench lookup`. Addresses come from a fixed linear congruential
//! generator, half of them drawn inside feed prefixes so that hits and misses are both
//! measured.
//!
//! First, what whole `lookup` calls cost (time, peak memory; GNU time): with the
//! largest real feeds imported into a data directory (the snapshot's own files, AWS
//! 2.1 MB and Azure 4.1 MB among them, imported as `data update --from` does) and with
//! a 900,000-prefix geofeed, each read through the compiled index and parsed, against
//! the databases alone; ratios of one run.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;
use whohosts::attribute::index::PrefixIndexBuilder;
use whohosts::attribute::{AttributeOptions, Attributor};

const N: usize = 1_000_000;

/// The repository's bundled data set (`data/`), named explicitly: the library never
/// looks for it in the tree it was built from.
fn repo_data() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

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

/// Time and peak memory of whole `lookup` calls: the databases alone; the real feeds
/// imported (read through their compiled index, and parsed, as every call did before
/// the index); and a large geofeed of 900,000 prefixes (Linode's real IPv4 blocks cut
/// into /32s) imported the same way.
fn load_costs() {
    use whohosts::attribute::bundle::{unpack_feed, Bundle, FeedManifest};
    use whohosts::attribute::datadir::{update_from_with, UpdateOptions};
    let b = Bundle::locate(Some(&repo_data()), None).expect("bundled data");
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
        bundled_dir: Some(repo_data()),
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

    // The parsing every call did before the compiled index: a data directory whose
    // `compiled` is a file, so that no index can be written or read there.
    let parsed_copy = |from: &std::path::Path| {
        let d = tempfile::tempdir().expect("temp dir");
        let feeds = d.path().join("feeds");
        std::fs::create_dir_all(&feeds).expect("feeds dir");
        for e in std::fs::read_dir(from.join("feeds")).expect("feeds") {
            let e = e.expect("entry");
            std::fs::copy(e.path(), feeds.join(e.file_name())).expect("copy");
        }
        std::fs::write(d.path().join("compiled"), b"not a directory").expect("blocker");
        d
    };
    let real_parsed = parsed_copy(data.path());
    let large_parsed = parsed_copy(large_data.path());
    let none = tempfile::tempdir().expect("temp dir");

    // Whole `lookup` processes: median wall time of 5 runs and peak resident memory
    // (GNU time's %M), each a fresh process as a user's call is.
    let bin = env!("CARGO_BIN_EXE_whohosts");
    let run = |dir: &std::path::Path| -> Option<(f64, u64)> {
        let mut times = Vec::new();
        let mut peak = 0u64;
        for _ in 0..5 {
            let out = std::process::Command::new("/usr/bin/time")
                .args([
                    "-f",
                    "%e %M",
                    bin,
                    "lookup",
                    "--no-bundled-feeds",
                    "--data-dir",
                ])
                .arg(dir)
                .arg("20.52.0.1")
                .output()
                .ok()?;
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err.lines().last()?.to_string();
            let mut it = last.split_whitespace();
            let t: f64 = it.next()?.parse().ok()?;
            let m: u64 = it.next()?.parse().ok()?;
            times.push(t);
            peak = peak.max(m);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        Some((times[times.len() / 2], peak))
    };
    let cases = [
        ("databases alone, no feed", none.path()),
        ("10 real feeds imported, compiled index", data.path()),
        ("10 real feeds imported, parsed", real_parsed.path()),
        (
            "900,000-prefix geofeed imported, compiled index",
            large_data.path(),
        ),
        (
            "900,000-prefix geofeed imported, parsed",
            large_parsed.path(),
        ),
    ];
    println!(
        "whole `lookup` calls ({} MB of real feeds; median of 5 runs, peak memory):",
        bytes / 1_000_000
    );
    let mut results = Vec::new();
    for (what, dir) in cases {
        match run(dir) {
            Some((t, m)) => {
                println!("  {what}: {t:.2} s, {} MiB", m / 1024);
                results.push((t, m));
            }
            None => {
                println!("  {what}: not measured (needs GNU time at /usr/bin/time)");
                return;
            }
        }
    }
    let ratio = |a: usize, b: usize| {
        (
            results[a].0 / results[b].0.max(0.01),
            results[a].1 as f64 / results[b].1.max(1) as f64,
        )
    };
    let (t, m) = ratio(1, 0);
    println!("  real feeds, compiled vs databases alone: {t:.1}x the time, {m:.1}x the memory");
    let (t, m) = ratio(2, 1);
    println!("  real feeds, parsed vs compiled: {t:.1}x the time, {m:.1}x the memory");
    let (t, m) = ratio(4, 3);
    println!("  large geofeed, parsed vs compiled: {t:.1}x the time, {m:.1}x the memory");
}

fn main() {
    load_costs();
    let empty = std::env::temp_dir().join("whohosts-bench-empty-data-dir");
    let t = Instant::now();
    let a = Attributor::load(&AttributeOptions {
        data_dir: Some(empty),
        bundled_dir: Some(repo_data()),
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
