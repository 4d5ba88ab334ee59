//! Live capture into pcapng files, hashed while they are written and analysed as they
//! grow.
//!
//! Threads, and what flows between them:
//!
//! ```text
//!  one per interface          writer                          journal
//!  libpcap → EPB blocks ──► files: SHB, IDBs, EPBs, ISBs ──► digests, custody, ring
//!            (bounded)        rotation, stop conditions        (file by file, in order)
//!                             │ the same chunks
//!                             ├──► hashing threads (SHA-256, SM3), bounded
//!                             └──► analysis (pipeline::Pass), never waited for
//! ```
//!
//! Each file starts with a section header (hardware, OS, application, comments) and one
//! interface description per interface; packets are enhanced packet blocks encoded by
//! the capture threads; when a file is closed, an interface statistics block per
//! interface gives libpcap's counters. Blocks are written whole, so a file is readable
//! up to its last complete block whatever happens to the process. The digests of a
//! file cover exactly the bytes written, computed from the chunks as they are written,
//! never by reading the file again.
//!
//! The analysis reads the same chunks ([`crate::capture::follow`]) through the same
//! reader and [`crate::pipeline::Pass`] as `whohosts analyze`, so the analysis of a
//! live capture is the analysis of its files. When it falls behind, the writer does not
//! wait: the analysis reads what it missed from the file.
//!
//! Contract: a write error (a full disk) or an interface that fails stops the capture;
//! everything written so far is kept, closed and hashed, and the fault is returned
//! with the file, offset or interface it concerns. Nothing here deletes a file except
//! the ring buffer's oldest when asked (`Rotate::ring`), and nothing is overwritten:
//! files are created new.

use crate::capture::follow::{self, FollowSender};
use crate::capture::live::{Breaker, Counters, LiveError, Source, SourceOptions};
use crate::capture::write::{self, Section};
use crate::capture::{CaptureReader, Compression};
use crate::hash::{Algorithms, Digests, ThreadedHasher};
use crate::model::Transport;
use crate::pipeline::{AnalyzeOptions, CaptureAnalysis, Pass};
use crate::services::{NameEvidence, NameSource};
use serde::Serialize;
use std::fs::File;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// Batches in flight from the capture threads to the writer.
const BATCHES_IN_FLIGHT: usize = 256;
/// Bytes a hashing thread may lag behind the writer before the writer waits for it
/// (SM3 hashes about 200 MB/s: this is a fraction of a second at full speed).
const HASH_BACKLOG: usize = 64 << 20;
/// Bytes the analysis may lag behind before it reads from the file instead.
const FOLLOW_BACKLOG: usize = 32 << 20;
/// How often the capture threads refresh libpcap's counters.
const COUNTERS_EVERY: Duration = Duration::from_millis(250);
/// How often the writer wakes without packets, for time-based rotation and stops.
const TICK: Duration = Duration::from_millis(50);
/// How often the written data is synced to the disk.
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// After a stop, how long a capture thread goes on reading what the kernel holds: at
/// most, and once nothing more comes (longer than the kernel's block timeout, the read
/// timeout).
const DRAIN_MAX: Duration = Duration::from_secs(2);
const DRAIN_IDLE: Duration = Duration::from_millis(250);

/// When to stop.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stop {
    pub duration: Option<Duration>,
    /// Bytes written over all files.
    pub bytes: Option<u64>,
    pub packets: Option<u64>,
    pub files: Option<u32>,
}

/// When to switch to a new file.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Rotate {
    pub bytes: Option<u64>,
    pub duration: Option<Duration>,
    /// Keep only the newest N files (a ring buffer), deleting the oldest.
    pub ring: Option<u32>,
}

impl Rotate {
    pub fn is_set(&self) -> bool {
        self.bytes.is_some() || self.duration.is_some()
    }
}

/// Where files go.
#[derive(Clone, Debug)]
pub enum Naming {
    /// Exactly this file (no rotation).
    Single(PathBuf),
    /// `DIR/PREFIX_NNNNN_YYYYmmddHHMMSS.EXT`, as dumpcap names ring buffer files.
    Numbered {
        dir: PathBuf,
        prefix: String,
        ext: String,
    },
}

impl Naming {
    /// The name of file `number` (1-based) opened at `at`.
    pub fn path(&self, number: u32, at: SystemTime) -> PathBuf {
        match self {
            Naming::Single(p) => p.clone(),
            Naming::Numbered { dir, prefix, ext } => {
                let t = time::OffsetDateTime::from(at);
                dir.join(format!(
                    "{prefix}_{number:05}_{:04}{:02}{:02}{:02}{:02}{:02}.{ext}",
                    t.year(),
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second()
                ))
            }
        }
    }
}

