//! MaxMind-format (MMDB) databases: ASN, country and city lookups.
//!
//! Several databases are open at once; each is recognised by its metadata
//! (`database_type`) and the record layout that type implies: GeoLite2/GeoIP2 ASN,
//! Country and City, DB-IP lite (GeoLite2-compatible layouts), IPinfo lite and the
//! ip-location-db layouts. A database of an unknown type is probed for the fields of
//! those layouts before it is refused. Every answer names the database it came from,
//! with its build date and SHA-256.
//!
//! Contract: a damaged or hostile database gives an error when it is opened or a
//! `None` for the lookup; it never panics the caller.

use crate::attribute::index::{canonical, IpPrefix};
use maxminddb::{PathElement, Reader};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// A database's bytes: read from a file, or embedded in the binary (not copied).
pub(crate) type Bytes = std::borrow::Cow<'static, [u8]>;

/// Errors opening a database.
#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    #[error("reading MaxMind database {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid MaxMind database: {detail}")]
    Invalid { path: PathBuf, detail: String },
    #[error(
        "{path}: database type `{database_type}` has none of the ASN, country or city fields \
         this program reads"
    )]
    Unsupported {
        path: PathBuf,
        database_type: String,
    },
}

/// The record layout of a database: which fields hold the answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// GeoLite2-ASN, GeoIP2-ASN, DB-IP ASN lite, ip-location-db asn:
    /// `autonomous_system_number`, `autonomous_system_organization`.
    MaxmindAsn,
    /// GeoLite2/GeoIP2 Country and City, DB-IP Country/City lite:
    /// `country.iso_code`, `city.names.en`.
    MaxmindGeo,
    /// IPinfo lite: `asn` ("AS15169"), `as_name`, `country_code`.
    IpinfoLite,
    /// ip-location-db country and city MMDBs: `country_code`, `city` (a string).
    IpLocationDbGeo,
}

/// What a database can answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    pub asn: bool,
    pub country: bool,
    pub city: bool,
}

/// Facts about one opened database, for reports and `data info`.
#[derive(Clone, Debug, Serialize)]
pub struct DbInfo {
    /// File name (without directories, so reports do not leak local paths).
    pub name: String,
    #[serde(skip)]
    pub path: PathBuf,
    pub database_type: String,
    pub layout: Layout,
    pub capabilities: Capabilities,
    /// Build date from the metadata, `YYYY-MM-DD` (UTC).
    pub build_date: String,
    pub build_epoch: u64,
    pub ip_version: u16,
    pub node_count: u32,
    pub description: Option<String>,
    pub sha256: String,
    /// Bundled with the program (true) or given by the user (false).
    pub bundled: bool,
}

/// One opened database.
pub(crate) struct GeoDb {
    reader: Reader<Bytes>,
    info: DbInfo,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb").field("info", &self.info).finish()
    }
}

/// An ASN answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AsnHit {
    pub number: u32,
    pub organization: Option<String>,
    /// The database's network that holds the address.
    pub network: Option<IpPrefix>,
}

/// A location answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GeoHit {
    pub country: Option<String>,
    pub city: Option<String>,
    pub network: Option<IpPrefix>,
}

