//! Evidence for auditors (DESIGN.md section 5): a receipt for one entry, a slice of the ledger
//! (an incident export), and a consistency proof between two signed checkpoints. Every one
//! is proven against a checkpoint the ledger signed, so `vanguard verify` checks it offline
//! with nothing but the ledger's vkey.
//!
//! Receipts and slices carry the Bitcoin anchor of the earliest completed anchored checkpoint
//! that contains them ([`crate::anchor::bitcoin::events`]), with the consistency proof that
//! links it to the checkpoint they are proven against.
//!
//! All of them read one [`Snapshot`]: a consistent view, even while nothing else writes.
//! Slices are streamed entry by entry (memory is O(log N) hashes plus one entry and payload).

use std::io::Write;

use serde_json::{json, Map, Value};
use vanguard_verifier::{
    leaf_hash, prove_range, prove_record, prove_tree, Action, ConsistencyFile, Entry, Receipt,
    ReceiptError, SliceError, SliceHeader, SliceWriter,
};

use super::store::{LedgerError, Snapshot, TableHashes};

/// Why evidence could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("there is no entry {seq} (the ledger has {size} entries)")]
    NoEntry { seq: u64, size: u64 },
    #[error("the ledger has no signed checkpoint yet")]
    NoCheckpoint,
    #[error(
        "entry {seq} is not covered by a signed checkpoint yet (the latest covers {size} entries); \
         it will be once the proxy's next commit signs one"
    )]
    NotSigned { seq: u64, size: u64 },
    #[error("no checkpoint was signed for exactly {0} entries (see `vanguard ledger log` times, or the sizes checkpoints were signed at)")]
    NoCheckpointAt(u64),
    #[error("the older size {old} is larger than the newer size {new}")]
    Order { old: u64, new: u64 },
    #[error("the selection is empty: {0}")]
    Empty(String),
    #[error("entry {seq}: {message}")]
    BadEntry { seq: u64, message: String },
    #[error("receipt: {0}")]
    Receipt(#[from] ReceiptError),
    #[error("slice: {0}")]
    Slice(#[from] SliceError),
}

impl From<vanguard_verifier::ProofError> for ExportError {
    fn from(e: vanguard_verifier::ProofError) -> Self {
        ExportError::Ledger(LedgerError::Proof(e))
    }
}

/// The latest signed checkpoint: (size, note).
fn latest(snap: &Snapshot) -> Result<(u64, String), ExportError> {
    snap.latest_checkpoint()?.ok_or(ExportError::NoCheckpoint)
}

/// The receipt for entry `seq`, proven against the latest signed checkpoint; with the kept
/// payload if `with_payload` (none if it was not kept or was redacted).
pub fn receipt(snap: &Snapshot, seq: u64, with_payload: bool) -> Result<Receipt, ExportError> {
    let Some(entry) = snap.entry(seq)? else {
        return Err(ExportError::NoEntry {
            seq,
            size: snap.size()?,
        });
    };
    let (size, note) = latest(snap)?;
    if seq >= size {
        return Err(ExportError::NotSigned { seq, size });
    }
    let hashes = snap.hash_table()?;
    let path = prove_record(size, seq, &TableHashes(&hashes))?;
    let payload = if with_payload {
        snap.payload(seq)?
    } else {
        None
    };
    let receipt = Receipt::new(entry, payload, seq, path, note)?;
    let anchors = covering_anchor(snap, seq + 1, size)?;
    Ok(receipt.with_anchors(anchors))
}

/// The anchor of the earliest completed anchored checkpoint holding at least `needed`
/// entries, with the consistency proof between it and the checkpoint of `size` the evidence
/// is proven against (none if no anchor covers it). Scans the ledger's events.
fn covering_anchor(
    snap: &Snapshot,
    needed: u64,
    size: u64,
) -> Result<Vec<serde_json::Value>, ExportError> {
    let log = crate::anchor::bitcoin::events::scan(snap)?;
    let Some(done) = log.covering(needed) else {
        return Ok(Vec::new());
    };
    let anchored = done.checkpoint_size;
    let (old, new) = (anchored.min(size), anchored.max(size));
    let hashes = snap.hash_table()?;
    let proof = prove_tree(new, old, &TableHashes(&hashes))?;
    Ok(vec![done.proof.clone().with_consistency(&proof).to_value()])
}

/// Which entries a slice is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Sequence numbers `from..=to`.
    Seq { from: u64, to: u64 },
    /// Entry times in `[since, until)`, in the entry format (RFC 3339 UTC, nine digits).
    Time { since: String, until: String },
    /// Every entry of one proxy session.
    Session(String),
}

