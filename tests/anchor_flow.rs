//! Bitcoin anchoring end to end through the binary, against a loopback Bitcoin Core stand-in
//! that builds real regtest blocks: a proxy session blocks an attack, `vanguard anchor
//! commit` sends the latest checkpoint's commitment through the node's wallet, blocks are
//! mined, `vanguard anchor complete` records the proof, `vanguard ledger proof` and
//! `ledger export` carry the anchor, and `vanguard verify` checks it offline: valid as
//! produced, and each tampered part (transaction, txoutproof, header, checkpoint,
//! consistency) or a wrong network refused with its check named.

#[path = "common/bitcoin_node.rs"]
mod bitcoin_node;
mod common;
#[path = "common/ots_checker.rs"]
mod ots_checker;

use bitcoin::consensus::encode::{deserialize, serialize_hex};
use bitcoin::hex::FromHex;
use bitcoin::{MerkleBlock, Transaction};
use bitcoin_node::BitcoinNode;
use common::cli::{run, text, vanguard, wait_bounded};
use common::echo_server;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(60);

const INITIALIZE: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#;
const ATTACK: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"../../../../etc/passwd"}}}"#;
const BENIGN: &str = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#;

/// Runs `vanguard args`, asserts the exit code, returns stdout + stderr.
fn expect(code: i32, args: &[&str]) -> String {
    let out = run(args);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(code), "vanguard {args:?}:\n{all}");
    all
}

/// One proxy session around the echo server; returns what the agent read.
fn record_session(ledger: &str, lines: &[&str]) -> String {
    text(&common::cli::record_session(ledger, &[], lines).stdout)
}

struct Fixture {
    dir: tempfile::TempDir,
    ledger: String,
    vkey: String,
    blocked: u64,
    node: BitcoinNode,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = dir.path().join("l.redb").display().to_string();
        let replies = record_session(&ledger, &[INITIALIZE, ATTACK, BENIGN]);
        let blocked = replies
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|r| r["id"] == 2)
            .and_then(|r| r["error"]["data"]["ledger_index"].as_u64())
            .unwrap_or_else(|| panic!("the attack was not blocked: {replies}"));
        let vkey = expect(0, &["keys", "show", "--ledger", &ledger])
            .trim()
            .to_owned();
        let node = BitcoinNode::start(dir.path());
        Fixture {
            dir,
            ledger,
            vkey,
            blocked,
            node,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// `vanguard anchor SUB --ledger L --rpc-url URL --rpc-cookie C [extra]`.
    fn anchor(&self, code: i32, sub: &str, extra: &[&str]) -> String {
        let cookie = self.node.cookie.display().to_string();
        let mut args = vec![
            "anchor",
            sub,
            "--ledger",
            &self.ledger,
            "--rpc-url",
            &self.node.url,
            "--rpc-cookie",
            &cookie,
        ];
        args.extend(extra);
        expect(code, &args)
    }

    fn verify(&self, file: &str, extra: &[&str]) -> (i32, String) {
        let mut args = vec!["verify", file, "--key", &self.vkey];
        args.extend(extra);
        let out = run(&args);
        (
            out.status.code().expect("exit code"),
            format!("{}{}", text(&out.stdout), text(&out.stderr)),
        )
    }

    fn status(&self) -> Value {
        let out = expect(0, &["anchor", "status", "--ledger", &self.ledger, "--json"]);
        serde_json::from_str(out.trim()).expect("status json")
    }
}

/// A named change to an anchor's JSON.
type Mutation = Box<dyn Fn(&mut Value)>;

