//! The notary summary sheet: Chinese first, English after, as Markdown and as
//! printable A4 HTML (no external resources) saying the same thing: the case, the
//! capture period in UTC and local time, every file with size, SHA-256 and SM3, the
//! manifest hash, the custody head to write into the notarial certificate, the
//! time-stamp with its TSA and whether that TSA is trusted, the whohosts version and
//! binary hash, the commands that check each value with `openssl` alone, and places
//! for the operator's and the notary's signatures and seals.
//!
//! Contract: every value from the case (names, titles, paths) is escaped for the
//! output format; rendering cannot fail.

use super::environment::Tool;
use super::info::CaseInfo;
use super::manifest::{CustodyHead, Manifest};
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
    /// The seal's custody line: the value to write into the certificate.
    pub custody_head: &'a CustodyHead,
    /// The TSA asked at sealing.
    pub tsa_url: Option<&'a str>,
    pub capture_period: Option<Period>,
    pub tool: Tool,
}

/// The time span of a case's captures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    pub start_utc: String,
    pub start_local: String,
    pub end_utc: String,
    pub end_local: String,
    /// Where the times come from.
    pub basis: &'static str,
}

/// The capture period: the first and last packet of the case's captures (read from the
/// files themselves), in UTC and in the case's time zone.
pub fn capture_period(
    dir: &std::path::Path,
    m: &Manifest,
    offset: time::UtcOffset,
) -> Option<Period> {
    let mut span: Option<(crate::model::Timestamp, crate::model::Timestamp)> = None;
    for f in m.files.iter().filter(|f| f.path.starts_with("captures/")) {
        if let Some((a, b)) = super::verify::packet_span(&dir.join(&f.path)) {
            span = Some(match span {
                Some((x, y)) => (x.min(a), y.max(b)),
                None => (a, b),
            });
        }
    }
    let (first, last) = span?;
    let at = |t: crate::model::Timestamp| {
        let dt = time::OffsetDateTime::from_unix_timestamp(t.secs)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
            .replace_nanosecond(t.nanos)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        super::Now::at(dt, offset)
    };
    let (a, b) = (at(first), at(last));
    Some(Period {
        start_utc: a.utc,
        start_local: a.local,
        end_utc: b.utc,
        end_local: b.local,
        basis: "first and last packet of the captures",
    })
}

/// One labelled value, in both languages.
struct Row {
    zh: &'static str,
    en: String,
    value: String,
}

fn row(zh: &'static str, en: &str, value: impl Into<String>) -> Row {
    Row {
        zh,
        en: en.to_string(),
        value: value.into(),
    }
}

