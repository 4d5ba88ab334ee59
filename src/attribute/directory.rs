//! The provider directory: who a hosting, cloud or CDN provider is, which networks
//! (ASNs) it announces, which legal entities contract with customers, where notices go,
//! how it names its regions, and which hostnames it issues.
//!
//! The data lives in `data/providers.toml`, written by hand from the providers' own pages
//! and RIR/PeeringDB records; every provider lists its `sources`, and every fact that
//! could not be confirmed is marked (`verified = false`, `asns_unverified`, a `notes`
//! line). This module loads and validates that file and answers three questions fast:
//! which provider announces an ASN ([`Directory::by_asn`]), which provider (and region)
//! a hostname reveals ([`Directory::match_hostname`]), and which of a provider's regions
//! sits in a city ([`Directory::region_by_city`]).
//!
//! Contract on bad input: a directory file that breaks a rule is refused as a whole with
//! a [`DirectoryError`] naming the provider id, the field, what was expected and what was
//! found; nothing is half-loaded. Lookups never panic and never guess: a hostname that
//! names a region the provider does not list gives a match whose region is `None` and
//! whose `region_unknown` says why.

use std::collections::BTreeMap;
use std::path::Path;

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde::{Deserialize, Serialize};

/// The directory shipped inside the binary.
const BUNDLED: &str = include_str!("../../data/providers.toml");

/// RFC 1035 §2.3.4: a domain name is at most 255 octets on the wire, 253 characters in
/// text form without the root dot. Longer input cannot be a hostname a provider issued.
const MAX_HOSTNAME_LEN: usize = 253;

/// Compiled-size cap for one pattern; the bundled patterns are far below it, and it keeps
/// a hostile directory file from costing unbounded memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// What a hostname pattern may be written with, between its `^` and `$`. Names are
/// matched in lower case and provider hostnames are ASCII, so anything else (upper case,
/// `\d`, Unicode classes, flags) either never matches or matches names no provider
/// issues; a `\$`, or a `|` outside a group (`^a|b$`), leaves the pattern unanchored at
/// one end. Such patterns are refused before compiling.
const PATTERN_SYNTAX: &str = "lower-case letters, digits, `-`, `_`, `.`, `\\.`, `\\-`, \
     classes `[…]` of those (`[^…]` to negate), groups `(?:…)` and `(?P<region>…)`, \
     `|` inside a group, \
     and the quantifiers `*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}` (n, m ≤ 253), \
     each optionally followed by `?`";

/// Groups a hostname pattern may nest; the bundled patterns use two.
const MAX_PATTERN_DEPTH: usize = 8;

/// How a provider serves its customers; decides which measures a notice may ask for
/// (LEGAL.md, CN-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceModel {
    /// Virtual or dedicated servers the customer runs (forward the notice, keep logs).
    Iaas,
    /// Web, file or object hosting the provider serves itself (remove or disable).
    Hosting,
    /// A proxy or content delivery network in front of an origin (forward to the origin,
    /// name the origin host).
    Cdn,
    /// An application platform (the provider runs the customer's code).
    Paas,
}

impl ServiceModel {
    fn parse(text: &str) -> Option<ServiceModel> {
        match text {
            "iaas" => Some(ServiceModel::Iaas),
            "hosting" => Some(ServiceModel::Hosting),
            "cdn" => Some(ServiceModel::Cdn),
            "paas" => Some(ServiceModel::Paas),
            _ => None,
        }
    }

    /// The spelling used in the directory file.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceModel::Iaas => "iaas",
            ServiceModel::Hosting => "hosting",
            ServiceModel::Cdn => "cdn",
            ServiceModel::Paas => "paas",
        }
    }
}

/// How a notice is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Email,
    WebForm,
    Postal,
}

/// Which legal frame a channel is designated for (LEGAL.md: CN, US and EU elements).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NoticeFrame {
    /// 民法典 Art. 1195 / 信息网络传播权保护条例 Art. 14.
    Cn,
    /// 17 U.S.C. 512(c)(3).
    Dmca,
    /// Digital Services Act Art. 16.
    Dsa,
}

/// What a channel is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticePurpose {
    Abuse,
    Copyright,
    DmcaAgent,
    LawEnforcement,
}

/// How much a hostname pattern says about the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strength {
    /// The provider itself issues names of this shape (its own domain).
    Strong,
    /// A shape the provider is known to use but that others could imitate, or that was
    /// seen only in secondary sources.
    Medium,
}

/// A legal entity of a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entity {
    pub name: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Registered address; `None` when not known (the reason is in the provider's notes).
    pub address: Option<String>,
    pub role: String,
    pub verified: bool,
    /// The regions whose customers this entity serves: region ids or ISO country codes
    /// of regions, `*` for every region no other entity names. Empty: not chosen by
    /// region (letters then follow the frame's jurisdiction).
    pub regions: Vec<String>,
    /// Named as a copy recipient when a letter goes to another entity of the provider.
    pub copy: bool,
}

/// One way to send a notice to a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoticeChannel {
    pub kind: NoticeKind,
    /// Address, URL or postal address; `None` when the channel is known to exist but its
    /// exact target is not (then `reason` says why).
    pub target: Option<String>,
    pub reason: Option<String>,
    /// BCP 47 tag of the language the channel expects.
    pub language: String,
    /// `CN`, `US`, `EU` or another ISO 3166-1 alpha-2 code.
    pub jurisdiction: String,
    pub frame: Option<NoticeFrame>,
    pub purpose: NoticePurpose,
    pub verified: bool,
    pub source: String,
}

/// How a provider names its regions, and where that list came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegionScheme {
    pub scheme: String,
    pub source: String,
    pub verified: bool,
}