/// The receipt with its first anchor changed by `change`, written to `name`. Only the
/// `anchors` text is replaced: the entry must stay byte for byte as it was.
fn tampered(f: &Fixture, original: &str, name: &str, change: impl Fn(&mut Value)) -> String {
    let receipt: Value = serde_json::from_str(original).expect("receipt json");
    let mut anchors = receipt["anchors"].clone();
    change(&mut anchors[0]);
    let at = original.rfind("\"anchors\":").expect("anchors last");
    let text = format!("{}\"anchors\": {anchors}\n}}\n", &original[..at]);
    let path = f.path(name);
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn commit_mine_complete_receipt_verify() {
    let f = Fixture::new();
    assert!(expect(0, &["anchor", "status", "--ledger", &f.ledger]).contains("no anchors"));

    // Commit: the node's wallet builds, funds, signs and broadcasts one OP_RETURN tx.
    let out = f.anchor(0, "commit", &["--network", "regtest"]);
    assert!(out.contains("committed the checkpoint of"), "{out}");
    let status = f.status();
    let pending = &status["pending"][0];
    let txid = pending["txid"].as_str().expect("pending txid").to_owned();
    assert_eq!(pending["network"], "regtest");
    assert_eq!(pending["fee_sat"], bitcoin_node::FEE_SAT);
    let anchored_size = pending["checkpoint_size"].as_u64().expect("size");
    assert!(anchored_size > f.blocked);
    let methods: Vec<String> = f
        .node
        .with_state(|s| s.calls.iter().map(|c| c.0.clone()).collect());
    assert_eq!(
        methods,
        [
            "createrawtransaction",
            "fundrawtransaction",
            "signrawtransactionwithwallet",
            "sendrawtransaction"
        ]
    );
    // The transaction in the node's mempool commits to the ledger's checkpoint.
    let commitment = pending["commitment"]
        .as_str()
        .expect("commitment")
        .to_owned();
    let in_mempool = f.node.with_state(|s| {
        s.mempool.iter().any(|t| {
            t.output
                .iter()
                .any(|o| o.script_pubkey.to_hex_string().contains(&commitment))
        })
    });
    assert!(in_mempool, "no mempool transaction carries {commitment}");

    // Committing the same checkpoint again is refused.
    let again = f.anchor(2, "commit", &["--network", "regtest"]);
    assert!(again.contains("is still pending"), "{again}");

    // Not mined yet.
    let out = f.anchor(3, "complete", &[]);
    assert!(
        out.contains("not yet confirmed") && out.contains("0 confirmation(s), 1 needed"),
        "{out}"
    );
    f.node.mine(1);
    let out = f.anchor(3, "complete", &["--confirmations", "2"]);
    assert!(out.contains("1 confirmation(s), 2 needed"), "{out}");
    f.node.mine(1);
    let out = f.anchor(0, "complete", &["--confirmations", "2"]);
    assert!(out.contains("anchored the checkpoint"), "{out}");
    let (height, block) = f.node.block_of(&txid).expect("mined");
    let block_hash = block.block_hash().to_string();
    assert!(out.contains(&block_hash), "{out}");
    let status = f.status();
    assert_eq!(status["pending"], json!([]));
    assert_eq!(status["done"][0]["block_hash"], block_hash.as_str());
    assert_eq!(status["done"][0]["height"], height);
    let table = expect(0, &["anchor", "status", "--ledger", &f.ledger]);
    assert!(table.contains("done") && table.contains(&txid), "{table}");
    assert!(f.anchor(0, "complete", &[]).contains("no pending anchors"));

    // The same anchor as an OpenTimestamps proof, replayed by python-opentimestamps from the
    // note's digest to this block's Merkle root.
    let ots = f.path("checkpoint.note.ots");
    expect(0, &["anchor", "ots", "--ledger", &f.ledger, "-o", &ots]);
    let note = std::fs::read_to_string(f.path("checkpoint.note")).expect("note written beside");
    assert!(
        note.contains(&format!("\n{anchored_size}\n")),
        "the note is not the anchored checkpoint: {note}"
    );
    let block_file = f.path("anchor.block");
    std::fs::write(&block_file, bitcoin::consensus::encode::serialize(&block)).expect("block");
    let manifest = [json!({
        "name": "cli export", "ots": ots, "note": f.path("checkpoint.note"),
        "block": block_file, "height": height, "tamper": false,
    })];
    let reports = ots_checker::run(&manifest, f.dir.path());
    assert_eq!(reports[0]["valid"], true, "{}", reports[0]);

    // The receipt for the blocked call carries the anchor and verifies offline.
    let receipt_path = f.path("receipt.json");
    let seq = f.blocked.to_string();
    expect(
        0,
        &[
            "ledger",
            "proof",
            &seq,
            "-o",
            &receipt_path,
            "--ledger",
            &f.ledger,
        ],
    );
    let receipt_text = std::fs::read_to_string(&receipt_path).expect("read");
    let receipt: Value = serde_json::from_str(&receipt_text).expect("json");
    let anchor = &receipt["anchors"][0];
    assert_eq!(anchor["type"], "bitcoin");
    assert_eq!(anchor["network"], "regtest");
    assert_eq!(anchor["height"], height);
    assert!(!anchor["consistency"]
        .as_array()
        .expect("consistency")
        .is_empty());
    let (code, out) = f.verify(&receipt_path, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("anchor: bitcoin regtest block {block_hash}")),
        "{out}"
    );
    assert!(out.contains("existed no later than 2026-01-01T"), "{out}");
    assert!(out.contains("ANCHOR ON BITCOIN REGTEST"), "{out}");
    let (code, out) = f.verify(&receipt_path, &["--json"]);
    assert_eq!(code, 0, "{out}");
    let report: Value = serde_json::from_str(&out).expect("report json");
    assert_eq!(report["anchors"][0]["block_hash"], block_hash.as_str());
    assert_eq!(report["anchors"][0]["block_time"], block.header.time);

    // Bound to the auditor's header chain: height and confirmations.
    let headers = f.path("headers.txt");
    std::fs::write(&headers, f.node.headers_file()).expect("headers");
    let (code, out) = f.verify(
        &receipt_path,
        &["--headers", &headers, "--network", "regtest"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "height {height} (bound by headers), 2 confirmation(s)"
        )),
        "{out}"
    );
    let trusted = format!("{block_hash}:{height}");
    let (code, out) = f.verify(&receipt_path, &["--trusted-block", &trusted]);
    assert_eq!(code, 0, "{out}");

    // Every tampered part fails, with its check named (exit 1).
    let tx_hex = anchor["tx"].as_str().expect("tx").to_owned();
    let proof_hex = anchor["txoutproof"]
        .as_str()
        .expect("txoutproof")
        .to_owned();
    let mut tx: Transaction = deserialize(&Vec::<u8>::from_hex(&tx_hex).expect("hex")).expect("tx");
    tx.output[0].script_pubkey = {
        let mut b = tx.output[0].script_pubkey.to_bytes();
        b[10] ^= 1;
        b.into()
    };
    let bad_tx = serialize_hex(&tx);
    let mut mb: MerkleBlock =
        deserialize(&Vec::<u8>::from_hex(&proof_hex).expect("hex")).expect("merkle block");
    mb.header.merkle_root = f.node.with_state(|s| s.chain.blocks[1].header.merkle_root);
    bitcoin_node::regtest::mine(&mut mb.header);
    let bad_root = serialize_hex(&mb);
    let mut mb: MerkleBlock =
        deserialize(&Vec::<u8>::from_hex(&proof_hex).expect("hex")).expect("merkle block");
    mb.header.bits = bitcoin::CompactTarget::from_consensus(0x2100_ffff);
    bitcoin_node::regtest::mine(&mut mb.header);
    let bad_header = serialize_hex(&mb);
    let cases: Vec<(&str, Mutation, &str)> = vec![
        (
            "tx.json",
            Box::new(move |a| a["tx"] = json!(bad_tx)),
            "transaction commits to the anchored checkpoint",
        ),
        (
            "txoutproof.json",
            Box::new(move |a| a["txoutproof"] = json!(bad_root)),
            "Merkle tree root is the block header's",
        ),
        (
            "header.json",
            Box::new(move |a| a["txoutproof"] = json!(bad_header)),
            "block header has valid proof-of-work",
        ),
        (
            "checkpoint.json",
            Box::new(|a| {
                let note =
                    a["checkpoint"]
                        .as_str()
                        .expect("note")
                        .replacen("\n\n", "\nextra\n\n", 1);
                a["checkpoint"] = json!(note);
            }),
            "anchored checkpoint is signed by a trusted key",
        ),
        (
            "consistency.json",
            Box::new(|a| {
                a["consistency"][0] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
            }),
            "consistency proof links the checkpoint to the anchored one",
        ),
        (
            "network.json",
            Box::new(|a| a["network"] = json!("main")),
            "block header has valid proof-of-work",
        ),
    ];
    for (name, change, check) in cases {
        let path = tampered(&f, &receipt_text, name, change);
        let (code, out) = f.verify(&path, &[]);
        assert_eq!(code, 1, "{name} should be invalid:\n{out}");
        assert!(
            out.contains(&format!("FAIL {check}")),
            "{name} should fail {check:?}:\n{out}"
        );
    }
    // The auditor insists on mainnet.
    let (code, out) = f.verify(&receipt_path, &["--network", "main"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL anchor network") && out.contains("the anchor is on regtest"),
        "{out}"
    );
    // A bad --headers file is the auditor's input: unusable (2).
    std::fs::write(&headers, "height 0\nzz\n").expect("headers");
    let (code, out) = f.verify(&receipt_path, &["--headers", &headers]);
    assert_eq!(code, 2, "{out}");

    // A slice of the session carries the same anchor.
    let slice = f.path("incident.vgslice");
    expect(
        0,
        &[
            "ledger", "export", "--from", "0", "--to", &seq, "-o", &slice, "--ledger", &f.ledger,
        ],
    );
    let (code, out) = f.verify(&slice, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("anchor: bitcoin regtest block {block_hash}")),
        "{out}"
    );

    // The anchor events themselves come after the anchored checkpoint: their receipt has no
    // anchor, and still verifies.
    let done_seq = status["done"][0]["seq"].as_u64().expect("seq").to_string();
    let late = f.path("late.json");
    expect(
        0,
        &[
            "ledger", "proof", &done_seq, "-o", &late, "--ledger", &f.ledger,
        ],
    );
    let late_json: Value =
        serde_json::from_str(&std::fs::read_to_string(&late).expect("read")).expect("json");
    assert!(late_json.get("anchors").is_none(), "{late_json}");
    assert_eq!(f.verify(&late, &[]).0, 0);
}

