//! Receipts (DESIGN.md section 5): one ledger entry, optionally its payload, and a C2SP
//! [tlog-proof](crate::TlogProof) that the entry is leaf `seq` of a signed checkpoint.
//!
//! ```text
//! {
//!   "format": "vanguard-receipt/v1",
//!   "entry": {"direction":"agent_to_server",...,"v":1,"verdict":null},
//!   "payload": "<standard base64 of the wire bytes>",        optional
//!   "proof": "c2sp.org/tlog-proof@v1\nindex 5\n...\n\n<signed checkpoint>",
//!   "consistency": {"old_size": 3, "proof": ["<hex>", ...]},   optional
//!   "anchors": []                                             optional
//! }
//! ```
//!
//! **The entry is embedded verbatim.** Its JSON text inside the receipt must be exactly the
//! canonical bytes whose RFC 6962 leaf hash the proof proves (canonical JSON is JSON, so it
//! embeds as an object that people and `jq` can read). The verifier takes those bytes as they
//! stand in the file and does not re-canonicalise: a receipt whose entry was reformatted (for
//! example by pretty-printing it) is refused with the offset of the first changed byte, and
//! duplicate keys cannot smuggle in a second reading. Whitespace *around* the entry is free.
//!
//! The `proof` is the standard `c2sp.org/tlog-proof@v1` text, so any C2SP tool can check the
//! core claim with the entry bytes alone. `consistency` is an optional RFC 9162 consistency
//! proof from an older tree size to the checkpoint's (used against an auditor's remembered
//! checkpoint, see [`crate::verify_file`]). `anchors` are Bitcoin anchor proofs
//! ([`crate::anchor`]), checked by [`crate::verify_file`] after the receipt itself.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::checkpoint::{verify_checkpoint, CheckpointError, VerifiedCheckpoint};
use crate::consistency::ConsistencyHint;
use crate::entry::{Entry, EntryError};
use crate::hash::{leaf_hash, Hash};
use crate::note::VerifierKey;
use crate::payload_check::{check_payload, PayloadError};
use crate::proof::{verify_inclusion, ProofError};
use crate::report::{CheckName, Log};
use crate::tlog_proof::{TlogProof, TlogProofError};

/// The `format` of every receipt.
pub const RECEIPT_FORMAT: &str = "vanguard-receipt/v1";
/// Largest receipt file accepted, payload included.
pub const MAX_RECEIPT_SIZE: usize = 64 << 20;

