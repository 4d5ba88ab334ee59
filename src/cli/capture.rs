//! `whohosts capture`: list interfaces, capture live into pcapng files (alone or into
//! a case), with the live view on the terminal and the analysis report at the end.

use super::exit;
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use whohosts::capture::live::{self, SourceOptions};
use whohosts::capture::write::Section;
use whohosts::evidence::live as case_live;
use whohosts::evidence::{custody, session as case_session};
use whohosts::pipeline::{AnalyzeOptions, CaptureAnalysis};
use whohosts::recorder::{self, ClosedFile, Config, Naming, OpenedFile, Recorder, Rotate, Stop};
use whohosts::report::live::{InterfaceLine, LiveView};
use whohosts::report::{escape, Report};

const AFTER_HELP: &str = "\
Examples:
  whohosts capture -D                                   list the interfaces
  sudo whohosts capture -i eth0 -w game.pcapng          capture until Ctrl-C
  sudo whohosts capture -i eth0 -i wlan0 -f 'not port 22' -a duration:600 -w s.pcapng
  sudo whohosts capture -i eth0 -b filesize:100MB -a files:20 -w big.pcapng
  sudo whohosts capture -i eth0 --case ./case           into a case: custody, report, seal

Capturing needs the CAP_NET_RAW and CAP_NET_ADMIN capabilities: run as root, or give
them to the binary once: sudo setcap cap_net_raw,cap_net_admin=eip $(command -v whohosts)

Ctrl-C (or SIGTERM) stops cleanly: the current block is finished, each file gets its
statistics blocks and is closed and hashed (SHA-256 and SM3, computed while writing);
in a case the stop is recorded and the case sealed. A second Ctrl-C changes nothing.

Exit status: 0 stopped as asked; 2 could not start, or a fault stopped the capture (a
full disk, an interface gone): what was written is kept, closed, hashed and recorded.";

/// What to capture and when to stop: shared by `capture` and `session start`.
#[derive(clap::Args, Clone, Debug, Default)]
pub(crate) struct CaptureOptions {
    /// Interface to capture on: its name, or its number in `-D` (repeatable: several
    /// interfaces at once, one file).
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interfaces: Vec<String>,
    /// Capture filter, in libpcap's syntax (as for tcpdump and dumpcap), e.g.
    /// "not port 22".
    #[arg(short = 'f', long, value_name = "FILTER")]
    pub filter: Option<String>,
    /// Bytes kept of each packet.
    #[arg(short = 's', long, value_name = "BYTES", default_value_t = 262_144)]
    pub snaplen: u32,
    /// Do not put the interfaces in promiscuous mode.
    #[arg(short = 'p', long)]
    pub no_promisc: bool,
    /// Kernel capture buffer per interface, MiB.
    #[arg(short = 'B', long, value_name = "MiB", default_value_t = 16)]
    pub buffer_size: u32,
    /// Stop when a condition is met: duration:SECONDS, filesize:SIZE (over all
    /// files), packets:N, files:N (repeatable; the first met stops). SIZE is in kB
    /// (1000 bytes) unless it has a unit: 500kB, 100MB, 2GB, 64MiB.
    #[arg(short = 'a', long = "autostop", value_name = "COND")]
    pub autostop: Vec<String>,
    /// Stop after N packets (the same as -a packets:N).
    #[arg(short = 'c', long = "count", value_name = "N")]
    pub count: Option<u64>,
    /// Switch to a new file after duration:SECONDS or filesize:SIZE (repeatable);
    /// files:N keeps only the newest N files, deleting older ones (refused in a case,
    /// which keeps every file: use -a files:N to stop instead).
    #[arg(short = 'b', long = "ring-buffer", value_name = "COND")]
    pub rotate: Vec<String>,
    /// A comment for the files' section header (repeatable); a case adds its id and
    /// the operator.
    #[arg(long, value_name = "TEXT")]
    pub comment: Vec<String>,
}

