//! `b00t up`: run the bus until SIGINT or SIGTERM.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use b00t_config::{BrokerUrl, Home};
use b00t_runtime::{Ready, UpOptions};

use crate::cli::UpArgs;
use crate::shutdown;

pub async fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let broker = args
        .broker
        .as_deref()
        .map(BrokerUrl::parse)
        .transpose()
        .context("in `--broker`")?;
    let options = UpOptions {
        listen: args.listen,
        broker,
        broker_only: args.broker_only,
    };
    let shutdown = shutdown::on_signal();
    let root = home.root().to_owned();
    let url_file = home.broker_url_file();
    let served = b00t_runtime::up(home, options, shutdown, |ready| {
        // Client commands run in this home find this bus even when `--listen` moved it.
        if let Some(dir) = url_file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = std::fs::write(&url_file, format!("{}\n", ready.url)) {
            tracing::warn!(path = %url_file.display(), error = %e, "cannot record the broker URL");
        }
        banner(ready, &root)
    })
    .await;
    let _ = std::fs::remove_file(&url_file);
    served?;
    println!("b00t stopped");
    Ok(ExitCode::SUCCESS)
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
