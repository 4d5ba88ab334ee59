//! NetBIOS name service names equal tshark's (`nbns.name`, `nbns.addr`) on
//! captures/nbns.pcap (Samba's nmbd and nmblookup, captures/record-nbns.sh), frame by
//! frame; answered and registered names are bound to their addresses.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use whohosts::pipeline::{analyze_capture, AnalyzeOptions};
use whohosts::services::NameSource;

type PerFrame = BTreeMap<u64, (BTreeSet<String>, BTreeSet<String>)>;

#[test]
fn netbios_names_and_addresses_equal_tsharks() {
    let path = common::root().join("captures/nbns.pcap");
    let a = analyze_capture(&path, 0, &AnalyzeOptions::default()).unwrap();
    let mut ours = PerFrame::new();
    for m in a.records.nbns.values().unwrap() {
        let e = ours.entry(m["frame"].as_u64().unwrap()).or_default();
        for q in m["questions"].as_array().unwrap() {
            e.0.insert(q["name"].as_str().unwrap().to_string());
        }
        for r in m["answers"].as_array().unwrap() {
            e.0.insert(r["name"].as_str().unwrap().to_string());
            for ip in r["addresses"].as_array().into_iter().flatten() {
                e.1.insert(ip.as_str().unwrap().to_string());
            }
        }
    }
    let mut theirs = PerFrame::new();
    for f in common::tshark_rows(&path, "nbns", &["frame.number", "nbns.name", "nbns.addr"]) {
        let e = theirs.entry(f[0].parse().unwrap()).or_default();
        // A record's name comes with its meaning: "NAME<20> (Server service)".
        e.0.extend(
            f[1].split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.split(" (").next().unwrap().to_string()),
        );
        e.1.extend(
            f[2].split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
    }
    assert_eq!(ours, theirs);
    assert!(ours.len() >= 30, "{} messages", ours.len());

    // nmbd's names, bound to its address by its registrations and answers.
    let bound: BTreeSet<&str> = a
        .names
        .iter()
        .filter(|n| n.source == NameSource::Netbios && n.ip.to_string() == "192.168.78.1")
        .map(|n| n.name.as_str())
        .collect();
    for n in ["PIRATEBOX<00>", "PIRATEBOX<20>", "MTR<00>"] {
        assert!(bound.contains(n), "{n} in {bound:?}");
    }
    assert!(!bound.contains("NOBODYHERE<00>"));

    // Node status answers (`nmblookup -A`): the name table, name by name, equal to
    // tshark's (its `nbns.netbios_name` shows the suffix only in its display
    // text, so the PDML is read), each name bound to the answering node on that
    // frame.
    let mut ours: Vec<(u64, String, bool)> = Vec::new();
    for m in a.records.nbns.values().unwrap() {
        for r in m["answers"].as_array().unwrap() {
            for n in r["node_names"].as_array().into_iter().flatten() {
                ours.push((
                    m["frame"].as_u64().unwrap(),
                    n["name"].as_str().unwrap().to_string(),
                    n["group"].as_bool().unwrap(),
                ));
            }
        }
    }
    let pdml = common::tshark(&["-n", "-r", path.to_str().unwrap(), "-T", "pdml"]);
    let (mut theirs, mut frame) = (Vec::new(), 0);
    let attr = |l: &str, a: &str| -> String {
        let from = l.find(&format!("{a}=\"")).unwrap() + a.len() + 2;
        let v = &l[from..];
        v[..v.find('"').unwrap()]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    for l in pdml.lines() {
        if l.contains("name=\"frame.number\"") {
            frame = attr(l, "show").parse().unwrap();
        } else if l.contains("name=\"nbns.netbios_name\"") {
            let shown = attr(l, "showname");
            let name = shown
                .trim_start_matches("Name: ")
                .split(" (")
                .next()
                .unwrap();
            theirs.push((frame, name.to_string(), false));
        } else if l.contains("name=\"nbns.name_flags.group\"") {
            theirs.last_mut().unwrap().2 = attr(l, "show") == "1";
        }
    }
    assert_eq!(ours, theirs);
    assert!(!ours.is_empty());
    for (frame, name, _) in &ours {
        assert!(
            a.names.iter().any(|n| n.source == NameSource::Netbios
                && n.ip.to_string() == "192.168.78.1"
                && n.name == *name
                && n.frames.iter().any(|f| f.frame() == *frame)),
            "{name} of frame {frame} bound to 192.168.78.1"
        );
    }
}
