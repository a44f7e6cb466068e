//! `vanguard ledger check`: recompute the whole chain and tree from the entries and compare with
//! what is stored and signed. Names the first entry that is wrong.

use crate::ledger::store::{LedgerError, Snapshot, TableHashes};
use vanguard_verifier::{
    leaf_hash, stored_hash_count, stored_hashes_for_leaf_hash, tree_hash, verify_checkpoint, Entry,
    Hash, VerifierKey,
};

/// The first problem found, in plain words, with the entry it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The entry (sequence number) the problem is in, if it is about one entry.
    pub seq: Option<u64>,
    pub check: &'static str,
    pub detail: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "entry {seq}: {}: {}", self.check, self.detail),
            None => write!(f, "{}: {}", self.check, self.detail),
        }
    }
}

/// What a full check found.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub entries: u64,
    pub checkpoints: u64,
    pub root: Option<Hash>,
    pub problem: Option<Problem>,
}

/// Recomputes everything. Checks, in order, for each entry: present at its position; canonical
/// encoding; `seq` equal to its position; `prev` equal to the leaf hash of the entry before; time
/// not earlier than the entry before; the stored tree hashes equal to those recomputed from the
/// leaves. Then every stored checkpoint: signed by `key` for the ledger's origin, and its root
/// equal to the recomputed root at its size. `progress` is called with the entries done.
pub fn check(
    snap: &Snapshot,
    key: &VerifierKey,
    progress: impl FnMut(u64),
) -> Result<CheckReport, LedgerError> {
    check_with_keys(snap, std::slice::from_ref(key), progress)
}

/// [`check`] trusting several keys: each checkpoint must be signed by one of `keys`. A ledger
/// whose key was rotated has checkpoints signed by each key it had, so checking all of it
/// needs all of them.
pub fn check_with_keys(
    snap: &Snapshot,
    keys: &[VerifierKey],
    mut progress: impl FnMut(u64),
) -> Result<CheckReport, LedgerError> {
    let size = snap.size()?;
    let hashes = snap.hash_table()?;
    let reader = TableHashes(&hashes);
    let mut report = CheckReport {
        entries: size,
        ..CheckReport::default()
    };
    let mut expected_seq = 0u64;
    let mut prev = Hash::ZERO;
    let mut prev_time = String::new();
    let mut problem = None;
    snap.for_each_entry(0, u64::MAX, |seq, bytes| {
        let fail = |check: &'static str, detail: String| Problem {
            seq: Some(expected_seq),
            check,
            detail,
        };
        if seq != expected_seq {
            problem = Some(fail(
                "missing entry",
                format!("the next stored entry is {seq}"),
            ));
            return Ok(false);
        }
        let entry = match Entry::parse_canonical(bytes) {
            Ok(e) => e,
            Err(e) => {
                problem = Some(fail("entry encoding", e.to_string()));
                return Ok(false);
            }
        };
        if entry.seq != seq {
            problem = Some(fail(
                "sequence number",
                format!("entry says seq {}", entry.seq),
            ));
            return Ok(false);
        }
        if entry.prev != prev {
            let detail = format!(
                "prev is {} but the leaf hash of entry {} is {prev}",
                entry.prev,
                seq.wrapping_sub(1)
            );
            problem = Some(fail("hash chain", detail));
            return Ok(false);
        }
        // RFC 3339 with fixed-width nanoseconds in UTC orders as text.
        if entry.time < prev_time {
            problem = Some(fail(
                "time order",
                format!("{} is earlier than {prev_time}", entry.time),
            ));
            return Ok(false);
        }
        let leaf = leaf_hash(bytes);
        let want = stored_hashes_for_leaf_hash(seq, leaf, &reader)?;
        let base = stored_hash_count(seq);
        for (i, h) in want.iter().enumerate() {
            let index = base + i as u64;
            let stored = hashes.get(index).map_err(crate::ledger::store::storage)?;
            let stored = stored.map(|v| Hash(v.value()));
            if stored != Some(*h) {
                let detail = match stored {
                    Some(s) => format!("stored tree hash {index} is {s}, recomputed {h}"),
                    None => format!("stored tree hash {index} is missing"),
                };
                problem = Some(fail("tree hashes", detail));
                return Ok(false);
            }
        }
        prev = leaf;
        prev_time = entry.time;
        expected_seq += 1;
        if expected_seq % 4096 == 0 {
            progress(expected_seq);
        }
        Ok(true)
    })?;
    progress(expected_seq);
    if problem.is_none() && expected_seq != size {
        problem = Some(Problem {
            seq: Some(expected_seq),
            check: "missing entry",
            detail: format!("{size} entries counted but the sequence stops at {expected_seq}"),
        });
    }
    if let Some(p) = problem {
        report.problem = Some(p);
        return Ok(report);
    }
    let origin = snap.meta_string(crate::ledger::store::meta::ORIGIN)?;
    let mut checkpoints = 0u64;
    let mut problem = None;
    let mut latest_signed = 0u64;
    snap.for_each_checkpoint(|cp_size, note| {
        checkpoints += 1;
        latest_signed = latest_signed.max(cp_size);
        let fail = |check: &'static str, detail: String| Problem {
            seq: None,
            check,
            detail: format!("checkpoint of size {cp_size}: {detail}"),
        };
        let verified = match verify_checkpoint(note, keys) {
            Ok(v) => v,
            Err(e) => {
                problem = Some(fail("checkpoint signature", e.to_string()));
                return Ok(false);
            }
        };
        let cp = verified.checkpoint();
        if Some(cp.origin().as_str()) != origin.as_deref() || cp.size() != cp_size || cp_size > size
        {
            let detail = format!("claims origin {} size {}", cp.origin().as_str(), cp.size());
            problem = Some(fail("checkpoint identity", detail));
            return Ok(false);
        }
        let root = tree_hash(cp_size, &reader)?;
        if root != *cp.root() {
            let detail = format!("signed root {} but the entries give {root}", cp.root());
            problem = Some(fail("checkpoint root", detail));
            return Ok(false);
        }
        Ok(true)
    })?;
    if problem.is_some() {
        report.problem = problem;
        return Ok(report);
    }
    // Every commit signs a checkpoint over the whole log, so entries past the latest signature
    // were written by something other than the writer (or their checkpoints were removed).
    if size > 0 && latest_signed != size {
        report.problem = Some(Problem {
            seq: Some(latest_signed),
            check: "unsigned entries",
            detail: format!(
                "the latest signed checkpoint covers {latest_signed} of {size} entries"
            ),
        });
        return Ok(report);
    }
    report.checkpoints = checkpoints;
    report.root = Some(tree_hash(size, &reader)?);
    Ok(report)
}

