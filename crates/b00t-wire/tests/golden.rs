//! Golden files per app (`tests/golden/<app>/`): `before.*` is written by hand (other
//! servers, other keys, comments); `empty.*` is one server wired into a file that did not
//! exist, `two.*` two or three servers wired at once into `before.*`, `unwired.*` those taken
//! out again, `notes.txt` what rendering said. `B00T_BLESS=1` rewrites them.

use std::path::{Path, PathBuf};

use b00t_config::env::B00T_BLESS;
use b00t_datums::Datum;
use b00t_wire::{apps, render, unwire, wire, App, Entry, Format, Secrets, Server, Text, Transport};

fn github() -> Server {
    let datum = Datum::from_toml(
        Path::new("datums/github.mcp.toml"),
        Path::new("datums"),
        "[b00t]\nname = \"github\"\ntype = \"mcp\"\nhint = \"GitHub\"\n\
         [b00t.env]\nGITHUB_PERSONAL_ACCESS_TOKEN = \"<your token>\"\n\
         [[b00t.mcp.stdio]]\ncommand = \"npx\"\nargs = [\"-y\", \"@modelcontextprotocol/server-github\"]\n",
    )
    .unwrap();
    Server::from_datum(&datum).unwrap()
}

fn memory() -> Server {
    Server {
        name: "memory".into(),
        datum: "memory.mcp".into(),
        transport: Transport::Stdio {
            command: "npx".into(),
            args: vec![
                Text::literal("-y"),
                Text::literal("@modelcontextprotocol/server-memory"),
            ],
            env: vec![(
                "MEMORY_FILE_PATH".into(),
                Text::literal("/home/me/memory.json"),
            )],
        },
    }
}

fn web() -> Server {
    Server {
        name: "web".into(),
        datum: "web.mcp".into(),
        transport: Transport::Remote {
            url: "https://example.com/mcp".into(),
            headers: vec![("Authorization".into(), Text::parse("Bearer ${WEB_TOKEN}"))],
        },
    }
}

fn entries(app: &App, servers: &[Server], notes: &mut Vec<String>) -> Vec<Entry> {
    let secrets = Secrets {
        in_clear: false,
        lookup: &|_| None,
    };
    servers
        .iter()
        .filter(|server| {
            app.supports_remote() || matches!(server.transport, Transport::Stdio { .. })
        })
        .map(|server| {
            let entry = render(app, server, &secrets).unwrap();
            notes.extend(entry.notes.iter().cloned());
            entry
        })
        .collect()
}

/// Compares `text` with the golden file, or rewrites it under `B00T_BLESS=1`.
fn check(path: &Path, text: &str, failures: &mut Vec<String>) {
    if std::env::var(B00T_BLESS).as_deref() == Ok("1") {
        std::fs::write(path, text).unwrap();
        println!("B00T_BLESS=1: rewrote {}", path.display());
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected != text {
        failures.push(format!(
            "{}:\n{}",
            path.display(),
            b00t_wire::unified(path, &expected, text)
        ));
    }
}

#[test]
fn every_app_against_its_golden_files() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut failures = Vec::new();
    for app in apps() {
        let dir = root.join(&app.name);
        let ext = match app.format {
            Format::Json => "json",
            Format::Toml => "toml",
        };
        let file = |stem: &str| dir.join(format!("{stem}.{ext}"));
        let before = std::fs::read_to_string(file("before")).unwrap();
        let mut notes = Vec::new();
        let ours = |_: &str, _: &serde_json::Value| false;

        let one = entries(app, &[github()], &mut notes);
        let empty = wire(app, &file("empty"), "", &one, &ours, false).unwrap();
        check(&file("empty"), &empty, &mut failures);

        notes.clear();
        let all = entries(app, &[github(), memory(), web()], &mut notes);
        let two = wire(app, &file("before"), &before, &all, &ours, false).unwrap();
        check(&file("two"), &two, &mut failures);
        if !app.supports_remote() {
            let error = render(
                app,
                &web(),
                &Secrets {
                    in_clear: false,
                    lookup: &|_| None,
                },
            )
            .unwrap_err()
            .to_string();
            notes.push(error);
        }
        notes.push(String::new());
        check(&dir.join("notes.txt"), &notes.join("\n"), &mut failures);

        let again = wire(app, &file("before"), &two, &all, &|_, _| true, false).unwrap();
        assert_eq!(again, two, "{}: wiring twice changes nothing", app.name);

        let names: Vec<String> = all.iter().map(|entry| entry.name.clone()).collect();
        let unwired = unwire(app, &file("two"), &two, &names, &|_, _| true).unwrap();
        assert_eq!(unwired.removed, names, "{}", app.name);
        check(&file("unwired"), &unwired.text, &mut failures);
        assert!(
            unwired.text.contains("mine"),
            "{}: the user's own server stays",
            app.name
        );
    }
    assert!(
        failures.is_empty(),
        "golden files differ:\n{}\nrun with B00T_BLESS=1 to rewrite them, then review the diff",
        failures.join("\n")
    );
}
