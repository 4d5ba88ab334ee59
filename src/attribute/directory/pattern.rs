//! Hostname patterns: the subset of regular expressions a directory may use.

use super::*;

/// Checks that an anchored pattern (`^…$`, checked by the caller) keeps to
/// [`PATTERN_SYNTAX`]; the message names the byte offset, what was expected there and
/// what was found.
pub(super) fn check_pattern_syntax(pattern: &str) -> Result<(), String> {
    let bytes = pattern.as_bytes();
    let end = bytes.len().saturating_sub(1);
    let refuse = |at: usize, expected: &str| {
        // Every byte consumed before `at` is ASCII, so `at` is a character boundary.
        let found = match pattern.get(at..end).and_then(|rest| rest.chars().next()) {
            Some(c) => format!("{c:?}"),
            None => "the closing `$`".to_string(),
        };
        format!(
            "at byte {at}: expected {expected}, found {found}; hostname patterns use only {PATTERN_SYNTAX}"
        )
    };
    // `\.` and `\-` are the only escapes, inside a class or out; the offset after one.
    let escape = |at: usize| match bytes.get(at + 1) {
        Some(b'.' | b'-') if at + 1 < end => Ok(at + 2),
        _ => Err(refuse(at + 1, "`.` or `-` after `\\`")),
    };
    let mut at = 1;
    let mut depth = 0usize;
    // Whether the last item was a character, class or group a quantifier may follow.
    let mut repeatable = false;
    while at < end {
        match bytes[at] {
            b if is_pattern_literal(b) => at += 1,
            b'\\' => at = escape(at)?,
            b'[' => {
                at += 1;
                if bytes.get(at) == Some(&b'^') {
                    at += 1;
                }
                let first = at;
                loop {
                    match bytes.get(at) {
                        Some(b']') if at > first && at < end => break,
                        Some(&b) if is_pattern_literal(b) && at < end => at += 1,
                        Some(b'\\') if at < end => at = escape(at)?,
                        _ if at == first => return Err(refuse(at, "a class member")),
                        _ => return Err(refuse(at, "a class member or `]`")),
                    }
                }
                at += 1;
            }
            b'(' => {
                let open = at;
                let rest = &bytes[at..end];
                if rest.starts_with(b"(?:") {
                    at += 3;
                } else if rest.starts_with(b"(?P<region>") {
                    at += 11;
                } else {
                    return Err(refuse(at, "`(?:` or `(?P<region>`"));
                }
                depth += 1;
                if depth > MAX_PATTERN_DEPTH {
                    return Err(refuse(
                        open,
                        &format!("at most {MAX_PATTERN_DEPTH} nested groups"),
                    ));
                }
                repeatable = false;
                continue;
            }
            b')' => {
                if depth == 0 {
                    return Err(refuse(at, "a group opened before `)`"));
                }
                depth -= 1;
                at += 1;
            }
            b'|' => {
                if depth == 0 {
                    // `^a|b$` is `^a` or `b$`: neither side would be anchored at both ends.
                    return Err(refuse(at, "`|` only inside a group, as in `^(?:a|b)$`"));
                }
                at += 1;
                repeatable = false;
                continue;
            }
            b'*' | b'+' | b'?' | b'{' => {
                if !repeatable {
                    return Err(refuse(
                        at,
                        "a character, class or group before a quantifier",
                    ));
                }
                if bytes[at] == b'{' {
                    at = counted_repetition_end(bytes, at + 1, end).map_err(|at| {
                        refuse(at, "a counted repetition `{n}`, `{n,}` or `{n,m}`")
                    })?;
                } else {
                    at += 1;
                }
                if at < end && bytes[at] == b'?' {
                    at += 1;
                }
                repeatable = false;
                continue;
            }
            _ => {
                return Err(refuse(
                    at,
                    "a hostname character, class, group, `|` or quantifier",
                ))
            }
        }
        repeatable = true;
    }
    if depth > 0 {
        return Err(refuse(end, "`)` closing every group"));
    }
    Ok(())
}

/// A byte a hostname pattern may hold as itself, inside a class or out (`.` is any
/// character outside a class and a dot inside one).
pub(super) fn is_pattern_literal(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.')
}

/// Reads `n}`, `n,}` or `n,m}` from `at` (just after `{`); the offset after `}`, or the
/// offset of the first byte that does not fit.
pub(super) fn counted_repetition_end(
    bytes: &[u8],
    mut at: usize,
    end: usize,
) -> Result<usize, usize> {
    let number = |at: &mut usize| -> Result<(), usize> {
        let start = *at;
        let mut value = 0usize;
        while *at < end && bytes[*at].is_ascii_digit() && *at - start < 3 {
            value = value * 10 + usize::from(bytes[*at] - b'0');
            *at += 1;
        }
        if *at == start || value > MAX_HOSTNAME_LEN {
            return Err(start);
        }
        Ok(())
    };
    number(&mut at)?;
    if at < end && bytes[at] == b',' {
        at += 1;
        if at < end && bytes[at] != b'}' {
            number(&mut at)?;
        }
    }
    if at < end && bytes[at] == b'}' {
        Ok(at + 1)
    } else {
        Err(at)
    }
}
