//! Providers' own address-range feeds, recognised by their content.
//!
//! Formats: AWS `ip-ranges.json`, Google Cloud `cloud.json`, Azure Service Tags,
//! Oracle `public_ip_ranges.json`, RFC 8805 geofeeds (CSV, and the JSON form some
//! providers such as Vultr publish), plain CIDR lists (Cloudflare), Fastly's
//! `public-ip-list`, GitHub's `meta`, and `asn-derived` lists (prefixes announced by a
//! provider's ASNs, collected by a third party: not official).
//!
//! A file is recognised by what it holds, never by its name. Which provider publishes
//! a geofeed or a plain CIDR list cannot be read from the file itself; that is decided
//! by the caller (see `attribute::identify_provider`).
//!
//! Contract: any bytes give either a `Feed` or a `FeedError`, never a panic. Entries
//! that do not parse are kept as `problems` with their place, not dropped in silence.

use crate::attribute::index::IpPrefix;
use serde::Serialize;
use serde_json::Value;

/// The formats this module reads.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum FeedFormat {
    AwsIpRanges,
    GoogleCloudJson,
    AzureServiceTags,
    OraclePublicIpRanges,
    Geofeed,
    GeofeedJson,
    CidrList,
    FastlyPublicIpList,
    GithubMeta,
    AsnDerived,
}

impl FeedFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedFormat::AwsIpRanges => "aws-ip-ranges",
            FeedFormat::GoogleCloudJson => "google-cloud-json",
            FeedFormat::AzureServiceTags => "azure-service-tags",
            FeedFormat::OraclePublicIpRanges => "oracle-public-ip-ranges",
            FeedFormat::Geofeed => "geofeed",
            FeedFormat::GeofeedJson => "geofeed-json",
            FeedFormat::CidrList => "cidr-list",
            FeedFormat::FastlyPublicIpList => "fastly-public-ip-list",
            FeedFormat::GithubMeta => "github-meta",
            FeedFormat::AsnDerived => "asn-derived",
        }
    }

    /// Published by the provider about its own address space.
    pub fn official(self) -> bool {
        self != FeedFormat::AsnDerived
    }

    /// File extension when stored in the data directory.
    pub fn extension(self) -> &'static str {
        match self {
            FeedFormat::Geofeed | FeedFormat::CidrList => "txt",
            _ => "json",
        }
    }

    /// Priority when several feeds list the same prefix: feeds of the network that
    /// hosts the address first, then services that run on others' networks (GitHub
    /// lists Azure and AWS ranges for Actions), then unofficial lists.
    pub fn rank(self) -> u8 {
        match self {
            FeedFormat::GithubMeta => 1,
            FeedFormat::AsnDerived => 2,
            _ => 0,
        }
    }

    /// The provider a format belongs to, when the format itself says so.
    pub fn provider(self) -> Option<&'static str> {
        match self {
            FeedFormat::AwsIpRanges => Some("aws"),
            FeedFormat::GoogleCloudJson => Some("gcp"),
            FeedFormat::AzureServiceTags => Some("azure"),
            FeedFormat::OraclePublicIpRanges => Some("oracle"),
            FeedFormat::FastlyPublicIpList => Some("fastly"),
            FeedFormat::GithubMeta => Some("github"),
            _ => None,
        }
    }
}

/// One prefix of a feed with what the feed says about it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FeedEntry {
    pub prefix: IpPrefix,
    /// Provider region id as the feed spells it (`us-east-1`, `westeurope`, `GLOBAL`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Service or tag (`EC2`, `AzureCloud.westeurope`, `actions`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// RFC 8805 location fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subdivision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
}

/// Something in a feed that could not be read, with its place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FeedProblem {
    /// Line number (text feeds) or JSON path (JSON feeds).
    pub place: String,
    pub detail: String,
}

/// Most prefixes a feed may hold: ten times the largest real feed (Azure's Service
/// Tags, 90,493 in July 2025). A file with more is not a provider's feed; stopping
/// there bounds the memory reading one takes (about 300 bytes a prefix, loaded).
pub const MAX_FEED_PREFIXES: usize = 1_000_000;

