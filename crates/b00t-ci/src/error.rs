//! The one error this crate can return: a services table that does not parse or holds an
//! entry that can never match. Everything else here is total.

/// Why a services table was refused.
#[derive(Debug, thiserror::Error)]
pub enum CiError {
    #[error("the services table does not parse: {source}")]
    ServicesParse {
        #[source]
        source: toml::de::Error,
    },
    #[error("service `{service}` in the services table {problem}")]
    ServiceEntry {
        service: String,
        problem: &'static str,
    },
}
