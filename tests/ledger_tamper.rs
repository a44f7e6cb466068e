//! Tamper evidence: a real ledger, edited behind Vanguard's back with redb itself, must fail
//! `ledger check` at the first entry that is wrong, naming the check that caught it. Random
//! bytes flipped in the raw file must make the ledger fail to open or fail the check; never a
//! silent pass with different contents, never a panic.

mod common;

use common::Rng;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use vanguard::ledger::check::Problem;
use vanguard::ledger::store::TableHashes;
use vanguard::ledger::{Durability, Identity, Record, SessionRecorder, Snapshot};
use vanguard_verifier::{
    leaf_hash, stored_hash_count, stored_hashes_for_leaf_hash, tree_hash, Action, Checkpoint,
    Direction, Entry, KeyName, Kind, Origin, PayloadDigest, RpcId, SignerKey, Verdict, VerifierKey,
};

// The ledger's tables, exactly as `src/ledger/store.rs` defines them (there `pub(crate)`).
const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
const PAYLOADS: TableDefinition<u64, &[u8]> = TableDefinition::new("payloads");
const HASHES: TableDefinition<u64, [u8; 32]> = TableDefinition::new("hashes");
const CHECKPOINTS: TableDefinition<u64, &[u8]> = TableDefinition::new("checkpoints");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Entries in the ledger under test: a start event, then requests and responses, each
/// committed on its own (so each has its own signed checkpoint).
const N: u64 = 24;
/// The entry most mutations hit: a `tools/call` request with a kept payload.
const K: u64 = 9;

/// A ledger built once per test through the library, and what it holds.
struct Original {
    _dir: tempfile::TempDir,
    path: PathBuf,
    key: VerifierKey,
    origin: String,
    entries: Vec<Vec<u8>>,
}

fn build() -> Original {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("l.redb");
    let ledger = common::open_ledger(&path, Durability::Fsync).expect("ledger opens");
    let identity = Identity::new("python3 echo_server.py".into());
    ledger
        .append_event(&identity, serde_json::json!({"type": "start"}))
        .expect("start event");
    let recorder = ledger.recorder();
    for i in 1..N {
        let id = i64::try_from(i.div_ceil(2)).expect("small");
        let (direction, kind, payload) = if i % 2 == 1 {
            (
                Direction::AgentToServer,
                Kind::Request,
                String::from_utf8(common::tool_call(id, 40)).expect("utf-8"),
            )
        } else {
            (
                Direction::ServerToAgent,
                Kind::Response,
                format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"text":"ok {id}"}}}}"#),
            )
        };
        let mut entry = SessionRecorder::blank_entry(&identity, direction, kind);
        entry.method = Some("tools/call".into());
        entry.tool = Some("echo".into());
        entry.rpc_id = Some(RpcId::Number(id));
        entry.payload = Some(PayloadDigest::of(payload.as_bytes()));
        entry.verdict = Some(Verdict {
            action: Action::Allow,
            layer: "L1".into(),
            rules: vec![],
            reason: None,
            score: None,
        });
        let committed = recorder
            .append_blocking(Record {
                entry,
                payload: Some(payload.into_bytes()),
                outbox: None,
            })
            .expect("append");
        assert_eq!((committed.seq, committed.size), (i, i + 1));
    }
    let key = ledger.verifier_key().clone();
    let origin = ledger.origin().to_owned();
    drop(recorder);
    ledger.close();
    let entries: Vec<Vec<u8>> = {
        let db = Database::open(&path).expect("reopen");
        let txn = db.begin_read().expect("read");
        let table = txn.open_table(ENTRIES).expect("entries");
        (0..N)
            .map(|seq| {
                table
                    .get(seq)
                    .expect("get")
                    .expect("entry")
                    .value()
                    .to_vec()
            })
            .collect()
    };
    let original = Original {
        _dir: dir,
        path,
        key,
        origin,
        entries,
    };
    // The untouched ledger passes: every failure below is the mutation's doing.
    let state = common::LedgerState::load(&original.path, &original.key).expect("loads");
    state.assert_sound("untouched ledger");
    assert_eq!(state.size(), N);
    assert_eq!(state.report.checkpoints, N);
    original
}

/// What a mutation does to the copy, in one redb write transaction.
type Mutation = fn(&Original, &WriteTransaction);

