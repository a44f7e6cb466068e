//! The tamper matrix: a receipt and a slice from a real in-memory ledger, then one named
//! mutation at a time (every entry field, the payload, the index, each proof hash bit, the
//! proof length, the checkpoint's size, root, origin and signature, the key, and for slices
//! gaps, reordering, insertion, the hash chain and time), each with the check that must
//! fail first. One test walks each table.

mod common;

use common::{impostor, TestLedger, ORIGIN};
use serde_json::{json, Value};
use vanguard_verifier::{
    to_canonical_json, verify_file, CheckName, Checkpoint, Hash, Options, Origin, Outcome,
    TlogProof,
};
use CheckName::*;

/// What a mutation must produce.
struct Want {
    check: CheckName,
    entry: Option<u64>,
    outcome: Outcome,
}

fn fails(check: CheckName) -> Want {
    Want {
        check,
        entry: None,
        outcome: Outcome::Invalid,
    }
}

fn fails_at(check: CheckName, entry: u64) -> Want {
    Want {
        check,
        entry: Some(entry),
        outcome: Outcome::Invalid,
    }
}

fn unusable(check: CheckName) -> Want {
    Want {
        check,
        entry: None,
        outcome: Outcome::Unusable,
    }
}

fn check_case(name: &str, bytes: &[u8], l: &TestLedger, want: &Want) {
    let report = verify_file(bytes, &[l.vkey()], &Options::default());
    let failure = report
        .first_failure
        .as_ref()
        .unwrap_or_else(|| panic!("{name}: verified, but must fail {:?}", want.check));
    assert_eq!(
        (failure.check, report.outcome),
        (want.check, want.outcome),
        "{name}: {}",
        report.to_text()
    );
    if let Some(entry) = want.entry {
        assert_eq!(failure.entry, Some(entry), "{name}: {}", failure.message);
    }
    // The failing check is the last one recorded, and the exit code follows the outcome.
    assert_eq!(
        report.checks.last().map(|c| (c.name, c.passed)),
        Some((want.check, false))
    );
    assert_eq!(
        report.exit_code(),
        if want.outcome == Outcome::Invalid {
            1
        } else {
            2
        }
    );
}

// --- Receipts ------------------------------------------------------------------------------

/// A receipt taken apart: mutations edit these, then it is put back together as JSON.
#[derive(Clone)]
struct Parts {
    entry: Value,
    /// Replaces the canonical encoding of `entry` when set (non-canonical spellings).
    entry_text: Option<String>,
    payload: Option<String>,
    proof: TlogProof,
}

