//! The apps b00t wires into, as data: `apps.toml` (embedded) read into `App`s, and where
//! each one's file is for a user home or a project (`Places`), and whether it is installed.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

use crate::error::WireError;

/// The table, as written.
const APPS_TOML: &str = include_str!("apps.toml");

/// One app: its config file and the shape of an entry in it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// What `--app` takes: `claude-code`.
    pub name: String,
    /// For people: `Claude Code`.
    pub title: String,
    pub format: Format,
    /// The object (or TOML table) that holds the servers: `mcpServers`.
    pub key: String,
    /// The user file, per OS.
    pub user: PerOs,
    /// The project file, relative to the project folder; none: the app has no project file.
    pub project: Option<String>,
    /// The `type` of a stdio entry; none: no `type` written.
    pub stdio_type: Option<String>,
    /// The `type` of a remote entry; none: no `type` written.
    pub remote_type: Option<String>,
    /// Where a remote server's URL goes; none: the app starts stdio servers only.
    pub url_key: Option<String>,
    /// Where a remote server's headers go.
    pub headers_key: Option<String>,
    pub secrets: SecretStyle,
    /// Fields written into every entry (Zed's `source = "custom"`).
    #[serde(default)]
    pub extra: toml::Table,
    #[serde(default)]
    pub detect_dirs: Vec<String>,
    #[serde(default)]
    pub detect_files: Vec<String>,
    #[serde(default)]
    pub detect_commands: Vec<String>,
}

/// The file's syntax.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// JSON, comments allowed (Zed's settings.json has them).
    Json,
    /// TOML (Codex).
    Toml,
}

/// How a secret is referenced instead of written (see `apps.toml`).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SecretStyle {
    Dollar,
    Env,
    Input,
    EnvVars,
    Inherit,
}

/// A path per operating system.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerOs {
    pub linux: String,
    pub macos: String,
}

/// User or project scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    User,
    Project,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Project => "project",
        }
    }
}

/// Where `~` and `{config}` point, the OS, and the PATH to look for commands on: what the
/// table's paths are resolved against (tests give a temp home).
#[derive(Clone, Debug)]
pub struct Places {
    pub home: PathBuf,
    pub config_home: PathBuf,
    pub os: Os,
    pub path: Vec<PathBuf>,
}

/// The operating systems the table has paths for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Os {
    Linux,
    Macos,
}

impl Os {
    /// This machine's, if the table has paths for it.
    pub fn current() -> Option<Os> {
        match std::env::consts::OS {
            "linux" | "freebsd" | "openbsd" | "netbsd" => Some(Os::Linux),
            "macos" => Some(Os::Macos),
            _ => None,
        }
    }
}

/// Every app, in the table's order.
pub fn apps() -> &'static [App] {
    static APPS: OnceLock<Vec<App>> = OnceLock::new();
    APPS.get_or_init(|| {
        #[derive(Deserialize)]
        struct Table {
            app: Vec<App>,
        }
        // The table is part of the source and tested: a mistake in it fails every test.
        toml::from_str::<Table>(APPS_TOML)
            .map(|table| table.app)
            .unwrap_or_else(|error| panic!("src/apps.toml: {error}"))
    })
}

/// The app `--app` names.
pub fn app(name: &str) -> Result<&'static App, WireError> {
    apps()
        .iter()
        .find(|app| app.name == name)
        .ok_or_else(|| WireError::UnknownApp {
            name: name.to_owned(),
            known: app_names(),
        })
}

