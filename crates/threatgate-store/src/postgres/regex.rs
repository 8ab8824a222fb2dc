//! KQL's regular expressions (RE2 syntax) written as PostgreSQL's (Advanced Regular
//! Expressions), so that a pattern means the same on both stores.
//!
//! The two syntaxes differ where queries notice: `\b` is a backspace to PostgreSQL (its word
//! boundary is `\y`), `\d` and `\w` are ASCII or locale classes there and Unicode in RE2,
//! `(?i)` may only start a PostgreSQL pattern, `\x41B` reads all the hex digits, and counted
//! repetitions stop at 255. So the pattern is not edited as text: `regex-syntax` (the parser of
//! the `regex` crate that SQLite's functions use) parses it into its high-level form, where
//! classes are explicit ranges of code points and case-insensitivity is already expanded into
//! them, and that form is written out again in the syntax both understand the same way:
//! ranges in brackets, every other character as a `\uXXXX` escape, `\y`/`\Y`/`\m`/`\M` for word
//! boundaries, look-around for the multi-line anchors.
//!
//! What stays different: where a pattern mixes greedy and lazy quantifiers, PostgreSQL picks
//! one preference for the whole match (its documented rule), so the text a match covers can
//! differ; which strings match does not.

use std::fmt::Write as _;

use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// PostgreSQL's largest repetition count (`DUPMAX`).
const MAX_COUNT: u32 = 255;

/// A pattern in PostgreSQL's syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Translated {
    pub pattern: String,
    /// The pattern's own capture groups (not counting the whole-match group a caller asked for).
    pub groups: usize,
}

/// `pattern` in PostgreSQL's syntax; with `capture_whole`, the whole pattern is one more
/// capture group, first (so that the pattern's group `n` is PostgreSQL's `n + 1`). A pattern
/// RE2 does not accept (the binder refuses those first) is returned as it is.
pub(crate) fn translate(pattern: &str, capture_whole: bool) -> Translated {
    let Ok(hir) = regex_syntax::ParserBuilder::new().octal(true).build().parse(pattern) else {
        return Translated { pattern: pattern.to_owned(), groups: 0 };
    };
    let mut out = String::new();
    if capture_whole {
        out.push('(');
    }
    write(&hir, &mut out);
    if capture_whole {
        out.push(')');
    }
    Translated { pattern: out, groups: hir.properties().explicit_captures_len() }
}

fn write(hir: &Hir, out: &mut String) {
    match hir.kind() {
        HirKind::Empty => out.push_str("(?:)"),
        HirKind::Literal(literal) => String::from_utf8_lossy(&literal.0).chars().for_each(|c| character(c, out)),
        HirKind::Class(Class::Unicode(class)) => {
            let ranges: Vec<(char, char)> = class.ranges().iter().map(|r| (r.start(), r.end())).collect();
            bracket(&ranges, out);
        }
        HirKind::Class(Class::Bytes(class)) => {
            let ranges: Vec<(char, char)> =
                class.ranges().iter().map(|r| (char::from(r.start()), char::from(r.end()))).collect();
            bracket(&ranges, out);
        }
        HirKind::Look(look) => out.push_str(match look {
            Look::Start => "^",
            Look::End => "$",
            Look::StartLF => "(?:^|(?<=\\u000a))",
            Look::EndLF => "(?:$|(?=\\u000a))",
            Look::StartCRLF => "(?:^|(?<=[\\u000a\\u000d]))",
            Look::EndCRLF => "(?:$|(?=[\\u000a\\u000d]))",
            Look::WordAsciiNegate | Look::WordUnicodeNegate => "\\Y",
            Look::WordStartAscii | Look::WordStartUnicode | Look::WordStartHalfAscii | Look::WordStartHalfUnicode => {
                "\\m"
            }
            Look::WordEndAscii | Look::WordEndUnicode | Look::WordEndHalfAscii | Look::WordEndHalfUnicode => "\\M",
            _ => "\\y",
        }),
        HirKind::Repetition(repetition) => {
            let mut atom = String::new();
            write(&repetition.sub, &mut atom);
            if !is_atom(&repetition.sub) {
                atom = format!("(?:{atom})");
            }
            repeat(&atom, repetition.min, repetition.max, repetition.greedy, out);
        }
        HirKind::Capture(capture) => {
            out.push('(');
            write(&capture.sub, out);
            out.push(')');
        }
        HirKind::Concat(parts) => parts.iter().for_each(|part| write(part, out)),
        HirKind::Alternation(branches) => {
            out.push_str("(?:");
            for (i, branch) in branches.iter().enumerate() {
                if i > 0 {
                    out.push('|');
                }
                write(branch, out);
            }
            out.push(')');
        }
    }
}

