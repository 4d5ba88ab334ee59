//! The report as one HTML file for the people a notice goes through (lawyers,
//! notaries, judges): nothing external (styles, the one script and the charts are
//! inline; a Content-Security-Policy forbids every other load), readable on a phone and
//! printed on A4 with the capture hashes and page numbers in every page's footer.
//!
//! Every value that came from a capture or a file goes through [`escape::html`]
//! and sits in an element that isolates its direction, so that markup stays text
//! and bidirectional controls cannot reorder what a reader sees. Like the JSON, the
//! page reads no clock: the same report gives the same bytes.

use super::escape;
use super::{Report, ServiceReport, Services};
use crate::attribute::Attribution;
use crate::model::{Confidence, Timestamp};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The language of the page's labels (values stay as found).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    #[value(name = "en")]
    En,
    #[value(name = "zh-CN")]
    ZhCn,
}

/// The page's words in one language.
struct Words {
    lang: &'static str,
    title: &'static str,
    made_by: &'static str,
    captures: &'static str,
    file: &'static str,
    format: &'static str,
    frames: &'static str,
    bytes: &'static str,
    file_size: &'static str,
    span: &'static str,
    services: &'static str,
    services_intro: &'static str,
    local: &'static str,
    local_intro: &'static str,
    service: &'static str,
    endpoints: &'static str,
    to_server: &'static str,
    to_client: &'static str,
    provider: &'static str,
    region: &'static str,
    asn: &'static str,
    country: &'static str,
    names: &'static str,
    evidence_frames: &'static str,
    filter: &'static str,
    copy: &'static str,
    unknown: &'static str,
    why: &'static str,
    charts: &'static str,
    share: &'static str,
    timeline: &'static str,
    by_provider: &'static str,
    by_provider_intro: &'static str,
    bindings: &'static str,
    objects: &'static str,
    objects_intro: &'static str,
    status: &'static str,
    size: &'static str,
    on_the_wire: &'static str,
    name: &'static str,
    address: &'static str,
    binding_source: &'static str,
    strength: &'static str,
    anomalies: &'static str,
    none: &'static str,
    more: &'static str,
    sources: &'static str,
    kind: &'static str,
    version: &'static str,
    role: &'static str,
    proxy: &'static str,
    via_proxy: &'static str,
    behind: &'static str,
    behind_intro: &'static str,
    udp_relay: &'static str,
    requests: &'static str,
    granted: &'static str,
    refused: &'static str,
    notes: &'static str,
    period: &'static str,
    strong: &'static str,
    medium: &'static str,
    weak: &'static str,
    notices: &'static str,
    notices_intro: &'static str,
    case: &'static str,
    as_of: &'static str,
    custody_line: &'static str,
    what: &'static str,
    time_utc: &'static str,
    sent: &'static str,
    answer: &'static str,
    channel: &'static str,
    ticket: &'static str,
    letter: &'static str,
    receipts: &'static str,
    days_without: &'static str,
    answered: &'static str,
}

const EN: Words = Words {
    lang: "en",
    title: "whohosts report",
    made_by: "Made by",
    captures: "Captures",
    file: "File",
    format: "Format",
    frames: "Frames",
    bytes: "Bytes on the wire",
    file_size: "File size",
    span: "First and last frame (UTC)",
    services: "Services",
    services_intro: "Internet services, ranked by traffic, then duration. Each attribution names its source and how sure it is.",
    local: "Local network, broadcast, multicast and special-purpose",
    local_intro: "Traffic that no provider hosts (DHCP, SSDP, mDNS, the local resolver, ...), kept apart.",
    service: "Service",
    endpoints: "Server endpoints",
    to_server: "to server",
    to_client: "to client",
    provider: "Provider",
    region: "Region",
    asn: "ASN",
    country: "Country",
    names: "Names",
    evidence_frames: "Evidence frames",
    filter: "Wireshark display filter",
    copy: "Copy",
    unknown: "unknown",
    why: "why",
    charts: "Overview",
    share: "Each provider's share of the internet traffic (bytes)",
    timeline: "Timeline of the services' traffic (UTC)",
    by_provider: "By provider",
    by_provider_intro: "What a notice to each provider would cover.",
    bindings: "Names bound to addresses",
    objects: "Objects",
    objects_intro: "What HTTP responses carried: the body as the client's program saw it (content encoding undone), its SHA-256, and the frames that carried it. Incomplete objects say why.",
    status: "Status",
    size: "Size",
    on_the_wire: "on the wire",
    name: "Name",
    address: "Address",
    binding_source: "Seen in",
    strength: "Strength",
    anomalies: "Anomalies",
    none: "none",
    more: "more in the JSON report",
    sources: "Data sources",
    kind: "Kind",
    version: "Version",
    role: "Role",
    proxy: "Proxy",
    via_proxy: "the endpoints are a proxy (SOCKS or HTTP) or a SOCKS5 UDP relay that carried the client's traffic; the server that hosts these names is behind it",
    behind: "Behind proxies",
    behind_intro: "Servers the client named by address to a proxy (SOCKS, HTTP CONNECT) or in datagrams through a SOCKS5 UDP relay, or that a PROXY protocol header names: no packet of the capture went to them, the proxy carried the traffic. Each is attributed as an endpoint is; a notice may need to go to its provider as well as the proxy's.",
    udp_relay: "UDP relay",
    requests: "Requests",
    granted: "granted",
    refused: "refused",
    notes: "Notes",
    period: "Period",
    strong: "strong",
    medium: "medium",
    weak: "weak",
    notices: "Notices sent and answers",
    notices_intro: "From the case's custody log: each notice filed as sent (the exact letter and its SHA-256, the channel, the proof of delivery) and each answer filed, per provider, with the days since the last notice without an answer. Line: the custody.jsonl line that records it.",
    case: "Case",
    as_of: "Days counted up to",
    custody_line: "Line",
    what: "What",
    time_utc: "Time (UTC)",
    sent: "notice sent",
    answer: "answer",
    channel: "Channel",
    ticket: "ticket",
    letter: "As filed (SHA-256)",
    receipts: "Proof of delivery (SHA-256)",
    days_without: "days since the last notice without an answer",
    answered: "answered after the last notice",
};

