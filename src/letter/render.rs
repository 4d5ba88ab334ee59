//! Rendering letters with `minijinja` templates (`data/templates/<frame>.md.j2`, or a
//! user's directory holding files of the same names), in three forms made from the
//! same template: Markdown, plain text (for web forms) and printable HTML.
//!
//! Escaping is the environment's job, not the templates': every `{{ value }}` goes
//! through [`markdown`] in the Markdown form and through [`text`] in the plain form,
//! unless the value was built by this crate from numbers alone (dates, times), which
//! are marked safe. A template cannot forget to escape; it would have to ask for
//! `|safe` explicitly. The HTML form is built from the plain form by [`to_html`],
//! which HTML-escapes every line except the template's own marker comments, so the
//! three forms say the same thing.

use super::{lint, Context, Frame, LetterError, Missing};
use crate::report::escape;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use regex::Regex;
use std::path::Path;
use std::sync::LazyLock;

const BUNDLED: &[(&str, &str)] = &[
    ("cn.md.j2", include_str!("../../data/templates/cn.md.j2")),
    (
        "dmca.md.j2",
        include_str!("../../data/templates/dmca.md.j2"),
    ),
    ("dsa.md.j2", include_str!("../../data/templates/dsa.md.j2")),
    (
        "cn.en.md.j2",
        include_str!("../../data/templates/cn.en.md.j2"),
    ),
    (
        "intl.zh.md.j2",
        include_str!("../../data/templates/intl.zh.md.j2"),
    ),
];

/// Markdown escaping for letters: a backslash before every character with a meaning
/// in CommonMark or GitHub Markdown where values appear (emphasis, code, links,
/// tables, raw HTML, entities), `@` and `:` so that no email- or URL-like text becomes
/// an autolink, and `.` after `www`; never an HTML entity (a reader of the raw text
/// sees `A \& B`, a renderer `A & B`). Line breaks and other control characters
/// become spaces.
pub fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '|' | '!' | '~'
            | '<' | '>' | '&' | '@' | ':' | '"' => {
                out.push('\\');
                out.push(c);
            }
            '.' if out.to_ascii_lowercase().ends_with("www") => out.push_str("\\."),
            c if c.is_control() || is_bidi(c) => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Plain-text escaping: nothing is markup; control characters and bidirectional
/// overrides (which could reorder what a reader sees) become visible escapes.
pub fn text(s: &str) -> String {
    escape::terminal(s)
}

fn is_bidi(c: char) -> bool {
    ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
        || c == '\u{200e}'
        || c == '\u{200f}'
}

static MARKER_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^<!-- whohosts:(element|letter|end)\b[^<>]*-->$").expect("static regex")
});
static ORDERED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d+)\. (.*)$").expect("static regex"));

