//! The auditor's flow end to end: receipts, slices, checkpoints and consistency files from a
//! real in-memory ledger through `verify_file`, the `--state` logic, and the
//! `vanguard-verify` binary with its exit codes.

mod common;

use std::cell::RefCell;
use std::collections::HashMap;
use std::process::Command;

use common::{TestLedger, ORIGIN};
use vanguard_verifier::{
    verify_file, verify_receipt, verify_slice, CheckName, FileKind, Options, Origin, Outcome,
    Receipt, ReceiptError,
};

fn names(report: &vanguard_verifier::Report) -> Vec<CheckName> {
    report.checks.iter().map(|c| c.name).collect()
}

#[test]
fn receipt_verifies_and_round_trips() {
    let l = TestLedger::new(13);
    let receipt = l.receipt(5, 13, true);
    let json = receipt.to_json();
    assert_eq!(Receipt::parse(json.as_bytes()).expect("parse"), receipt);
    let v = verify_receipt(&receipt, &[l.vkey()]).expect("verify");
    assert_eq!(
        (v.entry.seq, v.checkpoint.size(), v.payload_checked),
        (5, 13, true)
    );

    let report = verify_file(json.as_bytes(), &[l.vkey()], &Options::default());
    assert_eq!(report.outcome, Outcome::Valid, "{}", report.to_text());
    assert_eq!(report.kind, Some(FileKind::Receipt));
    assert_eq!(
        names(&report),
        [
            CheckName::Format,
            CheckName::EntryCanonical,
            CheckName::CheckpointSignature,
            CheckName::IndexMatchesSeq,
            CheckName::Inclusion,
            CheckName::PayloadDigest,
        ]
    );
    assert_eq!(report.exit_code(), 0);
    let cp = report.checkpoint.as_ref().expect("checkpoint info");
    assert_eq!((cp.origin.as_str(), cp.size), (ORIGIN, 13));
}

#[test]
fn receipt_entry_is_embedded_verbatim() {
    let l = TestLedger::new(4);
    let json = l.receipt(1, 4, false).to_json();
    let entry = std::str::from_utf8(&l.entries[1]).expect("utf-8");
    assert!(json.contains(&format!("\"entry\": {entry},")), "{json}");
    // Reformatting the entry breaks the receipt, naming the offset.
    let spaced = json.replacen("{\"direction\":", "{ \"direction\":", 1);
    let err = verify_receipt(
        &Receipt::parse(spaced.as_bytes()).expect("parse"),
        &[l.vkey()],
    );
    assert!(matches!(err, Err(ReceiptError::Entry(_))), "{err:?}");
    // A receipt for seq 0 and for the last leaf of a tree.
    for (seq, size) in [(0, 1), (0, 4), (3, 4)] {
        let r = l.receipt(seq, size, false);
        assert!(verify_receipt(&r, &[l.vkey()]).is_ok(), "{seq} of {size}");
    }
}

#[test]
fn slice_verifies_streaming() {
    let l = TestLedger::new(40);
    for (begin, end, size) in [
        (0, 40, 40),
        (5, 13, 40),
        (13, 14, 20),
        (0, 1, 1),
        (17, 32, 33),
    ] {
        let bytes = l.slice(begin, end, size, |s| s % 3 != 1);
        let v = verify_slice(&bytes[..], &[l.vkey()]).expect("verify");
        assert_eq!(v.counts.full + v.counts.reduced, end - begin);
        let report = verify_file(&bytes, &[l.vkey()], &Options::default());
        assert_eq!(report.outcome, Outcome::Valid, "{}", report.to_text());
        assert_eq!(report.kind, Some(FileKind::Slice));
    }
    let report = verify_file(
        &l.slice(0, 12, 12, |_| true),
        &[l.vkey()],
        &Options::default(),
    );
    assert_eq!(
        names(&report),
        [
            CheckName::Header,
            CheckName::SeqContiguous,
            CheckName::EntryCanonical,
            CheckName::HashChain,
            CheckName::TimeOrder,
            CheckName::PayloadDigest,
            CheckName::CheckpointSignature,
            CheckName::Origin,
            CheckName::CheckpointCovers,
            CheckName::RangeProof,
        ]
    );
    // Entry 3's payload is left out; entry 9 is the redaction event naming it.
    let counts = report.entries.expect("counts");
    assert_eq!((counts.payloads_absent, counts.payloads_redacted), (1, 1));
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("redaction") && w.contains('3')));
}

#[test]
fn bare_checkpoint_and_consistency_file() {
    let l = TestLedger::new(20);
    let report = verify_file(
        l.checkpoint(20).as_bytes(),
        &[l.vkey()],
        &Options::default(),
    );
    assert_eq!(report.kind, Some(FileKind::Checkpoint));
    assert!(report.is_valid(), "{}", report.to_text());

    let file = l.consistency(7, 20);
    let report = verify_file(file.to_json().as_bytes(), &[l.vkey()], &Options::default());
    assert_eq!(report.kind, Some(FileKind::Consistency));
    assert!(report.is_valid(), "{}", report.to_text());

    let mut bad = l.consistency(7, 20);
    bad.proof[0].0[0] ^= 1;
    let report = verify_file(bad.to_json().as_bytes(), &[l.vkey()], &Options::default());
    assert_eq!(report.outcome, Outcome::Invalid);
    assert_eq!(
        report.first_failure.expect("failure").check,
        CheckName::Consistency
    );
}

