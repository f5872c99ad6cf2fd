//! The unified diff a dry run prints.

use std::path::Path;

/// `old` to `new` of `path`, as `diff -u` writes it (both labels the path); empty when
/// nothing changes.
pub fn unified(path: &Path, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let shown = path.display().to_string();
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&shown, &shown)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_with_headers_and_nothing_for_no_change() {
        assert_eq!(unified(Path::new("f"), "a\n", "a\n"), "");
        let diff = unified(Path::new("/h/.cursor/mcp.json"), "a\nb\n", "a\nc\n");
        assert_eq!(
            diff,
            "--- /h/.cursor/mcp.json\n+++ /h/.cursor/mcp.json\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
        );
    }
}
