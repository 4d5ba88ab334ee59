//! The answers: what attribution says about an address, each part with its source,
//! strength and evidence, or the reason it is unknown; and the sources used.

use super::*;
use std::hash::Hash;
use std::sync::Arc;

/// A set hashed with aHash: the parts hashed here are long (strings, provenance), and
/// SipHash was a visible part of attributing many addresses. Equality decides what
/// is shared; the order of the set is never read.
type HashSet<T> = std::collections::HashSet<T, ahash::RandomState>;

/// How a hostname was seen in the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostnameKind {
    DnsAnswer,
    Cname,
    /// The reverse DNS name of the address (`--online`), set by whoever holds the
    /// reverse zone: at most medium evidence.
    Ptr,
    Sni,
    Cert,
    HttpHost,
}

impl HostnameKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HostnameKind::DnsAnswer => "dns_answer",
            HostnameKind::Cname => "cname",
            HostnameKind::Sni => "sni",
            HostnameKind::Cert => "cert",
            HostnameKind::HttpHost => "http_host",
            HostnameKind::Ptr => "ptr",
        }
    }
}

/// A hostname bound to the address in the capture.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct HostnameEvidence {
    pub name: String,
    pub kind: HostnameKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<FrameRef>,
}

impl HostnameEvidence {
    /// A name as it came off the wire (DNS, SNI, certificate, Host header): invalid
    /// UTF-8 is replaced, case folded, one trailing dot dropped. Names are only
    /// matched against patterns here, never interpreted further.
    pub(crate) fn from_wire(name: &[u8], kind: HostnameKind, frame: Option<FrameRef>) -> Self {
        let mut name = String::from_utf8_lossy(name).to_ascii_lowercase();
        if name.ends_with('.') {
            name.pop();
        }
        HostnameEvidence { name, kind, frame }
    }
}

/// On what an answer rests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    OfficialFeed,
    UnofficialFeed,
    Asn,
    Hostname,
    GeoipCity,
    GeoipCountry,
}

/// One attribution answer: the kind's own fields (`V`: [`Asn`], [`Country`],
/// [`Provider`], [`Region`]) with what the answer rests on, or unknown with the
/// reason.
///
/// The five common fields are always written, `null` when not known (an unknown
/// answer has no source; an ASN or country comes straight from one database and is
/// not graded, so it has no confidence, basis or evidence): every answer of the JSON
/// report has the same shape.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Answer<V> {
    #[serde(flatten)]
    pub value: V,
    pub source: Option<Provenance>,
    pub confidence: Option<Confidence>,
    pub basis: Option<Basis>,
    /// How the answer was reached, for a person: which prefix, which ASN, which name.
    pub evidence: Option<String>,
    /// Why the answer is unknown.
    pub reason: Option<String>,
}

impl<V: Default> Answer<V> {
    /// Nothing is known, for `reason`.
    pub fn unknown(reason: impl Into<String>) -> Self {
        Answer {
            reason: Some(reason.into()),
            ..Answer::default()
        }
    }
}

impl<V> Answer<V> {
    /// An answer reached by a rule, graded.
    pub fn found(
        value: V,
        source: Provenance,
        confidence: Confidence,
        basis: Basis,
        evidence: String,
    ) -> Self {
        Answer {
            value,
            source: Some(source),
            confidence: Some(confidence),
            basis: Some(basis),
            evidence: Some(evidence),
            reason: None,
        }
    }

    /// What one database lists for the address (ASN, country): not graded.
    pub fn listed(value: V, source: Provenance) -> Self {
        Answer {
            value,
            source: Some(source),
            confidence: None,
            basis: None,
            evidence: None,
            reason: None,
        }
    }
}

// An answer reads as its kind (`attribution.provider.id`): the value is the answer,
// the common fields say what it rests on. Deref keeps every reader of the kind's
// fields unaware of the wrapper, as the fields were the kinds' own before.
impl<V> std::ops::Deref for Answer<V> {
    type Target = V;
    fn deref(&self) -> &V {
        &self.value
    }
}