/// Problems kept in full per feed; the rest are counted in `problems_dropped`.
pub(crate) const MAX_FEED_PROBLEMS: usize = 1000;

/// A parsed feed.
#[derive(Clone, Debug, Serialize)]
pub struct Feed {
    pub format: FeedFormat,
    /// Version as the feed states it: AWS `createDate`/`syncToken`, Google
    /// `creationTime`, Azure `changeNumber`, Oracle `last_updated_timestamp`,
    /// geofeed "Last modified" comment, asn-derived `last_update`.
    pub version: Option<String>,
    /// Provider name as written in the feed (asn-derived `provider`).
    pub declared_provider: Option<String>,
    /// ASNs the feed names (asn-derived `source`, geofeed JSON `asn`).
    pub declared_asns: Vec<u32>,
    /// A number that grows with each publication: AWS's and Google's `syncToken`,
    /// Azure's `changeNumber`.
    pub serial: Option<u128>,
    pub entries: Vec<FeedEntry>,
    pub problems: Vec<FeedProblem>,
    /// Problems beyond [`MAX_FEED_PROBLEMS`], counted only.
    pub problems_dropped: usize,
    /// The file holds more than [`MAX_FEED_PREFIXES`] prefixes; those beyond were not
    /// read. Such a feed is never installed nor used.
    pub over_cap: bool,
}

impl Feed {
    fn new(format: FeedFormat) -> Feed {
        Feed {
            format,
            version: None,
            declared_provider: None,
            declared_asns: Vec::new(),
            serial: None,
            entries: Vec::new(),
            problems: Vec::new(),
            problems_dropped: 0,
            over_cap: false,
        }
    }

    /// The date of the data as the feed states it (`YYYY-MM-DD`): the start of AWS's
    /// `createDate`, Google's `creationTime`, Oracle's `last_updated_timestamp`, a
    /// geofeed's "Last modified" comment. `None` when the version is not a date
    /// (Azure's `changeNumber`) or absent.
    pub(crate) fn data_date(&self) -> Option<String> {
        let v = self.version.as_deref()?.trim();
        let d = v.get(..10)?;
        let b = d.as_bytes();
        let digits =
            |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
        (digits(0..4)
            && b.get(4) == Some(&b'-')
            && digits(5..7)
            && b.get(7) == Some(&b'-')
            && digits(8..10))
        .then(|| d.to_string())
    }

    /// How this publication orders against another of the same feed: the serial when
    /// the feed has one, else its date-time version (`2025-07-21T07:13:25`), compared
    /// as text. `None` when the feed states neither.
    pub(crate) fn version_key(&self) -> Option<VersionKey> {
        if let Some(n) = self.serial {
            return Some(VersionKey::Serial(n));
        }
        self.data_date()?;
        self.version.clone().map(VersionKey::Time)
    }

    /// Number of IPv4 and IPv6 entries.
    pub fn counts(&self) -> (usize, usize) {
        let v4 = self.entries.iter().filter(|e| e.prefix.is_ipv4()).count();
        (v4, self.entries.len() - v4)
    }

    fn push_prefix(&mut self, text: &str, place: impl FnOnce() -> String, entry: FeedEntry) {
        if self.entries.len() >= MAX_FEED_PREFIXES {
            self.over_cap = true;
            return;
        }
        match text.parse::<IpPrefix>() {
            Ok(prefix) => self.entries.push(FeedEntry { prefix, ..entry }),
            Err(e) if self.problems.len() < MAX_FEED_PROBLEMS => self.problems.push(FeedProblem {
                place: place(),
                detail: e.to_string(),
            }),
            Err(_) => self.problems_dropped += 1,
        }
    }

    /// Why the feed may not be used at all, when it may not: more prefixes than any
    /// provider publishes.
    pub(crate) fn unusable(&self) -> Option<String> {
        self.over_cap.then(|| {
            format!(
                "holds more than {MAX_FEED_PREFIXES} prefixes, more than any provider publishes (the rest was not read)"
            )
        })
    }
}

