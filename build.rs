//! Build script: with the `embedded-data` feature, the bundled data set's files to
//! compile into the binary, each with its SHA-256 computed here from the same file
//! `include_bytes!` reads, so that the binary names the hash of the data it carries
//! without reading (and keeping resident) 20 MB of it on every call.

use sha2::{Digest, Sha256};
use std::fmt::Write;
use std::path::PathBuf;

/// Every file of `data/` the attribution reads; `data/feeds.json` lists the feeds.
const FILES: &[&str] = &[
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
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_EMBEDDED_DATA").is_none() {
        return;
    }
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let mut code = String::from("&[\n");
    for name in FILES {
        let path = root.join("data").join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (the bundled data set)", path.display()));
        let mut sha256 = String::new();
        for b in Sha256::digest(&bytes) {
            let _ = write!(sha256, "{b:02x}");
        }
        let _ = writeln!(
            code,
            "    whohosts::attribute::EmbeddedFile {{ name: {name:?}, bytes: include_bytes!({path:?}), sha256: {sha256:?} }},"
        );
    }
    code.push(']');
    std::fs::write(out.join("embedded.rs"), code).expect("OUT_DIR is writable");
}
