//! A stack's cli, apt, bash and mcp members are installed through the installer, as
//! messages, before anything starts: one task per member to `b00t.installer.<type>`,
//! `from` the deployer, on a connection of the deployer's own (opened on first use,
//! replies on `b00t.deployer/reply/…`). A deploy the operator signed asks with the
//! operator's signature (the deployer runs beside the key, in the runtime); an unsigned
//! one asks unsigned, so the installer holds each member to policy.toml again.

use std::time::Duration;

use b00t_bus::{Bus, BusOptions, Outcome, Request};
use b00t_datums::DatumId;
use b00t_installer::{sign, OperatorKey};
use b00t_proto::{Address, Name, TaskId};
use serde_json::{json, Value};
use tokio::sync::OnceCell;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::status::{say, Progress};

/// Where the deployer's requests hear back.
pub const REPLY_BASE: &str = "b00t.deployer/reply";

/// The deployer's requests to the installer.
pub struct MemberInstaller {
    options: BusOptions,
    stop: CancellationToken,
    connection: OnceCell<b00t_bus::Requester>,
}

impl std::fmt::Debug for MemberInstaller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberInstaller")
            .field("client_id", &self.options.client_id)
            .finish()
    }
}

impl MemberInstaller {
    /// Requests over a connection made with `options` on first use, until `stop`.
    pub fn new(options: BusOptions, stop: CancellationToken) -> MemberInstaller {
        MemberInstaller {
            options,
            stop,
            connection: OnceCell::new(),
        }
    }

    /// Installs `datum` through the installer, signed with `key` when given, waiting
    /// until `deadline`. `Ok` holds the installer's result body; `Err` says why not.
    pub async fn install(
        &self,
        datum: &DatumId,
        key: Option<&OperatorKey>,
        progress: &Progress,
        deadline: Instant,
    ) -> Result<Value, String> {
        let requester = tokio::select! {
            _ = self.stop.cancelled() => return Err("b00t is shutting down".to_owned()),
            c = self.connection.get_or_try_init(|| self.connect(deadline)) => c?,
        };
        let skill = Name::parse(datum.kind())
            .map_err(|e| format!("datum `{datum}`: no installer skill for its type: {e}"))?;
        let address = Address::new(Name::parse("installer").expect("a valid name"), skill);
        let id = TaskId::fresh("deploy-install");
        let mut body = json!({"datum": datum.as_str()});
        if let Some(key) = key {
            // The body as the installer reads it, with `signature` beside `datum`.
            body = key.sign(&address.to_string(), id.as_str(), sign::now_ms(), &body);
        }
        let request = Request {
            id,
            ..Request::new(
                address.clone(),
                "deploy-install",
                body,
                deadline.saturating_duration_since(Instant::now()),
            )
        };
        say(progress, format!("install {datum} through {address}")).await;
        let outcome = tokio::select! {
            _ = self.stop.cancelled() => return Err("b00t is shutting down".to_owned()),
            outcome = requester.request(&request, |channel, reply| {
                if channel == b00t_proto::Channel::Progress {
                    if let Some(step) = reply["step"].as_str() {
                        // Progress is best effort: a full queue drops a line, never waits.
                        let _ = progress.try_send(format!("{datum}: {step}"));
                    }
                }
            }) => outcome.map_err(|e| e.to_string())?,
        };
        match outcome {
            Outcome::Result(reply) => Ok(reply["body"].clone()),
            Outcome::Error(reply) => Err(reply["error"]["message"]
                .as_str()
                .unwrap_or("the installer refused")
                .to_owned()),
            Outcome::Timeout => Err(format!(
                "no answer from {address} in time: is the installer running (`b00t agents`)?"
            )),
        }
    }

    async fn connect(&self, deadline: Instant) -> Result<b00t_bus::Requester, String> {
        let (bus, events) = Bus::connect(self.options.clone(), &self.stop);
        let wait = || {
            deadline
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(100), Duration::from_secs(10))
        };
        if let Err(e) = bus.wait_connected(wait()).await {
            bus.close(Duration::from_millis(100)).await;
            return Err(format!("the deployer's bus connection: {e}"));
        }
        match b00t_bus::Requester::open(
            bus.clone(),
            events,
            REPLY_BASE.to_owned(),
            "deployer",
            wait(),
            &self.stop,
        )
        .await
        {
            Ok((requester, _rest)) => Ok(requester),
            Err(e) => {
                bus.close(Duration::from_millis(100)).await;
                Err(format!("the deployer's bus connection: {e}"))
            }
        }
    }
}
