//! Whether a Matrix message is for the bot: always in a direct chat (a room of two
//! members); elsewhere when it mentions the bot on purpose (its user id in `m.mentions`,
//! which clients also add to a reply to the bot), links to it (a pill to
//! `https://matrix.to/#/<user id>` in the HTML), names it in the body (its user id, its
//! display name or its localpart, as a whole word, without case), or starts with the
//! configured trigger word (`@Andy`).

use crate::matrix::types::MessageContent;
use crate::mention::starts_with_word;

/// Who the bot is: its user id (`/account/whoami`) and display name (its profile).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatrixBot {
    /// `@<localpart>:<server>`.
    pub user_id: String,
    pub display_name: Option<String>,
}

impl MatrixBot {
    /// The user id's localpart: `b00t` of `@b00t:example.org`.
    pub fn localpart(&self) -> &str {
        let id = self.user_id.strip_prefix('@').unwrap_or(&self.user_id);
        id.split_once(':').map_or(id, |(local, _)| local)
    }
}

/// Whether `message` addresses `bot` (see the module header). `joined_members` is the
/// room's member count when known; `trigger` the configured trigger word.
pub fn addresses_bot(
    message: &MessageContent,
    bot: &MatrixBot,
    trigger: Option<&str>,
    joined_members: Option<u64>,
) -> bool {
    if joined_members == Some(2) {
        return true;
    }
    if message
        .mentions
        .as_ref()
        .is_some_and(|m| m.user_ids.contains(&bot.user_id))
    {
        return true;
    }
    let pill = format!("matrix.to/#/{}", bot.user_id);
    if message
        .formatted_body
        .as_deref()
        .is_some_and(|html| html.contains(&pill))
    {
        return true;
    }
    let names = [
        Some(bot.user_id.as_str()),
        bot.display_name.as_deref(),
        Some(bot.localpart()),
    ];
    if names
        .into_iter()
        .flatten()
        .any(|name| contains_word(&message.body, name))
    {
        return true;
    }
    trigger.is_some_and(|word| starts_with_word(&message.body, word))
}

/// Whether `text` holds `word` (without case) with no letter, digit or `_` touching it
/// on either side.
fn contains_word(text: &str, word: &str) -> bool {
    let word = word.trim().to_lowercase();
    if word.is_empty() {
        return false;
    }
    let text = text.to_lowercase();
    let continues = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut from = 0;
    while let Some(found) = text[from..].find(&word) {
        let start = from + found;
        let end = start + word.len();
        if !continues(text[..start].chars().next_back()) && !continues(text[end..].chars().next()) {
            return true;
        }
        from = start + text[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bot() -> MatrixBot {
        MatrixBot {
            user_id: "@b00t:localhost".into(),
            display_name: Some("Helper Bot".into()),
        }
    }

    fn check(content: serde_json::Value, members: Option<u64>, expected: bool) {
        let message: MessageContent = serde_json::from_value(content.clone()).unwrap();
        assert_eq!(
            addresses_bot(&message, &bot(), Some("@Andy"), members),
            expected,
            "{content} in a room of {members:?}"
        );
    }

    #[test]
    fn a_direct_chat_always() {
        check(
            json!({"msgtype": "m.text", "body": "anything"}),
            Some(2),
            true,
        );
        check(
            json!({"msgtype": "m.text", "body": "anything"}),
            Some(3),
            false,
        );
        check(
            json!({"msgtype": "m.text", "body": "anything"}),
            None,
            false,
        );
    }

    #[test]
    fn mentions_pills_and_names() {
        let group = Some(5);
        check(
            json!({"msgtype": "m.text", "body": "hey there",
                   "m.mentions": {"user_ids": ["@b00t:localhost"]}}),
            group,
            true,
        );
        check(
            json!({"msgtype": "m.text", "body": "hey there",
                   "m.mentions": {"user_ids": ["@ann:localhost"]}}),
            group,
            false,
        );
        check(
            json!({"msgtype": "m.text", "body": "Helper: hi", "format": "org.matrix.custom.html",
                   "formatted_body": "<a href=\"https://matrix.to/#/@b00t:localhost\">Helper</a>: hi"}),
            group,
            true,
        );
        check(
            json!({"msgtype": "m.text", "body": "ask @b00t:localhost now"}),
            group,
            true,
        );
        check(
            json!({"msgtype": "m.text", "body": "helper bot, what's up?"}),
            group,
            true,
        );
        check(
            json!({"msgtype": "m.text", "body": "b00t: the time?"}),
            group,
            true,
        );
        check(
            json!({"msgtype": "m.text", "body": "B00T the time?"}),
            group,
            true,
        );
        // Part of another word is no mention.
        check(
            json!({"msgtype": "m.text", "body": "reb00t the router"}),
            group,
            false,
        );
        check(
            json!({"msgtype": "m.text", "body": "b00ts and helper botany"}),
            group,
            false,
        );
        check(
            json!({"msgtype": "m.text", "body": "just chatting"}),
            group,
            false,
        );
    }

    #[test]
    fn the_trigger_word_at_the_start() {
        check(
            json!({"msgtype": "m.text", "body": "@Andy what time is it"}),
            Some(4),
            true,
        );
        check(
            json!({"msgtype": "m.text", "body": "hello @Andy"}),
            Some(4),
            false,
        );
        let message: MessageContent =
            serde_json::from_value(json!({"msgtype": "m.text", "body": "@Andy hi"})).unwrap();
        assert!(!addresses_bot(&message, &bot(), None, Some(4)));
    }

    #[test]
    fn localparts_and_words() {
        assert_eq!(bot().localpart(), "b00t");
        let odd = MatrixBot {
            user_id: "nocolon".into(),
            display_name: None,
        };
        assert_eq!(odd.localpart(), "nocolon");
        assert!(contains_word("Ünïcode BÖT here", "böt"));
        assert!(contains_word("x b00t", "b00t"));
        assert!(!contains_word("x b00t_", "b00t"));
        assert!(contains_word("b00tb00t b00t", "b00t"));
        assert!(!contains_word("anything", "  "));
    }
}
