//! The two steps of anchoring, each recorded in the ledger:
//!
//! 1. [`commit`]: the latest signed checkpoint's commitment goes into an `OP_RETURN` output of
//!    a transaction the node's wallet funds and signs; `anchor_pending` is recorded, then the
//!    transaction is broadcast.
//! 2. [`complete`]: once the transaction is mined with enough confirmations, the node's
//!    `gettxoutproof`, `getblockheader` and `getrawtransaction` give the proof; it is checked
//!    with the verifier exactly as an auditor will check it, then recorded as `anchor`.
//!
//! A transaction the node no longer knows (evicted from its mempool, replaced, never relayed,
//! wallet reset) is reported as [`Completion::Dropped`]; [`abandon`] then records
//! `anchor_abandoned` so a new anchor can be committed. A pending anchor is never ended
//! silently: either a proof or an abandonment is in the ledger.

use ::bitcoin::consensus::encode::deserialize;
use ::bitcoin::hex::FromHex;
use ::bitcoin::{MerkleBlock, Transaction};
use vanguard_verifier::anchor::{commitment_digest, commitment_payload, find_commitment};
use vanguard_verifier::{
    verify_bitcoin_anchor, verify_checkpoint, AnchorError, AnchorNetwork, AnchorOptions,
    BitcoinAnchor,
};

use super::events::{self, Abandoned, Done, Pending};
use super::rpc::{codes, RpcClient, RpcError};
use crate::ledger::record::Identity;
use crate::ledger::store::{LedgerError, Snapshot};
use crate::ledger::Ledger;

/// Why anchoring failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnchorFlowError {
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("the ledger has no signed checkpoint yet: nothing to anchor")]
    NoCheckpoint,
    #[error("the checkpoint of {size} entries is already anchored (transaction {txid}); anchor again once the ledger has grown")]
    AlreadyAnchored { size: u64, txid: String },
    #[error("the anchor of the checkpoint of {size} entries (transaction {txid}) is still pending; run `vanguard anchor complete` once it is mined, then commit again")]
    Pending { size: u64, txid: String },
    #[error("the node's wallet could not sign the transaction completely: {0}")]
    Unsigned(String),
    #[error("the node returned {what} that does not decode: {message}")]
    Decode { what: &'static str, message: String },
    #[error("the transaction the node built does not carry the commitment (node misbehaving?)")]
    CommitmentMissing,
    #[error("the node broadcast transaction {got}, not the signed {want}")]
    TxidMismatch { want: String, got: String },
    #[error("broadcasting transaction {txid} failed (recorded as anchor_abandoned, entry {seq}): {source}")]
    Broadcast {
        txid: String,
        seq: u64,
        #[source]
        source: RpcError,
    },
    #[error("the checkpoint of {0} entries is no longer in the ledger")]
    CheckpointGone(u64),
    #[error("pending anchor {txid} records an unknown network {network:?}")]
    Network { txid: String, network: String },
    #[error("{txid} is not a transaction id (64 hexadecimal digits)")]
    BadTxid { txid: String },
    #[error("no anchor transaction {txid} in this ledger (see `vanguard anchor status`)")]
    NoSuchAnchor { txid: String },
    #[error("the anchor {txid} is already complete (entry {seq}, block {block_hash})")]
    AlreadyDone {
        txid: String,
        seq: u64,
        block_hash: String,
    },
    #[error("the anchor {txid} is already abandoned (entry {seq}: {reason})")]
    AlreadyAbandoned {
        txid: String,
        seq: u64,
        reason: String,
    },
    #[error("give a reason for abandoning {txid}: it is recorded in the ledger for auditors")]
    NoReason { txid: String },
    #[error("the proof collected for {txid} does not verify: {source}")]
    SelfCheck {
        txid: String,
        #[source]
        source: AnchorError,
    },
}

/// Runs async RPC calls from synchronous code (the ledger's writer API blocks, so it must not
/// run inside the runtime).
pub struct Node {
    rt: tokio::runtime::Runtime,
    client: RpcClient,
}

impl Node {
    pub fn new(client: RpcClient) -> std::io::Result<Node> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Node { rt, client })
    }

    fn run<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.rt.block_on(f)
    }
}

/// What [`commit`] did.
#[derive(Debug, Clone)]
pub struct Committed {
    pub checkpoint_size: u64,
    pub commitment: String,
    pub txid: String,
    pub fee_sat: u64,
    /// Entry of the `anchor_pending` event.
    pub event_seq: u64,
}

fn identity() -> Identity {
    Identity::new("anchor:bitcoin".into())
}

