//! `b00t bench --deploy`: the deployer. The starter stack, copied from the home the
//! bench runs from into a temporary home (its own compose project, a free web port),
//! deployed through a runtime child (`b00t up`) by signed `up` tasks, as `b00t deploy`
//! sends them:
//!
//! - **compose via b00t**: the task to its result, which comes once the last service is
//!   healthy and the job has exited; then a signed `down` (timed apart);
//! - **compose alone** (the peer): the compose file b00t wrote, run by `docker-compose`
//!   under another project and watched at the deployer's poll interval, alternating with
//!   the runs through b00t so that drift hits both;
//! - **direct via b00t**: the same for `b00t.deployer.direct` (local processes).
//!
//! Images are made present before the first run and not timed; each mode has one
//! untimed warm-up run. Without a Docker engine or `docker-compose` the compose modes
//! are skipped, and say why.
//!
//! Layout: `home` (the temporary home and its rewritten datums), `peer` (compose
//! alone), `figures` (summaries, phases, the verdict, table and JSON).

mod figures;
mod home;
mod peer;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use b00t_bus::{Bus, Requester};
use b00t_config::Home;
use b00t_container::Docker;
use b00t_datums::Catalog;
use b00t_deploy::{Intent, Orchestrator};
use b00t_installer::runner::{self, Program};
use b00t_installer::{sign, OperatorKey};
use b00t_proto::{Address, Channel, Name, TaskId};
use serde_json::{json, Value};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::child::{free_port, BusChild};
use super::Progress;
use crate::request::{Outcome, Request};
use figures::{phases, DeployFigures, Mode, Run};
use peer::Peer;

