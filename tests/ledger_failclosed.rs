//! Fail closed: when the ledger cannot record (disk full, file turned read-only), the proxy
//! forwards nothing more, tells the agent why (`-32002`, naming the ledger), keeps answering,
//! and loses nothing it had already committed.
//!
//! These tests need root (to mount a tmpfs, a read-only bind mount, or set `chattr +i`); where
//! the machine does not allow it they say so and skip. Every mount and attribute is undone by
//! a guard however the test ends.

mod common;

use common::{DirectionKey, ImmutableGuard, LedgerState, MountGuard, Proxy};
use std::collections::HashSet;
use std::path::Path;
use vanguard_verifier::PayloadDigest;

/// JSON-RPC error code for "the ledger could not record this, so it was not forwarded".
const LEDGER_UNAVAILABLE: i64 = -32002;

/// What the agent got for each request.
#[derive(Default)]
struct Replies {
    ok: Vec<i64>,
    refused: Vec<(i64, String)>,
}

impl Replies {
    /// Classifies one reply: a result, or the ledger's refusal (anything else fails the test).
    fn add(&mut self, id: i64, reply: &serde_json::Value) {
        if reply.get("result").is_some() {
            self.ok.push(id);
            return;
        }
        let error = &reply["error"];
        assert_eq!(
            error["code"], LEDGER_UNAVAILABLE,
            "request {id}: expected a result or the ledger's refusal, got {reply}"
        );
        let message = error["message"].as_str().unwrap_or_default().to_owned();
        assert!(
            message.contains("ledger"),
            "request {id}: the refusal does not say the ledger is why: {message:?}"
        );
        self.refused.push((id, message));
    }
}

/// Ids of the requests the echo server received (it records every line).
fn received_by_server(record: &Path) -> (HashSet<i64>, Vec<Vec<u8>>) {
    let text = std::fs::read(record).unwrap_or_default();
    let lines: Vec<Vec<u8>> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let ids = lines
        .iter()
        .filter_map(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
        .filter_map(|v| v["id"].as_i64())
        .collect();
    (ids, lines)
}

/// After the run: the ledger passes the check, and agrees with what each side saw. Every line
/// the server received is in the ledger (same bytes), every answer the agent got is in the
/// ledger, a request is in the ledger exactly when the server got it, and no refused request
/// has its response in the ledger.
fn assert_ledger_agrees(ledger: &Path, pid: u32, record: &Path, replies: &Replies) -> LedgerState {
    let key = common::verifier_key(ledger);
    let state = LedgerState::load(ledger, &key).expect("the ledger opens after the failure");
    state.assert_sound("after the failure");
    let messages = state.messages_of(pid);
    let (server_ids, server_lines) = received_by_server(record);
    let recorded: HashSet<(u64, [u8; 32])> = state
        .of_process(pid)
        .filter(|(_, e)| e.direction == vanguard_verifier::Direction::AgentToServer)
        .filter_map(|(_, e)| e.payload.map(|p| (p.len, p.blake3.0)))
        .collect();
    for line in &server_lines {
        let digest = PayloadDigest::of(line);
        assert!(
            recorded.contains(&(digest.len, digest.blake3.0)),
            "the server received a line the ledger does not hold: {}",
            String::from_utf8_lossy(&line[..line.len().min(200)])
        );
    }
    for id in &replies.ok {
        assert!(
            messages.contains_key(&(DirectionKey::Request, *id))
                && messages.contains_key(&(DirectionKey::Response, *id)),
            "the agent got the answer to {id}, but the ledger lost it"
        );
    }
    for (id, _) in &replies.refused {
        assert_eq!(
            messages.contains_key(&(DirectionKey::Request, *id)),
            server_ids.contains(id),
            "request {id}: in the ledger exactly when the server received it"
        );
        assert!(
            !messages.contains_key(&(DirectionKey::Response, *id)),
            "request {id} was refused, but its response is in the ledger"
        );
    }
    state
}

#[test]
fn disk_full_stops_forwarding_and_keeps_what_was_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mnt = dir.path().join("mnt");
    let _mount = match MountGuard::tmpfs(&mnt, "size=2m") {
        Ok(m) => m,
        Err(e) => {
            eprintln!("SKIPPED: cannot mount a 2 MiB tmpfs to fill ({e}); this test needs root");
            return;
        }
    };
    let ledger = mnt.join("l.redb");
    let record = dir.path().join("server-received.jsonl");
    let rules = common::write_rules(dir.path());
    let command = common::proxy_command(&ledger, &rules, Some(&record), &[]);
    let mut proxy = Proxy::spawn(command, &dir.path().join("proxy.stderr"));
    let pid = proxy.pid();
    let mut replies = Replies::default();
    // 64 KiB requests, echoed back: each round trip records ~128 KiB of payloads.
    let mut first_refused = None;
    for id in 1..=200 {
        let reply = proxy.call(id, &common::tool_call(id, 64 * 1024));
        replies.add(id, &reply);
        if reply.get("error").is_some() {
            first_refused.get_or_insert(id);
        }
        if first_refused.is_some_and(|f| id >= f + 4) {
            break;
        }
    }
    let first_refused = first_refused
        .expect("200 requests of 64 KiB all went through a 2 MiB ledger: nothing failed closed");
    assert!(
        first_refused > 2,
        "the ledger refused from the start ({first_refused}): not a disk-full test"
    );
    // The proxy still answers every request, small ones too.
    for id in 1001..=1003 {
        let reply = proxy.call(id, &common::tool_call(id, 10));
        replies.add(id, &reply);
    }
    eprintln!(
        "{} answered, then refused: {:?}",
        replies.ok.len(),
        replies
            .refused
            .iter()
            .map(|(id, m)| format!("{id}: {m}"))
            .collect::<Vec<_>>()
    );
    // Every refusal names the cause, not redb's "previous I/O error" that follows it.
    for (id, message) in &replies.refused {
        assert!(
            message.contains("No space left on device"),
            "refusal of {id} does not say the disk is full: {message}"
        );
    }
    let status = proxy.finish();
    eprintln!("proxy exited with {status}");
    let (server_ids, _) = received_by_server(&record);
    assert!(
        replies
            .refused
            .iter()
            .any(|(id, _)| !server_ids.contains(id)),
        "every refused request reached the server anyway"
    );
    // Opened in place, on the still-full filesystem.
    assert_ledger_agrees(&ledger, pid, &record, &replies);
}

