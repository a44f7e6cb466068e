//! Encoded IPv4 addresses rewritten to dotted decimal, so one pattern per address suffices.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Rewrites IPv4 addresses written in one of the forms resolvers accept but rules do not
/// expect into dotted decimal: `http://2130706433/`, `http://0x7f.1/`, `0177.0.0.1`,
/// `[::ffff:7f00:1]` and `::ffff:a9fe:a9fe` all become `127.0.0.1` or `169.254.169.254`.
///
/// Host syntax is that of `inet_aton(3)`, which `getaddrinfo`, curl, Python's `socket` and most
/// HTTP clients follow: one to four parts separated by `.`, each decimal, octal (leading `0`)
/// or hex (`0x`), the last part filling all remaining bytes (`127.1` is `127.0.0.1`). IPv6
/// literals are rewritten when they embed an IPv4 address: mapped `::ffff:a.b.c.d`, translated
/// `::ffff:0:a.b.c.d`, compatible `::a.b.c.d` (but not `::` or `::1`) and NAT64
/// `64:ff9b::a.b.c.d`; the brackets go too, so `http://[::ffff:7f00:1]:80/` becomes
/// `http://127.0.0.1:80/`.
///
/// Numbers are everywhere in text, so a word is only rewritten where it is clearly a host or
/// clearly encoded, which keeps `port 8080`, `version 3.11.2` and `2024` untouched:
///
/// - **URL authority** (after `scheme://`, `\\` accepted for `/`): any `inet_aton` form,
///   `http://127.1/` and `http://0/` included;
/// - **after `@`** elsewhere (`ssh root@127.1`): any form with a `.`, or an encoded one below;
/// - **anywhere else**: a form no one writes by accident: a hex part (`0x7f.1`; a lone hex
///   number needs 7–8 digits, so `0x1F` stays), a first part in octal of three or more digits
///   (`0177.1`), four parts with a leading zero (`127.000.000.01`), or a lone decimal of 8–10
///   digits that names an [`is_internal`] address (`curl 2130706433`; other long numbers are
///   ids, phone numbers and timestamps far more often than hosts); and IPv6 as above.
///
/// Returns `Cow::Borrowed` exactly when nothing was rewritten.
#[must_use]
pub fn expand_encoded_ips(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0; // s[..copied] is already in `out`
    let mut i = 0;
    while i < b.len() {
        if !is_word_byte(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        let mut digit = false;
        while i < b.len() && is_word_byte(b[i]) {
            digit |= b[i].is_ascii_digit();
            i += 1;
        }
        // Every address form has a digit, except IPv6 spelled in hex letters, which has `::`.
        if !digit && !s[start..i].contains("::") {
            continue;
        }
        // Word bytes are ASCII, so every index used below is a character boundary.
        let after_scheme = start >= 3
            && b[start - 3] == b':'
            && matches!(b[start - 2], b'/' | b'\\')
            && matches!(b[start - 1], b'/' | b'\\');
        if let Some((from, to, v4)) = rewrite_word(&s[start..i], after_scheme) {
            let o = out.get_or_insert_with(|| String::with_capacity(s.len() + 8));
            o.push_str(&s[copied..start + from]);
            // Writing to a String cannot fail.
            let _ = write!(o, "{v4}");
            copied = start + to;
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

/// Bytes a host word is made of: letters, digits, `. : @ [ ] - _`. Everything else (space,
/// `/`, `?`, quotes, non-ASCII, ...) ends a word.
fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b':' | b'@' | b'[' | b']' | b'-' | b'_')
}

/// Where a word stands, which decides how much encoding it takes to be read as an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// Right after `scheme://` (userinfo included): it can only be a host.
    Authority,
    /// After `user@` outside a URL (`ssh root@127.1`): a host, unless it is a lone small number.
    AfterAt,
    /// Anywhere else.
    Text,
}

/// If `word` holds an encoded address, returns the byte range to replace and the address.
fn rewrite_word(word: &str, after_scheme: bool) -> Option<(usize, usize, Ipv4Addr)> {
    let (off, pos) = match (word.rfind('@'), after_scheme) {
        (Some(at), true) => (at + 1, Position::Authority),
        (Some(at), false) => (at + 1, Position::AfterAt),
        (None, true) => (0, Position::Authority),
        (None, false) => (0, Position::Text),
    };
    let w = &word[off..];
    if let Some(open) = w.find('[') {
        let close = open + w[open..].find(']')?;
        let v4 = embedded_v4(w[open + 1..close].parse().ok()?)?;
        return Some((off + open, off + close + 1, v4));
    }
    // A trailing dot ends a sentence (or is the DNS root); it stays outside the address.
    let w = w.strip_suffix('.').unwrap_or(w);
    match w.bytes().filter(|&c| c == b':').count() {
        0 => rewrite_v4(w, pos).map(|v4| (off, off + w.len(), v4)),
        1 => {
            // `host:port`
            let (host, port) = w.split_once(':')?;
            if !port.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            rewrite_v4(host, pos).map(|v4| (off, off + host.len(), v4))
        }
        _ => {
            let v4 = embedded_v4(w.parse().ok()?)?;
            Some((off, off + w.len(), v4))
        }
    }
}

/// The address `host` denotes, if it is one, rewriting it is warranted at `pos` (see
/// [`expand_encoded_ips`]), and it is not already written in dotted decimal.
fn rewrite_v4(host: &str, pos: Position) -> Option<Ipv4Addr> {
    let (addr, form) = parse_ipv4_loose(host)?;
    if form.parts == 4 && !form.hex && !form.leading_zero {
        return None; // already dotted decimal
    }
    let encoded = (form.hex && (form.parts > 1 || host.len() >= 9))
        || form.long_octal_first
        || (form.parts == 4 && form.leading_zero)
        || (form.parts == 1
            && !form.hex
            && !form.leading_zero
            && (8..=10).contains(&host.len())
            && is_internal(addr));
    let warranted = match pos {
        Position::Authority => true,
        Position::AfterAt => encoded || form.parts > 1,
        Position::Text => encoded,
    };
    warranted.then_some(addr)
}

/// True for the IPv4 ranges that server-side request forgery aims at: this network `0/8`,
/// private `10/8`, `172.16/12`, `192.168/16`, shared `100.64/10` (Alibaba's metadata service
/// is `100.100.100.200`), loopback `127/8`, link-local `169.254/16` (most cloud metadata
/// services) and IETF protocol assignments `192.0.0/24` (Oracle's is `192.0.0.192`).
#[must_use]
pub fn is_internal(a: Ipv4Addr) -> bool {
    match a.octets() {
        [0 | 10 | 127, ..] | [169, 254, ..] | [192, 168, ..] | [192, 0, 0, _] => true,
        [172, b, ..] => (16..32).contains(&b),
        [100, b, ..] => (64..128).contains(&b),
        _ => false,
    }
}

/// How an address was written, for deciding whether a word is an address at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ipv4Form {
    /// Number of `.`-separated parts, 1 to 4.
    pub parts: u8,
    /// Some part is hex (`0x..`).
    pub hex: bool,
    /// Some part has a leading zero (octal, or zero-padded: `00`, `010`).
    pub leading_zero: bool,
    /// The first part is octal with three or more digits (`0177`).
    pub long_octal_first: bool,
}

