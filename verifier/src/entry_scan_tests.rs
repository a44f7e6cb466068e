//! The scanner against the parser it stands in for: whatever the scanner accepts, the parser
//! accepts with the same facts, on canonical entries and on random corruptions of them.

use super::*;
use crate::entry::{Action, Direction, RpcId, Verdict};
use proptest::prelude::*;
use serde_json::json;

/// The entry tests' request, with nothing that needs escaping (the fast path's case).
fn sample(seq: u64) -> Entry {
    let prev = if seq == 0 {
        Hash::ZERO
    } else {
        Hash([0xab; 32])
    };
    let mut e = crate::entry::tests::request(seq, prev);
    e.rpc_id = Some(RpcId::Number(-7));
    e.payload = Some(PayloadDigest::of(b"{}"));
    if let Some(v) = e.verdict.as_mut() {
        v.reason = Some("traversal é ✓".into());
    }
    e
}

/// The parser's facts for `bytes`, if it accepts them.
fn parsed(bytes: &[u8]) -> Option<EntryFacts> {
    let entry = Entry::parse_canonical(bytes).ok()?;
    Some(EntryFacts::from_entry(&entry).expect("a parsed entry has a 30-byte time"))
}

/// The scanner never accepts what the parser refuses, and agrees with it on what it accepts.
fn assert_agrees(bytes: &[u8]) {
    if let Some(scanned) = scan(bytes) {
        let text = String::from_utf8_lossy(bytes);
        assert_eq!(Some(scanned), parsed(bytes), "scanner accepted {text}");
    }
}

#[test]
fn the_fast_path_takes_ordinary_entries_and_agrees_with_the_parser() {
    for seq in [0, 1, 42, MAX_JSON_INTEGER] {
        let bytes = sample(seq).canonical_bytes().expect("canonical");
        let facts = scan(&bytes).expect("an ordinary entry takes the fast path");
        assert_eq!(Some(facts), parsed(&bytes));
    }
    let mut e = sample(5);
    (e.method, e.tool, e.rpc_id, e.payload, e.verdict) = (None, None, None, None, None);
    let bytes = e.canonical_bytes().expect("canonical");
    assert_eq!(scan(&bytes), parsed(&bytes));
    assert!(scan(&bytes).is_some());
}

#[test]
fn escapes_and_events_go_to_the_parser_with_the_same_result() {
    let mut e = sample(3);
    e.verdict.as_mut().expect("verdict").reason = Some("say \"hi\"\n".into());
    let bytes = e.canonical_bytes().expect("canonical");
    assert!(scan(&bytes).is_none());
    assert_eq!(entry_facts(&bytes).ok(), parsed(&bytes));

    let mut e = sample(4);
    (
        e.direction,
        e.kind,
        e.method,
        e.tool,
        e.rpc_id,
        e.payload,
        e.verdict,
    ) = (Direction::Proxy, Kind::Event, None, None, None, None, None);
    e.event = Some(json!({"type": "redaction", "seq": 2, "reason": "PII"}));
    let bytes = e.canonical_bytes().expect("canonical");
    assert!(scan(&bytes).is_none());
    let facts = entry_facts(&bytes).expect("valid event");
    assert_eq!(facts.redaction_of, Some(2));
}

#[test]
fn near_misses_of_canonical_form_are_refused_by_both() {
    let good = String::from_utf8(sample(42).canonical_bytes().expect("canonical")).expect("utf-8");
    let cases: Vec<(&str, String)> = vec![
        ("version 2", good.replace("\"v\":1", "\"v\":2")),
        ("leading zero", good.replace("\"seq\":42", "\"seq\":042")),
        (
            "negative zero",
            good.replace("\"rpc_id\":-7", "\"rpc_id\":-0"),
        ),
        ("float", good.replace("\"seq\":42", "\"seq\":42.0")),
        ("space", good.replace("\"seq\":42", "\"seq\": 42")),
        (
            "uppercase hex",
            good.replace(&"ab".repeat(32), &"AB".repeat(32)),
        ),
        (
            "zero prev",
            good.replace(&"ab".repeat(32), &"00".repeat(32)),
        ),
        (
            "seq past 2^53",
            good.replace("\"seq\":42", "\"seq\":9007199254740993"),
        ),
        ("score", good.replace("\"score\":9500", "\"score\":10001")),
        ("month 13", good.replace("2026-01-02", "2026-13-02")),
        ("unknown action", good.replace("\"block\"", "\"deny\"")),
        ("trailing", format!("{good} ")),
        ("extra key", good.replace("\"v\":1", "\"v\":1,\"w\":1")),
    ];
    for (what, bytes) in cases {
        assert_ne!(bytes, good, "{what}: the replacement did not apply");
        assert!(scan(bytes.as_bytes()).is_none(), "{what}: scanner accepted");
        assert!(
            parsed(bytes.as_bytes()).is_none(),
            "{what}: parser accepted"
        );
    }
}

