//! Hostname patterns: the subset of regular expressions a directory may use, checked
//! on the parse tree `regex-syntax` gives (the parser the `regex` crate itself uses).

use super::*;
use regex_syntax::ast::{
    self, parse::ParserBuilder, Ast, ClassSet, ClassSetItem, GroupKind, LiteralKind,
    RepetitionKind, RepetitionRange,
};

/// Nesting the parser accepts before it stops: far above [`MAX_PATTERN_DEPTH`] groups,
/// low enough that a hostile pattern cannot exhaust the stack.
const PARSER_NEST_LIMIT: u32 = 64;

/// Why a hostname pattern is refused, at which byte.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum PatternError {
    /// Not a regular expression at all: the parser's reason.
    #[error("at byte {at}: {why}, at {found}")]
    NotARegex {
        at: usize,
        why: String,
        found: String,
    },
    /// A regular expression outside the allowed subset.
    #[error("at byte {at}: expected {expected}, found {found}; hostname patterns use only {PATTERN_SYNTAX}")]
    Outside {
        at: usize,
        expected: String,
        found: String,
    },
}

#[cfg(test)]
impl PatternError {
    /// The byte offset in the pattern.
    pub(super) fn at(&self) -> usize {
        match self {
            PatternError::NotARegex { at, .. } | PatternError::Outside { at, .. } => *at,
        }
    }
}

/// Checks that an anchored pattern (`^…$`, checked by the caller) keeps to
/// [`PATTERN_SYNTAX`]; the message names the byte offset, what was expected there and
/// what was found.
pub(super) fn check_pattern_syntax(pattern: &str) -> Result<(), PatternError> {
    let check = Check { pattern };
    let tree = ParserBuilder::new()
        .nest_limit(PARSER_NEST_LIMIT)
        .build()
        .parse(pattern)
        .map_err(|e| check.invalid(e.span().start.offset, &e.kind().to_string()))?;
    // The anchors the caller checked, then the pattern between them.
    let items: &[Ast] = match &tree {
        Ast::Concat(c) => &c.asts,
        Ast::Alternation(a) => return Err(check.top_level_bar(a)),
        _ => return Err(check.refuse(0, "`^`")),
    };
    let is = |a: Option<&Ast>, kind: ast::AssertionKind| matches!(a, Some(Ast::Assertion(x)) if x.kind == kind);
    if !is(items.first(), ast::AssertionKind::StartLine) {
        // `^*`: a quantifier on the anchor.
        if let Some(Ast::Repetition(r)) = items.first() {
            return Err(check.refuse(
                r.op.span.start.offset,
                "a character, class or group before a quantifier",
            ));
        }
        return Err(check.refuse(0, "`^`"));
    }
    let ends = is(items.last(), ast::AssertionKind::EndLine)
        && items
            .last()
            .is_some_and(|a| a.span().end.offset == pattern.len());
    // Without the closing `$` the last item is checked too: it says what is wrong.
    let inner = &items[1..items.len() - usize::from(ends)];
    inner.iter().try_for_each(|a| check.node(a, 0))?;
    if ends {
        Ok(())
    } else {
        Err(check.refuse(pattern.len().saturating_sub(1), "the closing `$`"))
    }
}

struct Check<'a> {
    pattern: &'a str,
}

