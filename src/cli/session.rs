//! `whohosts session`: a notary-assisted evidence session, from the first packet to
//! the sealed case: `start` (case, environment, time-stamp, capture), `run` (a client
//! with its TLS keys kept), `status`, `stop` (captures stopped, reports, letters,
//! seal, the notary's summary).

use super::capture::CaptureOptions;
use super::exit;
use anyhow::{bail, Context};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use whohosts::evidence::case::{self, NewCase};
use whohosts::evidence::custody;
use whohosts::evidence::live as case_live;
use whohosts::evidence::manifest::{self, Manifest};
use whohosts::evidence::session::{self as es, SessionRecord, StartOptions};
use whohosts::report::escape;

const AFTER_HELP: &str = "\
A session, step by step (as root, or with the binary given capture rights):

  1. whohosts session start --case ./case --operator \"Li Wei\" \\
         --notary \"Zhang San\" --certificate \"(2026) No. 1234\" \\
         --rights-holder \"Example Games Ltd.\" -i eth0 [--tsa URL]
     creates the case (or opens it), records the machine, time-stamps the start
     and starts capturing on eth0 in the background.
  2. whohosts session run --case ./case -- chromium https://pirate.example/
     runs a client in the session: its command line, times and exit status go
     into the custody log, its TLS session keys into the case (SSLKEYLOGFILE).
  3. whohosts session status --case ./case [--watch]
     what is running, with the services seen so far.
  4. whohosts session stop --case ./case [--claimant claimant.toml] [--tsa URL]
     stops the capture cleanly, writes the reports, drafts the letters, seals the
     case and prints what the notary copies: files, sizes, SHA-256, SM3, the
     manifest hash and the time-stamp.

WHOHOSTS_CASE=./case can stand for --case. Afterwards, anyone can check the case
offline with `whohosts verify ./case`.";

#[derive(clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(clap::Subcommand)]
pub(crate) enum Sub {
    /// Start a session: create or open the case, record the machine, time-stamp the
    /// start, and with -i start capturing in the background.
    Start(Box<StartArgs>),
    /// Run a client program in the session (after `--`), its TLS keys kept.
    Run(RunArgs),
    /// Show the open session: captures running, services seen, client runs.
    Status(StatusArgs),
    /// Stop the session: stop the captures, write reports and letters, seal, print
    /// what the notary copies.
    Stop(StopArgs),
}

#[derive(clap::Args, Clone, Debug)]
pub(crate) struct CaseArg {
    /// The case directory.
    #[arg(long, value_name = "DIR", env = "WHOHOSTS_CASE")]
    pub case: PathBuf,
}

#[derive(clap::Args)]
pub(crate) struct StartArgs {
    #[command(flatten)]
    pub case: CaseArg,
    /// Who operates the machine in this session.
    #[arg(long, value_name = "NAME")]
    pub operator: String,
    /// The notary supervising the session.
    #[arg(long, value_name = "NAME")]
    pub notary: Option<String>,
    /// The notarial certificate number.
    #[arg(long, value_name = "NUMBER")]
    pub certificate: Option<String>,
    /// Send the start's time-stamp request to this RFC 3161 TSA (HTTP POST).
    #[arg(long, value_name = "URL")]
    pub tsa: Option<String>,
    /// For a new case: its id [default: the directory's name].
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// For a new case: its title.
    #[arg(long, value_name = "TEXT", default_value = "Evidence session")]
    pub title: String,
    /// For a new case (required then): the rights holder.
    #[arg(long, value_name = "NAME")]
    pub rights_holder: Option<String>,
    /// For a new case: the fixed UTC offset of local times, e.g. +08:00.
    #[arg(long, default_value = "+00:00", allow_hyphen_values = true)]
    pub tz: String,
    #[command(flatten)]
    pub capture: CaptureOptions,
    #[command(flatten)]
    pub sources: super::lookup::SourceArgs,
}

