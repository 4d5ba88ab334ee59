//! The provider of an address: rules tried in order of strength, the first that
//! answers wins (see the module documentation of [`super`]).

use super::*;

impl Attributor {
    /// The first of `provider`'s feed services (directory order) that its official
    /// feed entries for the prefix name, with the names the entries give (sorted).
    pub(super) fn feed_service(
        &self,
        provider: &str,
        feeds: &[FeedMatch],
    ) -> Option<(&directory::FeedService, Vec<String>)> {
        let names: std::collections::BTreeSet<&str> = feeds
            .iter()
            .filter(|m| m.official && m.provider == provider)
            .filter_map(|m| m.service.as_deref())
            .collect();
        let p = self.directory.directory().provider(provider)?;
        let fs = p
            .feed_services
            .iter()
            .find(|fs| names.iter().any(|n| fs.matches(n)))?;
        Some((fs, names.into_iter().map(str::to_string).collect()))
    }

    pub(super) fn feed_by_name(&self, name: &str) -> Option<&LoadedFeed> {
        self.feeds.iter().find(|f| f.name == name)
    }

    pub(super) fn provider_ref(&self, id: &str) -> ProviderRef {
        self.directory.provider(id).unwrap_or_else(|| ProviderRef {
            id: id.to_string(),
            name: id.to_string(),
            service_model: "unknown".to_string(),
        })
    }

    /// The source of an answer a hostname gave: how the name was seen, and the
    /// provider directory whose pattern matched it.
    pub(super) fn hostname_provenance(&self, kind: HostnameKind) -> Provenance {
        self.shared(ProvenanceRecord {
            source: format!("hostname:{}", kind.as_str()),
            version: Some(format!("provider directory {}", self.directory.version())),
            sha256: None,
            date: None,
        })
    }

    /// The provider: the first rule that answers, in order of strength; unknown with
    /// the reasons when none does.
    pub(super) fn provider_of(
        &self,
        ip: IpAddr,
        asn: &AsnAttribution,
        feeds: &[FeedMatch],
        hostnames: &[HostnameEvidence],
    ) -> ProviderAttribution {
        self.by_official_feed(ip, asn, feeds)
            .or_else(|| self.by_asn(ip, asn))
            .or_else(|| self.by_unofficial_feed(feeds))
            .or_else(|| self.by_hostname(asn, hostnames))
            .unwrap_or_else(|| self.provider_unknown(asn, hostnames))
    }

    /// Rule 1: an official feed lists the prefix.
    fn by_official_feed(
        &self,
        ip: IpAddr,
        asn: &AsnAttribution,
        feeds: &[FeedMatch],
    ) -> Option<ProviderAttribution> {
        if let Some(m) = feeds.iter().find(|m| m.official) {
            if let Some(f) = self.feed_by_name(&m.feed) {
                let others: Vec<&str> = feeds
                    .iter()
                    .filter(|o| o.provider != m.provider)
                    .map(|o| o.provider.as_str())
                    .collect();
                let mut evidence = format!(
                    "{} lists {} ({}{})",
                    m.feed,
                    m.prefix,
                    f.feed.format.as_str(),
                    f.describe_origin()
                );
                if !others.is_empty() {
                    evidence.push_str(&format!(
                        "; the same prefix is also listed for {}",
                        others.join(", ")
                    ));
                }
                // A feed that the ASN data contradicts is not strong evidence: one of
                // the two is wrong (or the provider runs on another's network).
                let conflict = asn.number.and_then(|n| {
                    let holders = self.directory.directory().asn_holders(n);
                    let first = holders.first()?;
                    (!holders.iter().any(|h| h.provider.id == m.provider)).then(|| {
                        format!(
                            "the feed and the ASN data disagree: {ip} is announced by AS{n}{}, which the provider directory assigns to {}, not {}",
                            asn.organization
                                .as_deref()
                                .map(|o| format!(" ({o})"))
                                .unwrap_or_default(),
                            first.provider.id,
                            m.provider
                        )
                    })
                });
                let confidence = match &conflict {
                    Some(c) => {
                        evidence.push_str(&format!("; {c}"));
                        Confidence::Medium
                    }
                    None => Confidence::Strong,
                };
                // What the feed's services or tags for the prefix say: a CDN, storage,
                // compute, or the provider's own first-party space.
                let service = self.feed_service(&m.provider, feeds);
                let mut provider = self.provider_ref(&m.provider);
                if let Some((fs, named)) = &service {
                    evidence.push_str(&format!(
                        "; the feed names {} for it: {}",
                        named.join(", "),
                        fs.what
                    ));
                    if let Some(other) = &fs.provider {
                        provider = self.provider_ref(other);
                    }
                    if let Some(model) = fs.model {
                        provider.service_model = model.as_str().to_string();
                    }
                }
                let provider = Provider {
                    conflict,
                    service: service.map(|(fs, _)| fs.service.clone()),
                    ..provider.into()
                };
                return Some(Answer::found(
                    provider,
                    self.shared(f.provenance()),
                    confidence,
                    Basis::OfficialFeed,
                    evidence,
                ));
            }
        }
        None
    }

