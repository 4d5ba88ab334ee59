//! `whohosts analyze`: read captures, print the tables, write the JSON report.

use super::{exit, write_output};
use anyhow::Context;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use whohosts::hash::Algorithms;
use whohosts::pipeline::{self, AnalyzeOptions};
use whohosts::report::{table, Report};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Capture files (pcap or pcapng, optionally gzip- or zstd-compressed).
    #[arg(required = true, value_name = "CAPTURE")]
    pub captures: Vec<PathBuf>,
    /// Write the JSON report to PATH (`-` for standard output; the tables are then
    /// not printed).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write the report as one HTML file to PATH: no external resources, printable on
    /// A4 with the capture hashes on every page. With --case, it also lists the
    /// notices filed in the case (`letter sent`, `letter reply`) and goes into the
    /// case's reports/ folder under PATH's file name, entered in the custody log.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// With --case and --html: count the days without an answer to the case's
    /// notices up to this time, RFC 3339 (default: now).
    #[arg(long, value_name = "TIME", requires = "html")]
    pub now: Option<String>,
    /// Language of the HTML report's labels.
    #[arg(long, value_enum, default_value = "en", value_name = "LANG")]
    pub lang: whohosts::report::html::Lang,
    /// Write services.csv, endpoints.csv, conversations.csv and names.csv into DIR
    /// (UTF-8 with a byte-order mark, for spreadsheets), and objects.csv with
    /// --objects or --extract.
    #[arg(long, value_name = "DIR")]
    pub csv: Option<PathBuf>,
    /// Write Zeek-style logs (conn.log, dns.log, ssl.log, http.log, Zeek's JSON
    /// format, whohosts' attribution under `whohosts.` fields) into DIR.
    #[arg(long, value_name = "DIR")]
    pub zeek: Option<PathBuf>,
    /// Write a court-exhibit subset to PATH (a new pcapng; never replaces a file):
    /// the frames of the --target services and the DNS exchanges that named them,
    /// each packet commented with its frame number in the original.
    #[arg(long, value_name = "PATH", requires = "targets")]
    pub subset: Option<PathBuf>,
    /// Focus the services view on a target: NAME, *.DOMAIN, IP or CIDR (repeatable).
    #[arg(long = "target", value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Also compute each capture's SM3 (GB/T 32905-2016) from the same read.
    #[arg(long, conflicts_with = "no_hash")]
    pub sm3: bool,
    /// Skip hashing (the report's `sha256` is then null and the report cannot serve
    /// as evidence): only for measuring the analysis alone.
    #[arg(long)]
    pub no_hash: bool,
    #[command(flatten)]
    pub sources: super::lookup::SourceArgs,
    #[command(flatten)]
    pub online: super::online::OnlineArgs,
    /// No progress display (it shows only when standard error is a terminal).
    #[arg(short, long)]
    pub quiet: bool,
    /// List the objects HTTP carried (each response body: URL, size, SHA-256 of the
    /// decoded and of the wire bytes, frames) in the report's `objects`.
    #[arg(long)]
    pub objects: bool,
    /// Write each object (decoded, as the client's program saw it) into DIR as a new
    /// file, named ID-HOST-NAME (sanitised); implies --objects. With --case, give no
    /// DIR: the objects go to the case's objects/ folder, each entered in custody.
    #[arg(long, value_name = "DIR", num_args = 0..=1)]
    pub extract: Option<Option<PathBuf>>,
    /// TLS secrets in the NSS key log format (SSLKEYLOGFILE, as curl, browsers and
    /// `whohosts session run` write it); repeatable. TLS 1.2 and 1.3 connections they
    /// cover are decrypted and their HTTP/1.x and HTTP/2 objects listed (implies
    /// --objects); secrets inside a pcapng (`editcap --inject-secrets`) are used too.
    /// The report's `tls_decryption` says, per connection, what was decrypted or why not.
    #[arg(long, value_name = "FILE")]
    pub keylog: Vec<PathBuf>,
    /// Largest decoded size of one object (larger ones are cut and marked; a
    /// compression bomb cannot make more).
    #[arg(long, default_value_t = whohosts::content::decode::DEFAULT_MAX_DECODED, value_name = "BYTES")]
    pub max_object_size: u64,
    /// Anomalies kept in full per capture (the rest are counted per code).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub max_anomalies: usize,
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    let opts = AnalyzeOptions {
        max_anomalies: args.max_anomalies,
        hashes: if args.no_hash {
            Algorithms::NONE
        } else if args.sm3 {
            Algorithms::EVIDENCE
        } else {
            Algorithms::SHA256
        },
        progress: None,
        content: None,
    };
    let mut opts = opts;
    // Where objects go: a directory given, or the case's objects/ folder.
    let extract: Option<(PathBuf, String)> = match (&args.extract, &args.online.case) {
        (None, _) => None,
        (Some(Some(dir)), None) => Some((dir.clone(), dir.display().to_string())),
        (Some(None), Some(case)) => Some((case.join("objects"), "objects".to_string())),
        (Some(None), None) => anyhow::bail!("--extract needs a DIR (or --case CASE)"),
        (Some(Some(_)), Some(_)) => anyhow::bail!(
            "inside a case, objects go to the case's objects/ folder: give --extract without DIR"
        ),
    };
    if let Some((dir, _)) = &extract {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the extract directory {}", dir.display()))?;
    }
    let keylog = if args.keylog.is_empty() {
        None
    } else {
        let mut keys = whohosts::decrypt::keylog::KeyLog::new();
        for f in &args.keylog {
            keys.add_file(f)
                .with_context(|| format!("reading the key log {}", f.display()))?;
        }
        for p in keys.problems() {
            eprintln!(
                "whohosts: key log: {}",
                whohosts::report::escape::terminal(&p.to_string())
            );
        }
        if keys.is_empty() {
            eprintln!(
                "whohosts: key log: no usable secret in {} file(s); TLS stays encrypted",
                args.keylog.len()
            );
        }
        Some(std::sync::Arc::new(keys))
    };
    if args.objects || extract.is_some() || keylog.is_some() {
        opts.content = Some(whohosts::content::ContentOptions {
            extract: extract.as_ref().map(|(d, _)| d.clone()),
            max_decoded: args.max_object_size,
            keylog,
            ..whohosts::content::ContentOptions::default()
        });
    }
    let progress = (!args.quiet && std::io::stderr().is_terminal()).then(|| {
        let total: u64 = args
            .captures
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        opts.progress = Some(counter.clone());
        Progress::start(counter, total)
    });
    let targets = args
        .targets
        .iter()
        .map(|t| {
            t.parse::<whohosts::services::Target>()
                .map_err(anyhow::Error::msg)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.online.case.is_some()
        && !args.online.online
        && args.subset.is_none()
        && args.extract.is_none()
        && args.html.is_none()
    {
        anyhow::bail!(
            "--case keeps --online answers, an --subset or --extract objects in a case, or an --html report listing its notices; give one of them"
        );
    }
    if args.now.is_some() && args.online.case.is_none() {
        anyhow::bail!("--now counts the days of a case's notices: give --case CASE");
    }
    let analyses = pipeline::analyze(&args.captures, &opts).context("analysing captures");
    drop(progress);
    let mut analyses = analyses?;
    let objects = opts.content.is_some().then(|| {
        let collected = analyses
            .iter_mut()
            .filter_map(|a| a.objects.take())
            .collect();
        whohosts::content::store::finish(
            collected,
            extract
                .as_ref()
                .map(|(d, shown)| (d.as_path(), shown.as_str())),
        )
    });
    if let Some(o) = &objects {
        for p in &o.problems {
            eprintln!(
                "whohosts: objects: {}",
                whohosts::report::escape::terminal(p)
            );
        }
        if let (Some(case), Some((dir, _))) = (&args.online.case, &extract) {
            enter_objects_in_custody(case, dir, o)?;
        }
    }
    // The name evidence, which the services and the attributions read, is freed
    // after both.
    let names: Vec<Vec<whohosts::services::NameEvidence>> = analyses
        .iter_mut()
        .map(|a| std::mem::take(&mut a.names))
        .collect();
    // After the pass: the services (built here), the conversations' JSON (the
    // largest part of a JSON report, from the finished tables alone) and the
    // attributions (their databases loaded after the pass, so that they and the
    // pass's working memory are never held at once). With a JSON report a second
    // thread serialises the conversations, then attributes the addresses: the
    // services' build holds the most in its first part, and is past it by then.
    let (mut report, conversations, attributed) = std::thread::scope(|scope| {
        let beside = args
            .json
            .is_some()
            .then(|| {
                std::thread::Builder::new()
                    .name("whohosts-conv-attr".into())
                    .spawn_scoped(scope, || {
                        let conversations = whohosts::report::conversations_json(&analyses);
                        (conversations, attribute_addresses(&args, &analyses, &names))
                    })
            })
            .transpose()
            .context("starting the report's second thread")?;
        let report = Report::build_named(
            &analyses,
            names.iter().flatten(),
            &targets,
            &args.targets,
            None,
        );
        let (conversations, attributed) = match beside.map(|t| t.join()) {
            Some(Ok((conversations, attributed))) => (Some(conversations), Some(attributed)),
            Some(Err(_)) => {
                anyhow::bail!("serialising the conversations or attributing the addresses failed")
            }
            None => (None, None),
        };
        anyhow::Ok((report, conversations, attributed))
    })?;
    // The services were built from a walk over the conversations and put in rank
    // order from their own temporary file: either cut short by an unreadable file is
    // an error before anything is written.
    if let Some(f) = report.failure() {
        anyhow::bail!("{f}");
    }
    let attributions = match attributed {
        Some(attributed) => attributed?,
        None => attribute_addresses(&args, &analyses, &names)?,
    };
    drop(names);
    report.attach(&attributions);
    if let Some(o) = objects {
        report.objects = Some(o.list);
        report.extract = o.extract;
        report.tls_decryption = (!args.keylog.is_empty() || !o.tls.is_empty()).then_some(o.tls);
    }
    let json_to_stdout = args.json.as_deref().is_some_and(|p| p.as_os_str() == "-");
    if let Some(path) = &args.json {
        if json_to_stdout {
            report.write_json_with(std::io::stdout().lock(), conversations)
        } else {
            whohosts::report::write_atomic_file_with(path, |f| {
                report.write_json_with(f, conversations)
            })
        }
        .with_context(|| format!("writing the report to {}", path.display()))?;
    }
    if let Some(path) = &args.html {
        match &args.online.case {
            Some(case) => case_html(case, path, &report, args.lang, args.now.as_deref())?,
            None => {
                let page = whohosts::report::html::render(&report, args.lang);
                if let Some(f) = report.failure() {
                    anyhow::bail!("{f}");
                }
                whohosts::report::write_atomic(path, page.as_bytes())
                    .with_context(|| format!("writing the HTML report to {}", path.display()))?;
            }
        }
    }
    if let Some(dir) = &args.csv {
        whohosts::report::csv::write_dir(&report, dir)
            .with_context(|| format!("writing the CSV files into {}", dir.display()))?;
    }
    if let Some(dir) = &args.zeek {
        whohosts::report::zeek::write_dir(&report, dir)
            .with_context(|| format!("writing the Zeek logs into {}", dir.display()))?;
    }
    // The JSON, CSV and Zeek writers walked the conversations and the services again.
    if let Some(f) = report.failure() {
        anyhow::bail!("{f}");
    }
    if let Some(path) = &args.subset {
        let sources: Vec<whohosts::report::subset::Source> = analyses
            .iter()
            .zip(&report.captures)
            .map(|(a, c)| whohosts::report::subset::Source {
                index: a.index,
                path: a.path.clone(),
                shown: c.path.clone(),
                sha256: c.sha256.clone(),
            })
            .collect();
        let (shown, frames, sha256, sm3) = match &args.online.case {
            // Inside a case: a new file in exhibits/, entered in the custody log.
            Some(case) => {
                let (rel, mut session) = case_file(case, path, "exhibits", "--subset")?;
                let mut counts = None;
                let rec = session
                    .write_file_with(&rel, |w| {
                        let c = whohosts::report::subset::write_into(
                            w,
                            &sources,
                            &report.services,
                            &report.targets,
                        )
                        .map_err(std::io::Error::other)?;
                        counts = Some(c);
                        Ok(())
                    })
                    .with_context(|| format!("writing {rel} into the case"))?;
                let counts = counts.unwrap_or_default();
                session.append(
                    "subset",
                    serde_json::json!({
                        "file": rel,
                        "targets": report.targets,
                        "sources": sources.iter().map(|s| serde_json::json!({
                            "capture": s.shown,
                            "sha256": s.sha256,
                            "frames": counts.get(&s.index).copied().unwrap_or(0),
                        })).collect::<Vec<_>>(),
                    }),
                    vec![rec.clone()],
                )?;
                (
                    case.join(&rel).display().to_string(),
                    counts.values().sum::<u64>(),
                    rec.sha256.clone(),
                    rec.sm3.clone(),
                )
            }
            None => {
                let w = whohosts::report::subset::write(
                    path,
                    &sources,
                    &report.services,
                    &report.targets,
                )?;
                (
                    w.path,
                    w.frames.values().sum(),
                    w.digests.sha256.unwrap_or_default(),
                    w.digests.sm3,
                )
            }
        };
        eprintln!(
            "whohosts: subset {}: {frames} frames, SHA-256 {sha256}, SM3 {}",
            whohosts::report::escape::terminal(&shown),
            sm3.as_deref().unwrap_or("-"),
        );
    }
    if !json_to_stdout {
        let text = table::render(&report);
        if let Some(f) = report.failure() {
            anyhow::bail!("{f}");
        }
        write_output(std::path::Path::new("-"), text.as_bytes())?;
    }
    Ok(if report.has_anomalies() {
        exit::ANOMALIES
    } else {
        exit::OK
    })
}

/// Loads the attribution data, asks the network when told to (`--online`) or reads
/// its saved answers (`--online-replay`), and attributes every server address of
/// `analyses`; the databases are released on return.
fn attribute_addresses(
    args: &Args,
    analyses: &[pipeline::CaptureAnalysis],
    names: &[Vec<whohosts::services::NameEvidence>],
) -> anyhow::Result<whohosts::attribute::Attributions> {
    let attributor = args.sources.load().context("loading attribution data")?;
    let ips = pipeline::addresses(analyses);
    let online = args
        .online
        .run(&ips, attributor.data_dir(), args.json.as_deref())?;
    let mut attributions = attributor.attribute_all_online(
        ips.iter().copied(),
        names.iter().flatten(),
        online.as_ref().map(|(answers, _)| answers),
    );
    attributions.online = online.map(|(_, summary)| summary);
    // Data far from the capture's time is named in each answer it touches.
    if let Some(first) = analyses.iter().filter_map(|a| a.first_seen).min() {
        attributions.note_data_age(first.secs);
    }
    Ok(attributions)
}

/// The place in `folder` of a case for a file given as `path` (its plain file name;
/// `flag` names the option in the error), and a session of the case to write it in.
fn case_file(
    case: &std::path::Path,
    path: &std::path::Path,
    folder: &str,
    flag: &str,
) -> anyhow::Result<(String, whohosts::evidence::case::Session)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.starts_with('.'))
        .with_context(|| format!("{flag} needs a plain file name inside a case"))?;
    let session = whohosts::evidence::case::Session::open(case, None)
        .with_context(|| format!("opening case {}", case.display()))?;
    Ok((format!("{folder}/{name}"), session))
}

