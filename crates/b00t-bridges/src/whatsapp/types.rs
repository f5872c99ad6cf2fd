//! The WhatsApp Cloud API's JSON as serde types: the webhook notification
//! (`entry[].changes[].value.messages[]`, tolerant of fields and message types it does not
//! know), the text-message send request and its answer, and the Graph API's error
//! envelope; [`incoming`] pulls the messages a bridge answers out of a notification.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `object` of every Cloud API notification.
pub const OBJECT: &str = "whatsapp_business_account";
/// The `field` of the changes that carry messages and statuses.
pub const MESSAGES_FIELD: &str = "messages";

/// A webhook notification, the body of Meta's `POST`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Notification {
    #[serde(default)]
    pub object: String,
    #[serde(default)]
    pub entry: Vec<Entry>,
}

/// One WhatsApp Business Account's changes.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Entry {
    /// The WhatsApp Business Account id.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub changes: Vec<Change>,
}

/// One change: `field` says what kind (`messages` for messages and statuses).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Change {
    #[serde(default)]
    pub field: String,
    #[serde(default)]
    pub value: ChangeValue,
}

/// The `value` of a change. Every part is optional: a `messages` change holds either
/// `messages` (with `contacts`) or `statuses`; other fields' values hold none of them.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ChangeValue {
    #[serde(default)]
    pub messaging_product: String,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    #[serde(default)]
    pub messages: Vec<Message>,
    #[serde(default)]
    pub statuses: Vec<Status>,
    /// Errors Meta reports about the change itself, as sent.
    #[serde(default)]
    pub errors: Vec<Value>,
}

/// The business number the change is about.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Metadata {
    #[serde(default)]
    pub display_phone_number: String,
    /// The id a reply is sent from: `POST /<version>/<phone_number_id>/messages`.
    #[serde(default)]
    pub phone_number_id: String,
}

/// The sender of a message.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Contact {
    #[serde(default)]
    pub profile: Profile,
    #[serde(default)]
    pub wa_id: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Profile {
    #[serde(default)]
    pub name: String,
}

/// One incoming message. Read through a tolerant shape: a message of a type this crate
/// does not read is [`Content::Unsupported`] with its type's name, its fields kept in
/// `other`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(from = "RawMessage")]
pub struct Message {
    /// The sender's WhatsApp id.
    pub from: String,
    /// The message's id (`wamid.…`): what a reply's `context.message_id` names and what
    /// redeliveries are de-duplicated by.
    pub id: String,
    /// Unix seconds, as Meta sends them: a string.
    pub timestamp: String,
    pub content: Content,
    pub context: Option<Context>,
    /// Every other field as sent (`image`, `referral`, `errors`, …).
    pub other: Map<String, Value>,
}

/// What a message says, as far as a bridge reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// `type: "text"` with its `text.body`.
    Text { body: String },
    /// Any other type (`image`, `audio`, `reaction`, Meta's own `unsupported`, …), or a
    /// `text` without a body; `kind` is the `type` as sent.
    Unsupported { kind: String },
}

impl Default for Content {
    fn default() -> Self {
        Content::Unsupported {
            kind: String::new(),
        }
    }
}

/// `context` of a message: the message it replies to (`id`, sent by `from`), or the
/// forwarding flags.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Context {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub forwarded: bool,
    #[serde(default)]
    pub frequently_forwarded: bool,
}

/// A status change of a message the business sent (`sent`, `delivered`, `read`,
/// `failed`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Status {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub timestamp: String,
    #[serde(default)]
    pub recipient_id: String,
    /// Why a `failed` message failed, as sent.
    #[serde(default)]
    pub errors: Vec<Value>,
}

/// One message a bridge may answer, with what it needs to answer it: pulled out of a
/// notification by [`incoming`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incoming {
    /// The business number it reached, the one to answer from.
    pub phone_number_id: String,
    /// The sender's WhatsApp id, the one to answer to.
    pub from: String,
    /// The sender's profile name, when the notification names the contact.
    pub contact_name: Option<String>,
    pub message_id: String,
    pub timestamp: String,
    /// The id of the message this one replies to (`context.id`).
    pub reply_to: Option<String>,
    pub content: Content,
}

