//! What `b00t bench` prints: one flat JSON object (`--json`), or a table that puts each
//! figure next to its target.

use serde::Serialize;

use crate::style::{colour_stdout, Paint};

/// Every figure of a bench run. The first eleven keys are the stable contract of `--json`;
/// the rest are context. `null` means "not measured" (no `--against`, no `/proc`, no
/// `mosquitto` for the floor).
#[derive(Clone, Debug, Serialize)]
pub(super) struct Report {
    pub embedded_qos0_msgs_per_s: f64,
    pub embedded_qos1_msgs_per_s: f64,
    pub against_qos0_msgs_per_s: Option<f64>,
    pub against_qos1_msgs_per_s: Option<f64>,
    pub task_p50_us: u64,
    pub task_p99_us: u64,
    pub tasks_per_s: f64,
    pub peak_rss_mib: Option<f64>,
    /// The floor: the same round trips through Debian's `mosquitto` and a bare responder.
    pub floor_task_p50_us: Option<u64>,
    pub floor_task_p99_us: Option<u64>,
    pub floor_tasks_per_s: Option<f64>,

    pub messages: u64,
    pub payload_bytes: usize,
    pub embedded_qos0_received: u64,
    pub embedded_qos1_received: u64,
    pub against_url: Option<String>,
    pub against_qos0_received: Option<u64>,
    pub against_qos1_received: Option<u64>,
    pub latency_tasks: u64,
    pub pipelined_tasks: u64,
    pub pipeline_window: u64,
    pub broker_only_peak_rss_mib: Option<f64>,
    /// QoS 1 throughput through the whole runtime (tap and topic rules on).
    pub runtime_qos1_msgs_per_s: f64,
    /// The same round trips and throughput with `[broker] acl = false`: what the topic
    /// rules cost.
    pub acl_off_task_p50_us: u64,
    pub acl_off_task_p99_us: u64,
    pub acl_off_tasks_per_s: f64,
    pub acl_off_qos1_msgs_per_s: f64,
    /// The flood (`--flood`): tasks published, results received, the rate, and the
    /// runtime's peak memory by the end (`null` when skipped).
    pub flood_tasks: Option<u64>,
    pub flood_results: Option<u64>,
    pub flood_tasks_per_s: Option<f64>,
    pub flood_peak_rss_mib: Option<f64>,
    /// The broker's share: the bare responder's round trips through the embedded broker
    /// alone (`--broker-only`), no journal and no agent.
    pub broker_floor_task_p50_us: u64,
    pub broker_floor_task_p99_us: u64,
    pub broker_floor_tasks_per_s: f64,
}

/// The targets the table shows.
const TARGET_P50_US: u64 = 500;
const TARGET_P99_US: u64 = 3_000;
const TARGET_TASKS_PER_S: f64 = 20_000.0;
const TARGET_RSS_MIB: f64 = 64.0;
/// b00t against the floor: pipelined tasks/s at least this share of the floor's, and the
/// latencies at most these multiples of the floor's.
const TARGET_FLOOR_TASKS_RATIO: f64 = 0.7;
const TARGET_FLOOR_P50_RATIO: f64 = 1.5;
const TARGET_FLOOR_P99_RATIO: f64 = 3.0;

impl Report {
    /// Rounds the floating figures for printing: rates to 0.1, MiB to 0.01.
    pub(super) fn rounded(mut self) -> Report {
        let tenth = |x: f64| (x * 10.0).round() / 10.0;
        let hundredth = |x: f64| (x * 100.0).round() / 100.0;
        self.embedded_qos0_msgs_per_s = tenth(self.embedded_qos0_msgs_per_s);
        self.embedded_qos1_msgs_per_s = tenth(self.embedded_qos1_msgs_per_s);
        self.runtime_qos1_msgs_per_s = tenth(self.runtime_qos1_msgs_per_s);
        self.acl_off_tasks_per_s = tenth(self.acl_off_tasks_per_s);
        self.acl_off_qos1_msgs_per_s = tenth(self.acl_off_qos1_msgs_per_s);
        self.flood_tasks_per_s = self.flood_tasks_per_s.map(tenth);
        self.flood_peak_rss_mib = self.flood_peak_rss_mib.map(hundredth);
        self.against_qos0_msgs_per_s = self.against_qos0_msgs_per_s.map(tenth);
        self.against_qos1_msgs_per_s = self.against_qos1_msgs_per_s.map(tenth);
        self.tasks_per_s = tenth(self.tasks_per_s);
        self.floor_tasks_per_s = self.floor_tasks_per_s.map(tenth);
        self.broker_floor_tasks_per_s = tenth(self.broker_floor_tasks_per_s);
        self.peak_rss_mib = self.peak_rss_mib.map(hundredth);
        self.broker_only_peak_rss_mib = self.broker_only_peak_rss_mib.map(hundredth);
        self
    }

