//! `b00t deployments`: what is deployed from this home, from the deployer's records in
//! `state/deploy/records/` (read here; no bus needed): datum, orchestrator, project,
//! state, when, endpoints. `--json`: one object per line.

use std::process::ExitCode;

use b00t_config::Home;
use b00t_deployer::records::Records;

use crate::cli::DeploymentsArgs;
use crate::printable::printable;
use crate::style::{colour_stderr, colour_stdout, Paint};

pub(super) fn run(args: DeploymentsArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let (records, problems) = Records::new(&home.deploy_dir()).list();
    let colour = colour_stderr();
    for problem in problems {
        errln!(
            "{} {}",
            Paint::Yellow.paint(colour, "warning:"),
            printable(&problem)
        );
    }
    if args.json {
        for record in &records {
            outln!("{}", serde_json::to_string(record)?)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if records.is_empty() {
        errln!("nothing is deployed from this home (`b00t deploy <stack>` deploys one)");
        return Ok(ExitCode::SUCCESS);
    }
    let colour = colour_stdout();
    outln!(
        "{}",
        Paint::Dim.paint(
            colour,
            &format!(
                "{:24} {:11} {:16} {:10} {:25} ENDPOINTS",
                "DATUM", "ORCHESTRATOR", "PROJECT", "STATE", "DEPLOYED"
            )
        )
    )?;
    for record in &records {
        let endpoints: Vec<String> = record
            .endpoints
            .iter()
            .map(|e| format!("{}={}", e.service, e.url))
            .collect();
        let state = format!("{:10}", record.state);
        let state = if record.state == "ready" {
            Paint::Green.paint(colour, &state)
        } else {
            Paint::Yellow.paint(colour, &state)
        };
        outln!(
            "{:24} {:11} {:16} {state} {:25} {}",
            printable(&record.datum),
            record.orchestrator.as_str(),
            printable(&record.project),
            printable(&record.deployed_at),
            printable(&endpoints.join(" "))
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