/// Why a receipt was refused. [`ReceiptError::check`] names the check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// Larger than [`MAX_RECEIPT_SIZE`].
    #[error("receipt is {size} bytes, more than the maximum {max}")]
    TooLarge {
        /// Size of the file.
        size: usize,
        /// [`MAX_RECEIPT_SIZE`].
        max: usize,
    },
    /// Not UTF-8 JSON of the receipt shape (unknown or duplicate field, wrong type).
    #[error("receipt is not receipt JSON: {message}")]
    Json {
        /// serde_json's description, with line and column.
        message: String,
    },
    /// A `format` other than [`RECEIPT_FORMAT`].
    #[error("receipt format {found:?}, want {RECEIPT_FORMAT:?}")]
    Format {
        /// The format found.
        found: String,
    },
    /// The `payload` is not canonical standard base64.
    #[error("receipt payload is not canonical base64")]
    PayloadEncoding,
    /// The entry bytes are not a canonical entry.
    #[error("entry is not a canonical ledger entry")]
    Entry(#[source] EntryError),
    /// The `proof` text is not a well-formed tlog-proof.
    #[error("proof is not a c2sp.org/tlog-proof@v1 text")]
    Proof(#[source] TlogProofError),
    /// The checkpoint in the proof did not verify with the trusted keys.
    #[error("checkpoint: {0}")]
    Checkpoint(#[source] CheckpointError),
    /// The proof's index is not the entry's `seq`.
    #[error("proof index {index} is not the entry's seq {seq}")]
    IndexMismatch {
        /// Index in the tlog-proof.
        index: u64,
        /// The entry's `seq`.
        seq: u64,
    },
    /// The inclusion proof does not lead from the entry's leaf hash to the checkpoint root.
    #[error(
        "entry {seq} (leaf hash {leaf}) is not proven in the checkpoint of size {size}: {source}"
    )]
    Inclusion {
        /// The entry's seq.
        seq: u64,
        /// Its leaf hash.
        leaf: Hash,
        /// The checkpoint's tree size.
        size: u64,
        /// What failed.
        #[source]
        source: ProofErrorEvidence,
    },
    /// The attached payload is not the one the entry commits to.
    #[error(transparent)]
    Payload(#[from] PayloadError),
}

/// [`ProofError`] is not `Clone`/`Eq` (it can wrap a store error); proof verification never
/// produces that variant, so receipts and slices keep its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProofErrorEvidence(pub String);

impl From<ProofError> for ProofErrorEvidence {
    fn from(e: ProofError) -> Self {
        ProofErrorEvidence(e.to_string())
    }
}

impl ReceiptError {
    /// The check that failed.
    pub fn check(&self) -> CheckName {
        match self {
            ReceiptError::TooLarge { .. }
            | ReceiptError::Json { .. }
            | ReceiptError::Format { .. } => CheckName::Format,
            ReceiptError::Entry(_) => CheckName::EntryCanonical,
            ReceiptError::Proof(_) => CheckName::ProofFormat,
            ReceiptError::Checkpoint(_) => CheckName::CheckpointSignature,
            ReceiptError::IndexMismatch { .. } => CheckName::IndexMatchesSeq,
            ReceiptError::Inclusion { .. } => CheckName::Inclusion,
            ReceiptError::PayloadEncoding | ReceiptError::Payload(_) => CheckName::PayloadDigest,
        }
    }
    /// The entry (seq) the failure is about, once the entry was read.
    pub fn entry(&self) -> Option<u64> {
        match self {
            ReceiptError::IndexMismatch { seq, .. } | ReceiptError::Inclusion { seq, .. } => {
                Some(*seq)
            }
            ReceiptError::Payload(e) => Some(e.seq()),
            _ => None,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptJson<'a> {
    format: String,
    #[serde(borrow)]
    entry: &'a RawValue,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payload: Option<String>,
    proof: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    consistency: Option<ConsistencyHint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    anchors: Vec<serde_json::Value>,
}

/// A parsed receipt: structure only, nothing verified ([`verify_receipt`] does that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    entry: Vec<u8>,
    payload: Option<Vec<u8>>,
    proof: TlogProof,
    consistency: Option<ConsistencyHint>,
    anchors: Vec<serde_json::Value>,
}

impl Receipt {
    /// A receipt for the producer (the ledger). `entry` is the canonical entry bytes, as
    /// stored; `inclusion_path` is [`crate::prove_record`] for leaf `index` in the tree of
    /// the signed checkpoint's size.
    ///
    /// Checks, in order: `entry` is a canonical entry; `index` is its `seq`. (It does not
    /// check the proof or signature: run [`verify_receipt`] for that.)
    pub fn new(
        entry: Vec<u8>,
        payload: Option<Vec<u8>>,
        index: u64,
        inclusion_path: Vec<Hash>,
        signed_checkpoint: String,
    ) -> Result<Receipt, ReceiptError> {
        let parsed = Entry::parse_canonical(&entry).map_err(ReceiptError::Entry)?;
        if parsed.seq != index {
            return Err(ReceiptError::IndexMismatch {
                index,
                seq: parsed.seq,
            });
        }
        Ok(Receipt {
            entry,
            payload,
            proof: TlogProof {
                extra: None,
                index,
                hashes: inclusion_path,
                checkpoint: signed_checkpoint,
            },
            consistency: None,
            anchors: Vec::new(),
        })
    }

    /// Attaches a consistency proof from tree size `hint.old_size` to the checkpoint's size.
    pub fn with_consistency(mut self, hint: ConsistencyHint) -> Receipt {
        self.consistency = Some(hint);
        self
    }

    /// The receipt JSON (two-space indented; the entry on one line, verbatim), ending in a
    /// newline.
    pub fn to_json(&self) -> String {
        // Canonical entry bytes are UTF-8 JSON by construction or by parsing; a receipt built
        // from anything else cannot exist, but fall back to a JSON string rather than panic.
        let entry_text = String::from_utf8_lossy(&self.entry).into_owned();
        let raw = RawValue::from_string(entry_text)
            .unwrap_or_else(|_| RawValue::from_string("null".into()).unwrap_or_default());
        let json = ReceiptJson {
            format: RECEIPT_FORMAT.into(),
            entry: &raw,
            payload: self.payload.as_ref().map(|p| STANDARD.encode(p)),
            proof: self.proof.to_text(),
            consistency: self.consistency.clone(),
            anchors: self.anchors.clone(),
        };
        let mut s = serde_json::to_string_pretty(&json).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Parses a receipt. Checks, in order: size within [`MAX_RECEIPT_SIZE`]; UTF-8 JSON of
    /// the receipt shape (no unknown or duplicate fields); `format`; payload canonical base64;
    /// the proof text ([`TlogProof::parse`]); at most 64 consistency hashes. The entry is
    /// taken as the exact bytes of its JSON text, unchecked (see [`verify_receipt`]).
    pub fn parse(bytes: &[u8]) -> Result<Receipt, ReceiptError> {
        if bytes.len() > MAX_RECEIPT_SIZE {
            return Err(ReceiptError::TooLarge {
                size: bytes.len(),
                max: MAX_RECEIPT_SIZE,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| ReceiptError::Json {
            message: format!("not UTF-8 at byte {}", e.valid_up_to()),
        })?;
        let json: ReceiptJson<'_> = serde_json::from_str(text).map_err(|e| ReceiptError::Json {
            message: e.to_string(),
        })?;
        if json.format != RECEIPT_FORMAT {
            return Err(ReceiptError::Format {
                found: json.format.chars().take(80).collect(),
            });
        }
        let payload = match &json.payload {
            Some(p) => Some(
                STANDARD
                    .decode(p)
                    .map_err(|_| ReceiptError::PayloadEncoding)?,
            ),
            None => None,
        };
        let proof = TlogProof::parse(&json.proof).map_err(ReceiptError::Proof)?;
        if let Some(hint) = &json.consistency {
            hint.check_len()
                .map_err(|message| ReceiptError::Json { message })?;
        }
        Ok(Receipt {
            entry: json.entry.get().as_bytes().to_vec(),
            payload,
            proof,
            consistency: json.consistency,
            anchors: json.anchors,
        })
    }

    /// The entry bytes as they stand in the receipt.
    pub fn entry_bytes(&self) -> &[u8] {
        &self.entry
    }

    /// The attached payload, if any.
    pub fn payload(&self) -> Option<&[u8]> {
        self.payload.as_deref()
    }

    /// The tlog-proof.
    pub fn proof(&self) -> &TlogProof {
        &self.proof
    }

    /// The optional consistency proof to the checkpoint.
    pub fn consistency(&self) -> Option<&ConsistencyHint> {
        self.consistency.as_ref()
    }

    /// The anchors, as found ([`crate::verify_file`] checks them).
    pub fn anchors(&self) -> &[serde_json::Value] {
        &self.anchors
    }

    /// Attaches anchor proofs (JSON objects, e.g. [`crate::BitcoinAnchor::to_value`]).
    pub fn with_anchors(mut self, anchors: Vec<serde_json::Value>) -> Receipt {
        self.anchors = anchors;
        self
    }
}

/// A receipt whose every check passed.
#[derive(Debug, Clone)]
pub struct VerifiedReceipt {
    /// The entry.
    pub entry: Entry,
    /// Its leaf hash.
    pub leaf: Hash,
    /// The checkpoint it is proven in.
    pub checkpoint: VerifiedCheckpoint,
    /// Whether a payload was attached (and matched).
    pub payload_checked: bool,
}

/// Verifies a parsed receipt with the `trusted` keys (never a key found in the receipt).
///
/// Checks, in order:
/// 1. `entry_canonical`: the entry bytes are a canonical entry ([`Entry::parse_canonical`]);
/// 2. `checkpoint_signature`: the proof's checkpoint verifies ([`verify_checkpoint`]);
/// 3. `index_matches_seq`: the proof's index is the entry's `seq`;
/// 4. `inclusion`: the inclusion path leads from the entry's leaf hash to the checkpoint's
///    root ([`verify_inclusion`]: index < size, path length, root);
/// 5. `payload_digest`: if a payload is attached, the entry has a digest and it matches.
pub fn verify_receipt(
    receipt: &Receipt,
    trusted: &[VerifierKey],
) -> Result<VerifiedReceipt, ReceiptError> {
    verify_receipt_logged(receipt, trusted, &mut Log::default())
}

pub(crate) fn verify_receipt_logged(
    receipt: &Receipt,
    trusted: &[VerifierKey],
    log: &mut Log,
) -> Result<VerifiedReceipt, ReceiptError> {
    let entry = Entry::parse_canonical(&receipt.entry).map_err(ReceiptError::Entry)?;
    let leaf = leaf_hash(&receipt.entry);
    log.pass(
        CheckName::EntryCanonical,
        format!("entry {} is canonical, leaf hash {leaf}", entry.seq),
    );

    let checkpoint = verify_checkpoint(receipt.proof.checkpoint.as_bytes(), trusted)
        .map_err(ReceiptError::Checkpoint)?;
    log.pass(
        CheckName::CheckpointSignature,
        crate::report::describe_checkpoint(&checkpoint),
    );
    if receipt.proof.extra.is_some() {
        log.warn("the tlog-proof carries extra data; it is unauthenticated and was ignored");
    }

    if receipt.proof.index != entry.seq {
        return Err(ReceiptError::IndexMismatch {
            index: receipt.proof.index,
            seq: entry.seq,
        });
    }
    log.pass(
        CheckName::IndexMatchesSeq,
        format!("proof index {} is the entry's seq", entry.seq),
    );

    verify_inclusion(
        entry.seq,
        checkpoint.size(),
        &leaf,
        &receipt.proof.hashes,
        checkpoint.root(),
    )
    .map_err(|e| ReceiptError::Inclusion {
        seq: entry.seq,
        leaf,
        size: checkpoint.size(),
        source: e.into(),
    })?;
    log.pass(
        CheckName::Inclusion,
        format!(
            "entry {} is leaf {} of the tree of size {} ({} proof hashes)",
            entry.seq,
            entry.seq,
            checkpoint.size(),
            receipt.proof.hashes.len()
        ),
    );

    let payload_checked = match (&receipt.payload, entry.payload) {
        (None, _) => false,
        (Some(bytes), digest) => {
            check_payload(entry.seq, digest.as_ref(), bytes)?;
            log.pass(
                CheckName::PayloadDigest,
                format!(
                    "payload of {} bytes matches the entry's digest",
                    bytes.len()
                ),
            );
            true
        }
    };
    if !payload_checked && entry.payload.is_some() {
        log.warn(format!(
            "entry {} commits to a payload that is not attached; its content is not checked",
            entry.seq
        ));
    }
    Ok(VerifiedReceipt {
        entry,
        leaf,
        checkpoint,
        payload_checked,
    })
}
