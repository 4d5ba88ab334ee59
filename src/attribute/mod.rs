//! Attribution of server addresses, offline: ASN, country, hosting provider and
//! region, each with its source and strength.
//!
//! Sources, loaded once into an [`Attributor`]:
//! - MaxMind-format databases ([`geoip`]): the bundled ASN and country databases in
//!   `data/` and any the user adds (`--mmdb`);
//! - providers' official range feeds ([`feeds`]) imported into the data directory
//!   ([`datadir`]), searched through one longest-prefix-match [`index`];
//! - the provider directory ([`dirview`]): ASN -> provider, hostname patterns,
//!   city -> region.
//!
//! Order of strength. Provider: official feed (strong), then the announcing ASN
//! through the directory (medium), then an unofficial ASN-derived list (medium), then
//! a provider hostname seen in the capture (the pattern's strength). Region: official
//! feed, then a provider hostname that embeds a region, then the GeoIP city mapped to
//! the provider's region list (weak). Whatever cannot be told is "unknown" with the
//! reason.
//!
//! Contract: `attribute` never fails and never panics; missing or broken data makes
//! answers unknown, with reasons. Output depends only on the loaded data and the
//! arguments (no clock, no network).

pub mod bundle;
pub mod compiled;
pub mod datadir;
pub mod directory;
pub(crate) mod dirview;
pub mod download;
pub mod feeds;
pub(crate) mod fetch;
pub(crate) mod geoip;
pub mod index;
pub mod online;
pub mod rdap;
pub mod rdns;

mod age;
mod answer;
mod load;
mod provider;
mod publisher;
mod region;

pub use age::{data_day, day_text, DATA_AGE_WARN_DAYS, LOOKUP_AGE_WARN_DAYS};
pub use answer::*;
pub use load::{AttributeError, AttributeOptions, BundledOrigin, LoadedFeed};
pub use publisher::{AsnAgreement, PublisherUnknown};

use load::{BundledManifest, FeedRef};

use crate::model::{Confidence, FrameRef, Provenance, ProvenanceRecord};
use dirview::{DirectoryView, ProviderRef, RegionRef};
use feeds::{Feed, FeedFormat};
use geoip::{DbInfo, GeoDb};
use index::{canonical, IpPrefix, PrefixIndex, PrefixIndexBuilder};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use bundle::{EmbeddedFile, EmbeddedFiles, BUNDLED_DIR_ENV};

/// The bundled database files, in the order they are consulted (after user files).
pub(crate) const BUNDLED_DATABASES: [&str; 3] = ["asn-ipv4.mmdb", "asn-ipv6.mmdb", "country.mmdb"];

/// Attribution text the bundled data's licences ask for.
pub const BUNDLED_ATTRIBUTION: &str = "ASN data: @ip-location-db/asn (CC BY 4.0) by RouteViews \
(routeviews.org), DB-IP (db-ip.com, IP Geolocation by DB-IP) and the NRO (nro.net). Country \
data: @ip-location-db/geo-whois-asn-country-mmdb (CC0-1.0), from RIR data by the NRO (nro.net).";

/// Loaded attribution data.
pub struct Attributor {
    dbs: Vec<GeoDb>,
    manifest: BundledManifest,
    feeds: Vec<LoadedFeed>,
    index: PrefixIndex<FeedRef>,
    /// The feeds' entries read from compiled indexes: the stored feeds', the bundled
    /// snapshot's.
    compiled: Vec<compiled::CompiledIndex>,
    /// Position in `feeds` of each compiled feed, index by index.
    compiled_pos: Vec<Vec<u16>>,
    directory: DirectoryView,
    data_dir: PathBuf,
    warnings: Vec<String>,
    /// Where the bundled data set was found, for people.
    bundle: Option<String>,
    /// Facts about loading worth telling (bundled feeds replaced by newer copies).
    notes: Vec<String>,
    /// Sources found but not used (a stored feed that does not parse), each with its
    /// `problem`, listed in [`Attributor::sources`] after the ones used.
    unused: Vec<SourceInfo>,
    /// Why `bundled.json` (licence and package of the bundled databases) could not be
    /// used, when it could not.
    manifest_problem: Option<String>,
    /// The provenance of each source answers came from, shared by the answers.
    provenances: std::sync::Mutex<std::collections::HashSet<Provenance>>,
}

impl std::fmt::Debug for Attributor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attributor")
            .field("dbs", &self.dbs)
            .field("feeds", &self.feeds.len())
            .field("data_dir", &self.data_dir)
            .finish()
    }
}

impl Attributor {
    /// The ASN announcing `ip`, from the first database that knows.
    pub fn asn(&self, ip: IpAddr) -> AsnAttribution {
        for db in &self.dbs {
            if let Some(hit) = db.asn(ip) {
                let asn = Asn {
                    number: Some(hit.number),
                    organization: hit.organization,
                    network: hit.network,
                };
                return Answer::listed(asn, self.db_provenance(db.info()));
            }
        }
        Answer::unknown(if self.dbs.iter().any(|d| d.info().capabilities.asn) {
            format!("no ASN database lists {ip}")
        } else {
            "no ASN database is loaded".to_string()
        })
    }

