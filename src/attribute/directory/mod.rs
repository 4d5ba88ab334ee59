//! The provider directory: who a hosting, cloud or CDN provider is, which networks
//! (ASNs) it announces, which legal entities contract with customers, where notices go,
//! how it names its regions, and which hostnames it issues.
//!
//! The data lives in `data/providers.toml`, written by hand from the providers' own pages
//! and RIR/PeeringDB records; every provider lists its `sources`, and every fact that
//! could not be confirmed is marked (`confirmed = "unconfirmed"` on entities, channels
//! and region lists, where a confirmed one carries the date its source states;
//! `asns_unverified`; a `notes` line). This module loads and validates that file and answers three questions fast:
//! which provider announces an ASN ([`Directory::by_asn`]), which provider (and region)
//! a hostname reveals ([`Directory::match_hostname`]), and which of a provider's regions
//! sit in a city ([`Directory::regions_by_city`]).
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
const BUNDLED: &str = include_str!("../../../data/providers.toml");

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

mod pattern;
mod schema;
mod validate;

pub use schema::*;

use pattern::check_pattern_syntax;
use validate::{Ctx, RawDirectory};

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
    #[error("{origin}: provider {provider:?}, field `{field}`: {problem}; expected the date the fact was last confirmed against its source (YYYY-MM-DD, not after the directory's version {version}) or \"unconfirmed\"")]
    Confirmed {
        origin: String,
        provider: String,
        field: String,
        problem: String,
        version: String,
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
    /// Carrier ASN -> providers whose addresses it announces among others.
    by_carrier: BTreeMap<u32, Vec<usize>>,
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
        let Some(version) = crate::times::parse_date(&raw.version) else {
            return Err(DirectoryError::Version {
                origin: origin.to_string(),
                found: raw.version,
            });
        };
        let ctx = Ctx { origin, version };
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
        let mut by_carrier: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (index, provider) in providers.iter().enumerate() {
            for asn in &provider.carrier_asns {
                // A carrier ASN explains an address; an ASN that decides a provider
                // elsewhere in the directory cannot also be one.
                if let Some((other, _)) = by_asn.get(asn).and_then(|h| h.first()) {
                    return Err(DirectoryError::DuplicateAsn {
                        origin: origin.to_string(),
                        asn: *asn,
                        first: providers[*other].id.clone(),
                        second: provider.id.clone(),
                    });
                }
                by_carrier.entry(*asn).or_default().push(index);
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
            by_carrier,
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
    pub(crate) fn by_asn(&self, asn: u32) -> Option<&Provider> {
        let (index, _) = self.by_asn.get(&asn)?.first()?;
        self.providers.get(*index)
    }

    /// The providers whose addresses `asn` announces among its carrier's other
    /// networks (`carrier_asns`): the ASN does not decide between them and the rest.
    pub fn carried_by(&self, asn: u32) -> Vec<&Provider> {
        self.by_carrier
            .get(&asn)
            .map(|list| list.iter().filter_map(|i| self.providers.get(*i)).collect())
            .unwrap_or_default()
    }

    /// Every provider listing `asn`, confirmed ones first, then by id.
    pub(crate) fn asn_holders(&self, asn: u32) -> Vec<AsnHolder<'_>> {
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
    pub(crate) fn match_hostname(&self, host: &str) -> Option<HostnameMatch> {
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

    /// The first region (in file order) of a provider in `city`.
    #[cfg(test)]
    pub(crate) fn region_by_city(
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
    pub(crate) fn regions_by_city(
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
