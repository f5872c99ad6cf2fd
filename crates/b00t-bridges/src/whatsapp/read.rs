//! The Cloud API's "mark as read" request, with the typing indicator: the body of
//! `POST /<version>/<phone-number-id>/messages` that gives an incoming message its blue
//! ticks and shows "typing…" to its sender until the business answers or 25 s pass
//! (Meta's "Typing indicators" guide), and its `{"success": true}` answer.

use serde::{Deserialize, Serialize};

/// How long WhatsApp shows the typing indicator after one request, unless the business
/// answers first.
pub const TYPING_SHOWN_FOR: std::time::Duration = std::time::Duration::from_secs(25);

/// `{"messaging_product": "whatsapp", "status": "read", "message_id": …}`, with
/// `typing_indicator: {"type": "text"}` to show typing as well.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkRead {
    /// Always `whatsapp`.
    pub messaging_product: String,
    /// Always `read`: the only status a business may set on an incoming message.
    pub status: String,
    /// The incoming message's `wamid` (a webhook's `messages[].id`).
    pub message_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typing_indicator: Option<TypingIndicator>,
}

/// `{"type": "text"}`, the only indicator the Cloud API has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypingIndicator {
    #[serde(rename = "type")]
    pub kind: String,
}

impl MarkRead {
    /// Marks `message_id` read, without the typing indicator.
    pub fn new(message_id: &str) -> MarkRead {
        MarkRead {
            messaging_product: "whatsapp".to_owned(),
            status: "read".to_owned(),
            message_id: message_id.to_owned(),
            typing_indicator: None,
        }
    }

    /// The same request showing the typing indicator as well.
    pub fn typing(mut self) -> MarkRead {
        self.typing_indicator = Some(TypingIndicator {
            kind: "text".to_owned(),
        });
        self
    }
}

/// The answer to an accepted [`MarkRead`]: `{"success": true}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Success {
    #[serde(default)]
    pub success: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_request_is_the_documented_json() {
        assert_eq!(
            serde_json::to_value(MarkRead::new("wamid.in").typing()).unwrap(),
            json!({
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": "wamid.in",
                "typing_indicator": {"type": "text"},
            })
        );
        let plain = serde_json::to_value(MarkRead::new("wamid.in")).unwrap();
        assert!(plain.get("typing_indicator").is_none(), "{plain}");
        let answer: Success = serde_json::from_str(r#"{"success": true}"#).unwrap();
        assert!(answer.success);
        assert!(!serde_json::from_str::<Success>("{}").unwrap().success);
    }
}