/// The incoming messages of `notification`, in order: those of `messages` changes of a
/// `whatsapp_business_account` notification that name a sender and an id. Statuses and
/// other fields' changes give none.
pub fn incoming(notification: &Notification) -> Vec<Incoming> {
    if notification.object != OBJECT {
        return Vec::new();
    }
    let changes = notification
        .entry
        .iter()
        .flat_map(|entry| &entry.changes)
        .filter(|change| change.field == MESSAGES_FIELD);
    let mut found = Vec::new();
    for change in changes {
        let value = &change.value;
        for message in &value.messages {
            if message.from.is_empty() || message.id.is_empty() {
                continue;
            }
            let contact = value
                .contacts
                .iter()
                .find(|contact| contact.wa_id == message.from)
                .or(match value.contacts.as_slice() {
                    [only] => Some(only),
                    _ => None,
                });
            found.push(Incoming {
                phone_number_id: value.metadata.phone_number_id.clone(),
                from: message.from.clone(),
                contact_name: contact
                    .map(|contact| contact.profile.name.clone())
                    .filter(|name| !name.is_empty()),
                message_id: message.id.clone(),
                timestamp: message.timestamp.clone(),
                reply_to: message.context.as_ref().and_then(|c| c.id.clone()),
                content: message.content.clone(),
            });
        }
    }
    found
}

/// The body of `POST /<version>/<phone-number-id>/messages` for a text message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendText {
    /// Always `whatsapp`.
    pub messaging_product: String,
    /// `individual` (one person).
    pub recipient_type: String,
    /// The recipient's WhatsApp id or phone number.
    pub to: String,
    /// Always `text`.
    #[serde(rename = "type")]
    pub kind: String,
    pub text: TextBody,
    /// The message this one replies to: WhatsApp shows it quoted above the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ReplyContext>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextBody {
    /// Whether WhatsApp renders a preview of the first URL; off for assistants' answers.
    pub preview_url: bool,
    /// At most 4,096 characters ([`crate::WHATSAPP_LIMIT`]).
    pub body: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyContext {
    pub message_id: String,
}

impl SendText {
    /// A text message to `to` saying `body`, without a link preview.
    pub fn new(to: &str, body: &str) -> SendText {
        SendText {
            messaging_product: "whatsapp".to_owned(),
            recipient_type: "individual".to_owned(),
            to: to.to_owned(),
            kind: "text".to_owned(),
            text: TextBody {
                preview_url: false,
                body: body.to_owned(),
            },
            context: None,
        }
    }

    /// The same message as a reply to `message_id`.
    pub fn replying_to(mut self, message_id: &str) -> SendText {
        self.context = Some(ReplyContext {
            message_id: message_id.to_owned(),
        });
        self
    }
}

/// The path a message is sent to, below the Graph API base (`WHATSAPP_API_URL`):
/// `/<version>/<phone-number-id>/messages`.
pub fn messages_path(version: &str, phone_number_id: &str) -> String {
    format!("/{version}/{phone_number_id}/messages")
}

/// The answer to a send that was accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct SendAnswer {
    #[serde(default)]
    pub messaging_product: String,
    #[serde(default)]
    pub contacts: Vec<SentContact>,
    #[serde(default)]
    pub messages: Vec<SentMessage>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct SentContact {
    /// The `to` as sent.
    #[serde(default)]
    pub input: String,
    #[serde(default)]
    pub wa_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct SentMessage {
    /// The new message's `wamid`.
    #[serde(default)]
    pub id: String,
    /// `accepted`, `held_for_quality_assessment`, … where Meta says.
    #[serde(default)]
    pub message_status: Option<String>,
}

impl SendAnswer {
    /// The id of the message sent, when the answer names one.
    pub fn message_id(&self) -> Option<&str> {
        self.messages
            .first()
            .map(|message| message.id.as_str())
            .filter(|id| !id.is_empty())
    }
}

/// The Graph API's error answer: `{"error": {…}}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ErrorEnvelope {
    pub error: GraphError,
}

