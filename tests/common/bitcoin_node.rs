//! A Bitcoin Core stand-in on loopback for the anchoring tests: the JSON-RPC subset Vanguard
//! uses, with Bitcoin Core's method names, positional parameter shapes, error objects and
//! HTTP statuses, and cookie authentication (`__cookie__:<hex>` in a cookie file, HTTP Basic).
//! Blocks are real regtest blocks built in process (`regtest.rs`, shared with the verifier's
//! tests): coinbase, the mempool's transactions, filler transactions, the real Merkle root and
//! a header mined to the regtest target. Nothing is mined until the test says so
//! ([`BitcoinNode::mine`], or the `generatetoaddress` call).
//!
//! Bitcoin Core answers a JSON-RPC 1.0 request with HTTP 200 and `{"result":..,"error":null,
//! "id":..}`; with HTTP 500 and `{"result":null,"error":{"code":..,"message":..},"id":..}` on
//! an error; with 404 for an unknown method (-32601); and with a bare 401 for bad credentials.
#![allow(dead_code)]

#[path = "../../verifier/tests/common/regtest.rs"]
pub mod regtest;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use bitcoin::consensus::encode::{deserialize, serialize, serialize_hex, Decodable};
use bitcoin::hex::{DisplayHex, FromHex};
use bitcoin::{Amount, Block, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use regtest::Chain;
use serde_json::{json, Value};

// Bitcoin Core's codes (src/rpc/protocol.h).
const RPC_MISC_ERROR: i64 = -1;
const RPC_TYPE_ERROR: i64 = -3;
const RPC_INVALID_ADDRESS_OR_KEY: i64 = -5;
const RPC_WALLET_INSUFFICIENT_FUNDS: i64 = -6;
const RPC_INVALID_PARAMETER: i64 = -8;
const RPC_DESERIALIZATION_ERROR: i64 = -22;
const RPC_VERIFY_ERROR: i64 = -25;
const RPC_VERIFY_ALREADY_IN_CHAIN: i64 = -27;
const RPC_METHOD_NOT_FOUND: i64 = -32601;

/// Fee the wallet pays per anchor: 141 vbytes at 1 sat/vB.
pub const FEE_SAT: u64 = 141;

#[derive(Debug)]
pub struct NodeState {
    pub chain: Chain,
    pub mempool: Vec<Transaction>,
    /// Sats the wallet can spend; each funding takes one made-up coin.
    pub balance_sat: u64,
    next_coin: u64,
    /// Every call, as (method, params), for assertions.
    pub calls: Vec<(String, Value)>,
    /// Transactions the wallet broadcast (it owns them: `abandontransaction` accepts these).
    pub sent: Vec<Txid>,
    /// Transactions the wallet abandoned (`abandontransaction`).
    pub abandoned: Vec<Txid>,
}

/// A running node. Dropping it stops the server.
pub struct BitcoinNode {
    pub url: String,
    pub cookie: PathBuf,
    pub state: Arc<Mutex<NodeState>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    state: Arc<Mutex<NodeState>>,
    cookie: String,
}

type RpcResult = Result<Value, (i64, String)>;

fn err(code: i64, message: impl Into<String>) -> (i64, String) {
    (code, message.into())
}

impl BitcoinNode {
    /// Starts the node on 127.0.0.1 (a free port) and writes its cookie to `dir/.cookie`,
    /// with one block mined on top of the regtest genesis block.
    pub fn start(dir: &Path) -> BitcoinNode {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).expect("randomness");
        let cookie_text = format!("__cookie__:{}", secret.to_lower_hex_string());
        let cookie = dir.join(".cookie");
        std::fs::write(&cookie, &cookie_text).expect("write cookie");
        let mut chain = Chain::new();
        chain.mine_block(vec![], 2);
        let state = Arc::new(Mutex::new(NodeState {
            chain,
            mempool: Vec::new(),
            balance_sat: 50 * 100_000_000,
            next_coin: 1,
            calls: Vec::new(),
            sent: Vec::new(),
            abandoned: Vec::new(),
        }));
        let shared = Arc::new(Shared {
            state: state.clone(),
            cookie: cookie_text,
        });
        let app = Router::new()
            .route("/", post(handle))
            .route("/wallet/{name}", post(handle))
            .with_state(shared);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
            });
        });
        BitcoinNode {
            url,
            cookie,
            state,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// Mines `n` blocks; the first takes the whole mempool. Returns their hashes.
    pub fn mine(&self, n: u64) -> Vec<String> {
        mine(&mut self.state.lock().expect("node state"), n)
    }

    /// Test hook: the node forgets the unconfirmed `txid`, as Bitcoin Core does when it evicts
    /// a transaction from its mempool (fee too low, expiry, replacement). Returns whether it
    /// was there.
    pub fn drop_from_mempool(&self, txid: &str) -> bool {
        let txid: Txid = txid.parse().expect("txid");
        self.with_state(|s| {
            let before = s.mempool.len();
            s.mempool.retain(|t| t.compute_txid() != txid);
            s.mempool.len() != before
        })
    }

    pub fn with_state<T>(&self, f: impl FnOnce(&mut NodeState) -> T) -> T {
        f(&mut self.state.lock().expect("node state"))
    }

    /// The block holding `txid`, and its height.
    pub fn block_of(&self, txid: &str) -> Option<(u64, Block)> {
        let txid: Txid = txid.parse().ok()?;
        self.with_state(|s| s.chain.find_tx(&txid).map(|(h, b, _)| (h, b.clone())))
    }

    /// A `--headers` file of the whole chain.
    pub fn headers_file(&self) -> String {
        self.with_state(|s| s.chain.headers_file(0))
    }
}

