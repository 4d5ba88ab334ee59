//! `whohosts letter`: draft notices to providers (`letter --report ... --claimant ...
//! --out DIR`, also spelt `letter draft`), write a claimant template (`letter init`),
//! check letters for their required elements (`letter lint`), and file what was sent
//! and what came back in a case (`letter sent`, `letter reply`, `letter status`).

use super::{exit, write_output};
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use whohosts::attribute::directory::Directory;
use whohosts::evidence::notices;
use whohosts::letter::{self, input, Addressee, Claimant, DraftOptions, Frame};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub command: Option<Sub>,
    #[command(flatten)]
    pub draft: Box<DraftArgs>,
}

#[derive(clap::Subcommand)]
pub(crate) enum Sub {
    /// Draft the letters (the same as `letter` with these options).
    Draft(Box<DraftArgs>),
    /// Write a commented claimant profile template to fill in.
    Init(InitArgs),
    /// Check letters (drafted here or edited by hand) for every required element.
    Lint(LintArgs),
    /// File a letter as sent in a case: the exact letter, the channel, the time and the
    /// proof of delivery go into the case and its custody log.
    Sent(SentArgs),
    /// File a provider's answer in a case.
    Reply(ReplyArgs),
    /// For each provider of a case: what was sent when, what came back, and how many
    /// days have passed without an answer.
    Status(StatusArgs),
}

#[derive(clap::Args)]
pub(crate) struct SentArgs {
    /// The case directory.
    #[arg(value_name = "CASE")]
    pub case: PathBuf,
    /// The letter exactly as sent (the .txt pasted into a form, the .md or .html).
    #[arg(value_name = "LETTER")]
    pub letter: PathBuf,
    /// The channel it went through (the form's URL, the address mailed).
    #[arg(long, value_name = "CHANNEL")]
    pub channel: String,
    /// Proof of delivery: a screenshot, the confirmation mail, a courier receipt
    /// (repeatable); copied into the case's receipts/.
    #[arg(long = "receipt", value_name = "FILE")]
    pub receipts: Vec<PathBuf>,
    /// The provider's ticket or case number.
    #[arg(long, value_name = "ID")]
    pub ticket: Option<String>,
    /// When it was sent, RFC 3339 (default: now).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// The provider id, when the letter's file name (PROVIDER.FRAME.txt) and content
    /// do not say it.
    #[arg(long, value_name = "ID")]
    pub provider: Option<String>,
    /// Who acts (default: the operator named in case.json).
    #[arg(long)]
    pub actor: Option<String>,
}

#[derive(clap::Args)]
pub(crate) struct ReplyArgs {
    #[arg(value_name = "CASE")]
    pub case: PathBuf,
    /// The provider id the letter went to (as in the letter's file name).
    #[arg(value_name = "PROVIDER")]
    pub provider: String,
    /// The answer (a saved mail, a screenshot, a PDF).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// When it was received, RFC 3339 (default: now).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// What the answer says, in a few words.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    #[arg(long)]
    pub actor: Option<String>,
}

