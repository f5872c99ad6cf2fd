//! Errors of the bus client, each naming the broker or the topic.

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot reach the broker at `{url}` within {seconds} s ({last_error}): is `b00t up` running? pass `--broker mqtt://HOST:PORT` to use another")]
    Unreachable {
        url: String,
        seconds: u64,
        last_error: String,
    },
    #[error("the connection to `{url}` is closed: publish to `{topic}` was not sent")]
    Closed { url: String, topic: String },
    #[error(
        "the broker at `{url}` did not confirm the subscription to `{filter}` within {seconds} s"
    )]
    NotSubscribed {
        url: String,
        filter: String,
        seconds: u64,
    },
    #[error("the connection to `{url}` is closed")]
    ClosedConnection { url: String },
}
