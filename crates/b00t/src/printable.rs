//! Text from the bus or from files made printable for a terminal: every character that
//! could move the cursor, recolour the terminal or reorder what it shows is written as
//! an escape. `b00t audit`, `b00t tail` and `b00t agents` print through it.

use std::borrow::Cow;

/// `text` with every character that could move the cursor, recolour the terminal or
/// reorder what it shows written as an escape (`\n`, `\u{1b}`, `\u{202e}`), and `\`
/// doubled so that an escape in the text cannot pass for one made here.
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if needs_escape(c) {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

/// C0 and C1 controls and DEL (`\n`, `\r`, `\t`, ESC, U+0080–U+009F), the bidi marks,
/// embeddings, overrides and isolates, the Unicode line and paragraph separators, and `\`.
pub(crate) fn needs_escape(c: char) -> bool {
    c == '\\'
        || c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_are_escaped() {
        assert_eq!(printable("plain"), "plain");
        assert_eq!(printable("a\nb"), "a\\nb");
        assert_eq!(printable("x\u{1b}[2J"), "x\\u{1b}[2J");
        assert_eq!(printable("l\u{202e}r"), "l\\u{202e}r");
    }
}
