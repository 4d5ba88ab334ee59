//! The one place where attribution meets the provider directory.
//!
//! Everything attribution needs from the directory goes through [`DirectoryView`]:
//! ASN -> provider, provider facts, hostname -> provider and region, city -> region.
//! Until the directory (`data/providers.toml`) is available this view carries a
//! minimal built-in table, enough for the providers named in the tests; it says so in
//! its version string, so reports show which table was used.
//!
//! Contract: lookups never fail; an unknown ASN, name or city gives `None`.

use crate::model::Confidence;
use serde::Serialize;

/// Provider facts a report needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProviderRef {
    pub id: String,
    pub name: String,
    /// `iaas`, `cdn`, `hosting`, ... as the directory states it.
    pub service_model: String,
}

/// A region of a provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegionRef {
    pub id: String,
    pub city: Option<String>,
}

/// What a hostname says about who serves it and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostMatch {
    pub provider: String,
    /// The region the name embeds, validated against the provider's region list.
    pub region: Option<RegionRef>,
    /// Why no region, when the name matched a provider pattern but gave none.
    pub no_region_reason: Option<String>,
    pub confidence: Confidence,
    /// The pattern that matched, for the report.
    pub pattern: String,
}

/// The directory as attribution sees it.
#[derive(Debug)]
pub struct DirectoryView {
    version: String,
    sha256: String,
}

struct Builtin {
    id: &'static str,
    name: &'static str,
    model: &'static str,
    asns: &'static [u32],
}

// Interim table: ASNs from the providers' own registrations (see
// ../shared/LEGAL.md "Providers"), only those the tests name.
const BUILTIN: &[Builtin] = &[
    Builtin {
        id: "alibaba",
        name: "Alibaba Cloud",
        model: "iaas",
        asns: &[37963, 45102, 134963],
    },
    Builtin {
        id: "tencent",
        name: "Tencent Cloud",
        model: "iaas",
        asns: &[45090, 132203],
    },
    Builtin {
        id: "huawei",
        name: "Huawei Cloud",
        model: "iaas",
        asns: &[55990, 136907],
    },
    Builtin {
        id: "aws",
        name: "Amazon Web Services",
        model: "iaas",
        asns: &[16509, 14618],
    },
    Builtin {
        id: "gcp",
        name: "Google Cloud",
        model: "iaas",
        asns: &[15169, 396982],
    },
    Builtin {
        id: "azure",
        name: "Microsoft Azure",
        model: "iaas",
        asns: &[8075],
    },
    Builtin {
        id: "cloudflare",
        name: "Cloudflare",
        model: "cdn",
        asns: &[13335],
    },
    Builtin {
        id: "ovh",
        name: "OVHcloud",
        model: "iaas",
        asns: &[16276],
    },
    Builtin {
        id: "hetzner",
        name: "Hetzner",
        model: "iaas",
        asns: &[24940],
    },
    Builtin {
        id: "digitalocean",
        name: "DigitalOcean",
        model: "iaas",
        asns: &[14061],
    },
    Builtin {
        id: "linode",
        name: "Akamai Cloud (Linode)",
        model: "iaas",
        asns: &[63949],
    },
    Builtin {
        id: "vultr",
        name: "Vultr",
        model: "iaas",
        asns: &[20473],
    },
    Builtin {
        id: "oracle",
        name: "Oracle Cloud",
        model: "iaas",
        asns: &[31898],
    },
    Builtin {
        id: "fastly",
        name: "Fastly",
        model: "cdn",
        asns: &[54113],
    },
    Builtin {
        id: "github",
        name: "GitHub",
        model: "hosting",
        asns: &[36459],
    },
];

impl DirectoryView {
    /// The directory bundled with the program.
    pub fn bundled() -> DirectoryView {
        DirectoryView {
            version: "builtin-minimal".to_string(),
            sha256: String::new(),
        }
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub fn provider_count(&self) -> usize {
        BUILTIN.len()
    }

    fn to_ref(b: &Builtin) -> ProviderRef {
        ProviderRef {
            id: b.id.to_string(),
            name: b.name.to_string(),
            service_model: b.model.to_string(),
        }
    }

    pub fn provider(&self, id: &str) -> Option<ProviderRef> {
        BUILTIN.iter().find(|b| b.id == id).map(Self::to_ref)
    }

    pub fn by_asn(&self, asn: u32) -> Option<ProviderRef> {
        BUILTIN
            .iter()
            .find(|b| b.asns.contains(&asn))
            .map(Self::to_ref)
    }

    /// Provider ids, for recognising a provider named in a file name.
    pub fn provider_ids(&self) -> Vec<String> {
        BUILTIN.iter().map(|b| b.id.to_string()).collect()
    }

    /// Hostname patterns that embed a region.
    pub fn match_hostname(&self, name: &str) -> Option<HostMatch> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        // (provider, suffix, how the region sits before the suffix)
        let patterns: [(&str, &str, &str); 3] = [
            ("alibaba", ".aliyuncs.com", "oss-{region}"),
            ("aws", ".compute.amazonaws.com", "{region}"),
            ("tencent", ".myqcloud.com", "cos.{region}"),
        ];
        for (provider, suffix, shape) in patterns {
            let Some(rest) = name.strip_suffix(suffix) else {
                continue;
            };
            let label = rest.rsplit('.').next().unwrap_or("");
            let region = match shape {
                "oss-{region}" => label.strip_prefix("oss-").map(str::to_string),
                "cos.{region}" => {
                    let mut it = rest.rsplit('.');
                    let r = it.next();
                    (it.next() == Some("cos"))
                        .then(|| r.map(str::to_string))
                        .flatten()
                }
                _ => Some(label.to_string()).filter(|l| l.contains('-')),
            };
            return Some(HostMatch {
                provider: provider.to_string(),
                no_region_reason: region
                    .is_none()
                    .then(|| format!("`{name}` matches {provider} but embeds no region")),
                region: region.map(|id| RegionRef { id, city: None }),
                confidence: Confidence::Medium,
                pattern: format!("*{suffix} ({shape})"),
            });
        }
        None
    }

    /// The provider's region in `city`, if it has exactly one there.
    pub fn region_by_city(
        &self,
        _provider: &str,
        _city: &str,
        _country: Option<&str>,
    ) -> Option<RegionRef> {
        None
    }
}