#[test]
fn node_errors_are_clear() {
    let f = Fixture::new();
    // Wrong cookie: HTTP 401.
    let bad_cookie = f.path("bad.cookie");
    std::fs::write(&bad_cookie, "__cookie__:00").expect("cookie");
    let out = expect(
        2,
        &[
            "anchor",
            "commit",
            "--ledger",
            &f.ledger,
            "--network",
            "regtest",
            "--rpc-url",
            &f.node.url,
            "--rpc-cookie",
            &bad_cookie,
        ],
    );
    assert!(out.contains("refused the credentials (HTTP 401)"), "{out}");
    assert_eq!(f.status()["pending"], json!([]));
    // An empty wallet: Bitcoin Core's -6, with what to do; nothing recorded.
    f.node.with_state(|s| s.balance_sat = 0);
    let out = f.anchor(2, "commit", &["--network", "regtest"]);
    assert!(
        out.contains("Bitcoin Core error -6: Insufficient funds")
            && out.contains("fund the node's wallet"),
        "{out}"
    );
    assert_eq!(f.status()["pending"], json!([]));
    f.node.with_state(|s| s.balance_sat = 100_000_000);
    // user/password auth works the same way (the cookie's user and password).
    let cookie = std::fs::read_to_string(&f.node.cookie).expect("cookie");
    let (user, password) = cookie.split_once(':').expect("user:password");
    let with_password = |sub: &str, password: &str, code: i32| {
        let mut args = vec![
            "anchor",
            sub,
            "--ledger",
            &f.ledger,
            "--rpc-url",
            &f.node.url,
            "--rpc-user",
            user,
            "--rpc-password",
            password,
        ];
        if sub == "commit" {
            args.extend(["--network", "regtest"]);
        }
        expect(code, &args)
    };
    let out = with_password("commit", password, 0);
    assert!(out.contains("committed the checkpoint"), "{out}");
    let out = with_password("complete", "wrong", 2);
    assert!(out.contains("HTTP 401"), "{out}");
    let out = with_password("complete", password, 3);
    assert!(out.contains("not yet confirmed"), "{out}");
    // Nothing listens: a connection error names the URL.
    let out = expect(
        2,
        &[
            "anchor",
            "complete",
            "--ledger",
            &f.ledger,
            "--rpc-url",
            "http://127.0.0.1:9",
            "--rpc-cookie",
            &f.node.cookie.display().to_string(),
        ],
    );
    assert!(
        out.contains("calling gettxoutproof on http://127.0.0.1:9"),
        "{out}"
    );
}

