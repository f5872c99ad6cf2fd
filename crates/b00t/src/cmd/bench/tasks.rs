//! Task round trips through the echo agent of a full runtime: one at a time for latency
//! (publish → result, in microseconds), then many in flight for tasks per second, asked
//! through b00t-bus's requester (which asks again with the same id on silence).

use std::time::Duration;

use anyhow::Context;
use b00t_bus::{Bus, BusOptions, Outcome, Request, Requester};
use b00t_config::BrokerUrl;
use b00t_proto::{Address, TaskId};
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The address every bench task goes to.
pub(super) const ECHO_ADDRESS: &str = "b00t.echo.echo";
/// Its task topic.
pub(super) const ECHO_TASK_TOPIC: &str = "b00t.echo.echo/task";

/// Round-trip latency of tasks sent one at a time.
#[derive(Clone, Copy, Debug)]
pub(super) struct Latency {
    pub tasks: u64,
    pub p50_us: u64,
    pub p99_us: u64,
}

/// Throughput of tasks sent with a window in flight.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pipelined {
    pub tasks: u64,
    pub window: u64,
    pub tasks_per_s: f64,
}

/// Longest wait for one task's result, or for any result while pipelining.
const RESULT_LIMIT: Duration = Duration::from_secs(10);
/// Longest wait for a connection or a subscription.
const SETUP_LIMIT: Duration = Duration::from_secs(5);

/// A client of the echo agent: one connection and b00t-bus's requester, the same client
/// the CLI and the assistant's tools ask through.
pub(super) struct EchoClient {
    bus: Bus,
    requester: Requester,
    address: Address,
    /// Makes task ids unique to this client: the agent executes each id once.
    run: String,
    /// Stops the bus driver and the requester; cancelled when the client is dropped.
    stop: CancellationToken,
}

impl EchoClient {
    /// Connects to the runtime's broker at `url` and subscribes to the reply base.
    pub(super) async fn connect(url: &BrokerUrl) -> anyhow::Result<EchoClient> {
        let run = format!("{:08x}", fastrand::u32(..));
        let stop = CancellationToken::new();
        let options = BusOptions::new(url.clone(), format!("b00t-bench-tasks-{run}"));
        let (bus, events) = Bus::connect(options, &stop);
        bus.wait_connected(SETUP_LIMIT)
            .await
            .context("cannot connect the task client")?;
        let (requester, _rest) = Requester::open(
            bus.clone(),
            events,
            format!("b00t.bench-{run}.reply"),
            "bench",
            SETUP_LIMIT,
            &stop,
        )
        .await
        .context("cannot subscribe to the bench's reply base")?;
        Ok(EchoClient {
            bus,
            requester,
            address: Address::parse(ECHO_ADDRESS).expect("a valid address"),
            run,
            stop,
        })
    }

    /// Sends `tasks` tasks one after the other, each after the previous result.
    pub(super) async fn latency(&mut self, tasks: u64) -> anyhow::Result<Latency> {
        let mut round_trips_us = Vec::with_capacity(tasks as usize);
        for n in 0..tasks {
            let request = self.request('l', n);
            let sent = Instant::now();
            ask(&self.requester, &request).await?;
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
    pub(super) async fn pipelined(&mut self, tasks: u64, window: u64) -> anyhow::Result<Pipelined> {
        let mut in_flight = FuturesUnordered::new();
        let mut sent = 0;
        let mut done = 0;
        let start = Instant::now();
        while done < tasks {
            while sent < tasks && (in_flight.len() as u64) < window {
                let request = self.request('p', sent);
                let requester = &self.requester;
                in_flight.push(async move { ask(requester, &request).await });
                sent += 1;
            }
            match in_flight.next().await {
                Some(outcome) => {
                    outcome.with_context(|| {
                        format!(
                            "{done} of {tasks} pipelined tasks had their result, then one failed"
                        )
                    })?;
                    done += 1;
                }
                None => break,
            }
        }
        let seconds = start.elapsed().as_secs_f64().max(1e-9);
        Ok(Pipelined {
            tasks,
            window,
            tasks_per_s: tasks as f64 / seconds,
        })
    }

    /// Asks a new task every `every` (each waited for that long, never asked again) until
    /// one gets its result: how a client sees a bus come back. An error after `limit`.
    pub(super) async fn until_answered(
        &mut self,
        every: Duration,
        limit: Duration,
    ) -> anyhow::Result<()> {
        let start = Instant::now();
        let mut n = 0;
        loop {
            let request = Request {
                timeout: every,
                ask_again_after: every * 2,
                ..self.request('u', n)
            };
            n += 1;
            if let Outcome::Result(_) = self.requester.request(&request, |_, _| {}).await? {
                return Ok(());
            }
            anyhow::ensure!(
                start.elapsed() < limit,
                "none of {n} tasks sent to `{ECHO_ADDRESS}` over {} s got a result",
                limit.as_secs()
            );
        }
    }

    /// Says goodbye to the broker.
    pub(super) async fn close(self) {
        self.bus.close(Duration::from_millis(500)).await;
    }

    /// Task `n` of a run: id `bench-<run>-<kind><n>` (`l` latency, `p` pipelined, `u` until answered).
    fn request(&self, kind: char, n: u64) -> Request {
        let id = TaskId::parse(&format!("bench-{}-{kind}{n}", self.run)).expect("a valid id");
        Request {
            id,
            ..Request::new(
                self.address.clone(),
                "bench",
                json!({ "n": n }),
                RESULT_LIMIT,
            )
        }
    }
}

/// Asks one task; anything but a result fails the run.
async fn ask(requester: &Requester, request: &Request) -> anyhow::Result<()> {
    match requester.request(request, |_, _| {}).await? {
        Outcome::Result(_) => Ok(()),
        Outcome::Error(reply) => {
            anyhow::bail!("task `{}` got an error reply: {reply}", request.id)
        }
        Outcome::Timeout => anyhow::bail!(
            "no result for task `{}` from `b00t.echo.echo` within {} s",
            request.id,
            RESULT_LIMIT.as_secs()
        ),
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
