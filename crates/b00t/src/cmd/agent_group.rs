//! `b00t agent run group --name <group>`: a group's assistant, as `b00t up` starts it in
//! a container or as a local process. Everything comes from the environment `up` sets:
//! `B00T_AGENT` (the launch document), `B00T_BROKER` (with the group's credentials),
//! `B00T_GROUP_DIR` and `B00T_GLOBAL_DIR` (its folders). With `B00T_STOP_ON_EOF=1` (a
//! local process), the end of standard input means the parent is gone: stop.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use b00t_agents::AgentSpec;
use b00t_assistant::AssistantOptions;
use b00t_bus::BusOptions;
use b00t_config::{env, AgentLaunch, BrokerUrl};
use b00t_proto::Name;
use tokio_util::sync::CancellationToken;

/// The assistant of group `name`, and the launch document it was given.
pub(super) fn spec(
    name: &Name,
    url: &BrokerUrl,
    stop: &CancellationToken,
) -> anyhow::Result<(AgentSpec, AgentLaunch)> {
    let text = env::var(b00t_config::launch::B00T_AGENT).with_context(|| {
        format!(
            "`{}` is not set: group agents are started by `b00t up`, which sets it; to run one by hand, start `b00t up` and send a task to `b00t.{name}.chat`",
            b00t_config::launch::B00T_AGENT
        )
    })?;
    let launch = AgentLaunch::parse(&text).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        launch.group == name.as_str(),
        "`--name {name}` does not match the launch document's group `{}`",
        launch.group
    );
    let group_dir = match env::var(env::B00T_GROUP_DIR) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_dir().context("cannot read the current folder")?,
    };
    anyhow::ensure!(
        group_dir.is_dir(),
        "the group folder `{}` does not exist",
        group_dir.display()
    );
    let mut bus = BusOptions::new(url.clone(), String::new());
    bus.packet_limit = (launch.max_payload_bytes * 4).max(16 * 1024 * 1024);
    // On a cluster the broker keeps its session while it moves between nodes.
    bus.persistent_session = !url.alternates.is_empty();
    let mut options = AssistantOptions::new(name.clone(), group_dir, bus);
    options.global_dir = env::var(env::B00T_GLOBAL_DIR).map(PathBuf::from);
    options.privileged = launch.privileged;
    options.assistant_name = launch.assistant_name.clone();
    options.ollama_url = launch.ollama_url.clone();
    options.model = launch.model.clone();
    options.ollama_timeout = Duration::from_millis(launch.ollama_timeout_ms);
    options.task_timeout = Duration::from_millis(launch.task_timeout_ms);
    options.history_turns = launch.history_turns;
    options.max_tool_rounds = launch.max_tool_rounds;
    options.max_output_bytes = launch.max_output_bytes;
    options.tool_timeout = Duration::from_millis(launch.tool_timeout_ms);
    if env::var(env::B00T_STOP_ON_EOF).is_some() {
        stop_on_eof(stop.clone());
    }
    let spec = b00t_assistant::spec(options, stop.clone())?;
    Ok((spec, launch))
}

/// Cancels `stop` when standard input reaches its end (the parent b00t is gone).
fn stop_on_eof(stop: CancellationToken) {
    std::thread::spawn(move || {
        use std::io::Read;
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        tracing::info!("standard input closed: the b00t that started this agent is gone; stopping");
        stop.cancel();
    });
}