#[test]
fn rpc_client_maps_bitcoin_core_errors() {
    use vanguard::anchor::bitcoin::{RpcAuth, RpcClient, RpcError};
    let dir = tempfile::tempdir().expect("tempdir");
    let node = BitcoinNode::start(dir.path());
    let client = RpcClient::new(&node.url, RpcAuth::Cookie(node.cookie.clone())).expect("client");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let missing = rt.block_on(client.call::<Value>("nosuchmethod", json!([])));
    assert!(
        matches!(missing, Err(RpcError::Node { code: -32601, .. })),
        "{missing:?}"
    );
    let bad = rt.block_on(client.block_header("00"));
    assert!(
        matches!(bad, Err(RpcError::Node { code: -8, .. })),
        "{bad:?}"
    );
    let unknown = rt.block_on(client.block_header(&"11".repeat(32)));
    assert!(
        matches!(unknown, Err(RpcError::Node { code: -5, .. })),
        "{unknown:?}"
    );
    let not_mined = rt.block_on(client.txout_proof(&"22".repeat(32)));
    assert_eq!(
        not_mined.as_ref().err().and_then(RpcError::code),
        Some(-5),
        "{not_mined:?}"
    );
    let tip = node.with_state(|s| s.chain.tip().block_hash().to_string());
    let header = rt.block_on(client.block_header(&tip)).expect("header");
    assert_eq!((header.height, header.confirmations), (1, 1));
    let hex = rt
        .block_on(client.create_data_transaction(b"VGD1"))
        .expect("create");
    // Version 2, no inputs, one OP_RETURN output of 0 sat, locktime 0: Core's legacy form.
    assert_eq!(hex, "0200000000010000000000000000066a045647443100000000");
    let missing_cookie =
        RpcClient::new(&node.url, RpcAuth::Cookie(dir.path().join("none"))).expect("client");
    let err = rt
        .block_on(missing_cookie.send("00"))
        .expect_err("no cookie");
    assert!(err.to_string().contains("reading the RPC cookie"), "{err}");
}

#[test]
fn receipts_take_the_earliest_anchor_that_covers_them() {
    let f = Fixture::new();
    f.anchor(0, "commit", &["--network", "regtest"]);
    f.node.mine(1);
    f.anchor(0, "complete", &[]);
    // A second session, then a second anchor.
    record_session(&f.ledger, &[INITIALIZE, BENIGN]);
    f.anchor(0, "commit", &["--network", "regtest"]);
    f.node.mine(2);
    f.anchor(0, "complete", &[]);
    let status = f.status();
    let done = status["done"].as_array().expect("done");
    assert_eq!(done.len(), 2, "{status}");
    let (first, second) = (
        done[0]["checkpoint_size"].as_u64().expect("size"),
        done[1]["checkpoint_size"].as_u64().expect("size"),
    );
    assert!(first < second);
    // An entry under the first anchor takes the first; one between the two, the second.
    for (seq, block) in [
        (f.blocked, &done[0]["block_hash"]),
        (first, &done[1]["block_hash"]),
    ] {
        let path = f.path(&format!("r{seq}.json"));
        expect(
            0,
            &[
                "ledger",
                "proof",
                &seq.to_string(),
                "-o",
                &path,
                "--ledger",
                &f.ledger,
            ],
        );
        let r: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        assert_eq!(r["anchors"].as_array().map(Vec::len), Some(1), "{r}");
        let (code, out) = f.verify(&path, &[]);
        assert_eq!(code, 0, "{out}");
        let block = block.as_str().expect("hash");
        assert!(
            out.contains(&format!("block {block}")),
            "entry {seq} should take block {block}:\n{out}"
        );
    }
    // Bad auditor flags are unusable input (2), before anything is read.
    let path = f.path(&format!("r{}.json", f.blocked));
    for flags in [
        &["--network", "moon"][..],
        &["--trusted-block", "zz"],
        &["--headers", "/nonexistent"],
    ] {
        let (code, out) = f.verify(&path, flags);
        assert_eq!(code, 2, "{flags:?}: {out}");
    }
}

