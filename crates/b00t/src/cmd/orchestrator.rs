//! `b00t orchestrator list`: each orchestrator b00t deploys through, available here or
//! not, why, and the commands that told (run here, as the deployer would). `--json`: one
//! object per orchestrator, one per line. Exit 0 whatever it finds.

use std::process::ExitCode;

use b00t_config::Home;
use b00t_deployer::detect::{self, Probe};

use crate::cli::OrchestratorListArgs;
use crate::printable::printable;
use crate::style::{colour_stdout, Paint};

/// What detection asks, from the home's `[deploy]` and the environment.
pub(super) fn probe(home: &Home) -> Probe {
    let deploy = &home.config().deploy;
    let nomad_addr = Some(deploy.nomad_addr.clone())
        .filter(|a| !a.is_empty())
        .or_else(|| b00t_config::env::var(b00t_config::env::NOMAD_ADDR));
    let mut probe = Probe::new(
        nomad_addr,
        b00t_config::env::var(b00t_config::env::NOMAD_TOKEN),
    );
    probe.kube_context = Some(deploy.kube_context.clone()).filter(|c| !c.is_empty());
    probe
}

pub(super) async fn list(args: OrchestratorListArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let detected = detect::detect_all(&probe(&home)).await;
    if args.json {
        for detection in &detected {
            outln!("{}", serde_json::to_string(detection)?)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let colour = colour_stdout();
    let chosen = detect::choose(None, None, &detected);
    for detection in &detected {
        let state = if detection.available {
            Paint::Green.paint(colour, "available    ")
        } else {
            Paint::Red.paint(colour, "not available")
        };
        let mark = if detection.orchestrator == chosen {
            " (b00t deploy's default here)"
        } else {
            ""
        };
        outln!(
            "{:11} {state}  {}{mark}",
            detection.orchestrator.as_str(),
            printable(&detection.why)
        )?;
        for command in &detection.commands {
            outln!(
                "{}",
                Paint::Dim.paint(colour, &format!("    {}", printable(command)))
            )?;
        }
    }
    let configured = &home.config().deploy.orchestrator;
    if !configured.is_empty() {
        outln!("[deploy] orchestrator = \"{configured}\" in b00t.toml is what b00t deploy uses")?;
    }
    Ok(ExitCode::SUCCESS)
}