/// Parses an IPv4 address as `inet_aton(3)` does: one to four `.`-separated parts, each
/// decimal, octal (leading `0`) or hex (`0x`/`0X`, at least one digit); all parts but the last
/// are one byte, the last fills the remaining bytes (`a.b.c.d`, `a.b.cd`, `a.bcd`, `abcd`).
/// Returns `None` for anything else, including empty parts, a part out of range and more than
/// four parts.
#[must_use]
pub fn parse_ipv4_loose(s: &str) -> Option<(Ipv4Addr, Ipv4Form)> {
    let mut form = Ipv4Form::default();
    let mut acc: u32 = 0;
    let mut parts = s.split('.').peekable();
    while let Some(p) = parts.next() {
        form.parts += 1;
        if form.parts > 4 {
            return None;
        }
        let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X"))
        {
            form.hex = true;
            (h, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            form.leading_zero = true;
            if form.parts == 1 && p.len() >= 4 {
                form.long_octal_first = true;
            }
            (&p[1..], 8)
        } else {
            (p, 10)
        };
        // Leading zeros add nothing (`0x0000007f` is 127); more than 11 significant digits are
        // out of range in every radix, and capping them keeps `from_str_radix` within u64.
        let sig = digits.trim_start_matches('0');
        if digits.is_empty() || sig.len() > 11 || !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let v = u64::from_str_radix(if sig.is_empty() { "0" } else { sig }, radix).ok()?;
        if parts.peek().is_some() {
            if v > 255 {
                return None;
            }
            acc |= u32::try_from(v).ok()? << (8 * (4 - u32::from(form.parts)));
        } else {
            let bits = 8 * (5 - u32::from(form.parts));
            if v >= 1u64 << bits {
                return None;
            }
            acc |= u32::try_from(v).ok()?;
        }
    }
    Some((Ipv4Addr::from(acc), form))
}

/// The IPv4 address embedded in `v6`, for the prefixes that carry one: IPv4-mapped
/// `::ffff:0:0/96`, IPv4-translated `::ffff:0:0:0/96`, the deprecated IPv4-compatible `::/96`
/// (excluding `::` and `::1`, whose upper 16 of the low 32 bits are zero) and NAT64
/// `64:ff9b::/96` (RFC 6052).
#[must_use]
pub fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let v4 = || Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    match s[..6] {
        [0, 0, 0, 0, 0, 0xffff] | [0, 0, 0, 0, 0xffff, 0] | [0x64, 0xff9b, 0, 0, 0, 0] => {
            Some(v4())
        }
        [0, 0, 0, 0, 0, 0] if s[6] != 0 => Some(v4()),
        _ => None,
    }
}
