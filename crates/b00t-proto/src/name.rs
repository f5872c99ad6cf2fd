//! Agent and skill names: `[a-z0-9][a-z0-9-]{0,62}`, so that a name can never add a topic
//! level, a wildcard or a `$` system prefix.

use std::fmt;

/// A validated agent or skill name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(String);

/// Why a string is not a valid name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name is empty: use 1 to 63 of `a-z`, `0-9` and `-`")]
    Empty,
    #[error("name `{0}` is longer than 63 characters")]
    TooLong(String),
    #[error("name `{0}` must start with a lowercase letter or a digit")]
    BadStart(String),
    #[error("name `{name}` has `{bad}`: only lowercase letters, digits and `-` are allowed")]
    BadChar { name: String, bad: char },
}

impl Name {
    /// The longest name allowed.
    pub const MAX_LEN: usize = 63;

    /// Validates `name` against the grammar.
    pub fn parse(name: &str) -> Result<Name, NameError> {
        validate(name)?;
        Ok(Name(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks `name` without allocating.
pub fn validate(name: &str) -> Result<(), NameError> {
    let Some(first) = name.chars().next() else {
        return Err(NameError::Empty);
    };
    if name.len() > Name::MAX_LEN {
        return Err(NameError::TooLong(name.to_owned()));
    }
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(NameError::BadStart(name.to_owned()));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(NameError::BadChar {
            name: name.to_owned(),
            bad,
        });
    }
    Ok(())
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Name {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Name::parse(s)
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_grammar() {
        for ok in ["a", "echo", "installer", "0", "my-agent-2", &"a".repeat(63)] {
            assert!(Name::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        let cases = [
            ("", NameError::Empty),
            ("-a", NameError::BadStart("-a".into())),
            ("Echo", NameError::BadStart("Echo".into())),
            (
                "a.b",
                NameError::BadChar {
                    name: "a.b".into(),
                    bad: '.',
                },
            ),
            (
                "a/b",
                NameError::BadChar {
                    name: "a/b".into(),
                    bad: '/',
                },
            ),
            (
                "a+",
                NameError::BadChar {
                    name: "a+".into(),
                    bad: '+',
                },
            ),
            (
                "a#",
                NameError::BadChar {
                    name: "a#".into(),
                    bad: '#',
                },
            ),
            (
                "a$",
                NameError::BadChar {
                    name: "a$".into(),
                    bad: '$',
                },
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(Name::parse(input).unwrap_err(), expected, "{input}");
        }
        assert!(matches!(
            Name::parse(&"a".repeat(64)),
            Err(NameError::TooLong(_))
        ));
    }
}
