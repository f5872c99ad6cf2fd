//! `b00t chat <group> [MESSAGE]`: talk with a group's assistant over the bus. Each line
//! is a task on `b00t.<group>.chat` (the group's agent is started on demand), its
//! progress (tool calls) is shown dimmed, and its reply printed. With a MESSAGE, one
//! exchange and exit (0 on a reply, 1 on an error, 2 on a timeout). Without a terminal,
//! lines are read from standard input and only the replies are printed, so it scripts.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use b00t_bus::Requester;
use b00t_config::Home;
use b00t_proto::{Address, Channel, Name};
use clap::Args;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::cli::{BrokerArg, HomeArg};
use crate::connect;
use crate::request::{self, Outcome, Request};
use crate::style::{colour_stderr, colour_stdout, Paint};

#[derive(Debug, Args)]
pub(crate) struct ChatArgs {
    #[command(flatten)]
    pub home: HomeArg,
    #[command(flatten)]
    pub broker: BrokerArg,
    /// The group to talk to (its agent is `b00t.<group>.chat`).
    pub group: String,
    /// Send this one message, print the reply, and exit.
    pub message: Vec<String>,
    /// Talk to one of the group's skills instead of `chat` (its SKILL.md joins the prompt).
    #[arg(long, value_name = "SKILL", default_value = "chat")]
    pub skill: String,
    /// Seconds to wait for each reply (a cold start and the model included).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
}

pub(crate) async fn run(args: ChatArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let group = Name::parse(&args.group).context("in the group name")?;
    let skill = Name::parse(&args.skill).context("in `--skill`")?;
    let address = Address::new(group.clone(), skill);
    let timeout = match args.timeout {
        Some(secs) if secs.is_finite() && secs > 0.0 => Duration::from_secs_f64(secs),
        Some(secs) => anyhow::bail!("`--timeout {secs}` must be a positive number of seconds"),
        None => home.config().containers.task_timeout() + Duration::from_secs(60),
    };
    let url = connect::broker_url(args.broker.broker.as_deref(), &home)?;
    let stop = CancellationToken::new();
    let (bus, events) = connect::client(url, "chat", &home, &stop).await?;
    let (requester, _rest) = request::requester(&bus, events, &stop).await?;
    let mut chat = Chat {
        requester,
        address,
        timeout,
        colour: colour_stdout(),
    };

    if !args.message.is_empty() {
        let text = args.message.join(" ");
        let code = chat.exchange(&text).await?;
        stop.cancel();
        return Ok(ExitCode::from(code));
    }

    let interactive = std::io::stdin().is_terminal();
    if interactive {
        errln!(
            "{}",
            Paint::Dim.paint(
                colour_stderr(),
                &format!("chatting with `{group}` over the bus; an empty line or Ctrl-D ends")
            )
        );
    }
    let (lines_tx, mut lines) = tokio::sync::mpsc::channel::<String>(1);
    // Standard input blocks; read it on its own thread, one line per exchange.
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut line = String::new();
        loop {
            if interactive {
                err!("you> ");
                let _ = std::io::stderr().flush();
            }
            line.clear();
            match stdin.lock().read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if lines_tx.blocking_send(line.trim_end().to_owned()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut worst = 0u8;
    while let Some(line) = lines.recv().await {
        if line.trim().is_empty() {
            if interactive {
                break;
            }
            continue;
        }
        worst = worst.max(chat.exchange(&line).await?);
    }
    stop.cancel();
    Ok(ExitCode::from(worst))
}

struct Chat {
    requester: Requester,
    address: Address,
    timeout: Duration,
    colour: bool,
}

impl Chat {
    /// Sends one message and prints the reply. 0: a reply; 1: an error; 2: no reply.
    async fn exchange(&mut self, text: &str) -> anyhow::Result<u8> {
        let request = Request::new(
            self.address.clone(),
            "chat",
            json!({ "text": text }),
            self.timeout,
        );
        let dim = colour_stderr();
        let outcome = self
            .requester
            .request(&request, |channel, reply| {
                if channel == Channel::Progress {
                    if let Some(step) = reply["step"].as_str() {
                        errln!("{}", Paint::Dim.paint(dim, &format!("  · {step}")));
                    }
                }
            })
            .await?;
        let name = self.address.agent().as_str();
        Ok(match outcome {
            Outcome::Result(reply) => {
                let text = reply_text(&reply["body"]);
                outln!(
                    "{} {text}",
                    Paint::Cyan.paint(self.colour, &format!("{name}>"))
                )?;
                0
            }
            Outcome::Error(reply) => {
                let code = reply["error"]["code"].as_str().unwrap_or("error");
                let message = reply["error"]["message"].as_str().unwrap_or("");
                errln!(
                    "{} {code}: {message}",
                    Paint::Red.paint(dim, &format!("{name}!"))
                );
                1
            }
            Outcome::Timeout => {
                errln!(
                    "{} no reply from `{}` within {:.0} s; is `b00t up` running? (`b00t agents` lists who is online)",
                    Paint::Red.paint(dim, &format!("{name}!")),
                    self.address,
                    self.timeout.as_secs_f64()
                );
                2
            }
        })
    }
}

/// The reply's `text`, or the whole body when a skill answered something else.
fn reply_text(body: &Value) -> String {
    match body["text"].as_str() {
        Some(text) => text.to_owned(),
        None => body.to_string(),
    }
}
