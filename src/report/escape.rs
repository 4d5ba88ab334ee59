//! Escaping of untrusted text for each output: terminal, HTML, Markdown.
//!
//! Anything that came from a capture or a file name may hold control characters,
//! markup or link syntax; these functions make it inert for the output they serve.

use std::fmt::Write;

/// For a terminal: control characters (C0, DEL, C1, and the bidirectional
/// overrides that can reorder what a reader sees) become `\x..`/`\u{..}` escapes,
/// and a backslash is doubled so that escapes cannot be forged.
pub fn terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if ('\u{80}'..='\u{9f}').contains(&c) || is_bidi_control(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// For HTML text and attribute values.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\r' | '\t' => {
                let _ = write!(out, "&#x{:x};", c as u32);
            }
            // Other control characters are shown as their code, as on a terminal:
            // a browser would draw an empty box or nothing.
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            // Bidirectional controls would reorder what a reader sees, even as
            // entities: they are shown as their code instead.
            c if is_bidi_control(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The characters that change the display order of text around them (embeddings,
/// overrides, isolates and marks).
pub(crate) fn is_bidi_control(c: char) -> bool {
    ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{61c}')
}

/// For Markdown text (including table cells): every character with a meaning in
/// CommonMark or GitHub tables is backslash-escaped, HTML-significant characters
/// become entities, and line breaks become spaces.
pub fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+' | '-' | '.'
            | '!' | '|' | '~' | ':' | '"' | '\'' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {
                let _ = write!(out, "&#x{:x};", c as u32);
            }
            c if is_bidi_control(c) => {
                let _ = write!(out, "U+{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// For Markdown that a person may also read as plain text (the notary sheet): only
/// the characters that start markup anywhere in a line are backslash-escaped (not
/// `.`, `-` or `:`, so hashes, dates and times stay readable; the values this serves
/// never start a line), `&` becomes an entity, and control and bidirectional
/// characters are shown as `\u{..}` escapes.
pub(crate) fn markdown_readable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '&' => out.push_str("&amp;"),
            c if c.is_control() || is_bidi_control(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_control_and_bidi_characters() {
        assert_eq!(terminal("a\x1b[31mb"), "a\\x1b[31mb");
        assert_eq!(terminal("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(terminal("a\\x1b"), "a\\\\x1b");
    }

    #[test]
    fn html_makes_markup_inert() {
        assert_eq!(html("<script>\"'&"), "&lt;script&gt;&quot;&#39;&amp;");
    }

    #[test]
    fn markdown_makes_links_and_markup_inert() {
        assert_eq!(markdown("](javascript:x)"), "\\]\\(javascript\\:x\\)");
        assert_eq!(markdown("<b>|a\nb"), "&lt;b&gt;\\|a b");
    }
}
