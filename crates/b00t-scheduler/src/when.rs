//! When a schedule fires: a cron expression (in the host's local time zone), a fixed
//! interval, or once. Parsing each form with errors that name the field and show an
//! example, and the next fire time for a given clock and time zone.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeZone};
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

use crate::SchedulerError;

/// The shortest interval of `every`.
pub const MIN_EVERY: Duration = Duration::from_secs(1);
/// The furthest ahead a schedule may first fire (`every`, `in`, `at`): 100 years.
pub const MAX_AHEAD: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

const CRON_EXAMPLE: &str =
    "`0 9 * * 1-5` (09:00 on weekdays, local time), or with seconds first `*/30 * * * * *`";
const DURATION_EXAMPLE: &str = "`30m`, `1h 30m`, `2days`";
const AT_EXAMPLE: &str = "`2026-11-21T09:00:00Z` or `2026-11-21T09:00:00+11:00`";

/// When a schedule fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum When {
    /// A crontab expression: 5 fields (minute hour day-of-month month day-of-week), or 6
    /// with seconds first; evaluated in the host's local time zone.
    Cron(String),
    /// Every this long, from when it was added.
    Every(Duration),
    /// Once, at this time (milliseconds since the Unix epoch).
    Once(i64),
}

/// The four ways a request may say when, as given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WhenFields {
    pub cron: Option<String>,
    pub every: Option<String>,
    pub at: Option<String>,
    pub r#in: Option<String>,
}

