//! `b00t mcp wire|unwire|status` against the apps' files in a temp user home (HOME and
//! XDG_CONFIG_HOME point there, PATH at an empty folder): every app's file written, detection,
//! a read-only file, a dry run, unwiring that leaves the user's servers, and status.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{b00t_bin, Home};

/// A b00t home with two MCP datums, and a user home of its own.
struct Wiring {
    home: Home,
    user: tempfile::TempDir,
}

const ZED_SETTINGS: &str = "// Zed settings\n{\n  \"ui_font_size\": 16, // bigger\n  \"context_servers\": {\n    // mine\n    \"mine\": { \"command\": \"mine\", \"args\": [] },\n  },\n}\n";
const CURSOR_MCP: &str = "{\n    \"mcpServers\": {\n        \"mine\": { \"url\": \"https://mine.example/mcp\" }\n    }\n}\n";

impl Wiring {
    fn new() -> Wiring {
        let home = Home::new("");
        let datums = home.path().join("datums");
        fs_err::create_dir_all(&datums).unwrap();
        fs_err::write(
            datums.join("github.mcp.toml"),
            "[b00t]\nname = \"github\"\ntype = \"mcp\"\nhint = \"GitHub\"\n\
             [b00t.env]\nGITHUB_PERSONAL_ACCESS_TOKEN = \"<token>\"\n\
             [[b00t.mcp.stdio]]\ncommand = \"npx\"\nargs = [\"-y\", \"@modelcontextprotocol/server-github\"]\n",
        )
        .unwrap();
        fs_err::write(
            datums.join("web.mcp.toml"),
            "[b00t]\nname = \"web\"\ntype = \"mcp\"\nhint = \"remote\"\n\
             [b00t.mcp.httpstream]\nurl = \"https://example.com/mcp\"\n",
        )
        .unwrap();
        let user = tempfile::Builder::new()
            .prefix("b00t-it-user-")
            .tempdir()
            .unwrap();
        fs_err::create_dir_all(user.path().join("bin")).unwrap();
        Wiring { home, user }
    }

    fn user(&self, relative: &str) -> PathBuf {
        self.user.path().join(relative)
    }

    fn seed(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.user(relative);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(&path, text).unwrap();
        path
    }

    fn b00t(&self, args: &[&str]) -> Output {
        Command::new(b00t_bin())
            .args(args)
            .arg("--home")
            .arg(self.home.path())
            .env("HOME", self.user.path())
            .env("XDG_CONFIG_HOME", self.user(".config"))
            .env("PATH", self.user("bin"))
            .env("GITHUB_PERSONAL_ACCESS_TOKEN", "ghp_not_in_files")
            .env_remove("B00T_HOME")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.b00t(args);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{args:?}: {stdout}\n{stderr}");
        (stdout, stderr)
    }

