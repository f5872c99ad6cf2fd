//! Whether a Telegram message is for the bot: always in a private chat; in a group when it
//! mentions the bot (`@username`, a text mention of its id, or `/command@username`),
//! replies to one of the bot's messages, or starts with the configured trigger word
//! (NanoClaw's `@Andy`), compared without case.

use crate::telegram::types::{ChatType, Message};

/// Who the bot is, from `getMe`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BotIdentity {
    pub id: i64,
    /// Without the `@`.
    pub username: String,
}

/// Whether `message` addresses the bot: see the module header. `trigger` is the configured
/// trigger word, if any (`@Andy`); it counts only at the start of the text, as a whole word.
pub fn addresses_bot(message: &Message, bot: &BotIdentity, trigger: Option<&str>) -> bool {
    if message.chat.kind == ChatType::Private {
        return true;
    }
    let replies_to_bot = message
        .reply_to_message
        .as_ref()
        .and_then(|replied| replied.from.as_ref())
        .is_some_and(|from| from.id == bot.id);
    if replies_to_bot {
        return true;
    }
    let Some(text) = message.text.as_deref() else {
        return false;
    };
    let handle = format!("@{}", bot.username);
    let mentioned = message.entities.iter().any(|entity| {
        let covered = entity.text_in(text).unwrap_or_default();
        match entity.kind.as_str() {
            "mention" => covered.eq_ignore_ascii_case(&handle),
            "text_mention" => entity.user.as_ref().is_some_and(|user| user.id == bot.id),
            "bot_command" => covered
                .rsplit_once('@')
                .is_some_and(|(_, name)| name.eq_ignore_ascii_case(&bot.username)),
            _ => false,
        }
    });
    mentioned || trigger.is_some_and(|word| starts_with_word(text, word))
}

/// Whether `text` (after leading whitespace) starts with `word`, compared without case,
/// followed by the end or a character that cannot continue a name.
pub(crate) fn starts_with_word(text: &str, word: &str) -> bool {
    let word = word.trim();
    if word.is_empty() {
        return false;
    }
    let mut rest = text.trim_start().chars();
    for expected in word.chars() {
        match rest.next() {
            Some(c) if c.to_lowercase().eq(expected.to_lowercase()) => {}
            _ => return false,
        }
    }
    !rest
        .next()
        .is_some_and(|next| next.is_alphanumeric() || next == '_')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bot() -> BotIdentity {
        BotIdentity {
            id: 42,
            username: "b00t_bot".into(),
        }
    }

    fn message(chat_type: &str, text: &str, entities: serde_json::Value) -> Message {
        serde_json::from_value(json!({
            "message_id": 1,
            "from": {"id": 7, "is_bot": false, "first_name": "Ann"},
            "chat": {"id": -5, "type": chat_type, "title": "Family"},
            "date": 0,
            "text": text,
            "entities": entities
        }))
        .unwrap()
    }

    fn check(chat_type: &str, text: &str, entities: serde_json::Value, expected: bool) {
        let message = message(chat_type, text, entities);
        assert_eq!(
            addresses_bot(&message, &bot(), Some("@Andy")),
            expected,
            "{chat_type} {text:?}"
        );
    }

    #[test]
    fn private_chats_always() {
        check("private", "anything", json!([]), true);
    }

    #[test]
    fn groups_only_when_addressed() {
        check("group", "just chatting", json!([]), false);
        check(
            "supergroup",
            "hey @b00t_bot what's up",
            json!([{"type": "mention", "offset": 4, "length": 9}]),
            true,
        );
        check(
            "group",
            "hey @B00T_Bot",
            json!([{"type": "mention", "offset": 4, "length": 9}]),
            true,
        );
        check(
            "group",
            "hey @other_bot",
            json!([{"type": "mention", "offset": 4, "length": 10}]),
            false,
        );
        // A mention typed without Telegram's entity (an edited client) does not count.
        check("group", "hey @b00t_bot", json!([]), false);
        check(
            "group",
            "\u{1F600} @b00t_bot",
            json!([{"type": "mention", "offset": 3, "length": 9}]),
            true,
        );
        check(
            "group",
            "Ann",
            json!([{"type": "text_mention", "offset": 0, "length": 3,
                                     "user": {"id": 42, "is_bot": true, "first_name": "b00t"}}]),
            true,
        );
        check(
            "group",
            "/help@b00t_bot",
            json!([{"type": "bot_command", "offset": 0, "length": 14}]),
            true,
        );
        check(
            "group",
            "/help@other_bot",
            json!([{"type": "bot_command", "offset": 0, "length": 15}]),
            false,
        );
    }

    #[test]
    fn the_trigger_word_at_the_start() {
        check("group", "@Andy what time is it", json!([]), true);
        check("group", "  @andy, hello", json!([]), true);
        check("group", "@ANDY", json!([]), true);
        check("group", "@Andyx hello", json!([]), false);
        check("group", "hello @Andy", json!([]), false);
        let message = message("group", "@Andy hi", json!([]));
        assert!(!addresses_bot(&message, &bot(), None));
        assert!(!addresses_bot(&message, &bot(), Some("  ")));
        let message = message_with_trigger("Андрей, привет");
        assert!(addresses_bot(&message, &bot(), Some("андрей")));
    }

    fn message_with_trigger(text: &str) -> Message {
        message("group", text, json!([]))
    }

    #[test]
    fn a_reply_to_the_bot() {
        let mut message = message("group", "thanks", json!([]));
        let mut replied = message.clone();
        replied.from = Some(
            serde_json::from_value(json!({"id": 42, "is_bot": true, "first_name": "b00t"}))
                .unwrap(),
        );
        message.reply_to_message = Some(Box::new(replied.clone()));
        assert!(addresses_bot(&message, &bot(), None));
        replied.from.as_mut().unwrap().id = 43;
        message.reply_to_message = Some(Box::new(replied));
        assert!(!addresses_bot(&message, &bot(), None));
    }
}
