//! Wiring as a message: an `mcp` install task with `"wire": ["cursor", …]` writes the
//! installed server into those apps' user files, after the install and under its verdict
//! (a refused or failed install wires nothing; a dry run shows each file's diff). Secrets
//! are never written in clear from a message. What was written is recorded in the home's
//! `state/mcp-wired.json`, as `b00t mcp wire` does, so `b00t mcp status` and `unwire` see it.

use std::path::{Path, PathBuf};

use b00t_datums::Datum;
use b00t_wire::{app, io, render, Places, Records, Scope, Secrets, Server, Wired, RECORDS_FILE};
use serde_json::{json, Value};

/// Checks the app names of a request before anything is installed.
pub fn check_apps(apps: &[String]) -> Result<(), String> {
    for name in apps {
        app(name).map_err(|e| format!("install task body: `wire`: {e}"))?;
    }
    Ok(())
}

/// Where the apps' files are for the installer's process: its HOME and XDG_CONFIG_HOME.
pub fn places() -> Result<Places, String> {
    use b00t_config::env;
    let home = env::var(env::HOME)
        .map(PathBuf::from)
        .ok_or("`HOME` is not set for the installer: it cannot find the apps' files")?;
    let config_home = env::var(env::XDG_CONFIG_HOME)
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".config"));
    let os = b00t_wire::Os::current().ok_or("no app files are known on this operating system")?;
    Ok(Places {
        home,
        config_home,
        os,
        path: Vec::new(),
    })
}

