//! `vanguard anchor ...`: commit signed checkpoints to Bitcoin through a Bitcoin Core node,
//! collect the proofs once mined, and list them. Each step is a ledger event; receipts and
//! slices then carry the anchor that covers them (`vanguard ledger proof`, `export`).

use super::ledger::{open_read, opening, Target};
use anyhow::{bail, Context};
use clap::{ArgGroup, Args, Subcommand};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use vanguard::anchor::bitcoin::{self as anchor, events, Completion, Node, RpcAuth, RpcClient};
use vanguard::ledger::store::{meta, Snapshot};
use vanguard::ledger::{default_key_path, Durability, Ledger, LedgerOptions};
use vanguard_verifier::AnchorNetwork;

/// Anchor the ledger's signed checkpoints in Bitcoin (OP_RETURN), so anyone can prove the
/// ledger existed in a given state no later than a given block. See docs/anchoring.md.
#[derive(Subcommand, Debug)]
pub enum AnchorCommand {
    Commit(CommitArgs),
    Complete(CompleteArgs),
    Abandon(AbandonArgs),
    Status(StatusArgs),
    Ots(OtsArgs),
}

pub fn run(cmd: AnchorCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AnchorCommand::Commit(args) => commit(args),
        AnchorCommand::Complete(args) => complete(args),
        AnchorCommand::Abandon(args) => abandon(args),
        AnchorCommand::Status(args) => status(args),
        AnchorCommand::Ots(args) => ots(args),
    }
}

/// How to reach the Bitcoin Core node.
#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("auth").required(true).args(["rpc_cookie", "rpc_user"])))]
pub struct NodeArgs {
    /// The node's RPC URL; name the wallet if the node has several
    /// (http://127.0.0.1:8332/wallet/NAME).
    #[arg(long, value_name = "URL", env = "VANGUARD_BITCOIN_RPC_URL")]
    rpc_url: String,
    /// The node's cookie file (`.cookie` in its data directory, e.g. ~/.bitcoin/.cookie or
    /// ~/.bitcoin/regtest/.cookie).
    #[arg(long, value_name = "FILE")]
    rpc_cookie: Option<PathBuf>,
    /// RPC user (-rpcuser or an -rpcauth user), with --rpc-password.
    #[arg(long, value_name = "USER", requires = "rpc_password")]
    rpc_user: Option<String>,
    /// RPC password; prefer the environment variable to the command line.
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "VANGUARD_BITCOIN_RPC_PASSWORD",
        hide_env_values = true
    )]
    rpc_password: Option<String>,
}

impl NodeArgs {
    pub(super) fn node(&self) -> anyhow::Result<Node> {
        let auth = match (&self.rpc_cookie, &self.rpc_user, &self.rpc_password) {
            (Some(cookie), _, _) => RpcAuth::Cookie(cookie.clone()),
            (None, Some(user), Some(password)) => RpcAuth::UserPass {
                user: user.clone(),
                password: password.clone(),
            },
            _ => bail!("give --rpc-cookie FILE, or --rpc-user with --rpc-password"),
        };
        let client = RpcClient::new(&self.rpc_url, auth)?;
        Node::new(client).context("starting the RPC client")
    }

    /// Catches typos before a long-running proxy starts: the URL must parse, and the cookie
    /// must be readable if present. A missing cookie in an existing directory is only a
    /// warning: bitcoind deletes it when it stops, and a node that is down is retried.
    pub(super) fn check(&self) -> anyhow::Result<()> {
        let url = reqwest::Url::parse(&self.rpc_url)
            .with_context(|| format!("--rpc-url {:?} is not a URL", self.rpc_url))?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!(
                "--rpc-url {:?}: Bitcoin Core's RPC is http://HOST:PORT",
                self.rpc_url
            );
        }
        let Some(cookie) = &self.rpc_cookie else {
            return Ok(());
        };
        if cookie.exists() {
            anchor::rpc::read_cookie(cookie).context("--rpc-cookie")?;
            return Ok(());
        }
        let dir = cookie
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if !dir.is_dir() {
            bail!(
                "--rpc-cookie {}: no directory {} (the cookie is `.cookie` in the node's data \
                 directory, e.g. ~/.bitcoin/.cookie)",
                cookie.display(),
                dir.display()
            );
        }
        tracing::warn!(cookie = %cookie.display(), "no RPC cookie yet (is the node running?); anchoring retries at each tick");
        Ok(())
    }
}