/// The first problem `check` (then the payload check) reports on `path`, if any.
fn first_problem(path: &Path, key: &VerifierKey) -> Result<Option<Problem>, String> {
    let state = common::LedgerState::load(path, key)?;
    Ok(state.report.problem.or(state.payload_problem))
}

fn parse(bytes: &[u8]) -> Entry {
    Entry::parse_canonical(bytes).expect("canonical entry")
}

/// Replaces the first occurrence of `from` in entry `seq` with `to` (same length or not).
fn edit_entry(o: &Original, txn: &WriteTransaction, seq: u64, from: &str, to: &str) {
    let text = String::from_utf8(o.entries[seq as usize].clone()).expect("utf-8");
    assert!(text.contains(from), "entry {seq} has no {from:?}: {text}");
    let edited = text.replacen(from, to, 1);
    let mut entries = txn.open_table(ENTRIES).expect("entries");
    entries.insert(seq, edited.as_bytes()).expect("insert");
}

/// Stored hashes of the leaves `[from, ..)` of `entries`, recomputed and written the way the
/// writer does, after removing the old ones.
fn rehash(txn: &WriteTransaction, from: u64, entries: &[Vec<u8>]) {
    let mut hashes = txn.open_table(HASHES).expect("hashes");
    let base = stored_hash_count(from);
    hashes.retain(|k, _| k < base).expect("retain");
    for (seq, bytes) in entries.iter().enumerate().skip(from as usize) {
        let seq = seq as u64;
        let new = stored_hashes_for_leaf_hash(seq, leaf_hash(bytes), &TableHashes(&hashes))
            .expect("stored hashes");
        let base = stored_hash_count(seq);
        for (i, h) in new.iter().enumerate() {
            hashes.insert(base + i as u64, h.0).expect("insert hash");
        }
    }
}

/// Writes `entries` as the whole entries table.
fn replace_entries(txn: &WriteTransaction, entries: &[Vec<u8>]) {
    let mut table = txn.open_table(ENTRIES).expect("entries");
    table.retain(|_, _| false).expect("clear");
    for (seq, bytes) in entries.iter().enumerate() {
        table.insert(seq as u64, bytes.as_slice()).expect("insert");
    }
}

/// Re-encodes `entries[from..]` with `prev` links that follow the (edited) entries before them:
/// a forger's consistent chain.
fn rechain(entries: &mut [Vec<u8>], from: usize) {
    for seq in from.max(1)..entries.len() {
        let mut e = parse(&entries[seq]);
        e.prev = leaf_hash(&entries[seq - 1]);
        entries[seq] = e.canonical_bytes().expect("encode");
    }
}

fn tampered_request(o: &Original, seq: u64) -> Entry {
    let mut e = parse(&o.entries[seq as usize]);
    e.tool = Some("exfiltrate".into());
    e
}

/// Names a checkpoint failure: no single entry is wrong, the signed root is.
const CHECKPOINT: Option<u64> = None;