/// Measures `runs` timed runs of each mode.
pub(super) async fn measure(
    exe: &Path,
    runs: usize,
    progress: &Progress,
) -> anyhow::Result<DeployFigures> {
    let source =
        Home::resolve(None).context("finding the home whose starter stack the bench deploys")?;
    let catalog = Catalog::load(&source.datum_roots());
    let project = format!("b00t-bench-{}", std::process::id());
    let web_port =
        free_port().context("cannot find a free port on 127.0.0.1 for the web service")?;
    let prepared = home::prepare(&catalog, source.root(), &project, web_port)?;
    let home_dir = prepared.dir.path().to_owned();
    let mut figures = DeployFigures {
        runs,
        poll_ms: peer::POLL.as_millis() as u64,
        project: project.clone(),
        web_port,
        datums: prepared
            .copied
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        compose_b00t: Mode::Measured(Vec::new()),
        compose_alone: Mode::Measured(Vec::new()),
        direct_b00t: Mode::Measured(Vec::new()),
    };

    let docker = match compose_here().await {
        Ok(docker) => Some(docker),
        Err(why) => {
            errln!("bench: the compose modes are skipped: {why}");
            figures.compose_b00t = Mode::Skipped(why.clone());
            figures.compose_alone = Mode::Skipped(why);
            None
        }
    };
    let direct_here = busybox_here();
    if let Err(why) = &direct_here {
        errln!("bench: direct via b00t is skipped: {why}");
        figures.direct_b00t = Mode::Skipped(why.clone());
    }
    if docker.is_none() && direct_here.is_err() {
        return Ok(figures);
    }

    let copied = Catalog::load(&[home_dir.join("datums")]);
    let intent = Intent::from_catalog(&copied, home::STACK, &home::vars(web_port))
        .context("reading the bench's copy of the starter stack")?;
    if let Some(docker) = &docker {
        progress.say("making the stack's images present (not timed)");
        let (said, _unread) = tokio::sync::mpsc::channel(64);
        b00t_deployer::images::ensure(
            docker,
            &intent,
            &said,
            peer::LIMIT,
            &CancellationToken::new(),
        )
        .await
        .context("making the starter stack's images present before the first run")?;
    }

    // Where the deployer writes the compose file: the peer's source, and what removes
    // both projects should the bench fail half-way.
    let b00t_file = Home::open(home_dir.clone())
        .context("opening the bench's home")?
        .deploy_dir()
        .join("compose")
        .join(&project)
        .join("compose.yaml");
    progress.say("starting the runtime with the deployer (`b00t up`)");
    let port = web_port.to_string();
    let child = BusChild::start_in(
        exe,
        prepared.dir,
        &[
            (b00t_config::env::CONTAINER_RUNTIME, "none"),
            (home::WEB_PORT_VAR, port.as_str()),
        ],
        "runtime with the deployer (`b00t up`)",
    )
    .await?;
    let peer_project = format!("{project}-peer");
    let measured = async {
        let client = DeployClient::connect(&child, &home_dir).await?;
        if let Some(docker) = &docker {
            let (b00t, alone) = compose_modes(
                &client,
                docker,
                &intent,
                &b00t_file,
                &peer_project,
                runs,
                progress,
            )
            .await?;
            figures.compose_b00t = Mode::Measured(b00t);
            figures.compose_alone = Mode::Measured(alone);
        }
        if direct_here.is_ok() {
            figures.direct_b00t = Mode::Measured(direct_mode(&client, runs, progress).await?);
        }
        client.close().await;
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = measured {
        // Leave nothing running behind a failed bench.
        if docker.is_some() {
            peer::remove_project(&project, &b00t_file).await;
            peer::remove_project(&peer_project, &b00t_file).await;
        }
        let excerpt = child.stderr_excerpt();
        child.stop().await;
        return Err(e.context(format!("the deploy bench failed{excerpt}")));
    }
    child.stop().await;
    Ok(figures)
}

/// The warm-up, then `runs` alternating runs through b00t and compose alone.
async fn compose_modes(
    client: &DeployClient,
    docker: &Docker,
    intent: &Intent,
    b00t_file: &Path,
    peer_project: &str,
    runs: usize,
    progress: &Progress,
) -> anyhow::Result<(Vec<Run>, Vec<Run>)> {
    progress.say("compose via b00t: warm-up run (not timed)");
    client
        .up(Orchestrator::Compose)
        .await
        .context("the warm-up deploy through compose")?;
    client.down(Orchestrator::Compose).await?;
    let peer = Peer::new(b00t_file, intent, peer_project)?;
    progress.say("compose alone: warm-up run (not timed)");
    peer.up(docker)
        .await
        .context("the warm-up run of compose alone")?;
    peer.down().await?;
    let mut b00t = Vec::with_capacity(runs);
    let mut alone = Vec::with_capacity(runs);
    for n in 1..=runs {
        let up = client.up(Orchestrator::Compose).await?;
        let down = client.down(Orchestrator::Compose).await?;
        progress.say(&format!(
            "compose via b00t, run {n}/{runs}: {:.1} ms (down {:.1} ms)",
            up.ms, down.ms
        ));
        b00t.push(Run {
            total_ms: up.ms,
            phases: phases(&up.steps, up.ms),
            down_ms: down.ms,
        });
        let mut run = peer.up(docker).await.context("compose alone")?;
        run.down_ms = peer.down().await?;
        progress.say(&format!(
            "compose alone, run {n}/{runs}: {:.1} ms (down {:.1} ms)",
            run.total_ms, run.down_ms
        ));
        alone.push(run);
    }
    Ok((b00t, alone))
}

/// The warm-up, then `runs` runs through `b00t.deployer.direct`.
async fn direct_mode(
    client: &DeployClient,
    runs: usize,
    progress: &Progress,
) -> anyhow::Result<Vec<Run>> {
    progress.say("direct via b00t: warm-up run (not timed)");
    client
        .up(Orchestrator::Direct)
        .await
        .context("the warm-up deploy through direct")?;
    client.down(Orchestrator::Direct).await?;
    let mut out = Vec::with_capacity(runs);
    for n in 1..=runs {
        let up = client.up(Orchestrator::Direct).await?;
        let down = client.down(Orchestrator::Direct).await?;
        progress.say(&format!(
            "direct via b00t, run {n}/{runs}: {:.1} ms (down {:.1} ms)",
            up.ms, down.ms
        ));
        out.push(Run {
            total_ms: up.ms,
            phases: None,
            down_ms: down.ms,
        });
    }
    Ok(out)
}

/// The local engine when it answers and `docker-compose` runs; else why not.
async fn compose_here() -> Result<Docker, String> {
    let docker = b00t_container::connect_within(Duration::from_secs(5))
        .await
        .map_err(|e| format!("no Docker engine answers, which the compose modes need: {e}"))?;
    let version = Program::new("docker-compose", &["version", "--short"]);
    let limit = Duration::from_secs(30);
    let finished = runner::run(&version, limit, &CancellationToken::new(), None).await;
    if !finished.success() {
        return Err(format!(
            "`docker-compose` does not run here ({}); install it (`apt-get install docker-compose`)",
            finished.describe("docker-compose version", limit)
        ));
    }
    Ok(docker)
}

/// Whether the starter's direct run can start: its `[b00t.local]` commands are `busybox`.
fn busybox_here() -> Result<(), String> {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("busybox").is_file()));
    if found {
        Ok(())
    } else {
        Err("no `busybox` on PATH, which the starter's direct run starts; install it (`apt-get install busybox-static`)".to_owned())
    }
}

