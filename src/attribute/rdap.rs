//! RDAP answers (RFC 9083) about IP networks, and the IANA bootstrap files (RFC 9224)
//! that say which registry to ask: bytes in, facts out, no I/O.
//!
//! From an IP network object: handle, name, range (`startAddress`-`endAddress`, or the
//! `cidr0_cidrs` extension), country, parent handle, and the abuse contacts as
//! LEGAL.md lays out: entities walked recursively (ARIN nests the abuse
//! entity under the registrant, RIPE puts it at the top), those whose `roles` hold
//! `abuse` read for e-mail addresses in their jCard (`vcardArray`, RFC 7095), best
//! `pref` first; placeholders (REDACTED, NOT DISCLOSED, PLEASE QUERY, ...) dropped;
//! `remarks` read for an abuse mailbox named only there (some Alibaba blocks); an RFC
//! 2142 `abuse@domain` only as a last resort, ranked lowest and labelled so.
//!
//! Contract: any bytes give a value or an [`RdapError`], never a panic; the entity walk
//! is bounded in depth and count; every string is kept as text for the caller to
//! escape (RDAP answers are written by whoever holds the block).

use crate::attribute::index::IpPrefix;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::net::IpAddr;

/// Entities nested deeper than this are not read (real answers nest two levels).
const MAX_DEPTH: usize = 8;
/// Entities read at most, over the whole answer.
const MAX_ENTITIES: usize = 256;
/// Longest string kept from an answer.
const MAX_TEXT: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RdapError {
    #[error("not JSON: {0}")]
    Json(String),
    #[error("not an RDAP IP network object: {0}")]
    NotNetwork(String),
    #[error("not an RDAP bootstrap file: {0}")]
    NotBootstrap(String),
}

/// Where an abuse contact was read.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactSource {
    /// The jCard of an entity with the `abuse` role.
    RdapAbuseEntity,
    /// A `remarks` text of the network.
    RdapRemarks,
    /// `abuse@<domain>` after RFC 2142, guessed from a domain the record names: not
    /// confirmed by the registry.
    Rfc2142Guess,
}

/// One abuse contact; `rank` 1 is the best.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AbuseContact {
    pub rank: u32,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub url: Option<String>,
    pub source: ContactSource,
    /// The entity handle, or the remark's title, the contact was read from.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from: Option<String>,
}

/// What an RDAP network object says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub handle: Option<String>,
    pub name: Option<String>,
    /// `start - end` as the registry gives it.
    pub range: Option<String>,
    #[serde(skip)]
    pub start: Option<IpAddr>,
    #[serde(skip)]
    pub end: Option<IpAddr>,
    pub country: Option<String>,
    pub parent_handle: Option<String>,
    /// Abuse contacts, best first.
    pub abuse_contacts: Vec<AbuseContact>,
    /// Placeholder values that were dropped, for the reader.
    pub dropped: Vec<String>,
}

fn text(v: &Value) -> Option<String> {
    let s = v.as_str()?.trim();
    if s.is_empty() {
        return None;
    }
    Some(s.chars().take(MAX_TEXT).collect())
}

/// Placeholders registries put where a contact is withheld (RIPE's, APNIC's and
/// ARIN's wording seen in answers).
pub(crate) fn is_placeholder(value: &str) -> bool {
    let up = value.to_ascii_uppercase();
    [
        "REDACTED",
        "NOT DISCLOSED",
        "NOT-DISCLOSED",
        "PLEASE QUERY",
        "PLEASE CONTACT",
        "DATA PROTECTION",
        "+000000000",
        "NOBODY@",
        "EXAMPLE.COM",
    ]
    .iter()
    .any(|p| up.contains(p))
        || value
            .trim_start_matches('+')
            .chars()
            .all(|c| c == '0' || c == ' ')
}