    /// One JSON object on one line.
    pub(super) fn json(&self) -> String {
        serde_json::to_string(self).expect("a report always serializes")
    }

    /// A table for people, with each target and whether it was met.
    pub(super) fn table(&self) -> String {
        let colour = colour_stdout();
        let mut out = String::new();
        let heading = |out: &mut String, text: &str| {
            out.push_str(&Paint::Bold.paint(colour, text));
            out.push('\n');
        };
        let row = |out: &mut String, row: Row| out.push_str(&row.render(colour));

        out.push_str(&format!(
            "b00t bench: {} messages of {} bytes per throughput run; {} tasks one at a time, {} with {} in flight\n\n",
            grouped(self.messages),
            self.payload_bytes,
            grouped(self.latency_tasks),
            grouped(self.pipelined_tasks),
            self.pipeline_window,
        ));
        out.push_str(&Paint::Dim.paint(
            colour,
            &format!("{:<LABEL$} {:>FIGURE$}   target", "", "figure"),
        ));
        out.push('\n');

        heading(&mut out, "broker throughput, 1 publisher to 1 subscriber");
        row(
            &mut out,
            Row::new(
                "embedded, QoS 0",
                rate(self.embedded_qos0_msgs_per_s, "msgs/s"),
            )
            .note(self.received_note(self.embedded_qos0_received)),
        );
        let embedded_vs_against = self
            .against_qos1_msgs_per_s
            .map(|against| self.embedded_qos1_msgs_per_s >= against);
        row(
            &mut out,
            Row::new(
                "embedded, QoS 1",
                rate(self.embedded_qos1_msgs_per_s, "msgs/s"),
            )
            .target(
                if self.against_url.is_some() {
                    "≥ against, QoS 1"
                } else {
                    "≥ against, QoS 1 (pass --against)"
                },
                embedded_vs_against,
            )
            .note(self.received_note(self.embedded_qos1_received)),
        );
        if let Some(url) = &self.against_url {
            for (level, per_s, received) in [
                (0, self.against_qos0_msgs_per_s, self.against_qos0_received),
                (1, self.against_qos1_msgs_per_s, self.against_qos1_received),
            ] {
                row(
                    &mut out,
                    Row::new(
                        &format!("{url}, QoS {level}"),
                        rate(per_s.unwrap_or(0.0), "msgs/s"),
                    )
                    .note(self.received_note(received.unwrap_or(0))),
                );
            }
        }

        heading(&mut out, "task round trip through `b00t.echo.echo`");
        row(
            &mut out,
            Row::new(
                "one at a time, p50",
                format!("{} us", grouped(self.task_p50_us)),
            )
            .target(
                &format!("≤ {} us", grouped(TARGET_P50_US)),
                Some(self.task_p50_us <= TARGET_P50_US),
            ),
        );
        row(
            &mut out,
            Row::new(
                "one at a time, p99",
                format!("{} us", grouped(self.task_p99_us)),
            )
            .target(
                &format!("≤ {} us", grouped(TARGET_P99_US)),
                Some(self.task_p99_us <= TARGET_P99_US),
            ),
        );
        row(
            &mut out,
            Row::new(
                &format!("{} in flight", self.pipeline_window),
                rate(self.tasks_per_s, "tasks/s"),
            )
            .target(
                &format!("≥ {} tasks/s", grouped(TARGET_TASKS_PER_S as u64)),
                Some(self.tasks_per_s >= TARGET_TASKS_PER_S),
            ),
        );

        heading(
            &mut out,
            "the floor: the same round trip through mosquitto and a bare responder",
        );
        match (
            self.floor_task_p50_us,
            self.floor_task_p99_us,
            self.floor_tasks_per_s,
        ) {
            (Some(p50), Some(p99), Some(per_s)) => {
                let floor_row = |label: &str, figure: String, ratio: f64, target: String, met| {
                    Row::new(label, figure)
                        .target(&target, Some(met))
                        .note(format!("b00t ÷ floor = {ratio:.2}"))
                };
                let ratio = |b00t: f64, floor: f64| if floor > 0.0 { b00t / floor } else { 0.0 };
                let r = ratio(self.task_p50_us as f64, p50 as f64);
                row(
                    &mut out,
                    floor_row(
                        "floor, one at a time, p50",
                        format!("{} us", grouped(p50)),
                        r,
                        format!("b00t ≤ {TARGET_FLOOR_P50_RATIO}× floor"),
                        r <= TARGET_FLOOR_P50_RATIO,
                    ),
                );
                let r = ratio(self.task_p99_us as f64, p99 as f64);
                row(
                    &mut out,
                    floor_row(
                        "floor, one at a time, p99",
                        format!("{} us", grouped(p99)),
                        r,
                        format!("b00t ≤ {TARGET_FLOOR_P99_RATIO}× floor"),
                        r <= TARGET_FLOOR_P99_RATIO,
                    ),
                );
                let r = ratio(self.tasks_per_s, per_s);
                row(
                    &mut out,
                    floor_row(
                        &format!("floor, {} in flight", self.pipeline_window),
                        rate(per_s, "tasks/s"),
                        r,
                        format!("b00t ≥ {TARGET_FLOOR_TASKS_RATIO}× floor"),
                        r >= TARGET_FLOOR_TASKS_RATIO,
                    ),
                );
            }
            _ => row(
                &mut out,
                Row::new("floor", "not measured".to_owned())
                    .note("no `mosquitto` installed".to_owned()),
            ),
        }

        heading(
            &mut out,
            "the broker's share: the bare responder through the embedded broker alone",
        );
        for (label, figure) in [
            (
                "one at a time, p50",
                format!("{} us", grouped(self.broker_floor_task_p50_us)),
            ),
            (
                "one at a time, p99",
                format!("{} us", grouped(self.broker_floor_task_p99_us)),
            ),
            (
                "64 in flight",
                rate(self.broker_floor_tasks_per_s, "tasks/s"),
            ),
        ] {
            row(
                &mut out,
                Row::new(&format!("broker floor, {label}"), figure),
            );
        }

        heading(
            &mut out,
            "what the topic rules cost: the runtime with and without them (`[broker] acl`)",
        );
        let within = |on: f64, off: f64, higher_is_better: bool| {
            if off <= 0.0 {
                return (0.0, false);
            }
            let ratio = on / off;
            let met = if higher_is_better {
                ratio >= 0.9
            } else {
                ratio <= 1.1
            };
            (ratio, met)
        };
        for (label, on, off, figure, better) in [
            (
                "one at a time, p50",
                self.task_p50_us as f64,
                self.acl_off_task_p50_us as f64,
                format!("{} us", grouped(self.acl_off_task_p50_us)),
                false,
            ),
            (
                "one at a time, p99",
                self.task_p99_us as f64,
                self.acl_off_task_p99_us as f64,
                format!("{} us", grouped(self.acl_off_task_p99_us)),
                false,
            ),
            (
                "64 in flight",
                self.tasks_per_s,
                self.acl_off_tasks_per_s,
                rate(self.acl_off_tasks_per_s, "tasks/s"),
                true,
            ),
            (
                "QoS 1 throughput",
                self.runtime_qos1_msgs_per_s,
                self.acl_off_qos1_msgs_per_s,
                rate(self.acl_off_qos1_msgs_per_s, "msgs/s"),
                true,
            ),
        ] {
            let (ratio, met) = within(on, off, better);
            row(
                &mut out,
                Row::new(&format!("rules off, {label}"), figure)
                    .target("on within 10% of off", Some(met))
                    .note(format!("on ÷ off = {ratio:.2}")),
            );
        }
        row(
            &mut out,
            Row::new(
                "runtime (rules on), QoS 1",
                rate(self.runtime_qos1_msgs_per_s, "msgs/s"),
            )
            .target(
                "≥ against, QoS 1",
                self.against_qos1_msgs_per_s
                    .map(|against| self.runtime_qos1_msgs_per_s >= against),
            ),
        );

        heading(&mut out, "peak memory (VmHWM)");
        row(
            &mut out,
            Row::new("runtime, `b00t up`", mib(self.peak_rss_mib)).target(
                &format!("≤ {TARGET_RSS_MIB} MiB"),
                self.peak_rss_mib.map(|m| m <= TARGET_RSS_MIB),
            ),
        );
        row(
            &mut out,
            Row::new(
                "broker only, `b00t up --broker-only`",
                mib(self.broker_only_peak_rss_mib),
            ),
        );
        if let (Some(tasks), Some(results)) = (self.flood_tasks, self.flood_results) {
            row(
                &mut out,
                Row::new(
                    &format!("runtime, a flood of {} tasks", grouped(tasks)),
                    mib(self.flood_peak_rss_mib),
                )
                .target(
                    &format!("≤ {TARGET_RSS_MIB} MiB"),
                    self.flood_peak_rss_mib.map(|m| m <= TARGET_RSS_MIB),
                )
                .note(format!(
                    "{} results reached the client, {}",
                    grouped(results),
                    rate(self.flood_tasks_per_s.unwrap_or(0.0), "tasks/s")
                )),
            );
        }
        out
    }

