//! What the three platform clients share over HTTP: reading an answer within a size
//! limit ([`read_within`]), and saying a reqwest failure with its causes and without its
//! URL, which may hold a token ([`failure`]).

/// Why an answer could not be read.
pub(crate) enum Unread {
    /// The connection failed while reading; the failure, without the URL.
    Network(String),
    /// The answer is longer than the limit.
    TooLarge,
}

/// The body of `response`, read chunk by chunk up to `max` bytes.
pub(crate) async fn read_within(
    response: &mut reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, Unread> {
    let mut answer = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Unread::Network(failure(e)))?
    {
        if answer.len() + chunk.len() > max {
            return Err(Unread::TooLarge);
        }
        answer.extend_from_slice(&chunk);
    }
    Ok(answer)
}

/// `error` and its causes, `: `-separated (reqwest's own message alone says only
/// "error sending request"), without the URL.
pub(crate) fn failure(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.contains(&cause_text) {
            message.push_str(": ");
            message.push_str(&cause_text);
        }
        source = cause.source();
    }
    message
}
