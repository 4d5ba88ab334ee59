//! One million lookups: the prefix index alone, and the whole attribution (bundled
//! ASN/country databases + every feed of the bundled snapshot, `data/feeds/`).
//!
//! Run: `cargo bench --bench lookup`. Addresses come from a fixed linear congruential
//! generator, half of them drawn inside feed prefixes so that hits and misses are both
//! measured.

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

fn main() {
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
