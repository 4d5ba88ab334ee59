//! Similarity of modified files by content-defined chunking (FastCDC, 2020 variant).
//!
//! A file is cut where its content says so, not at fixed offsets, so that an insertion
//! or a changed byte moves only the chunks around it. Each chunk is named by the first
//! 8 bytes of its SHA-256; the similarity of an object to an original is the share of
//! the original's bytes whose chunks appear in the object.
//!
//! Chunk sizes (8 KiB minimum, 32 KiB average, 128 KiB maximum) suit game assets from
//! kilobytes to gigabytes: a 1 GiB file gives about 32 000 chunks (12 bytes each in
//! memory), and one chunk's buffer is the most held at once while reading. A file
//! smaller than the minimum is one chunk, so its similarity is all or nothing.

use fastcdc::v2020::StreamCDC;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::Read;

/// Smallest chunk, in bytes.
pub(crate) const MIN_CHUNK: u32 = 8 * 1024;
/// Average chunk, in bytes.
pub(crate) const AVG_CHUNK: u32 = 32 * 1024;
/// Largest chunk, in bytes.
pub(crate) const MAX_CHUNK: u32 = 128 * 1024;

/// One chunk: the first 8 bytes of its SHA-256 and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk(pub u64, pub u32);

/// What is known about one file's content: its size, SHA-256 and chunks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub size: u64,
    pub sha256: String,
    pub chunks: Vec<Chunk>,
}

/// Reads `reader` to its end once, hashing it whole and chunk by chunk.
pub(crate) fn fingerprint(reader: impl Read) -> std::io::Result<Fingerprint> {
    let mut whole = Sha256::new();
    let mut chunks = Vec::new();
    let mut size = 0u64;
    let cdc = StreamCDC::new(
        reader,
        MIN_CHUNK as usize,
        AVG_CHUNK as usize,
        MAX_CHUNK as usize,
    );
    for chunk in cdc {
        let chunk = chunk.map_err(|e| match e {
            fastcdc::v2020::Error::IoError(io) => io,
            other => std::io::Error::other(other.to_string()),
        })?;
        whole.update(&chunk.data);
        let digest = Sha256::digest(&chunk.data);
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        chunks.push(Chunk(u64::from_be_bytes(first), chunk.length as u32));
        size += chunk.length as u64;
    }
    Ok(Fingerprint {
        size,
        sha256: crate::hash::hex(&whole.finalize()),
        chunks,
    })
}

/// The share (0.0 to 1.0) of `original`'s bytes whose chunks appear in `candidate`.
/// An empty original is similar only to an empty candidate.
pub fn share(original: &Fingerprint, candidate: &HashSet<u64>) -> f64 {
    if original.size == 0 {
        return if candidate.is_empty() { 1.0 } else { 0.0 };
    }
    let present: u64 = original
        .chunks
        .iter()
        .filter(|c| candidate.contains(&c.0))
        .map(|c| u64::from(c.1))
        .sum();
    present as f64 / original.size as f64
}

/// The set of chunk names of a fingerprint.
pub(crate) fn chunk_set(fp: &Fingerprint) -> HashSet<u64> {
    fp.chunks.iter().map(|c| c.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn a_small_edit_keeps_most_chunks() {
        let a = noise(1 << 20, 7);
        let mut b = a.clone();
        b.splice(500_000..500_010, b"inserted bytes here".iter().copied());
        let fa = fingerprint(&a[..]).unwrap();
        let fb = fingerprint(&b[..]).unwrap();
        assert_eq!(fa.size, a.len() as u64);
        assert_eq!(fa.sha256, crate::hash::sha256_hex(&a));
        let s = share(&fa, &chunk_set(&fb));
        assert!(s > 0.9 && s < 1.0, "{s}");
        let other = fingerprint(&noise(1 << 20, 9)[..]).unwrap();
        assert_eq!(share(&fa, &chunk_set(&other)), 0.0);
        assert_eq!(share(&fa, &chunk_set(&fa)), 1.0);
    }

    #[test]
    fn empty_input_has_no_chunks() {
        let f = fingerprint(&b""[..]).unwrap();
        assert_eq!(f.size, 0);
        assert!(f.chunks.is_empty());
        assert_eq!(share(&f, &HashSet::new()), 1.0);
    }
}