/// A publication's place in a feed's sequence (see [`Feed::version_key`]); keys of
/// different kinds do not compare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum VersionKey {
    Serial(u128),
    Time(String),
}

impl VersionKey {
    /// `Less` when `self` is older than `other`; `None` when they do not compare.
    pub(crate) fn compare(&self, other: &VersionKey) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (VersionKey::Serial(a), VersionKey::Serial(b)) => Some(a.cmp(b)),
            (VersionKey::Time(a), VersionKey::Time(b)) => Some(a.as_str().cmp(b.as_str())),
            _ => None,
        }
    }
}

/// The shortest prefixes a provider's feed may list: no provider announces more than
/// a /8 of IPv4 or a /16 of IPv6 (the largest real entries are /10 IPv4 (AWS) and /19
/// IPv6). A broader entry is a lie or a mistake, and would claim other networks.
pub(crate) const MIN_PREFIX_V4: u8 = 8;
pub(crate) const MIN_PREFIX_V6: u8 = 16;

/// The first entry broader than [`MIN_PREFIX_V4`] / [`MIN_PREFIX_V6`], if any.
pub(crate) fn too_broad(feed: &Feed) -> Option<&FeedEntry> {
    feed.entries.iter().find(|e| {
        e.prefix.prefix_len()
            < if e.prefix.is_ipv4() {
                MIN_PREFIX_V4
            } else {
                MIN_PREFIX_V6
            }
    })
}

/// Why a file is not a feed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    #[error("not UTF-8 text (byte {offset} is invalid)")]
    NotText { offset: usize },
    #[error("JSON does not parse: {detail}")]
    Json { detail: String },
    #[error("not a known feed format: {detail}")]
    NotRecognised { detail: String },
    #[error(
        "recognised as {format} but holds no usable prefix ({problems} entries did not parse)"
    )]
    Empty {
        format: &'static str,
        problems: usize,
    },
}

/// Recognises and parses a feed from its bytes.
pub fn parse_feed(bytes: &[u8]) -> Result<Feed, FeedError> {
    let text = std::str::from_utf8(bytes).map_err(|e| FeedError::NotText {
        offset: e.valid_up_to(),
    })?;
    let text = text.trim_start_matches('\u{feff}');
    let feed = if text.trim_start().starts_with('{') {
        let v: Value = serde_json::from_str(text).map_err(|e| FeedError::Json {
            detail: e.to_string(),
        })?;
        parse_json(&v)?
    } else {
        parse_text(text)?
    };
    if feed.entries.is_empty() {
        return Err(FeedError::Empty {
            format: feed.format.as_str(),
            problems: feed.problems.len(),
        });
    }
    Ok(feed)
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn array_of<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn scalar_text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn parse_json(v: &Value) -> Result<Feed, FeedError> {
    let first_has = |list: &str, key: &str| array_of(v, list).iter().any(|e| e.get(key).is_some());
    if v.get("syncToken").is_some()
        && (first_has("prefixes", "ip_prefix") || first_has("ipv6_prefixes", "ipv6_prefix"))
    {
        return Ok(aws(v));
    }
    if first_has("prefixes", "ipv4Prefix") || first_has("prefixes", "ipv6Prefix") {
        return Ok(google(v));
    }
    if array_of(v, "values")
        .iter()
        .any(|e| e.pointer("/properties/addressPrefixes").is_some())
    {
        return Ok(azure(v));
    }
    if first_has("regions", "cidrs") {
        return Ok(oracle(v));
    }
    if v.get("verifiable_password_authentication").is_some()
        || (v.get("hooks").is_some() && v.get("web").is_some())
    {
        return Ok(github(v));
    }
    if v.get("addresses").is_some() || v.get("ipv6_addresses").is_some() {
        return Ok(fastly(v));
    }
    if v.get("provider").is_some() && (v.get("ipv4").is_some() || v.get("ipv6").is_some()) {
        return Ok(asn_derived(v));
    }
    if first_has("subnets", "ip_prefix") || first_has("subnets", "prefix") {
        return Ok(geofeed_json(v));
    }
    let keys: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).take(8).collect())
        .unwrap_or_default();
    Err(FeedError::NotRecognised {
        detail: format!("JSON with top-level keys {keys:?}"),
    })
}

