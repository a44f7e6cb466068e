//! Lexical path normalisation of the path-like tokens inside a string.

use std::borrow::Cow;

/// Rewrites every path-like token of `s` to its lexically normal form, so that a rule for
/// `/etc/passwd` also sees `/home/u/../../etc/passwd`, `/etc//passwd`, `/etc/./passwd` and
/// `\etc\passwd`. The rest of `s` is copied unchanged.
///
/// A token is a run of characters between whitespace and shell or query punctuation
/// (`` " ' ` = , ; | & < > ( ) { } ? # ``), so `cat a/../b`, `--file=/x/../y` and
/// `?next=/x/../y` normalise the path alone. Within a token:
///
/// - `\` becomes `/` (Windows and UNC paths);
/// - runs of `/` collapse to one, except `//` right after `scheme:` and a leading `//` (UNC
///   `//server/share`), which are kept;
/// - `.` segments are dropped, except a leading `./`, which is how a relative path is written;
/// - `x/..` resolves to nothing. A `..` at the root of an absolute path is dropped (`/..` is
///   `/`, as in POSIX and RFC 3986 `remove_dot_segments`); a `..` that cannot be resolved in a
///   relative path, or after `~`, `$VAR` or `%VAR%` (whose depth is unknown), stays.
/// - A first segment ending in `:` (`C:`, `host:`, `http:`) is a root: it is never popped, and
///   after `scheme://` the authority is kept as it is.
///
/// The result is lexical only (no symlinks, no file system) and meant for matching.
/// Returns `Cow::Borrowed` exactly when no token changes.
#[must_use]
pub fn normalize_path(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0; // s[..copied] is already in `out`
    let mut i = 0;
    while i < b.len() {
        if is_delim(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_delim(b[i]) {
            i += 1;
        }
        // Delimiters are ASCII, so `start..i` lies on character boundaries.
        let token = &s[start..i];
        if !needs_normalizing(token.as_bytes()) {
            continue;
        }
        let norm = normalize_token(token);
        if norm != token {
            let o = out.get_or_insert_with(|| String::with_capacity(s.len()));
            o.push_str(&s[copied..start]);
            o.push_str(&norm);
            copied = i;
        }
    }
    match out {
        Some(mut o) => {
            o.push_str(&s[copied..]);
            Cow::Owned(o)
        }
        None => Cow::Borrowed(s),
    }
}

/// Bytes that end a path token.
fn is_delim(c: u8) -> bool {
    c.is_ascii_whitespace()
        || matches!(
            c,
            b'"' | b'\''
                | b'`'
                | b'='
                | b','
                | b';'
                | b'|'
                | b'&'
                | b'<'
                | b'>'
                | b'('
                | b')'
                | b'{'
                | b'}'
                | b'?'
                | b'#'
        )
}

/// Cheap test that [`normalize_token`] may change `t`: a backslash, a `.`/`..` segment, or a
/// `//` that is neither leading (UNC) nor after `:` (URL).
fn needs_normalizing(t: &[u8]) -> bool {
    if t.contains(&b'\\') || t.starts_with(b"///") {
        return true;
    }
    t.iter().enumerate().any(|(i, &c)| {
        if c != b'/' {
            return false;
        }
        let at = |k: usize| t.get(i + k).copied();
        let end_of_segment = |k: usize| matches!(at(k), None | Some(b'/'));
        match at(1) {
            Some(b'/') => i > 0 && t[i - 1] != b':',
            Some(b'.') => end_of_segment(2) || (at(2) == Some(b'.') && end_of_segment(3)),
            _ => false,
        }
    })
}

/// Normalises one token as [`normalize_path`] describes.
fn normalize_token(token: &str) -> String {
    let t: Cow<'_, str> = if token.contains('\\') {
        Cow::Owned(token.replace('\\', "/"))
    } else {
        Cow::Borrowed(token)
    };
    // Split off the part that dot segments must not touch. `root` says whether `..` at the top
    // is dropped (true: a real root) or kept (false: relative, or below an unknown directory).
    let first = t.split('/').next().unwrap_or_default();
    let (prefix, rest, root) =
        if let Some(after) = t.strip_prefix("//").filter(|a| !a.starts_with('/')) {
            // UNC: `//server` is the root.
            let end = after.find('/').map_or(t.len(), |p| p + 2);
            (&t[..end], &t[end..], true)
        } else if first.len() > 1 && first.ends_with(':') {
            let after = &t[first.len()..];
            if let Some(auth) = after.strip_prefix("//") {
                // `scheme://authority`: keep the authority verbatim.
                let end = first.len() + 2 + auth.find('/').unwrap_or(auth.len());
                (&t[..end], &t[end..], true)
            } else {
                (first, after, true)
            }
        } else if first == "." || first.starts_with(['~', '$', '%']) {
            (first, &t[first.len()..], false)
        } else {
            ("", &t[..], t.starts_with('/'))
        };
    let absolute = rest.starts_with('/');

    let mut stack: Vec<&str> = Vec::new();
    let mut last = "";
    for seg in rest.split('/') {
        last = seg;
        match seg {
            "" | "." => {}
            ".." => match stack.last() {
                Some(&top) if top != ".." => {
                    stack.pop();
                }
                _ if root => {}
                _ => stack.push(".."),
            },
            _ => stack.push(seg),
        }
    }
    let trailing = matches!(last, "" | "." | "..") && !stack.is_empty();

    let mut out = String::with_capacity(t.len());
    out.push_str(prefix);
    if absolute {
        out.push('/');
    }
    for (n, seg) in stack.iter().enumerate() {
        if n > 0 {
            out.push('/');
        }
        out.push_str(seg);
    }
    if trailing {
        out.push('/');
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}