/// `claude-code, claude-desktop, …`.
pub fn app_names() -> String {
    apps()
        .iter()
        .map(|app| app.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl App {
    /// Whether remote (HTTP) servers can be wired.
    pub fn supports_remote(&self) -> bool {
        self.url_key.is_some()
    }

    /// The file for `scope`; `project` is the project folder (required for project scope).
    pub fn file(
        &self,
        scope: Scope,
        places: &Places,
        project: Option<&Path>,
    ) -> Result<PathBuf, WireError> {
        match scope {
            Scope::User => Ok(places.resolve(match places.os {
                Os::Linux => &self.user.linux,
                Os::Macos => &self.user.macos,
            })),
            Scope::Project => {
                let relative = self
                    .project
                    .as_deref()
                    .ok_or_else(|| WireError::NoProjectFile {
                        app: self.name.clone(),
                    })?;
                Ok(project.unwrap_or(Path::new(".")).join(relative))
            }
        }
    }

    /// Installed: one of its config folders or files exists, or one of its commands is on
    /// the PATH.
    pub fn detected(&self, places: &Places) -> bool {
        self.detect_dirs
            .iter()
            .any(|dir| places.resolve(dir).is_dir())
            || self
                .detect_files
                .iter()
                .any(|file| places.resolve(file).is_file())
            || self
                .detect_commands
                .iter()
                .any(|command| places.path.iter().any(|dir| dir.join(command).is_file()))
    }
}

impl Places {
    /// `~/…` and `{config}/…` made absolute.
    pub fn resolve(&self, path: &str) -> PathBuf {
        if let Some(rest) = path.strip_prefix("~/") {
            self.home.join(rest)
        } else if let Some(rest) = path.strip_prefix("{config}/") {
            self.config_home.join(rest)
        } else {
            PathBuf::from(path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places() -> Places {
        Places {
            home: PathBuf::from("/h"),
            config_home: PathBuf::from("/h/.config"),
            os: Os::Linux,
            path: Vec::new(),
        }
    }

    #[test]
    fn the_table_has_the_seven_apps_with_their_files() {
        let files: Vec<(String, PathBuf)> = apps()
            .iter()
            .map(|app| {
                (
                    app.name.clone(),
                    app.file(Scope::User, &places(), None).unwrap(),
                )
            })
            .collect();
        let expected = [
            ("claude-code", "/h/.claude.json"),
            (
                "claude-desktop",
                "/h/.config/Claude/claude_desktop_config.json",
            ),
            ("vscode", "/h/.config/Code/User/mcp.json"),
            ("cursor", "/h/.cursor/mcp.json"),
            ("windsurf", "/h/.codeium/windsurf/mcp_config.json"),
            ("zed", "/h/.config/zed/settings.json"),
            ("codex", "/h/.codex/config.toml"),
        ];
        assert_eq!(
            files,
            expected.map(|(name, file)| (name.to_owned(), PathBuf::from(file)))
        );
        let mac = Places {
            os: Os::Macos,
            ..places()
        };
        assert_eq!(
            app("claude-desktop")
                .unwrap()
                .file(Scope::User, &mac, None)
                .unwrap(),
            Path::new("/h/Library/Application Support/Claude/claude_desktop_config.json")
        );
    }

    #[test]
    fn project_files_and_apps_without_one() {
        let project = Path::new("/p");
        let file = |name: &str| {
            app(name)
                .unwrap()
                .file(Scope::Project, &places(), Some(project))
        };
        assert_eq!(file("claude-code").unwrap(), Path::new("/p/.mcp.json"));
        assert_eq!(file("vscode").unwrap(), Path::new("/p/.vscode/mcp.json"));
        assert_eq!(file("cursor").unwrap(), Path::new("/p/.cursor/mcp.json"));
        let error = file("zed").unwrap_err().to_string();
        assert!(error.contains("`zed` has no project file"), "{error}");
    }

    #[test]
    fn an_unknown_app_lists_the_known_ones() {
        let error = app("emacs").unwrap_err().to_string();
        assert!(
            error.contains("`emacs`") && error.contains("claude-code, claude-desktop, vscode"),
            "{error}"
        );
    }

    #[test]
    fn detection_by_folder_file_or_command() {
        let dir = tempfile::tempdir().unwrap();
        let places = Places {
            home: dir.path().to_owned(),
            config_home: dir.path().join(".config"),
            os: Os::Linux,
            path: vec![dir.path().join("bin")],
        };
        let detected = || -> Vec<&str> {
            apps()
                .iter()
                .filter(|app| app.detected(&places))
                .map(|app| app.name.as_str())
                .collect()
        };
        assert!(detected().is_empty());
        std::fs::create_dir_all(dir.path().join(".cursor")).unwrap();
        std::fs::write(dir.path().join(".claude.json"), "{}").unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::write(dir.path().join("bin/codex"), "").unwrap();
        assert_eq!(detected(), ["claude-code", "cursor", "codex"]);
    }
}
