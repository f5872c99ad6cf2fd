//! `b00t group add|list|remove` and `b00t skills list` on a temp home holding the
//! vendored NanoClaw skills (tests/fixtures/skills): folders made and deleted, skills
//! synced byte for byte, the refusals and their messages, exit codes.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::{b00t_bin, json, Home};

const CORPUS: [&str; 6] = [
    "agent-browser",
    "frontend-engineer",
    "self-customize",
    "slack-formatting",
    "vercel-cli",
    "welcome",
];

fn b00t(home: &Home, args: &[&str]) -> Output {
    Command::new(b00t_bin())
        .args(args)
        .arg("--home")
        .arg(home.path())
        .env_remove("B00T_HOME")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run b00t")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A temp home whose `skills/` is a copy of the vendored corpus.
fn home_with_corpus() -> Home {
    let home = Home::new("");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/skills");
    copy_dir(&corpus, &home.path().join("skills"));
    home
}

fn copy_dir(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn group_add_list_and_remove() {
    let home = home_with_corpus();
    let out = b00t(&home, &["group", "add", "family"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dir = home.path().join("groups/family");
    for expected in [
        format!("created group family at {}", dir.display()),
        "6 synced (agent-browser, frontend-engineer".to_owned(),
        "b00t chat family".to_owned(),
        "mosquitto_pub -t b00t.family.chat/task -m 'hello'".to_owned(),
    ] {
        assert!(
            stdout.contains(&expected),
            "missing `{expected}` in:\n{stdout}"
        );
    }
    assert!(dir.join("MEMORY.md").is_file() && dir.join("group.toml").is_file());
    assert!(home.path().join("groups/global/MEMORY.md").is_file());
    for skill in CORPUS {
        let synced = fs_err::read(dir.join(".skills").join(skill).join("SKILL.md")).unwrap();
        let source = fs_err::read(home.path().join("skills").join(skill).join("SKILL.md")).unwrap();
        assert_eq!(synced, source, "{skill} is synced byte for byte");
    }

    let out = b00t(&home, &["group", "add", "family"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("group `family` already exists"),
        "{}",
        text(&out.stderr)
    );
    for (bad, message) in [
        ("../escape", "could escape the groups folder"),
        ("Family", "must start with a lowercase letter or a digit"),
        ("installer", "is reserved"),
        ("global", "is reserved"),
    ] {
        let out = b00t(&home, &["group", "add", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            text(&out.stderr).contains(message),
            "{bad}: {}",
            text(&out.stderr)
        );
    }
    assert!(!home.path().join("escape").exists());

    let out = b00t(&home, &["group", "list", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let list = json(&text(&out.stdout));
    let groups = list.as_array().expect("a JSON array");
    assert_eq!(groups.len(), 1, "{list}");
    assert_eq!(groups[0]["name"], "family");
    assert_eq!(groups[0]["privileged"], false);
    assert_eq!(groups[0]["skills"], serde_json::json!(CORPUS));
    assert!(groups[0]["memory_bytes"].as_u64().unwrap() > 0, "{list}");
    let out = b00t(&home, &["group", "list"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("family ") && stdout.contains("6 skills (agent-browser"),
        "{stdout}"
    );

    // No terminal and no --yes: refused, nothing deleted.
    let out = b00t(&home, &["group", "remove", "family"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("pass `--yes`"),
        "{}",
        text(&out.stderr)
    );
    assert!(dir.is_dir());
    let out = b00t(&home, &["group", "remove", "family", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("removed group `family`"));
    assert!(!dir.exists());
    let out = b00t(&home, &["group", "remove", "family", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no group `family`"),
        "{}",
        text(&out.stderr)
    );
    for protected in ["main", "global"] {
        let out = b00t(&home, &["group", "remove", protected, "--yes"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            text(&out.stderr).contains(&format!("cannot remove `{protected}`")),
            "{}",
            text(&out.stderr)
        );
    }
    assert!(home.path().join("groups/global/MEMORY.md").is_file());
}

#[test]
fn group_list_reports_a_bad_group_toml() {
    let home = home_with_corpus();
    assert!(b00t(&home, &["group", "add", "picky"]).status.success());
    assert!(b00t(&home, &["group", "add", "typo"]).status.success());
    fs_err::write(
        home.path().join("groups/picky/group.toml"),
        "skills = [\"welcome\"]\n",
    )
    .unwrap();
    fs_err::write(
        home.path().join("groups/typo/group.toml"),
        "skils = [\"welcome\"]\n",
    )
    .unwrap();
    let out = b00t(&home, &["group", "list", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let list = json(&text(&out.stdout));
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["name"], "picky");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("groups/typo/group.toml") && stderr.contains("unknown field `skils`"),
        "{stderr}"
    );
}

#[test]
fn skills_list_shows_the_corpus_and_exits_1_on_problems() {
    let home = home_with_corpus();
    let out = b00t(&home, &["skills", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{stdout}");
    assert!(
        lines[0].starts_with("agent-browser      Browse the web for any task — research topics"),
        "{stdout}"
    );
    assert!(
        lines[5].starts_with("welcome            Introduce yourself"),
        "{stdout}"
    );

    let out = b00t(&home, &["skills", "list", "--json"]);
    let listing = json(&text(&out.stdout));
    let names: Vec<&str> = listing["skills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, CORPUS);
    assert_eq!(
        listing["skills"][0]["extra"]["allowed-tools"],
        "Bash(agent-browser:*)"
    );
    assert_eq!(listing["problems"], serde_json::json!([]));

    let broken = home.path().join("skills/broken");
    fs_err::create_dir(&broken).unwrap();
    fs_err::write(broken.join("SKILL.md"), "---\nname: broken\n---\n").unwrap();
    let out = b00t(&home, &["skills", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout).lines().count(),
        6,
        "the others still load"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("warning:")
            && stderr.contains("skills/broken/SKILL.md")
            && stderr.contains("field `description` is missing"),
        "{stderr}"
    );
    let out = b00t(&home, &["skills", "list", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        json(&text(&out.stdout))["problems"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