const ZH: Words = Words {
    lang: "zh-CN",
    title: "whohosts 分析报告",
    made_by: "生成工具",
    captures: "抓包文件",
    file: "文件",
    format: "格式",
    frames: "帧数",
    bytes: "线路字节数",
    file_size: "文件大小",
    span: "首帧与末帧时间（UTC）",
    services: "服务",
    services_intro: "互联网服务，按流量、再按持续时间排序。每项归属均注明来源及可信程度。",
    local: "本地网络、广播、组播及特殊用途地址",
    local_intro: "不由任何服务商托管的流量（DHCP、SSDP、mDNS、本地解析器等），单独列出。",
    service: "服务",
    endpoints: "服务器端点",
    to_server: "发往服务器",
    to_client: "发往客户端",
    provider: "服务商",
    region: "地域",
    asn: "自治系统号",
    country: "国家/地区",
    names: "域名",
    evidence_frames: "证据帧",
    filter: "Wireshark 显示过滤器",
    copy: "复制",
    unknown: "未知",
    why: "原因",
    charts: "概览",
    share: "各服务商在互联网流量中的占比（字节）",
    timeline: "各服务流量时间线（UTC）",
    by_provider: "按服务商",
    by_provider_intro: "向各服务商发出通知时应涵盖的内容。",
    bindings: "域名与地址的对应关系",
    objects: "传输的对象",
    objects_intro: "HTTP 响应所传输的内容：客户端程序所见的正文（已解除内容编码）、其 SHA-256 以及承载它的数据帧。不完整的对象注明原因。",
    status: "状态",
    size: "大小",
    on_the_wire: "线路上",
    name: "域名",
    address: "地址",
    binding_source: "出现于",
    strength: "强度",
    anomalies: "异常",
    none: "无",
    more: "其余见 JSON 报告",
    sources: "数据来源",
    kind: "类型",
    version: "版本",
    role: "用途",
    proxy: "代理",
    via_proxy: "端点是转发客户端流量的代理（SOCKS 或 HTTP）或 SOCKS5 UDP 中继；托管这些名称的服务器在它之后",
    behind: "代理之后的服务器",
    behind_intro: "客户端以地址向代理（SOCKS、HTTP CONNECT）请求或经 SOCKS5 UDP 中继发送数据报的服务器，或 PROXY 协议头所指的服务器：捕获中没有发往它们的数据包，流量由代理转发。每个地址按端点的方式归属；通知可能需要同时发给它的提供商和代理的提供商。",
    udp_relay: "UDP 中继",
    requests: "请求",
    granted: "已允许",
    refused: "已拒绝",
    notes: "说明",
    period: "时段",
    strong: "强",
    medium: "中",
    weak: "弱",
    notices: "已发送的通知及答复",
    notices_intro: "摘自本案保管记录：按服务商列出每份已发送的通知（所发通知函原件及其 SHA-256、发送渠道、送达凭证）和每份已收到的答复，以及自最后一次通知以来未获答复的天数。“行”指记录该事项的 custody.jsonl 行号。",
    case: "案件",
    as_of: "天数计至",
    custody_line: "行",
    what: "事项",
    time_utc: "时间（UTC）",
    sent: "已发送通知",
    answer: "答复",
    channel: "渠道",
    ticket: "工单号",
    letter: "存档文件（SHA-256）",
    receipts: "送达凭证（SHA-256）",
    days_without: "天：自最后一次通知以来未获答复",
    answered: "最后一次通知后已获答复",
};

/// Rows shown per table; the JSON report has them all.
const MAX_ROWS: usize = 200;

/// The page's one script: the copy buttons. Its hash is in the page's
/// Content-Security-Policy, so no other script can run, injected or not.
const SCRIPT: &str = r#"document.querySelectorAll("button.copy").forEach(function (b) {
  b.addEventListener("click", function () {
    var text = b.getAttribute("data-copy");
    function done() { b.textContent = "\u2713"; }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () {});
    } else {
      var t = document.createElement("textarea");
      t.value = text;
      document.body.appendChild(t);
      t.select();
      try { document.execCommand("copy"); done(); } catch (e) {}
      document.body.removeChild(t);
    }
  });
});"#;

