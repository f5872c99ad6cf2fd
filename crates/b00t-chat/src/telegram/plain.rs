//! The plain text of a part `telegram_parts` formatted as HTML: its tags dropped and its
//! entities decoded. Sent instead when Telegram refuses the HTML ("can't parse
//! entities"), so that an answer still arrives, unformatted; it is never longer than
//! the HTML it comes from.

/// `html` without its tags, `&lt;`, `&gt;`, `&amp;`, `&quot;` and numeric entities decoded.
pub fn plain_of_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            match rest.find('>') {
                Some(end) => {
                    rest = &rest[end + 1..];
                    continue;
                }
                None => {
                    out.push_str(rest);
                    break;
                }
            }
        }
        if c == '&' {
            if let Some((decoded, len)) = entity(rest) {
                out.push(decoded);
                rest = &rest[len..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The character an entity at the start of `text` stands for, and its length.
fn entity(text: &str) -> Option<(char, usize)> {
    let (end, _) = text.char_indices().take(12).find(|(_, c)| *c == ';')?;
    let name = &text[1..end];
    let decoded = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((decoded, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_go_and_entities_are_decoded() {
        for (html, plain) in [
            ("<b>bold</b> and <i>it</i>", "bold and it"),
            ("a &lt;b&gt; &amp; &quot;c&quot;", "a <b> & \"c\""),
            ("<a href=\"https://x.y/?a=1&amp;b=2\">link</a>", "link"),
            (
                "<pre><code class=\"language-rust\">fn x() {}</code></pre>",
                "fn x() {}",
            ),
            ("&#65;&#x42; &unknown; & alone", "AB &unknown; & alone"),
            ("broken <b", "broken <b"),
            ("emoji \u{1F600} &amp;", "emoji \u{1F600} &"),
        ] {
            assert_eq!(plain_of_html(html), plain, "{html}");
            assert!(plain_of_html(html).len() <= html.len());
        }
        let formatted = b00t_bridges::telegram_parts("**Fish** & <chips> `code`");
        assert_eq!(plain_of_html(&formatted[0]), "Fish & <chips> code");
    }
}
