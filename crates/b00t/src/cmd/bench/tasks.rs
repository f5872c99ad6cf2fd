//! Task round trips through the echo agent of a full runtime: one at a time for latency
//! (publish → result, in microseconds), then many in flight for tasks per second. Replies
//! come on a private `reply_to` base subscribed before the first task.

use std::time::Duration;

use anyhow::Context;
use b00t_bus::{Bus, BusEvent, BusOptions, Events, Qos};
use b00t_config::BrokerUrl;
use b00t_proto::{Channel, ReplyHead};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The address every bench task goes to.
pub const ECHO_TASK_TOPIC: &str = "b00t.echo.echo/task";

/// Round-trip latency of tasks sent one at a time.
#[derive(Clone, Copy, Debug)]
pub struct Latency {
    pub tasks: u64,
    pub p50_us: u64,
    pub p99_us: u64,
}

/// Throughput of tasks sent with a window in flight.
#[derive(Clone, Copy, Debug)]
pub struct Pipelined {
    pub tasks: u64,
    pub window: u64,
    pub tasks_per_s: f64,
}

/// Longest wait for one task's result, or for any result while pipelining.
const RESULT_LIMIT: Duration = Duration::from_secs(10);
/// Longest wait for a connection or a subscription.
const SETUP_LIMIT: Duration = Duration::from_secs(5);

/// A client of the echo agent: one connection, one private reply base.
pub struct EchoClient {
    bus: Bus,
    events: Events,
    reply_to: String,
    /// Makes task ids unique to this client: the agent executes each id once.
    run: String,
    /// Stops the bus driver; cancelled when the client is dropped (also on error paths).
    stop: CancellationToken,
}

impl EchoClient {
    /// Connects to the runtime's broker at `url` and subscribes to the reply base.
    pub async fn connect(url: &BrokerUrl) -> anyhow::Result<EchoClient> {
        let run = format!("{:08x}", fastrand::u32(..));
        let stop = CancellationToken::new();
        let options = BusOptions::new(url.clone(), format!("b00t-bench-tasks-{run}"));
        let (bus, events) = Bus::connect(options, &stop);
        let client = EchoClient {
            bus,
            events,
            reply_to: format!("b00t.bench-{run}.reply"),
            run,
            stop,
        };
        client
            .bus
            .wait_connected(SETUP_LIMIT)
            .await
            .context("cannot connect the task client")?;
        for channel in [Channel::Result, Channel::Error] {
            let filter = format!("{}/{}", client.reply_to, channel.as_str());
            client
                .bus
                .subscribe_confirmed(&filter, Qos::AtLeastOnce, SETUP_LIMIT)
                .await
                .with_context(|| format!("cannot subscribe to `{filter}`"))?;
        }
        Ok(client)
    }

    /// Sends `tasks` tasks one after the other, each after the previous result.
    pub async fn latency(&mut self, tasks: u64) -> anyhow::Result<Latency> {
        let mut round_trips_us = Vec::with_capacity(tasks as usize);
        for n in 0..tasks {
            let id = self.task_id('l', n);
            let sent = Instant::now();
            self.publish(&id, n).await?;
            loop {
                let done = self
                    .next_final(sent + RESULT_LIMIT)
                    .await
                    .with_context(|| format!("waiting for the result of task `{id}`"))?;
                if done == id {
                    break;
                }
            }
            round_trips_us.push(sent.elapsed().as_micros() as u64);
        }
        round_trips_us.sort_unstable();
        Ok(Latency {
            tasks,
            p50_us: percentile(&round_trips_us, 0.50),
            p99_us: percentile(&round_trips_us, 0.99),
        })
    }

    /// Sends `tasks` tasks keeping `window` of them in flight: one more for each result.
    pub async fn pipelined(&mut self, tasks: u64, window: u64) -> anyhow::Result<Pipelined> {
        let prefix = self.id_prefix('p');
        let mut finished = vec![false; tasks as usize];
        let mut sent = 0;
        let mut done = 0;
        let start = Instant::now();
        while sent < tasks.min(window) {
            self.publish(&self.task_id('p', sent), sent).await?;
            sent += 1;
        }
        while done < tasks {
            let id = self
                .next_final(Instant::now() + RESULT_LIMIT)
                .await
                .with_context(|| {
                    format!("{done} of {tasks} pipelined tasks had their result, then no more")
                })?;
            let n = id
                .strip_prefix(prefix.as_str())
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n < finished.len());
            let Some(n) = n else { continue };
            if std::mem::replace(&mut finished[n], true) {
                continue; // a repeated result (the task was delivered twice)
            }
            done += 1;
            if sent < tasks {
                self.publish(&self.task_id('p', sent), sent).await?;
                sent += 1;
            }
        }
        let seconds = start.elapsed().as_secs_f64().max(1e-9);
        Ok(Pipelined {
            tasks,
            window,
            tasks_per_s: tasks as f64 / seconds,
        })
    }

    /// Says goodbye to the broker.
    pub async fn close(self) {
        self.bus.close(Duration::from_millis(500)).await;
    }

    /// Ids are `bench-<run>-<kind><n>`: `l` for the latency run, `p` for the pipelined.
    fn id_prefix(&self, kind: char) -> String {
        format!("bench-{}-{kind}", self.run)
    }

    fn task_id(&self, kind: char, n: u64) -> String {
        format!("{}{n}", self.id_prefix(kind))
    }

    async fn publish(&self, id: &str, n: u64) -> anyhow::Result<()> {
        // Every part is plain ASCII with no quotes: no JSON escaping is needed.
        let envelope = format!(
            r#"{{"id":"{id}","from":"bench","reply_to":"{}","body":{{"n":{n}}}}}"#,
            self.reply_to
        );
        self.bus
            .publish(
                ECHO_TASK_TOPIC,
                Qos::AtLeastOnce,
                false,
                envelope.into_bytes(),
            )
            .await
            .with_context(|| format!("cannot send task `{id}`"))
    }

    /// The id of the next result on the reply base; an error reply or the deadline fails.
    async fn next_final(&mut self, deadline: Instant) -> anyhow::Result<String> {
        loop {
            let event = match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Err(_) => anyhow::bail!(
                    "no result from `b00t.echo.echo` within {} s",
                    RESULT_LIMIT.as_secs()
                ),
                Ok(None) => anyhow::bail!("the connection to the broker closed"),
                Ok(Some(event)) => event,
            };
            let message = match event {
                BusEvent::Message(message) => message,
                BusEvent::Disconnected { error } => {
                    anyhow::bail!("the connection to the broker dropped: {error}")
                }
                BusEvent::Connected => continue,
            };
            let Some((base, channel)) = Channel::split(&message.topic) else {
                continue;
            };
            if base != self.reply_to {
                continue;
            }
            let Some(head) = ReplyHead::parse(&message.payload) else {
                continue;
            };
            match channel {
                Channel::Result => return Ok(head.id),
                Channel::Error => anyhow::bail!(
                    "task `{}` got an error reply: {}",
                    head.id,
                    String::from_utf8_lossy(&message.payload)
                ),
                _ => {}
            }
        }
    }
}

impl Drop for EchoClient {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The `q` quantile of `sorted` by the nearest-rank method; 0 when empty.
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let hundred: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&hundred, 0.50), 50);
        assert_eq!(percentile(&hundred, 0.99), 99);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[1, 2, 3], 0.50), 2);
        assert_eq!(percentile(&[], 0.50), 0);
    }
}
