//! `whohosts case`: create a case directory, add files, seal, import a time-stamp
//! reply, write the notary sheet.

use super::exit;
use anyhow::Context;
use std::path::PathBuf;
use whohosts::evidence::case::{self, NewCase, Session};
use whohosts::hash::Algorithms;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Create a new case directory (refused if DIR exists and is not empty).
    New(NewArgs),
    /// Copy files into the case, check each copy's hash against its source, record both.
    Add(AddArgs),
    /// Write a new manifest version, its RFC 3161 request and the notary sheet.
    Seal(SealArgs),
    /// Write a new notary sheet for the newest seal.
    Sheet(SheetArgs),
    /// Time-stamp replies obtained separately.
    #[command(subcommand)]
    Timestamp(TimestampCommand),
    /// Write the case as a BagIt bag (RFC 8493) with VERIFY.md and verify.sh, which
    /// check every hash, the custody chain and the time-stamps with openssl, sha256sum
    /// and python3 alone. OUT must not exist.
    Export {
        /// The case directory (it must verify; nothing in it is written).
        dir: PathBuf,
        /// Where the bag goes: a new directory.
        out: PathBuf,
    },
}

#[derive(clap::Args)]
pub(crate) struct NewArgs {
    pub dir: PathBuf,
    #[arg(long)]
    pub id: String,
    #[arg(long)]
    pub title: String,
    #[arg(long)]
    pub rights_holder: String,
    #[arg(long)]
    pub operator: String,
    #[arg(long)]
    pub notary: Option<String>,
    /// Notarial certificate number.
    #[arg(long)]
    pub notary_cert: Option<String>,
    /// Fixed UTC offset of the case's local time, e.g. +08:00.
    #[arg(long, default_value = "+00:00", allow_hyphen_values = true)]
    pub tz: String,
}

#[derive(clap::Args)]
pub(crate) struct SheetArgs {
    pub dir: PathBuf,
    /// Who acts (default: the operator named in case.json).
    #[arg(long)]
    pub actor: Option<String>,
    /// The sheet's language: zh-CN+en (Chinese first, then English), zh-CN or en.
    #[arg(long, default_value = "zh-CN+en", value_parser = parse_lang)]
    pub lang: whohosts::evidence::sheet::Lang,
}

fn parse_lang(s: &str) -> Result<whohosts::evidence::sheet::Lang, String> {
    whohosts::evidence::sheet::Lang::parse(s)
        .ok_or_else(|| format!("{s:?}: expected zh-CN+en, zh-CN or en"))
}

#[derive(clap::Args)]
pub(crate) struct AddArgs {
    /// The case directory.
    pub dir: PathBuf,
    /// Files to copy in (each copy re-hashed against its source).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Sub-directory: captures, reports, letters, attachments, certificates,
    /// recordings or receipts (default: captures, or the folder of --kind).
    #[arg(long)]
    pub to: Option<String>,
    /// What the files are: capture, report, letter, attachment (documents the letters
    /// attach: licence, ID, proof of rights), certificate (scanned notarial
    /// certificate), recording (screen recording of the client), receipt (proof of
    /// delivery), or trusted-tsa (a PEM bundle of TSA certificates or CAs this case
    /// trusts, stored as trusted-tsa.pem).
    #[arg(long, value_name = "KIND", conflicts_with = "to")]
    pub kind: Option<String>,
    #[arg(long)]
    pub actor: Option<String>,
}

#[derive(clap::Args)]
pub(crate) struct SealArgs {
    pub dir: PathBuf,
    /// Send the time-stamp request to this RFC 3161 TSA (HTTP POST) and store the reply.
    #[arg(long, value_name = "URL")]
    pub tsa: Option<String>,
    /// Also record SHA-512 of every file in the manifest.
    #[arg(long)]
    pub sha512: bool,
    /// Also record MD5 of every file (legacy only; never the sole digest).
    #[arg(long)]
    pub md5: bool,
    /// The notary sheet's language: zh-CN+en (Chinese first, then English), zh-CN or en.
    #[arg(long, default_value = "zh-CN+en", value_parser = parse_lang)]
    pub lang: whohosts::evidence::sheet::Lang,
    #[arg(long)]
    pub actor: Option<String>,
}

