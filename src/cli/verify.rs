//! `whohosts verify`: re-check a case directory offline, or one file against hashes.

use super::exit;
use anyhow::Context;
use std::path::{Path, PathBuf};
use whohosts::evidence::{tsp, verify};

#[derive(clap::Args)]
pub struct Args {
    /// A case directory, or a single file (then give --sha256 and/or --sm3).
    pub path: PathBuf,
    /// Expected SHA-256 of a single file.
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// Expected SM3 of a single file.
    #[arg(long, value_name = "HEX")]
    pub sm3: Option<String>,
    /// The TSA's certificate (PEM or DER) to check time-stamp signatures with.
    #[arg(long, value_name = "CERT")]
    pub tsa_cert: Option<PathBuf>,
    /// The CA that must have issued the TSA certificate.
    #[arg(long, value_name = "CA")]
    pub tsa_ca: Option<PathBuf>,
    /// Allowed difference between the TSA's genTime and the custody times, seconds.
    #[arg(long, default_value_t = verify::DEFAULT_SKEW_SECS)]
    pub skew: i64,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let report = if args.path.is_dir() {
        let opts = verify::Options {
            tsa_cert: args.tsa_cert.as_deref().map(load).transpose()?,
            tsa_ca: args.tsa_ca.as_deref().map(load).transpose()?,
            skew_secs: args.skew,
        };
        verify::verify_case(&args.path, &opts)
    } else {
        verify::verify_file(&args.path, args.sha256.as_deref(), args.sm3.as_deref())
            .context("verifying file")?
    };
    for n in &report.notes {
        println!("note: {n}");
    }
    for d in &report.differences {
        println!("DIFFERS: {d}");
    }
    if report.ok() {
        println!("verified: no differences");
        Ok(exit::OK)
    } else {
        println!(
            "verification FAILED: {} difference(s)",
            report.differences.len()
        );
        Ok(exit::CHECK_FAILED)
    }
}

fn load(path: &Path) -> anyhow::Result<x509_cert::Certificate> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    tsp::load_certificate(&bytes).with_context(|| format!("certificate {}", path.display()))
}