/// AWS: `prefixes[].ip_prefix`, `ipv6_prefixes[].ipv6_prefix`, each with `region`,
/// `service`, `network_border_group`.
fn aws(v: &Value) -> Feed {
    let mut f = Feed::new(FeedFormat::AwsIpRanges);
    f.version = match (str_of(v, "createDate"), scalar_text(v, "syncToken")) {
        (Some(d), Some(t)) => Some(format!("{d} (syncToken {t})")),
        (d, t) => d.map(str::to_string).or(t),
    };
    f.serial = scalar_text(v, "syncToken").and_then(|t| t.parse().ok());
    for (list, key) in [("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix")] {
        for (i, e) in array_of(v, list).iter().enumerate() {
            let entry = FeedEntry {
                region: str_of(e, "region").map(str::to_string),
                service: str_of(e, "service").map(str::to_string),
                ..FeedEntry::default()
            };
            let text = str_of(e, key).unwrap_or("");
            f.push_prefix(text, || format!("{list}[{i}].{key}"), entry);
        }
    }
    f
}

/// Google Cloud: `prefixes[].ipv4Prefix|ipv6Prefix` with `scope` (the region) and
/// `service`.
fn google(v: &Value) -> Feed {
    let mut f = Feed::new(FeedFormat::GoogleCloudJson);
    f.version = match (str_of(v, "creationTime"), scalar_text(v, "syncToken")) {
        (Some(d), Some(t)) => Some(format!("{d} (syncToken {t})")),
        (d, t) => d.map(str::to_string).or(t),
    };
    f.serial = scalar_text(v, "syncToken").and_then(|t| t.parse().ok());
    for (i, e) in array_of(v, "prefixes").iter().enumerate() {
        let entry = FeedEntry {
            region: str_of(e, "scope").map(str::to_string),
            service: str_of(e, "service").map(str::to_string),
            ..FeedEntry::default()
        };
        let (key, text) = match (str_of(e, "ipv4Prefix"), str_of(e, "ipv6Prefix")) {
            (Some(t), _) => ("ipv4Prefix", t),
            (None, Some(t)) => ("ipv6Prefix", t),
            (None, None) => ("ipv4Prefix", ""),
        };
        f.push_prefix(text, || format!("prefixes[{i}].{key}"), entry);
    }
    f
}

/// Azure Service Tags: `values[].properties.{region, systemService, addressPrefixes}`.
/// The same prefix appears under several tags (`AzureCloud`, `AzureCloud.westeurope`,
/// `Storage.westeurope`); every appearance is kept, the index groups them.
fn azure(v: &Value) -> Feed {
    let mut f = Feed::new(FeedFormat::AzureServiceTags);
    f.version = match (scalar_text(v, "changeNumber"), str_of(v, "cloud")) {
        (Some(n), Some(c)) => Some(format!("changeNumber {n} ({c})")),
        (Some(n), None) => Some(format!("changeNumber {n}")),
        _ => None,
    };
    f.serial = scalar_text(v, "changeNumber").and_then(|t| t.parse().ok());
    for (i, tag) in array_of(v, "values").iter().enumerate() {
        let Some(props) = tag.get("properties") else {
            continue;
        };
        let region = str_of(props, "region").map(str::to_string);
        let service = str_of(tag, "name")
            .or_else(|| str_of(tag, "id"))
            .map(str::to_string);
        for (j, p) in array_of(props, "addressPrefixes").iter().enumerate() {
            let entry = FeedEntry {
                region: region.clone(),
                service: service.clone(),
                ..FeedEntry::default()
            };
            f.push_prefix(
                p.as_str().unwrap_or(""),
                || format!("values[{i}].properties.addressPrefixes[{j}]"),
                entry,
            );
        }
    }
    f
}

