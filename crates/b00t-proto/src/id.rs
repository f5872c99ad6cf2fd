//! Task ids: 1 to 128 characters of `[A-Za-z0-9._:-]`, the key of acks, retries and
//! de-duplication.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A validated task id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TaskId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskIdError {
    #[error("field `id` must be 1 to 128 characters of `A-Z a-z 0-9 . _ : -`, got `{0}`")]
    Invalid(String),
}

impl TaskId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(id: &str) -> Result<TaskId, TaskIdError> {
        let ok = !id.is_empty()
            && id.len() <= Self::MAX_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if ok {
            Ok(TaskId(id.to_owned()))
        } else {
            let shown: String = id.chars().take(140).collect();
            Err(TaskIdError::Invalid(shown))
        }
    }

    /// A fresh id for a task that came without one: `<prefix>-<16 hex digits>`.
    pub fn fresh(prefix: &str) -> TaskId {
        TaskId(format!("{prefix}-{:016x}", fastrand::u64(..)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for TaskId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TaskId::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates() {
        for ok in ["t-42", "a", "A.b_c:d-e", &"x".repeat(128)] {
            assert!(TaskId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a/b", "é", &"x".repeat(129)] {
            assert!(TaskId::parse(bad).is_err(), "{bad}");
        }
        assert!(TaskId::parse(TaskId::fresh("b00t").as_str()).is_ok());
    }
}
