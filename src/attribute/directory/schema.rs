//! The directory's data: providers, their entities, notice channels, regions and
//! hostname patterns, as validated and served to the rest of the program.

use super::*;

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
    pub(super) fn parse(text: &str) -> Option<ServiceModel> {
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

/// When a directory fact was last confirmed against its source: the date that source
/// states (a feed's own date, a dated document, a page whose date the source names),
/// or never. Written `confirmed = "YYYY-MM-DD"` or `confirmed = "unconfirmed"`; shown
/// and serialised the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Confirmed {
    On(time::Date),
    Unconfirmed,
}

impl Confirmed {
    /// The spelling of a fact no source confirms.
    pub const UNCONFIRMED: &'static str = "unconfirmed";

    pub fn date(self) -> Option<time::Date> {
        match self {
            Confirmed::On(d) => Some(d),
            Confirmed::Unconfirmed => None,
        }
    }

    pub fn is_confirmed(self) -> bool {
        matches!(self, Confirmed::On(_))
    }
}

impl std::fmt::Display for Confirmed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Confirmed::On(d) => write!(
                f,
                "{:04}-{:02}-{:02}",
                d.year(),
                u8::from(d.month()),
                d.day()
            ),
            Confirmed::Unconfirmed => f.write_str(Self::UNCONFIRMED),
        }
    }
}

impl Serialize for Confirmed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
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
    /// When the name and address were last confirmed, and from which source (`None`
    /// only when unconfirmed).
    pub confirmed: Confirmed,
    pub source: Option<String>,
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
    /// When the target was last confirmed against `source`.
    pub confirmed: Confirmed,
    /// Where the channel was found.
    pub source: String,
}

/// How a provider names its regions, and where that list came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegionScheme {
    pub scheme: String,
    pub source: String,
    /// When the region ids were last confirmed against `source`.
    pub confirmed: Confirmed,
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
    pub(super) compiled: Regex,
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
    /// ASNs of the carrier the provider belongs to, which announce the provider's
    /// addresses together with the carrier's other networks (broadband): they never
    /// decide the provider, they only explain an address of theirs.
    pub carrier_asns: Vec<u32>,
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
    pub(super) region_index: BTreeMap<String, usize>,
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
    pub(crate) fn unlisted(
        id: &str,
        name: &str,
        jurisdiction: &str,
        notes: Vec<String>,
    ) -> Provider {
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
            carrier_asns: Vec::new(),
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
pub(crate) struct HostnameMatch {
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

#[cfg(test)]
impl HostnameMatch {
    /// The region id, when known.
    pub(crate) fn region_id(&self) -> Option<&str> {
        self.region.as_ref().map(|r| r.id.as_str())
    }
}

/// One provider that lists an ASN.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct AsnHolder<'a> {
    pub provider: &'a Provider,
    /// Listed in `asns` (true) or in `asns_unverified` (false).
    pub verified: bool,
}
