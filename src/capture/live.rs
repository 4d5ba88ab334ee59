//! Live interfaces through libpcap (the `pcap` crate): list them as `dumpcap -D`
//! does, open one with a filter, snap length, promiscuous mode and kernel buffer size,
//! read what the kernel has in one call, and read libpcap's counters.
//!
//! Packets are encoded straight into pcapng enhanced packet blocks ([`super::write`])
//! in the caller's buffer: the bytes a capture thread reads are the bytes the file
//! gets. Timestamps are asked for in nanoseconds.
//!
//! Contract: every failure names the interface and says what is needed; a missing
//! capture right is told apart (it needs root or `setcap`) from a missing interface,
//! a filter that does not compile and an interface that cannot be opened or that
//! went away.

use super::write;
use super::LinkType;
use ::pcap as libpcap;
use std::net::IpAddr;

/// Why an interface could not be listed, opened or read.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("capturing on {interface} is not permitted ({message}). Capturing needs the CAP_NET_RAW and CAP_NET_ADMIN capabilities: run whohosts as root (sudo whohosts ...), or give them to this binary once with: sudo setcap cap_net_raw,cap_net_admin=eip {binary}")]
    NoPermission {
        interface: String,
        message: String,
        binary: String,
    },
    #[error("no interface named {name:?} (interfaces here: {available}; `whohosts capture -D` lists them)")]
    NoSuchInterface { name: String, available: String },
    #[error("the capture filter {filter:?} does not compile for {interface}: {message}")]
    BadFilter {
        interface: String,
        filter: String,
        message: String,
    },
    #[error("cannot open {interface} for capture: {message}")]
    Open { interface: String, message: String },
    #[error("capture on {interface} stopped: {message}")]
    Read { interface: String, message: String },
    #[error("cannot list the interfaces: {0}")]
    List(String),
}

impl LiveError {}

/// One interface as `whohosts capture -D` shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct InterfaceInfo {
    /// 1-based position, usable with `-i` instead of the name.
    pub number: usize,
    pub name: String,
    pub description: Option<String>,
    /// Addresses with prefix length, `192.0.2.1/24`.
    pub addresses: Vec<String>,
    pub up: bool,
    pub running: bool,
    pub loopback: bool,
    pub wireless: bool,
    /// `connected`, `disconnected`, `not applicable` or `unknown`.
    pub connection: &'static str,
    /// The link types the interface offers, first the default; or why they are not
    /// known (reading them needs capture rights).
    pub link_types: Result<Vec<LinkTypeInfo>, String>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct LinkTypeInfo {
    pub linktype: u32,
    pub name: String,
    pub description: String,
}

/// Lists the interfaces libpcap can capture on, in libpcap's order. With
/// `link_types`, each is opened briefly to ask which link types it offers.
pub fn interfaces(link_types: bool) -> Result<Vec<InterfaceInfo>, LiveError> {
    let devices = libpcap::Device::list().map_err(|e| LiveError::List(e.to_string()))?;
    Ok(devices
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let flags = &d.flags;
            let connection = match flags.connection_status {
                libpcap::ConnectionStatus::Connected => "connected",
                libpcap::ConnectionStatus::Disconnected => "disconnected",
                libpcap::ConnectionStatus::NotApplicable => "not applicable",
                libpcap::ConnectionStatus::Unknown => "unknown",
            };
            let links = if link_types {
                datalinks(&d.name)
            } else {
                Err("not asked".to_string())
            };
            InterfaceInfo {
                number: i + 1,
                addresses: d
                    .addresses
                    .iter()
                    .map(|a| match a.netmask.map(prefix_len) {
                        Some(p) => format!("{}/{p}", a.addr),
                        None => a.addr.to_string(),
                    })
                    .collect(),
                up: flags.is_up(),
                running: flags.is_running(),
                loopback: flags.is_loopback(),
                wireless: flags.is_wireless(),
                connection,
                link_types: links,
                description: d.desc.clone(),
                name: d.name,
            }
        })
        .collect())
}

fn datalinks(name: &str) -> Result<Vec<LinkTypeInfo>, String> {
    let cap = libpcap::Capture::from_device(name)
        .and_then(|c| c.open())
        .map_err(|e| {
            let m = e.to_string();
            if is_permission_message(&m) {
                "unknown: reading them needs capture rights".to_string()
            } else {
                format!("unknown: {m}")
            }
        })?;
    let current = cap.get_datalink();
    let mut all = cap.list_datalinks().map_err(|e| format!("unknown: {e}"))?;
    // The one the interface opens with first, as dumpcap lists it.
    all.sort_by_key(|l| *l != current);
    Ok(all
        .into_iter()
        .map(|l| LinkTypeInfo {
            linktype: dlt_to_linktype(l.0),
            name: l.get_name().unwrap_or_else(|_| format!("DLT {}", l.0)),
            description: l.get_description().unwrap_or_default(),
        })
        .collect())
}

