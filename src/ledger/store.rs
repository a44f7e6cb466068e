//! The ledger's redb file: tables, opening (with its exclusive lock), and reads.
//!
//! ```text
//! entries      seq                -> canonical entry bytes (the Merkle leaf data)
//! payloads     seq                -> raw wire bytes (redactable: entries commit to a digest)
//! hashes       stored-hash index  -> 32-byte hash (Go sumdb tlog layout, ~2 per entry)
//! checkpoints  tree size          -> signed checkpoint note, UTF-8 (one per group commit)
//! meta         name               -> bytes (ledger id, origin, vkey, durability, format)
//! vex_outbox   blocked entry seq  -> outbox record JSON (only while VEX delivery is pending)
//! ```

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::{Path, PathBuf};
use vanguard_verifier::{Hash, HashReader};

pub(crate) const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
pub(crate) const PAYLOADS: TableDefinition<u64, &[u8]> = TableDefinition::new("payloads");
pub(crate) const HASHES: TableDefinition<u64, [u8; 32]> = TableDefinition::new("hashes");
/// Notes are text, but stored as bytes: redb decodes a `&str` value with a panicking
/// `from_utf8(..).unwrap()`, so one corrupt byte would crash every reader. We check UTF-8
/// ourselves ([`note_text`]) and report a corrupt checkpoint instead.
pub(crate) const CHECKPOINTS: TableDefinition<u64, &[u8]> = TableDefinition::new("checkpoints");
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Blocked intents awaiting delivery to VEX (`crate::anchor::vex`).
pub(crate) const VEX_OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("vex_outbox");

/// Meta keys.
pub mod meta {
    pub const FORMAT: &str = "format";
    pub const LEDGER_ID: &str = "ledger_id";
    pub const ORIGIN: &str = "origin";
    pub const VKEY: &str = "vkey";
    pub const DURABILITY: &str = "durability";
    /// VEX agent this ledger created: `{"url": ..., "agent_id": ...}`.
    pub const VEX_AGENT: &str = "vex_agent";
    /// Records whose final VEX answer is recorded (decimal).
    pub const VEX_DELIVERED: &str = "vex_delivered";
    /// The last VEX delivery error: `{"time": ..., "error": ...}`.
    pub const VEX_LAST_ERROR: &str = "vex_last_error";
}

/// redb's page cache. Its default (1 GiB) lets a long-running proxy's memory grow with its
/// ledger; the writer only touches the tree's right edge, so a small cache loses little
/// (benches/load: the same throughput with 4 MiB as with 16 MiB, 12 MiB less RSS).
const CACHE_BYTES: usize = 4 << 20;

/// The on-disk format this code writes and reads.
pub const FORMAT: &[u8] = b"vanguard-ledger/v1";

/// Why the ledger cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// Another process has the ledger open (redb holds an exclusive file lock).
    #[error("ledger {path} is in use by another process (one proxy per ledger; give this one its own --ledger)")]
    Locked { path: PathBuf },
    /// The file is not a Vanguard ledger of a format this build understands.
    #[error("{path} is not a vanguard ledger (format {found:?})")]
    Format { path: PathBuf, found: String },
    /// A storage failure (disk full, read-only file, I/O error, corruption).
    #[error("ledger storage: {0}")]
    Storage(redb::Error),
    /// The ledger's own data is inconsistent (a missing hash or entry it should have).
    #[error("ledger is inconsistent: {0}")]
    Inconsistent(String),
    /// Tree arithmetic failed; carries the verifier's evidence.
    #[error("ledger tree: {0}")]
    Proof(vanguard_verifier::ProofError),
    /// The signing key could not be read, created or used.
    #[error("signing key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    /// The file's bytes are damaged: a stored value that cannot be what we wrote, or redb
    /// failing (panicking) on a page it cannot decode.
    #[error("ledger file is corrupt: {0}")]
    Corrupt(String),
    /// The ledger writer stopped, so nothing more can be recorded.
    #[error("the ledger writer has stopped")]
    WriterGone,
    /// A commit failed with an I/O error earlier; redb refuses every later write until the
    /// file is reopened, so the proxy stays closed until it is restarted.
    #[error("ledger stopped after a write error ({first}); nothing is recorded or forwarded until vanguard is restarted once the cause is fixed")]
    Halted { first: String },
    /// A filesystem operation around the ledger failed.
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<redb::Error> for LedgerError {
    fn from(e: redb::Error) -> Self {
        LedgerError::Storage(e)
    }
}

