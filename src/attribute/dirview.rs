//! The one place where attribution meets the provider directory
//! ([`crate::attribute::directory`], `data/providers.toml`).
//!
//! Everything attribution needs from the directory goes through [`DirectoryView`]:
//! ASN -> provider (and whether the ASN is confirmed or shared), provider facts,
//! hostname -> provider and region, city -> region. Keeping the joins here keeps the
//! attribution rules independent of the directory's schema.
//!
//! Contract: lookups never fail; an unknown ASN, name or city gives `None` (or an
//! empty list).

use crate::attribute::directory::{Directory, DirectoryError, Provider, Region, Strength};
use crate::model::Confidence;
use serde::Serialize;
use std::path::Path;

/// Provider facts a report needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProviderRef {
    pub id: String,
    pub name: String,
    /// `iaas`, `cdn`, `hosting`, `paas`, as the directory states it.
    pub service_model: String,
}

/// A region of a provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct RegionRef {
    pub id: String,
    pub city: Option<String>,
}

/// What a hostname says about who serves it and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostMatch {
    pub provider: String,
    /// The region the name embeds, validated against the provider's region list.
    pub region: Option<RegionRef>,
    /// Why no region, when the name matched a provider pattern but gave none.
    pub no_region_reason: Option<String>,
    pub confidence: Confidence,
    /// The pattern that matched and what it describes, for the report.
    pub pattern: String,
}

/// Who holds an ASN, per the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AsnOwner {
    pub provider: ProviderRef,
    /// Listed among the provider's confirmed ASNs (not `asns_unverified`).
    pub verified: bool,
    /// Other providers listing the same ASN (a shared ASN).
    pub shared_with: Vec<String>,
}

/// The directory as attribution sees it.
#[derive(Debug)]
pub struct DirectoryView {
    dir: Directory,
}

impl DirectoryView {
    /// The directory bundled with the program.
    pub fn bundled() -> Result<DirectoryView, DirectoryError> {
        Ok(DirectoryView {
            dir: Directory::bundled()?,
        })
    }

    /// A directory file given by the user (a newer `providers.toml`).
    pub fn load(path: &Path) -> Result<DirectoryView, DirectoryError> {
        Ok(DirectoryView {
            dir: Directory::load(path)?,
        })
    }

    pub fn directory(&self) -> &Directory {
        &self.dir
    }

    pub fn version(&self) -> &str {
        self.dir.version()
    }

    pub fn sha256(&self) -> &str {
        self.dir.sha256()
    }

    pub fn origin(&self) -> &str {
        self.dir.origin()
    }

    pub(crate) fn provider_count(&self) -> usize {
        self.dir.providers().len()
    }

    fn to_ref(p: &Provider) -> ProviderRef {
        ProviderRef {
            id: p.id.clone(),
            name: p.name_en.clone(),
            service_model: p.service_model.as_str().to_string(),
        }
    }

    pub fn provider(&self, id: &str) -> Option<ProviderRef> {
        self.dir.provider(id).map(Self::to_ref)
    }

    pub(crate) fn by_asn(&self, asn: u32) -> Option<ProviderRef> {
        self.dir.by_asn(asn).map(Self::to_ref)
    }

    /// The holder of `asn`, with whether the directory confirms it and who shares it.
    pub(crate) fn asn_owner(&self, asn: u32) -> Option<AsnOwner> {
        let holders = self.dir.asn_holders(asn);
        let first = holders.first()?;
        Some(AsnOwner {
            provider: Self::to_ref(first.provider),
            verified: first.verified,
            shared_with: holders
                .iter()
                .skip(1)
                .map(|h| h.provider.id.clone())
                .collect(),
        })
    }

    /// Provider ids, for recognising a provider named in a file name.
    pub(crate) fn provider_ids(&self) -> Vec<String> {
        self.dir.providers().iter().map(|p| p.id.clone()).collect()
    }

    fn region_ref(r: &Region) -> RegionRef {
        RegionRef {
            id: r.id.clone(),
            city: r.city.clone(),
        }
    }

    /// Hostname patterns of the directory; the match's strength becomes the
    /// confidence (`strong`: the provider's own domain; `medium`: imitable shapes).
    pub(crate) fn match_hostname(&self, name: &str) -> Option<HostMatch> {
        let m = self.dir.match_hostname(name)?;
        Some(HostMatch {
            provider: m.provider.clone(),
            region: m.region.as_ref().map(Self::region_ref),
            no_region_reason: m.region_unknown.clone(),
            confidence: match m.strength {
                Strength::Strong => Confidence::Strong,
                Strength::Medium => Confidence::Medium,
            },
            pattern: format!("{} ({})", m.pattern, m.what),
        })
    }

    /// Every region of the provider in `city` (some clouds run several in one city).
    pub(crate) fn regions_by_city(
        &self,
        provider: &str,
        city: &str,
        country: Option<&str>,
    ) -> Vec<RegionRef> {
        self.dir
            .regions_by_city(provider, city, country)
            .into_iter()
            .map(Self::region_ref)
            .collect()
    }
}
