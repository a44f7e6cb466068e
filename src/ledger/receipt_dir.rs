//! Receipts written as blocks happen (`vanguard start --receipts-dir DIR`).
//!
//! A background thread follows the ledger through its own read transactions (the database is
//! shared in-process, redb readers never block the writer) and, for every entry whose verdict
//! is `block`, writes `DIR/<seq>.receipt.json`: the same `vanguard-receipt/v1` as
//! `vanguard ledger proof SEQ`. It only sees committed transactions, and every commit signs a
//! checkpoint over the whole log, so a receipt is written once the entry and a checkpoint
//! covering it are both committed (durable with `--durability fsync`). The proxy never waits
//! for it; a receipt that cannot be written is logged with the reason and skipped.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use redb::Database;
use vanguard_verifier::{Action, Entry};

use super::export::{self, ExportError};
use super::store::{error_chain, LedgerError, Snapshot};

/// How often the thread looks for newly committed entries. A receipt is a record for later,
/// not an alert: a fraction of a second of delay costs nothing, and each look is one cheap
/// read transaction.
const POLL: Duration = Duration::from_millis(100);

/// The canonical text a blocking verdict contains (keys sorted, no spaces). Entries without it
/// cannot be blocks, so only the few that have it are parsed. Inside a JSON string the quotes
/// would be escaped, so wire text cannot fake it; event objects can, hence the parse.
const BLOCK_MARK: &[u8] = br#""action":"block""#;

/// The running receipt writer. Dropping it writes the receipts for everything committed so far
/// and stops the thread.
pub struct ReceiptDir {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ReceiptDir {
    /// Creates `dir` if missing and starts writing receipts for blocks committed from now on
    /// (entries already in the ledger are left to `vanguard ledger proof`).
    pub fn start(db: Arc<Database>, dir: PathBuf, with_payload: bool) -> Result<Self, LedgerError> {
        std::fs::create_dir_all(&dir).map_err(|source| LedgerError::Io {
            path: dir.clone(),
            source,
        })?;
        let next = Snapshot::new(&db)?.size()?;
        let (stop, stopped) = mpsc::channel::<()>();
        let mut follower = Follower {
            db,
            dir,
            with_payload,
            next,
        };
        let thread = std::thread::Builder::new()
            .name("ledger-receipts".into())
            .spawn(move || loop {
                let last = matches!(
                    stopped.recv_timeout(POLL),
                    Ok(()) | Err(RecvTimeoutError::Disconnected)
                );
                follower.sweep();
                if last {
                    break;
                }
            })
            .map_err(|source| LedgerError::Io {
                path: "ledger-receipts thread".into(),
                source,
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for ReceiptDir {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Follower {
    db: Arc<Database>,
    dir: PathBuf,
    with_payload: bool,
    /// The first seq not looked at yet.
    next: u64,
}

impl Follower {
    /// Writes the receipts for blocks committed since the last sweep.
    fn sweep(&mut self) {
        // A panic in redb (a damaged file) must not end the thread silently.
        if let Err(e) = super::store::read_guarded(|| self.try_sweep()) {
            // The entries stay unread: the next sweep tries them again.
            tracing::error!(dir = %self.dir.display(), error = %error_chain(&e), "could not read the ledger for receipts");
        }
    }

    fn try_sweep(&mut self) -> Result<(), LedgerError> {
        let snap = Snapshot::new(&self.db)?;
        let Some((signed, _)) = snap.latest_checkpoint()? else {
            return Ok(());
        };
        if signed <= self.next {
            return Ok(());
        }
        let mut blocked = Vec::new();
        snap.for_each_entry(self.next, signed, |seq, bytes| {
            if is_block(bytes) {
                blocked.push(seq);
            }
            Ok(true)
        })?;
        self.next = signed;
        for seq in blocked {
            let path = self.dir.join(format!("{seq}.receipt.json"));
            match write_receipt(&snap, seq, self.with_payload, &path) {
                Ok(()) => tracing::info!(seq, path = %path.display(), "receipt written"),
                Err(reason) => {
                    tracing::error!(seq, path = %path.display(), %reason, "could not write the receipt for a blocked call")
                }
            }
        }
        Ok(())
    }
}

/// Whether a stored entry records a blocked message.
fn is_block(bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, BLOCK_MARK).is_some()
        && Entry::parse_canonical(bytes)
            .is_ok_and(|e| e.verdict.is_some_and(|v| v.action == Action::Block))
}

/// Writes the receipt under a temporary name and renames it into place, so a reader of the
/// directory never sees half a receipt.
fn write_receipt(snap: &Snapshot, seq: u64, with_payload: bool, path: &Path) -> Result<(), String> {
    let receipt =
        export::receipt(snap, seq, with_payload).map_err(|e: ExportError| e.to_string())?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let written =
        std::fs::write(&tmp, receipt.to_json()).and_then(|()| std::fs::rename(&tmp, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        e.to_string()
    })
}
