//! `b00t status <datum>`: checks on this machine whether a datum and its dependencies
//! are installed, with the installer's own checks. Exit 0 when everything is `ok`, 1
//! otherwise.

use std::process::ExitCode;

use b00t_config::Home;
use b00t_installer::check::State;
use b00t_installer::plan::{self, Checking};

use crate::cli::StatusArgs;
use crate::style::{colour_stdout, Paint};

pub(super) async fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let catalog = super::datum::load(&home);
    let datum = catalog.find(&args.datum, None)?;
    let env = b00t_installer::env::InstallEnv;
    let stop = crate::shutdown::on_signal();
    let checking = Checking {
        env: &env,
        timeout: home.config().installer.check_timeout(),
        stop: &stop,
    };
    let plan = plan::plan(&catalog, &datum.id, !args.no_deps, &checking).await?;
    let all_ok = plan.nodes.iter().all(|n| n.state == State::Ok);
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&plan)?)?;
    } else {
        let colour = colour_stdout();
        let width = plan
            .nodes
            .iter()
            .map(|n| n.id.as_str().len())
            .max()
            .unwrap_or(0);
        for node in &plan.nodes {
            let state = match node.state {
                State::Ok => Paint::Green.paint(colour, "ok      "),
                State::Outdated => Paint::Yellow.paint(colour, "outdated"),
                State::Missing => Paint::Red.paint(colour, "missing "),
            };
            outln!(
                "{:width$}  {state}  {:10}  {}",
                node.id.as_str(),
                node.version.as_deref().unwrap_or("-"),
                Paint::Dim.paint(colour, &node.check)
            )?;
            for reason in &node.blocked {
                outln!("{:width$}  {}", "", Paint::Red.paint(colour, reason))?;
            }
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
