//! The Bot API objects the Telegram bridge reads (`Update`, `Message`, `User`, `Chat`,
//! `MessageEntity`, the `{"ok": …}` envelope) and the bodies it sends (`getUpdates`,
//! `sendMessage`, `sendChatAction`, `setWebhook`), with the field names and types of
//! <https://core.telegram.org/bots/api>. Only the fields the bridge uses are modelled;
//! every other field Telegram sends is ignored, so a newer Bot API still parses.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// An incoming update: exactly one of the optional fields is set. Kinds the bridge does not
/// handle (callback queries, polls, …) parse as an update with none of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Update {
    /// Increasing ids; `getUpdates`' `offset` is the last one handled plus one.
    pub update_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_message: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_post: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_channel_post: Option<Message>,
}

/// A message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Unique inside its chat.
    pub message_id: i64,
    /// The forum topic (or the thread of a reply), for forum supergroups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_thread_id: Option<i64>,
    /// The sender; absent for messages sent to channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<User>,
    pub chat: Chat,
    /// Unix time, seconds.
    pub date: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Mentions, commands, URLs and formatting in `text`, offsets in UTF-16 code units.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<MessageEntity>,
    /// The message this one replies to (itself without its own `reply_to_message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_message: Option<Box<Message>>,
}

/// A Telegram user or bot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub is_bot: bool,
    pub first_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Without the `@`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
}

/// A chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    /// Up to 52 significant bits; negative for groups, `-100…` for supergroups and channels.
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: ChatType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// A supergroup with topics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_forum: Option<bool>,
}

/// `Chat.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatType {
    Private,
    Group,
    Supergroup,
    Channel,
}

/// A special part of a message's text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageEntity {
    /// `mention` (`@username`), `text_mention` (a user without a username, in `user`),
    /// `bot_command`, `url`, `bold`, … (kept as the string Telegram sends).
    #[serde(rename = "type")]
    pub kind: String,
    /// In UTF-16 code units.
    pub offset: usize,
    /// In UTF-16 code units.
    pub length: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

impl MessageEntity {
    /// The part of `text` this entity covers, or `None` when it lies outside `text` or
    /// cuts a surrogate pair.
    pub fn text_in(&self, text: &str) -> Option<String> {
        let units: Vec<u16> = text.encode_utf16().collect();
        let covered = units.get(self.offset..self.offset.checked_add(self.length)?)?;
        String::from_utf16(covered).ok()
    }
}

/// Every Bot API answer: `{"ok": true, "result": …}` or `{"ok": false, "error_code": …,
/// "description": …, "parameters": {…}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiResponse<T> {
    pub ok: bool,
    #[serde(default = "none", skip_serializing_if = "Option::is_none")]
    pub result: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<ResponseParameters>,
}

fn none<T>() -> Option<T> {
    None
}

/// Why a request failed and what to do: wait, or use the migrated chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseParameters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrate_to_chat_id: Option<i64>,
    /// Seconds to wait before the same request (flood control).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl<T: DeserializeOwned> ApiResponse<T> {
    /// The result, or the refusal as an [`ApiError`] naming `method`.
    pub fn into_result(self, method: &str) -> Result<T, ApiError> {
        let method = method.to_owned();
        if self.ok {
            return self.result.ok_or(ApiError::NoResult { method });
        }
        let description = self.description.unwrap_or_default();
        let error_code = self.error_code.unwrap_or(0);
        let parameters = self.parameters.unwrap_or(ResponseParameters {
            migrate_to_chat_id: None,
            retry_after: None,
        });
        if let Some(migrate_to_chat_id) = parameters.migrate_to_chat_id {
            return Err(ApiError::Migrated {
                method,
                migrate_to_chat_id,
            });
        }
        match (error_code, parameters.retry_after) {
            (429, retry_after) => Err(ApiError::TooManyRequests {
                method,
                description,
                retry_after: retry_after.unwrap_or(1),
            }),
            _ => Err(ApiError::Refused {
                method,
                error_code,
                description,
            }),
        }
    }
}

/// `chat_id`: an integer id, or `@channelusername`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ChatId {
    Id(i64),
    Username(String),
}

/// `getUpdates`' body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetUpdates {
    /// The first update to return; every update before it is confirmed and forgotten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// 1 to 100, 100 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Long polling, in seconds; 0 (short polling) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// Update kinds wanted (`["message", "edited_message"]`); Telegram keeps the last list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_updates: Option<Vec<String>>,
}

/// `sendMessage`'s body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessage {
    pub chat_id: ChatId,
    /// 1 to 4096 characters after entities parsing.
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_mode: Option<ParseMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_thread_id: Option<i64>,
    /// What this message answers (Bot API 7.0; it replaced `reply_to_message_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_parameters: Option<ReplyParameters>,
}

/// `ReplyParameters`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyParameters {
    pub message_id: i64,
    /// Send even when the message to answer is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_sending_without_reply: Option<bool>,
}

/// `parse_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParseMode {
    #[serde(rename = "HTML")]
    Html,
    MarkdownV2,
}

/// `sendChatAction`'s body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendChatAction {
    pub chat_id: ChatId,
    pub action: ChatAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_thread_id: Option<i64>,
}

/// `sendChatAction`'s `action`: the bridge shows only that it is typing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatAction {
    Typing,
}

