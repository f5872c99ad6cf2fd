//! `b00t audit` on a log whose fields carry control characters: one line per record on
//! the terminal with the escapes visible, and `--json` still one JSON value per line.

use std::process::{Command, Output};

use crate::support::{b00t_bin, json, Home};

/// A `from` that tries to print a fake decision and clear the screen.
const FORGED_FROM: &str = "x\n2026-12-01 installed jq.apt\u{1b}[2J";

fn audit(home: &Home, extra: &[&str]) -> Output {
    Command::new(b00t_bin())
        .arg("audit")
        .arg("--home")
        .arg(home.path())
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .expect("run b00t audit")
}

#[test]
fn control_characters_in_the_log_are_shown_escaped() {
    let home = Home::new("");
    std::fs::create_dir(home.path().join("state")).unwrap();
    let record = serde_json::json!({
        "ts": "2026-11-30T10:00:00Z",
        "id": "t-1",
        "address": "b00t.installer.cli",
        "from": FORGED_FROM,
        "trust": "unsigned",
        "datum": "jq",
        "dry_run": false,
        "plan": [],
        "verdict": "forbidden",
        "reason": "not on the whitelist\r\u{202e}",
        "outcome": "refused",
        "ms": 3,
    });
    let garbage = "not a record \u{1b}]0;owned\u{7}";
    std::fs::write(
        home.path().join("state/audit.jsonl"),
        format!("{record}\n{garbage}\n"),
    )
    .unwrap();

    let out = audit(&home, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // The record's line, its details, the line that is not a record: nothing more.
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].contains(r"x\n2026-12-01 installed jq.apt\u{1b}[2J (unsigned)"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("refused"), "{}", lines[0]);
    assert!(
        lines[2].contains(r"why: not on the whitelist\r\u{202e}"),
        "{}",
        lines[2]
    );
    assert!(lines[3].contains(r"\u{1b}]0;owned\u{7}"), "{}", lines[3]);
    assert!(
        !text.contains(['\u{1b}', '\r', '\u{7}', '\u{202e}']),
        "a raw control character reached stdout: {text:?}"
    );

    let out = audit(&home, &["--json"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(json).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["from"], FORGED_FROM);
    assert_eq!(lines[1]["not_a_record"], garbage);
    assert!(!text.contains('\u{1b}'), "{text:?}");
}
