//! `case export`: a case as a BagIt bag (RFC 8493) that anyone can check without
//! whohosts.
//!
//! ```text
//! OUT/
//!   bagit.txt                  BagIt-Version 1.0, UTF-8
//!   bag-info.txt               the case's facts (id, title, rights holder, operator, notary,
//!                              certificate number, newest seal, custody head, tool)
//!   manifest-sha256.txt        every payload file (data/...) with its SHA-256
//!   manifest-sm3.txt           the same with SM3 (GB/T 32905-2016)
//!   tagmanifest-sha256.txt     the tag files above and below, with their SHA-256
//!   VERIFY.md                  what to check and how, by hand or with verify.sh
//!   verify.sh                  checks every hash (sha256sum, openssl), the custody chain
//!                              and the seal statements (python3), the time-stamps (openssl ts)
//!   data/                      the case directory as it is (custody.jsonl included)
//! ```
//!
//! The bag is made from a case that verifies (no difference; an unanchored or untrusted
//! case is exported, and bag-info says so). Every file is copied once, hashed on the
//! way, and the copy's digests must equal those verification just computed.
//!
//! Contract: OUT must not exist; nothing in the case is written; every file is written
//! new and atomically; payload paths are percent-encoded as RFC 8493 §2.1.3 asks.

use super::case::CaseError;
use super::custody;
use super::hash::{Algorithms, MultiHasher};
use super::info::load_info;
use super::manifest::seals;
use super::verify;
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

