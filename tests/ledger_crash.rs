//! Crash safety: `kill -9` the proxy under pipelined load, many times, on one ledger.
//!
//! After every kill the ledger must open (redb repairs it), pass the full check, keep every
//! entry it had before the crash, and hold both entries (the agent's request and the server's
//! response) for every response the agent received: audit-first means nothing reaches a peer
//! before its entry is committed, so a crash can lose only messages nobody saw.
//!
//! Kill points come from a seeded RNG; the seed is printed (`VANGUARD_CRASH_SEED` replays it).

mod common;

use common::{DirectionKey, LedgerState, Proxy, Rng};
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vanguard_verifier::{leaf_hash, PayloadDigest};

/// Crash rounds; each is a fresh proxy process on the same ledger.
const ROUNDS: u64 = 15;
/// Stop starting new rounds past this (debug builds on a slow machine), after a minimum.
const BUDGET: Duration = Duration::from_secs(45);
const MIN_ROUNDS: u64 = 6;
/// Requests the agent keeps in flight.
const WINDOW: u64 = 256;

/// What the agent saw in one round.
struct Round {
    pid: u32,
    sent: u64,
    /// Complete response lines received.
    responses: Vec<Vec<u8>>,
    /// Ids of responses cut short by the kill (only their start arrived).
    partial_ids: Vec<i64>,
}