    fn received_note(&self, received: u64) -> String {
        if received == self.messages {
            String::new()
        } else {
            format!(
                "{} of {} received",
                grouped(received),
                grouped(self.messages)
            )
        }
    }
}

const LABEL: usize = 40;
const FIGURE: usize = 18;
const TARGET: usize = 22;

/// One line of the table.
struct Row {
    label: String,
    figure: String,
    target: String,
    /// Whether the target was met; `None` when there is no target or nothing to compare.
    met: Option<bool>,
    note: String,
}

impl Row {
    fn new(label: &str, figure: String) -> Row {
        Row {
            label: label.to_owned(),
            figure,
            target: String::new(),
            met: None,
            note: String::new(),
        }
    }

    fn target(mut self, target: &str, met: Option<bool>) -> Row {
        self.target = target.to_owned();
        self.met = met;
        self
    }

    fn note(mut self, note: String) -> Row {
        self.note = note;
        self
    }

    fn render(&self, colour: bool) -> String {
        let verdict = match self.met {
            Some(true) => Paint::Green.paint(colour, "met"),
            Some(false) => Paint::Red.paint(colour, "missed"),
            None => String::new(),
        };
        let note = if self.note.is_empty() {
            String::new()
        } else {
            format!("  {}", Paint::Yellow.paint(colour, &self.note))
        };
        // Pad by characters, not bytes: targets contain `≥` and `≤`.
        let target_pad = TARGET.saturating_sub(self.target.chars().count());
        let line = format!(
            "  {:<label$} {:>FIGURE$}   {}{} {verdict}{note}",
            self.label,
            self.figure,
            self.target,
            " ".repeat(target_pad),
            label = LABEL - 2,
        );
        format!("{}\n", line.trim_end())
    }
}

