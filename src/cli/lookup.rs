//! `whohosts lookup IP...`: offline attribution of single addresses.

use anyhow::Context;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use whohosts::attribute::{AttributeOptions, Attribution, Attributor};

/// Where attribution data comes from; shared by every subcommand that attributes.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct SourceArgs {
    /// Data directory with imported feeds [default: WHOHOSTS_DATA_DIR, then the
    /// platform's user data directory].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Extra MaxMind-format database (GeoLite2, DB-IP lite, IPinfo lite,
    /// ip-location-db); repeatable; consulted before the bundled ones. More can be
    /// listed in `<data-dir>/mmdb.conf`, one path a line.
    #[arg(long, value_name = "PATH")]
    pub mmdb: Vec<PathBuf>,
    /// Directory of the bundled data set (databases and feed snapshot) [default:
    /// WHOHOSTS_BUNDLED_DIR, then the copy in this binary, then
    /// /usr/local/share/whohosts and /usr/share/whohosts].
    #[arg(long, value_name = "DIR")]
    pub bundled_dir: Option<PathBuf>,
    /// Leave out the bundled feed snapshot: only feeds of the data directory are used
    /// (an archived data set of the capture's time, for instance).
    #[arg(long)]
    pub no_bundled_feeds: bool,
    /// Provider directory file to use instead of the bundled `data/providers.toml`.
    #[arg(long, value_name = "PATH")]
    pub providers: Option<PathBuf>,
}

impl SourceArgs {
    /// Options for [`Attributor::load`], with the databases of `mmdb.conf` appended.
    pub fn options(&self) -> anyhow::Result<AttributeOptions> {
        let data_dir = whohosts::attribute::datadir::resolve_data_dir(self.data_dir.as_deref())?;
        let mut mmdb = self.mmdb.clone();
        mmdb.extend(read_mmdb_conf(&data_dir.join("mmdb.conf"))?);
        Ok(AttributeOptions {
            data_dir: Some(data_dir),
            bundled_dir: self.bundled_dir.clone(),
            embedded: crate::cli::embedded::FILES,
            no_bundled_feeds: self.no_bundled_feeds,
            mmdb,
            no_bundled: false,
            directory: self.providers.clone(),
        })
    }

    pub fn load(&self) -> anyhow::Result<Attributor> {
        let opts = self.options()?;
        let a = Attributor::load(&opts).context("loading attribution data")?;
        for w in a.warnings() {
            eprintln!("whohosts: warning: {w}");
        }
        Ok(a)
    }
}

/// `mmdb.conf`: one database path a line, `#` comments; relative paths are relative
/// to the file's directory. A missing file lists nothing.
fn read_mmdb_conf(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let base = path.parent().unwrap_or(Path::new("."));
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| base.join(l))
        .collect())
}

#[derive(clap::Args)]
pub struct Args {
    /// Addresses to attribute.
    #[arg(required = true)]
    pub ips: Vec<IpAddr>,
    /// Print JSON: a list with one object per address.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub sources: SourceArgs,
    #[command(flatten)]
    pub online: crate::cli::online::OnlineArgs,
}

#[derive(serde::Serialize)]
struct Row<'a> {
    ip: IpAddr,
    #[serde(flatten)]
    attribution: &'a Attribution,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let attributor = args.sources.load()?;
    let online = args.online.run(&args.ips, attributor.data_dir(), None)?;
    let answers = online.as_ref().map(|(a, _)| a);
    let results: Vec<(IpAddr, Attribution)> = args
        .ips
        .iter()
        .map(|ip| {
            (
                *ip,
                attributor.attribute_online(*ip, &mut Vec::new(), answers),
            )
        })
        .collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        let rows: Vec<Row<'_>> = results
            .iter()
            .map(|(ip, a)| Row {
                ip: *ip,
                attribution: a,
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
    } else {
        write_table(&mut out, &results)?;
        writeln!(out)?;
        writeln!(out, "sources:")?;
        for s in attributor.sources() {
            writeln!(
                out,
                "  {} {} ({}{}) {} [data of {}] sha256:{}",
                match s.kind {
                    whohosts::attribute::SourceKind::Mmdb => "mmdb",
                    whohosts::attribute::SourceKind::Feed => "feed",
                    whohosts::attribute::SourceKind::Directory => "directory",
                },
                s.name,
                s.type_,
                s.snapshot
                    .as_deref()
                    .map(|x| format!(", {x}"))
                    .unwrap_or_default(),
                s.version.as_deref().unwrap_or("-"),
                s.date.as_deref().unwrap_or("unknown date"),
                if s.sha256.is_empty() { "-" } else { &s.sha256 }
            )?;
        }
        writeln!(out, "{}", whohosts::attribute::BUNDLED_ATTRIBUTION)?;
    }
    out.flush()?;
    Ok(crate::cli::exit::OK)
}

