//! `b00t mcp wire|unwire|status`: MCP servers from the catalog (or the bus itself) written
//! into the config files of the apps people use, taken out again, and checked. The apps,
//! entries and merging are b00t-wire's; this file picks the servers and files, prints, and
//! keeps the record of what b00t wrote in `state/mcp-wired.json`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use b00t_config::home::write_private_file;
use b00t_config::{env, Home};
use b00t_datums::{Catalog, DatumType};
use b00t_wire::{
    app, apps, io, render, App, Os, Places, Records, Scope, Secrets, Server, State, WireError,
    Wired, RECORDS_FILE,
};
use clap::Args;
use serde_json::json;

use crate::cli::HomeArg;
use crate::style::{colour_stdout, Paint};

#[derive(Debug, Args)]
pub(crate) struct WireArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// The MCP datums to wire (`github`, `github.mcp`), or `b00t` for the bus itself
    /// (`b00t mcp serve`). Default: every server b00t wired before, refreshed from its datum.
    #[arg(value_name = "DATUM")]
    pub datums: Vec<String>,
    /// The app to wire into: claude-code, claude-desktop, vscode, cursor, windsurf, zed or
    /// codex (repeatable). Default: every app detected (its config folder, or its command).
    #[arg(long = "app", value_name = "APP")]
    pub apps: Vec<String>,
    /// Wire the project files under DIR (`.mcp.json`, `.vscode/mcp.json`, `.cursor/mcp.json`)
    /// instead of the user's.
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Print each file's diff and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the values of the secrets a server needs (from the environment) in clear,
    /// instead of a reference the app resolves.
    #[arg(long)]
    pub with_secrets: bool,
    /// Overwrite an entry of the same name that b00t did not write.
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Args)]
pub(crate) struct UnwireArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// The servers to take out (`github`, or `b00t`). Default: every server b00t wired.
    #[arg(value_name = "DATUM")]
    pub datums: Vec<String>,
    /// The app to unwire from (repeatable). Default: every app whose file exists.
    #[arg(long = "app", value_name = "APP")]
    pub apps: Vec<String>,
    /// Unwire the project files under DIR instead of the user's.
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Print each file's diff and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// Print JSON: one object per entry (server, datum, app, scope, file, state).
    #[arg(long)]
    pub json: bool,
}

/// One app's file to edit.
struct Target {
    app: &'static App,
    scope: Scope,
    file: PathBuf,
}

/// A file's edit, computed before anything is written.
struct Planned {
    target: Target,
    old: String,
    new: String,
    existed: bool,
}

