//! The `b00t` binary: parses the command line, sets up logging and the one tokio
//! runtime, runs the command, and turns its outcome into an exit code. Errors are printed
//! once here, with their causes.
//!
//! Layout: `cli` (clap definitions), `cmd/*` (one file per command), `connect` (finding
//! the broker for client commands), `request` (publish a task and follow its replies),
//! `style` (colours), `shutdown` (SIGINT and SIGTERM), `out` (writes that never panic),
//! `exit` (shared exit codes).

#[macro_use]
mod out;

mod cli;
mod cmd;
mod connect;
mod exit;
mod printable;
mod request;
mod shutdown;
mod style;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.command.is_long_running());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(cmd::run(cli));
    // rumqttd has no shutdown: do not wait for its threads.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match outcome {
        Ok(code) => code,
        // The reader of stdout went away (`| head`): it has what it wanted.
        Err(e) if out::is_closed_stdout(&e) => ExitCode::SUCCESS,
        Err(e) => {
            errln!("{} {e}", style::error_label());
            for cause in e.chain().skip(1) {
                errln!("  Caused by: {cause}");
            }
            ExitCode::from(exit::refusal_code(&e).unwrap_or(2))
        }
    }
}

fn init_logging(long_running: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if long_running {
        "info,rumqttd=off"
    } else {
        "warn,rumqttd=off"
    };
    let filter =
        b00t_config::env::var(b00t_config::env::B00T_LOG).unwrap_or_else(|| default.to_owned());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new(default)))
        .with_writer(|| out::LossyStderr)
        .log_internal_errors(false)
        .with_ansi(style::colour_stderr())
        .with_target(false)
        .init();
}