fn prefix_len(mask: IpAddr) -> u8 {
    match mask {
        IpAddr::V4(m) => u32::from(m).count_ones() as u8,
        IpAddr::V6(m) => u128::from(m).count_ones() as u8,
    }
}

/// The LINKTYPE_ value (what files record) of a DLT_ value (what libpcap returns).
/// They differ only for a few old values whose DLT_ numbers vary between systems;
/// the mapping is libpcap's own (`dlt_to_linktype` in pcap-common.c).
pub(crate) fn dlt_to_linktype(dlt: i32) -> u32 {
    match dlt {
        // DLT_ATM_RFC1483
        11 => 100,
        // DLT_RAW: 12 on Linux and most systems, 14 on OpenBSD.
        12 | 14 => 101,
        // DLT_SLIP_BSDOS, DLT_PPP_BSDOS
        15 => 102,
        16 => 103,
        d => u32::try_from(d).unwrap_or(u32::MAX),
    }
}

fn is_permission_message(m: &str) -> bool {
    let m = m.to_ascii_lowercase();
    m.contains("permission") || m.contains("operation not permitted")
}

/// Whether this process holds both capabilities capture needs (Linux: CapEff in
/// /proc/self/status); `None` where that cannot be read.
pub(crate) fn has_capture_rights() -> Option<bool> {
    const CAP_NET_ADMIN: u32 = 12;
    const CAP_NET_RAW: u32 = 13;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    let bits = u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()?;
    Some(bits & (1 << CAP_NET_ADMIN) != 0 && bits & (1 << CAP_NET_RAW) != 0)
}

fn binary_path() -> String {
    std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "whohosts".into())
}

/// How to open an interface.
#[derive(Clone, Debug)]
pub struct SourceOptions {
    pub filter: Option<String>,
    pub snaplen: u32,
    pub promisc: bool,
    /// Kernel buffer, bytes.
    pub buffer_size: u32,
    /// How long one read waits for packets, milliseconds; also how soon a stop
    /// request is seen.
    pub timeout_ms: i32,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            filter: None,
            snaplen: super::MAX_RECORD as u32,
            promisc: true,
            buffer_size: 16 << 20,
            timeout_ms: 100,
        }
    }
}

/// An open interface.
pub struct Source {
    cap: libpcap::Capture<libpcap::Active>,
    pub interface: write::Interface,
    pub promisc: bool,
}

/// Interrupts a read under way on an interface (`pcap_breakloop`); does nothing
/// once the interface is closed.
pub(crate) struct Breaker(libpcap::BreakLoop);

impl Breaker {
    pub(crate) fn interrupt(&self) {
        self.0.breakloop();
    }
}

/// libpcap's counters for an interface since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    /// `ps_recv`: packets received (that passed the filter, on Linux).
    pub received: u64,
    /// `ps_drop`: dropped by the kernel, no room in the buffer.
    pub kernel_drops: u64,
    /// `ps_ifdrop`: dropped by the interface or its driver.
    pub interface_drops: u64,
}

