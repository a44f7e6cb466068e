//! What the kept ends of an oversized line say about the message it held.
//!
//! An oversized line is skipped without being read whole ([`Skipped`]): only its first and last
//! few KiB are known. Its sender or receiver may still be waiting for an answer, which needs the
//! message's JSON-RPC `id`. Most serializers write `"id"` near the start
//! (`{"jsonrpc":"2.0","id":5,"result":...}`); the TypeScript MCP SDK writes it last
//! (`{"result":...,"jsonrpc":"2.0","id":5}`). So the known prefix is walked forward from the
//! line's first byte and the known suffix backward from its last, member by member at the top
//! level of the object, skipping nested values and strings (with their escapes) without
//! decoding them. A walk stops where the known bytes end or anything is not JSON.
//!
//! This is not a parse: the bytes in between are unknown and the line may not even be valid
//! JSON, so what is found here is a hint. The caller decides how far to trust it.

use crate::proxy::framing::Skipped;
use serde_json::Value;

/// Top-level members seen at either end of an oversized line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Glimpse {
    /// Distinct values of top-level `"id"` members that are valid JSON-RPC ids (a string or an
    /// integer), prefix first. More than one means the line contradicts itself.
    pub ids: Vec<Value>,
    /// A top-level `"method"` member was seen: a request or notification, not a response.
    pub method: bool,
}

impl Glimpse {
    /// Walks the known ends of `skipped`. When they make up the whole line (it was over the
    /// limit by less than they hold), the whole line is walked from both ends.
    pub fn of(skipped: &Skipped) -> Self {
        let mut glimpse = Glimpse::default();
        let whole;
        let (prefix, suffix, suffix_starts_line) =
            if (skipped.head.len() + skipped.tail.len()) as u64 == skipped.len {
                whole = [skipped.head.as_slice(), skipped.tail.as_slice()].concat();
                (whole.as_slice(), whole.as_slice(), true)
            } else {
                (skipped.head.as_slice(), skipped.tail.as_slice(), false)
            };
        Forward { b: prefix, at: 0 }.members(|key, value| glimpse.note(key, value));
        Backward {
            b: suffix,
            end: suffix.len(),
            starts_line: suffix_starts_line,
        }
        .members(|key, value| glimpse.note(key, value));
        glimpse
    }

    /// The id, if exactly one was seen.
    pub fn only_id(&self) -> Option<&Value> {
        match self.ids.as_slice() {
            [id] => Some(id),
            _ => None,
        }
    }

    fn note(&mut self, key: &[u8], value: &[u8]) {
        // Keys are decoded (`"\u0069d"` is `"id"`), but only short ones can be `id` or `method`.
        if key.len() > 32 {
            return;
        }
        match serde_json::from_slice::<String>(key).as_deref() {
            Ok("id") => {
                if let Some(id) = rpc_id(value) {
                    if !self.ids.contains(&id) {
                        self.ids.push(id);
                    }
                }
            }
            Ok("method") => self.method = true,
            _ => {}
        }
    }
}

/// A JSON-RPC id token: a JSON string, or an integer in plain decimal (as `Message::parse`
/// accepts them), decoded the way a parsed message's id would be.
fn rpc_id(token: &[u8]) -> Option<Value> {
    let integer = match token {
        [b'"', ..] => false,
        [b'-', digits @ ..] | digits => {
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            true
        }
    };
    let value: Value = serde_json::from_slice(token).ok()?;
    let valid = if integer {
        value.is_i64() || value.is_u64()
    } else {
        value.is_string()
    };
    valid.then_some(value)
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Ends a number or literal (`true`, `null`...).
fn ends_scalar(b: u8) -> bool {
    is_ws(b) || matches!(b, b',' | b':' | b'{' | b'}' | b'[' | b']' | b'"')
}

/// Walks a line's known prefix from its first byte. Every step is exact, since the walk starts
/// where the line does; `None` means the known bytes ran out (or were not JSON).
struct Forward<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Forward<'a> {
    fn members(mut self, mut found: impl FnMut(&'a [u8], &'a [u8])) {
        let _ = self.walk(&mut found);
    }

    fn walk(&mut self, found: &mut impl FnMut(&'a [u8], &'a [u8])) -> Option<()> {
        self.expect(b'{')?;
        loop {
            self.skip_ws();
            if self.peek()? == b'}' {
                return Some(());
            }
            let key = self.string()?;
            self.expect(b':')?;
            self.skip_ws();
            let value = self.value()?;
            found(key, value);
            self.skip_ws();
            match self.next()? {
                b',' => {}
                _ => return Some(()),
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.at += 1;
        }
    }

    fn expect(&mut self, want: u8) -> Option<()> {
        self.skip_ws();
        (self.next()? == want).then_some(())
    }

    /// A string token, quotes included.
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        if self.next()? != b'"' {
            return None;
        }
        loop {
            match self.next()? {
                b'\\' => {
                    self.next()?;
                }
                b'"' => return Some(&self.b[start..self.at]),
                _ => {}
            }
        }
    }

    /// One value's token: a string, a whole nested object or array, or a scalar (which must
    /// be followed by a known byte, or it might continue).
    fn value(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        match self.peek()? {
            b'"' => self.string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => depth -= 1,
                        _ => {}
                    }
                    self.at += 1;
                    if depth == 0 {
                        return Some(&self.b[start..self.at]);
                    }
                }
            }
            _ => {
                while !ends_scalar(self.peek()?) {
                    self.at += 1;
                }
                (self.at > start).then(|| &self.b[start..self.at])
            }
        }
    }
}

