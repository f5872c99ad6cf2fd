//! `b00t policy allow|deny|list|check`: the whitelist in `<home>/policy.toml` for tasks
//! the operator did not sign. Edits keep the file's comments.

use std::process::ExitCode;

use b00t_config::Home;
use b00t_datums::resolve;
use b00t_installer::policy::{self, Edit, Policy};
use serde_json::json;

use crate::cli::{DatumShowArgs, PolicyEditArgs, PolicyListArgs};
use crate::style::{colour_stdout, Paint};

pub(super) fn allow(args: PolicyEditArgs) -> anyhow::Result<ExitCode> {
    edit(args, Edit::Allow)
}

pub(super) fn deny(args: PolicyEditArgs) -> anyhow::Result<ExitCode> {
    edit(args, Edit::Deny)
}

fn edit(args: PolicyEditArgs, how: Edit) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let path = home.policy_file();
    let changed = policy::edit(&path, how, &args.glob)?;
    let list = match how {
        Edit::Allow => "[allow] datums",
        Edit::Deny => "[deny] datums",
    };
    if changed {
        outln!("added `{}` to {list} of {}", args.glob, path.display())?;
    } else {
        outln!(
            "`{}` was already in {list} of {}",
            args.glob,
            path.display()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn list(args: PolicyListArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let listing = Policy::load(&home.policy_file())?.listing();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&listing)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let colour = colour_stdout();
    if !listing.exists {
        outln!(
            "{} does not exist: unsigned install tasks are all refused. Approve datums with `b00t policy allow <glob>`.",
            listing.path.display()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{}",
        Paint::Dim.paint(colour, &listing.path.display().to_string())
    )?;
    let show = |label: &str, items: &[String]| -> Result<(), crate::out::StdoutError> {
        let text = if items.is_empty() {
            "(none)".to_owned()
        } else {
            items.join(", ")
        };
        outln!(
            "{}  {text}",
            Paint::Bold.paint(colour, &format!("{label:>15}"))
        )
    };
    show("allow datums", &listing.allow_datums)?;
    show("deny datums", &listing.deny_datums)?;
    show("allow managers", &listing.managers)?;
    show("allow images", &listing.images)?;
    show("ci actions", &listing.ci_actions)?;
    show("ci containers", &listing.ci_containers)?;
    Ok(ExitCode::SUCCESS)
}

pub(super) fn check(args: DatumShowArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let catalog = super::datum::load(&home);
    let datum = catalog.find(&args.datum, None)?;
    let policy = Policy::load(&home.policy_file())?;
    let order = resolve(&catalog, &datum.id, true)?;
    let verdicts: Vec<_> = order.iter().map(|d| (d, policy.judge(d))).collect();
    let refused = verdicts.iter().find(|(_, v)| !v.allowed);
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "datum": datum.id,
                "allowed": refused.is_none(),
                "nodes": verdicts.iter().map(|(d, v)| json!({"id": d.id, "verdict": v})).collect::<Vec<_>>(),
            }))?
        )?;
    } else {
        let colour = colour_stdout();
        let width = verdicts
            .iter()
            .map(|(d, _)| d.id.as_str().len())
            .max()
            .unwrap_or(0);
        for (d, verdict) in &verdicts {
            let mark = if verdict.allowed {
                Paint::Green.paint(colour, "allowed  ")
            } else {
                Paint::Red.paint(colour, "forbidden")
            };
            outln!(
                "{mark}  {:width$}  {}",
                d.id.as_str(),
                verdict.reasons.join("; ")
            )?;
        }
        match refused {
            None => outln!(
                "\nan unsigned task may install `{}` and everything it depends on",
                datum.id
            )?,
            Some((d, _)) if d.id == datum.id => outln!(
                "\nan unsigned task may not install `{}`: it is refused itself",
                datum.id
            )?,
            Some((d, _)) => outln!(
                "\nan unsigned task may not install `{}`: it depends on `{}`, which is refused",
                datum.id,
                d.id
            )?,
        }
    }
    Ok(if refused.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
