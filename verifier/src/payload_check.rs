//! The one check of an attached payload against the digest its entry commits to, shared by
//! receipts and slices.

use crate::entry::PayloadDigest;

/// Why an attached payload is not the one its entry commits to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// A payload is attached but the entry commits to none.
    #[error("entry {seq}: a payload is attached but the entry records no payload digest")]
    WithoutDigest {
        /// The entry's seq.
        seq: u64,
    },
    /// The attached payload is not the one the entry's digest commits to.
    #[error("entry {seq}: payload ({got_len} bytes, blake3 {got}) does not match the entry's digest ({want_len} bytes, blake3 {want})")]
    Mismatch {
        /// The entry's seq.
        seq: u64,
        /// Length the entry records.
        want_len: u64,
        /// BLAKE3 the entry records.
        want: String,
        /// Length of the attached payload.
        got_len: u64,
        /// BLAKE3 of the attached payload.
        got: String,
    },
}

impl PayloadError {
    /// The entry the payload belongs to.
    pub fn seq(&self) -> u64 {
        match self {
            PayloadError::WithoutDigest { seq } | PayloadError::Mismatch { seq, .. } => *seq,
        }
    }
}

/// Checks `bytes`, attached to entry `seq`, against the entry's `digest` (length, then BLAKE3).
pub(crate) fn check_payload(
    seq: u64,
    digest: Option<&PayloadDigest>,
    bytes: &[u8],
) -> Result<(), PayloadError> {
    let digest = digest.ok_or(PayloadError::WithoutDigest { seq })?;
    if digest.matches(bytes) {
        return Ok(());
    }
    let actual = PayloadDigest::of(bytes);
    Err(PayloadError::Mismatch {
        seq,
        want_len: digest.len,
        want: digest.blake3.to_string(),
        got_len: actual.len,
        got: actual.blake3.to_string(),
    })
}