/// A `vanguard start` session driven line by line, its stderr collected as it comes.
struct Proxy {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    replies: std::sync::mpsc::Receiver<Value>,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Proxy {
    fn start(ledger: &str, extra: &[&str]) -> Proxy {
        use std::io::{BufRead, BufReader, Read};
        let mut child = vanguard()
            .env("VANGUARD_LOG", "info")
            .args(["start", "--ledger", ledger])
            .args(extra)
            .arg("--")
            .arg("python3")
            .arg(echo_server())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vanguard start runs");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, replies) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        let mut stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().expect("log").push_str(&text(&buf[..n]));
            }
        });
        Proxy {
            stdin: child.stdin.take(),
            child,
            replies,
            log,
        }
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    /// Waits (bounded) until stderr holds `needle`.
    fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + TIMEOUT;
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} on stderr in {TIMEOUT:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends one line and returns the reply with the same id.
    fn call(&mut self, line: &str) -> Value {
        let id = serde_json::from_str::<Value>(line).expect("request")["id"].clone();
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write");
        stdin.flush().expect("flush");
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.replies.recv_timeout(left) {
                Ok(reply) if reply["id"] == id => return reply,
                Ok(_) => {}
                Err(e) => panic!("no reply to {line} ({e}); stderr:\n{}", self.log()),
            }
        }
    }

    /// Ends the session (the agent disconnects) and waits, bounded, for the proxy to exit.
    fn close(mut self) -> (i32, String) {
        drop(self.stdin.take());
        let out = wait_bounded(self.child, "vanguard start with --anchor-every");
        let code = out.status.code().expect("exit code");
        // The reader thread has the whole of stderr once the process is gone.
        let deadline = Instant::now() + TIMEOUT;
        while std::sync::Arc::strong_count(&self.log) > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let log = self.log.lock().expect("log").clone();
        (code, log)
    }
}

/// Waits (bounded) until `done` holds on the node's state.
fn wait_node(node: &BitcoinNode, what: &str, done: impl Fn(&bitcoin_node::NodeState) -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !node.with_state(|s| done(s)) {
        assert!(Instant::now() < deadline, "{what}: not within {TIMEOUT:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `complete` fetched a mined transaction (`getrawtransaction` with a block hash:
/// its last call before recording), `txid`'s if given. Without a block hash the call only
/// asks whether the node still has an unconfirmed transaction.
fn proof_fetched(s: &bitcoin_node::NodeState, txid: Option<&str>) -> bool {
    s.calls.iter().any(|(method, params)| {
        method == "getrawtransaction"
            && params.as_array().is_some_and(|p| p.len() == 3)
            && txid.is_none_or(|t| params[0] == t)
    })
}

fn calls(node: &BitcoinNode, method: &str) -> usize {
    node.with_state(|s| s.calls.iter().filter(|c| c.0 == method).count())
}

/// The proxy anchors on its own while it runs: a failing node is logged and retried, the
/// attack it blocks is committed at the next tick, the proof is collected once mined, and
/// no second fee is paid for a checkpoint that adds only the anchor's own events.
#[test]
fn running_proxy_anchors_on_a_schedule() {
    let f = Fixture::new();
    let cookie = f.node.cookie.display().to_string();
    // The wallet is empty at first: the first tick (at once: no anchor yet) fails.
    f.node.with_state(|s| s.balance_sat = 0);
    let mut proxy = Proxy::start(
        &f.ledger,
        &[
            "--anchor-every",
            "10s",
            "--anchor-network",
            "regtest",
            "--rpc-url",
            &f.node.url,
            "--rpc-cookie",
            &cookie,
        ],
    );
    proxy.wait_for_log("anchoring failed");
    assert!(
        proxy
            .log()
            .contains("Bitcoin Core error -6: Insufficient funds"),
        "the reason is logged:\n{}",
        proxy.log()
    );
    assert_eq!(calls(&f.node, "sendrawtransaction"), 0);
    // The proxy answers meanwhile, and records the attack before the wallet is funded, so
    // whichever tick commits covers it.
    assert!(proxy.call(INITIALIZE)["result"].is_object());
    let blocked = proxy.call(ATTACK);
    let attack_seq = blocked["error"]["data"]["ledger_index"]
        .as_u64()
        .unwrap_or_else(|| panic!("the attack was not blocked: {blocked}"));
    assert!(proxy.call(BENIGN)["result"].is_object());
    f.node.with_state(|s| s.balance_sat = 100_000_000);

    wait_node(&f.node, "the anchor transaction in the mempool", |s| {
        !s.mempool.is_empty()
    });
    f.node.mine(1);
    // complete's last call; its `anchor` event is appended before the tick ends, and the
    // session's end waits for the tick.
    wait_node(&f.node, "the proof collected", |s| proof_fetched(s, None));
    let (code, log) = proxy.close();
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("anchor committed") && log.contains("anchor complete"),
        "{log}"
    );
    assert_eq!(calls(&f.node, "sendrawtransaction"), 1, "one fee paid");

    let status = f.status();
    assert_eq!(status["pending"], json!([]), "{status}");
    assert_eq!(status["abandoned"], json!([]), "{status}");
    let done = status["done"].as_array().expect("done");
    assert_eq!(done.len(), 1, "{status}");
    assert!(done[0]["checkpoint_size"].as_u64().expect("size") > attack_seq);
    let txid = done[0]["txid"].as_str().expect("txid");
    let (height, block) = f.node.block_of(txid).expect("mined");
    let block_hash = block.block_hash().to_string();
    assert_eq!(done[0]["block_hash"], block_hash.as_str());

    // The session's start event records the schedule.
    let entries = expect(0, &["ledger", "log", "--json", "--ledger", &f.ledger]);
    let start = entries
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["event"]["type"] == "start")
        .expect("start event");
    assert_eq!(
        start["event"]["anchor"],
        json!({"every": "10s", "network": "regtest", "confirmations": 1}),
        "{start}"
    );

    // The blocked call's receipt carries the anchor and verifies offline.
    let receipt = f.path("scheduled.json");
    expect(
        0,
        &[
            "ledger",
            "proof",
            &attack_seq.to_string(),
            "-o",
            &receipt,
            "--ledger",
            &f.ledger,
        ],
    );
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(&receipt).expect("read")).expect("json");
    assert_eq!(r["anchors"][0]["type"], "bitcoin", "{r}");
    assert_eq!(r["anchors"][0]["height"], height, "{r}");
    let (code, out) = f.verify(&receipt, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("anchor: bitcoin regtest block {block_hash}")),
        "{out}"
    );
}

