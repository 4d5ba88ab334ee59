//! The terminal view of a report: aligned plain-text tables.

use super::escape;
use super::Report;
use std::fmt::Write;

/// Rows shown per table before "... N more" (the JSON report has them all).
const MAX_ROWS: usize = 40;

/// Ports listed per address, and addresses per service, on a service's line.
const MAX_PORTS_SHOWN: usize = 4;
const MAX_ADDRESSES_SHOWN: usize = 16;

pub(super) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Renders rows as columns padded to their widest cell, indented by two spaces, at
/// most [`MAX_ROWS`] rows; `right` marks columns aligned to the right (numbers).
pub(super) fn grid(out: &mut String, header: &[&str], right: &[bool], rows: &[Vec<String>]) {
    columns(out, "  ", header, right, rows, MAX_ROWS);
}

/// Width of `s` on a terminal: CJK characters take two columns (阿里云 is six wide).
pub(crate) fn display_width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// The one table writer of the terminal views: rows as columns padded to their
/// widest cell by display width, each line after `indent`, at most `max_rows` rows
/// (then "... N more"); the last column is not padded.
pub fn columns(
    out: &mut String,
    indent: &str,
    header: &[&str],
    right: &[bool],
    rows: &[Vec<String>],
    max_rows: usize,
) {
    let mut width: Vec<usize> = header.iter().map(|h| display_width(h)).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(display_width(c));
        }
    }
    let line = |out: &mut String, cells: Vec<&str>| {
        out.push_str(indent);
        for (i, c) in cells.iter().enumerate() {
            let w = width.get(i).copied().unwrap_or(0);
            let pad = w.saturating_sub(display_width(c));
            if right.get(i).copied().unwrap_or(false) {
                out.push_str(&" ".repeat(pad));
                out.push_str(c);
            } else {
                out.push_str(c);
                if i + 1 < cells.len() {
                    out.push_str(&" ".repeat(pad));
                }
            }
            if i + 1 < cells.len() {
                out.push_str("  ");
            }
        }
        out.push('\n');
    };
    line(out, header.to_vec());
    for r in rows.iter().take(max_rows) {
        line(out, r.iter().map(String::as_str).collect());
    }
    if rows.len() > max_rows {
        let _ = writeln!(
            out,
            "{indent}... {} more (see --json)",
            rows.len() - max_rows
        );
    }
}

fn confidence(c: Option<crate::model::Confidence>) -> &'static str {
    match c {
        Some(crate::model::Confidence::Strong) => "strong",
        Some(crate::model::Confidence::Medium) => "medium",
        Some(crate::model::Confidence::Weak) => "weak",
        None => "no confidence given",
    }
}

fn services(out: &mut String, r: &Report) {
    let _ = writeln!(
        out,
        "SERVICES{}",
        if r.targets.is_empty() {
            String::new()
        } else {
            format!(" (targets: {})", escape::terminal(&r.targets.join(", ")))
        }
    );
    let internet = r.services.internet_len();
    let local = r.services.len() - internet;
    if internet == 0 {
        let _ = writeln!(out, "  none");
    }
    service_list(out, r.services.internet(), internet, "");
    if local > 0 {
        let _ = writeln!(
            out,
            "\nLOCAL NETWORK, BROADCAST, MULTICAST AND SPECIAL-PURPOSE (no provider hosts these)"
        );
        service_list(out, r.services.local(), local, "L");
    }
    out.push('\n');
}

/// A service's endpoints on its line: each as `address:port/transport`, at most
/// [`MAX_PORTS_SHOWN`] per address and [`MAX_ADDRESSES_SHOWN`] addresses, then how
/// many more there are (the JSON, CSV and HTML list them all). A server on
/// hundreds of ports would otherwise be one line of thousands of characters.
fn endpoint_summary(endpoints: &[crate::services::ServiceEndpoint]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut addresses = crate::services::by_address(endpoints);
    for same in addresses.by_ref().take(MAX_ADDRESSES_SHOWN) {
        parts.extend(same.iter().take(MAX_PORTS_SHOWN).map(|e| e.socket()));
        if let Some(first) = same.first().filter(|_| same.len() > MAX_PORTS_SHOWN) {
            let more = same.len() - MAX_PORTS_SHOWN;
            parts.push(format!("(+{more} more on {})", first.ip));
        }
    }
    let more = addresses.count();
    if more > 0 {
        parts.push(format!("(+{more} more addresses)"));
    }
    parts.join(" ")
}

