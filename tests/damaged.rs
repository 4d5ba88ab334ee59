//! Truncated and corrupted copies of the real captures: everything readable is
//! analysed, each problem is an anomaly naming its frame and byte offset, and
//! nothing panics.

mod common;

use std::path::Path;
use whohosts::model::Anomaly;
use whohosts::pipeline::{analyze_capture, AnalyzeOptions, CaptureAnalysis};

/// Record boundaries of a little-endian microsecond pcap: (offset, caplen).
fn pcap_records(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        if at + 16 + caplen > bytes.len() {
            break;
        }
        out.push((at, caplen));
        at += 16 + caplen;
    }
    out
}

fn plain_le_pcaps() -> Vec<std::path::PathBuf> {
    let v: Vec<_> = common::captures()
        .into_iter()
        .filter(|p| {
            let b = std::fs::read(p).unwrap();
            b.get(..4) == Some(&[0xd4, 0xc3, 0xb2, 0xa1][..])
        })
        .collect();
    assert!(!v.is_empty(), "captures/ holds no little-endian pcap file");
    v
}

fn analyse_bytes(bytes: &[u8]) -> Result<CaptureAnalysis, whohosts::capture::CaptureError> {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), bytes).unwrap();
    analyze_capture(tmp.path(), 0, &AnalyzeOptions::default())
}

fn codes(a: &CaptureAnalysis) -> Vec<(&'static str, Option<u64>, u64)> {
    a.anomalies
        .kept
        .iter()
        .map(|x: &Anomaly| (x.code, x.frame, x.offset))
        .collect()
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn truncated_pcap_record_is_reported_with_frame_and_offset() {
    for path in plain_le_pcaps() {
        let bytes = std::fs::read(&path).unwrap();
        let records = pcap_records(&bytes);
        // Cut inside several records' data and headers.
        let step = (records.len() / 25).max(1);
        for (i, &(off, caplen)) in records.iter().enumerate().step_by(step) {
            for cut in [off + 3, off + 16 + caplen / 2] {
                let a = analyse_bytes(&bytes[..cut]).expect("a truncated capture still opens");
                assert_eq!(a.packets, i as u64, "{}: cut at {cut}", name(&path));
                let c = codes(&a);
                let code = if cut < off + 16 {
                    "pcap.truncated_header"
                } else {
                    "pcap.truncated_record"
                };
                assert!(
                    c.contains(&(code, Some(i as u64 + 1), off as u64)),
                    "{}: cut at {cut}: expected {code} for frame {} at offset {off}, got {c:?}",
                    name(&path),
                    i + 1
                );
            }
        }
    }
}

#[test]
fn lying_record_length_is_reported_and_later_frames_still_counted() {
    for path in plain_le_pcaps() {
        let bytes = std::fs::read(&path).unwrap();
        let records = pcap_records(&bytes);
        if records.len() < 6 {
            continue;
        }
        let clean = analyse_bytes(&bytes).unwrap();
        let k = records.len() / 2;
        let (off, caplen) = records[k];
        // A huge length, and a length that overruns into the next records.
        for (lie, code) in [
            (0x7fff_0000u32, "pcap.record_too_long"),
            (caplen as u32 + 40, "pcap.record_length_mismatch"),
        ] {
            let mut bad = bytes.clone();
            bad[off + 8..off + 12].copy_from_slice(&lie.to_le_bytes());
            let a = analyse_bytes(&bad).unwrap();
            let c = codes(&a);
            assert!(
                c.contains(&(code, Some(k as u64 + 1), off as u64)),
                "{}: expected {code} at frame {} offset {off}: {c:?}",
                name(&path),
                k + 1
            );
            assert!(c.iter().any(|x| x.0 == "pcap.resynchronised"), "{c:?}");
            // Only the damaged frame is lost.
            assert_eq!(a.packets, clean.packets - 1, "{}: {lie}", name(&path));
            // Frame numbering continues past the damage: conversations that start
            // after the damaged frame start at the same frame numbers.
            let later = |x: &CaptureAnalysis| {
                x.tables
                    .conversations()
                    .iter()
                    .map(|(_, c)| c.first.frame)
                    .filter(|&f| f > k as u64 + 1)
                    .collect::<Vec<_>>()
            };
            let damaged = later(&a);
            for f in later(&clean) {
                assert!(damaged.contains(&f), "{}: frame {f}", name(&path));
            }
        }
    }
}

#[test]
fn unknown_link_type_is_an_anomaly_with_its_first_frame() {
    let path = &plain_le_pcaps()[0];
    let mut bytes = std::fs::read(path).unwrap();
    bytes[20..24].copy_from_slice(&147u32.to_le_bytes());
    let a = analyse_bytes(&bytes).unwrap();
    assert!(a.packets > 0);
    assert_eq!(codes(&a), vec![("link.unknown_type", Some(1), 24)]);
    assert!(a.anomalies.kept[0].message.contains("147"));
}

/// A deterministic xorshift, so that failures reproduce.
fn xorshift(mut s: u64) -> impl FnMut() -> u64 {
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    }
}