fn decode_hex<T: ::bitcoin::consensus::Decodable>(
    what: &'static str,
    hex: &str,
) -> Result<(T, Vec<u8>), AnchorFlowError> {
    let bytes = Vec::<u8>::from_hex(hex).map_err(|e| AnchorFlowError::Decode {
        what,
        message: e.to_string(),
    })?;
    let value = deserialize(&bytes).map_err(|e| AnchorFlowError::Decode {
        what,
        message: e.to_string(),
    })?;
    Ok((value, bytes))
}

/// Commits the latest signed checkpoint (see the module documentation).
pub fn commit(
    ledger: &Ledger,
    node: &Node,
    network: AnchorNetwork,
) -> Result<Committed, AnchorFlowError> {
    let (size, note) = {
        let snap = Snapshot::new(ledger.database())?;
        let latest = snap
            .latest_checkpoint()?
            .ok_or(AnchorFlowError::NoCheckpoint)?;
        let log = events::scan(&snap)?;
        // One anchor in flight at a time: a second would pay a fee for a checkpoint that
        // differs from the pending one only by the pending anchor's own event.
        if let Some((_, p)) = log.open().first() {
            return Err(AnchorFlowError::Pending {
                size: p.checkpoint_size,
                txid: p.txid.clone(),
            });
        }
        if let Some((_, d)) = log.done.iter().find(|(_, d)| d.checkpoint_size == latest.0) {
            return Err(AnchorFlowError::AlreadyAnchored {
                size: d.checkpoint_size,
                txid: d.txid.clone(),
            });
        }
        latest
    };
    let c = &node.client;
    let raw = node.run(c.create_data_transaction(&commitment_payload(&note)))?;
    let funded = node.run(c.fund(&raw))?;
    let signed = node.run(c.sign(&funded.hex))?;
    if !signed.complete {
        return Err(AnchorFlowError::Unsigned(
            serde_json::to_string(&signed.errors).unwrap_or_default(),
        ));
    }
    let (tx, _) = decode_hex::<Transaction>("a signed transaction", &signed.hex)?;
    if find_commitment(&tx, &note).is_none() {
        return Err(AnchorFlowError::CommitmentMissing);
    }
    let txid = tx.compute_txid().to_string();
    let fee_sat = (funded.fee * 1e8).round().max(0.0) as u64;
    let pending = Pending {
        event_type: events::PENDING.into(),
        anchor: events::KIND.into(),
        network: network.as_str().into(),
        checkpoint_size: size,
        commitment: commitment_digest(&note).to_string(),
        txid: txid.clone(),
        tx: signed.hex.clone(),
        fee_sat,
    };
    let recorded = ledger.append_event(&identity(), pending.to_value())?;
    match node.run(c.send(&signed.hex)) {
        Ok(sent) if sent == txid => {}
        Ok(sent) => {
            return Err(AnchorFlowError::TxidMismatch {
                want: txid,
                got: sent,
            })
        }
        Err(e) => {
            let abandoned = Abandoned {
                event_type: events::ABANDONED.into(),
                anchor: events::KIND.into(),
                txid: txid.clone(),
                reason: e.to_string(),
            };
            let seq = ledger.append_event(&identity(), abandoned.to_value())?.seq;
            return Err(AnchorFlowError::Broadcast {
                txid,
                seq,
                source: e,
            });
        }
    }
    Ok(Committed {
        checkpoint_size: size,
        commitment: pending.commitment,
        txid,
        fee_sat,
        event_seq: recorded.seq,
    })
}

/// Where one pending anchor stands after [`complete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// Recorded as entry `event_seq`.
    Done {
        txid: String,
        checkpoint_size: u64,
        block_hash: String,
        height: u64,
        confirmations: u64,
        event_seq: u64,
    },
    /// Not yet mined deep enough.
    Waiting {
        txid: String,
        checkpoint_size: u64,
        confirmations: u64,
        needed: u64,
    },
    /// The node knows the transaction neither in its mempool nor in a block: it was dropped
    /// (evicted, replaced, wallet reset), or it was mined and the node can no longer find it
    /// (no `-txindex`, change output spent). Still pending until [`abandon`]ed.
    Dropped { txid: String, checkpoint_size: u64 },
}

/// What [`abandon`] recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbandonedAnchor {
    pub txid: String,
    pub checkpoint_size: u64,
    /// Entry of the `anchor_abandoned` event.
    pub event_seq: u64,
}