impl CaptureOptions {
    /// These options as `whohosts capture` arguments, for a capture started in the
    /// background by `session start`.
    pub(crate) fn to_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        for i in &self.interfaces {
            a.extend(["-i".into(), i.clone()]);
        }
        if let Some(f) = &self.filter {
            a.extend(["-f".into(), f.clone()]);
        }
        a.extend(["-s".into(), self.snaplen.to_string()]);
        if self.no_promisc {
            a.push("-p".into());
        }
        a.extend(["-B".into(), self.buffer_size.to_string()]);
        for c in &self.autostop {
            a.extend(["-a".into(), c.clone()]);
        }
        if let Some(c) = self.count {
            a.extend(["-c".into(), c.to_string()]);
        }
        for c in &self.rotate {
            a.extend(["-b".into(), c.clone()]);
        }
        for c in &self.comment {
            a.extend(["--comment".into(), c.clone()]);
        }
        a
    }

    fn conditions(&self) -> anyhow::Result<(Stop, Rotate)> {
        let mut stop = Stop {
            packets: self.count,
            ..Stop::default()
        };
        for c in &self.autostop {
            let (k, v) = c
                .split_once(':')
                .with_context(|| format!("-a {c:?}: expected KEY:VALUE"))?;
            match k {
                "duration" => {
                    stop.duration = Some(parse_duration(v).with_context(|| format!("-a {c}"))?)
                }
                "filesize" => stop.bytes = Some(parse_size(v).with_context(|| format!("-a {c}"))?),
                "packets" => {
                    stop.packets = Some(parse_count(v).with_context(|| format!("-a {c}"))?)
                }
                "files" => {
                    stop.files = Some(u32::try_from(parse_count(v)?).context("-a files: too many")?)
                }
                _ => {
                    bail!("-a {c:?}: unknown condition {k:?} (duration, filesize, packets, files)")
                }
            }
        }
        let mut rotate = Rotate::default();
        for c in &self.rotate {
            let (k, v) = c
                .split_once(':')
                .with_context(|| format!("-b {c:?}: expected KEY:VALUE"))?;
            match k {
                "duration" => {
                    rotate.duration = Some(parse_duration(v).with_context(|| format!("-b {c}"))?)
                }
                "filesize" => {
                    rotate.bytes = Some(parse_size(v).with_context(|| format!("-b {c}"))?)
                }
                "files" => {
                    rotate.ring =
                        Some(u32::try_from(parse_count(v)?).context("-b files: too many")?)
                }
                _ => bail!("-b {c:?}: unknown condition {k:?} (duration, filesize, files)"),
            }
        }
        if rotate.ring.is_some() && !rotate.is_set() {
            bail!("-b files:N needs -b duration:SECONDS or -b filesize:SIZE to switch files");
        }
        if stop.files.is_some() && !rotate.is_set() {
            bail!("-a files:N needs -b duration:SECONDS or -b filesize:SIZE to switch files");
        }
        Ok((stop, rotate))
    }
}

fn parse_count(v: &str) -> anyhow::Result<u64> {
    match v.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("expected a whole number above 0, found {v:?}"),
    }
}

/// Seconds, or a number with s, m or h.
pub(crate) fn parse_duration(v: &str) -> anyhow::Result<Duration> {
    let v = v.trim();
    let (num, unit) = match v.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => v.split_at(i),
        None => (v, "s"),
    };
    let n: f64 = num
        .trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n > 0.0)
        .with_context(|| format!("expected a duration such as 30, 90s, 10m or 2h, found {v:?}"))?;
    let secs = match unit {
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("unknown duration unit {unit:?} in {v:?} (s, m, h)"),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// kB (1000 bytes) by default, as dumpcap counts; or with a unit.
pub(crate) fn parse_size(v: &str) -> anyhow::Result<u64> {
    let v = v.trim();
    let (num, unit) = match v.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => v.split_at(i),
        None => (v, "kB"),
    };
    let n: f64 = num
        .trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n > 0.0)
        .with_context(|| format!("expected a size such as 500 (kB), 100MB or 2GiB, found {v:?}"))?;
    let mult: f64 = match unit {
        "B" => 1.0,
        "kB" | "KB" | "k" => 1e3,
        "MB" | "M" => 1e6,
        "GB" | "G" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => bail!("unknown size unit {unit:?} in {v:?} (B, kB, MB, GB, KiB, MiB, GiB)"),
    };
    Ok((n * mult) as u64)
}

