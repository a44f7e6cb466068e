//! Anchoring from a running proxy (`vanguard start --anchor-every`): while the proxy holds the
//! ledger (redb locks it, so `vanguard anchor` cannot run beside it), a thread of its own
//! completes the pending anchor or commits the latest checkpoint, once per interval.
//!
//! The flow functions block (RPC on the node's own runtime, ledger appends that wait for
//! durability), so the scheduler is a std thread, never a task on the proxy's runtime: the
//! message path does not wait for it. Node errors are logged and retried at the next tick.
//!
//! Cost: at most one transaction per interval. A tick commits only when entries other than
//! anchor events were recorded since the last completed anchor's checkpoint, so an idle proxy
//! does not pay to anchor its own anchor events. The first tick comes one interval after the
//! ledger's last `anchor_pending` (at once if that is long past), so restarting the proxy
//! (agents restart their servers often) does not multiply transactions.
//!
//! A pending transaction the node no longer knows (dropped from its mempool) would stop
//! anchoring for good, so the scheduler abandons it once the node has not known it at
//! [`DROPPED_CHECKS`] ticks in a row (so over at least two intervals, which a node restarting
//! and reloading its mempool rarely needs; a mistake costs one more fee), records why in `anchor_abandoned`, asks
//! the wallet to `abandontransaction` (freeing its coins), and commits anew in the same tick.
//! The count lives in memory: a restarted proxy counts again from zero.

use std::collections::HashMap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use vanguard_verifier::{AnchorNetwork, Entry, Kind};

use super::events::{self, AnchorLog};
use super::flow::{self, AbandonedAnchor, AnchorFlowError, Committed, Completion, Node};
use crate::ledger::store::{LedgerError, Snapshot};
use crate::ledger::Ledger;

/// The shortest interval accepted: each commit is a Bitcoin transaction, and blocks come
/// every ten minutes on average anyway.
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);

/// Ticks in a row at which the node must not know a pending transaction before the scheduler
/// abandons it.
pub const DROPPED_CHECKS: u32 = 3;

/// For each pending transaction, the ticks in a row at which the node did not know it.
#[derive(Debug, Default)]
pub struct DroppedCount(HashMap<String, u32>);

/// What to anchor, and how often.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub every: Duration,
    pub network: AnchorNetwork,
    /// Confirmations a transaction needs before its proof is recorded.
    pub confirmations: u64,
}

/// Why a tick committed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Idle {
    /// A pending anchor is not yet confirmed deeply enough.
    Waiting,
    /// The ledger has no signed checkpoint yet.
    NoCheckpoint,
    /// The latest checkpoint (`size` entries) is already anchored.
    Anchored { size: u64 },
    /// Since the checkpoint of `since` entries was anchored, only anchor events were added.
    OnlyAnchorEvents { since: u64 },
}

/// What one tick did.
#[derive(Debug)]
pub struct Tick {
    /// Pending anchors examined first.
    pub completions: Vec<Completion>,
    /// Pending anchors the node had dropped, abandoned by this tick.
    pub abandoned: Vec<AbandonedAnchor>,
    /// The commit made, or why none was.
    pub outcome: Result<Committed, Idle>,
}

/// One tick: complete what is pending, abandon what the node dropped [`DROPPED_CHECKS`]
/// ticks in a row; if nothing is left pending, commit the latest checkpoint when it holds
/// something new.
pub fn tick(
    ledger: &Ledger,
    node: &Node,
    schedule: &Schedule,
    dropped: &mut DroppedCount,
) -> Result<Tick, AnchorFlowError> {
    let completions = flow::complete(ledger, node, schedule.confirmations)?;
    // A transaction the node knows again (or that completed) starts counting from zero.
    dropped.0.retain(|txid, _| {
        completions
            .iter()
            .any(|c| matches!(c, Completion::Dropped { txid: t, .. } if t == txid))
    });
    let mut abandoned = Vec::new();
    let mut waiting = false;
    for c in &completions {
        match c {
            Completion::Done { .. } => {}
            Completion::Waiting { .. } => waiting = true,
            Completion::Dropped { txid, .. } => {
                let count = dropped.0.entry(txid.clone()).or_insert(0);
                *count += 1;
                if *count < DROPPED_CHECKS {
                    waiting = true;
                    continue;
                }
                let reason = format!(
                    "the node no longer knew the transaction (in neither its mempool nor a \
                     block) at {count} checks in a row, {} apart: dropped; abandoned by the \
                     anchor scheduler",
                    humantime::format_duration(schedule.every)
                );
                abandoned.push(flow::abandon(ledger, txid, &reason)?);
                dropped.0.remove(txid);
                if let Err(e) = flow::release_wallet_inputs(node, txid) {
                    tracing::warn!(
                        txid,
                        error = %e,
                        "the wallet did not abandon the dropped transaction; its coins may stay \
                         reserved (bitcoin-cli abandontransaction TXID frees them)"
                    );
                }
            }
        }
    }
    if waiting {
        return Ok(Tick {
            completions,
            abandoned,
            outcome: Err(Idle::Waiting),
        });
    }
    let worth = {
        let snap = Snapshot::new(ledger.database())?;
        worth_committing(&snap)?
    };
    let outcome = match worth {
        Ok(_) => Ok(flow::commit(ledger, node, schedule.network)?),
        Err(idle) => Err(idle),
    };
    Ok(Tick {
        completions,
        abandoned,
        outcome,
    })
}

