use super::*;
use serde_json::json;

pub(crate) fn request(seq: u64, prev: Hash) -> Entry {
    Entry {
        v: 1,
        seq,
        time: "2026-01-02T03:04:05.123456789Z".into(),
        session: "s-1".into(),
        instance: "vg-1@host".into(),
        server: "stdio:fs".into(),
        direction: Direction::AgentToServer,
        kind: Kind::Request,
        method: Some("tools/call".into()),
        tool: Some("read_file".into()),
        rpc_id: Some(RpcId::Number(7)),
        payload: Some(PayloadDigest::of(b"")),
        verdict: Some(Verdict {
            action: Action::Block,
            layer: "L1".into(),
            rules: vec!["FS-001".into(), "FS-002".into()],
            reason: Some("path \"traversal\"\n".into()),
            score: Some(9500),
        }),
        prev,
        event: None,
    }
}

fn event(seq: u64, prev: Hash, details: Value) -> Entry {
    Entry {
        direction: Direction::Proxy,
        kind: Kind::Event,
        method: None,
        tool: None,
        rpc_id: None,
        payload: None,
        verdict: None,
        event: Some(details),
        ..request(seq, prev)
    }
}

fn text(e: &Entry) -> String {
    String::from_utf8(e.canonical_bytes().expect("canonical")).expect("utf-8")
}

#[test]
fn golden_request_entry() {
    // The payload is empty: its BLAKE3 is the reference test vector for length 0.
    let want = concat!(
        r#"{"direction":"agent_to_server","event":null,"instance":"vg-1@host","kind":"request","#,
        r#""method":"tools/call","payload":{"blake3":"#,
        r#""af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262","len":0},"#,
        r#""prev":"0000000000000000000000000000000000000000000000000000000000000000","#,
        r#""rpc_id":7,"seq":0,"server":"stdio:fs","session":"s-1","#,
        r#""time":"2026-01-02T03:04:05.123456789Z","tool":"read_file","v":1,"#,
        r#""verdict":{"action":"block","layer":"L1","reason":"path \"traversal\"\n","#,
        r#""rules":["FS-001","FS-002"],"score":9500}}"#
    );
    let e = request(0, Hash::ZERO);
    let got = text(&e);
    assert_eq!(got, want);
    assert_eq!(Entry::parse_canonical(got.as_bytes()), Ok(e));
}

