//! Anchors as ledger events. Each step of anchoring is an `event` entry, so the ledger itself
//! says which checkpoints were sent to the chain and what came back:
//!
//! ```text
//! {"type":"anchor_pending","anchor":"bitcoin","network":"main","checkpoint_size":N,
//!  "commitment":"<hex SHA-256 of the checkpoint note>","txid":"<hex>","tx":"<signed tx hex>",
//!  "fee_sat":F}
//! {"type":"anchor_abandoned","anchor":"bitcoin","txid":"<hex>","reason":"..."}
//! {"type":"anchor","anchor":"bitcoin","network":"main","checkpoint_size":N,"txid":"<hex>",
//!  "block_hash":"<hex>","height":H,"block_time":T,"proof":{<the anchor proof, consistency empty>}}
//! ```
//!
//! `anchor_pending` is recorded *before* the transaction is broadcast, so no anchor is ever
//! paid for without a record; a failed broadcast is then recorded as `anchor_abandoned`.
//! Receipts and slices take the `proof` of the earliest completed anchor that covers them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vanguard_verifier::{BitcoinAnchor, Entry, Kind};

use crate::ledger::store::{LedgerError, Snapshot};

pub const PENDING: &str = "anchor_pending";
pub const ABANDONED: &str = "anchor_abandoned";
pub const DONE: &str = "anchor";
/// The `anchor` field of every Bitcoin anchor event.
pub const KIND: &str = "bitcoin";

/// An anchor transaction signed and about to be (or already) broadcast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    #[serde(rename = "type")]
    pub event_type: String,
    pub anchor: String,
    pub network: String,
    pub checkpoint_size: u64,
    pub commitment: String,
    pub txid: String,
    pub tx: String,
    pub fee_sat: u64,
}

/// A broadcast that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Abandoned {
    #[serde(rename = "type")]
    pub event_type: String,
    pub anchor: String,
    pub txid: String,
    pub reason: String,
}

/// A mined anchor with its proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    #[serde(rename = "type")]
    pub event_type: String,
    pub anchor: String,
    pub network: String,
    pub checkpoint_size: u64,
    pub txid: String,
    pub block_hash: String,
    pub height: u64,
    pub block_time: u64,
    pub proof: BitcoinAnchor,
}

impl Pending {
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}
impl Abandoned {
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}
impl Done {
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Every Bitcoin anchor event in the ledger, with the seq of its entry.
#[derive(Debug, Clone, Default)]
pub struct AnchorLog {
    pub pending: Vec<(u64, Pending)>,
    pub abandoned: Vec<(u64, Abandoned)>,
    pub done: Vec<(u64, Done)>,
}

impl AnchorLog {
    /// Pending anchors neither completed nor abandoned.
    pub fn open(&self) -> Vec<&(u64, Pending)> {
        self.pending
            .iter()
            .filter(|(_, p)| {
                !self.done.iter().any(|(_, d)| d.txid == p.txid)
                    && !self.abandoned.iter().any(|(_, a)| a.txid == p.txid)
            })
            .collect()
    }

    /// The earliest completed anchor whose checkpoint holds at least `needed` entries.
    pub fn covering(&self, needed: u64) -> Option<&Done> {
        self.done
            .iter()
            .map(|(_, d)| d)
            .filter(|d| d.checkpoint_size >= needed)
            .min_by_key(|d| d.checkpoint_size)
    }
}

/// Reads every anchor event: one pass over the entries, parsing only those whose bytes
/// mention an anchor event type.
pub fn scan(snap: &Snapshot) -> Result<AnchorLog, LedgerError> {
    let finder = memchr::memmem::Finder::new(b"\"type\":\"anchor");
    let mut log = AnchorLog::default();
    snap.for_each_entry(0, u64::MAX, |seq, bytes| {
        if finder.find(bytes).is_none() {
            return Ok(true);
        }
        let Ok(entry) = serde_json::from_slice::<Entry>(bytes) else {
            return Ok(true);
        };
        let Some(event) = entry.event.filter(|_| entry.kind == Kind::Event) else {
            return Ok(true);
        };
        if event.get("anchor").and_then(Value::as_str) != Some(KIND) {
            return Ok(true);
        }
        match event.get("type").and_then(Value::as_str) {
            Some(PENDING) => {
                if let Ok(p) = serde_json::from_value(event) {
                    log.pending.push((seq, p));
                }
            }
            Some(ABANDONED) => {
                if let Ok(a) = serde_json::from_value(event) {
                    log.abandoned.push((seq, a));
                }
            }
            Some(DONE) => {
                if let Ok(d) = serde_json::from_value(event) {
                    log.done.push((seq, d));
                }
            }
            _ => {}
        }
        Ok(true)
    })?;
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(size: u64, txid: &str) -> Done {
        Done {
            event_type: DONE.into(),
            anchor: KIND.into(),
            network: "regtest".into(),
            checkpoint_size: size,
            txid: txid.into(),
            block_hash: "00".into(),
            height: 1,
            block_time: 0,
            proof: BitcoinAnchor::new(
                vanguard_verifier::AnchorNetwork::Regtest,
                String::new(),
                &[],
                &[],
                None,
                None,
            ),
        }
    }

    fn pending(size: u64, txid: &str) -> Pending {
        Pending {
            event_type: PENDING.into(),
            anchor: KIND.into(),
            network: "regtest".into(),
            checkpoint_size: size,
            commitment: String::new(),
            txid: txid.into(),
            tx: String::new(),
            fee_sat: 0,
        }
    }

    #[test]
    fn covering_takes_the_smallest_anchored_size_that_holds_the_entries() {
        let log = AnchorLog {
            pending: vec![
                (1, pending(10, "a")),
                (5, pending(30, "b")),
                (9, pending(40, "c")),
            ],
            abandoned: vec![(
                10,
                Abandoned {
                    event_type: ABANDONED.into(),
                    anchor: KIND.into(),
                    txid: "c".into(),
                    reason: "rejected".into(),
                },
            )],
            done: vec![(7, done(30, "b")), (3, done(10, "a"))],
        };
        assert_eq!(log.covering(5).map(|d| d.checkpoint_size), Some(10));
        assert_eq!(log.covering(10).map(|d| d.checkpoint_size), Some(10));
        assert_eq!(log.covering(11).map(|d| d.checkpoint_size), Some(30));
        assert!(log.covering(31).is_none());
        assert!(
            log.open().is_empty(),
            "done and abandoned anchors are not open"
        );
        let log = AnchorLog {
            pending: vec![(1, pending(10, "a"))],
            ..AnchorLog::default()
        };
        assert_eq!(log.open().len(), 1);
    }
}
