//! Reverse DNS (PTR) for `--online`, through `hickory-resolver`: the nameserver of the
//! system configuration or one given, a timeout per query, a bounded number of queries
//! in flight.
//!
//! Each answer is kept as evidence: the DNS message as the resolver parsed it,
//! re-encoded to wire form by `hickory-proto` (the resolver does not hand out the
//! received bytes), and its records in presentation form, with the query time and
//! server. PTR names are written by whoever holds the reverse zone: they are kept as
//! text for the caller to escape, and used only to match provider hostname patterns.
//!
//! Contract: a timeout, a refusal or NXDOMAIN is an answer (`names` empty, `error`
//! set), never a hang or a panic.

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::serialize::binary::BinEncodable;
use hickory_resolver::Resolver;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How to ask.
#[derive(Clone, Debug)]
pub struct RdnsOptions {
    /// A nameserver to ask instead of the system's (`127.0.0.1:5353`).
    pub server: Option<SocketAddr>,
    pub timeout: Duration,
    /// Queries in flight at most.
    pub concurrency: usize,
}

impl Default for RdnsOptions {
    fn default() -> Self {
        RdnsOptions {
            server: None,
            timeout: Duration::from_secs(3),
            concurrency: 8,
        }
    }
}

/// One reverse lookup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PtrAnswer {
    pub ip: IpAddr,
    /// The query name (`4.3.2.1.in-addr.arpa.`).
    pub query: String,
    /// The nameserver(s) asked.
    pub server: String,
    /// RFC 3339 UTC, when the answer (or the failure) came.
    pub time_utc: String,
    /// PTR targets, lower case, without the trailing dot.
    pub names: Vec<String>,
    /// Every answer record in presentation form.
    pub records: Vec<String>,
    /// Why there is no name: NXDOMAIN, no PTR record, timeout, refused.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// The DNS message, re-encoded to wire form (absent on failure).
    #[serde(skip)]
    pub wire: Option<Vec<u8>>,
}

/// The in-addr.arpa / ip6.arpa name of an address (RFC 1035 §3.5, RFC 3596 §2.5).
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(a) => {
            let mut s = String::new();
            for b in a.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s.push_str("ip6.arpa.");
            s
        }
    }
}

fn now_utc() -> String {
    crate::evidence::Now::system(time::UtcOffset::UTC).utc
}

/// Looks up the PTR records of every address, at most `concurrency` at once. The
/// answers come back in the order of `ips`.
pub fn lookup_all(ips: &[IpAddr], opts: &RdnsOptions) -> Result<Vec<PtrAnswer>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the DNS runtime: {e}"))?;
    let (config, mut ropts) = match opts.server {
        Some(sa) => {
            let mut ns = NameServerConfig::udp_and_tcp(sa.ip());
            for c in &mut ns.connections {
                c.port = sa.port();
            }
            (
                ResolverConfig::from_parts(None, Vec::new(), vec![ns]),
                ResolverOpts::default(),
            )
        }
        None => hickory_resolver::system_conf::read_system_conf()
            .map_err(|e| format!("reading the system's resolver configuration: {e}"))?,
    };
    ropts.timeout = opts.timeout;
    ropts.attempts = 1;
    ropts.cache_size = 0;
    let server = config
        .name_servers()
        .iter()
        .map(|n| {
            let port = n.connections.first().map(|c| c.port).unwrap_or(53);
            SocketAddr::new(n.ip, port).to_string()
        })
        .collect::<Vec<_>>()
        .join(", ");
    let resolver = Resolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(ropts)
        .build()
        .map_err(|e| format!("configuring the resolver: {e}"))?;
    let resolver = Arc::new(resolver);
    let limit = Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1)));
    // Each query is bounded by the resolver's timeout; this outer bound is a backstop.
    let backstop = opts.timeout.saturating_mul(3) + Duration::from_secs(1);
    let answers = rt.block_on(async {
        let mut handles = Vec::new();
        for ip in ips {
            let (resolver, limit, server, ip) =
                (resolver.clone(), limit.clone(), server.clone(), *ip);
            handles.push(tokio::spawn(async move {
                let _permit = limit.acquire_owned().await.ok();
                let query = reverse_name(ip);
                let r = tokio::time::timeout(backstop, resolver.reverse_lookup(ip)).await;
                let mut a = PtrAnswer {
                    ip,
                    query,
                    server,
                    time_utc: now_utc(),
                    names: Vec::new(),
                    records: Vec::new(),
                    error: None,
                    wire: None,
                };
                match r {
                    Err(_) => a.error = Some(format!("no answer within {backstop:?}")),
                    Ok(Err(e)) if e.is_nx_domain() => {
                        a.error = Some("NXDOMAIN: no reverse name".into())
                    }
                    Ok(Err(e)) if e.is_no_records_found() => a.error = Some("no PTR record".into()),
                    Ok(Err(e)) => a.error = Some(e.to_string()),
                    Ok(Ok(lookup)) => {
                        for r in lookup.answers() {
                            a.records.push(r.to_string());
                            if let hickory_resolver::proto::rr::RData::PTR(p) = &r.data {
                                let mut n = p.0.to_ascii().to_ascii_lowercase();
                                if n.ends_with('.') {
                                    n.pop();
                                }
                                a.names.push(n);
                            }
                        }
                        a.names.sort();
                        a.names.dedup();
                        a.wire = lookup.message().to_bytes().ok();
                        if a.names.is_empty() {
                            a.error = Some("no PTR record in the answer".into());
                        }
                    }
                }
                a
            }));
        }
        let mut out = Vec::new();
        for h in handles {
            if let Ok(a) = h.await {
                out.push(a);
            }
        }
        out
    });
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names_follow_rfc_1035_and_3596() {
        assert_eq!(
            reverse_name("3.121.45.67".parse().unwrap()),
            "67.45.121.3.in-addr.arpa."
        );
        let v6 = reverse_name("2001:db8::1".parse().unwrap());
        assert!(v6.starts_with("1.0.0.0.0.0.0.0"));
        assert!(v6.ends_with("8.b.d.0.1.0.0.2.ip6.arpa."));
    }
}
