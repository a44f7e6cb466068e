//! L0 normalisation: alternative views of a string for the rules to match against.
//!
//! Views exist only for inspection; the forwarded message is never rewritten. A rule matches a
//! value if it matches the raw string *or* any view, so a view can only add matches, and a view
//! that equals the raw string (or another view) is not produced at all.
//!
//! [`views`] composes the building blocks in this order:
//!
//! ```text
//! raw ─▶ decoded   = repeat ≤3× { percent_decode_repeated ─▶ strip_invisible ─▶ nfkc }
//!     ─▶ canonical = fold_homoglyphs(decoded)
//!     ─▶ path      = normalize_path(canonical)
//!     ─▶ ip        = expand_encoded_ips(path)
//! ```
//!
//! and emits each of `decoded`, `canonical`, `path`, `ip` that differs from `raw` and from the
//! ones already emitted. Why this order:
//!
//! - Decoding comes first because every later step must see what the consumer finally sees;
//!   it is repeated as a whole because each step can expose work for the others (`%EF%BC%8F`
//!   decodes to a fullwidth `／` that NFKC turns into `/`; fullwidth `％２５` becomes `%25`).
//! - Invisible characters go before NFKC, so `e\u{200B}\u{301}` composes to `é` like `e\u{301}`.
//! - Folding comes after NFKC (which already handles fullwidth and mathematical letters), and
//!   `decoded` is kept as its own view, because folding rewrites whole Cyrillic and Greek words
//!   and a rule written in those scripts must still find its words after decoding.
//! - `path` and `ip` are built on top of `canonical`, so `..%2f` and `0x7f.1` in homoglyph
//!   costume are found; `ip` builds on `path`, which turns `http:\\0x7f000001\` into
//!   `http://0x7f000001/` first.
//!
//! Cost: [`views`] first scans the bytes once (no allocation) for anything a stage could act
//! on, and returns at once for ordinary ASCII (`ls src/*.py`, `https://example.com/?q=1`);
//! [`may_have_views`] exposes that test. Stages whose triggers are absent are skipped (the scan
//! is repeated on the decoded string when decoding changed it), and every building block
//! returns `Cow::Borrowed` when it changes nothing, so only the views produced allocate.

mod decode;
mod ip;
mod nfkc_stable;
mod path;
mod scan;
mod unicode;

#[cfg(test)]
mod tests;

use std::borrow::Cow;

use scan::Triggers;

pub use decode::{decode_utf8_lenient, percent_decode_repeated, MAX_DECODE_ROUNDS};
pub use ip::{embedded_v4, expand_encoded_ips, is_internal, parse_ipv4_loose, Ipv4Form};
pub use path::normalize_path;
pub use unicode::{fold_homoglyphs, homoglyph, is_invisible, nfkc, strip_invisible};

/// Rounds of decode, strip and NFKC in [`views`]. Two cover every mix seen in practice
/// (fullwidth `％` hiding a `%XX`); the third is margin, and each round is a no-op check once
/// the string is stable.
const MAX_PIPELINE_ROUNDS: usize = 3;

/// Appends to `out` every inspection view of `raw` that differs from `raw` and from each other.
///
/// See the [module documentation](self) for which views and in which order. Views already in
/// `out` before the call are not compared against; `out` is only appended to.
pub fn views(raw: &str, out: &mut Vec<String>) {
    let mut t = Triggers::scan(raw);
    if !t.any() {
        return;
    }
    let (decoded, canonical) = if t.decode {
        let (decoded, foldable) = decode(raw);
        let dec = decoded.as_deref().unwrap_or(raw);
        let canonical = if foldable {
            owned(fold_homoglyphs(dec))
        } else {
            None
        };
        (decoded, canonical)
    } else {
        (None, None)
    };
    let canon = canonical.as_deref().or(decoded.as_deref()).unwrap_or(raw);
    if decoded.is_some() || canonical.is_some() {
        t = Triggers::scan(canon);
    }
    let path = if t.path {
        owned(normalize_path(canon))
    } else {
        None
    };
    let pathed = match path.as_deref() {
        Some(p) => {
            t = Triggers::scan(p); // `\` became `//`, which may put a host after `scheme://`
            p
        }
        None => canon,
    };
    let ip = if t.ip {
        owned(expand_encoded_ips(pathed))
    } else {
        None
    };

    let first = out.len();
    for v in [decoded, canonical, path, ip].into_iter().flatten() {
        if v != raw && !out[first..].contains(&v) {
            out.push(v);
        }
    }
}

/// Percent-decoding, invisible stripping and NFKC, repeated until stable: the decoded string
/// (`None` if nothing changed) and whether it has anything [`fold_homoglyphs`] might fold.
fn decode(raw: &str) -> (Option<String>, bool) {
    let mut cur: Option<String> = None;
    for _ in 0..MAX_PIPELINE_ROUNDS {
        let s = cur.as_deref().unwrap_or(raw);
        let a = percent_decode_repeated(s);
        let need = unicode::unicode_needs(&a);
        let b = if need.invisible {
            strip_invisible(&a)
        } else {
            Cow::Borrowed(&*a)
        };
        let c = if need.unstable {
            unicode::nfkc_checked(&b)
        } else {
            Cow::Borrowed(&*b)
        };
        let changed = [&a, &b, &c].iter().any(|x| matches!(x, Cow::Owned(_)));
        if !changed {
            return (cur, need.foldable);
        }
        let next = c.into_owned();
        if next == s {
            return (cur, true); // `need` describes `a`, not `s`: let `fold_homoglyphs` look
        }
        cur = Some(next);
    }
    (cur, true) // out of rounds: let `fold_homoglyphs` look for itself
}

/// `Some` exactly when a building block changed its input (they borrow when they do not).
fn owned(c: Cow<'_, str>) -> Option<String> {
    match c {
        Cow::Owned(s) => Some(s),
        Cow::Borrowed(_) => None,
    }
}

/// False only if [`views`] would certainly produce nothing for `s`: the fast path. One pass
/// over the bytes, no allocation; `tests::shortcuts_agree_with_reference` checks it against the full
/// computation on generated strings.
#[must_use]
pub fn may_have_views(s: &str) -> bool {
    Triggers::scan(s).any()
}