/// An e-mail address as registries write it (`mailto:` allowed), or `None`.
fn email(value: &str) -> Option<String> {
    let v = value.trim().trim_start_matches("mailto:").trim();
    let (local, domain) = v.rsplit_once('@')?;
    let ok_local = !local.is_empty()
        && local.len() <= 64
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b));
    let ok_domain = domain.contains('.')
        && domain.len() <= 253
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    (ok_local && ok_domain).then(|| v.to_ascii_lowercase())
}

/// E-mail addresses in free text (remarks), in order.
fn emails_in(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || "<>()[]{},;:\"'".contains(c))
        .filter_map(|w| email(w.trim_end_matches('.')))
        .collect()
}

/// jCard properties of an entity: `(name, params, value)`.
fn vcard_items(entity: &Value) -> Vec<(String, &Value, &Value)> {
    let Some(items) = entity
        .get("vcardArray")
        .and_then(|v| v.get(1))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|it| {
            let a = it.as_array()?;
            let name = a.first()?.as_str()?.to_ascii_lowercase();
            Some((name, a.get(1)?, a.get(3)?))
        })
        .collect()
}

/// RFC 6350 §5.3 PREF: 1 (most preferred) to 100; absent is least preferred.
fn pref(params: &Value) -> u32 {
    match params.get("pref") {
        Some(Value::String(s)) => s.trim().parse().unwrap_or(100),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(100),
        _ => 100,
    }
}

struct Walk {
    abuse: Vec<(u32, String, Option<String>)>,
    urls: Vec<(String, Option<String>)>,
    other_emails: Vec<String>,
    dropped: Vec<String>,
    seen: usize,
}

fn walk(entities: &Value, depth: usize, w: &mut Walk) {
    let Some(list) = entities.as_array() else {
        return;
    };
    if depth >= MAX_DEPTH {
        return;
    }
    for e in list {
        if w.seen >= MAX_ENTITIES {
            return;
        }
        w.seen += 1;
        let is_abuse = e.get("roles").and_then(Value::as_array).is_some_and(|r| {
            r.iter()
                .any(|x| x.as_str().is_some_and(|s| s.eq_ignore_ascii_case("abuse")))
        });
        let handle = e.get("handle").and_then(text);
        for (name, params, value) in vcard_items(e) {
            let Some(v) = text(value) else { continue };
            match name.as_str() {
                "email" => {
                    if is_placeholder(&v) {
                        w.dropped.push(v);
                    } else if let Some(addr) = email(&v) {
                        if is_abuse {
                            w.abuse.push((pref(params), addr, handle.clone()));
                        } else {
                            w.other_emails.push(addr);
                        }
                    } else {
                        w.dropped.push(v);
                    }
                }
                // Some registries give the abuse channel as a web form.
                "url" if is_abuse && (v.starts_with("https://") || v.starts_with("http://")) => {
                    w.urls.push((v, handle.clone()));
                }
                _ => {}
            }
        }
        if let Some(sub) = e.get("entities") {
            walk(sub, depth + 1, w);
        }
    }
}

fn addr(v: Option<&Value>) -> Option<IpAddr> {
    v.and_then(Value::as_str)?.trim().parse().ok()
}