    fn status(&self) -> serde_json::Value {
        let (stdout, _) = self.ok(&["mcp", "status", "--json"]);
        serde_json::from_str(&stdout).unwrap()
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn read(path: &Path) -> String {
    fs_err::read_to_string(path).unwrap()
}

fn json_of(path: &Path) -> serde_json::Value {
    serde_json::from_str(&read(path)).unwrap()
}

/// (server, app, state) of each status row.
fn states(status: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut rows: Vec<_> = status
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["server"].as_str().unwrap().to_owned(),
                row["app"].as_str().unwrap().to_owned(),
                row["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn row(server: &str, app: &str, state: &str) -> (String, String, String) {
    (server.to_owned(), app.to_owned(), state.to_owned())
}

#[test]
fn wire_writes_every_apps_file_and_status_checks_them() {
    let w = Wiring::new();
    let zed = w.seed(".config/zed/settings.json", ZED_SETTINGS);
    let mut args = vec!["mcp", "wire", "github", "web", "b00t"];
    for app in [
        "claude-code",
        "claude-desktop",
        "vscode",
        "cursor",
        "windsurf",
        "zed",
        "codex",
    ] {
        args.extend(["--app", app]);
    }
    let (stdout, stderr) = w.ok(&args);
    assert!(
        stdout.contains("wired github, web, b00t into Cursor"),
        "{stdout}"
    );
    assert!(
        stdout.contains("wired github, b00t into Claude Desktop"),
        "{stdout}"
    );
    assert!(
        stderr.contains("Claude Desktop starts stdio servers only, and `web` is a remote server"),
        "{stderr}"
    );

    let claude = json_of(&w.user(".claude.json"));
    assert_eq!(claude["mcpServers"]["github"]["type"], "stdio");
    assert_eq!(
        claude["mcpServers"]["github"]["env"]["GITHUB_PERSONAL_ACCESS_TOKEN"],
        "${GITHUB_PERSONAL_ACCESS_TOKEN}"
    );
    assert_eq!(claude["mcpServers"]["web"]["type"], "http");
    let b00t = &claude["mcpServers"]["b00t"];
    assert_eq!(b00t["command"], b00t_bin());
    assert_eq!(
        b00t["args"],
        serde_json::json!(["mcp", "serve", "--home", w.home.path().to_str().unwrap()])
    );
    let desktop = json_of(&w.user(".config/Claude/claude_desktop_config.json"));
    assert!(desktop["mcpServers"]["web"].is_null());
    assert!(desktop["mcpServers"]["github"].get("env").is_none());
    let vscode = json_of(&w.user(".config/Code/User/mcp.json"));
    assert_eq!(
        vscode["servers"]["github"]["env"]["GITHUB_PERSONAL_ACCESS_TOKEN"],
        "${input:GITHUB_PERSONAL_ACCESS_TOKEN}"
    );
    assert_eq!(vscode["inputs"][0]["password"], true);
    assert_eq!(vscode["servers"]["web"]["type"], "http");
    let cursor = json_of(&w.user(".cursor/mcp.json"));
    assert_eq!(
        cursor["mcpServers"]["web"]["url"],
        "https://example.com/mcp"
    );
    let windsurf = json_of(&w.user(".codeium/windsurf/mcp_config.json"));
    assert_eq!(
        windsurf["mcpServers"]["web"]["serverUrl"],
        "https://example.com/mcp"
    );
    let zed_text = read(&zed);
    assert!(
        zed_text.starts_with("// Zed settings\n{\n  \"ui_font_size\": 16, // bigger\n  \"context_servers\": {\n    // mine\n    \"mine\": { \"command\": \"mine\", \"args\": [] },\n"),
        "{zed_text}"
    );
    assert!(zed_text.contains("\"github\": {"), "{zed_text}");
    assert_eq!(
        read(&w.user(".config/zed/settings.json.b00t.bak")),
        ZED_SETTINGS
    );
    let codex = read(&w.user(".codex/config.toml"));
    assert!(
        codex.contains("[mcp_servers.github]\ncommand = \"npx\"\nargs = [\"-y\", \"@modelcontextprotocol/server-github\"]\nenv_vars = [\"GITHUB_PERSONAL_ACCESS_TOKEN\"]\n"),
        "{codex}"
    );
    for file in [
        ".claude.json",
        ".config/Claude/claude_desktop_config.json",
        ".config/Code/User/mcp.json",
        ".cursor/mcp.json",
        ".codeium/windsurf/mcp_config.json",
        ".config/zed/settings.json",
        ".codex/config.toml",
    ] {
        assert!(
            !read(&w.user(file)).contains("ghp_not_in_files"),
            "{file} holds the secret in clear"
        );
    }

    let status = states(&w.status());
    assert_eq!(status.len(), 21, "{status:?}");
    assert!(
        status.contains(&row("mine", "zed", "not-b00t's")),
        "{status:?}"
    );
    assert!(status.contains(&row("web", "windsurf", "ok")), "{status:?}");
    assert!(status
        .iter()
        .filter(|(server, _, _)| server != "mine")
        .all(|(_, _, state)| state == "ok"));
    let (table, _) = w.ok(&["mcp", "status"]);
    assert!(table.starts_with("SERVER"), "{table}");

    // An entry edited by hand differs; one removed by hand is missing.
    let cursor_file = w.user(".cursor/mcp.json");
    let edited = read(&cursor_file).replace("https://example.com/mcp", "https://elsewhere/mcp");
    fs_err::write(&cursor_file, edited).unwrap();
    let codex_file = w.user(".codex/config.toml");
    let without =
        read(&codex_file).replace("[mcp_servers.web]\nurl = \"https://example.com/mcp\"\n", "");
    fs_err::write(&codex_file, without).unwrap();
    let status = states(&w.status());
    assert!(
        status.contains(&row("web", "cursor", "differs")),
        "{status:?}"
    );
    assert!(
        status.contains(&row("web", "codex", "missing")),
        "{status:?}"
    );
    // Wiring again refreshes the edited entry.
    w.ok(&["mcp", "wire", "web", "--app", "cursor", "--app", "codex"]);
    let status = states(&w.status());
    assert!(status.contains(&row("web", "cursor", "ok")), "{status:?}");
    assert!(status.contains(&row("web", "codex", "ok")), "{status:?}");
}

#[test]
fn without_app_every_detected_app_is_wired() {
    let w = Wiring::new();
    fs_err::create_dir_all(w.user(".cursor")).unwrap();
    fs_err::write(w.user("bin/codex"), "").unwrap();
    let (stdout, _) = w.ok(&["mcp", "wire", "github"]);
    assert!(
        stdout.contains("Cursor") && stdout.contains("Codex"),
        "{stdout}"
    );
    assert!(w.user(".cursor/mcp.json").is_file());
    assert!(w.user(".codex/config.toml").is_file());
    assert!(!w.user(".claude.json").exists());
    assert!(!w.user(".config/zed").exists());

    let empty = Wiring::new();
    let out = empty.b00t(&["mcp", "wire", "github"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("no app detected") && stderr.contains("--app"),
        "{stderr}"
    );
}

#[test]
fn a_read_only_file_stops_the_wire_before_any_write() {
    use std::os::unix::fs::PermissionsExt;
    let w = Wiring::new();
    let cursor = w.seed(".cursor/mcp.json", CURSOR_MCP);
    fs_err::set_permissions(&cursor, std::fs::Permissions::from_mode(0o444)).unwrap();
    let out = w.b00t(&["mcp", "wire", "github", "--app", "zed", "--app", "cursor"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("`{}` is read-only", cursor.display()))
            && stderr.contains("chmod u+w"),
        "{stderr}"
    );
    assert_eq!(read(&cursor), CURSOR_MCP);
    assert!(
        !w.user(".config/zed/settings.json").exists(),
        "no partial wire"
    );
    assert!(w
        .status()
        .as_array()
        .unwrap()
        .iter()
        .all(|row| row["server"] == "mine"));
}

#[test]
fn a_dry_run_prints_the_diff_and_changes_nothing() {
    let w = Wiring::new();
    let cursor = w.seed(".cursor/mcp.json", CURSOR_MCP);
    let (stdout, stderr) = w.ok(&[
        "mcp",
        "wire",
        "github",
        "--app",
        "cursor",
        "--app",
        "codex",
        "--dry-run",
    ]);
    assert!(
        stdout.contains(&format!("--- {}", cursor.display())),
        "{stdout}"
    );
    assert!(stdout.contains("+        \"github\": {"), "{stdout}");
    assert!(stdout.contains("+[mcp_servers.github]"), "{stdout}");
    assert!(stderr.contains("dry run: nothing was written"), "{stderr}");
    assert_eq!(read(&cursor), CURSOR_MCP);
    assert!(!w.user(".codex").exists());
    assert!(!w.user(".cursor/mcp.json.b00t.bak").exists());
    assert_eq!(states(&w.status()), [row("mine", "cursor", "not-b00t's")]);
}

#[test]
fn unwire_takes_out_only_b00ts_entries() {
    let w = Wiring::new();
    let cursor = w.seed(".cursor/mcp.json", CURSOR_MCP);
    let zed = w.seed(".config/zed/settings.json", ZED_SETTINGS);
    w.ok(&[
        "mcp", "wire", "github", "web", "--app", "cursor", "--app", "zed",
    ]);
    assert_ne!(read(&cursor), CURSOR_MCP);

    let (_, stderr) = w.ok(&["mcp", "unwire", "github", "mine", "--dry-run"]);
    assert!(
        stderr.contains("`mine`") && stderr.contains("not written by b00t"),
        "{stderr}"
    );
    assert!(read(&cursor).contains("github"));

    let (stdout, _) = w.ok(&["mcp", "unwire"]);
    assert!(
        stdout.contains("unwired github, web from Cursor"),
        "{stdout}"
    );
    assert_eq!(read(&cursor), CURSOR_MCP);
    assert_eq!(read(&zed), ZED_SETTINGS);
    assert_eq!(
        states(&w.status()),
        [
            row("mine", "cursor", "not-b00t's"),
            row("mine", "zed", "not-b00t's")
        ]
    );

    // A server of the same name that b00t did not write is refused, unless --replace.
    let mine = w.seed(
        ".codex/config.toml",
        "[mcp_servers.github]\ncommand = \"my-github\"\n",
    );
    let out = w.b00t(&["mcp", "wire", "github", "--app", "codex"]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("--replace"), "{}", text(&out).1);
    w.ok(&["mcp", "wire", "github", "--app", "codex", "--replace"]);
    assert!(read(&mine).contains("env_vars"));
}

#[test]
fn project_files_and_secrets_in_clear_on_request() {
    let w = Wiring::new();
    let project = tempfile::tempdir().unwrap();
    let dir = project.path().to_str().unwrap();
    w.ok(&[
        "mcp",
        "wire",
        "github",
        "--app",
        "vscode",
        "--app",
        "claude-code",
        "--project",
        dir,
    ]);
    let vscode = json_of(&project.path().join(".vscode/mcp.json"));
    assert_eq!(vscode["inputs"][0]["id"], "GITHUB_PERSONAL_ACCESS_TOKEN");
    assert!(project.path().join(".mcp.json").is_file());
    assert!(!w.user(".claude.json").exists());
    let status = w.status();
    assert!(
        status
            .as_array()
            .unwrap()
            .iter()
            .any(|row| row["scope"] == "project" && row["state"] == "ok"),
        "{status}"
    );

    let out = w.b00t(&["mcp", "wire", "github", "--app", "zed", "--project", dir]);
    assert!(
        text(&out).1.contains("`zed` has no project file"),
        "{}",
        text(&out).1
    );

    w.ok(&["mcp", "wire", "github", "--app", "cursor", "--with-secrets"]);
    assert!(read(&w.user(".cursor/mcp.json")).contains("ghp_not_in_files"));
    assert!(states(&w.status()).contains(&row("github", "cursor", "ok")));
}