impl Sheet<'_> {
    fn case_rows(&self) -> Vec<Row> {
        let i = self.info;
        let none = || "（无）(none)".to_string();
        let mut rows = vec![
            row("案件编号", "Case", i.id.clone()),
            row("案件名称", "Title", i.title.clone()),
            row("权利人", "Rights holder", i.rights_holder.clone()),
            row("操作人", "Operator", i.operator.clone()),
            row("公证机构", "Notary", i.notary.clone().unwrap_or_else(none)),
            row(
                "公证书编号",
                "Notarial certificate",
                i.notary_certificate.clone().unwrap_or_else(none),
            ),
            row("时区", "Time zone", i.time_zone.clone()),
        ];
        rows.push(match &self.capture_period {
            Some(p) => row(
                "取证时间段",
                "Capture period",
                format!(
                    "UTC {} — {}; 本地 local {} — {} ({})",
                    p.start_utc, p.end_utc, p.start_local, p.end_local, p.basis
                ),
            ),
            None => row(
                "取证时间段",
                "Capture period",
                "（无抓包记录）no capture recorded in this case",
            ),
        });
        rows.extend(self.extra.iter().map(|(k, v)| row("会话", k, v.clone())));
        rows
    }

    fn seal_rows(&self) -> Vec<Row> {
        vec![
            row(
                "清单文件",
                "Manifest",
                format!("{} (version {})", self.manifest_path, self.manifest.version),
            ),
            row(
                "清单生成时间 (UTC)",
                "Manifest created (UTC)",
                self.manifest.created_utc.clone(),
            ),
            row("清单 SHA-256", "Manifest SHA-256", self.manifest_sha256),
            row("清单 SM3", "Manifest SM3", self.manifest_sm3),
            row(
                "保管记录头（请写入公证书）",
                "Custody head (write this into the notarial certificate)",
                format!(
                    "custody.jsonl line {}: sha256 {}",
                    self.custody_head.seq, self.custody_head.sha256
                ),
            ),
            row("可信时间戳", "RFC 3161 time-stamp", self.timestamp_text()),
            row(
                "工具版本",
                "whohosts version",
                format!("{} {}", self.tool.name, self.tool.version),
            ),
            row(
                "工具程序 SHA-256",
                "whohosts binary SHA-256",
                self.tool.binary_sha256.display().to_string(),
            ),
        ]
    }

    fn timestamp_text(&self) -> String {
        let v = self.manifest.version;
        match self.timestamp {
            Some(t) => format!(
                "genTime {}; TSA {}; serial {}; policy {}; {}; over timestamps/seal-v{v}.json (manifest and custody head)",
                t.gen_time,
                t.tsa.as_ref().map_or_else(|| "?".into(), |n| n.to_string()),
                t.serial,
                t.policy,
                match &t.trusted {
                    Some(a) => format!("可信 trusted: chains to {a}"),
                    None => "未验证信任 NOT trusted: the TSA leads to no trust anchor".into(),
                }
            ),
            None => format!(
                "已生成请求 request written (timestamps/manifest-v{v}.tsq over timestamps/seal-v{v}.json){}; 尚无回执 no reply in the case when this sheet was written",
                self.tsa_url
                    .map(|u| format!(", sent to {u}"))
                    .unwrap_or_default()
            ),
        }
    }

    fn commands(&self) -> Vec<String> {
        let v = self.manifest.version;
        vec![
            "openssl dgst -sha256 FILE".into(),
            "openssl dgst -sm3 FILE".into(),
            format!("openssl dgst -sha256 {}", self.manifest_path),
            format!(
                "sed -n '{}p' custody.jsonl | tr -d '\\n' | openssl dgst -sha256",
                self.custody_head.seq
            ),
            format!(
                "openssl ts -verify -data timestamps/seal-v{v}.json -in timestamps/manifest-v{v}.tsr -CAfile TSA-CA.pem -untrusted TSA.pem"
            ),
            "whohosts verify CASE --anchor CUSTODY-HEAD".into(),
        ]
    }
}

const INTRO_ZH: &str = "本表列出证据包中每个文件的大小、SHA-256 与 SM3 值，清单哈希、保管记录头与可信时间戳，供公证员核对并写入公证书。";
const INTRO_EN: &str = "This sheet lists every file of the evidence package with its size, SHA-256 and SM3, the manifest hash, the custody head and the time-stamp, for the notary to check and write into the certificate.";
const COMMANDS_ZH: &str = "仅用 openssl 核对（在案件目录中执行）";
const COMMANDS_EN: &str = "Check with openssl alone (run in the case directory)";
const SIGN: [(&str, &str); 2] = [
    ("操作人签名", "Operator's signature"),
    ("公证员签名", "Notary's signature"),
];

/// Escapes Markdown's inline punctuation and table separators, keeping the text
/// readable as plain text (a notary may read the file as it is); control and
/// bidirectional characters are shown as escapes.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '&' => out.push_str("&amp;"),
            c if c.is_control()
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c) =>
            {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn esc(s: &str) -> String {
    crate::report::escape::html(s)
}

pub fn markdown(s: &Sheet<'_>) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# 证据摘要表 Evidence summary: {}\n\n{INTRO_ZH}\n\n{INTRO_EN}\n",
        md(&s.info.id)
    );
    for (title, rows) in [
        ("案件 / Case", s.case_rows()),
        ("封存 / Seal", s.seal_rows()),
    ] {
        let _ = writeln!(o, "## {title}\n\n| 项目 Item | 内容 Value |\n|---|---|");
        for r in rows {
            let _ = writeln!(o, "| {} {} | {} |", r.zh, md(&r.en), md(&r.value));
        }
        o.push('\n');
    }
    let _ = writeln!(
        o,
        "## 文件 / Files\n\n| # | 文件 File | 大小（字节）Size (bytes) | SHA-256 | SM3 |\n|---|---|---|---|---|"
    );
    for (n, f) in s.manifest.files.iter().enumerate() {
        let _ = writeln!(
            o,
            "| {} | {} | {} | `{}` | `{}` |",
            n + 1,
            md(&f.path),
            f.digests.size,
            md(f.digests.sha256.as_deref().unwrap_or("-")),
            md(f.digests.sm3.as_deref().unwrap_or("-"))
        );
    }
    let _ = writeln!(o, "\n## {COMMANDS_ZH} / {COMMANDS_EN}\n\n```sh");
    for c in s.commands() {
        let _ = writeln!(o, "{c}");
    }
    let _ = writeln!(o, "```\n\n## 签名 / Signatures\n");
    for (zh, en) in SIGN {
        let _ = writeln!(
            o,
            "{zh} {en}: ______________________    （盖章）Seal: ____________    日期 Date: ____________\n"
        );
    }
    o
}