/// One group of services (`len` of them), numbered with `mark` before each number.
fn service_list<'a>(
    out: &mut String,
    list: impl Iterator<Item = super::ServiceReport<'a>>,
    len: usize,
    mark: &str,
) {
    for (i, sr) in list.enumerate().take(MAX_ROWS) {
        let s = &sr.service;
        let _ = writeln!(
            out,
            "  {:>2}. {}  {}  to server {} B, to client {} B, {} .. {} ({:.3} s)",
            format!("{mark}{}", i + 1),
            escape::terminal(&s.label),
            endpoint_summary(&s.endpoints),
            thousands(s.bytes_to_server),
            thousands(s.bytes_to_client),
            s.first_seen,
            s.last_seen,
            s.duration
        );
        if s.scope != crate::model::Scope::Internet {
            let _ = writeln!(
                out,
                "      {}{}",
                s.role.map(|r| format!("{r}; ")).unwrap_or_default(),
                s.scope_reason.unwrap_or(s.scope.as_str())
            );
        }
        if let (crate::model::Scope::Internet, Some(role)) = (s.scope, s.role) {
            let _ = writeln!(out, "      {role}");
        }
        if s.via_proxy {
            let _ = writeln!(
                out,
                "      via proxy: the endpoints are a proxy (SOCKS or HTTP) or a SOCKS5 UDP relay that carried the client's traffic; the server hosting the names is behind it"
            );
        }
        for a in sr.attribution() {
            if s.scope != crate::model::Scope::Internet {
                // No provider hosts these addresses; the line above says why.
                break;
            }
            attribution_lines(out, a.ip, a.attribution);
        }
        for h in &s.hostnames {
            let sources: Vec<String> = h
                .sources
                .iter()
                .map(|x| {
                    serde_json::to_value(x)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                })
                .collect();
            let frames: Vec<String> = h.frames.iter().take(8).map(|f| f.to_string()).collect();
            let _ = writeln!(
                out,
                "      name {} ({}: {}; frames {}{})",
                escape::terminal(&h.name),
                confidence(Some(h.strength)),
                sources.join(", "),
                frames.join(","),
                if h.frames.len() > 8 { ",..." } else { "" }
            );
        }
        let frames: Vec<String> = s.frames.iter().take(12).map(|f| f.to_string()).collect();
        let _ = writeln!(
            out,
            "      evidence frames {}{}",
            frames.join(","),
            if s.frames.len() > 12 { ",..." } else { "" }
        );
        let _ = writeln!(out, "      filter: {}", s.wireshark_filter());
    }
    if len > MAX_ROWS {
        let _ = writeln!(out, "  ... {} more (see --json)", len - MAX_ROWS);
    }
}

/// The addresses clients asked proxies for by number, when any: each with its proxy,
/// the requests' outcome and frames, and its attribution (or why there is none).
fn proxy_targets(out: &mut String, r: &Report) {
    let len = r.proxy_targets.len();
    if len == 0 {
        return;
    }
    let _ = writeln!(
        out,
        "BEHIND PROXIES (servers named by address to a proxy or in datagrams through its UDP relay, or in a PROXY header; the packets went to the proxy)"
    );
    for (i, p) in r.proxy_targets.iter().enumerate().take(MAX_ROWS) {
        let t = p.target;
        let target = crate::model::Endpoint {
            ip: t.ip,
            port: Some(t.port),
        };
        let frames: Vec<String> = t.frames.iter().take(8).map(|f| f.to_string()).collect();
        // A PROXY protocol header is told, not asked: it has no answer.
        let answered = !t.protocols.iter().all(|p| p.starts_with("proxy_v"));
        let _ = writeln!(
            out,
            "  {:>2}. {}  via {} ({})  {} request{}{}  {}{}  {}frames {}{}",
            i + 1,
            target,
            t.proxy,
            if t.is_relay() {
                format!("{} UDP relay", t.protocols.join(", "))
            } else {
                t.protocols.join(", ")
            },
            t.requests,
            if t.requests == 1 { "" } else { "s" },
            if answered {
                format!(", {} granted, {} refused", t.granted, t.refused)
            } else {
                String::new()
            },
            t.first_seen,
            if t.last_seen == t.first_seen {
                String::new()
            } else {
                format!(" .. {}", t.last_seen)
            },
            if r.captures.len() > 1 {
                format!("capture {} ", t.capture)
            } else {
                String::new()
            },
            frames.join(","),
            if t.frames.len() > 8 { ",..." } else { "" }
        );
        match (p.scope, p.attribution) {
            (crate::model::Scope::Internet, Some(a)) => attribution_lines(out, t.ip, a),
            (crate::model::Scope::Internet, None) => {}
            (scope, _) => {
                let _ = writeln!(out, "      {}", p.scope_reason.unwrap_or(scope.as_str()));
            }
        }
    }
    if len > MAX_ROWS {
        let _ = writeln!(out, "  ... {} more (see --json)", len - MAX_ROWS);
    }
    out.push('\n');
}

