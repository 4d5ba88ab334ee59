//! Capture files: pcap or pcapng bytes through the reader, every frame decoded.
#![no_main]
use libfuzzer_sys::fuzz_target;
use whohosts::capture::CaptureReader;

fuzz_target!(|data: &[u8]| {
    let stream = Box::new(std::io::Cursor::new(data.to_vec()));
    if let Ok((_, mut reader)) = CaptureReader::from_stream(stream, 0) {
        while let Some(frame) = reader.next_frame() {
            let _ = whohosts::decode::decode(frame.link_type, frame.data);
        }
        let _ = reader.take_anomalies();
        let _ = reader.summary();
    }
});