    /// Feed entries of the most specific prefix covering `ip`, in priority order.
    pub fn feed_matches(&self, ip: IpAddr) -> Vec<FeedMatch> {
        self.feed_levels(ip).into_iter().next().unwrap_or_default()
    }

    /// Feed entries of every prefix covering `ip`, most specific prefix first, each
    /// prefix's entries in priority order: the in-memory index (feeds parsed in this
    /// call) and the compiled ones (stored feeds, bundled snapshot) together.
    pub fn feed_levels(&self, ip: IpAddr) -> Vec<Vec<FeedMatch>> {
        let mut levels: Vec<(IpPrefix, Vec<(usize, FeedMatch)>)> = self
            .index
            .lookup_all(ip)
            .map(|g| (g.prefix, self.group_matches(g)))
            .collect();
        if !self.compiled.is_empty() {
            for (c, positions) in self.compiled.iter().zip(&self.compiled_pos) {
                for (prefix, hits) in c.lookup_all(ip) {
                    let matches = hits.into_iter().filter_map(|h| {
                        let pos = usize::from(*positions.get(usize::from(h.feed))?);
                        let f = self.feeds.get(pos)?;
                        Some((pos, f.feed_match(&h.entry)))
                    });
                    match levels.iter_mut().find(|(p, _)| *p == prefix) {
                        Some((_, l)) => l.extend(matches),
                        None => levels.push((prefix, matches.collect())),
                    }
                }
            }
            levels.sort_by_key(|(p, _)| std::cmp::Reverse(p.prefix_len()));
            for (_, l) in &mut levels {
                l.sort_by_key(|(pos, _)| *pos);
            }
        }
        levels
            .into_iter()
            .map(|(_, l)| l.into_iter().map(|(_, m)| m).collect::<Vec<_>>())
            .filter(|l| !l.is_empty())
            .collect()
    }

    fn group_matches(&self, group: &index::PrefixGroup<FeedRef>) -> Vec<(usize, FeedMatch)> {
        group
            .values
            .iter()
            .filter_map(|r| {
                let f = self.feeds.get(usize::from(r.feed))?;
                let e = f.feed.entries.get(usize::try_from(r.entry).ok()?)?;
                Some((usize::from(r.feed), f.feed_match(e)))
            })
            .collect()
    }

    /// An entry of the official feed of the network the address is on (not a
    /// service running on others' networks, as GitHub's, nor a third-party list).
    fn is_network_feed(&self, m: &FeedMatch) -> bool {
        m.official
            && self
                .feed_by_name(&m.feed)
                .is_some_and(|f| f.feed.format.rank() == 0)
    }

