//! Cutting a reply longer than a platform's limit into parts: on a paragraph boundary (a
//! blank line) when one lies in the second half of the room left, else on a line boundary,
//! else between words, and only when one word alone is longer than the limit inside it. A
//! part that ends inside a fenced code block gets a closing fence and the next one reopens
//! it (with its language), so every part renders on its own.
//!
//! A hard cut falls on a code point boundary, moved back (with std only, by a heuristic
//! rather than Unicode's full segmentation rules) so that it does not separate a combining
//! mark, a variation selector, a skin-tone modifier or a zero-width joiner from what it
//! joins; UTF-16 surrogate pairs are never split, as cuts are between `char`s.

use std::ops::Range;

/// Telegram's limit for `sendMessage`'s `text`: 4096 characters after entities parsing,
/// counted (as Telegram counts entity offsets) in UTF-16 code units.
pub const TELEGRAM_LIMIT: usize = 4096;

/// The WhatsApp Cloud API's limit for a text message's `body`: 4096 characters.
pub const WHATSAPP_LIMIT: usize = 4096;

/// The smallest limit [`split`] works with; a smaller one is raised to this, so that a
/// reopened fence and some content always fit.
pub const MIN_LIMIT: usize = 16;

/// The closing fence appended to a part that ends inside a code block.
const CLOSE_FENCE: &str = "\n```";

/// How a platform measures a message's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// UTF-16 code units, as Telegram counts (an emoji outside the BMP counts 2).
    Utf16,
    /// Unicode scalar values (`char`s), as WhatsApp's "characters" are taken here.
    Chars,
}

impl Unit {
    /// The length of `text` in this unit.
    pub fn len(self, text: &str) -> usize {
        match self {
            Unit::Utf16 => text.encode_utf16().count(),
            Unit::Chars => text.chars().count(),
        }
    }

    fn of(self, c: char) -> usize {
        match self {
            Unit::Utf16 => c.len_utf16(),
            Unit::Chars => 1,
        }
    }
}

/// Cuts `text` into parts of at most `limit` (at least [`MIN_LIMIT`]) measured in `unit`.
/// Whitespace at the cuts and at both ends is dropped; a text of whitespace only gives no
/// part.
pub fn split(text: &str, limit: usize, unit: Unit) -> Vec<String> {
    pieces(text, limit, unit)
        .into_iter()
        .map(|piece| piece.text)
        .collect()
}

/// One part, with where it came from (for the tests' properties).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Piece {
    /// What is sent: `reopened`, a newline, the source text, then `CLOSE_FENCE` if `closed`.
    pub(crate) text: String,
    /// The bytes of the input this part carries.
    pub(crate) source: Range<usize>,
    /// The fence line put in front, when the part continues a code block.
    pub(crate) reopened: Option<String>,
    /// Whether a closing fence was appended.
    pub(crate) closed: bool,
}

pub(crate) fn pieces(text: &str, limit: usize, unit: Unit) -> Vec<Piece> {
    let limit = limit.max(MIN_LIMIT);
    let mut out = Vec::new();
    let mut pos = 0;
    // The opening fence line of the code block `pos` is inside, if any.
    let mut open_fence: Option<String> = None;
    loop {
        pos = skip_cut_whitespace(text, pos);
        if open_fence.is_some() {
            // The block closes right at the cut: the fence already closed it.
            if let Some(after) = closing_fence_line(text, pos) {
                open_fence = None;
                pos = skip_cut_whitespace(text, after);
            }
        }
        if pos >= text.len() {
            return out;
        }
        let rest = &text[pos..];
        let reopened = open_fence
            .as_ref()
            .map(|fence| reopen_line(fence, limit, unit));
        let prefix_len = reopened.as_ref().map_or(0, |line| unit.len(line) + 1);
        let whole = rest.trim_end();
        let inside_at_end = fence_after(open_fence.clone(), whole).is_some();
        let whole_len = prefix_len + unit.len(whole) + if inside_at_end { 4 } else { 0 };
        if whole_len <= limit {
            out.push(piece(reopened, whole, pos, inside_at_end));
            return out;
        }
        let reserve = if open_fence.is_some() || rest.contains("```") {
            unit.len(CLOSE_FENCE)
        } else {
            0
        };
        let budget = limit - prefix_len - reserve;
        let (end, next) = choose_cut(rest, budget, unit);
        let part = rest[..end].trim_end();
        if part.is_empty() {
            // Indentation wider than the room: dropped, as whitespace at a cut is.
            pos += next;
            continue;
        }
        let inside = fence_after(open_fence.clone(), part);
        out.push(piece(reopened, part, pos, inside.is_some()));
        open_fence = inside;
        pos += next;
    }
}

