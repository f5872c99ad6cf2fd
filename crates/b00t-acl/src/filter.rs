//! MQTT topic filters: whether a filter matches a topic, and whether one filter covers
//! another (every topic the second matches, the first matches too), which is how a
//! SUBSCRIBE is held to the filters an identity may read. Wildcards are whole levels,
//! so `b00t.<agent>.<skill>`, one level, is never matched by part.

/// Whether `filter` matches the topic name `topic` (MQTT 3.1.1 §4.7; `$` topics are not
/// matched by a leading wildcard).
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether every topic that `filter` matches is matched by `pattern` too.
pub fn covers(pattern: &str, filter: &str) -> bool {
    let mut p = pattern.split('/');
    let mut f = filter.split('/');
    loop {
        match (p.next(), f.next()) {
            (Some("#"), _) => return true,
            // `+` in the pattern covers one level, but not a `#` that spans many.
            (Some("+"), Some(level)) if level != "#" => {}
            (Some(a), Some(b)) if a == b && a != "+" && a != "#" => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let cases = [
            ("#", "a/b", true),
            ("a/#", "a", true),
            ("a/+", "a/b", true),
            ("a/+", "a/b/c", false),
            ("+/status", "b00t.x/status", true),
            ("b00t.x.chat/+", "b00t.x.chat/task", true),
            ("b00t.x.chat/+", "b00t.y.chat/task", false),
            ("#", "$SYS/x", false),
        ];
        for (filter, topic, want) in cases {
            assert_eq!(matches(filter, topic), want, "{filter} vs {topic}");
        }
    }

    #[test]
    fn coverage() {
        let cases = [
            ("#", "#", true),
            ("b00t.f/#", "b00t.f/reply/+", true),
            ("b00t.f/#", "b00t.f/#", true),
            ("b00t.f/#", "#", false),
            ("b00t.f.chat/#", "b00t.f.chat/task", true),
            ("b00t.f.chat/#", "+/task", false),
            ("+/status", "b00t.g/status", true),
            ("+/status", "+/status", true),
            ("+/status", "#", false),
            ("+/status", "+/+", false),
            ("a/+", "a/#", false),
        ];
        for (pattern, filter, want) in cases {
            assert_eq!(covers(pattern, filter), want, "{pattern} covers {filter}");
        }
    }
}