/// (name, mutation, expected problem: seq, check name, a fragment of the detail).
fn mutations() -> Vec<(&'static str, Mutation, Option<u64>, &'static str, String)> {
    let k = Some(K);
    vec![
        (
            "time digit changed (still valid, later time)",
            |o, t| {
                let time = parse(&o.entries[K as usize]).time;
                // The year's last digit, one up: valid, and later than the entry before.
                let mut later = time.clone().into_bytes();
                later[3] = if later[3] == b'9' { b'0' } else { later[3] + 1 };
                if later[3] == b'0' {
                    later[2] += 1;
                }
                edit_entry(o, t, K, &time, std::str::from_utf8(&later).expect("ascii"));
            },
            k,
            "tree hashes",
            format!("stored tree hash {}", stored_hash_count(K)),
        ),
        (
            "letter of method changed (still valid)",
            |o, t| {
                edit_entry(
                    o,
                    t,
                    K,
                    r#""method":"tools/call""#,
                    r#""method":"tools/cell""#,
                )
            },
            k,
            "tree hashes",
            String::new(),
        ),
        (
            "time moved before the previous entry (still valid)",
            |o, t| {
                let time = parse(&o.entries[K as usize]).time;
                edit_entry(o, t, K, &time, &format!("1999{}", &time[4..]));
            },
            k,
            "time order",
            "is earlier than".into(),
        ),
        (
            "prev changed (still valid)",
            |o, t| {
                let prev = parse(&o.entries[K as usize]).prev.to_string();
                let mut other = prev.clone().into_bytes();
                other[0] = if other[0] == b'0' { b'1' } else { b'0' };
                edit_entry(o, t, K, &prev, std::str::from_utf8(&other).expect("hex"));
            },
            k,
            "hash chain",
            String::new(),
        ),
        (
            "seq field changed (still valid)",
            |o, t| edit_entry(o, t, K, &format!(r#""seq":{K},"#), r#""seq":99,"#),
            k,
            "sequence number",
            "entry says seq 99".into(),
        ),
        (
            "byte flipped that breaks the JSON",
            |o, t| edit_entry(o, t, K, "{", "\u{1}"),
            k,
            "entry encoding",
            String::new(),
        ),
        (
            "whitespace added (valid JSON, not canonical)",
            |o, t| edit_entry(o, t, K, r#","kind""#, r#", "kind""#),
            k,
            "entry encoding",
            String::new(),
        ),
        (
            "entry deleted, hashes kept",
            |_, t| {
                t.open_table(ENTRIES).expect("t").remove(K).expect("remove");
            },
            k,
            "missing entry",
            format!("the next stored entry is {}", K + 1),
        ),
        (
            "entry and its stored hashes deleted",
            |_, t| {
                t.open_table(ENTRIES).expect("t").remove(K).expect("remove");
                let (a, b) = (stored_hash_count(K), stored_hash_count(K + 1));
                let mut hashes = t.open_table(HASHES).expect("t");
                hashes.retain(|i, _| !(a..b).contains(&i)).expect("retain");
            },
            k,
            "missing entry",
            String::new(),
        ),
        (
            "stored hashes of an entry deleted",
            |_, t| {
                let (a, b) = (stored_hash_count(K), stored_hash_count(K + 1));
                let mut hashes = t.open_table(HASHES).expect("t");
                hashes.retain(|i, _| !(a..b).contains(&i)).expect("retain");
            },
            k,
            "tree hashes",
            "is missing".into(),
        ),
        (
            "two entries swapped",
            |o, t| {
                let mut entries = o.entries.clone();
                entries.swap(K as usize, K as usize + 1);
                replace_entries(t, &entries);
            },
            k,
            "sequence number",
            format!("entry says seq {}", K + 1),
        ),
        (
            "forged entry inserted, later ones shifted",
            |o, t| {
                let mut entries = o.entries.clone();
                let forged = tampered_request(o, K).canonical_bytes().expect("encode");
                entries.insert(K as usize, forged);
                replace_entries(t, &entries);
            },
            k,
            "tree hashes",
            String::new(),
        ),
        (
            "forged entry inserted with a consistent chain, hashes recomputed",
            |o, t| {
                let mut entries = o.entries.clone();
                let forged = tampered_request(o, K).canonical_bytes().expect("encode");
                entries.insert(K as usize, forged);
                for (seq, bytes) in entries.iter_mut().enumerate().skip(K as usize + 1) {
                    let mut e = parse(bytes);
                    e.seq = seq as u64;
                    *bytes = e.canonical_bytes().expect("encode");
                }
                rechain(&mut entries, K as usize + 1);
                replace_entries(t, &entries);
                rehash(t, K, &entries);
            },
            CHECKPOINT,
            "checkpoint root",
            format!("checkpoint of size {}", K + 1),
        ),
        (
            "last entry rewritten, its hashes recomputed",
            |o, t| {
                let mut entries = o.entries.clone();
                entries[N as usize - 1] = tampered_request(o, N - 1)
                    .canonical_bytes()
                    .expect("encode");
                replace_entries(t, &entries);
                rehash(t, N - 1, &entries);
            },
            CHECKPOINT,
            "checkpoint root",
            format!("checkpoint of size {N}"),
        ),
        (
            "middle entry rewritten, chain and hashes recomputed",
            |o, t| {
                let mut entries = o.entries.clone();
                entries[K as usize] = tampered_request(o, K).canonical_bytes().expect("encode");
                rechain(&mut entries, K as usize + 1);
                replace_entries(t, &entries);
                rehash(t, K, &entries);
            },
            CHECKPOINT,
            "checkpoint root",
            format!("checkpoint of size {}", K + 1),
        ),
        (
            "last checkpoint replaced by one signed with another key",
            |o, t| {
                let root = {
                    let hashes = t.open_table(HASHES).expect("t");
                    tree_hash(N, &TableHashes(&hashes)).expect("root")
                };
                let name = KeyName::new(&o.origin).expect("name");
                let other = SignerKey::from_seed(name, [7; 32]);
                let origin = Origin::new(&o.origin).expect("origin");
                let note = Checkpoint::new(origin, N, root).sign(&other).expect("sign");
                let mut cps = t.open_table(CHECKPOINTS).expect("t");
                cps.insert(N, note.as_bytes()).expect("insert");
            },
            CHECKPOINT,
            "checkpoint signature",
            format!("checkpoint of size {N}"),
        ),
        (
            "log truncated (last 3 entries and their hashes gone, checkpoint kept)",
            |_, t| {
                let mut entries = t.open_table(ENTRIES).expect("t");
                entries.retain(|seq, _| seq < N - 3).expect("retain");
                let mut hashes = t.open_table(HASHES).expect("t");
                let keep = stored_hash_count(N - 3);
                hashes.retain(|i, _| i < keep).expect("retain");
            },
            CHECKPOINT,
            "checkpoint identity",
            format!("checkpoint of size {}", N - 2),
        ),
        (
            "kept payload altered",
            |_, t| {
                let mut payloads = t.open_table(PAYLOADS).expect("t");
                let mut bytes = payloads
                    .get(K)
                    .expect("get")
                    .expect("payload")
                    .value()
                    .to_vec();
                let at = bytes.len() / 2;
                bytes[at] ^= 0x20;
                payloads.insert(K, bytes.as_slice()).expect("insert");
            },
            k,
            "payload digest",
            String::new(),
        ),
    ]
}

#[test]
fn every_mutation_is_caught_at_the_first_bad_entry() {
    let original = build();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for (i, (name, mutate, seq, check, detail)) in mutations().into_iter().enumerate() {
        let copy = dir.path().join(format!("copy-{i}.redb"));
        std::fs::copy(&original.path, &copy).expect("copy");
        {
            let db = Database::open(&copy).expect("open copy");
            let txn = db.begin_write().expect("write");
            mutate(&original, &txn);
            txn.commit().expect("commit");
        }
        let got = first_problem(&copy, &original.key);
        let ok = matches!(&got, Ok(Some(p)) if p.seq == seq && p.check == check && p.detail.contains(&detail));
        let shown = match &got {
            Ok(Some(p)) => format!("{:?} {:?}: {}", p.seq, p.check, p.detail),
            Ok(None) => "no problem found".into(),
            Err(e) => format!("error: {e}"),
        };
        eprintln!("{} {name}: {shown}", if ok { "ok  " } else { "FAIL" });
        if !ok {
            failures.push(format!(
                "{name}: expected {seq:?} {check:?} (detail containing {detail:?}), got {shown}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "mutations not caught as expected:\n{}",
        failures.join("\n")
    );
}

/// Rewriting the tail consistently and deleting the checkpoints that covered it leaves entries
/// no signature covers. The writer signs a checkpoint with every commit, so the latest
/// checkpoint always covers the whole log; `check` must say so when it does not.
#[test]
fn rewritten_tail_without_its_checkpoints_is_caught() {
    let original = build();
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("copy.redb");
    std::fs::copy(&original.path, &copy).expect("copy");
    {
        let db = Database::open(&copy).expect("open copy");
        let t = db.begin_write().expect("write");
        let mut entries = original.entries.clone();
        entries[K as usize] = tampered_request(&original, K)
            .canonical_bytes()
            .expect("encode");
        rechain(&mut entries, K as usize + 1);
        replace_entries(&t, &entries);
        rehash(&t, K, &entries);
        t.open_table(CHECKPOINTS)
            .expect("t")
            .retain(|size, _| size <= K)
            .expect("retain");
        t.commit().expect("commit");
    }
    let problem = first_problem(&copy, &original.key).expect("opens");
    assert!(
        problem.is_some(),
        "entries {K}..{N} were rewritten and no checkpoint covers them, yet check passes"
    );
}

/// Every table's contents, for comparing a ledger with what it was.
#[derive(PartialEq, Eq, Debug)]
struct Contents {
    entries: BTreeMap<u64, Vec<u8>>,
    payloads: BTreeMap<u64, Vec<u8>>,
    hashes: BTreeMap<u64, [u8; 32]>,
    checkpoints: BTreeMap<u64, Vec<u8>>,
    meta: BTreeMap<String, Vec<u8>>,
}

fn contents(db: &dyn ReadableDatabase) -> Result<Contents, String> {
    let e = |e: redb::Error| e.to_string();
    let txn = db.begin_read().map_err(|x| e(x.into()))?;
    fn all<K: redb::Key + 'static, V: redb::Value + 'static, A: Ord, B>(
        txn: &redb::ReadTransaction,
        def: TableDefinition<K, V>,
        f: impl Fn(K::SelfType<'_>, V::SelfType<'_>) -> (A, B),
    ) -> Result<BTreeMap<A, B>, String> {
        let t = txn.open_table(def).map_err(|e| e.to_string())?;
        let mut out = BTreeMap::new();
        for item in t.iter().map_err(|e| e.to_string())? {
            let (k, v) = item.map_err(|e| e.to_string())?;
            let (a, b) = f(k.value(), v.value());
            out.insert(a, b);
        }
        Ok(out)
    }
    Ok(Contents {
        entries: all(&txn, ENTRIES, |k, v| (k, v.to_vec()))?,
        payloads: all(&txn, PAYLOADS, |k, v| (k, v.to_vec()))?,
        hashes: all(&txn, HASHES, |k, v| (k, v))?,
        checkpoints: all(&txn, CHECKPOINTS, |k, v| (k, v.to_vec()))?,
        meta: all(&txn, META, |k, v| (k.to_owned(), v.to_vec()))?,
    })
}

/// What opening and checking a corrupted copy came to.
#[derive(Debug)]
#[allow(dead_code)] // the fields are read through Debug, in failure messages
enum Outcome {
    OpenFailed(String),
    CheckFailed(String),
    /// Opened and checked clean, with the same contents: the flips hit unused space.
    Unchanged,
    /// Opened and checked clean with the contents of an earlier commit (redb fell back to its
    /// previous commit slot): the latest commits are lost without a trace in the file itself.
    RolledBack {
        entries: usize,
    },
    /// Opened and checked clean, only an unsigned meta value changed.
    UnsignedMeta(String),
    /// Opened and checked clean with different contents: a silent pass.
    Silent(String),
}

/// Opens and checks `path` the way the `ledger` commands do: inside
/// [`read_guarded`](vanguard::ledger::store::read_guarded), which turns a panic in redb into a
/// "ledger file is corrupt" error.
fn open_and_check(path: &Path, key: &VerifierKey, original: &Contents) -> Outcome {
    let guarded = vanguard::ledger::store::read_guarded(|| {
        Ok::<_, vanguard::ledger::LedgerError>(open_and_check_unguarded(path, key, original))
    });
    guarded.unwrap_or_else(|e| Outcome::OpenFailed(e.to_string()))
}

fn open_and_check_unguarded(path: &Path, key: &VerifierKey, original: &Contents) -> Outcome {
    let state = match common::LedgerState::load(path, key) {
        Ok(s) => s,
        Err(e) => return Outcome::OpenFailed(e),
    };
    if let Some(p) = state.report.problem.or(state.payload_problem) {
        return Outcome::CheckFailed(p.to_string());
    }
    let db = match Database::open(path) {
        Ok(db) => db,
        Err(e) => return Outcome::OpenFailed(format!("second open: {e}")),
    };
    let now = match contents(&db) {
        Ok(c) => c,
        Err(e) => return Outcome::OpenFailed(format!("reading: {e}")),
    };
    if now == *original {
        return Outcome::Unchanged;
    }
    let prefix = now.entries.len() < original.entries.len()
        && now
            .entries
            .iter()
            .all(|(k, v)| original.entries.get(k) == Some(v))
        && now
            .checkpoints
            .iter()
            .all(|(k, v)| original.checkpoints.get(k) == Some(v));
    if prefix {
        return Outcome::RolledBack {
            entries: now.entries.len(),
        };
    }
    let meta_keys: Vec<&str> = original
        .meta
        .keys()
        .chain(now.meta.keys())
        .filter(|k| original.meta.get(*k) != now.meta.get(*k))
        .map(String::as_str)
        .collect();
    let only_meta = now.entries == original.entries
        && now.payloads == original.payloads
        && now.hashes == original.hashes
        && now.checkpoints == original.checkpoints;
    if only_meta && meta_keys.iter().all(|k| UNSIGNED_META.contains(k)) {
        return Outcome::UnsignedMeta(format!("{meta_keys:?}"));
    }
    let differs = [
        ("entries", now.entries != original.entries),
        ("payloads", now.payloads != original.payloads),
        ("hashes", now.hashes != original.hashes),
        ("checkpoints", now.checkpoints != original.checkpoints),
        ("meta", !meta_keys.is_empty()),
    ];
    let which: Vec<_> = differs.iter().filter(|d| d.1).map(|d| d.0).collect();
    Outcome::Silent(format!("{which:?} differ (meta keys {meta_keys:?})"))
}

/// Meta values no signature or check covers (the check takes the key from its caller, the
/// durability mode is also in each signed start event, the ledger id is a copy of the
/// origin's). A flip there changes nothing an auditor relies on; counted apart, not failed.
const UNSIGNED_META: &[&str] = &["ledger_id", "vkey", "durability"];

/// Trials whose open or check panicked run on threads with this name: their panics are
/// expected findings, reported in the tally, and kept out of the test output.
const TRIAL_THREAD: &str = "ledger-flip-trial";

fn quiet_trial_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() != Some(TRIAL_THREAD) {
                previous(info);
            }
        }));
    });
}

