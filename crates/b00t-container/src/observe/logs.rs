//! A container's recent log lines, timestamped and told apart by stream (a non-TTY
//! container's log is multiplexed; a TTY container's is all stdout), bounded in lines and
//! in bytes.

use std::collections::VecDeque;

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use bollard::Docker;
use futures_util::StreamExt;
use serde::Serialize;

use crate::error::ContainerError;
use crate::observe::facts::{LogLine, Stream};
use crate::observe::{container_error, cut};

/// Most lines asked of the engine, whatever the query says.
pub const LOGS_MAX_TAIL: usize = 10_000;

/// Most bytes of log text kept (timestamps included); past it the oldest lines go.
pub const LOGS_MAX_BYTES: usize = 1024 * 1024;

/// Which lines to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogQuery {
    /// The last this many lines (at most [`LOGS_MAX_TAIL`]), counted over both streams
    /// before `stdout` and `stderr` choose (the engine's way).
    pub tail: usize,
    /// Only lines since this Unix time, in seconds.
    pub since: Option<i64>,
    /// Lines from stdout; with `stderr` false too, both streams are read.
    pub stdout: bool,
    pub stderr: bool,
}

impl Default for LogQuery {
    fn default() -> Self {
        LogQuery {
            tail: 100,
            since: None,
            stdout: true,
            stderr: true,
        }
    }
}

/// The lines read, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Logs {
    pub lines: Vec<LogLine>,
    /// Whether older lines (or the end of one very long line) were left out to stay
    /// within [`LOGS_MAX_BYTES`].
    pub truncated: bool,
}

/// The container's log lines that `query` asks for. When they come to more than
/// [`LOGS_MAX_BYTES`], the newest are kept and `truncated` says so.
pub async fn logs(docker: &Docker, id: &str, query: LogQuery) -> Result<Logs, ContainerError> {
    let both = !query.stdout && !query.stderr;
    let options = LogsOptions {
        follow: false,
        stdout: query.stdout || both,
        stderr: query.stderr || both,
        since: query
            .since
            .map_or(0, |secs| i32::try_from(secs.max(0)).unwrap_or(i32::MAX)),
        until: 0,
        timestamps: true,
        tail: query.tail.min(LOGS_MAX_TAIL).to_string(),
    };
    let mut stream = docker.logs(id, Some(options));
    let mut collected = Collected::new(LOGS_MAX_BYTES);
    while let Some(item) = stream.next().await {
        let output = item.map_err(|e| container_error("read the log of", id, &e))?;
        collected.push(output);
    }
    Ok(collected.finish())
}

/// The newest lines within a byte budget.
struct Collected {
    lines: VecDeque<LogLine>,
    bytes: usize,
    max_bytes: usize,
    truncated: bool,
}

impl Collected {
    fn new(max_bytes: usize) -> Collected {
        Collected {
            lines: VecDeque::new(),
            bytes: 0,
            max_bytes,
            truncated: false,
        }
    }

    /// Adds one frame of the engine's log stream (one log entry, timestamp first).
    fn push(&mut self, output: LogOutput) {
        let (stream, message) = match output {
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                (Stream::Stdout, message)
            }
            LogOutput::StdErr { message } => (Stream::Stderr, message),
            LogOutput::StdIn { .. } => return,
        };
        let text = String::from_utf8_lossy(&message);
        let (ts, text) = split_timestamp(&text);
        let text = text.trim_end_matches(['\n', '\r']);
        for piece in text.split('\n') {
            self.add(LogLine {
                stream,
                ts: ts.map(str::to_owned),
                text: piece.trim_end_matches('\r').to_owned(),
            });
        }
    }

    fn add(&mut self, mut line: LogLine) {
        let budget = self
            .max_bytes
            .saturating_sub(line_bytes_without_text(&line));
        if line.text.len() > budget {
            line.text = cut(&line.text, budget).to_owned();
            self.truncated = true;
        }
        self.bytes += line_bytes(&line);
        self.lines.push_back(line);
        while self.bytes > self.max_bytes {
            let Some(old) = self.lines.pop_front() else {
                break;
            };
            self.bytes -= line_bytes(&old);
            self.truncated = true;
        }
    }

    fn finish(self) -> Logs {
        Logs {
            lines: self.lines.into(),
            truncated: self.truncated,
        }
    }
}

fn line_bytes_without_text(line: &LogLine) -> usize {
    line.ts.as_ref().map_or(0, String::len)
}

fn line_bytes(line: &LogLine) -> usize {
    line_bytes_without_text(line) + line.text.len()
}

/// The engine's RFC 3339 timestamp before the first space, and the rest.
fn split_timestamp(text: &str) -> (Option<&str>, &str) {
    match text.split_once(' ') {
        Some((ts, rest))
            if ts.len() >= 20
                && ts.starts_with(|c: char| c.is_ascii_digit())
                && ts.contains('T') =>
        {
            (Some(ts), rest)
        }
        _ => (None, text),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn frame(stream: Stream, text: &str) -> LogOutput {
        let message = Bytes::from(text.to_owned());
        match stream {
            Stream::Stdout => LogOutput::StdOut { message },
            Stream::Stderr => LogOutput::StdErr { message },
        }
    }

    #[test]
    fn frames_become_timestamped_lines_of_their_stream() {
        let mut collected = Collected::new(LOGS_MAX_BYTES);
        collected.push(frame(
            Stream::Stdout,
            "2024-05-01T10:00:00.123456789Z hello world\n",
        ));
        collected.push(frame(Stream::Stderr, "2024-05-01T10:00:01.5Z oops\r\n"));
        collected.push(LogOutput::Console {
            message: Bytes::from_static(b"2024-05-01T10:00:02Z from a tty\r\n"),
        });
        let logs = collected.finish();
        assert!(!logs.truncated);
        let got: Vec<(Stream, Option<&str>, &str)> = logs
            .lines
            .iter()
            .map(|l| (l.stream, l.ts.as_deref(), l.text.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    Stream::Stdout,
                    Some("2024-05-01T10:00:00.123456789Z"),
                    "hello world"
                ),
                (Stream::Stderr, Some("2024-05-01T10:00:01.5Z"), "oops"),
                (Stream::Stdout, Some("2024-05-01T10:00:02Z"), "from a tty"),
            ]
        );
    }

    #[test]
    fn a_line_without_a_timestamp_keeps_its_text() {
        assert_eq!(split_timestamp("plain text"), (None, "plain text"));
        assert_eq!(split_timestamp("2024 x"), (None, "2024 x"));
    }

    #[test]
    fn past_the_byte_budget_the_oldest_lines_go_and_it_says_so() {
        let mut collected = Collected::new(100);
        for i in 0..10 {
            collected.push(frame(
                Stream::Stdout,
                &format!("2024-05-01T10:00:0{i}Z line {i}\n"),
            ));
        }
        let logs = collected.finish();
        assert!(logs.truncated);
        let texts: Vec<&str> = logs.lines.iter().map(|l| l.text.as_str()).collect();
        // 27 bytes a line: three fit in 100.
        assert_eq!(texts, ["line 7", "line 8", "line 9"]);

        let mut collected = Collected::new(50);
        collected.push(frame(
            Stream::Stderr,
            &format!("2024-05-01T10:00:00Z {}\n", "y".repeat(200)),
        ));
        let logs = collected.finish();
        assert!(logs.truncated);
        assert_eq!(logs.lines.len(), 1);
        assert_eq!(logs.lines[0].text.len(), 50 - "2024-05-01T10:00:00Z".len());
    }
}
