//! The region of an address, once its provider is known: official feed (with the
//! broader regional block as fallback), geofeed city, a hostname that embeds a
//! region, then the GeoIP city mapped to the provider's regions.

use super::*;

impl Attributor {
    /// The region, and which of `levels` gave it when a feed did.
    pub(super) fn region_of(
        &self,
        provider: &ProviderAttribution,
        levels: &[Vec<FeedMatch>],
        decisive: usize,
        hostnames: &[HostnameEvidence],
        geo: &GeoAnswer<'_>,
    ) -> (RegionAttribution, Option<usize>) {
        let Some(pid) = provider.id.as_deref() else {
            return (
                Answer::unknown("provider unknown, so no provider region"),
                None,
            );
        };
        let mut why: Vec<String> = Vec::new();
        self.region_by_feed(pid, levels, decisive, &mut why)
            .or_else(|| self.region_by_hostname(pid, hostnames, &mut why))
            .or_else(|| self.region_by_geoip_city(pid, geo, &mut why))
            .unwrap_or_else(|| (Answer::unknown(why.join("; ")), None))
    }

    /// Rule 1: official feed: the regions its entries for this prefix name; a geofeed's
    /// city; a broader regional block of the same feed when the prefix has none.
    fn region_by_feed(
        &self,
        pid: &str,
        levels: &[Vec<FeedMatch>],
        decisive: usize,
        why: &mut Vec<String>,
    ) -> Option<(RegionAttribution, Option<usize>)> {
        let own_at = |i: usize| -> Vec<&FeedMatch> {
            levels
                .get(i)
                .map(|l| {
                    l.iter()
                        .filter(|m| m.official && m.provider == pid)
                        .collect()
                })
                .unwrap_or_default()
        };
        let own = own_at(decisive);
        if !own.is_empty() {
            let regions = self.feed_regions(pid, &own);
            let global = own
                .iter()
                .filter_map(|m| m.region.as_deref())
                .any(|r| r.eq_ignore_ascii_case("global"));
            let prefix = own
                .first()
                .map(|m| m.prefix.to_string())
                .unwrap_or_default();
            if regions.len() == 1 {
                return Some((
                    self.feed_region_answer(pid, &own, &regions, None),
                    Some(decisive),
                ));
            }
            if regions.len() > 1 {
                why.push(format!(
                    "the feed lists {prefix} in several regions ({})",
                    regions.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            } else if global {
                why.push(format!(
                    "the feed lists {prefix} as GLOBAL (not tied to a region)"
                ));
            }
            // Geofeeds (RFC 8805) give a city instead of a region id.
            if let Some(m) = own.iter().find(|m| m.city.is_some()) {
                return Some((self.geofeed_region(pid, m), Some(decisive)));
            }
            if regions.is_empty() && !global {
                // A more specific block listed without a region (Azure lists service
                // tags without one inside its regional blocks): the innermost broader
                // block of the same provider's feed that names one region gives it.
                for i in decisive + 1..levels.len() {
                    let broader = own_at(i);
                    let r = self.feed_regions(pid, &broader);
                    if r.len() == 1 {
                        return Some((
                            self.feed_region_answer(pid, &broader, &r, Some(&prefix)),
                            Some(i),
                        ));
                    }
                    if r.len() > 1 {
                        break;
                    }
                }
                why.push(format!("the feed gives no region for {prefix}"));
            }
        } else {
            why.push("no official feed of the provider lists the address".to_string());
        }
        None
    }

    /// Rule 2: a provider hostname seen for the address that embeds a region.
    fn region_by_hostname(
        &self,
        pid: &str,
        hostnames: &[HostnameEvidence],
        why: &mut Vec<String>,
    ) -> Option<(RegionAttribution, Option<usize>)> {
        for h in sorted_hostnames(hostnames) {
            let Some(hm) = self.directory.match_hostname(&h.name) else {
                continue;
            };
            if hm.provider != pid {
                why.push(format!("`{}` names {}, not {pid}", h.name, hm.provider));
                continue;
            }
            match hm.region {
                Some(RegionRef { id, city }) => {
                    let source = self.hostname_provenance(h.kind);
                    let evidence = format!(
                        "{} `{}` embeds region {id} (pattern {})",
                        h.kind.as_str(),
                        h.name,
                        hm.pattern
                    );
                    let region = Region {
                        id: Some(id),
                        city,
                        frame: h.frame,
                        ..Region::default()
                    };
                    let confidence = hm.confidence.min(hostname_kind_cap(h.kind));
                    let answer =
                        Answer::found(region, source, confidence, Basis::Hostname, evidence);
                    return Some((answer, None));
                }
                None => why.push(
                    hm.no_region_reason
                        .unwrap_or_else(|| format!("`{}` embeds no region", h.name)),
                ),
            }
        }
        if hostnames.is_empty() {
            why.push("no hostname was seen for the address".to_string());
        }
        None
    }

    /// Rule 3: geoIP city mapped to the provider's regions (weakest).
    fn region_by_geoip_city(
        &self,
        pid: &str,
        geo: &GeoAnswer<'_>,
        why: &mut Vec<String>,
    ) -> Option<(RegionAttribution, Option<usize>)> {
        match &geo.city {
            Some((city, country, db)) => {
                let candidates = self
                    .directory
                    .regions_by_city(pid, city, country.as_deref());
                if let [r] = candidates.as_slice() {
                    let region = Region {
                        id: Some(r.id.clone()),
                        city: Some(city.clone()),
                        ..Region::default()
                    };
                    let evidence = format!(
                        "{} places the address in {city}; {pid} has region {} there",
                        db.name, r.id
                    );
                    let answer = Answer::found(
                        region,
                        self.db_provenance(db),
                        Confidence::Weak,
                        Basis::GeoipCity,
                        evidence,
                    );
                    return Some((answer, None));
                }
                if candidates.is_empty() {
                    why.push(format!(
                        "GeoIP city {city} is not a city of {pid}'s regions"
                    ));
                } else {
                    why.push(format!(
                        "GeoIP city {city} holds several {pid} regions ({})",
                        candidates
                            .iter()
                            .map(|r| r.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            None => why.push("no city database places the address".to_string()),
        }
        None
    }

    /// The regions `entries` name, by the directory's id (the feed's spellings of
    /// each kept), GLOBAL and empty ones left out.
    pub(super) fn feed_regions(
        &self,
        pid: &str,
        entries: &[&FeedMatch],
    ) -> BTreeMap<String, Vec<String>> {
        let p = self.directory.directory().provider(pid);
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in entries.iter().filter_map(|m| m.region.as_deref()) {
            let r = r.trim();
            if r.is_empty() || r.eq_ignore_ascii_case("global") {
                continue;
            }
            let id = p
                .and_then(|p| p.region(r))
                .map(|reg| reg.id.clone())
                .unwrap_or_else(|| r.to_string());
            let spellings = out.entry(id).or_default();
            if !spellings.iter().any(|s| s == r) {
                spellings.push(r.to_string());
            }
        }
        out
    }

    /// The answer for the one region `regions` holds, from `entries` of the
    /// provider's feed; `inner` is the more specific prefix listed without a region,
    /// when the region comes from a broader block.
    pub(super) fn feed_region_answer(
        &self,
        pid: &str,
        entries: &[&FeedMatch],
        regions: &BTreeMap<String, Vec<String>>,
        inner: Option<&str>,
    ) -> RegionAttribution {
        let Some((id, spellings)) = regions.iter().next() else {
            return Answer::default();
        };
        let first = entries.first();
        let feed_name = first.map(|m| m.feed.as_str()).unwrap_or("");
        let prefix = first.map(|m| m.prefix.to_string()).unwrap_or_default();
        let region = self
            .directory
            .directory()
            .provider(pid)
            .and_then(|p| p.region(id));
        let spelled: Vec<&String> = spellings.iter().filter(|s| *s != id).collect();
        let mut evidence = match inner {
            Some(inner) => format!(
                "{feed_name} lists {inner} without a region, inside {prefix}, which it lists in region {}",
                spellings.join(", ")
            ),
            None => format!("{feed_name} lists {prefix} in region {}", spellings.join(", ")),
        };
        if !spelled.is_empty() {
            evidence.push_str(&format!(" (the provider directory's {id})"));
        }
        if region.is_none() {
            evidence.push_str(&format!(
                "; {id} is not in the provider directory's region list (version {}), so its city is unknown",
                self.directory.version()
            ));
        }
        let value = Region {
            id: Some(id.clone()),
            city: region.and_then(|r| r.city.clone()),
            feed_region: (!spelled.is_empty()).then(|| {
                spelled
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
            ..Region::default()
        };
        let source = first
            .and_then(|m| self.feed_by_name(&m.feed))
            .map(|f| self.shared(f.provenance()));
        by_official_feed(value, source, evidence)
    }

    /// A geofeed (RFC 8805) entry's city and country, mapped to the provider's
    /// regions: one region there names it; several are listed as candidates.
    pub(super) fn geofeed_region(&self, pid: &str, m: &FeedMatch) -> RegionAttribution {
        let candidates = m
            .city
            .as_deref()
            .map(|c| self.directory.regions_by_city(pid, c, m.country.as_deref()))
            .unwrap_or_default();
        let region = match candidates.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        };
        let ids: Vec<String> = candidates.iter().map(|r| r.id.clone()).collect();
        let note = match candidates.len() {
            0 => "; no region of the provider's list is in that city".to_string(),
            1 => String::new(),
            _ => format!(
                "; the provider has several regions there ({}), so which one cannot be told",
                ids.join(", ")
            ),
        };
        let value = Region {
            id: region.as_ref().map(|r| r.id.clone()),
            city: m.city.clone(),
            candidates: if ids.len() > 1 { ids } else { Vec::new() },
            ..Region::default()
        };
        let evidence = format!(
            "{} (RFC 8805 geofeed) places {} in {}, {}{}",
            m.feed,
            m.prefix,
            m.city.as_deref().unwrap_or("?"),
            m.country.as_deref().unwrap_or("?"),
            note
        );
        let source = self
            .feed_by_name(&m.feed)
            .map(|f| self.shared(f.provenance()));
        by_official_feed(value, source, evidence)
    }
}

/// A region an official feed gives: strong. The source is the feed, unknown only if
/// the feed is no longer loaded.
fn by_official_feed(
    value: Region,
    source: Option<Provenance>,
    evidence: String,
) -> RegionAttribution {
    Answer {
        value,
        source,
        confidence: Some(Confidence::Strong),
        basis: Some(Basis::OfficialFeed),
        evidence: Some(evidence),
        reason: None,
    }
}