/// The outcomes of `trials` corrupted copies of a fresh ledger: (tally, silent passes and
/// hangs, panics). Failing copies are kept under the target dir for replay.
fn flip_trials(trials: u64, seed: u64) -> (BTreeMap<&'static str, u64>, Vec<String>, Vec<String>) {
    quiet_trial_panics();
    let mut rng = Rng::new(seed);
    let original = Arc::new(build());
    let reference = {
        let db = Database::open(&original.path).expect("open");
        Arc::new(contents(&db).expect("contents"))
    };
    let bytes = std::fs::read(&original.path).expect("read");
    let nonzero: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] != 0).collect();
    eprintln!(
        "ledger file: {} bytes, {} non-zero",
        bytes.len(),
        nonzero.len()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ledger-flips");
    let mut tally: BTreeMap<&str, u64> = BTreeMap::new();
    let (mut bad, mut panics) = (Vec::new(), Vec::new());
    for trial in 0..trials {
        let mut copy = bytes.clone();
        let mut at = Vec::new();
        for _ in 0..rng.range(1, 5) {
            // Mostly bytes that hold something; some anywhere (free pages, padding).
            let i = if rng.range(0, 4) == 0 {
                rng.range(0, copy.len() as u64) as usize
            } else {
                nonzero[rng.range(0, nonzero.len() as u64) as usize]
            };
            copy[i] ^= rng.range(1, 256) as u8;
            at.push(i);
        }
        let path = dir.path().join(format!("flip-{trial}.redb"));
        std::fs::write(&path, &copy).expect("write copy");
        let (tx, rx) = std::sync::mpsc::channel();
        let (o, r, p) = (original.clone(), reference.clone(), path.clone());
        std::thread::Builder::new()
            .name(TRIAL_THREAD.into())
            .spawn(move || {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    open_and_check(&p, &o.key, &r)
                }));
                let _ = tx.send(outcome.map_err(|panic| {
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default()
                }));
            })
            .expect("spawn trial");
        let context = format!("trial {trial} (seed {seed}), bytes flipped at {at:?}");
        let keep_copy = |what: &str| {
            let _ = std::fs::create_dir_all(&keep);
            let kept = keep.join(format!("{seed}-{trial}.redb"));
            let _ = std::fs::write(&kept, &copy);
            let _ = std::fs::write(
                keep.join(format!("{seed}-{trial}.vkey")),
                original.key.to_string(),
            );
            format!("{context}: {what} (copy kept at {})", kept.display())
        };
        match rx.recv_timeout(Duration::from_secs(20)) {
            Err(_) => bad.push(keep_copy("open/check hung (or its thread died)")),
            Ok(Err(panic)) => {
                *tally.entry("panicked").or_default() += 1;
                panics.push(keep_copy(&format!("panicked: {panic}")));
            }
            Ok(Ok(outcome)) => {
                let kind = match &outcome {
                    Outcome::OpenFailed(_) => "open failed",
                    Outcome::CheckFailed(_) => "check failed",
                    Outcome::Unchanged => "unchanged (unused bytes)",
                    Outcome::RolledBack { .. } => "rolled back to an earlier commit",
                    Outcome::UnsignedMeta(_) => "unsigned meta value changed",
                    Outcome::Silent(_) => "SILENT PASS",
                };
                *tally.entry(kind).or_default() += 1;
                match &outcome {
                    Outcome::Silent(_) => bad.push(keep_copy(&format!("{outcome:?}"))),
                    Outcome::UnsignedMeta(_) | Outcome::RolledBack { .. } => {
                        eprintln!("{context}: {outcome:?}")
                    }
                    _ => {}
                }
            }
        }
        let _ = std::fs::remove_file(&path);
    }
    eprintln!("outcomes of {trials} corrupted copies: {tally:?}");
    for p in &panics {
        eprintln!("{p}");
    }
    (tally, bad, panics)
}

