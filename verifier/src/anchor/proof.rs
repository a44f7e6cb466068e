//! The Bitcoin anchor proof: one JSON object in a receipt's `anchors` array or a slice
//! trailer's `anchors` array.
//!
//! ```text
//! {"type":"bitcoin",
//!  "network":"regtest",                         Bitcoin Core -chain name
//!  "checkpoint":"<anchored signed checkpoint note>",
//!  "tx":"<hex, consensus encoding of the committing transaction>",
//!  "txoutproof":"<hex of the MerkleBlock, as gettxoutproof returns it>",
//!  "height":123,                                 optional; the producer's claim
//!  "block_hash":"<hex, RPC byte order>",         optional; checked against the header
//!  "consistency":["<base64 hash>", ...]}         RFC 9162 consistency proof
//! ```
//!
//! `consistency` links the checkpoint the receipt or slice is proven against (the *base*)
//! with the anchored checkpoint: it proves the smaller of the two trees a prefix of the larger
//! (in practice the anchored checkpoint is the older one, since the anchor is itself recorded
//! later). The `MerkleBlock` holds the block header (80 bytes) and the partial Merkle tree
//! that proves the transaction in it. Nothing in the proof is trusted: every field is checked
//! by [`crate::verify_bitcoin_anchor`]; `height` counts only once bound to a header chain the
//! auditor trusts.

use bitcoin::consensus::encode::deserialize;
use bitcoin::hex::{DisplayHex, FromHex};
use bitcoin::{BlockHash, MerkleBlock, Transaction};
use serde::{Deserialize, Serialize};

use crate::hash::Hash;
use crate::note::MAX_NOTE_SIZE;
use crate::tlog_proof::MAX_PROOF_HASHES;

use super::network::AnchorNetwork;

/// `type` of a Bitcoin anchor.
pub const BITCOIN_ANCHOR_TYPE: &str = "bitcoin";
/// Largest `tx` accepted, in bytes (a standard transaction is at most 100 kB).
pub const MAX_ANCHOR_TX: usize = 400_000;
/// Largest `txoutproof` accepted, in bytes (header plus a partial tree of a 4 MB block).
pub const MAX_TXOUTPROOF: usize = 64 * 1024;

/// The JSON form of a Bitcoin anchor (see the module documentation). Unknown fields are
/// refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitcoinAnchor {
    /// [`BITCOIN_ANCHOR_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The network, as Bitcoin Core's `-chain` names it.
    pub network: String,
    /// The anchored signed checkpoint note, verbatim.
    pub checkpoint: String,
    /// The committing transaction, consensus-encoded, hex.
    pub tx: String,
    /// The `MerkleBlock` proving the transaction in its block, hex (`gettxoutproof`).
    pub txoutproof: String,
    /// The block's height, as the producer's node reported it (unauthenticated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// The block hash, hex in RPC byte order (informational; must match the header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_hash: Option<String>,
    /// Consistency proof between the base checkpoint and the anchored one, base64 hashes.
    #[serde(default)]
    pub consistency: Vec<String>,
}

