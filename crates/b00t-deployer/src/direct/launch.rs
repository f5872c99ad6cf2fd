//! Starting one supervised process: its program found before anything starts, its folder
//! (`<project>/<name>/`, 0700) as the working directory, exactly its plan's environment
//! (plus `PATH` and `HOME` when unset), stdin null, stdout and stderr pumped into its log,
//! and its own process group, so that a stop reaches everything it started.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use b00t_deploy::adapters::direct::DirectProcess;
use b00t_deploy::intent::WorkloadRole;
use b00t_installer::runner::Program;
use rustix::process::{kill_process_group, Pid, Signal};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::direct::log::{self, LogFile, SharedLog};
use crate::error::DeployerError;

/// What a monitor needs to start its process, again at each restart.
#[derive(Debug)]
pub(crate) struct Launch {
    /// The program as the plan names it (a relative path made absolute).
    pub(crate) program: String,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) cwd: PathBuf,
    pub(crate) log_path: PathBuf,
    pub(crate) log: SharedLog,
}

/// A started child and the two tasks copying its output into the log.
#[derive(Debug)]
pub(crate) struct Started {
    pub(crate) child: Child,
    /// Also its process group's id.
    pub(crate) pid: u32,
    pub(crate) pumps: Vec<JoinHandle<()>>,
}

/// `service` or `job`, as progress lines and errors say it.
pub(crate) fn role_word(role: WorkloadRole) -> &'static str {
    match role {
        WorkloadRole::Service => "service",
        WorkloadRole::Job => "job",
    }
}

/// How the process's command reads to a person (`busybox httpd -f -p …`).
pub(crate) fn command_line(spec: &DirectProcess) -> String {
    let args: Vec<&str> = spec.args.iter().map(String::as_str).collect();
    Program::new(&spec.program, &args).display()
}

/// The PATH the process gets: its plan's, else the supervisor's own (with the user bin
/// folders the installer writes to).
fn search_path(spec: &DirectProcess) -> OsString {
    match spec.env.get("PATH") {
        Some(path) => OsString::from(path),
        None => b00t_installer::env::search_path(),
    }
}

/// The program `spec` runs, checked before anything starts: a name must be an
/// executable on its PATH, a path an executable file (a relative one is taken from the
/// supervisor's working directory and made absolute).
pub(crate) fn find_program(spec: &DirectProcess) -> Result<String, DeployerError> {
    let role = role_word(spec.role);
    let missing = |message: String| DeployerError::Tool {
        command: spec.program.clone(),
        message,
    };
    if spec.program.is_empty() {
        return Err(missing(format!(
            "{role} `{}` has no program: give it one in the datum's [b00t.local] command",
            spec.name
        )));
    }
    if spec.program.contains('/') {
        let path =
            std::path::absolute(&spec.program).unwrap_or_else(|_| PathBuf::from(&spec.program));
        if b00t_datums::command_on(OsStr::new(""), &path.to_string_lossy()) {
            return Ok(path.to_string_lossy().into_owned());
        }
        return Err(missing(format!(
            "cannot start {role} `{}`: {} is not an executable file; install it, or fix the path in the datum's [b00t.local] command",
            spec.name,
            path.display()
        )));
    }
    let search = search_path(spec);
    if b00t_datums::command_on(&search, &spec.program) {
        return Ok(spec.program.clone());
    }
    Err(missing(format!(
        "cannot start {role} `{}`: no program `{}` on PATH `{}`; install it (a cli member of the stack installs it first), or give its full path in the datum's [b00t.local] command",
        spec.name,
        spec.program,
        search.to_string_lossy()
    )))
}

/// Creates `dir` and its missing parents with mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), DeployerError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| DeployerError::io("create the folder", dir, e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| DeployerError::io("make private the folder", dir, e))
}

impl Launch {
    /// Makes the process's folder and opens its log under `project_dir`, for `program`
    /// (what [`find_program`] found).
    pub(crate) fn prepare(
        project_dir: &Path,
        spec: &DirectProcess,
        program: String,
    ) -> Result<Launch, DeployerError> {
        let cwd = project_dir.join(&spec.name);
        create_private_dir(&cwd)?;
        let log_path = project_dir.join(format!("{}.log", spec.name));
        let log = LogFile::open(&log_path, log::LOG_CAP_BYTES)
            .map_err(|e| DeployerError::io("open the log", &log_path, e))?
            .shared();
        let mut env: Vec<(OsString, OsString)> = spec
            .env
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect();
        if !spec.env.contains_key("PATH") {
            env.push(("PATH".into(), search_path(spec)));
        }
        if !spec.env.contains_key("HOME") {
            if let Some(home) = std::env::var_os(b00t_config::env::HOME) {
                env.push(("HOME".into(), home));
            }
        }
        Ok(Launch {
            program,
            args: spec.args.clone(),
            env,
            cwd,
            log_path,
            log,
        })
    }

