//! What `b00t bench --deploy` measured and how it prints: each mode's runs (p50, min,
//! max), the phases of a run, the overhead of b00t over compose alone against its
//! target, as a table or one flat JSON object.

use serde_json::{json, Map, Value};

/// b00t's compose deploy at most this multiple of compose alone (p50 against p50).
pub(super) const TARGET_OVERHEAD: f64 = 1.10;

/// One timed run of a mode, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Run {
    /// Task published (or compose started) to the result (or ready).
    pub total_ms: f64,
    /// The phases, when the run told them (compose modes only).
    pub phases: Option<Phases>,
    /// The `down` after it: the signed task to its result, or compose's `down` alone.
    pub down_ms: f64,
}

/// Where a compose run's time went, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Phases {
    /// Task to the `run docker-compose … up` step: b00t's preparation (catalog,
    /// translation, signature, image check, port check). 0 for compose alone.
    pub prep_ms: f64,
    /// That step to the first look at the engine after compose exited (the first
    /// `service …` or `job …` step).
    pub compose_ms: f64,
    /// The first look to the result: the polls until ready, the record, the reply.
    pub after_ms: f64,
}

/// The runs of one mode, or why it was not measured.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Mode {
    Measured(Vec<Run>),
    Skipped(String),
}

/// p50, min and max of some runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Summary {
    pub runs: usize,
    pub p50_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
}

/// Everything a deploy bench run measured.
#[derive(Clone, Debug)]
pub(in crate::cmd::bench) struct DeployFigures {
    pub(super) runs: usize,
    pub(super) poll_ms: u64,
    pub(super) project: String,
    pub(super) web_port: u16,
    /// The datum files the bench's home was made from.
    pub(super) datums: Vec<String>,
    pub(super) compose_b00t: Mode,
    pub(super) compose_alone: Mode,
    pub(super) direct_b00t: Mode,
}

impl Summary {
    /// The summary of `values`; `None` when empty. p50 by the nearest-rank method, as
    /// the other bench modes report it.
    pub(super) fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = ((0.5 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        Some(Summary {
            runs: sorted.len(),
            p50_ms: sorted[rank - 1],
            min_ms: sorted[0],
            max_ms: sorted[sorted.len() - 1],
        })
    }
}

/// Splits a b00t compose run by its progress steps (`(ms since the task, step)`, in
/// the order they came); `None` when the steps do not show compose running.
pub(super) fn phases(steps: &[(f64, String)], total_ms: f64) -> Option<Phases> {
    let run = steps
        .iter()
        .position(|(_, step)| step.starts_with("run ") && step.contains(" up "))?;
    let looked = steps[run + 1..]
        .iter()
        .find(|(_, step)| step.starts_with("service ") || step.starts_with("job "))?;
    let started = steps[run].0;
    Some(Phases {
        prep_ms: started,
        compose_ms: looked.0 - started,
        after_ms: total_ms - looked.0,
    })
}

/// `b00t ÷ alone` and `PASS` or `MISS` against [`TARGET_OVERHEAD`].
pub(super) fn overhead(b00t_p50_ms: f64, alone_p50_ms: f64) -> Option<(f64, &'static str)> {
    if alone_p50_ms <= 0.0 {
        return None;
    }
    let ratio = b00t_p50_ms / alone_p50_ms;
    Some((
        ratio,
        if ratio <= TARGET_OVERHEAD {
            "PASS"
        } else {
            "MISS"
        },
    ))
}

impl Mode {
    fn runs(&self) -> &[Run] {
        match self {
            Mode::Measured(runs) => runs,
            Mode::Skipped(_) => &[],
        }
    }

    fn summary(&self) -> Option<Summary> {
        Summary::of(&self.runs().iter().map(|r| r.total_ms).collect::<Vec<_>>())
    }

    /// The p50 of one phase over the runs that told it.
    fn phase_p50(&self, pick: fn(&Phases) -> f64) -> Option<f64> {
        let values: Vec<f64> = self
            .runs()
            .iter()
            .filter_map(|r| r.phases.as_ref().map(pick))
            .collect();
        Summary::of(&values).map(|s| s.p50_ms)
    }

    fn down_p50(&self) -> Option<f64> {
        Summary::of(&self.runs().iter().map(|r| r.down_ms).collect::<Vec<_>>()).map(|s| s.p50_ms)
    }

