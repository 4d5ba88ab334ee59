//! DNS over TCP: the stream grows by arbitrary steps, as the prefix would; then the
//! message in progress is read as if its segment had been cut there.
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
    if let Some((range, m)) = s.cut_short(data) {
        assert!(range.start < range.end && range.end == data.len());
        assert!(m.is_none_or(|m| !m.questions.is_empty()));
    }
});
