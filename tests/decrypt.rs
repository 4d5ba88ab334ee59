//! TLS decryption and HTTP/2 against tshark, on the captures recorded by
//! `captures/record-tls.sh` (curl against nginx with SSLKEYLOGFILE).
//!
//! The plaintext decrypted here must equal, byte for byte and per direction, what
//! `tshark -qz follow,tls,raw,N` shows with the same key log; the HTTP/2 paths,
//! statuses and DATA lengths must agree with tshark's `http2` fields.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use whohosts::capture::{CaptureReader, DecryptionSecrets};
use whohosts::decode::{decode, L4};
use whohosts::decrypt::keylog::KeyLog;
use whohosts::decrypt::tls::{TlsDecryptor, Version};
use whohosts::decrypt::Side;
use whohosts::dissect::h2::{H2Connection, H2Event};

fn captures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures")
}

/// One decrypted TCP connection.
#[derive(Default)]
struct Conn {
    tls: TlsDecryptor,
    next: [Option<u32>; 2],
    plain: [Vec<u8>; 2],
    frames: [Vec<u64>; 2],
    h2: H2Connection,
    events: Vec<H2Event>,
}

/// Reads a capture, follows each TCP connection on port 443 in order (the
/// recordings are lossless; retransmitted bytes are skipped) and decrypts it.
/// Secrets come from `keys` and from the capture's Decryption Secrets Blocks.
fn decrypt(capture: &Path, mut keys: KeyLog) -> (Vec<Conn>, KeyLog) {
    let file = File::open(capture).unwrap();
    let (_, mut reader) = CaptureReader::from_stream(Box::new(file), 0).unwrap();
    let mut conns: BTreeMap<SocketAddr, Conn> = BTreeMap::new();
    let mut order = Vec::new();
    while let Some(frame) = reader.next_frame() {
        let (number, link, data) = (frame.number, frame.link_type, frame.data.to_vec());
        for s in reader.take_secrets() {
            if s.secrets_type == DecryptionSecrets::TLS_KEY_LOG {
                keys.add_text(&format!("pcapng DSB at offset {}", s.offset), &s.data);
            }
        }
        let packet = decode(link, &data);
        let Some(ip) = packet.ip else { continue };
        let L4::Tcp(tcp) = ip.l4 else { continue };
        let (side, client) = if tcp.dst_port == 443 {
            (Side::Client, SocketAddr::new(ip.src, tcp.src_port))
        } else {
            (Side::Server, SocketAddr::new(ip.dst, tcp.dst_port))
        };
        let c = conns.entry(client).or_insert_with(|| {
            order.push(client);
            Conn::default()
        });
        let i = side as usize;
        if tcp.syn {
            c.next[i] = Some(tcp.seq.wrapping_add(1));
            continue;
        }
        let Some(next) = c.next[i] else { continue };
        let off = next.wrapping_sub(tcp.seq) as usize;
        if tcp.payload.is_empty() || off >= tcp.payload.len() {
            continue;
        }
        assert!(
            off < 1 << 30,
            "out-of-order segment in a lossless recording"
        );
        let fresh = &tcp.payload[off..];
        c.next[i] = Some(next.wrapping_add(fresh.len() as u32));
        c.tls.push(&keys, side, fresh, number);
        for p in c.tls.take_output() {
            let j = p.side as usize;
            c.plain[j].extend_from_slice(&p.data);
            c.frames[j].extend_from_slice(&p.frames);
            if c.tls.alpn() == Some(b"h2") {
                c.h2.push(p.side, &p.data, &p.frames);
                c.events.extend(c.h2.take_events());
            }
        }
    }
    for s in reader.take_secrets() {
        if s.secrets_type == DecryptionSecrets::TLS_KEY_LOG {
            keys.add_text(&format!("pcapng DSB at offset {}", s.offset), &s.data);
        }
    }
    let mut out = Vec::new();
    for client in order {
        let mut c = conns.remove(&client).unwrap();
        c.h2.end();
        c.events.extend(c.h2.take_events());
        out.push(c);
    }
    (out, keys)
}

fn keylog(name: &str) -> KeyLog {
    let mut k = KeyLog::new();
    k.add_file(&captures().join(format!("{name}.keys")))
        .unwrap();
    assert!(k.problems().is_empty(), "{:?}", k.problems());
    k
}

fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark")
        .args(args)
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// tshark's decrypted stream N: (client bytes, server bytes). In its raw follow
/// output the lines of node 1 are indented by a tab; node 0 is named by address
/// (the server, port 443, or the client).
fn tshark_follow(capture: &Path, keys: &Path, stream: usize) -> (Vec<u8>, Vec<u8>) {
    let text = tshark(&[
        "-r",
        capture.to_str().unwrap(),
        "-o",
        &format!("tls.keylog_file:{}", keys.display()),
        "-qz",
        &format!("follow,tls,raw,{stream}"),
    ]);
    let (mut client, mut server) = (Vec::new(), Vec::new());
    let mut body = false;
    let mut node0_is_server = false;
    for line in text.lines() {
        if let Some(node) = line.strip_prefix("Node 0: ") {
            node0_is_server = node.ends_with(":443");
        }
        if line.starts_with("Node 1:") {
            body = true;
            continue;
        }
        if !body || line.starts_with("=====") || line.is_empty() {
            continue;
        }
        let (dst, hex) = match line.strip_prefix('\t') {
            Some(h) => (&mut client, h),
            None => (&mut server, line),
        };
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap());
        dst.extend(bytes);
    }
    if node0_is_server {
        (client, server)
    } else {
        (server, client)
    }
}

fn check_against_tshark(name: &str, capture: &str, version: Version, alpn: &[u8]) {
    let cap = captures().join(capture);
    let (conns, _) = decrypt(&cap, keylog(name));
    assert_eq!(conns.len(), 1, "{name}: one connection");
    let c = &conns[0];
    assert_eq!(c.tls.failure(), None, "{name}");
    assert_eq!(c.tls.version(), Some(version), "{name}");
    assert_eq!(c.tls.alpn(), Some(alpn), "{name}");
    let (client, server) = tshark_follow(&cap, &captures().join(format!("{name}.keys")), 0);
    assert!(
        server.len() > 200_000,
        "{name}: the download is in tshark's stream"
    );
    assert_eq!(c.plain[0].len(), client.len(), "{name}: client bytes");
    assert_eq!(c.plain[1].len(), server.len(), "{name}: server bytes");
    assert!(
        c.plain[0] == client,
        "{name}: client plaintext differs from tshark's"
    );
    assert!(
        c.plain[1] == server,
        "{name}: server plaintext differs from tshark's"
    );
    // Every plaintext byte came with the frames that carried it.
    assert!(!c.frames[1].is_empty());
    if alpn == b"h2" {
        check_h2(&cap, name, c);
    }
}

/// The HTTP/2 requests and responses match tshark's `http2` fields.
fn check_h2(cap: &Path, name: &str, c: &Conn) {
    let keys = captures().join(format!("{name}.keys"));
    let text = tshark(&[
        "-r",
        cap.to_str().unwrap(),
        "-o",
        &format!("tls.keylog_file:{}", keys.display()),
        "-Y",
        "http2",
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=|",
        "-e",
        "frame.number",
        "-e",
        "http2.streamid",
        "-e",
        "http2.type",
        "-e",
        "http2.headers.path",
        "-e",
        "http2.headers.status",
        "-e",
        "http2.length",
    ]);
    // tshark: stream -> (path, status, DATA bytes, header frames).
    let mut want: BTreeMap<u64, (String, String, u64)> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let ids: Vec<&str> = f[1].split('|').collect();
        let types: Vec<&str> = f[2].split('|').collect();
        let lens: Vec<&str> = f[5].split('|').collect();
        for ((id, ty), len) in ids.iter().zip(&types).zip(&lens) {
            let id: u64 = id.parse().unwrap();
            if id == 0 {
                continue;
            }
            let e = want.entry(id).or_default();
            if *ty == "0" {
                e.2 += len.parse::<u64>().unwrap();
            }
        }
        // Paths and statuses: one HEADERS frame per record in these recordings.
        if !f[3].is_empty() {
            let id = ids.iter().zip(&types).find(|(_, t)| **t == "1").unwrap().0;
            want.entry(id.parse().unwrap()).or_default().0 = f[3].to_string();
        }
        if !f[4].is_empty() {
            let id = ids.iter().zip(&types).find(|(_, t)| **t == "1").unwrap().0;
            want.entry(id.parse().unwrap()).or_default().1 = f[4].to_string();
        }
    }
    let mut got: BTreeMap<u64, (String, String, u64)> = BTreeMap::new();
    let mut ended = 0;
    for e in &c.events {
        match e {
            H2Event::Request { stream, target, .. } => {
                got.entry(*stream).or_default().0 = String::from_utf8_lossy(target).into_owned();
            }
            H2Event::Response { stream, status, .. } => {
                got.entry(*stream).or_default().1 = status.to_string();
            }
            H2Event::Body {
                stream,
                data,
                frames,
                ..
            } => {
                assert!(!frames.is_empty());
                got.entry(*stream).or_default().2 += data.len() as u64;
            }
            H2Event::End {
                side: Side::Server,
                complete,
                ..
            } => {
                assert!(complete, "{name}: {e:?}");
                ended += 1;
            }
            H2Event::End { .. } => {}
        }
    }
    // tshark's DATA length counts padding; these recordings have none.
    assert_eq!(got, want, "{name}: HTTP/2 streams");
    assert_eq!(ended, 3, "{name}: three complete responses");
    let paths: Vec<&str> = got.values().map(|v| v.0.as_str()).collect();
    assert_eq!(paths, ["/index.html", "/pkg/game.apk", "/missing"]);
}

