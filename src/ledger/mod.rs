//! The flight recorder: an append-only, hash-chained, Merkle-batched ledger with signed
//! checkpoints, in one redb file.
//!
//! - [`store`]: the tables and reads;
//! - [`writer`]: the one writer thread and its group commit;
//! - [`record`]: proxy decisions as entries;
//! - [`keys`]: the signing key;
//! - [`check`]: full recomputation of chain and tree (`vanguard ledger check`);
//! - [`redact`]: removing a kept payload, recorded as an event (`vanguard ledger redact`).
//! - [`receipt_dir`]: a receipt per blocked call, written as it happens (`start --receipts-dir`);
//! - [`export`]: receipts, slices and consistency proofs for auditors (`vanguard ledger proof`,
//!   `export`, `consistency`).
//!
//! Formats (entries, checkpoints) come from the `vanguard-verifier` crate, so the ledger writes
//! exactly what auditors check.

pub mod check;
pub mod export;
pub mod keys;
pub mod receipt_dir;
pub mod record;
pub mod redact;
pub mod store;
pub mod writer;

pub use record::{Identity, PayloadPolicy, SessionRecorder, VexEnqueue};
pub use store::{LedgerError, Snapshot};
pub use writer::{Committed, Durability, Record, Recorder};

use redb::Database;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vanguard_verifier::VerifierKey;

/// How to open a ledger for writing.
#[derive(Clone, Debug)]
pub struct LedgerOptions {
    pub path: PathBuf,
    /// The signing key file; default: the ledger path with `.key` appended.
    pub key_path: Option<PathBuf>,
    pub durability: Durability,
    /// Allow a new key for a ledger that already has one (`vanguard keys rotate`). Otherwise a
    /// missing key file is an error rather than a silent rotation (a mistyped `--key`).
    pub new_key: bool,
}

/// The key file used when none is given.
pub fn default_key_path(ledger: &Path) -> PathBuf {
    let mut p = ledger.as_os_str().to_owned();
    p.push(".key");
    PathBuf::from(p)
}

/// An open ledger with its running writer.
pub struct Ledger {
    db: Arc<Database>,
    recorder: Recorder,
    writer: std::thread::JoinHandle<()>,
    origin: String,
    vkey: VerifierKey,
    path: PathBuf,
}

impl Ledger {
    /// Opens (or creates) the ledger, loads (or creates) its key and starts the writer.
    /// Fails with [`LedgerError::Locked`] if another process has it open.
    pub fn open(options: &LedgerOptions) -> Result<Self, LedgerError> {
        let db = store::open_database(&options.path)?;
        store::init_tables(&db, &options.path)?;
        let origin = ensure_origin(&db)?;
        let key_path = options
            .key_path
            .clone()
            .unwrap_or_else(|| default_key_path(&options.path));
        let previous_vkey = Snapshot::new(&db)?.meta_string(store::meta::VKEY)?;
        if let (Some(previous), false) = (&previous_vkey, options.new_key || key_path.exists()) {
            return Err(LedgerError::Key {
                path: key_path,
                reason: format!(
                    "no such key file, but this ledger is signed by {previous}; give its key with \
                     --key, or start a new one with `vanguard keys rotate`"
                ),
            });
        }
        let key = keys::LedgerKey::load_or_create(&key_path, &origin)?;
        let vkey = key.verifier_key();
        let db = Arc::new(db);
        let (recorder, writer) = writer::start(db.clone(), key, options.durability)?;
        let ledger = Self {
            db,
            recorder,
            writer,
            origin,
            vkey,
            path: options.path.clone(),
        };
        let current = ledger.vkey.to_string();
        if let Some(previous) = previous_vkey.as_ref().filter(|p| **p != current) {
            // A new key signs from here on; the change itself is in the log, signed by it.
            let identity = Identity::new(String::new());
            let event = serde_json::json!({
                "type": "key_rotation",
                "previous_vkey": previous,
                "vkey": current,
            });
            ledger.append_event(&identity, event)?;
        }
        // Only once the rotation is recorded: a crash before this line makes the next open
        // record it (again), never skip it.
        if previous_vkey.as_deref() != Some(current.as_str()) {
            store::set_meta(&ledger.db, store::meta::VKEY, current.as_bytes())?;
        }
        Ok(ledger)
    }

    pub fn recorder(&self) -> Recorder {
        self.recorder.clone()
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn verifier_key(&self) -> &VerifierKey {
        &self.vkey
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn database(&self) -> &Arc<Database> {
        &self.db
    }

    /// Records an event entry and waits until it is durable.
    pub fn append_event(
        &self,
        identity: &Identity,
        event: serde_json::Value,
    ) -> Result<Committed, LedgerError> {
        self.recorder
            .append_blocking(SessionRecorder::event_record(identity, event))
            .map_err(|e| LedgerError::Inconsistent(format!("recording event: {e}")))
    }

    /// Stops the writer after everything queued is committed.
    pub fn close(self) {
        let Ledger {
            recorder, writer, ..
        } = self;
        drop(recorder);
        let _ = writer.join();
    }
}

/// The ledger's origin (`vanguard.local/<ledger id>`), created with a random id on first open.
fn ensure_origin(db: &Database) -> Result<String, LedgerError> {
    if let Some(origin) = Snapshot::new(db)?.meta_string(store::meta::ORIGIN)? {
        return Ok(origin);
    }
    let id = record::random_id();
    let origin = format!("vanguard.local/{id}");
    store::set_meta(db, store::meta::LEDGER_ID, id.as_bytes())?;
    store::set_meta(db, store::meta::ORIGIN, origin.as_bytes())?;
    Ok(origin)
}

/// Opens an existing ledger for reading only (the CLI's `ledger` commands). Still takes the
/// file lock, so it fails with [`LedgerError::Locked`] while a proxy writes to it.
pub fn open_for_reading(path: &Path) -> Result<Database, LedgerError> {
    if !path.exists() {
        return Err(LedgerError::Io {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no ledger at this path"),
        });
    }
    let db = store::open_database(path)?;
    store::init_tables(&db, path)?;
    Ok(db)
}
