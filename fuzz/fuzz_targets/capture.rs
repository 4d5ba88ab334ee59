//! Capture files: pcap or pcapng bytes through the reader, every frame decoded, the
//! secrets of Decryption Secrets Blocks read as key logs. The same bytes read in
//! chunks taken over whole (as a file is read) must give the same frames and
//! anomalies as the stream.
#![no_main]
use libfuzzer_sys::fuzz_target;
use whohosts::capture::CaptureReader;

type Read = (Vec<(u64, u64, u32, Vec<u8>)>, Vec<String>);

fn drain(mut reader: CaptureReader, decode: bool) -> Read {
    let mut frames = Vec::new();
    while let Some(frame) = reader.next_frame() {
        if decode {
            let _ = whohosts::decode::decode(frame.link_type, frame.data);
        }
        frames.push((frame.number, frame.offset, frame.wire_len, frame.data.to_vec()));
    }
    if decode {
        // Decryption secrets blocks, read as key logs.
        let mut keys = whohosts::decrypt::keylog::KeyLog::new();
        for s in reader.take_secrets() {
            keys.add_text("dsb", &s.data);
        }
        let _ = reader.summary();
    }
    let anomalies = reader
        .take_anomalies()
        .iter()
        .map(|a| format!("{} {} {}", a.offset, a.code, a.message))
        .collect();
    (frames, anomalies)
}

fuzz_target!(|data: &[u8]| {
    let stream = Box::new(std::io::Cursor::new(data.to_vec()));
    let Ok((_, reader)) = CaptureReader::from_stream(stream, 0) else {
        return;
    };
    let streamed = drain(reader, true);
    // Chunk sizes from 61 to 4 156 bytes, chosen by the input's length.
    let chunk = 61 + (data.len() * 7919) % 4096;
    let (_, reader, digest) = CaptureReader::from_bytes_in_chunks(data.to_vec(), chunk, 0)
        .expect("the stream opened, so the chunks open");
    assert!(drain(reader, false) == streamed, "chunks of {chunk} bytes");
    // The reading thread ends once the reader is dropped: every byte was read.
    assert_eq!(digest.finish().expect("read").size, data.len() as u64);
});
