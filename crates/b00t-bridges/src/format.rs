//! The assistant's Markdown-ish text (`**bold**`, `*italic*` or `_italic_`, `~~strike~~`,
//! `` `code` ``, fenced blocks, `[links](url)`, `#` headings, `-`/`*`/`+` lists) turned into
//! what a platform renders: Telegram HTML, Telegram MarkdownV2, WhatsApp's markers, or
//! Matrix's HTML (`org.matrix.custom.html`: Telegram's tags plus `<del>` and `<br>`).
//! A marker without its partner stays as literal text, escaped where the target needs it.
//!
//! HTML is the default for Telegram: it needs only `<`, `>` and `&` escaped, so text the
//! model wrote (full of `.`, `-`, `(` and `!`) cannot make a message fail to parse, while in
//! MarkdownV2 every one of 18 reserved characters outside an entity must be escaped and one
//! missed is a 400 for the whole message. Only `<b>`, `<i>`, `<code>`, `<pre>` and
//! `<a href="…">` are written; strikethrough stays as its `~~` markers there.
//!
//! Splitting happens before formatting ([`telegram_parts`], [`whatsapp_parts`],
//! [`matrix_parts`]): a part is
//! cut from the source on its boundaries (so no tag is ever cut), then formatted, and cut
//! again smaller when escaping made it longer than the limit.

use crate::matrix::MatrixPart;
use crate::split::{split, Unit, MIN_LIMIT, TELEGRAM_LIMIT, WHATSAPP_LIMIT};
use crate::telegram::types::ParseMode;

/// `text` as Telegram HTML parts, each at most [`TELEGRAM_LIMIT`] UTF-16 code units as sent
/// (so also after Telegram parses its entities), for `parse_mode: "HTML"`.
pub fn telegram_parts(text: &str) -> Vec<String> {
    telegram_parts_as(text, ParseMode::Html)
}

/// `text` as Telegram parts in `mode`, each within [`TELEGRAM_LIMIT`] as sent.
pub fn telegram_parts_as(text: &str, mode: ParseMode) -> Vec<String> {
    let render = match mode {
        ParseMode::Html => to_telegram_html,
        ParseMode::MarkdownV2 => to_telegram_markdown_v2,
    };
    parts_within(text, TELEGRAM_LIMIT, Unit::Utf16, render)
}

/// `text` as WhatsApp parts, each at most [`WHATSAPP_LIMIT`] characters.
pub fn whatsapp_parts(text: &str) -> Vec<String> {
    parts_within(text, WHATSAPP_LIMIT, Unit::Chars, to_whatsapp)
}

/// Characters of the source in one Matrix part: a Matrix event may hold 65,536 bytes in
/// all, and a part is sent twice (its text and its HTML).
pub const MATRIX_PART_CHARS: usize = 8_000;
/// The most bytes a Matrix part's `body` and `formatted_body` take together as JSON
/// strings, so that an event stays well below 65,536 bytes with its other fields.
pub const MATRIX_PART_BYTES: usize = 32_000;

/// `text` as Matrix parts: each part's `body` is its Markdown source as written (what a
/// client without HTML shows), its `formatted_body` the HTML; together within
/// [`MATRIX_PART_BYTES`] as JSON.
pub fn matrix_parts(text: &str) -> Vec<MatrixPart> {
    let mut out = Vec::new();
    for part in split(text, MATRIX_PART_CHARS, Unit::Chars) {
        fit_matrix(&part, MATRIX_PART_CHARS, &mut out);
    }
    out
}

/// `text` as Matrix HTML (`org.matrix.custom.html`).
pub fn to_matrix_html(text: &str) -> String {
    render(&parse(text), Target::Matrix)
}

/// `text` in Telegram's HTML parse mode.
pub fn to_telegram_html(text: &str) -> String {
    render(&parse(text), Target::Html)
}

/// `text` in Telegram's MarkdownV2 parse mode.
pub fn to_telegram_markdown_v2(text: &str) -> String {
    render(&parse(text), Target::MarkdownV2)
}

/// `text` with WhatsApp's markers (`*bold*`, `_italic_`, `~strike~`, ```` ```mono``` ````).
pub fn to_whatsapp(text: &str) -> String {
    render(&parse(text), Target::WhatsApp)
}

