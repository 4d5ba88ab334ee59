//! `--online` for `analyze` and `lookup`: reverse DNS and RDAP, their answers kept as
//! evidence (in a case through its custody log, or in a folder the report names).

use anyhow::Context;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use whohosts::attribute::online::{self, OnlineAnswers, OnlineOptions, OnlineSummary};
use whohosts::attribute::rdns::RdnsOptions;

#[derive(clap::Args, Clone, Debug, Default)]
pub(crate) struct OnlineArgs {
    /// Ask reverse DNS and the registries' RDAP servers about every server address
    /// (the network is used only with this flag and by `data update`). The answers are
    /// saved as evidence (see --online-dir, --case).
    #[arg(long)]
    pub online: bool,
    /// Nameserver for reverse DNS, ADDRESS or ADDRESS:PORT [default: the system's].
    #[arg(long, value_name = "ADDR[:PORT]", requires = "online")]
    pub dns_server: Option<String>,
    /// Seconds to wait for one DNS answer.
    #[arg(long, value_name = "SECS", default_value_t = 3)]
    pub dns_timeout: u64,
    /// Reverse DNS queries in flight at most.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub dns_concurrency: usize,
    /// Base URL of the RDAP bootstrap files (ipv4.json, ipv6.json).
    #[arg(long, value_name = "URL", default_value = online::IANA_BOOTSTRAP)]
    pub rdap_bootstrap: String,
    /// Seconds to wait for one RDAP answer.
    #[arg(long, value_name = "SECS", default_value_t = 15)]
    pub rdap_timeout: u64,
    /// Milliseconds between two requests to one RDAP server (be polite).
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub rdap_interval_ms: u64,
    /// Skip reverse DNS.
    #[arg(long, requires = "online")]
    pub no_rdns: bool,
    /// Skip RDAP.
    #[arg(long, requires = "online")]
    pub no_rdap: bool,
    /// Folder for the raw answers (created; never overwritten) [default: beside the
    /// --json report as REPORT.online/, else <data-dir>/online/<UTC time>/].
    #[arg(long, value_name = "DIR", requires = "online", conflicts_with = "case")]
    pub online_dir: Option<PathBuf>,
    /// A case directory: --online answers go into it (online/<UTC time>/) and an
    /// `analyze --subset` into its exhibits/ folder, each entered in its custody log.
    #[arg(long, value_name = "CASE")]
    pub case: Option<PathBuf>,
    /// Make the report again from a folder of saved answers, without the network.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["online", "case"])]
    pub online_replay: Option<PathBuf>,
}

impl OnlineArgs {
    fn options(&self, data_dir: &Path) -> anyhow::Result<OnlineOptions> {
        let server = match &self.dns_server {
            None => None,
            Some(s) => Some(match s.parse::<SocketAddr>() {
                Ok(sa) => sa,
                Err(_) => SocketAddr::new(
                    s.parse::<IpAddr>()
                        .with_context(|| format!("--dns-server {s:?}: expected ADDRESS[:PORT]"))?,
                    53,
                ),
            }),
        };
        Ok(OnlineOptions {
            rdns: RdnsOptions {
                server,
                timeout: Duration::from_secs(self.dns_timeout.max(1)),
                concurrency: self.dns_concurrency.max(1),
            },
            no_rdns: self.no_rdns,
            no_rdap: self.no_rdap,
            bootstrap: self.rdap_bootstrap.clone(),
            timeout: Duration::from_secs(self.rdap_timeout.max(1)),
            rdap_interval: Duration::from_millis(self.rdap_interval_ms),
            cache_dir: Some(data_dir.join("cache/rdap")),
        })
    }