/// The lines of one address's attribution: ASN, provider and region with their
/// confidence and source, then its notes, PTR names, RDAP record and abuse contacts.
fn attribution_lines(
    out: &mut String,
    ip: std::net::IpAddr,
    attribution: &crate::attribute::Attribution,
) {
    let p = &attribution.provider;
    let r = &attribution.region;
    let provider = match (&p.id, &p.name) {
        (Some(id), name) => format!(
            "{} ({}, {})",
            name.as_deref().unwrap_or(id),
            confidence(p.confidence),
            p.source.as_ref().map_or("?", |s| s.source.as_str())
        ),
        (None, _) => format!(
            "unknown ({})",
            p.reason.as_deref().unwrap_or("no reason given")
        ),
    };
    let region = match (&r.id, &r.city) {
        (None, None) => "region unknown".to_string(),
        (id, city) => format!(
            "region {}{} ({}, {})",
            id.as_deref().unwrap_or("?"),
            city.as_deref().map(|c| format!(" {c}")).unwrap_or_default(),
            confidence(r.confidence),
            r.source.as_ref().map_or("?", |s| s.source.as_str())
        ),
    };
    let asn = match attribution.asn.number {
        Some(n) => format!("AS{n}"),
        None => "AS?".into(),
    };
    let _ = writeln!(
        out,
        "      {}  {}  {}  {}",
        ip,
        asn,
        escape::terminal(&provider),
        escape::terminal(&region)
    );
    for n in attribution.notes.iter() {
        let _ = writeln!(out, "        note: {}", escape::terminal(n));
    }
    if let Some(p) = &attribution.ptr {
        let _ = writeln!(
            out,
            "        ptr: {}",
            escape::terminal(&if p.names.is_empty() {
                p.error.clone().unwrap_or_else(|| "none".into())
            } else {
                p.names.join(", ")
            })
        );
    }
    if let Some(r) = &attribution.rdap {
        let _ = writeln!(
            out,
            "        rdap: {} {} {} ({}){}",
            escape::terminal(r.handle.as_deref().unwrap_or("-")),
            escape::terminal(r.name.as_deref().unwrap_or("-")),
            escape::terminal(r.range.as_deref().unwrap_or("-")),
            escape::terminal(&r.server),
            r.error
                .as_deref()
                .map(|e| format!(": {}", escape::terminal(e)))
                .unwrap_or_default()
        );
    }
    for c in &attribution.abuse_contacts {
        let _ = writeln!(
            out,
            "        abuse contact {}: {}",
            c.rank,
            escape::terminal(&crate::attribute::online::describe_contact(c))
        );
    }
}