/// Everything a capture needs.
#[derive(Clone, Debug)]
pub struct Config {
    pub interfaces: Vec<String>,
    pub source: SourceOptions,
    pub naming: Naming,
    pub stop: Stop,
    pub rotate: Rotate,
    pub section: Section,
    /// Analyse the files as they are written; `None` captures only.
    pub analyze: Option<AnalyzeOptions>,
    /// File paths in the analysis are shown relative to this directory (a case's),
    /// as `whohosts analyze` run there would show them.
    pub report_base: Option<PathBuf>,
}

/// A file just created, before its first byte.
#[derive(Clone, Debug, Serialize)]
pub struct OpenedFile {
    pub number: u32,
    pub path: PathBuf,
    pub opened_ns: u64,
}

/// One interface's share of a closed file.
#[derive(Clone, Debug, Serialize)]
pub struct InterfaceShare {
    pub name: String,
    /// Packets of this interface written to the file.
    pub packets: u64,
    /// libpcap's counters when the file was closed (since the capture started), as
    /// the file's statistics block records them; `None` when they could not be read.
    pub counters: Option<Counters>,
    /// Drops (kernel and interface) while this file was the one written.
    pub drops_during_file: Option<u64>,
}

/// A file closed and hashed.
#[derive(Clone, Debug, Serialize)]
pub struct ClosedFile {
    pub number: u32,
    pub path: PathBuf,
    pub digests: Digests,
    pub packets: u64,
    pub blocks: u64,
    pub opened_ns: u64,
    pub closed_ns: u64,
    pub interfaces: Vec<InterfaceShare>,
    /// False when a write failed: the file ends where the failure left it, possibly
    /// inside a block, and has no statistics blocks.
    pub complete: bool,
}

/// What stopped a capture, or failed during one.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Writing a file failed (a full disk, say).
    Write {
        path: PathBuf,
        offset: u64,
        error: String,
    },
    /// An interface failed or went away.
    Interface { interface: String, error: String },
    /// The journal (the case's custody log) could not record a file.
    Journal { error: String },
    /// The analysis of a file could not be completed.
    Analysis { path: PathBuf, error: String },
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Write {
                path,
                offset,
                error,
            } => write!(f, "writing {} at offset {offset}: {error}", path.display()),
            Fault::Interface { interface, error } => write!(f, "{interface}: {error}"),
            Fault::Journal { error } => write!(f, "recording a file: {error}"),
            Fault::Analysis { path, error } => {
                write!(f, "analysing {}: {error}", path.display())
            }
        }
    }
}

/// Why the capture stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// [`Recorder::stop`]: Ctrl-C, SIGTERM, `session stop`.
    Requested,
    Duration,
    Size,
    Packets,
    Files,
    Fault,
}

/// Records files as they open and close: a case's custody log, or a line on the
/// terminal. Called on the journal thread, in order.
pub trait Journal: Send + 'static {
    fn opened(&mut self, file: &OpenedFile) -> Result<(), JournalError>;
    fn closed(&mut self, file: &ClosedFile) -> Result<(), JournalError>;
    /// The ring buffer deleted this file.
    fn removed(&mut self, file: &ClosedFile) -> Result<(), JournalError>;
}

/// Why a journal could not record a file. Journals belong to later stages (the
/// case's custody log is `evidence`'s), so the recorder cannot name their error
/// types: it keeps the error whole, for its message and for a caller to downcast
/// (`evidence::CaseError`).
pub type JournalError = Box<dyn std::error::Error + Send + Sync>;

/// What a running capture shows: counters, the file being written, the names seen.
#[derive(Default)]
pub struct Status {
    pub packets: AtomicU64,
    /// Bytes written over all files.
    pub bytes: AtomicU64,
    pub files: AtomicU64,
    /// Frames the analysis has read.
    pub analysed: AtomicU64,
    pub current: Mutex<Option<PathBuf>>,
    /// libpcap's counters per interface, refreshed a few times a second.
    pub counters: Mutex<Vec<(String, Counters)>>,
    /// Names bound to server addresses so far, over all files, as found.
    pub names: Mutex<Vec<NameEvidence>>,
    pub stopping: AtomicBool,
}

/// Everything a finished capture produced.
pub struct Outcome {
    pub reason: StopReason,
    pub files: Vec<ClosedFile>,
    pub faults: Vec<Fault>,
    pub interfaces: Vec<(String, Option<Counters>)>,
    /// One analysis per file, in file order (empty without `Config::analyze`).
    pub analyses: Vec<CaptureAnalysis>,
    pub started_ns: u64,
    pub ended_ns: u64,
    /// Chunks the analysis read from the files because it had fallen behind.
    pub analysis_missed: u64,
}

/// Why a capture could not start. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("recording {path}: {source}")]
    Journal {
        path: PathBuf,
        #[source]
        source: JournalError,
    },
    #[error("starting a thread: {0}")]
    Thread(#[source] io::Error),
}

