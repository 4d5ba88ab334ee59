//! Reading and validating a directory file: the file format as written (strings
//! kept as strings, so that a wrong value is reported with the provider id and field)
//! and the checks that turn it into [`Provider`]s.

use super::*;

// ---------------------------------------------------------------------------------------
// The file format. Strings stay strings here so that a wrong value is reported with the
// provider id and field, which serde's own enum errors cannot do.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDirectory {
    pub(super) version: String,
    #[serde(default)]
    pub(super) provider: Vec<RawProvider>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProvider {
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
    carrier_asns: Vec<u32>,
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
pub(super) struct RawFeedService {
    service: String,
    model: Option<String>,
    provider: Option<String>,
    what: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutsideFeed {
    feed: String,
    asns: Vec<u32>,
    provider: String,
    strength: String,
    what: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEntity {
    #[serde(default)]
    name: String,
    country: String,
    address: Option<String>,
    #[serde(default)]
    role: String,
    confirmed: Option<String>,
    source: Option<String>,
    #[serde(default)]
    regions: Vec<String>,
    #[serde(default)]
    copy: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotice {
    kind: String,
    target: Option<String>,
    reason: Option<String>,
    language: String,
    jurisdiction: String,
    frame: Option<String>,
    purpose: String,
    confirmed: Option<String>,
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegionScheme {
    scheme: String,
    #[serde(default)]
    source: String,
    confirmed: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegion {
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
pub(super) struct RawPattern {
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

pub(super) struct Ctx<'a> {
    pub(super) origin: &'a str,
    /// The directory's `version` date: no fact is confirmed after it.
    pub(super) version: time::Date,
}

impl Ctx<'_> {
    pub(super) fn invalid(
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

    /// A `confirmed` value: a real date no later than the directory's version, or
    /// "unconfirmed"; a missing one is refused like a wrong one.
    pub(super) fn confirmed(
        &self,
        provider: &str,
        field: String,
        value: Option<&str>,
    ) -> Result<Confirmed, DirectoryError> {
        let problem = match value {
            None => "missing".to_string(),
            Some(Confirmed::UNCONFIRMED) => return Ok(Confirmed::Unconfirmed),
            Some(text) => match crate::times::parse_date(text) {
                Some(d) if d <= self.version => return Ok(Confirmed::On(d)),
                Some(_) => format!("{text:?} is after the directory's version"),
                None => format!("{text:?} is not a date YYYY-MM-DD"),
            },
        };
        Err(DirectoryError::Confirmed {
            origin: self.origin.to_string(),
            provider: provider.to_string(),
            field,
            problem,
            version: Confirmed::On(self.version).to_string(),
        })
    }

    /// A dated fact names the source that dates it.
    fn dated_source(
        &self,
        provider: &str,
        field: String,
        confirmed: Confirmed,
        source: Option<&str>,
    ) -> Result<(), DirectoryError> {
        if confirmed.is_confirmed() && source.is_none_or(|s| s.trim().is_empty()) {
            return Err(self.invalid(
                provider,
                field,
                "the source that confirmed the fact on its `confirmed` date",
                source.unwrap_or(""),
            ));
        }
        Ok(())
    }

    pub(super) fn country(
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

    pub(super) fn service_model(
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

    pub(super) fn provider(&self, raw: RawProvider) -> Result<Provider, DirectoryError> {
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
        for asn in &raw.carrier_asns {
            if seen.contains(asn) {
                return Err(self.invalid(
                    &id,
                    "carrier_asns".into(),
                    "ASNs not also listed in asns or asns_unverified",
                    &asn.to_string(),
                ));
            }
            if !raw.sources.iter().any(|s| names_asn(s, *asn)) {
                return Err(self.invalid(
                    &id,
                    "carrier_asns".into(),
                    "ASNs each named (ASn) in the provider's sources",
                    &asn.to_string(),
                ));
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
            let confirmed =
                self.confirmed(&id, format!("{field}.confirmed"), e.confirmed.as_deref())?;
            let source = e.source.filter(|t| !t.trim().is_empty());
            self.dated_source(&id, format!("{field}.source"), confirmed, source.as_deref())?;
            entities.push(Entity {
                name: e.name,
                country: e.country,
                address: e.address.filter(|a| !a.trim().is_empty()),
                role: e.role,
                confirmed,
                source,
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
            let confirmed =
                self.confirmed(&id, format!("{field}.confirmed"), n.confirmed.as_deref())?;
            notices.push(NoticeChannel {
                kind,
                target,
                reason,
                language: n.language,
                jurisdiction: n.jurisdiction,
                frame,
                purpose,
                confirmed,
                source: n.source,
            });
        }

        let region_scheme = match raw.regions {
            Some(r) => {
                let confirmed =
                    self.confirmed(&id, "regions.confirmed".into(), r.confirmed.as_deref())?;
                self.dated_source(&id, "regions.source".into(), confirmed, Some(&r.source))?;
                Some(RegionScheme {
                    scheme: r.scheme,
                    source: r.source,
                    confirmed,
                })
            }
            None => None,
        };

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
            if let Err(e) = check_pattern_syntax(&p.regex) {
                return Err(DirectoryError::InvalidRegex {
                    origin: self.origin.to_string(),
                    provider: id.clone(),
                    field: format!("{field}.regex"),
                    regex: p.regex,
                    message: e.to_string(),
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
            carrier_asns: raw.carrier_asns,
            entities,
            notices,
            region_scheme,
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

pub(super) fn is_slug(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// RFC 5646 §2.1, loosely: subtags of 1-8 ASCII letters or digits joined by '-', the
/// first alphabetic.
pub(super) fn is_language_tag(text: &str) -> bool {
    let mut subtags = text.split('-');
    let first_ok = subtags
        .next()
        .is_some_and(|s| (2..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic()));
    first_ok
        && subtags
            .all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Whether a source line names `AS<asn>` (not as the start of a longer number).
fn names_asn(source: &str, asn: u32) -> bool {
    let needle = format!("AS{asn}");
    source.match_indices(&needle).any(|(at, _)| {
        !source[at + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}
