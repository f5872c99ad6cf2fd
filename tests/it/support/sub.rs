//! `mosquitto_sub -v` as a test subscriber. A handshake on a private topic proves the
//! subscription is live before the test publishes anything.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One message as `mosquitto_sub -v` printed it.
#[derive(Clone, Debug)]
pub(crate) struct Line {
    pub topic: String,
    pub payload: String,
}

/// A running `mosquitto_sub`.
pub(crate) struct Sub {
    child: Child,
    lines: mpsc::Receiver<Line>,
    /// Every line received so far, in order.
    pub seen: Vec<Line>,
}

impl Sub {
    pub(crate) fn start(port: u16, filter: &str) -> Sub {
        Sub::start_with_qos(port, filter, 1)
    }

    /// [`Sub::start`] at another QoS: 0 on NATS is a core subscription, which keeps
    /// receiving while JetStream (behind its QoS 1 ones) elects leaders after a node dies.
    pub(crate) fn start_with_qos(port: u16, filter: &str, qos: u8) -> Sub {
        let ready = format!("b00t-test/ready/{:016x}", fastrand::u64(..));
        let mut child = Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-v",
                "-q",
                &qos.to_string(),
                "-t",
                filter,
                "-t",
                &ready,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run mosquitto_sub");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let (topic, payload) = line.split_once(' ').unwrap_or((line.as_str(), ""));
                let sent = tx.send(Line {
                    topic: topic.to_owned(),
                    payload: payload.to_owned(),
                });
                if sent.is_err() {
                    break;
                }
            }
        });
        let mut sub = Sub {
            child,
            lines,
            seen: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            super::publish(port, &ready, "ready");
            if sub
                .try_wait(|l| l.topic == ready, Duration::from_millis(300))
                .is_some()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto_sub on port {port} never became ready"
            );
        }
        sub.seen
            .retain(|l| !l.topic.starts_with("b00t-test/ready/"));
        sub
    }

    /// Waits for a line matching `pred`, returning it; `None` after `limit`.
    pub(crate) fn try_wait(
        &mut self,
        pred: impl Fn(&Line) -> bool,
        limit: Duration,
    ) -> Option<Line> {
        if let Some(found) = self.seen.iter().find(|l| pred(l)) {
            return Some(found.clone());
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = pred(&line);
                    self.seen.push(line.clone());
                    if hit {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Waits for a message on `topic` whose payload contains `needle`.
    pub(crate) fn wait(&mut self, topic: &str, needle: &str) -> Line {
        self.wait_within(topic, needle, super::SOON)
    }

    /// [`Sub::wait`] for the answer of a container that starts cold: generous, for a
    /// shared machine under load (12 s on a quiet one); a working run still ends as soon
    /// as the answer comes.
    pub(crate) fn wait_cold(&mut self, topic: &str, needle: &str) -> Line {
        self.wait_within(topic, needle, std::time::Duration::from_secs(90))
    }

    fn wait_within(&mut self, topic: &str, needle: &str, limit: std::time::Duration) -> Line {
        self.try_wait(|l| l.topic == topic && l.payload.contains(needle), limit)
            .unwrap_or_else(|| {
                panic!(
                    "no message on `{topic}` containing `{needle}` within {limit:?}; seen:\n{}",
                    self.dump()
                )
            })
    }

    /// Waits until `n` messages on `topic` containing `needle` have been seen.
    pub(crate) fn wait_count(&mut self, topic: &str, needle: &str, n: usize) {
        let deadline = Instant::now() + super::SOON;
        while self.count(topic, needle) < n {
            assert!(
                Instant::now() < deadline,
                "fewer than {n} messages on `{topic}` containing `{needle}`; seen:\n{}",
                self.dump()
            );
            self.settle(Duration::from_millis(50));
        }
    }

    /// Collects whatever arrives during `period`.
    pub(crate) fn settle(&mut self, period: Duration) {
        let _ = self.try_wait(|_| false, period);
    }

    /// Lines seen so far on `topic` containing `needle`.
    pub(crate) fn count(&self, topic: &str, needle: &str) -> usize {
        self.seen
            .iter()
            .filter(|l| l.topic == topic && l.payload.contains(needle))
            .count()
    }

    pub(crate) fn dump(&self) -> String {
        self.seen
            .iter()
            .map(|l| format!("  {} {}", l.topic, l.payload))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