impl Drop for BitcoinNode {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn mine(s: &mut NodeState, n: u64) -> Vec<String> {
    let mut hashes = Vec::new();
    for _ in 0..n {
        let txs = std::mem::take(&mut s.mempool);
        let block = s.chain.mine_block(txs, 3);
        hashes.push(block.block_hash().to_string());
    }
    hashes
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorised(&headers, &shared.cookie) {
        // What bitcoind sends: 401, no body.
        return (
            StatusCode::UNAUTHORIZED,
            [("WWW-Authenticate", "Basic realm=\"jsonrpc\"")],
            "",
        )
            .into_response();
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                Value::Null,
                Err(err(-32700, "Parse error")),
            )
        }
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return reply(
            StatusCode::BAD_REQUEST,
            id,
            Err(err(-32600, "Method must be a string")),
        );
    };
    let params = match request.get("params") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            return reply(
                StatusCode::BAD_REQUEST,
                id,
                Err(err(-32600, "Params must be an array or object")),
            )
        }
    };
    let result = {
        let mut state = shared.state.lock().expect("node state");
        state
            .calls
            .push((method.to_owned(), Value::Array(params.clone())));
        dispatch(&mut state, method, &params)
    };
    let status = match &result {
        Ok(_) => StatusCode::OK,
        Err((RPC_METHOD_NOT_FOUND, _)) => StatusCode::NOT_FOUND,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    reply(status, id, result)
}

fn reply(status: StatusCode, id: Value, result: RpcResult) -> Response {
    let body = match result {
        Ok(v) => json!({"result": v, "error": null, "id": id}),
        Err((code, message)) => {
            json!({"result": null, "error": {"code": code, "message": message}, "id": id})
        }
    };
    (
        status,
        [("Content-Type", "application/json")],
        format!("{body}\n"),
    )
        .into_response()
}

fn authorised(headers: &HeaderMap, cookie: &str) -> bool {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map(|d| d == cookie.as_bytes())
        .unwrap_or(false)
}

fn dispatch(s: &mut NodeState, method: &str, p: &[Value]) -> RpcResult {
    match method {
        "createrawtransaction" => create_raw_transaction(p),
        "fundrawtransaction" => fund_raw_transaction(s, p),
        "signrawtransactionwithwallet" => sign_raw_transaction(p),
        "sendrawtransaction" => send_raw_transaction(s, p),
        "getrawtransaction" => get_raw_transaction(s, p),
        "gettxoutproof" => get_txout_proof(s, p),
        "abandontransaction" => abandon_transaction(s, p),
        "getblockheader" => get_block_header(s, p),
        "getblockcount" => Ok(json!(s.chain.height())),
        "generatetoaddress" => {
            let n = p.first().and_then(Value::as_u64).ok_or_else(|| {
                err(
                    RPC_TYPE_ERROR,
                    "JSON value of type null is not of expected type number",
                )
            })?;
            if p.get(1).and_then(Value::as_str).is_none() {
                return Err(err(RPC_INVALID_ADDRESS_OR_KEY, "Error: Invalid address"));
            }
            Ok(json!(mine(s, n)))
        }
        _ => Err(err(RPC_METHOD_NOT_FOUND, "Method not found")),
    }
}

fn param_count(p: &[Value], min: usize, max: usize, usage: &str) -> Result<(), (i64, String)> {
    if p.len() < min || p.len() > max {
        // Bitcoin Core answers a wrong parameter count with the method's help text.
        return Err(err(RPC_MISC_ERROR, usage));
    }
    Ok(())
}

