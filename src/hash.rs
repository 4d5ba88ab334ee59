//! Streaming file hashing: SHA-256 and SM3 (GB/T 32905-2016) always for evidence,
//! SHA-512 and MD5 on request (MD5 only as a legacy extra, never as the sole digest).
//!
//! Two ways in, both feeding the same [`MultiHasher`]:
//! - [`MultiHasher::update`] for a caller that already owns the bytes (one read,
//!   several algorithms);
//! - `capture::hashing`, which feeds a [`MultiHasher`] on another thread with the
//!   very bytes a capture's analysis reads from the file.
//!
//! [`hash_file`] and [`hash_files_parallel`] read files themselves; the parallel form
//! spreads files over threads (SM3 is several times slower than SHA-256 with SHA-NI, so
//! sealing many files gains from it).
//!
//! Speed (1 GiB of random data in the page cache, AMD EPYC with SHA-NI, release build,
//! `cargo bench --bench hash -- FILE` against `openssl dgst -sha256|-sm3 FILE`, OpenSSL
//! 3.0): CPU time per GiB, SHA-256 0.59-0.63 s here vs 0.64-0.68 s openssl, SM3
//! 2.71-2.79 s here vs 2.90-2.91 s openssl. The `sm3` crate's unrolled compression
//! function is already on par with OpenSSL's, so no hand-written one is kept.
//!
//! Contract: hashing never fails on content; only I/O errors are returned, each naming
//! the file.

use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::thread;

/// Size of the read buffer: large enough to amortise syscalls, small enough for cache.
const CHUNK: usize = 256 * 1024;

/// Which digests to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Algorithms {
    pub sha256: bool,
    pub sm3: bool,
    pub sha512: bool,
    pub md5: bool,
}

impl Algorithms {
    /// SHA-256 only: what analysis computes by default while it reads a capture.
    pub const SHA256: Algorithms = Algorithms {
        sha256: true,
        sm3: false,
        sha512: false,
        md5: false,
    };
    /// SHA-256 and SM3: what every evidence file carries.
    pub const EVIDENCE: Algorithms = Algorithms {
        sha256: true,
        sm3: true,
        sha512: false,
        md5: false,
    };
    /// Nothing: `analyze --no-hash`, for measuring the analysis alone.
    pub const NONE: Algorithms = Algorithms {
        sha256: false,
        sm3: false,
        sha512: false,
        md5: false,
    };
    /// Every supported algorithm.
    pub const ALL: Algorithms = Algorithms {
        sha256: true,
        sm3: true,
        sha512: true,
        md5: true,
    };

    pub fn is_empty(self) -> bool {
        !(self.sha256 || self.sm3 || self.sha512 || self.md5)
    }

    /// This set plus everything in `other`.
    pub fn with(self, other: Algorithms) -> Algorithms {
        Algorithms {
            sha256: self.sha256 || other.sha256,
            sm3: self.sm3 || other.sm3,
            sha512: self.sha512 || other.sha512,
            md5: self.md5 || other.md5,
        }
    }
}

/// The digests of one byte stream, lowercase hex, plus its length. Algorithms that were
/// not selected are `None` and left out of JSON.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Digests {
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sm3: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha512: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
}

impl Digests {
    /// Each algorithm present in both, as `(name, self, other)` where they differ.
    /// An algorithm missing on either side is not compared.
    pub fn differences<'a>(&'a self, other: &'a Digests) -> Vec<(&'static str, &'a str, &'a str)> {
        let pairs = [
            ("sha256", &self.sha256, &other.sha256),
            ("sm3", &self.sm3, &other.sm3),
            ("sha512", &self.sha512, &other.sha512),
            ("md5", &self.md5, &other.md5),
        ];
        pairs
            .into_iter()
            .filter_map(|(name, a, b)| match (a, b) {
                (Some(a), Some(b)) if !a.eq_ignore_ascii_case(b) => {
                    Some((name, a.as_str(), b.as_str()))
                }
                _ => None,
            })
            .collect()
    }
}

/// Feeds every selected algorithm from one stream of bytes.
#[derive(Clone, Default)]
pub struct MultiHasher {
    sha256: Option<sha2::Sha256>,
    sm3: Option<sm3::Sm3>,
    sha512: Option<sha2::Sha512>,
    md5: Option<md5::Md5>,
    size: u64,
}

