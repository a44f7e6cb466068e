//! The outbox table: applying [`OutboxOp`]s inside the ledger writer's transaction, and the
//! reads the delivery task and `vanguard vex status` make.

use crate::anchor::vex::record::{OutboxItem, OutboxOp, Progress};
use crate::ledger::store::{meta, storage, LedgerError, Snapshot, META, VEX_OUTBOX};
use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde::Serialize;

/// Applies the outbox changes of one group commit, in the writer's transaction. `ops` pairs
/// each change with the seq of the entry it travels with.
///
/// Changes for a record that is no longer in the outbox are ignored (they cannot arise from
/// the one delivery task a ledger has, but must not resurrect a delivered record either).
pub(crate) fn apply(txn: &WriteTransaction, ops: Vec<(u64, OutboxOp)>) -> Result<(), LedgerError> {
    if ops.is_empty() {
        return Ok(());
    }
    let mut table = txn.open_table(VEX_OUTBOX).map_err(storage)?;
    let mut delivered = 0u64;
    for (seq, op) in ops {
        match op {
            OutboxOp::Enqueue(intent) => {
                let item = OutboxItem::new(intent);
                table
                    .insert(seq, item.to_bytes().as_slice())
                    .map_err(storage)?;
            }
            OutboxOp::Queued {
                blocked_seq,
                job_id,
                agent_id,
            } => {
                if let Some(mut item) = read(&table, blocked_seq)? {
                    item.progress = Progress::Queued { job_id, agent_id };
                    table
                        .insert(blocked_seq, item.to_bytes().as_slice())
                        .map_err(storage)?;
                }
            }
            OutboxOp::Requeue { blocked_seq } => {
                if let Some(mut item) = read(&table, blocked_seq)? {
                    item.progress = Progress::Pending;
                    item.generation = item.generation.saturating_add(1);
                    table
                        .insert(blocked_seq, item.to_bytes().as_slice())
                        .map_err(storage)?;
                }
            }
            OutboxOp::Done { blocked_seq } => {
                if table.remove(blocked_seq).map_err(storage)?.is_some() {
                    delivered += 1;
                }
            }
        }
    }
    if delivered > 0 {
        let mut m = txn.open_table(META).map_err(storage)?;
        let before = m
            .get(meta::VEX_DELIVERED)
            .map_err(storage)?
            .and_then(|v| parse_count(v.value()))
            .unwrap_or(0);
        let after = (before + delivered).to_string();
        m.insert(meta::VEX_DELIVERED, after.as_bytes())
            .map_err(storage)?;
    }
    Ok(())
}

fn read<T: ReadableTable<u64, &'static [u8]>>(
    table: &T,
    seq: u64,
) -> Result<Option<OutboxItem>, LedgerError> {
    match table.get(seq).map_err(storage)? {
        Some(v) => OutboxItem::from_bytes(v.value())
            .map(Some)
            .map_err(|e| LedgerError::Inconsistent(format!("VEX outbox record {seq}: {e}"))),
        None => Ok(None),
    }
}

fn parse_count(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// Up to `limit` outbox records from seq `from` on, in seq order.
pub fn records(
    snap: &Snapshot,
    from: u64,
    limit: usize,
) -> Result<Vec<(u64, OutboxItem)>, LedgerError> {
    let table = match snap.txn().open_table(VEX_OUTBOX) {
        Ok(t) => t,
        // A ledger written before the outbox existed has nothing queued.
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(storage(e)),
    };
    let mut out = Vec::new();
    for row in table.range(from..).map_err(storage)?.take(limit) {
        let (k, v) = row.map_err(storage)?;
        let item = OutboxItem::from_bytes(v.value()).map_err(|e| {
            LedgerError::Inconsistent(format!("VEX outbox record {}: {e}", k.value()))
        })?;
        out.push((k.value(), item));
    }
    Ok(out)
}

/// What `vanguard vex status` shows.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// Records not yet finished (pending + queued).
    pub queue_depth: u64,
    /// Of those, not yet accepted by VEX.
    pub pending: u64,
    /// Of those, accepted (a job id is recorded) with the outcome still to come.
    pub queued: u64,
    pub oldest: Option<Oldest>,
    /// Records whose final answer is recorded in the ledger.
    pub delivered: u64,
    pub agent_id: Option<String>,
    pub agent_url: Option<String>,
    pub last_error: Option<LastError>,
}

