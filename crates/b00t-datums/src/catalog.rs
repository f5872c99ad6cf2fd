//! The catalog: every datum found under the configured folders, indexed by id, by name and by
//! the commands cli/apt datums provide, plus the problems met while loading. Lookups (`find`,
//! `provider_of`) and the direct dependency edges of one datum live here too.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::{DatumError, Problem, Refused};
use crate::id::DatumId;
use crate::kind::DatumType;
use crate::load::intended_id;
use crate::model::Datum;
use crate::scan::toml_files;
use crate::suggest::close_names;

/// All datums, in id order, with the problems met loading them.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// Sorted by id; positions are used as node keys by the resolver.
    datums: Vec<Datum>,
    by_id: HashMap<DatumId, usize>,
    /// Positions of the datums with each name, in id order.
    by_name: HashMap<String, Vec<usize>>,
    /// The cli (else apt) datum providing each command, by name or alias.
    providers: HashMap<String, usize>,
    problems: Vec<Problem>,
    /// Files that could not be loaded, in path order; their ids are not in `by_id`.
    refused: Vec<Refused>,
}

/// One direct dependency of a datum.
#[derive(Clone, Debug, Serialize)]
pub struct Dependency {
    /// `Err(raw text)` when nothing in the catalog matches.
    pub target: Result<DatumId, String>,
    pub why: DependencyKind,
}

/// Why an edge exists.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub enum DependencyKind {
    /// Listed in `depends_on`.
    DependsOn,
    /// Listed in a stack's `members`.
    Member,
    /// An mcp datum runs this command (or `requires` it); the edge goes to its provider.
    Command(String),
}

/// An edge by catalog position, as the resolver uses it.
pub(crate) type Edge = (Result<usize, String>, DependencyKind);

impl Catalog {
    /// Loads every `*.toml` under each root, in sorted path order. Nothing here fails: bad
    /// files, missing roots and duplicate ids become [`Problem`]s and the rest still loads.
    /// When an id is defined twice, the first root (and the first path) wins.
    pub fn load(roots: &[PathBuf]) -> Catalog {
        let mut problems = Vec::new();
        let mut refused = Vec::new();
        let mut datums = Vec::new();
        for root in roots {
            for path in toml_files(root, &mut problems) {
                let (text, problem) = match std::fs::read(&path) {
                    Ok(bytes) => match String::from_utf8(bytes) {
                        Ok(text) => match Datum::from_toml(&path, root, &text) {
                            Ok(datum) => {
                                datums.push(datum);
                                continue;
                            }
                            Err(error) => (Some(text), Problem::from(error)),
                        },
                        Err(_) => (
                            None,
                            Problem::new(
                                &path,
                                "cannot read the file: it is not UTF-8: save it as UTF-8",
                            ),
                        ),
                    },
                    Err(error) => (
                        None,
                        Problem::new(&path, format!("cannot read the file: {error}")),
                    ),
                };
                if let Some(id) = intended_id(&path, text.as_deref()) {
                    refused.push(Refused {
                        id,
                        path: path.clone(),
                        reason: problem.message.clone(),
                    });
                }
                problems.push(problem);
            }
        }
        let mut catalog = Catalog::from_datums(datums);
        problems.append(&mut catalog.problems);
        catalog.problems = problems;
        // A refused file whose id another file defines is shadowed, not missing.
        refused.retain(|r| !catalog.by_id.contains_key(&r.id));
        catalog.refused = refused;
        catalog
    }