/// `<`, `>` and `&` as HTML entities, and `"` too (for attribute values).
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Plain text for MarkdownV2: each of `_*[]()~`>#+-=|{}.!` and `\` preceded by `\`.
pub fn escape_markdown_v2(text: &str) -> String {
    escape_with(text, "_*[]()~`>#+-=|{}.!\\")
}

/// Text inside MarkdownV2's `code` and `pre`: only `` ` `` and `\` escaped.
pub fn escape_markdown_v2_code(text: &str) -> String {
    escape_with(text, "`\\")
}

fn escape_with(text: &str, special: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if special.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn parts_within(text: &str, limit: usize, unit: Unit, render: fn(&str) -> String) -> Vec<String> {
    let mut out = Vec::new();
    for part in split(text, limit, unit) {
        fit(&part, limit, limit, unit, render, &mut out);
    }
    out
}

/// Formats `part`; when that is longer than `limit`, cuts it again at a budget shrunk by
/// how much formatting grew it, and formats those.
fn fit(
    part: &str,
    limit: usize,
    budget: usize,
    unit: Unit,
    render: fn(&str) -> String,
    out: &mut Vec<String>,
) {
    if part.chars().all(|c| c.is_whitespace() || c == '`') {
        return; // an empty code block: Telegram refuses an empty message
    }
    let rendered = render(part);
    let length = unit.len(&rendered);
    if length <= limit || budget <= MIN_LIMIT {
        out.push(rendered);
        return;
    }
    let smaller = (budget * limit / length).clamp(MIN_LIMIT, budget - 1);
    for piece in split(part, smaller, unit) {
        fit(&piece, limit, smaller, unit, render, out);
    }
}

/// Like [`fit`], for Matrix: measured in bytes of both strings as JSON.
fn fit_matrix(part: &str, budget: usize, out: &mut Vec<MatrixPart>) {
    if part.chars().all(|c| c.is_whitespace() || c == '`') {
        return;
    }
    let html = to_matrix_html(part);
    let size = json_len(part) + json_len(&html);
    if size <= MATRIX_PART_BYTES || budget <= MIN_LIMIT {
        out.push(MatrixPart {
            body: part.to_owned(),
            formatted_body: html,
        });
        return;
    }
    let smaller = (budget * MATRIX_PART_BYTES / size).clamp(MIN_LIMIT, budget - 1);
    for piece in split(part, smaller, Unit::Chars) {
        fit_matrix(&piece, smaller, out);
    }
}

/// The bytes `text` takes as a JSON string, quotes and escapes included.
fn json_len(text: &str) -> usize {
    2 + text
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum::<usize>()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Html,
    MarkdownV2,
    WhatsApp,
    /// Matrix's HTML: as `Html`, with `<del>` for strike and `<br>` between lines.
    Matrix,
}

/// A line or a code block of the source.
#[derive(Debug, PartialEq)]
enum Block<'a> {
    /// A line: its indentation, what kind it is, its inline content.
    Line {
        indent: &'a str,
        kind: LineKind,
        spans: Vec<Span>,
    },
    /// A fenced block; `lang` is the info string's first word.
    Code { lang: &'a str, lines: Vec<&'a str> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineKind {
    Plain,
    Heading,
    Bullet,
}

#[derive(Clone, Debug, PartialEq)]
enum Span {
    Text(String),
    Bold(Vec<Span>),
    Italic(Vec<Span>),
    Strike(Vec<Span>),
    Code(String),
    Link { label: Vec<Span>, url: String },
}

fn parse(text: &str) -> Vec<Block<'_>> {
    let mut blocks = Vec::new();
    let mut lines = text.split('\n');
    while let Some(line) = lines.next() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if let Some(info) = trimmed.strip_prefix("```") {
            let lang = info.split_whitespace().next().unwrap_or("");
            let mut body = Vec::new();
            for inner in lines.by_ref() {
                let inner = inner.strip_suffix('\r').unwrap_or(inner);
                let closing = inner.trim();
                if closing.len() >= 3 && closing.bytes().all(|b| b == b'`') {
                    break;
                }
                body.push(inner);
            }
            blocks.push(Block::Code { lang, lines: body });
            continue;
        }
        let hashes = trimmed.bytes().take_while(|&b| b == b'#').count();
        let (kind, content) =
            if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with([' ', '\t']) {
                (LineKind::Heading, trimmed[hashes..].trim())
            } else if let Some(item) = ["- ", "* ", "+ "]
                .iter()
                .find_map(|marker| trimmed.strip_prefix(marker))
            {
                (LineKind::Bullet, item)
            } else {
                (LineKind::Plain, trimmed)
            };
        blocks.push(Block::Line {
            indent,
            kind,
            spans: inline(content, true),
        });
    }
    blocks
}