/// Opens the ledger for writing after checking `key` is its current signing key (so that
/// `Ledger::open` does not create a new key and record a rotation by accident).
fn open_writable(target: &Target, key: &Option<PathBuf>) -> anyhow::Result<Ledger> {
    let path = target.path()?;
    let key_path = key.clone().unwrap_or_else(|| default_key_path(&path));
    {
        let db = open_read(&path)?;
        let snap = Snapshot::begin(db.as_ref())?;
        let current = snap.meta_string(meta::VKEY)?;
        let found = super::keys::key_file_vkey(&key_path)?;
        if current.as_deref() != Some(&found.to_string()) {
            bail!(
                "{} is not this ledger's current signing key (the ledger's vkey is {}, the \
                 file's is {found}); give the --key that `vanguard start` uses",
                key_path.display(),
                current.as_deref().unwrap_or("unknown"),
            );
        }
    }
    Ledger::open(&LedgerOptions {
        path: path.clone(),
        key_path: Some(key_path),
        durability: Durability::Fsync,
        new_key: false,
    })
    .map_err(|e| opening(&path, e))
}

/// Commit the latest signed checkpoint to Bitcoin.
///
/// Builds a transaction with one OP_RETURN output holding "VGD1" and the SHA-256 of the
/// latest signed checkpoint note (createrawtransaction with a data output), has the node's
/// wallet fund and sign it (fundrawtransaction, signrawtransactionwithwallet), records an
/// `anchor_pending` event in the ledger, then broadcasts it (sendrawtransaction). The cost is
/// one small transaction's fee (about 150 vbytes). Run `vanguard anchor complete` once it is
/// mined.
///
/// Needs the ledger's signing key and the ledger to itself (not while a proxy records into it).
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    vanguard anchor commit --ledger l.redb --rpc-url http://127.0.0.1:8332 --rpc-cookie ~/.bitcoin/.cookie\n  \
    vanguard anchor commit --ledger l.redb --network regtest --rpc-url http://127.0.0.1:18443 \
    --rpc-cookie ~/.bitcoin/regtest/.cookie")]
pub struct CommitArgs {
    #[command(flatten)]
    target: Target,
    /// The ledger's signing key file. Default: the ledger path with `.key` appended.
    #[arg(long, value_name = "PATH", env = "VANGUARD_KEY")]
    key: Option<PathBuf>,
    #[command(flatten)]
    node: NodeArgs,
    /// The node's network: main, test, testnet4, signet or regtest.
    #[arg(long, value_name = "NET", default_value = "main")]
    network: String,
}

fn commit(args: CommitArgs) -> anyhow::Result<ExitCode> {
    let network: AnchorNetwork = args.network.parse()?;
    let node = args.node.node()?;
    let ledger = open_writable(&args.target, &args.key)?;
    let result = anchor::commit(&ledger, &node, network);
    ledger.close();
    let c = result?;
    println!(
        "committed the checkpoint of {} entries (SHA-256 {}) in transaction {} on {network} \
         (fee {} sat); recorded as entry {}",
        c.checkpoint_size, c.commitment, c.txid, c.fee_sat, c.event_seq
    );
    println!("run `vanguard anchor complete` once it is mined");
    Ok(ExitCode::SUCCESS)
}

/// Collect the proofs of pending anchors that are mined.
///
/// For each pending anchor: gettxoutproof (the block's partial Merkle tree), getblockheader
/// (height, confirmations), getrawtransaction; checks the proof as an auditor will, then
/// records it as an `anchor` event. Receipts and slices made afterwards carry it.
///
/// Exits 0 when no anchor is left pending, 3 when some are not yet confirmed deeply enough
/// (run it again later), 4 when the node no longer knows a pending transaction (in neither
/// its mempool nor a block: dropped; see `vanguard anchor abandon`), 2 on errors. The node
/// must still know the transaction: complete anchors before the wallet spends the change
/// output, or run the node with -txindex.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    vanguard anchor complete --ledger l.redb --rpc-url http://127.0.0.1:8332 --rpc-cookie ~/.bitcoin/.cookie --confirmations 6\n  \
    vanguard anchor complete --ledger l.redb --txid 5e1f... --rpc-url http://127.0.0.1:8332 --rpc-cookie ~/.bitcoin/.cookie   # an abandoned anchor mined after all")]