/// Checks every kept payload against the digest its entry commits to (length, then BLAKE3),
/// and that no payload is kept for an entry without a digest or beyond the last entry. Returns
/// the first mismatch. `progress` is called with the payloads done.
pub fn check_payloads(
    snap: &Snapshot,
    mut progress: impl FnMut(u64),
) -> Result<Option<Problem>, LedgerError> {
    let mut problem = None;
    let mut done = 0u64;
    snap.for_each_payload(|seq, bytes, payload| {
        let fail = |detail: String| Problem {
            seq: Some(seq),
            check: "payload digest",
            detail,
        };
        let Some(bytes) = bytes else {
            problem = Some(fail("a payload is kept for an entry that does not exist".into()));
            return Ok(false);
        };
        // Only the digest is needed; `check` has verified each entry's full encoding.
        #[derive(serde::Deserialize)]
        struct Committed {
            payload: Option<vanguard_verifier::PayloadDigest>,
        }
        let entry: Committed = match serde_json::from_slice(bytes) {
            Ok(e) => e,
            Err(e) => {
                problem = Some(Problem {
                    seq: Some(seq),
                    check: "entry encoding",
                    detail: e.to_string(),
                });
                return Ok(false);
            }
        };
        match entry.payload {
            Some(digest) if digest.matches(payload) => {}
            Some(digest) => {
                let detail = format!(
                    "the kept payload ({} bytes, blake3 {}) is not the one the entry commits to ({} bytes, blake3 {})",
                    payload.len(),
                    vanguard_verifier::Blake3Digest::of(payload),
                    digest.len,
                    digest.blake3
                );
                problem = Some(fail(detail));
                return Ok(false);
            }
            None => {
                problem = Some(fail("a payload is kept but the entry has no digest".into()));
                return Ok(false);
            }
        }
        done += 1;
        if done % 4096 == 0 {
            progress(done);
        }
        Ok(true)
    })?;
    progress(done);
    Ok(problem)
}
