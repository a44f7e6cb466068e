//! Consistency proof files: two signed checkpoints of one log and the RFC 9162 consistency
//! proof that the older tree is a prefix of the newer one.
//!
//! ```text
//! {"format":"vanguard-consistency/v1",
//!  "old":"<signed checkpoint note>","new":"<signed checkpoint note>",
//!  "proof":["<hex>",...]}
//! ```
//!
//! [`ConsistencyHint`] is the same proof without the old checkpoint, carried optionally by
//! receipts and slices: it lets an auditor who remembers a checkpoint of `old_size` check that
//! the new one extends it.

use serde::{Deserialize, Serialize};

use crate::checkpoint::{verify_checkpoint, CheckpointError, VerifiedCheckpoint};
use crate::hash::Hash;
use crate::note::{VerifierKey, MAX_NOTE_SIZE};
use crate::proof::verify_consistency;
use crate::receipt::ProofErrorEvidence;
use crate::report::{describe_checkpoint, CheckName, Log};
use crate::tlog_proof::MAX_PROOF_HASHES;

/// The `format` of every consistency file.
pub const CONSISTENCY_FORMAT: &str = "vanguard-consistency/v1";
/// Largest consistency file accepted.
pub const MAX_CONSISTENCY_SIZE: usize = 2 * MAX_NOTE_SIZE + 16 * 1024;

/// A consistency proof from tree size `old_size` to the size of the checkpoint it travels
/// with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyHint {
    /// The older tree size.
    pub old_size: u64,
    /// RFC 9162 consistency proof hashes, hex.
    pub proof: Vec<Hash>,
}

impl ConsistencyHint {
    pub(crate) fn check_len(&self) -> Result<(), String> {
        if self.proof.len() > MAX_PROOF_HASHES {
            return Err(format!(
                "consistency proof has {} hashes, more than {MAX_PROOF_HASHES}",
                self.proof.len()
            ));
        }
        Ok(())
    }
}

/// Why a consistency file was refused. [`ConsistencyFileError::check`] names the check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsistencyFileError {
    /// Larger than [`MAX_CONSISTENCY_SIZE`].
    #[error("consistency file is {size} bytes, more than the maximum {max}")]
    TooLarge {
        /// Size of the file.
        size: usize,
        /// [`MAX_CONSISTENCY_SIZE`].
        max: usize,
    },
    /// Not JSON of the expected shape, a wrong `format`, or too many hashes.
    #[error("not a consistency file: {message}")]
    Json {
        /// What is wrong.
        message: String,
    },
    /// The old or the new checkpoint did not verify.
    #[error("{which} checkpoint: {source}")]
    Checkpoint {
        /// `old` or `new`.
        which: &'static str,
        /// Why.
        #[source]
        source: CheckpointError,
    },
    /// The two checkpoints are of different logs.
    #[error("old checkpoint is of {old}, new checkpoint of {new}")]
    OriginMismatch {
        /// Origin of the old checkpoint.
        old: String,
        /// Origin of the new checkpoint.
        new: String,
    },
    /// The proof does not link the two trees.
    #[error("checkpoint of size {old_size} is not proven a prefix of size {new_size}: {source}")]
    Proof {
        /// Old tree size.
        old_size: u64,
        /// New tree size.
        new_size: u64,
        /// What failed (sizes, proof length, old or new root).
        #[source]
        source: ProofErrorEvidence,
    },
}

impl ConsistencyFileError {
    /// The check that failed.
    pub fn check(&self) -> CheckName {
        match self {
            ConsistencyFileError::TooLarge { .. } | ConsistencyFileError::Json { .. } => {
                CheckName::Format
            }
            ConsistencyFileError::Checkpoint { .. } => CheckName::CheckpointSignature,
            ConsistencyFileError::OriginMismatch { .. } => CheckName::Origin,
            ConsistencyFileError::Proof { .. } => CheckName::Consistency,
        }
    }
}