/// A running capture.
pub struct Recorder {
    stop: Arc<StopSignal>,
    pub status: Arc<Status>,
    pub interfaces: Vec<write::Interface>,
    pub started_ns: u64,
    captures: Vec<JoinHandle<()>>,
    writer: JoinHandle<WriterEnd>,
    journal: JoinHandle<(Vec<ClosedFile>, Vec<Fault>)>,
    analysis: Option<JoinHandle<(Vec<CaptureAnalysis>, Vec<Fault>)>>,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

enum Msg {
    Batch {
        iface: u32,
        bytes: Vec<u8>,
    },
    Failed {
        iface: u32,
        error: LiveError,
    },
    Done {
        iface: u32,
        counters: Option<Counters>,
    },
}

enum Event {
    Opened(OpenedFile),
    Closed {
        meta: ClosedFile,
        hasher: ThreadedHasher,
        digests_to: Option<mpsc::Sender<Digests>>,
    },
}

struct NewFile {
    index: u32,
    path: PathBuf,
    shown: PathBuf,
    follow: follow::Follow,
    digests: mpsc::Receiver<Digests>,
}

impl Recorder {
    /// Opens every interface of the configuration, all or none.
    pub fn open(config: &Config) -> Result<Vec<Source>, LiveError> {
        config
            .interfaces
            .iter()
            .map(|name| Source::open(name, &config.source))
            .collect()
    }

    /// Creates the first file, records it in the journal and starts capturing from
    /// the interfaces [`Recorder::open`] opened.
    pub fn start(
        config: Config,
        sources: Vec<Source>,
        mut journal: Box<dyn Journal>,
    ) -> Result<Recorder, StartError> {
        let interfaces: Vec<write::Interface> =
            sources.iter().map(|s| s.interface.clone()).collect();
        let stop = Arc::new(StopSignal {
            flag: AtomicBool::new(false),
            breakers: Mutex::new(Vec::new()),
        });
        let status = Arc::new(Status::default());
        *lock(&status.counters) = interfaces
            .iter()
            .map(|i| (i.name.clone(), Counters::default()))
            .collect();
        let started_ns = now_ns();
        let (events_tx, events_rx) = mpsc::channel::<Event>();
        let (analysis_tx, analysis) = match &config.analyze {
            Some(opts) => {
                let (tx, rx) = mpsc::channel::<NewFile>();
                let opts = opts.clone();
                let status = Arc::clone(&status);
                let h = std::thread::Builder::new()
                    .name("whohosts-analysis".into())
                    .spawn(move || analysis_loop(rx, &opts, &status))
                    .map_err(StartError::Thread)?;
                (Some(tx), Some(h))
            }
            None => (None, None),
        };
        let mut writer = Writer {
            interfaces: interfaces.clone(),
            config: config.clone(),
            status: Arc::clone(&status),
            stop: Arc::clone(&stop),
            events: events_tx,
            analysis: analysis_tx,
            file: None,
            number: 0,
            closed: 0,
            total_bytes: 0,
            total_packets: 0,
            started: Instant::now(),
            started_ns,
            reason: None,
            faults: Vec::new(),
            counters: vec![None; interfaces.len()],
            last_sync: Instant::now(),
            missed: 0,
        };
        // The first file is made here, so that a name that exists or a directory that
        // cannot be written is refused before anything is captured.
        let opened = writer
            .open_next()
            .map_err(|(path, source)| StartError::File { path, source })?;
        journal
            .opened(&opened)
            .map_err(|source| StartError::Journal {
                path: opened.path.clone(),
                source,
            })?;
        let ring = config.rotate.ring;
        let journal = std::thread::Builder::new()
            .name("whohosts-journal".into())
            .spawn(move || journal_loop(events_rx, journal, ring))
            .map_err(StartError::Thread)?;
        let (batches_tx, batches_rx) = mpsc::sync_channel::<Msg>(BATCHES_IN_FLIGHT);
        let mut captures = Vec::new();
        for (i, mut src) in sources.into_iter().enumerate() {
            lock(&stop.breakers).push(src.breaker());
            let tx = batches_tx.clone();
            let stop = Arc::clone(&stop);
            let status = Arc::clone(&status);
            let h = std::thread::Builder::new()
                .name(format!("whohosts-capture-{i}"))
                .spawn(move || capture_loop(i as u32, src, &tx, &stop, &status))
                .map_err(StartError::Thread)?;
            captures.push(h);
        }
        drop(batches_tx);
        let n = interfaces.len();
        let writer = std::thread::Builder::new()
            .name("whohosts-writer".into())
            .spawn(move || writer.run(&batches_rx, n))
            .map_err(StartError::Thread)?;
        Ok(Recorder {
            stop,
            status,
            interfaces,
            started_ns,
            captures,
            writer,
            journal,
            analysis,
        })
    }

    /// Asks the capture to stop: each interface reads what the kernel still holds,
    /// the files are closed with their statistics, hashed and recorded.
    pub fn stop(&self) {
        self.status.stopping.store(true, Ordering::Release);
        self.stop.trigger();
    }

    /// True once the capture has stopped by itself (a stop condition or a fault) or
    /// after [`Recorder::stop`]; [`Recorder::wait`] then returns promptly.
    pub fn is_stopping(&self) -> bool {
        self.stop.is_set()
    }

