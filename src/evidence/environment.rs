//! The "clean machine" record of one working session: OS and kernel, hostname, network
//! interfaces and addresses, DNS resolvers, a digest of the hosts file, proxy settings,
//! the system time and its source, and the running tool's own hash.
//!
//! Evidence platforms record these facts so that a court can judge the environment that
//! produced the data (SPC Civil Evidence Provisions 2019, Art. 93). Every fact that
//! cannot be read is recorded as unknown with the reason; collecting never fails.

use super::hash::{hash_file, sha256_hex, Algorithms};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

/// A value read from the system, or why it could not be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Fact {
    Known(String),
    Unknown { unknown: String },
}

impl Fact {
    fn unknown(why: impl Into<String>) -> Fact {
        Fact::Unknown {
            unknown: why.into(),
        }
    }

    fn read(path: &str) -> Fact {
        match std::fs::read_to_string(path) {
            Ok(s) => Fact::Known(s.trim().to_string()),
            Err(e) => Fact::unknown(format!("reading {path}: {e}")),
        }
    }

    /// The value, or `unknown` for display.
    pub fn display(&self) -> &str {
        match self {
            Fact::Known(s) => s,
            Fact::Unknown { .. } => "unknown",
        }
    }
}

/// The tool that wrote an entry: its name, version and the SHA-256 of its own binary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
    pub binary_sha256: Fact,
}

impl Tool {
    /// This program, hashed once per process.
    pub fn current() -> Tool {
        static BINARY: OnceLock<Fact> = OnceLock::new();
        let binary_sha256 = BINARY
            .get_or_init(|| match std::env::current_exe() {
                Ok(p) => match hash_file(&p, Algorithms::SHA256) {
                    Ok(d) => d
                        .sha256
                        .map_or_else(|| Fact::unknown("no digest"), Fact::Known),
                    Err(e) => Fact::unknown(e.to_string()),
                },
                Err(e) => Fact::unknown(format!("locating the running binary: {e}")),
            })
            .clone();
        Tool {
            name: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            binary_sha256,
        }
    }
}

/// The machine an entry was written on, in brief (the full record is [`Environment`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    pub hostname: Fact,
    pub os: Fact,
    pub kernel: Fact,
}

impl Machine {
    pub fn current() -> Machine {
        let kernel = match (
            std::fs::read_to_string("/proc/sys/kernel/ostype"),
            std::fs::read_to_string("/proc/sys/kernel/osrelease"),
        ) {
            (Ok(t), Ok(r)) => Fact::Known(format!("{} {}", t.trim(), r.trim())),
            (Err(e), _) | (_, Err(e)) => Fact::unknown(format!("reading /proc/sys/kernel: {e}")),
        };
        Machine {
            hostname: Fact::read("/proc/sys/kernel/hostname"),
            os: os_release().get("PRETTY_NAME").cloned().map_or_else(
                || Fact::unknown("/etc/os-release has no PRETTY_NAME or is unreadable"),
                Fact::Known,
            ),
            kernel,
        }
    }
}

/// Where the time of an entry came from and whether it is known to be synchronised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockSource {
    pub clock: String,
    pub ntp_synchronized: Fact,
}

impl ClockSource {
    pub fn current() -> ClockSource {
        ClockSource {
            clock: "system clock (CLOCK_REALTIME)".to_string(),
            ntp_synchronized: ntp_status(),
        }
    }
}

/// NTP status as systemd reports it; unknown when `timedatectl` is missing or fails
/// (containers often have neither systemd nor the right to ask the kernel).
fn ntp_status() -> Fact {
    // systemd-timesyncd touches this file once it has synchronised (timesyncd(8)).
    if Path::new("/run/systemd/timesync/synchronized").exists() {
        return Fact::Known("yes (systemd-timesyncd: /run/systemd/timesync/synchronized)".into());
    }
    match std::process::Command::new("timedatectl")
        .args(["show", "--property=NTPSynchronized", "--value"])
        .output()
    {
        Ok(o) if o.status.success() => {
            let v = String::from_utf8_lossy(&o.stdout).trim().to_string();
            Fact::Known(format!("{v} (timedatectl NTPSynchronized)"))
        }
        Ok(o) => Fact::unknown(format!(
            "timedatectl failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Fact::unknown(format!("timedatectl not available: {e}")),
    }
}

/// One network interface and its addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Interface {
    pub name: String,
    pub addresses: Vec<String>,
}

/// A file whose content matters to the environment, recorded by digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileFact {
    pub path: String,
    pub sha256: Fact,
    pub size: Option<u64>,
}