const STYLE: &str = r#"
:root { color-scheme: light; --ink: #1d2330; --mute: #5b6475; --line: #d9dde5; --band: #f4f6f9; --accent: #1f5fbf; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem; color: var(--ink); background: #fff;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK SC", "Source Han Sans SC",
  "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif; }
h1 { font-size: 1.5rem; margin: .2rem 0 .3rem; }
h2 { font-size: 1.2rem; margin: 1.6rem 0 .4rem; border-bottom: 2px solid var(--ink); padding-bottom: .15rem; }
h3 { font-size: 1.02rem; margin: 1rem 0 .3rem; }
p.intro, .meta { color: var(--mute); margin: .2rem 0 .6rem; }
.u { unicode-bidi: isolate; }
code, .hash { font-family: ui-monospace, "DejaVu Sans Mono", "Noto Sans Mono CJK SC", monospace; font-size: .86em; }
.hash { word-break: break-all; }
.ts { white-space: nowrap; }
tbody.cap tr:first-child td { border-bottom: none; padding-bottom: 0; }
tbody.cap { break-inside: avoid; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: .3rem 0 .8rem; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .45rem; text-align: left; vertical-align: top; }
th { background: var(--band); font-weight: 600; white-space: nowrap; }
td.n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.svc { border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; margin: .6rem 0; break-inside: avoid; }
.svc h3 { margin: 0 0 .3rem; }
.rank { color: var(--mute); margin-right: .3rem; }
.kv { display: grid; grid-template-columns: max-content 1fr; gap: .15rem .8rem; margin: .3rem 0; }
.kv dt { color: var(--mute); }
.kv dd { margin: 0; }
.tag { display: inline-block; padding: 0 .35rem; border-radius: 4px; font-size: .8em; border: 1px solid var(--line); }
.strong { background: #e3f3e6; border-color: #9fd0a8; }
.medium { background: #fff4d6; border-color: #e8cf86; }
.weak, .unknown { background: #fbe4e4; border-color: #e2a4a4; }
.filter { display: flex; gap: .4rem; align-items: flex-start; }
.filter code { flex: 1; background: var(--band); padding: .2rem .35rem; border-radius: 4px; word-break: break-all; }
button.copy { font: inherit; font-size: .8em; padding: .1rem .5rem; cursor: pointer; }
svg { max-width: 100%; height: auto; display: block; margin: .3rem 0 .8rem; }
svg text { font-size: 11px; fill: var(--ink); }
.note { color: #7a4b00; }
footer { margin-top: 2rem; color: var(--mute); font-size: .85em; }
@media (max-width: 40rem) {
  body { padding: .6rem; font-size: 14px; }
  .kv { grid-template-columns: 1fr; }
  .kv dt { margin-top: .3rem; }
  th, td { padding: .25rem .3rem; }
  .chart svg { min-width: 34rem; }
}
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  button.copy { display: none; }
  .scroll { overflow: visible; }
  table { font-size: 8pt; }
  .ts { white-space: normal; }
  .hash { font-size: 7.5pt; }
  h2 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
"#;

/// The notices table's rules, added to the style only when the page lists notices
/// (a report without them keeps its bytes).
const NOTICES_STYLE: &str =
    "table.notices th { white-space: normal; }\ntable.notices td.brk { word-break: break-all; }\n";

/// Renders the page.
pub fn render(r: &Report, lang: Lang) -> String {
    render_with_notices(r, lang, None)
}

/// Renders the page with the notices filed in a case (`analyze --case`); `None`, or a
/// case without notices, gives the page [`render`] gives.
pub fn render_with_notices(
    r: &Report,
    lang: Lang,
    notices: Option<&super::notices::CaseNotices>,
) -> String {
    let w = match lang {
        Lang::En => &EN,
        Lang::ZhCn => &ZH,
    };
    let mut out = String::with_capacity(64 * 1024);
    let script_hash = {
        use base64ct::Encoding;
        use sha2::Digest;
        base64ct::Base64::encode_string(&sha2::Sha256::digest(SCRIPT.as_bytes()))
    };
    // The footer of every printed page: the capture hashes (hex only) and the page.
    let hashes: Vec<String> = r
        .captures
        .iter()
        .map(|c| match &c.sha256 {
            Some(h) => format!("[{}] SHA-256 {h}", c.index),
            None => format!("[{}] SHA-256 -", c.index),
        })
        .collect();
    let page = match lang {
        Lang::En => r#""Page " counter(page) " of " counter(pages)"#,
        Lang::ZhCn => r#""第 " counter(page) " 页，共 " counter(pages) " 页""#,
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; \
script-src 'sha256-{script_hash}'; img-src data:; base-uri 'none'; form-action 'none'\">\n\
<title>{title}</title>\n<style>{STYLE}{notices_style}\
@page {{ size: A4; margin: 16mm 14mm 22mm 14mm;\n\
  @bottom-left {{ content: \"{hashes}\"; font: 6.5pt ui-monospace, monospace; color: #444; white-space: pre-wrap; }}\n\
  @bottom-right {{ content: {page}; font: 8pt sans-serif; color: #444; }} }}\n</style>\n</head>\n<body>\n",
        lang = w.lang,
        title = w.title,
        hashes = hashes.join("\\A "),
        notices_style = if notices.is_some_and(|n| !n.providers.is_empty()) {
            NOTICES_STYLE
        } else {
            ""
        },
    );
    let _ = writeln!(
        out,
        "<header><h1>{}</h1><p class=\"meta\">{} {} {}</p></header>",
        w.title,
        w.made_by,
        r.tool.name,
        escape::html(r.tool.version)
    );
    captures(&mut out, r, w);
    let internet = r.services.internet_len();
    let local = r.services.len() - internet;
    charts(&mut out, &r.services, w);
    let _ = writeln!(
        out,
        "<h2 id=\"services\">{}</h2>\n<p class=\"intro\">{}</p>",
        w.services, w.services_intro
    );
    if internet == 0 {
        let _ = writeln!(out, "<p>{}</p>", w.none);
    }
    for (i, s) in r.services.internet().enumerate().take(MAX_ROWS) {
        service(&mut out, &format!("{}", i + 1), &s, w);
    }
    more(&mut out, internet, w);
    by_provider(&mut out, r.services.internet(), w);
    if let Some(n) = notices.filter(|n| !n.providers.is_empty()) {
        notices_section(&mut out, n, w);
    }
    proxy_targets(&mut out, r, w);
    if local > 0 {
        let _ = writeln!(
            out,
            "<h2 id=\"local\">{}</h2>\n<p class=\"intro\">{}</p>",
            w.local, w.local_intro
        );
        local_table(&mut out, r.services.local(), local, w);
    }
    bindings(&mut out, r.services.iter(), w);
    objects(&mut out, r, w);
    anomalies(&mut out, r, w);
    sources(&mut out, r, w);
    let _ = writeln!(
        out,
        "<footer>{} {} {}</footer>\n<script>{SCRIPT}</script>\n</body>\n</html>",
        w.made_by,
        r.tool.name,
        escape::html(r.tool.version)
    );
    out
}

/// The objects HTTP carried, when the report lists them.
fn objects(out: &mut String, r: &Report, w: &Words) {
    let Some(objects) = &r.objects else {
        return;
    };
    let _ = writeln!(
        out,
        "<h2 id=\"objects\">{}</h2>\n<p class=\"intro\">{}</p>",
        w.objects, w.objects_intro
    );
    if objects.is_empty() {
        let _ = writeln!(out, "<p>{}</p>", w.none);
        return;
    }
    let _ = writeln!(
        out,
        "<div class=\"scroll\"><table>\n<tr><th>#</th><th>URL</th><th>{}</th><th>{}</th><th>SHA-256</th><th>{}</th><th>{}</th></tr>",
        w.status, w.size, w.frames, w.file
    );
    for o in objects.iter().take(MAX_ROWS) {
        let mut url = t(&clip(&o.url, 200));
        for p in &o.problems {
            let _ = write!(url, "<br><small>{}</small>", t(p));
        }
        let mut size = thousands(o.size);
        if let Some(enc) = &o.content_encoding {
            let _ = write!(
                size,
                "<br><small>{} {} ({})</small>",
                thousands(o.wire_size),
                w.on_the_wire,
                escape::html(enc)
            );
        }
        if let Some(range) = &o.range {
            let _ = write!(
                size,
                "<br><small>{}-{}/{}</small>",
                range.first,
                range.last,
                range.total.map_or("*".to_string(), |t| t.to_string())
            );
        }
        if !o.parts.is_empty() {
            let ids: Vec<String> = o.parts.iter().map(|p| format!("#{p}")).collect();
            let _ = write!(size, "<br><small>= {}</small>", ids.join(" + "));
        }
        let frames = if o.frames_total > 1 {
            format!(
                "{}..{} ({})",
                o.first_frame,
                o.last_frame,
                thousands(o.frames_total)
            )
        } else {
            o.first_frame.to_string()
        };
        let _ = writeln!(
            out,
            "<tr><td class=\"n\">{}{}</td><td>{url}</td><td class=\"n\">{}</td><td class=\"n\">{size}</td><td class=\"hash\">{}</td><td><code>{frames}</code></td><td>{}</td></tr>",
            o.id,
            if o.complete { "" } else { " ⚠" },
            o.status,
            escape::html(&o.sha256),
            o.file.as_deref().map(t).unwrap_or_default(),
        );
    }
    out.push_str("</table></div>\n");
    more(out, objects.len(), w);
}

/// Untrusted text, escaped and isolated.
fn t(s: &str) -> String {
    format!("<span class=\"u\">{}</span>", escape::html(s))
}

fn more(out: &mut String, n: usize, w: &Words) {
    if n > MAX_ROWS {
        let _ = writeln!(out, "<p class=\"intro\">… {} {}</p>", n - MAX_ROWS, w.more);
    }
}

fn thousands(n: u64) -> String {
    super::table::thousands(n)
}

fn confidence(c: Option<Confidence>, w: &Words) -> String {
    let (class, text) = match c {
        Some(Confidence::Strong) => ("strong", w.strong),
        Some(Confidence::Medium) => ("medium", w.medium),
        Some(Confidence::Weak) => ("weak", w.weak),
        None => ("unknown", w.unknown),
    };
    format!("<span class=\"tag {class}\">{text}</span>")
}

fn captures(out: &mut String, r: &Report, w: &Words) {
    let _ = writeln!(
        out,
        "<h2 id=\"captures\">{}</h2>\n<div class=\"scroll\"><table>\n<thead><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>",
        w.captures, w.file, w.format, w.frames, w.bytes, w.file_size, w.span
    );
    // Each capture's digests on a line of their own under it, across the table:
    // a hash is read whole, never cut by a narrow column.
    for c in &r.captures {
        let links: Vec<String> = c.link_types.iter().map(|l| l.name()).collect();
        let span = match (c.first_seen, c.last_seen) {
            (Some(f), Some(l)) => {
                format!("<span class=\"ts\">{f}</span><br><span class=\"ts\">{l}</span>")
            }
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "<tbody class=\"cap\"><tr><td class=\"n\">{}</td><td>{}</td><td>{} {}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td><code>{span}</code></td></tr>\n<tr><td></td><td colspan=\"6\" class=\"hash\">SHA-256 {}{}</td></tr></tbody>",
            c.index,
            t(&c.path),
            escape::html(&format!("{:?}", c.format).to_lowercase()),
            escape::html(&links.join(", ")),
            thousands(c.packets),
            thousands(c.bytes),
            thousands(c.file_size),
            c.sha256.as_deref().unwrap_or("-"),
            c.sm3
                .as_deref()
                .map(|h| format!("<br>SM3 {h}"))
                .unwrap_or_default(),
        );
    }
    out.push_str("</table></div>\n");
}

/// The provider a service's traffic is counted under: its first attributed
/// address's.
fn provider_name(s: &ServiceReport) -> Option<String> {
    s.first_attribution()
        .and_then(|a| a.provider.display_name())
        .map(str::to_owned)
}

fn charts(out: &mut String, services: &Services, w: &Words) {
    if services.internet_len() == 0 {
        return;
    }
    let _ = writeln!(out, "<h2 id=\"overview\">{}</h2>", w.charts);
    // Each provider's share of the bytes, largest first.
    let mut share: BTreeMap<String, u64> = BTreeMap::new();
    for s in services.internet() {
        let name = provider_name(&s).unwrap_or_else(|| w.unknown.to_string());
        *share.entry(name).or_default() += s.service.bytes;
    }
    let mut share: Vec<(String, u64)> = share.into_iter().collect();
    share.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let total: u64 = share.iter().map(|s| s.1).sum::<u64>().max(1);
    let palette = [
        "#1f5fbf", "#d9822b", "#2e9e5b", "#a23b72", "#6a51a3", "#8c6d31", "#17869e", "#c23b22",
    ];
    let row = 24;
    let height = share.len() * row + 8;
    let _ = writeln!(
        out,
        "<h3>{}</h3>\n<div class=\"scroll chart\"><svg viewBox=\"0 0 720 {height}\" role=\"img\" aria-label=\"{}\">",
        w.share, w.share
    );
    for (i, (name, bytes)) in share.iter().enumerate() {
        let y = i * row + 4;
        let width = (*bytes as f64 / total as f64 * 380.0).max(1.0);
        let pct = *bytes as f64 * 100.0 / total as f64;
        let _ = writeln!(
            out,
            "<text x=\"0\" y=\"{}\">{}</text><rect x=\"200\" y=\"{y}\" width=\"{width:.1}\" height=\"16\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{}\">{pct:.1}% ({} B)</text>",
            y + 12,
            escape::html(&clip(name, 28)),
            palette[i % palette.len()],
            200.0 + width + 6.0,
            y + 12,
            thousands(*bytes)
        );
    }
    out.push_str("</svg></div>\n");

    // Timeline: one row per service, from its first to its last frame.
    let shown: Vec<ServiceReport> = services.internet().take(40).collect();
    let start = shown.iter().map(|s| s.service.first_seen).min();
    let end = shown.iter().map(|s| s.service.last_seen).max();
    let (Some(start), Some(end)) = (start, end) else {
        return;
    };
    let span = end.nanos_since(start).max(1) as f64;
    let height = shown.len() * row + 30;
    let _ = writeln!(
        out,
        "<h3>{}</h3>\n<div class=\"scroll chart\"><svg viewBox=\"0 0 720 {height}\" role=\"img\" aria-label=\"{}\">",
        w.timeline, w.timeline
    );
    for (i, s) in shown.iter().enumerate() {
        let y = i * row + 4;
        let x0 = 200.0 + s.service.first_seen.nanos_since(start) as f64 / span * 500.0;
        let x1 = 200.0 + s.service.last_seen.nanos_since(start) as f64 / span * 500.0;
        let _ = writeln!(
            out,
            "<text x=\"0\" y=\"{}\">{}</text><rect x=\"{x0:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"16\" fill=\"{}\"/>",
            y + 12,
            escape::html(&clip(&s.service.label, 28)),
            (x1 - x0).max(2.0),
            palette[i % palette.len()]
        );
    }
    let y = shown.len() * row + 20;
    let _ = writeln!(
        out,
        "<line x1=\"200\" y1=\"{}\" x2=\"700\" y2=\"{}\" stroke=\"#888\"/><text x=\"200\" y=\"{y}\">{}</text><text x=\"700\" y=\"{y}\" text-anchor=\"end\">{}</text>\n</svg></div>",
        y - 12,
        y - 12,
        short_time(start),
        short_time(end)
    );
}

/// At most `n` characters, with an ellipsis when cut.
fn clip(s: &str, n: usize) -> String {
    let mut c: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        c.push('…');
    }
    c
}

/// `HH:MM:SS.mmm` of a timestamp, or its full form when out of range.
fn short_time(ts: Timestamp) -> String {
    let full = ts.rfc3339();
    match (full.find('T'), full.len()) {
        (Some(i), len) if len > i + 13 => full[i + 1..i + 13].to_string(),
        _ => full,
    }
}

fn answer(
    id: Option<&str>,
    extra: Option<&str>,
    c: Option<Confidence>,
    source: Option<&str>,
    reason: Option<&str>,
    w: &Words,
) -> String {
    match id {
        Some(id) => format!(
            "{}{} {} <span class=\"meta\">({})</span>",
            t(id),
            extra.map(|e| format!(" {}", t(e))).unwrap_or_default(),
            confidence(c, w),
            escape::html(source.unwrap_or("?"))
        ),
        None => format!(
            "<span class=\"tag unknown\">{}</span> <span class=\"meta\">{}: {}</span>",
            w.unknown,
            w.why,
            escape::html(reason.unwrap_or("-"))
        ),
    }
}

fn attribution_rows(out: &mut String, ip: &std::net::IpAddr, a: &Attribution, w: &Words) {
    let p = &a.provider;
    let _ = write!(
        out,
        "<dt>{}</dt><dd><code>{ip}</code></dd><dt>{}</dt><dd>{}</dd>",
        w.address,
        w.provider,
        answer(
            p.display_name(),
            p.service_model
                .as_deref()
                .map(|m| format!("· {}", m.to_uppercase()))
                .as_deref(),
            p.confidence,
            p.source.as_ref().map(|s| s.source.as_str()),
            p.reason.as_deref(),
            w
        )
    );
    let g = &a.region;
    let _ = write!(
        out,
        "<dt>{}</dt><dd>{}</dd>",
        w.region,
        answer(
            g.id.as_deref(),
            g.city.as_deref(),
            g.confidence,
            g.source.as_ref().map(|s| s.source.as_str()),
            g.reason.as_deref(),
            w
        )
    );
    let asn = match a.asn.number {
        Some(n) => format!(
            "AS{n} {} <span class=\"meta\">({})</span>",
            t(a.asn.organization.as_deref().unwrap_or("")),
            escape::html(a.asn.source.as_ref().map_or("?", |s| s.source.as_str()))
        ),
        None => format!(
            "<span class=\"tag unknown\">{}</span> <span class=\"meta\">{}</span>",
            w.unknown,
            escape::html(a.asn.reason.as_deref().unwrap_or(""))
        ),
    };
    let country = match &a.country.code {
        Some(c) => format!(
            "{} <span class=\"meta\">({})</span>",
            t(c),
            escape::html(a.country.source.as_ref().map_or("?", |s| s.source.as_str()))
        ),
        None => format!("<span class=\"tag unknown\">{}</span>", w.unknown),
    };
    let _ = write!(
        out,
        "<dt>{}</dt><dd>{asn}</dd><dt>{}</dt><dd>{country}</dd>",
        w.asn, w.country
    );
    for n in a.notes.iter() {
        let _ = write!(
            out,
            "<dt>{}</dt><dd class=\"note\">{}</dd>",
            w.notes,
            escape::html(n)
        );
    }
}

/// The servers named by address through proxies, when any: each with its proxy,
/// the requests' outcome and frames, and its attribution (or why it has none).
fn proxy_targets(out: &mut String, r: &Report, w: &Words) {
    let len = r.proxy_targets.len();
    if len == 0 {
        return;
    }
    let _ = writeln!(
        out,
        "<h2 id=\"behind\">{}</h2>\n<p class=\"intro\">{}</p>",
        w.behind, w.behind_intro
    );
    for (i, p) in r.proxy_targets.iter().enumerate().take(MAX_ROWS) {
        let target = p.target;
        let socket = crate::model::Endpoint {
            ip: target.ip,
            port: Some(target.port),
        };
        let mut frames: Vec<String> = target.frames.iter().take(24).map(u64::to_string).collect();
        if target.frames.len() > 24 {
            frames.push("…".into());
        }
        let _ = write!(
            out,
            "<section class=\"svc\"><h3><span class=\"rank\">P{}.</span><code>{socket}</code></h3><dl class=\"kv\">\
<dt>{}</dt><dd><code>{}</code> ({})</dd><dt>{}</dt><dd>{} ({} {}, {} {})</dd><dt>{}</dt><dd><code>{}</code> – <code>{}</code></dd>",
            i + 1,
            w.proxy,
            target.proxy,
            if target.is_relay() {
                format!("{} {}", target.protocols.join(", "), w.udp_relay)
            } else {
                target.protocols.join(", ")
            },
            w.requests,
            target.requests,
            target.granted,
            w.granted,
            target.refused,
            w.refused,
            w.period,
            target.first_seen,
            target.last_seen
        );
        match (p.scope, p.attribution) {
            (crate::model::Scope::Internet, Some(a)) => attribution_rows(out, &target.ip, a, w),
            (crate::model::Scope::Internet, None) => {}
            (scope, _) => {
                let _ = write!(
                    out,
                    "<dt>{}</dt><dd>{}</dd>",
                    w.why,
                    escape::html(p.scope_reason.unwrap_or(scope.as_str()))
                );
            }
        }
        let capture = if r.captures.len() > 1 {
            format!("[{}] ", target.capture)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "<dt>{}</dt><dd>{capture}{}</dd></dl></section>",
            w.evidence_frames,
            frames.join(", ")
        );
    }
    more(out, len, w);
}

fn frames_list(frames: &crate::services::FrameList, max: usize) -> String {
    let mut v: Vec<String> = frames.iter().take(max).map(|f| f.to_string()).collect();
    if frames.len() > max {
        v.push("…".into());
    }
    v.join(", ")
}

fn service(out: &mut String, rank: &str, sr: &ServiceReport, w: &Words) {
    let s = &sr.service;
    let eps: Vec<String> = s
        .endpoints
        .iter()
        .map(|e| format!("<code>{}</code>", e.socket()))
        .collect();
    let _ = write!(
        out,
        "<section class=\"svc\"><h3><span class=\"rank\">{rank}.</span>{}</h3><dl class=\"kv\">\
<dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{} B {} · {} B {}</dd><dt>{}</dt><dd><code>{}</code> – <code>{}</code> ({:.3} s)</dd>",
        t(&s.label),
        w.endpoints,
        eps.join(" "),
        w.bytes,
        thousands(s.bytes_to_server),
        w.to_server,
        thousands(s.bytes_to_client),
        w.to_client,
        w.period,
        s.first_seen,
        s.last_seen,
        s.duration
    );
    for a in sr.attribution() {
        attribution_rows(out, &a.ip, a.attribution, w);
    }
    if let Some(role) = s.role {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", w.role, escape::html(role));
    }
    if s.via_proxy {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", w.proxy, w.via_proxy);
    }
    for h in &s.hostnames {
        let sources: Vec<&str> = h.sources.iter().map(|x| x.as_str()).collect();
        let _ = write!(
            out,
            "<dt>{}</dt><dd>{} {} <span class=\"meta\">{}; {} {}</span></dd>",
            w.names,
            t(&h.name),
            confidence(Some(h.strength), w),
            sources.join(", "),
            w.frames,
            frames_list(&h.frames, 12)
        );
    }
    let _ = writeln!(
        out,
        "<dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd></dl></section>",
        w.evidence_frames,
        frames_list(&s.frames, 24),
        w.filter,
        filter_box(s, w)
    );
}

/// Items of a list shown in a cell of the providers' table; the rest are counted.
const CELL_ITEMS: usize = 20;

fn by_provider<'a>(out: &mut String, internet: impl Iterator<Item = ServiceReport<'a>>, w: &Words) {
    // provider -> (services, endpoints, regions, names, first, last, frames). A
    // provider may host hundreds of thousands of endpoints: a cell shows the
    // first services in rank order and the alphabetically first endpoints, and
    // counts the rest.
    #[derive(Default)]
    struct Cover {
        services: Vec<String>,
        service_count: usize,
        /// The rank of the last service counted (its endpoints come together).
        last_service: Option<usize>,
        endpoints: std::collections::BTreeSet<String>,
        endpoint_count: usize,
        regions: std::collections::BTreeSet<String>,
        names: std::collections::BTreeSet<String>,
        frames: usize,
        first: Option<Timestamp>,
        last: Option<Timestamp>,
        bytes: u64,
    }
    let mut by: BTreeMap<String, Cover> = BTreeMap::new();
    for (rank, sr) in internet.enumerate() {
        let s = &sr.service;
        for e in &s.endpoints {
            let a = sr.attribution_of(&e.ip);
            let name = a
                .and_then(|a| a.provider.display_name())
                .unwrap_or(w.unknown)
                .to_string();
            let c = by.entry(name).or_default();
            if c.last_service != Some(rank) {
                c.last_service = Some(rank);
                c.service_count += 1;
                if c.services.len() < CELL_ITEMS {
                    c.services.push(s.label.clone());
                }
                c.frames += s.frames.len();
                c.bytes += s.bytes;
                c.names.extend(s.hostnames.iter().map(|h| h.name.clone()));
            }
            // Each endpoint belongs to one service: counted once.
            c.endpoint_count += 1;
            c.endpoints.insert(e.socket());
            if c.endpoints.len() > CELL_ITEMS {
                c.endpoints.pop_last();
            }
            if let Some(region) = a.and_then(|a| a.region.id.clone()) {
                c.regions.insert(region);
            }
            c.first = Some(c.first.map_or(e.first_seen, |f| f.min(e.first_seen)));
            c.last = Some(c.last.map_or(e.last_seen, |l| l.max(e.last_seen)));
        }
    }
    if by.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<h2 id=\"providers\">{}</h2>\n<p class=\"intro\">{}</p>\n<div class=\"scroll\"><table>\n<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        w.by_provider, w.by_provider_intro, w.provider, w.services, w.endpoints, w.region, w.names, w.period, w.evidence_frames
    );
    let mut rows: Vec<(&String, &Cover)> = by.iter().collect();
    rows.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(b.0)));
    for (name, c) in rows {
        // At most CELL_ITEMS of `total` items, then how many more; names from the
        // capture marked as untrusted text, endpoints (made here) as they are.
        let cell = |v: &mut dyn Iterator<Item = String>, total: usize| {
            let mut shown: Vec<String> = v.take(CELL_ITEMS).collect();
            if total > shown.len() {
                shown.push(format!("… {} {}", total - shown.len(), w.more));
            }
            shown.join("<br>")
        };
        let list =
            |v: &mut dyn Iterator<Item = &String>, total: usize| cell(&mut v.map(|x| t(x)), total);
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td><code>{}</code><br><code>{}</code></td><td class=\"n\">{}</td></tr>",
            t(name),
            list(&mut c.services.iter(), c.service_count),
            cell(&mut c.endpoints.iter().cloned(), c.endpoint_count),
            if c.regions.is_empty() { w.unknown.to_string() } else { list(&mut c.regions.iter(), c.regions.len()) },
            list(&mut c.names.iter(), c.names.len()),
            c.first.map(|f| f.to_string()).unwrap_or_default(),
            c.last.map(|f| f.to_string()).unwrap_or_default(),
            c.frames
        );
    }
    out.push_str("</table></div>\n");
}