/// Inline spans of one line; `links` is false inside a link's label.
fn inline(text: &str, links: bool) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut plain = String::new();
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let c = rest.chars().next().unwrap_or(' ');
        let found = match c {
            '\\' => rest[1..]
                .chars()
                .next()
                .filter(char::is_ascii_punctuation)
                .map(|escaped| (Span::Text(escaped.to_string()), 1 + escaped.len_utf8())),
            '`' => code_span(rest),
            '*' | '_' | '~' if rest[1..].starts_with(c) => delimited(text, i, &rest[..2], c != '*')
                .map(|(inner, used)| {
                    let spans = inline(inner, links);
                    let span = if c == '~' {
                        Span::Strike(spans)
                    } else {
                        Span::Bold(spans)
                    };
                    (span, used)
                }),
            '*' | '_' => delimited(text, i, &rest[..1], c == '_')
                .map(|(inner, used)| (Span::Italic(inline(inner, links)), used)),
            '[' if links => link(rest),
            _ => None,
        };
        match found {
            Some((span, used)) => {
                if !plain.is_empty() {
                    spans.push(Span::Text(std::mem::take(&mut plain)));
                }
                match (span, spans.last_mut()) {
                    (Span::Text(t), Some(Span::Text(last))) => last.push_str(&t),
                    (span, _) => spans.push(span),
                }
                i += used;
            }
            None => {
                plain.push(c);
                i += c.len_utf8();
            }
        }
    }
    if !plain.is_empty() {
        match spans.last_mut() {
            Some(Span::Text(last)) => last.push_str(&plain),
            _ => spans.push(Span::Text(plain)),
        }
    }
    spans
}

/// `` `code` `` (or ``` ``co`de`` ``` with a longer run): the span and the bytes it used.
fn code_span(rest: &str) -> Option<(Span, usize)> {
    let run = rest.bytes().take_while(|&b| b == b'`').count();
    let fence = &rest[..run];
    let close = rest[run..].find(fence)?;
    let inner = &rest[run..run + close];
    if inner.is_empty() {
        return None;
    }
    Some((Span::Code(inner.to_owned()), run + close + run))
}

/// A span between `marker`s starting at `text[at..]`: the opener followed by a non-space,
/// the closer preceded by one; with `word_bound` (for `_` and `~`) neither may touch a
/// letter or digit outside, so `snake_case_names` stay as they are.
fn delimited<'t>(
    text: &'t str,
    at: usize,
    marker: &str,
    word_bound: bool,
) -> Option<(&'t str, usize)> {
    let before = text[..at].chars().next_back();
    if word_bound && before.is_some_and(char::is_alphanumeric) {
        return None;
    }
    let start = at + marker.len();
    let first = text[start..].chars().next()?;
    if first.is_whitespace() {
        return None;
    }
    let mut from = start;
    while let Some(found) = text[from..].find(marker) {
        let mut close = from + found;
        if marker.len() > 1 {
            // In a run longer than the marker (`***`), the closer is its end.
            while text[close + marker.len()..].starts_with(&marker[..1]) {
                close += 1;
            }
        }
        let inner = &text[start..close];
        let after = text[close + marker.len()..].chars().next();
        let last_ok = inner
            .chars()
            .next_back()
            .is_some_and(|c| !c.is_whitespace());
        let after_ok = !(word_bound && after.is_some_and(char::is_alphanumeric));
        // A single `*` must not be half of a `**`.
        let single_ok = marker.len() > 1 || after != marker.chars().next();
        if !inner.is_empty() && last_ok && after_ok && single_ok {
            return Some((inner, close + marker.len() - at));
        }
        from = close + marker.len();
    }
    None
}

/// `[label](url)` with an `http`, `https`, `tg` or `mailto` URL without spaces.
fn link(rest: &str) -> Option<(Span, usize)> {
    let label_end = rest.find("](")?;
    let label = &rest[1..label_end];
    let url_start = label_end + 2;
    let url_len = rest[url_start..].find(')')?;
    let url = &rest[url_start..url_start + url_len];
    let allowed = ["http://", "https://", "tg://", "mailto:"]
        .iter()
        .any(|scheme| url.len() > scheme.len() && url.starts_with(scheme));
    if label.is_empty() || !allowed || url.contains(char::is_whitespace) {
        return None;
    }
    let span = Span::Link {
        label: inline(label, false),
        url: url.to_owned(),
    };
    Some((span, url_start + url_len + 1))
}