    /// Attribution of one address, given the hostnames seen for it in the capture.
    pub fn attribute(&self, ip: IpAddr, hostnames: &[HostnameEvidence]) -> Attribution {
        let ip = canonical(ip);
        if let Some(why) = special_purpose(ip) {
            let reason = format!("{ip} is {why}: not attributable to a provider");
            return Attribution {
                asn: Arc::new(Answer::unknown(reason.clone())),
                country: Arc::new(Answer::unknown(reason.clone())),
                provider: Arc::new(Answer::unknown(reason.clone())),
                region: Arc::new(Answer::unknown(reason)),
                ..Attribution::default()
            };
        }
        let asn = self.asn(ip);
        let geo = self.geo(ip);
        let country = match &geo.country {
            Some((code, db)) => Answer::listed(
                Country {
                    code: Some(code.clone()),
                },
                self.db_provenance(db),
            ),
            None => Answer::unknown(format!("no country database lists {ip}")),
        };
        let mut levels = self.feed_levels(ip);
        // The prefix that names the provider: the most specific one listed by the
        // official feed of a network (a GitHub range nested in one of Azure's is on
        // Azure's network), else the most specific one.
        let decisive = levels
            .iter()
            .position(|l| l.iter().any(|m| self.is_network_feed(m)))
            .unwrap_or(0);
        let at: &[FeedMatch] = levels.get(decisive).map(Vec::as_slice).unwrap_or(&[]);
        let mut provider = self.provider_of(ip, &asn, at, hostnames);
        if let Some(pid) = provider.id.clone() {
            provider.also_listed = levels
                .iter()
                .take(decisive + 1)
                .flatten()
                .filter(|m| m.official && m.provider != pid)
                .cloned()
                .collect();
            let nested: Vec<String> = levels
                .iter()
                .take(decisive)
                .flatten()
                .filter(|m| m.official && m.provider != pid)
                .map(|m| {
                    format!(
                        "{} lists {} inside it for {}{}",
                        m.feed,
                        m.prefix,
                        m.provider,
                        m.service
                            .as_deref()
                            .map(|s| format!(" ({s})"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            if let (false, Some(ev)) = (nested.is_empty(), provider.evidence.as_mut()) {
                ev.push_str(&format!("; {}", nested.join("; ")));
            }
        }
        let (region, region_level) = self.region_of(&provider, &levels, decisive, hostnames, &geo);
        // What the answer shows of the feeds: the most specific prefix's entries, then
        // those of broader prefixes that named the provider or the region.
        let mut feeds = Vec::new();
        let mut shown = Vec::new();
        for i in [Some(0), Some(decisive), region_level]
            .into_iter()
            .flatten()
        {
            if !shown.contains(&i) {
                shown.push(i);
                if let Some(l) = levels.get_mut(i) {
                    feeds.append(l);
                }
            }
        }
        Attribution {
            asn: Arc::new(asn),
            country: Arc::new(country),
            provider: Arc::new(provider),
            region: Arc::new(region),
            feeds: Arc::new(feeds),
            ..Attribution::default()
        }
    }

    fn geo(&self, ip: IpAddr) -> GeoAnswer<'_> {
        let mut out = GeoAnswer::default();
        for db in &self.dbs {
            if out.country.is_some() && out.city.is_some() {
                break;
            }
            let Some(hit) = db.geo(ip) else { continue };
            if out.country.is_none() {
                out.country = hit.country.clone().map(|c| (c, db.info()));
            }
            if out.city.is_none() {
                out.city = hit.city.map(|c| (c, hit.country, db.info()));
            }
        }
        out
    }
}

#[derive(Default)]
struct GeoAnswer<'a> {
    country: Option<(String, &'a DbInfo)>,
    city: Option<(String, Option<String>, &'a DbInfo)>,
}

/// Why an address belongs to no provider (private, loopback, documentation, ...), or
/// `None` for a public address.
pub fn special_purpose_reason(ip: IpAddr) -> Option<&'static str> {
    special_purpose(canonical(ip))
}

/// Special-purpose addresses (RFC 6890 and successors) belong to no provider.
fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    crate::model::address_scope(ip).1
}

impl Attributor {
    /// Attributes each address, with the hostnames the capture bound to it.
    pub fn attribute_all<'a>(
        &self,
        ips: impl IntoIterator<Item = IpAddr>,
        names: impl IntoIterator<Item = &'a crate::services::NameEvidence>,
    ) -> Attributions {
        self.attribute_all_online(ips, names, None)
    }

    /// [`Attributor::attribute_all`] with online answers: PTR names join the capture's
    /// hostnames (so a region a PTR name embeds enters the region ladder), and each
    /// address gains its PTR, RDAP record and abuse contacts.
    pub fn attribute_all_online<'a>(
        &self,
        ips: impl IntoIterator<Item = IpAddr>,
        names: impl IntoIterator<Item = &'a crate::services::NameEvidence>,
        answers: Option<&online::OnlineAnswers>,
    ) -> Attributions {
        // The name evidence in address order (a stable sort keeps each address's
        // names in the order given): an address's names are one run of it, copied
        // when the address is attributed, never all at once.
        let mut names: Vec<&crate::services::NameEvidence> = names.into_iter().collect();
        names.sort_by_key(|n| n.ip);
        let mut sharing = Sharing::default();
        let by_ip = ips
            .into_iter()
            .map(|ip| {
                let from = names.partition_point(|n| n.ip < ip);
                let to = from + names[from..].partition_point(|n| n.ip == ip);
                let mut hostnames: Vec<HostnameEvidence> = names[from..to]
                    .iter()
                    .map(|n| {
                        HostnameEvidence::from_wire(n.name.as_bytes(), n.source.into(), Some(n.at))
                    })
                    .collect();
                let mut a = self.attribute_online(ip, &mut hostnames, answers);
                sharing.share(&mut a);
                (ip, a)
            })
            .collect();
        Attributions {
            by_ip,
            sources: self.sources(),
            online: None,
        }
    }

    /// One address with its hostnames and, when given, its online answers.
    pub fn attribute_online(
        &self,
        ip: IpAddr,
        hostnames: &mut Vec<HostnameEvidence>,
        answers: Option<&online::OnlineAnswers>,
    ) -> Attribution {
        let Some(ans) = answers else {
            return self.attribute(ip, hostnames);
        };
        let ptr = ans.ptr_summary(ip);
        for n in ptr.iter().flat_map(|p| p.names.iter()) {
            hostnames.push(HostnameEvidence::from_wire(
                n.as_bytes(),
                HostnameKind::Ptr,
                None,
            ));
        }
        let mut a = self.attribute(ip, hostnames);
        a.ptr = ptr.map(Box::new);
        if let Some((summary, contacts)) = ans.rdap_summary(ip) {
            a.rdap = Some(Box::new(summary));
            a.abuse_contacts = contacts;
        }
        a
    }
}