#[test]
fn garbage_bit_flips_never_panic() {
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
    for path in common::captures() {
        let bytes = std::fs::read(&path).unwrap();
        for _ in 0..20 {
            let mut bad = bytes.clone();
            for _ in 0..8 {
                let i = (next() as usize) % bad.len();
                bad[i] ^= 1 << (next() % 8);
            }
            let _ = analyse_bytes(&bad);
        }
    }
}

/// Frames (number, offset, length, bytes) and anomalies as a reader gives them.
type Read = (Vec<(u64, u64, u32, Vec<u8>)>, Vec<String>);

fn drain(mut r: whohosts::capture::CaptureReader) -> Read {
    let mut frames = Vec::new();
    while let Some(f) = r.next_frame() {
        frames.push((f.number, f.offset, f.wire_len, f.data.to_vec()));
    }
    let anomalies = r
        .take_anomalies()
        .iter()
        .map(|a| format!("{} {} {}", a.offset, a.code, a.message))
        .collect();
    (frames, anomalies)
}

/// Frames and anomalies of `bytes` opened as a file (framed in the reading
/// thread's chunks), read in chunks of other sizes, and as a stream (copied into
/// a window): the file's and the stream's, after checking that the others agree.
fn read_every_way(bytes: &[u8], chunks: &[usize]) -> [Read; 2] {
    use whohosts::capture::CaptureReader;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    let opened =
        whohosts::capture::open(file.path(), 0, whohosts::hash::Algorithms::SHA256).unwrap();
    let from_file = drain(opened.reader);
    let d = opened.digest.finish().unwrap();
    assert_eq!(d.sha256, Some(whohosts::hash::sha256_hex(bytes)));
    for &chunk in chunks {
        let (_, r, digest) = CaptureReader::from_bytes_in_chunks(bytes.to_vec(), chunk, 0).unwrap();
        assert!(drain(r) == from_file, "chunks of {chunk} bytes");
        assert_eq!(digest.finish().unwrap().size, bytes.len() as u64);
    }
    let (_, stream) =
        CaptureReader::from_stream(Box::new(std::io::Cursor::new(bytes.to_vec())), 0).unwrap();
    [from_file, drain(stream)]
}

/// A little-endian microsecond pcap with records of the given captured sizes, and
/// the offset of each record.
fn pcap_of(sizes: &[usize]) -> (Vec<u8>, Vec<usize>) {
    let mut pcap = vec![
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0,
    ];
    let mut offsets = Vec::new();
    for (i, &n) in sizes.iter().enumerate() {
        offsets.push(pcap.len());
        let n32 = n as u32;
        pcap.extend_from_slice(&(i as u32).to_le_bytes());
        pcap.extend_from_slice(&0u32.to_le_bytes());
        pcap.extend_from_slice(&n32.to_le_bytes());
        pcap.extend_from_slice(&n32.to_le_bytes());
        pcap.extend((0..n).map(|b| (b as u8) ^ (i as u8)));
    }
    (pcap, offsets)
}

