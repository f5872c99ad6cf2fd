//! The rules of ARCHITECTURE.md that a machine can check, as pure functions over
//! `cargo metadata` and source text; `tests/tidy.rs` runs them on this workspace. Each
//! problem is one line naming the crate or file and the rule it breaks.

use serde_json::Value;

/// Crates that only their owner may depend on (any kind: normal, dev or build), and the
/// owner.
pub const OWNED_DEPENDENCIES: &[(&str, &str)] = &[
    ("rumqttd", "b00t-broker"),
    ("rumqttc", "b00t-bus"),
    ("rusqlite", "b00t-journal"),
    ("bollard", "b00t-container"),
    // The global allocator is the program's choice, never a library's.
    ("mimalloc", "b00t"),
    ("libmimalloc-sys", "b00t"),
];

/// Pure crates and what they may never depend on (normal dependencies): the adapters
/// of `b00t-deploy` translate and the core of `b00t-bridges` formats and checks, they
/// never run anything, so no async runtime, process, network or engine crate.
pub const PURE_CRATES: &[(&str, &[&str])] =
    &[("b00t-deploy", IO_CRATES), ("b00t-bridges", IO_CRATES)];

/// What a pure crate may not depend on.
const IO_CRATES: &[&str] = &[
    "tokio",
    "reqwest",
    "hyper",
    "hyper-util",
    "bollard",
    "b00t-container",
    "b00t-bus",
    "b00t-agents",
];

/// Crates that workspace members may use in tests only (`[dev-dependencies]`).
pub const DEV_ONLY: &[&str] = &["b00t-testkit"];

/// The one file that may name b00t's environment variables, relative to the workspace
/// root.
pub const ENV_FILE: &str = "crates/b00t-config/src/env.rs";

/// Breaches of [`OWNED_DEPENDENCIES`] and [`DEV_ONLY`] in the output of `cargo metadata
/// --format-version 1 --no-deps`.
pub fn dependency_problems(metadata: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let packages = metadata["packages"].as_array().map(Vec::as_slice);
    for package in packages.unwrap_or_default() {
        let name = package["name"].as_str().unwrap_or("?");
        let dependencies = package["dependencies"].as_array().map(Vec::as_slice);
        for dependency in dependencies.unwrap_or_default() {
            let on = dependency["name"].as_str().unwrap_or("?");
            let kind = dependency["kind"].as_str().unwrap_or("normal");
            for (owned, owner) in OWNED_DEPENDENCIES {
                if on == *owned && name != *owner {
                    problems.push(format!(
                        "`{name}` depends on `{on}` ({kind}): only `{owner}` may touch {on} (ARCHITECTURE.md); go through `{owner}`'s API"
                    ));
                }
            }
            for (pure, never) in PURE_CRATES {
                if name == *pure && kind == "normal" && never.contains(&on) {
                    problems.push(format!(
                        "`{name}` depends on `{on}`: `{name}` is a pure translation (ARCHITECTURE.md), so it runs nothing; do the IO in `b00t-deployer`"
                    ));
                }
            }
            if DEV_ONLY.contains(&on) && kind != "dev" {
                problems.push(format!(
                    "`{name}` depends on `{on}` as a {kind} dependency: `{on}` is for tests only, so it must stay out of shipped binaries; move it to [dev-dependencies]"
                ));
            }
        }
    }
    problems
}

/// A problem when `text` (the file at `path`) does not open with a `//!` header.
pub fn header_problem(path: &str, text: &str) -> Option<String> {
    let first = text.lines().find(|line| !line.trim().is_empty());
    match first {
        Some(line) if line.starts_with("//!") => None,
        _ => Some(format!(
            "`{path}` does not open with a `//!` header: say in one to three sentences what lives there and why (CONVENTIONS.md)"
        )),
    }
}

/// Environment variables named outside [`ENV_FILE`] in `text` (the file at `path`): a
/// string literal that is a whole b00t variable name (`"B00T_…"`), or a read
/// (`env::var("…")`, `env::var_os("…")`) of a variable `env_names` (the names
/// [`ENV_FILE`] declares) lists. Other programs' variables (`PATH`, `HOME`) may be read
/// where they are used.
pub fn env_problems(path: &str, text: &str, env_names: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        for literal in string_literals(line) {
            let b00t_name = literal.starts_with("B00T_") && is_variable_name(literal);
            if b00t_name {
                problems.push(format!(
                    "`{path}:{}` names the environment variable `{literal}`: every variable b00t reads or sets is a constant in `{ENV_FILE}`; use it from there",
                    number + 1
                ));
            }
        }
        for call in ["env::var(\"", "env::var_os(\""] {
            for (at, _) in line.match_indices(call) {
                let rest = &line[at + call.len()..];
                let name = rest.split('"').next().unwrap_or("");
                if !name.starts_with("B00T_") && env_names.iter().any(|n| n == name) {
                    problems.push(format!(
                        "`{path}:{}` reads `{name}` by its literal name: use the constant in `{ENV_FILE}`",
                        number + 1
                    ));
                }
            }
        }
    }
    problems
}