fn conf(c: Option<whohosts::model::Confidence>) -> &'static str {
    match c {
        Some(whohosts::model::Confidence::Strong) => "strong",
        Some(whohosts::model::Confidence::Medium) => "medium",
        Some(whohosts::model::Confidence::Weak) => "weak",
        None => "-",
    }
}

fn write_table(out: &mut impl Write, rows: &[(IpAddr, Attribution)]) -> std::io::Result<()> {
    let mut lines = vec![[
        "ADDRESS".to_string(),
        "ASN".to_string(),
        "CC".to_string(),
        "PROVIDER".to_string(),
        "REGION".to_string(),
    ]];
    for (ip, a) in rows {
        let asn = match a.asn.number {
            Some(n) => format!(
                "AS{n} {}",
                sanitize(a.asn.organization.as_deref().unwrap_or(""))
            ),
            None => "unknown".to_string(),
        };
        let provider = match &a.provider.id {
            Some(id) => format!(
                "{id} ({}, {})",
                conf(a.provider.confidence),
                a.provider
                    .source
                    .as_ref()
                    .map(|s| s.source.as_str())
                    .unwrap_or("-")
            ),
            None => "unknown".to_string(),
        };
        let region = match (&a.region.id, &a.region.city) {
            (None, None) => "unknown".to_string(),
            (id, city) => format!(
                "{}{} ({})",
                id.as_deref().unwrap_or("?"),
                city.as_deref()
                    .map(|c| format!(" [{}]", sanitize(c)))
                    .unwrap_or_default(),
                conf(a.region.confidence)
            ),
        };
        lines.push([
            ip.to_string(),
            asn,
            a.country.code.clone().unwrap_or_else(|| "-".to_string()),
            provider,
            region,
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for l in &lines {
        let mut s = String::new();
        for (i, cell) in l.iter().enumerate() {
            if i + 1 == l.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        writeln!(out, "{}", s.trim_end())?;
    }
    for (ip, a) in rows {
        for (what, reason) in [
            ("provider", &a.provider.reason),
            ("region", &a.region.reason),
        ] {
            if let Some(r) = reason {
                writeln!(out, "  {ip} {what} unknown: {}", sanitize(r))?;
            }
        }
        if let Some(c) = &a.provider.conflict {
            writeln!(out, "  {ip} provider: {}", sanitize(c))?;
        }
        if let Some(p) = &a.ptr {
            writeln!(
                out,
                "  {ip} ptr: {}",
                sanitize(&if p.names.is_empty() {
                    p.error.clone().unwrap_or_else(|| "none".into())
                } else {
                    p.names.join(", ")
                })
            )?;
        }
        if let Some(r) = &a.rdap {
            writeln!(
                out,
                "  {ip} rdap: {} {} {} ({}){}",
                sanitize(r.handle.as_deref().unwrap_or("-")),
                sanitize(r.name.as_deref().unwrap_or("-")),
                sanitize(r.range.as_deref().unwrap_or("-")),
                sanitize(&r.server),
                r.error
                    .as_deref()
                    .map(|e| format!(": {}", sanitize(e)))
                    .unwrap_or_default()
            )?;
        }
        for c in &a.abuse_contacts {
            writeln!(
                out,
                "  {ip} abuse contact {}: {}",
                c.rank,
                sanitize(&whohosts::attribute::online::describe_contact(c))
            )?;
        }
    }
    Ok(())
}

/// Organisation and city names come from third-party data: keep control characters
/// off the terminal.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}
