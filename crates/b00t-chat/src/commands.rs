//! The chat commands every bridge understands: `/help` (and Telegram's `/start`),
//! `/agents` (who is on the bus), `/ask <agent> <text>` (a task to that agent's `chat`),
//! `/status` (the bridge and this chat's binding). Anything else, other slash words
//! included, is a message for the chat's group.

/// A command read from a chat message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Agents,
    Status,
    /// `/ask <agent> <text>`.
    Ask {
        agent: String,
        text: String,
    },
    /// `/ask` without an agent or a text: how to use it.
    AskUsage,
}

/// The command `text` holds, if it is one. `bot_username` (without `@`) is stripped from
/// `/command@username`; a command addressed to another bot is not this bridge's.
pub fn parse(text: &str, bot_username: &str) -> Option<Command> {
    let text = text.trim_start();
    let rest = text.strip_prefix('/')?;
    let (word, args) = match rest.split_once(char::is_whitespace) {
        Some((word, args)) => (word, args.trim()),
        None => (rest, ""),
    };
    let word = match word.split_once('@') {
        Some((word, to)) if to.eq_ignore_ascii_case(bot_username) => word,
        Some(_) => return None,
        None => word,
    };
    match word.to_ascii_lowercase().as_str() {
        "help" | "start" => Some(Command::Help),
        "agents" => Some(Command::Agents),
        "status" => Some(Command::Status),
        "ask" => {
            let (agent, text) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
            let text = text.trim();
            if agent.is_empty() || text.is_empty() {
                Some(Command::AskUsage)
            } else {
                Some(Command::Ask {
                    agent: agent.trim_start_matches('@').to_owned(),
                    text: text.to_owned(),
                })
            }
        }
        _ => None,
    }
}

/// What `/help` answers; `group` is the group this chat reaches.
pub fn help(group: &str) -> String {
    format!(
        "Messages here go to the group `{group}`'s assistant.\n\n\
         Commands:\n\
         /help: this text\n\
         /agents: who is on the bus\n\
         /ask <agent> <text>: ask another agent (its `chat` skill)\n\
         /status: this bridge and chat"
    )
}

/// What `/ask` without its arguments answers.
pub const ASK_USAGE: &str = "Write `/ask <agent> <text>`, for example `/ask family what is for dinner?`; /agents lists who is there.";

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Option<Command>) {
        assert_eq!(parse(text, "b00t_bot"), expected, "{text}");
    }

    #[test]
    fn commands_and_not_commands() {
        check("/help", Some(Command::Help));
        check("/start", Some(Command::Help));
        check("/HELP@B00T_bot", Some(Command::Help));
        check("/help@other_bot", None);
        check("  /agents", Some(Command::Agents));
        check("/status now", Some(Command::Status));
        check(
            "/ask family what is  for dinner?",
            Some(Command::Ask {
                agent: "family".into(),
                text: "what is  for dinner?".into(),
            }),
        );
        check("/ask family", Some(Command::AskUsage));
        check("/ask", Some(Command::AskUsage));
        check("/weather Paris", None);
        check("hello /help", None);
        check("", None);
    }
}
