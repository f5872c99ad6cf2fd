//! What the analyzers look at about one container, read from the engine now: its facts,
//! a stats sample and its listening sockets while it runs, and its recent logs. Shared
//! by the skills (`diagnose`, `health`) and the incidents.

use b00t_ci::Evidence;
use b00t_container::{ContainerError, Docker, LogQuery};

/// Everything the analyzers look at, read now, with the last `log_lines` log lines. Only
/// the facts must be readable: a stats sample, the listening sockets or the logs the
/// engine cannot give are left out (`None`, empty), so nothing is concluded from them.
/// `restarts_in_window` is for the caller to fill.
pub(crate) async fn evidence(
    docker: &Docker,
    id: &str,
    log_lines: usize,
) -> Result<Evidence, ContainerError> {
    let facts = b00t_container::facts(docker, id).await?;
    let (stats, listening) = if facts.running {
        (
            b00t_container::stats_once(docker, id).await.ok(),
            b00t_container::listening(facts.pid).await.ok(),
        )
    } else {
        (None, None)
    };
    let query = LogQuery {
        tail: log_lines,
        since: None,
        stdout: true,
        stderr: true,
    };
    let recent_logs = b00t_container::logs(docker, id, query)
        .await
        .map(|l| l.lines)
        .unwrap_or_default();
    Ok(Evidence {
        facts,
        stats,
        listening,
        recent_logs,
        restarts_in_window: None,
    })
}
