//! Offline verification of Vanguard ledgers: the single source of truth for every wire format
//! (entries, checkpoints, receipts, slices) and every check an auditor runs.
//!
//! What it does *not* do: network, storage, clocks or async. Time arrives as an argument, files
//! arrive as bytes, and nothing here trusts a key found inside the data it checks.
//!
//! What is here:
//! - [`struct@Hash`], [`leaf_hash`], [`node_hash`]: RFC 6962 hashing (`hash.rs`).
//! - The Merkle tree math in one place (`proof.rs`): the stored-hash layout the ledger keeps
//!   behind a [`HashReader`], inclusion and consistency proofs, each with a prover
//!   ([`prove_record`], [`prove_tree`]) and verifiers ([`verify_inclusion`] /
//!   [`check_record`], [`verify_consistency`] / [`check_tree`]); compact-range proofs for
//!   slices (`range.rs`: [`prove_range`], [`verify_range`]).
//! - C2SP signed notes with Ed25519 ([`sign_note`], [`open_note`]) and checkpoints
//!   ([`Checkpoint`], [`verify_checkpoint`], which alone makes a [`VerifiedCheckpoint`]).
//! - Bitcoin anchors ([`anchor`]): the `OP_RETURN` commitment to a checkpoint, the anchor
//!   proof format, and [`verify_bitcoin_anchor`] (transaction, partial Merkle tree, header
//!   proof-of-work, the auditor's trusted chain).
//! - The ledger [`Entry`] and its canonical JSON ([`to_canonical_json`], RFC 8785 without
//!   floats).
//!
//! Opening a checkpoint with a key the auditor trusts, then checking that a leaf is in it:
//!
//! ```
//! use vanguard_verifier::{leaf_hash, node_hash, verify_checkpoint, verify_inclusion, VerifierKey};
//!
//! let key: VerifierKey =
//!     "vanguard.local/demo+c828c686+ARl/ayPhbIUyxqvIOPrNXqeJvgx2spIDNAOb+os9No1h".parse()?;
//! let signed = "vanguard.local/demo\n\
//!               3\n\
//!               lPvQ3YNvUDAWkubQ6t5yjuGexSv/8WBu2AfIV11aqhk=\n\
//!               \n\
//!               \u{2014} vanguard.local/demo yCjGhlkauqscLBEOqL6BHHSX8H/XUbAphDhi7wKTEVZj+Uy9TlZIPZrlsAPZ4AFA6AVBYHklzn57AY9ZugGcC3fxDQw=\n";
//! let checkpoint = verify_checkpoint(signed.as_bytes(), &[key])?;
//! assert_eq!(checkpoint.size(), 3);
//!
//! // Leaf 2 of 3: its inclusion proof is the one hash of leaves 0 and 1.
//! let proof = [node_hash(&leaf_hash(b"entry 0"), &leaf_hash(b"entry 1"))];
//! verify_inclusion(2, checkpoint.size(), &leaf_hash(b"entry 2"), &proof, checkpoint.root())?;
//!
//! // One changed byte anywhere and the checkpoint is refused.
//! let forged = signed.replace("\n3\n", "\n4\n");
//! assert!(verify_checkpoint(forged.as_bytes(), &["vanguard.local/demo+c828c686+ARl/ayPhbIUyxqvIOPrNXqeJvgx2spIDNAOb+os9No1h".parse()?]).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod anchor;
mod checkpoint;
#[cfg(feature = "cli")]
pub mod cli;
mod consistency;
mod entry;
mod entry_scan;
mod hash;
mod jcs;
mod note;
mod payload_check;
mod proof;
mod range;
mod receipt;
mod report;
mod slice;
mod slice_verify;
mod state;
mod tlog_proof;

pub use crate::anchor::{
    verify_bitcoin_anchor, AnchorError, AnchorInfo, AnchorNetwork, AnchorOptions, BitcoinAnchor,
};
pub use crate::checkpoint::{
    verify_checkpoint, Checkpoint, CheckpointError, Origin, VerifiedCheckpoint,
};
pub use crate::consistency::{
    ConsistencyFile, ConsistencyFileError, ConsistencyHint, CONSISTENCY_FORMAT,
    MAX_CONSISTENCY_SIZE,
};
pub use crate::entry::{
    Action, Blake3Digest, Direction, Entry, EntryError, Kind, PayloadDigest, RpcId, Verdict,
    ENTRY_VERSION, MAX_SCORE,
};
pub use crate::hash::{empty_root, leaf_hash, node_hash, Hash, HashParseError, HASH_SIZE};
pub use crate::jcs::{to_canonical_json, CanonicalJsonError, MAX_JSON_INTEGER};
pub use crate::note::{
    open_note, sign_note, KeyId, KeyName, NoteError, NoteSignature, SignerKey, VerifiedNote,
    VerifierKey, MAX_NOTE_SIZE, MAX_SIGNATURES,
};
pub use crate::payload_check::PayloadError;
pub use crate::proof::{
    check_record, check_tree, consistency_proof_len, inclusion_proof_len, prove_record, prove_tree,
    root_from_inclusion_proof, split_stored_hash_index, stored_hash_count, stored_hash_index,
    stored_hashes, stored_hashes_for_leaf_hash, tree_hash, verify_consistency, verify_inclusion,
    HashNotStored, HashReader, ProofError, MAX_TREE_SIZE,
};
pub use crate::range::{
    prove_range, range_proof_len, root_from_range, verify_range, CompactRange, RangeProof,
};
pub use crate::receipt::{
    verify_receipt, ProofErrorEvidence, Receipt, ReceiptError, VerifiedReceipt, MAX_RECEIPT_SIZE,
    RECEIPT_FORMAT,
};
pub use crate::report::{
    verify_file, verify_reader, Check, CheckName, CheckpointInfo, EntryCounts, Failure, FileKind,
    Options, Outcome, RememberedLookup, Report,
};
pub use crate::slice::{
    verify_slice, SliceError, SliceHeader, SliceWriter, VerifiedSlice, MAX_SLICE_LINE, SLICE_FORMAT,
};
pub use crate::state::Remember;
pub use crate::tlog_proof::{
    TlogProof, TlogProofError, MAX_PROOF_HASHES, MAX_TLOG_PROOF_SIZE, TLOG_PROOF_HEADER,
};