#[derive(clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// List the interfaces (name, description, addresses, flags, link types) and exit.
    #[arg(short = 'D', long = "list-interfaces")]
    pub list: bool,
    #[command(flatten)]
    pub capture: CaptureOptions,
    /// Write to FILE (pcapng; never overwritten). With -b, files are named
    /// FILE-STEM_NNNNN_YYYYmmddHHMMSS.EXT as dumpcap names them.
    #[arg(
        short = 'w',
        long = "write",
        value_name = "FILE",
        conflicts_with = "case"
    )]
    pub write: Option<PathBuf>,
    /// Capture into this case directory: files in captures/, each file and the stop
    /// recorded in the custody log, the report in reports/, the case sealed at the
    /// end (or by `session stop` when a session is open).
    #[arg(long, value_name = "DIR")]
    pub case: Option<PathBuf>,
    /// Who captures (default: the open session's operator, else the case's).
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
    /// Write the analysis report (as `analyze --json` would) when the capture ends;
    /// with -D, `--json -` lists the interfaces as JSON.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// No live view on the terminal.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[command(flatten)]
    pub sources: super::lookup::SourceArgs,
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    if args.list {
        return list(args.json.as_deref());
    }
    let (stop, rotate) = args.capture.conditions()?;
    if args.capture.interfaces.is_empty() {
        bail!("name the interface(s) to capture on with -i (`whohosts capture -D` lists them)");
    }
    if args.write.is_none() && args.case.is_none() {
        bail!("say where the capture goes: -w FILE, or --case DIR");
    }
    if rotate.ring.is_some() && args.case.is_some() {
        bail!("-b files:N deletes the oldest files; a case keeps every file. Use -a files:N to stop after N files instead");
    }
    if rotate.ring.is_some() && args.json.is_some() {
        bail!(
            "-b files:N deletes the oldest files, which a report would refer to; leave out --json"
        );
    }
    let source = SourceOptions {
        filter: args.capture.filter.clone(),
        snaplen: args
            .capture
            .snaplen
            .clamp(64, whohosts::capture::MAX_RECORD as u32),
        promisc: !args.capture.no_promisc,
        buffer_size: args.capture.buffer_size.saturating_mul(1 << 20),
        ..SourceOptions::default()
    };
    let mut section = Section {
        hardware: live::hardware_name(),
        os: live::os_name(),
        application: format!("whohosts {}", env!("CARGO_PKG_VERSION")),
        comments: Vec::new(),
    };
    let mut config = Config {
        interfaces: args.capture.interfaces.clone(),
        source,
        naming: Naming::Single(PathBuf::new()),
        stop,
        rotate,
        section: Section::default(),
        analyze: Some(AnalyzeOptions::default()),
        report_base: None,
    };
    match &args.case {
        Some(dir) => capture_into_case(&args, dir, config, section),
        None => {
            let path = args.write.clone().unwrap_or_default();
            config.naming = if config.rotate.is_set() {
                numbered(&path)
            } else {
                Naming::Single(path)
            };
            section.comments = args.capture.comment.clone();
            if let Some(op) = &args.operator {
                section.comments.push(format!("operator: {op}"));
            }
            config.section = section;
            if args.json.is_none() {
                config.analyze = if args.quiet || !std::io::stderr().is_terminal() {
                    None
                } else {
                    Some(AnalyzeOptions::default())
                };
            }
            let sources = Recorder::open(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
            let journal = Box::new(PlainJournal);
            let outcome = run_capture(&args, config, sources, journal, None)?;
            print_outcome(&outcome, true);
            if let Some(json) = &args.json {
                let attributions = attribute(&outcome.analyses, &args.sources)?;
                whohosts::report::write_atomic_with(json, |w| {
                    write_report(&outcome.analyses, &attributions, w)
                })
                .with_context(|| format!("writing the report to {}", json.display()))?;
                eprintln!("whohosts: report: {}", json.display());
            }
            Ok(finish_code(&outcome))
        }
    }
}

