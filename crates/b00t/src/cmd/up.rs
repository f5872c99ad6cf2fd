//! `b00t up`: run the bus until SIGINT or SIGTERM.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use b00t_config::{BrokerUrl, Home};
use b00t_runtime::{HomeLock, HomeLockError, Ready, Report, UpOptions};

use crate::cli::UpArgs;
use crate::exit::{self, Refusal};
use crate::shutdown;

pub(super) async fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let broker = args
        .broker
        .as_deref()
        .map(BrokerUrl::parse)
        .transpose()
        .context("in `--broker`")?;
    // First, before anything writes state: one runtime per home.
    let mut lock = lock_home(&home, &args, broker.as_ref())?;
    let options = UpOptions {
        listen: args.listen,
        broker,
        broker_only: args.broker_only,
        standby: args.standby,
    };
    let shutdown = shutdown::on_signal();
    let root = home.root().to_owned();
    let url_file = home.broker_url_file();
    shutdown::remove_on_forced_exit(url_file.clone());
    let served = b00t_runtime::up(home, options, shutdown, |report| {
        let ready = match report {
            Report::StandingBy { url, lease } => return standing_by(url, lease),
            Report::Ready(ready) => ready,
        };
        let _ = lock.record(&ready.url.to_string());
        // Client commands run in this home find this bus even when `--listen` moved it.
        if let Some(dir) = url_file.parent() {
            let _ = b00t_config::home::private_dir(dir);
        }
        let url_line = format!("{}\n", ready.url);
        if let Err(e) = b00t_config::home::write_private_file(&url_file, url_line.as_bytes()) {
            tracing::warn!(path = %url_file.display(), error = %e, "cannot record the broker URL");
        }
        banner(ready, &root)
    })
    .await;
    // Only the lock's holder gets here, so the file is this runtime's own.
    let _ = std::fs::remove_file(&url_file);
    drop(lock);
    served.map_err(|e| match e {
        // Damaged, read-only or full: the operator's to fix, with its own exit code.
        b00t_runtime::RuntimeError::Journal(e) => anyhow::Error::new(Refusal {
            code: exit::JOURNAL_UNUSABLE,
            message: e.to_string(),
        }),
        e @ b00t_runtime::RuntimeError::LeaseLost { .. } => anyhow::Error::new(Refusal {
            code: exit::LEASE_LOST,
            message: e.to_string(),
        }),
        e => e.into(),
    })?;
    let _ = outln!("b00t stopped");
    Ok(ExitCode::SUCCESS)
}

/// Takes `state/up.lock`, recording where this runtime means to serve; a second `up`
/// ends here with [`exit::HOME_IN_USE`], having touched nothing.
fn lock_home(home: &Home, args: &UpArgs, broker: Option<&BrokerUrl>) -> anyhow::Result<HomeLock> {
    let intended = match broker {
        Some(url) => url.to_string(),
        None => match home.config().broker.external()? {
            Some(url) => url.to_string(),
            None => BrokerUrl::for_listen(args.listen.unwrap_or(home.config().broker.listen))
                .to_string(),
        },
    };
    match HomeLock::acquire(&home.state_dir()?, &intended) {
        Ok(lock) => Ok(lock),
        Err(e @ HomeLockError::Held { .. }) => Err(Refusal {
            code: exit::HOME_IN_USE,
            message: e.to_string(),
        }
        .into()),
        Err(e) => Err(e.into()),
    }
}

/// Says, once per lease waited behind, that this runtime follows and who acts.
fn standing_by(url: &BrokerUrl, lease: &b00t_proto::Lease) {
    let mut out = std::io::stdout().lock();
    let host = lease.host.as_deref().unwrap_or("?");
    let pid = lease.pid.map_or("?".to_owned(), |p| p.to_string());
    let _ = writeln!(
        out,
        "b00t is standing by on {url}: runtime {} (host {host}, pid {pid}, epoch {}) holds the lease; following, and taking over if it lapses for {:.1} s",
        lease.holder,
        lease.epoch,
        lease.ttl_ms as f64 / 1000.0
    );
    let _ = out.flush();
}

fn banner(ready: &Ready, home: &std::path::Path) {
    let mut out = std::io::stdout().lock();
    let kind = if ready.embedded {
        "embedded rumqttd"
    } else {
        "external"
    };
    let _ = writeln!(out, "b00t is up on {} ({kind})", ready.url);
    let _ = writeln!(out, "  home     {}", home.display());
    if let Some(journal) = &ready.journal {
        let _ = writeln!(out, "  journal  {}", journal.display());
    }
    if !ready.agents.is_empty() {
        let _ = writeln!(out, "  agents   {}", ready.agents.join(", "));
        let _ = writeln!(
            out,
            "  try      mosquitto_sub -h {h} -p {p} -t '#' -v   and   mosquitto_pub -h {h} -p {p} -t b00t.echo.echo/task -m hello",
            h = ready.url.host,
            p = ready.url.port
        );
    }
    let _ = out.flush();
}