/// Starts the proxy, pipelines requests from one thread while this one collects responses,
/// and SIGKILLs the proxy `kill_after` after the first response (or after spawning, if
/// `early`: a crash while the proxy is still opening the ledger).
fn crash_round(
    dir: &std::path::Path,
    ledger: &std::path::Path,
    rules: &std::path::Path,
    base_id: i64,
    filler: usize,
    early: bool,
    kill_after: Duration,
) -> Round {
    let command = common::proxy_command(ledger, rules, None, &[]);
    let mut proxy = Proxy::spawn(command, &dir.join("proxy.stderr"));
    let pid = proxy.pid();
    // The agent keeps up to WINDOW requests in flight: a deep pipeline, but one that does not
    // grow the ledger by thousands of unanswered requests per round.
    let received = Arc::new(AtomicU64::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let stdin = proxy.stdin.take().expect("stdin");
    let client = {
        let received = received.clone();
        let killed = killed.clone();
        std::thread::spawn(move || {
            let mut w = BufWriter::with_capacity(16 * 1024, stdin);
            let mut sent = 0u64;
            for i in 0..1_000_000i64 {
                while sent >= received.load(Ordering::Relaxed) + WINDOW {
                    if killed.load(Ordering::Relaxed) || w.flush().is_err() {
                        return sent;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                if w.write_all(&common::tool_call(base_id + i, filler))
                    .is_err()
                    || w.write_all(b"\n").is_err()
                    || (i % 8 == 7 && w.flush().is_err())
                {
                    break;
                }
                sent += 1;
            }
            let _ = w.flush();
            sent
        })
    };
    let lines_rx = std::mem::replace(&mut proxy.lines, std::sync::mpsc::channel().1);
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    let collector = {
        let received = received.clone();
        std::thread::spawn(move || {
            let mut lines = Vec::new();
            // Ends when the reader sees the proxy's stdout close.
            while let Ok(line) = lines_rx.recv() {
                lines.push(line);
                if received.fetch_add(1, Ordering::Relaxed) == 0 {
                    let _ = first_tx.send(());
                }
            }
            lines
        })
    };
    if early {
        std::thread::sleep(kill_after);
    } else {
        if let Err(e) = first_rx.recv_timeout(common::TIMEOUT) {
            panic!(
                "no response within {:?} ({e}); proxy stderr:\n{}",
                common::TIMEOUT,
                proxy.stderr()
            );
        }
        std::thread::sleep(kill_after);
    }
    let children = proxy.children();
    proxy.child.kill().expect("SIGKILL the proxy");
    proxy.child.wait().expect("reap the proxy");
    killed.store(true, Ordering::Relaxed);
    // The reader sees end of output now: the collector ends with everything it read.
    let lines = collector.join().expect("collector thread");
    let sent = client.join().expect("client thread");
    for child in children {
        // The echo server gets SIGTERM from PR_SET_PDEATHSIG.
        assert!(
            common::wait_gone(child, Duration::from_secs(10)),
            "the server (pid {child}) outlived the killed proxy"
        );
    }
    let mut responses = Vec::new();
    let mut partial_ids = Vec::new();
    for line in lines {
        if serde_json::from_slice::<serde_json::Value>(&line).is_ok() {
            responses.push(line);
        } else {
            // Cut by the kill: the bytes that did arrive were forwarded all the same.
            partial_ids.extend(id_prefix(&line));
        }
    }
    Round {
        pid,
        sent,
        responses,
        partial_ids,
    }
}

/// The id of a response whose first bytes are `{"jsonrpc":"2.0","id":N,...`.
fn id_prefix(line: &[u8]) -> Option<i64> {
    let text = String::from_utf8_lossy(line);
    let rest = &text[text.find("\"id\":")? + 5..];
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    rest[..end].parse().ok()
}

#[test]
fn kill_9_under_load_loses_nothing_that_was_forwarded() {
    let seed = common::seed("VANGUARD_CRASH_SEED");
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = dir.path().join("l.redb");
    let rules = common::write_rules(dir.path());
    let started = Instant::now();
    // (size, last entry bytes) after the previous round: a crash must not lose them.
    let mut before: Option<(u64, Vec<u8>)> = None;
    let mut loaded_kills = 0;
    let mut rounds = 0;
    for round in 0..ROUNDS {
        if round >= MIN_ROUNDS && started.elapsed() > BUDGET {
            eprintln!("time budget spent after {round} rounds");
            break;
        }
        rounds += 1;
        // One round in five kills during start-up (opening, repairing, creating the ledger).
        let early = round % 5 == 1;
        let kill_after = Duration::from_millis(if early {
            rng.range(0, 400)
        } else {
            rng.range(5, 200)
        });
        let filler = [0, 0, 100, 3000][rng.range(0, 4) as usize];
        let base_id = (round as i64 + 1) * 1_000_000;
        let r = crash_round(
            dir.path(),
            &ledger,
            &rules,
            base_id,
            filler,
            early,
            kill_after,
        );
        let context = format!(
            "seed {seed} round {round} (early {early}, kill after {kill_after:?}, filler {filler})"
        );
        if !ledger.exists() {
            assert!(
                r.responses.is_empty() && r.partial_ids.is_empty(),
                "{context}: responses came back but there is no ledger"
            );
            eprintln!("{context}: killed before the ledger existed");
            continue;
        }
        let key_file = vanguard::ledger::default_key_path(&ledger);
        if !key_file.exists() {
            // Killed between creating the ledger file and its key: nothing can be in it.
            let db = vanguard::ledger::open_for_reading(&ledger)
                .unwrap_or_else(|e| panic!("{context}: crashed ledger does not open: {e}"));
            let size = vanguard::ledger::Snapshot::new(&db)
                .and_then(|s| s.size())
                .expect("size");
            assert_eq!(size, 0, "{context}: entries but no key file");
            assert!(r.responses.is_empty(), "{context}");
            eprintln!("{context}: killed before the key existed");
            continue;
        }
        let key = common::verifier_key(&ledger);
        let checking = Instant::now();
        let state = LedgerState::load(&ledger, &key)
            .unwrap_or_else(|e| panic!("{context}: crashed ledger does not open: {e}"));
        let checked_in = checking.elapsed();
        state.assert_sound(&context);
        if let Some((size, last)) = &before {
            assert!(
                state.size() >= *size,
                "{context}: ledger shrank from {size} to {} entries",
                state.size()
            );
            assert_eq!(
                &state.entries[*size as usize - 1].0,
                last,
                "{context}: entry {} changed across the crash",
                size - 1
            );
        }
        let messages = state.messages_of(r.pid);
        for line in &r.responses {
            let v: serde_json::Value = serde_json::from_slice(line).expect("json");
            let id = v["id"]
                .as_i64()
                .unwrap_or_else(|| panic!("{context}: no id: {v}"));
            assert!(v.get("result").is_some(), "{context}: not a result: {v}");
            let request = messages.get(&(DirectionKey::Request, id));
            assert!(
                request.is_some_and(|e| e.method.as_deref() == Some("tools/call")),
                "{context}: the agent got the response to {id} but its request is not in the ledger"
            );
            let response = messages
                .get(&(DirectionKey::Response, id))
                .unwrap_or_else(|| {
                    panic!("{context}: the agent got response {id} but it is not in the ledger")
                });
            assert_eq!(
                response.payload,
                Some(PayloadDigest::of(line)),
                "{context}: response {id} differs from what the ledger recorded"
            );
        }
        for id in &r.partial_ids {
            assert!(
                messages.contains_key(&(DirectionKey::Request, *id))
                    && messages.contains_key(&(DirectionKey::Response, *id)),
                "{context}: part of response {id} reached the agent but it is not in the ledger"
            );
        }
        let added = state.size() - before.as_ref().map_or(0, |b| b.0);
        eprintln!(
            "{context}: sent {}, received {} (+{} cut), ledger +{added} = {} entries, checked in {checked_in:.1?}",
            r.sent,
            r.responses.len(),
            r.partial_ids.len(),
            state.size()
        );
        if !early && r.sent > r.responses.len() as u64 {
            loaded_kills += 1;
        }
        if state.size() > 0 {
            let last = state.entries.last().expect("entries").0.clone();
            before = Some((state.size(), last));
        }
    }
    assert!(
        loaded_kills >= rounds / 2,
        "only {loaded_kills} of {rounds} rounds killed the proxy with requests in flight"
    );

    // A clean run on the crashed ledger: the chain continues from the last surviving entry.
    let (size_before, last_before) = before.expect("some round recorded entries");
    let command = common::proxy_command(&ledger, &rules, None, &[]);
    let mut proxy = Proxy::spawn(command, &dir.path().join("proxy.stderr"));
    let pid = proxy.pid();
    for id in 1..=20 {
        let reply = proxy.call(id, &common::tool_call(id, 10));
        assert!(reply.get("result").is_some(), "{reply}");
    }
    let status = proxy.finish();
    assert!(status.success(), "restarted proxy exited with {status}");
    let key = common::verifier_key(&ledger);
    let state = LedgerState::load(&ledger, &key).expect("ledger opens after the restart");
    state.assert_sound("after the restart");
    // Everything after the crashed prefix is the restarted proxy's, chained onto that prefix.
    let after = &state.entries[size_before as usize..];
    let suffix = format!("/{pid}");
    assert!(
        after.iter().all(|(_, e)| e.instance.ends_with(&suffix)),
        "entries after the crash that the restarted proxy did not write"
    );
    assert_eq!(
        after.first().expect("the restart recorded entries").1.prev,
        leaf_hash(&last_before),
        "the chain continues from the last entry that survived the crash"
    );
    let messages = state.messages_of(pid);
    for id in 1..=20 {
        assert!(
            messages.contains_key(&(DirectionKey::Request, id))
                && messages.contains_key(&(DirectionKey::Response, id)),
            "request/response {id} of the restarted proxy"
        );
    }
    let events: Vec<_> = after
        .iter()
        .filter_map(|(_, e)| e.event.as_ref().and_then(|v| v["type"].as_str()))
        .collect();
    assert_eq!(events.first(), Some(&"start"), "events {events:?}");
    assert_eq!(events.last(), Some(&"stop"), "events {events:?}");
    eprintln!(
        "restart: {} entries, {} checkpoints, all checked",
        state.size(),
        state.report.checkpoints
    );
}
