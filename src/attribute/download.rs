//! `data update` without `--from`: downloads the providers' official feeds into the
//! data directory. The only place, with `--online`, where whohosts uses the network.
//!
//! For each feed: a conditional GET (`If-None-Match`, `If-Modified-Since` from the last
//! download, when the installed copy is still that download's bytes); the body bounded
//! ([`MAX_FEED_BYTES`]) and checked against its `Content-Length`; parsed, recognised as
//! the expected format, vetted like an imported file
//! ([`crate::attribute::datadir::vet_replacement`]); then written atomically, the
//! previous copy kept as `.prev`. Whatever fails (unreachable, timeout, error status,
//! truncated, unparseable, implausible) leaves the installed copy as it was. Each
//! attempt is recorded with URL, time, status and SHA-256 in
//! `<data-dir>/downloads/log.jsonl`, and the last download of each feed in
//! `<data-dir>/downloads/<stored name>.json` (for the next conditional request).
//!
//! URLs can be replaced one by one (`--url ID=URL`) or all at once by a mirror that
//! serves each feed under its stored name (`--mirror BASE`).
//!
//! Contract: a failed feed is an outcome, never an error; only an unusable data
//! directory is.

use crate::attribute::bundle::MAX_FEED_BYTES;
use crate::attribute::datadir::{
    feeds_dir, install, vet_against_stored, write_atomic, DataDirError, UpdateAction, UpdateOptions,
};
use crate::attribute::feeds::{parse_feed, FeedFormat};
use crate::attribute::fetch;
use crate::attribute::geoip::hex;
use crate::attribute::Attributor;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// A feed the program knows how to download.
#[derive(Clone, Debug)]
pub struct Source {
    /// Short name for `--url ID=URL` and `--only ID`.
    pub id: &'static str,
    pub provider: &'static str,
    pub format: FeedFormat,
    /// The stored name in the data directory (and on a mirror).
    pub stored: &'static str,
    pub url: &'static str,
    /// When the URL answers with a page instead of the feed (Microsoft publishes the
    /// Service Tags under a new file name each week, linked from a fixed page), the
    /// first link matching this pattern is downloaded.
    pub discover: Option<&'static str>,
}

/// The official feeds, where their providers publish them.
pub const SOURCES: &[Source] = &[
    Source {
        id: "aws",
        provider: "aws",
        format: FeedFormat::AwsIpRanges,
        stored: "aws.aws-ip-ranges.json",
        url: "https://ip-ranges.amazonaws.com/ip-ranges.json",
        discover: None,
    },
    Source {
        id: "gcp",
        provider: "gcp",
        format: FeedFormat::GoogleCloudJson,
        stored: "gcp.google-cloud-json.json",
        url: "https://www.gstatic.com/ipranges/cloud.json",
        discover: None,
    },
    Source {
        id: "azure",
        provider: "azure",
        format: FeedFormat::AzureServiceTags,
        stored: "azure.azure-service-tags.json",
        url: "https://www.microsoft.com/en-us/download/details.aspx?id=56519",
        discover: Some(r#"https?://[^"'<>\s]*/ServiceTags_Public_[0-9]+\.json"#),
    },
    Source {
        id: "oracle",
        provider: "oracle",
        format: FeedFormat::OraclePublicIpRanges,
        stored: "oracle.oracle-public-ip-ranges.json",
        url: "https://docs.oracle.com/iaas/tools/public_ip_ranges.json",
        discover: None,
    },
    Source {
        id: "digitalocean",
        provider: "digitalocean",
        format: FeedFormat::Geofeed,
        stored: "digitalocean.geofeed.txt",
        url: "https://digitalocean.com/geo/google.csv",
        discover: None,
    },
    Source {
        id: "linode",
        provider: "linode",
        format: FeedFormat::Geofeed,
        stored: "linode.geofeed.txt",
        url: "https://geoip.linode.com/",
        discover: None,
    },
    Source {
        id: "vultr",
        provider: "vultr",
        format: FeedFormat::GeofeedJson,
        stored: "vultr.geofeed-json.json",
        url: "https://geofeed.constant.com/?json",
        discover: None,
    },
    Source {
        id: "cloudflare-v4",
        provider: "cloudflare",
        format: FeedFormat::CidrList,
        stored: "cloudflare.cidr-list-v4.txt",
        url: "https://www.cloudflare.com/ips-v4",
        discover: None,
    },
    Source {
        id: "cloudflare-v6",
        provider: "cloudflare",
        format: FeedFormat::CidrList,
        stored: "cloudflare.cidr-list-v6.txt",
        url: "https://www.cloudflare.com/ips-v6",
        discover: None,
    },
    Source {
        id: "fastly",
        provider: "fastly",
        format: FeedFormat::FastlyPublicIpList,
        stored: "fastly.fastly-public-ip-list.json",
        url: "https://api.fastly.com/public-ip-list",
        discover: None,
    },
    Source {
        id: "github",
        provider: "github",
        format: FeedFormat::GithubMeta,
        stored: "github.github-meta.json",
        url: "https://api.github.com/meta",
        discover: None,
    },
];

/// How to download.
#[derive(Clone, Debug)]
pub struct DownloadOptions {
    /// A base URL serving every feed under its stored name (`BASE/aws.aws-ip-ranges.json`).
    pub mirror: Option<String>,
    /// URLs replacing the official ones, by source id.
    pub urls: BTreeMap<String, String>,
    /// Only these sources (all when empty).
    pub only: Vec<String>,
    /// Per feed, connection to last byte.
    pub timeout: Duration,
    pub update: UpdateOptions,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            mirror: None,
            urls: BTreeMap::new(),
            only: Vec::new(),
            timeout: Duration::from_secs(60),
            update: UpdateOptions::default(),
        }
    }
}