impl Check<'_> {
    fn refuse(&self, at: usize, expected: &str) -> PatternError {
        let end = self.pattern.len().saturating_sub(1);
        let found = match self
            .pattern
            .get(at..end)
            .and_then(|rest| rest.chars().next())
        {
            Some(c) => format!("{c:?}"),
            None => "the closing `$`".to_string(),
        };
        PatternError::Outside {
            at,
            expected: expected.to_string(),
            found,
        }
    }

    /// Not a regular expression at all: the parser's reason, at its place.
    fn invalid(&self, at: usize, why: &str) -> PatternError {
        let found = match self.pattern.get(at..).and_then(|rest| rest.chars().next()) {
            Some(c) => format!("{c:?}"),
            None => "the end".to_string(),
        };
        PatternError::NotARegex {
            at,
            why: why.to_string(),
            found,
        }
    }

    /// `^a|b$` is `^a` or `b$`: neither side would be anchored at both ends.
    fn top_level_bar(&self, a: &ast::Alternation) -> PatternError {
        let at = a.asts.first().map_or(0, |x| x.span().end.offset);
        self.refuse(at, "`|` only inside a group, as in `^(?:a|b)$`")
    }

    /// One node of the pattern, `depth` groups deep.
    fn node(&self, a: &Ast, depth: usize) -> Result<(), PatternError> {
        let at = a.span().start.offset;
        match a {
            Ast::Empty(_) | Ast::Dot(_) => Ok(()),
            Ast::Literal(l) => self.literal(l),
            Ast::ClassPerl(_) | Ast::ClassUnicode(_) => {
                Err(self.refuse(at + 1, "`.` or `-` after `\\`"))
            }
            Ast::ClassBracketed(c) => self.class(c),
            Ast::Repetition(r) => {
                if let RepetitionKind::Range(range) = &r.op.kind {
                    let (RepetitionRange::Exactly(n)
                    | RepetitionRange::AtLeast(n)
                    | RepetitionRange::Bounded(_, n)) = range;
                    if *n as usize > MAX_HOSTNAME_LEN {
                        return Err(self.refuse(
                            r.op.span.start.offset + 1,
                            &format!("a count of at most {MAX_HOSTNAME_LEN}"),
                        ));
                    }
                }
                if matches!(
                    *r.ast,
                    Ast::Repetition(_) | Ast::Empty(_) | Ast::Assertion(_)
                ) {
                    return Err(self.refuse(
                        r.op.span.start.offset,
                        "a character, class or group before a quantifier",
                    ));
                }
                self.node(&r.ast, depth)
            }
            Ast::Group(g) => {
                let allowed = match &g.kind {
                    GroupKind::NonCapturing(flags) => flags.items.is_empty(),
                    GroupKind::CaptureName {
                        starts_with_p,
                        name,
                    } => *starts_with_p && name.name == "region",
                    GroupKind::CaptureIndex(_) => false,
                };
                if !allowed {
                    return Err(self.refuse(at, "`(?:` or `(?P<region>`"));
                }
                if depth + 1 > MAX_PATTERN_DEPTH {
                    return Err(
                        self.refuse(at, &format!("at most {MAX_PATTERN_DEPTH} nested groups"))
                    );
                }
                self.node(&g.ast, depth + 1)
            }
            Ast::Alternation(alt) if depth == 0 => Err(self.top_level_bar(alt)),
            Ast::Alternation(alt) => alt.asts.iter().try_for_each(|x| self.node(x, depth)),
            Ast::Concat(c) => c.asts.iter().try_for_each(|x| self.node(x, depth)),
            Ast::Flags(_) | Ast::Assertion(_) => {
                Err(self.refuse(at, "a hostname character, class, group, `|` or quantifier"))
            }
        }
    }

    /// A character as itself, or `\.` / `\-`.
    fn literal(&self, l: &ast::Literal) -> Result<(), PatternError> {
        match l.kind {
            LiteralKind::Verbatim if is_pattern_literal(l.c) => Ok(()),
            LiteralKind::Verbatim => Err(self.refuse(
                l.span.start.offset,
                "a hostname character, class, group, `|` or quantifier",
            )),
            LiteralKind::Meta if matches!(l.c, '.' | '-') => Ok(()),
            _ => Err(self.refuse(l.span.start.offset + 1, "`.` or `-` after `\\`")),
        }
    }

    /// `[…]` or `[^…]` of hostname characters, ranges of them, `\.` and `\-`.
    fn class(&self, c: &ast::ClassBracketed) -> Result<(), PatternError> {
        let ClassSet::Item(item) = &c.kind else {
            return Err(self.refuse(c.span.start.offset, "a class without set operations"));
        };
        self.class_item(item)
    }

    fn class_item(&self, item: &ClassSetItem) -> Result<(), PatternError> {
        match item {
            ClassSetItem::Literal(l) => self.class_literal(l),
            ClassSetItem::Range(r) => {
                self.class_literal(&r.start)?;
                self.class_literal(&r.end)
            }
            ClassSetItem::Union(u) => u.items.iter().try_for_each(|i| self.class_item(i)),
            ClassSetItem::Perl(_) | ClassSetItem::Unicode(_) => {
                Err(self.refuse(item.span().start.offset + 1, "`.` or `-` after `\\`"))
            }
            ClassSetItem::Empty(_) | ClassSetItem::Ascii(_) | ClassSetItem::Bracketed(_) => {
                Err(self.refuse(item.span().start.offset, "a class member"))
            }
        }
    }

    fn class_literal(&self, l: &ast::Literal) -> Result<(), PatternError> {
        match l.kind {
            LiteralKind::Verbatim if is_pattern_literal(l.c) => Ok(()),
            LiteralKind::Verbatim => Err(self.refuse(l.span.start.offset, "a class member")),
            LiteralKind::Meta if matches!(l.c, '.' | '-') => Ok(()),
            _ => Err(self.refuse(l.span.start.offset + 1, "`.` or `-` after `\\`")),
        }
    }
}

/// A character a hostname pattern may hold as itself, inside a class or out (`.` is
/// any character outside a class and a dot inside one).
fn is_pattern_literal(c: char) -> bool {
    matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.')
}