impl GeoDb {
    /// Opens and recognises a database file.
    pub(crate) fn open(path: &Path, bundled: bool) -> Result<GeoDb, GeoIpError> {
        let bytes = std::fs::read(path).map_err(|source| GeoIpError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(bytes, path, bundled, None)
    }

    /// Recognises a database held in memory; `path` only names it. `sha256` is the
    /// bytes' hash when the build computed it (an embedded file), else it is computed.
    pub(crate) fn from_bytes(
        bytes: impl Into<Bytes>,
        path: &Path,
        bundled: bool,
        sha256: Option<&str>,
    ) -> Result<GeoDb, GeoIpError> {
        let bytes: Bytes = bytes.into();
        let sha256 = sha256.map_or_else(|| hex(&Sha256::digest(&bytes)), str::to_string);
        let reader = Reader::from_source(bytes).map_err(|e| GeoIpError::Invalid {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        let meta = reader.metadata().clone();
        let layout = layout_for_type(&meta.database_type)
            .or_else(|| probe_layout(&reader))
            .ok_or_else(|| GeoIpError::Unsupported {
                path: path.to_path_buf(),
                database_type: meta.database_type.clone(),
            })?;
        let capabilities = capabilities(layout, &meta.database_type);
        let info = DbInfo {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string()),
            path: path.to_path_buf(),
            database_type: meta.database_type.clone(),
            layout,
            capabilities,
            build_date: date_of_epoch(meta.build_epoch),
            build_epoch: meta.build_epoch,
            ip_version: meta.ip_version,
            node_count: meta.node_count,
            description: meta.description.get("en").cloned(),
            sha256,
            bundled,
        };
        Ok(GeoDb { reader, info })
    }

    pub(crate) fn info(&self) -> &DbInfo {
        &self.info
    }

    fn lookup(&self, ip: IpAddr) -> Option<maxminddb::LookupResult<'_, Bytes>> {
        let ip = canonical(ip);
        // An IPv4-only database cannot hold IPv6 addresses; asking would be an error.
        if ip.is_ipv6() && self.info.ip_version == 4 {
            return None;
        }
        let r = self.reader.lookup(ip).ok()?;
        r.has_data().then_some(r)
    }

    fn network_of(r: &maxminddb::LookupResult<'_, Bytes>) -> Option<IpPrefix> {
        let n = r.network().ok()?;
        IpPrefix::new(n.ip(), n.prefix())
    }

    /// The AS that announces `ip`, if this database knows ASNs and covers it.
    pub(crate) fn asn(&self, ip: IpAddr) -> Option<AsnHit> {
        if !self.info.capabilities.asn {
            return None;
        }
        let r = self.lookup(ip)?;
        let (number, organization) = match self.info.layout {
            Layout::MaxmindAsn => (
                r.decode_path::<u32>(&[PathElement::Key("autonomous_system_number")])
                    .ok()??,
                r.decode_path::<String>(&[PathElement::Key("autonomous_system_organization")])
                    .ok()
                    .flatten(),
            ),
            Layout::IpinfoLite => {
                let text = r.decode_path::<String>(&[PathElement::Key("asn")]).ok()??;
                (
                    parse_asn(&text)?,
                    r.decode_path::<String>(&[PathElement::Key("as_name")])
                        .ok()
                        .flatten(),
                )
            }
            Layout::MaxmindGeo | Layout::IpLocationDbGeo => return None,
        };
        Some(AsnHit {
            number,
            organization,
            network: Self::network_of(&r),
        })
    }

    /// Country (ISO 3166-1 alpha-2) and city of `ip`, as far as this database knows.
    pub(crate) fn geo(&self, ip: IpAddr) -> Option<GeoHit> {
        if !(self.info.capabilities.country || self.info.capabilities.city) {
            return None;
        }
        let r = self.lookup(ip)?;
        let s = |path: &[PathElement<'_>]| r.decode_path::<String>(path).ok().flatten();
        let (country, city) = match self.info.layout {
            Layout::MaxmindGeo => (
                s(&[PathElement::Key("country"), PathElement::Key("iso_code")]).or_else(|| {
                    s(&[
                        PathElement::Key("registered_country"),
                        PathElement::Key("iso_code"),
                    ])
                }),
                s(&[
                    PathElement::Key("city"),
                    PathElement::Key("names"),
                    PathElement::Key("en"),
                ]),
            ),
            Layout::IpinfoLite => (s(&[PathElement::Key("country_code")]), None),
            Layout::IpLocationDbGeo => (
                s(&[PathElement::Key("country_code")]),
                s(&[PathElement::Key("city")]),
            ),
            Layout::MaxmindAsn => return None,
        };
        let country = country.filter(|c| !c.is_empty());
        let city = city.filter(|c| !c.is_empty());
        if country.is_none() && city.is_none() {
            return None;
        }
        Some(GeoHit {
            country,
            city,
            network: Self::network_of(&r),
        })
    }
}

/// Layout implied by `database_type`, as the publishers name their databases.
fn layout_for_type(t: &str) -> Option<Layout> {
    let l = t.to_ascii_lowercase();
    let maxmind_style =
        l.starts_with("geolite2-") || l.starts_with("geoip2-") || l.starts_with("dbip-");
    if l.contains("ipinfo") {
        Some(Layout::IpinfoLite)
    } else if maxmind_style {
        // GeoLite2-ASN, GeoIP2-ISP, "DBIP-ASN-Lite (compat=GeoLite2-ASN)", or the
        // Country/City databases of the same publishers.
        if l.contains("asn") || l.contains("-isp") {
            Some(Layout::MaxmindAsn)
        } else {
            Some(Layout::MaxmindGeo)
        }
    } else if l.contains("country") || l.contains("city") {
        // ip-location-db: `geo-whois-asn-country`, `dbip-city`, ...
        Some(Layout::IpLocationDbGeo)
    } else if l.contains("asn") {
        // ip-location-db-asn (the bundled database) and its `asn` MMDB.
        Some(Layout::MaxmindAsn)
    } else {
        None
    }
}

fn capabilities(layout: Layout, database_type: &str) -> Capabilities {
    let l = database_type.to_ascii_lowercase();
    match layout {
        Layout::MaxmindAsn => Capabilities {
            asn: true,
            ..Capabilities::default()
        },
        Layout::MaxmindGeo => Capabilities {
            asn: false,
            country: true,
            city: l.contains("city") || l.contains("enterprise"),
        },
        Layout::IpinfoLite => Capabilities {
            asn: true,
            country: true,
            city: false,
        },
        Layout::IpLocationDbGeo => Capabilities {
            asn: false,
            country: true,
            city: !l.contains("country"),
        },
    }
}

/// For databases whose type names no known publisher (ip-location-db names its
/// MMDBs freely, e.g. `geo-whois-asn-country`): look at a few well-known addresses
/// and see which fields their records hold.
fn probe_layout(reader: &Reader<Bytes>) -> Option<Layout> {
    let probes: [IpAddr; 5] = [
        IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)),
        IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1)),
        IpAddr::V4(Ipv4Addr::new(223, 5, 5, 5)),
        IpAddr::V4(Ipv4Addr::new(193, 0, 6, 139)),
        IpAddr::V6(Ipv6Addr::new(0x2001, 0x4860, 0, 0, 0, 0, 0, 0x8888)),
    ];
    for ip in probes {
        if ip.is_ipv6() && reader.metadata().ip_version == 4 {
            continue;
        }
        let Ok(r) = reader.lookup(ip) else { continue };
        if !r.has_data() {
            continue;
        }
        let has = |k: &str| {
            r.decode_path::<serde_json::Value>(&[PathElement::Key(k)])
                .ok()
                .flatten()
                .is_some()
        };
        if has("autonomous_system_number") {
            return Some(Layout::MaxmindAsn);
        }
        if has("as_name") || (has("asn") && has("country_code")) {
            return Some(Layout::IpinfoLite);
        }
        if has("country_code") {
            return Some(Layout::IpLocationDbGeo);
        }
        if has("country") || has("registered_country") {
            return Some(Layout::MaxmindGeo);
        }
    }
    None
}

