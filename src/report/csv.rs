//! The report as CSV files for spreadsheets: `services.csv`, `endpoints.csv`,
//! `conversations.csv` and `names.csv` (and `proxy_targets.csv`, `objects.csv` when
//! the report has any), each with a header row, UTF-8 with a
//! byte-order mark (so that spreadsheet programs read Chinese text as UTF-8) and
//! CRLF line ends (RFC 4180).
//!
//! A cell that a spreadsheet would take for a formula (starting with `=`, `+`, `-`,
//! `@`, a tab or a carriage return) is prefixed with `'`, and control and
//! bidirectional characters are shown as their codes, as on a terminal: the text
//! came from a hostile capture. Internet services come first, then the local ones,
//! each row saying its `scope`.

use super::{escape, Report, ServiceReport};
use crate::attribute::Attribution;
use std::io::Write;
use std::path::Path;

/// The files written into the directory given to [`write_dir`].
pub const FILES: [&str; 4] = [
    "services.csv",
    "endpoints.csv",
    "conversations.csv",
    "names.csv",
];

/// Written too when the report lists objects (`analyze --objects`).
pub(crate) const OBJECTS_FILE: &str = "objects.csv";

/// Written too when the report has servers behind proxies (`proxy_targets[]`).
pub const PROXY_TARGETS_FILE: &str = "proxy_targets.csv";

/// Writes the four files into `dir` (created if needed), each atomically, and
/// `objects.csv` and `proxy_targets.csv` when the report has any.
pub fn write_dir(r: &Report, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    if r.objects.is_some() {
        super::write_atomic_with(&dir.join(OBJECTS_FILE), |w| objects(r, w))?;
    }
    if !r.proxy_targets.is_empty() {
        super::write_atomic_with(&dir.join(PROXY_TARGETS_FILE), |w| proxy_targets(r, w))?;
    }
    super::write_atomic_with(&dir.join("services.csv"), |w| services(r, w))?;
    super::write_atomic_with(&dir.join("endpoints.csv"), |w| endpoints(r, w))?;
    super::write_atomic_with(&dir.join("conversations.csv"), |w| conversations(r, w))?;
    super::write_atomic_with(&dir.join("names.csv"), |w| names(r, w))
}

/// A cell: inert in a spreadsheet and on a screen.
fn cell(s: &str) -> String {
    let s = escape::terminal(s);
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s,
    }
}

fn writer(w: &mut dyn Write) -> std::io::Result<::csv::Writer<&mut dyn Write>> {
    w.write_all("\u{feff}".as_bytes())?;
    Ok(::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(w))
}

fn io(e: ::csv::Error) -> std::io::Error {
    std::io::Error::other(e)
}

/// Provider, model, confidence, source, region, city, confidence, source, ASN,
/// organisation, country of an address, or empty cells.
fn attribution_cells(a: Option<&Attribution>) -> [String; 11] {
    let Some(a) = a else {
        return Default::default();
    };
    let conf = |c: Option<crate::model::Confidence>| {
        c.map(|c| format!("{c:?}").to_lowercase())
            .unwrap_or_default()
    };
    let src = |p: &Option<crate::model::Provenance>| {
        p.as_ref().map(|p| cell(&p.source)).unwrap_or_default()
    };
    let p = &a.provider;
    let g = &a.region;
    [
        cell(p.display_name().unwrap_or("")),
        cell(p.service_model.as_deref().unwrap_or("")),
        conf(p.confidence),
        src(&p.source),
        cell(g.id.as_deref().unwrap_or("")),
        cell(g.city.as_deref().unwrap_or("")),
        conf(g.confidence),
        src(&g.source),
        a.asn.number.map(|n| n.to_string()).unwrap_or_default(),
        cell(a.asn.organization.as_deref().unwrap_or("")),
        cell(a.country.code.as_deref().unwrap_or("")),
    ]
}

const ATTRIBUTION_HEADER: [&str; 11] = [
    "provider",
    "service_model",
    "provider_confidence",
    "provider_source",
    "region",
    "region_city",
    "region_confidence",
    "region_source",
    "asn",
    "asn_organization",
    "country",
];

