//! A Bitcoin Core JSON-RPC client for the few calls anchoring needs, with Bitcoin Core's
//! method names and parameter shapes, cookie or user/password authentication, and Bitcoin
//! Core's error objects mapped to errors that say what to do.
//!
//! Requests are JSON-RPC 1.0 as `bitcoin-cli` sends them (`{"jsonrpc":"1.0","id":..,
//! "method":..,"params":[..]}`); Bitcoin Core answers `{"result":..,"error":null|{"code":..,
//! "message":..},"id":..}` with HTTP 200, or 500 / 404 for errors, and a bare 401 when the
//! credentials are wrong.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

/// How long one call may take (a wallet call on a busy node can take seconds).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// How to authenticate to the node.
#[derive(Debug, Clone)]
pub enum RpcAuth {
    /// The `.cookie` file bitcoind writes in its data directory (`__cookie__:<hex>`), read
    /// at every call since the node rewrites it when it restarts.
    Cookie(PathBuf),
    /// `-rpcuser` / `-rpcpassword` (or an `-rpcauth` user).
    UserPass { user: String, password: String },
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// The cookie file could not be read or has no `user:password`.
    #[error("reading the RPC cookie {path}: {reason}")]
    Cookie { path: PathBuf, reason: String },
    /// The node could not be reached or the HTTP exchange failed.
    #[error("calling {method} on {url}: {source}")]
    Http {
        method: String,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// HTTP 401: wrong credentials.
    #[error("the node at {url} refused the credentials (HTTP 401): check --rpc-cookie (the node's .cookie file) or --rpc-user/--rpc-password")]
    Unauthorized { url: String },
    /// The node answered with a JSON-RPC error object.
    #[error("{method}: Bitcoin Core error {code}: {message}{}", hint(*code))]
    Node {
        method: String,
        code: i64,
        message: String,
    },
    /// The answer is not what Bitcoin Core sends.
    #[error("{method}: unexpected answer from the node (HTTP {status}): {detail}")]
    BadResponse {
        method: String,
        status: u16,
        detail: String,
    },
}

/// Bitcoin Core's RPC error codes (`src/rpc/protocol.h`) that anchoring meets.
pub mod codes {
    /// `RPC_METHOD_NOT_FOUND`.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// `RPC_INVALID_ADDRESS_OR_KEY`: also "transaction not found / not yet in a block".
    pub const INVALID_ADDRESS_OR_KEY: i64 = -5;
    /// `RPC_INVALID_PARAMETER`.
    pub const INVALID_PARAMETER: i64 = -8;
    /// `RPC_WALLET_INSUFFICIENT_FUNDS`.
    pub const WALLET_INSUFFICIENT_FUNDS: i64 = -6;
    /// `RPC_WALLET_ERROR`.
    pub const WALLET_ERROR: i64 = -4;
    /// `RPC_WALLET_NOT_FOUND`.
    pub const WALLET_NOT_FOUND: i64 = -18;
    /// `RPC_WALLET_NOT_SPECIFIED`.
    pub const WALLET_NOT_SPECIFIED: i64 = -19;
    /// `RPC_VERIFY_ERROR`: the transaction or block was rejected.
    pub const VERIFY_ERROR: i64 = -25;
    /// `RPC_VERIFY_REJECTED`.
    pub const VERIFY_REJECTED: i64 = -26;
    /// `RPC_VERIFY_ALREADY_IN_CHAIN`.
    pub const VERIFY_ALREADY_IN_CHAIN: i64 = -27;
    /// `RPC_IN_WARMUP`.
    pub const IN_WARMUP: i64 = -28;
}

fn hint(code: i64) -> &'static str {
    match code {
        codes::METHOD_NOT_FOUND => {
            " (the node lacks this method: is its wallet enabled, and is it Bitcoin Core 0.17 or later?)"
        }
        codes::WALLET_INSUFFICIENT_FUNDS => " (fund the node's wallet: one anchor costs one small transaction fee)",
        codes::WALLET_NOT_FOUND | codes::WALLET_NOT_SPECIFIED => {
            " (load a wallet, or give its endpoint: --rpc-url http://HOST:PORT/wallet/NAME)"
        }
        codes::VERIFY_ERROR | codes::VERIFY_REJECTED => " (the node rejected the transaction)",
        codes::IN_WARMUP => " (the node is starting; try again shortly)",
        _ => "",
    }
}

