//! `fake-ollama`: runs the test kit's fake Ollama by hand, for the README, CI and people
//! trying b00t without a model. Prints its URL, answers "echo: <message>", stops on
//! Ctrl-C or SIGTERM.

use std::net::SocketAddr;

use b00t_testkit::{FakeOllama, DEFAULT_MODEL};
use clap::Parser;
use tokio_util::sync::CancellationToken;

/// A fake Ollama server: `/api/tags` and `/api/chat` with Ollama's JSON, answering
/// "echo: <last user message>".
#[derive(Parser)]
#[command(name = "fake-ollama", version)]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:11434")]
    listen: SocketAddr,
    /// A model to serve (repeatable).
    #[arg(long = "model", default_value = DEFAULT_MODEL)]
    models: Vec<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let shutdown = CancellationToken::new();
    let fake = match FakeOllama::bind(args.listen, args.models.clone(), &shutdown).await {
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
    eprintln!(
        "fake Ollama serving {} at {}; set OLLAMA_BASE_URL={} (Ctrl-C stops)",
        args.models.join(", "),
        fake.url(),
        fake.url()
    );
    b00t_testkit::until_signal().await;
    shutdown.cancel();
    std::process::ExitCode::SUCCESS
}