#[test]
fn records_of_every_size_are_framed_the_same_in_chunks_and_in_a_stream() {
    // Records of sizes that straddle every chunk boundary somewhere, some larger
    // than the 128 KiB kept in front of a chunk (copied, not moved), one as large
    // as accepted; then the same file with a length that lies in the middle; then
    // its first hundred records, read in chunks shorter than a record header (each
    // chunk is a message between threads: a small file only).
    const ROOM: usize = 128 << 10;
    let mut sizes: Vec<usize> = (0..4000).map(|i| 40 + (i * 7919) % 1460).collect();
    sizes.extend([
        ROOM + 1,
        200_000,
        whohosts::capture::MAX_RECORD,
        60,
        ROOM,
        1,
    ]);
    sizes.extend((0..3000).map(|i| 40 + (i * 104_729) % 9000));
    let (mut pcap, offsets) = pcap_of(&sizes);
    let large = [1500, 65_536, ROOM + 3];
    let [file, stream] = read_every_way(&pcap, &large);
    assert_eq!(file.0.len(), sizes.len());
    assert!(file.1.is_empty(), "{:?}", file.1);
    assert!(file == stream, "the chunked read differs from the stream");
    let lie = |pcap: &mut [u8], at: usize| {
        pcap[at + 8..at + 12].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
    };
    lie(&mut pcap, offsets[5000]);
    let [file, stream] = read_every_way(&pcap, &large);
    assert!(!file.1.is_empty());
    assert!(file.0.len() < sizes.len());
    assert!(
        file == stream,
        "the chunked read differs from the stream after damage"
    );
    let (mut small, offsets) = pcap_of(&sizes[..100]);
    let tiny = [1, 7, 61];
    let [file, stream] = read_every_way(&small, &tiny);
    assert_eq!(file.0.len(), 100);
    assert!(file == stream, "a small file read in tiny chunks");
    lie(&mut small, offsets[50]);
    let [file, stream] = read_every_way(&small, &tiny);
    assert!(!file.1.is_empty());
    assert!(file == stream, "a small damaged file read in tiny chunks");
}

#[test]
fn damage_is_read_the_same_whatever_the_size_of_the_reads() {
    use whohosts::capture::CaptureReader;
    // Records whose length lies, and bit flips: an uncompressed file is framed in
    // the reading thread's chunks, a stream in a window of its own, and where a
    // record ends must not depend on where a read did. (A lying length was once
    // judged on the bytes read so far.)
    let mut next = xorshift(0x2545_f491_4f6c_dd1d);
    let mut compared = 0;
    for path in common::captures() {
        let bytes = std::fs::read(&path).unwrap();
        if bytes.starts_with(&[0x1f, 0x8b]) || bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            continue;
        }
        let mut variants = vec![bytes.clone()];
        let records = pcap_records(&bytes);
        if bytes.starts_with(&[0xd4, 0xc3, 0xb2, 0xa1]) && records.len() > 4 {
            for k in [1, records.len() / 3, records.len() / 2] {
                let (off, caplen) = records[k];
                let mut bad = bytes.clone();
                bad[off + 8..off + 12].copy_from_slice(&(caplen as u32 + 40).to_le_bytes());
                variants.push(bad);
            }
        }
        for _ in 0..4 {
            let mut bad = bytes.clone();
            for _ in 0..8 {
                let i = (next() as usize) % bad.len();
                bad[i] ^= 1 << (next() % 8);
            }
            variants.push(bad);
        }
        for v in variants {
            let Ok((_, r)) =
                CaptureReader::from_stream(Box::new(std::io::Cursor::new(v.clone())), 0)
            else {
                continue;
            };
            let streamed = drain(r);
            for chunk in [61, 1500, 16_384] {
                let (_, r, digest) =
                    CaptureReader::from_bytes_in_chunks(v.clone(), chunk, 0).unwrap();
                assert!(
                    drain(r) == streamed,
                    "{}: read in chunks of {chunk} bytes, not as streamed",
                    name(&path)
                );
                assert_eq!(digest.finish().unwrap().size, v.len() as u64);
                compared += 1;
            }
        }
    }
    assert!(compared > 300, "{compared}");
}

#[test]
fn a_damaged_capture_is_analysed_the_same_plain_and_compressed() {
    use std::io::Write;
    // A plain file is framed in the reading thread's chunks, a compressed one in a
    // window the decompressor fills: the frames lost to damage must be the same.
    for path in plain_le_pcaps() {
        let bytes = std::fs::read(&path).unwrap();
        let records = pcap_records(&bytes);
        if records.len() < 6 {
            continue;
        }
        let mut bad = bytes.clone();
        for k in [1, records.len() / 2] {
            let (off, caplen) = records[k];
            bad[off + 8..off + 12].copy_from_slice(&(caplen as u32 + 40).to_le_bytes());
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bad).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&bad[..], 1).unwrap();
        let plain = analyse_bytes(&bad).unwrap();
        assert!(codes(&plain)
            .iter()
            .any(|c| c.0 == "pcap.record_length_mismatch"));
        for (kind, compressed) in [("gzip", gz), ("zstd", zst)] {
            let a = analyse_bytes(&compressed).unwrap();
            assert_eq!(codes(&a), codes(&plain), "{} ({kind})", name(&path));
            assert_eq!(a.packets, plain.packets, "{} ({kind})", name(&path));
            let firsts = |x: &CaptureAnalysis| {
                x.tables
                    .conversations()
                    .iter()
                    .map(|(_, c)| (c.first.frame, c.a_to_b.frames + c.b_to_a.frames))
                    .collect::<Vec<_>>()
            };
            assert_eq!(firsts(&a), firsts(&plain), "{} ({kind})", name(&path));
        }
    }
}

