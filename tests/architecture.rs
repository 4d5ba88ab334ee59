//! The stages' order of ARCHITECTURE.md, kept: a module of the library uses only the
//! modules before it (`crate::X` paths in code and tests; comments aside), so no two modules
//! import each other, directly or through a third. A new top-level module must be
//! placed in `ORDER` (and in ARCHITECTURE.md) before this test passes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Lowest first: plain types and helpers, then the stages in the order data flows.
const ORDER: &[&str] = &[
    "model",
    "atomic",
    "times",
    "hash",
    "capture",
    "decode",
    "flow",
    "decrypt",
    "dissect",
    "services",
    "content",
    "pipeline",
    "recorder",
    "attribute",
    "report",
    "matching",
    "letter",
    "evidence",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file belongs to (`src/attribute/index.rs` → `attribute`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

#[test]
fn every_module_uses_only_the_modules_before_it() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let rank: BTreeMap<&str, usize> = ORDER.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let mut problems = Vec::new();
    for f in &files {
        let module = module_of(&src, f);
        if ["lib", "main", "cli"].contains(&module.as_str()) {
            continue;
        }
        let Some(&own) = rank.get(module.as_str()) else {
            problems.push(format!(
                "src/{module}: not placed in ORDER (tests/architecture.rs)"
            ));
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            // Comments may name any module (documentation links).
            if line.trim_start().starts_with("//") {
                continue;
            }
            let mut rest = line;
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + "crate::".len()..];
                let used: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if used.is_empty() {
                    problems.push(format!(
                        "{}:{}: a grouped `crate::{{..}}` path; write one path per module so this test reads it",
                        f.strip_prefix(&src).unwrap().display(),
                        n + 1
                    ));
                }
                match rank.get(used.as_str()) {
                    Some(&r) if r > own => problems.push(format!(
                        "{}:{}: `{module}` uses `{used}`, a later stage",
                        f.strip_prefix(&src).unwrap().display(),
                        n + 1
                    )),
                    _ => {}
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
