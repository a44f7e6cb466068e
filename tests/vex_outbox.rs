//! The VEX outbox through the real binary: `vanguard start` wrapping the echo server, with
//! `VANGUARD_VEX_URL` pointing at a loopback VEX-compatible server (`common/vex_server.rs`).
//!
//! - VEX down while attacks are blocked: the proxy answers every request anyway; once VEX
//!   comes back (answering 429 + Retry-After first) every record arrives exactly once, and the
//!   ledger holds VEX's answers as events naming the blocked entries.
//! - The proxy killed mid-delivery (jobs queued and followed; one execute accepted by VEX but
//!   its answer not received) and restarted on the same ledger: still one job per record,
//!   nothing lost, nothing recorded twice.
//! - Bad credentials: nothing is delivered, the records wait, `vex status` names the error.
//! - VEX not configured: nothing is queued.

mod common;
#[path = "common/vex_server.rs"]
mod vex_server;

use common::{Proxy, TIMEOUT};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vanguard_verifier::{Action, Entry, Kind};
use vex_server::{mint_token, VexServer};

const SECRET: &[u8] = b"loopback-vex-secret-of-32-bytes!!";

const RULES: &str =
    "- id: TEST-PASSWD\n  description: reads the password file\n  severity: HIGH\n  \
     action: BLOCK\n  pattern: 'etc/passwd'\n  message: password file access\n";

fn attack(id: i64) -> Vec<u8> {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"read_file","arguments":{{"path":"../../etc/passwd","n":{id}}}}}}}"#
    )
    .into_bytes()
}

struct Setup {
    _dir: tempfile::TempDir,
    ledger: PathBuf,
    rules: PathBuf,
    dir: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, RULES).expect("rules");
    Setup {
        ledger: dir.path().join("audit.redb"),
        rules,
        dir: dir.path().to_owned(),
        _dir: dir,
    }
}

/// `vanguard start` on the setup's ledger with VEX configured (or not, for `url: None`).
fn start_proxy(s: &Setup, url: Option<&str>, token: &str, extra: &[&str], log: &str) -> Proxy {
    let mut c = common::proxy_command(&s.ledger, &s.rules, None, extra);
    for var in [
        "VANGUARD_VEX_URL",
        "VANGUARD_VEX_KEY",
        "VANGUARD_VEX_AGENT_ID",
    ] {
        c.env_remove(var);
    }
    if let Some(url) = url {
        c.env("VANGUARD_VEX_URL", url)
            .env("VANGUARD_VEX_KEY", token);
    }
    c.env("VANGUARD_LOG", "info");
    Proxy::spawn(c, &s.dir.join(log))
}