impl RpcError {
    /// The Bitcoin Core error code, if the node answered with one.
    pub fn code(&self) -> Option<i64> {
        match self {
            RpcError::Node { code, .. } => Some(*code),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct ErrorObject {
    code: i64,
    message: String,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    result: Value,
    #[serde(default)]
    error: Option<ErrorObject>,
}

/// A client for one node (and wallet, if the URL names one: `/wallet/NAME`).
#[derive(Debug, Clone)]
pub struct RpcClient {
    http: reqwest::Client,
    url: String,
    auth: RpcAuth,
}

/// `fundrawtransaction`'s answer.
#[derive(Debug, Clone, Deserialize)]
pub struct Funded {
    pub hex: String,
    /// Fee in BTC.
    pub fee: f64,
}

/// `signrawtransactionwithwallet`'s answer.
#[derive(Debug, Clone, Deserialize)]
pub struct Signed {
    pub hex: String,
    pub complete: bool,
    #[serde(default)]
    pub errors: Vec<Value>,
}

/// `getblockheader HASH true`'s answer (the fields used).
#[derive(Debug, Clone, Deserialize)]
pub struct BlockHeaderInfo {
    pub hash: String,
    /// -1 when the block is not on the node's best chain.
    pub confirmations: i64,
    pub height: u64,
    pub time: u64,
}

/// `getrawtransaction TXID true BLOCKHASH`'s answer (the fields used).
#[derive(Debug, Clone, Deserialize)]
pub struct RawTransaction {
    pub hex: String,
    #[serde(default)]
    pub blockhash: Option<String>,
    #[serde(default)]
    pub confirmations: Option<u64>,
}

impl RpcClient {
    pub fn new(url: &str, auth: RpcAuth) -> Result<RpcClient, RpcError> {
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|source| RpcError::Http {
                method: "(client)".into(),
                url: url.into(),
                source,
            })?;
        Ok(RpcClient {
            http,
            url: url.into(),
            auth,
        })
    }

    fn credentials(&self) -> Result<(String, String), RpcError> {
        match &self.auth {
            RpcAuth::UserPass { user, password } => Ok((user.clone(), password.clone())),
            RpcAuth::Cookie(path) => read_cookie(path),
        }
    }

    /// Calls `method` with positional `params` and decodes the result.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, RpcError> {
        let (user, password) = self.credentials()?;
        let body = json!({"jsonrpc": "1.0", "id": "vanguard", "method": method, "params": params});
        let http_err = |source| RpcError::Http {
            method: method.into(),
            url: self.url.clone(),
            source,
        };
        let response = self
            .http
            .post(&self.url)
            .basic_auth(user, Some(password))
            .json(&body)
            .send()
            .await
            .map_err(http_err)?;
        let status = response.status().as_u16();
        if status == 401 {
            return Err(RpcError::Unauthorized {
                url: self.url.clone(),
            });
        }
        let text = response.text().await.map_err(http_err)?;
        let bad = |detail: String| RpcError::BadResponse {
            method: method.into(),
            status,
            detail,
        };
        let answer: Answer = serde_json::from_str(&text).map_err(|e| {
            bad(format!(
                "{e}: {}",
                text.chars().take(200).collect::<String>()
            ))
        })?;
        if let Some(error) = answer.error {
            return Err(RpcError::Node {
                method: method.into(),
                code: error.code,
                message: error.message,
            });
        }
        if !(200..300).contains(&status) {
            return Err(bad("an HTTP error without a JSON-RPC error object".into()));
        }
        serde_json::from_value(answer.result).map_err(|e| bad(format!("result: {e}")))
    }

    /// `createrawtransaction [] [{"data": HEX}]`: an unfunded transaction whose one output
    /// is `OP_RETURN <data>`.
    pub async fn create_data_transaction(&self, data: &[u8]) -> Result<String, RpcError> {
        let data = ::bitcoin::hex::DisplayHex::to_lower_hex_string(data);
        self.call("createrawtransaction", json!([[], [{ "data": data }]]))
            .await
    }

    /// `fundrawtransaction HEX`: the wallet adds inputs and change.
    pub async fn fund(&self, hex: &str) -> Result<Funded, RpcError> {
        self.call("fundrawtransaction", json!([hex])).await
    }

    /// `signrawtransactionwithwallet HEX`.
    pub async fn sign(&self, hex: &str) -> Result<Signed, RpcError> {
        self.call("signrawtransactionwithwallet", json!([hex]))
            .await
    }

    /// `sendrawtransaction HEX`: the txid.
    pub async fn send(&self, hex: &str) -> Result<String, RpcError> {
        self.call("sendrawtransaction", json!([hex])).await
    }

    /// `getrawtransaction TXID true BLOCKHASH` (the block hash lets a node without
    /// `-txindex` find it).
    pub async fn raw_transaction(
        &self,
        txid: &str,
        block_hash: &str,
    ) -> Result<RawTransaction, RpcError> {
        self.call("getrawtransaction", json!([txid, true, block_hash]))
            .await
    }

    /// `gettxoutproof [TXID]`: the `MerkleBlock` hex, or error -5 while unconfirmed.
    pub async fn txout_proof(&self, txid: &str) -> Result<String, RpcError> {
        self.call("gettxoutproof", json!([[txid]])).await
    }

    /// `getblockheader HASH true`.
    pub async fn block_header(&self, hash: &str) -> Result<BlockHeaderInfo, RpcError> {
        self.call("getblockheader", json!([hash, true])).await
    }
}

/// Reads `user:password` from a cookie file (bitcoind writes `__cookie__:<64 hex>`).
pub fn read_cookie(path: &Path) -> Result<(String, String), RpcError> {
    let cookie_err = |reason: String| RpcError::Cookie {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| cookie_err(e.to_string()))?;
    let line = text.lines().next().unwrap_or("").trim();
    let (user, password) = line
        .split_once(':')
        .ok_or_else(|| cookie_err("no `user:password` in it".into()))?;
    if user.is_empty() || password.is_empty() {
        return Err(cookie_err("empty user or password".into()));
    }
    Ok((user.into(), password.into()))
}