/// What to export.
#[derive(Debug, Clone)]
pub struct SliceRequest {
    pub selection: Selection,
    /// Only entries with this verdict are written in full (the others as leaf hashes).
    pub verdict: Option<Action>,
    /// Include kept payloads of the entries written in full.
    pub with_payloads: bool,
}

/// What a written slice holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceSummary {
    pub begin: u64,
    pub end: u64,
    /// Size of the signed checkpoint the slice is proven against.
    pub checkpoint_size: u64,
    /// Entries written in full.
    pub entries: u64,
    /// Entries written as leaf hashes only.
    pub leaves: u64,
    /// Payloads included.
    pub payloads: u64,
    /// Part of the selection lay past the latest signed checkpoint and was left out.
    pub clipped: bool,
    /// The slice carries a Bitcoin anchor.
    pub anchored: bool,
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Allow => "allow",
        Action::Warn => "warn",
        Action::Block => "block",
    }
}

impl SliceRequest {
    /// The header's `filter`: the selection and verdict, as stated to the auditor.
    pub fn filter(&self) -> Value {
        let mut f = Map::new();
        match &self.selection {
            Selection::Seq { from, to } => {
                f.insert("from_seq".into(), json!(from));
                f.insert("to_seq".into(), json!(to));
            }
            Selection::Time { since, until } => {
                f.insert("since".into(), json!(since));
                f.insert("until".into(), json!(until));
            }
            Selection::Session(id) => {
                f.insert("session".into(), json!(id));
            }
        }
        if let Some(v) = self.verdict {
            f.insert("verdict".into(), json!(action_name(v)));
        }
        f.insert("payloads".into(), json!(self.with_payloads));
        Value::Object(f)
    }

    fn selects(&self, entry: &Entry) -> bool {
        if let Selection::Session(id) = &self.selection {
            if entry.session != *id {
                return false;
            }
        }
        if let Selection::Time { since, until } = &self.selection {
            if entry.time < *since || entry.time >= *until {
                return false;
            }
        }
        match self.verdict {
            Some(v) => entry.verdict.as_ref().map(|x| x.action) == Some(v),
            None => true,
        }
    }
}

fn parse(seq: u64, bytes: &[u8]) -> Result<Entry, ExportError> {
    Entry::parse_canonical(bytes).map_err(|e| ExportError::BadEntry {
        seq,
        message: e.to_string(),
    })
}

/// The contiguous range `[begin, end)` spanning the selection within the first `signed`
/// entries, and whether the selection reached past them.
fn span(snap: &Snapshot, sel: &Selection, signed: u64) -> Result<(u64, u64, bool), ExportError> {
    let (begin, end) = match sel {
        Selection::Seq { from, to } => {
            if from > to {
                return Err(ExportError::Empty(format!(
                    "--from {from} is after --to {to}"
                )));
            }
            (*from, to.saturating_add(1))
        }
        Selection::Time { since, until } => (
            snap.first_seq_at_or_after(since)?,
            snap.first_seq_at_or_after(until)?,
        ),
        Selection::Session(id) => {
            // One pass; entries are in seq order, so the first and last match span it.
            let mut first = None;
            let mut last = 0;
            let mut failure = None;
            snap.for_each_entry(0, u64::MAX, |seq, bytes| {
                match parse(seq, bytes) {
                    Ok(e) if e.session == *id => {
                        first.get_or_insert(seq);
                        last = seq;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        failure = Some(e);
                        return Ok(false);
                    }
                }
                Ok(true)
            })?;
            if let Some(e) = failure {
                return Err(e);
            }
            match first {
                Some(f) => (f, last + 1),
                None => return Err(ExportError::Empty(format!("no entry of session {id}"))),
            }
        }
    };
    let size = snap.size()?;
    if begin >= size.min(end) {
        return Err(ExportError::Empty(format!(
            "no entries in [{begin}, {end}) (the ledger has {size})"
        )));
    }
    if begin >= signed {
        return Err(ExportError::NotSigned {
            seq: begin,
            size: signed,
        });
    }
    let clipped = end > signed;
    Ok((begin, end.min(signed), clipped))
}

