//! Runs the tidy checks on this workspace: `cargo metadata` for the dependency rules, and
//! every `.rs` file under `crates/` and `tests/` for headers and environment variables.
//! A failure lists every problem, one a line, each naming the crate or file and the rule.
//! The environment rule skips this crate, whose own tests spell variable names.

use std::path::{Path, PathBuf};
use std::process::Command;

use b00t_tidy::{declared_env_names, dependency_problems, env_problems, header_problem, ENV_FILE};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn assert_tidy(rule: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{rule}: {} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Every `.rs` file below `dir`, skipping `target` and hidden folders, sorted.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, found);
        } else if name.ends_with(".rs") {
            found.push(path);
        }
    }
    found.sort();
}

/// `(path relative to the root, text)` of every `.rs` file under `crates/` and `tests/`.
fn sources() -> Vec<(String, String)> {
    let root = workspace_root();
    let mut files = Vec::new();
    for top in ["crates", "tests"] {
        rust_files(&root.join(top), &mut files);
    }
    assert!(files.len() > 50, "found only {} `.rs` files", files.len());
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read `{}`: {e}", path.display()));
            let relative = path.strip_prefix(&root).unwrap_or(&path);
            (relative.to_string_lossy().into_owned(), text)
        })
        .collect()
}

#[test]
fn dependencies_follow_the_architecture() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(workspace_root())
        .output()
        .expect("cannot run `cargo metadata`");
    assert!(
        output.status.success(),
        "`cargo metadata` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("`cargo metadata` printed no JSON");
    let members = metadata["packages"].as_array().map_or(0, Vec::len);
    assert!(members > 10, "`cargo metadata` lists {members} packages");
    assert_tidy(
        "dependencies (ARCHITECTURE.md's invariants)",
        &dependency_problems(&metadata),
    );
}

#[test]
fn every_rust_file_opens_with_a_header() {
    let problems: Vec<String> = sources()
        .iter()
        .filter_map(|(path, text)| header_problem(path, text))
        .collect();
    assert_tidy("`//!` headers", &problems);
}

#[test]
fn environment_variables_are_named_in_env_rs() {
    let env_file = std::fs::read_to_string(workspace_root().join(ENV_FILE))
        .unwrap_or_else(|e| panic!("cannot read `{ENV_FILE}`: {e}"));
    let names = declared_env_names(&env_file);
    assert!(names.iter().any(|n| n == "B00T_HOME"), "{names:?}");
    let problems: Vec<String> = sources()
        .iter()
        .filter(|(path, _)| path.starts_with("crates/") && path.contains("/src/"))
        .filter(|(path, _)| path != ENV_FILE && !path.starts_with("crates/b00t-tidy/"))
        .flat_map(|(path, text)| env_problems(path, text, &names))
        .collect();
    assert_tidy("environment variables", &problems);
}
