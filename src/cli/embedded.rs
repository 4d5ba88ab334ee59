//! The bundled data set compiled into the binary (feature `embedded-data`, on by
//! default), so that an installed or copied binary attributes without its source tree.
//! Without the feature the binary looks in the install places instead (see
//! `whohosts::attribute::bundle`). Kept in the binary, not the library, so that the
//! test binaries that link the library do not each carry 21 MB of data.

/// Every file of `data/` the attribution reads; `data/feeds.json` lists the feeds, and
/// a test checks that each of them is embedded.
#[cfg(feature = "embedded-data")]
macro_rules! embed {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/", $name)) as &[u8])),*]
    };
}

#[cfg(feature = "embedded-data")]
pub(crate) const FILES: Option<whohosts::attribute::EmbeddedFiles> = Some(embed![
    "asn-ipv4.mmdb",
    "asn-ipv6.mmdb",
    "country.mmdb",
    "bundled.json",
    "feeds.json",
    "feeds/aws.aws-ip-ranges.json.zst",
    "feeds/azure.azure-service-tags.json.zst",
    "feeds/cloudflare.cidr-list-v4.txt.zst",
    "feeds/cloudflare.cidr-list-v6.txt.zst",
    "feeds/digitalocean.geofeed.txt.zst",
    "feeds/fastly.fastly-public-ip-list.json.zst",
    "feeds/gcp.google-cloud-json.json.zst",
    "feeds/github.github-meta.json.zst",
    "feeds/linode.geofeed.txt.zst",
    "feeds/oracle.oracle-public-ip-ranges.json.zst",
]);

#[cfg(not(feature = "embedded-data"))]
pub(crate) const FILES: Option<whohosts::attribute::EmbeddedFiles> = None;
