//! "Did you mean": names close to a query, by shared prefix or an edit distance of at most 2.

/// Up to `limit` of `candidates` close to `query`: nearest first, then in the given order.
pub(crate) fn close_names<'a>(
    query: &str,
    candidates: impl Iterator<Item = &'a str>,
    limit: usize,
) -> Vec<&'a str> {
    let mut close: Vec<(usize, usize, &str)> = candidates
        .enumerate()
        .filter_map(|(position, candidate)| {
            let prefix =
                !query.is_empty() && (candidate.starts_with(query) || query.starts_with(candidate));
            let distance = edit_distance(query, candidate, 2);
            match distance {
                Some(distance) => Some((distance, position, candidate)),
                None if prefix => Some((3, position, candidate)),
                None => None,
            }
        })
        .collect();
    close.sort();
    close
        .into_iter()
        .take(limit)
        .map(|(_, _, candidate)| candidate)
        .collect()
}

/// The Levenshtein distance between `a` and `b` if it is at most `max`.
pub(crate) fn edit_distance(a: &str, b: &str, max: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    let distance = previous[b.len()];
    (distance <= max).then_some(distance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("jq", "jq", 2), Some(0));
        assert_eq!(edit_distance("kitten", "sitting", 3), Some(3));
        assert_eq!(edit_distance("kitten", "sitting", 2), None);
        assert_eq!(edit_distance("", "ab", 2), Some(2));
    }

    #[test]
    fn nearest_first() {
        let names = ["git-cliff", "gh", "jq", "just", "git"];
        assert_eq!(close_names("gti", names.into_iter(), 5), ["gh", "git"]);
        assert_eq!(
            close_names("git-c", names.into_iter(), 5),
            ["git", "git-cliff"]
        );
        assert!(close_names("zzzzzz", names.into_iter(), 5).is_empty());
    }
}
