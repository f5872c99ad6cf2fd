//! Which containers there are: the engine's list, and its event stream of container
//! changes from now on (the caller lists again and reconnects, with backoff, when the
//! stream ends or fails).

use std::collections::{BTreeMap, HashMap};

use bollard::models::{ContainerSummary, EventMessage};
use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use bollard::Docker;
use futures_util::{future, Stream, StreamExt};

use crate::error::{engine_message, ContainerError};
use crate::observe::facts::{ContainerEvent, Listed};

/// The containers the engine has: the running ones, or every one with `all`, by name.
pub async fn list_containers(docker: &Docker, all: bool) -> Result<Vec<Listed>, ContainerError> {
    let options = ListContainersOptions {
        all,
        ..Default::default()
    };
    let found =
        docker
            .list_containers(Some(options))
            .await
            .map_err(|e| ContainerError::Engine {
                action: "list the containers".to_owned(),
                message: engine_message(&e),
            })?;
    let mut listed: Vec<Listed> = found.into_iter().map(listed).collect();
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(listed)
}

/// The engine's container events from now on (`type=container`), without the `exec_*`
/// ones (each health probe makes three). The stream ends when the engine closes it, and
/// yields an error when the connection fails: list again and call this again, with
/// backoff, to follow a restarted engine.
///
/// "Now" is when this is called, not when the stream connects (on its first poll): the
/// engine is asked for events since this machine's clock at the call, so that calling
/// this, then [`list_containers`], then reading the stream misses nothing in between
/// (with an engine on another machine, up to the clocks' difference).
pub fn events(
    docker: &Docker,
) -> impl Stream<Item = Result<ContainerEvent, ContainerError>> + Send + Unpin + 'static {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let options = EventsOptions {
        since: Some(format!("{}.{:09}", now.as_secs(), now.subsec_nanos())),
        until: None,
        filters: Some(HashMap::from([(
            "type".to_owned(),
            vec!["container".to_owned()],
        )])),
    };
    docker
        .events(Some(options))
        .filter_map(|item| future::ready(event(item)))
}

fn event(
    item: Result<EventMessage, bollard::errors::Error>,
) -> Option<Result<ContainerEvent, ContainerError>> {
    match item {
        Ok(message) => container_event(message).map(Ok),
        Err(e) => Some(Err(ContainerError::Engine {
            action: "follow the container events".to_owned(),
            message: engine_message(&e),
        })),
    }
}

/// The event as plain data; `None` for an `exec_*` event or one without a container id.
fn container_event(message: EventMessage) -> Option<ContainerEvent> {
    let action = message.action.unwrap_or_default();
    if action.starts_with("exec_") {
        return None;
    }
    let actor = message.actor.unwrap_or_default();
    let id = actor.id.filter(|id| !id.is_empty())?;
    let mut attributes = actor.attributes.unwrap_or_default();
    let time_nano = message
        .time_nano
        .or_else(|| message.time.map(|secs| secs.saturating_mul(1_000_000_000)))
        .unwrap_or_default();
    Some(ContainerEvent {
        id,
        name: attributes.remove("name"),
        exit_code: attributes
            .get("exitCode")
            .and_then(|code| code.parse().ok()),
        action,
        time_nano,
    })
}

fn listed(summary: ContainerSummary) -> Listed {
    Listed {
        id: summary.id.unwrap_or_default(),
        name: summary
            .names
            .and_then(|names| names.into_iter().next())
            .map(|name| name.trim_start_matches('/').to_owned())
            .unwrap_or_default(),
        image: summary.image.unwrap_or_default(),
        state: summary.state.map(|s| s.to_string()).unwrap_or_default(),
        labels: summary
            .labels
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
    }
}

#[cfg(test)]
mod tests {
    use bollard::models::EventActor;

    use super::*;

    fn message(action: &str, attributes: &[(&str, &str)]) -> EventMessage {
        EventMessage {
            action: Some(action.to_owned()),
            actor: Some(EventActor {
                id: Some("0123abcd".to_owned()),
                attributes: Some(
                    attributes
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                ),
            }),
            time: Some(1_700_000_000),
            time_nano: Some(1_700_000_000_123_456_789),
            ..Default::default()
        }
    }

    #[test]
    fn a_die_event_carries_its_name_and_exit_code() {
        let event = container_event(message(
            "die",
            &[("name", "web"), ("exitCode", "137"), ("image", "nginx")],
        ))
        .unwrap();
        assert_eq!(
            event,
            ContainerEvent {
                id: "0123abcd".into(),
                name: Some("web".into()),
                action: "die".into(),
                exit_code: Some(137),
                time_nano: 1_700_000_000_123_456_789,
            }
        );
    }

    #[test]
    fn exec_events_and_events_without_a_container_are_dropped() {
        assert_eq!(
            container_event(message("exec_start: sh -c exit 1", &[])),
            None
        );
        let mut anonymous = message("start", &[]);
        anonymous.actor = None;
        assert_eq!(container_event(anonymous), None);
        let health = container_event(message("health_status: unhealthy", &[])).unwrap();
        assert_eq!(health.action, "health_status: unhealthy");
        assert_eq!(health.exit_code, None);
    }

    #[test]
    fn an_event_without_nanoseconds_uses_its_seconds() {
        let mut old = message("start", &[]);
        old.time_nano = None;
        assert_eq!(
            container_event(old).unwrap().time_nano,
            1_700_000_000_000_000_000
        );
    }
}