/// The size of the latest checkpoint if anchoring it is worth a transaction.
pub fn worth_committing(snap: &Snapshot) -> Result<Result<u64, Idle>, LedgerError> {
    let Some((size, _)) = snap.latest_checkpoint()? else {
        return Ok(Err(Idle::NoCheckpoint));
    };
    let log = events::scan(snap)?;
    let since = log
        .done
        .iter()
        .map(|(_, d)| d.checkpoint_size)
        .max()
        .unwrap_or(0);
    if size <= since {
        return Ok(Err(Idle::Anchored { size }));
    }
    let mut news = false;
    snap.for_each_entry(since, size, |_, bytes| {
        news = !is_anchor_event(bytes);
        Ok(!news)
    })?;
    Ok(if news {
        Ok(size)
    } else {
        Err(Idle::OnlyAnchorEvents { since })
    })
}

fn is_anchor_event(bytes: &[u8]) -> bool {
    let Ok(entry) = serde_json::from_slice::<Entry>(bytes) else {
        return false;
    };
    let Some(event) = entry.event.filter(|_| entry.kind == Kind::Event) else {
        return false;
    };
    event.get("anchor").and_then(Value::as_str) == Some(events::KIND)
        && matches!(
            event.get("type").and_then(Value::as_str),
            Some(events::PENDING | events::ABANDONED | events::DONE)
        )
}

/// How long to wait before the first tick: what is left of the interval since the ledger's
/// last `anchor_pending` was recorded.
pub fn first_delay(snap: &Snapshot, every: Duration, now: SystemTime) -> Duration {
    let last = last_commit_time(snap).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "anchoring: could not read the last anchor's time");
        None
    });
    match last.and_then(|t| now.duration_since(t).ok()) {
        Some(elapsed) => every.saturating_sub(elapsed),
        None => Duration::ZERO,
    }
}

fn last_commit_time(snap: &Snapshot) -> Result<Option<SystemTime>, LedgerError> {
    let log: AnchorLog = events::scan(snap)?;
    let Some((seq, _)) = log.pending.last() else {
        return Ok(None);
    };
    let Some(bytes) = snap.entry(*seq)? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice::<Entry>(&bytes)
        .ok()
        .and_then(|e| humantime::parse_rfc3339(&e.time).ok()))
}

/// The running scheduler; [`Running::stop`] ends it.
pub struct Running<'scope> {
    stop: mpsc::Sender<()>,
    thread: ScopedJoinHandle<'scope, ()>,
}

impl Running<'_> {
    /// Stops at once if the scheduler is waiting for its next tick, or after the tick in
    /// progress (its RPC calls are bounded by the client's timeout). Call before the ledger
    /// is closed.
    pub fn stop(self) {
        drop(self.stop);
        if self.thread.join().is_err() {
            tracing::error!("the anchor scheduler panicked");
        }
    }
}

/// Starts the scheduler on its own thread within `scope` (which outlives it, so the ledger
/// is not closed under it: dropping [`Running`] also stops it).
pub fn spawn<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    ledger: &'env Ledger,
    node: Node,
    schedule: Schedule,
) -> std::io::Result<Running<'scope>> {
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("anchor".into())
        .spawn_scoped(scope, move || run(ledger, &node, &schedule, &stopped))?;
    Ok(Running { stop, thread })
}

fn run(ledger: &Ledger, node: &Node, schedule: &Schedule, stopped: &mpsc::Receiver<()>) {
    let mut wait = match Snapshot::new(ledger.database()) {
        Ok(snap) => first_delay(&snap, schedule.every, SystemTime::now()),
        Err(_) => Duration::ZERO,
    };
    tracing::info!(
        every = %humantime::format_duration(schedule.every),
        first_in = %humantime::format_duration(Duration::from_secs(wait.as_secs())),
        network = schedule.network.as_str(),
        "anchoring to Bitcoin on a schedule"
    );
    let mut dropped = DroppedCount::default();
    loop {
        match stopped.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        match tick(ledger, node, schedule, &mut dropped) {
            Ok(t) => log_tick(&t),
            Err(e) => tracing::warn!(
                error = %with_causes(&e),
                retry_in = %humantime::format_duration(schedule.every),
                "anchoring failed; retrying at the next tick"
            ),
        }
        wait = schedule.every;
    }
}

