//! The `vanguard ledger` and `vanguard keys` commands, driven as an operator would: real
//! ledgers recorded by `vanguard start` around a real (tiny) MCP server, then read, checked,
//! redacted and rotated through the binary.

mod common;

use base64::Engine as _;
use common::cli::{json, ok, record_session, run, spawn_proxy, text, vanguard, wait_bounded};
use common::echo_server;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use vanguard_verifier::{verify_checkpoint, Entry, VerifierKey};

const INITIALIZE: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#;
const BENIGN: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#;
const ATTACK: &str = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"../../../../etc/passwd"}}}"#;
/// Not JSON, not even UTF-8, with a terminal escape: kept byte for byte, shown as base64.
const MALFORMED: &[u8] = b"this is not json \xff\xfe \x1b[31m";

/// A ledger holding one session: initialize, a benign call, a blocked attack, a malformed line.
struct Recorded {
    _dir: tempfile::TempDir,
    ledger: String,
}

/// Entries that session makes: the start event; the four agent lines (each recorded, whether
/// forwarded or refused); the server's two answers (initialize and the benign call: the
/// blocked and the malformed lines never reach it); the stop event.
const SESSION_ENTRIES: u64 = 1 + 4 + 2 + 1;

fn recorded() -> Recorded {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = dir.path().join("l.redb").display().to_string();
    let out = record_session(
        &ledger,
        &[],
        &[
            INITIALIZE.as_bytes(),
            BENIGN.as_bytes(),
            ATTACK.as_bytes(),
            MALFORMED,
        ],
    );
    let replies = text(&out.stdout);
    assert!(replies.contains("Vanguard blocked"), "{replies}");
    Recorded { _dir: dir, ledger }
}

/// Every entry, parsed from `ledger log --json` (which prints them canonically).
fn entries(ledger: &str) -> Vec<(Vec<u8>, Entry)> {
    ok(&["ledger", "log", "--ledger", ledger, "--json"])
        .lines()
        .map(|l| {
            let e =
                Entry::parse_canonical(l.as_bytes()).expect("log --json prints canonical entries");
            (l.as_bytes().to_vec(), e)
        })
        .collect()
}

fn seq_of(ledger: &str, wire: &[u8]) -> u64 {
    let digest = vanguard_verifier::PayloadDigest::of(wire);
    entries(ledger)
        .into_iter()
        .find(|(_, e)| e.payload == Some(digest))
        .map(|(_, e)| e.seq)
        .unwrap_or_else(|| panic!("no entry records {}", text(wire)))
}

#[test]
fn status_counts_every_recorded_entry() {
    let r = recorded();
    let status = json(&["ledger", "status", "--ledger", &r.ledger, "--json"]);
    assert_eq!(status["size"], SESSION_ENTRIES, "{status}");
    assert_eq!(status["checkpoint_size"], SESSION_ENTRIES, "{status}");
    // Every message line is kept (the default policy); events have no payload.
    assert_eq!(status["payloads_kept"], SESSION_ENTRIES - 2, "{status}");
    assert_eq!(status["durability"], "fsync", "{status}");
    assert_eq!(status["key_file"], format!("{}.key", r.ledger), "{status}");
    assert_eq!(status["key_file_exists"], true, "{status}");
    let origin = status["origin"].as_str().expect("origin");
    assert!(origin.starts_with("vanguard.local/"), "{status}");
    assert!(
        status["vkey"]
            .as_str()
            .is_some_and(|v| v.starts_with(&format!("{origin}+"))),
        "{status}"
    );
    assert!(status["disk_bytes"].as_u64() > Some(0), "{status}");
    assert_eq!(status["root"].as_str().map(str::len), Some(64), "{status}");

    let all = entries(&r.ledger);
    assert_eq!(all.len() as u64, SESSION_ENTRIES);
    let types: Vec<_> = all
        .iter()
        .filter_map(|(_, e)| e.event.as_ref()?.get("type")?.as_str().map(str::to_owned))
        .collect();
    assert_eq!(types, ["start", "stop"]);

    let human = ok(&["ledger", "status", "--ledger", &r.ledger]);
    assert!(
        human.contains(&format!("entries     {SESSION_ENTRIES}")),
        "{human}"
    );
}