/// Walks a line's known suffix backward from its last byte. A string is found from its closing
/// quote: its opening quote is the first `"` before it that is not escaped, i.e. not preceded
/// by an odd run of backslashes. Unless the suffix starts the line, a run (or any token) that
/// reaches the first known byte is in doubt, since the unknown byte before it could change it.
struct Backward<'a> {
    b: &'a [u8],
    /// The walk has read `b[end..]`.
    end: usize,
    starts_line: bool,
}

impl<'a> Backward<'a> {
    fn members(mut self, mut found: impl FnMut(&'a [u8], &'a [u8])) {
        let _ = self.walk(&mut found);
    }

    fn walk(&mut self, found: &mut impl FnMut(&'a [u8], &'a [u8])) -> Option<()> {
        self.expect(b'}')?;
        loop {
            self.skip_ws();
            if self.peek()? == b'{' {
                return Some(());
            }
            let value = self.value()?;
            self.expect(b':')?;
            self.skip_ws();
            let key = self.string()?;
            found(key, value);
            self.skip_ws();
            match self.prev()? {
                b',' => {}
                _ => return Some(()),
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.end.checked_sub(1).map(|at| self.b[at])
    }

    fn prev(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.end -= 1;
        Some(b)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.end -= 1;
        }
    }

    fn expect(&mut self, want: u8) -> Option<()> {
        self.skip_ws();
        (self.prev()? == want).then_some(())
    }

    /// A string token ending here, quotes included.
    fn string(&mut self) -> Option<&'a [u8]> {
        let close = self.end;
        if self.prev()? != b'"' {
            return None;
        }
        loop {
            if self.prev()? != b'"' {
                continue;
            }
            let quote = self.end;
            let backslashes = self.b[..quote]
                .iter()
                .rev()
                .take_while(|&&b| b == b'\\')
                .count();
            if backslashes == quote && !self.starts_line {
                return None;
            }
            if backslashes % 2 == 0 {
                return Some(&self.b[quote..close]);
            }
        }
    }

