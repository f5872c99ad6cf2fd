//! `b00t datum list|show|deps`: the catalog, read from the home's datums/ and
//! `[datums] paths`. Files that cannot be used are never fatal: `list` prints each one's
//! warning; every other command prints one line counting them (a datum asked for that is in
//! such a file is named, with why, by the lookup's own error).

use std::process::ExitCode;

use b00t_config::Home;
use b00t_datums::{resolve, tree, Catalog, Datum, DatumType, DepTree, DependencyKind};
use serde_json::json;

use crate::cli::{DatumListArgs, DatumShowArgs};
use crate::style::{colour_stderr, colour_stdout, Paint};

/// Loads the home's catalog; when some of its files cannot be used, one warning line on
/// stderr counts them and points at `b00t datum list`.
pub(super) fn load(home: &Home) -> Catalog {
    let catalog = Catalog::load(&home.datum_roots());
    if let Some(line) = problems_summary(&catalog) {
        errln!(
            "{} {line}",
            Paint::Yellow.paint(colour_stderr(), "warning:")
        );
    }
    catalog
}

/// "2 datum files cannot be used (…): `b00t datum list` shows why", or `None`.
fn problems_summary(catalog: &Catalog) -> Option<String> {
    let problems = catalog.problems();
    if problems.is_empty() {
        return None;
    }
    let names: Vec<String> = problems
        .iter()
        .take(3)
        .map(|p| {
            p.path.file_name().map_or_else(
                || p.path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let more = if problems.len() > names.len() {
        ", …"
    } else {
        ""
    };
    let (count, what) = match problems.len() {
        1 => ("1".to_owned(), "catalog file cannot"),
        n => (n.to_string(), "catalog files cannot"),
    };
    Some(format!(
        "{count} {what} be used ({}{more}): `b00t datum list` shows why",
        names.join(", ")
    ))
}

pub(super) fn list(args: DatumListArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    // The listing is where each unusable file is named, with why, once.
    let catalog = Catalog::load(&home.datum_roots());
    let colour = colour_stderr();
    for problem in catalog.problems() {
        errln!("{} {problem}", Paint::Yellow.paint(colour, "warning:"));
    }
    let kind = args.kind.as_deref().map(DatumType::parse);
    let datums: Vec<_> = catalog
        .iter()
        .filter(|d| kind.as_ref().is_none_or(|k| &d.kind == k))
        .collect();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&datums)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if datums.is_empty() {
        let of_type = args
            .kind
            .as_deref()
            .map(|k| format!(" of type `{k}`"))
            .unwrap_or_default();
        errln!(
            "no datums{of_type} in the catalog: add `<name>.<type>.toml` files to {} (datums/README.md in the b00t repository explains the format)",
            home.root().join("datums").display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let colour = colour_stdout();
    let width = datums
        .iter()
        .map(|d| d.id.as_str().len())
        .max()
        .unwrap_or(0);
    for d in datums {
        let hint = d.hint.lines().next().unwrap_or("").trim();
        let hint: String = hint.chars().take(72).collect();
        let deps = dependency_names(&catalog, d, "?");
        let deps = if deps.is_empty() {
            String::new()
        } else {
            Paint::Dim.paint(colour, &format!("  ← {}", deps.join(", ")))
        };
        let line = format!(
            "{}  {hint}{deps}",
            Paint::Bold.paint(colour, &format!("{:width$}", d.id.as_str()))
        );
        outln!("{}", line.trim_end())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn show(args: DatumShowArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let catalog = load(&home);
    let datum = catalog.find(&args.datum, None)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(datum)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let colour = colour_stdout();
    let field = |name: &str, value: &str| -> Result<(), crate::out::StdoutError> {
        if !value.is_empty() {
            let mut lines = value.trim_end().lines();
            outln!(
                "{} {}",
                Paint::Dim.paint(colour, &format!("{name:>13}:")),
                lines.next().unwrap_or("")
            )?;
            for line in lines {
                outln!("{:>14} {line}", "")?;
            }
        }
        Ok(())
    };
    outln!("{}", Paint::Bold.paint(colour, datum.id.as_str()))?;
    field("type", datum.kind.as_str())?;
    field("hint", &datum.hint)?;
    field("file", &datum.path.display().to_string())?;
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    field("desires", &opt(&datum.desires))?;
    field("version", &opt(&datum.version))?;
    field("version_regex", &opt(&datum.version_regex))?;
    field("install", &opt(&datum.install))?;
    for method in &datum.install_methods {
        field(&format!("install {}", method.method), &method.script)?;
    }
    field("update", &opt(&datum.update))?;
    if datum.kind == DatumType::Apt {
        field("package", datum.package())?;
    }
    field("script", &opt(&datum.script))?;
    field("image", &opt(&datum.image))?;
    if let Some(mcp) = &datum.mcp {
        for stdio in &mcp.stdio {
            field(
                "mcp stdio",
                &format!("{} {}", stdio.command, stdio.args.join(" ")),
            )?;
            if !stdio.requires.is_empty() {
                field("requires", &stdio.requires.join(", "))?;
            }
        }
        for http in &mcp.remote {
            field("mcp http", &http.url)?;
            if !http.headers.is_empty() {
                field(
                    "headers",
                    &http.headers.keys().cloned().collect::<Vec<_>>().join(", "),
                )?;
            }
        }
    }
    field("members", &datum.members.join(", "))?;
    field(
        "require",
        &datum
            .require
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    )?;
    field(
        "env",
        &datum.env.keys().cloned().collect::<Vec<_>>().join(", "),
    )?;
    let deps = dependency_names(&catalog, datum, " (not in the catalog)");
    field("depends on", &deps.join(", "))?;
    field("keywords", &datum.keywords.join(", "))?;
    for note in &datum.notes {
        field("note", note)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The ids a datum depends on; one missing from the catalog gets `missing` appended.
fn dependency_names(catalog: &Catalog, datum: &Datum, missing: &str) -> Vec<String> {
    catalog
        .dependencies(datum)
        .into_iter()
        .map(|dep| match dep.target {
            Ok(id) => id.to_string(),
            Err(raw) => format!("{raw}{missing}"),
        })
        .collect()
}

pub(super) fn deps(args: DatumShowArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let catalog = load(&home);
    let datum = catalog.find(&args.datum, None)?;
    let root = tree(&catalog, &datum.id);
    let order = resolve(&catalog, &datum.id, true);
    if args.json {
        let order = match &order {
            Ok(list) => json!({"order": list.iter().map(|d| d.id.as_str()).collect::<Vec<_>>()}),
            Err(e) => json!({"error": e.to_string()}),
        };
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({"tree": root, "install": order}))?
        )?;
        return Ok(if order.get("error").is_some() {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }
    let colour = colour_stdout();
    outln!("{}", Paint::Bold.paint(colour, &root.id))?;
    print_children(&root, "", colour)?;
    match order {
        Ok(list) => {
            outln!(
                "\n{} {}",
                Paint::Dim.paint(colour, "install order:"),
                list.iter()
                    .map(|d| d.id.as_str())
                    .collect::<Vec<_>>()
                    .join(" → ")
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            errln!("\n{} {e}", crate::style::error_label());
            Ok(ExitCode::from(1))
        }
    }
}

fn print_children(
    node: &DepTree,
    prefix: &str,
    colour: bool,
) -> Result<(), crate::out::StdoutError> {
    let count = node.children.len();
    for (i, child) in node.children.iter().enumerate() {
        let last = i + 1 == count;
        let branch = if last { "└── " } else { "├── " };
        let why = match &child.kind {
            Some(DependencyKind::Command(cmd)) => format!(" (runs `{cmd}`)"),
            Some(DependencyKind::Member) => " (member)".to_owned(),
            _ => String::new(),
        };
        let mark = if child.missing {
            Paint::Red.paint(colour, "  missing from the catalog")
        } else if child.cycle {
            Paint::Red.paint(colour, "  ↻ cycle")
        } else if child.seen {
            Paint::Dim.paint(colour, "  (see above)")
        } else {
            String::new()
        };
        outln!(
            "{prefix}{branch}{}{}{mark}",
            child.id,
            Paint::Dim.paint(colour, &why)
        )?;
        let deeper = format!("{prefix}{}", if last { "    " } else { "│   " });
        print_children(child, &deeper, colour)?;
    }
    Ok(())
}
