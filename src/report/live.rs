//! The live view of a capture on a terminal: counters, and the services seen so far
//! with their server endpoints and, where the offline data knows it, provider and
//! region. Made from what the running analysis has found (names bound to server
//! addresses); rendering has no clock of its own (the caller passes the elapsed
//! time) and every name is escaped for the terminal.

use super::escape;
use super::table::{grid, thousands};
use crate::attribute::{Attributor, HostnameEvidence};
use crate::model::Endpoint;
use crate::services::NameEvidence;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::IpAddr;

/// Services shown at most (the newest found); the report has them all.
const SHOWN: usize = 12;

/// The counters of one interface.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub struct InterfaceLine {
    pub name: String,
    pub received: u64,
    pub kernel_drops: u64,
    pub interface_drops: u64,
}

/// One service seen so far: a name and the server endpoints it was bound to.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub struct ServiceLine {
    pub name: String,
    /// Where the name was seen first: `tls_sni`, `dns_answer`, ...
    pub source: String,
    pub endpoints: Vec<String>,
    /// `provider (region)` from the offline data, or empty.
    pub attribution: String,
}

/// Everything the view shows, also kept in a case's `.run/` for `session status`.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub struct LiveView {
    pub elapsed_secs: f64,
    pub packets: u64,
    pub bytes: u64,
    /// Bytes per second over the last interval.
    pub rate: f64,
    pub files: u64,
    pub current_file: Option<String>,
    pub interfaces: Vec<InterfaceLine>,
    /// Frames the analysis has read.
    pub analysed: u64,
    /// All services found so far (the view shows the newest).
    pub services: Vec<ServiceLine>,
    pub stopping: bool,
}

/// Groups name bindings into services, in the order the names were first found,
/// and attributes each service's first server address.
pub fn services(
    names: &[NameEvidence],
    attributor: Option<&Attributor>,
    cache: &mut BTreeMap<IpAddr, String>,
) -> Vec<ServiceLine> {
    let mut order: Vec<String> = Vec::new();
    // Per name: where it was first seen, and its endpoints (address, as shown).
    type Seen<'a> = (&'a str, Vec<(IpAddr, String)>);
    let mut by_name: BTreeMap<&str, Seen<'_>> = BTreeMap::new();
    for n in names {
        let entry = by_name.entry(n.name.as_str()).or_insert_with(|| {
            order.push(n.name.clone());
            (n.source.as_str(), Vec::new())
        });
        let ep = match n.port {
            Some((t, p)) => format!(
                "{}/{t}",
                Endpoint {
                    ip: n.ip,
                    port: Some(p)
                }
            ),
            None => n.ip.to_string(),
        };
        if !entry.1.iter().any(|(_, e)| *e == ep) {
            entry.1.push((n.ip, ep));
        }
    }
    order
        .into_iter()
        .filter_map(|name| {
            let (source, eps) = by_name.get(name.as_str())?;
            let attribution = match (eps.first(), attributor) {
                (Some((ip, _)), Some(a)) => cache
                    .entry(*ip)
                    .or_insert_with(|| {
                        let hostnames: Vec<HostnameEvidence> = names
                            .iter()
                            .filter(|n| n.ip == *ip)
                            .map(|n| {
                                HostnameEvidence::from_wire(
                                    n.name.as_bytes(),
                                    n.source.into(),
                                    Some(n.at),
                                )
                            })
                            .collect();
                        let at = a.attribute(*ip, &hostnames);
                        match (&at.provider.name, &at.region.id) {
                            (Some(p), Some(r)) => format!("{p} ({r})"),
                            (Some(p), None) => p.clone(),
                            (None, _) => at
                                .asn
                                .organization
                                .as_ref()
                                .map(|o| format!("{o} (not a known provider)"))
                                .unwrap_or_default(),
                        }
                    })
                    .clone(),
                _ => String::new(),
            };
            Some(ServiceLine {
                source: source.to_string(),
                endpoints: eps.iter().map(|(_, e)| e.clone()).collect(),
                attribution,
                name,
            })
        })
        .collect()
}

fn size(n: u64) -> String {
    match n {
        n if n >= 10_000_000_000 => format!("{:.1} GB", n as f64 / 1e9),
        n if n >= 10_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        n if n >= 10_000 => format!("{:.1} kB", n as f64 / 1e3),
        n => format!("{n} B"),
    }
}

/// The view as lines of text for a terminal.
pub fn render(v: &LiveView) -> String {
    let mut out = String::new();
    let secs = v.elapsed_secs.max(0.0) as u64;
    let drops: u64 = v
        .interfaces
        .iter()
        .map(|i| i.kernel_drops + i.interface_drops)
        .sum();
    let _ = writeln!(
        out,
        "{} {:02}:{:02}:{:02}  {} packets  {}  {}/s  drops {}{}",
        if v.stopping { "stopping" } else { "capturing" },
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        thousands(v.packets),
        size(v.bytes),
        size(v.rate as u64),
        thousands(drops),
        if v.interfaces.len() > 1 || drops > 0 {
            format!(
                " ({})",
                v.interfaces
                    .iter()
                    .map(|i| format!(
                        "{}: kernel {}, interface {}",
                        escape::terminal(&i.name),
                        thousands(i.kernel_drops),
                        thousands(i.interface_drops)
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        } else {
            String::new()
        }
    );
    if let Some(f) = &v.current_file {
        let _ = writeln!(
            out,
            "file {} ({} so far), {} analysed",
            escape::terminal(f),
            if v.files == 1 {
                "1 file".to_string()
            } else {
                format!("{} files", v.files)
            },
            thousands(v.analysed)
        );
    }
    if v.services.is_empty() {
        let _ = write!(out, "no service names seen yet");
        return out;
    }
    let _ = writeln!(
        out,
        "services seen so far: {}{}",
        v.services.len(),
        if v.services.len() > SHOWN {
            format!(" (the newest {SHOWN} shown)")
        } else {
            String::new()
        }
    );
    let rows: Vec<Vec<String>> = v
        .services
        .iter()
        .skip(v.services.len().saturating_sub(SHOWN))
        .map(|s| {
            let mut eps = s.endpoints.iter().take(3).cloned().collect::<Vec<_>>();
            if s.endpoints.len() > 3 {
                eps.push(format!("+{}", s.endpoints.len() - 3));
            }
            vec![
                escape::terminal(&s.name),
                eps.join(" "),
                escape::terminal(&s.attribution),
                s.source.clone(),
            ]
        })
        .collect();
    grid(
        &mut out,
        &["name", "server", "provider (region)", "seen in"],
        &[false, false, false, false],
        &rows,
    );
    while out.ends_with('\n') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_wire_are_escaped_in_the_view() {
        let v = LiveView {
            services: vec![ServiceLine {
                name: "evil\u{1b}[2J.example".into(),
                source: "tls_sni".into(),
                endpoints: vec!["192.0.2.1:443/tcp".into()],
                attribution: String::new(),
            }],
            ..LiveView::default()
        };
        let text = render(&v);
        assert!(!text.contains('\u{1b}'));
        assert!(text.contains("evil\\x1b[2J.example"));
    }
}
