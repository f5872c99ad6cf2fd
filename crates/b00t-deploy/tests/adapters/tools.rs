//! The programs the tests hand manifests to, found on this machine or not: a test whose
//! program is missing prints why it skipped, and fails instead when the variable that
//! demands it is `1` (`B00T_REQUIRE_DOCKER` for docker-compose, `B00T_REQUIRE_TOOLS` for
//! kubernetes-validate and PyYAML).

use std::path::Path;
use std::process::{Command, Output};

/// Whether `program` runs and succeeds with the arguments `probe` (`--version`).
pub(crate) fn available(program: &str, probe: &[&str]) -> bool {
    Command::new(program)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `true` when the tool is `present`; otherwise `false` and a printed skip, or, when the
/// variable `require` is `1`, a failure naming what to install.
pub(crate) fn require(test: &str, present: bool, require: &str, install: &str) -> bool {
    if present {
        return true;
    }
    assert!(
        std::env::var(require).as_deref() != Ok("1"),
        "{test}: {require}=1 but the tool is missing: {install}"
    );
    eprintln!(
        "{test}: skipped, the tool is missing ({install}; set {require}=1 to make this a failure)"
    );
    false
}

/// Runs `program args` and returns what it printed, failing the test when it fails.
pub(crate) fn run_ok(program: &str, args: &[&str], cwd: Option<&Path>) -> Output {
    let mut command = Command::new(program);
    command.args(args);
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{program}`: {e}"));
    assert!(
        output.status.success(),
        "`{program} {}` failed ({}):\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A Python with PyYAML (docker-compose 1.29's YAML reader): `python3` if it has it, else
/// Debian's `/usr/bin/python3`, which docker-compose itself runs on.
pub(crate) fn python_with_yaml() -> Option<&'static str> {
    ["python3", "/usr/bin/python3"]
        .into_iter()
        .find(|python| available(python, &["-c", "import yaml"]))
}

/// Every document of the YAML file at `path` as PyYAML (YAML 1.1) reads it, as JSON.
pub(crate) fn pyyaml_documents(python: &str, path: &Path) -> Vec<serde_json::Value> {
    let script = "import json, sys, yaml\n\
                  docs = list(yaml.safe_load_all(open(sys.argv[1])))\n\
                  print(json.dumps(docs))";
    let output = run_ok(python, &["-c", script, &path.to_string_lossy()], None);
    serde_json::from_slice(&output.stdout).expect("PyYAML's documents as JSON")
}
