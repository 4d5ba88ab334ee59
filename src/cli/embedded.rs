//! The bundled data set compiled into the binary (feature `embedded-data`, on by
//! default), so that an installed or copied binary attributes without its source tree.
//! Without the feature the binary looks in the install places instead (see
//! `whohosts::attribute::bundle`). Kept in the binary, not the library, so that the
//! test binaries that link the library do not each carry 21 MB of data.

/// Every file of `data/` the attribution reads, with its SHA-256, as `build.rs` lists
/// them; `data/feeds.json` lists the feeds, and a test checks that each of them is
/// embedded.
#[cfg(feature = "embedded-data")]
pub(crate) const FILES: Option<whohosts::attribute::EmbeddedFiles> =
    Some(include!(concat!(env!("OUT_DIR"), "/embedded.rs")));

#[cfg(not(feature = "embedded-data"))]
pub(crate) const FILES: Option<whohosts::attribute::EmbeddedFiles> = None;