    /// A catalog of these datums (tests, benches). A repeated id keeps the first and reports
    /// the others as problems.
    pub fn from_datums(datums: Vec<Datum>) -> Catalog {
        let mut problems = Vec::new();
        let mut first_path: HashMap<DatumId, PathBuf> = HashMap::new();
        let mut unique = Vec::with_capacity(datums.len());
        for datum in datums {
            if let Some(first) = first_path.get(&datum.id) {
                problems.push(Problem::new(
                    &datum.path,
                    format!(
                        "datum `{}` is already defined in {}: this file is ignored; remove or rename one of them",
                        datum.id,
                        first.display()
                    ),
                ));
                continue;
            }
            first_path.insert(datum.id.clone(), datum.path.clone());
            unique.push(datum);
        }
        unique.sort_by(|a, b| a.id.cmp(&b.id));

        let mut by_id = HashMap::with_capacity(unique.len());
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        let mut providers: HashMap<String, usize> = HashMap::new();
        for (position, datum) in unique.iter().enumerate() {
            by_id.insert(datum.id.clone(), position);
            by_name
                .entry(datum.name.clone())
                .or_default()
                .push(position);
            if matches!(datum.kind, DatumType::Cli | DatumType::Apt) {
                for command in std::iter::once(&datum.name).chain(&datum.aliases) {
                    let better = match providers.get(command) {
                        None => true,
                        Some(&existing) => {
                            unique[existing].kind == DatumType::Apt && datum.kind == DatumType::Cli
                        }
                    };
                    if better {
                        providers.insert(command.clone(), position);
                    }
                }
            }
        }
        Catalog {
            datums: unique,
            by_id,
            by_name,
            providers,
            problems,
            refused: Vec::new(),
        }
    }

    /// Files and folders that could not be used.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Datum files that could not be loaded, with the id each would have had.
    pub fn refused(&self) -> &[Refused] {
        &self.refused
    }

    /// The refused file that `query` (an id, or a bare name) would have found, when no
    /// loaded datum answers it.
    pub fn refused_as(&self, query: &str) -> Option<&Refused> {
        if let Some(id) = DatumId::parse(query) {
            if let Some(refused) = self.refused.iter().find(|r| r.id == id) {
                return Some(refused);
            }
        }
        self.refused.iter().find(|r| r.id.name() == query)
    }

    pub fn len(&self) -> usize {
        self.datums.len()
    }

    pub fn is_empty(&self) -> bool {
        self.datums.is_empty()
    }

    /// In id order.
    pub fn iter(&self) -> impl Iterator<Item = &Datum> {
        self.datums.iter()
    }

    pub fn get(&self, id: &DatumId) -> Option<&Datum> {
        self.by_id.get(id).map(|&position| &self.datums[position])
    }

    /// `query` is an id (`jq.cli`) or a bare name (`jq`). For a bare name: the datum of the
    /// `prefer` type if there is one, else the only datum with that name; several is
    /// [`DatumError::Ambiguous`], none is [`DatumError::NotFound`] with close names.
    pub fn find(&self, query: &str, prefer: Option<&DatumType>) -> Result<&Datum, DatumError> {
        if let Some(datum) = DatumId::parse(query).and_then(|id| self.get(&id)) {
            return Ok(datum);
        }
        if let Some(positions) = self.by_name.get(query) {
            if let Some(&position) = prefer
                .and_then(|prefer| positions.iter().find(|&&p| self.datums[p].kind == *prefer))
            {
                return Ok(&self.datums[position]);
            }
            if let [position] = positions.as_slice() {
                return Ok(&self.datums[*position]);
            }
            return Err(DatumError::Ambiguous {
                query: query.to_owned(),
                ids: positions
                    .iter()
                    .map(|&p| self.datums[p].id.clone())
                    .collect(),
            });
        }
        if let Some(refused) = self.refused_as(query) {
            return Err(refused.error());
        }
        Err(DatumError::NotFound {
            query: query.to_owned(),
            hint: self.not_found_hint(query),
        })
    }

    /// The datum that provides command `cmd`: a cli or apt datum named `cmd` or listing it in
    /// `aliases`; cli before apt, then id order.
    pub fn provider_of(&self, cmd: &str) -> Option<&Datum> {
        self.providers
            .get(cmd)
            .map(|&position| &self.datums[position])
    }

    /// The direct dependencies of `datum`: `depends_on`, `members`, and for mcp datums the
    /// providers of the commands it runs (omitted when no datum provides one) and of the
    /// tools it `requires` (`Err(entry)` when no datum provides one).
    pub fn dependencies(&self, datum: &Datum) -> Vec<Dependency> {
        self.edges(datum)
            .into_iter()
            .map(|(target, why)| Dependency {
                target: target.map(|position| self.datums[position].id.clone()),
                why,
            })
            .collect()
    }

