//! A real time-stamp authority for the tests: a test CA and a TSA certificate made by
//! the `openssl` CLI in a temporary directory, replies made by `openssl ts -reply`, also
//! served over HTTP on 127.0.0.1.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, Instant};

pub(crate) fn openssl(dir: &Path, args: &[&str]) {
    let out = Process::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the openssl CLI must be installed");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a TSA certificate under it, with an `openssl ts` configuration.
pub(crate) struct Tsa {
    pub dir: tempfile::TempDir,
}

impl Tsa {
    /// RSA 2048 keys for CA and TSA.
    pub(crate) fn new(name: &str) -> Tsa {
        Tsa::with_tsa_key(name, &["-newkey", "rsa:2048"])
    }

    pub(crate) fn with_tsa_key(name: &str, key_args: &[&str]) -> Tsa {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("ext.cnf"),
            "[tsa_ext]\nextendedKeyUsage = critical,timeStamping\n\
             basicConstraints = CA:false\nkeyUsage = critical,digitalSignature\n",
        )
        .unwrap();
        // RFC 3161 §2.3: the TSA certificate carries only the timeStamping key purpose,
        // marked critical; openssl ts -verify checks exactly that.
        std::fs::write(
            d.join("openssl.cnf"),
            format!(
                "[tsa]\ndefault_tsa = tsa_config1\n[tsa_config1]\nserial = {}\n\
                 crypto_device = builtin\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\n\
                 digests = sha256\naccuracy = secs:1\nordering = yes\ntsa_name = yes\n\
                 ess_cert_id_chain = no\ness_cert_id_alg = sha256\n",
                d.join("serial").display()
            ),
        )
        .unwrap();
        std::fs::write(d.join("serial"), "01\n").unwrap();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                &format!("/CN={name} Root CA"),
                "-addext",
                "basicConstraints=critical,CA:true",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        let subj = format!("/CN={name} TSA");
        let mut req = vec!["req"];
        req.extend_from_slice(key_args);
        req.extend_from_slice(&[
            "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", &subj,
        ]);
        openssl(d, &req);
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "tsa.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                "2",
                "-out",
                "tsa.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
                "-extensions",
                "tsa_ext",
            ],
        );
        Tsa { dir }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `openssl ts -reply` for a request file; returns the reply path.
    pub(crate) fn reply(&self, tsq: &Path, out: &Path) {
        openssl(
            self.dir.path(),
            &[
                "ts",
                "-reply",
                "-config",
                "openssl.cnf",
                "-queryfile",
                tsq.to_str().unwrap(),
                "-inkey",
                "tsa.key",
                "-signer",
                "tsa.pem",
                "-out",
                out.to_str().unwrap(),
            ],
        );
    }

    pub(crate) fn verify_args(&self) -> Vec<String> {
        vec![
            "--tsa-cert".into(),
            self.path("tsa.pem").display().to_string(),
            "--tsa-ca".into(),
            self.path("ca.pem").display().to_string(),
        ]
    }
}

/// Serves `n` RFC 3161 requests over HTTP on 127.0.0.1, one after the other, with
/// `openssl ts -reply`; gives up after 60 s per request so a failing test cannot hang.
pub(crate) fn serve(tsa: &Tsa, n: usize) -> (String, std::thread::JoinHandle<Result<(), String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/tsa", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let dir = tsa.dir.path().to_path_buf();
    let handle = std::thread::spawn(move || -> Result<(), String> {
        for _ in 0..n {
            answer(&listener, &dir)?;
        }
        Ok(())
    });
    (url, handle)
}

fn answer(listener: &TcpListener, dir: &Path) -> Result<(), String> {
    {
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut stream, _) = loop {
            match listener.accept() {
                Ok(s) => break s,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => return Err(format!("accept: {e}")),
            }
        };
        stream.set_nonblocking(false).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let header_end = loop {
            let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed before headers".into());
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
        if !head.starts_with("post ") || !head.contains("content-type: application/timestamp-query")
        {
            return Err(format!("unexpected request: {head}"));
        }
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or("no content-length")?;
        while buf.len() < header_end + len {
            let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("short body".into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        std::fs::write(dir.join("http.tsq"), &buf[header_end..header_end + len]).unwrap();
        let out = Process::new("openssl")
            .current_dir(dir)
            .args([
                "ts",
                "-reply",
                "-config",
                "openssl.cnf",
                "-queryfile",
                "http.tsq",
            ])
            .args([
                "-inkey", "tsa.key", "-signer", "tsa.pem", "-out", "http.tsr",
            ])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let body = std::fs::read(dir.join("http.tsr")).map_err(|e| e.to_string())?;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .map_err(|e| e.to_string())?;
        stream.write_all(&body).map_err(|e| e.to_string())?;
        Ok(())
    }
}
