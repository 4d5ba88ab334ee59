//! HTTP/1.x stream: the prefix grows by arbitrary steps.
#![no_main]
use libfuzzer_sys::fuzz_target;
use whohosts::dissect::{http::HttpStream, Step};

fuzz_target!(|data: &[u8]| {
    let mut s = HttpStream::new();
    let step = data.first().map_or(1, |b| usize::from(*b).max(1));
    let data = data.get(1..).unwrap_or(&[]);
    let mut end = 0;
    while end < data.len() {
        end = (end + step).min(data.len());
        for _ in 0..10_000 {
            match s.next(&data[..end]) {
                Step::Record { .. } | Step::Error { .. } => continue,
                _ => break,
            }
        }
    }
});