fn text() -> impl Strategy<Value = String> {
    // Plain text, and characters canonical JSON escapes or writes raw (quote, backslash,
    // controls, DEL, non-ASCII, U+2028).
    prop::collection::vec(
        prop_oneof![
            8 => prop::char::range('a', 'z'),
            1 => prop::sample::select(vec!['"', '\\', '\n', '\u{1}', '\u{7f}', 'é', '\u{2028}', '😀', '/']),
        ],
        0..12,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

prop_compose! {
    fn entry()(
        seq in prop_oneof![Just(0u64), 1u64..1000, Just(MAX_JSON_INTEGER)],
        direction in prop::sample::select(vec![Direction::AgentToServer, Direction::ServerToAgent, Direction::Proxy]),
        kind in prop::sample::select(vec![Kind::Request, Kind::Response, Kind::Notification, Kind::Event]),
        strings in prop::collection::vec(text(), 6),
        options in prop::collection::vec(any::<bool>(), 6),
        rpc in prop_oneof![(-1000i64..1000).prop_map(RpcId::Number), text().prop_map(RpcId::String)],
        len in 0u64..1_000_000,
        action in prop::sample::select(vec![Action::Allow, Action::Warn, Action::Block]),
        rules in prop::collection::vec(text(), 0..3),
        score in 0u32..10_001,
        nanos in 0u32..1_000_000_000,
        prev in any::<[u8; 32]>(),
    ) -> Entry {
        let event = (kind == Kind::Event).then(|| json!({"type": "redaction", "seq": seq / 2, "note": strings[5]}));
        Entry {
            v: 1,
            seq,
            time: format!("2026-02-28T23:59:59.{nanos:09}Z"),
            session: strings[0].clone(),
            instance: strings[1].clone(),
            server: strings[2].clone(),
            direction: if kind == Kind::Event { Direction::Proxy } else { direction },
            kind,
            method: options[0].then(|| strings[3].clone()),
            tool: options[1].then(|| strings[4].clone()),
            rpc_id: options[2].then_some(rpc),
            payload: options[3].then_some(PayloadDigest { len, blake3: Blake3Digest(prev) }),
            verdict: options[4].then(|| Verdict {
                action,
                layer: strings[5].clone(),
                rules,
                reason: options[5].then(|| strings[0].clone()),
                score: options[5].then_some(score),
            }),
            prev: if seq == 0 { Hash::ZERO } else if prev == [0; 32] { Hash([1; 32]) } else { Hash(prev) },
            event,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Valid entries: the fast path or the parser, same facts either way, and the fast path
    /// taken whenever the entry has no event and no escaped character.
    #[test]
    fn canonical_entries_give_the_parsers_facts(e in entry()) {
        let bytes = e.canonical_bytes().expect("generated entries are valid");
        prop_assert_eq!(entry_facts(&bytes).ok(), parsed(&bytes));
        let plain = e.kind != Kind::Event
            && !bytes.contains(&b'\\');
        prop_assert_eq!(scan(&bytes).is_some(), plain);
    }

    /// Corrupted entries: whatever the scanner still accepts, the parser accepts too.
    #[test]
    fn corrupted_entries_are_never_accepted_by_the_scanner_alone(
        e in entry(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 1..4),
    ) {
        let mut bytes = e.canonical_bytes().expect("generated entries are valid");
        for (at, op, byte) in edits {
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] ^= byte.max(1),
                1 => { bytes.remove(i); }
                2 => bytes.insert(i, byte),
                // Digits for digits keeps the shape: the cases the range checks must catch.
                _ => if bytes[i].is_ascii_digit() { bytes[i] = b'0' + byte % 10 },
            }
            if bytes.is_empty() { break; }
        }
        assert_agrees(&bytes);
    }
}

proptest! {
    /// The table decoder agrees with the crate's hex parser on every input of 64 bytes.
    #[test]
    fn hex32_agrees_with_the_hash_parser(
        bytes in any::<[u8; 32]>(),
        flip in any::<prop::sample::Index>(),
        to in any::<u8>(),
    ) {
        let mut text = crate::hash::hex_encode(&bytes).into_bytes();
        prop_assert_eq!(hex32(&text), Some(bytes));
        text[flip.index(64)] = to;
        let parsed = std::str::from_utf8(&text).ok().and_then(|t| t.parse::<Hash>().ok());
        prop_assert_eq!(hex32(&text), parsed.map(|h| h.0));
    }
}
