//! `b00t bench`: placeholder replaced below.
use crate::cli::BenchArgs;
use std::process::ExitCode;
pub async fn run(_args: BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`b00t bench` is being written")
}
