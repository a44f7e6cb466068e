//! Unicode views: compatibility normalisation (NFKC), invisible characters stripped, and
//! look-alike letters folded to Latin.
//!
//! Every function here returns its input unchanged (borrowed) for ASCII, which is what makes the
//! common case free: ASCII is NFKC-stable, has no format characters and nothing to fold. They
//! look only at the non-ASCII characters, and copy the text between rewrites in slices.

use std::borrow::Cow;

use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

use super::nfkc_stable::is_stable_starter;

/// Applies Unicode NFKC, so compatibility forms read as the plain characters a tool or model
/// would take them for: fullwidth `／ｅｔｃ` is `/etc`, `𝐞𝐯𝐚𝐥` is `eval`, `①` is `1`, `ﬁ` is `fi`.
///
/// Returns `Cow::Borrowed` exactly when `s` is already in NFKC. Deciding that is the hot part:
/// ASCII answers at once, text made of common letters and punctuation by a bitmap lookup per
/// character, the rest by the Unicode quick check, and only a `Maybe` by normalising.
#[must_use]
pub fn nfkc(s: &str) -> Cow<'_, str> {
    if s.is_ascii() || non_ascii(s).all(|(_, c)| is_stable_starter(c)) {
        return Cow::Borrowed(s);
    }
    nfkc_checked(s)
}

/// [`nfkc`] after the stable-starter shortcut has failed: quick check, then normalisation.
pub(super) fn nfkc_checked(s: &str) -> Cow<'_, str> {
    if is_nfkc_quick(s.chars()) == IsNormalized::Yes {
        return Cow::Borrowed(s);
    }
    let n: String = s.nfkc().collect();
    if n == s {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(n)
    }
}

/// True for characters that render as nothing (or that a reader skips), and so can be slipped
/// into a keyword to break a pattern without changing what a model reads: every character of
/// general category Cf (format: zero-width space and joiners U+200B..U+200F, bidi controls
/// U+202A..U+202E and U+2066..U+2069, word joiner and invisible operators U+2060..U+2064,
/// BOM U+FEFF, soft hyphen U+00AD, the tag characters U+E0000..U+E007F, ...), plus the other
/// `Default_Ignorable_Code_Point` characters (combining grapheme joiner U+034F, Hangul fillers,
/// variation selectors U+FE00..U+FE0F and U+E0100..U+E01EF, and the reserved ignorable ranges).
///
/// The set is written out here because no dependency offers a general-category table;
/// `tests::invisible_set_covers_cf_and_default_ignorables` checks it against the Unicode tables
/// of the `regex` crate, and `tests::invisible_set_survives_nfkc` that NFKC cannot produce a
/// member from non-members (so stripping before NFKC suffices).
/// Whitespace and control characters (Cc, Zs, Zl, Zp) are *not* in the set: they separate
/// words, and removing them would join words that were apart.
#[must_use]
pub fn is_invisible(c: char) -> bool {
    let cp = c as u32;
    if cp < 0x10000 && INVISIBLE_BLOCKS[(cp >> 14) as usize] & (1 << ((cp >> 8) & 63)) == 0 {
        return false; // the common case: no invisible character in this block of 256
    }
    let i = INVISIBLE.partition_point(|&(_, hi)| hi < cp);
    INVISIBLE.get(i).is_some_and(|&(lo, _)| lo <= cp)
}

/// Bit `n % 64` of word `n / 64` is set when the BMP block U+`n`00..U+`n`FF holds a character of
/// [`INVISIBLE`]: blocks 00, 03, 06, 07, 08, 11, 17, 18, 20, 31, FE, FF.
const INVISIBLE_BLOCKS: [u64; 4] = {
    let mut words = [0u64; 4];
    let mut i = 0;
    while i < INVISIBLE.len() && INVISIBLE[i].0 < 0x10000 {
        let (mut block, last) = (INVISIBLE[i].0 >> 8, INVISIBLE[i].1 >> 8);
        while block <= last {
            words[(block / 64) as usize] |= 1 << (block % 64);
            block += 1;
        }
        i += 1;
    }
    words
};

/// The ranges of [`is_invisible`], sorted and disjoint, inclusive.
pub(super) const INVISIBLE: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
];

/// Removes every [`is_invisible`] character: `ig\u{200B}nore` is `ignore`, and a payload hidden
/// in tag characters disappears from the view (the raw value still carries it for rules that
/// look for tag characters themselves).
///
/// Returns `Cow::Borrowed` exactly when there was nothing to remove.
#[must_use]
pub fn strip_invisible(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        return Cow::Borrowed(s);
    }
    let mut out: Option<String> = None;
    let mut copied = 0; // s[..copied] is already in `out`
    for (i, c) in non_ascii(s).filter(|&(_, c)| is_invisible(c)) {
        let o = out.get_or_insert_with(|| String::with_capacity(s.len()));
        o.push_str(&s[copied..i]);
        copied = i + c.len_utf8();
    }
    finish(s, out, copied)
}

