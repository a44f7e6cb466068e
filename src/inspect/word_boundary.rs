//! Rewrites Unicode word boundaries (`\b`, `\B`, `\b{start}`, `\<`, ...) in rule patterns to
//! their ASCII forms (`(?-u:\b)`, ...).
//!
//! In the `regex` crate a plain `\b` is a Unicode word boundary, which the lazy DFA cannot
//! evaluate once a haystack holds a non-ASCII byte: the whole `RegexSet` then falls back to the
//! PikeVM, about 1,700 times slower (a benign 64 KiB `write_file` with a few accented letters
//! took 1.2 s instead of 0.7 ms; docs/benchmarks.md, finding 7). Packs written for McpVanguard
//! use plain `\b`, so any agent could stall the proxy with ordinary-looking input.
//!
//! The rewrite works on the parsed AST, by span, so `\b` inside a class, an escaped `\\b` and
//! boundaries already under `(?-u)` are left alone. The trade-off: non-ASCII letters no longer
//! count as word characters, so `\bword` also matches right after `é`. For signature rules
//! about paths, commands and URLs that is what we want (an attacker cannot glue an accented
//! letter to a keyword to hide it).

use regex_syntax::ast::{self, AssertionKind, Ast};

/// The pattern with every word-boundary assertion made ASCII, or `None` when the pattern has
/// no Unicode word boundary (or does not parse: compiling it reports that, naming the rule).
pub fn ascii_word_boundaries(pattern: &str) -> Option<String> {
    if !has_unicode_word_boundary(pattern) {
        return None;
    }
    let ast = ast::parse::Parser::new().parse(pattern).ok()?;
    let mut spans = ast::visit(&ast, WordAssertions(Vec::new())).ok()?;
    // Splice from the end so earlier byte offsets stay valid.
    spans.sort_unstable_by_key(|&(start, _)| std::cmp::Reverse(start));
    let mut out = pattern.to_owned();
    for (start, end) in spans {
        let original = &pattern[start..end];
        out.replace_range(start..end, &format!("(?-u:{original})"));
    }
    Some(out)
}

/// Whether `pattern`, compiled as the `regex` crate compiles it (Unicode on), contains a
/// Unicode word boundary, the look-around that forces the PikeVM on non-ASCII haystacks.
/// `false` for patterns that do not parse.
pub fn has_unicode_word_boundary(pattern: &str) -> bool {
    regex_syntax::Parser::new()
        .parse(pattern)
        .is_ok_and(|hir| hir.properties().look_set().contains_word_unicode())
}

/// Collects the byte spans of every word-boundary assertion.
struct WordAssertions(Vec<(usize, usize)>);

impl ast::Visitor for WordAssertions {
    type Output = Vec<(usize, usize)>;
    type Err = std::convert::Infallible;

    fn finish(self) -> Result<Self::Output, Self::Err> {
        Ok(self.0)
    }

    fn visit_pre(&mut self, ast: &Ast) -> Result<(), Self::Err> {
        if let Ast::Assertion(a) = ast {
            let word = !matches!(
                a.kind,
                AssertionKind::StartLine
                    | AssertionKind::EndLine
                    | AssertionKind::StartText
                    | AssertionKind::EndText
            );
            if word {
                self.0.push((a.span.start.offset, a.span.end.offset));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(p: &str) -> Option<String> {
        let out = ascii_word_boundaries(p);
        if let Some(out) = &out {
            assert!(!has_unicode_word_boundary(out), "{p} -> {out}");
            regex::Regex::new(out).expect("rewritten pattern compiles");
        }
        out
    }

    #[test]
    fn plain_boundaries_become_ascii() {
        assert_eq!(
            rewrite(r"\bsudo\b").as_deref(),
            Some(r"(?-u:\b)sudo(?-u:\b)")
        );
        assert_eq!(rewrite(r"\Bx").as_deref(), Some(r"(?-u:\B)x"));
        assert_eq!(rewrite(r"rm\s+-rf\b").as_deref(), Some(r"rm\s+-rf(?-u:\b)"));
    }

    #[test]
    fn nested_groups_alternations_and_repetitions() {
        assert_eq!(
            rewrite(r"(?i)(a|(b\b|c))\B+").as_deref(),
            Some(r"(?i)(a|(b(?-u:\b)|c))(?-u:\B)+")
        );
        assert_eq!(
            rewrite(r"(?:x(?P<n>\by))").as_deref(),
            Some(r"(?:x(?P<n>(?-u:\b)y))")
        );
    }

    #[test]
    fn other_word_assertions_too() {
        assert_eq!(
            rewrite(r"\b{start}cat\b{end}").as_deref(),
            Some(r"(?-u:\b{start})cat(?-u:\b{end})")
        );
        assert_eq!(rewrite(r"\<x\>").as_deref(), Some(r"(?-u:\<)x(?-u:\>)"));
    }

    #[test]
    fn classes_escapes_and_ascii_boundaries_are_untouched() {
        // No word boundary at all: a literal `\b` in text, `b` in a class, anchors.
        assert_eq!(rewrite(r"C:\\bin"), None);
        assert_eq!(rewrite(r"[\\b]x"), None);
        assert_eq!(rewrite(r"^\A[b-d]\z$"), None);
        // Already ASCII.
        assert_eq!(rewrite(r"(?-u:\b)sudo(?-u:\B)"), None);
        assert_eq!(rewrite(r"(?-u)\bsudo\b"), None);
        // Mixed: only the Unicode one needs it, wrapping the ASCII one as well is harmless.
        assert_eq!(
            rewrite(r"\\b\bx[\\b]").as_deref(),
            Some(r"\\b(?-u:\b)x[\\b]")
        );
    }

    #[test]
    fn unicode_flag_turned_back_on_is_rewritten() {
        assert_eq!(
            rewrite(r"(?-u:a(?u:\bb))").as_deref(),
            Some(r"(?-u:a(?u:(?-u:\b)b))")
        );
        assert_eq!(
            rewrite(r"(?-u)x(?u)\bé").as_deref(),
            Some(r"(?-u)x(?u)(?-u:\b)é")
        );
    }

    #[test]
    fn extended_mode_comments_are_left_alone() {
        assert_eq!(
            rewrite("(?x) \\bsu # \\b in a comment\n do").as_deref(),
            Some("(?x) (?-u:\\b)su # \\b in a comment\n do")
        );
    }

    #[test]
    fn unparseable_patterns_are_left_for_the_compiler_to_report() {
        assert_eq!(rewrite(r"(\b"), None);
    }

    #[test]
    fn ascii_boundaries_still_separate_ascii_words() {
        let re = regex::Regex::new(&rewrite(r"\bsudo\b").expect("rewritten")).expect("compiles");
        assert!(re.is_match("run sudo -i"));
        assert!(!re.is_match("pseudonym"));
        // The documented trade-off: an accented letter is not a word character any more.
        assert!(re.is_match("ésudo"));
        assert!(!regex::Regex::new(r"\bsudo\b")
            .expect("compiles")
            .is_match("ésudo"));
    }
}
