//! Capture files: pcap or pcapng bytes through the reader, every frame decoded, the
//! secrets of Decryption Secrets Blocks read as key logs.
#![no_main]
use libfuzzer_sys::fuzz_target;
use whohosts::capture::CaptureReader;

fuzz_target!(|data: &[u8]| {
    let stream = Box::new(std::io::Cursor::new(data.to_vec()));
    if let Ok((_, mut reader)) = CaptureReader::from_stream(stream, 0) {
        while let Some(frame) = reader.next_frame() {
            let _ = whohosts::decode::decode(frame.link_type, frame.data);
        }
        // Decryption secrets blocks, read as key logs.
        let mut keys = whohosts::decrypt::keylog::KeyLog::new();
        for s in reader.take_secrets() {
            keys.add_text("dsb", &s.data);
        }
        let _ = reader.take_anomalies();
        let _ = reader.summary();
    }
});
