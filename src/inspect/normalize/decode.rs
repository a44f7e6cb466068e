//! Percent-decoding for inspection: repeated to a fixpoint, lossy on bad UTF-8, and aware of the
//! overlong UTF-8 forms that old path checks were fooled by.

use std::borrow::Cow;

use percent_encoding::percent_decode;

/// Upper bound on the rounds of [`percent_decode_repeated`]. Eight layers of `%25` is far beyond
/// what any consumer decodes; each round shrinks the string, so the bound also caps the work.
pub const MAX_DECODE_ROUNDS: usize = 8;

/// Decodes `%XX` escapes again and again until the string stops changing (at most
/// [`MAX_DECODE_ROUNDS`] rounds), so `%252e%252e%252f` becomes `../`.
///
/// Why repeat: a proxy, a framework and a tool may each decode once, and a rule has to see what
/// the last of them sees. Only `%` followed by two hex digits is an escape; `+` stays `+` (it is a
/// space only in form bodies) and a stray `%` is kept as is.
///
/// Bytes that do not form UTF-8 after decoding are decoded lossily by [`decode_utf8_lenient`]:
/// overlong forms (`%c0%ae` is `.`) become the character they spell, anything else U+FFFD.
///
/// Returns `Cow::Borrowed` exactly when there was nothing to decode.
#[must_use]
pub fn percent_decode_repeated(s: &str) -> Cow<'_, str> {
    let mut cur = Cow::Borrowed(s);
    for _ in 0..MAX_DECODE_ROUNDS {
        if !has_escape(cur.as_bytes()) {
            break;
        }
        let bytes: Vec<u8> = percent_decode(cur.as_bytes()).collect();
        let next = decode_utf8_lenient(&bytes).into_owned();
        if next == *cur {
            break;
        }
        cur = Cow::Owned(next);
    }
    cur
}

/// True if `b` holds at least one `%XX` escape with two hex digits.
fn has_escape(b: &[u8]) -> bool {
    b.contains(&b'%')
        && b.windows(3)
            .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
}

/// Decodes UTF-8 like [`String::from_utf8_lossy`], except that *overlong* encodings are decoded
/// to the character they spell instead of U+FFFD: `C0 AE` is `.`, `C0 AF` is `/`, `E0 80 AE` is
/// `.`. Strict decoders reject these, but some historic servers (IIS, old Java) accepted them,
/// which is how `..%c0%af` walked out of web roots; a rule has to see the `../`.
///
/// Overlong forms that would spell a surrogate, and every other invalid sequence, become U+FFFD
/// per maximal invalid prefix, as `from_utf8_lossy` does. Valid UTF-8 is borrowed unchanged.
#[must_use]
pub fn decode_utf8_lenient(mut bytes: &[u8]) -> Cow<'_, str> {
    let first_err = match std::str::from_utf8(bytes) {
        Ok(s) => return Cow::Borrowed(s),
        Err(e) => e,
    };
    let mut out = String::with_capacity(bytes.len());
    let mut err = first_err;
    loop {
        let (valid, rest) = bytes.split_at(err.valid_up_to());
        // `valid` is valid UTF-8 by the contract of `Utf8Error::valid_up_to`.
        out.push_str(std::str::from_utf8(valid).unwrap_or_default());
        let skip = match overlong(rest) {
            Some((c, len)) => {
                out.push(c);
                len
            }
            None => {
                out.push(char::REPLACEMENT_CHARACTER);
                err.error_len().unwrap_or(rest.len()).max(1)
            }
        };
        bytes = rest.get(skip..).unwrap_or_default();
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                return Cow::Owned(out);
            }
            Err(e) => err = e,
        }
    }
}

/// Decodes an overlong UTF-8 sequence at the start of `b`: the character and the bytes used.
///
/// Overlong means the lead byte is one of `C0`/`C1` (two bytes for a code point below U+0080),
/// `E0 80..9F` (three bytes for one below U+0800) or `F0 80..8F` (four bytes for one below
/// U+10000); all continuation bytes must be `80..BF`.
fn overlong(b: &[u8]) -> Option<(char, usize)> {
    let cont = |i: usize| {
        b.get(i)
            .filter(|x| (0x80..=0xBF).contains(*x))
            .map(|x| u32::from(x & 0x3F))
    };
    let lead = *b.first()?;
    let (cp, len) = match lead {
        0xC0 | 0xC1 => ((u32::from(lead & 0x1F) << 6) | cont(1)?, 2),
        0xE0 if (0x80..=0x9F).contains(b.get(1)?) => {
            ((cont(1)? << 6) | cont(2)?, 3) // lead's payload bits are 0
        }
        0xF0 if (0x80..=0x8F).contains(b.get(1)?) => {
            ((cont(1)? << 12) | (cont(2)? << 6) | cont(3)?, 4)
        }
        _ => return None,
    };
    char::from_u32(cp).map(|c| (c, len))
}
