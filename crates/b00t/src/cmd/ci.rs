//! `b00t ci list`: the container CI agents and the containers they answer for, from the
//! runtime's presence table (or the retained cards): agent, container, short id, image
//! and state; `--json` prints one object per agent.

use std::process::ExitCode;

use serde_json::Value;

use crate::cli::AgentsArgs;

pub(super) async fn list(args: AgentsArgs) -> anyhow::Result<ExitCode> {
    let agents =
        super::agents::list(args.home.home.as_deref(), args.broker.broker.as_deref()).await?;
    let ci: Vec<&Value> = agents
        .iter()
        .filter(|a| a["kind"] == b00t_runtime::ci::KIND)
        .collect();
    if args.json {
        for agent in ci {
            let container = &agent["container"];
            outln!(
                "{}",
                serde_json::json!({
                    "agent": agent["agent"],
                    "state": agent["state"],
                    "container": container["name"],
                    "id": container["id"],
                    "image": container["image"],
                })
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if ci.is_empty() {
        outln!("no container CI agents: no container is running, or `[ci] enabled = false`, or no Docker engine answers `b00t up`")?;
        return Ok(ExitCode::SUCCESS);
    }
    let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    let rows: Vec<[String; 5]> = ci
        .iter()
        .map(|a| {
            let c = &a["container"];
            let id = text(&c["id"]);
            [
                text(&a["agent"]),
                text(&c["name"]),
                id.chars().take(12).collect(),
                text(&c["image"]),
                text(&a["state"]),
            ]
        })
        .collect();
    let header = ["AGENT", "CONTAINER", "ID", "IMAGE", "STATE"];
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: [&str; 5]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == 4 {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out
    };
    outln!("{}", line(header))?;
    for r in &rows {
        outln!("{}", line([&r[0], &r[1], &r[2], &r[3], &r[4]]))?;
    }
    Ok(ExitCode::SUCCESS)
}