fn check_txid(txid: &str) -> Result<(), AnchorFlowError> {
    if txid.len() == 64 && txid.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(AnchorFlowError::BadTxid { txid: txid.into() })
    }
}

/// Ends the pending anchor `txid` without a proof by recording `anchor_abandoned` with
/// `reason`, so that a new anchor can be committed. Refuses a txid that is not an open
/// pending anchor of this ledger. Needs no node: it records the operator's decision. If the
/// transaction is mined after all, [`complete_txid`] can still record its proof.
pub fn abandon(
    ledger: &Ledger,
    txid: &str,
    reason: &str,
) -> Result<AbandonedAnchor, AnchorFlowError> {
    let txid = txid.to_ascii_lowercase();
    check_txid(&txid)?;
    if reason.trim().is_empty() {
        return Err(AnchorFlowError::NoReason { txid });
    }
    let pending = {
        let snap = Snapshot::new(ledger.database())?;
        let log = events::scan(&snap)?;
        refuse_if_done(&log, &txid)?;
        if let Some((seq, a)) = log.abandoned.iter().find(|(_, a)| a.txid == txid) {
            return Err(AnchorFlowError::AlreadyAbandoned {
                txid,
                seq: *seq,
                reason: a.reason.clone(),
            });
        }
        let Some((_, p)) = log.pending.iter().find(|(_, p)| p.txid == txid) else {
            return Err(AnchorFlowError::NoSuchAnchor { txid });
        };
        p.clone()
    };
    let abandoned = Abandoned {
        event_type: events::ABANDONED.into(),
        anchor: events::KIND.into(),
        txid: txid.clone(),
        reason: reason.trim().into(),
    };
    let recorded = ledger.append_event(&identity(), abandoned.to_value())?;
    Ok(AbandonedAnchor {
        txid,
        checkpoint_size: pending.checkpoint_size,
        event_seq: recorded.seq,
    })
}

/// Asks the node's wallet to `abandontransaction TXID`, so the coins the dropped transaction
/// spent can fund the next anchor (otherwise the wallet keeps them reserved for it). Bitcoin
/// Core refuses (-5) a transaction still in its mempool or mined.
pub fn release_wallet_inputs(node: &Node, txid: &str) -> Result<(), RpcError> {
    node.run(
        node.client
            .call::<serde_json::Value>("abandontransaction", serde_json::json!([txid])),
    )
    .map(|_| ())
}

/// Collects the proof of one anchor by txid: an open pending one, or one abandoned and then
/// mined after all (its proof is as good as any; the `anchor` event records it, and
/// receipts use it like any other).
pub fn complete_txid(
    ledger: &Ledger,
    node: &Node,
    min_confirmations: u64,
    txid: &str,
) -> Result<Completion, AnchorFlowError> {
    let txid = txid.to_ascii_lowercase();
    check_txid(&txid)?;
    let pending = {
        let snap = Snapshot::new(ledger.database())?;
        let log = events::scan(&snap)?;
        refuse_if_done(&log, &txid)?;
        match log.pending.iter().find(|(_, p)| p.txid == txid) {
            Some((_, p)) => p.clone(),
            None => return Err(AnchorFlowError::NoSuchAnchor { txid }),
        }
    };
    complete_one(ledger, node, &pending, min_confirmations.max(1))
}

