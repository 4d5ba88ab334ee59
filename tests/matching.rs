//! `whohosts match`: an original game package against a repacked pirate copy served
//! as extracted objects, and hostile archives refused within bounds.

use std::io::Write;
use std::path::Path;
use whohosts::hash::sha256_hex as sha;
use whohosts::matching::archive::{walk_bytes, Limits};

fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn stored_zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn whohosts() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_whohosts"))
}

#[test]
fn a_repacked_package_shows_identical_similar_missing_and_added() {
    let t = tempfile::tempdir().unwrap();
    let originals = t.path().join("release");
    let extract = t.path().join("work/objects");
    std::fs::create_dir_all(&originals).unwrap();
    std::fs::create_dir_all(&extract).unwrap();

    let a = noise(300_000, 1);
    let b = noise(400_000, 2);
    let c = noise(100_000, 3);
    let dex = noise(50_000, 4);
    let small = b"level=1\nname=Example\n".to_vec();
    let original_apk = zip_of(&[
        ("assets/a.bin", &a),
        ("assets/b.bin", &b),
        ("assets/c.bin", &c),
        ("classes.dex", &dex),
        ("res/small.txt", &small),
    ]);
    std::fs::write(originals.join("game.apk"), &original_apk).unwrap();
    let obb = noise(200_000, 5);
    std::fs::write(originals.join("main.obb"), &obb).unwrap();
    let readme = b"Example game, all rights reserved.\n".to_vec();
    std::fs::write(originals.join("readme.txt"), &readme).unwrap();

    // The pirate copy: repacked (stored instead of deflated), b.bin lightly modified,
    // c.bin removed, an advertising library added.
    let mut b2 = b.clone();
    b2.splice(200_000..200_004, *b"CRACKED!");
    let ads = noise(60_000, 6);
    let pirate_apk = stored_zip_of(&[
        ("classes.dex", &dex),
        ("assets/a.bin", &a),
        ("assets/b.bin", &b2),
        ("res/small.txt", &small),
        ("lib/ads.so", &ads),
    ]);
    std::fs::write(extract.join("0001-dl.example.net-game.apk"), &pirate_apk).unwrap();
    std::fs::write(extract.join("0002-dl.example.net-main.obb"), &obb).unwrap();
    let report = serde_json::json!({
        "extract": { "dir": "objects", "objects": 2 },
        "objects": [
            { "id": 1, "capture": 0, "direction": "response",
              "url": "https://dl.example.net/game.apk", "status": 200,
              "size": pirate_apk.len(), "sha256": sha(&pirate_apk), "complete": true,
              "first_frame": 12, "last_frame": 400, "frames": [12, 13], "frames_total": 380,
              "server": "47.236.91.18:80", "file": "0001-dl.example.net-game.apk" },
            { "id": 2, "capture": 0, "direction": "response",
              "url": "https://dl.example.net/main.obb", "status": 200,
              "size": obb.len(), "sha256": sha(&obb), "complete": true,
              "first_frame": 401, "last_frame": 600, "server": "47.236.91.18:80",
              "file": "0002-dl.example.net-main.obb" },
            { "id": 3, "capture": 0, "direction": "response",
              "url": "https://dl.example.net/readme.txt\u{1b}[31m", "status": 200,
              "size": readme.len(), "sha256": sha(&readme), "complete": true,
              "first_frame": 601, "last_frame": 602, "server": "43.136.75.21:443" }
        ]
    });
    let report_path = t.path().join("work/capture.report.json");
    std::fs::write(&report_path, serde_json::to_vec(&report).unwrap()).unwrap();
    let report_before = std::fs::read(&report_path).unwrap();

    let out = whohosts()
        .args(["match", "--originals"])
        .arg(&originals)
        .arg(&report_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("made (no index yet)"), "{stderr}");
    // The table: game.apk has 5 files: 3 identical, 1 similar, 1 missing, 1 added.
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row {name}: {stdout}"))
            .split_whitespace()
            .skip(1)
            .take(5)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(row("game.apk"), "5 3 1 1 1", "{stdout}");
    assert_eq!(row("main.obb"), "1 1 0 0 0", "{stdout}");
    assert_eq!(row("readme.txt"), "1 1 0 0 0", "{stdout}");

    let result_path = t.path().join("work/capture.report.matches.json");
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&result_path).unwrap()).unwrap();
    assert_eq!(result["report"]["sha256"], sha(&report_before));
    let pkg = &result["packages"][0];
    assert_eq!(pkg["package"], "game.apk");
    assert_eq!(pkg["missing_files"][0]["path"], "game.apk!/assets/c.bin");
    assert_eq!(pkg["missing_files"][0]["sha256"], sha(&c));
    assert_eq!(pkg["added_files"][0]["entry"], "lib/ads.so");
    assert_eq!(pkg["added_files"][0]["sha256"], sha(&ads));
    let matches = result["matches"].as_array().unwrap();
    let similar = matches
        .iter()
        .find(|m| m["method"] == "chunks")
        .expect("a similar match");
    assert_eq!(similar["original"]["path"], "game.apk!/assets/b.bin");
    assert_eq!(similar["original"]["sha256"], sha(&b));
    assert_eq!(similar["object"]["sha256"], sha(&b2));
    assert_eq!(similar["object"]["entry"], "assets/b.bin");
    assert_eq!(similar["object"]["id"], 1);
    assert_eq!(similar["object"]["first_frame"], 12);
    assert_eq!(similar["object"]["server"], "47.236.91.18:80");
    let share = similar["share"].as_f64().unwrap();
    assert!(share > 0.9 && share < 1.0, "{share}");
    let dexm = matches
        .iter()
        .find(|m| m["original"]["path"] == "game.apk!/classes.dex")
        .unwrap();
    assert_eq!(dexm["method"], "sha256");
    assert_eq!(dexm["object"]["sha256"], sha(&dex));
    // The result holds to its written schema (Debian's python3-jsonschema).
    let v = std::process::Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import json,sys,jsonschema\n\
             s=json.load(open(sys.argv[1]));jsonschema.Draft202012Validator.check_schema(s)\n\
             jsonschema.Draft202012Validator(s).validate(json.load(open(sys.argv[2])))",
        ])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/matches.schema.json"))
        .arg(&result_path)
        .output()
        .expect("python3 with jsonschema");
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    assert_eq!(
        result["objects"][0]["matched"], 4,
        "a, b (similar), classes.dex, small.txt"
    );

    // The letter's CN-7 carries the comparison, with the hashes of both sides.
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/letter");
    let demo = whohosts::letter::input::Report::load(&fx.join("demo-report.json")).unwrap();
    let mut claimant = whohosts::letter::Claimant::from_toml(
        &std::fs::read_to_string(fx.join("claimant.toml")).unwrap(),
        "claimant.toml",
    )
    .unwrap();
    let result_bytes = std::fs::read(&result_path).unwrap();
    let opts = whohosts::letter::DraftOptions {
        date: time::Date::from_calendar_date(2026, time::Month::November, 21).ok(),
        notary_certificate: Some("(2026)京长安内经证字第00001号".into()),
        comparison: Some(
            whohosts::letter::Comparison::from_match_result(
                &result_bytes,
                "capture.report.matches.json",
            )
            .unwrap(),
        ),
        ..Default::default()
    };
    let dir = whohosts::attribute::directory::Directory::bundled().unwrap();
    let letters = whohosts::letter::draft(&demo, &claimant, None, &dir, &opts)
        .unwrap()
        .letters;
    let cn = letters.iter().find(|l| l.provider == "alibaba").unwrap();
    let cn7 = cn
        .markdown
        .split("## 四、初步证据")
        .nth(1)
        .unwrap()
        .split("## 五")
        .next()
        .unwrap();
    assert!(cn7.contains(&sha(&result_bytes)), "{cn7}");
    assert!(
        cn7.contains(&format!("| {} | 5 | 3 | 1 | 1 | 1 |", sha(&original_apk))),
        "{cn7}"
    );
    assert!(cn7.contains(&sha(&b)) && cn7.contains(&sha(&b2)), "{cn7}");
    assert!(cn7.contains("相似 9"), "{cn7}");
    // Only the files this provider's servers sent (readme.txt came from another).
    assert!(!cn7.contains("example.net/readme.txt"), "{cn7}");
    assert!(
        cn7.contains(&format!("| readme.txt | {} |", sha(&readme))),
        "{cn7}"
    );
    assert!(!cn7.contains('\u{1b}'), "escaped: {cn7}");
    // Without any comparison, the lint says CN-7 lacks one.
    for w in &mut claimant.works {
        w.comparison = None;
    }
    let opts = whohosts::letter::DraftOptions {
        comparison: None,
        ..opts
    };
    let letters = whohosts::letter::draft(&demo, &claimant, None, &dir, &opts)
        .unwrap()
        .letters;
    let cn = letters.iter().find(|l| l.provider == "alibaba").unwrap();
    let lint = whohosts::letter::lint::lint(&cn.markdown, None);
    let cn7 = lint
        .missing
        .iter()
        .find(|m| format!("{m:?}").contains("CN-7"));
    assert!(
        format!("{cn7:?}").contains("no comparison with the original work"),
        "{:?}",
        lint.missing
    );

    // The report (evidence) is untouched.
    assert_eq!(std::fs::read(&report_path).unwrap(), report_before);

    // The HTML page: escaped, no script, every load forbidden.
    let page = t.path().join("work/comparison.html");
    let out = whohosts()
        .args(["match", "--originals"])
        .arg(&originals)
        .arg(&report_path)
        .args(["--out", "-", "--html"])
        .arg(&page)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("default-src 'none'"));
    assert!(!html.contains("<script"));
    assert!(!html.contains('\u{1b}'));
    assert!(
        html.contains(&sha(&b2)) && html.contains("lib/ads.so"),
        "{html}"
    );

    // A second run reuses the index, and writes a new file beside the first.
    let out = whohosts()
        .args(["match", "--originals"])
        .arg(&originals)
        .arg(&report_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("reused"), "{stderr}");
    let second = t.path().join("work/capture.report.matches-2.json");
    assert_eq!(
        std::fs::read(&second).unwrap(),
        std::fs::read(&result_path).unwrap(),
        "same input, same bytes"
    );
    // A changed originals folder makes the index again.
    std::fs::write(originals.join("extra.txt"), b"new").unwrap();
    let out = whohosts()
        .args(["match", "--originals"])
        .arg(&originals)
        .arg(&report_path)
        .args(["--out", "-"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("originals folder changed"), "{stderr}");
}

