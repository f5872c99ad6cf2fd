//! Which connection holds which client id. A new connection with a client id that is
//! already connected takes it over, as MQTT says: the old connection is told to stop
//! and is waited for (its will published, its link closed) before the new one reaches
//! the router. So the router never sees two links with one client id, and a stale link
//! can never disconnect the new one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// The client-id table; cheap to clone.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sessions {
    inner: Arc<Mutex<Table>>,
}

#[derive(Debug, Default)]
struct Table {
    by_client: HashMap<String, Entry>,
    next_generation: u64,
}

#[derive(Debug)]
struct Entry {
    generation: u64,
    /// Cancelled to make the holder stop (a takeover).
    stop: CancellationToken,
    /// Cancelled by the holder once it has fully ended.
    ended: CancellationToken,
}

/// A connection's hold on its client id; `release` when the connection has ended.
#[derive(Debug)]
pub(crate) struct Claim {
    sessions: Sessions,
    client_id: String,
    generation: u64,
    /// Cancelled when another connection takes the client id over.
    pub(crate) stop: CancellationToken,
    ended: CancellationToken,
}

/// How long a takeover waits for the old connection to end before going on anyway.
const TAKEOVER_LIMIT: Duration = Duration::from_secs(5);

impl Sessions {
    fn table(&self) -> MutexGuard<'_, Table> {
        // No code panics while holding this lock; a poisoned lock still holds a
        // consistent table, so it is used as it is.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes `client_id` for a new connection, stopping and awaiting the one that holds it.
    pub(crate) async fn claim(&self, client_id: &str) -> Claim {
        loop {
            let previous = {
                let mut table = self.table();
                match table.by_client.get(client_id) {
                    Some(entry) => {
                        entry.stop.cancel();
                        entry.ended.clone()
                    }
                    None => {
                        table.next_generation += 1;
                        let generation = table.next_generation;
                        let (stop, ended) = (CancellationToken::new(), CancellationToken::new());
                        table.by_client.insert(
                            client_id.to_owned(),
                            Entry {
                                generation,
                                stop: stop.clone(),
                                ended: ended.clone(),
                            },
                        );
                        return Claim {
                            sessions: self.clone(),
                            client_id: client_id.to_owned(),
                            generation,
                            stop,
                            ended,
                        };
                    }
                }
            };
            tracing::info!(%client_id, "a new connection takes over this client id");
            if tokio::time::timeout(TAKEOVER_LIMIT, previous.cancelled())
                .await
                .is_err()
            {
                tracing::warn!(%client_id, "the previous connection did not end in time; taking its client id anyway");
                let mut table = self.table();
                if table
                    .by_client
                    .get(client_id)
                    .is_some_and(|e| e.ended == previous)
                {
                    table.by_client.remove(client_id);
                }
            }
        }
    }

    /// Whether a connection holds `client_id` now.
    pub(crate) fn holds(&self, client_id: &str) -> bool {
        self.table().by_client.contains_key(client_id)
    }

    /// How many client ids are held.
    pub(crate) fn len(&self) -> usize {
        self.table().by_client.len()
    }
}

impl Claim {
    /// The connection has ended: free the client id (unless it was taken over since).
    pub(crate) fn release(self) {
        {
            let mut table = self.sessions.table();
            if table
                .by_client
                .get(&self.client_id)
                .is_some_and(|e| e.generation == self.generation)
            {
                table.by_client.remove(&self.client_id);
            }
        }
        self.ended.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_takeover_waits_for_the_old_connection() {
        let sessions = Sessions::default();
        let first = sessions.claim("a").await;
        let stop = first.stop.clone();
        let second = tokio::spawn({
            let sessions = sessions.clone();
            async move { sessions.claim("a").await }
        });
        stop.cancelled().await;
        assert!(!second.is_finished());
        first.release();
        let second = second.await.unwrap();
        assert_eq!(sessions.len(), 1);
        second.release();
        assert_eq!(sessions.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_release_does_not_free_the_new_holder() {
        let sessions = Sessions::default();
        let stuck = sessions.claim("a").await;
        // The old connection never ends: the takeover goes on after its limit.
        let second = sessions.claim("a").await;
        assert!(stuck.stop.is_cancelled());
        stuck.release();
        assert_eq!(sessions.len(), 1, "the new holder keeps the client id");
        second.release();
        assert_eq!(sessions.len(), 0);
    }
}