/// One region (or data centre) of a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Region {
    /// The provider's own identifier, lower case (`cn-hangzhou`, `eu-central-1`, `fsn1`).
    pub id: String,
    /// Other identifiers the provider uses for the same region (`gz` for `ap-guangzhou`).
    pub aliases: Vec<String>,
    /// The city the region is in or named after; `None` when the provider names only a
    /// state or area (then `area` holds it).
    pub city: Option<String>,
    /// Other spellings or neighbouring cities a GeoIP database may give.
    pub city_aliases: Vec<String>,
    /// The provider's own location name when it is not a city (`N. Virginia`).
    pub area: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

/// A hostname shape that reveals a provider and perhaps a region.
#[derive(Debug, Clone, Serialize)]
pub struct HostnamePattern {
    /// Anchored regular expression over lower-case names, in the syntax of
    /// `PATTERN_SYNTAX`, with a named group `region` unless `region` is fixed or
    /// `provider_only` is set.
    pub regex: String,
    /// A fixed region for names that do not carry one (`compute-1` is `us-east-1`).
    pub region: Option<String>,
    /// The name says only which provider it is.
    pub provider_only: bool,
    pub what: String,
    pub strength: Strength,
    /// The service a name of this shape shows (an object-storage bucket is `hosting`,
    /// a CDN name `cdn`), stronger than the provider's default for letters.
    pub model: Option<ServiceModel>,
    pub examples: Vec<PatternExample>,
    #[serde(skip)]
    compiled: Regex,
}

/// A hostname a pattern must match, and the region it must give (`None`: no region).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternExample {
    pub host: String,
    #[serde(default)]
    pub region: Option<String>,
}

/// A hosting, cloud or CDN provider.
#[derive(Debug, Clone, Serialize)]
pub struct Provider {
    pub id: String,
    pub name_en: String,
    pub name_zh: Option<String>,
    pub aliases: Vec<String>,
    pub service_model: ServiceModel,
    /// Secondary service models.
    pub also: Vec<ServiceModel>,
    /// Default jurisdiction for letters (`CN`, `US`, `EU` or a country code).
    pub jurisdiction: String,
    pub asns: Vec<u32>,
    /// ASNs seen in secondary sources or inferred; [`Directory::by_asn`] uses them only
    /// when no provider lists the ASN as confirmed.
    pub asns_unverified: Vec<u32>,
    /// ASNs knowingly listed by more than one provider.
    pub shared_asns: Vec<u32>,
    pub entities: Vec<Entity>,
    pub notices: Vec<NoticeChannel>,
    pub region_scheme: Option<RegionScheme>,
    pub regions: Vec<Region>,
    pub hostname_patterns: Vec<HostnamePattern>,
    /// What the services or tags of the provider's official feed mean, in order of
    /// precedence (the first that names a prefix wins).
    pub feed_services: Vec<FeedService>,
    /// Addresses the provider's ASNs announce that its official feed does not list.
    pub outside_feed: Option<OutsideFeed>,
    pub sources: Vec<String>,
    pub notes: Vec<String>,
    #[serde(skip)]
    region_index: BTreeMap<String, usize>,
}

/// A service (AWS `service`) or tag (Azure Service Tag name) of the provider's
/// official feed, and what it says about the addresses it lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedService {
    /// The feed's name for it; matches that name and `name.anything`
    /// (`AzureCloud` matches `AzureCloud.westeurope`).
    pub service: String,
    /// The service model of addresses listed under it (`None`: the provider's).
    pub model: Option<ServiceModel>,
    /// The provider the addresses belong to when not this one (a first-party tag).
    pub provider: Option<String>,
    pub what: String,
}

impl FeedService {
    /// Whether a feed's service or tag name is this one.
    pub fn matches(&self, name: &str) -> bool {
        name == self.service
            || name
                .strip_prefix(self.service.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
    }
}

/// The provider's official feed lists every address its customers use; addresses its
/// ASNs `asns` announce outside that feed belong to `provider` (its own first-party
/// services).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutsideFeed {
    /// The feed format (`google-cloud-json`).
    pub feed: String,
    pub asns: Vec<u32>,
    pub provider: String,
    /// How sure that is: `strong` or `medium` (`medium` where customers may bring
    /// their own addresses, which the feed does not list either).
    pub strength: Strength,
    pub what: String,
}

impl Provider {
    /// A holder of addresses that the directory does not list, known only from an
    /// RDAP record: no ASNs, regions, patterns or channels (a letter to it goes to the
    /// record's abuse contact).
    pub fn unlisted(id: &str, name: &str, jurisdiction: &str, notes: Vec<String>) -> Provider {
        Provider {
            id: id.to_string(),
            name_en: name.to_string(),
            name_zh: None,
            aliases: Vec::new(),
            service_model: ServiceModel::Iaas,
            also: Vec::new(),
            jurisdiction: jurisdiction.to_string(),
            asns: Vec::new(),
            asns_unverified: Vec::new(),
            shared_asns: Vec::new(),
            entities: Vec::new(),
            notices: Vec::new(),
            region_scheme: None,
            regions: Vec::new(),
            hostname_patterns: Vec::new(),
            feed_services: Vec::new(),
            outside_feed: None,
            sources: vec!["RDAP".to_string()],
            notes,
            region_index: BTreeMap::new(),
        }
    }

    /// A region by its id or one of its aliases, case-insensitively.
    pub fn region(&self, id: &str) -> Option<&Region> {
        let index = self.region_index.get(&id.to_ascii_lowercase())?;
        self.regions.get(*index)
    }
}