fn hex_param(p: &[Value], i: usize) -> Result<Vec<u8>, (i64, String)> {
    let text = p.get(i).and_then(Value::as_str).ok_or_else(|| {
        err(
            RPC_TYPE_ERROR,
            format!(
                "JSON value of type {} is not of expected type string",
                type_name(p.get(i))
            ),
        )
    })?;
    Vec::<u8>::from_hex(text).map_err(|_| err(RPC_DESERIALIZATION_ERROR, "TX decode failed"))
}

fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None | Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "bool",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

/// Decodes a transaction as Bitcoin Core does, including the zero-input form
/// `createrawtransaction` writes (which the extended serialisation would misread).
fn decode_tx(bytes: &[u8]) -> Result<Transaction, (i64, String)> {
    if let Ok(tx) = deserialize::<Transaction>(bytes) {
        return Ok(tx);
    }
    let mut r = bytes;
    let zero_input = (|| -> Option<Transaction> {
        let version = i32::consensus_decode(&mut r).ok()?;
        if u8::consensus_decode(&mut r).ok()? != 0 {
            return None;
        }
        let output = Vec::<TxOut>::consensus_decode(&mut r).ok()?;
        let lock = u32::consensus_decode(&mut r).ok()?;
        r.is_empty().then(|| Transaction {
            version: bitcoin::transaction::Version(version),
            lock_time: bitcoin::absolute::LockTime::from_consensus(lock),
            input: vec![],
            output,
        })
    })();
    zero_input.ok_or_else(|| err(RPC_DESERIALIZATION_ERROR, "TX decode failed"))
}

/// Serialises `tx` as Bitcoin Core does: legacy form when it has no witness data.
fn encode_tx(tx: &Transaction) -> String {
    if tx.input.is_empty() {
        let mut out = serialize(&tx.version.0);
        out.push(0);
        out.extend(serialize(&tx.output));
        out.extend(serialize(&tx.lock_time.to_consensus_u32()));
        return out.to_lower_hex_string();
    }
    serialize_hex(tx)
}

fn create_raw_transaction(p: &[Value]) -> RpcResult {
    param_count(p, 2, 4, "createrawtransaction [{\"txid\":\"hex\",\"vout\":n},...] [{\"address\":amount,...},{\"data\":\"hex\"},...] ( locktime replaceable )")?;
    if !p[0].is_array() {
        return Err(err(
            RPC_TYPE_ERROR,
            format!(
                "JSON value of type {} is not of expected type array",
                type_name(p.first())
            ),
        ));
    }
    if !p[0].as_array().is_some_and(Vec::is_empty) {
        return Err(err(
            RPC_INVALID_PARAMETER,
            "this test node funds transactions itself: give no inputs",
        ));
    }
    let outputs: Vec<(String, Value)> = match &p[1] {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Value::Array(a) => a
            .iter()
            .flat_map(|o| o.as_object().into_iter().flatten())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        other => {
            return Err(err(
                RPC_TYPE_ERROR,
                format!(
                    "JSON value of type {} is not of expected type array",
                    type_name(Some(other))
                ),
            ))
        }
    };
    let mut tx_out = Vec::new();
    for (key, value) in outputs {
        if key != "data" {
            return Err(err(
                RPC_INVALID_ADDRESS_OR_KEY,
                format!("Invalid Bitcoin address: {key}"),
            ));
        }
        let text = value.as_str().unwrap_or_default();
        let data = Vec::<u8>::from_hex(text).map_err(|_| {
            err(
                RPC_INVALID_PARAMETER,
                format!("Data must be hexadecimal string (not '{text}')"),
            )
        })?;
        let push = bitcoin::script::PushBytesBuf::try_from(data)
            .map_err(|_| err(RPC_INVALID_PARAMETER, "Data too large"))?;
        tx_out.push(TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::new_op_return(push),
        });
    }
    let tx = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![],
        output: tx_out,
    };
    Ok(json!(encode_tx(&tx)))
}