#[derive(clap::Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub case: CaseArg,
    /// Under sudo, the program runs as the user who called sudo; this keeps root.
    #[arg(long)]
    pub keep_root: bool,
    /// The program and its arguments.
    #[arg(required = true, last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(clap::Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub case: CaseArg,
    /// Refresh every second until the session stops (or Ctrl-C).
    #[arg(long)]
    pub watch: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub(crate) struct StopArgs {
    #[command(flatten)]
    pub case: CaseArg,
    /// Draft the letters to the providers with this claimant profile
    /// (`whohosts letter init` writes one).
    #[arg(long, value_name = "CLAIMANT.toml")]
    pub claimant: Option<PathBuf>,
    /// Send the seal's time-stamp request to this RFC 3161 TSA.
    #[arg(long, value_name = "URL")]
    pub tsa: Option<String>,
    /// How long to wait for the captures to close their files, seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
    #[command(flatten)]
    pub sources: super::lookup::SourceArgs,
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    match args.command {
        Sub::Start(a) => start(*a),
        Sub::Run(a) => run_client(a),
        Sub::Status(a) => status(a),
        Sub::Stop(a) => stop(a),
    }
}

fn start(a: StartArgs) -> anyhow::Result<u8> {
    let dir = a.case.case.clone();
    let new_case = !dir.join(whohosts::evidence::info::CASE_FILE).exists();
    if new_case && a.rights_holder.is_none() {
        bail!(
            "{} is not a case yet: say whose work it is about with --rights-holder NAME (and give --id, --title, --tz as needed)",
            dir.display()
        );
    }
    // Checked before anything is written.
    if !a.capture.interfaces.is_empty() {
        let opts = whohosts::capture::live::SourceOptions {
            filter: a.capture.filter.clone(),
            ..Default::default()
        };
        for i in &a.capture.interfaces {
            whohosts::capture::live::Source::open(i, &opts).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    let id = a.id.clone().unwrap_or_else(|| {
        std::fs::canonicalize(&dir)
            .unwrap_or_else(|_| dir.clone())
            .file_name()
            .map_or_else(|| "case".into(), |n| n.to_string_lossy().into_owned())
    });
    let started = es::start(
        &dir,
        StartOptions {
            operator: a.operator.clone(),
            notary: a.notary.clone(),
            certificate: a.certificate.clone(),
            tsa: a.tsa.clone(),
            new_case: NewCase {
                id,
                title: a.title.clone(),
                rights_holder: a.rights_holder.clone().unwrap_or_default(),
                operator: a.operator.clone(),
                notary: a.notary.clone(),
                notary_certificate: a.certificate.clone(),
                time_zone: a.tz.clone(),
            },
        },
    )
    .with_context(|| format!("starting a session in {}", dir.display()))?;
    for r in &started.recovered {
        eprintln!(
            "whohosts: recorded an interrupted capture: {} ({} packets)",
            escape::terminal(&r.file),
            r.packets
        );
    }
    if started.created_case {
        println!("created case {}", dir.display());
    }
    println!(
        "session {} started: {} sha256 {}",
        started.number, started.statement, started.statement_sha256
    );
    let mut code = exit::OK;
    match &started.timestamp {
        None => println!(
            "time-stamp request: {} (send it to a TSA later, or give --tsa)",
            started.request
        ),
        Some(Ok((path, info))) => println!(
            "time-stamp reply: {path} genTime {} serial {}",
            info.gen_time, info.serial
        ),
        Some(Err(e)) => {
            eprintln!(
                "whohosts: error: the session started, but the time-stamp failed: {e:#}; the request {} stays in the case",
                started.request
            );
            code = exit::ERROR;
        }
    }
    drop(started);
    if !a.capture.interfaces.is_empty() {
        let (k, pid) = spawn_capture(&dir, &a)?;
        println!(
            "capturing on {} (capture {k}, process {pid}); `whohosts session status --case {}` shows it",
            a.capture.interfaces.join(", "),
            dir.display()
        );
    }
    println!(
        "run clients with `whohosts session run --case {} -- COMMAND`, stop with `whohosts session stop --case {}`",
        dir.display(),
        dir.display()
    );
    Ok(code)
}

/// Starts `whohosts capture --case DIR` in the background (its own process group,
/// so that a Ctrl-C in this terminal does not reach it) and waits until it records
/// its first file, or fails.
fn spawn_capture(dir: &Path, a: &StartArgs) -> anyhow::Result<(u32, u32)> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().context("locating this program")?;
    let run = dir.join(case_live::RUN_DIR);
    std::fs::create_dir_all(&run).with_context(|| format!("creating {}", run.display()))?;
    let log_path = run.join(format!("capture-{}.log", std::process::id()));
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let mut cmd = Command::new(exe);
    cmd.arg("capture")
        .arg("--case")
        .arg(dir)
        .arg("--quiet")
        .args(["--operator", &a.operator])
        .args(a.capture.to_args());
    if let Some(d) = &a.sources.data_dir {
        cmd.arg("--data-dir").arg(d);
    }
    if let Some(d) = &a.sources.bundled_dir {
        cmd.arg("--bundled-dir").arg(d);
    }
    if let Some(p) = &a.sources.providers {
        cmd.arg("--providers").arg(p);
    }
    for m in &a.sources.mmdb {
        cmd.arg("--mmdb").arg(m);
    }
    if a.sources.no_bundled_feeds {
        cmd.arg("--no-bundled-feeds");
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("starting the capture")?;
    let pid = child.id();
    let began = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            bail!(
                "the capture did not start ({status}):\n{}",
                escape::terminal(text.trim())
            );
        }
        let log = custody::read(dir)?;
        let mine = case_live::captures(&log)
            .into_iter()
            .find(|c| c.pid == Some(pid));
        if let Some(c) = mine {
            if !c.opened.is_empty() {
                return Ok((c.number, pid));
            }
        }
        if began.elapsed() > Duration::from_secs(30) {
            bail!(
                "the capture (process {pid}) has not started writing after 30 s; see {}",
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The open session and the case opened for it (interrupted captures recorded first).
fn open_session(dir: &Path) -> anyhow::Result<(case::Session, SessionRecord)> {
    let log = custody::read(dir).with_context(|| format!("reading {}", dir.display()))?;
    let actor = es::open_session(&log).map(|o| o.operator);
    let s = super::case::open_reporting(dir, actor)?;
    let open = es::require_open(dir)?;
    Ok((s, open))
}

/// Under sudo: the invoking user, their group and home, to run a client as.
fn sudo_user() -> Option<(u32, u32, String, String)> {
    let uid: u32 = std::env::var("SUDO_UID").ok()?.parse().ok()?;
    let gid: u32 = std::env::var("SUDO_GID").ok()?.parse().ok()?;
    if uid == 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| {
        l.split(':')
            .nth(2)
            .and_then(|u| u.parse::<u32>().ok())
            .is_some_and(|u| u == uid)
    })?;
    let f: Vec<&str> = line.split(':').collect();
    Some((
        uid,
        gid,
        f.first()?.to_string(),
        f.get(5).copied().unwrap_or("/").to_string(),
    ))
}

fn run_client(a: RunArgs) -> anyhow::Result<u8> {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let dir = a.case.case.clone();
    let (mut s, open) = open_session(&dir)?;
    let user = if a.keep_root { None } else { sudo_user() };
    let run = es::run_start(
        &mut s,
        &open,
        &a.command,
        user.as_ref().map(|u| u.2.as_str()),
    )
    .context("recording the client run")?;
    let keylog =
        std::fs::canonicalize(dir.join(&run.keylog)).unwrap_or_else(|_| dir.join(&run.keylog));
    let Some((program, rest)) = a.command.split_first() else {
        bail!("name the program to run after --");
    };
    let mut cmd = Command::new(program);
    cmd.args(rest).env("SSLKEYLOGFILE", &keylog);
    if let Some((uid, gid, name, home)) = &user {
        // The client writes its keys as that user.
        std::os::unix::fs::chown(&keylog, Some(*uid), Some(*gid))
            .with_context(|| format!("giving {} to {name}", keylog.display()))?;
        cmd.uid(*uid)
            .gid(*gid)
            .env("HOME", home)
            .env("USER", name)
            .env("LOGNAME", name);
    }
    // The client gets Ctrl-C (same terminal); this process waits for it regardless,
    // to record how it ended.
    let signals = super::capture::signals()?;
    let started = s.now().utc;
    let t0 = Instant::now();
    let outcome = cmd.spawn().and_then(|mut c| c.wait());
    let _ = signals;
    let end = match &outcome {
        Ok(status) => es::RunEnd {
            exit_code: status.code(),
            signal: status.signal(),
            started_utc: started,
            duration_secs: t0.elapsed().as_secs_f64(),
            error: None,
        },
        Err(e) => es::RunEnd {
            exit_code: None,
            signal: None,
            started_utc: started,
            duration_secs: t0.elapsed().as_secs_f64(),
            error: Some(format!("could not start {program}: {e}")),
        },
    };
    let rec = es::run_end(&mut s, &run, &end).context("recording the end of the client run")?;
    eprintln!(
        "whohosts: run {} of session {} ended ({}) after {:.1} s; TLS keys: {} ({} bytes, sha256 {})",
        run.number,
        run.session,
        match (&end.error, end.exit_code, end.signal) {
            (Some(e), _, _) => escape::terminal(e),
            (None, Some(c), _) => format!("exit {c}"),
            (None, None, Some(sig)) => format!("signal {sig}"),
            _ => "unknown".into(),
        },
        end.duration_secs,
        run.keylog,
        rec.size,
        rec.sha256
    );
    Ok(match (&end.error, end.exit_code) {
        (Some(_), _) => exit::ERROR,
        (None, Some(c)) => u8::try_from(c).unwrap_or(1),
        (None, None) => 1,
    })
}

/// What `session status` shows.
#[derive(serde::Serialize)]
struct Status {
    case: String,
    session: Option<SessionRecord>,
    captures: Vec<CaptureStatus>,
    last_seal: Option<String>,
}

#[derive(serde::Serialize)]
struct CaptureStatus {
    capture: u32,
    session: Option<u32>,
    pid: Option<u32>,
    interfaces: Vec<String>,
    running: bool,
    files_closed: usize,
    view: Option<whohosts::report::live::LiveView>,
}

/// The case's state from its custody log, with the live view each running capture
/// publishes (services already attributed by the capture, with its data).
fn status_of(dir: &Path) -> anyhow::Result<Status> {
    let log = custody::read(dir).with_context(|| format!("reading {}", dir.display()))?;
    let session = es::open_session(&log);
    let captures = case_live::captures(&log)
        .into_iter()
        .filter(|c| {
            !c.stopped
                || session
                    .as_ref()
                    .is_some_and(|s| c.session == Some(s.number))
        })
        .map(|c| {
            let running = !c.stopped && case_live::is_running(dir, c.number);
            let view = running
                .then(|| std::fs::read(case_live::state_path(dir, c.number)).ok())
                .flatten()
                .and_then(|b| serde_json::from_slice(&b).ok());
            CaptureStatus {
                capture: c.number,
                session: c.session,
                pid: c.pid,
                interfaces: c.interfaces.clone(),
                running,
                files_closed: c.closed.len(),
                view,
            }
        })
        .collect();
    Ok(Status {
        case: dir.display().to_string(),
        session,
        captures,
        last_seal: manifest::seals(&log).last().map(|s| {
            format!(
                "v{} ({}, sha256 {})",
                s.version, s.manifest, s.manifest_sha256
            )
        }),
    })
}

fn render_status(st: &Status) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    match &st.session {
        None => {
            let _ = writeln!(out, "{}: no session open", escape::terminal(&st.case));
        }
        Some(s) => {
            let _ = writeln!(
                out,
                "{}: session {} open since {} (operator {}, notary {}, certificate {}); {} client run{}{}",
                escape::terminal(&st.case),
                s.number,
                s.started_utc,
                escape::terminal(&s.operator),
                escape::terminal(s.notary.as_deref().unwrap_or("none")),
                escape::terminal(s.certificate.as_deref().unwrap_or("none")),
                s.runs,
                if s.runs == 1 { "" } else { "s" },
                if s.runs > s.runs_ended {
                    format!(", {} running", s.runs - s.runs_ended)
                } else {
                    String::new()
                }
            );
        }
    }
    for c in &st.captures {
        let _ = writeln!(
            out,
            "capture {} on {}: {}, {} file{} closed",
            c.capture,
            escape::terminal(&c.interfaces.join(", ")),
            if c.running {
                format!(
                    "running (process {})",
                    c.pid.map_or_else(|| "?".into(), |p| p.to_string())
                )
            } else {
                "stopped".to_string()
            },
            c.files_closed,
            if c.files_closed == 1 { "" } else { "s" }
        );
        if let Some(v) = &c.view {
            for line in whohosts::report::live::render(v).lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    if let Some(s) = &st.last_seal {
        let _ = writeln!(out, "last seal: {s}");
    }
    out
}

fn status(a: StatusArgs) -> anyhow::Result<u8> {
    let dir = a.case.case.clone();
    // A case command: an interrupted capture is recorded now. Without the right to
    // write, the status is shown as it stands.
    if let Err(e) = super::case::open_reporting(&dir, None) {
        eprintln!("whohosts: note: {e:#}");
    }
    if a.json {
        let st = status_of(&dir)?;
        println!("{}", serde_json::to_string_pretty(&st)?);
        return Ok(exit::OK);
    }
    if !a.watch || !std::io::stdout().is_terminal() {
        print!("{}", render_status(&status_of(&dir)?));
        return Ok(exit::OK);
    }
    let signals = super::capture::signals()?;
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stdout());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    loop {
        let st = status_of(&dir)?;
        bar.set_message(render_status(&st).trim_end().to_string());
        let running = st.captures.iter().any(|c| c.running);
        if st.session.is_none() && !running {
            break;
        }
        if signals.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    bar.finish();
    Ok(exit::OK)
}

fn stop(a: StopArgs) -> anyhow::Result<u8> {
    let dir = a.case.case.clone();
    let (s, open) = open_session(&dir)?;
    drop(s);
    // 1. Stop the session's captures, as Ctrl-C would, and wait for them to record
    //    their files.
    let log = custody::read(&dir)?;
    let running: Vec<case_live::CaptureRecord> = case_live::captures(&log)
        .into_iter()
        .filter(|c| !c.stopped && case_live::is_running(&dir, c.number))
        .collect();
    for c in &running {
        if let Some(pid) = c.pid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
            eprintln!(
                "whohosts: stopping capture {} (process {})",
                c.number,
                pid.as_raw_nonzero()
            );
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
        }
    }
    let began = Instant::now();
    while running
        .iter()
        .any(|c| case_live::is_running(&dir, c.number))
    {
        if began.elapsed() > Duration::from_secs(a.timeout) {
            bail!(
                "a capture has not stopped after {} s; it is still running and nothing was changed (try again, or raise --timeout)",
                a.timeout
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // 2. Captures that died are recorded now.
    let mut s = super::case::open_reporting(&dir, Some(open.operator.clone()))?;
    let log = custody::read(&dir)?;
    let mine: Vec<case_live::CaptureRecord> = case_live::captures(&log)
        .into_iter()
        .filter(|c| c.session == Some(open.number))
        .collect();
    // 3. A report for every capture of the session; those that died never wrote
    //    theirs: they are analysed now, from their files.
    let mut reports: Vec<(u32, String)> = Vec::new();
    for c in &mine {
        if let Some(r) = c.reports.first() {
            reports.push((c.number, r.clone()));
            continue;
        }
        if c.closed.is_empty() {
            continue;
        }
        // Paths as the report shows them: relative to the case.
        let opts = whohosts::pipeline::AnalyzeOptions {
            hashes: whohosts::hash::Algorithms::EVIDENCE,
            ..Default::default()
        };
        let analyses = c
            .closed
            .iter()
            .enumerate()
            .map(|(i, f)| {
                whohosts::pipeline::analyze_capture_as(
                    &dir.join(&f.path),
                    Path::new(&f.path),
                    i as u32,
                    &opts,
                )
            })
            .collect::<Result<Vec<_>, _>>()
            .context("analysing the session's captures")?;
        let attributions = super::capture::attribute(&analyses, &a.sources)?;
        let rel = format!("reports/{}.json", case_live::prefix(c.number));
        let recs = super::capture::write_case_reports(
            &s,
            &case_live::prefix(c.number),
            &analyses,
            &attributions,
        )?;
        s.append(
            "capture.report",
            serde_json::json!({"capture": c.number, "report": rel, "from": "the capture's files, analysed at session stop"}),
            recs,
        )?;
        reports.push((c.number, rel));
    }
    // 4. Letters.
    let mut letters = Vec::new();
    let mut incomplete = Vec::new();
    if let Some(claimant) = &a.claimant {
        let claimant = whohosts::letter::Claimant::load(claimant)?;
        let directory = whohosts::attribute::directory::Directory::bundled()?;
        let case_input = whohosts::letter::input::Case::load(&dir)?;
        for (k, rel) in &reports {
            let report = whohosts::letter::input::Report::load(&dir.join(rel))?;
            let opts = whohosts::letter::DraftOptions {
                date: Some(time::OffsetDateTime::now_utc().date()),
                notary_certificate: open.certificate.clone(),
                ..Default::default()
            };
            let drafts =
                whohosts::letter::draft(&report, &claimant, Some(&case_input), &directory, &opts)?;
            let sub = if reports.len() == 1 {
                format!("letters/session-{:04}", open.number)
            } else {
                format!(
                    "letters/session-{:04}/{}",
                    open.number,
                    case_live::prefix(*k)
                )
            };
            let mut files = Vec::new();
            let mut listed = Vec::new();
            for l in &drafts.letters {
                for (name, text) in l.files() {
                    files.push(s.write_file(&format!("{sub}/{name}"), text.as_bytes())?);
                }
                if !l.missing.is_empty() {
                    incomplete.push(format!(
                        "{sub}/{}: missing {}",
                        l.stem(),
                        l.missing
                            .iter()
                            .map(|m| m.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                listed.push(serde_json::json!({
                    "letter": format!("{sub}/{}", l.stem()),
                    "frame": l.frame.to_string(),
                    "missing": l.missing.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
                }));
            }
            if !drafts.letters.is_empty() {
                let sheet = whohosts::letter::sender_sheet(&drafts);
                files.push(s.write_file(
                    &format!("{sub}/{}", whohosts::letter::SENDER_SHEET),
                    sheet.as_bytes(),
                )?);
            }
            if !files.is_empty() {
                letters.extend(files.iter().map(|f| f.path.clone()));
                s.append(
                    "letter.draft",
                    serde_json::json!({"session": open.number, "report": rel, "letters": listed}),
                    files,
                )?;
            }
        }
    }
    // 5. The stop, then the seal.
    es::record_stop(
        &mut s,
        &open,
        serde_json::json!({
            "captures": mine.iter().map(|c| c.number).collect::<Vec<_>>(),
            "runs": open.runs,
            "reports": reports.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
            "letters": letters,
        }),
        Vec::new(),
    )?;
    // The sheet names this session, its start time-stamp, its notary and certificate.
    let (statement, tsq, tsr) = es::start_paths(open.number);
    let stamp = std::fs::read(dir.join(&tsr))
        .ok()
        .and_then(|r| whohosts::evidence::tsp::inspect(&r, &open.statement_sha256).ok());
    s.sheet_rows = vec![
        (
            "Session".into(),
            format!(
                "{}: started {} by {}; {} client run{}",
                open.number,
                open.started_utc,
                open.operator,
                open.runs,
                if open.runs == 1 { "" } else { "s" }
            ),
        ),
        (
            "Session start time-stamp".into(),
            match stamp {
                Some(t) => format!(
                    "genTime {}, serial {}, over the SHA-256 of {statement} ({tsr})",
                    t.gen_time, t.serial
                ),
                None => format!("request written ({tsq}); no reply recorded"),
            },
        ),
    ];
    if open.notary.is_some() {
        s.info.notary = open.notary.clone();
    }
    if open.certificate.is_some() {
        s.info.notary_certificate = open.certificate.clone();
    }
    let sealed = case::seal(
        &mut s,
        a.tsa.as_deref(),
        whohosts::hash::Algorithms::EVIDENCE,
    )
    .with_context(|| format!("sealing case {}", dir.display()))?;
    print_summary(&dir, &open, &sealed)?;
    for i in &incomplete {
        eprintln!("whohosts: note: letter {} (DRAFT: complete the claimant profile, then `whohosts letter`)", escape::terminal(i));
    }
    Ok(match &sealed.timestamp {
        Some(Err(e)) => {
            eprintln!("whohosts: error: sealed, but the time-stamp failed: {e:#}; the request stays in the case, import a reply later with `case timestamp import`");
            exit::ERROR
        }
        _ => exit::OK,
    })
}

/// What the notary copies into the certificate.
fn print_summary(dir: &Path, open: &SessionRecord, sealed: &case::Sealed) -> anyhow::Result<()> {
    let bytes = std::fs::read(dir.join(&sealed.manifest))?;
    let m = Manifest::parse(&sealed.manifest, &bytes)?;
    let mut h = whohosts::hash::MultiHasher::new(whohosts::hash::Algorithms::EVIDENCE);
    h.update(&bytes);
    let d = h.finish();
    println!(
        "session {} of case {} stopped and sealed",
        open.number,
        dir.display()
    );
    println!();
    println!("For the notary:");
    println!(
        "  session {}: started {} by {}; notary {}; certificate {}",
        open.number,
        open.started_utc,
        escape::terminal(&open.operator),
        escape::terminal(open.notary.as_deref().unwrap_or("none")),
        escape::terminal(open.certificate.as_deref().unwrap_or("none"))
    );
    let (_, _, start_reply) = es::start_paths(open.number);
    println!(
        "  start time-stamp: {}",
        if dir.join(&start_reply).is_file() {
            start_reply
        } else {
            format!("request only ({})", open.request)
        }
    );
    println!("  files ({}):", m.files.len());
    for f in &m.files {
        println!(
            "    {}  {} bytes\n      sha256 {}\n      sm3    {}",
            escape::terminal(&f.path),
            f.digests.size,
            f.digests.sha256.as_deref().unwrap_or("-"),
            f.digests.sm3.as_deref().unwrap_or("-")
        );
    }
    println!(
        "  manifest: {} (version {})\n      sha256 {}\n      sm3    {}",
        sealed.manifest,
        sealed.version,
        sealed.manifest_sha256,
        d.sm3.as_deref().unwrap_or("-")
    );
    match &sealed.timestamp {
        Some(Ok((path, info))) => println!(
            "  time-stamp: {path}, genTime {}, serial {}",
            info.gen_time, info.serial
        ),
        _ => println!("  time-stamp: request {} (no reply yet)", sealed.request),
    }
    println!(
        "  custody head (write it into the certificate): custody.jsonl line {}\n      sha256 {}\n      check: whohosts verify {} --anchor {}",
        sealed.custody_head.seq,
        sealed.custody_head.sha256,
        escape::terminal(&dir.display().to_string()),
        sealed.custody_head.sha256
    );
    for s in &sealed.sheets {
        println!("  notary sheet: {s}");
    }
    println!();
    println!(
        "Check it any time, offline: whohosts verify {}",
        dir.display()
    );
    Ok(())
}
