//! The auditor's flow, end to end through the binary: record a session with `vanguard start`,
//! take a receipt for the blocked call (`ledger proof`), a slice (`ledger export`) and a
//! consistency proof (`ledger consistency`), and check each with `vanguard verify` and the
//! ledger's vkey; tampered evidence and a wrong key are refused with the documented exit codes.

mod common;

use base64::Engine as _;
use common::cli::{ok, run, text};
use common::echo_server;
use std::path::{Path, PathBuf};
use std::process::Output;
use vanguard_verifier::{SignerKey, VerifierKey};

const INITIALIZE: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#;
const ATTACK: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"../../../../etc/passwd"}}}"#;
const BENIGN: &str = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#;

/// `vanguard verify FILE --key VKEY`: (exit code, stdout + stderr).
fn verify(file: &Path, key: &str) -> (i32, String) {
    let out = run(&["verify", &file.display().to_string(), "--key", key]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    (out.status.code().expect("exit code"), all)
}

fn assert_valid(file: &Path, key: &str) {
    let (code, out) = verify(file, key);
    assert_eq!(code, 0, "{} should verify:\n{out}", file.display());
}

/// Records one proxy session on `ledger`; returns the agent-facing replies.
fn record_session(ledger: &str, lines: &[&str]) -> String {
    text(&record_session_with(ledger, &[], lines).stdout)
}

/// Records one proxy session on `ledger` with more `vanguard start` options.
fn record_session_with(ledger: &str, options: &[&str], lines: &[&str]) -> Output {
    common::cli::record_session(ledger, options, lines)
}

/// The `ledger_index` of the blocked reply to request `id`.
fn blocked_index(replies: &str, id: u64) -> u64 {
    let reply = replies
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no reply to request {id}: {replies}"));
    reply["error"]["data"]["ledger_index"]
        .as_u64()
        .unwrap_or_else(|| panic!("request {id} was not blocked with a ledger index: {reply}"))
}

fn checkpoint_size(ledger: &str) -> u64 {
    let status: serde_json::Value =
        serde_json::from_str(&ok(&["ledger", "status", "--ledger", ledger, "--json"]))
            .expect("status json");
    status["checkpoint_size"].as_u64().expect("a checkpoint")
}

struct Flow {
    dir: tempfile::TempDir,
    ledger: String,
    vkey: String,
    blocked: u64,
    session: String,
    /// The latest checkpoint size after the first session.
    first_size: u64,
}

impl Flow {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Two sessions on one ledger (so there are two checkpoints), the first with a blocked attack.
fn flow() -> Flow {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = dir.path().join("l.redb").display().to_string();
    let replies = record_session(&ledger, &[INITIALIZE, ATTACK, BENIGN]);
    let blocked = blocked_index(&replies, 2);
    let log = ok(&["ledger", "log", "--ledger", &ledger, "--json"]);
    let first: serde_json::Value =
        serde_json::from_str(log.lines().next().expect("an entry")).expect("entry json");
    let session = first["session"].as_str().expect("session").to_owned();
    let first_size = checkpoint_size(&ledger);
    record_session(&ledger, &[INITIALIZE, BENIGN]);
    let vkey = ok(&["keys", "show", "--ledger", &ledger]).trim().to_owned();
    Flow {
        dir,
        ledger,
        vkey,
        blocked,
        session,
        first_size,
    }
}

/// `start --receipts-dir`: each blocked call's receipt appears as `<ledger index>.receipt.json`
/// without being asked for, verifies with the ledger's vkey, holds the payload only with
/// `--receipt-payloads`, and nothing is written for calls that were let through.
#[test]
fn receipts_dir_gets_a_verifiable_receipt_for_each_blocked_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = dir.path().join("l.redb").display().to_string();
    // Created on demand, nested.
    let receipts = dir.path().join("evidence/receipts");
    let receipts_arg = receipts.display().to_string();
    let out = record_session_with(
        &ledger,
        &["--receipts-dir", &receipts_arg],
        &[INITIALIZE, ATTACK, BENIGN],
    );
    let first = blocked_index(&text(&out.stdout), 2);
    let out = record_session_with(
        &ledger,
        &["--receipts-dir", &receipts_arg, "--receipt-payloads"],
        &[INITIALIZE, BENIGN, ATTACK],
    );
    let second = blocked_index(&text(&out.stdout), 2);
    let mut names: Vec<String> = std::fs::read_dir(&receipts)
        .expect("receipts dir exists")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    let mut expected = vec![
        format!("{first}.receipt.json"),
        format!("{second}.receipt.json"),
    ];
    expected.sort();
    assert_eq!(
        names, expected,
        "one receipt per blocked call, nothing else"
    );

    let vkey = ok(&["keys", "show", "--ledger", &ledger]).trim().to_owned();
    for (seq, payload) in [(first, None), (second, Some(ATTACK))] {
        let file = receipts.join(format!("{seq}.receipt.json"));
        assert_valid(&file, &vkey);
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
        assert_eq!(json["format"], "vanguard-receipt/v1");
        assert_eq!(json["entry"]["seq"], seq);
        assert_eq!(json["entry"]["verdict"]["action"], "block");
        let kept = json["payload"].as_str().map(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .expect("base64")
        });
        assert_eq!(kept.as_deref(), payload.map(str::as_bytes), "receipt {seq}");
        // The entry is exactly the one `ledger proof` proves.
        let proof: serde_json::Value = serde_json::from_str(&ok(&[
            "ledger",
            "proof",
            &seq.to_string(),
            "--ledger",
            &ledger,
        ]))
        .expect("proof json");
        assert_eq!(json["entry"], proof["entry"]);
    }
}