    /// Starts the process in its own group, its output pumped into the log.
    pub(crate) fn spawn(&self) -> std::io::Result<Started> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        let mut child = command.spawn()?;
        let Some(pid) = child.id() else {
            return Err(std::io::Error::other(
                "the child was gone before it could be watched",
            ));
        };
        // Read by `reap_orphans` after a runtime that died without stopping its
        // processes (kill -9): the pid, next to the folder it runs in.
        let pid_file = self.cwd.with_extension("pid");
        if let Err(e) = b00t_config::home::write_private_file(&pid_file, pid.to_string().as_bytes())
        {
            tracing::warn!(
                "{}: {e}; a process left by a killed runtime cannot be found again",
                pid_file.display()
            );
        }
        let mut pumps = Vec::with_capacity(2);
        if let Some(out) = child.stdout.take() {
            pumps.push(tokio::spawn(log::pump(out, self.log.clone())));
        }
        if let Some(err) = child.stderr.take() {
            pumps.push(tokio::spawn(log::pump(err, self.log.clone())));
        }
        Ok(Started { child, pid, pumps })
    }

    /// Writes one line of the supervisor's own into the log.
    pub(crate) fn mark(&self, line: &str) {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .mark(line);
    }
}

/// Sends `signal` to the process group `pid` leads; a group already gone is fine.
pub(crate) fn signal_group(pid: u32, signal: Signal) {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return;
    };
    let _ = kill_process_group(pid, signal);
}

/// The exit code, 128 + the signal when a signal ended it.
pub(crate) fn exit_code(status: ExitStatus) -> i64 {
    status
        .code()
        .map(i64::from)
        .or_else(|| status.signal().map(|s| 128 + i64::from(s)))
        .unwrap_or(-1)
}

/// Kills what a runtime that died without stopping its processes left running under
/// `state_dir` (`<project>/<name>.pid`): a pid whose process still runs in that
/// process's own folder (or below it) is one of ours, so its whole group gets SIGKILL; a pid that is
/// gone or runs elsewhere (reused) is only forgotten. Returns what it killed.
pub(crate) fn reap_orphans(state_dir: &Path) -> Vec<String> {
    let mut killed = Vec::new();
    let Ok(projects) = std::fs::read_dir(state_dir) else {
        return killed;
    };
    for project in projects.flatten() {
        let Ok(files) = std::fs::read_dir(project.path()) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            if path.extension().is_none_or(|e| e != "pid") {
                continue;
            }
            let pid = std::fs::read_to_string(&path)
                .ok()
                .and_then(|text| text.trim().parse::<u32>().ok());
            let folder = path.with_extension("");
            if let Some(pid) = pid {
                let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
                // Its own folder or one below it (httpd -h www moves into www).
                let ours = cwd.is_some_and(|cwd| {
                    std::fs::canonicalize(&folder).is_ok_and(|folder| cwd.starts_with(folder))
                });
                if ours {
                    signal_group(pid, Signal::KILL);
                    // Its ports are free once it is gone: wait for that, a little.
                    for _ in 0..40 {
                        if !Path::new(&format!("/proc/{pid}")).exists() {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                    killed.push(format!("pid {pid} in {}", folder.display()));
                }
            }
            let _ = std::fs::remove_file(&path);
        }
    }
    killed
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use b00t_deploy::intent::Restart;

    use super::*;

    fn process(program: &str, env: &[(&str, &str)]) -> DirectProcess {
        DirectProcess {
            name: "web".into(),
            role: WorkloadRole::Service,
            program: program.into(),
            args: vec!["-f".into(), "two words".into()],
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            host: "127.0.0.1".into(),
            ports: vec![],
            restart: Restart::No,
            wait_for: vec![],
        }
    }

    #[test]
    fn a_program_is_found_on_the_plans_path_or_named_with_that_path() {
        assert_eq!(find_program(&process("sh", &[])).unwrap(), "sh");
        assert_eq!(find_program(&process("/bin/sh", &[])).unwrap(), "/bin/sh");
        let e = find_program(&process("sh", &[("PATH", "/nowhere-b00t")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no program `sh` on PATH `/nowhere-b00t`") && e.contains("service `web`"),
            "{e}"
        );
        let e = find_program(&process("/no/such/b00t-prog", &[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/no/such/b00t-prog is not an executable file"),
            "{e}"
        );
        let e = find_program(&process("", &[])).unwrap_err().to_string();
        assert!(e.contains("has no program"), "{e}");
    }

    #[test]
    fn the_environment_is_the_plans_plus_path_and_home_when_unset() {
        let dir = tempfile::tempdir().unwrap();
        let spec = process("sh", &[("GREETING", "hi"), ("HOME", "/elsewhere")]);
        let launch = Launch::prepare(dir.path(), &spec, "sh".into()).unwrap();
        let keys: Vec<String> = launch
            .env
            .iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert_eq!(keys, ["GREETING", "HOME", "PATH"]);
        assert!(launch.env.contains(&("HOME".into(), "/elsewhere".into())));
        let mode = std::fs::metadata(dir.path().join("web"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        assert_eq!(launch.log_path, dir.path().join("web.log"));
    }

    #[test]
    fn the_command_line_quotes_what_has_spaces() {
        assert_eq!(command_line(&process("httpd", &[])), "httpd -f 'two words'");
    }
}