pub(crate) async fn wire(args: WireArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let places = places()?;
    let catalog = Catalog::load(&home.datum_roots());
    let mut records = load_records(&home)?;
    let project = project_dir(args.project.as_deref())?;
    let targets = targets(&args.apps, project.as_deref(), &places, false)?;
    let names = if args.datums.is_empty() {
        let mut names: Vec<String> = Vec::new();
        for wired in &records.wired {
            if targets.iter().any(|t| t.file == wired.file) && !names.contains(&wired.datum) {
                names.push(wired.datum.clone());
            }
        }
        if names.is_empty() {
            anyhow::bail!(
                "name the MCP servers to wire, such as `b00t mcp wire github` or `b00t mcp wire b00t` (the bus itself); `b00t datum list --type mcp` lists them"
            );
        }
        names
    } else {
        args.datums.clone()
    };
    let servers = names
        .iter()
        .map(|name| server(&catalog, &home, name))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let lookup = |name: &str| env::var(name);
    let secrets = Secrets {
        in_clear: args.with_secrets,
        lookup: &lookup,
    };

    let mut planned = Vec::new();
    let mut written: Vec<(PathBuf, Vec<b00t_wire::Entry>)> = Vec::new();
    for target in targets {
        let mut entries = Vec::new();
        for server in &servers {
            match render(target.app, server, &secrets) {
                Ok(entry) => entries.push(entry),
                Err(error @ WireError::RemoteUnsupported { .. }) => {
                    errln!("{} {error}", warning());
                }
                Err(error) => return Err(error.into()),
            }
        }
        if entries.is_empty() {
            continue;
        }
        for note in entries.iter().flat_map(|entry| &entry.notes) {
            errln!("{} {}: {note}", note_label(), target.app.name);
        }
        let text = io::read(&target.file)?;
        let existed = text.is_some();
        let old = text.unwrap_or_default();
        let ours = |name: &str, _: &serde_json::Value| records.get(&target.file, name).is_some();
        let new = b00t_wire::wire(
            target.app,
            &target.file,
            &old,
            &entries,
            &ours,
            args.replace,
        )?;
        written.push((target.file.clone(), entries));
        planned.push(Planned {
            target,
            old,
            new,
            existed,
        });
    }
    if planned.is_empty() {
        anyhow::bail!("nothing to wire: no app chosen can start these servers");
    }
    apply(&planned, args.dry_run)?;
    if args.dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    for (plan, (_, entries)) in planned.iter().zip(&written) {
        for entry in entries {
            let datum = servers
                .iter()
                .find(|server| server.name == entry.name)
                .map(|server| server.datum.clone())
                .unwrap_or_else(|| entry.name.clone());
            records.put(Wired {
                app: plan.target.app.name.clone(),
                scope: plan.target.scope,
                file: plan.target.file.clone(),
                server: entry.name.clone(),
                datum,
                entry: entry.value.to_json(),
                in_clear: args.with_secrets,
            });
        }
        let names: Vec<&str> = entries.iter().map(|entry| entry.name.as_str()).collect();
        outln!(
            "wired {} into {} ({})",
            names.join(", "),
            plan.target.app.title,
            plan.target.file.display()
        )?;
    }
    save_records(&home, &records)?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn unwire(args: UnwireArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let places = places()?;
    let catalog = Catalog::load(&home.datum_roots());
    let mut records = load_records(&home)?;
    let project = project_dir(args.project.as_deref())?;
    let targets = targets(&args.apps, project.as_deref(), &places, true)?;
    let mut planned = Vec::new();
    let mut removed_by_file = Vec::new();
    for target in targets {
        let names: Vec<String> = if args.datums.is_empty() {
            records
                .wired
                .iter()
                .filter(|wired| wired.file == target.file)
                .map(|wired| wired.server.clone())
                .collect()
        } else {
            args.datums
                .iter()
                .map(|name| entry_name(&catalog, name))
                .collect()
        };
        let Some(old) = io::read(&target.file)? else {
            continue;
        };
        let ours = |name: &str, current: &serde_json::Value| {
            records.get(&target.file, name).is_some()
                || rendered(&catalog, &home, target.app, name, false).as_ref() == Some(current)
        };
        let outcome = b00t_wire::unwire(target.app, &target.file, &old, &names, &ours)?;
        for name in &outcome.kept {
            errln!(
                "{} `{name}` in {} was not written by b00t: left as it is (remove it by hand)",
                warning(),
                target.file.display()
            );
        }
        if outcome.removed.is_empty() {
            continue;
        }
        removed_by_file.push(outcome.removed);
        planned.push(Planned {
            target,
            old,
            new: outcome.text,
            existed: true,
        });
    }
    if planned.is_empty() {
        outln!("nothing to unwire: no chosen app's file has those servers from b00t")?;
        return Ok(ExitCode::SUCCESS);
    }
    apply(&planned, args.dry_run)?;
    if args.dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    for (plan, removed) in planned.iter().zip(&removed_by_file) {
        for name in removed {
            records.forget(&plan.target.file, name);
        }
        outln!(
            "unwired {} from {} ({})",
            removed.join(", "),
            plan.target.app.title,
            plan.target.file.display()
        )?;
    }
    save_records(&home, &records)?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let places = places()?;
    let catalog = Catalog::load(&home.datum_roots());
    let records = load_records(&home)?;
    let mut files: Vec<(&'static App, Scope, PathBuf)> = Vec::new();
    for app in apps() {
        let file = app.file(Scope::User, &places, None)?;
        if file.is_file() {
            files.push((app, Scope::User, file));
        }
    }
    for wired in &records.wired {
        if !files.iter().any(|(_, _, file)| file == &wired.file) {
            files.push((app(&wired.app)?, wired.scope, wired.file.clone()));
        }
    }
    let mut rows = Vec::new();
    for (app, scope, file) in &files {
        let text = io::read(file)?.unwrap_or_default();
        let doc = b00t_wire::Document::parse(app.format, file, &text)?;
        let entries = doc.entries(&app.key)?;
        let mut names: Vec<String> = entries.iter().map(|(name, _)| name.clone()).collect();
        for wired in records.wired.iter().filter(|wired| &wired.file == file) {
            if !names.contains(&wired.server) {
                names.push(wired.server.clone());
            }
        }
        for name in names {
            let record = records.get(file, &name);
            let current = entries
                .iter()
                .find(|(known, _)| known == &name)
                .map(|(_, value)| value);
            let datum = record
                .map(|wired| wired.datum.clone())
                .or_else(|| known_datum(&catalog, &name));
            let in_clear = record.is_some_and(|wired| wired.in_clear);
            let expected = datum
                .as_deref()
                .and_then(|datum| rendered(&catalog, &home, app, datum, in_clear));
            let Some(state) =
                State::of(record.map(|wired| &wired.entry), current, expected.as_ref())
            else {
                continue;
            };
            rows.push(json!({
                "server": name,
                "datum": datum,
                "app": app.name,
                "scope": scope.as_str(),
                "file": file,
                "state": state.as_str(),
            }));
        }
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        outln!("no MCP servers in any app's file: `b00t mcp wire <datum>` writes one")?;
        return Ok(ExitCode::SUCCESS);
    }
    let colour = colour_stdout();
    let width = |field: &str| {
        rows.iter()
            .map(|row| row[field].as_str().unwrap_or("").len())
            .max()
            .unwrap_or(0)
    };
    let (server_width, app_width) = (width("server").max(6), width("app").max(3));
    outln!(
        "{:server_width$}  {:app_width$}  {:7}  {:10}  FILE",
        "SERVER",
        "APP",
        "SCOPE",
        "STATE"
    )?;
    for row in &rows {
        let state = row["state"].as_str().unwrap_or("");
        let paint = match state {
            "ok" => Paint::Green,
            "differs" | "missing" => Paint::Yellow,
            _ => Paint::Dim,
        };
        outln!(
            "{:server_width$}  {:app_width$}  {:7}  {}  {}",
            row["server"].as_str().unwrap_or(""),
            row["app"].as_str().unwrap_or(""),
            row["scope"].as_str().unwrap_or(""),
            paint.paint(colour, &format!("{state:10}")),
            row["file"].as_str().unwrap_or("")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Where the apps' files are: $HOME, $XDG_CONFIG_HOME (else ~/.config), this OS, $PATH.
fn places() -> anyhow::Result<Places> {
    let home = env::var(env::HOME)
        .map(PathBuf::from)
        .context("`HOME` is not set: b00t finds the apps' files under the user's home")?;
    let config_home = env::var(env::XDG_CONFIG_HOME)
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".config"));
    let os = Os::current().ok_or(WireError::UnsupportedOs)?;
    let path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    Ok(Places {
        home,
        config_home,
        os,
        path,
    })
}

fn project_dir(project: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    let Some(project) = project else {
        return Ok(None);
    };
    if !project.is_dir() {
        anyhow::bail!(
            "project folder `{}` does not exist: pass the folder the app opens",
            project.display()
        );
    }
    Ok(Some(std::path::absolute(project).with_context(|| {
        format!("`{}`: cannot make the path absolute", project.display())
    })?))
}

/// The files to edit: the apps named, else every app detected (for `unwire`: every app
/// whose file exists); the project's files with `--project`.
fn targets(
    names: &[String],
    project: Option<&Path>,
    places: &Places,
    existing_only: bool,
) -> anyhow::Result<Vec<Target>> {
    let scope = if project.is_some() {
        Scope::Project
    } else {
        Scope::User
    };
    let mut targets = Vec::new();
    if !names.is_empty() {
        for name in names {
            let app = app(name)?;
            if targets.iter().any(|t: &Target| t.app.name == app.name) {
                continue;
            }
            targets.push(Target {
                app,
                scope,
                file: app.file(scope, places, project)?,
            });
        }
        return Ok(targets);
    }
    for app in apps() {
        if scope == Scope::Project && app.project.is_none() {
            continue;
        }
        let file = app.file(scope, places, project)?;
        let chosen = if existing_only {
            file.is_file()
        } else {
            app.detected(places) || file.is_file()
        };
        if chosen {
            targets.push(Target { app, scope, file });
        }
    }
    if targets.is_empty() && !existing_only {
        anyhow::bail!(
            "no app detected (none of their config folders or commands was found): name one with --app ({})",
            b00t_wire::app_names()
        );
    }
    Ok(targets)
}

/// The server `name` names: `b00t` is the bus, anything else an MCP datum.
fn server(catalog: &Catalog, home: &Home, name: &str) -> anyhow::Result<Server> {
    if name == "b00t" {
        let b00t = std::env::current_exe().context("cannot tell where this b00t binary is")?;
        let root = std::path::absolute(home.root()).unwrap_or_else(|_| home.root().to_owned());
        return Ok(Server::bus(&b00t, &root));
    }
    let datum = catalog.find(name, Some(&DatumType::Mcp))?;
    Ok(Server::from_datum(datum)?)
}

/// The entry name a datum is wired under (its name); the name as given when no such datum
/// is left, so that an entry can be unwired after its datum is gone.
fn entry_name(catalog: &Catalog, name: &str) -> String {
    if name == "b00t" {
        return name.to_owned();
    }
    match catalog.find(name, Some(&DatumType::Mcp)) {
        Ok(datum) => datum.name.clone(),
        Err(_) => name.split('.').next().unwrap_or(name).to_owned(),
    }
}

/// The MCP datum an entry's name matches, if any.
fn known_datum(catalog: &Catalog, name: &str) -> Option<String> {
    if name == "b00t" {
        return None;
    }
    catalog
        .iter()
        .find(|datum| datum.kind == DatumType::Mcp && datum.name == name)
        .map(|datum| datum.id.to_string())
}

/// What `datum` renders as in `app` now, as JSON.
fn rendered(
    catalog: &Catalog,
    home: &Home,
    app: &App,
    datum: &str,
    in_clear: bool,
) -> Option<serde_json::Value> {
    let server = server(catalog, home, datum).ok()?;
    let lookup = |name: &str| env::var(name);
    let secrets = Secrets {
        in_clear,
        lookup: &lookup,
    };
    render(app, &server, &secrets)
        .ok()
        .map(|entry| entry.value.to_json())
}

/// Prints each diff (dry run), or writes each file: every file is checked writable before
/// the first is written, so a read-only one stops the whole wire before any change.
fn apply(planned: &[Planned], dry_run: bool) -> anyhow::Result<()> {
    if dry_run {
        for plan in planned {
            let diff = b00t_wire::unified(&plan.target.file, &plan.old, &plan.new);
            if diff.is_empty() {
                outln!("{}: no change", plan.target.file.display())?;
            } else {
                out!("{diff}")?;
            }
        }
        errln!("dry run: nothing was written");
        return Ok(());
    }
    for plan in planned {
        if plan.new != plan.old || !plan.existed {
            io::check_writable(&plan.target.file)?;
        }
    }
    for plan in planned {
        if plan.new == plan.old && plan.existed {
            continue;
        }
        io::write_atomic(&plan.target.file, &plan.new)?;
        if plan.existed {
            errln!(
                "{} the previous {} is kept as {}",
                note_label(),
                plan.target.file.display(),
                io::backup_path(&plan.target.file).display()
            );
        }
    }
    Ok(())
}

fn records_file(home: &Home) -> anyhow::Result<PathBuf> {
    Ok(home.state_dir()?.join(RECORDS_FILE))
}

fn load_records(home: &Home) -> anyhow::Result<Records> {
    let path = records_file(home)?;
    Ok(io::read(&path)?
        .map(|text| Records::from_json(&text))
        .unwrap_or_default())
}

fn save_records(home: &Home, records: &Records) -> anyhow::Result<()> {
    let path = records_file(home)?;
    write_private_file(&path, records.to_json().as_bytes())
        .with_context(|| format!("cannot write `{}`", path.display()))
}

fn warning() -> String {
    Paint::Yellow.paint(crate::style::colour_stderr(), "warning:")
}

fn note_label() -> String {
    Paint::Dim.paint(crate::style::colour_stderr(), "note:")
}
