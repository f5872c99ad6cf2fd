//! The two checks of a WhatsApp webhook: the `GET` subscription handshake
//! (`hub.mode=subscribe`, `hub.verify_token` equal to the configured token, answered
//! with `hub.challenge`) and the `POST` signature (`X-Hub-Signature-256: sha256=<hex>`,
//! the HMAC-SHA256 of the raw body keyed with the app secret). Both compare in constant
//! time, and every refusal says which part was wrong.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries a notification's signature.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

/// Why a subscription handshake is refused. The webhook answers `403` to each.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionRefused {
    #[error("no verify token is configured: set `WHATSAPP_VERIFY_TOKEN` to the token typed into the Meta app's webhook settings")]
    NoVerifyToken,
    #[error("the request has no `hub.mode`: it is not Meta's webhook verification")]
    MissingMode,
    #[error("`hub.mode` is `{0}`, not `subscribe`")]
    WrongMode(String),
    #[error("the request has no `hub.verify_token`")]
    MissingToken,
    #[error("`hub.verify_token` does not match the configured token: type the value of `WHATSAPP_VERIFY_TOKEN` into the Meta app's webhook settings")]
    WrongToken,
    #[error("the request has no `hub.challenge` to answer")]
    MissingChallenge,
}

/// Why a notification's signature is refused. The webhook answers `401` (or `403`) to
/// each and does nothing with the body.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no app secret is configured: set `WHATSAPP_APP_SECRET` to the Meta app's secret (App settings, Basic)")]
    NoAppSecret,
    #[error("no `X-Hub-Signature-256` header: the request is not from Meta")]
    Missing,
    #[error("`X-Hub-Signature-256` does not start with `sha256=` (it starts with `{0}`)")]
    WrongPrefix(String),
    #[error("`X-Hub-Signature-256` is not hexadecimal after `sha256=`")]
    BadHex,
    #[error("`X-Hub-Signature-256` holds {0} bytes, not the 32 of an HMAC-SHA256")]
    WrongLength(usize),
    #[error("`X-Hub-Signature-256` does not match the body: the request is forged, or `WHATSAPP_APP_SECRET` is not this app's secret")]
    Mismatch,
}

/// The challenge to answer (as `text/plain`, status 200) when `query`, the raw query
/// string of the `GET` (without `?`), is Meta's handshake for `verify_token`.
pub fn verify_subscription(query: &str, verify_token: &str) -> Result<String, SubscriptionRefused> {
    if verify_token.is_empty() {
        return Err(SubscriptionRefused::NoVerifyToken);
    }
    let mode = query_value(query, "hub.mode").ok_or(SubscriptionRefused::MissingMode)?;
    if mode != "subscribe" {
        return Err(SubscriptionRefused::WrongMode(shorten(&mode)));
    }
    let given = query_value(query, "hub.verify_token").ok_or(SubscriptionRefused::MissingToken)?;
    if !same_secret(given.as_bytes(), verify_token.as_bytes()) {
        return Err(SubscriptionRefused::WrongToken);
    }
    match query_value(query, "hub.challenge") {
        Some(challenge) if !challenge.is_empty() => Ok(challenge),
        _ => Err(SubscriptionRefused::MissingChallenge),
    }
}

/// Checks `header` (the value of [`SIGNATURE_HEADER`], `None` when absent) against the
/// HMAC-SHA256 of `body`, the raw bytes as received, keyed with `app_secret`.
pub fn verify_signature(
    app_secret: &[u8],
    header: Option<&[u8]>,
    body: &[u8],
) -> Result<(), SignatureError> {
    if app_secret.is_empty() {
        return Err(SignatureError::NoAppSecret);
    }
    let header = header.ok_or(SignatureError::Missing)?.trim_ascii();
    let Some(digest) = header.strip_prefix(b"sha256=") else {
        let start = String::from_utf8_lossy(&header[..header.len().min(8)]).into_owned();
        return Err(SignatureError::WrongPrefix(start));
    };
    let digest = hex::decode(digest).map_err(|_| SignatureError::BadHex)?;
    if digest.len() != 32 {
        return Err(SignatureError::WrongLength(digest.len()));
    }
    let mut mac = keyed(app_secret);
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&digest)
        .map_err(|_| SignatureError::Mismatch)
}

/// Whether `given` equals `expected`, in time that depends on neither: both are run
/// through HMAC-SHA256 under one key and the tags compared with `verify_slice`.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let tag = |bytes: &[u8]| {
        let mut mac = keyed(b"b00t whatsapp verify_token");
        mac.update(bytes);
        mac
    };
    let expected = tag(expected).finalize().into_bytes();
    tag(given).verify_slice(&expected).is_ok()
}

/// HMAC-SHA256 keyed with `key`; HMAC takes keys of any length.
fn keyed(key: &[u8]) -> Hmac<Sha256> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        // `new_from_slice` fails only for fixed-length key types, which HMAC is not.
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

/// The first value of `key` in a query string, percent-decoded (`+` as a space).
fn query_value(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(name) == key).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'+' => out.push(b' '),
            b'%' => {
                let pair = bytes.get(at + 1..at + 3);
                let decoded = pair
                    .and_then(|pair| std::str::from_utf8(pair).ok())
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok());
                if let Some(byte) = decoded {
                    out.push(byte);
                    at += 3;
                    continue;
                }
                out.push(b'%');
            }
            byte => out.push(byte),
        }
        at += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// At most 32 characters of what a client sent, for an error message.
