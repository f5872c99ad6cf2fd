//! The WhatsApp Cloud API's pure pieces: the webhook's JSON and the send request as types
//! (`types`), the subscription handshake and the `X-Hub-Signature-256` check (`verify`),
//! and the in-memory de-duplication of redeliveries by message id (`dedup`). The webhook
//! server, the Graph API client and the bus side live elsewhere.
//!
//! A webhook `POST` is taken in this order: [`verify_signature`] over the raw body,
//! then parse a [`Notification`] from the same bytes, [`incoming`] for its messages,
//! and [`SeenMessages::first_time`] for each message id.

pub mod dedup;
pub mod types;
pub mod verify;

pub use dedup::SeenMessages;
pub use types::{
    incoming, messages_path, Content, ErrorEnvelope, GraphError, Incoming, Notification,
    SendAnswer, SendText,
};
pub use verify::{
    verify_signature, verify_subscription, SignatureError, SubscriptionRefused, SIGNATURE_HEADER,
};

/// The bridge's types and checks against the testkit's stand-in, which writes Meta's JSON
/// by hand: each side checks the other.
#[cfg(test)]
mod tests {
    use b00t_testkit::whatsapp::{
        encode_like_meta, sign, text_notification, Failure, FakeWhatsApp, IncomingText,
    };

    use super::*;

    #[test]
    fn what_meta_delivers_verifies_and_parses() {
        let message =
            IncomingText::new("16505551234", "crème brûlée / 🍮").replying_to("wamid.ours");
        let body = encode_like_meta(&text_notification(&message));
        let header = sign("app-secret", &body);
        assert_eq!(
            verify_signature(b"app-secret", Some(header.as_bytes()), &body),
            Ok(())
        );
        assert_eq!(
            verify_signature(b"another secret", Some(header.as_bytes()), &body),
            Err(SignatureError::Mismatch)
        );
        let notification: Notification = serde_json::from_slice(&body).unwrap();
        let found = incoming(&notification);
        assert_eq!(
            found,
            [Incoming {
                phone_number_id: message.phone_number_id.clone(),
                from: "16505551234".to_owned(),
                contact_name: Some(message.name.clone()),
                message_id: message.id.clone(),
                timestamp: message.timestamp.to_string(),
                reply_to: Some("wamid.ours".to_owned()),
                content: Content::Text {
                    body: "crème brûlée / 🍮".to_owned()
                },
            }]
        );
        let mut seen = SeenMessages::default();
        assert!(seen.first_time(&found[0].message_id));
        // Meta's redelivery of the same notification.
        let again = incoming(&serde_json::from_slice(&body).unwrap());
        assert!(!seen.first_time(&again[0].message_id));
    }

    async fn post(fake: &FakeWhatsApp, token: &str, request: &SendText) -> (u16, Vec<u8>) {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let url = format!(
            "{}{}",
            fake.url(),
            messages_path("v21.0", b00t_testkit::whatsapp::PHONE_NUMBER_ID)
        );
        let response = client
            .post(url)
            .bearer_auth(token)
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(request).unwrap())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.bytes().await.unwrap().to_vec())
    }

    #[tokio::test]
    async fn the_stand_in_takes_our_send_request_and_we_read_its_answers() {
        let fake = FakeWhatsApp::start("token").await;
        let request = SendText::new("16505551234", "Hi!").replying_to("wamid.in");
        let (status, body) = post(&fake, "token", &request).await;
        assert_eq!(status, 200);
        let answer: SendAnswer = serde_json::from_slice(&body).unwrap();
        let sent = fake.sent();
        assert_eq!(answer.message_id(), Some(sent[0].wamid.as_str()));
        assert_eq!(sent[0].reply_to.as_deref(), Some("wamid.in"));
        assert_eq!(sent[0].text, "Hi!");

        fake.fail_next(Failure::Throughput);
        let (status, body) = post(&fake, "token", &request).await;
        let error = serde_json::from_slice::<ErrorEnvelope>(&body)
            .unwrap()
            .error;
        assert_eq!((status, error.is_rate_limit()), (429, true));

        let (status, body) = post(&fake, "expired", &request).await;
        let error = serde_json::from_slice::<ErrorEnvelope>(&body)
            .unwrap()
            .error;
        assert_eq!((status, error.is_token_problem()), (401, true));

        let too_long = SendText::new("1", &"x".repeat(crate::WHATSAPP_LIMIT + 1));
        let (status, body) = post(&fake, "token", &too_long).await;
        let error = serde_json::from_slice::<ErrorEnvelope>(&body)
            .unwrap()
            .error;
        assert_eq!(status, 400);
        assert_eq!(
            error.describe(),
            "(#100) Invalid parameter (code 100): Param text['body'] must be at most 4096 characters long."
        );
        assert_eq!(fake.sent().len(), 1);
    }
}
