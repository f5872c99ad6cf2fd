//! `b00t group add|list|remove`: the group folders under `<home>/groups`, each the home
//! of a group agent (`b00t.<group>.*`). `add` syncs the home's skills into the new group
//! at once; `remove` deletes the folder with its memory and history.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use b00t_config::Home;
use b00t_groups::{sync_group, Group, Groups, GLOBAL, MAIN};
use serde_json::json;

use crate::cli::{GroupAddArgs, GroupListArgs, GroupRemoveArgs};
use crate::style::{colour_stderr, colour_stdout, Paint};

pub(super) fn add(args: GroupAddArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let groups = Groups::new(home.groups_dir());
    let group = groups.add(&args.name)?;
    let report = sync_group(&group, &home.skills_dir()).with_context(|| {
        format!(
            "group `{}` was created at {}, but its skills were not synced; `b00t up` syncs them again",
            group.name,
            group.dir.display()
        )
    })?;
    let warn = Paint::Yellow.paint(colour_stderr(), "warning:");
    for problem in &report.problems {
        errln!("{warn} skill not synced: {problem}");
    }
    let colour = colour_stdout();
    let name = group.name.as_str();
    outln!(
        "created group {} at {}",
        Paint::Bold.paint(colour, name),
        group.dir.display()
    )?;
    let skills = if report.added.is_empty() {
        format!(
            "none yet: add skill folders to {} and `b00t up` syncs them",
            home.skills_dir().display()
        )
    } else {
        format!(
            "{} synced ({})",
            report.added.len(),
            report.added.join(", ")
        )
    };
    outln!("  memory    {}", group.memory_file().display())?;
    outln!("  skills    {skills}")?;
    outln!("  settings  {}", group.config_file().display())?;
    outln!("\nChat with it while `b00t up` runs:")?;
    outln!("  b00t chat {name}")?;
    outln!("  mosquitto_pub -t b00t.{name}.chat/task -m 'hello'")?;
    Ok(ExitCode::SUCCESS)
}

pub(super) fn list(args: GroupListArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let groups = Groups::new(home.groups_dir());
    let list = groups.list()?;
    let warn = Paint::Yellow.paint(colour_stderr(), "warning:");
    for problem in &list.problems {
        errln!("{warn} {problem}");
    }
    let rows: Vec<Row> = list.groups.iter().map(Row::of).collect();
    if args.json {
        let rows: Vec<_> = rows
            .iter()
            .map(|row| {
                json!({
                    "name": row.group.name.as_str(),
                    "privileged": row.group.privileged,
                    "dir": row.group.dir,
                    "skills": row.skills,
                    "memory_bytes": row.memory_bytes,
                    "model": row.group.config.model,
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        errln!(
            "no groups in {}: create one with `b00t group add <name>` (`b00t up` creates `main`)",
            groups.root().display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let colour = colour_stdout();
    let width = rows
        .iter()
        .map(|r| r.group.name.as_str().len())
        .max()
        .unwrap_or(0);
    for row in &rows {
        let privileged = if row.group.privileged {
            "privileged"
        } else {
            ""
        };
        let skills = match row.skills.len() {
            0 => "no skills".to_owned(),
            1 => format!("1 skill ({})", row.skills[0]),
            n => format!("{n} skills ({})", row.skills.join(", ")),
        };
        let model = row
            .group
            .config
            .model
            .as_deref()
            .map(|m| format!("  model {m}"))
            .unwrap_or_default();
        outln!(
            "{}  {:10}  memory {:>9}  {skills}{}",
            Paint::Bold.paint(colour, &format!("{:width$}", row.group.name.as_str())),
            privileged,
            human_bytes(row.memory_bytes),
            Paint::Dim.paint(colour, &model),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn remove(args: GroupRemoveArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let groups = Groups::new(home.groups_dir());
    // `main` and `global` are refused by `remove` itself, before any question.
    if args.name != MAIN && args.name != GLOBAL {
        let dir = groups.dir(&args.name)?;
        if !args.yes && !confirm(&args.name, &dir)? {
            errln!("kept group `{}`", args.name);
            return Ok(ExitCode::from(1));
        }
    }
    let dir = groups.remove(&args.name)?;
    outln!(
        "removed group `{}` ({} deleted, with its memory and history)",
        args.name,
        dir.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Asks on the terminal; refuses to guess when there is none.
fn confirm(name: &str, dir: &std::path::Path) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "removing group `{name}` deletes {} with its memory and conversation history, and there is no terminal to ask on: pass `--yes` to go ahead",
            dir.display()
        );
    }
    err!(
        "Delete group `{name}` and everything in {} (memory, history, skills)? [y/N] ",
        dir.display()
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// One line of `group list`.
struct Row<'a> {
    group: &'a Group,
    /// The skills synced into the group's `.skills/`.
    skills: Vec<String>,
    /// The size of its MEMORY.md (0 when missing).
    memory_bytes: u64,
}

impl Row<'_> {
    fn of(group: &Group) -> Row<'_> {
        let skills = b00t_skills::load_dir(&group.skills_dir())
            .skills
            .into_iter()
            .map(|s| s.name.to_string())
            .collect();
        let memory_bytes = std::fs::metadata(group.memory_file()).map_or(0, |m| m.len());
        Row {
            group,
            skills,
            memory_bytes,
        }
    }
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}