/// Reads an RDAP IP network object (`objectClassName: "ip network"`).
pub fn parse_network(bytes: &[u8]) -> Result<Network, RdapError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| RdapError::Json(e.to_string()))?;
    let class = v.get("objectClassName").and_then(Value::as_str);
    if class != Some("ip network") {
        return Err(RdapError::NotNetwork(match class {
            Some(c) => format!("objectClassName is {c:?}"),
            None => match v.get("errorCode") {
                Some(code) => format!(
                    "an error answer (errorCode {code}{})",
                    v.get("title")
                        .and_then(text)
                        .map(|t| format!(", {t:?}"))
                        .unwrap_or_default()
                ),
                None => "no objectClassName".to_string(),
            },
        }));
    }
    let mut n = Network {
        handle: v.get("handle").and_then(text),
        name: v.get("name").and_then(text),
        country: v.get("country").and_then(text),
        parent_handle: v.get("parentHandle").and_then(text),
        start: addr(v.get("startAddress")),
        end: addr(v.get("endAddress")),
        ..Network::default()
    };
    n.range = match (n.start, n.end) {
        (Some(s), Some(e)) => Some(format!("{s} - {e}")),
        _ => None,
    };
    // The cidr0 extension, when the range is not given (or to show it as prefixes).
    if let Some(cidrs) = v.get("cidr0_cidrs").and_then(Value::as_array) {
        let prefixes: Vec<String> = cidrs
            .iter()
            .filter_map(|c| {
                let base = c.get("v4prefix").or_else(|| c.get("v6prefix"))?.as_str()?;
                let len = c.get("length")?.as_u64()?;
                let p: IpPrefix = format!("{base}/{len}").parse().ok()?;
                Some(p.to_string())
            })
            .take(16)
            .collect();
        if n.range.is_none() && !prefixes.is_empty() {
            n.range = Some(prefixes.join(", "));
        }
    }
    let mut w = Walk {
        abuse: Vec::new(),
        urls: Vec::new(),
        other_emails: Vec::new(),
        dropped: Vec::new(),
        seen: 0,
    };
    if let Some(e) = v.get("entities") {
        walk(e, 0, &mut w);
    }
    // Best pref first, then the address, for the same answer in the same order.
    w.abuse.sort();
    let mut contacts: Vec<AbuseContact> = Vec::new();
    let push = |c: AbuseContact, list: &mut Vec<AbuseContact>| {
        let dup = list
            .iter()
            .any(|o| o.email.is_some() && o.email == c.email || o.url.is_some() && o.url == c.url);
        if !dup {
            list.push(c);
        }
    };
    for (_, e, handle) in w.abuse {
        push(
            AbuseContact {
                rank: 0,
                email: Some(e),
                url: None,
                source: ContactSource::RdapAbuseEntity,
                from: handle,
            },
            &mut contacts,
        );
    }
    for (u, handle) in w.urls {
        push(
            AbuseContact {
                rank: 0,
                email: None,
                url: Some(u),
                source: ContactSource::RdapAbuseEntity,
                from: handle,
            },
            &mut contacts,
        );
    }
    // Remarks: an address in a remark that speaks of abuse.
    if let Some(remarks) = v.get("remarks").and_then(Value::as_array) {
        for r in remarks.iter().take(64) {
            let title = r.get("title").and_then(text);
            let lines: Vec<String> = r
                .get("description")
                .and_then(Value::as_array)
                .map(|d| d.iter().filter_map(text).take(64).collect())
                .unwrap_or_default();
            let all = format!("{} {}", title.clone().unwrap_or_default(), lines.join(" "));
            if !all.to_ascii_lowercase().contains("abuse") {
                continue;
            }
            for e in emails_in(&all) {
                if is_placeholder(&e) {
                    w.dropped.push(e);
                    continue;
                }
                push(
                    AbuseContact {
                        rank: 0,
                        email: Some(e),
                        url: None,
                        source: ContactSource::RdapRemarks,
                        from: title.clone(),
                    },
                    &mut contacts,
                );
            }
        }
    }
    // Last resort: RFC 2142 at a domain the record's other addresses use.
    if contacts.is_empty() {
        let mut domains: Vec<&str> = w
            .other_emails
            .iter()
            .filter_map(|e| e.rsplit_once('@').map(|(_, d)| d))
            .collect();
        domains.sort();
        domains.dedup();
        for d in domains.into_iter().take(3) {
            push(
                AbuseContact {
                    rank: 0,
                    email: Some(format!("abuse@{d}")),
                    url: None,
                    source: ContactSource::Rfc2142Guess,
                    from: Some(format!("RFC 2142 mailbox at {d}, a domain of the record's other contacts: a guess, not confirmed by the registry")),
                },
                &mut contacts,
            );
        }
    }
    for (i, c) in contacts.iter_mut().enumerate() {
        c.rank = u32::try_from(i + 1).unwrap_or(u32::MAX);
    }
    n.abuse_contacts = contacts;
    w.dropped.sort();
    w.dropped.dedup();
    n.dropped = w.dropped;
    Ok(n)
}

