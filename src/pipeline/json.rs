//! Compact JSON for what is written by the hundred thousand: the part every record
//! shares ([`Seen`]) and, for the report, the conversations. They are written
//! straight into a buffer rather than through serde: their keys are constants and
//! their strings (addresses, RFC 3339 times, transport names) never need escaping,
//! which is where serde_json spends most of its time on them.
//!
//! The bytes are serde_json's own for the same values (its formatter writes the
//! numbers). Debug builds, and so every test that runs an analysis, check each record
//! written here against serde_json's serialisation of it.

use super::records::Seen;
use crate::model::{Endpoint, Timestamp, Transport};
use serde_json::ser::{CompactFormatter, Formatter};
use std::net::IpAddr;

/// Appends `"key":`, or `,"key":` after a first field; `key` is a constant that needs
/// no escaping.
pub(crate) fn key(out: &mut Vec<u8>, first: bool, key: &str) {
    if !first {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

pub(crate) fn u64(out: &mut Vec<u8>, v: u64) {
    // Writing into a vector cannot fail.
    let _ = CompactFormatter.write_u64(out, v);
}

/// As serde_json writes an `f64`: `null` for NaN and the infinities.
pub(crate) fn f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        let _ = CompactFormatter.write_f64(out, v);
    } else {
        out.extend_from_slice(b"null");
    }
}

/// An address as serde writes it for a human-readable format: its text form.
pub(crate) fn ip(out: &mut Vec<u8>, ip: IpAddr) {
    out.push(b'"');
    match ip {
        IpAddr::V4(a) => {
            for (i, octet) in a.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                let _ = CompactFormatter.write_u8(out, octet);
            }
        }
        IpAddr::V6(a) => {
            use std::io::Write;
            let _ = write!(out, "{a}");
        }
    }
    out.push(b'"');
}

pub(crate) fn timestamp(out: &mut Vec<u8>, t: Timestamp) {
    out.push(b'"');
    t.write_rfc3339(out);
    out.push(b'"');
}