/// Builds a pcapng section: SHB, one Ethernet IDB, and EPBs carrying `frames`.
fn pcapng(frames: &[&[u8]]) -> Vec<u8> {
    fn block(ty: u32, body: &[u8]) -> Vec<u8> {
        let pad = (4 - body.len() % 4) % 4;
        let len = (12 + body.len() + pad) as u32;
        let mut b = ty.to_le_bytes().to_vec();
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(body);
        b.extend(std::iter::repeat_n(0, pad));
        b.extend_from_slice(&len.to_le_bytes());
        b
    }
    let mut shb = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    let mut out = block(0x0A0D_0D0A, &shb);
    let mut idb = 1u16.to_le_bytes().to_vec();
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&0u32.to_le_bytes());
    out.extend(block(1, &idb));
    for (i, f) in frames.iter().enumerate() {
        let mut epb = 0u32.to_le_bytes().to_vec();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&(i as u32 * 1000).to_le_bytes());
        epb.extend_from_slice(&(f.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(f.len() as u32).to_le_bytes());
        epb.extend_from_slice(f);
        out.extend(block(6, &epb));
    }
    out
}

/// An Ethernet/IPv4/UDP frame, 192.0.2.1:1000 -> 198.51.100.2:9 (discard), by hand.
const FRAME: [u8; 46] = [
    0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6, 0x08, 0x00, //
    0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2, //
    0x03, 0xe8, 0, 9, 0, 12, 0, 0, 1, 2, 3, 4,
];

#[test]
fn pcapng_block_lengths_that_disagree_are_reported_and_skipped() {
    let mut bytes = pcapng(&[&FRAME, &FRAME, &FRAME]);
    // The second EPB starts after SHB (28) + IDB (20) + first EPB (80).
    let second = 28 + 20 + 80;
    let len = u32::from_le_bytes(bytes[second + 4..second + 8].try_into().unwrap()) as usize;
    bytes[second + len - 4] ^= 0x40;
    let a = analyse_bytes(&bytes).unwrap();
    let c = codes(&a);
    assert!(
        c.contains(&("pcapng.block_lengths_disagree", Some(2), second as u64)),
        "{c:?}"
    );
    assert_eq!(a.packets, 2, "frames 1 and 3 are analysed");
}

#[test]
fn pcapng_unknown_block_is_a_notice_and_frames_go_on() {
    let mut bytes = pcapng(&[&FRAME]);
    let mut odd = 0x0000_0F00u32.to_le_bytes().to_vec();
    odd.extend_from_slice(&16u32.to_le_bytes());
    odd.extend_from_slice(b"abcd");
    odd.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend(odd);
    bytes.extend_from_slice(&pcapng(&[&FRAME])[48..]);
    let a = analyse_bytes(&bytes).unwrap();
    assert_eq!(a.packets, 2);
    assert_eq!(codes(&a), vec![("pcapng.unknown_block", None, 128)]);
}

#[test]
fn pcapng_packet_on_undescribed_interface_is_reported() {
    let mut bytes = pcapng(&[&FRAME]);
    bytes[48 + 8] = 3; // interface id 3
    let a = analyse_bytes(&bytes).unwrap();
    assert_eq!(codes(&a), vec![("pcapng.unknown_interface", Some(1), 48)]);
}

#[test]
fn not_a_capture_is_a_clear_error() {
    let e = analyse_bytes(b"hello, this is text")
        .err()
        .expect("an error");
    let msg = e.to_string();
    assert!(
        msg.contains("not a pcap or pcapng capture") && msg.contains("68 65 6c 6c"),
        "{msg}"
    );
    let e = analyse_bytes(b"").err().expect("an error");
    assert!(e.to_string().contains("empty"), "{e}");
}

#[test]
fn corrupt_gzip_stream_keeps_what_was_read_and_says_where_it_stopped() {
    use std::io::Write;
    let path = &plain_le_pcaps()[0];
    let plain = std::fs::read(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let mut z = gz.finish().unwrap();
    let keep = z.len() * 2 / 3;
    z.truncate(keep);
    let a = analyse_bytes(&z).unwrap();
    assert!(!a.anomalies.is_empty());
    assert_eq!(
        a.digests.size, keep as u64,
        "the hash covers the whole file as stored"
    );
}
