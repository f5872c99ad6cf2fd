//! `b00t mcp serve`: the bus as an MCP server (b00t-mcp) for an AI app. Over stdio by
//! default, where stdout carries only MCP's JSON-RPC and every log goes to stderr; or
//! streamable HTTP with `--http ADDR`, on loopback unless `--allow-remote` says otherwise.
//! It connects to the bus as the CLI does (the operator in its own home), so `install`
//! and `deploy` go unsigned and the whitelist decides.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use b00t_config::Home;
use b00t_datums::Catalog;
use b00t_mcp::{BusServer, CardChanges, InstallTarget};
use b00t_proto::{Address, Name};
use clap::Args;

use crate::cli::{BrokerArg, HomeArg};
use crate::{connect, request};

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub home: HomeArg,
    #[command(flatten)]
    pub broker: BrokerArg,
    /// Serve streamable HTTP on this address (the endpoint is `http://ADDR/mcp`) instead
    /// of stdio. Port 0 picks a free one, printed on stderr.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// Let `--http` listen on an address that is not loopback. Anyone who reaches it can
    /// drive the bus as the operator: put it behind something that authenticates.
    #[arg(long, requires = "http")]
    pub allow_remote: bool,
}

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    if let Some(address) = args.http {
        if !address.ip().is_loopback() && !args.allow_remote {
            anyhow::bail!(
                "`--http {address}` is not a loopback address, and anyone who reaches it could drive the bus as the operator: use `127.0.0.1:{}`, or pass `--allow-remote` behind something that authenticates",
                address.port()
            );
        }
    }
    let home = Home::resolve(args.home.home.as_deref())?;
    let stop = crate::shutdown::on_signal();
    let url = connect::broker_url(args.broker.broker.as_deref(), &home)?;
    let (bus, events) = connect::client(url, "mcp", &home, &stop)
        .await
        .context("`b00t mcp serve` needs the bus: start it with `b00t up`")?;
    let (requester, rest) = request::requester(&bus, events, &stop).await?;
    // Without the cards' subscription (a broker whose rules refuse `+/status`), the
    // tools and resources still work; listening clients hear nothing.
    let cards = match CardChanges::watch(&bus, rest, Duration::from_secs(5), &stop).await {
        Ok(cards) => cards,
        Err(e) => {
            tracing::warn!(error = %e, "cannot subscribe to the agents' cards (`+/status`): MCP clients that listen will not hear of changes");
            CardChanges::none()
        }
    };
    let roots = home.datum_roots();
    let resolve = Arc::new(move |query: &str| install_target(&Catalog::load(&roots), query));
    let server = BusServer::new(requester, resolve, stop.clone()).with_card_changes(cards);
    match args.http {
        None => b00t_mcp::serve_stdio(server, stop.clone()).await?,
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| {
                    format!("cannot listen on `{address}`: pass another `--http` address")
                })?;
            let bound = listener.local_addr()?;
            errln!("b00t mcp serve: streamable HTTP on http://{bound}/mcp");
            let mut hosts = vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                "::1".to_owned(),
            ];
            hosts.push(bound.ip().to_string());
            hosts.push(bound.to_string());
            b00t_mcp::serve_http(server, listener, hosts, stop.clone()).await?;
        }
    }
    stop.cancel();
    bus.close(Duration::from_millis(200)).await;
    Ok(ExitCode::SUCCESS)
}

/// The installer's address for `query` in `catalog`, or what is wrong, for the client.
fn install_target(catalog: &Catalog, query: &str) -> Result<InstallTarget, String> {
    let datum = catalog.find(query, None).map_err(|e| e.to_string())?;
    let kind = datum.kind.as_str();
    if !b00t_installer::SKILLS.contains(&kind) {
        return Err(format!(
            "the installer does not install `{kind}` datums (`{}`); it installs {}",
            datum.id,
            b00t_installer::SKILLS.join(", ")
        ));
    }
    let skill = Name::parse(kind).map_err(|e| format!("datum type `{kind}`: {e}"))?;
    Ok(InstallTarget {
        address: Address::new(
            Name::parse(b00t_installer::AGENT).expect("a valid name"),
            skill,
        ),
        datum: datum.id.to_string(),
    })
}