pub(crate) fn endpoint(out: &mut Vec<u8>, e: Endpoint) {
    out.extend_from_slice(b"{\"ip\":");
    ip(out, e.ip);
    out.extend_from_slice(b",\"port\":");
    match e.port {
        Some(p) => u64(out, p.into()),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

pub(crate) fn transport(out: &mut Vec<u8>, t: Transport) {
    out.push(b'"');
    out.extend_from_slice(t.as_str().as_bytes());
    out.push(b'"');
}

/// Appends a record: `{`, the fields of `seen`, then those of `rest` (which
/// serde_json writes as an object, into `out` itself: its `{` becomes the comma
/// after `seen`'s fields, its `}` closes the record), as `#[serde(flatten)]` puts
/// the two together. `false` (and nothing appended) when `rest` is not written as
/// an object, or cannot be written.
pub(crate) fn record<T: serde::Serialize>(out: &mut Vec<u8>, seen: &Seen, rest: &T) -> bool {
    let start = out.len();
    out.push(b'{');
    seen_fields(out, seen);
    let at = out.len();
    // Begun by a `{` at `at` and ended by a `}` after it: an object.
    let object = serde_json::to_writer(&mut *out, rest).is_ok()
        && out.get(at) == Some(&b'{')
        && out.last() == Some(&b'}');
    if !object {
        out.truncate(start);
        return false;
    }
    if out.len() == at + 2 {
        // `{}`: nothing to add.
        out.truncate(at);
        out.push(b'}');
    } else {
        out[at] = b',';
    }
    true
}

/// The fields of `seen`, in its declaration order, without braces.
fn seen_fields(out: &mut Vec<u8>, s: &Seen) {
    key(out, true, "capture");
    u64(out, s.capture.into());
    key(out, false, "frame");
    u64(out, s.frame);
    if !s.frames.is_empty() {
        key(out, false, "frames");
        out.push(b'[');
        for (i, &f) in s.frames.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            u64(out, f);
        }
        out.push(b']');
    }
    key(out, false, "ts");
    timestamp(out, s.ts);
    key(out, false, "client");
    endpoint(out, s.client);
    key(out, false, "server");
    endpoint(out, s.server);
    key(out, false, "transport");
    transport(out, s.transport);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn addresses() -> impl proptest::strategy::Strategy<Value = IpAddr> {
        use proptest::prelude::*;
        prop_oneof![
            any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
            any::<[u16; 8]>().prop_map(|s| IpAddr::V6(Ipv6Addr::from(s))),
            // Runs of zeros, compressed in the text form, and embedded IPv4.
            (any::<u16>(), 0usize..8, any::<[u8; 4]>()).prop_map(|(w, at, v4)| {
                let mut s = [0u16; 8];
                s[at] = w;
                if at == 5 {
                    s[5] = 0xffff;
                    s[6] = u16::from_be_bytes([v4[0], v4[1]]);
                    s[7] = u16::from_be_bytes([v4[2], v4[3]]);
                }
                IpAddr::V6(Ipv6Addr::from(s))
            }),
        ]
    }

    fn times() -> impl proptest::strategy::Strategy<Value = Timestamp> {
        use proptest::prelude::*;
        prop_oneof![
            (0i64..4_102_444_800, 0u32..1_000_000_000)
                .prop_map(|(secs, nanos)| Timestamp { secs, nanos }),
            // Outside the years RFC 3339 can write, and nanoseconds past a second.
            (any::<i64>(), any::<u32>()).prop_map(|(secs, nanos)| Timestamp { secs, nanos }),
        ]
    }

    fn endpoints() -> impl proptest::strategy::Strategy<Value = Endpoint> {
        use proptest::prelude::*;
        (addresses(), proptest::option::of(any::<u16>()))
            .prop_map(|(ip, port)| Endpoint { ip, port })
    }

    proptest::proptest! {
        /// Each value is written as serde_json writes it.
        #[test]
        fn values_are_written_as_serde_json_writes_them(
            n in proptest::prelude::any::<u64>(),
            x in proptest::prelude::any::<f64>(),
            e in endpoints(),
            t in times(),
        ) {
            let mut out = Vec::new();
            u64(&mut out, n);
            proptest::prop_assert_eq!(&out, &serde_json::to_vec(&n).unwrap());
            out.clear();
            f64(&mut out, x);
            proptest::prop_assert_eq!(&out, &serde_json::to_vec(&x).unwrap());
            out.clear();
            endpoint(&mut out, e);
            proptest::prop_assert_eq!(&out, &serde_json::to_vec(&e).unwrap());
            out.clear();
            timestamp(&mut out, t);
            proptest::prop_assert_eq!(&out, &serde_json::to_vec(&t).unwrap());
        }

        /// A record is written as serde_json writes `Seen` and the rest flattened
        /// into one object, with and without frames, and with an empty rest.
        #[test]
        fn records_are_written_as_serde_json_flattens_them(
            capture in 0u32..3,
            frame in proptest::prelude::any::<u64>(),
            frames in proptest::collection::vec(proptest::prelude::any::<u64>(), 0..4),
            ts in times(),
            client in endpoints(),
            server in endpoints(),
            udp in proptest::prelude::any::<bool>(),
            rest in proptest::option::of("[ -~\u{80}-\u{10ffff}]{0,12}"),
        ) {
            #[derive(serde::Serialize)]
            struct Rest {
                #[serde(skip_serializing_if = "Option::is_none")]
                name: Option<String>,
            }
            #[derive(serde::Serialize)]
            struct Whole<'a> {
                #[serde(flatten)]
                seen: &'a Seen,
                #[serde(flatten)]
                rest: &'a Rest,
            }
            let seen = Seen {
                capture,
                frame,
                frames,
                ts,
                client,
                server,
                transport: if udp { Transport::Udp } else { Transport::Tcp },
            };
            let rest = Rest { name: rest };
            let mut out = b"[".to_vec();
            proptest::prop_assert!(record(&mut out, &seen, &rest));
            out.remove(0);
            let whole = serde_json::to_vec(&Whole { seen: &seen, rest: &rest }).unwrap();
            proptest::prop_assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&whole));
        }
    }

    /// What serde_json writes as something other than an object is refused, and
    /// nothing is appended.
    #[test]
    fn a_rest_that_is_not_an_object_is_refused() {
        let seen = Seen {
            capture: 0,
            frame: 1,
            frames: Vec::new(),
            ts: Timestamp::default(),
            client: Endpoint {
                ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                port: Some(1),
            },
            server: Endpoint {
                ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                port: Some(2),
            },
            transport: Transport::Tcp,
        };
        let mut out = b"x".to_vec();
        assert!(!record(&mut out, &seen, &[1, 2]));
        assert!(!record(&mut out, &seen, &"{}"));
        assert_eq!(out, b"x");
    }
}