impl Parts {
    fn json(&self) -> String {
        let entry = self.entry_text.clone().unwrap_or_else(|| {
            String::from_utf8(to_canonical_json(&self.entry).expect("canonical")).expect("utf-8")
        });
        let mut obj = format!(r#"{{"format":"vanguard-receipt/v1","entry":{entry}"#);
        if let Some(p) = &self.payload {
            obj.push_str(&format!(r#","payload":"{p}""#));
        }
        obj.push_str(&format!(
            r#","proof":{}}}"#,
            serde_json::to_string(&self.proof.to_text()).expect("string")
        ));
        obj
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn flip(h: &Hash, bit: usize) -> Hash {
    let mut h = *h;
    h.0[bit / 8] ^= 1 << (bit % 8);
    h
}

/// Replaces one line of the signed checkpoint's body (0 origin, 1 size, 2 root) or of the
/// whole note text.
fn edit_note(note: &str, f: impl Fn(&str) -> String) -> String {
    f(note)
}

fn resign(l: &TestLedger, size: u64, root: Hash, origin: &str) -> String {
    Checkpoint::new(Origin::new(origin).expect("origin"), size, root)
        .sign(&l.key)
        .expect("sign")
}

type Mutation = Box<dyn Fn(&mut Parts, &TestLedger)>;

fn receipt_matrix(seq: u64) -> Vec<(String, Mutation, Want)> {
    let mut m: Vec<(String, Mutation, Want)> = Vec::new();
    let mut add = |name: &str, f: Mutation, want: Want| m.push((name.to_owned(), f, want));
    // Each entry field, changed and re-canonicalised: the leaf hash changes.
    for (field, value) in [
        ("direction", json!("agent_to_server")),
        ("instance", json!("vg-2@host")),
        ("kind", json!("notification")),
        ("method", json!("tools/list")),
        ("rpc_id", json!(999)),
        ("server", json!("stdio:other")),
        ("session", json!("s-9")),
        ("time", json!("2026-01-02T03:04:06.000000000Z")),
        ("tool", json!("write_file")),
        ("prev", json!("11".repeat(32))),
        (
            "verdict",
            json!({"action":"block","layer":"L1","reason":null,"rules":[],"score":0}),
        ),
        ("payload", json!({"blake3": "00".repeat(32), "len": 106})),
    ] {
        add(
            &format!("entry.{field} changed"),
            Box::new(move |p, _| p.entry[field] = value.clone()),
            fails_at(Inclusion, seq),
        );
    }
    add(
        "entry.seq + 1",
        Box::new(move |p, _| p.entry["seq"] = json!(seq + 1)),
        fails_at(IndexMatchesSeq, seq + 1),
    );
    add(
        "entry.v = 2",
        Box::new(move |p, _| p.entry["v"] = json!(2)),
        fails(EntryCanonical),
    );
    add(
        "entry.event set on a request",
        Box::new(move |p, _| p.entry["event"] = json!({"type": "x"})),
        fails(EntryCanonical),
    );
    add(
        "entry extra field",
        Box::new(move |p, _| p.entry["extra"] = json!(1)),
        fails(EntryCanonical),
    );
    add(
        "entry field removed",
        Box::new(move |p, _| {
            p.entry.as_object_mut().map(|o| o.remove("tool"));
        }),
        fails(EntryCanonical),
    );
    add(
        "entry float",
        Box::new(move |p, _| {
            p.entry_text = Some(to_text(&p.entry).replacen("\"len\":106", "\"len\":106.0", 1))
        }),
        fails(EntryCanonical),
    );
    add(
        "entry non-canonical spacing",
        Box::new(move |p, _| p.entry_text = Some(to_text(&p.entry).replacen(",", ", ", 1))),
        fails(EntryCanonical),
    );
    add(
        "entry keys reordered",
        Box::new(move |p, _| {
            p.entry_text = Some(to_text(&p.entry).replacen(
                "{\"direction\":\"server_to_agent\",\"event\":null",
                "{\"event\":null,\"direction\":\"server_to_agent\"",
                1,
            ))
        }),
        fails(EntryCanonical),
    );
    add(
        "entry duplicate key",
        Box::new(move |p, _| p.entry_text = Some(to_text(&p.entry).replacen("{", "{\"v\":1,", 1))),
        fails(EntryCanonical),
    );
    // The payload.
    add(
        "payload byte flipped",
        Box::new(move |p, _| p.payload = Some(b64(&flip_byte(common::payload(seq))))),
        fails_at(PayloadDigest, seq),
    );
    add(
        "payload truncated",
        Box::new(move |p, _| {
            let mut v = common::payload(seq);
            v.pop();
            p.payload = Some(b64(&v));
        }),
        fails_at(PayloadDigest, seq),
    );
    add(
        "payload of another entry",
        Box::new(move |p, _| p.payload = Some(b64(&common::payload(seq + 1)))),
        fails_at(PayloadDigest, seq),
    );
    add(
        "payload not base64",
        Box::new(move |p, _| p.payload = Some("***".into())),
        fails(PayloadDigest),
    );
    // The index.
    add(
        "index + 1",
        Box::new(move |p, _| p.proof.index += 1),
        fails_at(IndexMatchesSeq, seq),
    );
    add(
        "index - 1",
        Box::new(move |p, _| p.proof.index -= 1),
        fails_at(IndexMatchesSeq, seq),
    );
    // The inclusion path: every bit of every hash would be 256 * n cases; take 3 per hash.
    for i in 0..4 {
        for bit in [0, 131, 255] {
            add(
                &format!("proof hash {i} bit {bit} flipped"),
                Box::new(move |p, _| p.proof.hashes[i] = flip(&p.proof.hashes[i], bit)),
                fails_at(Inclusion, seq),
            );
        }
    }
    add(
        "proof truncated",
        Box::new(move |p, _| {
            p.proof.hashes.pop();
        }),
        fails_at(Inclusion, seq),
    );
    add(
        "proof extended",
        Box::new(move |p, _| p.proof.hashes.push(Hash::ZERO)),
        fails_at(Inclusion, seq),
    );
    add(
        "proof emptied",
        Box::new(move |p, _| p.proof.hashes.clear()),
        fails_at(Inclusion, seq),
    );
    add(
        "proof hashes swapped",
        Box::new(move |p, _| p.proof.hashes.swap(0, 1)),
        fails_at(Inclusion, seq),
    );
    add(
        "proof extra line ignored but index broken",
        Box::new(move |p, _| {
            p.proof.extra = Some(b"x".to_vec());
            p.proof.index += 2;
        }),
        fails_at(IndexMatchesSeq, seq),
    );
    // The checkpoint, edited in place (signature no longer verifies).
    add(
        "checkpoint size + 1",
        Box::new(move |p, _| {
            p.proof.checkpoint =
                edit_note(&p.proof.checkpoint, |n| n.replacen("\n13\n", "\n14\n", 1))
        }),
        fails(CheckpointSignature),
    );
    add(
        "checkpoint size x 2",
        Box::new(move |p, _| {
            p.proof.checkpoint = p.proof.checkpoint.replacen("\n13\n", "\n26\n", 1)
        }),
        fails(CheckpointSignature),
    );
    add(
        "checkpoint root bit flipped",
        Box::new(move |p, l| {
            let r = l.root(13);
            p.proof.checkpoint =
                p.proof
                    .checkpoint
                    .replacen(&r.to_base64(), &flip(&r, 3).to_base64(), 1);
        }),
        fails(CheckpointSignature),
    );
    add(
        "checkpoint origin changed",
        Box::new(move |p, _| {
            p.proof.checkpoint =
                p.proof
                    .checkpoint
                    .replacen(&format!("{ORIGIN}\n"), "vanguard.local/other\n", 1)
        }),
        fails(CheckpointSignature),
    );
    add(
        "checkpoint signature byte flipped",
        Box::new(move |p, _| {
            let i = p.proof.checkpoint.len() - 10;
            let c = if &p.proof.checkpoint[i..i + 1] == "A" {
                "B"
            } else {
                "A"
            };
            p.proof.checkpoint.replace_range(i..i + 1, c);
        }),
        fails(CheckpointSignature),
    );
    add(
        "checkpoint signature dropped",
        Box::new(move |p, _| {
            let i = p.proof.checkpoint.find("\n\n").expect("sig");
            p.proof.checkpoint.truncate(i + 1);
            p.proof.checkpoint.push('\n');
        }),
        fails(CheckpointSignature),
    );
    add(
        "checkpoint signature line dropped",
        Box::new(move |p, _| {
            let i = p.proof.checkpoint.find("\u{2014}").expect("sig");
            p.proof.checkpoint.truncate(i);
        }),
        fails(CheckpointSignature),
    );
    add(
        "checkpoint signed by another key",
        Box::new(move |p, l| {
            p.proof.checkpoint = Checkpoint::new(Origin::new(ORIGIN).expect("o"), 13, l.root(13))
                .sign(&impostor())
                .expect("sign")
        }),
        unusable(CheckpointSignature),
    );
    // The log's own key signing a false tree head: signatures verify, the proof does not.
    // (Size + 1 with the same root would pass: an RFC 6962 inclusion proof for leaf 5 is the
    // same for sizes 13 to 16, so only the signature binds the size. A log signing that has
    // misbehaved; consistency checks against other checkpoints catch it.)
    add(
        "checkpoint re-signed with size x 2",
        Box::new(move |p, l| p.proof.checkpoint = resign(l, 26, l.root(13), ORIGIN)),
        fails_at(Inclusion, seq),
    );
    add(
        "checkpoint re-signed with another root",
        Box::new(move |p, l| p.proof.checkpoint = resign(l, 13, l.root(12), ORIGIN)),
        fails_at(Inclusion, seq),
    );
    add(
        "checkpoint re-signed smaller than the index",
        Box::new(move |p, l| p.proof.checkpoint = resign(l, seq, l.root(seq), ORIGIN)),
        fails_at(Inclusion, seq),
    );
    m
}

fn to_text(v: &Value) -> String {
    String::from_utf8(to_canonical_json(v).expect("canonical")).expect("utf-8")
}

fn flip_byte(mut v: Vec<u8>) -> Vec<u8> {
    v[10] ^= 0x20;
    v
}

#[test]
fn receipt_tamper_matrix() {
    let l = TestLedger::new(13);
    let seq = 5;
    let receipt = l.receipt(seq, 13, true);
    let base = Parts {
        entry: serde_json::from_slice(&l.entries[seq as usize]).expect("entry"),
        entry_text: None,
        payload: Some(b64(&common::payload(seq))),
        proof: receipt.proof().clone(),
    };
    // The untouched parts verify, and reassemble to an equivalent receipt.
    let report = verify_file(base.json().as_bytes(), &[l.vkey()], &Options::default());
    assert!(report.is_valid(), "{}", report.to_text());
    let matrix = receipt_matrix(seq);
    assert!(matrix.len() >= 50, "{} cases", matrix.len());
    for (name, mutate, want) in &matrix {
        let mut parts = base.clone();
        mutate(&mut parts, &l);
        check_case(name, parts.json().as_bytes(), &l, want);
    }
}

// --- Slices --------------------------------------------------------------------------------

type LineMutation = Box<dyn Fn(&mut Vec<String>, &TestLedger)>;

/// Line index of entry `seq` in a slice beginning at `begin` (line 0 is the header).
fn line_of(seq: u64, begin: u64) -> usize {
    (seq - begin + 1) as usize
}

/// Edits the entry on an entry line and re-canonicalises it (the payload stays).
fn edit_entry(line: &mut String, f: impl Fn(&mut Value)) {
    let v: Value = serde_json::from_str(line).expect("line");
    let mut entry = v["entry"].clone();
    f(&mut entry);
    let mut out = format!(r#"{{"entry":{}"#, to_text(&entry));
    if let Some(p) = v.get("payload").and_then(Value::as_str) {
        out.push_str(&format!(r#","payload":"{p}""#));
    }
    out.push('}');
    *line = out;
}

fn edit_json(line: &mut String, f: impl Fn(&mut Value)) {
    let mut v: Value = serde_json::from_str(line).expect("line");
    f(&mut v);
    *line = serde_json::to_string(&v).expect("json");
}

fn slice_matrix(begin: u64, end: u64) -> Vec<(String, LineMutation, Want)> {
    let mut m: Vec<(String, LineMutation, Want)> = Vec::new();
    let mut add = |name: &str, f: LineMutation, want: Want| m.push((name.to_owned(), f, want));
    let k = begin + 4; // a middle request, given in full, followed by a full response
    let last = end - 1;
    let trailer = line_of(end, begin);
    for (field, value) in [
        ("direction", json!("server_to_agent")),
        ("instance", json!("vg-2@host")),
        ("method", json!("tools/list")),
        ("rpc_id", json!(999)),
        ("server", json!("stdio:other")),
        ("session", json!("s-9")),
        ("tool", json!("write_file")),
        (
            "verdict",
            json!({"action":"warn","layer":"L3","reason":"x","rules":["R-1"],"score":1}),
        ),
    ] {
        add(
            &format!("entry {k}.{field} changed"),
            Box::new(move |ls, _| {
                edit_entry(&mut ls[line_of(k, begin)], |e| e[field] = value.clone())
            }),
            fails_at(HashChain, k + 1),
        );
    }
    add(
        "last entry changed",
        Box::new(move |ls, _| {
            edit_entry(&mut ls[line_of(last, begin)], |e| {
                e["session"] = json!("s-9")
            })
        }),
        fails(RangeProof),
    );
    add(
        "entry seq + 1",
        Box::new(move |ls, _| edit_entry(&mut ls[line_of(k, begin)], |e| e["seq"] = json!(k + 1))),
        fails_at(SeqContiguous, k + 1),
    );
    add(
        "entry v = 2",
        Box::new(move |ls, _| edit_entry(&mut ls[line_of(k, begin)], |e| e["v"] = json!(2))),
        fails_at(EntryCanonical, k),
    );
    add(
        "entry not canonical",
        Box::new(move |ls, _| ls[line_of(k, begin)] = ls[line_of(k, begin)].replacen(",", ", ", 2)),
        fails_at(EntryCanonical, k),
    );
    add(
        "prev mismatch",
        Box::new(move |ls, _| {
            edit_entry(&mut ls[line_of(k, begin)], |e| {
                e["prev"] = json!("22".repeat(32))
            })
        }),
        fails_at(HashChain, k),
    );
    add(
        "header prev_leaf wrong",
        Box::new(move |ls, _| edit_json(&mut ls[0], |h| h["prev_leaf"] = json!("33".repeat(32)))),
        fails_at(HashChain, begin),
    );
    add(
        "time going backwards",
        Box::new(move |ls, _| {
            edit_entry(&mut ls[line_of(k, begin)], |e| {
                e["time"] = json!("2026-01-01T00:00:00.000000000Z")
            })
        }),
        fails_at(TimeOrder, k),
    );
    add(
        "payload digest mismatch",
        Box::new(move |ls, _| {
            edit_entry(&mut ls[line_of(k, begin)], |e| {
                e["payload"]["len"] = json!(1)
            })
        }),
        fails_at(PayloadDigest, k),
    );
    add(
        "payload byte flipped",
        Box::new(move |ls, _| {
            edit_json(&mut ls[line_of(k, begin)], |v| {
                v["payload"] = json!(b64(&flip_byte(common::payload(k))))
            })
        }),
        fails_at(PayloadDigest, k),
    );
    add(
        "payload not base64",
        Box::new(move |ls, _| {
            edit_json(&mut ls[line_of(k, begin)], |v| v["payload"] = json!("%%%"))
        }),
        fails_at(PayloadDigest, k),
    );
    add(
        "seq gap (entry dropped)",
        Box::new(move |ls, _| {
            ls.remove(line_of(k, begin));
        }),
        fails_at(SeqContiguous, k + 1),
    );
    add(
        "entries reordered",
        Box::new(move |ls, _| ls.swap(line_of(k, begin), line_of(k + 1, begin))),
        fails_at(SeqContiguous, k + 1),
    );
    add(
        "entry inserted (repeated)",
        Box::new(move |ls, _| {
            let l = ls[line_of(k, begin)].clone();
            ls.insert(line_of(k, begin), l);
        }),
        fails_at(SeqContiguous, k),
    );
    add(
        "leaf line hash flipped",
        Box::new(move |ls, l| {
            ls[line_of(k + 2, begin)] = format!(
                r#"{{"seq":{},"leaf":"{}"}}"#,
                k + 2,
                flip(&l.leaves[(k + 2) as usize], 0)
            )
        }),
        fails_at(HashChain, k + 3),
    );
    add(
        "entry replaced by a leaf line with a wrong hash",
        Box::new(move |ls, _| {
            ls[line_of(last, begin)] = format!(r#"{{"seq":{last},"leaf":"{}"}}"#, "44".repeat(32))
        }),
        fails(RangeProof),
    );
    add(
        "header begin + 1",
        Box::new(move |ls, _| edit_json(&mut ls[0], |h| h["begin"] = json!(begin + 1))),
        fails_at(SeqContiguous, begin),
    );
    add(
        "header end - 1",
        Box::new(move |ls, _| edit_json(&mut ls[0], |h| h["end"] = json!(end - 1))),
        fails_at(SeqContiguous, end - 1),
    );
    add(
        "header end + 1",
        Box::new(move |ls, _| edit_json(&mut ls[0], |h| h["end"] = json!(end + 1))),
        fails_at(SeqContiguous, end),
    );
    add(
        "header origin changed",
        Box::new(move |ls, _| {
            edit_json(&mut ls[0], |h| h["origin"] = json!("vanguard.local/other"))
        }),
        fails(Origin),
    );
    add(
        "header format changed",
        Box::new(move |ls, _| edit_json(&mut ls[0], |h| h["format"] = json!("vanguard-slice/v2"))),
        unusable(Format),
    );
    add(
        "trailer dropped",
        Box::new(move |ls, _| {
            ls.pop();
        }),
        fails(Format),
    );
    add(
        "data after the trailer",
        Box::new(move |ls, _| ls.push("{}".into())),
        fails(Format),
    );
    for side in ["left", "right"] {
        add(
            &format!("range proof {side} hash flipped"),
            Box::new(move |ls, _| {
                edit_json(&mut ls[trailer], |t| {
                    let h: Hash =
                        serde_json::from_value(t["range_proof"][side][0].clone()).expect("h");
                    t["range_proof"][side][0] = json!(flip(&h, 7));
                })
            }),
            fails(RangeProof),
        );
        add(
            &format!("range proof {side} truncated"),
            Box::new(move |ls, _| {
                edit_json(&mut ls[trailer], |t| {
                    t["range_proof"][side].as_array_mut().map(|a| a.pop());
                })
            }),
            fails(RangeProof),
        );
        add(
            &format!("range proof {side} extended"),
            Box::new(move |ls, _| {
                edit_json(&mut ls[trailer], |t| {
                    if let Some(a) = t["range_proof"][side].as_array_mut() {
                        a.push(json!("55".repeat(32)));
                    }
                })
            }),
            fails(RangeProof),
        );
    }
    add(
        "checkpoint size edited",
        Box::new(move |ls, _| {
            edit_json(&mut ls[trailer], |t| {
                t["checkpoint"] = json!(t["checkpoint"]
                    .as_str()
                    .expect("s")
                    .replacen("\n40\n", "\n41\n", 1))
            })
        }),
        fails(CheckpointSignature),
    );
    add(
        "checkpoint signature dropped",
        Box::new(move |ls, _| {
            edit_json(&mut ls[trailer], |t| {
                let s = t["checkpoint"].as_str().expect("s");
                let i = s.find("\n\n").expect("sig");
                t["checkpoint"] = json!(s[..i + 1].to_owned());
            })
        }),
        fails(CheckpointSignature),
    );
    add(
        "checkpoint by another key",
        Box::new(move |ls, l| {
            edit_json(&mut ls[trailer], |t| {
                t["checkpoint"] =
                    json!(
                        Checkpoint::new(Origin::new(ORIGIN).expect("o"), 40, l.root(40))
                            .sign(&impostor())
                            .expect("sign")
                    )
            })
        }),
        unusable(CheckpointSignature),
    );
    add(
        "checkpoint re-signed too small",
        Box::new(move |ls, l| {
            edit_json(&mut ls[trailer], |t| {
                t["checkpoint"] = json!(resign(l, end - 1, l.root(end - 1), ORIGIN))
            })
        }),
        fails(CheckpointCovers),
    );
    add(
        "checkpoint re-signed with a wrong root",
        Box::new(move |ls, l| {
            edit_json(&mut ls[trailer], |t| {
                t["checkpoint"] = json!(resign(l, 40, l.root(39), ORIGIN))
            })
        }),
        fails(RangeProof),
    );
    add(
        "checkpoint re-signed with a larger size",
        Box::new(move |ls, l| {
            edit_json(&mut ls[trailer], |t| {
                t["checkpoint"] = json!(resign(l, 41, l.root(40), ORIGIN))
            })
        }),
        fails(RangeProof),
    );
    m
}

#[test]
fn slice_tamper_matrix() {
    let l = TestLedger::new(40);
    let (begin, end) = (10, 30);
    // Entries in full except k + 2 = 16 (a leaf line); 14 and 15 are both full.
    let bytes = l.slice(begin, end, 40, |s| s != 16);
    let text = String::from_utf8(bytes).expect("utf-8");
    let base: Vec<String> = text.lines().map(str::to_owned).collect();
    let report = verify_file(text.as_bytes(), &[l.vkey()], &Options::default());
    assert!(report.is_valid(), "{}", report.to_text());
    let matrix = slice_matrix(begin, end);
    assert!(matrix.len() >= 35, "{} cases", matrix.len());
    for (name, mutate, want) in &matrix {
        let mut lines = base.clone();
        mutate(&mut lines, &l);
        let mut bytes = lines.join("\n");
        bytes.push('\n');
        check_case(name, bytes.as_bytes(), &l, want);
    }
}