impl MultiHasher {
    pub fn new(algos: Algorithms) -> MultiHasher {
        MultiHasher {
            sha256: algos.sha256.then(sha2::Sha256::new),
            sm3: algos.sm3.then(sm3::Sm3::new),
            sha512: algos.sha512.then(sha2::Sha512::new),
            md5: algos.md5.then(md5::Md5::new),
            size: 0,
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        if let Some(h) = &mut self.sha256 {
            h.update(bytes);
        }
        if let Some(h) = &mut self.sm3 {
            h.update(bytes);
        }
        if let Some(h) = &mut self.sha512 {
            h.update(bytes);
        }
        if let Some(h) = &mut self.md5 {
            h.update(bytes);
        }
        self.size = self.size.saturating_add(bytes.len() as u64);
    }

    /// Bytes fed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn finish(self) -> Digests {
        Digests {
            size: self.size,
            sha256: self.sha256.map(|h| hex(&h.finalize())),
            sm3: self.sm3.map(|h| hex(&h.finalize())),
            sha512: self.sha512.map(|h| hex(&h.finalize())),
            md5: self.md5.map(|h| hex(&h.finalize())),
        }
    }
}

/// An I/O error while hashing, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("hashing {path}: {source}")]
pub struct HashError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Hashes everything `reader` yields.
pub fn hash_reader<R: Read>(mut reader: R, algos: Algorithms) -> io::Result<Digests> {
    let mut h = MultiHasher::new(algos);
    let mut buf = vec![0u8; CHUNK];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(h.finish())
}

/// Hashes one file.
pub fn hash_file(path: &Path, algos: Algorithms) -> Result<Digests, HashError> {
    let err = |source| HashError {
        path: path.to_path_buf(),
        source,
    };
    let f = File::open(path).map_err(err)?;
    hash_reader(f, algos).map_err(err)
}