#[test]
fn blake3_known_answer() {
    // The BLAKE3 reference test vectors (test_vectors.json), input length 0.
    assert_eq!(
        Blake3Digest::of(b"").to_string(),
        "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    );
    let p = PayloadDigest::of(b"hello");
    assert!(p.matches(b"hello"));
    assert!(!p.matches(b"hellO"));
    assert!(!PayloadDigest { len: 4, ..p }.matches(b"hello"));
}

#[test]
fn hash_chain_and_event_entries() {
    let first = request(0, Hash::ZERO);
    let details =
        json!({"type": "proxy_start", "config": {"rules": 42, "durability": "immediate"}});
    let second = event(1, first.leaf_hash().expect("hash"), details);
    let t = text(&second);
    assert!(
        t.contains(
            r#""event":{"config":{"durability":"immediate","rules":42},"type":"proxy_start"}"#
        ),
        "{t}"
    );
    assert!(
        t.contains(r#""payload":null"#) && t.contains(r#""verdict":null"#),
        "{t}"
    );
    assert_eq!(Entry::parse_canonical(t.as_bytes()), Ok(second.clone()));
    assert_eq!(
        second.prev,
        leaf_hash(&first.canonical_bytes().expect("bytes"))
    );
}

#[test]
fn validation_refusals() {
    let ok = request(3, leaf_hash(b"x"));
    assert_eq!(ok.validate(), Ok(()));
    let check = |e: Entry| e.validate().expect_err("invalid");

    assert_eq!(
        check(Entry { v: 2, ..ok.clone() }),
        EntryError::Version { found: 2 }
    );
    let big = MAX_JSON_INTEGER + 1;
    assert_eq!(
        check(Entry {
            seq: big,
            ..ok.clone()
        }),
        EntryError::IntegerRange {
            field: "seq",
            value: i128::from(big)
        }
    );
    assert!(matches!(
        check(Entry {
            rpc_id: Some(RpcId::Number(i64::MIN)),
            ..ok.clone()
        }),
        EntryError::IntegerRange {
            field: "rpc_id",
            ..
        }
    ));
    let payload = Some(PayloadDigest {
        len: big,
        blake3: Blake3Digest([0; 32]),
    });
    assert!(matches!(
        check(Entry {
            payload,
            ..ok.clone()
        }),
        EntryError::IntegerRange {
            field: "payload.len",
            ..
        }
    ));
    for time in [
        "2026-01-02T03:04:05.123456789+00:00",
        "2026-01-02T03:04:05.123456Z",
        "2026-01-02 03:04:05.123456789Z",
        "2026-13-02T03:04:05.123456789Z",
        "2026-02-29T03:04:05.123456789Z",
        "2026-04-31T03:04:05.123456789Z",
        "2026-01-02T24:04:05.123456789Z",
        "2026-01-02T03:60:05.123456789Z",
        "2026-01-02T03:04:60.123456789Z",
        "2026-01-02t03:04:05.123456789z",
        "２026-01-02T03:04:05.123456789Z",
    ] {
        assert!(
            matches!(
                check(Entry {
                    time: time.into(),
                    ..ok.clone()
                }),
                EntryError::Time { .. }
            ),
            "{time}"
        );
    }
    let leap_day = Entry {
        time: "2024-02-29T23:59:59.999999999Z".into(),
        ..ok.clone()
    };
    assert_eq!(leap_day.validate(), Ok(()));

    assert_eq!(
        check(Entry {
            event: Some(json!({})),
            ..ok.clone()
        }),
        EntryError::EventShape
    );
    let ev = event(3, ok.prev, json!({"a": 1}));
    assert_eq!(ev.validate(), Ok(()));
    assert_eq!(
        check(Entry {
            event: None,
            ..ev.clone()
        }),
        EntryError::EventShape
    );
    assert_eq!(
        check(Entry {
            event: Some(json!([1])),
            ..ev.clone()
        }),
        EntryError::EventShape
    );
    assert_eq!(
        check(Entry {
            direction: Direction::AgentToServer,
            ..ev.clone()
        }),
        EntryError::EventShape
    );

    let mut scored = ok.clone();
    if let Some(v) = scored.verdict.as_mut() {
        v.score = Some(MAX_SCORE + 1);
    }
    assert_eq!(
        check(scored),
        EntryError::Score {
            score: MAX_SCORE + 1
        }
    );
    assert_eq!(
        check(Entry {
            prev: Hash::ZERO,
            ..ok.clone()
        }),
        EntryError::Prev {
            seq: 3,
            prev: Hash::ZERO
        }
    );
    let p = leaf_hash(b"x");
    assert_eq!(
        check(Entry {
            seq: 0,
            ..ok.clone()
        }),
        EntryError::Prev { seq: 0, prev: p }
    );

    let float = event(3, ok.prev, json!({"ratio": 0.5}));
    assert!(matches!(
        float.canonical_bytes(),
        Err(EntryError::Event(CanonicalJsonError::Float { .. }))
    ));
}

#[test]
fn parse_refuses_every_non_canonical_spelling() {
    let e = event(5, leaf_hash(b"p"), json!({"k": "v", "n": -3}));
    let good = text(&e);
    assert!(Entry::parse_canonical(good.as_bytes()).is_ok());
    let not_canonical = |s: &str| match Entry::parse_canonical(s.as_bytes()) {
        Err(EntryError::NotCanonical { .. }) => {}
        other => panic!("{s}: {other:?}"),
    };
    let json_error = |s: &str| match Entry::parse_canonical(s.as_bytes()) {
        Err(EntryError::Json { .. }) => {}
        other => panic!("{s}: {other:?}"),
    };
    // Whitespace, member order, omitted nulls, escapes that need not be escapes.
    not_canonical(&format!(" {good}"));
    not_canonical(&format!("{good}\n"));
    not_canonical(&good.replacen(",", ", ", 1));
    not_canonical(&good.replace(
        r#""instance":"vg-1@host","kind":"event","#,
        r#""kind":"event","instance":"vg-1@host","#,
    ));
    not_canonical(&good.replace(r#""method":null,"#, ""));
    not_canonical(&good.replace("vg-1@host", "vg-1\\u0040host"));
    not_canonical(&good.replace("stdio:fs", "stdio:\\/fs"));
    not_canonical(&good.replace(r#""k":"v","n":-3"#, r#""n":-3,"k":"v""#));
    not_canonical(&good.replace(r#""k":"v""#, r#""k":"v","k":"v""#));
    not_canonical(&good.replace(r#""seq":5"#, r#""seq":5 "#));
    // Shapes serde refuses: unknown and duplicate fields, non-integers, bad hex.
    json_error(&good.replace(r#""v":1"#, r#""v":1,"x":0"#));
    json_error(&good.replace(r#""v":1"#, r#""v":1,"v":1"#));
    json_error(&good.replace(r#""seq":5"#, r#""seq":5.0"#));
    json_error(&good.replace(r#""seq":5"#, r#""seq":-5"#));
    json_error(&good.replace(r#""seq":5"#, r#""seq":"5""#));
    json_error(&good.replace(&e.prev.to_string(), &e.prev.to_string().to_uppercase()));
    json_error(&good.replace(r#""kind":"event""#, r#""kind":"Event""#));
    json_error("{}");
    json_error("not json");
    // Floats and big integers inside the free-form event.
    let with = |ev: &str| good.replace(r#"{"k":"v","n":-3}"#, ev);
    assert!(matches!(
        Entry::parse_canonical(with(r#"{"k":1.5}"#).as_bytes()),
        Err(EntryError::Event(_))
    ));
    assert!(matches!(
        Entry::parse_canonical(with(r#"{"k":1e3}"#).as_bytes()),
        Err(EntryError::Event(_))
    ));
    let big = with(r#"{"k":9007199254740993}"#);
    assert!(matches!(
        Entry::parse_canonical(big.as_bytes()),
        Err(EntryError::Event(_))
    ));
    // serde_json reads -0 as the float -0.0.
    assert!(matches!(
        Entry::parse_canonical(with(r#"{"k":-0}"#).as_bytes()),
        Err(EntryError::Event(_))
    ));
}

#[test]
fn rpc_ids() {
    let base = request(1, leaf_hash(b"p"));
    for (id, json) in [
        (Some(RpcId::Number(-7)), r#""rpc_id":-7"#),
        (Some(RpcId::String("7".into())), r#""rpc_id":"7""#),
        (None, r#""rpc_id":null"#),
    ] {
        let e = Entry {
            rpc_id: id,
            ..base.clone()
        };
        let t = text(&e);
        assert!(t.contains(json), "{t}");
        assert_eq!(Entry::parse_canonical(t.as_bytes()), Ok(e));
    }
    let t = text(&base).replace(r#""rpc_id":7"#, r#""rpc_id":7.5"#);
    assert!(matches!(
        Entry::parse_canonical(t.as_bytes()),
        Err(EntryError::Json { .. })
    ));
}

/// The general path the typed encoder replaces: serde to a `Value`, then RFC 8785.
fn encode_through_jcs(e: &Entry) -> Vec<u8> {
    to_canonical_json(&serde_json::to_value(e).expect("to value")).expect("canonical")
}

mod typed_encoding {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        // Quotes, backslashes, control characters, non-ASCII and astral characters: everything
        // the string escaper treats differently.
        proptest::string::string_regex("(?s)[a-z\"\\\\\\x00-\\x1f\\u{7f}é€😀/ ]{0,12}")
            .expect("regex")
    }

    prop_compose! {
        fn entry()(
            seq in 1u64..=MAX_JSON_INTEGER,
            session in text(), instance in text(), server in text(),
            method in proptest::option::of(text()), tool in proptest::option::of(text()),
            id in proptest::option::of(prop_oneof![
                (-(MAX_JSON_INTEGER as i64)..=MAX_JSON_INTEGER as i64).prop_map(RpcId::Number),
                text().prop_map(RpcId::String),
            ]),
            payload in proptest::option::of((0u64..=MAX_JSON_INTEGER, any::<[u8; 32]>())),
            verdict in proptest::option::of((0u8..3, text(), proptest::collection::vec(text(), 0..3),
                proptest::option::of(text()), proptest::option::of(0u32..=MAX_SCORE))),
            prev in any::<[u8; 32]>(),
            direction in 0u8..2, kind in 0u8..3,
        ) -> Entry {
            let mut e = request(seq, Hash(prev));
            e.session = session;
            e.instance = instance;
            e.server = server;
            e.method = method;
            e.tool = tool;
            e.rpc_id = id;
            e.payload = payload.map(|(len, d)| PayloadDigest { len, blake3: Blake3Digest(d) });
            e.verdict = verdict.map(|(a, layer, rules, reason, score)| Verdict {
                action: [Action::Allow, Action::Warn, Action::Block][usize::from(a)],
                layer, rules, reason, score,
            });
            e.direction = [Direction::AgentToServer, Direction::ServerToAgent][usize::from(direction)];
            e.kind = [Kind::Request, Kind::Response, Kind::Notification][usize::from(kind)];
            e
        }
    }

    proptest! {
        #[test]
        fn typed_encoding_matches_jcs(mut e in entry(), with_event in any::<bool>(), detail in text()) {
            if with_event {
                e.direction = Direction::Proxy;
                e.kind = Kind::Event;
                e.event = Some(json!({"type": "x", "detail": detail, "n": [1, -2, {"b": null, "a": true}]}));
            }
            if e.prev == Hash::ZERO {
                e.prev = Hash([1; 32]);
            }
            let bytes = e.canonical_bytes().expect("valid entry");
            prop_assert_eq!(&bytes, &encode_through_jcs(&e));
            prop_assert_eq!(Entry::parse_canonical(&bytes).expect("parses"), e);
        }
    }
}