#[test]
fn tls13_aes128_gcm_http2_equals_tshark() {
    check_against_tshark(
        "tls13-h2-aes128",
        "tls13-h2-aes128.pcap",
        Version::Tls13,
        b"h2",
    );
}

#[test]
fn tls13_aes256_gcm_sha384_http2_equals_tshark() {
    check_against_tshark(
        "tls13-h2-aes256",
        "tls13-h2-aes256.pcap",
        Version::Tls13,
        b"h2",
    );
}

#[test]
fn tls13_chacha20_http11_equals_tshark() {
    check_against_tshark(
        "tls13-h1-chacha",
        "tls13-h1-chacha.pcap",
        Version::Tls13,
        b"http/1.1",
    );
}

#[test]
fn tls12_ecdhe_rsa_aes128_gcm_http2_equals_tshark() {
    check_against_tshark(
        "tls12-h2-rsa-aes128",
        "tls12-h2-rsa-aes128.pcap",
        Version::Tls12,
        b"h2",
    );
}

#[test]
fn tls12_ecdhe_ecdsa_aes256_gcm_sha384_http11_equals_tshark() {
    check_against_tshark(
        "tls12-h1-ecdsa-aes256",
        "tls12-h1-ecdsa-aes256.pcap",
        Version::Tls12,
        b"http/1.1",
    );
}

#[test]
fn tls12_ecdhe_rsa_chacha20_http2_equals_tshark() {
    check_against_tshark(
        "tls12-h2-rsa-chacha",
        "tls12-h2-rsa-chacha.pcap",
        Version::Tls12,
        b"h2",
    );
}

#[test]
fn secrets_injected_into_the_pcapng_decrypt_alone() {
    let cap = captures().join("tls13-h2-dsb.pcapng");
    let (conns, keys) = decrypt(&cap, KeyLog::new());
    assert_eq!(keys.len(), 1);
    assert!(keys.problems().is_empty(), "{:?}", keys.problems());
    let c = &conns[0];
    assert_eq!(c.tls.failure(), None);
    // The same connection as tls13-h2-aes128.pcap, so the same plaintext as tshark
    // shows from the file's own secrets.
    let (client, server) = tshark_follow(&cap, Path::new("/dev/null"), 0);
    assert!(c.plain[0] == client && c.plain[1] == server);
    assert!(server.len() > 200_000);
}

#[test]
fn missing_key_gives_the_reason_and_no_plaintext() {
    let cap = captures().join("tls13-h2-aes128.pcap");
    let (conns, _) = decrypt(&cap, KeyLog::new());
    let c = &conns[0];
    let reason = c.tls.failure().unwrap();
    assert!(reason.starts_with("no key for client random "), "{reason}");
    assert!(c.plain[0].is_empty() && c.plain[1].is_empty());
    assert!(c.events.is_empty());
}