fn reasons(w: &whohosts::matching::archive::Walk) -> String {
    w.refusals
        .iter()
        .map(|r| format!("{} :: {}\n", r.path, r.reason))
        .collect()
}

#[test]
fn hostile_names_are_refused_and_escaped() {
    let z = stored_zip_of(&[
        ("../../etc/passwd", b"x"),
        ("/abs", b"x"),
        ("C:\\windows\\x", b"x"),
        ("evil\u{202e}gpj.exe", b"x"),
        ("tab\there", b"x"),
        ("fine.txt", b"ok"),
    ]);
    let w = walk_bytes(&z, "p.zip", &Limits::default());
    let r = reasons(&w);
    assert!(r.contains("p.zip!/../../etc/passwd :: `..` in name"), "{r}");
    assert!(r.contains("p.zip!//abs :: absolute name"), "{r}");
    assert!(r.contains("drive letter"), "{r}");
    assert!(
        r.contains("evil\\u{202e}gpj.exe :: control or bidirectional"),
        "{r}"
    );
    assert!(r.contains("tab\\x09here"), "{r}");
    assert_eq!(w.refusals.len(), 5, "{r}");
    assert!(w.entries.iter().any(|e| e.path == "p.zip!/fine.txt"));
}

#[test]
fn encrypted_entries_are_refused() {
    let mut z = stored_zip_of(&[("secret.bin", b"data")]);
    // Set the "encrypted" flag in the local and the central header.
    z[6] |= 1;
    let cd = z.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    z[cd + 8] |= 1;
    let w = walk_bytes(&z, "e.zip", &Limits::default());
    let r = reasons(&w);
    assert!(r.contains("e.zip!/secret.bin :: encrypted entry"), "{r}");
}