fn fund_raw_transaction(s: &mut NodeState, p: &[Value]) -> RpcResult {
    param_count(
        p,
        1,
        3,
        "fundrawtransaction \"hexstring\" ( options iswitness )",
    )?;
    let mut tx = decode_tx(&hex_param(p, 0)?)?;
    let coin = 100_000u64;
    if s.balance_sat < coin {
        return Err(err(RPC_WALLET_INSUFFICIENT_FUNDS, "Insufficient funds"));
    }
    s.balance_sat -= coin;
    let seed = 0x5eed_0000 + s.next_coin;
    s.next_coin += 1;
    tx.input.push(TxIn {
        previous_output: bitcoin::OutPoint {
            txid: regtest::filler(seed).compute_txid(),
            vout: 0,
        },
        script_sig: ScriptBuf::new(),
        sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
        witness: Witness::new(),
    });
    let changepos = tx.output.len();
    tx.output.push(TxOut {
        value: Amount::from_sat(coin - FEE_SAT),
        script_pubkey: regtest::p2wpkh(0xc4),
    });
    Ok(json!({
        "hex": encode_tx(&tx),
        "fee": FEE_SAT as f64 / 1e8,
        "changepos": changepos,
    }))
}

fn sign_raw_transaction(p: &[Value]) -> RpcResult {
    param_count(p, 1, 3, "signrawtransactionwithwallet \"hexstring\" ( [{\"txid\":\"hex\",...},...] \"sighashtype\" )")?;
    let mut tx = decode_tx(&hex_param(p, 0)?)?;
    for (i, input) in tx.input.iter_mut().enumerate() {
        let mut sig = vec![0x30; 71];
        sig.push(0x01);
        let mut key = vec![0x03];
        key.extend([i as u8; 32]);
        input.witness = Witness::from_slice(&[sig, key]);
    }
    Ok(json!({"hex": encode_tx(&tx), "complete": !tx.input.is_empty()}))
}

fn send_raw_transaction(s: &mut NodeState, p: &[Value]) -> RpcResult {
    param_count(
        p,
        1,
        3,
        "sendrawtransaction \"hexstring\" ( maxfeerate maxburnamount )",
    )?;
    let tx = decode_tx(&hex_param(p, 0)?)?;
    if tx.input.is_empty() || tx.input.iter().any(|i| i.witness.is_empty()) {
        return Err(err(RPC_VERIFY_ERROR, "bad-txns-vin-empty"));
    }
    let txid = tx.compute_txid();
    if s.chain.find_tx(&txid).is_some() {
        return Err(err(
            RPC_VERIFY_ALREADY_IN_CHAIN,
            "Transaction outputs already in utxo set",
        ));
    }
    if !s.sent.contains(&txid) {
        s.sent.push(txid);
    }
    if !s.mempool.iter().any(|m| m.compute_txid() == txid) {
        s.mempool.push(tx);
    }
    Ok(json!(txid.to_string()))
}

fn parse_txid(v: Option<&Value>, what: &str) -> Result<Txid, (i64, String)> {
    let text = v.and_then(Value::as_str).unwrap_or_default();
    text.parse().map_err(|_| {
        err(
            RPC_INVALID_PARAMETER,
            format!(
                "{what} must be of length 64 (not {}, for '{text}')",
                text.len()
            ),
        )
    })
}

fn get_raw_transaction(s: &NodeState, p: &[Value]) -> RpcResult {
    param_count(
        p,
        1,
        3,
        "getrawtransaction \"txid\" ( verbosity \"blockhash\" )",
    )?;
    let txid = parse_txid(p.first(), "parameter 1")?;
    let verbose = match p.get(1) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0) > 0,
        Some(_) => {
            return Err(err(
                RPC_TYPE_ERROR,
                "JSON value is not an integer as expected",
            ))
        }
    };
    let (tx, place) = match p.get(2).and_then(Value::as_str) {
        Some(hash) => {
            let hash: bitcoin::BlockHash = hash
                .parse()
                .map_err(|_| err(RPC_INVALID_PARAMETER, "parameter 3 must be hexadecimal"))?;
            let (height, block) = s
                .chain
                .find(&hash)
                .ok_or_else(|| err(RPC_INVALID_ADDRESS_OR_KEY, "Block hash not found"))?;
            let tx = block
                .txdata
                .iter()
                .find(|t| t.compute_txid() == txid)
                .ok_or_else(|| {
                    err(RPC_INVALID_ADDRESS_OR_KEY, "No such transaction found in the provided block. Use gettransaction for wallet transactions.")
                })?;
            (tx.clone(), Some((height, block.clone())))
        }
        None => {
            let tx = s.mempool.iter().find(|t| t.compute_txid() == txid).ok_or_else(|| {
                err(RPC_INVALID_ADDRESS_OR_KEY, "No such mempool transaction. Use -txindex or provide a block hash to enable blockchain transaction queries. Use gettransaction for wallet transactions.")
            })?;
            (tx.clone(), None)
        }
    };
    if !verbose {
        return Ok(json!(encode_tx(&tx)));
    }
    let mut v = json!({
        "txid": txid.to_string(),
        "hash": tx.compute_wtxid().to_string(),
        "hex": encode_tx(&tx),
        "size": serialize(&tx).len(),
        "version": tx.version.0,
        "locktime": tx.lock_time.to_consensus_u32(),
    });
    if let Some((height, block)) = place {
        v["blockhash"] = json!(block.block_hash().to_string());
        v["confirmations"] = json!(s.chain.height() - height + 1);
        v["time"] = json!(block.header.time);
        v["blocktime"] = json!(block.header.time);
        v["in_active_chain"] = json!(true);
    }
    Ok(v)
}

