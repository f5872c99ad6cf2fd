//! The real skills of another project (NanoClaw's, vendored in tests/fixtures/skills)
//! load and sync unchanged.

use std::path::{Path, PathBuf};

use b00t_skills::{load_dir, sync, Selection};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/skills")
}

#[test]
fn the_nanoclaw_corpus_loads() {
    let set = load_dir(&corpus());
    assert!(set.problems.is_empty(), "{:#?}", set.problems);
    let names: Vec<_> = set.skills.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "agent-browser",
            "frontend-engineer",
            "self-customize",
            "slack-formatting",
            "vercel-cli",
            "welcome"
        ]
    );
    let browser = set.get("agent-browser").unwrap();
    assert!(browser
        .description
        .starts_with("Browse the web for any task — research topics"));
    assert_eq!(browser.extra["allowed-tools"], "Bash(agent-browser:*)");
    assert!(browser
        .body
        .starts_with("\n# Browser Automation with agent-browser"));
    assert!(browser.text.starts_with("---\nname: agent-browser\n"));
    assert!(browser.file.ends_with("agent-browser/SKILL.md"));
    for skill in &set.skills {
        assert!(
            !skill.description.is_empty() && !skill.body.trim().is_empty(),
            "{}",
            skill.name
        );
        assert!(skill.text.ends_with(&skill.body));
    }
}

#[test]
fn the_nanoclaw_corpus_syncs_byte_for_byte() {
    let group = tempfile::tempdir().unwrap();
    let target = group.path().join(".skills");
    let report = sync(&corpus(), &target, &Selection::All).unwrap();
    assert_eq!(report.added.len(), 6, "{report:?}");
    for skill in load_dir(&corpus()).skills {
        let copy = target.join(skill.name.as_str()).join("SKILL.md");
        assert_eq!(std::fs::read_to_string(copy).unwrap(), skill.text);
    }
    assert!(
        !target.join("README.md").exists(),
        "only skill folders are synced"
    );
    assert!(!sync(&corpus(), &target, &Selection::All).unwrap().changed());
}