/// A node that cannot be reached is logged with the reason and never stops the proxy, and
/// a session that ends while the scheduler waits for its next tick (an hour away) ends at
/// once: the bounded wait in `close` is far shorter than the interval.
#[test]
fn running_proxy_answers_while_the_node_is_down_and_stops_mid_interval() {
    let f = Fixture::new();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let cookie = f.node.cookie.display().to_string();
    let mut proxy = Proxy::start(
        &f.ledger,
        &[
            "--anchor-every",
            "1h",
            "--rpc-url",
            &dead,
            "--rpc-cookie",
            &cookie,
        ],
    );
    proxy.wait_for_log("anchoring failed");
    assert!(
        proxy
            .log()
            .contains(&format!("calling createrawtransaction on {dead}"))
            && proxy.log().contains("Connection refused"),
        "{}",
        proxy.log()
    );
    assert!(proxy.call(INITIALIZE)["result"].is_object());
    assert!(proxy.call(ATTACK)["error"]["data"]["ledger_index"].is_u64());
    assert_eq!(
        proxy.call(BENIGN)["result"]["params"]["arguments"]["text"],
        "hello",
        "{}",
        proxy.log()
    );
    let (code, log) = proxy.close();
    assert_eq!(code, 0, "{log}");
    let status = f.status();
    for state in ["pending", "done", "abandoned"] {
        assert_eq!(status[state], json!([]), "{status}");
    }
    assert!(f.node.with_state(|s| s.calls.is_empty()));
}

/// Bad anchoring options are refused before the server starts or the ledger is opened.
#[test]
fn start_refuses_bad_anchor_options() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = dir.path().join("l.redb").display().to_string();
    let cookie = dir.path().join(".cookie");
    std::fs::write(&cookie, "no colon here").expect("cookie");
    let cookie = cookie.display().to_string();
    let missing_dir = dir.path().join("typo/.cookie").display().to_string();
    let node = ["--rpc-url", "http://127.0.0.1:18443", "--rpc-cookie"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--anchor-every", "5s"], "at least 10s"),
        (vec!["--anchor-every", "soon"], "--anchor-every"),
        (vec!["--anchor-every", "1h"], "--rpc-url"),
        (
            vec!["--rpc-url", "http://127.0.0.1:1", "--rpc-cookie", &cookie],
            "--anchor-every",
        ),
        (vec!["--anchor-network", "regtest"], "--anchor-every"),
        (
            [&["--anchor-every", "1h"][..], &node, &[&missing_dir]].concat(),
            "no directory",
        ),
        (
            [&["--anchor-every", "1h"][..], &node, &[&cookie]].concat(),
            "no `user:password`",
        ),
        (
            vec![
                "--anchor-every",
                "1h",
                "--rpc-url",
                "127.0.0.1:18443",
                "--rpc-user",
                "u",
                "--rpc-password",
                "p",
            ],
            "is not a URL",
        ),
        (
            vec![
                "--anchor-every",
                "1h",
                "--anchor-network",
                "moon",
                "--rpc-url",
                "http://127.0.0.1:18443",
                "--rpc-user",
                "u",
                "--rpc-password",
                "p",
            ],
            "moon",
        ),
    ];
    for (flags, message) in cases {
        let mut args = vec!["start", "--ledger", &ledger];
        args.extend(&flags);
        args.extend(["--", "python3", "-c", "pass"]);
        let out = expect(2, &args);
        assert!(out.contains(message), "{flags:?}: {out}");
        assert!(
            !Path::new(&ledger).exists(),
            "{flags:?} opened the ledger:\n{out}"
        );
    }
}