/// The notices filed in the case and the answers, per provider, as `letter status`
/// computes them; every value escaped.
fn notices_section(out: &mut String, n: &super::notices::CaseNotices, w: &Words) {
    let _ = writeln!(
        out,
        "<h2 id=\"notices\">{}</h2>\n<p class=\"intro\">{}</p>\n<dl class=\"kv\"><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd><span class=\"ts\">{}</span></dd></dl>",
        w.notices,
        w.notices_intro,
        w.case,
        n.case.as_deref().map(t).unwrap_or_else(|| w.unknown.to_string()),
        w.as_of,
        t(&n.as_of)
    );
    let filed = |f: &super::notices::Filed| {
        format!(
            "<code>{}</code><br><span class=\"hash\">{}</span>",
            t(&f.path),
            escape::html(&f.sha256)
        )
    };
    for p in &n.providers {
        let _ = writeln!(
            out,
            "<h3>{}</h3>\n<div class=\"scroll\"><table class=\"notices\">\n<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            t(&p.provider),
            w.custody_line,
            w.what,
            w.time_utc,
            w.channel,
            w.letter,
            w.receipts
        );
        // Notices and answers in the order of the custody log.
        let mut rows: Vec<(u64, String)> = Vec::new();
        for s in &p.sent {
            let mut channel = t(&s.channel);
            if let Some(ticket) = &s.ticket {
                let _ = write!(channel, "<br><small>{} {}</small>", w.ticket, t(ticket));
            }
            let receipts = s
                .receipts
                .iter()
                .map(filed)
                .collect::<Vec<_>>()
                .join("<br>");
            rows.push((
                s.custody_line,
                format!(
                    "<tr><td class=\"n\">{}</td><td>{}{}</td><td class=\"ts\">{}</td><td class=\"brk\">{channel}</td><td class=\"brk\">{}</td><td class=\"brk\">{}</td></tr>",
                    s.custody_line,
                    w.sent,
                    s.frame.as_deref().map(|f| format!(" ({})", t(f))).unwrap_or_default(),
                    t(&s.at),
                    filed(&s.letter),
                    if receipts.is_empty() { w.none.to_string() } else { receipts },
                ),
            ));
        }
        for a in &p.replies {
            rows.push((
                a.custody_line,
                format!(
                    "<tr><td class=\"n\">{}</td><td>{}{}</td><td class=\"ts\">{}</td><td></td><td class=\"brk\">{}</td><td></td></tr>",
                    a.custody_line,
                    w.answer,
                    a.note.as_deref().map(|x| format!("<br><small>{}</small>", t(x))).unwrap_or_default(),
                    t(&a.at),
                    filed(&a.file),
                ),
            ));
        }
        rows.sort_by_key(|(line, _)| *line);
        for (_, row) in rows {
            out.push_str(&row);
            out.push('\n');
        }
        out.push_str("</table></div>\n");
        let _ = writeln!(
            out,
            "<p>{}</p>",
            match p.days_without_answer {
                Some(d) => format!("<span class=\"tag weak\">{d} {}</span>", w.days_without),
                None => format!("<span class=\"tag strong\">{}</span>", w.answered),
            }
        );
    }
}

