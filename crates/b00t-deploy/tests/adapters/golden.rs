//! Golden files: a plan's manifests, its MCP calls (`mcp.json`) and its notes
//! (`notes.txt`), each compared byte for byte with `tests/golden/<adapter>/<fixture>/`.
//! With `B00T_BLESS=1` the folder is rewritten instead (files no plan makes are removed),
//! and the test prints which files changed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use b00t_config::env::B00T_BLESS;
use b00t_deploy::Manifests;

/// The golden folder of `adapter` and `fixture`.
pub(crate) fn folder(adapter: &str, fixture: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(adapter)
        .join(fixture)
}

/// Every file of the golden folder of a plan, by name.
pub(crate) fn expected_files(manifests: &Manifests) -> BTreeMap<String, String> {
    let mut files: BTreeMap<String, String> = manifests
        .files
        .iter()
        .map(|f| (f.name.clone(), f.content.clone()))
        .collect();
    let mut mcp = serde_json::to_string_pretty(&manifests.mcp_calls).expect("MCP calls as JSON");
    mcp.push('\n');
    files.insert("mcp.json".to_owned(), mcp);
    let mut notes = manifests.notes.join("\n");
    notes.push('\n');
    files.insert("notes.txt".to_owned(), notes);
    files
}

/// Compares (or with `B00T_BLESS=1` rewrites) the golden folder of `adapter` and
/// `fixture` with `manifests`.
pub(crate) fn check(adapter: &str, fixture: &str, manifests: &Manifests) {
    let dir = folder(adapter, fixture);
    let expected = expected_files(manifests);
    let on_disk = read_folder(&dir);
    if std::env::var(B00T_BLESS).as_deref() == Ok("1") {
        bless(&dir, &expected, &on_disk);
        return;
    }
    let mut problems = Vec::new();
    for (name, content) in &expected {
        match on_disk.get(name) {
            None => problems.push(format!("{name}: missing")),
            Some(golden) if golden != content => {
                problems.push(format!(
                    "{name}: differs\n{}",
                    first_difference(golden, content)
                ));
            }
            Some(_) => {}
        }
    }
    for name in on_disk.keys().filter(|n| !expected.contains_key(*n)) {
        problems.push(format!("{name}: no longer made by the plan"));
    }
    assert!(
        problems.is_empty(),
        "golden files of {adapter}/{fixture} in `{}`:\n{}\nrun with B00T_BLESS=1 to rewrite them, then review the diff",
        dir.display(),
        problems.join("\n")
    );
}

fn read_folder(dir: &Path) -> BTreeMap<String, String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| {
            let text = std::fs::read_to_string(e.path())
                .unwrap_or_else(|err| panic!("cannot read `{}`: {err}", e.path().display()));
            (e.file_name().to_string_lossy().into_owned(), text)
        })
        .collect()
}

fn bless(dir: &Path, expected: &BTreeMap<String, String>, on_disk: &BTreeMap<String, String>) {
    std::fs::create_dir_all(dir)
        .unwrap_or_else(|e| panic!("cannot create `{}`: {e}", dir.display()));
    for (name, content) in expected {
        if on_disk.get(name) != Some(content) {
            let path = dir.join(name);
            std::fs::write(&path, content)
                .unwrap_or_else(|e| panic!("cannot write `{}`: {e}", path.display()));
            println!("B00T_BLESS=1: rewrote {}", path.display());
        }
    }
    for name in on_disk.keys().filter(|n| !expected.contains_key(*n)) {
        let path = dir.join(name);
        std::fs::remove_file(&path)
            .unwrap_or_else(|e| panic!("cannot remove `{}`: {e}", path.display()));
        println!("B00T_BLESS=1: removed {}", path.display());
    }
}

/// The first line where `golden` and `made` differ, both shown.
fn first_difference(golden: &str, made: &str) -> String {
    let mut golden_lines = golden.lines();
    let mut made_lines = made.lines();
    let mut number = 1;
    loop {
        match (golden_lines.next(), made_lines.next()) {
            (Some(g), Some(m)) if g == m => number += 1,
            (None, None) => return "  (line endings differ)".to_owned(),
            (g, m) => {
                return format!(
                    "  line {number}:\n  golden: {}\n  made:   {}",
                    g.unwrap_or("<end of file>"),
                    m.unwrap_or("<end of file>")
                )
            }
        }
    }
}