#[test]
fn random_byte_flips_in_the_file_never_pass_silently() {
    let seed = common::seed("VANGUARD_TAMPER_SEED");
    let (tally, bad, _panics) = flip_trials(150, seed);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    let caught = tally.get("open failed").copied().unwrap_or(0)
        + tally.get("check failed").copied().unwrap_or(0);
    assert!(
        caught > 0,
        "no flip was ever caught: the test is not reaching the data"
    );
}

/// Corruption must come back as an error (`ledger check` reporting it), not a panic.
#[test]
fn random_byte_flips_in_the_file_never_panic() {
    let seed = common::seed("VANGUARD_TAMPER_SEED");
    let (_, _, panics) = flip_trials(150, seed);
    assert!(panics.is_empty(), "{}", panics.join("\n"));
}

/// The deterministic case of the above: one byte of every stored copy of the last checkpoint
/// note turned into invalid UTF-8 (redb used to panic decoding it as `&str`). The library
/// reports the damaged checkpoint, and `vanguard ledger check` exits 1 naming it, no panic.
#[test]
fn invalid_utf8_in_a_checkpoint_is_reported_not_a_panic() {
    quiet_trial_panics();
    let o = build();
    let mut bytes = std::fs::read(&o.path).expect("read");
    // Every copy of the last checkpoint's first line (live page and stale ones alike).
    let needle = format!("{}\n{N}\n", o.origin).into_bytes();
    let mut hits = 0;
    let mut i = 0;
    while let Some(at) = bytes[i..]
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
    {
        bytes[i + at] = 0xFF;
        hits += 1;
        i += at + needle.len();
    }
    assert!(hits > 0, "checkpoint text not found in the file");
    let copy = o.path.with_extension("flipped.redb");
    std::fs::write(&copy, &bytes).expect("write");
    let key = o.key.clone();
    let (path, k) = (copy.clone(), key.clone());
    let outcome = std::thread::Builder::new()
        .name(TRIAL_THREAD.into())
        .spawn(move || first_problem(&path, &k))
        .expect("spawn")
        .join();
    match outcome {
        Err(_) => panic!("open/check panicked on a checkpoint with a non-UTF-8 byte"),
        Ok(Ok(Some(problem))) => {
            assert_eq!(problem.check, "checkpoint signature", "{problem}");
            assert!(problem.detail.contains(&format!("size {N}")), "{problem}");
        }
        Ok(Ok(None)) => panic!("a corrupted checkpoint passed the check"),
        Ok(Err(e)) => panic!("check should report the checkpoint, not fail: {e}"),
    }
    // Through the binary, as an auditor runs it: exit 1 (invalid), the checkpoint named.
    let copy = copy.display().to_string();
    let out = common::cli::run(&[
        "ledger",
        "check",
        "--ledger",
        &copy,
        "--vkey",
        &key.to_string(),
    ]);
    let stderr = common::cli::text(&out.stderr);
    let all = format!("{}{stderr}", common::cli::text(&out.stdout));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains(&format!("checkpoint of size {N}")), "{all}");
    assert!(!stderr.contains("panicked"), "{all}");
    // Reading the note as text (`ledger checkpoint`) is a clear corruption error, exit 2.
    let out = common::cli::run(&["ledger", "checkpoint", "--ledger", &copy]);
    let stderr = common::cli::text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("ledger file is corrupt") && stderr.contains(&format!("size {N}")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Sanity for the helpers: a snapshot of the untouched ledger reads back every entry.
#[test]
fn the_original_ledger_reads_back() {
    let o = build();
    let db = vanguard::ledger::open_for_reading(&o.path).expect("open");
    let snap = Snapshot::new(&db).expect("snapshot");
    assert_eq!(snap.size().expect("size"), N);
    assert_eq!(
        snap.entry(K).expect("entry"),
        Some(o.entries[K as usize].clone())
    );
}