#[derive(clap::Args)]
pub(crate) struct StatusArgs {
    #[arg(value_name = "CASE")]
    pub case: PathBuf,
    /// Count days up to this time, RFC 3339 (default: now).
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Write JSON to standard output instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Default)]
pub(crate) struct DraftArgs {
    /// The JSON report of `whohosts analyze --json`.
    #[arg(long, value_name = "REPORT.json")]
    pub report: Option<PathBuf>,
    /// The claimant profile (see `whohosts letter init`).
    #[arg(long, value_name = "CLAIMANT.toml")]
    pub claimant: Option<PathBuf>,
    /// A case directory: notarial certificate, SM3 and attachments from its newest manifest.
    #[arg(long, value_name = "DIR")]
    pub case: Option<PathBuf>,
    /// A match result of `whohosts match`: CN-7's comparison with the originals, with
    /// the hashes of both sides [default with --case: the case's newest one in
    /// exhibits/].
    #[arg(long, value_name = "FILE")]
    pub matches: Option<PathBuf>,
    /// Where the letters go (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The date the letters bear (default: today, UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<String>,
    /// Frame for all letters (cn, dmca, dsa), or for one provider as PROVIDER=FRAME
    /// (repeatable). Default: from the provider's jurisdiction.
    #[arg(long = "frame", value_name = "FRAME|PROVIDER=FRAME")]
    pub frames: Vec<String>,
    /// Language of the letters when no frame is given: zh-CN, en, zh-CN+en (Chinese
    /// letters followed by an English version, for international entities) or en+zh-CN
    /// (frames by recipient, English letters followed by a Chinese version).
    #[arg(long, value_name = "LANG")]
    pub lang: Option<String>,
    /// Send a provider's letter to this address or URL instead of the directory's
    /// channel: PROVIDER=TARGET (repeatable); the letter labels it as given by the user.
    #[arg(long = "to", value_name = "PROVIDER=TARGET")]
    pub to: Vec<String>,
    /// Notarial certificate number (overrides the case's).
    #[arg(long, value_name = "NUMBER")]
    pub notary_cert: Option<String>,
    /// The notary who supervised the capture (overrides the case's). Letters say the
    /// capture was notarised only when a notary and a certificate number are known.
    #[arg(long, value_name = "NAME")]
    pub notary: Option<String>,
    /// SM3 of a capture, CAPTURE=HEX, CAPTURE being its path in the report or its file
    /// name (repeatable; overrides the case manifest).
    #[arg(long = "sm3", value_name = "CAPTURE=HEX")]
    pub sm3: Vec<String>,
    /// A directory of templates replacing the bundled ones of the same names
    /// (cn.md.j2, cn.html.j2, dmca.md.j2, ...).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// A provider directory file instead of the bundled data/providers.toml.
    #[arg(long, value_name = "PATH")]
    pub directory: Option<PathBuf>,
    /// Only this provider's letter (repeatable).
    #[arg(long = "provider", value_name = "ID")]
    pub providers: Vec<String>,
    /// Overwrite letters already in the output directory.
    #[arg(long)]
    pub force: bool,
    /// Exit 0 even when a letter lacks required elements (it is still marked DRAFT).
    #[arg(long)]
    pub allow_incomplete: bool,
}

#[derive(clap::Args)]
pub(crate) struct InitArgs {
    /// Where to write the template (`-` for standard output).
    #[arg(default_value = "claimant.toml", value_name = "PATH")]
    pub path: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

#[derive(clap::Args)]
pub(crate) struct LintArgs {
    /// Letters in Markdown or HTML, or claimant profiles (`.toml`: every field still
    /// to fill in is named).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Check against this frame instead of the one the letter names.
    #[arg(long, value_name = "FRAME")]
    pub frame: Option<Frame>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    match args.command {
        Some(Sub::Draft(d)) => draft(*d),
        Some(Sub::Init(i)) => init(i),
        Some(Sub::Lint(l)) => lint(l),
        Some(Sub::Sent(a)) => sent(a),
        Some(Sub::Reply(a)) => reply(a),
        Some(Sub::Status(a)) => status(a),
        None => draft(*args.draft),
    }
}

fn init(args: InitArgs) -> anyhow::Result<u8> {
    if args.path.as_os_str() != "-" && args.path.exists() && !args.force {
        bail!(
            "{} exists; use --force to overwrite it",
            args.path.display()
        );
    }
    write_output(&args.path, letter::claimant::TEMPLATE.as_bytes())
        .with_context(|| format!("writing {}", args.path.display()))?;
    if args.path.as_os_str() != "-" {
        eprintln!(
            "whohosts: wrote {}; fill in every field, then run `whohosts letter --report REPORT.json --claimant {} --out DIR`",
            args.path.display(),
            args.path.display()
        );
    }
    Ok(exit::OK)
}

fn lint(args: LintArgs) -> anyhow::Result<u8> {
    let mut code = exit::OK;
    for path in &args.files {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let name = whohosts::report::escape::terminal(&path.display().to_string());
        if path.extension().is_some_and(|e| e == "toml") {
            let unfilled = letter::claimant::unfilled(&text, &path.display().to_string())?;
            if unfilled.is_empty() {
                println!("{name}: claimant profile, every field filled in");
            } else {
                println!("{name}: claimant profile, fields to fill in:");
                for u in &unfilled {
                    println!("  {}", whohosts::report::escape::terminal(u));
                }
                code = exit::CHECK_FAILED;
            }
            continue;
        }
        let r = letter::lint(&text, args.frame);
        match r.frame {
            None => {
                println!("{name}: no frame: neither a whohosts:letter marker nor element markers; use --frame");
                code = exit::CHECK_FAILED;
            }
            Some(f) if r.missing.is_empty() => {
                println!("{name}: complete ({f}: {})", r.present.join(", "));
            }
            Some(f) => {
                println!("{name}: incomplete ({f}), missing:");
                for m in &r.missing {
                    println!("  {} {}: {}", m.id, m.name, m.why);
                }
                code = exit::CHECK_FAILED;
            }
        }
    }
    Ok(code)
}

fn split_pair<'a>(text: &'a str, what: &str) -> anyhow::Result<(&'a str, &'a str)> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k, v)),
        _ => bail!("{what}: expected KEY=VALUE, found {text:?}"),
    }
}