    /// This mode's keys, each starting with `prefix`.
    fn put(&self, map: &mut Map<String, Value>, prefix: &str) {
        let summary = self.summary();
        let mut put = |key: &str, value: Value| {
            map.insert(format!("{prefix}_{key}"), value);
        };
        put(
            "skipped",
            match self {
                Mode::Skipped(why) => json!(why),
                Mode::Measured(_) => Value::Null,
            },
        );
        put("runs", json!(summary.map(|s| s.runs)));
        put("ms_p50", json!(summary.map(|s| round(s.p50_ms))));
        put("ms_min", json!(summary.map(|s| round(s.min_ms))));
        put("ms_max", json!(summary.map(|s| round(s.max_ms))));
        put(
            "ms_each",
            json!(self
                .runs()
                .iter()
                .map(|r| round(r.total_ms))
                .collect::<Vec<_>>()),
        );
        put(
            "prep_ms_p50",
            json!(self.phase_p50(|p| p.prep_ms).map(round)),
        );
        put(
            "compose_ms_p50",
            json!(self.phase_p50(|p| p.compose_ms).map(round)),
        );
        put(
            "after_compose_ms_p50",
            json!(self.phase_p50(|p| p.after_ms).map(round)),
        );
        put("down_ms_p50", json!(self.down_p50().map(round)));
    }
}

impl DeployFigures {
    /// `b00t ÷ alone` of the compose p50s, and the verdict.
    pub(super) fn compose_overhead(&self) -> Option<(f64, &'static str)> {
        let b00t = self.compose_b00t.summary()?;
        let alone = self.compose_alone.summary()?;
        overhead(b00t.p50_ms, alone.p50_ms)
    }

    /// One flat JSON object: `deploy_<mode>_<figure>`, `null` for what was not
    /// measured.
    pub(in crate::cmd::bench) fn json(&self) -> Value {
        let mut map = Map::new();
        map.insert("deploy_runs".into(), json!(self.runs));
        map.insert("deploy_poll_ms".into(), json!(self.poll_ms));
        map.insert("deploy_project".into(), json!(self.project));
        map.insert("deploy_web_port".into(), json!(self.web_port));
        map.insert("deploy_datums".into(), json!(self.datums));
        self.compose_b00t.put(&mut map, "deploy_compose_b00t");
        self.compose_alone.put(&mut map, "deploy_compose_alone");
        self.direct_b00t.put(&mut map, "deploy_direct_b00t");
        let overhead = self.compose_overhead();
        map.insert(
            "deploy_compose_overhead_ratio".into(),
            json!(overhead.map(|(r, _)| (r * 1000.0).round() / 1000.0)),
        );
        map.insert(
            "deploy_compose_overhead_target".into(),
            json!(TARGET_OVERHEAD),
        );
        map.insert(
            "deploy_compose_overhead_verdict".into(),
            json!(overhead.map(|(_, v)| v)),
        );
        Value::Object(map)
    }

    /// A table for people.
    pub(in crate::cmd::bench) fn table(&self) -> String {
        let mut out = format!(
            "b00t bench --deploy: the `starter` stack as project `{}`, web on 127.0.0.1:{}; {} timed runs per mode after one untimed warm-up each, compose modes alternating; images built before the first run (not timed); readiness polled every {} ms\n",
            self.project, self.web_port, self.runs, self.poll_ms
        );
        out.push_str(&format!("  datums from {}\n\n", self.datums.join(", ")));
        out.push_str(&format!(
            "  {:<LABEL$} {:>5} {:>10} {:>10} {:>10}\n",
            "", "runs", "p50 ms", "min ms", "max ms"
        ));
        for (label, mode, has_prep) in [
            (
                "compose via b00t (task → last service healthy)",
                &self.compose_b00t,
                true,
            ),
            (
                "compose alone (docker-compose up -d + polls)",
                &self.compose_alone,
                false,
            ),
            (
                "direct via b00t (task → ready, job done)",
                &self.direct_b00t,
                false,
            ),
        ] {
            match (mode, mode.summary()) {
                (Mode::Skipped(why), _) => {
                    out.push_str(&format!("  {label:<LABEL$} skipped: {why}\n"));
                }
                (Mode::Measured(_), Some(s)) => out.push_str(&format!(
                    "  {label:<LABEL$} {:>5} {:>10.1} {:>10.1} {:>10.1}\n",
                    s.runs, s.p50_ms, s.min_ms, s.max_ms
                )),
                (Mode::Measured(_), None) => {
                    out.push_str(&format!("  {label:<LABEL$} no runs\n"));
                }
            }
            let phase = |name: &str, value: Option<f64>, out: &mut String| {
                if let Some(ms) = value {
                    // Under the p50 column: the phases' p50s.
                    out.push_str(&format!(
                        "    {name:<width$} {ms:>16.1}\n",
                        width = LABEL - 2
                    ));
                }
            };
            if !matches!(mode, Mode::Skipped(_)) {
                if has_prep {
                    phase(
                        "b00t's preparation, task → `run docker-compose`",
                        mode.phase_p50(|p| p.prep_ms),
                        &mut out,
                    );
                }
                phase(
                    "docker-compose up → first engine look",
                    mode.phase_p50(|p| p.compose_ms),
                    &mut out,
                );
                phase(
                    "first engine look → ready and answered",
                    mode.phase_p50(|p| p.after_ms),
                    &mut out,
                );
                phase("down, timed apart", mode.down_p50(), &mut out);
            }
        }
        out.push('\n');
        match self.compose_overhead() {
            Some((ratio, verdict)) => out.push_str(&format!(
                "  overhead, compose via b00t ÷ compose alone (p50): {ratio:.3}   target ≤ {TARGET_OVERHEAD:.2}   {verdict}\n"
            )),
            None => out.push_str("  overhead, compose via b00t ÷ compose alone: not measured\n"),
        }
        out
    }
}

/// The width of the table's first column.
const LABEL: usize = 50;

fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(list: &[(f64, &str)]) -> Vec<(f64, String)> {
        list.iter().map(|(t, s)| (*t, (*s).to_owned())).collect()
    }

