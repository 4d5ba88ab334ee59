//! The comparison table for people: a small HTML page of its own (no script; inline
//! style; a Content-Security-Policy forbidding every load), every name escaped.

use super::MatchResult;
use crate::report::escape::html;
use std::fmt::Write;

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:1.5em;color:#111}\
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.6em}\
table{border-collapse:collapse;margin:.6em 0;max-width:100%}\
th,td{border:1px solid #bbb;padding:.25em .5em;text-align:left;vertical-align:top}\
td.n{text-align:right}code{font:12px ui-monospace,monospace;word-break:break-all}\
.same{background:#e6f4e6}.near{background:#fff6d9}.gone{background:#fbe3e3}\
@media print{body{margin:0}}";

/// The page. `report` and `report_sha256` name the report compared.
pub fn page(r: &MatchResult, report: &str, report_sha256: &str) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; \
base-uri 'none'; form-action 'none'\">\n<title>Comparison with the originals</title>\n\
<style>{STYLE}</style>\n</head>\n<body>\n<h1>Comparison with the originals</h1>\n\
<p>Report <code>{}</code>, SHA-256 <code>{}</code>. Identical: same SHA-256. Similar: at least \
{:.0}% of the original's bytes found in the served file (content-defined chunks).</p>\n",
        html(report),
        html(report_sha256),
        r.threshold * 100.0
    );
    o.push_str(
        "<h2>Packages</h2>\n<table>\n<tr><th>original</th><th>SHA-256</th><th>files</th>\
<th>identical</th><th>similar</th><th>missing</th><th>added</th><th>objects</th></tr>\n",
    );
    for p in &r.packages {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td><code>{}</code></td><td class=n>{}</td><td class=\"n same\">{}</td>\
<td class=\"n near\">{}</td><td class=\"n gone\">{}</td><td class=n>{}</td><td>{}</td></tr>",
            html(&p.package),
            html(&p.sha256),
            p.files,
            p.identical,
            p.similar,
            p.missing,
            p.added,
            p.objects
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    o.push_str(
        "</table>\n<h2>Files found</h2>\n<table>\n<tr><th>original</th><th>original SHA-256</th>\
<th>served (object, URL, entry, server, frames)</th><th>served SHA-256</th><th>result</th></tr>\n",
    );
    for m in &r.matches {
        let d = &m.object;
        let frames = match (d.first_frame, d.last_frame) {
            (Some(a), Some(b)) => format!("frames {a}-{b}"),
            _ => String::new(),
        };
        let (class, how) = if m.method == "sha256" {
            ("same", "identical".to_string())
        } else {
            ("near", format!("similar {:.1}%", m.share * 100.0))
        };
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td><code>{}</code></td><td>#{} {} {} {} {}</td><td><code>{}</code></td>\
<td class={class}>{how}</td></tr>",
            html(&m.original.path),
            html(&m.original.sha256),
            d.id,
            html(d.url.as_deref().unwrap_or("")),
            html(d.entry.as_deref().unwrap_or("")),
            html(d.server.as_deref().unwrap_or("")),
            frames,
            html(&d.sha256),
        );
    }
    o.push_str("</table>\n");
    let missing: Vec<_> = r.packages.iter().flat_map(|p| &p.missing_files).collect();
    let added: Vec<_> = r.packages.iter().flat_map(|p| &p.added_files).collect();
    if !missing.is_empty() {
        o.push_str("<h2>Missing</h2>\n<table>\n<tr><th>original</th><th>SHA-256</th><th>best share found</th></tr>\n");
        for m in missing {
            let _ = writeln!(
                o,
                "<tr class=gone><td>{}</td><td><code>{}</code></td><td class=n>{:.1}%</td></tr>",
                html(&m.path),
                html(&m.sha256),
                m.best_share * 100.0
            );
        }
        o.push_str("</table>\n");
    }
    if !added.is_empty() {
        o.push_str("<h2>Added by the served copy</h2>\n<table>\n<tr><th>object</th><th>entry</th><th>size</th><th>SHA-256</th></tr>\n");
        for a in added {
            let _ = writeln!(
                o,
                "<tr><td class=n>#{}</td><td>{}</td><td class=n>{}</td><td><code>{}</code></td></tr>",
                a.object,
                html(&a.entry),
                a.size,
                html(&a.sha256)
            );
        }
        o.push_str("</table>\n");
    }
    o.push_str("</body>\n</html>\n");
    o
}
