//! The deploy bench's temporary home: the starter stack's datum files copied from the
//! catalog of the home the bench runs from (so that it measures what users run), with
//! the compose project renamed and the web port moved to a free one, so that it never
//! meets a user's own `starter`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use b00t_datums::{Catalog, DatumType};
use b00t_deploy::refs::Vars;
use b00t_deploy::Intent;

/// The stack the bench deploys.
pub(super) const STACK: &str = "starter";
/// The starter web datum's own variable for its published port (a datum's variable,
/// not one of b00t's: `env.rs` does not declare it).
pub(super) const WEB_PORT_VAR: &str = "STARTER_WEB_PORT";

/// The bench's home, ready for `b00t up`.
pub(super) struct BenchHome {
    /// Removed when dropped; handed to the runtime child, which then owns it.
    pub dir: tempfile::TempDir,
    /// The datum files copied, where they were read.
    pub copied: Vec<PathBuf>,
}

/// Copies the stack `STACK` and every datum it runs from `catalog` into a new
/// temporary home, with `project` as its compose project and `web_port` as the default
/// of `${STARTER_WEB_PORT:-…}`; writes its `b00t.toml` (no echo agent, no CI agents).
pub(super) fn prepare(
    catalog: &Catalog,
    source: &Path,
    project: &str,
    web_port: u16,
) -> anyhow::Result<BenchHome> {
    let stack = catalog
        .find(STACK, Some(&DatumType::Stack))
        .ok()
        .filter(|d| d.kind == DatumType::Stack)
        .with_context(|| {
            format!(
                "the home `{}` has no `{STACK}` stack in its catalog, which `bench --deploy` deploys: run it from a b00t home whose `datums/` holds starter.stack.toml, starter-web.docker.toml and starter-check.job.toml (or set B00T_HOME to one)",
                source.display()
            )
        })?;
    let intent = Intent::from_catalog(catalog, STACK, &vars(web_port))
        .with_context(|| format!("reading the `{STACK}` stack of `{}`", source.display()))?;
    let mut files: Vec<PathBuf> = vec![stack.path.clone()];
    let ids = intent
        .workloads
        .iter()
        .map(|w| &w.datum)
        .chain(&intent.installs);
    for id in ids {
        let datum = catalog.get(id).with_context(|| {
            format!("datum `{id}` of the `{STACK}` stack is not in the catalog")
        })?;
        files.push(datum.path.clone());
    }
    for name in &intent.stacks {
        if let Ok(datum) = catalog.find(name, Some(&DatumType::Stack)) {
            files.push(datum.path.clone());
        }
    }
    let mut seen = BTreeSet::new();
    files.retain(|f| seen.insert(f.clone()));

    let dir = tempfile::Builder::new()
        .prefix("b00t-bench-deploy-")
        .tempdir()
        .context("cannot make a temporary home for the deploy bench")?;
    let datums = dir.path().join("datums");
    std::fs::create_dir(&datums)
        .with_context(|| format!("cannot create `{}`", datums.display()))?;
    for file in &files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read `{}`", file.display()))?;
        let mut text = with_port_default(&text, web_port);
        if *file == stack.path {
            text = with_project(&text, project);
        }
        let name = file
            .file_name()
            .with_context(|| format!("`{}` has no file name", file.display()))?;
        let target = datums.join(name);
        std::fs::write(&target, text)
            .with_context(|| format!("cannot write `{}`", target.display()))?;
    }
    let config = dir.path().join("b00t.toml");
    std::fs::write(&config, "[agents]\necho = false\n[ci]\nenabled = false\n")
        .with_context(|| format!("cannot write `{}`", config.display()))?;

    // What the runtime will read: the project renamed, every published port moved.
    let copied = Catalog::load(&[datums]);
    let check = Intent::from_catalog(&copied, STACK, &vars(web_port))
        .context("reading the bench's copy of the starter stack")?;
    anyhow::ensure!(
        check.project == project,
        "the bench's copy of `{STACK}` deploys as project `{}`, not `{project}`: its `[b00t.stack] project` could not be rewritten",
        check.project
    );
    for workload in &check.workloads {
        for port in &workload.ports {
            if let Some(host) = port.host.filter(|p| *p != 0 && *p != web_port) {
                anyhow::bail!(
                    "`{}` of the `{STACK}` stack publishes port {host}, which the bench cannot move (it moves only `${{{WEB_PORT_VAR}:-…}}`), so it could meet a starter of your own; publish it as `${{{WEB_PORT_VAR}:-{host}}}`",
                    workload.datum
                );
            }
        }
    }
    Ok(BenchHome { dir, copied: files })
}

/// The variables the bench's deploys see: the environment, with the web port set.
pub(super) fn vars(web_port: u16) -> Vars {
    let mut vars = Vars::from_env();
    vars.0.insert(WEB_PORT_VAR.to_owned(), web_port.to_string());
    vars
}