#[test]
fn wrong_key_gives_authentication_failure_and_no_plaintext() {
    for name in ["tls13-h2-aes128", "tls12-h2-rsa-aes128"] {
        let text = std::fs::read_to_string(captures().join(format!("{name}.keys"))).unwrap();
        // Flip the last hex digit of every secret.
        let wrong: String = text
            .lines()
            .map(|l| {
                let mut s = l.to_string();
                let last = s.pop().unwrap();
                s.push(if last == '0' { '1' } else { '0' });
                s + "\n"
            })
            .collect();
        let mut keys = KeyLog::new();
        keys.add_text("wrong", wrong.as_bytes());
        let (conns, _) = decrypt(&captures().join(format!("{name}.pcap")), keys);
        let c = &conns[0];
        let reason = c.tls.failure().unwrap();
        assert!(
            reason.starts_with("authentication failed at ") && reason.ends_with("wrong key"),
            "{name}: {reason}"
        );
        assert!(c.plain[0].is_empty() && c.plain[1].is_empty(), "{name}");
    }
}

#[test]
fn a_gap_stops_the_direction_with_the_reason() {
    let cap = captures().join("tls13-h1-chacha.pcap");
    let keys = keylog("tls13-h1-chacha");
    let file = File::open(&cap).unwrap();
    let (_, mut reader) = CaptureReader::from_stream(Box::new(file), 0).unwrap();
    let mut tls = TlsDecryptor::new();
    let mut server_segments = 0;
    let mut plain = 0;
    while let Some(frame) = reader.next_frame() {
        let (number, link, data) = (frame.number, frame.link_type, frame.data.to_vec());
        let p = decode(link, &data);
        let Some(ip) = p.ip else { continue };
        let L4::Tcp(tcp) = ip.l4 else { continue };
        if tcp.payload.is_empty() {
            continue;
        }
        let side = if tcp.dst_port == 443 {
            Side::Client
        } else {
            Side::Server
        };
        if side == Side::Server {
            server_segments += 1;
            if server_segments == 20 {
                tls.gap(side, tcp.payload.len() as u64);
                continue;
            }
        }
        tls.push(&keys, side, tcp.payload, number);
        plain += tls.take_output().len();
    }
    let reason = tls.failure().unwrap();
    assert!(reason.starts_with("gap in the server stream"), "{reason}");
    assert!(plain > 0, "records before the gap were decrypted");
}

#[test]
fn chromium_http2_equals_tshark() {
    let name = "tls13-h2-chromium";
    let cap = captures().join(format!("{name}.pcap"));
    let keys = captures().join(format!("{name}.keys"));
    let (conns, _) = decrypt(&cap, keylog(name));
    assert!(!conns.is_empty());
    let mut requests = Vec::new();
    let mut body: BTreeMap<u64, usize> = BTreeMap::new();
    let mut statuses = BTreeMap::new();
    for (i, c) in conns.iter().enumerate() {
        assert_eq!(c.tls.failure(), None, "connection {i}");
        assert_eq!(c.tls.version(), Some(Version::Tls13));
        let (client, server) = tshark_follow(&cap, &keys, i);
        assert!(c.plain[0] == client, "connection {i}: client plaintext");
        assert!(c.plain[1] == server, "connection {i}: server plaintext");
        for e in &c.events {
            match e {
                H2Event::Request { stream, target, .. } => {
                    requests.push((*stream, String::from_utf8_lossy(target).into_owned()))
                }
                H2Event::Response { stream, status, .. } => {
                    statuses.insert(*stream, *status);
                }
                H2Event::Body {
                    stream,
                    side: Side::Server,
                    data,
                    ..
                } => *body.entry(*stream).or_default() += data.len(),
                _ => {}
            }
        }
    }
    let apk = requests.iter().find(|r| r.1 == "/pkg/game.apk").unwrap().0;
    assert_eq!(body[&apk], 204_800);
    assert_eq!(statuses[&apk], 200);
    let favicon = requests.iter().find(|r| r.1 == "/favicon.ico").unwrap().0;
    assert_eq!(statuses[&favicon], 404);
    assert_eq!(requests.len(), 4, "{requests:?}");
}
