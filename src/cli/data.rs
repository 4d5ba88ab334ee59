//! `whohosts data update|info`: the attribution data on this machine.

use crate::cli::lookup::SourceArgs;
use std::io::Write;
use std::path::PathBuf;
use whohosts::attribute::datadir::{update_from_with, UpdateAction, UpdateOptions};
use whohosts::attribute::SourceKind;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Import provider feeds from a local directory (no network), recognising each
    /// file by its content.
    Update {
        /// Directory holding the downloaded feed files (and `asn-derived/`).
        #[arg(long = "from", value_name = "DIR")]
        from: PathBuf,
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
        #[command(flatten)]
        sources: SourceArgs,
    },
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.command {
        Command::Update {
            from,
            force,
            sources,
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
            Ok(if skipped > 0 {
                crate::cli::exit::ANOMALIES
            } else {
                crate::cli::exit::OK
            })
        }
        Command::Info { json, sources } => {
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