/// Oracle: `regions[].region` with `cidrs[].cidr` and `cidrs[].tags`.
fn oracle(v: &Value) -> Feed {
    let mut f = Feed::new(FeedFormat::OraclePublicIpRanges);
    f.version = str_of(v, "last_updated_timestamp").map(str::to_string);
    for (i, r) in array_of(v, "regions").iter().enumerate() {
        let region = str_of(r, "region").map(str::to_string);
        for (j, c) in array_of(r, "cidrs").iter().enumerate() {
            let tags: Vec<&str> = array_of(c, "tags")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let entry = FeedEntry {
                region: region.clone(),
                service: (!tags.is_empty()).then(|| tags.join(",")),
                ..FeedEntry::default()
            };
            f.push_prefix(
                str_of(c, "cidr").unwrap_or(""),
                || format!("regions[{i}].cidrs[{j}].cidr"),
                entry,
            );
        }
    }
    f
}

/// Fastly: `addresses`, `ipv6_addresses`.
fn fastly(v: &Value) -> Feed {
    let mut f = Feed::new(FeedFormat::FastlyPublicIpList);
    for key in ["addresses", "ipv6_addresses"] {
        for (i, p) in array_of(v, key).iter().enumerate() {
            f.push_prefix(
                p.as_str().unwrap_or(""),
                || format!("{key}[{i}]"),
                FeedEntry::default(),
            );
        }
    }
    f
}

/// GitHub meta: every list of prefixes (`hooks`, `web`, `api`, `git`, `actions`, ...),
/// the list's name kept as the service. Lists of other things (`ssh_keys`) and
/// objects (`domains`, `ssh_key_fingerprints`) are not prefix lists and are skipped.
fn github(v: &Value) -> Feed {
    let mut f = Feed::new(FeedFormat::GithubMeta);
    let Some(obj) = v.as_object() else { return f };
    for (key, list) in obj {
        let Some(items) = list.as_array() else {
            continue;
        };
        let looks_like_prefixes = items
            .first()
            .and_then(Value::as_str)
            .is_some_and(|s| s.parse::<IpPrefix>().is_ok());
        if !looks_like_prefixes {
            continue;
        }
        for (i, p) in items.iter().enumerate() {
            let entry = FeedEntry {
                service: Some(key.clone()),
                ..FeedEntry::default()
            };
            f.push_prefix(p.as_str().unwrap_or(""), || format!("{key}[{i}]"), entry);
        }
    }
    f
}

/// Third-party lists of the prefixes a provider's ASNs announce:
/// `{provider, source: "AS45102, AS134963", last_update, ipv4: [...], ipv6: [...]}`.
fn asn_derived(v: &Value) -> Feed {
    let mut f = Feed::new(FeedFormat::AsnDerived);
    f.version = str_of(v, "last_update").map(str::to_string);
    f.declared_provider = str_of(v, "provider").map(str::to_string);
    f.declared_asns = str_of(v, "source")
        .map(|s| {
            s.split(|c: char| c == ',' || c.is_whitespace())
                .filter_map(|t| {
                    let t = t.trim();
                    t.strip_prefix("AS")
                        .or_else(|| t.strip_prefix("as"))?
                        .parse()
                        .ok()
                })
                .collect()
        })
        .unwrap_or_default();
    for key in ["ipv4", "ipv6"] {
        for (i, p) in array_of(v, key).iter().enumerate() {
            f.push_prefix(
                p.as_str().unwrap_or(""),
                || format!("{key}[{i}]"),
                FeedEntry::default(),
            );
        }
    }
    f
}