/// The error and its causes, which name the actual fault (`error sending request` says
/// little; `Connection refused` says what to fix).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}

fn log_tick(t: &Tick) {
    for c in &t.completions {
        match c {
            Completion::Done {
                txid,
                checkpoint_size,
                height,
                event_seq,
                ..
            } => tracing::info!(
                txid,
                checkpoint_size,
                height,
                entry = event_seq,
                "anchor complete"
            ),
            Completion::Waiting {
                txid,
                confirmations,
                needed,
                ..
            } => tracing::info!(txid, confirmations, needed, "anchor not yet confirmed"),
            Completion::Dropped { txid, .. } => tracing::warn!(
                txid,
                checks = DROPPED_CHECKS,
                "the node no longer knows the anchor transaction (in neither its mempool nor \
                 a block): it was dropped; the scheduler abandons it and commits anew once \
                 the node has not known it for this many checks in a row"
            ),
        }
    }
    for a in &t.abandoned {
        tracing::warn!(
            txid = a.txid,
            checkpoint_size = a.checkpoint_size,
            entry = a.event_seq,
            "anchor abandoned: the node dropped its transaction"
        );
    }
    match &t.outcome {
        Ok(c) => tracing::info!(
            txid = c.txid,
            checkpoint_size = c.checkpoint_size,
            fee_sat = c.fee_sat,
            entry = c.event_seq,
            "anchor committed"
        ),
        Err(idle) => tracing::debug!(?idle, "nothing to anchor"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anchor::bitcoin::events::{Done, Pending};
    use crate::ledger::{Durability, Identity, LedgerOptions};
    use vanguard_verifier::BitcoinAnchor;

    fn pending(size: u64) -> Value {
        Pending {
            event_type: events::PENDING.into(),
            anchor: events::KIND.into(),
            network: "regtest".into(),
            checkpoint_size: size,
            commitment: String::new(),
            txid: "aa".into(),
            tx: String::new(),
            fee_sat: 141,
        }
        .to_value()
    }

    fn done(size: u64) -> Value {
        Done {
            event_type: events::DONE.into(),
            anchor: events::KIND.into(),
            network: "regtest".into(),
            checkpoint_size: size,
            txid: "aa".into(),
            block_hash: "00".into(),
            height: 1,
            block_time: 0,
            proof: BitcoinAnchor::new(AnchorNetwork::Regtest, String::new(), &[], &[], None, None),
        }
        .to_value()
    }

    #[test]
    fn commits_only_for_entries_other_than_anchor_events_and_waits_out_the_interval() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::open(&LedgerOptions {
            path: dir.path().join("l.redb"),
            key_path: None,
            durability: Durability::None,
            new_key: false,
        })
        .expect("ledger");
        let worth = || worth_committing(&Snapshot::new(ledger.database()).expect("snap"));
        let delay = |now: SystemTime| {
            first_delay(
                &Snapshot::new(ledger.database()).expect("snap"),
                Duration::from_secs(3600),
                now,
            )
        };
        assert_eq!(worth().expect("read"), Err(Idle::NoCheckpoint));
        assert_eq!(delay(SystemTime::now()), Duration::ZERO, "never anchored");

        let who = Identity::new("test".into());
        ledger
            .append_event(&who, serde_json::json!({"type": "start"}))
            .expect("append");
        assert_eq!(worth().expect("read"), Ok(1));

        // The anchor of that first entry, pending then done: its own events are not worth a fee.
        ledger.append_event(&who, pending(1)).expect("append");
        let after_commit = SystemTime::now();
        ledger.append_event(&who, done(1)).expect("append");
        assert_eq!(
            worth().expect("read"),
            Err(Idle::OnlyAnchorEvents { since: 1 })
        );
        // A restart right after the commit waits (about) the interval; two hours on, none.
        let left = delay(after_commit);
        assert!(left > Duration::from_secs(3500) && left <= Duration::from_secs(3600));
        assert_eq!(
            delay(after_commit + Duration::from_secs(7200)),
            Duration::ZERO
        );

        ledger
            .append_event(&who, serde_json::json!({"type": "stop"}))
            .expect("append");
        assert_eq!(worth().expect("read"), Ok(4));
        ledger.close();
    }
}