/// `text` (a stack datum) with `[b00t.stack] project = "<project>"`: the line replaced
/// where there is one, added to the table where it lacks one, the table added where
/// there is none.
pub(super) fn with_project(text: &str, project: &str) -> String {
    let wanted = format!("project = \"{project}\"");
    let mut out = Vec::new();
    let mut in_stack = false;
    let mut done = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            if in_stack && !done {
                out.push(wanted.clone());
                done = true;
            }
            in_stack = trimmed.trim_end_matches(|c: char| c != ']') == "[b00t.stack]";
            out.push(line.to_owned());
            continue;
        }
        let is_project = trimmed
            .strip_prefix("project")
            .is_some_and(|rest| rest.trim_start().starts_with('='));
        if in_stack && !done && is_project {
            out.push(wanted.clone());
            done = true;
            continue;
        }
        out.push(line.to_owned());
    }
    if !done {
        if in_stack {
            out.push(wanted);
        } else {
            out.push(String::new());
            out.push("[b00t.stack]".to_owned());
            out.push(wanted);
        }
    }
    let mut joined = out.join("\n");
    joined.push('\n');
    joined
}

/// `text` with every `${STARTER_WEB_PORT:-<default>}` defaulting to `port`.
pub(super) fn with_port_default(text: &str, port: u16) -> String {
    let open = format!("${{{WEB_PORT_VAR}:-");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        let Some(close) = after.find('}') else {
            break;
        };
        out.push_str(&rest[..at]);
        out.push_str(&open);
        out.push_str(&port.to_string());
        out.push('}');
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_line_is_replaced_in_its_table_only() {
        let text = "[b00t]\nname = \"starter\"\nproject = \"not-this\"\n\n[b00t.stack]\n# The compose project.\nproject = \"starter\"\n\n[b00t.env]\nGREETING = \"hi\"\n";
        let expected = "[b00t]\nname = \"starter\"\nproject = \"not-this\"\n\n[b00t.stack]\n# The compose project.\nproject = \"b00t-bench-7\"\n\n[b00t.env]\nGREETING = \"hi\"\n";
        assert_eq!(with_project(text, "b00t-bench-7"), expected);
    }

    #[test]
    fn a_missing_project_line_or_table_is_added() {
        assert_eq!(
            with_project(
                "[b00t.stack]\nnamespace = \"x\"\n[b00t.env]\nA = \"1\"\n",
                "p"
            ),
            "[b00t.stack]\nnamespace = \"x\"\nproject = \"p\"\n[b00t.env]\nA = \"1\"\n"
        );
        assert_eq!(
            with_project("[b00t]\nname = \"s\"\n[b00t.stack]\n", "p"),
            "[b00t]\nname = \"s\"\n[b00t.stack]\nproject = \"p\"\n"
        );
        assert_eq!(
            with_project("[b00t]\nname = \"s\"\n", "p"),
            "[b00t]\nname = \"s\"\n\n[b00t.stack]\nproject = \"p\"\n"
        );
    }

    #[test]
    fn the_port_default_moves_and_nothing_else() {
        let text =
            r#"docker_args = ["-p", "127.0.0.1:${STARTER_WEB_PORT:-18080}:8080", "${OTHER:-1}"]"#;
        assert_eq!(
            with_port_default(text, 40001),
            r#"docker_args = ["-p", "127.0.0.1:${STARTER_WEB_PORT:-40001}:8080", "${OTHER:-1}"]"#
        );
        assert_eq!(with_port_default("no port here", 1), "no port here");
        assert_eq!(
            with_port_default("${STARTER_WEB_PORT:-1} ${STARTER_WEB_PORT:-2}", 9),
            "${STARTER_WEB_PORT:-9} ${STARTER_WEB_PORT:-9}"
        );
        assert_eq!(
            with_port_default("${STARTER_WEB_PORT:-unclosed", 9),
            "${STARTER_WEB_PORT:-unclosed"
        );
    }

    #[test]
    fn the_home_catalog_starter_is_copied_renamed_and_moved() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let datums = repo.join("datums");
        if !datums.join("starter.stack.toml").is_file() {
            return; // a checkout without the starter stack: nothing to copy
        }
        let catalog = Catalog::load(&[datums]);
        let home = prepare(&catalog, &repo, "b00t-bench-test", 40002).unwrap();
        let copied = Catalog::load(&[home.dir.path().join("datums")]);
        // Without the variable set: the copied default is the free port.
        let intent = Intent::from_catalog(&copied, STACK, &Vars::default()).unwrap();
        assert_eq!(intent.project, "b00t-bench-test");
        let ports: Vec<Option<u16>> = intent
            .workloads
            .iter()
            .flat_map(|w| w.ports.iter().map(|p| p.host))
            .collect();
        assert_eq!(ports, [Some(40002)]);
        let config = std::fs::read_to_string(home.dir.path().join("b00t.toml")).unwrap();
        assert!(config.contains("[ci]\nenabled = false"), "{config}");
    }
}
