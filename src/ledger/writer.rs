//! The single ledger writer and its group commit.
//!
//! Producers (the pumps) hand a [`Record`] to a [`Recorder`] and get a [`Ticket`]. One thread
//! owns the database: it takes everything queued, writes the entries, payloads, tree hashes and
//! one new signed checkpoint in a single redb transaction, commits it (fsync with two-phase
//! commit by default), and only then resolves every ticket of the batch. A message is forwarded
//! only after its ticket resolves, so the ledger never misses a message that reached a peer.
//!
//! A batch is durable as a whole before any of its tickets resolves, so a producer that awaits
//! its tickets in a FIFO keeps its own message order.

use crate::ledger::keys::LedgerKey;
use crate::ledger::store::{
    self, storage, LedgerError, TableHashes, CHECKPOINTS, ENTRIES, HASHES, PAYLOADS,
};
use redb::{Database, Durability as RedbDurability, ReadableTableMetadata};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::{mpsc, oneshot};
use vanguard_verifier::{
    leaf_hash, stored_hash_count, stored_hashes_for_leaf_hash, tree_hash, Entry, Hash,
};

/// Most records in one transaction: bounds commit latency and memory under a burst.
const MAX_BATCH: usize = 1024;
/// Records waiting for the writer before producers are made to wait.
const QUEUE: usize = 8192;

/// Whether a commit waits for the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// fsync before anything is forwarded, with two-phase commit (the default).
    Fsync,
    /// No fsync: a crash can lose recent entries. For development only; recorded in the ledger.
    None,
}

impl Durability {
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Fsync => "fsync",
            Durability::None => "none",
        }
    }
}

/// One message (or proxy event) to record. The writer fills in `seq`, `time` and `prev`.
#[derive(Debug)]
pub struct Record {
    pub entry: Entry,
    /// The wire bytes to keep, if the payload policy keeps them.
    pub payload: Option<Vec<u8>>,
    /// VEX outbox hook: a change to the outbox committed in the same transaction as this
    /// entry (queue a blocked message; record a VEX answer's effect). `None` costs nothing.
    pub outbox: Option<crate::anchor::vex::OutboxOp>,
}

/// Where a record landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Committed {
    /// The entry's sequence number (its leaf index).
    pub seq: u64,
    /// Tree size of the checkpoint signed with it.
    pub size: u64,
}

/// Why a record was not committed. Shared by every record of a failed batch.
pub type Failure = Arc<LedgerError>;

/// Resolves once the record is durable (or failed).
pub struct Ticket(oneshot::Receiver<Result<Committed, Failure>>);

impl Ticket {
    pub async fn wait(self) -> Result<Committed, Failure> {
        self.0
            .await
            .unwrap_or_else(|_| Err(Arc::new(LedgerError::WriterGone)))
    }
}

struct Job {
    record: Record,
    done: oneshot::Sender<Result<Committed, Failure>>,
}

/// A cloneable handle for recording.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Job>,
}

impl Recorder {
    /// Queues a record; waits only if the writer is far behind.
    pub async fn append(&self, record: Record) -> Ticket {
        let (done, rx) = oneshot::channel();
        // If the writer is gone the ticket resolves to `WriterGone`.
        let _ = self.tx.send(Job { record, done }).await;
        Ticket(rx)
    }

    /// Records from synchronous code (start-up and shutdown events).
    pub fn append_blocking(&self, record: Record) -> Result<Committed, Failure> {
        let (done, rx) = oneshot::channel();
        self.tx
            .blocking_send(Job { record, done })
            .map_err(|_| Arc::new(LedgerError::WriterGone))?;
        rx.blocking_recv()
            .unwrap_or_else(|_| Err(Arc::new(LedgerError::WriterGone)))
    }
}

/// The writer's view of the log's tip.
struct Tip {
    size: u64,
    prev: Hash,
    last_time: SystemTime,
}

/// Starts the writer thread over an open database. Returns the handle and the thread, which
/// ends once every [`Recorder`] is dropped.
pub fn start(
    db: Arc<Database>,
    key: LedgerKey,
    durability: Durability,
) -> Result<(Recorder, std::thread::JoinHandle<()>), LedgerError> {
    let tip = read_tip(&db)?;
    // The mode in force, recorded once when writing starts rather than in every commit.
    store::set_meta(&db, store::meta::DURABILITY, durability.as_str().as_bytes())?;
    let (tx, rx) = mpsc::channel(QUEUE);
    let mut writer = Writer {
        first_failure: None,
        db,
        key,
        durability,
        tip,
    };
    let thread = std::thread::Builder::new()
        .name("ledger-writer".into())
        .spawn(move || writer.run(rx))
        .map_err(|source| LedgerError::Io {
            path: "ledger-writer thread".into(),
            source,
        })?;
    Ok((Recorder { tx }, thread))
}

fn read_tip(db: &Database) -> Result<Tip, LedgerError> {
    let snap = store::Snapshot::new(db)?;
    let size = snap.size()?;
    if size == 0 {
        return Ok(Tip {
            size,
            prev: Hash::default(),
            last_time: SystemTime::UNIX_EPOCH,
        });
    }
    let last = snap
        .entry(size - 1)?
        .ok_or_else(|| LedgerError::Inconsistent(format!("entry {} missing", size - 1)))?;
    let entry = Entry::parse_canonical(&last)
        .map_err(|e| LedgerError::Inconsistent(format!("entry {}: {e}", size - 1)))?;
    let last_time = humantime::parse_rfc3339(&entry.time).unwrap_or(SystemTime::UNIX_EPOCH);
    Ok(Tip {
        size,
        prev: leaf_hash(&last),
        last_time,
    })
}

