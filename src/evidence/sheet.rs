//! The notary summary sheet: case data, every file with size, SHA-256 and SM3, the
//! manifest hash and the time-stamp status, as Markdown and as printable HTML (no
//! external resources), so a notary can copy the hashes into the certificate.
//!
//! Contract: every value from the case (names, titles, paths) is escaped for the
//! output format; rendering cannot fail.

use super::info::CaseInfo;
use super::manifest::Manifest;
use super::tsp::TokenInfo;
use std::fmt::Write;

pub struct Sheet<'a> {
    pub info: &'a CaseInfo,
    pub manifest: &'a Manifest,
    pub manifest_path: &'a str,
    pub manifest_sha256: &'a str,
    pub manifest_sm3: &'a str,
    pub timestamp: Option<&'a TokenInfo>,
    /// More rows after the case's (a session's start and its time-stamp, say).
    pub extra: &'a [(String, String)],
}

impl Sheet<'_> {
    fn case_rows(&self) -> Vec<(&str, String)> {
        let i = self.info;
        let mut rows = vec![
            ("Case", i.id.clone()),
            ("Title", i.title.clone()),
            ("Rights holder", i.rights_holder.clone()),
            ("Operator", i.operator.clone()),
            (
                "Notary",
                i.notary.clone().unwrap_or_else(|| "(none)".into()),
            ),
            (
                "Notarial certificate",
                i.notary_certificate
                    .clone()
                    .unwrap_or_else(|| "(none)".into()),
            ),
            ("Time zone", i.time_zone.clone()),
            (
                "Manifest",
                format!("{} (version {})", self.manifest_path, self.manifest.version),
            ),
            ("Manifest created (UTC)", self.manifest.created_utc.clone()),
            ("Manifest SHA-256", self.manifest_sha256.to_string()),
            ("Manifest SM3", self.manifest_sm3.to_string()),
            ("RFC 3161 time-stamp", self.timestamp_text()),
        ];
        rows.extend(self.extra.iter().map(|(k, v)| (k.as_str(), v.clone())));
        rows
    }

    fn timestamp_text(&self) -> String {
        match self.timestamp {
            Some(t) => format!(
                "genTime {}, serial {}, policy {}, over the manifest SHA-256",
                t.gen_time, t.serial, t.policy
            ),
            None => format!(
                "request written (timestamps/manifest-v{}.tsq); no reply recorded yet",
                self.manifest.version
            ),
        }
    }
}

/// Escapes Markdown's inline punctuation and table separators.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub fn markdown(s: &Sheet<'_>) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Evidence summary: {}\n", md(&s.info.id));
    let _ = writeln!(o, "| | |\n|---|---|");
    for (k, v) in s.case_rows() {
        let _ = writeln!(o, "| {k} | {} |", md(&v));
    }
    let _ = writeln!(o, "\n## Files\n");
    let _ = writeln!(
        o,
        "| # | File | Size (bytes) | SHA-256 | SM3 |\n|---|---|---|---|---|"
    );
    for (n, f) in s.manifest.files.iter().enumerate() {
        let _ = writeln!(
            o,
            "| {} | {} | {} | `{}` | `{}` |",
            n + 1,
            md(&f.path),
            f.digests.size,
            f.digests.sha256.as_deref().unwrap_or("-"),
            f.digests.sm3.as_deref().unwrap_or("-")
        );
    }
    let _ = writeln!(
        o,
        "\nCheck with `whohosts verify <case directory>`; a single file with \
         `whohosts verify FILE --sha256 HEX --sm3 HEX`, or independently with \
         `openssl dgst -sha256 FILE` and `openssl dgst -sm3 FILE`; the time-stamp with \
         `openssl ts -verify -data {} -in timestamps/manifest-v{}.tsr -CAfile TSA-CA.pem`.",
        s.manifest_path, s.manifest.version
    );
    o
}

pub fn html(s: &Sheet<'_>) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Evidence summary: {}</title>\n\
         <style>body{{font-family:serif;margin:2em}}table{{border-collapse:collapse;width:100%}}\
         td,th{{border:1px solid #444;padding:4px;text-align:left;vertical-align:top}}\
         code{{font-family:monospace;word-break:break-all;font-size:9pt}}\
         @media print{{body{{margin:0}}}}</style></head><body>\n",
        esc(&s.info.id)
    );
    let _ = writeln!(o, "<h1>Evidence summary: {}</h1>\n<table>", esc(&s.info.id));
    for (k, v) in s.case_rows() {
        let _ = writeln!(o, "<tr><th>{k}</th><td><code>{}</code></td></tr>", esc(&v));
    }
    let _ = writeln!(
        o,
        "</table>\n<h2>Files</h2>\n<table>\n<tr><th>#</th><th>File</th><th>Size (bytes)</th>\
         <th>SHA-256</th><th>SM3</th></tr>"
    );
    for (n, f) in s.manifest.files.iter().enumerate() {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
            n + 1,
            esc(&f.path),
            f.digests.size,
            esc(f.digests.sha256.as_deref().unwrap_or("-")),
            esc(f.digests.sm3.as_deref().unwrap_or("-"))
        );
    }
    let _ = writeln!(
        o,
        "</table>\n<p>Check with <code>whohosts verify &lt;case directory&gt;</code>.</p>\n</body></html>"
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::manifest::{CustodyHead, ManifestFile};
    use crate::hash::Digests;

    #[test]
    fn hostile_names_are_escaped_in_both_formats() {
        let info = CaseInfo {
            format: "f".into(),
            id: "<script>alert(1)</script>".into(),
            title: "a|b".into(),
            rights_holder: "R & Co".into(),
            operator: "o".into(),
            notary: None,
            notary_certificate: None,
            time_zone: "+08:00".into(),
            created_utc: "t".into(),
        };
        let m = Manifest {
            format: "f".into(),
            case_id: "c".into(),
            version: 1,
            created_utc: "t".into(),
            custody_head: CustodyHead {
                seq: 1,
                sha256: "00".into(),
            },
            files: vec![ManifestFile {
                path: "captures/<b>.pcap".into(),
                digests: Digests {
                    size: 3,
                    sha256: Some("ab".into()),
                    sm3: Some("cd".into()),
                    ..Default::default()
                },
            }],
        };
        let sheet = Sheet {
            info: &info,
            manifest: &m,
            manifest_path: "manifests/manifest-v1.json",
            manifest_sha256: "ee",
            manifest_sm3: "ff",
            timestamp: None,
            extra: &[("Session".into(), "1: started by <i>x</i>".into())],
        };
        let h = html(&sheet);
        assert!(
            h.contains("&lt;i&gt;x&lt;/i&gt;"),
            "extra rows are escaped too"
        );
        assert!(!h.contains("<script>") && h.contains("&lt;script&gt;"));
        assert!(h.contains("captures/&lt;b&gt;.pcap") && h.contains("R &amp; Co"));
        assert!(!h.contains("http"), "no external resources");
        let m = markdown(&sheet);
        assert!(m.contains("a\\|b") && m.contains("captures/\\<b\\>.pcap"));
        assert!(m.contains("| 1 | captures/\\<b\\>.pcap | 3 | `ab` | `cd` |"));
    }
}