/// The mempool transaction `txid`, as the node holds it.
fn mempool_tx(node: &BitcoinNode, txid: &str) -> Transaction {
    node.with_state(|s| {
        s.mempool
            .iter()
            .find(|t| t.compute_txid().to_string() == txid)
            .cloned()
    })
    .unwrap_or_else(|| panic!("{txid} is not in the mempool"))
}

/// The node drops the pending transaction: `complete` says so (and what to do), a new
/// commit is refused until `anchor abandon` records why, then anchoring goes on and the
/// receipt verifies. The abandoned transaction mined after all is still collected with
/// `complete --txid`, and receipts then take its (earlier) anchor.
#[test]
fn dropped_anchor_is_reported_abandoned_and_anchoring_resumes() {
    let f = Fixture::new();
    f.anchor(0, "commit", &["--network", "regtest"]);
    let status = f.status();
    let first = status["pending"][0]["txid"]
        .as_str()
        .expect("txid")
        .to_owned();
    let first_size = status["pending"][0]["checkpoint_size"]
        .as_u64()
        .expect("size");
    let first_tx = mempool_tx(&f.node, &first);

    // Still in the mempool: waiting, not dropped.
    let out = f.anchor(3, "complete", &[]);
    assert!(
        out.contains("not yet confirmed") && !out.contains("dropped"),
        "{out}"
    );

    assert!(f.node.drop_from_mempool(&first));
    let out = f.anchor(4, "complete", &[]);
    assert!(
        out.contains(&format!(
            "dropped: the node no longer knows transaction {first}"
        )) && out.contains(&format!("vanguard anchor abandon {first}")),
        "{out}"
    );
    // Still pending: nothing was recorded, and no new commit.
    assert_eq!(f.status()["pending"][0]["txid"], first.as_str());
    let again = f.anchor(2, "commit", &["--network", "regtest"]);
    assert!(again.contains("is still pending"), "{again}");

    // Refusals, each saying why, and nothing recorded.
    let abandon = |code: i32, txid: &str, reason: &str| {
        expect(
            code,
            &[
                "anchor", "abandon", txid, "--reason", reason, "--ledger", &f.ledger,
            ],
        )
    };
    let out = abandon(2, "5e1f", "dropped");
    assert!(out.contains("5e1f is not a transaction id"), "{out}");
    let out = abandon(2, &format!("{}zz", &first[..62]), "dropped");
    assert!(out.contains("is not a transaction id"), "{out}");
    let stranger = "ab".repeat(32);
    let out = abandon(2, &stranger, "dropped");
    assert!(
        out.contains(&format!("no anchor transaction {stranger} in this ledger")),
        "{out}"
    );
    let out = abandon(2, &first, "  ");
    assert!(out.contains("give a reason"), "{out}");
    let out = expect(2, &["anchor", "abandon", &first, "--ledger", &f.ledger]);
    assert!(out.contains("--reason"), "{out}");
    assert_eq!(f.status()["abandoned"], json!([]));

    // Abandoned (upper-case txid accepted), with the reason listed by status.
    let out = abandon(
        0,
        &first.to_ascii_uppercase(),
        "evicted from the mempool (fee too low)",
    );
    assert!(out.contains("abandoned the anchor"), "{out}");
    let out = abandon(2, &first, "again");
    assert!(
        out.contains("is already abandoned") && out.contains("evicted from the mempool"),
        "{out}"
    );
    let status = f.status();
    assert_eq!(status["pending"], json!([]), "{status}");
    assert_eq!(status["abandoned"][0]["txid"], first.as_str(), "{status}");
    assert_eq!(
        status["abandoned"][0]["reason"], "evicted from the mempool (fee too low)",
        "{status}"
    );
    assert_eq!(
        status["abandoned"][0]["checkpoint_size"], first_size,
        "{status}"
    );
    let table = expect(0, &["anchor", "status", "--ledger", &f.ledger]);
    assert!(
        table.lines().any(|l| l.starts_with("abandoned")
            && l.contains(&first)
            && l.contains(&format!("regtest  {first_size:>10}"))
            && l.contains("fee too low")),
        "{table}"
    );
    assert!(f.anchor(0, "complete", &[]).contains("no pending anchors"));

    // A new anchor, of the larger checkpoint that records the abandonment, mined and collected.
    f.anchor(0, "commit", &["--network", "regtest"]);
    let pending = f.status()["pending"][0].clone();
    let second = pending["txid"].as_str().expect("txid").to_owned();
    assert_ne!(second, first);
    assert!(pending["checkpoint_size"].as_u64().expect("size") > first_size);
    f.node.mine(1);
    let out = f.anchor(0, "complete", &[]);
    assert!(
        out.contains(&format!("transaction {second} in block")),
        "{out}"
    );
    let out = abandon(2, &second, "too late");
    assert!(out.contains("is already complete"), "{out}");

    let receipt = f.path("after_abandon.json");
    let seq = f.blocked.to_string();
    let prove = |path: &str| {
        expect(
            0,
            &["ledger", "proof", &seq, "-o", path, "--ledger", &f.ledger],
        );
        serde_json::from_str::<Value>(&std::fs::read_to_string(path).expect("read"))
            .expect("receipt json")
    };
    let r = prove(&receipt);
    let (_, block) = f.node.block_of(&second).expect("mined");
    let second_block = block.block_hash().to_string();
    assert_eq!(r["anchors"][0]["block_hash"], second_block.as_str(), "{r}");
    let (code, out) = f.verify(&receipt, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("block {second_block}")), "{out}");

    // The dropped transaction is mined after all (another node still had it): its proof is
    // collected by txid, and being the earlier checkpoint, receipts now carry it.
    let out = f.anchor(4, "complete", &["--txid", &first]);
    assert!(out.contains("dropped"), "{out}");
    f.node.with_state(|s| s.mempool.push(first_tx));
    f.node.mine(1);
    let out = f.anchor(0, "complete", &["--txid", &first]);
    assert!(
        out.contains(&format!("transaction {first} in block")),
        "{out}"
    );
    let out = f.anchor(2, "complete", &["--txid", &first]);
    assert!(out.contains("is already complete"), "{out}");
    let status = f.status();
    let done: Vec<&str> = status["done"]
        .as_array()
        .expect("done")
        .iter()
        .filter_map(|d| d["txid"].as_str())
        .collect();
    assert_eq!(done, [second.as_str(), first.as_str()], "{status}");
    assert_eq!(status["abandoned"][0]["txid"], first.as_str(), "{status}");
    let r = prove(&f.path("mined_after_all.json"));
    let (_, block) = f.node.block_of(&first).expect("mined");
    let first_block = block.block_hash().to_string();
    assert_ne!(first_block, second_block);
    assert_eq!(r["anchors"][0]["block_hash"], first_block.as_str(), "{r}");
    let (code, out) = f.verify(&f.path("mined_after_all.json"), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("block {first_block}")), "{out}");
}