struct Writer {
    /// The first commit failure, which any later "previous I/O error" is a consequence of.
    first_failure: Option<String>,
    db: Arc<Database>,
    key: LedgerKey,
    durability: Durability,
    tip: Tip,
}

impl Writer {
    fn run(&mut self, mut rx: mpsc::Receiver<Job>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = rx.blocking_recv() {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let started = std::time::Instant::now();
            let result = self.commit(&mut batch);
            tracing::trace!(
                records = batch.len(),
                micros = started.elapsed().as_micros() as u64,
                "group commit"
            );
            match result {
                Ok(outcomes) => {
                    let size = self.tip.size;
                    // Last first: a producer awaits its tickets in order, so only its oldest
                    // has a waker registered. Resolving that one last wakes each producer once
                    // per commit, with the rest already done, instead of once per record.
                    // (The whole batch is durable already; the order is only about wake-ups.)
                    for (job, outcome) in batch.drain(..).zip(outcomes).rev() {
                        let result = outcome.map(|seq| Committed { seq, size }).map_err(Arc::new);
                        let _ = job.done.send(result);
                    }
                }
                Err(e) => {
                    let e = self.explain(e);
                    tracing::error!(error = %e, records = batch.len(), "ledger commit failed; nothing in this batch is forwarded");
                    let e = Arc::new(e);
                    for job in batch.drain(..) {
                        let _ = job.done.send(Err(e.clone()));
                    }
                }
            }
        }
    }

    /// After an I/O error redb answers every later write with "previous I/O error": name the
    /// error that started it instead, and what it takes to recover.
    fn explain(&mut self, e: LedgerError) -> LedgerError {
        let previous_io = matches!(&e, LedgerError::Storage(redb::Error::PreviousIo));
        match (&self.first_failure, previous_io) {
            (Some(first), true) => LedgerError::Halted {
                first: first.clone(),
            },
            (None, _) => {
                self.first_failure = Some(store::error_chain(&e));
                e
            }
            (Some(_), false) => e,
        }
    }

    /// Writes one batch in one transaction. On success the tip advances and each job gets its
    /// seq, or the reason its entry was refused (an entry that cannot be encoded canonically
    /// fails alone, not its batch). On failure nothing changes: the transaction is dropped, which
    /// aborts it.
    fn commit(&mut self, batch: &mut [Job]) -> Result<Vec<Result<u64, LedgerError>>, LedgerError> {
        let mut txn = self.db.begin_write().map_err(storage)?;
        let durability = match self.durability {
            Durability::Fsync => RedbDurability::Immediate,
            Durability::None => RedbDurability::None,
        };
        txn.set_durability(durability).map_err(storage)?;
        txn.set_two_phase_commit(self.durability == Durability::Fsync);
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut size = self.tip.size;
        let mut prev = self.tip.prev;
        let mut last_time = self.tip.last_time;
        // VEX outbox hook: (entry seq, change), applied below in this same transaction.
        let mut outbox_ops = Vec::new();
        {
            let mut entries = txn.open_table(ENTRIES).map_err(storage)?;
            let mut payloads = txn.open_table(PAYLOADS).map_err(storage)?;
            let mut hashes = txn.open_table(HASHES).map_err(storage)?;
            for job in batch.iter_mut() {
                // Wall clocks step backwards; entry times must not.
                let now = SystemTime::now().max(last_time);
                last_time = now;
                let entry = &mut job.record.entry;
                entry.seq = size;
                entry.time = humantime::format_rfc3339_nanos(now).to_string();
                entry.prev = prev;
                let bytes = match entry.canonical_bytes() {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        let reason = format!("entry cannot be encoded: {e}");
                        outcomes.push(Err(LedgerError::Inconsistent(reason)));
                        continue;
                    }
                };
                let leaf = leaf_hash(&bytes);
                let new = stored_hashes_for_leaf_hash(size, leaf, &TableHashes(&hashes))?;
                let base = stored_hash_count(size);
                for (i, h) in new.iter().enumerate() {
                    hashes.insert(base + i as u64, h.0).map_err(storage)?;
                }
                entries.insert(size, bytes.as_slice()).map_err(storage)?;
                if let Some(payload) = &job.record.payload {
                    payloads.insert(size, payload.as_slice()).map_err(storage)?;
                }
                if let Some(op) = job.record.outbox.take() {
                    outbox_ops.push((size, op));
                }
                outcomes.push(Ok(size));
                prev = leaf;
                size += 1;
            }
            if size == self.tip.size {
                // Nothing valid to write: dropping the transaction aborts it.
                return Ok(outcomes);
            }
            let root = tree_hash(size, &TableHashes(&hashes))?;
            let note = self.key.sign_checkpoint(size, &root)?;
            let mut checkpoints = txn.open_table(CHECKPOINTS).map_err(storage)?;
            checkpoints.insert(size, note.as_bytes()).map_err(storage)?;
            debug_assert_eq!(entries.len().unwrap_or(size), size);
        }
        crate::anchor::vex::outbox::apply(&txn, outbox_ops)?;
        txn.commit().map_err(storage)?;
        self.tip = Tip {
            size,
            prev,
            last_time,
        };
        Ok(outcomes)
    }
}