#[test]
fn high_ratio_and_deep_nesting_are_bounded() {
    let zeros = vec![0u8; 8 << 20];
    let bomb = zip_of(&[("zeros.bin", &zeros)]);
    let limits = Limits {
        max_ratio: 100,
        ..Limits::default()
    };
    let w = walk_bytes(&bomb, "b.zip", &limits);
    assert!(reasons(&w).contains("compression ratio"), "{}", reasons(&w));

    // 42.zip-like: nested copies, each layer holding the one below several times.
    let mut layer = zip_of(&[("0.bin", &vec![0u8; 1 << 20])]);
    for _ in 0..6 {
        let entries: Vec<(String, Vec<u8>)> = (0..4)
            .map(|i| (format!("{i}.zip"), layer.clone()))
            .collect();
        let refs: Vec<(&str, &[u8])> = entries
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        layer = zip_of(&refs);
    }
    let limits = Limits {
        max_total_bytes: 64 << 20,
        ..Limits::default()
    };
    let start = std::time::Instant::now();
    let w = walk_bytes(&layer, "42.zip", &limits);
    let r = reasons(&w);
    assert!(r.contains("nested deeper than 4 levels"), "{r}");
    assert!(w.entries.iter().all(|e| e.depth <= 4));
    assert!(start.elapsed().as_secs() < 60);
}