/// The plain form of a letter: the text rendering without the marker comments and
/// with headings and quote marks dropped.
pub fn to_plain(rendered: &str) -> String {
    let mut out = String::with_capacity(rendered.len());
    let mut blank = true;
    for line in rendered.lines() {
        if MARKER_LINE.is_match(line) {
            continue;
        }
        let line = line
            .trim_start_matches("# ")
            .trim_start_matches("## ")
            .trim_start_matches("### ");
        let line = line.strip_prefix("> ").unwrap_or(line);
        let line = if line == ">" { "" } else { line };
        if line.is_empty() && blank {
            continue;
        }
        blank = line.is_empty();
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Printable HTML from the text rendering: headings, lists (one level of nesting),
/// the draft warning, paragraphs; every line HTML-escaped except whole-line marker
/// comments, which `lint` reads.
pub fn to_html(rendered: &str, frame: Frame) -> String {
    let mut body = String::new();
    let mut title = String::new();
    // Open containers: "ul", "ol", "li", "ul2" (nested list), "draft".
    let mut open: Vec<&'static str> = Vec::new();
    fn close_to(body: &mut String, open: &mut Vec<&'static str>, keep: usize) {
        while open.len() > keep {
            match open.pop() {
                Some("ul") | Some("ul2") => body.push_str("</ul>\n"),
                Some("ol") => body.push_str("</ol>\n"),
                Some("li") => body.push_str("</li>\n"),
                Some("draft") => body.push_str("</div>\n"),
                _ => {}
            }
        }
    }
    for raw in rendered.lines() {
        if MARKER_LINE.is_match(raw) {
            close_to(&mut body, &mut open, 0);
            body.push_str(raw);
            body.push('\n');
            continue;
        }
        let (quoted, line) = match raw.strip_prefix('>') {
            Some(rest) => (true, rest.trim_start()),
            None => (false, raw),
        };
        if quoted && !open.contains(&"draft") {
            close_to(&mut body, &mut open, 0);
            body.push_str("<div class=\"draft\">\n");
            open.push("draft");
        }
        if !quoted && open.first() == Some(&"draft") {
            close_to(&mut body, &mut open, 0);
        }
        let base = usize::from(quoted);
        if line.trim().is_empty() {
            if !quoted {
                close_to(&mut body, &mut open, 0);
            }
            continue;
        }
        if let Some(h) = line.strip_prefix("# ") {
            close_to(&mut body, &mut open, base);
            title = h.to_string();
            body.push_str(&format!("<h1>{}</h1>\n", escape::html(h)));
        } else if let Some(h) = line.strip_prefix("## ") {
            close_to(&mut body, &mut open, base);
            body.push_str(&format!("<h2>{}</h2>\n", escape::html(h)));
        } else if let Some(h) = line.strip_prefix("### ") {
            close_to(&mut body, &mut open, base);
            body.push_str(&format!("<h3>{}</h3>\n", escape::html(h)));
        } else if line == "---" {
            close_to(&mut body, &mut open, base);
            body.push_str("<hr>\n");
        } else if let Some(item) = line.strip_prefix("  - ") {
            // A nested item: inside the open <li>.
            if open.last() != Some(&"ul2") {
                if open.last() != Some(&"li") {
                    close_to(&mut body, &mut open, base);
                    body.push_str("<ul>\n<li>");
                    open.push("ul");
                    open.push("li");
                }
                body.push_str("\n<ul>\n");
                open.push("ul2");
            }
            body.push_str(&format!("<li>{}</li>\n", escape::html(item)));
        } else if let Some(item) = line.strip_prefix("- ") {
            while matches!(open.last(), Some(&"ul2") | Some(&"li")) {
                let keep = open.len() - 1;
                close_to(&mut body, &mut open, keep);
            }
            if open.last() != Some(&"ul") {
                close_to(&mut body, &mut open, base);
                body.push_str("<ul>\n");
                open.push("ul");
            }
            body.push_str(&format!("<li>{}", escape::html(item)));
            open.push("li");
        } else if let Some(c) = ORDERED.captures(line) {
            let item = c.get(2).map_or("", |m| m.as_str());
            while matches!(open.last(), Some(&"ul2") | Some(&"li")) {
                let keep = open.len() - 1;
                close_to(&mut body, &mut open, keep);
            }
            if open.last() != Some(&"ol") {
                close_to(&mut body, &mut open, base);
                body.push_str("<ol>\n");
                open.push("ol");
            }
            body.push_str(&format!("<li>{}", escape::html(item)));
            open.push("li");
        } else {
            close_to(&mut body, &mut open, base);
            body.push_str(&format!("<p>{}</p>\n", escape::html(line)));
        }
    }
    close_to(&mut body, &mut open, 0);
    let font = if frame == Frame::Cn {
        "\"Songti SC\", \"SimSun\", \"Noto Serif CJK SC\", serif"
    } else {
        "\"Times New Roman\", \"Liberation Serif\", serif"
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n<style>\n@page {{ size: A4; margin: 20mm 18mm; }}\nbody {{ font-family: {font}; font-size: 11pt; line-height: 1.5; max-width: 174mm; margin: 0 auto; overflow-wrap: anywhere; }}\nh1 {{ font-size: 16pt; text-align: center; }}\nh2 {{ font-size: 12pt; margin-top: 1.2em; }}\nh3 {{ font-size: 11pt; margin-bottom: 0.2em; }}\n.draft {{ border: 3px solid #b00; color: #b00; padding: 6px 10px; }}\n</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        lang = frame.language(),
        title = escape::html(&title),
    )
}

/// The loaded templates.
pub(crate) struct Templates {
    env: Environment<'static>,
}

/// A letter in its three forms, and what it lacks.
pub struct Rendered {
    pub markdown: String,
    pub html: String,
    pub text: String,
    pub missing: Vec<Missing>,
}

impl Templates {
    /// The bundled templates, each replaced by a file of the same name in `dir`.
    pub(crate) fn load(dir: Option<&Path>) -> Result<Templates, LetterError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".md.j2") {
                AutoEscape::Custom("markdown")
            } else if name.ends_with(".txt.j2") {
                AutoEscape::Custom("text")
            } else {
                AutoEscape::Html
            }
        });
        env.set_formatter(|out, state, value| {
            if value.is_safe() || value.is_none() || value.is_undefined() {
                if !value.is_none() && !value.is_undefined() {
                    out.write_str(&value.to_string())?;
                }
                return Ok(());
            }
            let text = value.to_string();
            let escaped = match state.auto_escape() {
                AutoEscape::Custom("markdown") => markdown(&text),
                AutoEscape::Custom("text") => self::text(&text),
                // Anything else is escaped as HTML, the strictest.
                _ => escape::html(&text),
            };
            out.write_str(&escaped)?;
            Ok(())
        });
        if let Some(d) = dir {
            if !d.is_dir() {
                return Err(LetterError::TemplateDir {
                    path: d.display().to_string(),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
                });
            }
        }
        for (name, source) in BUNDLED {
            let text = match dir {
                Some(d) if d.join(name).is_file() => std::fs::read_to_string(d.join(name))
                    .map_err(|source| LetterError::TemplateDir {
                        path: d.join(name).display().to_string(),
                        source,
                    })?,
                _ => (*source).to_string(),
            };
            // The same source twice: Markdown escaping, and plain-text escaping.
            let txt_name = name.replace(".md.j2", ".txt.j2");
            for n in [(*name).to_string(), txt_name] {
                env.add_template_owned(n, text.clone())
                    .map_err(|e| LetterError::Template {
                        name: (*name).to_string(),
                        message: format!("{e:#}"),
                    })?;
            }
        }
        Ok(Templates { env })
    }

    fn render(&self, name: &str, ctx: &Context) -> Result<String, LetterError> {
        let t = self
            .env
            .get_template(name)
            .map_err(|e| LetterError::Template {
                name: name.to_string(),
                message: format!("{e:#}"),
            })?;
        t.render(Value::from_serialize(ctx))
            .map_err(|e| LetterError::Template {
                name: name.replace(".txt.j2", ".md.j2"),
                message: format!("{e:#}"),
            })
    }

    fn render_all(
        &self,
        frame: Frame,
        ctx: &Context,
    ) -> Result<(String, String, String), LetterError> {
        let mut md = self.render(&format!("{frame}.md.j2"), ctx)?;
        let mut txt = self.render(&format!("{frame}.txt.j2"), ctx)?;
        // `--lang zh-CN+en`: the English version after the Chinese notice, which
        // governs; it carries no element markers, so `lint` checks the Chinese text.
        if frame == Frame::Cn && ctx.bilingual {
            md.push_str("\n---\n\n");
            md.push_str(&self.render("cn.en.md.j2", ctx)?);
            txt.push_str("\n---\n\n");
            txt.push_str(&self.render("cn.en.txt.j2", ctx)?);
        }
        // `--lang en+zh-CN`: a Chinese version after an English notice, which governs;
        // like the English version above, it carries no element markers.
        if frame != Frame::Cn && ctx.bilingual_zh {
            md.push_str("\n---\n\n");
            md.push_str(&self.render("intl.zh.md.j2", ctx)?);
            txt.push_str("\n---\n\n");
            txt.push_str(&self.render("intl.zh.txt.j2", ctx)?);
        }
        Ok((md, to_html(&txt, frame), to_plain(&txt)))
    }

    /// Renders all forms, checks the Markdown and the HTML, and when elements are
    /// missing renders them again marked DRAFT with the missing IDs at the top. The
    /// missing list is the union of both forms' (they should agree).
    pub(crate) fn render_checked(
        &self,
        frame: Frame,
        ctx: &mut Context,
    ) -> Result<Rendered, LetterError> {
        ctx.draft.clear();
        let (md, html, _) = self.render_all(frame, ctx)?;
        let mut missing = lint::lint(&md, Some(frame)).missing;
        for m in lint::lint(&html, Some(frame)).missing {
            if !missing.iter().any(|x| x.id == m.id) {
                missing.push(m);
            }
        }
        missing.sort_by_key(|m| lint::order(&m.id));
        if !missing.is_empty() {
            ctx.draft = missing.clone();
        }
        let (markdown, html, text) = self.render_all(frame, ctx)?;
        Ok(Rendered {
            markdown,
            html,
            text,
            missing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_escape_breaks_links_html_and_autolinks_without_entities() {
        let s = markdown("<script>](javascript:x) a@b.example www.x A & B");
        assert!(!s.contains('<') || s.contains("\\<"));
        assert!(!s.contains("]("));
        assert!(s.contains("a\\@b"));
        assert!(s.contains("www\\."));
        assert!(s.contains("A \\& B"));
        assert!(!s.contains("&amp;") && !s.contains("&lt;"));
        assert_eq!(markdown("47.236.91.18"), "47.236.91.18");
    }

    #[test]
    fn html_is_built_from_text_with_every_line_escaped() {
        let html = to_html(
            "<!-- whohosts:letter frame=cn -->\n# T\n\n- a <b>\n  - c & d\n1. x\n<!-- x -->\n",
            Frame::Cn,
        );
        assert!(html.contains("<!-- whohosts:letter frame=cn -->"));
        assert!(html.contains("<li>a &lt;b&gt;"));
        assert!(html.contains("<li>c &amp; d</li>"));
        assert!(html.contains("&lt;!-- x --&gt;"));
        assert!(html.contains("<ol>"));
    }

    #[test]
    fn bundled_templates_compile() {
        assert!(Templates::load(None).is_ok());
    }
}