/// Polls `cond` until it holds; panics with `what` after [`TIMEOUT`] * 2.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool, proxy: Option<&Proxy>) {
    let deadline = Instant::now() + TIMEOUT * 2;
    while !cond() {
        if Instant::now() > deadline {
            let stderr = proxy.map(Proxy::stderr).unwrap_or_default();
            panic!("timed out waiting for {what}; proxy stderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How many VEX answers the proxy has logged as durably recorded.
fn recorded_answers(p: &Proxy) -> usize {
    p.stderr().matches("VEX answer recorded").count()
}

fn vanguard(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vanguard"))
        .args(args)
        .env_remove("VANGUARD_LEDGER")
        .env("VANGUARD_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("vanguard runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn vex_status(ledger: &Path) -> Value {
    let l = ledger.to_str().expect("utf-8");
    let (ok, out, err) = vanguard(&["vex", "status", "--ledger", l, "--json"]);
    assert!(ok, "vex status failed: {err}");
    serde_json::from_str(&out).expect("status json")
}

fn ledger_check(ledger: &Path) {
    let l = ledger.to_str().expect("utf-8");
    let (ok, out, err) = vanguard(&["ledger", "check", "--ledger", l]);
    assert!(ok, "ledger check failed:\n{out}\n{err}");
}

fn entries(ledger: &Path) -> Vec<Entry> {
    let state = common::LedgerState::load(ledger, &common::verifier_key(ledger)).expect("load");
    state.assert_sound("after VEX delivery");
    state.entries.into_iter().map(|(_, e)| e).collect()
}

fn blocked_seqs(entries: &[Entry]) -> BTreeSet<u64> {
    entries
        .iter()
        .filter(|e| e.kind == Kind::Request)
        .filter(|e| {
            e.verdict
                .as_ref()
                .is_some_and(|v| v.action == Action::Block)
        })
        .map(|e| e.seq)
        .collect()
}

/// VEX events of `type`, by the blocked seq they name.
fn events_of<'a>(entries: &'a [Entry], kind: &str) -> BTreeMap<u64, Vec<&'a Value>> {
    let mut out: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for e in entries {
        if let Some(ev) = e.event.as_ref().filter(|ev| ev["type"] == kind) {
            let seq = ev["blocked_seq"].as_u64().expect("blocked_seq");
            out.entry(seq).or_default().push(ev);
        }
    }
    out
}

/// The report a job's prompt carries (the JSON after the preface line).
fn report_of(prompt: &str) -> Value {
    let json = prompt.split_once('\n').expect("preface line").1;
    serde_json::from_str(json).expect("report json")
}

#[test]
fn outage_then_every_record_arrives_exactly_once_and_retry_after_is_honoured() {
    let s = setup();
    let mut vex = VexServer::new(SECRET);
    let token = mint_token(SECRET, "tenant-a", "user", 3600);
    const ATTACKS: i64 = 5;

    // VEX is down: every request is still answered, blocked ones with the block error.
    let mut proxy = start_proxy(&s, Some(&vex.url()), &token, &[], "run1.log");
    let mut sent = BTreeMap::new();
    for id in 1..=ATTACKS {
        let line = attack(id);
        let reply = proxy.call(id, &line);
        assert_eq!(reply["error"]["code"], -32001, "blocked: {reply}");
        sent.insert(id, line);
    }
    let benign = br#"{"jsonrpc":"2.0","id":100,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#;
    let reply = proxy.call(100, benign);
    assert!(
        reply.get("result").is_some(),
        "benign call forwarded: {reply}"
    );
    assert!(
        vex.with(|v| v.log.is_empty()),
        "VEX was down: nothing reached it"
    );

    // VEX comes back, rate limiting the first two executes; its jobs run until every one is
    // followed on its event stream, then finish there.
    vex.rate_limit(2, 2);
    vex.hold_jobs(true);
    vex.start();
    wait_until(
        "every job followed on its stream",
        || {
            vex.requests("GET", "/api/v1/jobs/")
                .iter()
                .filter(|r| r.path.ends_with("/stream"))
                .count()
                >= ATTACKS as usize
        },
        Some(&proxy),
    );
    vex.hold_jobs(false);
    wait_until(
        "every record's answer to be recorded",
        || recorded_answers(&proxy) >= ATTACKS as usize,
        Some(&proxy),
    );
    let status = proxy.finish();
    assert!(status.success(), "proxy exit: {status:?}");

    // Exactly once at VEX: one agent, one job per record, keyed by ledger position.
    let entries = entries(&s.ledger);
    let blocked = blocked_seqs(&entries);
    assert_eq!(blocked.len(), ATTACKS as usize);
    let jobs = vex.with(|v| v.jobs.clone());
    assert_eq!(jobs.len(), ATTACKS as usize, "one job per blocked message");
    assert_eq!(vex.with(|v| v.agents.len()), 1, "the agent is created once");
    let agent_body = vex.with(|v| v.agents.values().next().cloned().expect("agent"));
    assert_eq!(agent_body["max_depth"], 0, "least privileged agent");
    assert_eq!(agent_body["spawn_shadow"], false);
    let mut reported = BTreeSet::new();
    for job in jobs.values() {
        let report = report_of(&job.prompt);
        let seq = report["seq"].as_u64().expect("seq");
        assert!(reported.insert(seq), "seq {seq} reported twice");
        let key = job.idempotency_key.as_deref().expect("idempotency key");
        assert_eq!(
            key,
            format!("{}#{seq}", report["ledger"].as_str().expect("ledger"))
        );
        assert_eq!(job.context_id.as_deref(), Some(key));
        // What is sent: digest of the exact wire bytes, verdict, rules, position; no payload.
        let entry = &entries[seq as usize];
        let id = match entry.rpc_id {
            Some(vanguard_verifier::RpcId::Number(n)) => n,
            ref other => panic!("rpc id {other:?}"),
        };
        let digest: String = Sha256::digest(&sent[&id])
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(report["intent_digest"], digest.as_str());
        assert_eq!(report["rules"], serde_json::json!(["TEST-PASSWD"]));
        assert_eq!(report["layer"], "L1");
        assert_eq!(report["verdict"], "block");
        assert_eq!(report["time"], entry.time.as_str());
        assert_eq!(report["session"], entry.session.as_str());
        assert!(report["checkpoint"]["size"].as_u64().expect("size") > seq);
        assert!(report.get("payload").is_none(), "no payload unless asked");
        for field in ["method", "tool", "reason", "payload_omitted"] {
            assert!(report.get(field).is_none(), "{field} is not sent");
        }
        for text in ["etc/passwd", "read_file", "password file access"] {
            assert!(!job.prompt.contains(text), "{text:?} is never sent");
        }
    }
    assert_eq!(reported, blocked);

    // Retry-After honoured: a record refused with 429 was not sent again sooner.
    let executes = vex.requests("POST", "/api/v1/agents/");
    let limited: Vec<_> = executes.iter().filter(|r| r.status == 429).collect();
    assert_eq!(limited.len(), 2);
    for r in &limited {
        let next = executes
            .iter()
            .find(|n| n.at > r.at && n.idempotency_key == r.idempotency_key)
            .expect("the limited record is sent again");
        assert!(
            next.at.duration_since(r.at) >= Duration::from_secs(2),
            "resent after {:?}, before Retry-After",
            next.at.duration_since(r.at)
        );
    }

    // The ledger: one queued and one result event per blocked entry, naming it.
    let queued = events_of(&entries, "vex_queued");
    let results = events_of(&entries, "vex_result");
    assert_eq!(queued.keys().copied().collect::<BTreeSet<_>>(), blocked);
    assert_eq!(results.keys().copied().collect::<BTreeSet<_>>(), blocked);
    for seq in &blocked {
        assert_eq!(queued[seq].len(), 1, "seq {seq}: one queued event");
        assert_eq!(results[seq].len(), 1, "seq {seq}: one result event");
        let (q, r) = (queued[seq][0], results[seq][0]);
        assert_eq!(q["job_id"], r["job_id"]);
        let job = &jobs[q["job_id"].as_str().expect("job id")];
        assert!(q["witness_receipt"]
            .as_str()
            .expect("receipt")
            .starts_with("chora-witness-"));
        assert_eq!(r["status"], "completed");
        let result: Value =
            serde_json::from_str(r["result"].as_str().expect("result text")).expect("result json");
        assert_eq!(result["verdict"], "block justified");
        assert_eq!(
            job.finals_streamed, 1,
            "the answer came on the job's stream"
        );
        assert_eq!(job.finals_polled, 0);
    }
    ledger_check(&s.ledger);
    let st = vex_status(&s.ledger);
    assert_eq!(st["queue_depth"], 0);
    assert_eq!(st["delivered"], ATTACKS);
    assert!(st["agent_id"].is_string());
}

#[test]
fn proxy_killed_mid_delivery_restarts_without_duplicates_or_loss() {
    let s = setup();
    let mut vex = VexServer::new(SECRET);
    // An agent-role key cannot create agents: the operator names one.
    let token = mint_token(SECRET, "tenant-b", "agent", 3600);
    let agent = "0b1e6c3a-9a43-4c2f-8d3e-5f6a7b8c9d0e";
    vex.with(|v| {
        v.agents
            .insert(agent.to_owned(), serde_json::json!({"name": "preset"}))
    });
    vex.hold_jobs(true);
    vex.stall_after(Some(3));
    vex.start();
    const ATTACKS: i64 = 4;

    let run = |log: &str| {
        let mut c = common::proxy_command(&s.ledger, &s.rules, None, &["--vex-include-payload"]);
        c.env("VANGUARD_VEX_URL", vex.url())
            .env("VANGUARD_VEX_KEY", &token)
            .env("VANGUARD_VEX_AGENT_ID", agent)
            .env("VANGUARD_LOG", "info");
        Proxy::spawn(c, &s.dir.join(log))
    };
    let mut proxy = run("run1.log");
    let mut lines = BTreeMap::new();
    for id in 1..=ATTACKS {
        let line = attack(id);
        assert_eq!(proxy.call(id, &line)["error"]["code"], -32001);
        lines.insert(id, line);
    }
    // Three jobs queued and being followed (their queued events are recorded before the
    // proxy asks about them), the fourth accepted by VEX but its answer withheld.
    wait_until(
        "three followed jobs and one stalled execute",
        || {
            let followed: BTreeSet<String> = vex
                .requests("GET", "/api/v1/jobs/")
                .into_iter()
                .map(|r| r.path.split('/').nth(4).unwrap_or_default().to_owned())
                .collect();
            followed.len() == 3 && vex.with(|v| v.stalled) == 1
        },
        Some(&proxy),
    );
    proxy.child.kill().expect("kill -9 the proxy");
    let _ = proxy.child.wait();
    drop(proxy);

    // While the proxy is down: the four records wait, three of them queued at VEX.
    let st = vex_status(&s.ledger);
    assert_eq!(st["queue_depth"], 4, "{st}");
    assert_eq!(st["queued"], 3, "{st}");
    assert_eq!(st["pending"], 1, "{st}");
    assert_eq!(st["delivered"], 0);

    vex.stall_after(None);
    vex.hold_jobs(false);
    let executes_before = vex.requests("POST", "/api/v1/agents/").len();
    let proxy = run("run2.log");
    wait_until(
        "the four answers recorded after the restart",
        || recorded_answers(&proxy) >= ATTACKS as usize,
        Some(&proxy),
    );
    assert!(proxy.finish().success());

    // At VEX: still four jobs; only the unanswered execute was sent again (same key, same job).
    let jobs = vex.with(|v| v.jobs.clone());
    assert_eq!(jobs.len(), ATTACKS as usize, "no duplicate job");
    let executes = vex.requests("POST", "/api/v1/agents/");
    assert_eq!(
        executes.len(),
        executes_before + 1,
        "only the unacknowledged record is resent"
    );
    assert_eq!(executes_before, ATTACKS as usize);
    let keys: BTreeSet<_> = jobs.values().map(|j| j.idempotency_key.clone()).collect();
    assert_eq!(keys.len(), ATTACKS as usize);

    let entries = entries(&s.ledger);
    let blocked = blocked_seqs(&entries);
    let queued = events_of(&entries, "vex_queued");
    let results = events_of(&entries, "vex_result");
    assert_eq!(results.keys().copied().collect::<BTreeSet<_>>(), blocked);
    assert_eq!(queued.keys().copied().collect::<BTreeSet<_>>(), blocked);
    for seq in &blocked {
        assert_eq!(queued[seq].len(), 1, "seq {seq}: queued once");
        assert_eq!(results[seq].len(), 1, "seq {seq}: answered once");
        assert_eq!(queued[seq][0]["agent_id"], agent);
    }
    // --vex-include-payload: the exact wire bytes travel, base64.
    for job in jobs.values() {
        let report = report_of(&job.prompt);
        let seq = report["seq"].as_u64().expect("seq");
        let id = match entries[seq as usize].rpc_id {
            Some(vanguard_verifier::RpcId::Number(n)) => n,
            ref other => panic!("rpc id {other:?}"),
        };
        use base64::Engine as _;
        let payload = base64::engine::general_purpose::STANDARD
            .decode(report["payload"].as_str().expect("payload"))
            .expect("base64");
        assert_eq!(payload, lines[&id]);
    }
    ledger_check(&s.ledger);
    let st = vex_status(&s.ledger);
    assert_eq!(st["queue_depth"], 0);
    assert_eq!(st["delivered"], ATTACKS);
}

#[test]
fn vex_that_lost_its_jobs_and_agent_gets_the_records_again() {
    let s = setup();
    let mut vex = VexServer::new(SECRET);
    let token = mint_token(SECRET, "tenant-d", "user", 3600);
    vex.hold_jobs(true);
    vex.start();
    let mut proxy = start_proxy(&s, Some(&vex.url()), &token, &[], "run.log");
    for id in 1..=2 {
        assert_eq!(proxy.call(id, &attack(id))["error"]["code"], -32001);
    }
    wait_until(
        "both jobs followed",
        || {
            let jobs: BTreeSet<String> = vex
                .requests("GET", "/api/v1/jobs/")
                .into_iter()
                .map(|r| r.path.split('/').nth(4).unwrap_or_default().to_owned())
                .collect();
            jobs.len() == 2
        },
        Some(&proxy),
    );
    // VEX restarts with its in-memory state gone: the jobs and the agent are unknown.
    vex.stop();
    vex.forget_everything();
    vex.hold_jobs(false);
    vex.start();
    wait_until(
        "both answers recorded",
        || recorded_answers(&proxy) >= 2,
        Some(&proxy),
    );
    assert!(proxy.finish().success());

    let entries = entries(&s.ledger);
    let blocked = blocked_seqs(&entries);
    let lost = events_of(&entries, "vex_job_lost");
    let queued = events_of(&entries, "vex_queued");
    let results = events_of(&entries, "vex_result");
    assert_eq!(lost.keys().copied().collect::<BTreeSet<_>>(), blocked);
    for seq in &blocked {
        assert_eq!(lost[seq].len(), 1);
        assert_eq!(queued[seq].len(), 2, "queued before and after the loss");
        assert_eq!(results[seq].len(), 1, "answered once");
        let second = &queued[seq][1];
        assert!(
            second["idempotency_key"]
                .as_str()
                .expect("key")
                .ends_with(&format!("#{seq}/1")),
            "a new key, so the lost job is not folded in: {second}"
        );
        assert_eq!(results[seq][0]["job_id"], second["job_id"]);
        assert_ne!(
            queued[seq][0]["agent_id"], second["agent_id"],
            "a new agent"
        );
    }
    assert_eq!(vex.with(|v| v.jobs.len()), 2);
    assert_eq!(
        vex.with(|v| v.agents.len()),
        1,
        "one agent since the restart"
    );
    ledger_check(&s.ledger);
    let st = vex_status(&s.ledger);
    assert_eq!(
        (st["queue_depth"].as_u64(), st["delivered"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(
        st["agent_id"],
        queued[blocked.iter().next().expect("a seq")][1]["agent_id"]
    );
}

#[test]
fn a_report_vex_refuses_is_recorded_once_and_not_retried() {
    let s = setup();
    let mut vex = VexServer::new(SECRET);
    let token = mint_token(SECRET, "tenant-e", "user", 3600);
    vex.reject(1);
    vex.start();
    let mut proxy = start_proxy(&s, Some(&vex.url()), &token, &[], "run.log");
    assert_eq!(proxy.call(1, &attack(1))["error"]["code"], -32001);
    wait_until(
        "the refusal recorded",
        || {
            proxy
                .stderr()
                .contains("VEX refused a blocked-intent report; recorded")
        },
        Some(&proxy),
    );
    assert_eq!(proxy.call(2, &attack(2))["error"]["code"], -32001);
    wait_until(
        "the second answer",
        || recorded_answers(&proxy) >= 1,
        Some(&proxy),
    );
    assert!(proxy.finish().success());

    let entries = entries(&s.ledger);
    let blocked: Vec<u64> = blocked_seqs(&entries).into_iter().collect();
    let rejected = events_of(&entries, "vex_rejected");
    let results = events_of(&entries, "vex_result");
    assert_eq!(
        rejected.keys().copied().collect::<Vec<_>>(),
        vec![blocked[0]]
    );
    assert_eq!(rejected[&blocked[0]].len(), 1);
    let ev = rejected[&blocked[0]][0];
    assert_eq!(ev["http_status"], 422);
    assert!(ev["error"]
        .as_str()
        .expect("error")
        .contains("forbidden pattern"));
    assert_eq!(
        results.keys().copied().collect::<Vec<_>>(),
        vec![blocked[1]]
    );
    let executes = vex.requests("POST", "/api/v1/agents/");
    assert_eq!(executes.len(), 2, "the refused report is not sent again");
    let st = vex_status(&s.ledger);
    assert_eq!(
        (st["queue_depth"].as_u64(), st["delivered"].as_u64()),
        (Some(0), Some(2))
    );

    // A restart reuses the agent remembered in the ledger: it is created once per ledger.
    let mut proxy = start_proxy(&s, Some(&vex.url()), &token, &[], "run2.log");
    assert_eq!(proxy.call(3, &attack(3))["error"]["code"], -32001);
    wait_until(
        "the third answer",
        || recorded_answers(&proxy) >= 1,
        Some(&proxy),
    );
    assert!(proxy.finish().success());
    assert_eq!(vex.with(|v| v.agents.len()), 1);
    let creations = vex
        .requests("POST", "/api/v1/agents")
        .iter()
        .filter(|r| r.path == "/api/v1/agents")
        .count();
    assert_eq!(creations, 1, "the agent is created once per ledger");
    let again = vex_status(&s.ledger);
    assert_eq!(again["agent_id"], st["agent_id"]);
    assert_eq!(again["delivered"], 3);
}

#[test]
fn bad_credentials_keep_records_queued_and_status_names_the_error() {
    let s = setup();
    let mut vex = VexServer::new(SECRET);
    vex.start();
    let expired = mint_token(SECRET, "tenant-c", "user", -600);
    let mut proxy = start_proxy(&s, Some(&vex.url()), &expired, &[], "run.log");
    for id in 1..=2 {
        assert_eq!(proxy.call(id, &attack(id))["error"]["code"], -32001);
    }
    wait_until(
        "the 401 to be stored",
        || proxy.stderr().contains("stored VEX delivery error"),
        Some(&proxy),
    );
    assert!(proxy.finish().success());
    assert!(vex.with(|v| v.jobs.is_empty()));
    assert!(vex
        .requests("POST", "/api/v1/agents")
        .iter()
        .all(|r| r.status == 401));
    let st = vex_status(&s.ledger);
    assert_eq!(st["queue_depth"], 2, "{st}");
    assert_eq!(st["pending"], 2);
    assert!(
        st["last_error"]["error"]
            .as_str()
            .expect("error")
            .contains("401"),
        "{st}"
    );
    let l = s.ledger.to_str().expect("utf-8");
    let (ok, text, _) = vanguard(&["vex", "status", "--ledger", l]);
    assert!(ok);
    assert!(
        text.contains("queue depth     2 (2 pending, 0 queued at VEX)"),
        "{text}"
    );
    assert!(text.contains("401"), "{text}");

    // A forged signature is refused the same way (the server checks it, not just the shape).
    let forged = mint_token(b"some-other-secret-of-32-bytes!!!", "tenant-c", "user", 600);
    let mut proxy = start_proxy(&s, Some(&vex.url()), &forged, &[], "run2.log");
    wait_until(
        "the forged token to be refused",
        || proxy.stderr().contains("stored VEX delivery error"),
        Some(&proxy),
    );
    assert!(proxy.call(9, &attack(9))["error"]["code"] == -32001);
    assert!(proxy.finish().success());
    assert!(vex.with(|v| v.jobs.is_empty()));
    assert_eq!(vex_status(&s.ledger)["queue_depth"], 3);

    // An agent-role key may execute but not create agents: the stored error says what to set.
    let agent_key = mint_token(SECRET, "tenant-c", "agent", 600);
    let proxy = start_proxy(&s, Some(&vex.url()), &agent_key, &[], "run3.log");
    wait_until(
        "the 403 to be stored",
        || proxy.stderr().contains("stored VEX delivery error"),
        Some(&proxy),
    );
    assert!(proxy.finish().success());
    let st = vex_status(&s.ledger);
    let error = st["last_error"]["error"].as_str().expect("error");
    assert!(
        error.contains("403") && error.contains("VANGUARD_VEX_AGENT_ID"),
        "{st}"
    );
    assert!(vex.with(|v| v.agents.is_empty() && v.jobs.is_empty()));
}

#[test]
fn without_vex_nothing_is_queued() {
    let s = setup();
    let mut proxy = start_proxy(&s, None, "", &[], "run.log");
    assert_eq!(proxy.call(1, &attack(1))["error"]["code"], -32001);
    assert!(proxy.finish().success());
    let st = vex_status(&s.ledger);
    assert_eq!(st["queue_depth"], 0);
    assert_eq!(st["delivered"], 0);
    assert!(st["agent_id"].is_null());
    // And --vex-include-payload without VEX is a configuration error, not silently ignored.
    let l = s.ledger.to_str().expect("utf-8");
    let r = s.rules.to_str().expect("utf-8");
    let (ok, _, err) = vanguard(&[
        "start",
        "--ledger",
        l,
        "--rules",
        r,
        "--vex-include-payload",
        "--",
        "true",
    ]);
    assert!(!ok);
    assert!(err.contains("VANGUARD_VEX_URL"), "{err}");
    // A VEX URL that is not http(s) is refused before anything is recorded.
    let size_before = entries(&s.ledger).len();
    let out = Command::new(env!("CARGO_BIN_EXE_vanguard"))
        .args(["start", "--ledger", l, "--rules", r, "--", "true"])
        .env("VANGUARD_VEX_URL", "ftp://vex.example")
        .env("VANGUARD_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("vanguard runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("VANGUARD_VEX_URL") && err.contains("ftp://"),
        "{err}"
    );
    assert_eq!(entries(&s.ledger).len(), size_before);
}
