//! `whohosts match`: compares what a report's objects hold with the rights holder's
//! original files.

use anyhow::Context;
use clap::Parser;
use std::path::{Path, PathBuf};
use whohosts::matching::{self, archive::Limits, index};

const LONG_HELP: &str = "\
Prove, file by file, that what a server sent is your work: every object of a
report (files extracted with `analyze --extract DIR`) is compared with the
original files, by SHA-256 and, where not identical, by content-defined chunks.
Archives (zip, APK, IPA, OBB, JAR, AAB, tar, .tar.gz) are compared entry by entry
on both sides, without extracting anything to disk.

Writes a new match result (JSON; never replaces a file) and prints, per original
package, how many of its files were served byte-identical, how many similar
(over --similar of their bytes found), how many are missing, and how many files
the served copy added.

Examples:
  whohosts match --originals ~/release-1.4 capture.report.json
  whohosts match --originals ~/release-1.4 cases/2026-017
  whohosts letter --report capture.report.json --claimant claimant.toml \\
      --matches capture.report.matches.json --out letters/

Exit codes: 0 done; 1 done, but entries were refused (see `original_refusals`
and `objects[].refusals` in the result: encrypted, hostile names, links, over the limits, corrupt); 2 error.";

#[derive(Parser, Debug)]
#[command(after_long_help = LONG_HELP)]
pub(crate) struct Args {
    /// The report (JSON written by `analyze`) or a case directory (its newest report in
    /// reports/, objects in objects/, the result written to exhibits/ under custody).
    #[arg(value_name = "REPORT_OR_CASE")]
    pub input: PathBuf,
    /// The folder of original files (read only; nothing is written into it).
    #[arg(long, value_name = "DIR")]
    pub originals: PathBuf,
    /// The folder the report's objects were extracted to [default: the report's
    /// `extract.dir`, relative to the report's folder; in a case, its objects/].
    #[arg(long, value_name = "DIR")]
    pub objects: Option<PathBuf>,
    /// The originals index file, reused while the folder is unchanged (same files,
    /// sizes and modification times) [default: DIR.whohosts-index.json beside DIR].
    #[arg(long, value_name = "FILE")]
    pub index: Option<PathBuf>,
    /// Hash the originals again even if the index looks current.
    #[arg(long)]
    pub rehash: bool,
    /// Share of an original's bytes (0 to 1) that must be found in a served file for
    /// it to count as similar.
    #[arg(long, value_name = "SHARE", default_value_t = 0.9)]
    pub similar: f64,
    /// Where to write the result [default: REPORT.matches.json beside the report,
    /// numbered if taken]; `-` for standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also write the comparison as a small HTML page (a new file; never replaces one).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Archives inside archives followed at most this deep.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_depth)]
    pub max_depth: u32,
    /// Decompressed bytes read from any one entry at most.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_entry_bytes)]
    pub max_entry_bytes: u64,
    /// Decompressed bytes read from one file and all its entries at most.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_total_bytes)]
    pub max_total_bytes: u64,
    /// Seconds spent on one file and its entries at most.
    #[arg(long, value_name = "SECONDS", default_value_t = Limits::default().max_seconds)]
    pub max_seconds: u64,
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    if !(0.0..=1.0).contains(&args.similar) {
        anyhow::bail!("--similar takes a share from 0 to 1, not {}", args.similar);
    }
    let limits = Limits {
        max_depth: args.max_depth,
        max_entry_bytes: args.max_entry_bytes,
        max_total_bytes: args.max_total_bytes,
        max_seconds: args.max_seconds,
        ..Limits::default()
    };
    let case = args.input.is_dir().then(|| args.input.clone());
    let report_path = match &case {
        Some(dir) => newest_report(dir)?,
        None => args.input.clone(),
    };
    let report_bytes = std::fs::read(&report_path)
        .with_context(|| format!("reading the report {}", report_path.display()))?;
    let report: serde_json::Value = serde_json::from_slice(&report_bytes)
        .with_context(|| format!("{} is not a JSON report", report_path.display()))?;
    let objects_dir = match (&args.objects, &case) {
        (Some(d), _) => Some(d.clone()),
        (None, Some(c)) => Some(c.join("objects")),
        (None, None) => report
            .pointer("/extract/dir")
            .and_then(|d| d.as_str())
            .map(|d| {
                let d = Path::new(d);
                let beside = report_path.parent().unwrap_or(Path::new(".")).join(d);
                if d.is_relative() && beside.is_dir() {
                    beside
                } else {
                    d.to_path_buf()
                }
            }),
    };
    let originals = args
        .originals
        .canonicalize()
        .with_context(|| format!("the originals folder {}", args.originals.display()))?;
    let index_file = args.index.clone().unwrap_or_else(|| {
        let name = originals
            .file_name()
            .map_or_else(|| "originals".into(), |n| n.to_string_lossy().into_owned());
        originals.with_file_name(format!("{name}.whohosts-index.json"))
    });
    let (index, fresh) = index::load_or_build(&originals, &index_file, &limits, args.rehash)?;
    match fresh {
        index::Freshness::Reused => eprintln!("originals index {} reused", index_file.display()),
        index::Freshness::Made(why) => {
            eprintln!("originals index {} made ({why})", index_file.display())
        }
    }
    let result = matching::compare(
        &index,
        &report,
        objects_dir.as_deref(),
        &limits,
        args.similar,
    );
    let sha = whohosts::hash::sha256_hex;
    let index_bytes = std::fs::read(&index_file).unwrap_or_default();
    let mut doc = serde_json::to_value(&result)?;
    doc["report"] = serde_json::json!({
        "file": report_path.display().to_string(),
        "sha256": sha(&report_bytes),
    });
    doc["originals"] = serde_json::json!({
        "dir": args.originals.display().to_string(),
        "index": index_file.display().to_string(),
        "index_sha256": sha(&index_bytes),
        "files": index.listing.len(),
        "entries": index.files.len(),
    });
    let mut json = serde_json::to_vec_pretty(&doc)?;
    json.push(b'\n');
    let written = match &case {
        Some(dir) => {
            let stem = file_stem(&report_path);
            let rel = free_name(dir, "exhibits/", &stem)?;
            let mut session = whohosts::evidence::case::Session::open(dir, None)
                .with_context(|| format!("opening case {}", dir.display()))?;
            let rec = session
                .write_file(&rel, &json)
                .with_context(|| format!("writing {rel} into the case"))?;
            session.append(
                "match",
                serde_json::json!({
                    "file": rel,
                    "report": report_path.strip_prefix(dir).unwrap_or(&report_path).display().to_string(),
                    "originals_index_sha256": sha(&index_bytes),
                }),
                vec![rec],
            )?;
            dir.join(rel).display().to_string()
        }
        None => {
            let out = match &args.out {
                Some(o) => o.clone(),
                None => {
                    let dir = report_path.parent().unwrap_or(Path::new("."));
                    dir.join(free_name(dir, "", &file_stem(&report_path))?)
                }
            };
            if out.as_os_str() == "-" {
                super::write_output(&out, &json)?;
            } else {
                whohosts::atomic::create_new(&out, &json)
                    .with_context(|| format!("writing {}", out.display()))?;
            }
            out.display().to_string()
        }
    };
    if let Some(h) = &args.html {
        let page = matching::html::page(
            &result,
            &report_path.display().to_string(),
            &sha(&report_bytes),
        );
        whohosts::atomic::create_new(h, page.as_bytes())
            .with_context(|| format!("writing {}", h.display()))?;
    }
    print!("{}", matching::table(&result));
    let refused: usize = result.original_refusals.len()
        + result
            .objects
            .iter()
            .map(|o| o.refusals.len())
            .sum::<usize>();
    eprintln!(
        "{} matches; {} entries refused; result: {}",
        result.matches.len(),
        refused,
        whohosts::report::escape::terminal(&written)
    );
    Ok(if matching::has_refusals(&result) {
        super::exit::ANOMALIES
    } else {
        super::exit::OK
    })
}

fn file_stem(p: &Path) -> String {
    let name = p
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    name.strip_suffix(".json").unwrap_or(&name).to_string()
}

/// `PREFIXstem.matches.json`, or `…matches-2.json` and up when taken.
fn free_name(dir: &Path, prefix: &str, stem: &str) -> anyhow::Result<String> {
    for n in 1..1000 {
        let name = if n == 1 {
            format!("{prefix}{stem}.matches.json")
        } else {
            format!("{prefix}{stem}.matches-{n}.json")
        };
        if dir.join(&name).symlink_metadata().is_err() {
            return Ok(name);
        }
    }
    anyhow::bail!("no free name for the match result in {}", dir.display())
}

fn newest_report(case: &Path) -> anyhow::Result<PathBuf> {
    let dir = case.join("reports");
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json") || name.contains(".matches") {
            continue;
        }
        let t = e.metadata()?.modified()?;
        if best.as_ref().is_none_or(|(bt, bp)| (t, &p) > (*bt, bp)) {
            best = Some((t, p));
        }
    }
    best.map(|b| b.1)
        .with_context(|| format!("no JSON report in {}", dir.display()))
}