/// `AS15169` or `15169`.
fn parse_asn(text: &str) -> Option<u32> {
    let t = text.trim();
    let digits = t
        .strip_prefix("AS")
        .or_else(|| t.strip_prefix("as"))
        .unwrap_or(t);
    digits.parse().ok()
}

/// `YYYY-MM-DD` of a Unix time, UTC; the raw number if out of range.
pub(crate) fn date_of_epoch(epoch: u64) -> String {
    i64::try_from(epoch)
        .ok()
        .and_then(|e| time::OffsetDateTime::from_unix_timestamp(e).ok())
        .map(|t| format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()))
        .unwrap_or_else(|| format!("@{epoch}"))
}

pub(crate) use crate::hash::hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_types_map_to_their_publishers_layouts() {
        assert_eq!(layout_for_type("GeoLite2-ASN"), Some(Layout::MaxmindAsn));
        assert_eq!(
            layout_for_type("DBIP-ASN-Lite (compat=GeoLite2-ASN)"),
            Some(Layout::MaxmindAsn)
        );
        assert_eq!(layout_for_type("GeoLite2-City"), Some(Layout::MaxmindGeo));
        assert_eq!(layout_for_type("DBIP-City-Lite"), Some(Layout::MaxmindGeo));
        assert_eq!(
            layout_for_type("ipinfo lite.mmdb"),
            Some(Layout::IpinfoLite)
        );
        assert_eq!(
            layout_for_type("ip-location-db-asn"),
            Some(Layout::MaxmindAsn)
        );
        assert_eq!(
            layout_for_type("geo-whois-asn-country"),
            Some(Layout::IpLocationDbGeo)
        );
    }

    #[test]
    fn asn_text_with_or_without_prefix_parses() {
        assert_eq!(parse_asn("AS15169"), Some(15169));
        assert_eq!(parse_asn("37963"), Some(37963));
        assert_eq!(parse_asn("ASX"), None);
    }

    /// The GeoLite2-City layout fixture of tests/fixtures/mmdb (written by make.py),
    /// cut and corrupted everywhere: opening and looking up never panic.
    #[test]
    fn cut_or_corrupted_databases_never_panic() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/mmdb/geolite2-city-fixture.mmdb");
        let full = std::fs::read(&path).unwrap();
        let ips: [IpAddr; 3] = [
            "47.96.1.1".parse().unwrap(),
            "5.9.0.1".parse().unwrap(),
            "2001:4860::1".parse().unwrap(),
        ];
        let probe = |bytes: Vec<u8>| {
            if let Ok(db) = GeoDb::from_bytes(bytes, &path, false, None) {
                for ip in ips {
                    let _ = db.geo(ip);
                    let _ = db.asn(ip);
                }
            }
        };
        for n in 0..full.len() {
            probe(full[..n].to_vec());
        }
        for i in 0..full.len() {
            let mut b = full.clone();
            b[i] ^= 0xff;
            probe(b);
        }
    }

    #[test]
    fn garbage_is_refused_as_an_invalid_database() {
        let e = GeoDb::from_bytes(b"not a database".to_vec(), Path::new("x.mmdb"), false, None);
        assert!(matches!(e, Err(GeoIpError::Invalid { .. })));
    }
}
