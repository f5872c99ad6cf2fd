//! `b00t skills list`: the home's `skills/` folder, each skill with its description, and
//! what is wrong with the folders that are not usable skills (exit status 1 then).

use std::io::IsTerminal;
use std::process::ExitCode;

use b00t_config::Home;
use serde_json::json;

use crate::cli::SkillsListArgs;
use crate::style::{colour_stderr, colour_stdout, Paint};

/// Terminal lines are cut to this many characters (clap's `max_term_width`).
const LINE_WIDTH: usize = 100;

pub(super) fn list(args: SkillsListArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let dir = home.skills_dir();
    let set = b00t_skills::load_dir(&dir);
    let code = if set.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    if args.json {
        let skills: Vec<_> = set
            .skills
            .iter()
            .map(|s| {
                json!({
                    "name": s.name.as_str(),
                    "description": s.description,
                    "dir": s.dir,
                    "extra": s.extra,
                })
            })
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({"skills": skills, "problems": set.problems}))?
        )?;
        return Ok(code);
    }
    let warn = Paint::Yellow.paint(colour_stderr(), "warning:");
    for problem in &set.problems {
        errln!("{warn} {problem}");
    }
    if set.skills.is_empty() {
        errln!(
            "no skills in {}: add a folder `<name>/` holding a SKILL.md that starts with front matter (`---`, `name: <name>`, `description: …`, `---`)",
            dir.display()
        );
        return Ok(code);
    }
    let colour = colour_stdout();
    let terminal = std::io::stdout().is_terminal();
    let width = set
        .skills
        .iter()
        .map(|s| s.name.as_str().len())
        .max()
        .unwrap_or(0);
    for skill in &set.skills {
        let description = one_line(&skill.description);
        let description = if terminal {
            truncate(&description, LINE_WIDTH.saturating_sub(width + 2))
        } else {
            description
        };
        outln!(
            "{}  {description}",
            Paint::Bold.paint(colour, &format!("{:width$}", skill.name.as_str()))
        )?;
    }
    Ok(code)
}

/// The text with every run of whitespace (newlines included) made one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// At most `max` characters, ending with `…` when cut.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}
