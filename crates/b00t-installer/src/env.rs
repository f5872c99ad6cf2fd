//! The environment installs and checks see: the process's own, with the per-user bin
//! folders that installers write to (`~/.local/bin` for pip and uv, `~/.cargo/bin`) added
//! to PATH, so that a tool installed a step ago is found by the next step and by its
//! check without a new login shell.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use b00t_datums::{command_on, Environment, SystemEnv};

/// PATH for child processes: the process's PATH, then the user bin folders it lacks.
pub fn search_path() -> OsString {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os(b00t_config::env::HOME) {
        for extra in [".local/bin", ".cargo/bin"] {
            let dir = Path::new(&home).join(extra);
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

/// [`SystemEnv`], but looking for commands on [`search_path`].
#[derive(Clone, Copy, Debug, Default)]
pub struct InstallEnv;

impl Environment for InstallEnv {
    fn var(&self, name: &str) -> Option<String> {
        SystemEnv.var(name)
    }

    fn os_ids(&self) -> Vec<String> {
        SystemEnv.os_ids()
    }

    fn has_command(&self, cmd: &str) -> bool {
        command_on(&search_path(), cmd)
    }
}