pub struct CompleteArgs {
    #[command(flatten)]
    target: Target,
    /// The ledger's signing key file. Default: the ledger path with `.key` appended.
    #[arg(long, value_name = "PATH", env = "VANGUARD_KEY")]
    key: Option<PathBuf>,
    #[command(flatten)]
    node: NodeArgs,
    /// Confirmations a transaction needs before its proof is recorded (6 is customary on
    /// mainnet).
    #[arg(long, value_name = "N", default_value_t = 1)]
    confirmations: u64,
    /// Only this anchor transaction; it may be one abandoned earlier and mined after all.
    #[arg(long, value_name = "TXID")]
    txid: Option<String>,
}

fn complete(args: CompleteArgs) -> anyhow::Result<ExitCode> {
    let node = args.node.node()?;
    let ledger = open_writable(&args.target, &args.key)?;
    let result = match &args.txid {
        Some(txid) => {
            anchor::flow::complete_txid(&ledger, &node, args.confirmations, txid).map(|c| vec![c])
        }
        None => anchor::complete(&ledger, &node, args.confirmations),
    };
    ledger.close();
    let outcomes = result?;
    if outcomes.is_empty() {
        println!("no pending anchors");
    }
    let mut waiting = false;
    let mut dropped = false;
    for o in &outcomes {
        match o {
            Completion::Done {
                txid,
                checkpoint_size,
                block_hash,
                height,
                confirmations,
                event_seq,
            } => println!(
                "anchored the checkpoint of {checkpoint_size} entries: transaction {txid} in \
                 block {block_hash} at height {height} ({confirmations} confirmations); \
                 recorded as entry {event_seq}"
            ),
            Completion::Waiting {
                txid,
                checkpoint_size,
                confirmations,
                needed,
            } => {
                waiting = true;
                println!(
                    "not yet confirmed: transaction {txid} (checkpoint of {checkpoint_size} \
                     entries) has {confirmations} confirmation(s), {needed} needed"
                );
                if *confirmations == 0 {
                    println!(
                        "  (the node reports it in no block yet; if it was mined long ago and \
                         the wallet has spent its change, run the node with -txindex=1)"
                    );
                }
            }
            Completion::Dropped {
                txid,
                checkpoint_size,
            } => {
                dropped = true;
                println!(
                    "dropped: the node no longer knows transaction {txid} (checkpoint of \
                     {checkpoint_size} entries) in its mempool or in a block: it was evicted, \
                     replaced or lost with the wallet. No new anchor can be committed while it \
                     is pending: run `vanguard anchor abandon {txid} --reason \"dropped by the \
                     node\"` (the proxy's --anchor-every scheduler does so itself after {} \
                     checks in a row). If it was mined long ago and the node runs without \
                     -txindex, it may only be unfindable: run the node with -txindex=1 first",
                    anchor::schedule::DROPPED_CHECKS
                );
            }
        }
    }
    Ok(ExitCode::from(if dropped {
        4
    } else if waiting {
        3
    } else {
        0
    }))
}

