//! `b00t audit`: the install decisions in `<home>/state/audit.jsonl`, readable, oldest
//! first. Lines that are not records are shown as such rather than failing.

use std::process::ExitCode;

use b00t_config::Home;
use b00t_installer::audit;

use crate::cli::AuditArgs;
use crate::style::{colour_stdout, Paint};

pub(super) fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let path = home.audit_file();
    let mut lines = audit::read(&path)?;
    if let Some(n) = args.last {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    if lines.is_empty() && !args.json {
        errln!("no install decisions yet in {}", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let colour = colour_stdout();
    for line in lines {
        let record = match line {
            Ok(record) => record,
            Err((number, text)) => {
                if args.json {
                    outln!("{text}")?;
                } else {
                    outln!(
                        "{}",
                        Paint::Yellow
                            .paint(colour, &format!("line {number} is not a record: {text}"))
                    )?;
                }
                continue;
            }
        };
        if args.json {
            outln!("{}", serde_json::to_string(&record)?)?;
            continue;
        }
        let outcome = match record.outcome.as_str() {
            "installed" => Paint::Green.paint(colour, &format!("{:9}", record.outcome)),
            "planned" => Paint::Blue.paint(colour, &format!("{:9}", record.outcome)),
            _ => Paint::Red.paint(colour, &format!("{:9}", record.outcome)),
        };
        let who = format!("{} ({})", record.from, record.trust);
        outln!(
            "{}  {outcome}  {:28}  {:24}  {}  {} ms",
            Paint::Dim.paint(colour, &record.ts),
            record.datum,
            who,
            record.id,
            record.ms
        )?;
        let mut details = Vec::new();
        if !record.plan.is_empty() {
            let plan: Vec<String> = record
                .plan
                .iter()
                .map(|n| {
                    format!(
                        "{} {}",
                        n["id"].as_str().unwrap_or("?"),
                        n["state"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            details.push(format!("plan: {}", plan.join(", ")));
        }
        if record.verdict != "-" {
            details.push(format!("verdict: {}", record.verdict));
        }
        for (label, list) in [
            ("installed", &record.installed),
            ("skipped", &record.skipped),
            ("failed", &record.failed),
        ] {
            if !list.is_empty() {
                details.push(format!("{label}: {}", list.join(", ")));
            }
        }
        if let Some(reason) = &record.reason {
            details.push(format!("why: {reason}"));
        }
        for d in details {
            outln!("    {}", Paint::Dim.paint(colour, &d))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