fn render(blocks: &[Block<'_>], target: Target) -> String {
    let mut out = String::new();
    for (n, block) in blocks.iter().enumerate() {
        if n > 0 {
            // Matrix's HTML needs a break between lines; a block element breaks itself.
            let lines = |b: &Block<'_>| matches!(b, Block::Line { .. });
            if target == Target::Matrix && lines(block) && lines(&blocks[n - 1]) {
                out.push_str("<br>");
            }
            out.push('\n');
        }
        match block {
            Block::Line {
                indent,
                kind,
                spans,
            } => {
                out.push_str(indent);
                match kind {
                    LineKind::Plain => spans_to(spans, target, &mut out),
                    LineKind::Bullet => {
                        out.push_str("• ");
                        spans_to(spans, target, &mut out);
                    }
                    LineKind::Heading if spans.is_empty() => {}
                    LineKind::Heading => {
                        let unwrapped = without_bold(spans);
                        span_to(&Span::Bold(unwrapped), target, &mut out);
                    }
                }
            }
            Block::Code { lang, lines } => code_block_to(lang, &lines.join("\n"), target, &mut out),
        }
    }
    out
}

/// Bold spans replaced by their content (a heading is bold already).
fn without_bold(spans: &[Span]) -> Vec<Span> {
    spans
        .iter()
        .flat_map(|span| match span {
            Span::Bold(inner) => without_bold(inner),
            other => vec![other.clone()],
        })
        .collect()
}

fn spans_to(spans: &[Span], target: Target, out: &mut String) {
    for span in spans {
        span_to(span, target, out);
    }
}

fn span_to(span: &Span, target: Target, out: &mut String) {
    let wrap = |open: &str, inner: &[Span], close: &str, out: &mut String| {
        out.push_str(open);
        spans_to(inner, target, out);
        out.push_str(close);
    };
    match (span, target) {
        (Span::Text(text), Target::Html | Target::Matrix) => out.push_str(&escape_html(text)),
        (Span::Text(text), Target::MarkdownV2) => out.push_str(&escape_markdown_v2(text)),
        (Span::Text(text), Target::WhatsApp) => out.push_str(text),
        (Span::Bold(inner), Target::Html | Target::Matrix) => wrap("<b>", inner, "</b>", out),
        (Span::Bold(inner), _) => wrap("*", inner, "*", out),
        (Span::Italic(inner), Target::Html | Target::Matrix) => wrap("<i>", inner, "</i>", out),
        (Span::Italic(inner), _) => wrap("_", inner, "_", out),
        (Span::Strike(inner), Target::Html) => wrap("~~", inner, "~~", out),
        (Span::Strike(inner), Target::Matrix) => wrap("<del>", inner, "</del>", out),
        (Span::Strike(inner), Target::MarkdownV2) => wrap("\\~\\~", inner, "\\~\\~", out),
        (Span::Strike(inner), Target::WhatsApp) => wrap("~", inner, "~", out),
        (Span::Code(code), Target::Html | Target::Matrix) => {
            out.push_str("<code>");
            out.push_str(&escape_html(code));
            out.push_str("</code>");
        }
        (Span::Code(code), Target::MarkdownV2) => {
            out.push('`');
            out.push_str(&escape_markdown_v2_code(code));
            out.push('`');
        }
        (Span::Code(code), Target::WhatsApp) => {
            out.push_str("```");
            out.push_str(code);
            out.push_str("```");
        }
        (Span::Link { label, url }, Target::Html | Target::Matrix) => {
            out.push_str("<a href=\"");
            out.push_str(&escape_html(url));
            out.push_str("\">");
            spans_to(label, target, out);
            out.push_str("</a>");
        }
        (Span::Link { label, url }, Target::MarkdownV2) => {
            out.push('[');
            spans_to(label, target, out);
            out.push_str("](");
            out.push_str(&escape_with(url, ")\\"));
            out.push(')');
        }
        (Span::Link { label, url }, Target::WhatsApp) => {
            let mut shown = String::new();
            spans_to(label, target, &mut shown);
            if shown == *url {
                out.push_str(url);
            } else {
                out.push_str(&format!("{shown} ({url})"));
            }
        }
    }
}

fn code_block_to(lang: &str, body: &str, target: Target, out: &mut String) {
    let lang_ok = !lang.is_empty()
        && lang
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-_#.".contains(c));
    match target {
        Target::Html | Target::Matrix if lang_ok => {
            out.push_str(&format!(
                "<pre><code class=\"language-{}\">{}</code></pre>",
                escape_html(lang),
                escape_html(body)
            ));
        }
        Target::Html => out.push_str(&format!("<pre>{}</pre>", escape_html(body))),
        Target::Matrix => out.push_str(&format!("<pre><code>{}</code></pre>", escape_html(body))),
        Target::MarkdownV2 => {
            let lang = if lang_ok { lang } else { "" };
            out.push_str(&format!(
                "```{lang}\n{}\n```",
                escape_markdown_v2_code(body)
            ));
        }
        Target::WhatsApp => out.push_str(&format!("```{body}```")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(source: &str, html: &str, markdown_v2: &str, whatsapp: &str) {
        assert_eq!(to_telegram_html(source), html, "HTML of {source:?}");
        assert_eq!(
            to_telegram_markdown_v2(source),
            markdown_v2,
            "MarkdownV2 of {source:?}"
        );
        assert_eq!(to_whatsapp(source), whatsapp, "WhatsApp of {source:?}");
    }

    #[test]
    fn plain_text_is_escaped() {
        check(
            "a < b && c > d. (Done!)",
            "a &lt; b &amp;&amp; c &gt; d. (Done!)",
            "a < b && c \\> d\\. \\(Done\\!\\)",
            "a < b && c > d. (Done!)",
        );
        assert_eq!(
            escape_markdown_v2("_*[]()~`>#+-=|{}.!\\"),
            "\\_\\*\\[\\]\\(\\)\\~\\`\\>\\#\\+\\-\\=\\|\\{\\}\\.\\!\\\\"
        );
        assert_eq!(escape_markdown_v2_code("a`b\\c_d"), "a\\`b\\\\c_d");
    }

    #[test]
    fn emphasis() {
        check(
            "**bold** text",
            "<b>bold</b> text",
            "*bold* text",
            "*bold* text",
        );
        check(
            "*it* and _it_",
            "<i>it</i> and <i>it</i>",
            "_it_ and _it_",
            "_it_ and _it_",
        );
        check(
            "**bold *and it***!",
            "<b>bold <i>and it</i></b>!",
            "*bold _and it_*\\!",
            "*bold _and it_*!",
        );
        check("~~gone~~", "~~gone~~", "\\~\\~gone\\~\\~", "~gone~");
    }

    #[test]
    fn unbalanced_markers_stay_literal() {
        check("2 * 3 * 4", "2 * 3 * 4", "2 \\* 3 \\* 4", "2 * 3 * 4");
        check(
            "**open only",
            "**open only",
            "\\*\\*open only",
            "**open only",
        );
        check(
            "snake_case_name",
            "snake_case_name",
            "snake\\_case\\_name",
            "snake_case_name",
        );
        check("a `tick", "a `tick", "a \\`tick", "a `tick");
        check(
            "[no link](ftp://x)",
            "[no link](ftp://x)",
            "\\[no link\\]\\(ftp://x\\)",
            "[no link](ftp://x)",
        );
        check(
            "\\*not italic\\*",
            "*not italic*",
            "\\*not italic\\*",
            "*not italic*",
        );
    }

    #[test]
    fn code() {
        check(
            "run `a<b && c_d`",
            "run <code>a&lt;b &amp;&amp; c_d</code>",
            "run `a<b && c_d`",
            "run ```a<b && c_d```",
        );
        check(
            "```rust\nlet x = a < b; // *not* bold\n```",
            "<pre><code class=\"language-rust\">let x = a &lt; b; // *not* bold</code></pre>",
            "```rust\nlet x = a < b; // *not* bold\n```",
            "```let x = a < b; // *not* bold```",
        );
        check(
            "```\nx`y\\z\n```",
            "<pre>x`y\\z</pre>",
            "```\nx\\`y\\\\z\n```",
            "```x`y\\z```",
        );
        // An unclosed fence runs to the end.
        check(
            "```\nopen",
            "<pre>open</pre>",
            "```\nopen\n```",
            "```open```",
        );
    }

    #[test]
    fn links() {
        check(
            "see [the docs](https://example.com/a?b=1&c=\"2\")",
            "see <a href=\"https://example.com/a?b=1&amp;c=&quot;2&quot;\">the docs</a>",
            "see [the docs](https://example.com/a?b=1&c=\"2\")",
            "see the docs (https://example.com/a?b=1&c=\"2\")",
        );
        check(
            "[**b** x](https://e.x/a_b) [y](https://e.x/c\\d)",
            "<a href=\"https://e.x/a_b\"><b>b</b> x</a> <a href=\"https://e.x/c\\d\">y</a>",
            "[*b* x](https://e.x/a_b) [y](https://e.x/c\\\\d)",
            "*b* x (https://e.x/a_b) y (https://e.x/c\\d)",
        );
        check(
            "[https://e.x](https://e.x)",
            "<a href=\"https://e.x\">https://e.x</a>",
            "[https://e\\.x](https://e.x)",
            "https://e.x",
        );
    }

    #[test]
    fn headings_and_lists() {
        check(
            "# Title **here**\n- one\n  * two\n1. three",
            "<b>Title here</b>\n• one\n  • two\n1. three",
            "*Title here*\n• one\n  • two\n1\\. three",
            "*Title here*\n• one\n  • two\n1. three",
        );
        check("#hashtag", "#hashtag", "\\#hashtag", "#hashtag");
    }

    #[test]
    fn matrix_html_breaks_lines_and_strikes() {
        assert_eq!(
            to_matrix_html("**b** ~~s~~ `c<`\nnext & last\n- item"),
            "<b>b</b> <del>s</del> <code>c&lt;</code><br>\nnext &amp; last<br>\n• item"
        );
        assert_eq!(
            to_matrix_html("text\n```\na<b\n```\nafter"),
            "text\n<pre><code>a&lt;b</code></pre>\nafter"
        );
        assert_eq!(
            to_matrix_html("```rust\nx\n```"),
            "<pre><code class=\"language-rust\">x</code></pre>"
        );
        assert_eq!(
            matrix_parts("**hi** [b00t](https://e.x)"),
            [MatrixPart {
                body: "**hi** [b00t](https://e.x)".into(),
                formatted_body: "<b>hi</b> <a href=\"https://e.x\">b00t</a>".into(),
            }]
        );
    }

    #[test]
    fn matrix_parts_stay_well_below_the_event_limit() {
        let json = |text: &str| serde_json::to_string(text).unwrap().len();
        for text in [
            "<&> ".repeat(20_000),
            "é🍮 \"quoted\"\n".repeat(9_000),
            format!("```python\n{}\n```", "print('<x>')\n".repeat(5_000)),
        ] {
            let parts = matrix_parts(&text);
            assert!(parts.len() > 2, "{}", parts.len());
            for part in &parts {
                assert_eq!(json_len(&part.body), json(&part.body));
                let size = json(&part.body) + json(&part.formatted_body);
                assert!(size <= MATRIX_PART_BYTES, "{size}");
                assert_eq!(part.formatted_body, to_matrix_html(&part.body));
            }
        }
        assert!(matrix_parts("```\n```").is_empty());
        assert!(matrix_parts("  \n ").is_empty());
    }

    #[test]
    fn parts_stay_within_the_limit_after_escaping() {
        let text = "<&> ".repeat(3000);
        let parts = telegram_parts(&text);
        assert!(parts.len() > 3, "{}", parts.len());
        for part in &parts {
            assert!(Unit::Utf16.len(part) <= TELEGRAM_LIMIT);
            assert!(part.starts_with("&lt;"), "cut inside an entity: {part:.20}");
        }
        let code = format!("```python\n{}\n```", "print('<x>')\n".repeat(800));
        let parts = telegram_parts(&code);
        assert!(parts.len() > 2);
        for part in &parts {
            assert!(Unit::Utf16.len(part) <= TELEGRAM_LIMIT);
            assert!(
                part.starts_with("<pre><code class=\"language-python\">"),
                "{part:.40}"
            );
            assert!(part.ends_with("</code></pre>"));
        }
        for part in telegram_parts_as(&text, ParseMode::MarkdownV2) {
            assert!(Unit::Utf16.len(&part) <= TELEGRAM_LIMIT);
        }
        for part in whatsapp_parts(&"word ".repeat(2000)) {
            assert!(part.chars().count() <= WHATSAPP_LIMIT);
        }
        assert!(telegram_parts("```\n```").is_empty());
    }
}