/// What a hostname revealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostnameMatch {
    /// Provider id.
    pub provider: String,
    /// The region, checked against the provider's region list.
    pub region: Option<Region>,
    /// Why `region` is `None`.
    pub region_unknown: Option<String>,
    /// The text the pattern captured as region, as found in the name.
    pub captured: Option<String>,
    /// The pattern's description.
    pub what: String,
    pub strength: Strength,
    /// The service model the name shows, when the pattern says.
    pub model: Option<ServiceModel>,
    /// The pattern's regular expression, for the report's provenance.
    pub pattern: String,
}

impl HostnameMatch {
    /// The region id, when known.
    pub fn region_id(&self) -> Option<&str> {
        self.region.as_ref().map(|r| r.id.as_str())
    }
}

/// One provider that lists an ASN.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AsnHolder<'a> {
    pub provider: &'a Provider,
    /// Listed in `asns` (true) or in `asns_unverified` (false).
    pub verified: bool,
}

/// Why a directory file was refused.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("{origin}: cannot read the provider directory: {source}")]
    Read {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: not a valid provider directory: {message}")]
    Parse { origin: String, message: String },
    #[error("{origin}: top-level `version`: expected a date YYYY-MM-DD, found {found:?}")]
    Version { origin: String, found: String },
    #[error("{origin}: provider {provider:?}: duplicate id (also provider #{first})")]
    DuplicateId {
        origin: String,
        provider: String,
        first: usize,
    },
    #[error(
        "{origin}: provider {provider:?}, field `{field}`: expected {expected}, found {found:?}"
    )]
    InvalidField {
        origin: String,
        provider: String,
        field: String,
        expected: String,
        found: String,
    },
    #[error("{origin}: provider {provider:?}, field `{field}`: unknown service model {found:?}, expected one of iaas, hosting, cdn, paas")]
    UnknownServiceModel {
        origin: String,
        provider: String,
        field: String,
        found: String,
    },
    #[error("{origin}: provider {provider:?}, field `{field}`: expected an ISO 3166-1 alpha-2 code (two upper-case letters{eu}), found {found:?}")]
    InvalidCountry {
        origin: String,
        provider: String,
        field: String,
        found: String,
        eu: &'static str,
    },
    #[error("{origin}: ASN {asn} listed by providers {first:?} and {second:?}; expected it in `shared_asns` of both")]
    DuplicateAsn {
        origin: String,
        asn: u32,
        first: String,
        second: String,
    },
    #[error("{origin}: provider {provider:?}, field `{field}`: ASN {asn} listed twice")]
    RepeatedAsn {
        origin: String,
        provider: String,
        field: String,
        asn: u32,
    },
    #[error("{origin}: provider {provider:?}, field `{field}`: invalid regular expression {regex:?}: {message}")]
    InvalidRegex {
        origin: String,
        provider: String,
        field: String,
        regex: String,
        message: String,
    },
    #[error("{origin}: provider {provider:?}, field `{field}`: pattern {regex:?} has no `region` group and no fixed `region`; expected one of them, or `provider_only = true`")]
    PatternWithoutRegion {
        origin: String,
        provider: String,
        field: String,
        regex: String,
    },
    #[error("{origin}: provider {provider:?}, field `{field}`: region id {region:?} listed twice")]
    DuplicateRegion {
        origin: String,
        provider: String,
        field: String,
        region: String,
    },
    #[error("{origin}: provider {provider:?}, field `{field}`: legal entity without a name")]
    EmptyEntity {
        origin: String,
        provider: String,
        field: String,
    },
    #[error("{origin}: provider {provider:?}, field `{field}`: notice channel has neither `target` nor `reason`; expected one")]
    NoticeWithoutTarget {
        origin: String,
        provider: String,
        field: String,
    },
    #[error("{origin}: provider {provider:?}, field `{field}`: example {host:?} does not match pattern {regex:?}")]
    ExampleMismatch {
        origin: String,
        provider: String,
        field: String,
        regex: String,
        host: String,
    },
}

/// The loaded, validated directory.
#[derive(Debug, Clone)]
pub struct Directory {
    version: String,
    sha256: String,
    origin: String,
    providers: Vec<Provider>,
    by_id: BTreeMap<String, usize>,
    /// ASN -> holders as (provider index, verified), verified holders first.
    by_asn: BTreeMap<u32, Vec<(usize, bool)>>,
    /// All patterns of all providers, in provider order then file order.
    pattern_set: RegexSet,
    pattern_owner: Vec<(usize, usize)>,
}

impl Directory {
    /// The directory compiled into the binary (`data/providers.toml`).
    pub fn bundled() -> Result<Directory, DirectoryError> {
        Directory::from_toml(BUNDLED, "bundled data/providers.toml")
    }