impl From<vanguard_verifier::ProofError> for LedgerError {
    fn from(e: vanguard_verifier::ProofError) -> Self {
        LedgerError::Proof(e)
    }
}

/// The error and its causes on one line, for messages that leave the process (an agent's
/// error reply, a log line).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Runs a read of the ledger, turning a panic inside it into [`LedgerError::Corrupt`].
///
/// redb panics on some corrupt pages instead of returning an error; a reader of a damaged (or
/// hostile) ledger file must get a clear error and exit code, not a crash. The panic message
/// is kept as the reason and not printed by the panic hook (see [`quiet_guarded_panics`]).
/// Only for reads: a panic while writing leaves nothing half done that this could hide,
/// but the writer has its own failure path and must not be silenced.
pub fn read_guarded<T, E: From<LedgerError>>(f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    quiet_guarded_panics();
    GUARDED.with(|g| g.set(g.get() + 1));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(g.get() - 1));
    outcome.unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "the storage engine failed on it".into());
        Err(LedgerError::Corrupt(format!("reading it failed: {reason}")).into())
    })
}

thread_local! {
    /// How many [`read_guarded`] calls this thread is inside.
    static GUARDED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Installs (once) a panic hook that stays silent for panics [`read_guarded`] turns into
/// errors and hands every other panic to the previous hook.
fn quiet_guarded_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.with(|g| g.get()) == 0 {
                previous(info);
            }
        }));
    });
}

/// A stored checkpoint note as text; a note that is not UTF-8 was damaged after signing.
pub fn note_text(size: u64, bytes: &[u8]) -> Result<String, LedgerError> {
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        LedgerError::Corrupt(format!(
            "the checkpoint for size {size} is not UTF-8 text ({e})"
        ))
    })
}

pub(crate) fn storage<E: Into<redb::Error>>(e: E) -> LedgerError {
    LedgerError::Storage(e.into())
}

/// Opens (creating if absent) the ledger file, taking its exclusive lock.
pub fn open_database(path: &Path) -> Result<Database, LedgerError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| LedgerError::Io {
            path: dir.to_owned(),
            source,
        })?;
    }
    if !path.exists() {
        create_atomically(path)?;
    }
    match redb::Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create(path)
    {
        Ok(db) => Ok(db),
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => Err(LedgerError::Locked {
            path: path.to_owned(),
        }),
        Err(e) => Err(storage(e)),
    }
}

/// Creates an empty ledger under a temporary name and links it into place, so a process killed
/// mid-creation never leaves a half-written file at `path` (redb would refuse it for good).
/// Linking fails if another process created `path` meanwhile; then theirs is used.
fn create_atomically(path: &Path) -> Result<(), LedgerError> {
    let io = |source| LedgerError::Io {
        path: path.to_owned(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".creating-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    {
        let db = Database::create(&tmp).map_err(storage)?;
        init_tables(&db, &tmp)?;
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io(e)),
    }
}

/// Opens an existing ledger for reading without writing to it: works on a read-only file (an
/// auditor's copy) and never creates one. Fails with [`LedgerError::Locked`] while a proxy has
/// the ledger open (redb's lock is exclusive), and with [`LedgerError::Format`] if the file is
/// not a ledger of this format.
///
/// A ledger whose last writer did not shut down cleanly (killed proxy, power loss) needs
/// redb's repair before it can be read; the repair needs write access, so this then opens the
/// file read-write, which repairs it. Nothing else is written.
pub fn open_read_only(path: &Path) -> Result<Box<dyn ReadableDatabase>, LedgerError> {
    let locked = || LedgerError::Locked {
        path: path.to_owned(),
    };
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() == 0 => {
            // What a proxy killed while creating the file leaves; `start` initialises it.
            return Err(LedgerError::Format {
                path: path.to_owned(),
                found: "an empty file".into(),
            });
        }
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            return Err(LedgerError::Io {
                path: path.to_owned(),
                source: std::io::Error::other("not a file"),
            })
        }
        Err(source) => {
            let source = if source.kind() == std::io::ErrorKind::NotFound {
                std::io::Error::new(std::io::ErrorKind::NotFound, "no ledger at this path")
            } else {
                source
            };
            return Err(LedgerError::Io {
                path: path.to_owned(),
                source,
            });
        }
    }
    // The same bounded page cache as the writer's: a 1M-entry export otherwise keeps most of
    // the file in redb's default 1 GiB cache (600 MB RSS measured).
    let mut builder = redb::Builder::new();
    builder.set_cache_size(CACHE_BYTES);
    let db: Box<dyn ReadableDatabase> = match builder.open_read_only(path) {
        Ok(db) => Box::new(db),
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => return Err(locked()),
        Err(redb::DatabaseError::RepairAborted) => {
            tracing::info!(path = %path.display(), "ledger was not closed cleanly; repairing it before reading");
            match builder.open(path) {
                Ok(db) => Box::new(db),
                Err(redb::DatabaseError::DatabaseAlreadyOpen) => return Err(locked()),
                Err(e) => return Err(storage(e)),
            }
        }
        Err(e) => return Err(storage(e)),
    };
    check_format(&Snapshot::begin(db.as_ref())?, path)?;
    Ok(db)
}