impl FileFact {
    fn of(path: &str) -> (FileFact, Option<String>) {
        match std::fs::read(path) {
            Ok(bytes) => (
                FileFact {
                    path: path.to_string(),
                    sha256: Fact::Known(sha256_hex(&bytes)),
                    size: Some(bytes.len() as u64),
                },
                Some(String::from_utf8_lossy(&bytes).into_owned()),
            ),
            Err(e) => (
                FileFact {
                    path: path.to_string(),
                    sha256: Fact::unknown(format!("reading {path}: {e}")),
                    size: None,
                },
                None,
            ),
        }
    }
}

/// The full environment record of a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Environment {
    pub collected_utc: String,
    pub clock: ClockSource,
    pub tool: Tool,
    pub machine: Machine,
    pub os_release: BTreeMap<String, String>,
    pub kernel_version: Fact,
    pub interfaces: Vec<Interface>,
    /// Why the interface list is missing or incomplete, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interfaces_error: Option<String>,
    pub resolv_conf: FileFact,
    pub nameservers: Vec<String>,
    pub hosts_file: FileFact,
    /// Lines of the hosts file beyond the usual loopback entries: a redirected name
    /// would show up here.
    pub hosts_nonlocal_entries: Vec<String>,
    /// Proxy variables set in the process environment (absent ones are not listed).
    pub proxy: BTreeMap<String, String>,
}

impl Environment {
    /// Reads everything now. `collected_utc` is passed in so that the record and its
    /// custody entry carry the same time.
    pub(crate) fn collect(collected_utc: &str) -> Environment {
        let (resolv_conf, resolv_text) = FileFact::of("/etc/resolv.conf");
        let nameservers = resolv_text
            .as_deref()
            .unwrap_or("")
            .lines()
            .filter_map(|l| l.trim().strip_prefix("nameserver"))
            .map(|s| s.trim().to_string())
            .collect();
        let (hosts_file, hosts_text) = FileFact::of("/etc/hosts");
        let hosts_nonlocal_entries = hosts_text
            .as_deref()
            .unwrap_or("")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter(|l| {
                let addr = l.split_whitespace().next().unwrap_or("");
                !(addr.starts_with("127.")
                    || addr == "::1"
                    || addr.starts_with("fe00::")
                    || addr.starts_with("ff00::")
                    || addr.starts_with("ff02::"))
            })
            .map(str::to_string)
            .collect();
        let proxy = [
            "http_proxy",
            "https_proxy",
            "ftp_proxy",
            "all_proxy",
            "no_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "FTP_PROXY",
            "ALL_PROXY",
            "NO_PROXY",
        ]
        .into_iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
        let (interfaces, interfaces_error) = match interfaces() {
            Ok(i) => (i, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        Environment {
            collected_utc: collected_utc.to_string(),
            clock: ClockSource::current(),
            tool: Tool::current(),
            machine: Machine::current(),
            os_release: os_release(),
            kernel_version: Fact::read("/proc/sys/kernel/version"),
            interfaces,
            interfaces_error,
            resolv_conf,
            nameservers,
            hosts_file,
            hosts_nonlocal_entries,
            proxy,
        }
    }
}

fn interfaces() -> Result<Vec<Interface>, String> {
    let addrs = if_addrs::get_if_addrs().map_err(|e| format!("listing interfaces: {e}"))?;
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in addrs {
        let text = match &a.addr {
            if_addrs::IfAddr::V4(v4) => format!("{}/{}", v4.ip, v4.prefixlen),
            if_addrs::IfAddr::V6(v6) => format!("{}/{}", v6.ip, v6.prefixlen),
        };
        by_name.entry(a.name.clone()).or_default().push(text);
    }
    Ok(by_name
        .into_iter()
        .map(|(name, mut addresses)| {
            addresses.sort();
            Interface { name, addresses }
        })
        .collect())
}

/// `/etc/os-release` as key/value pairs (os-release(5)), quotes removed.
fn os_release() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.trim().trim_matches('"').trim_matches('\'').to_string(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_record_names_resolvers_hosts_digest_and_tool() {
        let env = Environment::collect("2026-01-01T00:00:00Z");
        assert_eq!(env.resolv_conf.path, "/etc/resolv.conf");
        assert!(matches!(env.hosts_file.sha256, Fact::Known(ref h) if h.len() == 64));
        assert_eq!(env.tool.name, "whohosts");
        assert!(matches!(env.tool.binary_sha256, Fact::Known(_)));
        assert!(env.interfaces.iter().any(|i| i.name == "lo"), "{env:?}");
        let json = serde_json::to_string(&env).unwrap();
        assert!(json.contains("\"clock\":\"system clock (CLOCK_REALTIME)\""));
    }
}