impl<V> std::ops::DerefMut for Answer<V> {
    fn deref_mut(&mut self) -> &mut V {
        &mut self.value
    }
}

/// The autonomous system announcing the address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Asn {
    pub number: Option<u32>,
    pub organization: Option<String>,
    /// The database's network holding the address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<IpPrefix>,
}

/// The country the address is registered or located in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Country {
    /// ISO 3166-1 alpha-2.
    pub code: Option<String>,
}

/// The hosting provider.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Provider {
    pub id: Option<String>,
    pub name: Option<String>,
    pub service_model: Option<String>,
    /// Set when sources disagree (a feed and the ASN data): the answer is then not
    /// strong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict: Option<String>,
    /// The service or tag of the provider's feed that decided the service model
    /// (`CLOUDFRONT`, `EC2`, `AzureFrontDoor.Frontend`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Other providers' official feeds that list the address too (GitHub's ranges on
    /// Azure's network): the same prefix, or one nested inside the prefix that named
    /// the provider.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_listed: Vec<FeedMatch>,
}

impl Provider {
    /// The provider's name for a reader, else its id.
    pub(crate) fn display_name(&self) -> Option<&str> {
        self.name.as_deref().or(self.id.as_deref())
    }
}

impl From<ProviderRef> for Provider {
    fn from(p: ProviderRef) -> Self {
        Provider {
            id: Some(p.id),
            name: Some(p.name),
            service_model: Some(p.service_model),
            ..Provider::default()
        }
    }
}

/// The provider's region (data centre area).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Region {
    pub id: Option<String>,
    pub city: Option<String>,
    /// The frame where the hostname that gave the region was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<FrameRef>,
    /// The region as the feed spells it, when that is not the directory's id
    /// (Azure's `germanywc` for `germanywestcentral`): the evidence, kept as found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feed_region: Option<String>,
    /// The provider's regions that fit when several do (a geofeed city with two
    /// data centres): `id` is then unknown.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
}

pub(crate) type AsnAttribution = Answer<Asn>;
pub type CountryAttribution = Answer<Country>;
pub type ProviderAttribution = Answer<Provider>;
pub type RegionAttribution = Answer<Region>;

/// One feed entry covering the address (all of the most specific prefix's entries).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct FeedMatch {
    pub feed: String,
    pub provider: String,
    pub official: bool,
    pub prefix: IpPrefix,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// Everything known about one address.
///
/// Its answers, feed entries and notes are shared ([`Arc`]): addresses in one
/// network, prefix or country mostly have equal ones, and [`Sharing`] makes equal
/// parts one value, so that a capture's many addresses do not each hold a copy.
/// A part is changed through [`Arc::make_mut`], which copies it first when shared.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Attribution {
    pub asn: Arc<AsnAttribution>,
    pub country: Arc<CountryAttribution>,
    pub provider: Arc<ProviderAttribution>,
    pub region: Arc<RegionAttribution>,
    /// Feed entries of the most specific prefix covering the address.
    #[serde(skip_serializing_if = "is_empty")]
    pub feeds: Arc<Vec<FeedMatch>>,
    /// What a reader must weigh: data much older or newer than the capture.
    #[serde(skip_serializing_if = "is_empty")]
    pub notes: Arc<Vec<String>>,
    /// Reverse DNS (`--online`). Boxed, as the RDAP record: most runs are offline,
    /// and an attribution is kept for every address of the capture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ptr: Option<Box<online::PtrSummary>>,
    /// The RDAP record of the address block (`--online`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rdap: Option<Box<online::RdapSummary>>,
    /// Abuse contacts from RDAP, best first (`--online`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub abuse_contacts: Vec<rdap::AbuseContact>,
}

fn is_empty<T>(v: &Arc<Vec<T>>) -> bool {
    v.is_empty()
}

/// Makes equal parts of attributions one shared value: each part is looked up
/// among those seen before and replaced by the one found. Held while a capture's
/// addresses are attributed, then dropped (the parts stay shared).
#[derive(Default)]
pub struct Sharing {
    asn: HashSet<Arc<AsnAttribution>>,
    country: HashSet<Arc<CountryAttribution>>,
    provider: HashSet<Arc<ProviderAttribution>>,
    region: HashSet<Arc<RegionAttribution>>,
    feeds: HashSet<Arc<Vec<FeedMatch>>>,
    notes: HashSet<Arc<Vec<String>>>,
}