/// End a pending anchor whose transaction will not be mined, so a new one can be committed.
///
/// Only one anchor may be pending at a time, and only a proof or an abandonment ends it. When
/// the node has dropped the transaction (`vanguard anchor complete` says "dropped": evicted
/// from the mempool, replaced, fee too low, wallet reset), this records an `anchor_abandoned`
/// event with your reason; the ledger keeps the pending event, the abandonment and its reason
/// for auditors (`vanguard anchor status` lists them). It needs no node.
///
/// The risk: if the transaction is mined after all (another node still had it), its fee was
/// spent anyway and nothing is lost: `vanguard anchor complete --txid TXID` still records its
/// proof. Ask the wallet to release the coins the transaction spent, or it keeps them
/// reserved: `bitcoin-cli abandontransaction TXID` (Bitcoin Core refuses while the node still
/// has the transaction: then it was not dropped). A proxy running with --anchor-every
/// abandons dropped transactions itself (docs/anchoring.md).
///
/// Refuses a txid that is not pending in this ledger, already complete or already abandoned.
#[derive(Args, Debug)]
#[command(after_help = "Example:\n  \
    vanguard anchor complete --ledger l.redb --rpc-url http://127.0.0.1:8332 --rpc-cookie ~/.bitcoin/.cookie   # says: dropped ... 5e1f...\n  \
    vanguard anchor abandon 5e1f... --reason \"evicted from the mempool (fee too low)\" --ledger l.redb\n  \
    bitcoin-cli abandontransaction 5e1f...\n  \
    vanguard anchor commit --ledger l.redb --rpc-url http://127.0.0.1:8332 --rpc-cookie ~/.bitcoin/.cookie")]
pub struct AbandonArgs {
    /// The pending anchor's transaction id (see `vanguard anchor status`).
    #[arg(value_name = "TXID")]
    txid: String,
    /// Why, recorded in the ledger.
    #[arg(long, value_name = "TEXT")]
    reason: String,
    #[command(flatten)]
    target: Target,
    /// The ledger's signing key file. Default: the ledger path with `.key` appended.
    #[arg(long, value_name = "PATH", env = "VANGUARD_KEY")]
    key: Option<PathBuf>,
}

fn abandon(args: AbandonArgs) -> anyhow::Result<ExitCode> {
    let ledger = open_writable(&args.target, &args.key)?;
    let result = anchor::flow::abandon(&ledger, &args.txid, &args.reason);
    ledger.close();
    let a = result?;
    println!(
        "abandoned the anchor of the checkpoint of {} entries (transaction {}); recorded as \
         entry {}",
        a.checkpoint_size, a.txid, a.event_seq
    );
    println!(
        "a new anchor can be committed; if {} is mined after all, `vanguard anchor complete \
         --txid {}` records its proof",
        a.txid, a.txid
    );
    Ok(ExitCode::SUCCESS)
}

/// List the ledger's anchors: pending, done and abandoned.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  vanguard anchor status --ledger l.redb\n  \
    vanguard anchor status --ledger l.redb --json")]
pub struct StatusArgs {
    #[command(flatten)]
    target: Target,
    /// One JSON object: {"pending": [...], "done": [...], "abandoned": [...]}.
    #[arg(long)]
    json: bool,
}

fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let path = args.target.path()?;
    let db = open_read(&path)?;
    let snap = Snapshot::begin(db.as_ref())?;
    let log = events::scan(&snap)?;
    let open = log.open();
    let pending_of = |txid: &str| log.pending.iter().map(|(_, p)| p).find(|p| p.txid == txid);
    if args.json {
        let v = json!({
            "pending": open.iter().map(|(seq, p)| json!({
                "seq": seq, "network": p.network, "checkpoint_size": p.checkpoint_size,
                "commitment": p.commitment, "txid": p.txid, "fee_sat": p.fee_sat,
            })).collect::<Vec<_>>(),
            "done": log.done.iter().map(|(seq, d)| json!({
                "seq": seq, "network": d.network, "checkpoint_size": d.checkpoint_size,
                "txid": d.txid, "block_hash": d.block_hash, "height": d.height,
                "block_time": d.block_time,
            })).collect::<Vec<_>>(),
            "abandoned": log.abandoned.iter().map(|(seq, a)| json!({
                "seq": seq, "txid": a.txid, "reason": a.reason,
                "checkpoint_size": pending_of(&a.txid).map(|p| p.checkpoint_size),
            })).collect::<Vec<_>>(),
        });
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    if open.is_empty() && log.done.is_empty() && log.abandoned.is_empty() {
        println!("no anchors");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<9} {:>6} {:<8} {:>10}  {:<64}  BLOCK",
        "STATE", "SEQ", "NETWORK", "CHECKPOINT", "TXID"
    );
    for (seq, p) in &open {
        println!(
            "{:<9} {:>6} {:<8} {:>10}  {:<64}  -",
            "pending", seq, p.network, p.checkpoint_size, p.txid
        );
    }
    for (seq, d) in &log.done {
        println!(
            "{:<9} {:>6} {:<8} {:>10}  {:<64}  {} (height {}, {})",
            "done",
            seq,
            d.network,
            d.checkpoint_size,
            d.txid,
            d.block_hash,
            d.height,
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(d.block_time)
            )
        );
    }
    for (seq, a) in &log.abandoned {
        let p = pending_of(&a.txid);
        println!(
            "{:<9} {:>6} {:<8} {:>10}  {:<64}  {}",
            "abandoned",
            seq,
            p.map_or("-", |p| p.network.as_str()),
            p.map_or("-".into(), |p| p.checkpoint_size.to_string()),
            a.txid,
            a.reason
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Export a completed anchor as an OpenTimestamps proof (`.ots`) of the checkpoint note, for
/// auditors who check timestamps with the standard `ots` client. Writes the note beside it:
/// `ots verify` needs the timestamped bytes themselves.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    vanguard anchor ots --ledger l.redb -o checkpoint.note.ots   # also writes checkpoint.note\n  \
    vanguard anchor ots --ledger l.redb --txid 5e1f... -o a.note.ots --note a.note\n  \
    ots info checkpoint.note.ots && ots verify checkpoint.note.ots")]
pub struct OtsArgs {
    #[command(flatten)]
    target: Target,
    /// Which completed anchor, by transaction id; default: the latest one.
    #[arg(long, value_name = "TXID")]
    txid: Option<String>,
    /// Where to write the `.ots` proof.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: PathBuf,
    /// Where to write the checkpoint note it timestamps. Default: FILE without its `.ots`
    /// suffix (where `ots verify FILE` looks for it), or FILE.note.
    #[arg(long, value_name = "FILE")]
    note: Option<PathBuf>,
}

fn ots(args: OtsArgs) -> anyhow::Result<ExitCode> {
    let path = args.target.path()?;
    let db = open_read(&path)?;
    let snap = Snapshot::begin(db.as_ref())?;
    let log = events::scan(&snap)?;
    let done = match &args.txid {
        Some(txid) => log.done.iter().map(|(_, d)| d).find(|d| &d.txid == txid),
        None => log
            .done
            .iter()
            .map(|(_, d)| d)
            .max_by_key(|d| d.checkpoint_size),
    };
    let Some(done) = done else {
        match &args.txid {
            Some(txid) => bail!("no completed anchor with txid {txid} in {} (see `vanguard anchor status`)", path.display()),
            None => bail!("no completed anchor in {} yet: run `vanguard anchor commit`, then `vanguard anchor complete` once it is mined", path.display()),
        }
    };
    let decoded = done
        .proof
        .decode()
        .with_context(|| format!("the recorded anchor {} is unreadable", done.txid))?;
    let height = u32::try_from(done.height)
        .with_context(|| format!("block height {} out of range", done.height))?;
    let proof = vanguard::anchor::ots::ots_proof(
        decoded.checkpoint.as_bytes(),
        &decoded.tx,
        &decoded.merkle_block,
        height,
    )
    .with_context(|| format!("building the OpenTimestamps proof for {}", done.txid))?;
    let note_path = args.note.clone().unwrap_or_else(|| {
        let text = args.output.as_os_str().to_string_lossy();
        match text.strip_suffix(".ots") {
            Some(stem) if !stem.is_empty() => PathBuf::from(stem),
            _ => PathBuf::from(format!("{text}.note")),
        }
    });
    std::fs::write(&args.output, &proof)
        .with_context(|| format!("writing {}", args.output.display()))?;
    std::fs::write(&note_path, decoded.checkpoint.as_bytes())
        .with_context(|| format!("writing {}", note_path.display()))?;
    eprintln!(
        "wrote {} ({} bytes) and the checkpoint note {}: size {}, {} block {} at height {}",
        args.output.display(),
        proof.len(),
        note_path.display(),
        done.checkpoint_size,
        done.network,
        done.block_hash,
        done.height
    );
    Ok(ExitCode::SUCCESS)
}