/// Why an anchor's fields could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnchorFormatError {
    /// Not a JSON object of the anchor shape.
    #[error("anchor is not a bitcoin anchor object: {0}")]
    Json(String),
    /// A `type` other than `bitcoin`.
    #[error("anchor type {0:?} is not {BITCOIN_ANCHOR_TYPE:?}")]
    Type(String),
    /// An unknown network name.
    #[error("{0}")]
    Network(#[from] super::network::UnknownNetwork),
    /// A field too large.
    #[error("anchor {field} is {size} bytes, more than the maximum {max}")]
    TooLarge {
        /// Which field.
        field: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A field that is not valid hex or not a valid consensus encoding (with trailing bytes
    /// refused).
    #[error("anchor {field} does not decode: {message}")]
    Decode {
        /// Which field.
        field: &'static str,
        /// Why.
        message: String,
    },
}

/// A Bitcoin anchor with every field decoded (nothing verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedAnchor {
    /// The network the proof names.
    pub network: AnchorNetwork,
    /// The anchored signed checkpoint note.
    pub checkpoint: String,
    /// The committing transaction.
    pub tx: Transaction,
    /// Header and partial Merkle tree.
    pub merkle_block: MerkleBlock,
    /// The producer's claimed height.
    pub height: Option<u64>,
    /// The claimed block hash.
    pub block_hash: Option<BlockHash>,
    /// The consistency proof.
    pub consistency: Vec<Hash>,
}

impl BitcoinAnchor {
    /// An anchor for the producer: `tx` and `txoutproof` as the node returned them.
    /// `consistency` is left empty; [`BitcoinAnchor::with_consistency`] sets it per receipt.
    pub fn new(
        network: AnchorNetwork,
        checkpoint: String,
        tx: &[u8],
        txoutproof: &[u8],
        height: Option<u64>,
        block_hash: Option<String>,
    ) -> BitcoinAnchor {
        BitcoinAnchor {
            kind: BITCOIN_ANCHOR_TYPE.into(),
            network: network.as_str().into(),
            checkpoint,
            tx: tx.to_lower_hex_string(),
            txoutproof: txoutproof.to_lower_hex_string(),
            height,
            block_hash,
            consistency: Vec::new(),
        }
    }

    /// The same anchor carrying `proof` as its consistency proof.
    pub fn with_consistency(mut self, proof: &[Hash]) -> BitcoinAnchor {
        self.consistency = proof.iter().map(Hash::to_base64).collect();
        self
    }

    /// Reads an anchor from its JSON value.
    pub fn from_value(value: &serde_json::Value) -> Result<BitcoinAnchor, AnchorFormatError> {
        let kind = value.get("type").and_then(|t| t.as_str()).unwrap_or("");
        if kind != BITCOIN_ANCHOR_TYPE {
            return Err(AnchorFormatError::Type(kind.chars().take(40).collect()));
        }
        serde_json::from_value(value.clone()).map_err(|e| AnchorFormatError::Json(e.to_string()))
    }

    /// The JSON value.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Decodes every field. Checks, in order: `type`; `network`; sizes; the checkpoint within
    /// [`MAX_NOTE_SIZE`]; `tx` hex and consensus encoding; `txoutproof` hex and `MerkleBlock`
    /// encoding; `block_hash` hex; `consistency` base64 hashes, at most [`MAX_PROOF_HASHES`].
    pub fn decode(&self) -> Result<DecodedAnchor, AnchorFormatError> {
        if self.kind != BITCOIN_ANCHOR_TYPE {
            return Err(AnchorFormatError::Type(
                self.kind.chars().take(40).collect(),
            ));
        }
        let network: AnchorNetwork = self.network.parse()?;
        let size = |field, text: &str, max: usize| {
            if text.len() > max {
                Err(AnchorFormatError::TooLarge {
                    field,
                    size: text.len(),
                    max,
                })
            } else {
                Ok(())
            }
        };
        size("checkpoint", &self.checkpoint, MAX_NOTE_SIZE)?;
        size("tx", &self.tx, 2 * MAX_ANCHOR_TX)?;
        size("txoutproof", &self.txoutproof, 2 * MAX_TXOUTPROOF)?;
        let tx: Transaction = decode_hex("tx", &self.tx)?;
        let merkle_block: MerkleBlock = decode_hex("txoutproof", &self.txoutproof)?;
        let block_hash = match &self.block_hash {
            Some(h) => Some(
                h.parse::<BlockHash>()
                    .map_err(|e| AnchorFormatError::Decode {
                        field: "block_hash",
                        message: e.to_string(),
                    })?,
            ),
            None => None,
        };
        if self.consistency.len() > MAX_PROOF_HASHES {
            return Err(AnchorFormatError::Decode {
                field: "consistency",
                message: format!(
                    "{} hashes, more than {MAX_PROOF_HASHES}",
                    self.consistency.len()
                ),
            });
        }
        let consistency = self
            .consistency
            .iter()
            .enumerate()
            .map(|(i, h)| {
                Hash::from_base64(h).map_err(|e| AnchorFormatError::Decode {
                    field: "consistency",
                    message: format!("hash {i}: {e}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DecodedAnchor {
            network,
            checkpoint: self.checkpoint.clone(),
            tx,
            merkle_block,
            height: self.height,
            block_hash,
            consistency,
        })
    }
}

fn decode_hex<T: bitcoin::consensus::Decodable>(
    field: &'static str,
    text: &str,
) -> Result<T, AnchorFormatError> {
    let bytes = Vec::<u8>::from_hex(text).map_err(|e| AnchorFormatError::Decode {
        field,
        message: format!("not hex: {e}"),
    })?;
    // `deserialize` refuses trailing bytes, so every accepted value re-encodes to the input.
    deserialize(&bytes).map_err(|e| AnchorFormatError::Decode {
        field,
        message: e.to_string(),
    })
}
