//! Hashing throughput on a real file, to compare with `openssl dgst`.
//!
//! `cargo bench --bench hash -- FILE` prints MB/s (10^6 bytes per second) for SHA-256,
//! SM3, both in one pass, SHA-512 and MD5. The file should be larger than a few hundred
//! MiB and already in the page cache (read it once first) so that disk speed does not
//! dominate.

use std::path::PathBuf;
use std::time::Instant;
use whohosts::evidence::hash::{hash_file, Algorithms};

fn main() {
    let Some(path) = std::env::args().skip(1).find(|a| !a.starts_with("--")) else {
        eprintln!("usage: cargo bench --bench hash -- FILE");
        return;
    };
    let path = PathBuf::from(path);
    let none = Algorithms::default();
    let runs = [
        ("read only", none),
        ("sha256", Algorithms::SHA256),
        ("sm3", Algorithms { sm3: true, ..none }),
        ("sha256+sm3", Algorithms::EVIDENCE),
        (
            "sha512",
            Algorithms {
                sha512: true,
                ..none
            },
        ),
        ("md5", Algorithms { md5: true, ..none }),
    ];
    for (name, algos) in runs {
        let start = Instant::now();
        match hash_file(&path, algos) {
            Ok(d) => {
                let secs = start.elapsed().as_secs_f64();
                println!(
                    "{name:>12}: {:8.1} MB/s  ({} bytes in {secs:.3} s)",
                    d.size as f64 / secs / 1e6,
                    d.size
                );
            }
            Err(e) => eprintln!("{e}"),
        }
    }
}