/// An IANA bootstrap file: prefixes and the registry URLs that serve them.
#[derive(Clone, Debug, Default)]
pub struct Bootstrap {
    entries: Vec<(IpPrefix, Vec<String>)>,
    pub publication: Option<String>,
}

/// Reads `ipv4.json` or `ipv6.json` (RFC 9224 §3: `services` of
/// `[[prefixes...], [urls...]]`).
pub fn parse_bootstrap(bytes: &[u8]) -> Result<Bootstrap, RdapError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| RdapError::Json(e.to_string()))?;
    let services = v
        .get("services")
        .and_then(Value::as_array)
        .ok_or_else(|| RdapError::NotBootstrap("no services list".into()))?;
    let mut b = Bootstrap {
        publication: v.get("publication").and_then(text),
        ..Bootstrap::default()
    };
    for s in services.iter().take(10_000) {
        let (Some(prefixes), Some(urls)) = (
            s.get(0).and_then(Value::as_array),
            s.get(1).and_then(Value::as_array),
        ) else {
            continue;
        };
        let urls: Vec<String> = urls
            .iter()
            .filter_map(text)
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .collect();
        if urls.is_empty() {
            continue;
        }
        for p in prefixes.iter().filter_map(Value::as_str) {
            if let Ok(p) = p.parse::<IpPrefix>() {
                b.entries.push((p, urls.clone()));
            }
        }
    }
    if b.entries.is_empty() {
        return Err(RdapError::NotBootstrap("no usable service".into()));
    }
    Ok(b)
}

impl Bootstrap {
    /// The base URL for `ip` (longest matching prefix; HTTPS preferred), ending in `/`.
    pub fn base_for(&self, ip: IpAddr) -> Option<String> {
        let (_, urls) = self
            .entries
            .iter()
            .filter(|(p, _)| p.contains(ip))
            .max_by_key(|(p, _)| p.prefix_len())?;
        let url = urls
            .iter()
            .find(|u| u.starts_with("https://"))
            .or_else(|| urls.first())?;
        Some(if url.ends_with('/') {
            url.clone()
        } else {
            format!("{url}/")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shapes of real answers, cut down by hand: RIPE puts the abuse entity at the top
    // level; ARIN nests it under the registrant.
    #[test]
    fn ripe_top_level_abuse_entity_and_arin_nested_one_are_found() {
        let ripe = br#"{"objectClassName":"ip network","handle":"5.9.0.0 - 5.9.255.255","startAddress":"5.9.0.0","endAddress":"5.9.255.255","name":"HETZNER-fsn1-dc1","country":"DE",
          "entities":[{"objectClassName":"entity","handle":"HOAC1-RIPE","roles":["abuse"],"vcardArray":["vcard",[["version",{},"text","4.0"],["email",{},"text","abuse@hetzner.com"]]]}]}"#;
        let n = parse_network(ripe).unwrap();
        assert_eq!(
            n.abuse_contacts[0].email.as_deref(),
            Some("abuse@hetzner.com")
        );
        assert_eq!(n.range.as_deref(), Some("5.9.0.0 - 5.9.255.255"));
        let arin = br#"{"objectClassName":"ip network","handle":"NET-3-0-0-0-1","startAddress":"3.0.0.0","endAddress":"3.127.255.255","name":"AT-88-Z",
          "entities":[{"handle":"AT-88-Z","roles":["registrant"],"entities":[{"handle":"AEA8-ARIN","roles":["abuse"],"vcardArray":["vcard",[["email",{"pref":"2"},"text","second@amazon.example"],["email",{"pref":"1"},"text","abuse@amazonaws.com"]]]}]}]}"#;
        let n = parse_network(arin).unwrap();
        let emails: Vec<_> = n
            .abuse_contacts
            .iter()
            .map(|c| c.email.clone().unwrap())
            .collect();
        assert_eq!(emails, ["abuse@amazonaws.com", "second@amazon.example"]);
        assert_eq!(n.abuse_contacts[0].from.as_deref(), Some("AEA8-ARIN"));
    }

    #[test]
    fn placeholders_are_dropped_and_remarks_and_rfc2142_come_after() {
        let apnic = br#"{"objectClassName":"ip network","handle":"47.74.0.0 - 47.87.255.255",
          "remarks":[{"title":"remarks","description":["Please send abuse reports to abuse@alibaba-inc.com"]}],
          "entities":[{"handle":"IRT-X","roles":["abuse"],"vcardArray":["vcard",[["email",{},"text","REDACTED FOR PRIVACY"]]]},
                      {"handle":"T","roles":["technical"],"vcardArray":["vcard",[["email",{},"text","noc@example.net"]]]}]}"#;
        let n = parse_network(apnic).unwrap();
        assert_eq!(n.abuse_contacts.len(), 1);
        assert_eq!(n.abuse_contacts[0].source, ContactSource::RdapRemarks);
        assert_eq!(
            n.abuse_contacts[0].email.as_deref(),
            Some("abuse@alibaba-inc.com")
        );
        assert!(n.dropped.iter().any(|d| d.contains("REDACTED")));
        let only_tech = br#"{"objectClassName":"ip network","entities":[{"roles":["technical"],"vcardArray":["vcard",[["email",{},"text","noc@isp.example"]]]}]}"#;
        let n = parse_network(only_tech).unwrap();
        assert_eq!(n.abuse_contacts[0].source, ContactSource::Rfc2142Guess);
        assert_eq!(
            n.abuse_contacts[0].email.as_deref(),
            Some("abuse@isp.example")
        );
    }

