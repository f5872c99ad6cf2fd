//! Agent cards as MCP resources: `b00t://agents` (every card) and `b00t://agents/<name>`
//! (one), read afresh from the runtime each time.

use rmcp::model::{Resource, ResourceContents, ResourceTemplate};
use serde_json::Value;

/// Every card.
pub(crate) const ALL_AGENTS: &str = "b00t://agents";
/// One card: `b00t://agents/<name>`.
const AGENT_PREFIX: &str = "b00t://agents/";
const JSON: &str = "application/json";

/// What a URI names.
#[derive(Debug, PartialEq)]
pub(crate) enum Named<'a> {
    All,
    Agent(&'a str),
}

/// Reads `uri`; `Err` says what the client can read instead.
pub(crate) fn parse(uri: &str) -> Result<Named<'_>, String> {
    if uri == ALL_AGENTS {
        return Ok(Named::All);
    }
    match uri.strip_prefix(AGENT_PREFIX) {
        Some(name) if b00t_proto::Name::parse(name).is_ok() => Ok(Named::Agent(name)),
        _ => Err(format!(
            "no resource `{}`: this server has `{ALL_AGENTS}` and `{AGENT_PREFIX}<name>` for each agent",
            crate::args::printable(uri)
        )),
    }
}

/// Whether a change of `agent`'s card updates the resource `uri`.
pub(crate) fn names_agent(uri: &str, agent: &str) -> bool {
    match parse(uri) {
        Ok(Named::All) => true,
        Ok(Named::Agent(name)) => name == agent,
        Err(_) => false,
    }
}

/// The list: every card, and one resource per agent.
pub(crate) fn list(cards: &[Value]) -> Vec<Resource> {
    let mut resources = vec![Resource::new(ALL_AGENTS, "agents")
        .with_description("Every agent's card on the b00t bus")
        .with_mime_type(JSON)];
    for card in cards {
        let Some(name) = card["agent"]
            .as_str()
            .filter(|n| b00t_proto::Name::parse(n).is_ok())
        else {
            continue;
        };
        let mut resource =
            Resource::new(format!("{AGENT_PREFIX}{name}"), name).with_mime_type(JSON);
        let kind = card["kind"].as_str().unwrap_or("agent");
        let state = card["state"].as_str().unwrap_or("unknown");
        resource =
            resource.with_description(format!("The card of agent `{name}` ({kind}, {state})"));
        resources.push(resource);
    }
    resources
}

/// The template a client can fill in.
pub(crate) fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(format!("{AGENT_PREFIX}{{name}}"), "agent")
            .with_description("One agent's card on the b00t bus")
            .with_mime_type(JSON),
    ]
}

/// The contents of `named` among `cards`; `None` when no such agent.
pub(crate) fn read(uri: &str, named: &Named<'_>, cards: Vec<Value>) -> Option<ResourceContents> {
    let text = match named {
        Named::All => Value::Array(cards).to_string(),
        Named::Agent(name) => cards.into_iter().find(|c| c["agent"] == *name)?.to_string(),
    };
    Some(ResourceContents::text(text, uri).with_mime_type(JSON))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uris_name_all_cards_or_one() {
        assert_eq!(parse("b00t://agents"), Ok(Named::All));
        assert_eq!(parse("b00t://agents/echo"), Ok(Named::Agent("echo")));
        for bad in [
            "b00t://agents/",
            "b00t://agents/Echo",
            "b00t://agents/a/b",
            "file:///etc/passwd",
        ] {
            assert!(
                parse(bad).unwrap_err().contains("b00t://agents/<name>"),
                "{bad}"
            );
        }
    }

    #[test]
    fn each_card_is_listed_and_read() {
        let cards = vec![
            json!({"agent": "echo", "kind": "echo", "state": "online"}),
            json!({"agent": "../x"}),
        ];
        let listed = list(&cards);
        let uris: Vec<_> = listed.iter().map(|r| r.uri.as_str()).collect();
        assert_eq!(uris, ["b00t://agents", "b00t://agents/echo"]);
        let one = read("b00t://agents/echo", &Named::Agent("echo"), cards.clone()).unwrap();
        let ResourceContents::TextResourceContents { text, .. } = one else {
            panic!("text")
        };
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap()["kind"],
            "echo"
        );
        assert!(read("b00t://agents/nobody", &Named::Agent("nobody"), cards).is_none());
    }
}
