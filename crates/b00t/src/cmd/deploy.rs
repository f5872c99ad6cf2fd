//! `b00t deploy <datum>` and `b00t undeploy <datum>`: a signed `up` or `down` task to
//! the deployer agent (`b00t.deployer.<orchestrator>`), followed live on stderr, then the
//! endpoints on stdout. `deploy --dry-run` makes the manifests here, from the home's
//! catalog, with the same adapters the deployer uses, and needs no bus.
//! Exit 0 when done and ready, 1 when the deployer refused or failed, 2 when no deployer
//! answered in time.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use b00t_config::Home;
use b00t_deploy::refs::Vars;
use b00t_deploy::{Intent, Orchestrator};
use b00t_deployer::records::Records;
use b00t_installer::OperatorKey;
use b00t_proto::{Address, Channel, Name};
use serde_json::{json, Value};

use crate::cli::{DeployArgs, UndeployArgs};
use crate::request::{self, Outcome};
use crate::style::{colour_stdout, Paint};

pub(super) async fn deploy(args: DeployArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let timeout = seconds(args.timeout)?;
    let catalog = super::datum::load(&home);
    let explicit = parse_orchestrator(args.orchestrator.as_deref())?;
    let orchestrator = match explicit {
        Some(o) => o,
        None => choose(&home).await?,
    };
    let intent = Intent::from_catalog(&catalog, &args.datum, &Vars::from_env())?;
    let manifests = b00t_deploy::translate(&intent, orchestrator)?;
    if let Some(dir) = &args.out {
        write_out(dir, &manifests)?;
        if !args.json {
            errln!(
                "wrote {} file(s) to {}",
                manifests.files.len(),
                dir.display()
            );
        }
    }
    if args.dry_run {
        if args.json {
            outln!(
                "{}",
                json!({
                    "datum": intent.datum,
                    "orchestrator": orchestrator,
                    "project": intent.project,
                    "action": "plan",
                    "installs": intent.installs,
                    "services": intent.services().map(|w| &w.name).collect::<Vec<_>>(),
                    "jobs": intent.jobs().map(|w| &w.name).collect::<Vec<_>>(),
                    "manifests": manifests.files,
                    "mcp_calls": manifests.mcp_calls,
                    "notes": intent.notes.iter().chain(&manifests.notes).collect::<Vec<_>>(),
                })
            )?;
        } else if args.out.is_none() {
            let colour = colour_stdout();
            for file in &manifests.files {
                outln!("{}", Paint::Dim.paint(colour, &format!("# {}", file.name)))?;
                out!("{}", file.content)?;
                if !file.content.ends_with('\n') {
                    outln!()?;
                }
            }
            for note in intent.notes.iter().chain(&manifests.notes) {
                errln!("note: {note}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let body = json!({"datum": intent.datum.as_str(), "action": "up"});
    let outcome = send(
        &home,
        &args.broker.broker,
        orchestrator,
        body,
        timeout,
        args.json,
    )
    .await?;
    match outcome {
        Outcome::Result(reply) => {
            let body = &reply["body"];
            if args.json {
                outln!("{reply}")?;
            } else {
                print_ready(body)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        other => failed(other, orchestrator, timeout, args.json),
    }
}

pub(super) async fn undeploy(args: UndeployArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let timeout = seconds(args.timeout)?;
    let catalog = super::datum::load(&home);
    let datum = catalog.find(&args.datum, None)?;
    let orchestrator = match parse_orchestrator(args.orchestrator.as_deref())? {
        Some(o) => o,
        None => where_deployed(&home, datum.id.as_str())?,
    };
    let body = json!({"datum": datum.id.as_str(), "action": "down"});
    let outcome = send(
        &home,
        &args.broker.broker,
        orchestrator,
        body,
        timeout,
        args.json,
    )
    .await?;
    match outcome {
        Outcome::Result(reply) => {
            if args.json {
                outln!("{reply}")?;
            } else {
                outln!(
                    "removed `{}` from {orchestrator}",
                    reply["body"]["project"].as_str().unwrap_or(&args.datum)
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        other => failed(other, orchestrator, timeout, args.json),
    }
}

fn seconds(value: f64) -> anyhow::Result<Duration> {
    if !(value.is_finite() && value > 0.0) {
        anyhow::bail!("`--timeout {value}` must be a positive number of seconds");
    }
    Ok(Duration::from_secs_f64(value))
}

fn parse_orchestrator(flag: Option<&str>) -> anyhow::Result<Option<Orchestrator>> {
    flag.map(|name| name.parse::<Orchestrator>().map_err(anyhow::Error::msg))
        .transpose()
}

/// `[deploy] orchestrator`, else the first one available here.
async fn choose(home: &Home) -> anyhow::Result<Orchestrator> {
    let configured = &home.config().deploy.orchestrator;
    if !configured.is_empty() {
        return configured.parse().map_err(anyhow::Error::msg);
    }
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        errln!("looking for an orchestrator (`b00t orchestrator list` shows what it finds)…");
    }
    let detected = b00t_deployer::detect::detect_all(&super::orchestrator::probe(home)).await;
    Ok(b00t_deployer::detect::choose(None, None, &detected))
}

/// The orchestrator `datum` is deployed through, from the home's records.
fn where_deployed(home: &Home, datum: &str) -> anyhow::Result<Orchestrator> {
    let (records, _) = Records::new(&home.deploy_dir()).list();
    let found: Vec<Orchestrator> = records
        .iter()
        .filter(|r| r.datum == datum)
        .map(|r| r.orchestrator)
        .collect();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => {
            let configured = &home.config().deploy.orchestrator;
            if configured.is_empty() {
                anyhow::bail!(
                    "`{datum}` is not deployed from this home (`b00t deployments` lists what is); name the orchestrator with --orchestrator to remove it anyway"
                )
            }
            configured.parse().map_err(anyhow::Error::msg)
        }
        many => anyhow::bail!(
            "`{datum}` is deployed through {}: say which with --orchestrator",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" and ")
        ),
    }
}

/// Writes the manifests into `dir`, one file each.
fn write_out(dir: &Path, manifests: &b00t_deploy::Manifests) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for file in &manifests.files {
        let path = dir.join(&file.name);
        std::fs::write(&path, &file.content)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Sends a signed deploy task and follows its replies (progress on stderr, or every
/// reply as a JSON line with `json`).
async fn send(
    home: &Home,
    broker: &Option<String>,
    orchestrator: Orchestrator,
    body: Value,
    timeout: Duration,
    json: bool,
) -> anyhow::Result<Outcome> {
    let key = OperatorKey::load_or_create(&home.operator_key_file())?;
    let address = Address::new(
        Name::parse(b00t_deployer::AGENT).expect("a valid name"),
        Name::parse(orchestrator.as_str()).expect("a valid skill name"),
    );
    request::ask_once(
        home,
        broker.as_deref(),
        "deploy",
        request::Ask {
            address,
            body,
            key: Some(&key),
            timeout,
        },
        |channel, reply| {
            if !json {
                request::show_progress(channel, reply);
            } else if channel != Channel::Result && channel != Channel::Error {
                let _ = outln!("{reply}");
            }
        },
    )
    .await
}

/// What `up` made: the endpoints first (what a person opens), then each service and job.
fn print_ready(body: &Value) -> anyhow::Result<()> {
    let colour = colour_stdout();
    outln!(
        "deployed `{}` through {} (project {})",
        body["datum"].as_str().unwrap_or("?"),
        body["orchestrator"].as_str().unwrap_or("?"),
        body["project"].as_str().unwrap_or("?")
    )?;
    for endpoint in body["endpoints"].as_array().into_iter().flatten() {
        outln!(
            "  {:12} {}",
            endpoint["service"].as_str().unwrap_or("?"),
            Paint::Green.paint(colour, endpoint["url"].as_str().unwrap_or("?"))
        )?;
    }
    for service in body["services"].as_array().into_iter().flatten() {
        outln!(
            "  service {:12} {}{}",
            service["name"].as_str().unwrap_or("?"),
            service["state"].as_str().unwrap_or("?"),
            service["health"]
                .as_str()
                .map(|h| format!(" ({h})"))
                .unwrap_or_default()
        )?;
    }
    for job in body["jobs"].as_array().into_iter().flatten() {
        outln!(
            "  job     {:12} {}{}",
            job["name"].as_str().unwrap_or("?"),
            job["state"].as_str().unwrap_or("?"),
            job["exit_code"]
                .as_i64()
                .map(|c| format!(" (exit {c})"))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}

fn failed(
    outcome: Outcome,
    orchestrator: Orchestrator,
    timeout: Duration,
    json: bool,
) -> anyhow::Result<ExitCode> {
    request::exit_on(
        outcome,
        || {
            format!(
                "no answer from `b00t.deployer.{orchestrator}` within {:.1} s: is `b00t up` running with the deployer (`b00t agents`)?",
                timeout.as_secs_f64()
            )
        },
        json,
    )
}
