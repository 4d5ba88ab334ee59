//! The bundled data set, and where it is found.
//!
//! The set is the ASN and country databases with their licence manifest
//! (`bundled.json`, made by `data/build-bundled.py`) and a dated snapshot of the
//! providers' official range feeds (`feeds.json` and `feeds/*.zst`, made by
//! `data/build-feeds.py`). It is found, in this order:
//!
//! 1. `--bundled-dir DIR`, then the `WHOHOSTS_BUNDLED_DIR` environment variable;
//! 2. the copy embedded in the binary (the `embedded-data` feature, on by default, so
//!    that an installed or copied binary attributes without its source tree);
//! 3. the places a package installs data to: `<binary's directory>/../share/whohosts`,
//!    `/usr/local/share/whohosts`, `/usr/share/whohosts`.
//!
//! Never the source tree the library was built from: a binary copied elsewhere must
//! not depend on a build directory that may be gone or changed. Tests name the
//! repository's `data/` explicitly.
//!
//! A directory counts only when it holds `asn-ipv4.mmdb`; an explicit one that does not
//! is an error, never silently skipped.
//!
//! Contract: reading never panics; a missing or damaged file is an error naming it.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// Environment variable overriding where the bundled data set is read from.
pub const BUNDLED_DIR_ENV: &str = "WHOHOSTS_BUNDLED_DIR";

/// A file of an embedded bundle.
#[derive(Debug)]
pub struct EmbeddedFile {
    /// Its name relative to `data/`.
    pub name: &'static str,
    pub bytes: &'static [u8],
    /// Computed by the build script from the file the bytes were read from.
    pub sha256: &'static str,
}

/// Files of an embedded bundle.
pub type EmbeddedFiles = &'static [EmbeddedFile];

/// The file every bundle directory holds; a directory without it is not a bundle.
const MARKER: &str = "asn-ipv4.mmdb";

/// Where the bundled data set was found.
#[derive(Clone, Debug)]
pub enum Bundle {
    /// A directory, and which rule chose it.
    Dir { path: PathBuf, how: &'static str },
    /// Files compiled into the binary.
    Embedded(EmbeddedFiles),
}

/// Why no bundle was found.
#[derive(Debug, thiserror::Error)]
#[error("the bundled data set was not found; looked in: {}. Pass --bundled-dir DIR or set WHOHOSTS_BUNDLED_DIR to a directory holding asn-ipv4.mmdb (the `data/` directory of the whohosts source tree)", .tried.join(", "))]
pub struct NotFound {
    pub tried: Vec<String>,
}

/// The install places of step 3, in order.
pub(crate) fn install_dirs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(bin_dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        out.push(bin_dir.join("../share/whohosts"));
    }
    out.push(PathBuf::from("/usr/local/share/whohosts"));
    out.push(PathBuf::from("/usr/share/whohosts"));
    out
}

impl Bundle {
    /// Finds the bundle by the rules of the module documentation.
    pub fn locate(
        explicit: Option<&Path>,
        embedded: Option<EmbeddedFiles>,
    ) -> Result<Bundle, NotFound> {
        if let Some(p) = explicit {
            return Ok(Bundle::Dir {
                path: p.to_path_buf(),
                how: "--bundled-dir",
            });
        }
        if let Some(p) = std::env::var_os(BUNDLED_DIR_ENV).filter(|p| !p.is_empty()) {
            return Ok(Bundle::Dir {
                path: PathBuf::from(p),
                how: BUNDLED_DIR_ENV,
            });
        }
        if let Some(files) = embedded {
            return Ok(Bundle::Embedded(files));
        }
        let mut tried = vec!["no copy embedded in this binary".to_string()];
        for dir in install_dirs() {
            if dir.join(MARKER).is_file() {
                return Ok(Bundle::Dir {
                    path: dir,
                    how: "install directory",
                });
            }
            tried.push(dir.display().to_string());
        }
        Err(NotFound { tried })
    }

    /// The bytes of one file of the bundle (`feeds/aws.aws-ip-ranges.json.zst`).
    pub fn read(&self, name: &str) -> std::io::Result<Cow<'static, [u8]>> {
        match self {
            Bundle::Dir { path, .. } => std::fs::read(path.join(name)).map(Cow::Owned),
            Bundle::Embedded(files) => files
                .iter()
                .find(|f| f.name == name)
                .map(|f| Cow::Borrowed(f.bytes))
                .ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("{name} is not embedded in this binary"),
                    )
                }),
        }
    }

    /// The SHA-256 of an embedded file, known from the build: reading it to hash it
    /// would keep all its pages resident. `None` for a directory's files.
    pub fn known_sha256(&self, name: &str) -> Option<&'static str> {
        match self {
            Bundle::Dir { .. } => None,
            Bundle::Embedded(files) => files.iter().find(|f| f.name == name).map(|f| f.sha256),
        }
    }

    /// A path naming a bundled file in messages and reports (its file name is what
    /// reports show).
    pub(crate) fn path_of(&self, name: &str) -> PathBuf {
        match self {
            Bundle::Dir { path, .. } => path.join(name),
            Bundle::Embedded(_) => PathBuf::from(name),
        }
    }

    /// For people: where the bundle is.
    pub(crate) fn describe(&self) -> String {
        match self {
            Bundle::Dir { path, how } => format!("{} ({how})", path.display()),
            Bundle::Embedded(_) => "embedded in the binary".to_string(),
        }
    }
}

