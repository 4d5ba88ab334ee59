//! DNS over TCP: the stream grows by arbitrary steps, as the prefix would.
#![no_main]
use libfuzzer_sys::fuzz_target;
use whohosts::dissect::{dns::TcpDnsStream, Step};

fuzz_target!(|data: &[u8]| {
    let mut s = TcpDnsStream::new();
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
