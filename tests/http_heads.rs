//! HTTP requests are read as tshark reads them, in order, each in its frame:
//! WebDAV's methods, a request line padded with a second space and a header line
//! with a control byte in its value (captures/webdav.pcap, curl and nginx-light's
//! dav module, captures/record-webdav.sh). A strict parser took the padded request
//! for no HTTP and refused the other; both lost their Host. The header line that
//! could not be read is counted in its record and said in an anomaly.

mod common;

use whohosts::pipeline::{analyze_capture, AnalyzeOptions};

#[test]
fn webdav_padded_and_bad_header_requests_are_read_in_tsharks_order_and_frames() {
    let path = common::root().join("captures/webdav.pcap");
    let a = analyze_capture(&path, 0, &AnalyzeOptions::default()).unwrap();
    // The one header line skipped: the last request's `X-Build`, with a control
    // byte in its value.
    let kept: Vec<(&str, Option<u64>)> =
        a.anomalies.kept.iter().map(|x| (x.code, x.frame)).collect();
    assert_eq!(
        kept,
        [("http.header_lines_skipped", Some(86))],
        "{:?}",
        a.anomalies.kept
    );
    assert!(
        a.anomalies.kept[0]
            .message
            .contains("1 header line(s) of the HTTP request head"),
        "{}",
        a.anomalies.kept[0].message
    );
    let ours: Vec<(u64, String, String, String, u64)> = a
        .records
        .http
        .values()
        .unwrap()
        .iter()
        .filter(|h| h["type"] == "request")
        .map(|h| {
            let s = |k: &str| h[k].as_str().unwrap().to_string();
            let skipped = h.get("skipped_header_lines").map(|n| n.as_u64().unwrap());
            (
                h["frame"].as_u64().unwrap(),
                s("method"),
                s("host"),
                s("uri"),
                skipped.unwrap_or(0),
            )
        })
        .collect();
    // The requests as tshark reads them, with every line of their heads last.
    let out = common::tshark(&[
        "-n",
        "-r",
        path.to_str().unwrap(),
        "-Y",
        "http.request",
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "aggregator=|",
        "-e",
        "frame.number",
        "-e",
        "http.request.method",
        "-e",
        "http.host",
        "-e",
        "http.content_length_header",
        "-e",
        "http.request.line",
    ]);
    let theirs: Vec<Vec<&str>> = out.lines().map(|l| l.splitn(5, '\t').collect()).collect();
    assert_eq!(ours.len(), theirs.len(), "{ours:?}\n{theirs:?}");
    for (o, t) in ours.iter().zip(&theirs) {
        assert_eq!((o.1.as_str(), o.2.as_str()), (t[1], t[2]), "{o:?} {t:?}");
        let frame: u64 = t[0].parse().unwrap();
        if t[3].is_empty() {
            assert_eq!(o.0, frame, "{o:?} {t:?}");
        } else {
            // A request with a body: tshark names the frame that completes it,
            // whohosts the head's.
            assert!(o.0 < frame, "{o:?} {t:?}");
        }
    }
    // tshark lists every line of a head: the ones whohosts skipped are those with
    // a byte that no header line may hold (RFC 9110 §5.5).
    let unreadable: Vec<(u64, u64)> = theirs
        .iter()
        .map(|t| {
            let bad = t[4]
                .split('|')
                .filter(|line| line.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f))
                .count();
            (t[0].parse().unwrap(), bad as u64)
        })
        .filter(|(_, bad)| *bad > 0)
        .collect();
    assert_eq!(unreadable, [(86, 1)], "{out}");
    let ours_skipped: Vec<(u64, u64)> = ours
        .iter()
        .filter(|o| o.4 > 0)
        .map(|o| (o.0, o.4))
        .collect();
    assert_eq!(ours_skipped, unreadable);
    let methods: Vec<&str> = ours.iter().map(|o| o.1.as_str()).collect();
    assert_eq!(
        methods,
        ["MKCOL", "PUT", "COPY", "MOVE", "PROPFIND", "GET", "DELETE", "GET", "GET"]
    );
    // The padded request's target is read past its second space (tshark leaves
    // it empty).
    assert_eq!(ours[7].3, "/games/mtr-1.4.2.zip");
}