/// A receipt that cannot be written is logged with its reason and the session carries on.
#[test]
fn a_receipt_that_cannot_be_written_does_not_stop_the_proxy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = dir.path().join("l.redb").display().to_string();
    let receipts = dir.path().join("receipts");
    // Whatever index the attack gets, its receipt's name is taken by a non-empty directory.
    for seq in 0..16 {
        let blocker = receipts.join(format!("{seq}.receipt.json"));
        std::fs::create_dir_all(blocker.join("occupied")).expect("mkdir");
    }
    let receipts_arg = receipts.display().to_string();
    let out = record_session_with(
        &ledger,
        &["--receipts-dir", &receipts_arg],
        &[INITIALIZE, ATTACK, BENIGN],
    );
    let replies = text(&out.stdout);
    let seq = blocked_index(&replies, 2);
    assert!(
        seq < 16,
        "the attack's index {seq} is past the occupied names"
    );
    assert!(
        replies.contains("\"id\":3") && replies.contains("hello"),
        "the call after the failed receipt was still answered: {replies}"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("could not write the receipt") && stderr.contains(&format!("seq={seq}")),
        "the failure is logged with the entry: {stderr}"
    );
    // A directory that cannot be created stops the start with a clear error.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").expect("write");
    let out = run(&[
        "start",
        "--ledger",
        &ledger,
        "--receipts-dir",
        &file.join("sub").display().to_string(),
        "--",
        "python3",
        &echo_server().display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--receipts-dir"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn audit_flow_receipt_slice_and_consistency_verify() {
    let f = flow();

    // Receipt for the blocked call, with its payload.
    let receipt = f.path("receipt.json");
    let seq = f.blocked.to_string();
    ok(&[
        "ledger",
        "proof",
        &seq,
        "--with-payload",
        "-o",
        &receipt.display().to_string(),
        "--ledger",
        &f.ledger,
    ]);
    assert_valid(&receipt, &f.vkey);
    let original = std::fs::read_to_string(&receipt).expect("receipt");
    let json: serde_json::Value = serde_json::from_str(&original).expect("receipt json");
    assert_eq!(json["entry"]["seq"], f.blocked);
    assert_eq!(json["entry"]["verdict"]["action"], "block");
    let payload = base64::engine::general_purpose::STANDARD
        .decode(json["payload"].as_str().expect("payload kept"))
        .expect("base64");
    assert_eq!(payload, ATTACK.as_bytes());

    // Without -o, the same receipt on stdout.
    let stdout = ok(&[
        "ledger",
        "proof",
        &seq,
        "--with-payload",
        "--ledger",
        &f.ledger,
    ]);
    assert_eq!(stdout, original);

    // One character of the rule id changed: the entry is no longer the one in the tree.
    let rule = json["entry"]["verdict"]["rules"][0]
        .as_str()
        .expect("a rule matched");
    let mut forged_rule = rule.to_owned();
    let last = forged_rule.pop().expect("non-empty rule id");
    forged_rule.push(if last == 'x' { 'y' } else { 'x' });
    let tampered = original.replacen(&format!("\"{rule}\""), &format!("\"{forged_rule}\""), 1);
    assert_ne!(tampered, original);
    let bad = f.path("tampered-rule.json");
    std::fs::write(&bad, &tampered).expect("write");
    let (code, out) = verify(&bad, &f.vkey);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("entry is included in the checkpoint"), "{out}");

    // One character of the payload changed: it no longer matches the entry's digest.
    let forged_payload = String::from_utf8(payload)
        .expect("utf-8")
        .replace("passwd", "shadow");
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let tampered = original.replacen(
        json["payload"].as_str().expect("payload"),
        &b64(forged_payload.as_bytes()),
        1,
    );
    let bad = f.path("tampered-payload.json");
    std::fs::write(&bad, &tampered).expect("write");
    let (code, out) = verify(&bad, &f.vkey);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("payloads match their digests"), "{out}");

    // A key that is not the ledger's: the input cannot be checked at all.
    let vkey: VerifierKey = f.vkey.parse().expect("vkey");
    let other = SignerKey::from_seed(vkey.name().clone(), [7; 32]).verifier_key();
    let (code, out) = verify(&receipt, &other.to_string());
    assert_eq!(code, 2, "{out}");

    // The first session as a slice, with payloads.
    let slice = f.path("session.vgslice");
    let stderr = run(&[
        "ledger",
        "export",
        "--session",
        &f.session,
        "--with-payloads",
        "-o",
        &slice.display().to_string(),
        "--ledger",
        &f.ledger,
    ]);
    assert!(stderr.status.success(), "{}", text(&stderr.stderr));
    assert_valid(&slice, &f.vkey);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&slice)
        .expect("slice")
        .lines()
        .map(|l| serde_json::from_str(l).expect("slice line"))
        .collect();
    assert_eq!(lines[0]["filter"]["session"], f.session.as_str());
    assert_eq!(lines[0]["begin"], 0);
    assert_eq!(
        lines[0]["end"], f.first_size,
        "the first session is the whole first checkpoint"
    );
    assert!(lines
        .iter()
        .any(|l| l["entry"]["seq"] == f.blocked && l["payload"].is_string()));
    assert!(lines.last().expect("trailer")["checkpoint"].is_string());
    // No partial file is left behind.
    assert!(!f.path("session.vgslice.partial").exists());

    // Entries 1..=3, only blocked ones in full.
    let blocked_slice = f.path("blocked.vgslice");
    ok(&[
        "ledger",
        "export",
        "--from",
        "1",
        "--to",
        "3",
        "--verdict",
        "block",
        "-o",
        &blocked_slice.display().to_string(),
        "--ledger",
        &f.ledger,
    ]);
    assert_valid(&blocked_slice, &f.vkey);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&blocked_slice)
        .expect("slice")
        .lines()
        .map(|l| serde_json::from_str(l).expect("slice line"))
        .collect();
    assert_eq!(lines[0]["filter"]["verdict"], "block");
    assert_eq!(
        (lines[0]["begin"].as_u64(), lines[0]["end"].as_u64()),
        (Some(1), Some(4))
    );
    assert_eq!(lines.len(), 1 + 3 + 1);
    for l in &lines[1..4] {
        if let Some(e) = l.get("entry") {
            assert_eq!(e["verdict"]["action"], "block", "{l}");
        }
    }
    if (1..=3).contains(&f.blocked) {
        assert!(lines.iter().any(|l| l["entry"]["seq"] == f.blocked));
    }

    // A tampered slice: one leaf hash changed.
    let original = std::fs::read_to_string(&blocked_slice).expect("slice");
    let leaf = lines[1..4]
        .iter()
        .find_map(|l| l["leaf"].as_str())
        .expect("a leaf line");
    let mut forged = leaf.to_owned();
    let c = forged.pop().expect("hex");
    forged.push(if c == '0' { '1' } else { '0' });
    let bad = f.path("tampered.vgslice");
    std::fs::write(&bad, original.replacen(leaf, &forged, 1)).expect("write");
    let (code, out) = verify(&bad, &f.vkey);
    assert_eq!(code, 1, "{out}");

    // Consistency between the first session's checkpoint and the latest, and explicit sizes.
    let latest = checkpoint_size(&f.ledger);
    assert!(latest > f.first_size);
    let cons = f.path("consistency.json");
    ok(&[
        "ledger",
        "consistency",
        &f.first_size.to_string(),
        "-o",
        &cons.display().to_string(),
        "--ledger",
        &f.ledger,
    ]);
    assert_valid(&cons, &f.vkey);
    let explicit = ok(&[
        "ledger",
        "consistency",
        &f.first_size.to_string(),
        &latest.to_string(),
        "--ledger",
        &f.ledger,
    ]);
    assert_eq!(
        explicit,
        std::fs::read_to_string(&cons).expect("consistency")
    );
}