/// Geofeed in JSON (Vultr): `{asn, subnets: [{ip_prefix, alpha2code, region, city,
/// postal_code}]}`; the fields are those of RFC 8805 §2.1.1.
fn geofeed_json(v: &Value) -> Feed {
    let mut f = Feed::new(FeedFormat::GeofeedJson);
    f.version = str_of(v, "updated")
        .or_else(|| str_of(v, "last_updated"))
        .map(str::to_string);
    if let Some(asn) = v
        .get("asn")
        .and_then(Value::as_u64)
        .and_then(|a| u32::try_from(a).ok())
    {
        f.declared_asns.push(asn);
    }
    for (i, s) in array_of(v, "subnets").iter().enumerate() {
        let entry = FeedEntry {
            country: str_of(s, "alpha2code")
                .or_else(|| str_of(s, "country"))
                .map(str::to_string),
            subdivision: str_of(s, "region").map(str::to_string),
            city: str_of(s, "city").map(str::to_string),
            ..FeedEntry::default()
        };
        let text = str_of(s, "ip_prefix")
            .or_else(|| str_of(s, "prefix"))
            .unwrap_or("");
        f.push_prefix(text, || format!("subnets[{i}].ip_prefix"), entry);
    }
    f
}

/// Text feeds: RFC 8805 geofeed CSV (`prefix,alpha2code,region,city,postal`, `#`
/// comments, RFC 8805 §2.1.1) or a plain list of CIDR blocks, one a line.
fn parse_text(text: &str) -> Result<Feed, FeedError> {
    let mut comma_lines = 0usize;
    let mut plain_lines = 0usize;
    for line in data_lines(text).map(|(_, l)| l).take(200) {
        if line.contains(',') {
            comma_lines += 1;
        } else {
            plain_lines += 1;
        }
    }
    if comma_lines == 0 && plain_lines == 0 {
        return Err(FeedError::NotRecognised {
            detail: "text with no data lines".to_string(),
        });
    }
    let format = if comma_lines >= plain_lines {
        FeedFormat::Geofeed
    } else {
        FeedFormat::CidrList
    };
    let mut f = Feed::new(format);
    for line in text.lines() {
        // Linode: "# Last modified: 2025-07-24 10:00:06.525037".
        if let Some(rest) = line.trim().strip_prefix('#') {
            if let Some((k, v)) = rest.split_once(':') {
                if k.trim().eq_ignore_ascii_case("last modified") && f.version.is_none() {
                    f.version = Some(v.trim().to_string());
                }
            }
        }
    }
    for (n, line) in data_lines(text) {
        let place = || format!("line {n}");
        match format {
            FeedFormat::Geofeed => {
                let mut fields = line.split(',').map(str::trim);
                let prefix = fields.next().unwrap_or("");
                let opt = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_string);
                let entry = FeedEntry {
                    country: opt(fields.next()),
                    subdivision: opt(fields.next()),
                    city: opt(fields.next()),
                    ..FeedEntry::default()
                };
                f.push_prefix(prefix, place, entry);
            }
            _ => {
                let token = line.split_whitespace().next().unwrap_or("");
                f.push_prefix(token, place, FeedEntry::default());
            }
        }
    }
    if f.entries.is_empty() {
        return Err(FeedError::NotRecognised {
            detail: format!(
                "text whose lines are not {} ({} lines refused)",
                if format == FeedFormat::Geofeed {
                    "geofeed entries"
                } else {
                    "CIDR blocks"
                },
                f.problems.len()
            ),
        });
    }
    Ok(f)
}