fn frames(f: &crate::services::FrameList) -> String {
    f.iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn services(r: &Report, w: &mut dyn Write) -> std::io::Result<()> {
    let mut c = writer(w)?;
    let mut header = vec![
        "rank",
        "scope",
        "service",
        "role",
        "endpoints",
        "bytes_to_server",
        "bytes_to_client",
        "first_seen",
        "last_seen",
        "duration_s",
    ];
    header.extend(ATTRIBUTION_HEADER);
    header.extend(["names", "evidence_frames", "wireshark_filter"]);
    c.write_record(&header).map_err(io)?;
    let groups: [(&str, Box<dyn Iterator<Item = ServiceReport>>); 2] = [
        ("", Box::new(r.services.internet())),
        ("L", Box::new(r.services.local())),
    ];
    for (mark, list) in groups {
        for (i, sr) in list.enumerate() {
            let s = &sr.service;
            let mut row = vec![
                format!("{mark}{}", i + 1),
                s.scope.as_str().to_string(),
                cell(&s.label),
                s.role.unwrap_or("").to_string(),
                s.endpoints
                    .iter()
                    .map(|e| e.socket())
                    .collect::<Vec<_>>()
                    .join(" "),
                s.bytes_to_server.to_string(),
                s.bytes_to_client.to_string(),
                s.first_seen.to_string(),
                s.last_seen.to_string(),
                format!("{:.6}", s.duration),
            ];
            row.extend(attribution_cells(sr.first_attribution()));
            row.push(
                s.hostnames
                    .iter()
                    .map(|h| cell(&h.name))
                    .collect::<Vec<_>>()
                    .join(" "),
            );
            row.push(frames(&s.frames));
            row.push(s.wireshark_filter().to_string());
            c.write_record(&row).map_err(io)?;
        }
    }
    if let Some(f) = r.services.failure() {
        return Err(std::io::Error::other(f));
    }
    c.flush()
}

fn endpoints(r: &Report, w: &mut dyn Write) -> std::io::Result<()> {
    let mut c = writer(w)?;
    let mut header = vec![
        "capture",
        "address",
        "scope",
        "frames",
        "bytes",
        "tx_frames",
        "tx_bytes",
        "rx_frames",
        "rx_bytes",
        "first_seen",
        "last_seen",
    ];
    header.extend(ATTRIBUTION_HEADER);
    c.write_record(&header).map_err(io)?;
    for e in r.endpoints.iter() {
        let mut row = vec![
            e.capture.to_string(),
            e.ip.to_string(),
            crate::model::address_scope(e.ip).0.as_str().to_string(),
            e.frames.to_string(),
            e.bytes.to_string(),
            e.tx_frames.to_string(),
            e.tx_bytes.to_string(),
            e.rx_frames.to_string(),
            e.rx_bytes.to_string(),
            e.first_seen.map(|t| t.to_string()).unwrap_or_default(),
            e.last_seen.map(|t| t.to_string()).unwrap_or_default(),
        ];
        row.extend(attribution_cells(e.attribution));
        c.write_record(&row).map_err(io)?;
    }
    c.flush()
}

/// The servers the client named by address to a proxy (or that a PROXY header
/// names), one row per capture, address, port and proxy, with their attribution.
fn proxy_targets(r: &Report, w: &mut dyn Write) -> std::io::Result<()> {
    let mut c = writer(w)?;
    let mut header = vec![
        "capture",
        "address",
        "port",
        "scope",
        "proxy",
        "protocols",
        "transport",
        "requests",
        "granted",
        "refused",
        "first_seen",
        "last_seen",
        "request_frames",
    ];
    header.extend(ATTRIBUTION_HEADER);
    c.write_record(&header).map_err(io)?;
    for t in r.proxy_targets.iter() {
        let p = t.target;
        let mut row = vec![
            p.capture.to_string(),
            p.ip.to_string(),
            p.port.to_string(),
            t.scope.as_str().to_string(),
            p.proxy.to_string(),
            p.protocols.join(" "),
            p.transport.as_str().to_string(),
            p.requests.to_string(),
            p.granted.to_string(),
            p.refused.to_string(),
            p.first_seen.to_string(),
            p.last_seen.to_string(),
            p.frames
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        ];
        row.extend(attribution_cells(t.attribution));
        c.write_record(&row).map_err(io)?;
    }
    c.flush()
}

fn conversations(r: &Report, w: &mut dyn Write) -> std::io::Result<()> {
    let mut c = writer(w)?;
    c.write_record([
        "capture",
        "transport",
        "a",
        "b",
        "frames_a_to_b",
        "bytes_a_to_b",
        "frames_b_to_a",
        "bytes_b_to_a",
        "frames",
        "bytes",
        "first_seen",
        "last_seen",
        "duration_s",
        "first_frame",
    ])
    .map_err(io)?;
    for v in r.conversations.iter() {
        c.write_record([
            v.capture.to_string(),
            v.transport.to_string(),
            v.a.to_string(),
            v.b.to_string(),
            v.frames_a_to_b.to_string(),
            v.bytes_a_to_b.to_string(),
            v.frames_b_to_a.to_string(),
            v.bytes_b_to_a.to_string(),
            v.frames.to_string(),
            v.bytes.to_string(),
            v.first_seen.to_string(),
            v.last_seen.to_string(),
            format!("{:.6}", v.duration),
            v.first_frame.to_string(),
        ])
        .map_err(io)?;
    }
    if let Some(f) = r.conversations.failure() {
        return Err(std::io::Error::other(f));
    }
    c.flush()
}

fn objects(r: &Report, w: &mut dyn Write) -> std::io::Result<()> {
    let mut c = writer(w)?;
    c.write_record([
        "id",
        "capture",
        "url",
        "method",
        "status",
        "content_type",
        "content_encoding",
        "size",
        "sha256",
        "wire_size",
        "wire_sha256",
        "range",
        "complete",
        "problems",
        "first_frame",
        "last_frame",
        "frames_total",
        "client",
        "server",
        "file",
        "parts",
    ])
    .map_err(io)?;
    for o in r.objects.iter().flatten() {
        let join = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
        c.write_record([
            o.id.to_string(),
            o.capture.to_string(),
            cell(&o.url),
            cell(&o.method),
            o.status.to_string(),
            cell(o.content_type.as_deref().unwrap_or("")),
            cell(o.content_encoding.as_deref().unwrap_or("")),
            o.size.to_string(),
            o.sha256.clone(),
            o.wire_size.to_string(),
            o.wire_sha256.clone(),
            o.range
                .as_ref()
                .map(|r| {
                    format!(
                        "{}-{}/{}",
                        r.first,
                        r.last,
                        r.total.map_or("*".to_string(), |t| t.to_string())
                    )
                })
                .unwrap_or_default(),
            o.complete.to_string(),
            cell(&o.problems.join("; ")),
            o.first_frame.to_string(),
            o.last_frame.to_string(),
            o.frames_total.to_string(),
            o.client.clone(),
            o.server.clone(),
            cell(o.file.as_deref().unwrap_or("")),
            join(&o.parts),
        ])
        .map_err(io)?;
    }
    c.flush()
}

fn names(r: &Report, w: &mut dyn Write) -> std::io::Result<()> {
    let mut c = writer(w)?;
    c.write_record([
        "name",
        "service",
        "addresses",
        "sources",
        "strength",
        "frames",
    ])
    .map_err(io)?;
    let mut rows = Vec::new();
    for sr in r.services.iter() {
        let s = &sr.service;
        for h in &s.hostnames {
            let ips: Vec<String> = h.addresses.iter().map(|ip| ip.to_string()).collect();
            rows.push([
                cell(&h.name),
                cell(&s.label),
                ips.join(" "),
                h.sources
                    .iter()
                    .map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                format!("{:?}", h.strength).to_lowercase(),
                frames(&h.frames),
            ]);
        }
    }
    if let Some(f) = r.services.failure() {
        return Err(std::io::Error::other(f));
    }
    rows.sort();
    for row in rows {
        c.write_record(&row).map_err(io)?;
    }
    c.flush()
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_cannot_become_formulas_or_reorder_text() {
        assert_eq!(
            cell("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-1"), "'-1");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("a\u{202e}b\u{1b}[31m"), "a\\u{202e}b\\x1b[31m");
        assert_eq!(cell("阿里云"), "阿里云");
    }
}