fn shorten(text: &str) -> String {
    text.chars().take(32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"app-secret";
    const BODY: &[u8] = br#"{"object":"whatsapp_business_account"}"#;
    // python3 -c "import hmac,hashlib; print(hmac.new(b'app-secret',
    //   b'{\"object\":\"whatsapp_business_account\"}', hashlib.sha256).hexdigest())"
    const SIGNATURE: &str =
        "sha256=0bf7374433906636bed1653bc7c64affb42fa5da9a39e251ab95c2e3a9c06923";

    fn check_signature(header: Option<&str>, expected: Result<(), SignatureError>) {
        let header = header.map(str::as_bytes);
        assert_eq!(
            verify_signature(SECRET, header, BODY),
            expected,
            "{header:?}"
        );
    }

    #[test]
    fn a_signature_of_the_raw_body_passes_and_every_fault_is_named() {
        check_signature(Some(SIGNATURE), Ok(()));
        check_signature(
            Some(&SIGNATURE.to_uppercase().replace("SHA256=", "sha256=")),
            Ok(()),
        );
        check_signature(Some(&format!(" {SIGNATURE}\t")), Ok(()));
        check_signature(None, Err(SignatureError::Missing));
        check_signature(
            Some("sha1=0bf7374433906636"),
            Err(SignatureError::WrongPrefix("sha1=0bf".to_owned())),
        );
        check_signature(Some("sha256=zz"), Err(SignatureError::BadHex));
        check_signature(Some("sha256=abc"), Err(SignatureError::BadHex));
        check_signature(Some("sha256=abcd"), Err(SignatureError::WrongLength(2)));
        check_signature(Some("sha256="), Err(SignatureError::WrongLength(0)));
        let flipped = SIGNATURE.replace("0bf7", "1bf7");
        check_signature(Some(&flipped), Err(SignatureError::Mismatch));
        // The same JSON with a space more is another body.
        let other_body = br#"{"object": "whatsapp_business_account"}"#;
        assert_eq!(
            verify_signature(SECRET, Some(SIGNATURE.as_bytes()), other_body),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"other-secret", Some(SIGNATURE.as_bytes()), BODY),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"", Some(SIGNATURE.as_bytes()), BODY),
            Err(SignatureError::NoAppSecret)
        );
        assert_eq!(
            verify_signature(SECRET, Some(&[0xff, 0xfe]), BODY),
            Err(SignatureError::WrongPrefix("\u{fffd}\u{fffd}".to_owned()))
        );
    }

    #[test]
    fn a_round_trip_through_the_hmac_crate_passes() {
        let body = "caf\\u00e9 \\/ whatever bytes Meta sent".as_bytes();
        let mut mac = keyed(SECRET);
        mac.update(body);
        let header = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(
            verify_signature(SECRET, Some(header.as_bytes()), body),
            Ok(())
        );
    }

    fn check_subscription(query: &str, expected: Result<&str, SubscriptionRefused>) {
        let expected = expected.map(str::to_owned);
        assert_eq!(
            verify_subscription(query, "s3cret token"),
            expected,
            "{query}"
        );
    }

    #[test]
    fn the_handshake_answers_the_challenge_only_to_the_configured_token() {
        check_subscription(
            "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=s3cret+token",
            Ok("1158201444"),
        );
        check_subscription(
            "hub.verify_token=s3cret%20token&hub.challenge=a%2Fb&hub.mode=subscribe",
            Ok("a/b"),
        );
        check_subscription(
            "hub.mode=subscribe&hub.challenge=1&hub.verify_token=s3cret",
            Err(SubscriptionRefused::WrongToken),
        );
        check_subscription(
            "hub.mode=subscribe&hub.challenge=1&hub.verify_token=s3cret+tokens",
            Err(SubscriptionRefused::WrongToken),
        );
        check_subscription(
            "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=s3cret+token",
            Err(SubscriptionRefused::WrongMode("unsubscribe".to_owned())),
        );
        check_subscription(
            "hub.challenge=1&hub.verify_token=s3cret+token",
            Err(SubscriptionRefused::MissingMode),
        );
        check_subscription(
            "hub.mode=subscribe&hub.challenge=1",
            Err(SubscriptionRefused::MissingToken),
        );
        check_subscription(
            "hub.mode=subscribe&hub.verify_token=s3cret+token",
            Err(SubscriptionRefused::MissingChallenge),
        );
        check_subscription("", Err(SubscriptionRefused::MissingMode));
        check_subscription(
            "%zz&hub.mode",
            Err(SubscriptionRefused::WrongMode(String::new())),
        );
        assert_eq!(
            verify_subscription("hub.mode=subscribe&hub.verify_token=&hub.challenge=1", ""),
            Err(SubscriptionRefused::NoVerifyToken)
        );
    }

    #[test]
    fn refusals_name_what_to_fix() {
        assert_eq!(
            SignatureError::WrongLength(2).to_string(),
            "`X-Hub-Signature-256` holds 2 bytes, not the 32 of an HMAC-SHA256"
        );
        assert!(SubscriptionRefused::WrongToken
            .to_string()
            .contains("`WHATSAPP_VERIFY_TOKEN`"));
    }
}
