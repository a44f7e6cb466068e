//! Redaction: removing a kept payload (the raw wire bytes of one message) without breaking any
//! proof.
//!
//! Entries commit to a payload's length and BLAKE3 digest, never to the bytes, so the payloads
//! table can lose a row while every leaf hash, stored tree hash and signed checkpoint stays
//! valid. What must not happen silently is the removal itself: each one is an `event` entry
//!
//! ```text
//! {"type":"redaction","seq":<entry whose payload went>,"reason":"...","payload_blake3":"<hex>"}
//! ```
//!
//! recorded through the writer (so it is in the hash chain and under the next checkpoint)
//! *before* the bytes are deleted. A crash between the two leaves the event without the
//! deletion: the payload is still there and redacting again records a second event. The
//! opposite order could lose bytes with no record, which is the failure that matters.

use crate::ledger::record::Identity;
use crate::ledger::store::{storage, LedgerError, Snapshot, PAYLOADS};
use crate::ledger::Ledger;
use redb::Durability;
use vanguard_verifier::{Blake3Digest, Entry, Kind};

/// The `type` of a redaction event.
pub const EVENT_TYPE: &str = "redaction";

/// Why a payload could not be redacted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedactError {
    /// No entry has this seq.
    #[error("there is no entry {seq} (the ledger has {size} entries)")]
    NoEntry { seq: u64, size: u64 },
    /// The entry has no kept payload: never kept, or already redacted.
    #[error("entry {seq} has no payload to redact ({why})")]
    NoPayload { seq: u64, why: PayloadState },
    /// A redaction must say why; the reason is part of the permanent record.
    #[error("a redaction needs a non-empty reason")]
    NoReason,
    /// The ledger could not be read or written.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// What became of an entry's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadState {
    /// The bytes are in the payloads table.
    Kept,
    /// Removed; the redaction event is entry `event_seq`.
    Redacted { event_seq: u64, reason: String },
    /// The entry records a message, but its bytes were not kept (payload policy) or were never
    /// held (a line over the size limit).
    NotKept,
    /// The entry records no message (an event).
    NoMessage,
}

impl std::fmt::Display for PayloadState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PayloadState::Kept => f.write_str("payload kept"),
            PayloadState::Redacted { event_seq, reason } => {
                write!(f, "payload redacted (seq {event_seq}, reason {reason:?})")
            }
            PayloadState::NotKept => f.write_str("payload not kept"),
            PayloadState::NoMessage => f.write_str("an event entry has no payload"),
        }
    }
}

/// A payload removed, and where its removal is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    /// The entry whose payload was removed.
    pub seq: u64,
    /// Length of the bytes removed.
    pub len: u64,
    /// BLAKE3 of the bytes removed.
    pub payload_blake3: Blake3Digest,
    /// Whether those bytes were the ones the entry commits to (they should be).
    pub matched_entry: bool,
    /// The seq of the redaction event.
    pub event_seq: u64,
}

/// Where entry `seq`'s payload stands. For a missing payload this looks for the redaction
/// event after `seq`: a streaming scan of the later entries, which only parses entries whose
/// bytes mention a redaction.
pub fn payload_state(
    snap: &Snapshot,
    seq: u64,
    entry: &Entry,
) -> Result<PayloadState, LedgerError> {
    if snap.payload(seq)?.is_some() {
        return Ok(PayloadState::Kept);
    }
    if entry.kind == Kind::Event {
        return Ok(PayloadState::NoMessage);
    }
    if entry.payload.is_none() {
        return Ok(PayloadState::NotKept);
    }
    Ok(find_redaction(snap, seq)?
        .map(|(event_seq, reason)| PayloadState::Redacted { event_seq, reason })
        .unwrap_or(PayloadState::NotKept))
}

/// The latest redaction event for entry `seq`: (its seq, its reason).
pub fn find_redaction(snap: &Snapshot, seq: u64) -> Result<Option<(u64, String)>, LedgerError> {
    let needle = format!("\"type\":\"{EVENT_TYPE}\"");
    let finder = memchr::memmem::Finder::new(needle.as_bytes());
    let mut found = None;
    snap.for_each_entry(seq.saturating_add(1), u64::MAX, |at, bytes| {
        if finder.find(bytes).is_none() {
            return Ok(true);
        }
        let Ok(entry) = serde_json::from_slice::<Entry>(bytes) else {
            return Ok(true);
        };
        if let Some(event) = entry.event.as_ref().filter(|_| entry.kind == Kind::Event) {
            let is_redaction = event.get("type").and_then(|t| t.as_str()) == Some(EVENT_TYPE);
            if is_redaction && event.get("seq").and_then(|s| s.as_u64()) == Some(seq) {
                let reason = event
                    .get("reason")
                    .and_then(|r| r.as_str())
                    .unwrap_or_default();
                found = Some((at, reason.to_owned()));
            }
        }
        Ok(true)
    })?;
    Ok(found)
}

/// Removes entry `seq`'s payload: records the redaction event (durably, through the writer),
/// then deletes the bytes in a transaction of their own (fsync, two-phase commit).
///
/// Checks, in order: `reason` not blank; entry `seq` exists; its payload is kept.
pub fn redact(ledger: &Ledger, seq: u64, reason: &str) -> Result<Redaction, RedactError> {
    if reason.trim().is_empty() {
        return Err(RedactError::NoReason);
    }
    let db = ledger.database();
    let (entry, payload) = {
        let snap = Snapshot::new(db)?;
        let Some(bytes) = snap.entry(seq)? else {
            return Err(RedactError::NoEntry {
                seq,
                size: snap.size()?,
            });
        };
        let entry = Entry::parse_canonical(&bytes)
            .map_err(|e| LedgerError::Inconsistent(format!("entry {seq}: {e}")))?;
        let Some(payload) = snap.payload(seq)? else {
            let why = payload_state(&snap, seq, &entry)?;
            return Err(RedactError::NoPayload { seq, why });
        };
        (entry, payload)
    };
    let digest = Blake3Digest::of(&payload);
    let matched_entry = entry.payload.is_some_and(|d| d.matches(&payload));
    let event = serde_json::json!({
        "type": EVENT_TYPE,
        "seq": seq,
        "reason": reason,
        "payload_blake3": digest.to_string(),
    });
    let committed = ledger.append_event(&Identity::new(String::new()), event)?;
    let mut txn = db.begin_write().map_err(storage)?;
    txn.set_durability(Durability::Immediate).map_err(storage)?;
    txn.set_two_phase_commit(true);
    {
        let mut payloads = txn.open_table(PAYLOADS).map_err(storage)?;
        payloads.remove(seq).map_err(storage)?;
    }
    // A copy queued for VEX (`--vex-include-payload`) goes with it.
    crate::anchor::vex::outbox::scrub_payload(&txn, seq)?;
    txn.commit().map_err(storage)?;
    tracing::info!(seq, event_seq = committed.seq, "payload redacted");
    Ok(Redaction {
        seq,
        len: payload.len() as u64,
        payload_blake3: digest,
        matched_entry,
        event_seq: committed.seq,
    })
}