impl Source {
    /// Opens `name` (an interface name, or its number in [`interfaces`]).
    pub fn open(name: &str, opts: &SourceOptions) -> Result<Source, LiveError> {
        let devices = libpcap::Device::list().map_err(|e| LiveError::List(e.to_string()))?;
        let by_number = name
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| devices.get(i));
        let Some(device) = devices
            .iter()
            .find(|d| d.name == name)
            .or(by_number)
            .cloned()
        else {
            return Err(LiveError::NoSuchInterface {
                name: name.to_string(),
                available: devices
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let iface = device.name.clone();
        let open_err = |e: libpcap::Error| {
            let message = e.to_string();
            if is_permission_message(&message) || has_capture_rights() == Some(false) {
                LiveError::NoPermission {
                    interface: iface.clone(),
                    message,
                    binary: binary_path(),
                }
            } else {
                LiveError::Open {
                    interface: iface.clone(),
                    message,
                }
            }
        };
        let mut cap = libpcap::Capture::from_device(device.clone())
            .map_err(open_err)?
            .snaplen(i32::try_from(opts.snaplen).unwrap_or(i32::MAX))
            .promisc(opts.promisc)
            .buffer_size(i32::try_from(opts.buffer_size).unwrap_or(i32::MAX))
            .timeout(opts.timeout_ms)
            .precision(libpcap::Precision::Nano)
            .open()
            .map_err(open_err)?;
        if let Some(f) = &opts.filter {
            cap.filter(f, true).map_err(|e| LiveError::BadFilter {
                interface: iface.clone(),
                filter: f.clone(),
                message: e.to_string(),
            })?;
        }
        let link_type = LinkType(dlt_to_linktype(cap.get_datalink().0));
        let os = os_name();
        Ok(Source {
            cap,
            promisc: opts.promisc,
            interface: write::Interface {
                name: iface,
                description: device.desc.clone(),
                link_type,
                snaplen: opts.snaplen,
                filter: opts.filter.clone(),
                os,
                addresses: device
                    .addresses
                    .iter()
                    .map(|a| (a.addr, a.netmask.map_or(0, prefix_len)))
                    .collect(),
            },
        })
    }

    /// Reads what the kernel has (waiting up to the read timeout when it has
    /// nothing) and appends one enhanced packet block per packet to `out`, for
    /// interface number `id` of the file. Returns the number of packets.
    pub fn read(&mut self, id: u32, out: &mut Vec<u8>) -> Result<usize, LiveError> {
        let result = self.cap.dispatch(None, |p| {
            let h = p.header;
            let secs = u64::try_from(h.ts.tv_sec).unwrap_or(0);
            // With nanosecond precision libpcap puts nanoseconds in tv_usec.
            let nanos = u64::try_from(h.ts.tv_usec).unwrap_or(0);
            let ts = secs.saturating_mul(1_000_000_000).saturating_add(nanos);
            write::enhanced_packet(out, id, ts, p.data, h.len);
        });
        match result {
            Ok(n) => Ok(n),
            Err(libpcap::Error::TimeoutExpired) => Ok(0),
            Err(e) => Err(LiveError::Read {
                interface: self.interface.name.clone(),
                message: e.to_string(),
            }),
        }
    }

    /// A handle that makes a [`Source::read`] waiting on another thread return.
    /// (On Linux a read waits until a packet arrives, whatever the timeout.)
    pub(crate) fn breaker(&mut self) -> Breaker {
        Breaker(self.cap.breakloop_handle())
    }

    /// Switches to non-blocking reads, for draining what the kernel still holds
    /// after a stop: [`Source::read`] then returns 0 at once when nothing is there.
    pub(crate) fn nonblocking(self) -> Result<Source, LiveError> {
        let Source {
            cap,
            interface,
            promisc,
        } = self;
        let name = interface.name.clone();
        let cap = cap.setnonblock().map_err(|e| LiveError::Read {
            interface: name,
            message: e.to_string(),
        })?;
        Ok(Source {
            cap,
            interface,
            promisc,
        })
    }

    /// libpcap's counters since the interface was opened.
    pub fn counters(&mut self) -> Result<Counters, LiveError> {
        let s = self.cap.stats().map_err(|e| LiveError::Read {
            interface: self.interface.name.clone(),
            message: e.to_string(),
        })?;
        Ok(Counters {
            received: u64::from(s.received),
            kernel_drops: u64::from(s.dropped),
            interface_drops: u64::from(s.if_dropped),
        })
    }
}

/// The operating system as `shb_os` and `if_os` name it: `Linux 6.1.0-18-amd64`.
pub fn os_name() -> Option<String> {
    let t = std::fs::read_to_string("/proc/sys/kernel/ostype").ok()?;
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    Some(format!("{} {}", t.trim(), r.trim()))
}

/// The CPU as `shb_hardware` names it (the first `model name` of /proc/cpuinfo).
pub fn hardware_name() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dlt_values_map_to_file_link_types() {
        assert_eq!(dlt_to_linktype(1), 1);
        assert_eq!(dlt_to_linktype(12), 101);
        assert_eq!(dlt_to_linktype(113), 113);
        assert_eq!(dlt_to_linktype(276), 276);
        assert_eq!(dlt_to_linktype(-1), u32::MAX);
    }

    #[test]
    fn netmasks_give_prefix_lengths() {
        assert_eq!(prefix_len("255.255.255.0".parse().unwrap()), 24);
        assert_eq!(prefix_len("ffff:ffff:ffff:ffff::".parse().unwrap()), 64);
    }

    #[test]
    fn permission_messages_are_recognised() {
        assert!(is_permission_message(
            "You don't have permission to perform this capture on that device (socket: Operation not permitted)"
        ));
        assert!(!is_permission_message("No such device exists"));
    }
}