/// The HTML report of a case: the analysis and the notices filed in the case, as a new
/// file in its reports/ folder (never replacing one), entered in the custody log with
/// the custody lines of the notices it lists, so that the next seal covers what it
/// said and when. The reports written when the captures were made stay as they were.
fn case_html(
    case: &std::path::Path,
    path: &std::path::Path,
    report: &Report,
    lang: whohosts::report::html::Lang,
    now: Option<&str>,
) -> anyhow::Result<()> {
    use whohosts::evidence::notices;
    let (rel, mut session) = case_file(case, path, "reports", "--html")?;
    let now = match now {
        Some(t) => notices::parse_time(t)?,
        None => session.now().utc,
    };
    let listed = notices::case_notices(case, &now)
        .with_context(|| format!("reading the notices of case {}", case.display()))?;
    let page = whohosts::report::html::render_with_notices(report, lang, Some(&listed));
    if let Some(f) = report.failure() {
        anyhow::bail!("{f}");
    }
    let rec = session
        .write_file_with(&rel, |w| w.write_all(page.as_bytes()))
        .with_context(|| format!("writing {rel} into the case"))?;
    let lines: Vec<u64> = listed
        .providers
        .iter()
        .flat_map(|p| {
            p.sent
                .iter()
                .map(|s| s.custody_line)
                .chain(p.replies.iter().map(|r| r.custody_line))
        })
        .collect();
    session.append(
        "report.html",
        serde_json::json!({
            "file": rel,
            "lang": match lang {
                whohosts::report::html::Lang::En => "en",
                whohosts::report::html::Lang::ZhCn => "zh-CN",
            },
            "captures": report.captures.iter().map(|c| serde_json::json!({
                "capture": c.path,
                "sha256": c.sha256,
            })).collect::<Vec<_>>(),
            "notices_as_of": listed.as_of,
            "notice_lines": lines,
        }),
        vec![rec.clone()],
    )?;
    eprintln!(
        "whohosts: HTML report {} ({} notice and answer entries of the case, days counted up to {}), SHA-256 {}",
        whohosts::report::escape::terminal(&case.join(&rel).display().to_string()),
        lines.len(),
        listed.as_of,
        rec.sha256
    );
    Ok(())
}