    #[test]
    fn errors_and_garbage_are_errors_never_panics() {
        assert!(matches!(
            parse_network(b"{\"errorCode\":404,\"title\":\"Not Found\"}"),
            Err(RdapError::NotNetwork(_))
        ));
        assert!(matches!(parse_network(b"\xff"), Err(RdapError::Json(_))));
        // Deep nesting stops at the bound (and serde_json refuses nesting past 128).
        let mut deep = String::from("{\"objectClassName\":\"ip network\",\"entities\":");
        for _ in 0..40 {
            deep.push_str("[{\"roles\":[\"abuse\"],\"entities\":");
        }
        deep.push_str("[]");
        for _ in 0..40 {
            deep.push_str("}]");
        }
        deep.push('}');
        assert!(parse_network(deep.as_bytes()).is_ok());
        let full = br#"{"objectClassName":"ip network","entities":[{"roles":["abuse"],"vcardArray":["vcard",[["email",{"pref":"1"},"text","a@b.example"]]]}]}"#;
        for n in 0..full.len() {
            let _ = parse_network(&full[..n]);
        }
    }

    #[test]
    fn bootstrap_picks_the_longest_prefix_and_https() {
        let b = parse_bootstrap(
            br#"{"publication":"2025-07-01T00:00:00Z","services":[
            [["3.0.0.0/8"],["http://arin.example/rdap","https://rdap.arin.net/registry/"]],
            [["3.5.0.0/16"],["https://rdap.example/"]]]}"#,
        )
        .unwrap();
        assert_eq!(
            b.base_for("3.1.2.3".parse().unwrap()).as_deref(),
            Some("https://rdap.arin.net/registry/")
        );
        assert_eq!(
            b.base_for("3.5.2.3".parse().unwrap()).as_deref(),
            Some("https://rdap.example/")
        );
        assert_eq!(b.base_for("4.1.2.3".parse().unwrap()), None);
    }
}