/// A service's display filter with its copy button.
fn filter_box(s: &crate::services::Service, w: &Words) -> String {
    let filter = s.wireshark_filter().to_string();
    let filter = escape::html(&filter);
    format!(
        "<div class=\"filter\"><code>{filter}</code><button class=\"copy\" type=\"button\" data-copy=\"{filter}\">{}</button></div>",
        w.copy
    )
}

fn local_table<'a>(
    out: &mut String,
    local: impl Iterator<Item = ServiceReport<'a>>,
    len: usize,
    w: &Words,
) {
    let _ = writeln!(
        out,
        "<div class=\"scroll\"><table>\n<tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        w.service, w.role, w.why, w.bytes, w.evidence_frames, w.filter
    );
    for (i, sr) in local.enumerate().take(MAX_ROWS) {
        let s = &sr.service;
        let _ = writeln!(
            out,
            "<tr><td class=\"n\">L{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            i + 1,
            t(&s.label),
            match (s.role, s.via_proxy) {
                (_, true) => format!("{}: {}", w.proxy, w.via_proxy),
                (Some(r), false) => escape::html(r).to_string(),
                (None, false) => "-".into(),
            },
            escape::html(s.scope_reason.unwrap_or(s.scope.as_str())),
            thousands(s.bytes),
            frames_list(&s.frames, 12),
            filter_box(s, w)
        );
    }
    out.push_str("</table></div>\n");
    more(out, len, w);
}