#[derive(clap::Subcommand)]
pub(crate) enum TimestampCommand {
    /// Record a reply (.tsr) for the newest seal, or for --version N.
    Import {
        dir: PathBuf,
        reply: PathBuf,
        #[arg(long)]
        version: Option<u32>,
        #[arg(long)]
        actor: Option<String>,
    },
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    match args.command {
        Command::New(a) => {
            let dir = a.dir.clone();
            let _created = case::create(
                &a.dir,
                NewCase {
                    id: a.id,
                    title: a.title,
                    rights_holder: a.rights_holder,
                    operator: a.operator,
                    notary: a.notary,
                    notary_certificate: a.notary_cert,
                    time_zone: a.tz,
                },
            )
            .with_context(|| format!("creating case {}", dir.display()))?;
            println!("created case {}", dir.display());
        }
        Command::Add(a) => {
            let folder = match (&a.kind, &a.to) {
                (Some(k), _) => case::folder_of_kind(k)
                    .ok_or_else(|| anyhow::anyhow!(
                        "--kind {k:?}: expected capture, report, letter, attachment, certificate, recording, receipt or trusted-tsa"
                    ))?
                    .to_string(),
                (None, Some(t)) => t.clone(),
                (None, None) => "captures".to_string(),
            };
            let mut s = open(&a.dir, a.actor)?;
            for r in case::add(&mut s, &a.files, &folder)
                .with_context(|| format!("adding to case {}", a.dir.display()))?
            {
                println!(
                    "{}  {} bytes  sha256 {}  sm3 {}  (copy matches source)",
                    whohosts::report::escape::terminal(&r.path),
                    r.size,
                    r.sha256,
                    r.sm3.as_deref().unwrap_or("-")
                );
            }
        }
        Command::Seal(a) => {
            let mut s = open(&a.dir, a.actor)?;
            s.sheet_lang = a.lang;
            let extra = Algorithms {
                sha512: a.sha512,
                md5: a.md5,
                ..Algorithms::default()
            };
            let sealed = case::seal(&mut s, a.tsa.as_deref(), extra)
                .with_context(|| format!("sealing case {}", a.dir.display()))?;
            println!(
                "sealed v{}: {} sha256 {}\ntime-stamp request: {}",
                sealed.version, sealed.manifest, sealed.manifest_sha256, sealed.request
            );
            println!(
                "seal statement: {} (binds the manifest and custody.jsonl up to line {})\ncustody head: {} (write it into the notarial certificate; check later with `whohosts verify CASE --anchor {}`)",
                sealed.statement, sealed.custody_head.seq, sealed.custody_head.sha256, sealed.custody_head.sha256
            );
            for p in &sealed.sheets {
                println!("notary sheet: {p}");
            }
            for t in &sealed.time_order {
                eprintln!(
                    "whohosts: warning: times out of order (verify will fail): {}",
                    whohosts::report::escape::terminal(t)
                );
            }
            match sealed.timestamp {
                None => {}
                Some(Ok((path, info))) => println!(
                    "time-stamp reply: {path} genTime {} serial {}",
                    info.gen_time, info.serial
                ),
                Some(Err(e)) => {
                    eprintln!(
                        "whohosts: error: sealed, but the time-stamp failed: {e:#}; the request \
                         stays in the case, import a reply later with `case timestamp import`"
                    );
                    return Ok(exit::ERROR);
                }
            }
        }
        Command::Export { dir, out } => {
            let e = whohosts::evidence::export::export(&dir, &out)
                .with_context(|| format!("exporting case {}", dir.display()))?;
            println!(
                "bag {}: {} files, {} bytes\nbag sha256 (of tagmanifest-sha256.txt): {}\ncheck it: sh {}/verify.sh [--tsa-ca TSA-CA.pem]",
                out.display(),
                e.files,
                e.bytes,
                e.bag_sha256,
                out.display()
            );
            if let Some(t) = e.verify.unanchored_text() {
                eprintln!("whohosts: note: {t}");
            }
        }
        Command::Sheet(a) => {
            let mut s = open(&a.dir, a.actor)?;
            s.sheet_lang = a.lang;
            for p in case::sheet(&mut s).context("writing the notary sheet")? {
                println!("notary sheet: {p}");
            }
        }
        Command::Timestamp(TimestampCommand::Import {
            dir,
            reply,
            version,
            actor,
        }) => {
            let mut s = open(&dir, actor)?;
            let (path, info) = case::import_timestamp(&mut s, &reply, version)
                .with_context(|| format!("importing {}", reply.display()))?;
            println!(
                "time-stamp reply: {path} genTime {} serial {}",
                info.gen_time, info.serial
            );
        }
    }
    Ok(exit::OK)
}

fn open(dir: &std::path::Path, actor: Option<String>) -> anyhow::Result<Session> {
    open_reporting(dir, actor)
}

/// Opens a case for a command that writes to it, first recording and sealing any
/// capture whose process died, and saying so.
pub(crate) fn open_reporting(
    dir: &std::path::Path,
    actor: Option<String>,
) -> anyhow::Result<Session> {
    let (s, recovered, sealed) = whohosts::evidence::live::open(dir, actor)
        .with_context(|| format!("opening case {}", dir.display()))?;
    for r in &recovered {
        eprintln!(
            "whohosts: recorded an interrupted capture: {}: {} packets in {} complete blocks; {} of {} bytes after the last complete block; sha256 {}",
            whohosts::report::escape::terminal(&r.file),
            r.packets,
            r.complete_blocks,
            r.size.saturating_sub(r.complete_bytes),
            r.size,
            r.sha256
        );
    }
    if let Some(sealed) = sealed {
        eprintln!(
            "whohosts: sealed v{} after recording the interruption: {} sha256 {}",
            sealed.version, sealed.manifest, sealed.manifest_sha256
        );
    }
    Ok(s)
}