/// The oldest record still in the outbox.
#[derive(Clone, Debug, Serialize)]
pub struct Oldest {
    pub seq: u64,
    /// The blocked entry's time.
    pub time: String,
}

/// The last delivery error, as stored in the meta table.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct LastError {
    pub time: String,
    pub error: String,
}

/// The agent this ledger created on a VEX server, as stored in the meta table.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct StoredAgent {
    pub url: String,
    pub agent_id: String,
}

impl StoredAgent {
    pub fn read(snap: &Snapshot) -> Result<Option<StoredAgent>, LedgerError> {
        Ok(snap
            .meta(meta::VEX_AGENT)?
            .and_then(|v| serde_json::from_slice(&v).ok()))
    }
}

/// Reads the outbox's state.
pub fn status(snap: &Snapshot) -> Result<Status, LedgerError> {
    let mut status = Status {
        queue_depth: 0,
        pending: 0,
        queued: 0,
        oldest: None,
        delivered: snap
            .meta(meta::VEX_DELIVERED)?
            .and_then(|v| parse_count(&v))
            .unwrap_or(0),
        agent_id: None,
        agent_url: None,
        last_error: snap
            .meta(meta::VEX_LAST_ERROR)?
            .and_then(|v| serde_json::from_slice(&v).ok()),
    };
    if let Some(agent) = StoredAgent::read(snap)? {
        status.agent_id = Some(agent.agent_id);
        status.agent_url = Some(agent.url);
    }
    let table = match snap.txn().open_table(VEX_OUTBOX) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(status),
        Err(e) => return Err(storage(e)),
    };
    status.queue_depth = table.len().map_err(storage)?;
    for row in table.range(0..).map_err(storage)? {
        let (k, v) = row.map_err(storage)?;
        let seq = k.value();
        let item = OutboxItem::from_bytes(v.value())
            .map_err(|e| LedgerError::Inconsistent(format!("VEX outbox record {seq}: {e}")))?;
        match item.progress {
            Progress::Pending => status.pending += 1,
            Progress::Queued { .. } => status.queued += 1,
        }
        if status.oldest.is_none() {
            let time = snap
                .entry(seq)?
                .and_then(|bytes| vanguard_verifier::Entry::parse_canonical(&bytes).ok())
                .map(|e| e.time)
                .unwrap_or_default();
            status.oldest = Some(Oldest { seq, time });
        }
    }
    Ok(status)
}

/// Drops the raw bytes from entry `seq`'s outbox record, if it holds them
/// (`--vex-include-payload`): a redacted payload must not leave the ledger afterwards. Runs in
/// the redaction's transaction.
pub(crate) fn scrub_payload(txn: &WriteTransaction, seq: u64) -> Result<bool, LedgerError> {
    let mut table = txn.open_table(VEX_OUTBOX).map_err(storage)?;
    let Some(mut item) = read(&table, seq)? else {
        return Ok(false);
    };
    if item.intent.payload.take().is_none() {
        return Ok(false);
    }
    item.intent.payload_omitted = Some("redacted".into());
    table
        .insert(seq, item.to_bytes().as_slice())
        .map_err(storage)?;
    Ok(true)
}

/// Stores the last delivery error (its own small transaction; called off the async runtime).
pub(crate) fn set_last_error(db: &redb::Database, error: &LastError) -> Result<(), LedgerError> {
    let bytes = serde_json::to_vec(error).unwrap_or_default();
    crate::ledger::store::set_meta(db, meta::VEX_LAST_ERROR, &bytes)
}