/// Whether the node still holds `txid` unconfirmed: `getrawtransaction TXID` without a block
/// hash looks in the mempool (and, with `-txindex`, the chain). Bitcoin Core answers -5
/// ("No such mempool transaction..." without `-txindex`, "No such mempool or blockchain
/// transaction" with it) when it knows neither.
fn in_mempool(node: &Node, txid: &str) -> Result<bool, AnchorFlowError> {
    match node.run(
        node.client
            .call::<serde_json::Value>("getrawtransaction", serde_json::json!([txid, false])),
    ) {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some(codes::INVALID_ADDRESS_OR_KEY) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Collects the proof of every open pending anchor mined with at least `min_confirmations`.
pub fn complete(
    ledger: &Ledger,
    node: &Node,
    min_confirmations: u64,
) -> Result<Vec<Completion>, AnchorFlowError> {
    let open: Vec<Pending> = {
        let snap = Snapshot::new(ledger.database())?;
        events::scan(&snap)?
            .open()
            .into_iter()
            .map(|(_, p)| p.clone())
            .collect()
    };
    let mut out = Vec::new();
    for p in open {
        out.push(complete_one(ledger, node, &p, min_confirmations.max(1))?);
    }
    Ok(out)
}

fn complete_one(
    ledger: &Ledger,
    node: &Node,
    p: &Pending,
    needed: u64,
) -> Result<Completion, AnchorFlowError> {
    let c = &node.client;
    let waiting = |confirmations| Completion::Waiting {
        txid: p.txid.clone(),
        checkpoint_size: p.checkpoint_size,
        confirmations,
        needed,
    };
    let proof_hex = match node.run(c.txout_proof(&p.txid)) {
        Ok(hex) => hex,
        // "Transaction not yet in block" (or not known at all).
        Err(e) if e.code() == Some(codes::INVALID_ADDRESS_OR_KEY) => {
            return if in_mempool(node, &p.txid)? {
                Ok(waiting(0))
            } else {
                Ok(Completion::Dropped {
                    txid: p.txid.clone(),
                    checkpoint_size: p.checkpoint_size,
                })
            };
        }
        Err(e) => return Err(e.into()),
    };
    let (merkle_block, proof_bytes) = decode_hex::<MerkleBlock>("a txoutproof", &proof_hex)?;
    let block_hash = merkle_block.header.block_hash().to_string();
    let header = node.run(c.block_header(&block_hash))?;
    // -1: the block left the best chain (a reorg); wait for the transaction to be mined again.
    let confirmations = u64::try_from(header.confirmations).unwrap_or(0);
    if confirmations < needed {
        return Ok(waiting(confirmations));
    }
    let raw = node.run(c.raw_transaction(&p.txid, &block_hash))?;
    let (tx, tx_bytes) = decode_hex::<Transaction>("a raw transaction", &raw.hex)?;
    if tx.compute_txid().to_string() != p.txid {
        return Err(AnchorFlowError::TxidMismatch {
            want: p.txid.clone(),
            got: tx.compute_txid().to_string(),
        });
    }
    let network: AnchorNetwork = p.network.parse().map_err(|_| AnchorFlowError::Network {
        txid: p.txid.clone(),
        network: p.network.clone(),
    })?;
    let snap = Snapshot::new(ledger.database())?;
    let note = snap
        .checkpoint(p.checkpoint_size)?
        .ok_or(AnchorFlowError::CheckpointGone(p.checkpoint_size))?;
    drop(snap);
    let proof = BitcoinAnchor::new(
        network,
        note.clone(),
        &tx_bytes,
        &proof_bytes,
        Some(header.height),
        Some(block_hash.clone()),
    );
    self_check(ledger, &proof, &note, p.checkpoint_size, network).map_err(|source| {
        AnchorFlowError::SelfCheck {
            txid: p.txid.clone(),
            source,
        }
    })?;
    let done = Done {
        event_type: events::DONE.into(),
        anchor: events::KIND.into(),
        network: network.as_str().into(),
        checkpoint_size: p.checkpoint_size,
        txid: p.txid.clone(),
        block_hash: block_hash.clone(),
        height: header.height,
        block_time: header.time,
        proof,
    };
    let recorded = ledger.append_event(&identity(), done.to_value())?;
    Ok(Completion::Done {
        txid: p.txid.clone(),
        checkpoint_size: p.checkpoint_size,
        block_hash,
        height: header.height,
        confirmations,
        event_seq: recorded.seq,
    })
}

/// Checks the collected proof as an auditor will (anchored checkpoint as its own base, so
/// no consistency proof is needed). A checkpoint signed by a key since rotated away cannot
/// be opened with the current key; then only the Bitcoin parts are checked here.
fn self_check(
    ledger: &Ledger,
    proof: &BitcoinAnchor,
    note: &str,
    size: u64,
    network: AnchorNetwork,
) -> Result<(), AnchorError> {
    let keys = [ledger.verifier_key().clone()];
    let options = AnchorOptions {
        network: Some(network),
        ..AnchorOptions::default()
    };
    match verify_checkpoint(note.as_bytes(), &keys) {
        Ok(base) => verify_bitcoin_anchor(proof, &base, size, &keys, &options).map(|_| ()),
        Err(_) => {
            tracing::warn!(
                size,
                "the anchored checkpoint is signed by an earlier key; checking only its Bitcoin proof"
            );
            Ok(())
        }
    }
}

/// A completed anchor is final: neither abandoned nor collected twice.
fn refuse_if_done(log: &events::AnchorLog, txid: &str) -> Result<(), AnchorFlowError> {
    match log.done.iter().find(|(_, d)| d.txid == txid) {
        Some((seq, d)) => Err(AnchorFlowError::AlreadyDone {
            txid: txid.to_owned(),
            seq: *seq,
            block_hash: d.block_hash.clone(),
        }),
        None => Ok(()),
    }
}
