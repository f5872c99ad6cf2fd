//! The `b00t` binary: parses the command line, sets up logging and the one tokio
//! runtime, runs the command, and turns its outcome into an exit code. Errors are printed
//! once here, with their causes.
//!
//! Layout: `allocator` (the global allocator), `cli` (clap definitions), `cmd/*` (one
//! file per command), `connect` (finding the broker for client commands), `request`
//! (publish a task and follow its replies), `style` (colours), `shutdown` (SIGINT and
//! SIGTERM), `out` (writes that never panic), `exit` (shared exit codes).

#[macro_use]
mod out;

mod allocator;
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
    allocator::tune();
    let cli = cli::Cli::parse();
    init_logging(cli.command.is_long_running());
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers(available))
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

/// Most of the runtime's worker threads. The bus's heavy stages are single threads of
/// their own (rumqttd's router, the journal's writer), so workers past four add little
/// but memory: each thread that allocates gets a heap of its own that keeps some of what
/// it freed. Measured (`b00t bench`, 200,000-task flood, peak RSS) with glibc's malloc:
/// 52 MiB with 2 or 4 workers, 58 MiB with 8, 66 MiB with 16, past the README's 64 MiB
/// target; with mimalloc (`allocator`), 50–51 MiB with 2, 53.8 with 4, 59.6 with 8.
/// Pipelined tasks/s with 4 workers on 2 cores as with 2.
const MAX_WORKERS: usize = 4;

/// Worker threads for a machine with `available` cores.
fn workers(available: usize) -> usize {
    available.clamp(1, MAX_WORKERS)
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

#[cfg(test)]
mod tests {
    #[test]
    fn one_worker_per_core_up_to_four() {
        let got: Vec<usize> = [0, 1, 2, 3, 4, 5, 16, 128]
            .into_iter()
            .map(super::workers)
            .collect();
        assert_eq!(got, [1, 1, 2, 3, 4, 4, 4, 4]);
    }
}
