//! One-pass reading of canonical entries for slice verification: what the checks need (seq,
//! time, prev, payload digest, redaction target) without building a `serde_json::Value`.
//!
//! [`Entry::parse_canonical`] decodes an entry, re-encodes it and compares the bytes: sound,
//! but ~20x slower than hashing the entry, and a 1M-entry slice must verify at close to
//! SHA-256 speed. A canonical entry has one spelling (every key present, in RFC 8785 order,
//! no whitespace, integers in plain decimal), so a scanner that walks that exact spelling
//! accepts only canonical entries by construction, and checks [`Entry::validate`]'s rules as
//! it goes.
//!
//! The scanner only ever says "accepted" or "not sure". Anything it does not handle (an event
//! entry, a string with an escape, any deviation at all) goes to [`Entry::parse_canonical`],
//! which accepts or gives the precise error. So errors are the parser's, and the fast path
//! can only be wrong by accepting what the parser refuses, which the differential tests
//! (`entry_scan` tests) look for.

use crate::entry::{valid_time, Blake3Digest, Entry, EntryError, Kind, PayloadDigest, MAX_SCORE};
use crate::hash::Hash;
use crate::jcs::MAX_JSON_INTEGER;
use serde_json::Value;

/// Length of an entry `time` (`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`).
pub(crate) const TIME_LEN: usize = 30;

/// What slice verification checks of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryFacts {
    pub seq: u64,
    /// ASCII, compares as the text does.
    pub time: [u8; TIME_LEN],
    pub prev: Hash,
    pub payload: Option<PayloadDigest>,
    /// For a redaction event: the seq whose payload it removed.
    pub redaction_of: Option<u64>,
}

impl EntryFacts {
    pub fn time_text(&self) -> String {
        String::from_utf8_lossy(&self.time).into_owned()
    }

    fn from_entry(entry: &Entry) -> Result<EntryFacts, EntryError> {
        let time = entry
            .time
            .as_bytes()
            .try_into()
            .map_err(|_| EntryError::Time {
                text: entry.time.clone(),
            })?;
        Ok(EntryFacts {
            seq: entry.seq,
            time,
            prev: entry.prev,
            payload: entry.payload,
            redaction_of: match entry.kind {
                Kind::Event => redaction_target(entry.event.as_ref()),
                _ => None,
            },
        })
    }
}

/// The facts of a canonical entry: the scanner's if it accepts `bytes`, else the full parser's
/// (which refuses non-canonical entries with the reason).
pub(crate) fn entry_facts(bytes: &[u8]) -> Result<EntryFacts, EntryError> {
    match scan(bytes) {
        Some(facts) => Ok(facts),
        None => EntryFacts::from_entry(&Entry::parse_canonical(bytes)?),
    }
}

/// The facts of `bytes` if it is a canonical non-event entry whose strings have no escapes;
/// `None` if it is anything else (not necessarily invalid).
pub(crate) fn scan(bytes: &[u8]) -> Option<EntryFacts> {
    let (facts, used) = scan_prefix(bytes)?;
    (used == bytes.len()).then_some(facts)
}

/// [`scan`] of the canonical entry at the start of `bytes`: its facts and its length.
pub(crate) fn scan_prefix(bytes: &[u8]) -> Option<(EntryFacts, usize)> {
    let mut s = Scanner { b: bytes, at: 0 };
    s.lit(b"{\"direction\":\"")?;
    let direction = s.string_body()?;
    if !matches!(
        direction,
        b"agent_to_server" | b"server_to_agent" | b"proxy"
    ) {
        return None;
    }
    // Event entries (rare: lifecycle, redaction) carry free-form JSON: the parser's job.
    s.lit(b",\"event\":null,\"instance\":")?;
    s.string()?;
    s.lit(b",\"kind\":\"")?;
    if !matches!(s.string_body()?, b"request" | b"response" | b"notification") {
        return None;
    }
    s.lit(b",\"method\":")?;
    s.string_or_null()?;
    s.lit(b",\"payload\":")?;
    let payload = if s.null() {
        None
    } else {
        s.lit(b"{\"blake3\":\"")?;
        let blake3 = s.hex32()?;
        s.lit(b"\",\"len\":")?;
        let len = s.unsigned(MAX_JSON_INTEGER)?;
        s.lit(b"}")?;
        Some(PayloadDigest {
            len,
            blake3: Blake3Digest(blake3),
        })
    };
    s.lit(b",\"prev\":\"")?;
    let prev = Hash(s.hex32()?);
    s.lit(b"\",\"rpc_id\":")?;
    match s.peek()? {
        b'"' => s.string()?,
        b'n' => s.lit(b"null")?,
        _ => {
            s.integer(MAX_JSON_INTEGER)?;
        }
    }
    s.lit(b",\"seq\":")?;
    let seq = s.unsigned(MAX_JSON_INTEGER)?;
    s.lit(b",\"server\":")?;
    s.string()?;
    s.lit(b",\"session\":")?;
    s.string()?;
    s.lit(b",\"time\":\"")?;
    let time: [u8; TIME_LEN] = s.take(TIME_LEN)?.try_into().ok()?;
    // ASCII by its shape, so the text view cannot fail for a time that is valid.
    if !valid_time(std::str::from_utf8(&time).ok()?) {
        return None;
    }
    s.lit(b"\",\"tool\":")?;
    s.string_or_null()?;
    s.lit(b",\"v\":1,\"verdict\":")?;
    if !s.null() {
        s.lit(b"{\"action\":\"")?;
        if !matches!(s.string_body()?, b"allow" | b"warn" | b"block") {
            return None;
        }
        s.lit(b",\"layer\":")?;
        s.string()?;
        s.lit(b",\"reason\":")?;
        s.string_or_null()?;
        s.lit(b",\"rules\":[")?;
        if s.peek()? != b']' {
            s.string()?;
            while s.peek()? == b',' {
                s.at += 1;
                s.string()?;
            }
        }
        s.lit(b"],\"score\":")?;
        if !s.null() {
            s.unsigned(u64::from(MAX_SCORE))?;
        }
        s.lit(b"}")?;
    }
    s.lit(b"}")?;
    // Entry 0 alone has the zero prev.
    if (seq == 0) != (prev == Hash::ZERO) {
        return None;
    }
    let facts = EntryFacts {
        seq,
        time,
        prev,
        payload,
        redaction_of: None,
    };
    Some((facts, s.at))
}

