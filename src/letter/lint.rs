//! Completeness checks for a letter, ours or edited by hand: for each required element
//! of the letter's frame, the section its marker opens must exist and must hold the
//! substance the element needs (a phone-like and an email-like value for CN-2, a 64-hex
//! SHA-256 and SM3 and a notarial certificate number for CN-7, "penalty of perjury" for
//! US-6, ...). A section runs from its marker to the next `<!-- whohosts:... -->`
//! comment.
//!
//! The text is read as Markdown or HTML alike: tags are dropped, entities decoded and
//! backslash escapes removed before checking. A value holding [`super::MISSING`] counts
//! as absent. Contract: any text is accepted; a text with no frame marker and no element
//! markers gives a report with `frame: None` and every element of no frame.

use super::elements::{self, Frame};
use super::MISSING;
use regex::Regex;
use serde::Serialize;
use std::sync::LazyLock;

/// A required element a letter lacks, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Missing {
    pub id: String,
    /// The element's short name.
    pub name: String,
    /// The same in Chinese.
    pub name_zh: String,
    /// What was looked for and not found.
    pub why: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LintReport {
    /// The frame checked; `None` when the text names none and none was given.
    pub frame: Option<Frame>,
    pub present: Vec<String>,
    pub missing: Vec<Missing>,
}

impl LintReport {
    pub fn is_complete(&self) -> bool {
        self.frame.is_some() && self.missing.is_empty()
    }
}

static MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"<!--\s*whohosts:(element|letter|end)\b([^>]*?)\s*-->").expect("static regex")
});
static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"<[^>]*>").expect("static regex"));
static BREAK_TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)<br\s*/?>|</(p|li|tr|h[1-6]|div|dd|dt|table|ul|ol|section|header|footer)>")
        .expect("static regex")
});
static CELL_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)</t[dh]>").expect("static regex"));
static ENTITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|lt|gt|amp|quot|apos|nbsp);")
        .expect("static regex")
});
static MD_ESCAPE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\\([!-/:-@\[-`{-~])").expect("static regex"));
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+").expect("static regex")
});
static PHONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\+?\d[\d \-().]{5,}\d").expect("static regex"));
static HEX64: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[0-9a-fA-F]{64}\b").expect("static regex"));
static IP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9a-fA-F]{1,4}(:[0-9a-fA-F]{0,4}){2,7})\b")
        .expect("static regex")
});
static PORT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\|\s*\d{1,5}\s*\||(端口|[Pp]ort)\s*[:：]?\s*\d{1,5}\b)").expect("static regex")
});
static TRANSPORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(tcp|udp)\b").expect("static regex"));
static TIME_TZ: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?\s*(UTC|Z|[+-]\d{2}:\d{2})")
        .expect("static regex")
});

/// Catalogue position of an ID, for sorting.
pub fn order(id: &str) -> usize {
    elements::CATALOGUE
        .iter()
        .position(|e| e.id == id)
        .unwrap_or(usize::MAX)
}

/// Turns Markdown or HTML into the plain text a reader sees, line by line.
fn plain(section: &str) -> String {
    let s = BREAK_TAG.replace_all(section, "\n");
    let s = CELL_TAG.replace_all(&s, " | ");
    let s = TAG.replace_all(&s, "");
    let s = MD_ESCAPE.replace_all(&s, "$1");
    let s = ENTITY.replace_all(&s, |c: &regex::Captures<'_>| {
        let e = c.get(1).map_or("", |m| m.as_str());
        match e {
            "lt" => "<".to_string(),
            "gt" => ">".to_string(),
            "amp" => "&".to_string(),
            "quot" => "\"".to_string(),
            "apos" => "'".to_string(),
            "nbsp" => " ".to_string(),
            _ => {
                let n = if let Some(h) = e.strip_prefix("#x").or_else(|| e.strip_prefix("#X")) {
                    u32::from_str_radix(h, 16).ok()
                } else {
                    e.strip_prefix('#').and_then(|d| d.parse().ok())
                };
                n.and_then(char::from_u32)
                    .map(String::from)
                    .unwrap_or_default()
            }
        }
    });
    s.into_owned()
}

/// A `<!-- whohosts:KIND [ID] [key=value ...] -->` comment and where it sits.
struct Mark {
    start: usize,
    end: usize,
    kind: String,
    id: String,
    attrs: Vec<(String, String)>,
}

struct Section {
    attrs: Vec<(String, String)>,
    text: String,
}

impl Section {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn lower(&self) -> String {
        self.text.to_lowercase()
    }
}

fn attrs(text: &str) -> Vec<(String, String)> {
    text.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

/// The values after `label:` (or `label：`) on every line holding the label.
fn values<'a>(text: &'a str, label: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some(pos) = rest.find(label) {
            let after = rest.get(pos + label.len()..).unwrap_or("");
            let trimmed = after.trim_start();
            if let Some(v) = trimmed
                .strip_prefix(':')
                .or_else(|| trimmed.strip_prefix('：'))
            {
                out.push(v.trim());
                break;
            }
            rest = after;
        }
    }
    out
}

/// Checks `label: value` lines: at least one, each with a value that is not the
/// placeholder and (when given) matches `shape`.
fn need_value(
    s: &Section,
    labels: &[&str],
    shape: Option<(&Regex, &str)>,
    fails: &mut Vec<String>,
) {
    let found: Vec<&str> = labels.iter().flat_map(|l| values(&s.text, l)).collect();
    let label = labels.first().copied().unwrap_or("");
    if found.is_empty() {
        fails.push(format!("no \"{label}:\" line"));
        return;
    }
    for v in found {
        // Only the value's own cell when the line is a table row.
        let v = v.split(" | ").next().unwrap_or(v).trim();
        if v.is_empty() || v.contains(MISSING) || v.chars().count() < 2 {
            fails.push(format!("\"{label}:\" has no value"));
            return;
        }
        if let Some((re, what)) = shape {
            if !re.is_match(v) {
                fails.push(format!("\"{label}:\" holds no {what}"));
                return;
            }
        }
    }
}

fn need_phrase(s: &Section, phrases: &[&str], fails: &mut Vec<String>) {
    let lower = s.lower();
    for p in phrases {
        if !lower.contains(&p.to_lowercase()) {
            fails.push(format!("no statement containing \"{p}\""));
        }
    }
}

/// The location of the content (CN-6, US-3, EU-2). For a cloud server the address,
/// port and time locate it (LEGAL.md CN-6); behind a CDN or on a shared host one
/// address serves many sites, so a domain or URL is needed as well.
fn need_location(s: &Section, letter_model: Option<&str>, fails: &mut Vec<String>) {
    if s.text.contains(MISSING) && !IP.is_match(&s.text) {
        fails.push("no endpoint listed".into());
        return;
    }
    if matches!(letter_model, Some("cdn" | "hosting" | "paas")) {
        let urls: Vec<&str> = ["网址", "位置", "Location", "URL"]
            .iter()
            .flat_map(|l| values(&s.text, l))
            .filter(|v| !v.is_empty() && !v.contains(MISSING))
            .collect();
        if urls.is_empty() {
            fails.push(
                "no domain or URL: behind a CDN or on a shared host the address alone does not locate the content"
                    .into(),
            );
        }
    }
    for (re, what) in [
        (&*IP, "server IP address"),
        (&*PORT, "port"),
        (&*TRANSPORT, "protocol (tcp/udp)"),
        (&*TIME_TZ, "observation time with its time zone"),
    ] {
        if !re.is_match(&s.text) {
            fails.push(format!("no {what}"));
        }
    }
}

/// The addressee of a letter (CN-10, US-7, EU-5): a known address, a channel, one
/// designated for this kind of notice (the delivery marker's `channel`), and a frame
/// that fits the recipient's country (`country`, `eu`).
fn need_addressee(s: &Section, frame: Frame, channel_label: &str, f: &mut Vec<String>) {
    need_value(s, &[channel_label], None, f);
    for label in ["地址", "Address"] {
        for v in values(&s.text, label) {
            let l = v.to_lowercase();
            if l.starts_with("未知") || l.starts_with("unknown") || l.is_empty() {
                f.push(format!(
                    "the recipient's address is unknown (\"{label}: {v}\")"
                ));
            }
        }
    }
    match s.attr("channel") {
        Some("closest") => f.push(
            "the channel is not the one the provider designates for this kind of notice (the closest channel was taken)".into(),
        ),
        Some("none") => f.push("no notice channel of the provider is known".into()),
        _ => {}
    }
    if let Some(country) = s.attr("country") {
        let regions: Vec<String> = match s.attr("eu") {
            Some("yes") => vec!["EU".to_string()],
            _ => Vec::new(),
        };
        // A provider that designates a channel for DSA notices offers its service in
        // the Union (DSA Art. 2(1)); the DSA reaches it wherever it is established.
        let dsa_channel = frame == Frame::Dsa && s.attr("channel") == Some("designated");
        if !dsa_channel && !super::frame_fits(frame, country, &regions) {
            f.push(format!(
                "the {} frame does not fit a recipient in {country}{}",
                frame,
                if frame == Frame::Dsa {
                    " serving no region in the EU: the DSA does not reach it"
                } else {
                    ""
                }
            ));
        }
    }
}

/// Whether the text says the capture was notarised ("经公证", "under notarial
/// supervision", "notarised"), not counting a denial ("未经公证", "not notarised").
pub fn claims_notarisation(text: &str) -> bool {
    let lower = text.to_lowercase();
    let claimed = |needle: &str, denials: &[&str]| {
        lower.match_indices(needle).any(|(i, _)| {
            let before = lower.get(..i).unwrap_or("");
            !denials.iter().any(|d| before.ends_with(d))
        })
    };
    claimed("经公证", &["未"])
        || claimed("公证处监督", &[])
        || claimed("notarial supervision", &[])
        || claimed("notarised", &["not "])
        || claimed("notarized", &["not "])
}

/// The element-specific check: what is missing from a section, empty when complete.
fn check(id: &str, s: &Section, letter_model: Option<&str>, frame: Frame) -> Vec<String> {
    let mut f = Vec::new();
    if let Some(line) = s.text.lines().find(|l| l.contains(MISSING)) {
        f.push(format!("holds {MISSING}: \"{}\"", line.trim()));
    }
    match id {
        "CN-1" => {
            need_value(s, &["权利人名称"], None, &mut f);
            need_value(s, &["身份证明文件"], None, &mut f);
        }
        "CN-2" => {
            need_value(s, &["地址"], None, &mut f);
            need_value(s, &["电话"], Some((&PHONE, "telephone number")), &mut f);
            need_value(s, &["电子邮件"], Some((&EMAIL, "email address")), &mut f);
        }
        "CN-3" => {
            if !s.text.contains("未委托代理人") {
                need_value(s, &["代理人"], None, &mut f);
                need_value(s, &["授权委托"], None, &mut f);
            }
        }
        "CN-4" => need_value(s, &["作品名称"], None, &mut f),
        "CN-5" => need_value(s, &["权属证明"], None, &mut f),
        "CN-6" | "US-3" | "EU-2" => need_location(s, letter_model, &mut f),
        "CN-7" => {
            need_value(s, &["SHA-256"], Some((&HEX64, "64-digit SHA-256")), &mut f);
            need_value(s, &["SM3"], Some((&HEX64, "64-digit SM3")), &mut f);
            need_value(s, &["公证书编号"], None, &mut f);
            if !s.text.contains("与原作品的比对") {
                f.push(
                    "no comparison with the original work (与原作品的比对): give the work's \
                     comparison in the claimant profile, or a `whohosts match` result with \
                     `letter --matches`"
                        .to_string(),
                );
            }
        }
        "CN-8" => {
            let t = &s.text;
            match s.attr("model") {
                Some("iaas") => {
                    for (p, what) in [
                        ("转送", "forwarding to the customer (转送)"),
                        ("日志", "log preservation (日志)"),
                    ] {
                        if !t.contains(p) {
                            f.push(format!("no request for {what}"));
                        }
                    }
                    for p in ["删除", "断开", "屏蔽", "关停", "停止服务"] {
                        if t.contains(p) {
                            f.push(format!("asks an IaaS provider for \"{p}\", which does not fit a cloud server"));
                        }
                    }
                }
                Some("cdn") => {
                    for p in ["源站", "披露"] {
                        if !t.contains(p) {
                            f.push(format!("no request containing \"{p}\" (forward to the origin, name the host)"));
                        }
                    }
                }
                _ => {
                    if !t.contains("删除") && !t.contains("断开") && !t.contains("转送") {
                        f.push("no measure requested".into());
                    }
                }
            }
        }
        "CN-9" => {
            need_phrase(s, &["保证", "真实"], &mut f);
            need_value(s, &["签名"], None, &mut f);
        }
        "CN-10" => need_addressee(s, frame, "通知渠道", &mut f),
        "EU-5" => need_addressee(s, frame, "Notice mechanism", &mut f),
        "CN-11" => need_phrase(s, &["法院"], &mut f),
        "US-1" => need_value(s, &["Signature"], None, &mut f),
        "US-2" | "EU-1" => {
            need_value(s, &["Work"], None, &mut f);
            if id == "EU-1" {
                need_phrase(s, &["infringes", "copyright"], &mut f);
            }
        }
        "US-4" => {
            need_value(s, &["Name"], None, &mut f);
            need_value(s, &["Address"], None, &mut f);
            need_value(
                s,
                &["Telephone"],
                Some((&PHONE, "telephone number")),
                &mut f,
            );
            need_value(s, &["Email"], Some((&EMAIL, "email address")), &mut f);
        }
        "US-5" => need_phrase(s, &["good faith belief", "not authorized"], &mut f),
        "US-6" => need_phrase(
            s,
            &["accurate", "penalty of perjury", "authorized to act"],
            &mut f,
        ),
        "US-7" => need_addressee(s, frame, "Designated agent", &mut f),
        "EU-3" => {
            need_value(s, &["Name"], None, &mut f);
            need_value(s, &["Email"], Some((&EMAIL, "email address")), &mut f);
        }
        "EU-4" => need_phrase(s, &["bona fide belief", "accurate and complete"], &mut f),
        _ => f.push("no check defined for this element".into()),
    }
    f
}

/// Checks a letter's text. `frame` forces the frame; otherwise it is read from the
/// `<!-- whohosts:letter frame=... -->` marker or from the element markers.
pub fn lint(text: &str, frame: Option<Frame>) -> LintReport {
    let mut marks: Vec<Mark> = Vec::new();
    for c in MARKER.captures_iter(text) {
        let (Some(all), Some(kind)) = (c.get(0), c.get(1)) else {
            continue;
        };
        let rest = c.get(2).map_or("", |m| m.as_str());
        // The ID is the first bare word; key=value pairs follow it.
        let id = rest
            .split_whitespace()
            .next()
            .filter(|w| !w.contains('='))
            .unwrap_or("")
            .to_string();
        marks.push(Mark {
            start: all.start(),
            end: all.end(),
            kind: kind.as_str().to_string(),
            id,
            attrs: attrs(rest),
        });
    }
    let named_frame = marks
        .iter()
        .filter(|m| m.kind == "letter")
        .flat_map(|m| m.attrs.iter())
        .find(|(k, _)| k == "frame")
        .and_then(|(_, v)| v.parse::<Frame>().ok());
    let letter_model = marks
        .iter()
        .filter(|m| m.kind == "letter")
        .flat_map(|m| m.attrs.iter())
        .find(|(k, _)| k == "model")
        .map(|(_, v)| v.clone());
    let mut sections: Vec<(String, Section)> = Vec::new();
    for (i, m) in marks.iter().enumerate() {
        if m.kind != "element" {
            continue;
        }
        let next = marks.get(i + 1).map_or(text.len(), |n| n.start);
        let body = text.get(m.end..next).unwrap_or("");
        sections.push((
            m.id.clone(),
            Section {
                attrs: m.attrs.clone(),
                text: plain(body),
            },
        ));
    }
    let frame = frame.or(named_frame).or_else(|| {
        Frame::ALL
            .into_iter()
            .find(|f| sections.iter().any(|(id, _)| id.starts_with(f.prefix())))
    });
    let mut report = LintReport {
        frame,
        ..LintReport::default()
    };
    let Some(frame) = frame else {
        return report;
    };
    for e in frame.elements() {
        let mine: Vec<&Section> = sections
            .iter()
            .filter(|(id, _)| id == e.id)
            .map(|(_, s)| s)
            .collect();
        let why = if mine.is_empty() {
            vec![format!(
                "marker {} not found (section deleted?)",
                elements::marker(e.id)
            )]
        } else {
            // Any one complete section fulfils the element.
            let results: Vec<Vec<String>> = mine
                .iter()
                .map(|s| check(e.id, s, letter_model.as_deref(), frame))
                .collect();
            if results.iter().any(|r| r.is_empty()) {
                Vec::new()
            } else {
                results.into_iter().next().unwrap_or_default()
            }
        };
        if why.is_empty() {
            report.present.push(e.id.to_string());
        } else if e.required {
            report.missing.push(Missing {
                id: e.id.to_string(),
                name: e.name.to_string(),
                name_zh: e.name_zh.to_string(),
                why: why.join("; "),
            });
        }
    }
    // A sworn notice must not claim a notary the evidence does not name (the
    // accuracy statement covers it): a claim with no certificate number is an error of
    // the element that certifies the evidence (CN-7) or the notice's accuracy.
    let all = plain(text);
    if claims_notarisation(&all) {
        let certified = ["公证书编号", "Notarial certificate number", "certificate"]
            .iter()
            .flat_map(|l| values(&all, l))
            .any(|v| {
                let l = v.to_lowercase();
                v.chars().count() >= 2
                    && !v.contains(MISSING)
                    && !l.starts_with('无')
                    && !l.starts_with("none")
            });
        if !certified {
            let id = match frame {
                Frame::Cn => "CN-7",
                Frame::Dmca => "US-6",
                Frame::Dsa => "EU-4",
            };
            let why = "the letter says the capture was notarised but names no notarial certificate number".to_string();
            report.present.retain(|p| p != id);
            match report.missing.iter_mut().find(|m| m.id == id) {
                Some(m) => {
                    m.why.push_str("; ");
                    m.why.push_str(&why);
                }
                None => {
                    if let Some(e) = elements::element(id) {
                        report.missing.push(Missing {
                            id: id.to_string(),
                            name: e.name.to_string(),
                            name_zh: e.name_zh.to_string(),
                            why,
                        });
                    }
                }
            }
            report.missing.sort_by_key(|m| order(&m.id));
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_drops_tags_entities_and_markdown_escapes() {
        let t = plain(
            "<li>电话：\\+86 10 5555&#x20;0100</li><li>Email: a\\@b\\.example &amp; &lt;x&gt;</li>",
        );
        assert_eq!(t, "电话：+86 10 5555 0100\nEmail: a@b.example & <x>\n");
        assert_eq!(
            plain("<tr><td>1.2.3.4</td><td>80</td></tr>"),
            "1.2.3.4 | 80 | \n"
        );
    }

    #[test]
    fn values_need_a_colon_right_after_the_label() {
        assert_eq!(values("- 电话：123\n电话号码 456\n", "电话"), ["123"]);
        assert_eq!(values("Name : x", "Name"), ["x"]);
        assert!(values("Names: x", "Name").is_empty());
    }

    #[test]
    fn marker_attributes_and_ids_are_read() {
        let text = "<!-- whohosts:letter frame=cn -->\n<!-- whohosts:element CN-8 model=iaas -->\n转送 日志\n";
        let r = lint(text, None);
        assert_eq!(r.frame, Some(Frame::Cn));
        assert!(r.present.contains(&"CN-8".to_string()));
        let r = lint(&text.replace("转送", "删除"), None);
        assert!(r
            .missing
            .iter()
            .any(|m| m.id == "CN-8" && m.why.contains("删除")));
    }

    #[test]
    fn placeholder_counts_as_absent() {
        let text = format!("<!-- whohosts:element US-1 -->\n- Signature: /s/ {MISSING}\n");
        let r = lint(&text, Some(Frame::Dmca));
        assert!(r.missing.iter().any(|m| m.id == "US-1"));
    }
}