    pub(crate) fn position(&self, id: &DatumId) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub(crate) fn at(&self, position: usize) -> &Datum {
        &self.datums[position]
    }

    /// Like [`Catalog::dependencies`], by position, each target once.
    pub(crate) fn edges(&self, datum: &Datum) -> Vec<Edge> {
        let mut edges: Vec<Edge> = Vec::new();
        let push = |edges: &mut Vec<Edge>, target: Result<usize, String>, why: DependencyKind| {
            if !edges.iter().any(|(existing, _)| *existing == target) {
                edges.push((target, why));
            }
        };
        for raw in &datum.depends_on {
            push(
                &mut edges,
                self.reference(raw).ok_or_else(|| raw.clone()),
                DependencyKind::DependsOn,
            );
        }
        for raw in &datum.members {
            push(
                &mut edges,
                self.reference(raw).ok_or_else(|| raw.clone()),
                DependencyKind::Member,
            );
        }
        if datum.kind == DatumType::Mcp {
            for method in datum.mcp_stdio() {
                if let Some(&provider) = self.providers.get(method.command.as_str()) {
                    if self.datums[provider].id != datum.id {
                        push(
                            &mut edges,
                            Ok(provider),
                            DependencyKind::Command(method.command.clone()),
                        );
                    }
                }
                self.requires_edges(datum, &method.requires, &mut edges);
            }
            for endpoint in datum.mcp_remote() {
                self.requires_edges(datum, &endpoint.requires, &mut edges);
            }
        }
        edges
    }

    /// The tools a `requires` list names: an edge to each one's provider, or `Err(entry)` when
    /// no datum provides it (the installer then looks for it on PATH, and says so).
    fn requires_edges(&self, datum: &Datum, requires: &[String], edges: &mut Vec<Edge>) {
        for entry in requires.iter().filter(|entry| is_command_name(entry)) {
            let target = match self.providers.get(entry.as_str()) {
                Some(&provider) if self.datums[provider].id == datum.id => continue,
                Some(&provider) => Ok(provider),
                None => Err(entry.clone()),
            };
            if !edges.iter().any(|(existing, _)| *existing == target) {
                edges.push((target, DependencyKind::Command(entry.clone())));
            }
        }
    }

    /// What a `depends_on`/`members` entry points at: the exact id, else the datum with that
    /// bare name (several: the one whose type ranks first, cli before apt before …).
    fn reference(&self, raw: &str) -> Option<usize> {
        if let Some(position) = DatumId::parse(raw).and_then(|id| self.position(&id)) {
            return Some(position);
        }
        let positions = self.by_name.get(raw)?;
        positions
            .iter()
            .copied()
            .min_by_key(|&position| &self.datums[position].kind)
    }

    fn not_found_hint(&self, query: &str) -> String {
        // For a missing `jq.cli`, look for the other `jq` datums and names close to `jq`.
        let name =
            DatumId::parse(query).map_or_else(|| query.to_owned(), |id| id.name().to_owned());
        let mut names: Vec<&str> = self
            .by_name
            .keys()
            .map(String::as_str)
            .chain(self.refused.iter().map(|r| r.id.name()))
            .collect();
        names.sort_unstable();
        names.dedup();
        let ids: Vec<String> = close_names(&name, names.into_iter(), 5)
            .into_iter()
            .flat_map(|candidate| {
                let loaded = self
                    .by_name
                    .get(candidate)
                    .into_iter()
                    .flatten()
                    .map(|&p| format!("`{}`", self.datums[p].id));
                let refused = self
                    .refused
                    .iter()
                    .filter(move |r| r.id.name() == candidate)
                    .map(|r| {
                        format!(
                            "`{}` (in `{}`, but refused: run `b00t datum list` to see why)",
                            r.id,
                            r.path.display()
                        )
                    });
                loaded.chain(refused)
            })
            .take(5)
            .collect();
        if !ids.is_empty() {
            format!("did you mean {}?", ids.join(", "))
        } else if self.datums.is_empty() {
            "the catalog is empty: add datum files to a folder listed in [datums] paths in b00t.toml".to_owned()
        } else {
            format!(
                "the catalog has {} datums: run `b00t datum list` to see them",
                self.datums.len()
            )
        }
    }
}

