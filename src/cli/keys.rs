//! `vanguard keys ...`: the ledger's signing key, as auditors need it (the vkey) and as
//! operators change it (rotation).

use super::ledger::Target;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vanguard::ledger::store::{meta, Snapshot};
use vanguard::ledger::{default_key_path, Durability, Ledger, LedgerOptions};
use vanguard_verifier::{Entry, SignerKey, VerifierKey};

/// Show or rotate the ledger's signing key.
#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    Show(ShowArgs),
    Rotate(RotateArgs),
}

pub fn run(cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCommand::Show(args) => show(args),
        KeysCommand::Rotate(args) => rotate(args),
    }
}

/// The verifier key of the signing key file at `path` (never creates one).
pub fn key_file_vkey(path: &Path) -> anyhow::Result<VerifierKey> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "no signing key at {} (give the --key that `vanguard start` used)",
            path.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let signer = SignerKey::parse(text.trim_end())
        .with_context(|| format!("{} is not a signing key", path.display()))?;
    Ok(signer.verifier_key())
}

/// Print the verifier key (vkey) that checks the ledger's checkpoints.
///
/// The vkey is the C2SP signed-note verifier key text: `<origin>+<key id>+<base64 public key>`.
/// Give it to auditors through a channel you trust (not inside the files they check):
/// `vanguard ledger check --vkey` and `vanguard-verify --key` take it.
///
/// From --key (the signing key file), or from the ledger (the vkey it records; --key wins if
/// both are given). --json adds the origin and the key id.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    vanguard keys show --ledger l.redb\n  \
    vanguard keys show --key l.redb.key --json")]
pub struct ShowArgs {
    #[command(flatten)]
    target: Target,
    /// Read the vkey from this signing key file instead of the ledger.
    #[arg(long, value_name = "PATH")]
    key: Option<PathBuf>,
    /// One JSON object: vkey, origin, key_id, source.
    #[arg(long)]
    json: bool,
}

fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let (vkey, source) = match &args.key {
        Some(path) => (key_file_vkey(path)?, path.display().to_string()),
        None => {
            let path = args.target.path()?;
            let db = super::ledger::open_read(&path)?;
            let snap = Snapshot::begin(db.as_ref())?;
            let text = snap
                .meta_string(meta::VKEY)?
                .with_context(|| format!("ledger {} records no vkey", path.display()))?;
            let vkey = VerifierKey::parse(&text)
                .with_context(|| format!("the vkey recorded in {}", path.display()))?;
            (vkey, path.display().to_string())
        }
    };
    if args.json {
        let v = json!({
            "vkey": vkey.to_string(),
            "origin": vkey.name().as_str(),
            "key_id": vkey.id().to_string(),
            "source": source,
        });
        println!("{v}");
    } else {
        println!("{vkey}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Replace the ledger's signing key with a new one, recording the change in the ledger.
///
/// The current key file is moved aside to `<key>.retired-<UTC time>` (kept: it still verifies
/// the older checkpoints, and nothing is overwritten), a new key is created in its place
/// (mode 0600), and a `key_rotation` event naming the previous and the new vkey is recorded,
/// signed by the new key. Give auditors the new vkey; they keep the old one for the
/// checkpoints before the rotation (`vanguard ledger check --vkey OLD --vkey NEW`).
///
/// Needs the ledger to itself: it fails while a proxy records into it.
#[derive(Args, Debug)]
#[command(after_help = "Example:\n  vanguard keys rotate --ledger l.redb")]
pub struct RotateArgs {
    #[command(flatten)]
    target: Target,
    /// The signing key file to retire and replace. Default: the ledger path with `.key`
    /// appended.
    #[arg(long, value_name = "PATH", env = "VANGUARD_KEY")]
    key: Option<PathBuf>,
}

fn rotate(args: RotateArgs) -> anyhow::Result<ExitCode> {
    let path = args.target.path()?;
    let key_path = args.key.clone().unwrap_or_else(|| default_key_path(&path));
    let previous = {
        // Read-only first: fails if a proxy has the ledger, and before anything is moved.
        let db = super::ledger::open_read(&path)?;
        let snap = Snapshot::begin(db.as_ref())?;
        snap.meta_string(meta::VKEY)?
    };
    let old = key_file_vkey(&key_path)?;
    let retired = retire(&key_path)?;
    let ledger = Ledger::open(&LedgerOptions {
        path: path.clone(),
        key_path: Some(key_path.clone()),
        durability: Durability::Fsync,
        new_key: true,
    })
    .map_err(|e| {
        anyhow::anyhow!(
            "opening ledger {} with a new key: {} (the old key is at {}; move it back to undo)",
            path.display(),
            vanguard::ledger::store::error_chain(&e),
            retired.display()
        )
    })?;
    let new = ledger.verifier_key().to_string();
    let recorded = {
        let snap = Snapshot::new(ledger.database())?;
        let size = snap.size()?;
        match size
            .checked_sub(1)
            .map(|s| snap.entry(s))
            .transpose()?
            .flatten()
        {
            Some(bytes) => Entry::parse_canonical(&bytes)
                .ok()
                .filter(|e| {
                    e.event.as_ref().and_then(|ev| ev.get("type")) == Some(&json!("key_rotation"))
                })
                .map(|e| e.seq),
            None => None,
        }
    };
    ledger.close();
    println!("retired key: {} ({old})", retired.display());
    println!("new key:     {} ({new})", key_path.display());
    match recorded {
        Some(seq) => println!("recorded as entry {seq} (key_rotation)"),
        None if previous.as_deref() == Some(new.as_str()) => {}
        None => println!("warning: no key_rotation entry was found at the end of the ledger"),
    }
    if previous.as_deref().is_some_and(|p| p != old.to_string()) {
        println!(
            "note: the retired key was not the one the ledger recorded ({})",
            previous.as_deref().unwrap_or_default()
        );
    }
    println!("give auditors the new vkey:\n{new}");
    Ok(ExitCode::SUCCESS)
}

/// Moves `key` to `<key>.retired-<YYYYMMDDTHHMMSSZ>` without overwriting anything: a hard link
/// to the new name (which fails if it exists), then removal of the old name.
fn retire(key: &Path) -> anyhow::Result<PathBuf> {
    let stamp: String = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    for n in 0..100u32 {
        let mut name = key.as_os_str().to_owned();
        name.push(format!(".retired-{stamp}"));
        if n > 0 {
            name.push(format!("-{n}"));
        }
        let target = PathBuf::from(name);
        match std::fs::hard_link(key, &target) {
            Ok(()) => {
                std::fs::remove_file(key)
                    .with_context(|| format!("removing {} after retiring it", key.display()))?;
                return Ok(target);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("retiring {} to {}", key.display(), target.display()))
            }
        }
    }
    bail!("could not find a free name to retire {} to", key.display())
}