/// Hashes several files on up to `threads` threads (0 means one per available core).
/// Results come back in the order of `paths`.
pub(crate) fn hash_files_parallel(
    paths: &[PathBuf],
    algos: Algorithms,
    threads: usize,
) -> Vec<Result<Digests, HashError>> {
    let threads = if threads == 0 {
        thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
    let work = || {
        use rayon::prelude::*;
        paths
            .par_iter()
            .map(|p| hash_file(p, algos))
            .collect::<Vec<_>>()
    };
    match pool {
        Ok(pool) => pool.install(work),
        // Could not start a pool (resource limits): hash one after another instead.
        Err(_) => paths.iter().map(|p| hash_file(p, algos)).collect(),
    }
}

/// Hashes a stream of shared chunks with one thread per algorithm, so that SM3 (about
/// 200 MB/s) and SHA-256 (over 1 GB/s with SHA-NI) run beside each other and beside
/// whoever produces the bytes: a live capture hashes each file while writing it. A
/// thread may fall behind by up to `backlog` bytes; beyond that,
/// [`ThreadedHasher::update`] waits, which bounds the memory held.
pub(crate) struct ThreadedHasher {
    workers: Vec<Worker>,
    size: u64,
}

/// One algorithm's thread: its backlog, where its chunks go, and its digest when it
/// ends.
struct Worker {
    backlog: std::sync::Arc<Backlog>,
    tx: std::sync::mpsc::Sender<std::sync::Arc<Vec<u8>>>,
    handle: thread::JoinHandle<Digests>,
}

/// Bytes handed to a thread and not yet hashed, with a ceiling.
struct Backlog {
    bytes: std::sync::Mutex<usize>,
    hashed: std::sync::Condvar,
    ceiling: usize,
}

impl Backlog {
    /// Waits until `n` more bytes fit (a chunk larger than the ceiling goes alone).
    fn take(&self, n: usize) {
        let mut b = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        while *b > 0 && *b + n > self.ceiling {
            b = self.hashed.wait(b).unwrap_or_else(|e| e.into_inner());
        }
        *b += n;
    }

    fn give(&self, n: usize) {
        let mut b = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        *b = b.saturating_sub(n);
        self.hashed.notify_all();
    }
}

impl ThreadedHasher {
    pub(crate) fn new(algos: Algorithms, backlog: usize) -> io::Result<ThreadedHasher> {
        let single = [
            Algorithms {
                sha256: algos.sha256,
                ..Algorithms::NONE
            },
            Algorithms {
                sm3: algos.sm3,
                ..Algorithms::NONE
            },
            Algorithms {
                sha512: algos.sha512,
                ..Algorithms::NONE
            },
            Algorithms {
                md5: algos.md5,
                ..Algorithms::NONE
            },
        ];
        let mut workers = Vec::new();
        for one in single.into_iter().filter(|a| !a.is_empty()) {
            let (tx, rx) = std::sync::mpsc::channel::<std::sync::Arc<Vec<u8>>>();
            let b = std::sync::Arc::new(Backlog {
                bytes: std::sync::Mutex::new(0),
                hashed: std::sync::Condvar::new(),
                ceiling: backlog.max(1),
            });
            let backlog = std::sync::Arc::clone(&b);
            let handle = thread::Builder::new()
                .name("whohosts-hash".into())
                .spawn(move || {
                    let mut h = MultiHasher::new(one);
                    for chunk in rx {
                        h.update(&chunk);
                        backlog.give(chunk.len());
                    }
                    h.finish()
                })?;
            workers.push(Worker {
                backlog: b,
                tx,
                handle,
            });
        }
        Ok(ThreadedHasher { workers, size: 0 })
    }

    /// Hands one chunk to every algorithm's thread.
    pub(crate) fn update(&mut self, chunk: &std::sync::Arc<Vec<u8>>) {
        for w in &self.workers {
            w.backlog.take(chunk.len());
            if w.tx.send(std::sync::Arc::clone(chunk)).is_err() {
                // The thread is gone (it panicked); `finish` reports it.
                w.backlog.give(chunk.len());
            }
        }
        self.size = self.size.saturating_add(chunk.len() as u64);
    }

    /// Bytes handed over so far.
    #[cfg(test)]
    fn size(&self) -> u64 {
        self.size
    }

    /// Waits for every thread to hash what it was given; the digests of the stream.
    pub(crate) fn finish(self) -> io::Result<Digests> {
        let mut out = Digests {
            size: self.size,
            ..Digests::default()
        };
        for w in self.workers {
            drop(w.tx);
            let d = w
                .handle
                .join()
                .map_err(|_| io::Error::other("a hashing thread failed"))?;
            out.sha256 = out.sha256.or(d.sha256);
            out.sm3 = out.sm3.or(d.sm3);
            out.sha512 = out.sha512.or(d.sha512);
            out.md5 = out.md5.or(d.md5);
        }
        Ok(out)
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// SHA-256 of a byte slice, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digests(data: &[u8]) -> Digests {
        let mut h = MultiHasher::new(Algorithms::ALL);
        h.update(data);
        h.finish()
    }

    // FIPS 180-4 examples (NIST CSRC "SHA256.pdf", "SHA512.pdf"): "abc" and the
    // 448-bit two-block message.
    #[test]
    fn sha256_matches_fips_180_4_examples() {
        assert_eq!(
            digests(b"abc").sha256.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(
            digests(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                .sha256
                .as_deref(),
            Some("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        );
        assert_eq!(
            digests(b"").sha256.as_deref(),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }

    #[test]
    fn sha512_and_md5_match_published_abc_values() {
        let d = digests(b"abc");
        // FIPS 180-4 SHA-512 example.
        assert_eq!(
            d.sha512.as_deref(),
            Some(
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
                 2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
            )
        );
        // RFC 1321 A.5 test suite.
        assert_eq!(d.md5.as_deref(), Some("900150983cd24fb0d6963f7d28e17f72"));
    }

    // GB/T 32905-2016 Appendix A, examples 1 ("abc") and 2 ("abcd" x 16).
    #[test]
    fn sm3_matches_gbt_32905_appendix_a() {
        assert_eq!(
            digests(b"abc").sm3.as_deref(),
            Some("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")
        );
        assert_eq!(
            digests(&b"abcd".repeat(16)).sm3.as_deref(),
            Some("debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732")
        );
    }

    #[test]
    fn chunked_feeding_gives_the_same_digests_as_one_update() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = digests(&data);
        let mut h = MultiHasher::new(Algorithms::ALL);
        for c in data.chunks(977) {
            h.update(c);
        }
        assert_eq!(h.finish(), whole);
    }

    #[test]
    fn unselected_algorithms_are_absent() {
        let mut h = MultiHasher::new(Algorithms::SHA256);
        h.update(b"abc");
        let d = h.finish();
        assert_eq!(d.size, 3);
        assert!(d.sm3.is_none() && d.md5.is_none() && d.sha512.is_none());
        assert_eq!(serde_json::to_string(&d).unwrap().matches("sha").count(), 1);
    }

    #[test]
    fn parallel_hashing_keeps_input_order_and_names_unreadable_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, b"abc").unwrap();
        std::fs::write(&b, b"").unwrap();
        let missing = dir.path().join("missing");
        let r = hash_files_parallel(&[a, missing.clone(), b], Algorithms::EVIDENCE, 2);
        assert_eq!(r[0].as_ref().unwrap().sm3, digests(b"abc").sm3);
        assert_eq!(r[1].as_ref().unwrap_err().path, missing);
        assert_eq!(r[2].as_ref().unwrap().size, 0);
    }

    #[test]
    fn threaded_hasher_matches_one_pass_over_the_same_chunks() {
        let chunks: Vec<std::sync::Arc<Vec<u8>>> = (0..50u8)
            .map(|i| std::sync::Arc::new(vec![i; 1000 + usize::from(i) * 37]))
            .collect();
        let mut one = MultiHasher::new(Algorithms::ALL);
        // A backlog smaller than two chunks: update waits for the threads.
        let mut threaded = ThreadedHasher::new(Algorithms::ALL, 1500).unwrap();
        for c in &chunks {
            one.update(c);
            threaded.update(c);
        }
        assert_eq!(threaded.size(), one.size());
        assert_eq!(threaded.finish().unwrap(), one.finish());
    }
}