#[test]
fn evidence_commands_refuse_what_they_cannot_prove() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = dir.path().join("l.redb").display().to_string();
    record_session(&ledger, &[INITIALIZE, BENIGN]);
    let size = checkpoint_size(&ledger);
    let out_file = dir.path().join("x.vgslice").display().to_string();

    // No such entry.
    let out = run(&["ledger", "proof", "9999", "--ledger", &ledger]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no entry 9999"),
        "{}",
        text(&out.stderr)
    );

    // A checkpoint size never signed.
    let out = run(&["ledger", "consistency", "9999", "--ledger", &ledger]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("9999"), "{}", text(&out.stderr));

    // An unknown session, and no selection at all.
    let out = run(&[
        "ledger",
        "export",
        "--session",
        "nope",
        "-o",
        &out_file,
        "--ledger",
        &ledger,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("nope"), "{}", text(&out.stderr));
    assert!(!Path::new(&out_file).exists());
    let out = run(&["ledger", "export", "-o", &out_file, "--ledger", &ledger]);
    assert!(!out.status.success());

    // A range past the end is cut at the latest signed checkpoint, and says so.
    let out = run(&[
        "ledger", "export", "--from", "0", "--to", "9999", "-o", &out_file, "--ledger", &ledger,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let header: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&out_file)
            .expect("slice")
            .lines()
            .next()
            .expect("header"),
    )
    .expect("header json");
    assert_eq!(header["end"], size);
    assert!(
        text(&out.stderr).contains("left out"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn evidence_commands_explain_themselves_with_an_example() {
    for cmd in ["proof", "export", "consistency"] {
        let help = ok(&["ledger", cmd, "--help"]);
        assert!(help.contains("Examples:"), "{cmd}: {help}");
        assert!(
            help.contains(&format!("vanguard ledger {cmd}")),
            "{cmd}: {help}"
        );
    }
}