pub fn html(s: &Sheet<'_>) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>证据摘要表 Evidence summary: {}</title>\n\
         <style>@page{{size:A4;margin:15mm}}body{{font-family:\"Noto Serif CJK SC\",\"Source Han Serif SC\",SimSun,serif;margin:1.5em;font-size:10.5pt}}\
         table{{border-collapse:collapse;width:100%;margin-bottom:1em}}\
         td,th{{border:1px solid #444;padding:3px 5px;text-align:left;vertical-align:top}}\
         th{{width:30%}}code,pre{{font-family:monospace;word-break:break-all;white-space:pre-wrap;font-size:8.5pt}}\
         .en{{color:#333;font-weight:normal}}.sign{{display:flex;gap:2em;margin-top:2em}}\
         .sign div{{flex:1}}.blank{{display:block;border-bottom:1px solid #000;height:2.2em}}.tall{{height:6em}}\
         @media print{{body{{margin:0}}}}</style></head><body>\n",
        esc(&s.info.id)
    );
    let _ = writeln!(
        o,
        "<h1>证据摘要表 <span class=\"en\">Evidence summary</span>: {}</h1>\n<p>{INTRO_ZH}</p>\n<p class=\"en\">{INTRO_EN}</p>",
        esc(&s.info.id)
    );
    for (zh, en, rows) in [
        ("案件", "Case", s.case_rows()),
        ("封存", "Seal", s.seal_rows()),
    ] {
        let _ = writeln!(o, "<h2>{zh} <span class=\"en\">/ {en}</span></h2>\n<table>");
        for r in rows {
            let _ = writeln!(
                o,
                "<tr><th>{} <span class=\"en\">{}</span></th><td><code>{}</code></td></tr>",
                r.zh,
                esc(&r.en),
                esc(&r.value)
            );
        }
        let _ = writeln!(o, "</table>");
    }
    let _ = writeln!(
        o,
        "<h2>文件 <span class=\"en\">/ Files</span></h2>\n<table>\n<tr><th style=\"width:auto\">#</th><th style=\"width:auto\">文件 File</th><th style=\"width:auto\">大小（字节）Size (bytes)</th><th style=\"width:auto\">SHA-256</th><th style=\"width:auto\">SM3</th></tr>"
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
        "</table>\n<h2>{COMMANDS_ZH} <span class=\"en\">/ {COMMANDS_EN}</span></h2>\n<pre>"
    );
    for c in s.commands() {
        let _ = writeln!(o, "{}", esc(&c));
    }
    let _ = writeln!(
        o,
        "</pre>\n<h2>签名 <span class=\"en\">/ Signatures</span></h2>\n<div class=\"sign\">"
    );
    for (zh, en) in SIGN {
        let _ = writeln!(
            o,
            "<div><p>{zh} <span class=\"en\">{en}</span><span class=\"blank\"></span></p><p>（盖章）<span class=\"en\">Seal</span><span class=\"blank tall\"></span></p><p>日期 <span class=\"en\">Date</span><span class=\"blank\"></span></p></div>"
        );
    }
    let _ = writeln!(o, "</div>\n</body></html>");
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
        let head = CustodyHead {
            seq: 4,
            sha256: "99".into(),
        };
        let sheet = Sheet {
            info: &info,
            manifest: &m,
            manifest_path: "manifests/manifest-v1.json",
            manifest_sha256: "ee",
            manifest_sm3: "ff",
            timestamp: None,
            extra: &[("Session".into(), "1: started by <i>x</i>".into())],
            custody_head: &head,
            tsa_url: None,
            capture_period: None,
            tool: Tool::current(),
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
        assert!(
            m.contains("a\\|b") && m.contains("captures/\\<b\\>.pcap"),
            "{m}"
        );
        assert!(
            m.contains("| 1 | captures/\\<b\\>.pcap | 3 | `ab` | `cd` |"),
            "{m}"
        );
    }
}