fn bindings<'a>(out: &mut String, services: impl Iterator<Item = ServiceReport<'a>>, w: &Words) {
    let mut rows: Vec<(String, String, String, Confidence, String)> = Vec::new();
    for sr in services {
        let s = &sr.service;
        for h in &s.hostnames {
            let sources: Vec<&str> = h.sources.iter().map(|x| x.as_str()).collect();
            let ips: Vec<String> = h.addresses.iter().map(|ip| ip.to_string()).collect();
            rows.push((
                h.name.clone(),
                ips.join(", "),
                sources.join(", "),
                h.strength,
                frames_list(&h.frames, 16),
            ));
        }
    }
    if rows.is_empty() {
        return;
    }
    rows.sort();
    let _ = writeln!(
        out,
        "<h2 id=\"bindings\">{}</h2>\n<div class=\"scroll\"><table>\n<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        w.bindings, w.name, w.address, w.binding_source, w.strength, w.frames
    );
    for (name, ips, sources, strength, frames) in rows.iter().take(MAX_ROWS) {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{frames}</td></tr>",
            t(name),
            escape::html(ips),
            escape::html(sources),
            confidence(Some(*strength), w)
        );
    }
    out.push_str("</table></div>\n");
    more(out, rows.len(), w);
}

fn anomalies(out: &mut String, r: &Report, w: &Words) {
    let _ = writeln!(out, "<h2 id=\"anomalies\">{}</h2>", w.anomalies);
    let total: u64 = r
        .captures
        .iter()
        .map(|c| c.anomalies.len() as u64 + c.anomalies_suppressed.values().sum::<u64>())
        .sum();
    if total == 0 {
        let _ = writeln!(out, "<p>{}</p>", w.none);
        return;
    }
    let _ = writeln!(
        out,
        "<div class=\"scroll\"><table>\n<tr><th>#</th><th>{}</th><th>offset</th><th>code</th><th></th></tr>",
        w.frames
    );
    let mut shown = 0;
    for c in &r.captures {
        for a in c.anomalies.iter().take(MAX_ROWS.saturating_sub(shown)) {
            shown += 1;
            let _ = writeln!(
                out,
                "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td><code>{}</code></td><td>{}</td></tr>",
                c.index,
                a.frame.map(|f| f.to_string()).unwrap_or_default(),
                a.offset,
                escape::html(a.code),
                t(&a.message)
            );
        }
        for (code, n) in &c.anomalies_suppressed {
            let _ = writeln!(
                out,
                "<tr><td class=\"n\">{}</td><td></td><td></td><td><code>{}</code></td><td>+{n}</td></tr>",
                c.index,
                escape::html(code)
            );
        }
    }
    out.push_str("</table></div>\n");
    more(out, total as usize, w);
}

