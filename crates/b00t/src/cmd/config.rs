//! `b00t config`: the effective configuration of the home, defaults included.

use std::process::ExitCode;

use b00t_config::{Config, Home, DEFAULT_CONFIG};

use crate::cli::ConfigArgs;

pub(super) fn run(args: ConfigArgs) -> anyhow::Result<ExitCode> {
    if args.default {
        out!("{DEFAULT_CONFIG}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let home = Home::resolve(args.home.home.as_deref())?;
    let file = home.root().join(Config::FILE_NAME);
    let source = if file.is_file() {
        file.display().to_string()
    } else {
        "defaults only: no b00t.toml".to_owned()
    };
    outln!("# home: {}", home.root().display())?;
    outln!("# from: {source}")?;
    out!("{}", home.config().to_toml())?;
    Ok(ExitCode::SUCCESS)
}
