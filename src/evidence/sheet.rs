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
    pub lang: Lang,
}

/// The sheet's language: Chinese then English (the default), or one of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    Both,
    Zh,
    En,
}

impl Lang {
    /// `zh-CN+en`, `zh-CN` or `en`.
    pub fn parse(s: &str) -> Option<Lang> {
        match s.to_ascii_lowercase().as_str() {
            "zh-cn+en" | "both" => Some(Lang::Both),
            "zh-cn" | "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// A text in this language (both: Chinese, then English).
    fn t(self, zh: &str, en: &str) -> String {
        match self {
            Lang::Both => format!("{zh} {en}"),
            Lang::Zh => zh.to_string(),
            // Headings pair as "案件 / Case"; alone, English needs no slash.
            Lang::En => en.trim_start_matches("/ ").to_string(),
        }
    }
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
/// files themselves, or taken from `known`), in UTC and in the case's time zone.
pub(crate) fn capture_period(
    dir: &std::path::Path,
    m: &Manifest,
    offset: time::UtcOffset,
    known: &std::collections::BTreeMap<String, (crate::model::Timestamp, crate::model::Timestamp)>,
) -> Option<Period> {
    let mut span: Option<(crate::model::Timestamp, crate::model::Timestamp)> = None;
    for f in m.files.iter().filter(|f| f.path.starts_with("captures/")) {
        // Spans the verification before a seal read already; the others read now.
        let found = match known.get(&f.path) {
            Some(s) => Some(*s),
            None => super::verify::packet_span(&dir.join(&f.path)),
        };
        if let Some((a, b)) = found {
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
        let none = || self.lang.t("（无）", "(none)");
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
                    "UTC {} — {}; {} {} — {} ({})",
                    p.start_utc,
                    p.end_utc,
                    self.lang.t("本地", "local"),
                    p.start_local,
                    p.end_local,
                    self.lang.t("抓包文件中首个与最后一个数据包", p.basis)
                ),
            ),
            None => row(
                "取证时间段",
                "Capture period",
                self.lang
                    .t("（无抓包记录）", "no capture recorded in this case"),
            ),
        });
        rows.extend(self.extra.iter().map(|(k, v)| {
            // The rows a session and the notices add, each under its Chinese name.
            let zh = match k.as_str() {
                "Session start time-stamp" => "会话开始时间戳",
                "Notice sent" => "已发送通知",
                "Provider answer" => "服务商答复",
                "Notice sent after this seal" => "本次封存后发送的通知",
                "Provider answer after this seal" => "本次封存后收到的服务商答复",
                _ => "会话",
            };
            row(zh, k, v.clone())
        }));
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
                    Some(a) => format!("{}: chains to {a}", self.lang.t("可信", "trusted")),
                    None => self.lang.t(
                        "未验证信任（无可信根）",
                        "NOT trusted: the TSA leads to no trust anchor",
                    ),
                }
            ),
            None => format!(
                "{} (timestamps/manifest-v{v}.tsq over timestamps/seal-v{v}.json){}; {}",
                self.lang.t("已生成请求", "request written"),
                self.tsa_url
                    .map(|u| format!(", sent to {u}"))
                    .unwrap_or_default(),
                self.lang.t(
                    "本表生成时尚无回执",
                    "no reply in the case when this sheet was written"
                )
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

fn md(s: &str) -> String {
    crate::report::escape::markdown_readable(s)
}

fn esc(s: &str) -> String {
    crate::report::escape::html(s)
}

pub fn markdown(s: &Sheet<'_>) -> String {
    let mut o = String::new();
    let l = s.lang;
    let intro = match l {
        Lang::Both => format!("{INTRO_ZH}\n\n{INTRO_EN}"),
        Lang::Zh => INTRO_ZH.to_string(),
        Lang::En => INTRO_EN.to_string(),
    };
    let _ = writeln!(
        o,
        "# {}: {}\n\n{intro}\n",
        l.t("证据摘要表", "Evidence summary"),
        md(&s.info.id)
    );
    for (title, rows) in [
        (l.t("案件", "/ Case"), s.case_rows()),
        (l.t("封存", "/ Seal"), s.seal_rows()),
    ] {
        let _ = writeln!(
            o,
            "## {title}\n\n| {} | {} |\n|---|---|",
            l.t("项目", "Item"),
            l.t("内容", "Value")
        );
        for r in rows {
            let _ = writeln!(o, "| {} | {} |", md(&l.t(r.zh, &r.en)), md(&r.value));
        }
        o.push('\n');
    }
    let _ = writeln!(
        o,
        "## {}\n\n| # | {} | {} | SHA-256 | SM3 |\n|---|---|---|---|---|",
        l.t("文件", "/ Files"),
        l.t("文件", "File"),
        l.t("大小（字节）", "Size (bytes)")
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
    let _ = writeln!(
        o,
        "\n## {}\n\n```sh",
        l.t(COMMANDS_ZH, &format!("/ {COMMANDS_EN}"))
    );
    for c in s.commands() {
        let _ = writeln!(o, "{c}");
    }
    let _ = writeln!(o, "```\n\n## {}\n", l.t("签名", "/ Signatures"));
    for (zh, en) in SIGN {
        let _ = writeln!(
            o,
            "{}: ______________________    {}: ____________    {}: ____________\n",
            l.t(zh, en),
            l.t("（盖章）", "Seal"),
            l.t("日期", "Date")
        );
    }
    o
}

pub fn html(s: &Sheet<'_>) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}: {}</title>\n\
         <style>@page{{size:A4;margin:15mm}}body{{font-family:\"Noto Serif CJK SC\",\"Source Han Serif SC\",SimSun,serif;margin:1.5em;font-size:10.5pt}}\
         table{{border-collapse:collapse;width:100%;margin-bottom:1em}}\
         td,th{{border:1px solid #444;padding:3px 5px;text-align:left;vertical-align:top}}\
         th{{width:30%}}code,pre{{font-family:monospace;word-break:break-all;white-space:pre-wrap;font-size:8.5pt}}\
         .en{{color:#333;font-weight:normal}}.sign{{display:flex;gap:2em;margin-top:2em}}\
         .sign div{{flex:1}}.blank{{display:block;border-bottom:1px solid #000;height:2.2em}}.tall{{height:6em}}\
         @media print{{body{{margin:0}}}}</style></head><body>\n",
        if s.lang == Lang::En { "en" } else { "zh-CN" },
        s.lang.t("证据摘要表", "Evidence summary"),
        esc(&s.info.id)
    );
    let l = s.lang;
    // Chinese text as is, English in a lighter face; one of them alone as is.
    let h = |zh: &str, en: &str| match l {
        Lang::Both => format!("{zh} <span class=\"en\">{en}</span>"),
        Lang::Zh => zh.to_string(),
        Lang::En => en.trim_start_matches("/ ").to_string(),
    };
    let _ = writeln!(
        o,
        "<h1>{}: {}</h1>",
        h("证据摘要表", "Evidence summary"),
        esc(&s.info.id)
    );
    if l != Lang::En {
        let _ = writeln!(o, "<p>{INTRO_ZH}</p>");
    }
    if l != Lang::Zh {
        let _ = writeln!(o, "<p class=\"en\">{INTRO_EN}</p>");
    }
    for (zh, en, rows) in [
        ("案件", "/ Case", s.case_rows()),
        ("封存", "/ Seal", s.seal_rows()),
    ] {
        let _ = writeln!(o, "<h2>{}</h2>\n<table>", h(zh, en));
        for r in rows {
            let _ = writeln!(
                o,
                "<tr><th>{}</th><td><code>{}</code></td></tr>",
                h(r.zh, &esc(&r.en)),
                esc(&r.value)
            );
        }
        let _ = writeln!(o, "</table>");
    }
    let _ = writeln!(
        o,
        "<h2>{}</h2>\n<table>\n<tr><th style=\"width:auto\">#</th><th style=\"width:auto\">{}</th><th style=\"width:auto\">{}</th><th style=\"width:auto\">SHA-256</th><th style=\"width:auto\">SM3</th></tr>",
        h("文件", "/ Files"),
        h("文件", "File"),
        h("大小（字节）", "Size (bytes)")
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
        "</table>\n<h2>{}</h2>\n<pre>",
        h(COMMANDS_ZH, &format!("/ {COMMANDS_EN}"))
    );
    for c in s.commands() {
        let _ = writeln!(o, "{}", esc(&c));
    }
    let _ = writeln!(
        o,
        "</pre>\n<h2>{}</h2>\n<div class=\"sign\">",
        h("签名", "/ Signatures")
    );
    for (zh, en) in SIGN {
        let _ = writeln!(
            o,
            "<div><p>{}<span class=\"blank\"></span></p><p>{}<span class=\"blank tall\"></span></p><p>{}<span class=\"blank\"></span></p></div>",
            h(zh, en),
            h("（盖章）", "Seal"),
            h("日期", "Date")
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
            lang: Lang::Both,
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
