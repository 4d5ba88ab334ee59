//! `whohosts verify`: re-check a case directory offline, or one file against hashes.
//!
//! Exit status: 0 only when nothing differs, every time-stamp chains to a trusted TSA
//! and every custody line is anchored; 3 when something differs, a given `--anchor`
//! matches nothing or a TSA is not trusted; 1 when nothing differs but custody lines
//! are not yet anchored; 2 for bad usage. Everything read from the case (file names,
//! custody fields) is escaped before it reaches the terminal.

use super::exit;
use anyhow::Context;
use std::path::{Path, PathBuf};
use whohosts::evidence::{tsp, verify};
use whohosts::report::escape::terminal;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// A case directory, or a single file (then give --sha256 and/or --sm3).
    pub path: PathBuf,
    /// Expected SHA-256 of a single file.
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// Expected SM3 of a single file.
    #[arg(long, value_name = "HEX")]
    pub sm3: Option<String>,
    /// A hash recorded outside the case (in the notarial certificate, say): the custody
    /// head a notary sheet prints, a manifest's or a seal statement's SHA-256. Each
    /// value must match; the custody lines it covers count as anchored. Repeatable.
    #[arg(long, value_name = "HEX")]
    pub anchor: Vec<String>,
    /// The TSA's certificate (PEM or DER) to check time-stamp signatures with (the
    /// token must name it as its signer). Trust still comes from --tsa-ca, the case's
    /// trusted-tsa.pem or the bundled list, which may hold the TSA certificate itself.
    #[arg(long, value_name = "CERT")]
    pub tsa_cert: Option<PathBuf>,
    /// A CA (PEM, one or more certificates) a TSA certificate may chain to. Repeatable.
    #[arg(long, value_name = "CA")]
    pub tsa_ca: Vec<PathBuf>,
    /// Trust only --tsa-ca, --tsa-cert and the case's trusted-tsa.pem, not the TSA list
    /// bundled with whohosts.
    #[arg(long)]
    pub no_bundled_tsa: bool,
    /// Allowed difference between the TSA's genTime and the custody times, seconds.
    #[arg(long, default_value_t = verify::DEFAULT_SKEW_SECS)]
    pub skew: i64,
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    let report = if args.path.is_dir() {
        if args.sha256.is_some() || args.sm3.is_some() {
            anyhow::bail!(
                "--sha256 and --sm3 check a single file; for a case directory give the hash recorded elsewhere with --anchor HEX"
            );
        }
        let mut cas = Vec::new();
        for p in &args.tsa_ca {
            for cert in load_all(p)? {
                cas.push(tsp::Anchor {
                    cert,
                    source: format!("--tsa-ca {}", p.display()),
                });
            }
        }
        let opts = verify::Options {
            tsa_cert: args.tsa_cert.as_deref().map(load).transpose()?,
            tsa_ca: None,
            more_cas: cas,
            no_bundled: args.no_bundled_tsa,
            anchors: args.anchor.clone(),
            skew_secs: args.skew,
        };
        verify::verify_case(&args.path, &opts)
    } else {
        if args.sha256.is_none() && args.sm3.is_none() {
            // Comparing nothing must not read as a success.
            let d = whohosts::hash::hash_file(&args.path, whohosts::hash::Algorithms::EVIDENCE)
                .context("hashing file")?;
            anyhow::bail!(
                "nothing to compare: give --sha256 HEX and/or --sm3 HEX for {} (its sha256 is {}, its sm3 {})",
                terminal(&args.path.display().to_string()),
                d.sha256.as_deref().unwrap_or("-"),
                d.sm3.as_deref().unwrap_or("-")
            );
        }
        if !args.anchor.is_empty() {
            anyhow::bail!(
                "--anchor applies to a case directory; for a file give --sha256 or --sm3"
            );
        }
        verify::verify_file(&args.path, args.sha256.as_deref(), args.sm3.as_deref())
            .context("verifying file")?
    };
    for n in &report.notes {
        println!("note: {}", terminal(n));
    }
    for u in &report.untrusted {
        println!("UNTRUSTED: {}", terminal(u));
    }
    for d in &report.differences {
        println!("DIFFERS: {}", terminal(d));
    }
    for t in &report.time_order {
        println!("TIME ORDER: {}", terminal(t));
    }
    if let Some(text) = report.unanchored_text() {
        println!("UNANCHORED: {text}");
    }
    if report.fully_verified() {
        println!("verified: no differences, every time-stamp trusted, every custody line anchored");
        return Ok(exit::OK);
    }
    if report.differences.is_empty() && report.untrusted.is_empty() && report.time_order.is_empty()
    {
        println!("no differences, but NOT fully verified: custody lines are not yet anchored");
        return Ok(exit::ANOMALIES);
    }
    println!(
        "verification FAILED: {} difference(s), {} untrusted time-stamp(s), {} time(s) out of order",
        report.differences.len(),
        report.untrusted.len(),
        report.time_order.len()
    );
    Ok(exit::CHECK_FAILED)
}

fn load(path: &Path) -> anyhow::Result<x509_cert::Certificate> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    tsp::load_certificate(&bytes).with_context(|| format!("certificate {}", path.display()))
}

fn load_all(path: &Path) -> anyhow::Result<Vec<x509_cert::Certificate>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    tsp::load_certificates(&bytes).with_context(|| format!("certificates {}", path.display()))
}