/// Whether `hir` is written as one atom that a quantifier may follow.
fn is_atom(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Literal(literal) => String::from_utf8_lossy(&literal.0).chars().count() == 1,
        HirKind::Class(_) | HirKind::Capture(_) | HirKind::Alternation(_) => true,
        _ => false,
    }
}

/// `atom` repeated `min` to `max` (unbounded: `None`) times, in counts of at most 255.
fn repeat(atom: &str, min: u32, max: Option<u32>, greedy: bool, out: &mut String) {
    let lazy = if greedy { "" } else { "?" };
    if min > MAX_COUNT {
        let _ = write!(out, "{atom}{{{MAX_COUNT}}}");
        return repeat(atom, min - MAX_COUNT, max.map(|m| m - MAX_COUNT), greedy, out);
    }
    match max {
        None => match min {
            0 => {
                let _ = write!(out, "{atom}*{lazy}");
            }
            1 => {
                let _ = write!(out, "{atom}+{lazy}");
            }
            _ => {
                let _ = write!(out, "{atom}{{{min},}}{lazy}");
            }
        },
        Some(max) if max <= MAX_COUNT => match (min, max) {
            (0, 1) => {
                let _ = write!(out, "{atom}?{lazy}");
            }
            (min, max) if min == max => {
                let _ = write!(out, "{atom}{{{min}}}");
            }
            (min, max) => {
                let _ = write!(out, "{atom}{{{min},{max}}}{lazy}");
            }
        },
        Some(max) => {
            // min..=max with max over 255: the fixed part, then optional pieces adding up to the
            // rest (each any count from 0 to its size, so together any count up to the sum).
            if min > 0 {
                let _ = write!(out, "{atom}{{{min}}}");
            }
            let mut rest = max - min;
            while rest > 0 {
                let piece = rest.min(MAX_COUNT);
                let _ = write!(out, "{atom}{{0,{piece}}}{lazy}");
                rest -= piece;
            }
        }
    }
}

/// A bracket expression of the ranges; one that matches nothing where there are none.
fn bracket(ranges: &[(char, char)], out: &mut String) {
    if ranges.is_empty() {
        // Nothing matches: a character that is both a digit and not one.
        out.push_str("(?=[0-9])[^0-9]");
        return;
    }
    out.push('[');
    for &(start, end) in ranges {
        character(start, out);
        if end > start {
            out.push('-');
            character(end, out);
        }
    }
    out.push(']');
}

/// One character: ASCII letters and digits as they are, any other as an escape, which means
/// the character itself in and out of brackets.
fn character(c: char, out: &mut String) {
    if c.is_ascii_alphanumeric() {
        out.push(c);
    } else if u32::from(c) <= 0xFFFF {
        let _ = write!(out, "\\u{:04x}", u32::from(c));
    } else {
        let _ = write!(out, "\\U{:08x}", u32::from(c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn are(pattern: &str) -> String {
        translate(pattern, false).pattern
    }

    #[test]
    fn syntax_that_differs_is_rewritten() {
        assert_eq!(are(r"\bcmd\b"), r"\ycmd\y");
        assert_eq!(are(r"a\.b"), r"a\u002eb");
        assert_eq!(are(r"\x41B"), "AB");
        assert_eq!(are(r"[0-9]{1,5}"), "[0-9]{1,5}");
        assert_eq!(are(r"x{300}"), "x{255}x{45}");
        assert_eq!(are(r"x{2,600}"), "x{2}x{0,255}x{0,255}x{0,88}");
        assert_eq!(are(r"(?:ab)+?"), "(?:ab)+?");
        assert_eq!(are(r"^a|b$"), "(?:^a|b$)");
        assert_eq!(are(r"(?i)ab"), "[Aa][Bb]");
        assert_eq!(are(r"[^a]"), r"[\u0000-\u0060b-\U0010ffff]");
    }

    #[test]
    fn groups_are_counted_and_the_whole_captured_on_request() {
        let t = translate(r"(\w+)@(?P<domain>.+)", true);
        assert_eq!(t.groups, 2);
        assert!(t.pattern.starts_with("((") && t.pattern.ends_with("))"), "{}", t.pattern);
        assert_eq!(translate("x", true), Translated { pattern: "(x)".into(), groups: 0 });
    }
}