    /// True when every thread has ended.
    pub fn is_finished(&self) -> bool {
        self.writer.is_finished()
            && self.journal.is_finished()
            && self.analysis.as_ref().is_none_or(|a| a.is_finished())
    }

    /// Waits for the capture to end and returns what it produced.
    pub fn wait(self) -> Outcome {
        for h in self.captures {
            let _ = h.join();
        }
        let end = self.writer.join().unwrap_or_else(|_| WriterEnd {
            reason: StopReason::Fault,
            faults: vec![Fault::Journal {
                error: "the writer thread failed".into(),
            }],
            counters: Vec::new(),
            missed: 0,
        });
        let (files, journal_faults) = self.journal.join().unwrap_or_else(|_| {
            (
                Vec::new(),
                vec![Fault::Journal {
                    error: "the journal thread failed".into(),
                }],
            )
        });
        let (analyses, analysis_faults) = match self.analysis {
            Some(h) => h.join().unwrap_or_else(|_| {
                (
                    Vec::new(),
                    vec![Fault::Journal {
                        error: "the analysis thread failed".into(),
                    }],
                )
            }),
            None => (Vec::new(), Vec::new()),
        };
        let mut faults = end.faults;
        faults.extend(journal_faults);
        faults.extend(analysis_faults);
        let reason = if faults.iter().any(|f| !matches!(f, Fault::Analysis { .. })) {
            StopReason::Fault
        } else {
            end.reason
        };
        Outcome {
            reason,
            files,
            faults,
            interfaces: self
                .interfaces
                .iter()
                .map(|i| i.name.clone())
                .zip(end.counters.into_iter().chain(std::iter::repeat(None)))
                .collect(),
            analyses,
            started_ns: self.started_ns,
            ended_ns: now_ns(),
            analysis_missed: end.missed,
        }
    }
}

/// The stop flag, and the handles that wake the capture threads waiting for packets.
struct StopSignal {
    flag: AtomicBool,
    breakers: Mutex<Vec<Breaker>>,
}

impl StopSignal {
    fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    fn trigger(&self) {
        self.flag.store(true, Ordering::Release);
        for b in lock(&self.breakers).iter() {
            b.interrupt();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn capture_loop(
    iface: u32,
    mut src: Source,
    tx: &SyncSender<Msg>,
    stop: &StopSignal,
    status: &Status,
) {
    let mut last_counters = Instant::now();
    let mut known: Option<Counters> = None;
    let refresh = |src: &mut Source, known: &mut Option<Counters>| {
        if let Ok(c) = src.counters() {
            *known = Some(c);
            if let Some(slot) = lock(&status.counters).get_mut(iface as usize) {
                slot.1 = c;
            }
        }
    };
    while !stop.is_set() {
        let mut bytes = Vec::with_capacity(64 << 10);
        match src.read(iface, &mut bytes) {
            Ok(n) => {
                if n > 0 && tx.send(Msg::Batch { iface, bytes }).is_err() {
                    break;
                }
            }
            // A read interrupted by the stop ends with an error of no meaning.
            Err(_) if stop.is_set() => break,
            Err(error) => {
                let _ = tx.send(Msg::Failed { iface, error });
                refresh(&mut src, &mut known);
                let _ = tx.send(Msg::Done {
                    iface,
                    counters: known,
                });
                return;
            }
        }
        if last_counters.elapsed() >= COUNTERS_EVERY {
            last_counters = Instant::now();
            refresh(&mut src, &mut known);
        }
    }
    // What the kernel captured before the stop is still to be read: without waiting,
    // until it has had time to hand over its last partly filled block.
    if let Ok(mut src) = src.nonblocking() {
        let began = Instant::now();
        let mut idle_since = Instant::now();
        // A stop that came between two reads leaves libpcap's break flag set: the
        // first read then returns at once with an error, which clears it.
        let mut errors = 0;
        while began.elapsed() < DRAIN_MAX {
            let mut bytes = Vec::with_capacity(64 << 10);
            match src.read(iface, &mut bytes) {
                Ok(0) => {
                    if idle_since.elapsed() >= DRAIN_IDLE {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(_) => {
                    idle_since = Instant::now();
                    if tx.send(Msg::Batch { iface, bytes }).is_err() {
                        break;
                    }
                }
                Err(_) => {
                    errors += 1;
                    if errors > 1 {
                        break;
                    }
                }
            }
        }
        refresh(&mut src, &mut known);
    }
    let _ = tx.send(Msg::Done {
        iface,
        counters: known,
    });
}

struct OpenFile {
    number: u32,
    path: PathBuf,
    file: File,
    offset: u64,
    packets: u64,
    blocks: u64,
    per_interface: Vec<u64>,
    opened: Instant,
    opened_ns: u64,
    /// Counters when the file was opened, for the drops while it was written.
    counters_at_open: Vec<Option<Counters>>,
    hasher: ThreadedHasher,
    follow: Option<FollowSender>,
    digests_to: Option<mpsc::Sender<Digests>>,
    /// A write failed: nothing more goes into this file.
    broken: bool,
}

struct WriterEnd {
    reason: StopReason,
    faults: Vec<Fault>,
    counters: Vec<Option<Counters>>,
    missed: u64,
}

struct Writer {
    config: Config,
    interfaces: Vec<write::Interface>,
    status: Arc<Status>,
    stop: Arc<StopSignal>,
    events: Sender<Event>,
    analysis: Option<Sender<NewFile>>,
    file: Option<OpenFile>,
    number: u32,
    closed: u32,
    total_bytes: u64,
    total_packets: u64,
    started: Instant,
    started_ns: u64,
    reason: Option<StopReason>,
    faults: Vec<Fault>,
    /// The newest counters known per interface.
    counters: Vec<Option<Counters>>,
    last_sync: Instant,
    /// Chunks the analysis had to read from the files.
    missed: u64,
}

impl Writer {
    fn run(mut self, rx: &Receiver<Msg>, interfaces: usize) -> WriterEnd {
        let mut done = vec![false; interfaces];
        loop {
            match rx.recv_timeout(TICK) {
                Ok(Msg::Batch { iface, bytes }) => self.batch(iface, bytes),
                Ok(Msg::Failed { iface, error }) => {
                    self.fault(
                        Fault::Interface {
                            interface: self
                                .interfaces
                                .get(iface as usize)
                                .map_or_else(String::new, |i| i.name.clone()),
                            error: error.to_string(),
                        },
                        StopReason::Fault,
                    );
                }
                Ok(Msg::Done { iface, counters }) => {
                    if let Some(d) = done.get_mut(iface as usize) {
                        *d = true;
                    }
                    if let Some(slot) = self.counters.get_mut(iface as usize) {
                        *slot = counters.or(*slot);
                    }
                    if done.iter().all(|d| *d) {
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.tick();
        }
        if let Some(f) = self.file.take() {
            self.close(f);
        }
        WriterEnd {
            reason: self.reason.unwrap_or(StopReason::Requested),
            faults: self.faults,
            counters: self.counters,
            missed: self.missed,
        }
    }

    fn stop_for(&mut self, reason: StopReason) {
        if self.reason.is_none() {
            self.reason = Some(reason);
        }
        self.status.stopping.store(true, Ordering::Release);
        self.stop.trigger();
    }

    fn fault(&mut self, fault: Fault, reason: StopReason) {
        self.faults.push(fault);
        self.reason = Some(reason);
        self.stop_for(reason);
    }

    /// Time-based rotation and stops, counters, periodic sync.
    fn tick(&mut self) {
        {
            let current = lock(&self.status.counters);
            for (slot, (_, c)) in self.counters.iter_mut().zip(current.iter()) {
                if *c != Counters::default() {
                    *slot = Some(*c);
                }
            }
        }
        if let Some(d) = self.config.stop.duration {
            if self.started.elapsed() >= d {
                self.stop_for(StopReason::Duration);
            }
        }
        let rotate_now = match (&self.file, self.config.rotate.duration) {
            (Some(f), Some(d)) => f.opened.elapsed() >= d && !self.stop.is_set(),
            _ => false,
        };
        if rotate_now {
            self.rotate();
        }
        if self.last_sync.elapsed() >= SYNC_EVERY {
            self.last_sync = Instant::now();
            if let Some(f) = &self.file {
                // Durability against a power cut: what is written so far reaches the
                // disk at least once a second. A failure shows at the next write.
                let _ = f.file.sync_data();
            }
        }
    }

    /// Stopped by a count, a size, a number of files or a fault: what comes after is
    /// not wanted. After a stop request or at the end of the duration, what the kernel
    /// captured before the stop is still written.
    fn discarding(&self) -> bool {
        matches!(
            self.reason,
            Some(StopReason::Packets | StopReason::Size | StopReason::Files | StopReason::Fault)
        )
    }

    /// Writes one batch of blocks, rotating and stopping between blocks as needed.
    fn batch(&mut self, iface: u32, bytes: Vec<u8>) {
        if self.discarding() {
            return;
        }
        if self.file.as_ref().is_none_or(|f| f.broken) {
            return;
        }
        let bytes = Arc::new(bytes);
        let mut run_start = 0usize;
        let mut at = 0usize;
        let mut run_packets = 0u64;
        while let Some((kind, len)) = bytes.get(at..).and_then(write::block_header) {
            if len == 0 || at + len > bytes.len() {
                break;
            }
            let file_bytes = self.file.as_ref().map_or(0, |f| f.offset);
            let file_packets = self.file.as_ref().map_or(0, |f| f.packets) + run_packets;
            if let Some(limit) = self.config.rotate.bytes {
                let pending = (at - run_start) as u64;
                if file_packets > 0 && file_bytes + pending + len as u64 > limit {
                    self.write_run(&bytes, run_start, at, iface, run_packets);
                    run_start = at;
                    run_packets = 0;
                    self.rotate();
                    if self.file.as_ref().is_none_or(|f| f.broken) || self.discarding() {
                        return;
                    }
                }
            }
            if let Some(max) = self.config.stop.packets {
                if self.total_packets + run_packets >= max {
                    self.write_run(&bytes, run_start, at, iface, run_packets);
                    self.stop_for(StopReason::Packets);
                    return;
                }
            }
            if kind == write::EPB {
                run_packets += 1;
            }
            at += len;
        }
        self.write_run(&bytes, run_start, at, iface, run_packets);
        if let Some(max) = self.config.stop.bytes {
            if self.total_bytes >= max {
                self.stop_for(StopReason::Size);
            }
        }
        if let Some(max) = self.config.stop.packets {
            if self.total_packets >= max {
                self.stop_for(StopReason::Packets);
            }
        }
    }

    fn write_run(
        &mut self,
        bytes: &Arc<Vec<u8>>,
        start: usize,
        end: usize,
        iface: u32,
        packets: u64,
    ) {
        if start >= end {
            return;
        }
        let chunk = if start == 0 && end == bytes.len() {
            Arc::clone(bytes)
        } else {
            Arc::new(bytes.get(start..end).unwrap_or_default().to_vec())
        };
        let written = self.write_chunk(&chunk);
        // A write cut short (a full disk) leaves the blocks before the cut whole.
        let (blocks, packets) = if written == chunk.len() {
            (packets, packets)
        } else {
            whole_blocks(chunk.get(..written).unwrap_or_default())
        };
        if let Some(f) = self.file.as_mut() {
            f.packets += packets;
            f.blocks += blocks;
            if let Some(n) = f.per_interface.get_mut(iface as usize) {
                *n += packets;
            }
        }
        self.total_packets += packets;
        self.status.packets.fetch_add(packets, Ordering::Relaxed);
    }

    /// Writes a chunk of whole blocks to the current file, hashing and offering
    /// exactly what was written; returns how many bytes that was (all of them unless
    /// the write failed, which is recorded as a fault).
    fn write_chunk(&mut self, chunk: &Arc<Vec<u8>>) -> usize {
        let Some(f) = self.file.as_mut() else {
            return 0;
        };
        if f.broken {
            return 0;
        }
        let mut written = 0usize;
        let mut error = None;
        while written < chunk.len() {
            match f.file.write(chunk.get(written..).unwrap_or_default()) {
                Ok(0) => {
                    error = Some(io::Error::from(io::ErrorKind::WriteZero));
                    break;
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let done = if written == chunk.len() {
            Arc::clone(chunk)
        } else {
            Arc::new(chunk.get(..written).unwrap_or_default().to_vec())
        };
        if written > 0 {
            f.hasher.update(&done);
            if let Some(s) = f.follow.as_mut() {
                s.offer(f.offset, &done);
            }
        }
        let at = f.offset;
        f.offset += written as u64;
        self.total_bytes += written as u64;
        self.status
            .bytes
            .fetch_add(written as u64, Ordering::Relaxed);
        if let Some(e) = error {
            f.broken = true;
            let path = f.path.clone();
            self.fault(
                Fault::Write {
                    path,
                    offset: at + written as u64,
                    error: e.to_string(),
                },
                StopReason::Fault,
            );
        }
        written
    }

    /// Creates the next file and writes its section header and interface
    /// descriptions. On failure, the path and the error.
    fn open_next(&mut self) -> Result<OpenedFile, (PathBuf, io::Error)> {
        let number = self.number + 1;
        let opened_at = SystemTime::now();
        let path = self.config.naming.path(number, opened_at);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| (path.clone(), e))?;
        }
        // Never overwrite: the name must be new.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| (path.clone(), e))?;
        let hasher = ThreadedHasher::new(Algorithms::EVIDENCE, HASH_BACKLOG)
            .map_err(|e| (path.clone(), e))?;
        self.number = number;
        let opened_ns = now_ns();
        let (follow, digests_to) = match &self.analysis {
            Some(tx) => {
                let (sender, follow) = follow::channel(path.clone(), FOLLOW_BACKLOG);
                let (dtx, drx) = mpsc::channel();
                let shown = match &self.config.report_base {
                    Some(base) => path.strip_prefix(base).unwrap_or(&path).to_path_buf(),
                    None => path.clone(),
                };
                let _ = tx.send(NewFile {
                    index: number - 1,
                    path: path.clone(),
                    shown,
                    follow,
                    digests: drx,
                });
                (Some(sender), Some(dtx))
            }
            None => (None, None),
        };
        self.file = Some(OpenFile {
            number,
            path: path.clone(),
            file,
            offset: 0,
            packets: 0,
            blocks: 0,
            per_interface: vec![0; self.interfaces.len()],
            opened: Instant::now(),
            opened_ns,
            counters_at_open: self.counters.clone(),
            hasher,
            follow,
            digests_to,
            broken: false,
        });
        *lock(&self.status.current) = Some(path.clone());
        self.status.files.fetch_add(1, Ordering::Relaxed);
        let mut head = Vec::new();
        write::section_header(&mut head, &self.config.section);
        for i in &self.interfaces {
            write::interface_description(&mut head, i);
        }
        let head = Arc::new(head);
        let written = self.write_chunk(&head);
        let (blocks, _) = whole_blocks(head.get(..written).unwrap_or_default());
        if let Some(f) = self.file.as_mut() {
            f.blocks += blocks;
        }
        Ok(OpenedFile {
            number,
            path,
            opened_ns,
        })
    }

    /// Closes the current file and opens the next one, unless a stop condition says
    /// this was the last.
    fn rotate(&mut self) {
        let Some(f) = self.file.take() else { return };
        self.close(f);
        if self.config.stop.files.is_some_and(|n| self.closed >= n) {
            self.stop_for(StopReason::Files);
            return;
        }
        match self.open_next() {
            Ok(opened) => {
                let _ = self.events.send(Event::Opened(opened));
            }
            Err((path, e)) => self.fault(
                Fault::Write {
                    path,
                    offset: 0,
                    error: e.to_string(),
                },
                StopReason::Fault,
            ),
        }
    }

    /// Writes the statistics blocks (unless a write failed), closes the file and hands
    /// it to the journal thread, which waits for its digests.
    fn close(&mut self, mut f: OpenFile) {
        let closed_ns = now_ns();
        if !f.broken {
            let mut tail = Vec::new();
            for (i, c) in self.counters.iter().enumerate() {
                let stats = write::Statistics {
                    start_ns: self.started_ns,
                    end_ns: closed_ns,
                    received: c.map(|c| c.received),
                    interface_drops: c.map(|c| c.interface_drops),
                    os_drops: c.map(|c| c.kernel_drops),
                    delivered: f.per_interface.get(i).copied(),
                };
                write::interface_statistics(
                    &mut tail,
                    i as u32,
                    &stats,
                    "Counters provided by libpcap since the capture started; isb_usrdeliv: packets of this interface in this file",
                );
            }
            self.file = Some(f);
            let tail = Arc::new(tail);
            let written = self.write_chunk(&tail);
            let (blocks, _) = whole_blocks(tail.get(..written).unwrap_or_default());
            if let Some(file) = self.file.as_mut() {
                file.blocks += blocks;
            }
            let Some(back) = self.file.take() else { return };
            f = back;
        }
        if let Err(e) = f.file.sync_all() {
            if !f.broken {
                self.faults.push(Fault::Write {
                    path: f.path.clone(),
                    offset: f.offset,
                    error: format!("syncing to disk: {e}"),
                });
                self.stop_for(StopReason::Fault);
            }
        }
        if let Some(dir) = f.path.parent() {
            if let Ok(d) = File::open(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            }) {
                let _ = d.sync_all();
            }
        }
        if let Some(s) = f.follow.take() {
            self.missed += s.missed;
            s.close(f.offset);
        }
        self.closed += 1;
        let interfaces = self
            .interfaces
            .iter()
            .enumerate()
            .map(|(i, iface)| {
                let now = self.counters.get(i).copied().flatten();
                let then = f.counters_at_open.get(i).copied().flatten();
                InterfaceShare {
                    name: iface.name.clone(),
                    packets: f.per_interface.get(i).copied().unwrap_or(0),
                    counters: now,
                    drops_during_file: now.map(|n| {
                        let t = then.unwrap_or_default();
                        (n.kernel_drops + n.interface_drops)
                            .saturating_sub(t.kernel_drops + t.interface_drops)
                    }),
                }
            })
            .collect();
        let meta = ClosedFile {
            number: f.number,
            path: f.path.clone(),
            digests: Digests::default(),
            packets: f.packets,
            blocks: f.blocks,
            opened_ns: f.opened_ns,
            closed_ns,
            interfaces,
            complete: !f.broken,
        };
        let _ = self.events.send(Event::Closed {
            meta,
            hasher: f.hasher,
            digests_to: f.digests_to,
        });
    }
}

/// The whole blocks at the start of `bytes` (as written here), and how many of them
/// are packets.
fn whole_blocks(bytes: &[u8]) -> (u64, u64) {
    let (mut blocks, mut packets, mut at) = (0, 0, 0usize);
    while let Some((kind, len)) = bytes.get(at..).and_then(write::block_header) {
        if len == 0 || at + len > bytes.len() {
            break;
        }
        blocks += 1;
        packets += u64::from(kind == write::EPB);
        at += len;
    }
    (blocks, packets)
}

fn journal_loop(
    rx: Receiver<Event>,
    mut journal: Box<dyn Journal>,
    ring: Option<u32>,
) -> (Vec<ClosedFile>, Vec<Fault>) {
    let mut closed: Vec<ClosedFile> = Vec::new();
    let mut faults = Vec::new();
    let mut kept: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    for event in rx {
        match event {
            Event::Opened(f) => {
                if let Err(error) = journal.opened(&f) {
                    faults.push(Fault::Journal {
                        error: error.to_string(),
                    });
                }
            }
            Event::Closed {
                mut meta,
                hasher,
                digests_to,
            } => {
                match hasher.finish() {
                    Ok(d) => meta.digests = d,
                    Err(e) => faults.push(Fault::Journal {
                        error: format!("hashing {}: {e}", meta.path.display()),
                    }),
                }
                if let Some(tx) = digests_to {
                    let _ = tx.send(meta.digests.clone());
                }
                if let Err(error) = journal.closed(&meta) {
                    faults.push(Fault::Journal {
                        error: error.to_string(),
                    });
                }
                kept.push_back(closed.len());
                closed.push(meta);
                if let Some(n) = ring {
                    while kept.len() > n as usize {
                        let Some(old) = kept.pop_front().and_then(|i| closed.get(i)) else {
                            break;
                        };
                        match std::fs::remove_file(&old.path) {
                            Ok(()) => {
                                if let Err(error) = journal.removed(old) {
                                    faults.push(Fault::Journal {
                                        error: error.to_string(),
                                    });
                                }
                            }
                            Err(e) => faults.push(Fault::Journal {
                                error: format!("ring buffer: removing {}: {e}", old.path.display()),
                            }),
                        }
                    }
                }
            }
        }
    }
    (closed, faults)
}

fn analysis_loop(
    rx: Receiver<NewFile>,
    opts: &AnalyzeOptions,
    status: &Status,
) -> (Vec<CaptureAnalysis>, Vec<Fault>) {
    let mut analyses = Vec::new();
    let mut faults = Vec::new();
    for nf in rx {
        // Frames are named by file index and number packed together (`FrameId`):
        // files past the limit are written and hashed, but not analysed live.
        if nf.index as usize >= crate::services::FrameId::MAX_CAPTURES {
            faults.push(Fault::Analysis {
                path: nf.path.clone(),
                error: format!(
                    "not analysed live: a live analysis takes at most {} files (run `whohosts analyze` on it)",
                    crate::services::FrameId::MAX_CAPTURES
                ),
            });
            continue;
        }
        match analyse_one(nf.follow, nf.index, &nf.shown, opts, status) {
            Ok(pass) => {
                let (pass, source) = pass;
                // The digests come from the writer's hashing, once the file is closed.
                match nf.digests.recv() {
                    Ok(d) => match pass.finish(source, d) {
                        Ok(a) => analyses.push(a),
                        Err(e) => faults.push(Fault::Analysis {
                            path: nf.path.clone(),
                            error: e.to_string(),
                        }),
                    },
                    Err(_) => faults.push(Fault::Analysis {
                        path: nf.path.clone(),
                        error: "the file's digests never came".into(),
                    }),
                }
            }
            Err(error) => faults.push(Fault::Analysis {
                path: nf.path.clone(),
                error,
            }),
        }
    }
    (analyses, faults)
}

/// A name bound to a server: name, where seen, address, transport and port.
type Binding = (String, NameSource, IpAddr, Option<(Transport, u16)>);

fn analyse_one(
    follow: follow::Follow,
    index: u32,
    shown: &Path,
    opts: &AnalyzeOptions,
    status: &Status,
) -> Result<(Pass, crate::pipeline::Source), String> {
    let (format, mut reader) =
        CaptureReader::from_stream(Box::new(follow), index).map_err(|e| e.to_string())?;
    let mut pass = Pass::new(shown, index, opts).map_err(|e| e.to_string())?;
    let (mut published, mut answers) = (0usize, 0usize);
    // Each binding (name, source, address, port) is shown once, however often seen.
    let mut shown: std::collections::HashSet<Binding> = std::collections::HashSet::new();
    let mut publish = |found: &mut dyn Iterator<Item = NameEvidence>| {
        let fresh: Vec<NameEvidence> = found
            .filter(|n| shown.insert((n.name.clone(), n.source, n.ip, n.port)))
            .map(|mut n| {
                // The view needs the binding, not every frame of it.
                n.frames.truncate(1);
                n
            })
            .collect();
        if !fresh.is_empty() {
            lock(&status.names).extend(fresh);
        }
    };
    while let Some(frame) = reader.next_frame() {
        pass.frame(&frame);
        status.analysed.fetch_add(1, Ordering::Relaxed);
        let names = pass.names();
        if names.len() > published {
            publish(&mut names.get(published..).unwrap_or_default().iter().cloned());
            published = names.len();
        }
        if pass.dns_answers() > answers {
            let (dns, now) = pass.dns_names_from(answers);
            answers = now;
            publish(&mut dns.into_iter());
        }
    }
    let (dns, _) = pass.dns_names_from(answers);
    publish(&mut dns.into_iter());
    let source = crate::pipeline::Source {
        format,
        compression: Compression::None,
        summary: reader.summary(),
        anomalies: reader.take_anomalies(),
    };
    Ok((pass, source))
}