fn piece(reopened: Option<String>, source: &str, start: usize, closed: bool) -> Piece {
    let mut text = String::with_capacity(source.len() + 16);
    if let Some(line) = &reopened {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(source);
    if closed {
        text.push_str(CLOSE_FENCE);
    }
    Piece {
        text,
        source: start..start + source.len(),
        reopened,
        closed,
    }
}

/// The fence line that reopens a block: the original (with its language) when it and the
/// closing fence take at most half the limit, else a bare fence (which, as the limit is at
/// least [`MIN_LIMIT`], always does). So a part has room for half the limit of content.
fn reopen_line(fence: &str, limit: usize, unit: Unit) -> String {
    if unit.len(fence) + 1 + unit.len(CLOSE_FENCE) <= limit / 2 {
        fence.to_owned()
    } else {
        "```".to_owned()
    }
}

/// Where to cut `rest`, whose trimmed text is longer than `budget`: `(end of the part,
/// start of the next)`, both byte offsets into `rest`.
fn choose_cut(rest: &str, budget: usize, unit: Unit) -> (usize, usize) {
    let mut paragraph = None;
    let mut line = None;
    let mut word = None;
    let mut units = 0;
    let mut seen_content = false;
    let mut window_end = rest.len();
    for (i, c) in rest.char_indices() {
        if c.is_whitespace() && seen_content {
            word = Some((i, units));
            if c == '\n' {
                line = Some((i, units));
                if blank_line_follows(&rest[i + 1..]) {
                    paragraph = Some((i, units));
                }
            }
        }
        if units + unit.of(c) > budget {
            window_end = i;
            break;
        }
        units += unit.of(c);
        seen_content |= !c.is_whitespace();
    }
    let half = budget / 2;
    let preferred = [paragraph, line, word]
        .into_iter()
        .flatten()
        .find(|&(_, at)| at >= half);
    if let Some((i, _)) = preferred.or(word) {
        return (i, skip_cut_whitespace(rest, i));
    }
    if rest[..window_end].trim().is_empty() {
        let indentation = rest.len() - rest.trim_start().len();
        return (0, indentation);
    }
    let cut = cluster_boundary_before(rest, window_end);
    (cut, cut)
}

/// Whether `after` (the text after a newline) starts with a line of whitespace only.
fn blank_line_follows(after: &str) -> bool {
    let line = after.split('\n').next().unwrap_or("");
    after.contains('\n') && line.trim().is_empty()
}

/// Skips the whitespace at a cut: up to and including its last newline (keeping the next
/// line's indentation), or all of it when it holds no newline.
fn skip_cut_whitespace(text: &str, from: usize) -> usize {
    let rest = &text[from..];
    let run = rest.len() - rest.trim_start().len();
    match rest[..run].rfind('\n') {
        Some(newline) if run < rest.len() => from + newline + 1,
        _ => from + run,
    }
}

/// When the line at `pos` is a closing fence, the offset after it (and its newline).
fn closing_fence_line(text: &str, pos: usize) -> Option<usize> {
    let rest = &text[pos..];
    let line = rest.split('\n').next().unwrap_or("");
    is_closing_fence(line).then(|| (pos + line.len() + 1).min(text.len()))
}

fn is_closing_fence(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.len() >= 3 && trimmed.bytes().all(|b| b == b'`')
}

/// The opening fence line of the block open at the end of `text`, starting from `open`.
pub(crate) fn fence_after(mut open: Option<String>, text: &str) -> Option<String> {
    for line in text.split('\n') {
        let trimmed = line.trim_start();
        match open {
            None if trimmed.starts_with("```") => open = Some(trimmed.trim_end().to_owned()),
            Some(_) if is_closing_fence(line) => open = None,
            _ => {}
        }
    }
    open
}

/// The last code point boundary at or before `end` that does not fall inside a cluster
/// (by the heuristic of this module's header); `end` itself when the heuristic would leave
/// nothing.
fn cluster_boundary_before(text: &str, end: usize) -> usize {
    let mut cut = end;
    while cut > 0 {
        let next = text[cut..].chars().next();
        let previous = text[..cut].chars().next_back();
        let joined = next.is_some_and(extends_cluster) || previous == Some('\u{200D}');
        if !joined {
            break;
        }
        cut -= previous.map_or(1, char::len_utf8);
    }
    if cut == 0 {
        end.max(text.chars().next().map_or(0, char::len_utf8))
    } else {
        cut
    }
}

/// Code points that attach to the one before them.
fn extends_cluster(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'     // combining diacritical marks
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE00}'..='\u{FE0F}'   // variation selectors
        | '\u{FE20}'..='\u{FE2F}'
        | '\u{200D}'                // zero-width joiner
        | '\u{1F3FB}'..='\u{1F3FF}' // skin-tone modifiers
        | '\u{E0020}'..='\u{E007F}' // tag characters (flag sequences)
        | '\u{E0100}'..='\u{E01EF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, limit: usize, expected: &[&str]) {
        let parts = split(text, limit, Unit::Chars);
        assert_eq!(parts, expected, "split({text:?}, {limit})");
    }

    #[test]
    fn a_short_text_is_one_part() {
        check("hello world", 100, &["hello world"]);
        // The first line keeps its indentation (it may be code).
        check("  \n\n hello \n\n", 100, &[" hello"]);
        check("  hello  ", 100, &["hello"]);
        check(" \n\t ", 100, &[]);
        check("", 100, &[]);
    }

    #[test]
    fn paragraphs_come_first() {
        let text = "first paragraph here\n\nsecond one\nwith two lines";
        check(
            text,
            30,
            &["first paragraph here", "second one\nwith two lines"],
        );
    }

    #[test]
    fn lines_when_the_paragraph_boundary_is_too_early() {
        let text = "ab\n\ncdefghij klmnop\nqrstuvwxyz abcdefghij";
        check(
            text,
            24,
            &["ab\n\ncdefghij klmnop", "qrstuvwxyz abcdefghij"],
        );
    }

    #[test]
    fn words_when_no_line_fits() {
        check(
            "alpha beta gamma delta epsilon zeta",
            16,
            &["alpha beta gamma", "delta epsilon", "zeta"],
        );
    }

    #[test]
    fn a_word_longer_than_the_limit_is_cut_hard() {
        check(
            "tiny abcdefghijklmnopqrstuvwxyz",
            16,
            &["tiny", "abcdefghijklmnop", "qrstuvwxyz"],
        );
    }

    #[test]
    fn a_hard_cut_keeps_combining_marks_and_joiners() {
        // "e" + combining acute repeated: a cut never lands before a combining mark.
        let text = "e\u{301}".repeat(20);
        for part in split(&text, 16, Unit::Chars) {
            assert!(!part.starts_with('\u{301}'), "{part:?}");
        }
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        let text = format!("{}{}", "x".repeat(13), family);
        let parts = split(&text, 16, Unit::Chars);
        assert_eq!(parts, ["x".repeat(13), family.to_owned()]);
    }

    #[test]
    fn utf16_counts_astral_characters_twice() {
        let text = "\u{1F600}".repeat(10);
        let parts = split(&text, 16, Unit::Utf16);
        assert_eq!(parts, ["\u{1F600}".repeat(8), "\u{1F600}".repeat(2)]);
        assert_eq!(Unit::Utf16.len("\u{1F600}a"), 3);
        assert_eq!(Unit::Chars.len("\u{1F600}a"), 2);
    }

    #[test]
    fn a_code_block_is_closed_and_reopened() {
        let text = "intro\n\n```rust\nlet a = 1;\nlet b = 2;\nlet c = 3;\n```\nafter";
        let parts = split(text, 30, Unit::Chars);
        assert_eq!(
            parts,
            [
                "intro\n\n```rust\nlet a = 1;\n```",
                "```rust\nlet b = 2;\n```",
                "```rust\nlet c = 3;\n```\nafter",
            ]
        );
    }

    #[test]
    fn a_block_ending_at_the_cut_is_not_reopened_empty() {
        let text = "```\naaaa bbbb cccc\n```\nafter the block, more words";
        let parts = split(text, 24, Unit::Chars);
        assert_eq!(parts[0], "```\naaaa bbbb cccc\n```");
        assert!(parts[1..].iter().all(|p| !p.contains("```")), "{parts:?}");
    }

    #[test]
    fn a_tiny_limit_is_raised() {
        assert!(split("abcdefghijklmnopqrstuvwxyz", 1, Unit::Chars)
            .iter()
            .all(|p| p.chars().count() <= MIN_LIMIT));
    }

    /// A deterministic generator of Markdown-ish replies: words of varied lengths (some
    /// longer than any limit), astral characters, combining marks, lines, paragraphs,
    /// indented lines and fenced code blocks.
    fn generate(rng: &mut fastrand::Rng) -> String {
        const WORDS: &[&str] = &[
            "a",
            "the",
            "bus",
            "agent",
            "héllo",
            "naïve",
            "e\u{301}",
            "\u{1F600}",
            "日本語",
            "**bold**",
            "`code`",
            "x_y",
            "<tag>",
            "&amp;",
            "supercalifragilistic",
        ];
        let mut text = String::new();
        for _ in 0..rng.usize(1..40) {
            match rng.u8(0..20) {
                0 => text.push_str("\n\n"),
                1 | 2 => text.push('\n'),
                3 => {
                    let lang = ["", "rust", "python"][rng.usize(0..3)];
                    text.push_str(&format!("\n```{lang}\n"));
                    for _ in 0..rng.usize(0..8) {
                        text.push_str(&"    ".repeat(rng.usize(0..3)));
                        text.push_str(&WORDS[rng.usize(0..WORDS.len())].repeat(rng.usize(1..4)));
                        text.push('\n');
                    }
                    text.push_str("```\n");
                }
                4 => text.push_str(&"z".repeat(rng.usize(20..90))),
                5 => text.push_str("  "),
                _ => {
                    text.push_str(WORDS[rng.usize(0..WORDS.len())]);
                    text.push(' ');
                }
            }
        }
        text
    }

    fn no_content(text: &str) -> bool {
        text.trim().is_empty()
    }

    #[test]
    fn properties_hold_over_generated_replies() {
        let mut rng = fastrand::Rng::with_seed(13);
        for round in 0..3000 {
            let text = generate(&mut rng);
            let limit = rng.usize(MIN_LIMIT..120);
            let unit = if round % 2 == 0 {
                Unit::Utf16
            } else {
                Unit::Chars
            };
            let pieces = pieces(&text, limit, unit);
            let context = format!("round {round}, limit {limit}, {unit:?}, {text:?}");
            let mut previous_end = 0;
            let mut previous_closed = false;
            for (n, piece) in pieces.iter().enumerate() {
                assert!(
                    unit.len(&piece.text) <= limit,
                    "part {n} too long: {piece:?} ({context})"
                );
                assert!(!no_content(&piece.text), "empty part {n} ({context})");
                // The part is its source with the added fences, nothing else.
                let mut expected = piece.reopened.clone().map(|f| f + "\n").unwrap_or_default();
                expected.push_str(&text[piece.source.clone()]);
                if piece.closed {
                    expected.push_str(CLOSE_FENCE);
                }
                assert_eq!(piece.text, expected, "({context})");
                // Every part's fences balance.
                assert!(
                    fence_after(None, &piece.text).is_none(),
                    "open fence in {piece:?} ({context})"
                );
                // Between two parts lies whitespace only, or the closing fence a closed part
                // already stands for.
                let gap = &text[previous_end..piece.source.start];
                let gap_ok =
                    no_content(gap) || (previous_closed && gap.trim().bytes().all(|b| b == b'`'));
                assert!(gap_ok, "lost {gap:?} before part {n} ({context})");
                // A cut between two non-space characters only inside a word longer than
                // the room a part has.
                if n > 0 && gap.is_empty() {
                    let before = text[..piece.source.start].chars().next_back();
                    let after = text[piece.source.start..].chars().next();
                    if let (Some(b), Some(a)) = (before, after) {
                        if !b.is_whitespace() && !a.is_whitespace() {
                            let word_start = text[..piece.source.start]
                                .rfind(char::is_whitespace)
                                .map_or(0, |i| i + 1);
                            let word_end = text[piece.source.start..]
                                .find(char::is_whitespace)
                                .map_or(text.len(), |i| piece.source.start + i);
                            let word = &text[word_start..word_end];
                            assert!(
                                unit.len(word) > limit / 2,
                                "cut inside {word:?} ({context})"
                            );
                        }
                    }
                }
                previous_end = piece.source.end;
                previous_closed = piece.closed;
            }
            assert!(
                no_content(&text[previous_end..]),
                "lost the end ({context})"
            );
            if !text.trim().is_empty()
                && unit.len(text.trim()) <= limit
                && fence_after(None, text.trim()).is_none()
            {
                let parts = split(&text, limit, unit);
                assert_eq!(parts.len(), 1, "({context})");
                assert_eq!(parts[0].trim(), text.trim(), "({context})");
            }
        }
    }
}