/// A position in the bytes; every method returns `None` at the first byte that is not the
/// canonical spelling it expects.
struct Scanner<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let span = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(span)
    }

    /// Consumes `expected` if it comes next; consumes nothing otherwise.
    fn lit(&mut self, expected: &[u8]) -> Option<()> {
        if !self.b[self.at..].starts_with(expected) {
            return None;
        }
        self.at += expected.len();
        Some(())
    }

    fn null(&mut self) -> bool {
        self.lit(b"null").is_some()
    }

    /// The body of a string whose opening quote was consumed, up to and including the
    /// closing quote. Only strings that are their own canonical spelling without escapes:
    /// no `\`, no control character, valid UTF-8 (which canonical JSON writes as itself).
    fn string_body(&mut self) -> Option<&'a [u8]> {
        let rest = &self.b[self.at..];
        let end = rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if rest[end] != b'"' {
            return None;
        }
        let body = &rest[..end];
        if !body.is_ascii() {
            std::str::from_utf8(body).ok()?;
        }
        self.at += end + 1;
        Some(body)
    }

    fn string(&mut self) -> Option<()> {
        self.lit(b"\"")?;
        self.string_body().map(|_| ())
    }

    fn string_or_null(&mut self) -> Option<()> {
        if self.null() {
            Some(())
        } else {
            self.string()
        }
    }

    /// `0` or a decimal without leading zeros, at most `max`.
    fn unsigned(&mut self, max: u64) -> Option<u64> {
        let digits = self.b[self.at..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        // 2^53 has 16 digits; more cannot be in range (and could overflow).
        if digits == 0 || digits > 16 || (digits > 1 && self.b[self.at] == b'0') {
            return None;
        }
        let value = self
            .take(digits)?
            .iter()
            .fold(0u64, |n, &c| n * 10 + u64::from(c - b'0'));
        (value <= max).then_some(value)
    }

    /// An optionally negative [`Self::unsigned`]; never `-0`.
    fn integer(&mut self, max: u64) -> Option<()> {
        if self.peek()? == b'-' {
            self.at += 1;
            (self.unsigned(max)? != 0).then_some(())
        } else {
            self.unsigned(max).map(|_| ())
        }
    }

    /// 64 lowercase hex digits (what canonical entries hold for hashes and digests).
    fn hex32(&mut self) -> Option<[u8; 32]> {
        hex32(self.take(64)?)
    }
}

/// Nibble values of lowercase hex digits; 0xFF for every other byte.
const HEX: [u8; 256] = {
    let mut table = [0xFFu8; 256];
    let mut i = 0;
    while i < 16 {
        table[b"0123456789abcdef"[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// 64 lowercase hex digits as 32 bytes. Three of these per entry made a per-nibble
/// `Result` decoder the scanner's largest cost after SHA-256, hence a table and one check.
pub(crate) fn hex32(text: &[u8]) -> Option<[u8; 32]> {
    let text: &[u8; 64] = text.try_into().ok()?;
    let mut out = [0u8; 32];
    let mut invalid = 0u8;
    for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (hi, lo) = (HEX[usize::from(pair[0])], HEX[usize::from(pair[1])]);
        invalid |= hi | lo;
        *o = (hi << 4) | (lo & 0x0F);
    }
    (invalid & 0xF0 == 0).then_some(out)
}

/// The seq a redaction event names: `event.type == "redaction"` and `event.seq` an integer.
pub(crate) fn redaction_target(event: Option<&Value>) -> Option<u64> {
    let event = event?.as_object()?;
    if event.get("type")?.as_str()? != "redaction" {
        return None;
    }
    event.get("seq")?.as_u64()
}

#[cfg(test)]
#[path = "entry_scan_tests.rs"]
mod tests;