/// Remembers the agent created on `url` (its own small transaction).
pub(crate) fn set_agent(db: &redb::Database, agent: &StoredAgent) -> Result<(), LedgerError> {
    let bytes = serde_json::to_vec(agent).unwrap_or_default();
    crate::ledger::store::set_meta(db, meta::VEX_AGENT, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anchor::vex::record::BlockedIntent;

    fn intent(payload: Option<&[u8]>) -> BlockedIntent {
        BlockedIntent {
            intent_digest: BlockedIntent::digest_of(b"x"),
            direction: "agent_to_server".into(),
            verdict: "block".into(),
            layer: "L1".into(),
            rules: vec!["R".into()],
            session: "s".into(),
            payload: payload.and_then(|p| BlockedIntent::payload_of(p).0),
            payload_omitted: None,
        }
    }

    fn db() -> (tempfile::TempDir, redb::Database) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l.redb");
        let db = crate::ledger::store::open_database(&path).expect("open");
        crate::ledger::store::init_tables(&db, &path).expect("init");
        (dir, db)
    }

    fn commit(db: &redb::Database, ops: Vec<(u64, OutboxOp)>) {
        let txn = db.begin_write().expect("write");
        apply(&txn, ops).expect("apply");
        txn.commit().expect("commit");
    }

    #[test]
    fn a_record_moves_through_its_states_and_is_counted_once() {
        let (_dir, db) = db();
        commit(
            &db,
            vec![
                (3, OutboxOp::Enqueue(intent(None))),
                (5, OutboxOp::Enqueue(intent(None))),
            ],
        );
        let snap = Snapshot::new(&db).expect("snap");
        let rs = records(&snap, 0, 10).expect("records");
        assert_eq!(rs.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![3, 5]);
        assert_eq!(rs[0].1.progress, Progress::Pending);
        drop(snap);

        let queued = OutboxOp::Queued {
            blocked_seq: 3,
            job_id: "j".into(),
            agent_id: "a".into(),
        };
        commit(&db, vec![(6, queued)]);
        commit(&db, vec![(7, OutboxOp::Requeue { blocked_seq: 3 })]);
        let snap = Snapshot::new(&db).expect("snap");
        let item = &records(&snap, 3, 1).expect("records")[0].1;
        assert_eq!((item.generation, &item.progress), (1, &Progress::Pending));
        drop(snap);

        // Done twice (and changes to absent records) count and change nothing more.
        commit(&db, vec![(8, OutboxOp::Done { blocked_seq: 3 })]);
        commit(
            &db,
            vec![
                (9, OutboxOp::Done { blocked_seq: 3 }),
                (10, OutboxOp::Requeue { blocked_seq: 3 }),
            ],
        );
        let snap = Snapshot::new(&db).expect("snap");
        let st = status(&snap).expect("status");
        assert_eq!(
            (st.queue_depth, st.pending, st.queued, st.delivered),
            (1, 1, 0, 1)
        );
        assert_eq!(st.oldest.map(|o| o.seq), Some(5));
    }

    #[test]
    fn scrubbing_removes_only_the_payload() {
        let (_dir, db) = db();
        commit(&db, vec![(1, OutboxOp::Enqueue(intent(Some(b"secret"))))]);
        let txn = db.begin_write().expect("write");
        assert!(scrub_payload(&txn, 1).expect("scrub"));
        assert!(!scrub_payload(&txn, 1).expect("again"));
        assert!(!scrub_payload(&txn, 2).expect("absent"));
        txn.commit().expect("commit");
        let snap = Snapshot::new(&db).expect("snap");
        let item = &records(&snap, 0, 1).expect("records")[0].1;
        let mut expected = intent(None);
        expected.payload_omitted = Some("redacted".into());
        assert_eq!(item.intent, expected);
    }
}