#[test]
fn corrupt_truncated_and_huge_declared_are_refused() {
    let data = noise(200_000, 9);
    let z = zip_of(&[("a.bin", &data)]);
    let w = walk_bytes(&z[..z.len() / 2], "t.zip", &Limits::default());
    assert!(
        reasons(&w).contains("t.zip :: zip unreadable"),
        "{}",
        reasons(&w)
    );
    let mut bad = z.clone();
    for b in &mut bad[100..2000] {
        *b ^= 0x5a;
    }
    let w = walk_bytes(&bad, "c.zip", &Limits::default());
    assert!(
        reasons(&w).contains("c.zip!/a.bin :: unreadable"),
        "{}",
        reasons(&w)
    );

    // A tar entry declaring a terabyte, with no data behind it.
    let mut h = tar::Header::new_gnu();
    h.set_path("huge.bin").unwrap();
    h.set_size(1 << 40);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut t = h.as_bytes().to_vec();
    t.extend_from_slice(&[0u8; 1024]);
    let w = walk_bytes(&t, "h.tar", &Limits::default());
    assert!(
        reasons(&w).contains("h.tar!/huge.bin :: declares 1099511627776 bytes"),
        "{}",
        reasons(&w)
    );

    // A symbolic link in a tar, inside a gzip.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "link", "/etc/passwd").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    b.append_data(&mut h, "ok.txt", &b"ok"[..]).unwrap();
    let t = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&t).unwrap();
    let gz = gz.finish().unwrap();
    let w = walk_bytes(&gz, "x.tar.gz", &Limits::default());
    let r = reasons(&w);
    assert!(
        r.contains("x.tar.gz!/x.tar!/link :: link; not followed"),
        "{r}"
    );
    assert!(
        w.entries
            .iter()
            .any(|e| e.path == "x.tar.gz!/x.tar!/ok.txt"),
        "{r}"
    );
}

#[test]
fn overlapping_entries_are_refused_as_a_zip_bomb() {
    // Two central-directory records pointing at the same local entry: the second is a
    // copy of the first under another name, the central directory grown to match.
    let z = stored_zip_of(&[("a.bin", &noise(5000, 3))]);
    let cd = z.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    let eocd = z.windows(4).rposition(|w| w == b"PK\x05\x06").unwrap();
    let mut record = z[cd..eocd].to_vec();
    let name_at = 46;
    record[name_at] = b'b';
    let mut out = z[..eocd].to_vec();
    out.extend_from_slice(&record);
    let mut end = z[eocd..].to_vec();
    end[8] += 1; // entries on this disk
    end[10] += 1; // entries in total
    let size = u32::from_le_bytes(end[12..16].try_into().unwrap()) * 2;
    end[12..16].copy_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&end);
    let w = walk_bytes(&out, "o.zip", &Limits::default());
    let r = reasons(&w);
    assert!(r.contains("o.zip!/a.bin :: entry data overlaps"), "{r}");
    assert!(!w.entries.iter().any(|e| e.path == "o.zip!/b.bin"), "{r}");
}

#[test]
fn in_a_case_the_result_is_a_new_exhibit_under_custody() {
    let t = tempfile::tempdir().unwrap();
    let originals = t.path().join("orig");
    std::fs::create_dir_all(&originals).unwrap();
    let data = noise(20_000, 11);
    std::fs::write(originals.join("asset.bin"), &data).unwrap();
    let report = t.path().join("capture.report.json");
    let objects = serde_json::json!({ "objects": [
        { "id": 1, "url": "http://dl.example.net/asset.bin", "server": "192.0.2.9:80",
          "size": data.len(), "sha256": sha(&data), "first_frame": 3, "last_frame": 30 }
    ]});
    std::fs::write(&report, serde_json::to_vec(&objects).unwrap()).unwrap();
    let case = t.path().join("case");
    let ok = |c: &mut std::process::Command| {
        let o = c.output().unwrap();
        assert!(
            o.status.code() == Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    ok(whohosts()
        .args([
            "case",
            "new",
            "--id",
            "C-1",
            "--title",
            "t",
            "--rights-holder",
            "r",
        ])
        .args(["--operator", "o"])
        .arg(&case));
    ok(whohosts()
        .args(["case", "add", "--kind", "report"])
        .arg(&case)
        .arg(&report));
    let table = ok(whohosts()
        .args(["match", "--originals"])
        .arg(&originals)
        .arg(&case));
    assert!(table.contains("asset.bin"), "{table}");
    let exhibit = case.join("exhibits/capture.report.matches.json");
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&exhibit).unwrap()).unwrap();
    assert_eq!(result["packages"][0]["identical"], 1);
    let custody = std::fs::read_to_string(case.join("custody.jsonl")).unwrap();
    assert!(custody.contains("\"action\":\"match\""), "{custody}");
    // Nothing differs (1: not yet anchored by a time-stamp, as any unsealed case).
    let v = whohosts().arg("verify").arg(&case).output().unwrap();
    let text = String::from_utf8_lossy(&v.stdout);
    assert_eq!(v.status.code(), Some(1), "{text}");
    assert!(text.contains("no differences"), "{text}");
}
