//! `b00t audit`: the install decisions and the container CI agents' actions in
//! `<home>/state/audit.jsonl`, readable, oldest first. Lines that are not records are
//! shown as such rather than failing. Every field
//! comes from a task someone sent, so control characters are shown escaped, never sent to
//! the terminal as they are.

use std::borrow::Cow;
use std::process::ExitCode;

use b00t_config::Home;
use b00t_installer::audit::{self, ActionRecord, DeployRecord, Entry, Record};

use crate::cli::AuditArgs;
use crate::printable::printable;
use crate::style::{colour_stdout, Paint};

pub(super) fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let path = home.audit_file();
    let mut lines = audit::read(&path)?;
    if let Some(n) = args.last {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    if lines.is_empty() && !args.json {
        errln!("no decisions yet in {}", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let colour = colour_stdout();
    for line in lines {
        match line {
            Ok(entry) if args.json => outln!("{}", serde_json::to_string(&entry)?)?,
            Ok(entry) => {
                let shown = match &entry {
                    Entry::Install(record) => human(record, colour),
                    Entry::Action(record) => human_action(record, colour),
                    Entry::Deploy(record) => human_deploy(record, colour),
                };
                for line in shown {
                    outln!("{line}")?;
                }
            }
            Err((number, text)) if args.json => outln!("{}", json_line(number, &text))?,
            Err((number, text)) => outln!(
                "{}",
                Paint::Yellow.paint(
                    colour,
                    &format!("line {number} is not a record: {}", printable(&text))
                )
            )?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A line that is not a record, as JSON all the same: the value when it is JSON (written
/// again, so control characters are escaped), else `{"line": N, "not_a_record": TEXT}`.
fn json_line(number: usize, text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) => value.to_string(),
        Err(_) => serde_json::json!({"line": number, "not_a_record": text}).to_string(),
    }
}

/// The lines that show `record`: a summary, then its details indented.
fn human(record: &Record, colour: bool) -> Vec<String> {
    let outcome = format!("{:9}", printable(&record.outcome));
    let outcome = match record.outcome.as_str() {
        "installed" => Paint::Green.paint(colour, &outcome),
        "planned" => Paint::Blue.paint(colour, &outcome),
        _ => Paint::Red.paint(colour, &outcome),
    };
    let who = format!("{} ({})", printable(&record.from), printable(&record.trust));
    let mut lines = vec![format!(
        "{}  {outcome}  {:28}  {:24}  {}  {} ms",
        Paint::Dim.paint(colour, &printable(&record.ts)),
        printable(&record.datum),
        who,
        printable(&record.id),
        record.ms
    )];
    let mut details = Vec::new();
    if !record.plan.is_empty() {
        let plan: Vec<String> = record
            .plan
            .iter()
            .map(|n| {
                format!(
                    "{} {}",
                    printable(n["id"].as_str().unwrap_or("?")),
                    printable(n["state"].as_str().unwrap_or("?"))
                )
            })
            .collect();
        details.push(format!("plan: {}", plan.join(", ")));
    }
    if record.verdict != "-" {
        details.push(format!("verdict: {}", printable(&record.verdict)));
    }
    for (label, list) in [
        ("installed", &record.installed),
        ("skipped", &record.skipped),
        ("failed", &record.failed),
    ] {
        if !list.is_empty() {
            let list: Vec<Cow<'_, str>> = list.iter().map(|s| printable(s)).collect();
            details.push(format!("{label}: {}", list.join(", ")));
        }
    }
    if let Some(reason) = &record.reason {
        details.push(format!("why: {}", printable(reason)));
    }
    lines.extend(
        details
            .into_iter()
            .map(|d| format!("    {}", Paint::Dim.paint(colour, &d))),
    );
    lines
}

/// The lines that show a deployer's decision: a summary, then the datums, the verdict,
/// the endpoints and why, indented.
fn human_deploy(record: &DeployRecord, colour: bool) -> Vec<String> {
    let outcome = format!("{:9}", printable(&record.outcome));
    let outcome = match record.outcome.as_str() {
        "deployed" | "removed" | "status" => Paint::Green.paint(colour, &outcome),
        "planned" => Paint::Blue.paint(colour, &outcome),
        _ => Paint::Red.paint(colour, &outcome),
    };
    let what = format!(
        "{} {} ({})",
        printable(&record.action),
        printable(&record.datum),
        printable(&record.orchestrator)
    );
    let who = format!("{} ({})", printable(&record.from), printable(&record.trust));
    let mut lines = vec![format!(
        "{}  {outcome}  {what:28}  {who:24}  {}  {} ms",
        Paint::Dim.paint(colour, &printable(&record.ts)),
        printable(&record.id),
        record.ms
    )];
    let mut details = Vec::new();
    if !record.nodes.is_empty() {
        let nodes: Vec<Cow<'_, str>> = record.nodes.iter().map(|s| printable(s)).collect();
        details.push(format!("datums: {}", nodes.join(", ")));
    }
    if record.verdict != "-" {
        details.push(format!("verdict: {}", printable(&record.verdict)));
    }
    if !record.endpoints.is_empty() {
        let endpoints: Vec<Cow<'_, str>> = record.endpoints.iter().map(|s| printable(s)).collect();
        details.push(format!("endpoints: {}", endpoints.join(", ")));
    }
    if let Some(reason) = &record.reason {
        details.push(format!("why: {}", printable(reason)));
    }
    lines.extend(
        details
            .into_iter()
            .map(|d| format!("    {}", Paint::Dim.paint(colour, &d))),
    );
    lines
}

/// The lines that show a container CI agent's action: a summary, then the verdict and
/// why, indented.
fn human_action(record: &ActionRecord, colour: bool) -> Vec<String> {
    let outcome = format!("{:9}", printable(&record.outcome));
    let outcome = match record.outcome.as_str() {
        "done" => Paint::Green.paint(colour, &outcome),
        _ => Paint::Red.paint(colour, &outcome),
    };
    let what = format!(
        "{} {}",
        printable(&record.action),
        printable(&record.container)
    );
    let who = format!("{} ({})", printable(&record.from), printable(&record.trust));
    let mut lines = vec![format!(
        "{}  {outcome}  {what:28}  {who:24}  {}  {} ms",
        Paint::Dim.paint(colour, &printable(&record.ts)),
        printable(&record.id),
        record.ms
    )];
    let mut details = Vec::new();
    if record.verdict != "-" {
        details.push(format!("verdict: {}", printable(&record.verdict)));
    }
    if let Some(reason) = &record.reason {
        details.push(format!("why: {}", printable(reason)));
    }
    lines.extend(
        details
            .into_iter()
            .map(|d| format!("    {}", Paint::Dim.paint(colour, &d))),
    );
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(printable(input), expected, "{input:?}");
    }

    #[test]
    fn control_characters_are_escaped() {
        check("plain jq.apt", "plain jq.apt");
        check("a\nb\rc\td", r"a\nb\rc\td");
        check("\u{1b}[2J", r"\u{1b}[2J");
        check("\u{7f}\u{85}\u{9b}31m", r"\u{7f}\u{85}\u{9b}31m");
        check(
            "\u{202e}txt.exe\u{2066}x\u{2069}",
            r"\u{202e}txt.exe\u{2066}x\u{2069}",
        );
        check("\u{200f}\u{2028}", r"\u{200f}\u{2028}");
        check(r"a\nb", r"a\\nb");
        check("é ü 日本 🙂", "é ü 日本 🙂");
    }

    #[test]
    fn a_forged_line_stays_on_its_own_line() {
        let record = Record {
            ts: "2026-11-30T10:00:00Z".into(),
            id: "t-1\r".into(),
            address: "b00t.installer.install".into(),
            from: "x\n2026-12-01 installed jq.apt\u{1b}[2J".into(),
            trust: "unsigned".into(),
            datum: "jq\u{9b}".into(),
            plan: vec![serde_json::json!({"id": "jq.apt\n", "state": "missing"})],
            verdict: "forbidden".into(),
            reason: Some("not on\nthe whitelist\u{202e}".into()),
            outcome: "refused".into(),
            failed: vec!["a\tb".into()],
            ..Record::default()
        };
        let lines = human(&record, false);
        for line in &lines {
            assert!(
                !line.chars().any(needs_escape_but_backslash),
                "a raw control character in {line:?}"
            );
        }
        assert!(
            lines[0].contains(r"x\n2026-12-01 installed jq.apt\u{1b}[2J (unsigned)"),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains(r"jq\u{9b}") && lines[0].contains(r"t-1\r"));
        let rest = lines[1..].join("\n");
        assert!(rest.contains(r"plan: jq.apt\n missing"), "{rest}");
        assert!(
            rest.contains(r"why: not on\nthe whitelist\u{202e}"),
            "{rest}"
        );
        assert!(rest.contains(r"failed: a\tb"), "{rest}");
    }

    #[test]
    fn an_action_shows_what_was_done_to_which_container() {
        let record = ActionRecord {
            ts: "2026-12-01T09:00:00Z".into(),
            id: "a-1".into(),
            address: "b00t.ci-web.restart".into(),
            from: "-".into(),
            trust: "unsigned".into(),
            action: "restart".into(),
            container: "web\u{1b}[2J".into(),
            container_id: "abc".into(),
            verdict: "forbidden".into(),
            reason: Some("not in [ci] actions".into()),
            outcome: "refused".into(),
            ms: 2,
            ..ActionRecord::default()
        };
        let lines = human_action(&record, false);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].contains(r"restart web\u{1b}[2J"), "{}", lines[0]);
        assert!(lines[0].contains("- (unsigned)") && lines[0].contains("refused"));
        assert!(
            lines[2].contains("why: not in [ci] actions"),
            "{}",
            lines[2]
        );
    }

    fn needs_escape_but_backslash(c: char) -> bool {
        c != '\\' && crate::printable::needs_escape(c)
    }

    #[test]
    fn json_lines_stay_json() {
        let forged = "{\"from\":\"x\\n\\u001b[2J\"}";
        assert_eq!(json_line(3, forged), forged);
        let broken = json_line(4, "not json \u{1b}[2J");
        let value: serde_json::Value = serde_json::from_str(&broken).unwrap();
        assert_eq!(value["line"], 4);
        assert_eq!(value["not_a_record"], "not json \u{1b}[2J");
        assert!(!broken.contains('\u{1b}'), "{broken}");
    }
}
