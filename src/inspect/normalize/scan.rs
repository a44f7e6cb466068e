//! The fast path: one pass over the bytes deciding which stages of [`views`](super::views) can
//! change a string at all.

/// Which stages can change a string, from a byte-level superset test of what each acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Triggers {
    /// Non-ASCII (NFKC, invisibles, homoglyphs) or `%` (decoding).
    pub decode: bool,
    /// `\`, a `/.` (dot segment), or `//` other than right after `:` (a URL).
    pub path: bool,
    /// `//` after `:` followed by a digit or `[` (URL host); `@` or `[` followed by a hex digit
    /// or `:`; `::`; six or more `:` (a full IPv6 address ending in dotted IPv4 has six); `0x`
    /// or `0` and a digit at the start of a word or part (after a letter, digit, `-` or `_` it
    /// cannot start an address); a run of eight or more digits.
    pub ip: bool,
}

const K_DECODE: u8 = 1;
const K_BACKSLASH: u8 = 2;
const K_SLASH: u8 = 4;
const K_AT_BRACKET: u8 = 8;
const K_COLON: u8 = 16;
const K_DIGIT: u8 = 32;
const K_ZERO: u8 = 64;

/// Byte classes; 0 for the bytes no stage cares about. The nonzero ones are exactly those
/// [`interesting`] finds: `%`, `/`, `0`..`9`, `:`, `@`, `[`, `\\` and every byte from 0x80.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0x80;
    while i < 256 {
        t[i] = K_DECODE;
        i += 1;
    }
    t[b'%' as usize] = K_DECODE;
    t[b'\\' as usize] = K_BACKSLASH;
    t[b'/' as usize] = K_SLASH;
    t[b'@' as usize] = K_AT_BRACKET;
    t[b'[' as usize] = K_AT_BRACKET;
    t[b':' as usize] = K_COLON;
    let mut d = b'1';
    while d <= b'9' {
        t[d as usize] = K_DIGIT;
        d += 1;
    }
    t[b'0' as usize] = K_DIGIT | K_ZERO;
    t
};

const LO7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
const HI: u64 = 0x8080_8080_8080_8080;

/// `x` in every byte.
const fn splat(x: u8) -> u64 {
    0x0101_0101_0101_0101 * x as u64
}

/// True if any of the eight bytes of `w` has a nonzero [`CLASS`], ignoring bytes from 0x80 when
/// `high` is false (once non-ASCII has been seen, only the ASCII triggers are still news).
///
/// SWAR: on the low seven bits of each byte (`v`), `v + (0x80 - lo)` sets the byte's top bit
/// exactly when `v >= lo`, with no carry into the next byte, so each range test is two
/// additions and a mask; the results are then kept for ASCII bytes only (top bit clear in `w`).
pub(super) fn interesting(w: u64, high: bool) -> bool {
    let v = w & LO7;
    let at_least = |lo: u8| (v + splat(0x80 - lo)) & HI;
    let in_range = |lo: u8, hi: u8| at_least(lo) & !at_least(hi + 1);
    let ascii_hits = (in_range(b'%', b'%')
        | in_range(b'/', b':')
        | in_range(b'@', b'@')
        | in_range(b'[', b'\\'))
        & !w;
    let high_hits = if high { w & HI } else { 0 };
    (ascii_hits | high_hits) != 0
}

impl Triggers {
    pub(super) fn any(self) -> bool {
        self.decode || self.path || self.ip
    }

    /// Scans `s`: eight bytes at a time while none is [`interesting`], byte by byte in the
    /// words that have one.
    pub(super) fn scan(s: &str) -> Triggers {
        let b = s.as_bytes();
        let mut st = State::default();
        let mut i = 0;
        while i < b.len() {
            let end = match b.get(i..i + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
                Some(w) if !interesting(u64::from_ne_bytes(w), !st.t.decode) => {
                    st.digit_run = 0;
                    i += 8;
                    continue;
                }
                Some(_) => i + 8,
                None => b.len(),
            };
            while i < end {
                st.byte(b, i);
                i += 1;
            }
            if st.t.decode && st.t.path && st.t.ip {
                break;
            }
        }
        st.t
    }
}

/// Scan state carried from byte to byte.
#[derive(Default)]
struct State {
    t: Triggers,
    colons: usize,
    digit_run: usize,
}

impl State {
    /// Accounts for byte `b[i]`, looking at its neighbours as needed.
    fn byte(&mut self, b: &[u8], i: usize) {
        let k = CLASS[usize::from(b[i])];
        if k & K_DIGIT == 0 {
            self.digit_run = 0;
        }
        if k == 0 {
            return;
        }
        let t = &mut self.t;
        if k == K_DECODE {
            t.decode = true;
            return;
        }
        let at = |j: usize| b.get(j).copied().unwrap_or(0);
        let next = at(i + 1);
        let prev = if i == 0 { 0 } else { b[i - 1] };
        match k {
            K_BACKSLASH => t.path = true,
            K_SLASH => match next {
                b'.' => t.path = true,
                b'/' if prev != b':' => t.path = true,
                b'/' if at(i + 2).is_ascii_digit() || at(i + 2) == b'[' => t.ip = true,
                _ => {}
            },
            K_AT_BRACKET => t.ip |= next.is_ascii_hexdigit() || next == b':',
            K_COLON => {
                self.colons += 1;
                t.ip |= next == b':' || self.colons >= 6;
            }
            _ => {
                // A digit.
                self.digit_run += 1;
                t.ip |= self.digit_run >= 8;
                if k & K_ZERO != 0 && matches!(next, b'0'..=b'9' | b'x' | b'X') {
                    t.ip |= !(prev.is_ascii_alphanumeric() || prev == b'-' || prev == b'_');
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SWAR test flags a word exactly when one of its bytes has a nonzero class, for every
    /// byte value at every position (with boring and with interesting neighbours).
    #[test]
    fn interesting_matches_class() {
        for fill in [
            b'a', b' ', 0x00, 0x7F, b'.', b'%', 0x80, 0xAF, 0xB5, 0xD0, 0xFF,
        ] {
            for x in 0..=255u8 {
                for pos in 0..8 {
                    let mut w = [fill; 8];
                    w[pos] = x;
                    let want = w.iter().any(|&c| CLASS[usize::from(c)] != 0);
                    assert_eq!(
                        interesting(u64::from_ne_bytes(w), true),
                        want,
                        "fill {fill:#x} byte {x:#x} at {pos}"
                    );
                    // Without the high bytes: exactly the ASCII ones.
                    let ascii = w.iter().any(|&c| c < 0x80 && CLASS[usize::from(c)] != 0);
                    assert_eq!(
                        interesting(u64::from_ne_bytes(w), false),
                        ascii,
                        "fill {fill:#x} byte {x:#x} at {pos}"
                    );
                }
            }
        }
    }
}
