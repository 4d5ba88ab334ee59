//! Several captures given at once are analysed side by side (one per core) and give
//! the same report, byte for byte, as when analysed one after the other.

use std::path::PathBuf;
use whohosts::pipeline::{self, AnalyzeOptions};
use whohosts::report::Report;

fn json(analyses: &[pipeline::CaptureAnalysis]) -> Vec<u8> {
    let mut out = Vec::new();
    Report::build(analyses).write_json(&mut out).unwrap();
    out
}

#[test]
fn captures_analysed_at_once_report_as_one_after_the_other() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures");
    let paths: Vec<PathBuf> = [
        "demo.pcap",
        "dns.pcap",
        "demo.pcapng",
        "tls13.pcap",
        "frag.pcap",
        "quic.pcap",
        "demo.pcap.zst",
    ]
    .iter()
    .map(|n| dir.join(n))
    .collect();
    let opts = AnalyzeOptions::default();
    let together = pipeline::analyze(&paths, &opts).unwrap();
    let in_turn: Vec<_> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| pipeline::analyze_capture(p, i as u32, &opts).unwrap())
        .collect();
    assert_eq!(together.len(), paths.len());
    for (a, p) in together.iter().zip(&paths) {
        assert_eq!(&a.path, p);
    }
    assert!(json(&together) == json(&in_turn));
}

#[test]
fn the_first_unreadable_capture_in_the_order_given_stops_the_run() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures");
    let missing = dir.join("no-such-capture.pcap");
    let paths = vec![
        dir.join("demo.pcap"),
        missing.clone(),
        dir.join("dns.pcap"),
        dir.join("also-missing.pcap"),
    ];
    match pipeline::analyze(&paths, &AnalyzeOptions::default()) {
        Err(e) => assert!(e.to_string().contains("no-such-capture.pcap"), "{e}"),
        Ok(_) => panic!("a missing capture must stop the run"),
    }
}

#[test]
fn more_captures_than_frames_can_name_are_refused_before_any_is_read() {
    let max = whohosts::services::FrameId::MAX_CAPTURES;
    let paths = vec![PathBuf::from("/nonexistent/x.pcap"); max + 1];
    let Err(err) = pipeline::analyze(&paths, &AnalyzeOptions::default()) else {
        panic!("{} captures were taken", max + 1);
    };
    assert_eq!(
        err.to_string(),
        format!(
            "{} captures given: one analysis takes at most {max}",
            max + 1
        )
    );
}

#[test]
fn a_capture_whose_index_frames_cannot_name_is_refused() {
    let max = whohosts::services::FrameId::MAX_CAPTURES;
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures/demo.pcap");
    let opts = AnalyzeOptions::default();
    let Err(err) = pipeline::analyze_capture(&demo, max as u32, &opts) else {
        panic!("index {max} was taken");
    };
    assert!(err.to_string().contains(&format!("at most {max}")), "{err}");
    let last = pipeline::analyze_capture(&demo, max as u32 - 1, &opts).unwrap();
    assert_eq!(last.index, max as u32 - 1);
}