fn sources(out: &mut String, r: &Report, w: &Words) {
    if r.sources.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<h2 id=\"sources\">{}</h2>\n<div class=\"scroll\"><table>\n<tr><th>{}</th><th>{}</th><th>{}</th><th>SHA-256</th></tr>",
        w.sources, w.file, w.kind, w.version
    );
    for s in &r.sources {
        let version = [
            s.version.as_deref(),
            s.build_date.as_deref(),
            s.licence.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ");
        let _ = writeln!(
            out,
            "<tr><td>{}{}</td><td>{}</td><td>{}</td><td class=\"hash\">{}</td></tr>",
            t(&s.name),
            if s.bundled { " (bundled)" } else { "" },
            escape::html(&s.type_),
            t(&version),
            escape::html(&s.sha256)
        );
    }
    out.push_str("</table></div>\n");
}

#[cfg(test)]
mod tests {
    use super::super::notices::{CaseNotices, Filed, ProviderStatus, SentNotice};
    use super::*;

    /// A provider's cells show at most CELL_ITEMS services and endpoints, then
    /// how many more (exact counts), and escape what the capture named.
    #[test]
    fn provider_cells_show_twenty_items_and_count_the_rest() {
        use crate::model::Transport;
        use crate::services::{FrameList, Service, ServiceEndpoint};
        let ep = |i: u32, port: u16| ServiceEndpoint {
            ip: std::net::IpAddr::from([203, 0, 113, i as u8]),
            port,
            transport: Transport::Tcp,
            conversations: 1,
            frames_to_server: 1,
            bytes_to_server: u64::from(100 - i),
            frames_to_client: 1,
            bytes_to_client: 1,
            first_seen: Timestamp::new(1, 0),
            last_seen: Timestamp::new(2, 0),
        };
        // 30 services of two endpoints each, all of one (unknown) provider.
        let reports = (0..30u32).map(|i| ServiceReport {
            service: Service::assemble(
                format!("s{i:02}<b>.example"),
                Vec::new(),
                vec![ep(i, 443), ep(i, 8443)],
                FrameList::new(),
            )
            .expect("endpoints"),
            by_ip: None,
        });
        let mut out = String::new();
        by_provider(&mut out, reports, &EN);
        let row = out
            .lines()
            .find(|l| l.contains("s00"))
            .expect("the provider's row");
        let services = row.matches("<span class=\"u\">s").count();
        assert_eq!(services, CELL_ITEMS, "{row}");
        assert!(row.contains("s19&lt;b&gt;.example") && !row.contains("s20&lt;b&gt;"));
        assert!(!row.contains("<b>"), "{row}");
        assert!(row.contains("… 10 more in the JSON report"), "{row}");
        let endpoints = row.matches(":443/tcp").count() + row.matches(":8443/tcp").count();
        assert_eq!(endpoints, CELL_ITEMS, "{row}");
        assert!(row.contains("… 40 more in the JSON report"), "{row}");
    }