#[test]
fn log_filters_the_blocked_entry_with_its_rule() {
    let r = recorded();
    let out = ok(&[
        "ledger",
        "log",
        "--ledger",
        &r.ledger,
        "--verdict",
        "block",
        "--json",
    ]);
    let blocked: Vec<Entry> = out
        .lines()
        .map(|l| Entry::parse_canonical(l.as_bytes()).expect("canonical"))
        .collect();
    // The attack, and the malformed line (refused by L0).
    assert_eq!(blocked.len(), 2, "{out}");
    let attack = blocked
        .iter()
        .find(|e| e.tool.as_deref() == Some("read_file"))
        .expect("the attack is blocked");
    let verdict = attack.verdict.as_ref().expect("verdict");
    assert!(verdict.rules.iter().any(|r| r == "FS-007"), "{verdict:?}");
    assert_eq!(
        attack.payload,
        Some(vanguard_verifier::PayloadDigest::of(ATTACK.as_bytes()))
    );
    let malformed = blocked
        .iter()
        .find(|e| e.tool.is_none())
        .expect("malformed");
    assert_eq!(
        malformed.verdict.as_ref().expect("verdict").rules[0],
        "L0-MALFORMED"
    );

    let only_tool = ok(&[
        "ledger",
        "log",
        "--ledger",
        &r.ledger,
        "--verdict",
        "block",
        "--tool",
        "read_file",
        "--json",
    ]);
    assert_eq!(only_tool.lines().count(), 1, "{only_tool}");

    // The table names the rule too.
    let table = ok(&["ledger", "log", "--ledger", &r.ledger, "--verdict", "block"]);
    assert!(
        table.contains("read_file") && table.contains("FS-007"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 3, "{table}");
}

#[test]
fn log_ranges_and_limits() {
    let r = recorded();
    let all = entries(&r.ledger);
    let l = r.ledger.as_str();
    let seqs = |args: &[&str]| -> Vec<u64> {
        let mut a = vec!["ledger", "log", "--ledger", l, "--json"];
        a.extend_from_slice(args);
        ok(&a)
            .lines()
            .map(|x| Entry::parse_canonical(x.as_bytes()).expect("canonical").seq)
            .collect()
    };
    assert_eq!(seqs(&["--from", "2", "--to", "4"]), [2, 3, 4]);
    assert_eq!(seqs(&["--limit", "3"]), [0, 1, 2]);
    assert_eq!(seqs(&["--from", "6", "--limit", "10"]), [6, 7]);
    let session = all[1].1.session.clone();
    assert_eq!(seqs(&["--session", &session]).len() as u64, SESSION_ENTRIES);
    assert!(seqs(&["--session", "nope"]).is_empty());
    // Times: --since is inclusive, --until exclusive.
    let t3 = all[3].1.time.clone();
    let at_or_after: Vec<u64> = all
        .iter()
        .filter(|(_, e)| e.time >= t3)
        .map(|(_, e)| e.seq)
        .collect();
    let before: Vec<u64> = all
        .iter()
        .filter(|(_, e)| e.time < t3)
        .map(|(_, e)| e.seq)
        .collect();
    assert!(at_or_after.contains(&3) && before.contains(&2));
    assert_eq!(seqs(&["--since", &t3]), at_or_after);
    assert_eq!(seqs(&["--until", &t3]), before);
    assert!(seqs(&["--since", "2999-01-01"]).is_empty());
    assert_eq!(
        seqs(&["--until", "2999-01-01T00:00:00+02:00"]).len() as u64,
        SESSION_ENTRIES
    );
    let bad = run(&["ledger", "log", "--ledger", l, "--since", "yesterday"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("RFC 3339"),
        "{}",
        text(&bad.stderr)
    );
}

#[test]
fn show_prints_the_payload_exactly_as_sent() {
    let r = recorded();
    let seq = seq_of(&r.ledger, ATTACK.as_bytes()).to_string();
    let raw = run(&["ledger", "show", "--ledger", &r.ledger, &seq, "--raw"]);
    assert!(raw.status.success(), "{}", text(&raw.stderr));
    assert_eq!(raw.stdout, ATTACK.as_bytes());

    let shown = ok(&["ledger", "show", "--ledger", &r.ledger, &seq]);
    assert!(shown.contains(ATTACK), "{shown}");
    assert!(shown.contains("verdict: block by L1"), "{shown}");
    assert!(shown.contains("FS-007"), "{shown}");
    assert!(shown.contains("matches the entry's digest"), "{shown}");
    let (bytes, _) = entries(&r.ledger)
        .into_iter()
        .find(|(_, e)| e.seq.to_string() == seq)
        .expect("entry");
    let leaf = vanguard_verifier::leaf_hash(&bytes).to_string();
    assert!(shown.contains(&format!("leaf hash: {leaf}")), "{shown}");

    let as_json = json(&["ledger", "show", "--ledger", &r.ledger, &seq, "--json"]);
    assert_eq!(as_json["payload"]["text"], ATTACK);
    assert_eq!(as_json["leaf_hash"], leaf);
    assert_eq!(as_json["entry"]["tool"], "read_file");

    // The malformed line is kept too, byte for byte.
    let seq = seq_of(&r.ledger, MALFORMED).to_string();
    let raw = run(&["ledger", "show", "--ledger", &r.ledger, &seq, "--raw"]);
    assert_eq!(raw.stdout, MALFORMED);
    let shown = ok(&["ledger", "show", "--ledger", &r.ledger, &seq]);
    let b64 = base64::engine::general_purpose::STANDARD.encode(MALFORMED);
    assert!(shown.contains("not printable text, base64"), "{shown}");
    assert!(shown.contains(&b64), "{shown}");
    assert!(
        !shown.contains('\x1b'),
        "a terminal escape reached the terminal"
    );
    let as_json = json(&["ledger", "show", "--ledger", &r.ledger, &seq, "--json"]);
    assert_eq!(as_json["payload"]["base64"], b64);

    // An event has no payload; a seq past the end is an error.
    let start = ok(&["ledger", "show", "--ledger", &r.ledger, "0"]);
    assert!(start.contains("\"type\": \"start\""), "{start}");
    let past = run(&["ledger", "show", "--ledger", &r.ledger, "999"]);
    assert_eq!(past.status.code(), Some(2));
    assert!(
        text(&past.stderr).contains("there is no entry 999"),
        "{}",
        text(&past.stderr)
    );
}

#[test]
fn checkpoint_verifies_with_the_vkey_keys_show_prints() {
    let r = recorded();
    let note = ok(&["ledger", "checkpoint", "--ledger", &r.ledger]);
    let vkey_line = ok(&["keys", "show", "--ledger", &r.ledger]);
    let vkey: VerifierKey = vkey_line.trim().parse().expect("keys show prints a vkey");
    let cp = verify_checkpoint(note.as_bytes(), std::slice::from_ref(&vkey))
        .expect("the checkpoint verifies");
    assert_eq!(cp.size(), SESSION_ENTRIES);
    let status = json(&["ledger", "status", "--ledger", &r.ledger, "--json"]);
    assert_eq!(
        cp.root().to_string(),
        status["root"].as_str().expect("root")
    );

    // The key file gives the same vkey; --json adds origin and key id.
    let key = format!("{}.key", r.ledger);
    let from_key = json(&["keys", "show", "--key", &key, "--json"]);
    assert_eq!(from_key["vkey"], vkey.to_string());
    assert_eq!(from_key["origin"], vkey.name().as_str());
    assert_eq!(from_key["key_id"], vkey.id().to_string());
    assert_eq!(status["origin"], vkey.name().as_str());

    // A checkpoint for an exact size, and one that was never signed.
    let exact = ok(&[
        "ledger",
        "checkpoint",
        "--ledger",
        &r.ledger,
        "--size",
        &SESSION_ENTRIES.to_string(),
    ]);
    assert_eq!(exact, note);
    let none = run(&[
        "ledger",
        "checkpoint",
        "--ledger",
        &r.ledger,
        "--size",
        "999",
    ]);
    assert_eq!(none.status.code(), Some(2));
}

#[test]
fn check_passes_on_a_recorded_ledger_and_with_a_pinned_vkey() {
    let r = recorded();
    let out = ok(&["ledger", "check", "--ledger", &r.ledger]);
    assert!(
        out.starts_with(&format!("OK: {SESSION_ENTRIES} entries")),
        "{out}"
    );
    let vkey = ok(&["keys", "show", "--ledger", &r.ledger]);
    let pinned = json(&[
        "ledger",
        "check",
        "--ledger",
        &r.ledger,
        "--vkey",
        vkey.trim(),
        "--json",
    ]);
    assert_eq!(pinned["ok"], true, "{pinned}");
    assert_eq!(pinned["keys_pinned"], true, "{pinned}");
    assert_eq!(pinned["entries"], SESSION_ENTRIES);
}

#[test]
fn check_against_another_key_fails_with_exit_1_naming_the_checkpoint() {
    let r = recorded();
    let other = recorded();
    let other_vkey = ok(&["keys", "show", "--ledger", &other.ledger]);
    let out = run(&[
        "ledger",
        "check",
        "--ledger",
        &r.ledger,
        "--vkey",
        other_vkey.trim(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.starts_with("FAILED: checkpoint signature: checkpoint of size"),
        "{report}"
    );
}

#[test]
fn a_second_proxy_on_the_same_ledger_fails_fast_and_so_do_readers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = dir.path().join("l.redb").display().to_string();
    let mut first = spawn_proxy(&ledger, &[]);
    let mut stdin = first.stdin.take().expect("stdin");
    // Once the first proxy answers, it holds the ledger.
    stdin.write_all(INITIALIZE.as_bytes()).expect("write");
    stdin.write_all(b"\n").expect("write");
    stdin.flush().expect("flush");
    let mut reader = std::io::BufReader::new(first.stdout.take().expect("stdout"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut reader, &mut line).expect("read the answer");
    assert!(line.contains("vanguard-e2e-echo"), "{line}");

    let started = Instant::now();
    let child = vanguard()
        .args(["start", "--ledger", &ledger, "--", "python3"])
        .arg(echo_server())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Its stdin stays open (piped, never written): it must fail on the lock, not on EOF.
    let second = wait_bounded(child, "second proxy");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(second.status.code(), Some(2));
    let err = text(&second.stderr);
    assert!(err.contains("vanguard: error:"), "{err}");
    assert!(err.contains("in use by another process"), "{err}");

    for args in [
        &["ledger", "status", "--ledger", ledger.as_str()][..],
        &[
            "ledger",
            "redact",
            "--ledger",
            ledger.as_str(),
            "1",
            "--reason",
            "x",
        ],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains("in use by another process"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }

    drop(stdin);
    let out = wait_bounded(first, "first proxy");
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The refused start wrote nothing: one session of start, request, answer, stop.
    let status = json(&["ledger", "status", "--ledger", &ledger, "--json"]);
    assert_eq!(status["size"], 4, "{status}");
    ok(&["ledger", "check", "--ledger", &ledger]);
}

#[test]
fn redaction_removes_the_payload_and_the_ledger_still_checks() {
    let r = recorded();
    let l = r.ledger.as_str();
    let seq = seq_of(l, BENIGN.as_bytes());
    let seq_text = seq.to_string();
    let root_before = json(&["ledger", "status", "--ledger", l, "--json"])["root"].clone();

    let out = ok(&[
        "ledger",
        "redact",
        "--ledger",
        l,
        &seq_text,
        "--reason",
        "customer data",
    ]);
    let event_seq = SESSION_ENTRIES;
    assert!(
        out.contains(&format!("recorded as entry {event_seq}")),
        "{out}"
    );

    let shown = ok(&["ledger", "show", "--ledger", l, &seq_text]);
    assert!(
        shown.contains(&format!(
            "payload redacted (seq {event_seq}, reason \"customer data\")"
        )),
        "{shown}"
    );
    assert!(!shown.contains("hello"), "{shown}");
    let raw = run(&["ledger", "show", "--ledger", l, &seq_text, "--raw"]);
    assert_eq!(raw.status.code(), Some(2));
    assert!(raw.stdout.is_empty());

    // The redaction is an entry of its own, saying what went.
    let all = entries(l);
    assert_eq!(all.len() as u64, SESSION_ENTRIES + 1);
    let event = all[event_seq as usize].1.event.clone().expect("event");
    assert_eq!(event["type"], "redaction");
    assert_eq!(event["seq"], seq);
    assert_eq!(event["reason"], "customer data");
    assert_eq!(
        event["payload_blake3"],
        vanguard_verifier::Blake3Digest::of(BENIGN.as_bytes()).to_string()
    );

    // The entries commit to digests only: everything still checks, and the old root is a
    // prefix of the new tree (same entries, one more).
    let check = ok(&["ledger", "check", "--ledger", l]);
    assert!(
        check.starts_with(&format!("OK: {} entries", SESSION_ENTRIES + 1)),
        "{check}"
    );
    let status = json(&["ledger", "status", "--ledger", l, "--json"]);
    assert_eq!(status["payloads_kept"], SESSION_ENTRIES - 3);
    assert_ne!(status["root"], root_before);

    // Redacting it again, an event, or a missing entry: errors, nothing recorded.
    for (args, says) in [
        (vec![seq_text.as_str()], "payload redacted"),
        (vec!["0"], "an event entry has no payload"),
        (vec!["999"], "there is no entry 999"),
    ] {
        let mut a = vec!["ledger", "redact", "--ledger", l, "--reason", "again"];
        a.extend(args);
        let out = run(&a);
        assert_eq!(out.status.code(), Some(2), "{a:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{a:?}: {}",
            text(&out.stderr)
        );
    }
    let status = json(&["ledger", "status", "--ledger", l, "--json"]);
    assert_eq!(status["size"], SESSION_ENTRIES + 1);
}

#[test]
fn redact_refuses_a_key_that_is_not_the_ledgers() {
    let r = recorded();
    let other = recorded();
    let wrong_key = format!("{}.key", other.ledger);
    let out = run(&[
        "ledger", "redact", "--ledger", &r.ledger, "--key", &wrong_key, "1", "--reason", "x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is not this ledger's current signing key"),
        "{}",
        text(&out.stderr)
    );
    let missing = format!("{}.nope", r.ledger);
    let out = run(&[
        "ledger", "redact", "--ledger", &r.ledger, "--key", &missing, "1", "--reason", "x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no signing key at"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !Path::new(&missing).exists(),
        "no key may be created by a redaction"
    );
    let status = json(&["ledger", "status", "--ledger", &r.ledger, "--json"]);
    assert_eq!(status["size"], SESSION_ENTRIES);
}

#[test]
fn key_rotation_records_the_change_and_check_follows_it() {
    let r = recorded();
    let l = r.ledger.as_str();
    let old = ok(&["keys", "show", "--ledger", l]).trim().to_owned();
    let out = ok(&["keys", "rotate", "--ledger", l]);
    assert!(out.contains("key_rotation"), "{out}");
    let new = ok(&["keys", "show", "--ledger", l]).trim().to_owned();
    assert_ne!(old, new);
    assert_eq!(
        ok(&["keys", "show", "--key", &format!("{l}.key")]).trim(),
        new
    );
    let retired: Vec<_> = std::fs::read_dir(Path::new(l).parent().expect("dir"))
        .expect("read dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".key.retired-"))
        .collect();
    assert_eq!(retired.len(), 1);

    let all = entries(l);
    let event = all.last().expect("entries").1.event.clone().expect("event");
    assert_eq!(event["type"], "key_rotation");
    assert_eq!(event["previous_vkey"], old);
    assert_eq!(event["vkey"], new);

    // The ledger names both keys; an auditor pins both, and one alone is not enough.
    ok(&["ledger", "check", "--ledger", l]);
    ok(&[
        "ledger", "check", "--ledger", l, "--vkey", &old, "--vkey", &new,
    ]);
    let only_new = run(&["ledger", "check", "--ledger", l, "--vkey", &new]);
    assert_eq!(
        only_new.status.code(),
        Some(1),
        "{}",
        text(&only_new.stdout)
    );

    // The proxy carries on with the new key.
    record_session(l, &[], &[INITIALIZE.as_bytes()]);
    let note = ok(&["ledger", "checkpoint", "--ledger", l]);
    let vkey: VerifierKey = new.parse().expect("vkey");
    verify_checkpoint(note.as_bytes(), &[vkey]).expect("signed by the new key");
    ok(&[
        "ledger", "check", "--ledger", l, "--vkey", &old, "--vkey", &new,
    ]);
}

#[test]
fn missing_ledger_and_missing_flag_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nowhere = dir.path().join("nope.redb").display().to_string();
    for cmd in ["status", "log", "checkpoint", "check"] {
        let out = run(&["ledger", cmd, "--ledger", &nowhere]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = text(&out.stderr);
        assert!(err.starts_with("vanguard: error:"), "{cmd}: {err}");
        assert!(err.contains("no ledger at this path"), "{cmd}: {err}");
    }
    assert!(
        !Path::new(&nowhere).exists(),
        "reading must not create a ledger"
    );

    // No --ledger: say how to give one (HOME points at an empty directory).
    let out = vanguard()
        .args(["ledger", "status"])
        .env("HOME", dir.path())
        .env_remove("XDG_DATA_HOME")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--ledger PATH"),
        "{}",
        text(&out.stderr)
    );

    // A file that is not a ledger.
    let junk = dir.path().join("junk.redb");
    std::fs::write(&junk, b"not a database at all").expect("write");
    let out = run(&[
        "ledger",
        "status",
        "--ledger",
        junk.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("vanguard: error:"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_read_only_copy_can_be_read_and_checked() {
    let r = recorded();
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("copy.redb");
    std::fs::copy(&r.ledger, &copy).expect("copy");
    let mut perms = std::fs::metadata(&copy).expect("meta").permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&copy, perms).expect("chmod");
    let copy = copy.to_str().expect("utf-8");
    let before = std::fs::read(copy).expect("read");
    ok(&["ledger", "check", "--ledger", copy]);
    ok(&["ledger", "log", "--ledger", copy]);
    assert_eq!(
        std::fs::read(copy).expect("read"),
        before,
        "reading changed the file"
    );
}

#[test]
fn ledger_and_keys_help_explain_themselves_with_an_example() {
    for cmd in [
        &["ledger", "status"][..],
        &["ledger", "log"],
        &["ledger", "show"],
        &["ledger", "checkpoint"],
        &["ledger", "check"],
        &["ledger", "redact"],
        &["keys", "show"],
        &["keys", "rotate"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let help = ok(&args);
        assert!(help.contains("Example"), "{cmd:?}:\n{help}");
        assert!(help.contains("--ledger"), "{cmd:?}:\n{help}");
    }
}

/// Replaces entry `seq`'s stored bytes or payload directly in the redb file, as an attacker
/// with write access to the disk could.
fn tamper(ledger: &str, table: &str, seq: u64, bytes: &[u8]) {
    let db = redb::Database::open(ledger).expect("open the ledger file");
    let txn = db.begin_write().expect("write txn");
    {
        let def: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new(table);
        let mut t = txn.open_table(def).expect("table");
        t.insert(seq, bytes).expect("insert");
    }
    txn.commit().expect("commit");
}

#[test]
fn check_names_the_first_tampered_entry_and_exits_1() {
    let r = recorded();
    let all = entries(&r.ledger);
    // Entry 3 rewritten in canonical form with a harmless-looking verdict: the chain and the
    // signed tree no longer agree with it.
    let mut forged = all[3].1.clone();
    if let Some(v) = forged.verdict.as_mut() {
        v.action = vanguard_verifier::Action::Allow;
    }
    tamper(
        &r.ledger,
        "entries",
        3,
        &forged.canonical_bytes().expect("canonical"),
    );
    let out = run(&["ledger", "check", "--ledger", &r.ledger]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.starts_with("FAILED: entry 3: tree hashes:"),
        "{report}"
    );
    let as_json = run(&["ledger", "check", "--ledger", &r.ledger, "--json"]);
    assert_eq!(as_json.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&as_json.stdout).expect("json");
    assert_eq!(v["ok"], false);
    assert_eq!(v["problem"]["seq"], 3);
    assert_eq!(v["problem"]["check"], "tree hashes");
}

#[test]
fn check_finds_a_payload_that_is_not_the_one_its_entry_commits_to() {
    let r = recorded();
    let seq = seq_of(&r.ledger, BENIGN.as_bytes());
    let swapped = BENIGN.replace("hello", "HELLO");
    tamper(&r.ledger, "payloads", seq, swapped.as_bytes());
    let out = run(&["ledger", "check", "--ledger", &r.ledger]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.starts_with(&format!("FAILED: entry {seq}: payload digest:")),
        "{report}"
    );
    let shown = ok(&["ledger", "show", "--ledger", &r.ledger, &seq.to_string()]);
    assert!(shown.contains("DOES NOT MATCH"), "{shown}");
}

#[test]
fn the_log_table_escapes_control_characters_from_the_wire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = dir.path().join("l.redb").display().to_string();
    let hostile = r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"x\u001b]0;pwned\u0007","arguments":{}}}"#;
    record_session(&ledger, &[], &[hostile.as_bytes()]);
    let table = ok(&[
        "ledger", "log", "--ledger", &ledger, "--from", "1", "--to", "1",
    ]);
    assert!(
        !table.contains('\x1b') && !table.contains('\x07'),
        "{table:?}"
    );
    assert!(table.contains(r"x\u{1b}]0;pwned\u{7}"), "{table}");
    // --json keeps the entry exactly (JSON escapes it).
    let line = ok(&[
        "ledger", "log", "--ledger", &ledger, "--from", "1", "--to", "1", "--json",
    ]);
    let entry = Entry::parse_canonical(line.trim_end().as_bytes()).expect("canonical");
    assert_eq!(entry.tool.as_deref(), Some("x\u{1b}]0;pwned\u{7}"));
}