/// `setWebhook`'s body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetWebhook {
    /// The HTTPS URL Telegram posts updates to; empty removes the webhook.
    pub url: String,
    /// Sent back in `X-Telegram-Bot-Api-Secret-Token` on every delivery: 1 to 256 of
    /// `A-Z`, `a-z`, `0-9`, `_` and `-`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_updates: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_pending_updates: Option<bool>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_update_as_documented_parses_with_unknown_fields() {
        let update: Update = serde_json::from_value(json!({
            "update_id": 10000,
            "message": {
                "message_id": 1365,
                "message_thread_id": 7,
                "from": {"id": 1111111, "is_bot": false, "first_name": "Ann",
                         "username": "ann", "language_code": "en", "is_premium": true},
                "chat": {"id": -1001234567890_i64, "type": "supergroup", "title": "Family",
                         "is_forum": true},
                "date": 1441645532,
                "text": "@b00t_bot hi \u{1F600}",
                "entities": [{"type": "mention", "offset": 0, "length": 9}],
                "reply_to_message": {
                    "message_id": 1364,
                    "from": {"id": 42, "is_bot": true, "first_name": "b00t", "username": "b00t_bot"},
                    "chat": {"id": -1001234567890_i64, "type": "supergroup", "title": "Family"},
                    "date": 1441645500,
                    "text": "earlier"
                },
                "link_preview_options": {"is_disabled": true}
            },
            "some_future_field": {"x": 1}
        }))
        .unwrap();
        let message = update.message.unwrap();
        assert_eq!(message.chat.kind, ChatType::Supergroup);
        assert_eq!(message.message_thread_id, Some(7));
        assert_eq!(
            message.entities[0]
                .text_in(message.text.as_deref().unwrap())
                .as_deref(),
            Some("@b00t_bot")
        );
        assert_eq!(message.reply_to_message.unwrap().from.unwrap().id, 42);
        assert!(update.edited_message.is_none());
    }

    #[test]
    fn an_update_of_a_kind_not_handled_still_parses() {
        let update: Update = serde_json::from_value(json!({
            "update_id": 5, "callback_query": {"id": "1", "data": "x"}
        }))
        .unwrap();
        assert!(update.message.is_none());
    }

    #[test]
    fn entity_offsets_are_utf16() {
        let text = "\u{1F600} @bot";
        let entity = MessageEntity {
            kind: "mention".into(),
            offset: 3,
            length: 4,
            url: None,
            user: None,
            language: None,
        };
        assert_eq!(entity.text_in(text).as_deref(), Some("@bot"));
        let outside = MessageEntity {
            offset: 6,
            ..entity.clone()
        };
        assert_eq!(outside.text_in(text), None);
        let half_pair = MessageEntity {
            offset: 1,
            length: 2,
            ..entity
        };
        assert_eq!(half_pair.text_in(text), None);
    }

    #[test]
    fn envelopes_become_results_or_errors() {
        let ok: ApiResponse<bool> =
            serde_json::from_value(json!({"ok": true, "result": true})).unwrap();
        assert_eq!(ok.into_result("sendChatAction"), Ok(true));
        let flood: ApiResponse<Message> = serde_json::from_value(json!({
            "ok": false, "error_code": 429,
            "description": "Too Many Requests: retry after 5",
            "parameters": {"retry_after": 5}
        }))
        .unwrap();
        let error = flood.into_result("sendMessage").unwrap_err();
        assert_eq!(error.retry_after(), Some(std::time::Duration::from_secs(5)));
        assert!(error.is_transient());
        assert_eq!(
            error.to_string(),
            "Telegram `sendMessage` answered 429 `Too Many Requests: retry after 5`: wait 5 s and send it again"
        );
        let unauthorized: ApiResponse<User> = serde_json::from_value(json!({
            "ok": false, "error_code": 401, "description": "Unauthorized"
        }))
        .unwrap();
        let error = unauthorized.into_result("getMe").unwrap_err();
        assert!(!error.is_transient());
        assert!(
            error.to_string().contains("check `TELEGRAM_BOT_TOKEN`"),
            "{error}"
        );
        let migrated: ApiResponse<Message> = serde_json::from_value(json!({
            "ok": false, "error_code": 400,
            "description": "Bad Request: group chat was upgraded to a supergroup chat",
            "parameters": {"migrate_to_chat_id": -1001234567890_i64}
        }))
        .unwrap();
        assert!(matches!(
            migrated.into_result("sendMessage"),
            Err(ApiError::Migrated {
                migrate_to_chat_id: -1001234567890,
                ..
            })
        ));
        let empty: ApiResponse<User> = serde_json::from_value(json!({"ok": true})).unwrap();
        assert!(matches!(
            empty.into_result("getMe"),
            Err(ApiError::NoResult { .. })
        ));
    }

    #[test]
    fn request_bodies_serialize_as_documented() {
        let body = SendMessage {
            chat_id: ChatId::Id(-100123),
            text: "<b>hi</b>".into(),
            parse_mode: Some(ParseMode::Html),
            message_thread_id: Some(7),
            reply_parameters: Some(ReplyParameters {
                message_id: 9,
                allow_sending_without_reply: Some(true),
            }),
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"chat_id": -100123, "text": "<b>hi</b>", "parse_mode": "HTML",
                   "message_thread_id": 7,
                   "reply_parameters": {"message_id": 9, "allow_sending_without_reply": true}})
        );
        let action = SendChatAction {
            chat_id: ChatId::Username("@channel".into()),
            action: ChatAction::Typing,
            message_thread_id: None,
        };
        assert_eq!(
            serde_json::to_value(&action).unwrap(),
            json!({"chat_id": "@channel", "action": "typing"})
        );
        let poll = GetUpdates {
            offset: Some(10001),
            timeout: Some(30),
            allowed_updates: Some(vec!["message".into()]),
            ..GetUpdates::default()
        };
        assert_eq!(
            serde_json::to_value(&poll).unwrap(),
            json!({"offset": 10001, "timeout": 30, "allowed_updates": ["message"]})
        );
        assert_eq!(
            serde_json::to_value(ParseMode::MarkdownV2).unwrap(),
            json!("MarkdownV2")
        );
    }
}
