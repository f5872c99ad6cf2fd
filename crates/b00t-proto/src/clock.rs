//! Timestamps as the protocol writes them: RFC 3339 in UTC with milliseconds.

use std::time::SystemTime;

/// Now, as `2026-11-20T10:00:00.123Z`.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Parses an RFC 3339 timestamp as written by [`now_rfc3339`] or by other clients.
pub fn parse_rfc3339(ts: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(ts).ok()
}