/// Replaces letters that look like Latin ones with those Latin letters (and a few look-alike
/// slashes, dots and dashes with ASCII), so `іgnоrе` written with Cyrillic `і о е` reads as
/// `ignore`. See [`homoglyph`] for the table.
///
/// Run it after [`nfkc`]: NFKC already folds fullwidth, mathematical and circled letters, and
/// this table only covers what NFKC keeps. It is a one-way view for matching, not a
/// confusable-skeleton algorithm: whole words in Cyrillic or Greek get partly folded too, which
/// is why [`views`](super::views) also keeps the unfolded view.
///
/// Returns `Cow::Borrowed` exactly when there was nothing to fold.
#[must_use]
pub fn fold_homoglyphs(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        return Cow::Borrowed(s);
    }
    let mut out: Option<String> = None;
    let mut copied = 0; // s[..copied] is already in `out`
    for (i, c) in non_ascii(s) {
        let f = match homoglyph(c) {
            Some(a) => a,
            None if c == IDEOGRAPHIC_FULL_STOP => {
                // The character before, as folded so far, and the one after, as it will be.
                let before = match (i == copied, out.as_deref()) {
                    (true, Some(o)) => o.chars().next_back(),
                    _ => s[..i].chars().next_back(),
                };
                let after = s[i + c.len_utf8()..]
                    .chars()
                    .next()
                    .map(|n| homoglyph(n).unwrap_or(n));
                let alnum = |x: Option<char>| x.is_some_and(|x| x.is_ascii_alphanumeric());
                if !(alnum(before) && alnum(after)) {
                    continue;
                }
                '.'
            }
            None => continue,
        };
        let o = out.get_or_insert_with(|| String::with_capacity(s.len()));
        o.push_str(&s[copied..i]);
        o.push(f);
        copied = i + c.len_utf8();
    }
    finish(s, out, copied)
}

/// Which Unicode stages could change a string; see [`unicode_needs`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct UnicodeNeeds {
    /// It has an [`is_invisible`] character: [`strip_invisible`] changes it.
    pub invisible: bool,
    /// It has a character that is not a stable starter: [`nfkc`] may change it.
    pub unstable: bool,
    /// It has a [`homoglyph`] or `。`: [`fold_homoglyphs`] may change it.
    pub foldable: bool,
}

/// One pass over the non-ASCII characters of `s` for all three Unicode stages, so that text
/// they leave alone (most text) is read once rather than three times.
pub(super) fn unicode_needs(s: &str) -> UnicodeNeeds {
    let mut n = UnicodeNeeds::default();
    for (i, c) in non_ascii(s) {
        n.invisible |= is_invisible(c);
        n.unstable |= !is_stable_starter(c);
        n.foldable |= homoglyph(c).is_some()
            || (c == IDEOGRAPHIC_FULL_STOP && {
                // Only before a letter or digit can it be folded (see `fold_homoglyphs`).
                let after = s[i + c.len_utf8()..].chars().next();
                after.is_some_and(|a| a.is_ascii_alphanumeric() || homoglyph(a).is_some())
            });
    }
    n
}

/// The non-ASCII characters of `s` and their byte offsets. ASCII is skipped eight bytes at a
/// time without decoding, which is what keeps the Unicode stages cheap on mostly-ASCII text.
fn non_ascii(s: &str) -> NonAscii<'_> {
    NonAscii { s, pos: 0 }
}

/// Iterator of [`non_ascii`]. Invariant: `pos` is a character boundary of `s`.
struct NonAscii<'a> {
    s: &'a str,
    pos: usize,
}

impl Iterator for NonAscii<'_> {
    type Item = (usize, char);

    fn next(&mut self) -> Option<(usize, char)> {
        let b = self.s.as_bytes();
        let mut p = self.pos;
        while b.get(p).is_some_and(u8::is_ascii) {
            match b.get(p..p + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
                Some(w) if u64::from_ne_bytes(w) & 0x8080_8080_8080_8080 == 0 => p += 8,
                _ => p += 1,
            }
        }
        // `p` is at the lead byte of a character (it only moved over ASCII bytes and whole
        // characters), and `s` is valid UTF-8, so the lead byte gives the length.
        let lead = *b.get(p)?;
        let (len, bits) = match lead {
            0xC0..=0xDF => (2, lead & 0x1F),
            0xE0..=0xEF => (3, lead & 0x0F),
            _ => (4, lead & 0x07),
        };
        let cont = |k: usize| b.get(p + k).map(|&x| u32::from(x & 0x3F));
        let cp = match len {
            2 => (u32::from(bits) << 6) | cont(1)?,
            3 => (u32::from(bits) << 12) | (cont(1)? << 6) | cont(2)?,
            _ => (u32::from(bits) << 18) | (cont(1)? << 12) | (cont(2)? << 6) | cont(3)?,
        };
        self.pos = p + len;
        Some((p, char::from_u32(cp)?))
    }
}

/// Completes a rewrite that copies `s` piecewise into `out`: `Borrowed` if nothing was
/// rewritten, else `out` with the rest of `s` from `copied`.
fn finish(s: &str, out: Option<String>, copied: usize) -> Cow<'_, str> {
    match out {
        Some(mut o) => {
            o.push_str(&s[copied..]);
            Cow::Owned(o)
        }
        None => Cow::Borrowed(s),
    }
}