fn parse_date(text: &str) -> anyhow::Result<time::Date> {
    whohosts::times::parse_date(text)
        .ok_or_else(|| anyhow::anyhow!("--date: expected a date YYYY-MM-DD, found {text:?}"))
}

fn draft(args: DraftArgs) -> anyhow::Result<u8> {
    let (Some(report_path), Some(claimant_path), Some(out)) =
        (&args.report, &args.claimant, &args.out)
    else {
        bail!("letter: --report, --claimant and --out are required (or use `letter init` / `letter lint`)");
    };
    let mut opts = DraftOptions {
        language: args.lang.clone(),
        notary_certificate: args.notary_cert.clone(),
        notary: args.notary.clone(),
        templates: args.templates.clone(),
        providers: args.providers.clone(),
        ..DraftOptions::default()
    };
    let matches = args.matches.clone().or_else(|| {
        let dir = args.case.as_ref()?.join("exhibits");
        let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".matches"))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        found.sort();
        found.pop().map(|f| f.1)
    });
    if let Some(m) = matches {
        let bytes = std::fs::read(&m)
            .with_context(|| format!("reading the match result {}", m.display()))?;
        let name = m
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        opts.comparison = Some(
            whohosts::letter::Comparison::from_match_result(&bytes, &name)
                .map_err(anyhow::Error::msg)?,
        );
    }
    opts.date = Some(match &args.date {
        Some(d) => parse_date(d)?,
        None => time::OffsetDateTime::now_utc().date(),
    });
    for f in &args.frames {
        match f.split_once('=') {
            Some(_) => {
                let (p, fr) = split_pair(f, "--frame")?;
                let frame = fr.parse::<Frame>().map_err(anyhow::Error::msg)?;
                opts.frame_for.insert(p.to_string(), frame);
            }
            None => opts.frame = Some(f.parse::<Frame>().map_err(anyhow::Error::msg)?),
        }
    }
    for t in &args.to {
        let (p, target) = split_pair(t, "--to")?;
        opts.addressee_for
            .insert(p.to_string(), Addressee::from_user(target));
    }
    let mut sm3 = BTreeMap::new();
    for s in &args.sm3 {
        let (c, hex) = split_pair(s, "--sm3")?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("--sm3 {c}: expected 64 hexadecimal digits, found {hex:?}");
        }
        sm3.insert(c.to_string(), hex.to_string());
    }
    opts.sm3 = sm3;

    let report = input::Report::load(report_path)?;
    let claimant = Claimant::load(claimant_path)?;
    let case = match &args.case {
        Some(dir) => Some(input::Case::load(dir)?),
        None => None,
    };
    let directory = match &args.directory {
        Some(p) => Directory::load(p)?,
        None => Directory::bundled()?,
    };
    // Each letter is written as soon as it is drafted, so that a large report's
    // letters are not all held at once. Nothing is overwritten without --force; when
    // drafting stops on an error or a file already there, the files this run created
    // are removed again (without --force, a refused run leaves the directory as it
    // was).
    let sheet_path = out.join(letter::SENDER_SHEET);
    let refuse = |p: &Path| -> anyhow::Result<()> {
        if !args.force && p.exists() {
            bail!("{} exists; use --force to overwrite letters", p.display());
        }
        Ok(())
    };
    refuse(&sheet_path)?;
    // The files written so far, and whether this run created them. Each letter's
    // files have names of their own (provider and frame), never the sheet's.
    let mut written: Vec<(PathBuf, bool)> = Vec::new();
    let new_dir = !out.exists();
    let drafted = letter::draft_each(
        &report,
        &claimant,
        case.as_ref(),
        &directory,
        &opts,
        |l| -> anyhow::Result<letter::Letter> {
            let files = l.files().map(|(name, text)| (out.join(name), text));
            for (p, _) in &files {
                refuse(p)?;
            }
            std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
            for (path, text) in files {
                written.push((path.clone(), !path.exists()));
                write_letter(&path, text)?;
            }
            Ok(l.without_texts())
        },
    );
    let drafts = match drafted {
        Ok(d) => d,
        Err(e) => {
            remove_written(&written, new_dir.then_some(out));
            return Err(e);
        }
    };
    for s in &drafts.skipped {
        eprintln!(
            "whohosts: note: {} ({}): no letter: {}",
            whohosts::report::escape::terminal(&s.service),
            whohosts::report::escape::terminal(&s.endpoint),
            whohosts::report::escape::terminal(&s.reason)
        );
    }
    if drafts.untargeted && args.providers.is_empty() {
        eprintln!("whohosts: note: the report was made without --target; letters cover every attributed service (focus with `analyze --target` or `letter --provider`)");
    }
    if drafts.letters.is_empty() {
        bail!("no letter drafted: no service endpoint of the report is attributed to a provider of the directory");
    }
    let sheet = letter::sender_sheet(&drafts);
    written.push((sheet_path.clone(), !sheet_path.exists()));
    if let Err(e) = write_letter(&sheet_path, &sheet) {
        remove_written(&written, new_dir.then_some(out));
        return Err(e);
    }
    eprintln!(
        "whohosts: read {} before sending: where each channel and entity came from and what to check (it is not part of any letter)",
        out.join(letter::SENDER_SHEET).display()
    );
    let mut incomplete = false;
    for l in &drafts.letters {
        if l.missing.is_empty() {
            println!("{}: {} letter, complete", l.stem(), l.frame);
        } else {
            incomplete = true;
            println!("{}: {} letter, DRAFT, missing:", l.stem(), l.frame);
            for m in &l.missing {
                println!(
                    "  {} {}: {}",
                    m.id,
                    m.name,
                    whohosts::report::escape::terminal(&m.why)
                );
            }
        }
    }
    Ok(if incomplete && !args.allow_incomplete {
        exit::CHECK_FAILED
    } else {
        exit::OK
    })
}