fn rate(per_s: f64, unit: &str) -> String {
    format!("{} {unit}", grouped(per_s.round() as u64))
}

fn mib(value: Option<f64>) -> String {
    value.map_or_else(|| "unknown".to_owned(), |m| format!("{m:.1} MiB"))
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        for (n, expected) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (123_456, "123,456"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(grouped(n), expected);
        }
    }

    #[test]
    fn json_has_the_contract_keys_and_nulls_without_against() {
        let report = Report {
            embedded_qos0_msgs_per_s: 1234.56,
            embedded_qos1_msgs_per_s: 1000.0,
            against_qos0_msgs_per_s: None,
            against_qos1_msgs_per_s: None,
            task_p50_us: 100,
            task_p99_us: 900,
            tasks_per_s: 20_000.04,
            peak_rss_mib: Some(20.456),
            floor_task_p50_us: None,
            floor_task_p99_us: None,
            floor_tasks_per_s: None,
            messages: 10,
            payload_bytes: 128,
            embedded_qos0_received: 10,
            embedded_qos1_received: 10,
            against_url: None,
            against_qos0_received: None,
            against_qos1_received: None,
            latency_tasks: 5,
            pipelined_tasks: 10,
            pipeline_window: 64,
            broker_only_peak_rss_mib: None,
            runtime_qos1_msgs_per_s: 900.0,
            acl_off_task_p50_us: 95,
            acl_off_task_p99_us: 880,
            acl_off_tasks_per_s: 21_000.0,
            acl_off_qos1_msgs_per_s: 950.0,
            flood_tasks: None,
            flood_results: None,
            flood_tasks_per_s: None,
            flood_peak_rss_mib: None,
            broker_floor_task_p50_us: 300,
            broker_floor_task_p99_us: 900,
            broker_floor_tasks_per_s: 9_000.0,
        }
        .rounded();
        let json: serde_json::Value = serde_json::from_str(&report.json()).unwrap();
        assert_eq!(json["embedded_qos0_msgs_per_s"], 1234.6);
        assert!(json["against_qos0_msgs_per_s"].is_null());
        assert!(json["against_qos1_msgs_per_s"].is_null());
        assert_eq!(json["task_p50_us"], 100);
        assert_eq!(json["task_p99_us"], 900);
        assert_eq!(json["tasks_per_s"], 20000.0);
        assert_eq!(json["peak_rss_mib"], 20.46);
        assert!(json["floor_task_p50_us"].is_null());
        assert!(json["floor_task_p99_us"].is_null());
        assert!(json["floor_tasks_per_s"].is_null());
        let table = report.table();
        assert!(table.contains("pass --against"));
        assert!(table.contains("no `mosquitto` installed"), "{table}");
    }

    #[test]
    fn the_floor_is_shown_with_the_ratios() {
        let report = Report {
            embedded_qos0_msgs_per_s: 1.0,
            embedded_qos1_msgs_per_s: 1.0,
            against_qos0_msgs_per_s: None,
            against_qos1_msgs_per_s: None,
            task_p50_us: 300,
            task_p99_us: 900,
            tasks_per_s: 16_000.0,
            peak_rss_mib: None,
            floor_task_p50_us: Some(100),
            floor_task_p99_us: Some(400),
            floor_tasks_per_s: Some(20_000.04),
            messages: 1,
            payload_bytes: 128,
            embedded_qos0_received: 1,
            embedded_qos1_received: 1,
            against_url: None,
            against_qos0_received: None,
            against_qos1_received: None,
            latency_tasks: 1,
            pipelined_tasks: 1,
            pipeline_window: 64,
            broker_only_peak_rss_mib: None,
            runtime_qos1_msgs_per_s: 900.0,
            acl_off_task_p50_us: 95,
            acl_off_task_p99_us: 880,
            acl_off_tasks_per_s: 21_000.0,
            acl_off_qos1_msgs_per_s: 950.0,
            flood_tasks: None,
            flood_results: None,
            flood_tasks_per_s: None,
            flood_peak_rss_mib: None,
            broker_floor_task_p50_us: 300,
            broker_floor_task_p99_us: 900,
            broker_floor_tasks_per_s: 9_000.0,
        }
        .rounded();
        let json: serde_json::Value = serde_json::from_str(&report.json()).unwrap();
        assert_eq!(json["floor_task_p50_us"], 100);
        assert_eq!(json["floor_task_p99_us"], 400);
        assert_eq!(json["floor_tasks_per_s"], 20000.0);
        let table = report.table();
        assert!(table.contains("b00t ÷ floor = 3.00"), "{table}"); // p50: missed
        assert!(table.contains("b00t ÷ floor = 2.25"), "{table}"); // p99: met
        assert!(table.contains("b00t ÷ floor = 0.80"), "{table}"); // tasks/s: met
        assert!(table.contains("20,000 tasks/s"), "{table}");
    }
}