    /// A directory file on disk (e.g. a newer one than the bundled file).
    pub fn load(path: &Path) -> Result<Directory, DirectoryError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| DirectoryError::Read {
            origin: origin.clone(),
            source,
        })?;
        Directory::from_toml(&text, &origin)
    }

    /// Parses and validates directory text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Directory, DirectoryError> {
        let raw: RawDirectory = toml::from_str(text).map_err(|e| DirectoryError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        let ctx = Ctx { origin };
        if !is_date(&raw.version) {
            return Err(DirectoryError::Version {
                origin: origin.to_string(),
                found: raw.version,
            });
        }
        let mut providers = Vec::with_capacity(raw.provider.len());
        let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
        for (index, raw_provider) in raw.provider.into_iter().enumerate() {
            let provider = ctx.provider(raw_provider)?;
            if let Some(first) = by_id.get(&provider.id) {
                return Err(DirectoryError::DuplicateId {
                    origin: origin.to_string(),
                    provider: provider.id,
                    first: *first,
                });
            }
            by_id.insert(provider.id.clone(), index);
            providers.push(provider);
        }
        providers.sort_by(|a, b| a.id.cmp(&b.id));
        let by_id: BTreeMap<String, usize> = providers
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.clone(), i))
            .collect();

        // A first-party provider named by a feed tag or `outside_feed` must exist.
        for p in &providers {
            let named = p
                .feed_services
                .iter()
                .filter_map(|f| f.provider.as_ref().map(|t| ("feed_service.provider", t)))
                .chain(
                    p.outside_feed
                        .as_ref()
                        .map(|o| ("outside_feed.provider", &o.provider)),
                );
            for (field, target) in named {
                if !by_id.contains_key(target) {
                    return Err(DirectoryError::InvalidField {
                        origin: origin.to_string(),
                        provider: p.id.clone(),
                        field: field.to_string(),
                        expected: "the id of a provider of the directory".to_string(),
                        found: target.clone(),
                    });
                }
            }
        }

        let mut by_asn: BTreeMap<u32, Vec<(usize, bool)>> = BTreeMap::new();
        for (index, provider) in providers.iter().enumerate() {
            let listed = provider
                .asns
                .iter()
                .map(|a| (*a, true))
                .chain(provider.asns_unverified.iter().map(|a| (*a, false)));
            for (asn, verified) in listed {
                let holders = by_asn.entry(asn).or_default();
                if let Some((other, _)) = holders.first() {
                    let other = &providers[*other];
                    if !(other.shared_asns.contains(&asn) && provider.shared_asns.contains(&asn)) {
                        return Err(DirectoryError::DuplicateAsn {
                            origin: origin.to_string(),
                            asn,
                            first: other.id.clone(),
                            second: provider.id.clone(),
                        });
                    }
                }
                holders.push((index, verified));
            }
        }
        for holders in by_asn.values_mut() {
            // Verified holders first, then directory (id) order; stable sort keeps it.
            holders.sort_by_key(|(index, verified)| (!*verified, *index));
        }

        let mut sources = Vec::new();
        let mut pattern_owner = Vec::new();
        for (pi, provider) in providers.iter().enumerate() {
            for (hi, pattern) in provider.hostname_patterns.iter().enumerate() {
                sources.push(pattern.regex.clone());
                pattern_owner.push((pi, hi));
            }
        }
        let pattern_set = RegexSetBuilder::new(&sources)
            .size_limit(REGEX_SIZE_LIMIT.saturating_mul(sources.len().max(1)))
            .build()
            .map_err(|e| DirectoryError::Parse {
                origin: origin.to_string(),
                message: format!("hostname patterns do not compile together: {e}"),
            })?;

        Ok(Directory {
            version: raw.version,
            sha256: sha256_hex(text.as_bytes()),
            origin: origin.to_string(),
            providers,
            by_id,
            by_asn,
            pattern_set,
            pattern_owner,
        })
    }

    /// All providers, sorted by id.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// A provider by id.
    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.get(*self.by_id.get(id)?)
    }

    /// The provider announcing `asn`. A provider listing the ASN as confirmed (`asns`)
    /// wins over one listing it in `asns_unverified`; among equals (a `shared_asns`
    /// entry) the first by id. Use [`Directory::asn_holders`] to learn whether the answer
    /// rests on a confirmed ASN and whether others share it.
    pub fn by_asn(&self, asn: u32) -> Option<&Provider> {
        let (index, _) = self.by_asn.get(&asn)?.first()?;
        self.providers.get(*index)
    }

    /// Every provider listing `asn`, confirmed ones first, then by id.
    pub fn asn_holders(&self, asn: u32) -> Vec<AsnHolder<'_>> {
        self.by_asn
            .get(&asn)
            .map(|holders| {
                holders
                    .iter()
                    .filter_map(|(index, verified)| {
                        Some(AsnHolder {
                            provider: self.providers.get(*index)?,
                            verified: *verified,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The provider (and region) a hostname reveals. The name is compared in lower case
    /// without a trailing root dot. When several patterns match, the one giving a known
    /// region wins, then a strong one, then directory order; the result is deterministic.
    pub fn match_hostname(&self, host: &str) -> Option<HostnameMatch> {
        let host = host.strip_suffix('.').unwrap_or(host);
        if host.is_empty() || host.len() > MAX_HOSTNAME_LEN {
            return None;
        }
        let host = host.to_ascii_lowercase();
        let mut best: Option<((bool, bool, usize), HostnameMatch)> = None;
        for set_index in self.pattern_set.matches(&host).iter() {
            let Some(&(pi, hi)) = self.pattern_owner.get(set_index) else {
                continue;
            };
            let Some(provider) = self.providers.get(pi) else {
                continue;
            };
            let Some(pattern) = provider.hostname_patterns.get(hi) else {
                continue;
            };
            let Some(found) = resolve(provider, pattern, &host) else {
                continue;
            };
            let key = (
                found.region.is_none(),
                pattern.strength != Strength::Strong,
                set_index,
            );
            if best.as_ref().is_none_or(|(k, _)| key < *k) {
                best = Some((key, found));
            }
        }
        best.map(|(_, found)| found)
    }

    /// The first region (in file order) of a provider in `city`, compared without case,
    /// diacritics, spaces or punctuation, against the region's city and city aliases;
    /// `country` (ISO alpha-2) narrows it when given.
    pub fn region_by_city(
        &self,
        provider_id: &str,
        city: &str,
        country: Option<&str>,
    ) -> Option<&Region> {
        self.regions_by_city(provider_id, city, country)
            .into_iter()
            .next()
    }

    /// Every region of a provider in `city` (several clouds run more than one region in
    /// one city), in file order.
    pub fn regions_by_city(
        &self,
        provider_id: &str,
        city: &str,
        country: Option<&str>,
    ) -> Vec<&Region> {
        let Some(provider) = self.provider(provider_id) else {
            return Vec::new();
        };
        let wanted = fold_name(city);
        if wanted.is_empty() {
            return Vec::new();
        }
        provider
            .regions
            .iter()
            .filter(|r| country.is_none_or(|c| r.country.eq_ignore_ascii_case(c)))
            .filter(|r| {
                r.city
                    .iter()
                    .chain(r.city_aliases.iter())
                    .any(|name| fold_name(name) == wanted)
            })
            .collect()
    }

    /// SHA-256 (lower-case hex) of the directory text, for provenance.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The directory's `version` date.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Where the directory came from (a path, or "bundled data/providers.toml").
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// Applies one matching pattern: the captured or fixed region, checked against the list.
fn resolve(provider: &Provider, pattern: &HostnamePattern, host: &str) -> Option<HostnameMatch> {
    let captures = pattern.compiled.captures(host)?;
    let captured = captures.name("region").map(|m| m.as_str().to_string());
    let wanted = captured.clone().or_else(|| pattern.region.clone());
    let (region, region_unknown) = match &wanted {
        Some(id) => match provider.region(id) {
            Some(region) => (Some(region.clone()), None),
            None => (
                None,
                Some(format!(
                    "the name carries region {id:?}, which is not in the directory's region list for {}",
                    provider.id
                )),
            ),
        },
        None => (
            None,
            Some("this kind of name does not carry a region".to_string()),
        ),
    };
    Some(HostnameMatch {
        provider: provider.id.clone(),
        region,
        region_unknown,
        captured,
        what: pattern.what.clone(),
        strength: pattern.strength,
        model: pattern.model,
        pattern: pattern.regex.clone(),
    })
}

// ---------------------------------------------------------------------------------------
// The file format. Strings stay strings here so that a wrong value is reported with the
// provider id and field, which serde's own enum errors cannot do.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDirectory {
    version: String,
    #[serde(default)]
    provider: Vec<RawProvider>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    id: String,
    name_en: String,
    name_zh: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    service_model: String,
    #[serde(default)]
    also: Vec<String>,
    jurisdiction: String,
    #[serde(default)]
    asns: Vec<u32>,
    #[serde(default)]
    asns_unverified: Vec<u32>,
    #[serde(default)]
    shared_asns: Vec<u32>,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    notes: Vec<String>,
    #[serde(default)]
    entity: Vec<RawEntity>,
    #[serde(default)]
    notice: Vec<RawNotice>,
    regions: Option<RawRegionScheme>,
    #[serde(default)]
    region: Vec<RawRegion>,
    #[serde(default)]
    hostname_pattern: Vec<RawPattern>,
    #[serde(default)]
    feed_service: Vec<RawFeedService>,
    outside_feed: Option<RawOutsideFeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeedService {
    service: String,
    model: Option<String>,
    provider: Option<String>,
    what: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutsideFeed {
    feed: String,
    asns: Vec<u32>,
    provider: String,
    strength: String,
    what: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntity {
    #[serde(default)]
    name: String,
    country: String,
    address: Option<String>,
    #[serde(default)]
    role: String,
    #[serde(default = "yes")]
    verified: bool,
    #[serde(default)]
    regions: Vec<String>,
    #[serde(default)]
    copy: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotice {
    kind: String,
    target: Option<String>,
    reason: Option<String>,
    language: String,
    jurisdiction: String,
    frame: Option<String>,
    purpose: String,
    #[serde(default)]
    verified: bool,
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegionScheme {
    scheme: String,
    #[serde(default)]
    source: String,
    #[serde(default = "yes")]
    verified: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegion {
    id: String,
    #[serde(default)]
    aliases: Vec<String>,
    city: Option<String>,
    #[serde(default)]
    city_aliases: Vec<String>,
    area: Option<String>,
    country: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPattern {
    regex: String,
    region: Option<String>,
    #[serde(default)]
    provider_only: bool,
    what: String,
    strength: String,
    model: Option<String>,
    #[serde(default)]
    examples: Vec<PatternExample>,
}

fn yes() -> bool {
    true
}

struct Ctx<'a> {
    origin: &'a str,
}

impl Ctx<'_> {
    fn invalid(
        &self,
        provider: &str,
        field: String,
        expected: &str,
        found: &str,
    ) -> DirectoryError {
        DirectoryError::InvalidField {
            origin: self.origin.to_string(),
            provider: provider.to_string(),
            field,
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }

    fn country(
        &self,
        provider: &str,
        field: String,
        code: &str,
        allow_eu: bool,
    ) -> Result<(), DirectoryError> {
        let is_alpha2 = code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase());
        if is_alpha2 && (allow_eu || code != "EU") {
            return Ok(());
        }
        Err(DirectoryError::InvalidCountry {
            origin: self.origin.to_string(),
            provider: provider.to_string(),
            field,
            found: code.to_string(),
            eu: if allow_eu { ", or EU" } else { "" },
        })
    }

    fn service_model(
        &self,
        provider: &str,
        field: String,
        text: &str,
    ) -> Result<ServiceModel, DirectoryError> {
        ServiceModel::parse(text).ok_or_else(|| DirectoryError::UnknownServiceModel {
            origin: self.origin.to_string(),
            provider: provider.to_string(),
            field,
            found: text.to_string(),
        })
    }

    fn provider(&self, raw: RawProvider) -> Result<Provider, DirectoryError> {
        let id = raw.id;
        if !is_slug(&id) {
            return Err(self.invalid(&id, "id".into(), "a slug of a-z, 0-9 and '-'", &id));
        }
        if raw.name_en.trim().is_empty() {
            return Err(self.invalid(&id, "name_en".into(), "a non-empty name", &raw.name_en));
        }
        let service_model = self.service_model(&id, "service_model".into(), &raw.service_model)?;
        let also = raw
            .also
            .iter()
            .enumerate()
            .map(|(i, m)| self.service_model(&id, format!("also[{i}]"), m))
            .collect::<Result<Vec<_>, _>>()?;
        self.country(&id, "jurisdiction".into(), &raw.jurisdiction, true)?;

        let mut seen = Vec::new();
        for (field, list) in [
            ("asns", &raw.asns),
            ("asns_unverified", &raw.asns_unverified),
        ] {
            for asn in list {
                if seen.contains(asn) {
                    return Err(DirectoryError::RepeatedAsn {
                        origin: self.origin.to_string(),
                        provider: id.clone(),
                        field: field.to_string(),
                        asn: *asn,
                    });
                }
                seen.push(*asn);
            }
        }
        for asn in &raw.shared_asns {
            if !seen.contains(asn) {
                return Err(self.invalid(
                    &id,
                    "shared_asns".into(),
                    "ASNs also listed in asns or asns_unverified",
                    &asn.to_string(),
                ));
            }
        }

        let mut entities = Vec::new();
        for (i, e) in raw.entity.into_iter().enumerate() {
            let field = format!("entity[{i}]");
            if e.name.trim().is_empty() {
                return Err(DirectoryError::EmptyEntity {
                    origin: self.origin.to_string(),
                    provider: id.clone(),
                    field,
                });
            }
            self.country(&id, format!("{field}.country"), &e.country, false)?;
            entities.push(Entity {
                name: e.name,
                country: e.country,
                address: e.address.filter(|a| !a.trim().is_empty()),
                role: e.role,
                verified: e.verified,
                regions: e.regions,
                copy: e.copy,
            });
        }

        let mut notices = Vec::new();
        for (i, n) in raw.notice.into_iter().enumerate() {
            let field = format!("notice[{i}]");
            let target = n.target.filter(|t| !t.trim().is_empty());
            let reason = n.reason.filter(|t| !t.trim().is_empty());
            if target.is_none() && reason.is_none() {
                return Err(DirectoryError::NoticeWithoutTarget {
                    origin: self.origin.to_string(),
                    provider: id.clone(),
                    field,
                });
            }
            let kind = match n.kind.as_str() {
                "email" => NoticeKind::Email,
                "web_form" => NoticeKind::WebForm,
                "postal" => NoticeKind::Postal,
                other => {
                    return Err(self.invalid(
                        &id,
                        format!("{field}.kind"),
                        "email, web_form or postal",
                        other,
                    ))
                }
            };
            let frame = match n.frame.as_deref() {
                None => None,
                Some("cn") => Some(NoticeFrame::Cn),
                Some("dmca") => Some(NoticeFrame::Dmca),
                Some("dsa") => Some(NoticeFrame::Dsa),
                Some(other) => {
                    return Err(self.invalid(
                        &id,
                        format!("{field}.frame"),
                        "cn, dmca or dsa",
                        other,
                    ))
                }
            };
            let purpose = match n.purpose.as_str() {
                "abuse" => NoticePurpose::Abuse,
                "copyright" => NoticePurpose::Copyright,
                "dmca_agent" => NoticePurpose::DmcaAgent,
                "law_enforcement" => NoticePurpose::LawEnforcement,
                other => {
                    return Err(self.invalid(
                        &id,
                        format!("{field}.purpose"),
                        "abuse, copyright, dmca_agent or law_enforcement",
                        other,
                    ))
                }
            };
            if !is_language_tag(&n.language) {
                return Err(self.invalid(
                    &id,
                    format!("{field}.language"),
                    "a BCP 47 tag such as en or zh-CN",
                    &n.language,
                ));
            }
            self.country(&id, format!("{field}.jurisdiction"), &n.jurisdiction, true)?;
            if n.source.trim().is_empty() {
                return Err(self.invalid(
                    &id,
                    format!("{field}.source"),
                    "where the channel was found",
                    &n.source,
                ));
            }
            notices.push(NoticeChannel {
                kind,
                target,
                reason,
                language: n.language,
                jurisdiction: n.jurisdiction,
                frame,
                purpose,
                verified: n.verified,
                source: n.source,
            });
        }

        let mut regions = Vec::new();
        let mut region_index = BTreeMap::new();
        for (i, r) in raw.region.into_iter().enumerate() {
            let field = format!("region[{i}]");
            if r.id.trim().is_empty() {
                return Err(self.invalid(&id, format!("{field}.id"), "a region id", &r.id));
            }
            self.country(&id, format!("{field}.country"), &r.country, false)?;
            if r.city.is_none() && r.area.is_none() {
                return Err(self.invalid(&id, format!("{field}.city"), "a city or an area", ""));
            }
            for key in std::iter::once(&r.id).chain(r.aliases.iter()) {
                let key = key.to_ascii_lowercase();
                if region_index.insert(key.clone(), i).is_some() {
                    return Err(DirectoryError::DuplicateRegion {
                        origin: self.origin.to_string(),
                        provider: id.clone(),
                        field: field.clone(),
                        region: key,
                    });
                }
            }
            regions.push(Region {
                id: r.id.to_ascii_lowercase(),
                aliases: r.aliases,
                city: r.city,
                city_aliases: r.city_aliases,
                area: r.area,
                country: r.country,
            });
        }

        let mut hostname_patterns = Vec::new();
        for (i, p) in raw.hostname_pattern.into_iter().enumerate() {
            let field = format!("hostname_pattern[{i}]");
            if !(p.regex.starts_with('^') && p.regex.ends_with('$')) {
                return Err(self.invalid(
                    &id,
                    format!("{field}.regex"),
                    "a pattern anchored with ^ and $",
                    &p.regex,
                ));
            }
            if let Err(message) = check_pattern_syntax(&p.regex) {
                return Err(DirectoryError::InvalidRegex {
                    origin: self.origin.to_string(),
                    provider: id.clone(),
                    field: format!("{field}.regex"),
                    regex: p.regex,
                    message,
                });
            }
            let compiled = RegexBuilder::new(&p.regex)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| DirectoryError::InvalidRegex {
                    origin: self.origin.to_string(),
                    provider: id.clone(),
                    field: format!("{field}.regex"),
                    regex: p.regex.clone(),
                    message: e.to_string(),
                })?;
            let has_group = compiled.capture_names().any(|n| n == Some("region"));
            if !has_group && p.region.is_none() && !p.provider_only {
                return Err(DirectoryError::PatternWithoutRegion {
                    origin: self.origin.to_string(),
                    provider: id.clone(),
                    field,
                    regex: p.regex,
                });
            }
            if let Some(fixed) = &p.region {
                if !region_index.contains_key(&fixed.to_ascii_lowercase()) {
                    return Err(self.invalid(
                        &id,
                        format!("{field}.region"),
                        "a region id from this provider's list",
                        fixed,
                    ));
                }
            }
            let strength = match p.strength.as_str() {
                "strong" => Strength::Strong,
                "medium" => Strength::Medium,
                other => {
                    return Err(self.invalid(
                        &id,
                        format!("{field}.strength"),
                        "strong or medium",
                        other,
                    ))
                }
            };
            if p.what.trim().is_empty() {
                return Err(self.invalid(
                    &id,
                    format!("{field}.what"),
                    "a short description",
                    &p.what,
                ));
            }
            for example in &p.examples {
                if !compiled.is_match(&example.host) {
                    return Err(DirectoryError::ExampleMismatch {
                        origin: self.origin.to_string(),
                        provider: id.clone(),
                        field: format!("{field}.examples"),
                        regex: p.regex.clone(),
                        host: example.host.clone(),
                    });
                }
            }
            let model = match &p.model {
                Some(m) => Some(self.service_model(&id, format!("{field}.model"), m)?),
                None => None,
            };
            hostname_patterns.push(HostnamePattern {
                model,
                regex: p.regex,
                region: p.region.map(|r| r.to_ascii_lowercase()),
                provider_only: p.provider_only,
                what: p.what,
                strength,
                examples: p.examples,
                compiled,
            });
        }

        let mut feed_services = Vec::new();
        for (i, f) in raw.feed_service.into_iter().enumerate() {
            if f.service.is_empty() || f.what.trim().is_empty() {
                return Err(self.invalid(
                    &id,
                    format!("feed_service[{i}]"),
                    "a non-empty `service` and `what`",
                    &f.service,
                ));
            }
            let model = match &f.model {
                Some(m) => Some(self.service_model(&id, format!("feed_service[{i}].model"), m)?),
                None => None,
            };
            feed_services.push(FeedService {
                service: f.service,
                model,
                provider: f.provider,
                what: f.what,
            });
        }
        let outside_feed = match raw.outside_feed {
            Some(o) => Some(OutsideFeed {
                strength: match o.strength.as_str() {
                    "strong" => Strength::Strong,
                    "medium" => Strength::Medium,
                    other => {
                        return Err(self.invalid(
                            &id,
                            "outside_feed.strength".into(),
                            "strong or medium",
                            other,
                        ))
                    }
                },
                feed: o.feed,
                asns: o.asns,
                provider: o.provider,
                what: o.what,
            }),
            None => None,
        };

        Ok(Provider {
            id,
            name_en: raw.name_en,
            name_zh: raw.name_zh,
            aliases: raw.aliases,
            service_model,
            also,
            jurisdiction: raw.jurisdiction,
            asns: raw.asns,
            asns_unverified: raw.asns_unverified,
            shared_asns: raw.shared_asns,
            entities,
            notices,
            region_scheme: raw.regions.map(|s| RegionScheme {
                scheme: s.scheme,
                source: s.source,
                verified: s.verified,
            }),
            regions,
            hostname_patterns,
            feed_services,
            outside_feed,
            sources: raw.sources,
            notes: raw.notes,
            region_index,
        })
    }
}

/// Checks that an anchored pattern (`^…$`, checked by the caller) keeps to
/// [`PATTERN_SYNTAX`]; the message names the byte offset, what was expected there and
/// what was found.
fn check_pattern_syntax(pattern: &str) -> Result<(), String> {
    let bytes = pattern.as_bytes();
    let end = bytes.len().saturating_sub(1);
    let refuse = |at: usize, expected: &str| {
        // Every byte consumed before `at` is ASCII, so `at` is a character boundary.
        let found = match pattern.get(at..end).and_then(|rest| rest.chars().next()) {
            Some(c) => format!("{c:?}"),
            None => "the closing `$`".to_string(),
        };
        format!(
            "at byte {at}: expected {expected}, found {found}; hostname patterns use only {PATTERN_SYNTAX}"
        )
    };
    // `\.` and `\-` are the only escapes, inside a class or out; the offset after one.
    let escape = |at: usize| match bytes.get(at + 1) {
        Some(b'.' | b'-') if at + 1 < end => Ok(at + 2),
        _ => Err(refuse(at + 1, "`.` or `-` after `\\`")),
    };
    let mut at = 1;
    let mut depth = 0usize;
    // Whether the last item was a character, class or group a quantifier may follow.
    let mut repeatable = false;
    while at < end {
        match bytes[at] {
            b if is_pattern_literal(b) => at += 1,
            b'\\' => at = escape(at)?,
            b'[' => {
                at += 1;
                if bytes.get(at) == Some(&b'^') {
                    at += 1;
                }
                let first = at;
                loop {
                    match bytes.get(at) {
                        Some(b']') if at > first && at < end => break,
                        Some(&b) if is_pattern_literal(b) && at < end => at += 1,
                        Some(b'\\') if at < end => at = escape(at)?,
                        _ if at == first => return Err(refuse(at, "a class member")),
                        _ => return Err(refuse(at, "a class member or `]`")),
                    }
                }
                at += 1;
            }
            b'(' => {
                let open = at;
                let rest = &bytes[at..end];
                if rest.starts_with(b"(?:") {
                    at += 3;
                } else if rest.starts_with(b"(?P<region>") {
                    at += 11;
                } else {
                    return Err(refuse(at, "`(?:` or `(?P<region>`"));
                }
                depth += 1;
                if depth > MAX_PATTERN_DEPTH {
                    return Err(refuse(
                        open,
                        &format!("at most {MAX_PATTERN_DEPTH} nested groups"),
                    ));
                }
                repeatable = false;
                continue;
            }
            b')' => {
                if depth == 0 {
                    return Err(refuse(at, "a group opened before `)`"));
                }
                depth -= 1;
                at += 1;
            }
            b'|' => {
                if depth == 0 {
                    // `^a|b$` is `^a` or `b$`: neither side would be anchored at both ends.
                    return Err(refuse(at, "`|` only inside a group, as in `^(?:a|b)$`"));
                }
                at += 1;
                repeatable = false;
                continue;
            }
            b'*' | b'+' | b'?' | b'{' => {
                if !repeatable {
                    return Err(refuse(
                        at,
                        "a character, class or group before a quantifier",
                    ));
                }
                if bytes[at] == b'{' {
                    at = counted_repetition_end(bytes, at + 1, end).map_err(|at| {
                        refuse(at, "a counted repetition `{n}`, `{n,}` or `{n,m}`")
                    })?;
                } else {
                    at += 1;
                }
                if at < end && bytes[at] == b'?' {
                    at += 1;
                }
                repeatable = false;
                continue;
            }
            _ => {
                return Err(refuse(
                    at,
                    "a hostname character, class, group, `|` or quantifier",
                ))
            }
        }
        repeatable = true;
    }
    if depth > 0 {
        return Err(refuse(end, "`)` closing every group"));
    }
    Ok(())
}

/// A byte a hostname pattern may hold as itself, inside a class or out (`.` is any
/// character outside a class and a dot inside one).
fn is_pattern_literal(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.')
}

/// Reads `n}`, `n,}` or `n,m}` from `at` (just after `{`); the offset after `}`, or the
/// offset of the first byte that does not fit.
fn counted_repetition_end(bytes: &[u8], mut at: usize, end: usize) -> Result<usize, usize> {
    let number = |at: &mut usize| -> Result<(), usize> {
        let start = *at;
        let mut value = 0usize;
        while *at < end && bytes[*at].is_ascii_digit() && *at - start < 3 {
            value = value * 10 + usize::from(bytes[*at] - b'0');
            *at += 1;
        }
        if *at == start || value > MAX_HOSTNAME_LEN {
            return Err(start);
        }
        Ok(())
    };
    number(&mut at)?;
    if at < end && bytes[at] == b',' {
        at += 1;
        if at < end && bytes[at] != b'}' {
            number(&mut at)?;
        }
    }
    if at < end && bytes[at] == b'}' {
        Ok(at + 1)
    } else {
        Err(at)
    }
}

fn is_slug(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `YYYY-MM-DD`, a real calendar date.
fn is_date(text: &str) -> bool {
    crate::times::parse_date(text).is_some()
}

/// RFC 5646 §2.1, loosely: subtags of 1-8 ASCII letters or digits joined by '-', the
/// first alphabetic.
fn is_language_tag(text: &str) -> bool {
    let mut subtags = text.split('-');
    let first_ok = subtags
        .next()
        .is_some_and(|s| (2..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic()));
    first_ok
        && subtags
            .all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Lower case, Latin diacritics removed, only letters and digits kept: "São Paulo",
/// "sao-paulo" and "SAO PAULO" all fold to "saopaulo". Non-Latin letters (汉字) are kept
/// as they are.
fn fold_name(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let folded: &str = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
            'æ' => "ae",
            'ç' | 'ć' | 'č' | 'ĉ' | 'ċ' => "c",
            'ď' | 'đ' | 'ð' => "d",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
            'ğ' | 'ģ' => "g",
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
            'ķ' => "k",
            'ł' | 'ľ' | 'ļ' => "l",
            'ñ' | 'ń' | 'ň' | 'ņ' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
            'œ' => "oe",
            'ř' | 'ŕ' => "r",
            'ś' | 'š' | 'ş' | 'ș' => "s",
            'ß' => "ss",
            'ť' | 'ţ' | 'ț' => "t",
            'þ' => "th",
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
            'ý' | 'ÿ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            c if c.is_alphanumeric() => {
                out.push(c);
                continue;
            }
            _ => continue,
        };
        out.push_str(folded);
    }
    out
}

use crate::hash::sha256_hex;

#[cfg(test)]
mod tests;