/// The last download of a feed (`downloads/<stored>.json`), and one line of
/// `downloads/log.jsonl`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub feed: String,
    pub url: String,
    /// The URL that answered, after redirects and discovery.
    #[serde(default)]
    pub final_url: String,
    /// Every URL visited on the way, the request's first, when there were redirects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirects: Vec<String>,
    /// The answer's `Content-Type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// RFC 3339 UTC, when the answer was complete.
    pub time_utc: String,
    /// HTTP status, or 0 when no answer came.
    pub status: u16,
    /// SHA-256 and size of the body received (absent for 304 and failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// What was done: installed, replaced, unchanged, failed.
    pub outcome: String,
    #[serde(default)]
    pub detail: String,
}

/// What happened to one feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub id: String,
    pub action: UpdateAction,
    pub record: Record,
}

/// Progress events, for a display on a terminal.
pub enum Progress<'a> {
    Start { id: &'a str, url: &'a str },
    Bytes { received: u64, total: Option<u64> },
    Done { outcome: &'a Outcome },
}

fn now_utc() -> String {
    crate::times::Now::system(time::UtcOffset::UTC).utc
}

/// Downloads the feeds (all, or `opts.only`).
pub fn download(
    attributor: &Attributor,
    data_dir: &Path,
    opts: &DownloadOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Vec<Outcome>, DataDirError> {
    let target = feeds_dir(data_dir);
    let records = data_dir.join("downloads");
    for d in [&target, &records] {
        std::fs::create_dir_all(d).map_err(|source| DataDirError::Io {
            action: "creating",
            path: d.to_path_buf(),
            source,
        })?;
    }
    let mut out = Vec::new();
    for src in SOURCES {
        if !opts.only.is_empty() && !opts.only.iter().any(|o| o == src.id) {
            continue;
        }
        let url = match (opts.urls.get(src.id), &opts.mirror) {
            (Some(u), _) => u.clone(),
            (None, Some(m)) => format!("{}/{}", m.trim_end_matches('/'), src.stored),
            (None, None) => src.url.to_string(),
        };
        progress(Progress::Start {
            id: src.id,
            url: &url,
        });
        let outcome = one(attributor, &target, &records, src, &url, opts, progress);
        append_log(&records.join("log.jsonl"), &outcome.record)?;
        if matches!(
            outcome.action,
            UpdateAction::Installed | UpdateAction::Replaced | UpdateAction::Unchanged
        ) && outcome.record.status != 304
        {
            let mut bytes = serde_json::to_vec_pretty(&outcome.record).unwrap_or_default();
            bytes.push(b'\n');
            write_atomic(&records.join(format!("{}.json", src.stored)), &bytes)?;
        }
        progress(Progress::Done { outcome: &outcome });
        out.push(outcome);
    }
    Ok(out)
}

fn append_log(path: &Path, r: &Record) -> Result<(), DataDirError> {
    use std::io::Write;
    let mut line = serde_json::to_vec(r).unwrap_or_default();
    line.push(b'\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(&line).and_then(|_| f.sync_all()))
        .map_err(|source| DataDirError::Io {
            action: "appending to",
            path: path.to_path_buf(),
            source,
        })
}

#[allow(clippy::too_many_arguments)]
fn one(
    attributor: &Attributor,
    target: &Path,
    records: &Path,
    src: &Source,
    url: &str,
    opts: &DownloadOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Outcome {
    let mut record = Record {
        feed: src.stored.to_string(),
        url: url.to_string(),
        ..Record::default()
    };
    let fail = |mut record: Record, detail: String| {
        record.time_utc = now_utc();
        record.outcome = "failed".into();
        record.detail = format!("{detail}; the installed copy is unchanged");
        Outcome {
            id: src.id.to_string(),
            action: UpdateAction::Skipped,
            record,
        }
    };
    let dest = target.join(src.stored);
    let installed_bytes = std::fs::read(&dest).ok();
    let last: Option<Record> = std::fs::read(records.join(format!("{}.json", src.stored)))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    // Ask conditionally only when the installed copy is what the last download got
    // and came from the same URL.
    let conditional = match (&installed_bytes, &last) {
        (Some(b), Some(l))
            if l.url == record.url && l.sha256.as_deref() == Some(&hex(&Sha256::digest(b))) =>
        {
            Some(l)
        }
        _ => None,
    };
    let discover = src.discover;
    let resp = fetch::get(
        &fetch::Request {
            url,
            etag: conditional.and_then(|l| l.etag.as_deref()),
            last_modified: conditional.and_then(|l| l.last_modified.as_deref()),
            accept: "application/json, text/plain, text/csv, */*",
            timeout: opts.timeout,
            max_bytes: MAX_FEED_BYTES,
        },
        &mut |received, total| progress(Progress::Bytes { received, total }),
    );
    let mut resp = match resp {
        Ok(r) => r,
        Err(e) => return fail(record, e.to_string()),
    };
    // A page that links the feed (Microsoft's download page for the weekly Service
    // Tags file): follow its first link matching the source's pattern.
    if let (Some(pattern), 200) = (discover, resp.status) {
        if resp.body.trim_ascii_start().starts_with(b"<") {
            let text = String::from_utf8_lossy(&resp.body);
            let Some(link) = regex::Regex::new(pattern)
                .ok()
                .and_then(|re| re.find(&text).map(|m| m.as_str().to_string()))
            else {
                return fail(
                    record,
                    format!("the page {url} links no file matching {pattern}"),
                );
            };
            resp = match fetch::get(
                &fetch::Request {
                    url: &link,
                    etag: None,
                    last_modified: None,
                    accept: "application/json",
                    timeout: opts.timeout,
                    max_bytes: MAX_FEED_BYTES,
                },
                &mut |received, total| progress(Progress::Bytes { received, total }),
            ) {
                Ok(r) => r,
                Err(e) => return fail(record, e.to_string()),
            };
        }
    }
    record.status = resp.status;
    record.final_url = resp.final_url.clone();
    if resp.redirects.len() > 1 {
        record.redirects = resp.redirects.clone();
    }
    record.content_type = resp.content_type.clone();
    record.time_utc = now_utc();
    if resp.status == 304 {
        record.outcome = "unchanged".into();
        record.detail = "not modified since the last download (HTTP 304)".into();
        record.sha256 = conditional.and_then(|l| l.sha256.clone());
        record.etag = conditional.and_then(|l| l.etag.clone());
        record.last_modified = conditional.and_then(|l| l.last_modified.clone());
        return Outcome {
            id: src.id.to_string(),
            action: UpdateAction::Unchanged,
            record,
        };
    }
    if resp.status != 200 {
        return fail(record, format!("HTTP {}", resp.status));
    }
    record.sha256 = Some(hex(&Sha256::digest(&resp.body)));
    record.size = Some(resp.body.len() as u64);
    record.etag = resp.etag.clone();
    record.last_modified = resp.last_modified.clone();
    let feed = match parse_feed(&resp.body) {
        Ok(f) => f,
        Err(e) => return fail(record, format!("not a feed ({e})")),
    };
    if feed.format != src.format {
        return fail(
            record,
            format!(
                "expected {}, received {}",
                src.format.as_str(),
                feed.format.as_str()
            ),
        );
    }
    if let Err(why) = vet_against_stored(
        attributor,
        &feed,
        &resp.body,
        src.provider,
        target,
        src.stored,
        opts.update,
    ) {
        return fail(record, format!("refused: {why}"));
    }
    let action = match install(target, src.stored, &resp.body) {
        Ok(a) => a,
        Err(e) => {
            let why = std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            return fail(record, format!("{e}{why}"));
        }
    };
    let (v4, v6) = feed.counts();
    record.outcome = match action {
        UpdateAction::Installed => "installed",
        UpdateAction::Replaced => "replaced",
        _ => "unchanged",
    }
    .into();
    record.detail = format!(
        "{} for {}; {v4} IPv4 + {v6} IPv6 prefixes{}",
        feed.format.as_str(),
        src.provider,
        feed.version
            .as_deref()
            .map(|v| format!(", version {v}"))
            .unwrap_or_default()
    );
    Outcome {
        id: src.id.to_string(),
        action,
        record,
    }
}