/// What an export wrote.
#[derive(Debug)]
pub struct Exported {
    pub files: usize,
    pub bytes: u64,
    /// SHA-256 of `tagmanifest-sha256.txt`: one value for the whole bag.
    pub bag_sha256: String,
    pub verify: verify::Report,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> CaseError + '_ {
    move |source| CaseError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// RFC 8493 §2.1.3: CR, LF and `%` in a manifest path are percent-encoded.
fn encode_path(p: &str) -> String {
    p.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// bag-info values are one line each (RFC 8493 §2.2.2 allows continuation lines; a
/// single line is simpler to read by hand).
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

pub fn export(case_dir: &Path, out: &Path) -> Result<Exported, CaseError> {
    if out.symlink_metadata().is_ok() {
        return Err(CaseError::Exists {
            path: out.display().to_string(),
        });
    }
    let info = load_info(case_dir)?;
    let report = verify::verify_case(case_dir, &verify::Options::default());
    if !report.differences.is_empty() || !report.time_order.is_empty() {
        let mut differences = report.differences.clone();
        differences.extend(report.time_order.iter().cloned());
        return Err(CaseError::DoesNotVerify { differences });
    }
    let log = custody::read(case_dir).map_err(io(case_dir))?;
    let scan = super::manifest::case_files(case_dir)?;
    let mut payload: Vec<String> = scan;
    payload.push(custody::FILE.to_string());
    payload.sort();

    std::fs::create_dir_all(out.join("data")).map_err(io(out))?;
    let mut sha_lines = String::new();
    let mut sm3_lines = String::new();
    let mut bytes = 0u64;
    for rel in &payload {
        let src = case_dir.join(rel);
        let dst = out.join("data").join(rel);
        let mut h = MultiHasher::new(Algorithms::EVIDENCE);
        let mut input = std::fs::File::open(&src).map_err(io(&src))?;
        super::write_new_with(&dst, |w| {
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = match input.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                let chunk = buf.get(..n).unwrap_or_default();
                h.update(chunk);
                w.write_all(chunk)?;
            }
        })
        .map_err(io(&dst))?;
        let d = h.finish();
        // The copy must be what verification checked (custody.jsonl is checked by
        // its chain, not by a digest).
        if let Some(checked) = report.digests.get(rel) {
            if checked.sha256 != d.sha256 {
                return Err(CaseError::CopyMismatch {
                    source_path: src.display().to_string(),
                    algorithm: "sha256",
                    expected: checked.sha256.clone().unwrap_or_default(),
                    found: d.sha256.clone().unwrap_or_default(),
                });
            }
        }
        bytes += d.size;
        let path = encode_path(&format!("data/{rel}"));
        let _ = writeln!(sha_lines, "{}  {path}", d.sha256.unwrap_or_default());
        let _ = writeln!(sm3_lines, "{}  {path}", d.sm3.unwrap_or_default());
    }

    let newest = seals(&log).pop();
    let head = log.entries.last().map(|(e, h)| (e.seq, h.clone()));
    let tool = super::environment::Tool::current();
    let mut bag_info = String::new();
    let mut field = |k: &str, v: &str| {
        let _ = writeln!(bag_info, "{k}: {}", one_line(v));
    };
    field("Source-Organization", &info.rights_holder);
    field("Contact-Name", &info.operator);
    field("External-Identifier", &info.id);
    field("External-Description", &info.title);
    let today = super::Now::system(time::UtcOffset::UTC).utc;
    field("Bagging-Date", today.get(..10).unwrap_or_default());
    field("Payload-Oxum", &format!("{bytes}.{}", payload.len()));
    field(
        "Bag-Software-Agent",
        &format!("{} {}", tool.name, tool.version),
    );
    field("Whohosts-Binary-SHA256", tool.binary_sha256.display());
    field("Whohosts-Notary", info.notary.as_deref().unwrap_or("none"));
    field(
        "Whohosts-Notarial-Certificate",
        info.notary_certificate.as_deref().unwrap_or("none"),
    );
    field("Whohosts-Time-Zone", &info.time_zone);
    if let Some((seq, h)) = &head {
        field(
            "Whohosts-Custody-Head",
            &format!("custody.jsonl line {seq} sha256 {h}"),
        );
    }
    if let Some(s) = &newest {
        field(
            "Whohosts-Newest-Seal",
            &format!(
                "v{} {} sha256 {} (custody.jsonl line {})",
                s.version, s.manifest, s.manifest_sha256, s.line
            ),
        );
    }
    field(
        "Whohosts-Verify",
        &if report.fully_verified() {
            "no differences, every time-stamp trusted, every custody line anchored".to_string()
        } else {
            let mut v = vec!["no differences".to_string()];
            v.extend(report.untrusted.iter().cloned());
            v.extend(report.unanchored_text());
            v.join("; ")
        },
    );

    let write_tag = |name: &str, text: &str| -> Result<String, CaseError> {
        let p = out.join(name);
        super::write_new(&p, text.as_bytes()).map_err(io(&p))?;
        Ok(format!(
            "{}  {name}\n",
            super::hash::sha256_hex(text.as_bytes())
        ))
    };
    let mut tags = String::new();
    tags += &write_tag(
        "bagit.txt",
        "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
    )?;
    tags += &write_tag("bag-info.txt", &bag_info)?;
    tags += &write_tag("manifest-sha256.txt", &sha_lines)?;
    tags += &write_tag("manifest-sm3.txt", &sm3_lines)?;
    tags += &write_tag("VERIFY.md", &verify_md(&info.id))?;
    tags += &write_tag("verify.sh", VERIFY_SH)?;
    let tag_path = out.join("tagmanifest-sha256.txt");
    super::write_new(&tag_path, tags.as_bytes()).map_err(io(&tag_path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(
            out.join("verify.sh"),
            std::fs::Permissions::from_mode(0o755),
        );
    }
    Ok(Exported {
        files: payload.len(),
        bytes,
        bag_sha256: super::hash::sha256_hex(tags.as_bytes()),
        verify: report,
    })
}

fn verify_md(id: &str) -> String {
    format!(
        r#"# Checking evidence package {id}

This directory is a BagIt bag (RFC 8493). `data/` is the case directory exactly as it
was: the evidence files, `custody.jsonl` (the chain-of-custody log, one JSON object per
line, each carrying the SHA-256 of the line before it), `manifests/` (every file with
size, SHA-256 and SM3 at each seal) and `timestamps/` (each seal's statement
`seal-vN.json`, the RFC 3161 request `manifest-vN.tsq` over it and the TSA's reply
`manifest-vN.tsr`).

Nothing here needs whohosts. With `openssl`, `sha256sum` and `python3`:

    sh verify.sh [--tsa-ca TSA-CA.pem]

checks, and prints each failure with its place:

1. every payload file against `manifest-sha256.txt` (sha256sum) and `manifest-sm3.txt`
   (openssl dgst -sm3), and the tag files against `tagmanifest-sha256.txt`;
2. the custody chain: line N's `seq` is N and its `prev` is the SHA-256 of line N-1's
   bytes (64 zeros for line 1); every file a custody line records has that SHA-256;
3. each seal statement `timestamps/seal-vN.json`: it names the manifest with the SHA-256
   the manifest file has, and the seal's custody line with the SHA-256 that line has
   (so the whole log up to the seal is bound);
4. each time-stamp reply: `openssl ts -verify -data timestamps/seal-vN.json -in
   timestamps/manifest-vN.tsr -CAfile TSA-CA.pem` (without `--tsa-ca` the reply is only
   shown, with its genTime, not checked: a time-stamp proves nothing until its TSA is
   trusted).

The values to compare with a record kept elsewhere (the notarial certificate): the
custody head and the newest seal in `bag-info.txt`, and the SHA-256 of
`tagmanifest-sha256.txt` for the whole bag. A BagIt validator checks steps 1 alone:
`python3 -m bagit --validate .` (bagit from PyPI).
"#
    )
}

/// The checker shipped in every bag: POSIX sh, sha256sum, openssl, python3.
const VERIFY_SH: &str = r#"#!/bin/sh
# Checks this bag without whohosts: every hash, the custody chain, the seal statements
# and the time-stamps. Usage: sh verify.sh [--tsa-ca TSA-CA.pem]. Exit 0: all checked
# and consistent; 1: something differs (each failure is printed with its place).
set -u
cd "$(dirname "$0")" || exit 1
CA=""
if [ "${1:-}" = "--tsa-ca" ]; then CA="$2"; case "$CA" in /*) ;; *) CA="$OLDPWD/$CA";; esac; fi
fail=0
say() { echo "FAILED: $*"; fail=1; }

# 1. Hashes.
sha256sum --quiet -c tagmanifest-sha256.txt || say "tag files differ from tagmanifest-sha256.txt"
sha256sum --quiet -c manifest-sha256.txt || say "payload files differ from manifest-sha256.txt"
while read -r sum path; do
  got=$(openssl dgst -sm3 -r "$path" 2>/dev/null | cut -d' ' -f1)
  [ "$got" = "$sum" ] || say "$path: sm3 expected $sum found ${got:-unreadable}"
done < manifest-sm3.txt

# 2, 3. Custody chain and seal statements.
python3 - <<'PY' || fail=1
import hashlib, json, os, sys
bad = 0
def fail(msg):
    global bad
    bad = 1
    print("FAILED: " + msg)
lines = open("data/custody.jsonl", "rb").read().split(b"\n")
if lines and lines[-1] == b"":
    lines.pop()
else:
    fail("custody.jsonl: last line not terminated")
prev = "0" * 64
hashes = {}
for n, line in enumerate(lines, 1):
    h = hashlib.sha256(line).hexdigest()
    try:
        e = json.loads(line)
    except ValueError as err:
        fail("custody.jsonl line %d: not JSON: %s" % (n, err)); prev = h; continue
    if e.get("seq") != n:
        fail("custody.jsonl line %d: seq expected %d found %r" % (n, n, e.get("seq")))
    if e.get("prev") != prev:
        fail("custody.jsonl line %d: prev expected %s found %s (line %d changed, or lines were removed)" % (n, prev, e.get("prev"), n - 1))
    for f in (e.get("files") or []) + ([e["environment"]] if e.get("environment") else []):
        p = os.path.join("data", f["path"])
        if os.path.isfile(p):
            got = hashlib.sha256(open(p, "rb").read()).hexdigest()
            if got != f["sha256"]:
                fail("%s: sha256 expected %s (custody.jsonl line %d) found %s" % (f["path"], f["sha256"], n, got))
        elif f["path"] not in ("",):
            fail("%s: missing (recorded at custody.jsonl line %d)" % (f["path"], n))
    hashes[n] = h
    prev = h
for n, line in enumerate(lines, 1):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    d = e.get("details") or {}
    if e.get("action") != "seal" or "statement" not in d:
        continue
    st = os.path.join("data", d["statement"])
    try:
        s = json.load(open(st, "rb"))
    except (OSError, ValueError) as err:
        fail("%s: %s" % (d["statement"], err)); continue
    m = os.path.join("data", d["manifest"])
    got = hashlib.sha256(open(m, "rb").read()).hexdigest() if os.path.isfile(m) else "missing"
    if s["manifest"]["sha256"] != d["manifest_sha256"] or got != d["manifest_sha256"]:
        fail("%s: manifest sha256 expected %s (custody.jsonl line %d) found %s" % (d["statement"], d["manifest_sha256"], n, got))
    head = s["custody_head"]
    if head["seq"] != n or hashes.get(n) != head["sha256"]:
        fail("custody.jsonl line %d: the seal statement %s records sha256 %s, the line hashes to %s" % (n, d["statement"], head["sha256"], hashes.get(n)))
sys.exit(bad)
PY

# 4. Time-stamps.
for tsr in data/timestamps/manifest-v*.tsr; do
  [ -e "$tsr" ] || continue
  st=$(echo "$tsr" | sed 's/manifest-v\([0-9]*\)\.tsr$/seal-v\1.json/')
  [ -e "$st" ] || st=$(echo "$tsr" | sed 's#timestamps/\(manifest-v[0-9]*\)\.tsr$#manifests/\1.json#')
  if [ -n "$CA" ]; then
    openssl ts -verify -data "$st" -in "$tsr" -CAfile "$CA" >/dev/null 2>&1 \
      || say "$tsr: openssl ts -verify -data $st fails with $CA"
  else
    echo "note: $tsr not checked (give --tsa-ca TSA-CA.pem):"
    openssl ts -reply -in "$tsr" -text 2>/dev/null | grep -E "^(Time stamp|TSA):" | sed 's/^/  /'
  fi
done

if [ "$fail" = 0 ]; then echo "bag verified"; else echo "bag verification FAILED"; fi
exit "$fail"
"#;
