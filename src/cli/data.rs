//! `whohosts data update|info`: the attribution data on this machine.

use crate::cli::lookup::SourceArgs;
use std::io::IsTerminal;
use std::io::Write;
use std::path::PathBuf;
use whohosts::attribute::datadir::{update_from_with, UpdateAction, UpdateOptions};
use whohosts::attribute::download::{download, DownloadOptions, Progress, SOURCES};
use whohosts::attribute::SourceKind;
use whohosts::report::escape;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Download the providers' official feeds into the data directory (the network is
    /// used here and with `--online` only), or import them from a local directory
    /// with --from (no network), recognising each file by its content.
    Update {
        /// Import from this directory instead of downloading (files recognised by
        /// content, whatever their names; `asn-derived/` one level down).
        #[arg(long = "from", value_name = "DIR")]
        from: Option<PathBuf>,
        /// Download every feed from this mirror, which serves each under its stored
        /// name (BASE/aws.aws-ip-ranges.json, ...).
        #[arg(long, value_name = "BASE", conflicts_with = "from")]
        mirror: Option<String>,
        /// Download one feed from this URL instead: ID=URL, ID one of aws, gcp, azure,
        /// oracle, digitalocean, linode, vultr, cloudflare-v4, cloudflare-v6, fastly,
        /// github (repeatable).
        #[arg(long = "url", value_name = "ID=URL", conflicts_with = "from")]
        urls: Vec<String>,
        /// Download only this feed (repeatable).
        #[arg(long = "only", value_name = "ID", conflicts_with = "from")]
        only: Vec<String>,
        /// Seconds allowed per download, connection to last byte.
        #[arg(long, value_name = "SECS", default_value_t = 60)]
        timeout: u64,
        /// Install a feed even when it is older than the installed copy, has its
        /// version with other content, or holds less than half its prefixes (to go
        /// back to an archived publication). Broader-than-plausible prefixes and feeds
        /// the ASN data contradicts are refused all the same.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        sources: SourceArgs,
    },
    /// List the databases, feeds and directory in use, with versions and hashes.
    Info {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Reference date for the age of the data (YYYY-MM-DD) [default: today, by
        /// the clock]: data more than 90 days older is marked stale.
        #[arg(long, value_name = "DATE")]
        at: Option<String>,
        #[command(flatten)]
        sources: SourceArgs,
    },
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.command {
        Command::Update {
            from: None,
            mirror,
            urls,
            only,
            timeout,
            force,
            sources,
        } => {
            let a = sources.load()?;
            let data_dir = a.data_dir().to_path_buf();
            let mut opts = DownloadOptions {
                mirror,
                only,
                timeout: std::time::Duration::from_secs(timeout.max(1)),
                update: UpdateOptions { force },
                ..DownloadOptions::default()
            };
            for u in &urls {
                match u.split_once('=') {
                    Some((id, url)) if SOURCES.iter().any(|s| s.id == id) && !url.is_empty() => {
                        opts.urls.insert(id.to_string(), url.to_string());
                    }
                    _ => anyhow::bail!(
                        "--url: expected ID=URL with ID one of {}, found {u:?}",
                        SOURCES.iter().map(|s| s.id).collect::<Vec<_>>().join(", ")
                    ),
                }
            }
            for id in &opts.only {
                if !SOURCES.iter().any(|s| s.id == id) {
                    anyhow::bail!("--only: unknown feed {id:?}");
                }
            }
            let tty = std::io::stderr().is_terminal();
            let mut current = String::new();
            let outcomes = download(&a, &data_dir, &opts, &mut |p| match p {
                Progress::Start { id, url } => {
                    current = id.to_string();
                    if tty {
                        eprint!("\r\x1b[2K{id}: {}", escape::terminal(url));
                    }
                }
                Progress::Bytes { received, total } => {
                    if tty {
                        match total {
                            Some(t) if t > 0 => eprint!(
                                "\r\x1b[2K{current}: {} of {} KiB ({}%)",
                                received / 1024,
                                t / 1024,
                                received * 100 / t
                            ),
                            _ => eprint!("\r\x1b[2K{current}: {} KiB", received / 1024),
                        }
                    }
                }
                Progress::Done { .. } => {
                    if tty {
                        eprint!("\r\x1b[2K");
                    }
                }
            })?;
            let mut failed = 0;
            for o in &outcomes {
                let r = &o.record;
                if o.action == UpdateAction::Skipped {
                    failed += 1;
                }
                writeln!(
                    out,
                    "{}: {} ({}, HTTP {}{}): {}",
                    o.id,
                    r.outcome,
                    escape::terminal(if r.final_url.is_empty() {
                        &r.url
                    } else {
                        &r.final_url
                    }),
                    r.status,
                    r.sha256
                        .as_deref()
                        .map(|h| format!(", sha256 {h}"))
                        .unwrap_or_default(),
                    escape::terminal(&r.detail)
                )?;
            }
            writeln!(out, "data directory: {}", data_dir.display())?;
            writeln!(
                out,
                "compiled index: {}",
                whohosts::attribute::datadir::compile_stored(&data_dir)
            )?;
            Ok(if failed > 0 {
                crate::cli::exit::ANOMALIES
            } else {
                crate::cli::exit::OK
            })
        }
        Command::Update {
            from: Some(from),
            force,
            sources,
            ..
        } => {
            let a = sources.load()?;
            let data_dir = a.data_dir().to_path_buf();
            let outcomes = update_from_with(&a, &data_dir, &from, UpdateOptions { force })?;
            let mut skipped = 0;
            for o in &outcomes {
                let action = match o.action {
                    UpdateAction::Installed => "installed",
                    UpdateAction::Replaced => "replaced (previous kept as .prev)",
                    UpdateAction::Unchanged => "unchanged",
                    UpdateAction::Skipped => {
                        skipped += 1;
                        "skipped"
                    }
                };
                match &o.stored {
                    Some(s) => writeln!(out, "{}: {action} as {s}: {}", o.file, o.detail)?,
                    None => writeln!(out, "{}: {action}: {}", o.file, o.detail)?,
                }
            }
            writeln!(out, "data directory: {}", data_dir.display())?;
            writeln!(
                out,
                "compiled index: {}",
                whohosts::attribute::datadir::compile_stored(&data_dir)
            )?;
            Ok(if skipped > 0 {
                crate::cli::exit::ANOMALIES
            } else {
                crate::cli::exit::OK
            })
        }
        Command::Info { json, at, sources } => {
            let (day, day_label) = crate::cli::lookup::reference_day(at.as_deref())?;
            let a = sources.load()?;
            let list = a.sources();
            if json {
                serde_json::to_writer_pretty(&mut out, &list)?;
                writeln!(out)?;
                return Ok(crate::cli::exit::OK);
            }
            writeln!(out, "data directory: {}", a.data_dir().display())?;
            writeln!(out, "bundled data: {}", a.bundle().unwrap_or("not loaded"))?;
            for (kind, title) in [
                (SourceKind::Mmdb, "databases (consulted in this order)"),
                (SourceKind::Feed, "feeds"),
                (SourceKind::Directory, "provider directory"),
            ] {
                writeln!(out, "{title}:")?;
                let mut any = false;
                for s in list.iter().filter(|s| s.kind == kind) {
                    any = true;
                    writeln!(
                        out,
                        "  {}  {}{}{}  {}  {}  sha256:{}",
                        s.name,
                        s.type_,
                        s.provider
                            .as_deref()
                            .map(|p| format!(" [{p}]"))
                            .unwrap_or_default(),
                        match (&s.snapshot, s.bundled, s.official) {
                            (Some(snap), _, _) => format!(" ({snap})"),
                            (None, true, _) => " (bundled)".to_string(),
                            (_, _, Some(false)) => " (not official)".to_string(),
                            _ => String::new(),
                        },
                        s.version.as_deref().unwrap_or("-"),
                        s.records,
                        if s.sha256.is_empty() { "-" } else { &s.sha256 }
                    )?;
                    if s.kind == SourceKind::Feed {
                        writeln!(
                            out,
                            "    data of {}{}",
                            s.date.as_deref().unwrap_or("an unknown date"),
                            s.url
                                .as_deref()
                                .map(|u| format!("; published at {u}"))
                                .unwrap_or_default()
                        )?;
                    }
                    if let Some(att) = &s.attribution {
                        writeln!(out, "    {} — {att}", s.licence.as_deref().unwrap_or("-"))?;
                    }
                    if let Some(p) = &s.problem {
                        writeln!(out, "    PROBLEM: {}", escape::terminal(p))?;
                    }
                    let max = whohosts::attribute::LOOKUP_AGE_WARN_DAYS;
                    if let Some(data) = s.date.as_deref().and_then(whohosts::attribute::data_day) {
                        if s.kind != SourceKind::Directory && day - data > max {
                            writeln!(
                                out,
                                "    STALE: data of {} is {} days older than {day_label} (more than {max}); run `whohosts data update`",
                                s.date.as_deref().unwrap_or("?"),
                                day - data
                            )?;
                        }
                    }
                }
                if !any {
                    writeln!(out, "  (none)")?;
                }
            }
            for n in a.notes() {
                writeln!(out, "note: {n}")?;
            }
            for w in a.warnings() {
                writeln!(out, "warning: {w}")?;
            }
            Ok(crate::cli::exit::OK)
        }
    }
}
