//! Remembered checkpoints (`vanguard-verify --state DIR`): the largest checkpoint verified
//! per origin, kept so that a later input whose checkpoint forks from it is flagged.
//!
//! This file only decides; it does no I/O. The caller looks up the remembered note text for
//! the input's origin ([`crate::Options::remembered`]) and stores [`Remember`] when a report
//! carries one. The decision, for a remembered checkpoint of size `m` and root `r` and a new
//! verified checkpoint of size `n` and root `R`:
//!
//! | case | result |
//! |------|--------|
//! | nothing remembered | pass; remember the new one |
//! | `m == n` | pass if `r == R`, else fail (two different trees of one size: a fork) |
//! | `m < n`, a consistency proof from `m` travels with the input | pass and remember if it verifies, else fail |
//! | `m < n`, no proof from `m` | warning "cannot check consistency with remembered checkpoint of size m"; keep the old one |
//! | `m > n` | warning (an older checkpoint cannot be checked without a proof to the remembered one); keep the old one |
//!
//! The remembered note is verified again with the trusted keys each time: a state
//! directory is not a trust anchor.

use crate::checkpoint::{verify_checkpoint, VerifiedCheckpoint};
use crate::consistency::ConsistencyHint;
use crate::note::VerifierKey;
use crate::proof::verify_consistency;

/// A checkpoint to remember for its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remember {
    /// The origin (the key under which to store it).
    pub origin: String,
    /// The signed checkpoint note text.
    pub note: String,
}

/// What the remembered-checkpoint check found.
#[derive(Debug, Default)]
pub(crate) struct StateOutcome {
    pub(crate) passed: Option<String>,
    pub(crate) warning: Option<String>,
    pub(crate) remember: Option<Remember>,
}

#[derive(Debug)]
pub(crate) struct StateFailure {
    pub(crate) message: String,
    pub(crate) unusable: bool,
}

/// Checks `checkpoint` (whose signed note text is `signed`) against the `remembered` note of
/// its origin. `hint` is a consistency proof from `hint.old_size` to `checkpoint`; `older`
/// is an older checkpoint already proven a prefix of `checkpoint` (a consistency file's).
pub(crate) fn check_remembered(
    remembered: Option<&str>,
    checkpoint: &VerifiedCheckpoint,
    signed: &str,
    hint: Option<&ConsistencyHint>,
    older: Option<&VerifiedCheckpoint>,
    trusted: &[VerifierKey],
) -> Result<StateOutcome, StateFailure> {
    let origin = checkpoint.origin().to_string();
    let remember = Some(Remember {
        origin: origin.clone(),
        note: signed.to_owned(),
    });
    let Some(text) = remembered else {
        return Ok(StateOutcome {
            passed: Some(format!(
                "no checkpoint remembered for {origin}; remembering size {}",
                checkpoint.size()
            )),
            warning: None,
            remember,
        });
    };
    let old = verify_checkpoint(text.as_bytes(), trusted).map_err(|e| StateFailure {
        message: format!(
            "the remembered checkpoint for {origin} does not verify with the trusted keys: {e}"
        ),
        unusable: true,
    })?;
    if old.origin() != checkpoint.origin() {
        return Err(StateFailure {
            message: format!(
                "the checkpoint remembered for {origin} is of another log ({})",
                old.origin()
            ),
            unusable: true,
        });
    }
    let (m, n) = (old.size(), checkpoint.size());
    let fork = |detail: String| StateFailure {
        message: format!(
            "not consistent with the remembered checkpoint of size {m} (root {}): {detail}",
            old.root()
        ),
        unusable: false,
    };
    if m == n {
        if old.root() != checkpoint.root() {
            return Err(fork(format!(
                "this checkpoint of the same size has root {}: the log forked",
                checkpoint.root()
            )));
        }
        return Ok(StateOutcome {
            passed: Some(format!(
                "same tree as the remembered checkpoint of size {m}"
            )),
            ..StateOutcome::default()
        });
    }
    if m > n {
        return Ok(StateOutcome {
            warning: Some(format!(
                "this checkpoint (size {n}) is older than the remembered checkpoint of size \
                 {m}; cannot check consistency without a proof"
            )),
            ..StateOutcome::default()
        });
    }
    if let Some(older) = older.filter(|o| o.size() == m) {
        if older.root() != old.root() {
            return Err(fork(format!(
                "the proof starts from a checkpoint of size {m} with root {}: the log forked",
                older.root()
            )));
        }
        return Ok(StateOutcome {
            passed: Some(format!(
                "the remembered checkpoint of size {m} is proven a prefix of size {n}"
            )),
            warning: None,
            remember,
        });
    }
    if let Some(hint) = hint.filter(|h| h.old_size == m) {
        verify_consistency(m, n, &hint.proof, old.root(), checkpoint.root())
            .map_err(|e| fork(e.to_string()))?;
        return Ok(StateOutcome {
            passed: Some(format!(
                "the remembered checkpoint of size {m} is proven a prefix of size {n}"
            )),
            warning: None,
            remember,
        });
    }
    Ok(StateOutcome {
        warning: Some(format!(
            "cannot check consistency with remembered checkpoint of size {m}: the input \
             carries no consistency proof from that size (keeping the remembered one)"
        )),
        ..StateOutcome::default()
    })
}