impl Sharing {
    /// Every shared part of `a`.
    pub fn share(&mut self, a: &mut Attribution) {
        one(&mut self.asn, &mut a.asn);
        one(&mut self.country, &mut a.country);
        one(&mut self.provider, &mut a.provider);
        one(&mut self.region, &mut a.region);
        one(&mut self.feeds, &mut a.feeds);
        self.share_notes(a);
    }

    /// The notes of `a` only (after notes were added).
    pub fn share_notes(&mut self, a: &mut Attribution) {
        one(&mut self.notes, &mut a.notes);
    }
}

fn one<T: Hash + Eq>(seen: &mut HashSet<Arc<T>>, part: &mut Arc<T>) {
    match seen.get(&**part) {
        Some(same) => *part = Arc::clone(same),
        None => {
            seen.insert(Arc::clone(part));
        }
    }
}

/// Kind of a data source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Mmdb,
    Feed,
    Directory,
}

/// A data source used for attribution, enough to obtain the same file again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceInfo {
    pub kind: SourceKind,
    /// File name (or `providers.toml`).
    pub name: String,
    /// Database type or feed format.
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub version: Option<String>,
    /// Build date of a database (`YYYY-MM-DD`, from its metadata).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_date: Option<String>,
    pub sha256: String,
    pub bundled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub official: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribution: Option<String>,
    /// Records held: node count of a database, `N IPv4 + M IPv6` prefixes of a feed.
    pub records: String,
    /// Date of the data (`YYYY-MM-DD`, or `YYYY-MM` when only the month is known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The bundled feed snapshot a feed belongs to (`bundled feed snapshot 2025-07`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Where the provider publishes the feed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Terms of use of a bundled feed, as far as known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terms: Option<String>,
    /// What is wrong with the source: a stored feed that does not parse (then it is
    /// not used), a bundled database whose licence record (`bundled.json`) is broken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Attribution of every address of an analysis, computed once per address after the
/// records are finished, with the sources used.
#[derive(Clone, Debug, Default)]
pub struct Attributions {
    pub by_ip: ByIp,
    pub sources: Vec<SourceInfo>,
    /// Where the online answers are kept, when `--online` ran.
    pub online: Option<online::OnlineSummary>,
}

/// The attributions of the addresses, in address order: a vector searched by
/// halves, which holds each once and nothing more (a map built from them held
/// them twice while it was built, and a map filled one by one leaves its nodes
/// half empty).
#[derive(Clone, Debug, Default)]
pub struct ByIp(Vec<(IpAddr, Attribution)>);

impl FromIterator<(IpAddr, Attribution)> for ByIp {
    /// Put in address order in place (the first of an address given twice kept).
    fn from_iter<I: IntoIterator<Item = (IpAddr, Attribution)>>(items: I) -> Self {
        let mut v: Vec<(IpAddr, Attribution)> = items.into_iter().collect();
        if !v.is_sorted_by(|a, b| a.0 < b.0) {
            // Stable, as `dedup` keeps the first of equal addresses.
            v.sort_by_key(|a| a.0);
            v.dedup_by(|later, first| later.0 == first.0);
        }
        ByIp(v)
    }
}

