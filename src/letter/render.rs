//! Rendering letters with `minijinja` templates (`data/templates/<frame>.<md|html>.j2`,
//! or a user's directory holding files of the same names).
//!
//! Escaping is the environment's job, not the templates': every `{{ value }}` in a
//! `.html.j2` template goes through [`crate::report::escape::html`], every one in a
//! `.md.j2` template through [`markdown`], unless the value was built by this crate from
//! numbers alone (dates, times), which are marked safe. A template cannot forget to
//! escape; it would have to ask for `|safe` explicitly.

use super::{lint, Context, Frame, LetterError, Missing};
use crate::report::escape;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use std::path::Path;

const BUNDLED: &[(&str, &str)] = &[
    ("cn.md.j2", include_str!("../../data/templates/cn.md.j2")),
    (
        "cn.html.j2",
        include_str!("../../data/templates/cn.html.j2"),
    ),
    (
        "dmca.md.j2",
        include_str!("../../data/templates/dmca.md.j2"),
    ),
    (
        "dmca.html.j2",
        include_str!("../../data/templates/dmca.html.j2"),
    ),
    ("dsa.md.j2", include_str!("../../data/templates/dsa.md.j2")),
    (
        "dsa.html.j2",
        include_str!("../../data/templates/dsa.html.j2"),
    ),
];

/// Markdown escaping for letters: [`escape::markdown`], plus `@` so that no email-like
/// text becomes a `mailto:` autolink (GFM autolink extension).
pub fn markdown(s: &str) -> String {
    escape::markdown(s).replace('@', "\\@")
}

/// The loaded templates.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// The bundled templates, each replaced by a file of the same name in `dir`.
    pub fn load(dir: Option<&Path>) -> Result<Templates, LetterError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html.j2") {
                AutoEscape::Html
            } else if name.ends_with(".md.j2") {
                AutoEscape::Custom("markdown")
            } else {
                AutoEscape::None
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
                AutoEscape::Html => escape::html(&text),
                AutoEscape::Custom("markdown") => markdown(&text),
                // Letters are only Markdown or HTML; anything else is escaped as HTML,
                // the stricter of the two.
                _ => escape::html(&text),
            };
            out.write_str(&escaped)?;
            Ok(())
        });
        for (name, source) in BUNDLED {
            let text = match dir {
                Some(d) if d.join(name).is_file() => std::fs::read_to_string(d.join(name))
                    .map_err(|source| LetterError::TemplateDir {
                        path: d.join(name).display().to_string(),
                        source,
                    })?,
                _ => (*source).to_string(),
            };
            env.add_template_owned(*name, text)
                .map_err(|e| LetterError::Template {
                    name: (*name).to_string(),
                    message: format!("{e:#}"),
                })?;
        }
        if let Some(d) = dir {
            if !d.is_dir() {
                return Err(LetterError::TemplateDir {
                    path: d.display().to_string(),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
                });
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
                name: name.to_string(),
                message: format!("{e:#}"),
            })
    }

    /// Renders both formats, checks them, and when elements are missing renders them
    /// again marked DRAFT with the missing IDs at the top. The missing list is the
    /// union of both formats' (they should agree).
    pub fn render_checked(
        &self,
        frame: Frame,
        ctx: &mut Context,
    ) -> Result<(String, String, Vec<Missing>), LetterError> {
        let md_name = format!("{frame}.md.j2");
        let html_name = format!("{frame}.html.j2");
        ctx.draft.clear();
        let md = self.render(&md_name, ctx)?;
        let html = self.render(&html_name, ctx)?;
        let mut missing = lint::lint(&md, Some(frame)).missing;
        for m in lint::lint(&html, Some(frame)).missing {
            if !missing.iter().any(|x| x.id == m.id) {
                missing.push(m);
            }
        }
        missing.sort_by_key(|m| lint::order(&m.id));
        if missing.is_empty() {
            return Ok((md, html, missing));
        }
        ctx.draft = missing.clone();
        let md = self.render(&md_name, ctx)?;
        let html = self.render(&html_name, ctx)?;
        Ok((md, html, missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_escape_breaks_links_html_and_autolinks() {
        let s = markdown("<script>](javascript:x) a@b.example www.x");
        assert!(!s.contains('<'));
        assert!(!s.contains("]("));
        assert!(s.contains("a\\@b"));
        assert!(s.contains("www\\."));
    }

    #[test]
    fn bundled_templates_compile() {
        assert!(Templates::load(None).is_ok());
    }
}
