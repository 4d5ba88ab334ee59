//! HTTP requests are read as tshark reads them, in order, each in its frame:
//! WebDAV's methods, a request line padded with a second space and a header line
//! with a control byte in its value (captures/webdav.pcap, curl and nginx-light's
//! dav module, captures/record-webdav.sh). A strict parser took the padded request
//! for no HTTP and refused the other; both lost their Host.

mod common;

use whohosts::pipeline::{analyze_capture, AnalyzeOptions};

#[test]
fn webdav_padded_and_bad_header_requests_are_read_in_tsharks_order_and_frames() {
    let path = common::root().join("captures/webdav.pcap");
    let a = analyze_capture(&path, 0, &AnalyzeOptions::default()).unwrap();
    assert!(a.anomalies.kept.is_empty(), "{:?}", a.anomalies.kept);
    let ours: Vec<(u64, String, String, String)> = a
        .records
        .http
        .values()
        .unwrap()
        .iter()
        .filter(|h| h["type"] == "request")
        .map(|h| {
            let s = |k: &str| h[k].as_str().unwrap().to_string();
            (
                h["frame"].as_u64().unwrap(),
                s("method"),
                s("host"),
                s("uri"),
            )
        })
        .collect();
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
        "-e",
        "frame.number",
        "-e",
        "http.request.method",
        "-e",
        "http.host",
        "-e",
        "http.content_length_header",
    ]);
    let theirs: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
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
    let methods: Vec<&str> = ours.iter().map(|o| o.1.as_str()).collect();
    assert_eq!(
        methods,
        ["MKCOL", "PUT", "COPY", "MOVE", "PROPFIND", "GET", "DELETE", "GET", "GET"]
    );
    // The padded request's target is read past its second space (tshark leaves
    // it empty).
    assert_eq!(ours[7].3, "/games/mtr-1.4.2.zip");
}