#[test]
fn ledger_made_read_only_mid_run_stops_forwarding() {
    // ext4 (or another filesystem with the immutable attribute) refuses writes through file
    // descriptors already open once the attribute is set; remounting read-only is refused while
    // the proxy holds the file open for writing.
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = dir.path().join("l.redb");
    let record = dir.path().join("server-received.jsonl");
    let rules = common::write_rules(dir.path());
    let command = common::proxy_command(&ledger, &rules, Some(&record), &[]);
    let mut proxy = Proxy::spawn(command, &dir.path().join("proxy.stderr"));
    let pid = proxy.pid();
    let mut replies = Replies::default();
    for id in 1..=5 {
        let reply = proxy.call(id, &common::tool_call(id, 100));
        replies.add(id, &reply);
    }
    assert_eq!(
        replies.ok,
        [1, 2, 3, 4, 5],
        "the proxy works before the change"
    );
    let immutable = match ImmutableGuard::set(&ledger) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("SKIPPED: cannot chattr +i the ledger ({e}); needs root and ext4/xfs/btrfs");
            return;
        }
    };
    for id in 6..=10 {
        let reply = proxy.call(id, &common::tool_call(id, 100));
        replies.add(id, &reply);
    }
    let refused: Vec<i64> = replies.refused.iter().map(|r| r.0).collect();
    assert_eq!(
        refused,
        [6, 7, 8, 9, 10],
        "nothing is forwarded once the ledger is read-only"
    );
    eprintln!("refusal: {}", replies.refused[0].1);
    let status = proxy.finish();
    eprintln!("proxy exited with {status}");
    drop(immutable);
    let (server_ids, _) = received_by_server(&record);
    assert_eq!(
        server_ids,
        (1..=5).collect(),
        "the server received exactly the requests recorded before the change"
    );
    let state = assert_ledger_agrees(&ledger, pid, &record, &replies);
    // start event, five requests and five responses; the stop event could not be written.
    assert_eq!(state.of_process(pid).count(), 11);
}

#[test]
fn read_only_ledger_refuses_to_start_and_is_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let ledger = data.join("l.redb");
    let rules = common::write_rules(dir.path());
    // A ledger with a session in it.
    let command = common::proxy_command(&ledger, &rules, None, &[]);
    let mut proxy = Proxy::spawn(command, &dir.path().join("first.stderr"));
    for id in 1..=3 {
        let reply = proxy.call(id, &common::tool_call(id, 100));
        assert!(reply.get("result").is_some(), "{reply}");
    }
    assert!(proxy.finish().success());
    let before = std::fs::read(&ledger).expect("read ledger");

    let ro = dir.path().join("ro");
    let _mount = match MountGuard::bind_read_only(&data, &ro) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("SKIPPED: cannot make a read-only bind mount ({e}); this test needs root");
            return;
        }
    };
    let ro_ledger = ro.join("l.redb");
    let record = dir.path().join("server-received.jsonl");
    let command = common::proxy_command(&ro_ledger, &rules, Some(&record), &[]);
    let mut proxy = Proxy::spawn(command, &dir.path().join("ro.stderr"));
    // The agent may get its request in before the proxy gives up; it must not be forwarded.
    let _ = proxy.send(&common::tool_call(1, 100));
    let stderr_path = proxy.stderr_path.clone();
    let status = proxy.finish();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(
        !status.success(),
        "the proxy ran on a read-only ledger; stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("vanguard: error:") && stderr.contains(&ro_ledger.display().to_string()),
        "the error does not name the ledger:\n{stderr}"
    );
    eprintln!("refused to start: {}", stderr.trim());
    let (server_ids, _) = received_by_server(&record);
    assert!(server_ids.is_empty(), "the server received {server_ids:?}");
    assert_eq!(
        std::fs::read(&ledger).expect("read ledger"),
        before,
        "the ledger file changed"
    );
    let key = common::verifier_key(&ledger);
    let state = LedgerState::load(&ledger, &key).expect("opens");
    state.assert_sound("after the refused start");
}