    #[test]
    fn notices_are_listed_escaped_and_only_when_a_case_has_some() {
        let r = Report::build_for(&[], &[], &[], None);
        let none = CaseNotices {
            case: Some("MT-1".into()),
            as_of: "2026-12-02T00:00:00Z".into(),
            providers: Vec::new(),
        };
        for lang in [Lang::En, Lang::ZhCn] {
            // No case, or a case without notices: no section at all.
            let plain = render(&r, lang);
            assert_eq!(render_with_notices(&r, lang, Some(&none)), plain);
            assert!(!plain.contains("id=\"notices\"") && !plain.contains("table.notices"));
        }
        let hostile = CaseNotices {
            providers: vec![ProviderStatus {
                provider: "<b>p</b>".into(),
                sent: vec![SentNotice {
                    at: "2026-11-22T02:00:00Z".into(),
                    channel: "https://x.example/\"><script>alert(1)</script>".into(),
                    ticket: Some("<i>7</i>".into()),
                    frame: Some("dmca".into()),
                    letter: Filed {
                        path: "letters/sent/0001-<x>.txt".into(),
                        sha256: "ab".repeat(32),
                    },
                    receipts: Vec::new(),
                    custody_line: 4,
                }],
                replies: Vec::new(),
                days_without_answer: Some(9),
            }],
            ..none.clone()
        };
        for (lang, days) in [(Lang::En, "9 days since"), (Lang::ZhCn, "9 天")] {
            let page = render_with_notices(&r, lang, Some(&hostile));
            assert!(page.contains("id=\"notices\""));
            assert!(page.contains(days), "{lang:?}");
            assert!(page.contains("&lt;b&gt;p&lt;/b&gt;"));
            assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
            assert!(page.contains("0001-&lt;x&gt;.txt"));
            assert!(!page.contains("<b>p") && !page.contains("<i>7") && !page.contains("<x>"));
            assert!(!page.contains("<script>alert"));
            assert!(page.contains(&"ab".repeat(32)));
        }
    }
}