    /// Rule 2: the announcing ASN belongs to a provider of the directory.
    fn by_asn(&self, ip: IpAddr, asn: &AsnAttribution) -> Option<ProviderAttribution> {
        if let (Some(n), Some(src)) = (asn.number, &asn.source) {
            if let Some(owner) = self.directory.asn_owner(n) {
                // Said of the database's network holding the address when known (the
                // same words for every address of it, so that their answers can be
                // one shared value), else of the address.
                let mut evidence = format!(
                    "{} is announced by AS{n} per {}; the provider directory (version {}) assigns AS{n} to {}",
                    asn.network
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| ip.to_string()),
                    src.source,
                    self.directory.version(),
                    owner.provider.id
                );
                // An ASN the directory lists only as unverified, or that several
                // providers share, is weaker evidence.
                let mut confidence = Confidence::Medium;
                if !owner.verified {
                    confidence = Confidence::Weak;
                    evidence.push_str(" (listed as unverified)");
                }
                if !owner.shared_with.is_empty() {
                    confidence = Confidence::Weak;
                    evidence.push_str(&format!(
                        "; AS{n} is shared with {}",
                        owner.shared_with.join(", ")
                    ));
                }
                // A cloud whose official feed lists all its customers' ranges: an
                // address of its ASN outside the feed is the company's own space.
                let outside = self
                    .directory
                    .directory()
                    .provider(&owner.provider.id)
                    .and_then(|p| p.outside_feed.as_ref())
                    .filter(|o| o.asns.contains(&n));
                if let Some(o) = outside {
                    let feed = self.feeds.iter().find(|f| {
                        f.provider == owner.provider.id && f.feed.format.as_str() == o.feed
                    });
                    match feed {
                        Some(f) => {
                            let evidence = format!(
                                "{evidence}; {}{} does not list the address: {}",
                                f.name,
                                f.describe_origin(),
                                o.what
                            );
                            let confidence = match o.strength {
                                directory::Strength::Strong => Confidence::Medium,
                                directory::Strength::Medium => Confidence::Weak,
                            };
                            return Some(Answer::found(
                                self.provider_ref(&o.provider).into(),
                                src.clone(),
                                confidence,
                                Basis::Asn,
                                evidence,
                            ));
                        }
                        None => evidence.push_str(&format!(
                            "; no {} feed of {} is loaded, so whether the address is {}'s own space cannot be told",
                            o.feed, owner.provider.id, o.provider
                        )),
                    }
                }
                return Some(Answer::found(
                    owner.provider.into(),
                    src.clone(),
                    confidence,
                    Basis::Asn,
                    evidence,
                ));
            }
        }
        None
    }

    /// Rule 3: an unofficial ASN-derived list holds the prefix.
    fn by_unofficial_feed(&self, feeds: &[FeedMatch]) -> Option<ProviderAttribution> {
        if let Some(m) = feeds.first() {
            if let Some(f) = self.feed_by_name(&m.feed) {
                let evidence = format!("{} (not official: prefixes announced by the provider's ASNs, third-party list) holds {}", m.feed, m.prefix);
                return Some(Answer::found(
                    self.provider_ref(&m.provider).into(),
                    self.shared(f.provenance()),
                    Confidence::Medium,
                    Basis::UnofficialFeed,
                    evidence,
                ));
            }
        }
        None
    }

    /// Rule 4: a provider hostname seen in the capture.
    fn by_hostname(
        &self,
        asn: &AsnAttribution,
        hostnames: &[HostnameEvidence],
    ) -> Option<ProviderAttribution> {
        for h in sorted_hostnames(hostnames) {
            if let Some(hm) = self.directory.match_hostname(&h.name) {
                let mut evidence = format!(
                    "{} `{}` (pattern {}){}",
                    h.kind.as_str(),
                    h.name,
                    hm.pattern,
                    h.frame
                        .map(|f| format!(", capture {} frame {}", f.capture, f.frame))
                        .unwrap_or_default()
                );
                // The carrier network announcing the address agrees with the name.
                if let Some(n) = asn.number.filter(|n| {
                    self.directory
                        .directory()
                        .carried_by(*n)
                        .iter()
                        .any(|p| p.id == hm.provider)
                }) {
                    evidence.push_str(&format!(
                        "; AS{n}, which announces the address, is one of {}'s carrier ASNs",
                        hm.provider
                    ));
                }
                let source = self.hostname_provenance(h.kind);
                let confidence = hm.confidence.min(hostname_kind_cap(h.kind));
                return Some(Answer::found(
                    self.provider_ref(&hm.provider).into(),
                    source,
                    confidence,
                    Basis::Hostname,
                    evidence,
                ));
            }
        }
        None
    }

    /// No rule answered: why, rule by rule.
    fn provider_unknown(
        &self,
        asn: &AsnAttribution,
        hostnames: &[HostnameEvidence],
    ) -> ProviderAttribution {
        let mut why = Vec::new();
        if self.feeds.is_empty() {
            why.push("no provider feeds are loaded".to_string());
        } else {
            why.push("no loaded feed lists the address".to_string());
        }
        match asn.number {
            Some(n) => {
                let holder = asn
                    .organization
                    .as_ref()
                    .map(|o| format!(" ({o})"))
                    .unwrap_or_default();
                let carried = self.directory.directory().carried_by(n);
                if carried.is_empty() {
                    why.push(format!("AS{n}{holder} is not in the provider directory"));
                } else {
                    let names: Vec<String> = carried
                        .iter()
                        .map(|p| format!("{} ({})", p.name_en, p.id))
                        .collect();
                    why.push(format!(
                        "AS{n}{holder} is a carrier network announcing {} addresses among the carrier's broadband and enterprise lines, so the ASN alone does not tell (provider directory {}, `carrier_asns`); a provider hostname for the address would",
                        names.join(", "),
                        self.directory.version()
                    ));
                }
            }
            None => why.push("its ASN is unknown".to_string()),
        }
        if !hostnames.is_empty() {
            why.push("no hostname seen for it matches a provider pattern".to_string());
        }
        Answer::unknown(why.join("; "))
    }
}