/// The objects HTTP carried, when listed: id, status, decoded size, the start of
/// the SHA-256, the URL (clipped) and the file written.
fn objects(out: &mut String, r: &Report) {
    let Some(objects) = &r.objects else {
        return;
    };
    let _ = writeln!(out, "\nOBJECTS ({})", objects.len());
    let rows: Vec<Vec<String>> = objects
        .iter()
        .map(|o| {
            let url: String = o.url.chars().take(60).collect();
            vec![
                format!("{}{}", o.id, if o.complete { "" } else { "!" }),
                o.status.to_string(),
                thousands(o.size),
                o.sha256.chars().take(16).collect(),
                escape::terminal(&url),
                o.file.as_deref().map(escape::terminal).unwrap_or_default(),
            ]
        })
        .collect();
    grid(
        out,
        &["id", "status", "size", "sha256", "url", "file"],
        &[true, true, true, false, false, false],
        &rows,
    );
    if objects.iter().any(|o| !o.complete) {
        let _ = writeln!(out, "  ! incomplete: see the report's problems (--json)");
    }
}

/// The terminal text of a report: services first, then captures, conversations and
/// endpoints.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    services(&mut out, r);
    proxy_targets(&mut out, r);
    let _ = writeln!(out, "CAPTURES");
    for c in &r.captures {
        let links: Vec<String> = c.link_types.iter().map(|l| l.name()).collect();
        let _ = writeln!(
            out,
            "  [{}] {}  {}{}  {}  {} frames  {} bytes on the wire",
            c.index,
            escape::terminal(&c.path),
            format!("{:?}", c.format).to_lowercase(),
            match c.compression {
                crate::capture::Compression::None => String::new(),
                z => format!(" ({})", format!("{z:?}").to_lowercase()),
            },
            links.join(","),
            thousands(c.packets),
            thousands(c.bytes),
        );
        if let (Some(f), Some(l)) = (c.first_seen, c.last_seen) {
            let _ = writeln!(out, "      {f} .. {l}");
        }
        let _ = writeln!(
            out,
            "      sha256 {}  ({} bytes)",
            c.sha256.as_deref().unwrap_or("not computed (--no-hash)"),
            thousands(c.file_size)
        );
        let n = c.anomalies.len() as u64 + c.anomalies_suppressed.values().sum::<u64>();
        if n == 0 {
            let _ = writeln!(out, "      anomalies: none");
        } else {
            let _ = writeln!(out, "      anomalies: {n}");
            for a in c.anomalies.iter().take(10) {
                let _ = writeln!(
                    out,
                    "        - [{}] {}",
                    a.code,
                    escape::terminal(&a.message)
                );
            }
            if n > 10 {
                let _ = writeln!(out, "        ... {} more (see --json)", n - 10);
            }
        }
    }

    objects(&mut out, r);
    let multi = r.captures.len() > 1;
    let _ = writeln!(out, "\nCONVERSATIONS");
    let total = r.conversations.len();
    let rows: Vec<Vec<String>> = r
        .conversations
        .iter()
        .take(MAX_ROWS)
        .map(|c| {
            let mut row = Vec::new();
            if multi {
                row.push(c.capture.to_string());
            }
            row.extend([
                c.transport.to_string(),
                c.a.to_string(),
                c.b.to_string(),
                thousands(c.frames_a_to_b),
                thousands(c.bytes_a_to_b),
                thousands(c.frames_b_to_a),
                thousands(c.bytes_b_to_a),
                c.first_seen.to_string(),
                format!("{:.3}", c.duration),
                c.first_frame.to_string(),
            ]);
            row
        })
        .collect();
    let mut header = vec![
        "proto",
        "A",
        "B",
        "A>B frames",
        "A>B bytes",
        "B>A frames",
        "B>A bytes",
        "first seen",
        "duration s",
        "frame",
    ];
    let mut right = vec![
        false, false, false, true, true, true, true, false, true, true,
    ];
    if multi {
        header.insert(0, "cap");
        right.insert(0, true);
    }
    grid(&mut out, &header, &right, &rows);
    if total > rows.len() {
        let _ = writeln!(out, "  ... {} more (see --json)", total - rows.len());
    }

    let _ = writeln!(out, "\nENDPOINTS");
    // Only the rows shown are made, as for the conversations: a capture may have
    // hundreds of thousands.
    let total = r.endpoints.len();
    let rows: Vec<Vec<String>> = r
        .endpoints
        .iter()
        .take(MAX_ROWS)
        .map(|e| {
            let mut row = Vec::new();
            if multi {
                row.push(e.capture.to_string());
            }
            row.extend([
                e.ip.to_string(),
                thousands(e.frames),
                thousands(e.bytes),
                thousands(e.tx_frames),
                thousands(e.tx_bytes),
                thousands(e.rx_frames),
                thousands(e.rx_bytes),
            ]);
            row
        })
        .collect();
    let mut header = vec![
        "address",
        "frames",
        "bytes",
        "tx frames",
        "tx bytes",
        "rx frames",
        "rx bytes",
    ];
    let mut right = vec![false, true, true, true, true, true, true];
    if multi {
        header.insert(0, "cap");
        right.insert(0, true);
    }
    grid(&mut out, &header, &right, &rows);
    if total > rows.len() {
        let _ = writeln!(out, "  ... {} more (see --json)", total - rows.len());
    }
    out
}

