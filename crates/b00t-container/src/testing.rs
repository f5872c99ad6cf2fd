//! For tests that need a Docker engine, here and in other crates: [`docker_or_skip`]
//! runs them whenever an engine answers, and makes them fail rather than skip when
//! `B00T_REQUIRE_DOCKER=1` (which CI sets when its machine has an engine); `busybox`
//! builds a tiny local image and runs test containers on it.

mod busybox;

use std::time::Duration;

use bollard::Docker;

pub use busybox::{
    create_test_container, ensure_busybox_image, ensure_busybox_image_as, run_test_container,
    TestContainer, TestContainerSpec, TestHealth, TestRestart, BUSYBOX_BINARY, BUSYBOX_IMAGE,
    TEST_LABEL,
};

/// Set to `1` to make Docker tests fail when no engine answers.
pub const REQUIRE_DOCKER_ENV: &str = b00t_config::env::B00T_REQUIRE_DOCKER;

/// How long a test waits for the engine to answer.
const WAIT: Duration = Duration::from_secs(5);

/// The engine, or `None` (with a note on stderr) when none answers within 5 s.
///
/// # Panics
/// When no engine answers and `B00T_REQUIRE_DOCKER=1`: the calling test fails.
pub async fn docker_or_skip() -> Option<Docker> {
    let required = std::env::var(REQUIRE_DOCKER_ENV).is_ok_and(|v| v == "1");
    let found = crate::engine::connect_within(WAIT).await;
    match decide(found, required) {
        Ok(docker) => docker,
        Err(message) => panic!("{message}"),
    }
}

fn decide(
    found: Result<Docker, crate::ContainerError>,
    required: bool,
) -> Result<Option<Docker>, String> {
    match found {
        Ok(docker) => Ok(Some(docker)),
        Err(e) if required => Err(format!(
            "{REQUIRE_DOCKER_ENV}=1 but no Docker engine answers: {e}"
        )),
        Err(e) => {
            eprintln!(
                "skipped: no Docker engine answers ({e}); set {REQUIRE_DOCKER_ENV}=1 to fail instead"
            );
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_engine() -> Result<Docker, crate::ContainerError> {
        Err(crate::ContainerError::Unreachable {
            host: "unix:///nowhere.sock".into(),
            message: "No such file or directory".into(),
        })
    }

    #[test]
    fn without_an_engine_a_test_skips_unless_docker_is_required() {
        assert!(decide(no_engine(), false).unwrap().is_none());
        let e = decide(no_engine(), true).unwrap_err();
        assert!(
            e.contains("B00T_REQUIRE_DOCKER=1") && e.contains("nowhere.sock"),
            "{e}"
        );
    }
}