/// A parsed consistency file (nothing verified).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyFile {
    /// [`CONSISTENCY_FORMAT`].
    pub format: String,
    /// The older signed checkpoint.
    pub old: String,
    /// The newer signed checkpoint.
    pub new: String,
    /// The consistency proof from `old` to `new`.
    pub proof: Vec<Hash>,
}

impl ConsistencyFile {
    /// A consistency file for the producer: `proof` is [`crate::prove_tree`] from the old
    /// checkpoint's size to the new one's.
    pub fn new(old: String, new: String, proof: Vec<Hash>) -> ConsistencyFile {
        ConsistencyFile {
            format: CONSISTENCY_FORMAT.into(),
            old,
            new,
            proof,
        }
    }

    /// The file's JSON, ending in a newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Parses a consistency file. Checks, in order: size; JSON shape (no unknown or duplicate
    /// fields); `format`; at most 64 proof hashes.
    pub fn parse(bytes: &[u8]) -> Result<ConsistencyFile, ConsistencyFileError> {
        if bytes.len() > MAX_CONSISTENCY_SIZE {
            return Err(ConsistencyFileError::TooLarge {
                size: bytes.len(),
                max: MAX_CONSISTENCY_SIZE,
            });
        }
        let file: ConsistencyFile =
            serde_json::from_slice(bytes).map_err(|e| ConsistencyFileError::Json {
                message: e.to_string(),
            })?;
        if file.format != CONSISTENCY_FORMAT {
            return Err(ConsistencyFileError::Json {
                message: format!("format {:?}, want {CONSISTENCY_FORMAT:?}", file.format),
            });
        }
        if file.proof.len() > MAX_PROOF_HASHES {
            return Err(ConsistencyFileError::Json {
                message: format!("more than {MAX_PROOF_HASHES} proof hashes"),
            });
        }
        Ok(file)
    }

    /// Verifies the file with the `trusted` keys.
    ///
    /// Checks, in order: `checkpoint_signature` of `old`, then of `new`
    /// ([`verify_checkpoint`]); `origin`: both name the same log; `consistency`: the proof
    /// links them ([`verify_consistency`]: `0 < old <= new`, proof length, old root, new
    /// root; equal sizes need equal roots and an empty proof).
    pub fn verify(
        &self,
        trusted: &[VerifierKey],
    ) -> Result<(VerifiedCheckpoint, VerifiedCheckpoint), ConsistencyFileError> {
        self.verify_logged(trusted, &mut Log::default())
    }

    pub(crate) fn verify_logged(
        &self,
        trusted: &[VerifierKey],
        log: &mut Log,
    ) -> Result<(VerifiedCheckpoint, VerifiedCheckpoint), ConsistencyFileError> {
        let open = |which, text: &str| {
            verify_checkpoint(text.as_bytes(), trusted)
                .map_err(|source| ConsistencyFileError::Checkpoint { which, source })
        };
        let old = open("old", &self.old)?;
        let new = open("new", &self.new)?;
        log.pass(
            CheckName::CheckpointSignature,
            format!(
                "old: {}; new: {}",
                describe_checkpoint(&old),
                describe_checkpoint(&new)
            ),
        );
        if old.origin() != new.origin() {
            return Err(ConsistencyFileError::OriginMismatch {
                old: old.origin().to_string(),
                new: new.origin().to_string(),
            });
        }
        log.pass(CheckName::Origin, format!("both of {}", old.origin()));
        verify_consistency(old.size(), new.size(), &self.proof, old.root(), new.root()).map_err(
            |e| ConsistencyFileError::Proof {
                old_size: old.size(),
                new_size: new.size(),
                source: e.into(),
            },
        )?;
        log.pass(
            CheckName::Consistency,
            format!(
                "tree of size {} is a prefix of the tree of size {} ({} proof hashes)",
                old.size(),
                new.size(),
                self.proof.len()
            ),
        );
        Ok((old, new))
    }
}