/// Checks the `format` meta value of an existing ledger.
pub fn check_format(snap: &Snapshot, path: &Path) -> Result<(), LedgerError> {
    let wrong = |found: String| LedgerError::Format {
        path: path.to_owned(),
        found,
    };
    let table = match snap.txn.open_table(META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Err(wrong("no meta table".into())),
        Err(e) => return Err(storage(e)),
    };
    match table.get(meta::FORMAT).map_err(storage)? {
        Some(v) if v.value() == FORMAT => match snap.txn.open_table(CHECKPOINTS) {
            Ok(_) | Err(redb::TableError::TableDoesNotExist(_)) => Ok(()),
            Err(e) => Err(checkpoints_table(e, path)),
        },
        Some(v) => Err(wrong(String::from_utf8_lossy(v.value()).into_owned())),
        None => Err(wrong("none".into())),
    }
}

/// Development builds stored checkpoint notes as `&str` (see [`CHECKPOINTS`]): such a file is
/// not this format, and saying so beats redb's table-type message.
fn checkpoints_table(e: redb::TableError, path: &Path) -> LedgerError {
    match e {
        redb::TableError::TableTypeMismatch { .. } => LedgerError::Format {
            path: path.to_owned(),
            found: "a development format with text checkpoints; start a new ledger".into(),
        },
        e => storage(e),
    }
}

/// Creates the tables on a new file and checks the format of an existing one.
pub(crate) fn init_tables(db: &Database, path: &Path) -> Result<(), LedgerError> {
    let txn = db.begin_write().map_err(storage)?;
    {
        txn.open_table(ENTRIES).map_err(storage)?;
        txn.open_table(PAYLOADS).map_err(storage)?;
        txn.open_table(HASHES).map_err(storage)?;
        txn.open_table(CHECKPOINTS)
            .map_err(|e| checkpoints_table(e, path))?;
        txn.open_table(VEX_OUTBOX).map_err(storage)?;
        let mut meta = txn.open_table(META).map_err(storage)?;
        let format = meta
            .get(meta::FORMAT)
            .map_err(storage)?
            .map(|v| v.value().to_vec());
        match format {
            None => {
                meta.insert(meta::FORMAT, FORMAT).map_err(storage)?;
            }
            Some(found) if found == FORMAT => {}
            Some(found) => {
                return Err(LedgerError::Format {
                    path: path.to_owned(),
                    found: String::from_utf8_lossy(&found).into_owned(),
                })
            }
        }
    }
    txn.commit().map_err(storage)?;
    Ok(())
}

/// A consistent read-only view of the ledger at one moment.
pub struct Snapshot {
    txn: redb::ReadTransaction,
}

impl Snapshot {
    pub fn new(db: &Database) -> Result<Self, LedgerError> {
        Ok(Self {
            txn: db.begin_read().map_err(storage)?,
        })
    }

    /// A snapshot of any redb database, including one from [`open_read_only`].
    pub fn begin<D: ReadableDatabase + ?Sized>(db: &D) -> Result<Self, LedgerError> {
        Ok(Self {
            txn: db.begin_read().map_err(storage)?,
        })
    }

    /// The underlying read transaction, for tables other modules own (the VEX outbox).
    pub(crate) fn txn(&self) -> &redb::ReadTransaction {
        &self.txn
    }