    /// One value's token ending here: a string, a whole nested object or array, or a scalar
    /// (which must be preceded by a known byte, or it might start earlier).
    fn value(&mut self) -> Option<&'a [u8]> {
        let close = self.end;
        match self.peek()? {
            b'"' => self.string(),
            b'}' | b']' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'}' | b']' => depth += 1,
                        b'{' | b'[' => depth -= 1,
                        _ => {}
                    }
                    self.end -= 1;
                    if depth == 0 {
                        return Some(&self.b[self.end..close]);
                    }
                }
            }
            _ => {
                // Running out of known bytes returns `None`: the scalar might start earlier.
                while !ends_scalar(self.peek()?) {
                    self.end -= 1;
                }
                (self.end < close).then(|| &self.b[self.end..close])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::framing::OVERSIZE_KEEP;
    use serde_json::json;

    /// What the framing layer keeps of `line`.
    fn skipped(line: &str) -> Skipped {
        let b = line.as_bytes();
        let head = &b[..b.len().min(OVERSIZE_KEEP)];
        let rest = &b[head.len()..];
        Skipped {
            len: b.len() as u64,
            head: head.to_vec(),
            tail: rest[rest.len().saturating_sub(OVERSIZE_KEEP)..].to_vec(),
        }
    }

    fn big() -> String {
        "x".repeat(3 * OVERSIZE_KEEP)
    }

    fn ids(line: &str) -> Vec<Value> {
        Glimpse::of(&skipped(line)).ids
    }

    #[test]
    fn id_first_and_id_last_are_both_found() {
        let x = big();
        let first = format!(r#"{{"jsonrpc":"2.0","id":5,"result":{{"text":"{x}"}}}}"#);
        assert_eq!(ids(&first), vec![json!(5)]);
        let last =
            format!(r#"{{"result":{{"content":[{{"text":"{x}"}}]}},"jsonrpc":"2.0","id":5}}"#);
        assert_eq!(ids(&last), vec![json!(5)]);
        let spaced = format!("{{ \"result\" : \"{x}\" ,\n \"id\" :\t-12 }} \r");
        assert_eq!(ids(&spaced), vec![json!(-12)]);
    }

    #[test]
    fn string_ids_are_decoded_with_their_escapes() {
        let x = big();
        let line = format!(r#"{{"result":"{x}","id" : "a\"b\\c\u00e9\\"}}"#);
        assert_eq!(ids(&line), vec![json!("a\"b\\c\u{e9}\\")]);
        let line = format!(r#"{{"jsonrpc":"2.0","id":"q\\\"}}","result":"{x}"}}"#);
        assert_eq!(ids(&line), vec![json!("q\\\"}")]);
    }

    #[test]
    fn ids_inside_nested_values_or_strings_are_not_top_level() {
        let x = big();
        let nested =
            format!(r#"{{"result":{{"id":9,"text":"{x}","more":{{"id":8}}}},"jsonrpc":"2.0"}}"#);
        assert_eq!(ids(&nested), Vec::<Value>::new());
        // In the text itself, escaped, right at either end of the known bytes.
        let quoted = format!(r#"{{"result":{{"text":"\"id\":7,{x}\"id\":9}}"}},"id":3}}"#);
        assert_eq!(ids(&quoted), vec![json!(3)]);
        // The real id sits in the unknown middle: nothing is found.
        let hidden = format!(r#"{{"result":"{x}","id":5,"_meta":{{"note":"{x}","id":9}}}}"#);
        assert_eq!(ids(&hidden), Vec::<Value>::new());
    }

    /// The suffix begins inside a string: a quote at its first byte, or after a run of
    /// backslashes reaching its first byte, may be escaped by a byte that is not known.
    #[test]
    fn a_quote_at_the_edge_of_the_unknown_is_not_trusted() {
        for pad in ["", "\\", "\\\\"] {
            let tail = format!(r#"{pad}"id":9}}"#);
            let s = Skipped {
                len: 100_000,
                head: b"{\"result\":\"".to_vec(),
                tail: tail.into_bytes(),
            };
            assert_eq!(Glimpse::of(&s), Glimpse::default(), "tail {pad:?}");
        }
    }

    #[test]
    fn contradicting_ends_give_several_ids_and_method_is_noticed() {
        let x = big();
        let line =
            format!(r#"{{"id":1,"method":"sampling/createMessage","params":"{x}","id":"1"}}"#);
        let g = Glimpse::of(&skipped(&line));
        assert_eq!(g.ids, vec![json!(1), json!("1")]);
        assert!(g.method);
        assert_eq!(g.only_id(), None);
    }

    #[test]
    fn only_string_and_integer_ids_count() {
        let x = big();
        for id in ["1.5", "1e3", "null", "true", "05", "{\"a\":1}", "[1]", "-"] {
            let line = format!(r#"{{"id":{id},"result":"{x}","id":{id}}}"#);
            assert_eq!(ids(&line), Vec::<Value>::new(), "id {id}");
        }
        let line = format!(r#"{{"result":"{x}","id":18446744073709551615}}"#);
        assert_eq!(ids(&line), vec![json!(u64::MAX)]);
    }

    #[test]
    fn a_line_short_enough_to_be_known_whole_is_walked_whole() {
        let line = format!(r#"{{"result":"{}","id":4}}"#, "y".repeat(5000));
        let s = skipped(&line);
        assert_eq!((s.head.len() + s.tail.len()) as u64, s.len);
        assert_eq!(Glimpse::of(&s).ids, vec![json!(4)]);
    }

    #[test]
    fn not_an_object_gives_nothing() {
        for line in ["[1,2]", "\"id\":5}", "{\"id\":5", "", "{", "}"] {
            let s = Skipped {
                len: 100_000,
                head: line.as_bytes().to_vec(),
                tail: Vec::new(),
            };
            assert_eq!(Glimpse::of(&s), Glimpse::default(), "{line:?}");
        }
    }
}
