//! What the container CI agents ask the engine about any container (not only b00t's own):
//! the list and the event stream, inspect, top, logs, one stats sample, the listening
//! sockets of its network namespace, and the restart, stop and start actions. Each turns
//! bollard's types into the plain data of `facts`.
//!
//! A container that does not exist is always [`ContainerError::NoSuchContainer`], so that
//! an agent can answer `not_found`.

mod actions;
mod facts;
mod inspect;
mod list;
mod listening;
mod logs;
mod stats;

pub use actions::{restart, stop_container};
pub use facts::{
    ContainerEvent, Facts, Health, Listed, Listening, LogLine, MountSummary, Port, Probe, Process,
    Stats, Stream,
};
pub use inspect::{facts, top, PROBE_OUTPUT_MAX_BYTES};
pub use list::{events, list_containers};
pub use listening::listening;
pub use logs::{logs, LogQuery, Logs, LOGS_MAX_BYTES, LOGS_MAX_TAIL};
pub use stats::{stats_once, stats_quick};

use crate::error::{engine_message, is_not_found, ContainerError};

/// The crate's error for a failed call about the container `name`: a 404 is
/// [`ContainerError::NoSuchContainer`], a 409 "is not running" is
/// [`ContainerError::NotRunning`], anything else the engine's own words.
pub(crate) fn container_error(
    action: &str,
    name: &str,
    error: &bollard::errors::Error,
) -> ContainerError {
    if is_not_found(error) {
        return ContainerError::NoSuchContainer {
            name: name.to_owned(),
        };
    }
    if let bollard::errors::Error::DockerResponseServerError {
        status_code: 409,
        message,
    } = error
    {
        if message.contains("is not running") {
            return ContainerError::NotRunning {
                name: name.to_owned(),
            };
        }
    }
    ContainerError::Engine {
        action: format!("{action} `{name}`"),
        message: engine_message(error),
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub(crate) fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_on_a_character_boundary() {
        assert_eq!(cut("abc", 5), "abc");
        assert_eq!(cut("abcdef", 3), "abc");
        // `é` is two bytes: cutting inside it drops it whole.
        assert_eq!(cut("aé", 2), "a");
    }

    #[test]
    fn a_missing_container_and_a_stopped_one_are_told_apart() {
        let missing = bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            message: "No such container: web".into(),
        };
        let e = container_error("inspect", "web", &missing);
        assert!(
            matches!(&e, ContainerError::NoSuchContainer { name } if name == "web"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "no container `web`: `docker ps -a` lists them"
        );

        let stopped = bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            message: "Container 0123 is not running".into(),
        };
        let e = container_error("list the processes of", "web", &stopped);
        assert!(matches!(e, ContainerError::NotRunning { .. }), "{e:?}");
        assert!(e.to_string().contains("`docker start web`"), "{e}");

        let other = bollard::errors::Error::DockerResponseServerError {
            status_code: 500,
            message: "disk full".into(),
        };
        let e = container_error("read the log of", "web", &other).to_string();
        assert_eq!(
            e,
            "the Docker engine refused to read the log of `web`: disk full"
        );
    }
}
