//! The ledger's redb file: tables, opening (with its exclusive lock), and reads.
//!
//! ```text
//! entries      seq                -> canonical entry bytes (the Merkle leaf data)
//! payloads     seq                -> raw wire bytes (redactable: entries commit to a digest)
//! hashes       stored-hash index  -> 32-byte hash (Go sumdb tlog layout, ~2 per entry)
//! checkpoints  tree size          -> signed checkpoint note (one per group commit)
//! meta         name               -> bytes (ledger id, origin, vkey, durability, format)
//! ```

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::{Path, PathBuf};
use vanguard_verifier::{Hash, HashReader};

pub(crate) const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
pub(crate) const PAYLOADS: TableDefinition<u64, &[u8]> = TableDefinition::new("payloads");
pub(crate) const HASHES: TableDefinition<u64, [u8; 32]> = TableDefinition::new("hashes");
pub(crate) const CHECKPOINTS: TableDefinition<u64, &str> = TableDefinition::new("checkpoints");
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Meta keys.
pub(crate) mod meta {
    pub const FORMAT: &str = "format";
    pub const LEDGER_ID: &str = "ledger_id";
    pub const ORIGIN: &str = "origin";
    pub const VKEY: &str = "vkey";
    pub const DURABILITY: &str = "durability";
}

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
    Storage(#[from] redb::Error),
    /// The ledger's own data is inconsistent (a missing hash or entry it should have).
    #[error("ledger is inconsistent: {0}")]
    Inconsistent(String),
    /// Tree arithmetic failed; carries the verifier's evidence.
    #[error("ledger tree: {0}")]
    Proof(#[from] vanguard_verifier::ProofError),
    /// The signing key could not be read, created or used.
    #[error("signing key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    /// The ledger writer stopped, so nothing more can be recorded.
    #[error("the ledger writer has stopped")]
    WriterGone,
    /// A filesystem operation around the ledger failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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
    match Database::create(path) {
        Ok(db) => Ok(db),
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => Err(LedgerError::Locked {
            path: path.to_owned(),
        }),
        Err(e) => Err(storage(e)),
    }
}

/// Creates the tables on a new file and checks the format of an existing one.
pub(crate) fn init_tables(db: &Database, path: &Path) -> Result<(), LedgerError> {
    let txn = db.begin_write().map_err(storage)?;
    {
        txn.open_table(ENTRIES).map_err(storage)?;
        txn.open_table(PAYLOADS).map_err(storage)?;
        txn.open_table(HASHES).map_err(storage)?;
        txn.open_table(CHECKPOINTS).map_err(storage)?;
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

    /// The latest signed checkpoint: (tree size, note text).
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, LedgerError> {
        let t = self.txn.open_table(CHECKPOINTS).map_err(storage)?;
        let last = t.last().map_err(storage)?;
        Ok(last.map(|(k, v)| (k.value(), v.value().to_owned())))
    }

    /// The signed checkpoint for exactly `size` entries, if one was signed.
    pub fn checkpoint(&self, size: u64) -> Result<Option<String>, LedgerError> {
        let t = self.txn.open_table(CHECKPOINTS).map_err(storage)?;
        Ok(t.get(size).map_err(storage)?.map(|v| v.value().to_owned()))
    }

    /// The first signed checkpoint covering at least `size` entries.
    pub fn checkpoint_at_least(&self, size: u64) -> Result<Option<(u64, String)>, LedgerError> {
        let t = self.txn.open_table(CHECKPOINTS).map_err(storage)?;
        let first = t.range(size..).map_err(storage)?.next();
        match first {
            Some(item) => {
                let (k, v) = item.map_err(storage)?;
                Ok(Some((k.value(), v.value().to_owned())))
            }
            None => Ok(None),
        }
    }

    /// Every signed checkpoint, by tree size, streamed to `f`; stops early if `f` returns false.
    pub fn for_each_checkpoint(
        &self,
        mut f: impl FnMut(u64, &str) -> Result<bool, LedgerError>,
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