/// A running proxy whose node drops the pending transaction abandons it by itself after
/// three ticks that found it unknown (recording why), frees the wallet's coins, commits
/// anew in the same tick, and collects the new anchor once mined.
#[test]
fn running_proxy_abandons_a_dropped_anchor_and_commits_again() {
    let f = Fixture::new();
    let cookie = f.node.cookie.display().to_string();
    let proxy = Proxy::start(
        &f.ledger,
        &[
            "--anchor-every",
            "10s",
            "--anchor-network",
            "regtest",
            "--rpc-url",
            &f.node.url,
            "--rpc-cookie",
            &cookie,
        ],
    );
    // The first tick (at once: no anchor yet) commits the fixture's session.
    wait_node(&f.node, "the first anchor in the mempool", |s| {
        !s.mempool.is_empty()
    });
    let first = f
        .node
        .with_state(|s| s.mempool[0].compute_txid().to_string());
    assert!(f.node.drop_from_mempool(&first));
    proxy.wait_for_log("the node no longer knows the anchor transaction");
    proxy.wait_for_log("anchor abandoned");
    wait_node(&f.node, "the second anchor in the mempool", |s| {
        !s.mempool.is_empty()
    });
    let second = f
        .node
        .with_state(|s| s.mempool[0].compute_txid().to_string());
    assert_ne!(second, first);
    assert_eq!(
        f.node.with_state(|s| s
            .abandoned
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()),
        [first.as_str()],
        "the wallet was asked to abandon the dropped transaction"
    );
    f.node.mine(1);
    wait_node(&f.node, "the second anchor's proof collected", |s| {
        proof_fetched(s, Some(&second))
    });
    let (code, log) = proxy.close();
    assert_eq!(code, 0, "{log}");
    let warnings = log
        .matches("the node no longer knows the anchor transaction")
        .count();
    assert_eq!(
        warnings, 3,
        "one warning per tick that found it unknown:\n{log}"
    );
    assert_eq!(calls(&f.node, "sendrawtransaction"), 2);

    let status = f.status();
    assert_eq!(status["pending"], json!([]), "{status}");
    assert_eq!(status["abandoned"][0]["txid"], first.as_str(), "{status}");
    let reason = status["abandoned"][0]["reason"].as_str().expect("reason");
    assert!(
        reason.contains("at 3 checks in a row, 10s apart")
            && reason.contains("abandoned by the anchor scheduler"),
        "{reason}"
    );
    assert_eq!(status["done"][0]["txid"], second.as_str(), "{status}");

    let receipt = f.path("scheduled_after_drop.json");
    expect(
        0,
        &[
            "ledger",
            "proof",
            &f.blocked.to_string(),
            "-o",
            &receipt,
            "--ledger",
            &f.ledger,
        ],
    );
    let (code, out) = f.verify(&receipt, &[]);
    assert_eq!(code, 0, "{out}");
    let (_, block) = f.node.block_of(&second).expect("mined");
    assert!(
        out.contains(&format!("block {}", block.block_hash())),
        "{out}"
    );
}