impl ByIp {
    pub fn get(&self, ip: &IpAddr) -> Option<&Attribution> {
        let i = self.0.binary_search_by(|(k, _)| k.cmp(ip)).ok()?;
        self.0.get(i).map(|(_, a)| a)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Attribution> {
        self.0.iter_mut().map(|(_, a)| a)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<crate::services::NameSource> for HostnameKind {
    fn from(s: crate::services::NameSource) -> Self {
        use crate::services::NameSource as N;
        match s {
            N::TlsSni | N::QuicSni | N::EchOuterSni => HostnameKind::Sni,
            // A name the client asked a proxy for weighs as a Host header does.
            N::HttpHost | N::Socks | N::HttpProxy => HostnameKind::HttpHost,
            N::DnsAnswer | N::Netbios => HostnameKind::DnsAnswer,
            N::DnsCname => HostnameKind::Cname,
            N::Certificate => HostnameKind::Cert,
        }
    }
}

/// Hostnames in order of how directly they bind the name to the address: DNS answer
/// and CNAME chain first, then SNI and certificate names, then HTTP Host.
pub(super) fn sorted_hostnames(h: &[HostnameEvidence]) -> Vec<&HostnameEvidence> {
    let mut v: Vec<&HostnameEvidence> = h.iter().collect();
    v.sort_by(|a, b| (a.kind, &a.name, a.frame).cmp(&(b.kind, &b.name, b.frame)));
    v
}

/// HTTP Host headers are written by the client and prove nothing about the server:
/// they never give more than weak evidence.
pub(super) fn hostname_kind_cap(kind: HostnameKind) -> Confidence {
    match kind {
        HostnameKind::HttpHost => Confidence::Weak,
        HostnameKind::Ptr => Confidence::Medium,
        _ => Confidence::Strong,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &serde_json::Value) -> Vec<&str> {
        let mut k: Vec<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        k.sort_unstable();
        k
    }

    #[test]
    fn attributions_are_found_by_address_whatever_the_order_they_came_in() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let with_note = |n: &str| Attribution {
            notes: vec![n.to_string()].into(),
            ..Attribution::default()
        };
        let by: ByIp = [
            (ip("2001:db8::1"), with_note("v6")),
            (ip("192.0.2.9"), with_note("nine")),
            (ip("192.0.2.1"), with_note("one")),
            (ip("192.0.2.9"), with_note("nine again")),
        ]
        .into_iter()
        .collect();
        assert_eq!(by.len(), 3);
        let note = |s: &str| by.get(&ip(s)).map(|a| a.notes[0].as_str());
        assert_eq!(note("192.0.2.1"), Some("one"));
        assert_eq!(note("192.0.2.9"), Some("nine"));
        assert_eq!(note("2001:db8::1"), Some("v6"));
        assert_eq!(note("192.0.2.2"), None);
    }

    #[test]
    fn every_kind_of_answer_writes_the_five_common_fields_known_or_not() {
        let unknown = serde_json::to_value(ProviderAttribution::unknown("no rule")).unwrap();
        assert_eq!(unknown["reason"], "no rule");
        for key in ["source", "confidence", "basis", "evidence"] {
            assert!(unknown[key].is_null(), "{key}");
        }
        let source = Provenance::from(crate::model::ProvenanceRecord {
            source: "asn-ipv4.mmdb".into(),
            version: None,
            sha256: None,
            date: None,
        });
        let asn = Asn {
            number: Some(64496),
            ..Asn::default()
        };
        let listed = serde_json::to_value(Answer::listed(asn, source.clone())).unwrap();
        assert_eq!(
            keys(&listed),
            [
                "basis",
                "confidence",
                "evidence",
                "number",
                "organization",
                "reason",
                "source"
            ]
        );
        assert!(listed["confidence"].is_null() && listed["reason"].is_null());
        let region = Region {
            id: Some("eu-central-1".into()),
            ..Region::default()
        };
        let found = Answer::found(
            region,
            source,
            Confidence::Strong,
            Basis::OfficialFeed,
            "a feed lists it".into(),
        );
        let v = serde_json::to_value(&found).unwrap();
        assert_eq!(
            keys(&v),
            [
                "basis",
                "city",
                "confidence",
                "evidence",
                "id",
                "reason",
                "source"
            ]
        );
        assert_eq!(v["basis"], "official_feed");
        assert_eq!(found.id.as_deref(), Some("eu-central-1"));
        let country = serde_json::to_value(CountryAttribution::unknown("none")).unwrap();
        assert_eq!(
            keys(&country),
            [
                "basis",
                "code",
                "confidence",
                "evidence",
                "reason",
                "source"
            ]
        );
    }
}
