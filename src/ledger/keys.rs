//! The ledger's Ed25519 signing key: created on first use (file mode 0600), loaded after.
//!
//! The key file holds the C2SP signer key text (`PRIVATE+KEY+<name>+<id>+<base64>`); its name is
//! the ledger's origin, so the checkpoint origin line and the signature name agree.

use crate::ledger::store::LedgerError;
use std::io::Write;
use std::path::{Path, PathBuf};
use vanguard_verifier::{Checkpoint, Hash, KeyName, Origin, SignerKey, VerifierKey};

/// The signing key and the origin it signs checkpoints for.
pub struct LedgerKey {
    signer: SignerKey,
    origin: Origin,
    path: PathBuf,
}

impl LedgerKey {
    /// Loads the key at `path`, or creates one named `origin` if the file does not exist.
    /// An existing key must carry `origin` as its name: signing one ledger's checkpoints with
    /// another ledger's key would make them unverifiable under the right name.
    pub fn load_or_create(path: &Path, origin: &str) -> Result<Self, LedgerError> {
        let fail = |reason: String| LedgerError::Key {
            path: path.to_owned(),
            reason,
        };
        let signer = match std::fs::read_to_string(path) {
            Ok(text) => SignerKey::parse(text.trim_end()).map_err(|e| fail(e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path, origin)?,
            Err(e) => return Err(fail(e.to_string())),
        };
        if signer.name().as_str() != origin {
            return Err(fail(format!(
                "key is named {:?} but this ledger's origin is {origin:?}",
                signer.name().as_str()
            )));
        }
        let origin = Origin::new(origin).map_err(|e| fail(e.to_string()))?;
        Ok(Self {
            signer,
            origin,
            path: path.to_owned(),
        })
    }

    pub fn verifier_key(&self) -> VerifierKey {
        self.signer.verifier_key()
    }

    pub fn origin(&self) -> &str {
        self.signer.name().as_str()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Signs the C2SP checkpoint for a tree of `size` entries with root `root`.
    pub fn sign_checkpoint(&self, size: u64, root: &Hash) -> Result<String, LedgerError> {
        Checkpoint::new(self.origin.clone(), size, *root)
            .sign(&self.signer)
            .map_err(|e| LedgerError::Key {
                path: self.path.clone(),
                reason: e.to_string(),
            })
    }
}

fn create(path: &Path, origin: &str) -> Result<SignerKey, LedgerError> {
    let fail = |reason: String| LedgerError::Key {
        path: path.to_owned(),
        reason,
    };
    let name = KeyName::new(origin).map_err(|e| fail(e.to_string()))?;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| fail(format!("no randomness: {e}")))?;
    let signer = SignerKey::from_seed(name, seed);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    }
    // Written under a temporary name, synced, then linked into place: a crash never leaves a
    // partial key at `path`, and linking (unlike renaming) never overwrites a key that
    // appeared since we looked.
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".creating-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(format!("{}\n", signer.to_private_text()).as_bytes())?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(|e| fail(e.to_string()))?;
    tracing::info!(path = %path.display(), vkey = %signer.verifier_key(), "created ledger signing key");
    Ok(signer)
}
