//! Import-time checks of a feed: which provider publishes a file that does not say,
//! and whether the ASN data agrees with the provider a feed claims.

use super::*;

impl Attributor {
    /// What the ASN data says about a feed's prefixes, from a sample of at most 500
    /// entries spread over the feed: how many are announced by an ASN the directory
    /// gives to `provider`, how many by an ASN it gives to another provider, how many
    /// by an ASN it does not know (or none).
    pub(crate) fn asn_agreement(&self, feed: &Feed, provider: &str) -> AsnAgreement {
        let n = feed.entries.len();
        let step = n.div_ceil(500).max(1);
        let mut out = AsnAgreement::default();
        for e in feed.entries.iter().step_by(step) {
            out.sampled += 1;
            let Some(asn) = self.asn(e.prefix.first()).number else {
                out.unknown += 1;
                continue;
            };
            let holders = self.directory.directory().asn_holders(asn);
            if holders.is_empty() {
                out.unknown += 1;
            } else if holders.iter().any(|h| h.provider.id == provider) {
                out.agree += 1;
            } else {
                out.contradict += 1;
                if out.examples.len() < 3 {
                    out.examples.push(format!(
                        "{} is announced by AS{asn} ({})",
                        e.prefix,
                        holders
                            .first()
                            .map(|h| h.provider.id.as_str())
                            .unwrap_or("?")
                    ));
                }
            }
        }
        out
    }

    /// Decides which provider publishes a geofeed or CIDR list (the file does not
    /// say): the provider of the ASN announcing most of its prefixes, by the loaded
    /// ASN databases and the directory; failing that, a provider id in the file name.
    pub fn identify_provider(
        &self,
        feed: &Feed,
        file_name: &str,
    ) -> Result<(String, String), PublisherUnknown> {
        if let Some(p) = feed.format.provider() {
            return Ok((
                p.to_string(),
                "the format is the provider's own".to_string(),
            ));
        }
        if feed.format == FeedFormat::AsnDerived || feed.format == FeedFormat::GeofeedJson {
            for a in &feed.declared_asns {
                if let Some(p) = self.directory.by_asn(*a) {
                    return Ok((p.id, format!("the file names AS{a}")));
                }
            }
            if let Some(name) = &feed.declared_provider {
                let lower = name.to_ascii_lowercase();
                if let Some(id) = self.directory.provider_ids().into_iter().find(|id| {
                    lower
                        .split(|c: char| !c.is_ascii_alphanumeric())
                        .any(|w| w == id)
                }) {
                    return Ok((id, format!("the file names provider `{name}`")));
                }
            }
        }
        let mut votes: BTreeMap<String, usize> = BTreeMap::new();
        let sample: Vec<_> = feed.entries.iter().take(500).collect();
        for e in &sample {
            if let Some(n) = self.asn(e.prefix.first()).number {
                if let Some(p) = self.directory.by_asn(n) {
                    *votes.entry(p.id).or_default() += 1;
                }
            }
        }
        if let Some((id, n)) = votes
            .iter()
            .max_by_key(|(id, n)| (**n, std::cmp::Reverse((*id).clone())))
        {
            if n * 2 > sample.len() {
                return Ok((
                    id.clone(),
                    format!(
                        "{n} of {} sampled prefixes are announced by {id}'s ASNs",
                        sample.len()
                    ),
                ));
            }
        }
        let lower = file_name.to_ascii_lowercase();
        let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphanumeric()).collect();
        if let Some(id) = self
            .directory
            .provider_ids()
            .into_iter()
            .find(|id| words.contains(&id.as_str()))
        {
            return Ok((
                id,
                format!("the file name `{file_name}` names it (ASN data did not decide)"),
            ));
        }
        Err(PublisherUnknown {
            format: feed.format.as_str(),
        })
    }
}

/// See [`Attributor::asn_agreement`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AsnAgreement {
    pub sampled: usize,
    pub agree: usize,
    pub contradict: usize,
    pub unknown: usize,
    /// Up to three contradicting prefixes, for messages.
    pub examples: Vec<String>,
}

impl AsnAgreement {
    /// Most prefixes whose ASN the directory knows belong to another provider.
    pub(crate) fn mostly_contradicts(&self) -> bool {
        self.contradict > self.agree && self.contradict * 2 > self.sampled - self.unknown
    }
}

/// See [`Attributor::identify_provider`].
#[derive(Debug, thiserror::Error)]
#[error("cannot tell which provider publishes this {format}: its prefixes' ASNs belong to no single provider of the directory and the file name names none")]
pub struct PublisherUnknown {
    pub format: &'static str,
}