/// Writes the slice for `req` to `out`: the range spanning the selection, the entries the
/// filter selects in full, the others as leaf hashes, then the latest signed checkpoint and
/// the range proof. `progress` is called with the number of entries written so far and the
/// total.
pub fn write_slice<W: Write>(
    snap: &Snapshot,
    req: &SliceRequest,
    out: W,
    mut progress: impl FnMut(u64, u64),
) -> Result<SliceSummary, ExportError> {
    let (size, note) = latest(snap)?;
    let (begin, end, clipped) = span(snap, &req.selection, size)?;
    // A checkpoint's first line is its origin.
    let origin = note.lines().next().unwrap_or_default().to_owned();
    let mut header = SliceHeader::new(&origin, begin, end, req.filter());
    if begin > 0 {
        let prev = snap.entry(begin - 1)?.ok_or(ExportError::NoEntry {
            seq: begin - 1,
            size,
        })?;
        header.prev_leaf = Some(leaf_hash(&prev));
    }
    let mut w = SliceWriter::new(out, &header)?;
    let mut summary = SliceSummary {
        begin,
        end,
        checkpoint_size: size,
        entries: 0,
        leaves: 0,
        payloads: 0,
        clipped,
        anchored: false,
    };
    let mut failure: Option<ExportError> = None;
    snap.for_each_entry(begin, end, |seq, bytes| {
        let mut step = || -> Result<(), ExportError> {
            // A plain seq range selects every entry: no need to decode them (the writer still
            // checks each one's canonical form), which makes big exports several times faster.
            let selected = match (&req.selection, req.verdict) {
                (Selection::Seq { .. }, None) => true,
                _ => req.selects(&parse(seq, bytes)?),
            };
            if selected {
                let payload = if req.with_payloads {
                    snap.payload(seq)?
                } else {
                    None
                };
                summary.payloads += u64::from(payload.is_some());
                w.write_entry(bytes, payload.as_deref())?;
                summary.entries += 1;
            } else {
                w.write_leaf(seq, &leaf_hash(bytes))?;
                summary.leaves += 1;
            }
            Ok(())
        };
        match step() {
            Ok(()) => {
                progress(seq + 1 - begin, end - begin);
                Ok(true)
            }
            Err(e) => {
                failure = Some(e);
                Ok(false)
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    let hashes = snap.hash_table()?;
    let proof = prove_range(begin, end, size, &TableHashes(&hashes))?;
    let anchors = covering_anchor(snap, end, size)?;
    summary.anchored = !anchors.is_empty();
    // A missing entry shows here as a truncated slice.
    w.finish_anchored(&note, &proof, None, anchors)?;
    Ok(summary)
}

/// The consistency proof from the checkpoint signed at exactly `old` entries to the one at
/// exactly `new` (default: the latest).
pub fn consistency(
    snap: &Snapshot,
    old: u64,
    new: Option<u64>,
) -> Result<ConsistencyFile, ExportError> {
    let (new, new_note) = match new {
        Some(n) => (
            n,
            snap.checkpoint(n)?.ok_or(ExportError::NoCheckpointAt(n))?,
        ),
        None => latest(snap)?,
    };
    if old > new {
        return Err(ExportError::Order { old, new });
    }
    let old_note = snap
        .checkpoint(old)?
        .ok_or(ExportError::NoCheckpointAt(old))?;
    let hashes = snap.hash_table()?;
    let proof = prove_tree(new, old, &TableHashes(&hashes))?;
    Ok(ConsistencyFile::new(old_note, new_note, proof))
}