/// U+3002 `。`, which URL hosts accept as a dot (UTS #46 maps it to `.`) but which ends most
/// CJK sentences. [`fold_homoglyphs`] folds it only between ASCII letters or digits
/// (`127。0。0。1`, `example。com`), so CJK prose gets no view from its full stops.
const IDEOGRAPHIC_FULL_STOP: char = '\u{3002}';

/// The ASCII character that `c` is mistaken for, if it is a known look-alike.
///
/// Covers Cyrillic, Greek and Armenian letters whose common glyphs match a Latin letter
/// (after UTS #39 `confusables.txt`, restricted to single-letter targets), a few Latin
/// extensions (dotless `ı`, script `ɑ ɡ`), and punctuation that stands in for path and option
/// syntax: division and fraction slashes for `/`, set minus for `\`, the hyphens U+2010..U+2012
/// and the minus sign for `-`. En and em dashes are left alone: they are common in prose and no
/// shell reads them as `-`. (U+3002 `。` is folded to `.` in context by [`fold_homoglyphs`].)
#[must_use]
pub fn homoglyph(c: char) -> Option<char> {
    match c {
        '\u{0100}'..='\u{058F}' => match LETTER_TABLE[c as usize - 0x100] {
            0 => None,
            a => Some(char::from(a)),
        },
        '\u{2215}' | '\u{2044}' | '\u{29F8}' => Some('/'),
        '\u{2216}' | '\u{29F5}' => Some('\\'),
        '\u{2010}'..='\u{2012}' | '\u{2212}' => Some('-'),
        _ => None,
    }
}

/// The letters of [`homoglyph`]: each look-alike with the ASCII letter it passes for. All lie
/// in U+0100..U+058F, which [`LETTER_TABLE`] indexes directly.
const LETTERS: &[(char, u8)] = &[
    // Cyrillic lower case.
    ('а', b'a'),
    ('е', b'e'),
    ('ҽ', b'e'),
    ('о', b'o'),
    ('р', b'p'),
    ('с', b'c'),
    ('у', b'y'),
    ('ү', b'y'),
    ('х', b'x'),
    ('і', b'i'),
    ('ј', b'j'),
    ('ѕ', b's'),
    ('ԁ', b'd'),
    ('ԛ', b'q'),
    ('ԝ', b'w'),
    ('һ', b'h'),
    ('ѵ', b'v'),
    ('ӏ', b'l'),
    ('к', b'k'),
    ('ь', b'b'),
    // Cyrillic upper case.
    ('А', b'A'),
    ('В', b'B'),
    ('Е', b'E'),
    ('К', b'K'),
    ('М', b'M'),
    ('Н', b'H'),
    ('Һ', b'H'),
    ('О', b'O'),
    ('Р', b'P'),
    ('С', b'C'),
    ('Т', b'T'),
    ('Х', b'X'),
    ('Ѕ', b'S'),
    ('І', b'I'),
    ('Ӏ', b'I'),
    ('Ј', b'J'),
    ('Ԛ', b'Q'),
    ('Ԝ', b'W'),
    ('Ү', b'Y'),
    // Greek lower case.
    ('α', b'a'),
    ('ο', b'o'),
    ('ρ', b'p'),
    ('ν', b'v'),
    ('τ', b't'),
    ('υ', b'u'),
    ('χ', b'x'),
    ('ι', b'i'),
    ('κ', b'k'),
    ('γ', b'y'),
    ('η', b'n'),
    ('ϳ', b'j'),
    // Greek upper case.
    ('Α', b'A'),
    ('Β', b'B'),
    ('Ε', b'E'),
    ('Ζ', b'Z'),
    ('Η', b'H'),
    ('Ι', b'I'),
    ('Κ', b'K'),
    ('Μ', b'M'),
    ('Ν', b'N'),
    ('Ο', b'O'),
    ('Ρ', b'P'),
    ('Τ', b'T'),
    ('Υ', b'Y'),
    ('Χ', b'X'),
    ('Ϳ', b'J'),
    // Armenian.
    ('օ', b'o'),
    ('ս', b'u'),
    ('հ', b'h'),
    ('ո', b'n'),
    ('ց', b'g'),
    ('զ', b'q'),
    ('Օ', b'O'),
    ('Ս', b'U'),
    // Latin extensions.
    ('ı', b'i'),
    ('ɩ', b'i'),
    ('ȷ', b'j'),
    ('ɑ', b'a'),
    ('ɡ', b'g'),
];

/// [`LETTERS`] as a table indexed by code point − 0x100 (0: not a look-alike), so the lookup
/// on Cyrillic or Greek text is one load.
const LETTER_TABLE: [u8; 0x590 - 0x100] = {
    let mut t = [0u8; 0x590 - 0x100];
    let mut i = 0;
    while i < LETTERS.len() {
        let (c, a) = LETTERS[i];
        t[c as usize - 0x100] = a;
        i += 1;
    }
    t
};