/// Held while a wiring reads, merges and writes the apps' files and the records: two tasks
/// wiring at once (other datums, the same app) would otherwise each write the file as it
/// was before the other, and one server would be lost.
static WIRING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Wires `datum` into each app's user file (or, with `dry_run`, returns the diffs only):
/// `{"wired": [{"app", "file"}], "notes": […]}`, or `{"diffs": [{"app", "file", "diff"}]}`.
pub fn wire(
    datum: &Datum,
    apps: &[String],
    places: &Places,
    state_dir: &Path,
    dry_run: bool,
) -> Result<Value, String> {
    // A panic while held poisons nothing that matters: the files are re-read each time.
    let _turn = WIRING.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::from_datum(datum).map_err(|e| e.to_string())?;
    let records_file = state_dir.join(RECORDS_FILE);
    let mut records = io::read(&records_file)
        .map_err(|e| e.to_string())?
        .map(|text| Records::from_json(&text))
        .unwrap_or_default();
    let secrets = Secrets {
        in_clear: false,
        lookup: &|_| None,
    };
    let mut edits = Vec::new();
    let mut notes = Vec::new();
    for name in apps {
        let app = app(name).map_err(|e| e.to_string())?;
        let entry = render(app, &server, &secrets).map_err(|e| e.to_string())?;
        notes.extend(entry.notes.iter().map(|note| format!("{name}: {note}")));
        let file = app
            .file(Scope::User, places, None)
            .map_err(|e| e.to_string())?;
        let old = io::read(&file)
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let ours = |name: &str, _: &Value| records.get(&file, name).is_some();
        let new = b00t_wire::wire(app, &file, &old, std::slice::from_ref(&entry), &ours, false)
            .map_err(|e| e.to_string())?;
        edits.push((app, file, old, new, entry));
    }
    if dry_run {
        let diffs: Vec<Value> = edits
            .iter()
            .map(|(app, file, old, new, _)| {
                json!({"app": app.name, "file": file, "diff": b00t_wire::unified(file, old, new)})
            })
            .collect();
        return Ok(json!({"diffs": diffs, "notes": notes}));
    }
    for (_, file, old, new, _) in &edits {
        if old != new || old.is_empty() {
            io::check_writable(file).map_err(|e| e.to_string())?;
        }
    }
    let mut wired = Vec::new();
    for (app, file, old, new, entry) in edits {
        if old != new || old.is_empty() {
            io::write_atomic(&file, &new).map_err(|e| e.to_string())?;
        }
        records.put(Wired {
            app: app.name.clone(),
            scope: Scope::User,
            file: file.clone(),
            server: entry.name.clone(),
            datum: server.datum.clone(),
            entry: entry.value.to_json(),
            in_clear: false,
        });
        wired.push(json!({"app": app.name, "file": file}));
    }
    b00t_config::home::write_private_file(&records_file, records.to_json().as_bytes())
        .map_err(|e| format!("`{}`: {e}", records_file.display()))?;
    Ok(json!({"wired": wired, "notes": notes}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mcp_datum(name: &str) -> Datum {
        Datum::from_toml(
            Path::new(&format!("d/{name}.mcp.toml")),
            Path::new("d"),
            &format!("[b00t]\nname = \"{name}\"\ntype = \"mcp\"\nhint = \"h\"\n[[b00t.mcp.stdio]]\ncommand = \"npx\"\nargs = [\"{name}\"]\n"),
        )
        .unwrap()
    }

    /// A Linux user home and a state folder under `dir`.
    fn temp_places(dir: &Path) -> (Places, std::path::PathBuf) {
        let places = Places {
            home: dir.join("user"),
            config_home: dir.join("user/.config"),
            os: b00t_wire::Os::Linux,
            path: Vec::new(),
        };
        let state = dir.join("state");
        std::fs::create_dir_all(&state).unwrap();
        (places, state)
    }

    #[test]
    fn servers_wired_at_once_into_one_file_are_all_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (places, state) = temp_places(dir.path());
        let names: Vec<String> = (0..8).map(|i| format!("s{i}")).collect();
        std::thread::scope(|scope| {
            for name in &names {
                let (places, state) = (&places, &state);
                scope.spawn(move || {
                    wire(
                        &mcp_datum(name),
                        &["cursor".to_owned()],
                        places,
                        state,
                        false,
                    )
                    .unwrap()
                });
            }
        });
        let cursor: Value = serde_json::from_str(
            &std::fs::read_to_string(places.home.join(".cursor/mcp.json")).unwrap(),
        )
        .unwrap();
        let records =
            Records::from_json(&std::fs::read_to_string(state.join(RECORDS_FILE)).unwrap());
        for name in &names {
            assert_eq!(
                cursor["mcpServers"][name]["args"][0],
                name.as_str(),
                "{cursor}"
            );
        }
        assert_eq!(records.wired.len(), names.len());
    }

    #[test]
    fn an_installed_server_is_wired_and_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let (places, state) = temp_places(dir.path());
        let datum = Datum::from_toml(
            Path::new("d/gh.mcp.toml"),
            Path::new("d"),
            "[b00t]\nname = \"gh\"\ntype = \"mcp\"\nhint = \"h\"\n\
             [[b00t.mcp.stdio]]\ncommand = \"npx\"\nargs = [\"gh\"]\nrequires = [\"GH_TOKEN\"]\n",
        )
        .unwrap();
        let apps = ["cursor".to_owned(), "codex".to_owned()];
        let shown = wire(&datum, &apps, &places, &state, true).unwrap();
        assert!(shown["diffs"][0]["diff"]
            .as_str()
            .unwrap()
            .contains("+    \"gh\": {"));
        assert!(!places.home.join(".cursor/mcp.json").exists());

        let done = wire(&datum, &apps, &places, &state, false).unwrap();
        assert_eq!(done["wired"][1]["app"], "codex");
        let cursor = std::fs::read_to_string(places.home.join(".cursor/mcp.json")).unwrap();
        assert!(
            cursor.contains("\"GH_TOKEN\": \"${env:GH_TOKEN}\""),
            "{cursor}"
        );
        let records =
            Records::from_json(&std::fs::read_to_string(state.join(RECORDS_FILE)).unwrap());
        assert_eq!(records.wired.len(), 2);
        assert!(check_apps(&["emacs".to_owned()])
            .unwrap_err()
            .contains("`emacs`"));
    }
}