/// `feeds.json`: the bundled feed snapshot, as `data/build-feeds.py` writes it.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct FeedManifest {
    #[serde(default)]
    pub snapshot: String,
    #[serde(default)]
    pub feeds: Vec<BundledFeed>,
}

/// One bundled feed.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct BundledFeed {
    /// Compressed file, relative to the bundle (`feeds/aws.aws-ip-ranges.json.zst`).
    pub file: String,
    /// The name the feed has in a data directory (`aws.aws-ip-ranges.json`).
    pub stored: String,
    pub provider: String,
    pub format: String,
    pub url: String,
    /// Date of the data: `YYYY-MM-DD` when the feed states it, else `YYYY-MM`.
    pub date: String,
    #[serde(default)]
    pub date_basis: String,
    /// Size and SHA-256 of the provider's bytes (after decompression).
    pub size: u64,
    pub sha256: String,
    #[serde(default)]
    pub terms: String,
}

/// The largest feed the program accepts, bundled, imported or downloaded (the largest
/// real one, Azure's Service Tags, is about 4 MB).
pub(crate) const MAX_FEED_BYTES: u64 = 64 << 20;

/// Why a bundled feed cannot be used: the bundle is damaged or not the one its
/// manifest describes.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("{}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: the manifest gives {size} bytes, more than the {MAX_FEED_BYTES} accepted")]
    TooLarge { file: String, size: u64 },
    #[error("{file}: does not decompress to {size} bytes: {source}")]
    Decompress {
        file: String,
        size: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: SHA-256 {got} differs from the manifest's {expected}")]
    Digest {
        file: String,
        got: String,
        expected: String,
    },
}

/// Decompresses one bundled feed and checks it against the manifest.
pub fn unpack_feed(bundle: &Bundle, f: &BundledFeed) -> Result<Vec<u8>, UnpackError> {
    let packed = bundle.read(&f.file).map_err(|source| UnpackError::Read {
        path: bundle.path_of(&f.file),
        source,
    })?;
    let too_large = || UnpackError::TooLarge {
        file: f.file.clone(),
        size: f.size,
    };
    if f.size > MAX_FEED_BYTES {
        return Err(too_large());
    }
    let capacity = usize::try_from(f.size).map_err(|_| too_large())?;
    let bytes =
        zstd::bulk::decompress(&packed, capacity).map_err(|source| UnpackError::Decompress {
            file: f.file.clone(),
            size: f.size,
            source,
        })?;
    let got = crate::attribute::geoip::hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    if got != f.sha256 {
        return Err(UnpackError::Digest {
            file: f.file.clone(),
            got,
            expected: f.sha256.clone(),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundled_feed_unlike_its_manifest_says_what_differs() {
        let bytes = b"192.0.2.0/24\n";
        let packed = zstd::bulk::compress(bytes, 3).unwrap();
        let sha256: &'static str = crate::hash::sha256_hex(&packed).leak();
        let files: EmbeddedFiles = Box::leak(Box::new([EmbeddedFile {
            name: "feeds/x.zst",
            bytes: packed.leak(),
            sha256,
        }]));
        let bundle = Bundle::Embedded(files);
        let mut f = BundledFeed {
            file: "feeds/x.zst".into(),
            size: bytes.len() as u64,
            sha256: crate::hash::sha256_hex(bytes),
            ..BundledFeed::default()
        };
        assert_eq!(unpack_feed(&bundle, &f).unwrap(), bytes);
        f.sha256 = "00".repeat(32);
        assert!(matches!(
            unpack_feed(&bundle, &f),
            Err(UnpackError::Digest { expected, .. }) if expected == f.sha256
        ));
        f.size = MAX_FEED_BYTES + 1;
        assert!(matches!(
            unpack_feed(&bundle, &f),
            Err(UnpackError::TooLarge { .. })
        ));
        f.file = "feeds/missing.zst".into();
        assert!(matches!(
            unpack_feed(&bundle, &f),
            Err(UnpackError::Read { .. })
        ));
    }
}
