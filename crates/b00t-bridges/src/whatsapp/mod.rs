//! The WhatsApp Cloud API's pure pieces: the webhook's JSON and the send request as types
//! (`types`), the "mark as read" request with its typing indicator (`read`), the
//! subscription handshake and the `X-Hub-Signature-256` check (`verify`), a message's
//! task id (`id`), and the in-memory de-duplication of redeliveries by message id
//! (`dedup`). The webhook server, the Graph API client and the bus side live elsewhere.
//!
//! A webhook `POST` is taken in this order: [`verify_signature`] over the raw body,
//! then parse a [`Notification`] from the same bytes, [`incoming`] for its messages,
//! and [`SeenMessages::first_time`] for each message id.

pub mod dedup;
pub mod id;
pub mod read;
pub mod types;
pub mod verify;

pub use dedup::SeenMessages;
pub use id::task_id;
pub use read::{MarkRead, Success, TYPING_SHOWN_FOR};
pub use types::{
    incoming, messages_path, Content, ErrorEnvelope, GraphError, Incoming, Notification,
    SendAnswer, SendText,
};
pub use verify::{
    verify_signature, verify_subscription, SignatureError, SubscriptionRefused, SIGNATURE_HEADER,
};

/// A webhook POST taken end to end, on bytes as Meta writes them: non-ASCII as `\uXXXX`,
/// `/` as `\/` (b00t-testkit's `encode_like_meta` writes the same), so the signature holds
/// only over the raw body, never over a re-serialization.
#[cfg(test)]
mod tests {
    use super::*;

    /// python3: json.dumps(notification, separators=(',', ':'), ensure_ascii=True)
    /// with `/` replaced by `\/`.
    const BODY: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Zo\u00eb"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRB","timestamp":"1749416383","type":"text","text":{"body":"cr\u00e8me br\u00fbl\u00e9e \/ \ud83c\udf6e"},"context":{"from":"15550783881","id":"wamid.ours"}}]},"field":"messages"}]}]}"#;
    /// python3 -c "import hmac,hashlib; print(hmac.new(b'app-secret', BODY.encode(),
    /// hashlib.sha256).hexdigest())"
    const SIGNATURE: &str =
        "sha256=8c83075753b5b7488e3dc960b5b74f27725cbb7370f4d9359744b88191d5a457";

    #[test]
    fn what_meta_delivers_verifies_parses_and_is_taken_once() {
        let body = BODY.as_bytes();
        assert_eq!(
            verify_signature(b"app-secret", Some(SIGNATURE.as_bytes()), body),
            Ok(())
        );
        assert_eq!(
            verify_signature(b"another secret", Some(SIGNATURE.as_bytes()), body),
            Err(SignatureError::Mismatch)
        );
        let notification: Notification = serde_json::from_slice(body).unwrap();
        // serde_json writes the same JSON back without the escapes: other bytes.
        let rewritten =
            serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(body).unwrap())
                .unwrap();
        assert_eq!(
            verify_signature(b"app-secret", Some(SIGNATURE.as_bytes()), &rewritten),
            Err(SignatureError::Mismatch)
        );
        let found = incoming(&notification);
        assert_eq!(
            found,
            [Incoming {
                phone_number_id: "106540352242922".to_owned(),
                from: "16505551234".to_owned(),
                contact_name: Some("Zoë".to_owned()),
                message_id: "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRB".to_owned(),
                timestamp: "1749416383".to_owned(),
                reply_to: Some("wamid.ours".to_owned()),
                content: Content::Text {
                    body: "crème brûlée / 🍮".to_owned()
                },
            }]
        );
        let mut seen = SeenMessages::default();
        assert!(seen.first_time(&found[0].message_id));
        // Meta's redelivery of the same notification.
        let again = incoming(&serde_json::from_slice(body).unwrap());
        assert!(!seen.first_time(&again[0].message_id));
    }
}
