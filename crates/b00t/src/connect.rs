//! Finding the broker for client commands (`--broker`, then `B00T_BROKER`, then the home's
//! `[broker] url`, then the URL a running `b00t up` recorded in the state folder, then
//! `[broker] listen`) and connecting to it. On the home's own broker the CLI logs in as
//! the operator, with `state/credentials/operator`; on another broker only when its URL
//! names the `operator` user without a password.

use std::time::Duration;

use anyhow::Context;
use b00t_bus::{Bus, BusOptions, Events};
use b00t_config::{env, BrokerUrl, CredentialFiles, Home};
use tokio_util::sync::CancellationToken;

/// The broker a client command should use.
pub(crate) fn broker_url(flag: Option<&str>, home: &Home) -> anyhow::Result<BrokerUrl> {
    let named = |url: BrokerUrl| {
        let wants = url.username.as_deref() == Some(OPERATOR) && url.password.is_none();
        if wants {
            as_operator(url, home)
        } else {
            url
        }
    };
    if let Some(url) = flag {
        return Ok(named(BrokerUrl::parse(url).context("in `--broker`")?));
    }
    if let Some(url) = env::var(env::B00T_BROKER) {
        let url = BrokerUrl::parse(&url).with_context(|| format!("in ${}", env::B00T_BROKER))?;
        return Ok(named(url));
    }
    if let Some(url) = home.config().broker.external()? {
        return Ok(named(url));
    }
    if let Ok(recorded) = std::fs::read_to_string(home.broker_url_file()) {
        if let Ok(url) = BrokerUrl::parse(recorded.trim()) {
            return Ok(as_operator(url, home));
        }
    }
    Ok(as_operator(
        BrokerUrl::for_listen(home.config().broker.listen),
        home,
    ))
}

/// The operator's username.
const OPERATOR: &str = "operator";

/// `url` with the operator's credentials, when this user can read them (otherwise the
/// command connects anonymously, as a local script would).
fn as_operator(url: BrokerUrl, home: &Home) -> BrokerUrl {
    let password = home
        .state_dir()
        .ok()
        .and_then(|state| CredentialFiles::open(&state).ok())
        .and_then(|files| files.read(OPERATOR).ok().flatten());
    match password {
        Some(password) => BrokerUrl {
            username: Some(OPERATOR.to_owned()),
            password: Some(password),
            ..url
        },
        None => url,
    }
}

/// Whether `bus` is logged in as the operator.
pub(crate) fn is_operator(bus: &Bus) -> bool {
    bus.url().starts_with(&format!("mqtt://{OPERATOR}:"))
}

/// How long a client command waits for a broker of a list of `brokers`: 5 s for one; on
/// a list 5 s a broker and at least 20 s, since a NATS cluster that just lost a node
/// holds every CONNECT until JetStream has elected new leaders (about 12 s here).
fn reach_limit(brokers: u32) -> Duration {
    let each = Duration::from_secs(5) * brokers;
    if brokers > 1 {
        each.max(Duration::from_secs(20))
    } else {
        each
    }
}

/// Connects a short-lived client and waits until a broker accepts it, within
/// [`reach_limit`]; a wait past a second says on stderr what it waits for.
pub(crate) async fn client(
    url: BrokerUrl,
    role: &str,
    home: &Home,
    shutdown: &CancellationToken,
) -> anyhow::Result<(Bus, Events)> {
    let limit = reach_limit(1 + url.alternates.len() as u32);
    let mut options = BusOptions::new(url, format!("b00t-{role}-{:08x}", fastrand::u32(..)));
    options.packet_limit = home.config().broker.packet_limit();
    let (bus, events) = Bus::connect(options, shutdown);
    {
        let waiting = bus.wait_connected(limit);
        tokio::pin!(waiting);
        tokio::select! {
            connected = &mut waiting => connected?,
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                errln!("waiting for the broker at {} (up to {} s)", bus.url(), limit.as_secs());
                waiting.await?
            }
        }
    }
    Ok((bus, events))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_waited_for_longer_than_one_broker() {
        let secs = |n| reach_limit(n).as_secs();
        assert_eq!((secs(1), secs(2), secs(3), secs(6)), (5, 20, 20, 30));
    }
}