/// `requires` entries that name a condition, not a tool.
const CAPABILITIES: &[&str] = &["internet", "network"];

/// A `requires` entry that names a tool (`node`), not an environment variable
/// (`OPENAI_API_KEY`) or a condition (`internet`).
pub(crate) fn is_command_name(entry: &str) -> bool {
    !entry.is_empty()
        && !entry.chars().any(|c| c.is_ascii_uppercase())
        && !CAPABILITIES.contains(&entry)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::testutil::catalog;

    /// b00t's own catalog, vendored unchanged as a test fixture.
    fn corpus() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/b00t-datums")
    }

    fn id(s: &str) -> DatumId {
        DatumId::parse(s).unwrap()
    }

    #[test]
    fn the_b00t_corpus_loads() {
        let catalog = Catalog::load(&[corpus()]);
        assert_eq!(catalog.problems(), &[] as &[Problem]);
        assert_eq!(catalog.len(), 40);
        for expected in [
            "browser-use.mcp",
            "curl.apt",
            "git-cliff.cli",
            "valkey.k8s",
            "claude-3-5-sonnet.ai_model",
            "anthropic.ai",
            "gh.cli",
            "google-chrome.bash",
            "postgres.docker",
            "rust-analyzer.vscode",
            "test-http.mcp",
        ] {
            assert!(catalog.get(&id(expected)).is_some(), "{expected} missing");
        }
        let ids: Vec<&str> = catalog.iter().map(|datum| datum.id.as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(ids, sorted, "iter is in id order");

        let model = catalog.get(&id("claude-3-5-sonnet.ai_model")).unwrap();
        assert!(
            model
                .notes
                .contains(&"unknown table `ai_model` kept unread".to_owned()),
            "{:?}",
            model.notes
        );
        assert!(model
            .notes
            .contains(&"type `ai_model` has no install method: kept for listing".to_owned()));
        assert!(model.raw.contains_key("ai_model"));
        let cliff = catalog.get(&id("git-cliff.cli")).unwrap();
        assert_eq!(
            cliff.notes,
            ["no `type` field and no type in the file name: assumed `cli`"]
        );
        let http = catalog.get(&id("test-http.mcp")).unwrap();
        assert_eq!(
            http.mcp.as_ref().unwrap().httpstream.as_ref().unwrap().url,
            "https://example.com/mcp"
        );
        assert!(http.notes.contains(
            &"unknown field `b00t.mcp.httpstream.requires_internet` kept unread".to_owned()
        ));
        let aws = catalog.get(&id("aws-docs-test.mcp")).unwrap();
        assert_eq!(aws.mcp_commands(), ["uvx", "docker"]);
        let chrome = catalog.get(&id("google-chrome.bash")).unwrap();
        assert_eq!(chrome.script.as_deref(), Some("ubuntu.🐧/google-chrome.sh"));
        assert_eq!(chrome.root, corpus());
        let postgres = catalog.get(&id("postgres-enhanced.docker")).unwrap();
        assert_eq!(postgres.resource_path(), Some("docker.🐳/postgres-stack"));
        assert_eq!(postgres.docker_args.len(), 8);
        let gemini = catalog.get(&id("geminicli.cli")).unwrap();
        assert_eq!(
            catalog.provider_of("gemini").map(|d| &d.id),
            Some(&gemini.id)
        );
        // The whole corpus resolves: nothing depends on anything missing.
        assert_eq!(crate::resolve::resolve_all(&catalog).unwrap().len(), 40);
    }

    #[test]
    fn bad_files_are_problems_and_the_rest_loads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("good.cli.toml"), "[b00t]\nhint = \"h\"\n").unwrap();
        std::fs::write(
            dir.path().join("typed.cli.toml"),
            "[b00t]\ndepends_on = \"x\"\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("broken.cli.toml"), "[b00t\n").unwrap();
        std::fs::write(dir.path().join("Bad.cli.toml"), "[b00t]\n").unwrap();
        let catalog = Catalog::load(&[dir.path().to_owned()]);
        assert_eq!(catalog.len(), 1);
        let problems: Vec<String> = catalog.problems().iter().map(|p| p.to_string()).collect();
        assert_eq!(problems.len(), 3, "{problems:#?}");
        let path = |file: &str| dir.path().join(file).display().to_string();
        assert!(
            problems[0].starts_with(&format!(
                "{}: datum name `Bad` is not valid",
                path("Bad.cli.toml")
            )),
            "{}",
            problems[0]
        );
        assert!(
            problems[1].starts_with(&format!(
                "{}: not valid TOML at line 1, column",
                path("broken.cli.toml")
            )),
            "{}",
            problems[1]
        );
        assert_eq!(
            problems[2],
            format!("{}: field `b00t.depends_on` is a string, expected an array of strings, e.g. `[\"python.cli\"]`", path("typed.cli.toml"))
        );
    }

    #[test]
    fn the_first_root_wins_a_duplicate_id() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        std::fs::write(
            first.path().join("jq.cli.toml"),
            "[b00t]\nhint = \"first\"\n",
        )
        .unwrap();
        std::fs::write(
            second.path().join("jq.cli.toml"),
            "[b00t]\nhint = \"second\"\n",
        )
        .unwrap();
        let missing = first.path().join("nope");
        let catalog = Catalog::load(&[
            first.path().to_owned(),
            missing.clone(),
            second.path().to_owned(),
        ]);
        assert_eq!(catalog.len(), 1);
        assert_eq!(catalog.get(&id("jq.cli")).unwrap().hint, "first");
        let problems = catalog.problems();
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].path, missing);
        assert!(problems[0]
            .message
            .contains("does not exist: create it or remove it from [datums] paths in b00t.toml"));
        assert_eq!(problems[1].path, second.path().join("jq.cli.toml"));
        assert_eq!(
            problems[1].message,
            format!(
                "datum `jq.cli` is already defined in {}: this file is ignored; remove or rename one of them",
                first.path().join("jq.cli.toml").display()
            )
        );
    }

    #[test]
    fn find_by_id_name_and_preference() {
        let catalog = catalog(&[
            ("jq.cli", ""),
            ("node.cli", ""),
            ("node.apt", ""),
            ("node.mcp", ""),
            ("python3.11.cli", ""),
        ]);
        assert_eq!(catalog.find("jq.cli", None).unwrap().id.as_str(), "jq.cli");
        assert_eq!(catalog.find("jq", None).unwrap().id.as_str(), "jq.cli");
        assert_eq!(
            catalog
                .find("jq", Some(&DatumType::Apt))
                .unwrap()
                .id
                .as_str(),
            "jq.cli"
        );
        assert_eq!(
            catalog
                .find("node", Some(&DatumType::Apt))
                .unwrap()
                .id
                .as_str(),
            "node.apt"
        );
        assert_eq!(
            catalog.find("python3.11", None).unwrap().id.as_str(),
            "python3.11.cli"
        );
        assert_eq!(
            catalog.find("node", None).unwrap_err().to_string(),
            "`node` names several datums (`node.apt`, `node.cli`, `node.mcp`): give the full id, e.g. `node.apt`"
        );
    }

    #[test]
    fn find_suggests_close_names() {
        let catalog = catalog(&[
            ("jq.cli", ""),
            ("just.cli", ""),
            ("just-mcp.mcp", ""),
            ("git.cli", ""),
        ]);
        assert_eq!(
            catalog.find("jq.apt", None).unwrap_err().to_string(),
            "no datum `jq.apt` in the catalog: did you mean `jq.cli`?"
        );
        assert_eq!(
            catalog.find("jus", None).unwrap_err().to_string(),
            "no datum `jus` in the catalog: did you mean `just.cli`, `jq.cli`, `just-mcp.mcp`?"
        );
        assert_eq!(
            catalog.find("kubernetes", None).unwrap_err().to_string(),
            "no datum `kubernetes` in the catalog: the catalog has 4 datums: run `b00t datum list` to see them"
        );
        assert!(Catalog::default()
            .find("x", None)
            .unwrap_err()
            .to_string()
            .contains("the catalog is empty"));
    }

    #[test]
    fn provider_prefers_cli_then_id_order() {
        let catalog = catalog(&[
            ("node.apt", "aliases = [\"npx\"]"),
            ("nodejs.cli", "aliases = [\"npx\", \"node\"]"),
            ("uv.cli", "aliases = [\"uvx\"]"),
            ("uvx.mcp", ""),
            ("a-uv.cli", "aliases = [\"uvx\"]"),
        ]);
        assert_eq!(
            catalog.provider_of("npx").unwrap().id.as_str(),
            "nodejs.cli"
        );
        assert_eq!(
            catalog.provider_of("node").unwrap().id.as_str(),
            "nodejs.cli"
        );
        assert_eq!(catalog.provider_of("uvx").unwrap().id.as_str(), "a-uv.cli");
        assert!(catalog.provider_of("docker").is_none());
    }

    #[test]
    fn mcp_commands_become_edges_to_providers() {
        let browser = "[[b00t.mcp.stdio]]\ncommand = \"uvx\"\nrequires = [\"OPENAI_API_KEY\", \"python\", \"internet\"]\n";
        let targets = |catalog: &Catalog| -> Vec<(String, DependencyKind)> {
            let datum = catalog.get(&id("browser-use.mcp")).unwrap();
            catalog
                .dependencies(datum)
                .into_iter()
                .map(|dep| (dep.target.unwrap().to_string(), dep.why))
                .collect()
        };
        let with_uvx = catalog(&[
            ("browser-use.mcp", browser),
            ("uvx.cli", ""),
            ("python.cli", ""),
        ]);
        assert_eq!(
            targets(&with_uvx),
            [
                ("uvx.cli".to_owned(), DependencyKind::Command("uvx".into())),
                (
                    "python.cli".to_owned(),
                    DependencyKind::Command("python".into())
                )
            ]
        );
        let alias = catalog(&[
            ("browser-use.mcp", browser),
            ("uv.cli", "aliases = [\"uvx\"]"),
        ]);
        assert_eq!(
            alias
                .dependencies(alias.get(&id("browser-use.mcp")).unwrap())
                .into_iter()
                .map(|dep| (dep.target.map(|id| id.to_string()), dep.why))
                .collect::<Vec<_>>(),
            [
                (
                    Ok("uv.cli".to_owned()),
                    DependencyKind::Command("uvx".into())
                ),
                (
                    Err("python".to_owned()),
                    DependencyKind::Command("python".into())
                )
            ]
        );
        let none = catalog(&[
            ("browser-use.mcp", browser),
            ("uvx.mcp", ""),
            ("python.mcp", ""),
        ]);
        let datum = none.get(&id("browser-use.mcp")).unwrap();
        let deps: Vec<_> = none
            .dependencies(datum)
            .into_iter()
            .map(|dep| (dep.target, dep.why))
            .collect();
        // The command is looked for on PATH; a required tool no datum provides is reported.
        assert_eq!(
            deps,
            [(
                Err("python".to_owned()),
                DependencyKind::Command("python".into())
            )]
        );
        let explicit = format!("depends_on = [\"uv\"]\n{browser}");
        let explicit = catalog(&[
            ("browser-use.mcp", &explicit),
            ("uv.cli", "aliases = [\"uvx\"]"),
            ("python.cli", ""),
        ]);
        assert_eq!(
            targets(&explicit),
            [
                ("uv.cli".to_owned(), DependencyKind::DependsOn),
                (
                    "python.cli".to_owned(),
                    DependencyKind::Command("python".into())
                )
            ]
        );
    }

    /// A catalog folder with `deepwiki.mcp.toml` written in a shape the loader refuses, a
    /// stack that lists it, and `jq.cli`.
    fn with_a_refused_file() -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("deepwiki.mcp.toml"),
            "[b00t]\nname = \"deepwiki\"\ntype = \"mcp\"\nhint = \"h\"\n[b00t.mcp]\nhttpstream = 3\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("docs.stack.toml"),
            "[b00t]\nhint = \"h\"\nmembers = [\"deepwiki.mcp\", \"jq\"]\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("jq.cli.toml"), "[b00t]\nhint = \"h\"\n").unwrap();
        std::fs::write(dir.path().join("broken.toml"), "[b00t\n").unwrap();
        let catalog = Catalog::load(&[dir.path().to_owned()]);
        (dir, catalog)
    }

    #[test]
    fn a_refused_file_is_named_by_lookups() {
        let (dir, catalog) = with_a_refused_file();
        let file = dir.path().join("deepwiki.mcp.toml");
        let refused: Vec<&str> = catalog.refused().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(refused, ["broken.cli", "deepwiki.mcp"]);
        let expected = format!(
            "`deepwiki.mcp` is in `{}` but was refused: field `b00t.mcp.httpstream` is an integer, expected a table (`[b00t.mcp.httpstream]`) or an array of tables (`[[b00t.mcp.httpstream]]`)",
            file.display()
        );
        assert_eq!(
            catalog.find("deepwiki.mcp", None).unwrap_err().to_string(),
            expected
        );
        assert_eq!(
            catalog.find("deepwiki", None).unwrap_err().to_string(),
            expected
        );
        assert!(matches!(
            catalog.find("deepwiki", None),
            Err(DatumError::Refused { .. })
        ));
        // A close name suggests the refused file too, and says it was refused.
        assert_eq!(
            catalog.find("deepwik", None).unwrap_err().to_string(),
            format!(
                "no datum `deepwik` in the catalog: did you mean `deepwiki.mcp` (in `{}`, but refused: run `b00t datum list` to see why)?",
                file.display()
            )
        );
        // A dependent is told the file is there but refused, not to create it.
        let stack = DatumId::parse("docs.stack").unwrap();
        assert_eq!(
            crate::resolve::resolve(&catalog, &stack, true)
                .unwrap_err()
                .to_string(),
            format!("`docs.stack` depends on `deepwiki.mcp`, which cannot be used: {expected}")
        );
        let root = DatumId::parse("deepwiki.mcp").unwrap();
        assert_eq!(
            crate::resolve::resolve(&catalog, &root, true)
                .unwrap_err()
                .to_string(),
            expected
        );
    }

    #[test]
    fn a_file_defined_elsewhere_is_not_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("jq.cli.toml"), "[b00t]\nhint = \"h\"\n").unwrap();
        let sub = dir.path().join("old");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("jq.cli.toml"), "[b00t]\ndepends_on = 1\n").unwrap();
        let catalog = Catalog::load(&[dir.path().to_owned()]);
        assert!(catalog.refused().is_empty());
        assert_eq!(catalog.problems().len(), 1);
        assert!(catalog.find("jq", None).is_ok());
    }

    #[test]
    fn dependencies_resolve_ids_and_bare_names() {
        let catalog = catalog(&[
            ("stack.stack", "members = [\"jq\", \"node.apt\", \"ghost\"]\ndepends_on = [\"node\", \"node.cli\"]"),
            ("jq.cli", ""),
            ("node.apt", ""),
            ("node.cli", ""),
        ]);
        let stack = catalog.get(&id("stack.stack")).unwrap();
        let deps: Vec<(Result<String, String>, DependencyKind)> = catalog
            .dependencies(stack)
            .into_iter()
            .map(|dep| (dep.target.map(|id| id.to_string()), dep.why))
            .collect();
        assert_eq!(
            deps,
            [
                (Ok("node.cli".to_owned()), DependencyKind::DependsOn),
                (Ok("jq.cli".to_owned()), DependencyKind::Member),
                (Ok("node.apt".to_owned()), DependencyKind::Member),
                (Err("ghost".to_owned()), DependencyKind::Member),
            ]
        );
    }
}
