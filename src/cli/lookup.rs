//! `whohosts lookup IP...`: offline attribution of single addresses.

use anyhow::Context;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use whohosts::attribute::{AttributeOptions, Attribution, Attributor};

/// Where attribution data comes from; shared by every subcommand that attributes.
#[derive(clap::Args, Clone, Debug, Default)]
pub(crate) struct SourceArgs {
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
    pub(crate) fn options(&self) -> anyhow::Result<AttributeOptions> {
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

    pub(crate) fn load(&self) -> anyhow::Result<Attributor> {
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
pub(crate) struct Args {
    /// Addresses to attribute; `-` reads more from standard input, one a line.
    #[arg(value_name = "ADDRESS")]
    pub ips: Vec<String>,
    /// Read addresses from this file, one a line (blank lines and `#` comments
    /// ignored; `-` is standard input); repeatable.
    #[arg(long = "file", short = 'f', value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// Print JSON: a list with one object per address.
    #[arg(long)]
    pub json: bool,
    /// Reference date for the age of the data (YYYY-MM-DD) [default: today, by the
    /// clock]: an answer resting on data more than 90 days older says so.
    #[arg(long, value_name = "DATE")]
    pub at: Option<String>,
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
    /// Problems met loading the data (a stored feed that does not parse, a broken
    /// licence record): every answer carries them.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    data_problems: &'a [String],
}

/// Longest input shown back in a message: a hostile or mistaken argument can be huge.
const SHOWN_MAX: usize = 40;

/// `text` shortened to [`SHOWN_MAX`] characters (saying how long it was) and made
/// inert for the terminal.
fn shown(text: &str) -> String {
    let n = text.chars().count();
    let cut: String = text.chars().take(SHOWN_MAX).collect();
    let cut = whohosts::report::escape::terminal(&cut);
    if n > SHOWN_MAX {
        format!("`{cut}`... ({} bytes)", text.len())
    } else {
        format!("`{cut}`")
    }
}

/// Longest line read from a file or standard input; the rest of a longer line is
/// skipped without being kept.
const LINE_MAX: usize = 1024;

/// The addresses of the arguments and files, in order, and one message per input
/// that is not an address.
fn gather(args: &Args) -> anyhow::Result<(Vec<IpAddr>, Vec<String>)> {
    let mut ips = Vec::new();
    let mut bad = Vec::new();
    let mut take =
        |text: &str, place: String, bad: &mut Vec<String>| match text.trim().parse::<IpAddr>() {
            Ok(ip) => ips.push(ip),
            Err(_) => bad.push(format!("{place}: {} is not an IP address", shown(text))),
        };
    let mut sources: Vec<PathBuf> = Vec::new();
    for (i, a) in args.ips.iter().enumerate() {
        if a == "-" {
            sources.push(PathBuf::from("-"));
        } else {
            take(a, format!("argument {}", i + 1), &mut bad);
        }
    }
    sources.extend(args.files.iter().cloned());
    let mut stdin_read = false;
    for path in sources {
        let (name, reader): (String, Box<dyn std::io::BufRead>) = if path.as_os_str() == "-" {
            if std::mem::replace(&mut stdin_read, true) {
                continue;
            }
            (
                "standard input".to_string(),
                Box::new(std::io::BufReader::new(std::io::stdin())),
            )
        } else {
            let f = std::fs::File::open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            (
                path.display().to_string(),
                Box::new(std::io::BufReader::new(f)),
            )
        };
        read_lines(reader, |no, line| {
            let line = line.trim();
            if !line.is_empty() && !line.starts_with('#') {
                take(line, format!("{name} line {no}"), &mut bad);
            }
        })
        .with_context(|| format!("reading {name}"))?;
    }
    if ips.is_empty() && bad.is_empty() {
        anyhow::bail!("no address given: pass addresses, `-` (standard input) or --file PATH");
    }
    Ok((ips, bad))
}

/// Calls `each` with every line (1-based number, text) of `r`, each cut at
/// [`LINE_MAX`] bytes: memory stays bounded whatever the input holds.
fn read_lines(
    mut r: impl std::io::BufRead,
    mut each: impl FnMut(usize, &str),
) -> std::io::Result<()> {
    let mut line = Vec::new();
    let mut no = 0;
    loop {
        line.clear();
        let mut dropped = false;
        let mut ended = false;
        loop {
            let buf = r.fill_buf()?;
            if buf.is_empty() {
                ended = true;
                break;
            }
            let (chunk, found) = match buf.iter().position(|b| *b == b'\n') {
                Some(i) => (&buf[..i], Some(i)),
                None => (buf, None),
            };
            let room = LINE_MAX.saturating_sub(line.len());
            line.extend_from_slice(&chunk[..chunk.len().min(room)]);
            dropped |= chunk.len() > room;
            let used = found.map_or(chunk.len(), |i| i + 1);
            r.consume(used);
            if found.is_some() {
                break;
            }
        }
        if ended && line.is_empty() && !dropped {
            return Ok(());
        }
        no += 1;
        let text = String::from_utf8_lossy(&line);
        if dropped {
            each(no, &format!("{text}\u{fffd}"));
        } else {
            each(no, &text);
        }
        if ended {
            return Ok(());
        }
    }
}

/// The reference day for the age of the data: `--at`, else today by the clock.
pub(crate) fn reference_day(at: Option<&str>) -> anyhow::Result<(i64, String)> {
    match at {
        Some(d) => {
            let day = whohosts::attribute::data_day(d)
                .filter(|_| d.len() == 10)
                .with_context(|| format!("--at: expected YYYY-MM-DD, found {}", shown(d)))?;
            Ok((day, format!("{d} (--at)")))
        }
        None => {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            let day = secs.div_euclid(86_400);
            Ok((
                day,
                format!("{} (today)", whohosts::attribute::day_text(day)),
            ))
        }
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    let (ips, bad) = gather(&args)?;
    for b in &bad {
        eprintln!("whohosts: {b}");
    }
    let (day, day_label) = reference_day(args.at.as_deref())?;
    let attributor = args.sources.load()?;
    if args.online.case.is_some() && !args.online.online {
        anyhow::bail!("--case keeps the answers of --online in a case; --online is missing");
    }
    let online = args.online.run(&ips, attributor.data_dir(), None)?;
    let answers = online.as_ref().map(|(a, _)| a);
    let answer = |ip: &IpAddr| {
        let mut a = attributor.attribute_online(*ip, &mut Vec::new(), answers);
        a.note_data_age_at(day, &day_label, whohosts::attribute::LOOKUP_AGE_WARN_DAYS);
        a
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        // Written as each answer is made: memory does not grow with the batch.
        // Each row is the pretty form indented as an element of the list.
        writeln!(out, "[")?;
        for (i, ip) in ips.iter().enumerate() {
            let a = answer(ip);
            let row = serde_json::to_string_pretty(&Row {
                ip: *ip,
                attribution: &a,
                data_problems: attributor.warnings(),
            })?;
            for (j, line) in row.lines().enumerate() {
                if j > 0 {
                    writeln!(out)?;
                }
                write!(out, "  {line}")?;
            }
            writeln!(out, "{}", if i + 1 < ips.len() { "," } else { "" })?;
        }
        writeln!(out, "]")?;
    } else {
        // The table's columns are as wide as their widest cell: every row first.
        let results: Vec<(IpAddr, Attribution)> = ips.iter().map(|ip| (*ip, answer(ip))).collect();
        write_table(&mut out, &results)?;
        writeln!(out)?;
        writeln!(out, "sources:")?;
        for s in attributor.sources() {
            writeln!(
                out,
                "  {} {} ({}{}) {} [data of {}] sha256:{}{}",
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
                if s.sha256.is_empty() { "-" } else { &s.sha256 },
                s.problem
                    .as_deref()
                    .map(|p| format!("\n    PROBLEM: {}", sanitize(p)))
                    .unwrap_or_default()
            )?;
        }
        writeln!(out, "{}", whohosts::attribute::BUNDLED_ATTRIBUTION)?;
    }
    out.flush()?;
    Ok(if bad.is_empty() {
        crate::cli::exit::OK
    } else {
        crate::cli::exit::ANOMALIES
    })
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
    let mut lines: Vec<Vec<String>> = Vec::new();
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
        lines.push(vec![
            ip.to_string(),
            asn,
            a.country.code.clone().unwrap_or_else(|| "-".to_string()),
            provider,
            region,
        ]);
    }
    let mut table = String::new();
    whohosts::report::table::columns(
        &mut table,
        "",
        &["ADDRESS", "ASN", "CC", "PROVIDER", "REGION"],
        &[],
        &lines,
        usize::MAX,
    );
    for l in table.lines() {
        writeln!(out, "{}", l.trim_end())?;
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
        for n in a.notes.iter() {
            writeln!(out, "  {ip} note: {}", sanitize(n))?;
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

/// Organisation and city names come from third-party data: made inert for the
/// terminal.
fn sanitize(s: &str) -> String {
    whohosts::report::escape::terminal(s)
}
