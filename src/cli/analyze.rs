//! `whohosts analyze`.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Capture files (pcap, pcapng, optionally gzip- or zstd-compressed).
    #[arg(required = true)]
    pub captures: Vec<PathBuf>,
    /// Write the JSON report to PATH (`-` for standard output).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
}

pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("not yet implemented")
}