/// Bitcoin Core's wallet: only its own transactions, and only those neither in the mempool
/// nor mined.
fn abandon_transaction(s: &mut NodeState, p: &[Value]) -> RpcResult {
    param_count(p, 1, 1, "abandontransaction \"txid\"")?;
    let txid = parse_txid(p.first(), "txid")?;
    if !s.sent.contains(&txid) {
        return Err(err(
            RPC_INVALID_ADDRESS_OR_KEY,
            "Invalid or non-wallet transaction id",
        ));
    }
    if s.mempool.iter().any(|t| t.compute_txid() == txid) || s.chain.find_tx(&txid).is_some() {
        return Err(err(
            RPC_INVALID_ADDRESS_OR_KEY,
            "Transaction not eligible for abandonment",
        ));
    }
    if !s.abandoned.contains(&txid) {
        s.abandoned.push(txid);
    }
    Ok(Value::Null)
}

fn get_txout_proof(s: &NodeState, p: &[Value]) -> RpcResult {
    param_count(p, 1, 2, "gettxoutproof [\"txid\",...] ( \"blockhash\" )")?;
    let txids = p[0].as_array().ok_or_else(|| {
        err(
            RPC_TYPE_ERROR,
            format!(
                "JSON value of type {} is not of expected type array",
                type_name(p.first())
            ),
        )
    })?;
    let txids = txids
        .iter()
        .map(|t| parse_txid(Some(t), "txid"))
        .collect::<Result<Vec<_>, _>>()?;
    let first = txids
        .first()
        .ok_or_else(|| err(RPC_INVALID_PARAMETER, "Parameter 'txids' cannot be empty"))?;
    let (_, block, _) = s
        .chain
        .find_tx(first)
        .ok_or_else(|| err(RPC_INVALID_ADDRESS_OR_KEY, "Transaction not yet in block"))?;
    if !txids
        .iter()
        .all(|t| block.txdata.iter().any(|x| x.compute_txid() == *t))
    {
        return Err(err(
            RPC_INVALID_ADDRESS_OR_KEY,
            "Not all transactions found in specified or retrieved block",
        ));
    }
    let mb = bitcoin::MerkleBlock::from_block_with_predicate(block, |t| txids.contains(t));
    Ok(json!(serialize_hex(&mb)))
}

fn get_block_header(s: &NodeState, p: &[Value]) -> RpcResult {
    param_count(p, 1, 2, "getblockheader \"blockhash\" ( verbose )")?;
    let text = p[0].as_str().unwrap_or_default();
    let hash: bitcoin::BlockHash = text.parse().map_err(|_| {
        err(
            RPC_INVALID_PARAMETER,
            format!(
                "blockhash must be of length 64 (not {}, for '{text}')",
                text.len()
            ),
        )
    })?;
    let (height, block) = s
        .chain
        .find(&hash)
        .ok_or_else(|| err(RPC_INVALID_ADDRESS_OR_KEY, "Block not found"))?;
    let h = &block.header;
    if p.get(1).and_then(Value::as_bool) == Some(false) {
        return Ok(json!(serialize_hex(h)));
    }
    let mut v = json!({
        "hash": hash.to_string(),
        "confirmations": s.chain.height() - height + 1,
        "height": height,
        "version": h.version.to_consensus(),
        "versionHex": format!("{:08x}", h.version.to_consensus()),
        "merkleroot": h.merkle_root.to_string(),
        "time": h.time,
        "mediantime": h.time,
        "nonce": h.nonce,
        "bits": format!("{:08x}", h.bits.to_consensus()),
        "difficulty": 4.656542373906925e-10,
        "nTx": block.txdata.len(),
    });
    if height > 0 {
        v["previousblockhash"] = json!(h.prev_blockhash.to_string());
    }
    if let Some(next) = s.chain.blocks.get(height as usize + 1) {
        v["nextblockhash"] = json!(next.block_hash().to_string());
    }
    Ok(v)
}