/// One Graph API error. Build on `code` (Meta's advice), not on the HTTP status or the
/// deprecated `error_subcode`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct GraphError {
    #[serde(default)]
    pub message: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub error_subcode: Option<i64>,
    #[serde(default)]
    pub error_data: Option<ErrorData>,
    #[serde(default)]
    pub is_transient: Option<bool>,
    #[serde(default)]
    pub fbtrace_id: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ErrorData {
    #[serde(default)]
    pub messaging_product: Option<String>,
    /// Which parameter was wrong, or why the message failed.
    #[serde(default)]
    pub details: Option<String>,
}

impl GraphError {
    /// A throttling code: `4` (app calls), `80007` (the account's rate limit), `130429`
    /// (Cloud API throughput), `131056` (too many messages to one recipient). Wait and
    /// send again.
    pub fn is_rate_limit(&self) -> bool {
        matches!(self.code, 4 | 80007 | 130429 | 131056)
    }

    /// The access token is expired or invalid (`190`): sending again will not help.
    pub fn is_token_problem(&self) -> bool {
        self.code == 190
    }

    /// What the error says, its details included.
    pub fn describe(&self) -> String {
        match self
            .error_data
            .as_ref()
            .and_then(|data| data.details.as_deref())
        {
            Some(details) if !details.is_empty() => {
                format!("{} (code {}): {details}", self.message, self.code)
            }
            _ => format!("{} (code {})", self.message, self.code),
        }
    }
}