/// `-w FILE` with rotation: FILE's directory, stem and extension.
fn numbered(path: &Path) -> Naming {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let prefix = path
        .file_stem()
        .map_or_else(|| "capture".into(), |s| s.to_string_lossy().into_owned());
    let ext = path
        .extension()
        .map_or_else(|| "pcapng".into(), |s| s.to_string_lossy().into_owned());
    Naming::Numbered { dir, prefix, ext }
}

fn list(json: Option<&Path>) -> anyhow::Result<u8> {
    let all = live::interfaces(true).context("listing interfaces")?;
    if json.is_some_and(|p| p.as_os_str() == "-") {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(exit::OK);
    }
    if json.is_some() {
        bail!("with -D, --json takes only `-` (standard output)");
    }
    for i in &all {
        let mut flags = Vec::new();
        if i.up {
            flags.push("up");
        }
        if i.running {
            flags.push("running");
        }
        if i.loopback {
            flags.push("loopback");
        }
        if i.wireless {
            flags.push("wireless");
        }
        println!(
            "{}. {}{}",
            i.number,
            escape::terminal(&i.name),
            i.description
                .as_deref()
                .map(|d| format!(" ({})", escape::terminal(d)))
                .unwrap_or_default()
        );
        println!(
            "     flags: {}; connection: {}",
            if flags.is_empty() {
                "down".to_string()
            } else {
                flags.join(", ")
            },
            i.connection
        );
        if !i.addresses.is_empty() {
            println!("     addresses: {}", i.addresses.join(", "));
        }
        match &i.link_types {
            Ok(l) => println!(
                "     link types: {}",
                l.iter()
                    .map(|t| if t.description.is_empty() {
                        t.name.clone()
                    } else {
                        format!("{} ({})", t.name, t.description)
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(why) => println!("     link types: {why}"),
        }
    }
    Ok(exit::OK)
}

/// Prints each file as it closes (it has its digests then), also with `--quiet`:
/// the files and their hashes are the capture's result.
struct PlainJournal;

impl recorder::Journal for PlainJournal {
    fn opened(&mut self, _: &OpenedFile) -> Result<(), recorder::JournalError> {
        Ok(())
    }

    fn closed(&mut self, f: &ClosedFile) -> Result<(), recorder::JournalError> {
        eprintln!("{}", closed_line(f));
        Ok(())
    }

    fn removed(&mut self, f: &ClosedFile) -> Result<(), recorder::JournalError> {
        eprintln!(
            "whohosts: ring buffer: removed the oldest file {}",
            escape::terminal(&f.path.display().to_string())
        );
        Ok(())
    }
}

fn closed_line(f: &ClosedFile) -> String {
    format!(
        "closed {}: {} packets, {} bytes{}\n  sha256 {}\n  sm3    {}",
        escape::terminal(&f.path.display().to_string()),
        f.packets,
        f.digests.size,
        if f.complete {
            ""
        } else {
            " (incomplete: a write failed)"
        },
        f.digests.sha256.as_deref().unwrap_or("-"),
        f.digests.sm3.as_deref().unwrap_or("-"),
    )
}

/// Ctrl-C, SIGTERM and SIGHUP, counted: they no longer end the process; the loop
/// that watches the count stops the capture cleanly (a second one changes nothing but
/// a message).
pub(crate) fn signals() -> anyhow::Result<Arc<AtomicUsize>> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let count = Arc::new(AtomicUsize::new(0));
    let mut it = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .context("installing the signal handlers")?;
    let c = Arc::clone(&count);
    std::thread::Builder::new()
        .name("whohosts-signals".into())
        .spawn(move || {
            for _ in it.forever() {
                c.fetch_add(1, Ordering::SeqCst);
            }
        })
        .context("starting the signal thread")?;
    Ok(count)
}

/// Runs a capture to its end with the live view; `state` receives the view every
/// second (a case's `.run/` file).
fn run_capture(
    args: &Args,
    config: Config,
    sources: Vec<live::Source>,
    journal: Box<dyn recorder::Journal>,
    state: Option<&case_live::Running>,
) -> anyhow::Result<recorder::Outcome> {
    let signals = signals()?;
    let view_on = !args.quiet && std::io::stderr().is_terminal();
    // Provider and region for the view, from the offline data (loaded once).
    let attributor = if view_on || state.is_some() {
        args.sources.load().ok()
    } else {
        None
    };
    let rec = Recorder::start(config, sources, journal).map_err(|e| anyhow::anyhow!("{e}"))?;
    let names: Vec<String> = rec.interfaces.iter().map(|i| i.name.clone()).collect();
    let bar = view_on.then(|| {
        let b =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        b.set_style(
            indicatif::ProgressStyle::with_template("{msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b
    });
    if !view_on && !args.quiet {
        eprintln!("whohosts: capturing on {}; Ctrl-C stops", names.join(", "));
    }
    let started = Instant::now();
    let mut cache = BTreeMap::new();
    let mut seen_signals = 0;
    let mut last = (Instant::now(), 0u64);
    let mut rate = 0.0;
    let mut last_state = Instant::now() - Duration::from_secs(10);
    loop {
        let n = signals.load(Ordering::SeqCst);
        if n > seen_signals {
            if seen_signals == 0 {
                rec.stop();
            } else if !args.quiet {
                let msg = "whohosts: still stopping: the files are being closed and hashed; nothing is lost by waiting";
                match &bar {
                    Some(b) => b.println(msg),
                    None => eprintln!("{msg}"),
                }
            }
            seen_signals = n;
        }
        if rec.is_finished() {
            break;
        }
        let bytes = rec.status.bytes.load(Ordering::Relaxed);
        if last.0.elapsed() >= Duration::from_millis(900) {
            rate = (bytes - last.1) as f64 / last.0.elapsed().as_secs_f64();
            last = (Instant::now(), bytes);
        }
        let want_state = state.is_some() && last_state.elapsed() >= Duration::from_secs(1);
        if bar.is_some() || want_state {
            let view = view_of(&rec, started, rate, attributor.as_ref(), &mut cache);
            if let Some(b) = &bar {
                b.set_message(whohosts::report::live::render(&view));
            }
            if let (Some(run), true) = (state, want_state) {
                last_state = Instant::now();
                if let Ok(bytes) = serde_json::to_vec(&view) {
                    run.write_state(&bytes);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    Ok(rec.wait())
}

fn view_of(
    rec: &Recorder,
    started: Instant,
    rate: f64,
    attributor: Option<&whohosts::attribute::Attributor>,
    cache: &mut BTreeMap<std::net::IpAddr, String>,
) -> LiveView {
    let s = &rec.status;
    let names = s.names.lock().map(|n| n.clone()).unwrap_or_default();
    LiveView {
        elapsed_secs: started.elapsed().as_secs_f64(),
        packets: s.packets.load(Ordering::Relaxed),
        bytes: s.bytes.load(Ordering::Relaxed),
        rate,
        files: s.files.load(Ordering::Relaxed),
        current_file: s
            .current
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|p| p.display().to_string())),
        interfaces: s
            .counters
            .lock()
            .map(|c| {
                c.iter()
                    .map(|(name, c)| InterfaceLine {
                        name: name.clone(),
                        received: c.received,
                        kernel_drops: c.kernel_drops,
                        interface_drops: c.interface_drops,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        analysed: s.analysed.load(Ordering::Relaxed),
        services: whohosts::report::live::services(&names, attributor, cache),
        stopping: rec.is_stopping(),
    }
}

/// Prints the end of a capture: why it stopped, each interface's counters, each
/// file with its digests (unless printed as it closed), each fault.
fn print_outcome(o: &recorder::Outcome, files_printed: bool) {
    eprintln!(
        "whohosts: capture stopped ({}): {} packets in {} file{}",
        match o.reason {
            recorder::StopReason::Requested => "stop requested",
            recorder::StopReason::Duration => "duration reached",
            recorder::StopReason::Size => "size reached",
            recorder::StopReason::Packets => "packet count reached",
            recorder::StopReason::Files => "file count reached",
            recorder::StopReason::Fault => "fault",
        },
        o.files.iter().map(|f| f.packets).sum::<u64>(),
        o.files.len(),
        if o.files.len() == 1 { "" } else { "s" }
    );
    for (name, c) in &o.interfaces {
        match c {
            Some(c) => eprintln!(
                "  {}: received {}, dropped by the kernel {}, by the interface {}",
                escape::terminal(name),
                c.received,
                c.kernel_drops,
                c.interface_drops
            ),
            None => eprintln!("  {}: counters unknown", escape::terminal(name)),
        }
    }
    if !files_printed {
        for f in &o.files {
            eprintln!("{}", closed_line(f));
        }
    }
    for f in &o.faults {
        eprintln!("whohosts: error: {}", escape::terminal(&f.to_string()));
    }
}

fn finish_code(o: &recorder::Outcome) -> u8 {
    if o.reason == recorder::StopReason::Fault {
        exit::ERROR
    } else {
        exit::OK
    }
}

/// Attributes the addresses of finished analyses with the offline data.
pub(crate) fn attribute(
    analyses: &[CaptureAnalysis],
    sources: &super::lookup::SourceArgs,
) -> anyhow::Result<whohosts::attribute::Attributions> {
    let attributor = sources.load().context("loading attribution data")?;
    Ok(attributor.attribute_all(
        whohosts::pipeline::addresses(analyses),
        analyses.iter().flat_map(|a| a.names.iter()),
    ))
}

/// Writes the report of finished analyses as it is built (a large capture's report is
/// never held in memory whole).
pub(crate) fn write_report(
    analyses: &[CaptureAnalysis],
    attributions: &whohosts::attribute::Attributions,
    w: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    Report::build_for(analyses, &[], &[], Some(attributions)).write_json(w)
}

/// Writes a case's report of finished analyses: `reports/<prefix>.json`, and the same
/// report as HTML in English and in Chinese beside it. Gives the records to enter in
/// custody, the JSON's first.
pub(crate) fn write_case_reports(
    s: &whohosts::evidence::case::Session,
    prefix: &str,
    analyses: &[CaptureAnalysis],
    attributions: &whohosts::attribute::Attributions,
) -> anyhow::Result<Vec<whohosts::evidence::custody::FileRecord>> {
    use whohosts::report::html::{self, Lang};
    let report = Report::build_for(analyses, &[], &[], Some(attributions));
    let mut records =
        vec![s.write_file_with(&format!("reports/{prefix}.json"), |w| report.write_json(w))?];
    for (lang, suffix) in [(Lang::En, ""), (Lang::ZhCn, ".zh-CN")] {
        let page = html::render(&report, lang);
        if let Some(f) = report.failure() {
            anyhow::bail!("{f}");
        }
        records.push(
            s.write_file_with(&format!("reports/{prefix}{suffix}.html"), |w| {
                w.write_all(page.as_bytes())
            })?,
        );
    }
    Ok(records)
}

fn capture_into_case(
    args: &Args,
    dir: &Path,
    mut config: Config,
    mut section: Section,
) -> anyhow::Result<u8> {
    let log = custody::read(dir)
        .with_context(|| format!("reading the custody log of {}", dir.display()))?;
    let open = case_session::open_session(&log);
    let actor = args
        .operator
        .clone()
        .or_else(|| open.as_ref().map(|o| o.operator.clone()));
    let mut s = super::case::open_reporting(dir, actor)?;
    // Every interface first: one that cannot be opened is refused before anything is
    // recorded.
    let sources = Recorder::open(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let interfaces: Vec<serde_json::Value> = config
        .interfaces
        .iter()
        .map(|i| {
            serde_json::json!({
                "name": i,
                "filter": config.source.filter,
                "snaplen": config.source.snaplen,
                "promiscuous": config.source.promisc,
                "buffer_size": config.source.buffer_size,
            })
        })
        .collect();
    let running = case_live::begin(
        &mut s,
        open.as_ref().map(|o| o.number),
        serde_json::json!({
            "interfaces": interfaces,
            "stop": config.stop,
            "rotate": config.rotate,
            "section_comments": args.capture.comment,
        }),
    )
    .with_context(|| format!("starting a capture in case {}", dir.display()))?;
    let k = running.number;
    section.comments = vec![format!(
        "case {}; capture {k}{}; operator {}",
        s.info.id,
        open.as_ref()
            .map(|o| format!(" of session {}", o.number))
            .unwrap_or_default(),
        s.actor()
    )];
    section
        .comments
        .extend(args.capture.comment.iter().cloned());
    config.section = section;
    config.naming = Naming::Numbered {
        dir: dir.join("captures"),
        prefix: case_live::prefix(k),
        ext: "pcapng".into(),
    };
    config.report_base = Some(dir.to_path_buf());
    config.analyze = Some(AnalyzeOptions::default());
    let session = Arc::new(Mutex::new(s));
    let journal = Box::new(case_live::CaseJournal {
        session: Arc::clone(&session),
        capture: k,
        dir: dir.to_path_buf(),
    });
    let outcome = match run_capture(args, config, sources, journal, Some(&running)) {
        Ok(o) => o,
        Err(e) => {
            // Nothing was captured (an interface or the first file failed): say so.
            let _ = case_live::record(
                &session,
                &running.reserve(),
                "capture.stop",
                serde_json::json!({"capture": k, "reason": "failed to start", "error": format!("{e:#}")}),
                Vec::new(),
            );
            running.end();
            return Err(e);
        }
    };
    print_outcome(&outcome, false);
    if outcome.reason == recorder::StopReason::Fault {
        // A full disk: the reserve makes room for what follows.
        running.release_reserve();
    }
    let reserve = running.reserve();
    let totals = serde_json::json!({
        "capture": k,
        "reason": outcome.reason,
        "faults": outcome.faults,
        "faults_text": outcome.faults.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
        "files": outcome.files.len(),
        "packets": outcome.files.iter().map(|f| f.packets).sum::<u64>(),
        "bytes": outcome.files.iter().map(|f| f.digests.size).sum::<u64>(),
        "interfaces": outcome.interfaces,
        "started_utc": case_live::rfc3339_ns(outcome.started_ns),
        "ended_utc": case_live::rfc3339_ns(outcome.ended_ns),
        "analysis_read_from_disk_chunks": outcome.analysis_missed,
    });
    case_live::record(&session, &reserve, "capture.stop", totals, Vec::new())
        .context("recording the stop in the custody log")?;
    let mut s = Arc::try_unwrap(session)
        .map_err(|_| anyhow::anyhow!("the journal still holds the case"))?
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    if !outcome.analyses.is_empty() {
        let rel = format!("reports/{}.json", case_live::prefix(k));
        let written = attribute(&outcome.analyses, &args.sources)
            .and_then(|at| write_case_reports(&s, &case_live::prefix(k), &outcome.analyses, &at));
        match written {
            Ok(recs) => {
                s.append(
                    "capture.report",
                    serde_json::json!({"capture": k, "report": rel, "from": "the analysis made while capturing"}),
                    recs,
                )?;
                if !args.quiet {
                    eprintln!("whohosts: report: {}", dir.join(&rel).display());
                }
            }
            Err(e) => eprintln!("whohosts: error: writing the report {rel}: {e:#}"),
        }
    }
    if open.is_none() {
        let sealed =
            whohosts::evidence::case::seal(&mut s, None, whohosts::hash::Algorithms::EVIDENCE)
                .with_context(|| format!("sealing case {}", dir.display()))?;
        if !args.quiet {
            eprintln!(
                "whohosts: sealed v{}: {} sha256 {}",
                sealed.version, sealed.manifest, sealed.manifest_sha256
            );
        }
    } else if !args.quiet {
        eprintln!("whohosts: the session's `session stop` will seal the case");
    }
    running.end();
    Ok(finish_code(&outcome))
}