    /// Runs the online queries (or reads a replay folder) for `ips`, saves the answers
    /// and returns them with the report's summary. `None` when neither --online nor
    /// --online-replay was given.
    pub(crate) fn run(
        &self,
        ips: &[IpAddr],
        data_dir: &Path,
        json: Option<&Path>,
    ) -> anyhow::Result<Option<(OnlineAnswers, OnlineSummary)>> {
        if let Some(dir) = &self.online_replay {
            let (answers, index_sha256) = online::load(dir)
                .map_err(anyhow::Error::msg)
                .context("reading saved answers")?;
            let summary = summary(&answers, dir.display().to_string(), index_sha256);
            return Ok(Some((answers, summary)));
        }
        if !self.online {
            return Ok(None);
        }
        let opts = self.options(data_dir)?;
        // Public addresses only: private, loopback and documentation addresses are
        // nobody's to ask about.
        let mut ips: Vec<IpAddr> = ips
            .iter()
            .copied()
            .filter(|ip| whohosts::attribute::special_purpose_reason(*ip).is_none())
            .collect();
        ips.sort();
        ips.dedup();
        eprintln!(
            "whohosts: online: reverse DNS{} and RDAP{} for {} addresses",
            if opts.no_rdns { " (skipped)" } else { "" },
            if opts.no_rdap { " (skipped)" } else { "" },
            ips.len()
        );
        let mut answers = online::query(&ips, &opts);
        let stamp = whohosts::evidence::Now::system(time::UtcOffset::UTC).compact;
        let (dir_text, index_sha256) = match &self.case {
            Some(case) => {
                let rel = unused(case, &format!("online/{stamp}"));
                let mut session = whohosts::evidence::case::Session::open(case, None)
                    .with_context(|| format!("opening case {}", case.display()))?;
                let (files, index) = online::evidence_files(&mut answers);
                let mut records = Vec::new();
                for (p, bytes) in &files {
                    records.push(
                        session
                            .write_file(&format!("{rel}/{p}"), bytes)
                            .with_context(|| format!("writing {rel}/{p} into the case"))?,
                    );
                }
                let mut bytes = serde_json::to_vec_pretty(&index)?;
                bytes.push(b'\n');
                let idx = session
                    .write_file(&format!("{rel}/index.json"), &bytes)
                    .context("writing the online index into the case")?;
                let sha = idx.sha256.clone();
                records.push(idx);
                session
                    .append(
                        "online.answers",
                        serde_json::json!({
                            "folder": rel,
                            "rdap_bootstrap": opts.bootstrap,
                            "dns_server": self.dns_server,
                            "ptr_queries": answers.ptr.len(),
                            "rdap_queries": answers.rdap.len(),
                        }),
                        records,
                    )
                    .context("entering the online answers in the custody log")?;
                (case.join(&rel).display().to_string(), sha)
            }
            None => {
                // A folder of its own for each run: evidence is never overwritten, so
                // a second run (the same second, or the same --json path) gets the
                // next free name, which the report records.
                let dir = match (&self.online_dir, json) {
                    (Some(d), _) => d.clone(),
                    (None, Some(j)) if j.as_os_str() != "-" => {
                        let mut name = j.as_os_str().to_owned();
                        name.push(".online");
                        PathBuf::from(unused(Path::new(""), &name.to_string_lossy()))
                    }
                    _ => data_dir.join(unused(data_dir, &format!("online/{stamp}"))),
                };
                let sha = online::save(&mut answers, &dir)
                    .with_context(|| format!("saving the online answers in {}", dir.display()))?;
                (dir.display().to_string(), sha)
            }
        };
        eprintln!("whohosts: online answers saved in {dir_text}");
        let s = summary(&answers, dir_text, index_sha256);
        Ok(Some((answers, s)))
    }
}

/// `rel`, or `rel-2`, `rel-3`, ... : the first that does not exist under `base`.
fn unused(base: &Path, rel: &str) -> String {
    if base.join(rel).symlink_metadata().is_err() {
        return rel.to_string();
    }
    (2..1000)
        .map(|n| format!("{rel}-{n}"))
        .find(|r| base.join(r).symlink_metadata().is_err())
        .unwrap_or_else(|| format!("{rel}-{}", std::process::id()))
}

fn summary(a: &OnlineAnswers, dir: String, index_sha256: String) -> OnlineSummary {
    OnlineSummary {
        evidence_dir: dir,
        index_sha256,
        resolver: a.ptr.values().next().map(|p| p.server.clone()),
        rdap_bootstrap: a.bootstrap.clone(),
        ptr_queries: a.ptr.len(),
        rdap_queries: a.rdap.values().filter(|r| r.covered_by.is_none()).count(),
        failures: a.failures(),
    }
}
