//! Finding the broker for client commands (`--broker`, then `B00T_BROKER`, then the home's
//! `[broker] url`, then the URL a running `b00t up` recorded in the state folder, then
//! `[broker] listen`) and connecting to it.

use std::time::Duration;

use anyhow::Context;
use b00t_bus::{Bus, BusOptions, Events};
use b00t_config::{env, BrokerUrl, Home};
use tokio_util::sync::CancellationToken;

/// The broker a client command should use.
pub(crate) fn broker_url(flag: Option<&str>, home: &Home) -> anyhow::Result<BrokerUrl> {
    if let Some(url) = flag {
        return BrokerUrl::parse(url).context("in `--broker`");
    }
    if let Some(url) = env::var(env::B00T_BROKER) {
        return BrokerUrl::parse(&url).with_context(|| format!("in ${}", env::B00T_BROKER));
    }
    if let Some(url) = home.config().broker.external()? {
        return Ok(url);
    }
    if let Ok(recorded) = std::fs::read_to_string(home.broker_url_file()) {
        if let Ok(url) = BrokerUrl::parse(recorded.trim()) {
            return Ok(url);
        }
    }
    Ok(BrokerUrl::for_listen(home.config().broker.listen))
}

/// Connects a short-lived client and waits until the broker accepts it.
pub(crate) async fn client(
    url: BrokerUrl,
    role: &str,
    home: &Home,
    shutdown: &CancellationToken,
) -> anyhow::Result<(Bus, Events)> {
    let mut options = BusOptions::new(url, format!("b00t-{role}-{:08x}", fastrand::u32(..)));
    options.packet_limit = home.config().broker.packet_limit();
    let (bus, events) = Bus::connect(options, shutdown);
    bus.wait_connected(Duration::from_secs(5)).await?;
    Ok((bus, events))
}