    /// The root hash of the whole tree (RFC 6962 `MTH` over every entry; the empty root for
    /// an empty ledger), from the stored hashes.
    pub fn root(&self) -> Result<Hash, LedgerError> {
        let size = self.size()?;
        let hashes = self.hash_table()?;
        Ok(vanguard_verifier::tree_hash(size, &TableHashes(&hashes))?)
    }

    /// The first seq whose entry `time` is at or after `time` (RFC 3339 UTC with nine
    /// fractional digits, the entry format, which orders as text), or the size if there is none.
    /// Entry times never decrease (the writer enforces it, `check` verifies it), so this is a
    /// binary search: O(log n) entry reads.
    pub fn first_seq_at_or_after(&self, time: &str) -> Result<u64, LedgerError> {
        let t = self.txn.open_table(ENTRIES).map_err(storage)?;
        let (mut lo, mut hi) = (0u64, t.len().map_err(storage)?);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let bytes = t
                .get(mid)
                .map_err(storage)?
                .ok_or_else(|| LedgerError::Inconsistent(format!("entry {mid} missing")))?;
            let entry = vanguard_verifier::Entry::parse_canonical(bytes.value())
                .map_err(|e| LedgerError::Inconsistent(format!("entry {mid}: {e}")))?;
            if entry.time.as_str() < time {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Number of entries.
    pub fn size(&self) -> Result<u64, LedgerError> {
        let t = self.txn.open_table(ENTRIES).map_err(storage)?;
        t.len().map_err(storage)
    }

    pub fn entry(&self, seq: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        let t = self.txn.open_table(ENTRIES).map_err(storage)?;
        Ok(t.get(seq).map_err(storage)?.map(|v| v.value().to_vec()))
    }

    pub fn payload(&self, seq: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        let t = self.txn.open_table(PAYLOADS).map_err(storage)?;
        Ok(t.get(seq).map_err(storage)?.map(|v| v.value().to_vec()))
    }

    /// Entries `[from, to)` in order, streamed to `f`; stops early if `f` returns false.
    pub fn for_each_entry(
        &self,
        from: u64,
        to: u64,
        mut f: impl FnMut(u64, &[u8]) -> Result<bool, LedgerError>,
    ) -> Result<(), LedgerError> {
        let t = self.txn.open_table(ENTRIES).map_err(storage)?;
        for item in t.range(from..to).map_err(storage)? {
            let (k, v) = item.map_err(storage)?;
            if !f(k.value(), v.value())? {
                break;
            }
        }
        Ok(())
    }

    /// Every kept payload, by seq, with its entry (`None` if there is no entry at that seq),
    /// streamed to `f` as `f(seq, entry, payload)`; stops early if `f` returns false.
    pub fn for_each_payload(
        &self,
        mut f: impl FnMut(u64, Option<&[u8]>, &[u8]) -> Result<bool, LedgerError>,
    ) -> Result<(), LedgerError> {
        let payloads = self.txn.open_table(PAYLOADS).map_err(storage)?;
        let entries = self.txn.open_table(ENTRIES).map_err(storage)?;
        for item in payloads.range(0..).map_err(storage)? {
            let (k, v) = item.map_err(storage)?;
            let entry = entries.get(k.value()).map_err(storage)?;
            if !f(k.value(), entry.as_ref().map(|e| e.value()), v.value())? {
                break;
            }
        }
        Ok(())
    }

    /// The latest signed checkpoint: (tree size, note text).
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, LedgerError> {
        let t = self.txn.open_table(CHECKPOINTS).map_err(storage)?;
        let last = t.last().map_err(storage)?;
        match last {
            Some((k, v)) => Ok(Some((k.value(), note_text(k.value(), v.value())?))),
            None => Ok(None),
        }
    }

    /// The signed checkpoint for exactly `size` entries, if one was signed.
    pub fn checkpoint(&self, size: u64) -> Result<Option<String>, LedgerError> {
        let t = self.txn.open_table(CHECKPOINTS).map_err(storage)?;
        match t.get(size).map_err(storage)? {
            Some(v) => Ok(Some(note_text(size, v.value())?)),
            None => Ok(None),
        }
    }

    /// The first signed checkpoint covering at least `size` entries.
    pub fn checkpoint_at_least(&self, size: u64) -> Result<Option<(u64, String)>, LedgerError> {
        let t = self.txn.open_table(CHECKPOINTS).map_err(storage)?;
        let first = t.range(size..).map_err(storage)?.next();
        match first {
            Some(item) => {
                let (k, v) = item.map_err(storage)?;
                Ok(Some((k.value(), note_text(k.value(), v.value())?)))
            }
            None => Ok(None),
        }
    }

    /// Every signed checkpoint, by tree size, streamed to `f` as stored (bytes, so a damaged
    /// note reaches the signature check rather than failing the read); stops early if `f`
    /// returns false.
    pub fn for_each_checkpoint(
        &self,
        mut f: impl FnMut(u64, &[u8]) -> Result<bool, LedgerError>,
    ) -> Result<(), LedgerError> {
        let t = self.txn.open_table(CHECKPOINTS).map_err(storage)?;
        for item in t.range(0..).map_err(storage)? {
            let (k, v) = item.map_err(storage)?;
            if !f(k.value(), v.value())? {
                break;
            }
        }
        Ok(())
    }

    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        let t = self.txn.open_table(META).map_err(storage)?;
        Ok(t.get(key).map_err(storage)?.map(|v| v.value().to_vec()))
    }

    pub fn meta_string(&self, key: &str) -> Result<Option<String>, LedgerError> {
        Ok(self
            .meta(key)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Number of stored hashes.
    pub fn hash_count(&self) -> Result<u64, LedgerError> {
        let t = self.txn.open_table(HASHES).map_err(storage)?;
        t.len().map_err(storage)
    }

    /// Number of payloads kept.
    pub fn payload_count(&self) -> Result<u64, LedgerError> {
        let t = self.txn.open_table(PAYLOADS).map_err(storage)?;
        t.len().map_err(storage)
    }

    /// The stored hashes; wrap in [`TableHashes`] for proofs.
    pub fn hash_table(&self) -> Result<redb::ReadOnlyTable<u64, [u8; 32]>, LedgerError> {
        self.txn.open_table(HASHES).map_err(storage)
    }
}

/// Stored hashes in a redb table, as the verifier's [`HashReader`].
pub struct TableHashes<'a, T>(pub &'a T);

/// A stored hash the tree arithmetic asked for is not in the table.
#[derive(Debug, thiserror::Error)]
pub enum HashReadError {
    #[error("stored hash {0} is missing")]
    Missing(u64),
    #[error(transparent)]
    Storage(#[from] redb::StorageError),
}

impl<T: ReadableTable<u64, [u8; 32]>> HashReader for TableHashes<'_, T> {
    type Error = HashReadError;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, HashReadError> {
        indexes
            .iter()
            .map(|&i| match self.0.get(i)? {
                Some(v) => Ok(Hash(v.value())),
                None => Err(HashReadError::Missing(i)),
            })
            .collect()
    }
}

/// Sets one meta value in its own (durable) transaction.
pub(crate) fn set_meta(db: &Database, key: &str, value: &[u8]) -> Result<(), LedgerError> {
    let txn = db.begin_write().map_err(storage)?;
    {
        let mut meta = txn.open_table(META).map_err(storage)?;
        meta.insert(key, value).map_err(storage)?;
    }
    txn.commit().map_err(storage)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic inside a guarded read (what redb does on some corrupt pages) comes back as a
    /// `Corrupt` error carrying the panic's message; the guard is reusable afterwards.
    #[test]
    fn a_panic_in_a_guarded_read_is_a_corrupt_ledger_error() {
        let failed: Result<(), LedgerError> = read_guarded(|| panic!("invalid page 42"));
        match failed {
            Err(LedgerError::Corrupt(reason)) => assert!(reason.contains("invalid page 42")),
            other => panic!("expected a corrupt-ledger error, got {other:?}"),
        }
        let fine: Result<u32, LedgerError> = read_guarded(|| Ok(7));
        assert_eq!(fine.ok(), Some(7));
        let message = LedgerError::Corrupt("x".into()).to_string();
        assert!(message.starts_with("ledger file is corrupt"), "{message}");
    }

    #[test]
    fn a_checkpoint_that_is_not_utf8_is_corrupt() {
        assert_eq!(
            note_text(3, b"origin\n3\n").ok().as_deref(),
            Some("origin\n3\n")
        );
        let e = note_text(3, b"origin\xff\n3\n").expect_err("not UTF-8");
        assert!(e.to_string().contains("checkpoint for size 3"), "{e}");
    }
}