/// Non-empty, non-comment lines with their 1-based numbers.
fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shapes copied from the providers' published files (AWS ip-ranges.json,
    // Google cloud.json, Azure ServiceTags_Public, Oracle public_ip_ranges.json),
    // cut to one or two entries by hand.
    #[test]
    fn aws_ip_ranges_are_recognised_with_regions_and_services() {
        let f = parse_feed(br#"{"syncToken":"1","createDate":"2025-07-24-01-00-00",
            "prefixes":[{"ip_prefix":"3.5.140.0/22","region":"ap-northeast-2","service":"AMAZON","network_border_group":"ap-northeast-2"}],
            "ipv6_prefixes":[{"ipv6_prefix":"2600:1f14::/35","region":"us-west-2","service":"EC2"}]}"#).unwrap();
        assert_eq!(f.format, FeedFormat::AwsIpRanges);
        assert_eq!(f.counts(), (1, 1));
        assert_eq!(f.entries[0].region.as_deref(), Some("ap-northeast-2"));
        assert_eq!(
            f.version.as_deref(),
            Some("2025-07-24-01-00-00 (syncToken 1)")
        );
    }

    #[test]
    fn google_cloud_json_is_not_mistaken_for_aws_despite_its_sync_token() {
        let f = parse_feed(br#"{"syncToken":"1","creationTime":"2025-07-24T00:00:00",
            "prefixes":[{"ipv4Prefix":"34.1.208.0/20","service":"Google Cloud","scope":"africa-south1"}]}"#).unwrap();
        assert_eq!(f.format, FeedFormat::GoogleCloudJson);
        assert_eq!(f.entries[0].region.as_deref(), Some("africa-south1"));
    }

    #[test]
    fn azure_tags_keep_empty_region_as_none() {
        let f = parse_feed(br#"{"changeNumber":363,"cloud":"Public","values":[
            {"name":"AzureCloud","properties":{"region":"","addressPrefixes":["13.64.0.0/16"]}},
            {"name":"AzureCloud.westus","properties":{"region":"westus","systemService":"","addressPrefixes":["13.64.0.0/16"]}}]}"#).unwrap();
        assert_eq!(f.format, FeedFormat::AzureServiceTags);
        assert_eq!(f.entries[0].region, None);
        assert_eq!(f.entries[1].region.as_deref(), Some("westus"));
        assert_eq!(f.version.as_deref(), Some("changeNumber 363 (Public)"));
    }

    #[test]
    fn geofeed_lines_with_comments_and_a_bad_line_keep_the_good_ones() {
        let f = parse_feed(
            b"# Last modified: 2025-07-24\n2600:3c00::/32,US,US-TX,Richardson,\nnot-a-prefix,US,,,\n5.101.96.0/21,NL,NL-NH,Amsterdam,1098 XH\n",
        )
        .unwrap();
        assert_eq!(f.format, FeedFormat::Geofeed);
        assert_eq!(f.counts(), (1, 1));
        assert_eq!(f.problems.len(), 1);
        assert_eq!(f.problems[0].place, "line 3");
        assert_eq!(f.entries[1].city.as_deref(), Some("Amsterdam"));
        assert_eq!(f.version.as_deref(), Some("2025-07-24"));
    }

    #[test]
    fn plain_cidr_list_is_a_cidr_list() {
        let f = parse_feed(b"173.245.48.0/20\n103.21.244.0/22\n").unwrap();
        assert_eq!(f.format, FeedFormat::CidrList);
        assert_eq!(f.counts(), (2, 0));
    }

    #[test]
    fn unknown_json_and_binary_garbage_are_refused_with_a_reason() {
        assert!(matches!(
            parse_feed(br#"{"hello":"world"}"#),
            Err(FeedError::NotRecognised { .. })
        ));
        assert!(matches!(
            parse_feed(b"\xff\xfe\x00"),
            Err(FeedError::NotText { .. })
        ));
        assert!(matches!(
            parse_feed(b"{\"prefixes\":["),
            Err(FeedError::Json { .. })
        ));
        assert!(matches!(
            parse_feed(b"hello world\n"),
            Err(FeedError::NotRecognised { .. })
        ));
    }

    #[test]
    fn asn_derived_lists_carry_their_declared_asns_and_are_not_official() {
        let f = parse_feed(br#"{"provider":"Ovh","source":"AS35540, AS16276","last_update":"2025-05-22","ipv4":["109.190.0.0/16"],"ipv6":["2001:41d0:fc00::/38"]}"#).unwrap();
        assert_eq!(f.format, FeedFormat::AsnDerived);
        assert_eq!(f.declared_asns, [35540, 16276]);
        assert!(!f.format.official());
    }

    #[test]
    fn truncation_at_any_length_gives_an_error_or_a_feed_never_a_panic() {
        let full = br#"{"syncToken":"1","createDate":"x","prefixes":[{"ip_prefix":"3.5.140.0/22","region":"r","service":"s"}],"ipv6_prefixes":[]}"#;
        for n in 0..full.len() {
            let _ = parse_feed(&full[..n]);
        }
    }
}
