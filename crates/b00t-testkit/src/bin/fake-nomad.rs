//! `fake-nomad`: runs the test kit's fake Nomad agent by hand, for the bench, CI and people
//! trying `b00t deploy --orchestrator nomad` without a cluster. Prints its URL, stops on
//! Ctrl-C or SIGTERM.

use std::net::SocketAddr;

use b00t_testkit::nomad::FakeNomad;
use clap::Parser;
use tokio_util::sync::CancellationToken;

/// A fake Nomad agent: Nomad's job, allocation, validation and status HTTP API with
/// Nomad's JSON, every job's allocations running (batch ones complete) at once.
#[derive(Parser)]
#[command(name = "fake-nomad", version)]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:4646")]
    listen: SocketAddr,
    /// Turn ACLs on: every request but `/v1/status/*` needs this `X-Nomad-Token`.
    #[arg(long)]
    token: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let shutdown = CancellationToken::new();
    let fake = match FakeNomad::bind(args.listen, args.token.clone(), &shutdown).await {
        Ok(fake) => fake,
        Err(e) => {
            eprintln!(
                "error: cannot listen on `{}`: {e}; pass `--listen 127.0.0.1:0` for a free port",
                args.listen
            );
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("{}", fake.url());
    let acl = if args.token.is_some() {
        " and NOMAD_TOKEN to the token"
    } else {
        ""
    };
    eprintln!(
        "fake Nomad at {}; set NOMAD_ADDR={}{acl} (Ctrl-C stops)",
        fake.url(),
        fake.url()
    );
    b00t_testkit::until_signal().await;
    shutdown.cancel();
    std::process::ExitCode::SUCCESS
}