/// The operator's client of the bench's runtime: signed tasks to the deployer, as
/// `b00t deploy` and `b00t undeploy` send them.
struct DeployClient {
    bus: Bus,
    requester: Requester,
    /// The runtime's `state/operator.key`.
    key: OperatorKey,
    /// Stops the bus driver and the requester; cancelled by `close` or on drop.
    stop: CancellationToken,
}

/// One answered task: its time and its progress steps.
struct Asked {
    ms: f64,
    /// `(ms since the task was published, step)`, in the order they came.
    steps: Vec<(f64, String)>,
}

impl DeployClient {
    /// Connects to the child's broker as the operator of the home in `home_dir`.
    async fn connect(child: &BusChild, home_dir: &Path) -> anyhow::Result<DeployClient> {
        let home = Home::open(home_dir.to_owned()).context("opening the bench's home")?;
        let key = OperatorKey::load_or_create(&home.operator_key_file())?;
        let as_operator = format!("mqtt://operator@{}:{}", child.url().host, child.url().port);
        let url = crate::connect::broker_url(Some(&as_operator), &home)?;
        let stop = CancellationToken::new();
        let (bus, events) = crate::connect::client(url, "bench-deploy", &home, &stop).await?;
        let (requester, _rest) = crate::request::requester(&bus, events, &stop).await?;
        Ok(DeployClient {
            bus,
            requester,
            key,
            stop,
        })
    }

    /// A signed `up` that must end ready.
    async fn up(&self, orchestrator: Orchestrator) -> anyhow::Result<Asked> {
        let (asked, body) = self.ask(orchestrator, "up").await?;
        anyhow::ensure!(
            body["ready"] == true,
            "`up` through {orchestrator} answered without `ready`: {body}"
        );
        Ok(asked)
    }

    /// A signed `down`.
    async fn down(&self, orchestrator: Orchestrator) -> anyhow::Result<Asked> {
        Ok(self.ask(orchestrator, "down").await?.0)
    }

    async fn ask(
        &self,
        orchestrator: Orchestrator,
        action: &str,
    ) -> anyhow::Result<(Asked, Value)> {
        let address = Address::new(
            Name::parse(b00t_deployer::AGENT).expect("a valid name"),
            Name::parse(orchestrator.as_str()).expect("a valid skill name"),
        );
        let body = json!({"datum": home::STACK, "action": action});
        let id = TaskId::fresh("bench");
        let signed = self
            .key
            .sign(&address.to_string(), id.as_str(), sign::now_ms(), &body);
        let request = Request {
            id,
            ..Request::new(
                address.clone(),
                "bench",
                signed,
                peer::LIMIT + Duration::from_secs(30),
            )
        };
        let mut steps = Vec::new();
        let started = Instant::now();
        let outcome = self
            .requester
            .request(&request, |channel, reply| {
                if channel == Channel::Progress {
                    let step = reply["step"].as_str().unwrap_or("").to_owned();
                    steps.push((started.elapsed().as_secs_f64() * 1000.0, step));
                }
            })
            .await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match outcome {
            Outcome::Result(reply) => Ok((Asked { ms, steps }, reply["body"].clone())),
            Outcome::Error(reply) => anyhow::bail!(
                "`{action}` through `{address}` failed: [{}] {}",
                reply["error"]["code"].as_str().unwrap_or("?"),
                reply["error"]["message"].as_str().unwrap_or("")
            ),
            Outcome::Timeout => anyhow::bail!(
                "no answer to `{action}` from `{address}` within {} s",
                request.timeout.as_secs()
            ),
        }
    }

    async fn close(self) {
        self.bus.close(Duration::from_millis(200)).await;
        self.stop.cancel();
    }
}

impl Drop for DeployClient {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