/// How a message is read before it is typed: every field defaulted, the rest kept.
#[derive(Deserialize)]
struct RawMessage {
    #[serde(default)]
    from: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    timestamp: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<RawText>,
    #[serde(default)]
    context: Option<Context>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

#[derive(Deserialize)]
struct RawText {
    #[serde(default)]
    body: Option<String>,
}

impl From<RawMessage> for Message {
    fn from(raw: RawMessage) -> Message {
        let body = raw.text.and_then(|text| text.body);
        let content = match (raw.kind.as_str(), body) {
            ("text", Some(body)) => Content::Text { body },
            _ => Content::Unsupported { kind: raw.kind },
        };
        Message {
            from: raw.from,
            id: raw.id,
            timestamp: raw.timestamp,
            content,
            context: raw.context,
            other: raw.other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Meta's documented text-message example, with a reply context and fields this
    /// crate does not know.
    const TEXT_NOTIFICATION: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [{
        "id": "102290129340398",
        "changes": [{
          "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234", "identity_key_hash": "x"}],
            "messages": [{
              "from": "16505551234",
              "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
              "timestamp": "1749416383",
              "type": "text",
              "text": {"body": "Does it come in another color?"},
              "context": {"from": "15550783881", "id": "wamid.HBgLMTY0NjcwNDM1OTUVAgASGBQzQTdCNTg5RjY1MEMyRjlGMjRGNgA="},
              "referral": {"source_type": "ad"}
            }]
          },
          "field": "messages",
          "unknown": true
        }]
      }]
    }"#;

    fn check(notification: &str, expected: &[Incoming]) {
        let parsed: Notification = serde_json::from_str(notification).unwrap();
        assert_eq!(incoming(&parsed), expected);
    }

    #[test]
    fn a_text_message_is_pulled_out_with_sender_name_and_reply() {
        check(
            TEXT_NOTIFICATION,
            &[Incoming {
                phone_number_id: "106540352242922".to_owned(),
                from: "16505551234".to_owned(),
                contact_name: Some("Sheena Nelson".to_owned()),
                message_id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
                    .to_owned(),
                timestamp: "1749416383".to_owned(),
                reply_to: Some(
                    "wamid.HBgLMTY0NjcwNDM1OTUVAgASGBQzQTdCNTg5RjY1MEMyRjlGMjRGNgA=".to_owned(),
                ),
                content: Content::Text {
                    body: "Does it come in another color?".to_owned(),
                },
            }],
        );
        let parsed: Notification = serde_json::from_str(TEXT_NOTIFICATION).unwrap();
        let message = &parsed.entry[0].changes[0].value.messages[0];
        assert!(message.other.contains_key("referral"));
    }

    #[test]
    fn other_types_are_unsupported_with_their_name() {
        let notification = json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
                "metadata": {"phone_number_id": "7"},
                "messages": [
                    {"from": "1", "id": "a", "timestamp": "1", "type": "image",
                     "image": {"id": "media", "mime_type": "image/jpeg"}},
                    {"from": "1", "id": "b", "timestamp": "1", "type": "text"},
                    {"from": "1", "id": "c", "timestamp": "1", "type": "unsupported",
                     "errors": [{"code": 131051}]},
                    {"id": "no sender", "type": "text", "text": {"body": "x"}},
                ],
            }}]}],
        });
        let parsed: Notification = serde_json::from_value(notification).unwrap();
        let kinds: Vec<(String, Content)> = incoming(&parsed)
            .into_iter()
            .map(|m| (m.message_id, m.content))
            .collect();
        let unsupported = |kind: &str| Content::Unsupported {
            kind: kind.to_owned(),
        };
        assert_eq!(
            kinds,
            [
                ("a".to_owned(), unsupported("image")),
                ("b".to_owned(), unsupported("text")),
                ("c".to_owned(), unsupported("unsupported")),
            ]
        );
    }

    #[test]
    fn statuses_and_other_fields_give_no_messages() {
        let statuses = r#"{"object": "whatsapp_business_account", "entry": [{"id": "1",
            "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "1", "phone_number_id": "2"},
            "statuses": [{"id": "wamid.x", "status": "read", "timestamp": "1",
            "recipient_id": "3", "pricing": {"billable": false}}]}}]}]}"#;
        check(statuses, &[]);
        let parsed: Notification = serde_json::from_str(statuses).unwrap();
        assert_eq!(parsed.entry[0].changes[0].value.statuses[0].status, "read");
        let account = r#"{"object": "whatsapp_business_account", "entry": [{"id": "1",
            "changes": [{"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}]}]}"#;
        check(account, &[]);
        let page = TEXT_NOTIFICATION.replace("whatsapp_business_account", "page");
        check(&page, &[]);
        check("{}", &[]);
    }

    #[test]
    fn the_send_request_is_the_documented_json() {
        let request = SendText::new("16505551234", "Hi!").replying_to("wamid.in");
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "16505551234",
                "type": "text",
                "text": {"preview_url": false, "body": "Hi!"},
                "context": {"message_id": "wamid.in"},
            })
        );
        let plain = serde_json::to_value(SendText::new("1", "x")).unwrap();
        assert!(plain.get("context").is_none());
        assert_eq!(
            messages_path("v21.0", "106540352242922"),
            "/v21.0/106540352242922/messages"
        );
    }

    #[test]
    fn answers_and_errors_parse() {
        let answer: SendAnswer = serde_json::from_str(
            r#"{"messaging_product": "whatsapp", "contacts": [{"input": "+1 650", "wa_id": "1650"}],
                "messages": [{"id": "wamid.out", "message_status": "accepted"}]}"#,
        )
        .unwrap();
        assert_eq!(answer.message_id(), Some("wamid.out"));
        assert_eq!(answer.contacts[0].wa_id, "1650");
        assert_eq!(SendAnswer::default().message_id(), None);

        let envelope: ErrorEnvelope = serde_json::from_str(
            r#"{"error": {"message": "(#130429) Rate limit hit", "type": "OAuthException",
                "code": 130429, "error_data": {"messaging_product": "whatsapp",
                "details": "Cloud API message throughput has been reached."},
                "error_subcode": 2494055, "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}}"#,
        )
        .unwrap();
        let error = envelope.error;
        assert!(error.is_rate_limit());
        assert!(!error.is_token_problem());
        assert_eq!(error.error_subcode, Some(2494055));
        assert_eq!(
            error.describe(),
            "(#130429) Rate limit hit (code 130429): Cloud API message throughput has been reached."
        );
        let token: ErrorEnvelope = serde_json::from_str(
            r#"{"error": {"message": "Invalid OAuth access token", "type": "OAuthException", "code": 190, "fbtrace_id": "A"}}"#,
        )
        .unwrap();
        assert!(token.error.is_token_problem());
        assert_eq!(
            token.error.describe(),
            "Invalid OAuth access token (code 190)"
        );
    }
}