#[test]
fn unusable_inputs() {
    let l = TestLedger::new(4);
    let json = l.receipt(1, 4, false).to_json();
    let no_keys = verify_file(json.as_bytes(), &[], &Options::default());
    assert_eq!(
        (no_keys.outcome, no_keys.exit_code()),
        (Outcome::Unusable, 2)
    );
    for junk in [
        &b"hello"[..],
        b"{\"format\":\"other/v1\"}",
        b"",
        b"\xff\xfe",
    ] {
        let r = verify_file(junk, &[l.vkey()], &Options::default());
        assert_eq!(r.outcome, Outcome::Unusable, "{junk:?}");
    }
    // Signed by a key the auditor does not trust: named, and unusable.
    let stranger = vanguard_verifier::SignerKey::from_seed(
        vanguard_verifier::KeyName::new("other.example/log").expect("name"),
        [9; 32],
    );
    let r = verify_file(
        json.as_bytes(),
        &[stranger.verifier_key()],
        &Options::default(),
    );
    assert_eq!(r.outcome, Outcome::Unusable);
    assert_eq!(r.untrusted_keys, [format!("{ORIGIN}+{}", l.key.id())]);
    let f = r.first_failure.expect("failure");
    assert!(f.message.contains("not trusted"), "{}", f.message);
}

/// A `--state` directory in memory.
struct State(RefCell<HashMap<String, String>>);

impl State {
    fn verify(&self, l: &TestLedger, bytes: &[u8]) -> vanguard_verifier::Report {
        let lookup = |o: &Origin| Ok(self.0.borrow().get(o.as_str()).cloned());
        let options = Options {
            remembered: Some(&lookup),
            anchor: None,
        };
        let report = verify_file(bytes, &[l.vkey()], &options);
        if let Some(r) = &report.remember {
            self.0.borrow_mut().insert(r.origin.clone(), r.note.clone());
        }
        report
    }
}

#[test]
fn remembered_checkpoints_flag_forks() {
    let l = TestLedger::new(30);
    let state = State(RefCell::new(HashMap::new()));
    // First sight: remembered.
    let r = state.verify(&l, l.checkpoint(10).as_bytes());
    assert!(r.is_valid() && r.remember.is_some());
    // Same size, same root: fine. Larger without proof: a warning, state kept.
    assert!(state.verify(&l, l.checkpoint(10).as_bytes()).is_valid());
    let r = state.verify(&l, l.receipt(2, 20, false).to_json().as_bytes());
    assert!(r.is_valid() && r.remember.is_none());
    assert!(r
        .warnings
        .iter()
        .any(|w| w.contains("cannot check consistency with remembered checkpoint of size 10")));
    // A consistency file from 10 to 20 advances it; a receipt carrying a proof from 20 too.
    assert!(state
        .verify(&l, l.consistency(10, 20).to_json().as_bytes())
        .remember
        .is_some());
    let hinted = l
        .receipt(4, 25, false)
        .with_consistency(vanguard_verifier::ConsistencyHint {
            old_size: 20,
            proof: vanguard_verifier::prove_tree(25, 20, &l.store).expect("proof"),
        });
    let r = state.verify(&l, hinted.to_json().as_bytes());
    assert!(r.is_valid() && r.remember.is_some(), "{}", r.to_text());

    // A fork: another tree of size 25 signed by the same key.
    let fork_root = vanguard_verifier::leaf_hash(b"a different history");
    let fork_cp =
        vanguard_verifier::Checkpoint::new(Origin::new(ORIGIN).expect("o"), 25, fork_root)
            .sign(&l.key)
            .expect("sign");
    let r = state.verify(&l, fork_cp.as_bytes());
    assert_eq!(r.outcome, Outcome::Invalid, "{}", r.to_text());
    assert_eq!(r.first_failure.expect("f").check, CheckName::Remembered);
}

#[test]
fn binary_exit_codes_and_json() {
    let l = TestLedger::new(10);
    let dir = std::env::temp_dir().join(format!("vg-verify-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let good = dir.join("good.receipt.json");
    std::fs::write(&good, l.receipt(3, 10, true).to_json()).expect("write");
    let bad = dir.join("bad.vgslice");
    let slice = String::from_utf8(l.slice(2, 8, 10, |_| true)).expect("utf-8");
    std::fs::write(&bad, slice.replacen("\"seq\":5", "\"seq\":6", 1)).expect("write");
    let keyfile = dir.join("log.vkey");
    std::fs::write(&keyfile, format!("# the log\n{}\n", l.vkey())).expect("write");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vanguard-verify"))
            .args(args)
            .output()
            .expect("run binary");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let vkey = l.vkey().to_string();
    let (code, text) = run(&[good.to_str().expect("p"), "--key", &vkey]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("VALID"));
    let (code, json) = run(&[
        bad.to_str().expect("p"),
        "--trust",
        keyfile.to_str().expect("p"),
        "--json",
    ]);
    assert_eq!(code, Some(1), "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("json report");
    assert_eq!(v["outcome"], "invalid");
    assert_eq!(v["first_failure"]["check"], "seq_contiguous");
    assert_eq!(v["first_failure"]["entry"], 6);
    let (code, _) = run(&[good.to_str().expect("p")]);
    assert_eq!(code, Some(2), "no key");
    let (code, _) = run(&["/nonexistent/file", "--key", &vkey]);
    assert_eq!(code, Some(2));
    let state = dir.join("state");
    let (code, _) = run(&[
        good.to_str().expect("p"),
        "--key",
        &vkey,
        "--state",
        state.to_str().expect("p"),
    ]);
    assert_eq!(code, Some(0));
    let remembered = std::fs::read_to_string(state.join("vanguard.local%2Ftest-ledger.checkpoint"))
        .expect("state file");
    assert_eq!(remembered, l.checkpoint(10));
    let _ = std::fs::remove_dir_all(&dir);
}