impl When {
    /// Reads exactly one of `cron`, `every`, `at` and `in`; `now_ms` anchors `in`.
    pub fn from_fields(fields: WhenFields, now_ms: i64) -> Result<When, SchedulerError> {
        let given: Vec<&str> = [
            ("cron", fields.cron.is_some()),
            ("every", fields.every.is_some()),
            ("at", fields.at.is_some()),
            ("in", fields.r#in.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| *name)
        .collect();
        if given.len() != 1 {
            let what = if given.is_empty() {
                "none was given".to_owned()
            } else {
                format!(
                    "{} were given",
                    given
                        .iter()
                        .map(|g| format!("`{g}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                )
            };
            return Err(SchedulerError::Body(format!(
                "give exactly one of the fields `cron`, `every`, `at` and `in`, but {what}; for example {{\"group\": \"family\", \"text\": \"water the plants\", \"every\": \"1day\"}}"
            )));
        }
        if let Some(expr) = fields.cron {
            When::cron(&expr)
        } else if let Some(every) = fields.every {
            When::every(&every)
        } else if let Some(at) = fields.at {
            When::at(&at, now_ms)
        } else {
            When::r#in(fields.r#in.as_deref().unwrap_or_default(), now_ms)
        }
    }

    /// A cron expression that fires at least once.
    pub fn cron(expr: &str) -> Result<When, SchedulerError> {
        let expr = expr.trim();
        let cron = parse_cron(expr)?;
        let now = chrono::Utc::now();
        if cron.find_next_occurrence(&now, false).is_err() {
            return Err(SchedulerError::field(
                "cron",
                format!("`{expr}` never fires; for example {CRON_EXAMPLE}"),
            ));
        }
        Ok(When::Cron(expr.to_owned()))
    }

    /// An interval of at least [`MIN_EVERY`].
    pub fn every(text: &str) -> Result<When, SchedulerError> {
        let every = duration("every", text)?;
        if every < MIN_EVERY {
            return Err(SchedulerError::field(
                "every",
                format!("`{}` is shorter than 1 s, the shortest interval; for example {DURATION_EXAMPLE}", text.trim()),
            ));
        }
        Ok(When::Every(every))
    }

    /// Once at an RFC 3339 time, which must not be in the past.
    pub fn at(text: &str, now_ms: i64) -> Result<When, SchedulerError> {
        let text = text.trim();
        let at = DateTime::parse_from_rfc3339(text).map_err(|e| {
            SchedulerError::field(
                "at",
                format!("`{text}` is not an RFC 3339 time ({e}); give the date, the time and a zone, for example {AT_EXAMPLE}"),
            )
        })?;
        let at_ms = at.timestamp_millis();
        if at_ms < now_ms {
            return Err(SchedulerError::field(
                "at",
                format!("`{text}` is in the past; give a time to come, for example {AT_EXAMPLE}, or use `in`"),
            ));
        }
        if at_ms - now_ms > MAX_AHEAD.as_millis() as i64 {
            return Err(SchedulerError::field(
                "at",
                format!("`{text}` is more than 100 years away"),
            ));
        }
        Ok(When::Once(at_ms))
    }

    /// Once, `text` (a duration) after `now_ms`.
    pub fn r#in(text: &str, now_ms: i64) -> Result<When, SchedulerError> {
        let delay = duration("in", text)?;
        Ok(When::Once(now_ms.saturating_add(delay.as_millis() as i64)))
    }

    /// The first fire time after the schedule is added at `now_ms`.
    pub fn first_fire<Tz: TimeZone>(&self, now_ms: i64, tz: &Tz) -> Result<i64, SchedulerError> {
        match self {
            When::Cron(expr) => cron_after(&parse_cron(expr)?, now_ms, tz).ok_or_else(|| {
                SchedulerError::field("cron", format!("`{expr}` never fires after now"))
            }),
            When::Every(every) => Ok(now_ms.saturating_add(every.as_millis() as i64)),
            When::Once(at_ms) => Ok(*at_ms),
        }
    }

    /// The fire after the one due at `due_ms`, fired at `now_ms` (at or after `due_ms`):
    /// always after `now_ms`, so slots missed while nothing ran are skipped, not repeated.
    /// `None` when it never fires again.
    pub fn after_fire<Tz: TimeZone>(&self, due_ms: i64, now_ms: i64, tz: &Tz) -> Option<i64> {
        match self {
            When::Cron(expr) => cron_after(&parse_cron(expr).ok()?, now_ms.max(due_ms), tz),
            When::Every(every) => {
                // The next slot on the grid `due + k·every` after now: a steady cadence,
                // whatever the delay of this fire.
                let every = (every.as_millis() as i64).max(1);
                let behind = now_ms.saturating_sub(due_ms).max(0);
                Some(due_ms.saturating_add(every.saturating_mul(behind / every + 1)))
            }
            When::Once(_) => None,
        }
    }

    /// How it is stored: (`kind`, `spec`).
    pub fn to_stored(&self) -> (&'static str, String) {
        match self {
            When::Cron(expr) => ("cron", expr.clone()),
            When::Every(every) => ("every", every.as_millis().to_string()),
            When::Once(at_ms) => ("once", at_ms.to_string()),
        }
    }

    /// Reads what [`When::to_stored`] wrote.
    pub fn from_stored(kind: &str, spec: &str) -> Result<When, String> {
        let number = || {
            spec.parse::<i64>()
                .map_err(|_| format!("`{spec}` is not a number"))
        };
        match kind {
            "cron" => parse_cron(spec)
                .map(|_| When::Cron(spec.to_owned()))
                .map_err(|e| e.to_string()),
            "every" => Ok(When::Every(Duration::from_millis(number()?.max(1) as u64))),
            "once" => Ok(When::Once(number()?)),
            other => Err(format!("unknown kind `{other}`")),
        }
    }

    /// `cron 0 9 * * 1-5`, `every 30m`, `once 2026-11-21T09:00:00+01:00`, with times in
    /// `tz`.
    pub fn describe<Tz: TimeZone>(&self, tz: &Tz) -> String
    where
        Tz::Offset: fmt::Display,
    {
        match self {
            When::Cron(expr) => format!("cron {expr}"),
            When::Every(every) => format!("every {}", humantime::format_duration(*every)),
            When::Once(at_ms) => format!("once {}", rfc3339(*at_ms, tz)),
        }
    }
}

/// `ms` as an RFC 3339 time in `tz`, to the second.
pub fn rfc3339<Tz: TimeZone>(ms: i64, tz: &Tz) -> String
where
    Tz::Offset: fmt::Display,
{
    match DateTime::from_timestamp_millis(ms) {
        Some(t) => t
            .with_timezone(tz)
            .to_rfc3339_opts(SecondsFormat::Secs, true),
        None => ms.to_string(),
    }
}

/// 5 fields, or 6 with seconds first; no year field.
fn parse_cron(expr: &str) -> Result<Cron, SchedulerError> {
    let fields = expr.split_whitespace().count();
    if !expr.starts_with('@') && !(5..=6).contains(&fields) {
        return Err(SchedulerError::field(
            "cron",
            format!("`{expr}` has {fields} fields; give 5 (minute hour day-of-month month day-of-week) or 6 with seconds first, for example {CRON_EXAMPLE}"),
        ));
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| {
            SchedulerError::field(
                "cron",
                format!("`{expr}` is not a cron expression ({e}); for example {CRON_EXAMPLE}"),
            )
        })
}

/// The first time `cron` matches strictly after `after_ms`, in `tz`.
fn cron_after<Tz: TimeZone>(cron: &Cron, after_ms: i64, tz: &Tz) -> Option<i64> {
    let after = DateTime::from_timestamp_millis(after_ms)?.with_timezone(tz);
    cron.find_next_occurrence(&after, false)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn duration(field: &'static str, text: &str) -> Result<Duration, SchedulerError> {
    let text = text.trim();
    let d = humantime::parse_duration(text).map_err(|e| {
        SchedulerError::field(
            field,
            format!("`{text}` is not a duration ({e}); for example {DURATION_EXAMPLE}"),
        )
    })?;
    if d > MAX_AHEAD {
        return Err(SchedulerError::field(
            field,
            format!("`{text}` is more than 100 years"),
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, Utc};

    /// 2026-11-20T10:00:00Z, a Friday.
    const NOW: i64 = 1_795_168_800_000;

    fn ms(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    fn fields(
        cron: Option<&str>,
        every: Option<&str>,
        at: Option<&str>,
        r#in: Option<&str>,
    ) -> WhenFields {
        WhenFields {
            cron: cron.map(Into::into),
            every: every.map(Into::into),
            at: at.map(Into::into),
            r#in: r#in.map(Into::into),
        }
    }

    #[test]
    fn the_clock_is_what_the_tests_say() {
        assert_eq!(ms("2026-11-20T10:00:00Z"), NOW);
    }

    #[test]
    fn parses_each_form() {
        let parse = |f| When::from_fields(f, NOW).unwrap();
        assert_eq!(
            parse(fields(Some(" 0 9 * * 1-5 "), None, None, None)),
            When::Cron("0 9 * * 1-5".into())
        );
        assert_eq!(
            parse(fields(Some("*/30 * * * * *"), None, None, None)),
            When::Cron("*/30 * * * * *".into())
        );
        assert_eq!(
            parse(fields(None, Some("1h 30m"), None, None)),
            When::Every(Duration::from_secs(5400))
        );
        assert_eq!(
            parse(fields(None, None, Some("2026-11-21T09:00:00+11:00"), None)),
            When::Once(ms("2026-11-20T22:00:00Z"))
        );
        assert_eq!(
            parse(fields(None, None, None, Some("10m"))),
            When::Once(NOW + 600_000)
        );
        assert_eq!(
            parse(fields(None, None, None, Some("300ms"))),
            When::Once(NOW + 300)
        );
    }

    /// Each bad input and what its message must contain.
    #[test]
    fn errors_name_the_field_and_show_an_example() {
        let cases = [
            (fields(None, None, None, None), "give exactly one of the fields `cron`, `every`, `at` and `in`, but none was given; for example"),
            (fields(Some("* * * * *"), Some("1m"), None, None), "but `cron` and `every` were given"),
            (fields(Some("0 9 * *"), None, None, None), "field `cron`: `0 9 * *` has 4 fields; give 5"),
            (fields(Some("0 0 0 9 * * 2030"), None, None, None), "has 7 fields"),
            (fields(Some("0 25 * * *"), None, None, None), "field `cron`: `0 25 * * *` is not a cron expression"),
            (fields(Some("x 9 * * *"), None, None, None), "for example `0 9 * * 1-5`"),
            (fields(None, Some("10ms"), None, None), "field `every`: `10ms` is shorter than 1 s"),
            (fields(None, Some("soon"), None, None), "field `every`: `soon` is not a duration"),
            (fields(None, Some("200years"), None, None), "more than 100 years"),
            (fields(None, None, Some("2026-11-21 09:00"), None), "field `at`: `2026-11-21 09:00` is not an RFC 3339 time"),
            (fields(None, None, Some("2026-11-21T09:00:00"), None), "give the date, the time and a zone"),
            (fields(None, None, Some("2026-11-20T09:59:59Z"), None), "field `at`: `2026-11-20T09:59:59Z` is in the past"),
            (fields(None, None, None, Some("-5m")), "field `in`: `-5m` is not a duration"),
        ];
        for (input, needle) in cases {
            let err = When::from_fields(input.clone(), NOW)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(needle),
                "{input:?}\n got: {err}\nwant: {needle}"
            );
        }
    }

    #[test]
    fn a_cron_that_never_fires_is_refused() {
        let err = When::cron("0 0 31 2 *").unwrap_err().to_string();
        assert!(err.contains("never fires"), "{err}");
    }

    #[test]
    fn cron_fires_in_the_given_time_zone() {
        let cron = When::Cron("0 9 * * 1-5".into());
        // Friday 10:00 UTC: the next weekday 09:00 UTC is Monday.
        assert_eq!(
            cron.first_fire(NOW, &Utc).unwrap(),
            ms("2026-11-23T09:00:00Z")
        );
        // At +11:00 it is Friday 21:00; 09:00 there is Monday too, 22:00 UTC on Sunday.
        let sydney = FixedOffset::east_opt(11 * 3600).unwrap();
        assert_eq!(
            cron.first_fire(NOW, &sydney).unwrap(),
            ms("2026-11-22T22:00:00Z")
        );
        // At -05:00 it is Friday 05:00: today's 09:00 is still to come.
        let east = FixedOffset::west_opt(5 * 3600).unwrap();
        assert_eq!(
            cron.first_fire(NOW, &east).unwrap(),
            ms("2026-11-20T14:00:00Z")
        );
        let seconds = When::Cron("*/20 * * * * *".into());
        assert_eq!(seconds.first_fire(NOW + 5_500, &Utc).unwrap(), NOW + 20_000);
    }

    #[test]
    fn after_downtime_the_next_fire_is_after_now_not_each_missed_slot() {
        let hourly = When::Cron("0 * * * *".into());
        // Due 10:00, fired on time: next 11:00.
        assert_eq!(hourly.after_fire(NOW, NOW, &Utc), Some(NOW + 3_600_000));
        // Due 10:00 but fired at 15:20 after downtime: next 16:00, not 11:00.
        let late = NOW + 5 * 3_600_000 + 20 * 60_000;
        assert_eq!(
            hourly.after_fire(NOW, late, &Utc),
            Some(NOW + 6 * 3_600_000)
        );

        let every = When::Every(Duration::from_secs(60));
        assert_eq!(every.after_fire(NOW, NOW, &Utc), Some(NOW + 60_000));
        assert_eq!(
            every.after_fire(NOW, NOW + 100, &Utc),
            Some(NOW + 60_000),
            "the cadence holds"
        );
        // 10 slots missed: one fire now, the next on the grid after now.
        assert_eq!(
            every.after_fire(NOW, NOW + 605_000, &Utc),
            Some(NOW + 660_000)
        );
        assert_eq!(every.first_fire(NOW, &Utc).unwrap(), NOW + 60_000);

        let once = When::Once(NOW);
        assert_eq!(once.first_fire(NOW - 5, &Utc).unwrap(), NOW);
        assert_eq!(once.after_fire(NOW, NOW + 5, &Utc), None);
    }

    #[test]
    fn stored_forms_read_back() {
        for when in [
            When::Cron("0 9 * * 1-5".into()),
            When::Every(Duration::from_millis(90_500)),
            When::Once(NOW),
        ] {
            let (kind, spec) = when.to_stored();
            assert_eq!(When::from_stored(kind, &spec).unwrap(), when);
        }
        assert!(When::from_stored("every", "x").is_err());
        assert!(When::from_stored("weekly", "1").is_err());
    }

    #[test]
    fn describes_itself() {
        let plus_one = FixedOffset::east_opt(3600).unwrap();
        assert_eq!(
            When::Cron("0 9 * * *".into()).describe(&Utc),
            "cron 0 9 * * *"
        );
        assert_eq!(
            When::Every(Duration::from_secs(5400)).describe(&Utc),
            "every 1h 30m"
        );
        assert_eq!(When::Once(NOW).describe(&Utc), "once 2026-11-20T10:00:00Z");
        assert_eq!(
            When::Once(NOW).describe(&plus_one),
            "once 2026-11-20T11:00:00+01:00"
        );
    }
}