/// Enters the objects written into a case's objects/ folder in its custody log, one
/// entry listing every file with its size, SHA-256 and SM3 (read back from disk).
fn enter_objects_in_custody(
    case: &std::path::Path,
    dir: &std::path::Path,
    objects: &whohosts::content::store::Objects,
) -> anyhow::Result<()> {
    if objects.written.is_empty() {
        return Ok(());
    }
    let mut session = whohosts::evidence::case::Session::open(case, None)
        .with_context(|| format!("opening case {}", case.display()))?;
    let mut records = Vec::new();
    let mut listed = Vec::new();
    for (id, name) in &objects.written {
        let path = dir.join(name);
        let d = whohosts::hash::hash_reader(
            std::fs::File::open(&path).with_context(|| format!("reading {}", path.display()))?,
            Algorithms::EVIDENCE,
        )
        .with_context(|| format!("hashing {}", path.display()))?;
        let rel = format!("objects/{}", name.display());
        listed.push(serde_json::json!({ "id": id, "file": rel }));
        records.push(whohosts::evidence::custody::FileRecord {
            path: rel,
            size: d.size,
            sha256: d.sha256.unwrap_or_default(),
            sm3: d.sm3,
        });
    }
    session.append("objects", serde_json::json!({ "objects": listed }), records)?;
    Ok(())
}

/// A progress bar on standard error (bytes read of the captures' total, rate, time
/// left), drawn by its own thread until dropped.
struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    fn start(read: Arc<AtomicU64>, total: u64) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("whohosts-progress".into())
            .spawn(move || {
                let bar = indicatif::ProgressBar::with_draw_target(
                    Some(total),
                    indicatif::ProgressDrawTarget::stderr_with_hz(4),
                );
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} {eta} left",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                // Drawn at least once, even when the analysis ended before this
                // thread first ran.
                loop {
                    bar.set_position(read.load(Ordering::Relaxed).min(total));
                    if flag.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                bar.finish_and_clear();
            })
            .ok();
        Progress { stop, thread }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