    #[test]
    fn summaries_by_nearest_rank() {
        let s = Summary::of(&[5.0, 1.0, 4.0, 2.0, 3.0]).unwrap();
        assert_eq!((s.runs, s.p50_ms, s.min_ms, s.max_ms), (5, 3.0, 1.0, 5.0));
        assert_eq!(Summary::of(&[2.0, 1.0]).unwrap().p50_ms, 1.0);
        assert_eq!(Summary::of(&[7.0]).unwrap().p50_ms, 7.0);
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn phases_from_the_progress_steps() {
        let told = steps(&[
            (2.0, "image b00t-busybox:1: from the host's busybox-static"),
            (10.0, "run docker-compose -p p -f /s/compose.yaml --project-directory /s up -d --remove-orphans"),
            (300.0, "Creating network \"p_default\" with the default driver"),
            (1500.0, "Creating p_check_1 ... done"),
            (1600.0, "service web: running (healthy)"),
            (1601.0, "job check: running"),
            (1900.0, "job check: succeeded (exit 0)"),
        ]);
        assert_eq!(
            phases(&told, 1905.0),
            Some(Phases {
                prep_ms: 10.0,
                compose_ms: 1590.0,
                after_ms: 305.0
            })
        );
        // A `down`'s steps, or none: no phases.
        assert_eq!(
            phases(&steps(&[(1.0, "run docker-compose -p p down -v")]), 2.0),
            None
        );
        assert_eq!(phases(&[], 2.0), None);
        // compose ran but nothing was looked at after it.
        assert_eq!(
            phases(&steps(&[(1.0, "run docker-compose -p p up -d")]), 2.0),
            None
        );
    }

    #[test]
    fn the_verdict_is_pass_up_to_the_target() {
        assert_eq!(overhead(1100.0, 1000.0), Some((1.1, "PASS")));
        assert_eq!(overhead(1000.0, 1000.0), Some((1.0, "PASS")));
        assert_eq!(overhead(1101.0, 1000.0).map(|(_, v)| v), Some("MISS"));
        assert_eq!(overhead(1.0, 0.0), None);
    }

    #[test]
    fn json_is_flat_with_nulls_for_skipped_modes() {
        let run = |total_ms, down_ms, phases| Run {
            total_ms,
            phases,
            down_ms,
        };
        let figures = DeployFigures {
            runs: 2,
            poll_ms: 300,
            project: "b00t-bench-1".into(),
            web_port: 40000,
            datums: vec!["/h/datums/starter.stack.toml".into()],
            compose_b00t: Mode::Measured(vec![
                run(
                    2000.04,
                    500.0,
                    Some(Phases {
                        prep_ms: 20.0,
                        compose_ms: 1500.0,
                        after_ms: 480.0,
                    }),
                ),
                run(2100.0, 600.0, None),
            ]),
            compose_alone: Mode::Measured(vec![run(1900.0, 400.0, None), run(1950.0, 450.0, None)]),
            direct_b00t: Mode::Skipped("no `busybox` on PATH".into()),
        };
        let json = figures.json();
        assert_eq!(json["deploy_runs"], 2);
        assert_eq!(json["deploy_compose_b00t_ms_p50"], 2000.0);
        assert_eq!(json["deploy_compose_b00t_ms_max"], 2100.0);
        assert_eq!(json["deploy_compose_b00t_ms_each"], json!([2000.0, 2100.0]));
        assert_eq!(json["deploy_compose_b00t_prep_ms_p50"], 20.0);
        assert_eq!(json["deploy_compose_b00t_down_ms_p50"], 500.0);
        assert!(json["deploy_compose_b00t_skipped"].is_null());
        assert_eq!(json["deploy_compose_alone_ms_p50"], 1900.0);
        assert!(json["deploy_compose_alone_prep_ms_p50"].is_null());
        assert_eq!(json["deploy_direct_b00t_skipped"], "no `busybox` on PATH");
        assert!(json["deploy_direct_b00t_ms_p50"].is_null());
        assert_eq!(json["deploy_compose_overhead_ratio"], 1.053);
        assert_eq!(json["deploy_compose_overhead_target"], 1.1);
        assert_eq!(json["deploy_compose_overhead_verdict"], "PASS");
        assert!(json.as_object().unwrap().values().all(|v| !v.is_object()));
        let table = figures.table();
        assert!(table.contains("1.053   target ≤ 1.10   PASS"), "{table}");
        assert!(table.contains("skipped: no `busybox` on PATH"), "{table}");
    }
}
