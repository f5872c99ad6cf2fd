//! `b00t install <datum>`: asks the installer agent on the bus for a plan (a signed dry
//! run), shows it, asks before steps that need root or touch Docker, then sends the signed
//! install and follows it: a progress bar on a terminal, plain lines otherwise.
//! Exit 0 when everything is installed, 1 when the installer refused or failed, 2 when
//! no installer answered.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use b00t_config::Home;
use b00t_installer::{sign, OperatorKey};
use b00t_proto::{Address, Channel, Name, TaskId};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::cli::InstallArgs;
use crate::connect;
use crate::request::{self, Outcome, Request};
use crate::style::{colour_stderr, colour_stdout, Paint};

pub(super) async fn run(args: InstallArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let catalog = super::datum::load(&home);
    let datum = catalog.find(&args.datum, None)?;
    let address = Address::new(
        Name::parse(b00t_installer::AGENT).expect("a valid name"),
        Name::parse(datum.kind.as_str()).with_context(|| {
            format!(
                "datum `{}` has type `{}`, which no installer skill takes",
                datum.id, datum.kind
            )
        })?,
    );
    if !b00t_installer::SKILLS.contains(&datum.kind.as_str()) {
        anyhow::bail!(
            "the installer does not install `{}` datums (`{}`); it installs {}",
            datum.kind,
            datum.id,
            b00t_installer::SKILLS.join(", ")
        );
    }
    let key = OperatorKey::load_or_create(&home.operator_key_file())?;
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        anyhow::bail!(
            "`--timeout {}` must be a positive number of seconds",
            args.timeout
        );
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    let url = connect::broker_url(args.broker.broker.as_deref(), &home)?;
    let stop = CancellationToken::new();
    let (bus, events) = connect::client(url, "cli", &home, &stop).await?;
    let (requester, _rest) = request::requester(&bus, events, &stop).await?;
    let mut body = json!({"datum": datum.id.as_str(), "dry_run": true, "deps": !args.no_deps});
    if !args.wire.is_empty() {
        body["wire"] = json!(args.wire);
    }
    let signed = |body: &Value, id: &TaskId| {
        key.sign(&address.to_string(), id.as_str(), sign::now_ms(), body)
    };

    // The plan, from the installer itself (it checks the machine it installs on).
    let id = TaskId::fresh("cli");
    let plan_request = Request {
        id: id.clone(),
        ..Request::new(
            address.clone(),
            "cli",
            signed(&body, &id),
            Duration::from_secs(120),
        )
    };
    let outcome = requester
        .request(&plan_request, |_, reply| {
            if args.json {
                // A closed stdout shows up again, as an error, at the result.
                let _ = outln!("{reply}");
            }
        })
        .await?;
    let plan = match outcome {
        Outcome::Result(reply) => reply["body"].clone(),
        other => return finish(&bus, other, args.json).await,
    };
    if !args.json {
        print_plan(&plan)?;
        print_diffs(&plan)?;
    }
    let todo = plan["plan"]["nodes"].as_array().map_or(0, |nodes| {
        nodes.iter().filter(|n| n["state"] != "ok").count()
    });
    if args.dry_run {
        bus.close(Duration::from_millis(200)).await;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(blocked) = plan["blocked"].as_array().filter(|b| !b.is_empty()) {
        bus.close(Duration::from_millis(200)).await;
        for reason in blocked {
            errln!(
                "{} {}",
                crate::style::error_label(),
                reason.as_str().unwrap_or("")
            );
        }
        return Ok(ExitCode::from(1));
    }
    if todo == 0 && args.wire.is_empty() {
        if !args.json {
            outln!("`{}` is already installed: nothing to do", datum.id)?;
        }
        bus.close(Duration::from_millis(200)).await;
        return Ok(ExitCode::SUCCESS);
    }
    if plan["needs_confirmation"] == true && !args.yes && !confirm()? {
        bus.close(Duration::from_millis(200)).await;
        errln!("nothing installed");
        return Ok(ExitCode::from(1));
    }

    body["dry_run"] = json!(false);
    let id = TaskId::fresh("cli");
    let install = Request {
        id: id.clone(),
        ..Request::new(address.clone(), "cli", signed(&body, &id), timeout)
    };
    let mut view = View::new(args.json);
    let outcome = requester
        .request(&install, |channel, reply| view.reply(channel, reply))
        .await?;
    view.done();
    finish(&bus, outcome, args.json).await
}

/// Asks on the terminal; refuses to guess when there is none.
fn confirm() -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "this install runs steps that need root or touch Docker, and there is no terminal to ask on: pass `--yes` to go ahead"
        );
    }
    err!("These steps need root or touch Docker. Go ahead? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

fn print_plan(plan: &Value) -> Result<(), crate::out::StdoutError> {
    let colour = colour_stdout();
    outln!(
        "{}",
        Paint::Bold.paint(
            colour,
            &format!("plan for {}", plan["datum"].as_str().unwrap_or("?"))
        )
    )?;
    let nodes = plan["plan"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let width = nodes
        .iter()
        .map(|n| n["id"].as_str().unwrap_or("").len())
        .max()
        .unwrap_or(0);
    for (i, node) in nodes.iter().enumerate() {
        let state = node["state"].as_str().unwrap_or("?");
        let painted = match state {
            "ok" => Paint::Green.paint(colour, &format!("{state:8}")),
            "outdated" => Paint::Yellow.paint(colour, &format!("{state:8}")),
            _ => Paint::Red.paint(colour, &format!("{state:8}")),
        };
        let what = if state == "ok" {
            node["version"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_default()
        } else {
            let step = &node["step"];
            let mut run = step["run"].as_str().unwrap_or("").to_owned();
            if step["needs_root"] == true {
                run.push_str("  [root]");
            }
            if step["touches_docker"] == true {
                run.push_str("  [docker]");
            }
            run
        };
        outln!(
            "{:>3}. {:width$}  {painted}  {}",
            i + 1,
            node["id"].as_str().unwrap_or("?"),
            Paint::Dim.paint(colour, &what)
        )?;
        for reason in node["blocked"].as_array().into_iter().flatten() {
            outln!(
                "     {}",
                Paint::Red.paint(colour, reason.as_str().unwrap_or(""))
            )?;
        }
    }
    Ok(())
}

/// The diff of each app's file a dry run with `--wire` would write.
fn print_diffs(plan: &Value) -> Result<(), crate::out::StdoutError> {
    for diff in plan["wire"]["diffs"].as_array().into_iter().flatten() {
        out!("{}", diff["diff"].as_str().unwrap_or(""))?;
    }
    Ok(())
}

/// Shows progress replies: a bar on a terminal, lines otherwise.
struct View {
    json: bool,
    bar: Option<ProgressBar>,
    colour: bool,
}

impl View {
    fn new(json: bool) -> View {
        let bar = (!json && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(1);
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{pos}/{len}] {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        View {
            json,
            bar,
            colour: colour_stderr(),
        }
    }

    fn reply(&mut self, channel: Channel, reply: &Value) {
        if self.json {
            let _ = outln!("{reply}");
            return;
        }
        if channel != Channel::Progress {
            return;
        }
        let step = reply["step"].as_str().unwrap_or("");
        let (n, of) = (reply["n"].as_u64(), reply["of"].as_u64());
        let output = reply["output"].as_str();
        match &self.bar {
            Some(bar) => {
                if let (Some(n), Some(of)) = (n, of) {
                    bar.set_length(of);
                    bar.set_position(n.saturating_sub(1));
                }
                match output {
                    Some(line) => bar.println(Paint::Dim.paint(self.colour, &format!("  {line}"))),
                    None => {
                        bar.println(step);
                        bar.set_message(step.to_owned());
                    }
                }
            }
            None => {
                let count = match (n, of) {
                    (Some(n), Some(of)) => format!("[{n}/{of}] "),
                    _ => String::new(),
                };
                match output {
                    Some(line) => errln!("{count}  | {line}"),
                    None => errln!("{count}{step}"),
                }
            }
        }
    }

    fn done(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

async fn finish(bus: &b00t_bus::Bus, outcome: Outcome, json: bool) -> anyhow::Result<ExitCode> {
    bus.close(Duration::from_millis(200)).await;
    let colour = colour_stdout();
    let lists = |body: &Value| -> Result<(), crate::out::StdoutError> {
        for (label, paint) in [
            ("installed", Paint::Green),
            ("skipped", Paint::Dim),
            ("failed", Paint::Red),
        ] {
            for item in body[label].as_array().into_iter().flatten() {
                let detail = item["version"]
                    .as_str()
                    .or(item["error"].as_str())
                    .unwrap_or("");
                outln!(
                    "{} {} {detail}",
                    paint.paint(colour, &format!("{label:>9}")),
                    item["id"].as_str().unwrap_or("?")
                )?;
            }
        }
        Ok(())
    };
    Ok(match outcome {
        Outcome::Result(reply) => {
            if !json {
                lists(&reply["body"])?;
                let wire = &reply["body"]["wire"];
                for wired in wire["wired"].as_array().into_iter().flatten() {
                    outln!(
                        "{} {} {}",
                        Paint::Green.paint(colour, &format!("{:>9}", "wired")),
                        wired["app"].as_str().unwrap_or("?"),
                        wired["file"].as_str().unwrap_or("?")
                    )?;
                }
                for note in wire["notes"].as_array().into_iter().flatten() {
                    errln!("note: {}", note.as_str().unwrap_or(""));
                }
            }
            ExitCode::SUCCESS
        }
        Outcome::Error(reply) => {
            if !json {
                lists(&reply["error"]["detail"])?;
                errln!(
                    "{} {} ({})",
                    crate::style::error_label(),
                    reply["error"]["message"].as_str().unwrap_or("?"),
                    reply["error"]["code"].as_str().unwrap_or("?")
                );
            }
            let undeliverable = reply["error"]["code"] == "undeliverable";
            ExitCode::from(if undeliverable { 2 } else { 1 })
        }
        Outcome::Timeout => {
            errln!(
                "{} no answer from the installer: is `b00t up` running with [installer] enabled?",
                crate::style::error_label()
            );
            ExitCode::from(2)
        }
    })
}