/// Removes the files a refused or failed run created (not those it overwrote with
/// --force, nor any it did not write), then the output directory when the run
/// created it (`new_dir`) and it is empty again.
fn remove_written(written: &[(PathBuf, bool)], new_dir: Option<&Path>) {
    for (p, created) in written {
        if *created {
            let _ = std::fs::remove_file(p);
        }
    }
    if let Some(dir) = new_dir {
        let _ = std::fs::remove_dir(dir);
    }
}

fn write_letter(path: &Path, text: &str) -> anyhow::Result<()> {
    whohosts::report::write_atomic(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

fn sent(a: SentArgs) -> anyhow::Result<u8> {
    let mut s = super::case::open_reporting(&a.case, a.actor)?;
    let seq = notices::sent(
        &mut s,
        &notices::Sent {
            letter: &a.letter,
            channel: &a.channel,
            receipts: &a.receipts,
            ticket: a.ticket.as_deref(),
            at: a.at.as_deref(),
            provider: a.provider.as_deref(),
        },
    )?;
    println!("custody entry {seq}: letter.sent");
    Ok(exit::OK)
}

fn reply(a: ReplyArgs) -> anyhow::Result<u8> {
    let mut s = super::case::open_reporting(&a.case, a.actor)?;
    let seq = notices::reply(
        &mut s,
        &a.provider,
        &a.file,
        a.at.as_deref(),
        a.note.as_deref(),
    )?;
    println!("custody entry {seq}: letter.reply");
    Ok(exit::OK)
}

fn status(a: StatusArgs) -> anyhow::Result<u8> {
    use whohosts::report::escape::terminal as t;
    let now = match &a.now {
        Some(n) => notices::parse_time(n)?,
        None => whohosts::evidence::Now::system(time::UtcOffset::UTC).utc,
    };
    let all = notices::status(&a.case, &now)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(exit::OK);
    }
    if all.is_empty() {
        println!("no notice filed as sent in this case (`whohosts letter sent`)");
    }
    for p in &all {
        println!("{}", t(&p.provider));
        for n in &p.sent {
            println!(
                "  sent     {}  {}  via {}{}",
                t(&n.at),
                t(&n.letter.path),
                t(&n.channel),
                n.ticket
                    .as_deref()
                    .map(|x| format!("  ticket {}", t(x)))
                    .unwrap_or_default()
            );
            println!("           letter sha256 {}", t(&n.letter.sha256));
            for r in &n.receipts {
                println!("           receipt {}  sha256 {}", t(&r.path), t(&r.sha256));
            }
        }
        for r in &p.replies {
            println!(
                "  answered {}  {}{}",
                t(&r.at),
                t(&r.file.path),
                r.note
                    .as_deref()
                    .map(|x| format!("  ({})", t(x)))
                    .unwrap_or_default()
            );
        }
        if let Some(d) = p.days_without_answer {
            println!("  {d} days since the last notice without an answer");
        }
    }
    Ok(exit::OK)
}