/// The values of the `pub const NAME: &str = "VALUE";` lines of [`ENV_FILE`].
pub fn declared_env_names(env_file: &str) -> Vec<String> {
    env_file
        .lines()
        .filter(|line| line.trim_start().starts_with("pub const ") && line.contains(": &str"))
        .filter_map(|line| string_literals(line).into_iter().next())
        .map(str::to_owned)
        .collect()
}

/// The contents of the plain string literals on one line (escapes are not decoded; raw
/// strings are not recognised, which is enough for variable names).
fn string_literals(line: &str) -> Vec<&str> {
    let mut literals = Vec::new();
    let mut start = None;
    let mut escaped = false;
    for (at, c) in line.char_indices() {
        match (start, c) {
            (Some(_), '\\') if !escaped => {
                escaped = true;
                continue;
            }
            (Some(from), '"') if !escaped => {
                literals.push(&line[from..at]);
                start = None;
            }
            (None, '"') if !in_char_literal(line, at) => start = Some(at + 1),
            _ => {}
        }
        escaped = false;
    }
    literals
}

/// Whether the quote at `at` is the `'"'` char literal.
fn in_char_literal(line: &str, at: usize) -> bool {
    line[..at].ends_with('\'') && line[at + 1..].starts_with('\'')
}

fn is_variable_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn metadata(name: &str, on: &str, kind: Option<&str>) -> Value {
        json!({"packages": [{"name": name, "dependencies": [{"name": on, "kind": kind}]}]})
    }

    fn check_dependency(name: &str, on: &str, kind: Option<&str>, expected: &[&str]) {
        let problems = dependency_problems(&metadata(name, on, kind));
        assert_eq!(problems.len(), expected.len(), "{problems:?}");
        for (problem, words) in problems.iter().zip(expected) {
            assert!(problem.contains(words), "{problem:?} lacks {words:?}");
        }
    }

    #[test]
    fn the_deploy_adapters_stay_pure() {
        check_dependency(
            "b00t-deploy",
            "tokio",
            None,
            &["`b00t-deploy` depends on `tokio`: `b00t-deploy` is a pure translation (ARCHITECTURE.md), so it runs nothing; do the IO in `b00t-deployer`"],
        );
        check_dependency("b00t-deploy", "tokio", Some("dev"), &[]);
        check_dependency("b00t-deployer", "tokio", None, &[]);
    }

    #[test]
    fn only_owners_touch_their_crates_and_the_testkit_is_dev_only() {
        check_dependency("b00t-broker", "rumqttd", None, &[]);
        check_dependency(
            "b00t-runtime",
            "rumqttd",
            None,
            &["`b00t-runtime` depends on `rumqttd` (normal): only `b00t-broker`"],
        );
        check_dependency(
            "b00t-installer",
            "bollard",
            Some("dev"),
            &["only `b00t-container` may touch bollard"],
        );
        check_dependency("b00t-journal", "rusqlite", None, &[]);
        check_dependency("b00t", "rusqlite", Some("build"), &["only `b00t-journal`"]);
        check_dependency("b00t", "b00t-testkit", Some("dev"), &[]);
        check_dependency(
            "b00t",
            "b00t-testkit",
            None,
            &["`b00t` depends on `b00t-testkit` as a normal dependency"],
        );
    }

    #[test]
    fn a_file_opens_with_its_header() {
        assert_eq!(header_problem("a.rs", "\n//! A.\nfn a() {}\n"), None);
        for text in [
            "",
            "// A.\n",
            "use std::fs;\n//! A.\n",
            "/// A.\nfn a() {}\n",
        ] {
            let problem = header_problem("crates/x/src/a.rs", text).unwrap();
            assert!(
                problem.contains("`crates/x/src/a.rs` does not open"),
                "{problem}"
            );
        }
    }

    #[test]
    fn variables_are_named_in_env_rs_only() {
        let names = declared_env_names(
            "//! Vars.\npub const B00T_HOME: &str = \"B00T_HOME\";\npub const NO_COLOR: &str = \"NO_COLOR\";\npub fn var() {}\n",
        );
        assert_eq!(names, ["B00T_HOME", "NO_COLOR"]);
        let check = |text: &str, expected: usize| {
            let problems = env_problems("a.rs", text, &names);
            assert_eq!(problems.len(), expected, "{text}: {problems:?}");
        };
        check("pub const STOP: &str = \"B00T_STOP_ON_EOF\";", 1);
        check(
            "env.push((\"B00T_STOP_ON_EOF\".to_owned(), \"1\".to_owned()));",
            1,
        );
        check("let x = std::env::var(\"B00T_HOME\");", 1);
        check("let x = std::env::var_os(\"NO_COLOR\");", 1);
        check("let x = std::env::var_os(\"PATH\");", 0);
        check("let x = env::var(env::B00T_HOME);", 0);
        check(
            "assert!(e.contains(\"B00T_GROUP_DIR=/workspace/group\"));",
            0,
        );
        check("let m = format!(\"set `B00T_HOME` {x}\");", 0);
        check("// the \"B00T_HOME\" variable", 0);
        check("let q = '\"'; let n = \"B00T_X\";", 1);
        check("let q = \"a\\\"B00T_X\\\"b\";", 0);
    }
}