#[cfg(test)]
mod tests {
    /// A few endpoints are listed as they are; a server on many ports, or a
    /// service on many addresses, is cut with a count of what is left out.
    #[test]
    fn a_service_line_lists_a_few_ports_per_address_and_counts_the_rest() {
        use crate::model::{Timestamp, Transport};
        let ep = |ip: &str, port: u16| crate::services::ServiceEndpoint {
            ip: ip.parse().unwrap(),
            port,
            transport: Transport::Tcp,
            conversations: 1,
            frames_to_server: 1,
            bytes_to_server: 1,
            frames_to_client: 1,
            bytes_to_client: 1,
            first_seen: Timestamp { secs: 0, nanos: 0 },
            last_seen: Timestamp { secs: 0, nanos: 0 },
        };
        let few = [
            ep("192.0.2.1", 80),
            ep("192.0.2.1", 443),
            ep("2001:db8::1", 443),
        ];
        assert_eq!(
            super::endpoint_summary(&few),
            "192.0.2.1:80/tcp 192.0.2.1:443/tcp [2001:db8::1]:443/tcp"
        );
        let many: Vec<_> = (1..=10).map(|p| ep("192.0.2.1", p)).collect();
        assert_eq!(
            super::endpoint_summary(&many),
            "192.0.2.1:1/tcp 192.0.2.1:2/tcp 192.0.2.1:3/tcp 192.0.2.1:4/tcp (+6 more on 192.0.2.1)"
        );
        let spread: Vec<_> = (1..=20).map(|i| ep(&format!("192.0.2.{i}"), 443)).collect();
        let line = super::endpoint_summary(&spread);
        assert!(
            line.starts_with("192.0.2.1:443/tcp 192.0.2.2:443/tcp "),
            "{line}"
        );
        assert!(line.ends_with(" (+4 more addresses)"), "{line}");
        assert_eq!(line.matches(":443/tcp").count(), super::MAX_ADDRESSES_SHOWN);
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }

    /// Chinese provider and city names take two columns per character: the columns
    /// after them still start at one display column on every line.
    #[test]
    fn columns_align_by_display_width_with_chinese_names() {
        let rows = vec![
            vec![
                "47.236.91.18".to_string(),
                "阿里云".to_string(),
                "广州".to_string(),
                "x".to_string(),
            ],
            vec![
                "3.5.140.2".to_string(),
                "AWS".to_string(),
                "Seoul".to_string(),
                "y".to_string(),
            ],
            vec![
                "1.2.3.4".to_string(),
                "腾讯云 Tencent".to_string(),
                "上海".to_string(),
                "z".to_string(),
            ],
        ];
        let mut out = String::new();
        super::columns(
            &mut out,
            "",
            &["ADDRESS", "PROVIDER", "CITY", "END"],
            &[],
            &rows,
            10,
        );
        let starts: Vec<usize> = out
            .lines()
            .map(|l| {
                let cut = l.rfind("  ").map(|i| i + 2).unwrap_or(0);
                super::display_width(&l[..cut])
            })
            .collect();
        assert_eq!(starts.len(), 4, "{out}");
        assert!(starts.iter().all(|s| *s == starts[0]), "{starts:?}\n{out}");
        assert_eq!(super::display_width("阿里云"), 6);
        // The row cap says how many were left out.
        let mut capped = String::new();
        super::columns(&mut capped, "  ", &["A"], &[], &rows, 1);
        assert!(capped.ends_with("  ... 2 more (see --json)\n"), "{capped}");
    }
}
