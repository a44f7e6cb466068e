//! `vanguard start`: wrap a stdio MCP server.

use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use vanguard::anchor::bitcoin::schedule::{self, Schedule};
use vanguard::anchor::vex::{Delivery, VexConfig};
use vanguard::inspect::{Inspector, InspectorConfig};
use vanguard::ledger::receipt_dir::ReceiptDir;
use vanguard::ledger::{
    Identity, Ledger, LedgerOptions, PayloadPolicy, SessionRecorder, VexEnqueue,
};
use vanguard::proxy::pump::Session;
use vanguard::proxy::stdio::{self, ServerCommand, Shutdown};

/// Wrap a stdio MCP server: inspect every message both ways, forward what passes.
///
/// The agent talks to Vanguard on stdin/stdout exactly as it would to the server; Vanguard
/// starts the server as its child. Logs go to stderr. Vanguard exits with the server's exit
/// code, and forwards SIGINT/SIGTERM/SIGHUP to it.
#[derive(Args, Debug)]
// The node options are required by `vanguard anchor`, and here only with --anchor-every
// (--rpc-url may come from the environment, set for `vanguard anchor`: not an error here).
#[command(
    mut_arg("rpc_url", |a| a.required(false)),
    mut_arg("rpc_cookie", |a| a.requires("anchor_every")),
    mut_arg("rpc_user", |a| a.requires("anchor_every")),
    mut_group("auth", |g| g.required(false))
)]
#[command(after_help = "Examples:\n  \
    vanguard start --server \"npx -y @modelcontextprotocol/server-filesystem /home/me/project\"\n  \
    vanguard start --rules ./my-rules -- python my_server.py --verbose\n  \
    vanguard start --anchor-every 1h --rpc-url http://127.0.0.1:8332 --rpc-cookie ~/.bitcoin/.cookie -- python my_server.py\n  \
    vanguard start --ledger l.redb --receipts-dir ./receipts -- python my_server.py\n    \
    (then: vanguard verify receipts/12.receipt.json --key \"$(vanguard keys show --ledger l.redb)\")")]
pub struct StartArgs {
    /// The server command line, split like a shell would (quotes work; nothing is expanded).
    #[arg(long, short = 's', value_name = "CMD", conflicts_with = "command")]
    server: Option<String>,

    /// The server command as separate words, after `--`.
    #[arg(last = true, value_name = "CMD ARGS")]
    command: Vec<String>,

    #[command(flatten)]
    rules: super::RuleSource,

    /// Largest message accepted in either direction, in bytes; a longer line is refused with a
    /// JSON-RPC error and the session carries on.
    #[arg(long, value_name = "BYTES", default_value_t = 4 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..=1 << 30))]
    max_message_bytes: u64,

    /// Deepest JSON nesting accepted before a message is blocked (L0).
    #[arg(long, value_name = "LEVELS", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(4..=10_000))]
    max_depth: u64,

    /// Seconds the server may take to exit after the agent disconnects before it gets SIGTERM
    /// (and as long again before SIGKILL).
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    shutdown_grace: u64,

    #[command(flatten)]
    ledger: super::LedgerArgs,

    /// Which raw messages to keep beside their entries (entries always hold each message's
    /// length and BLAKE3 digest).
    #[arg(long, value_enum, default_value_t = PayloadPolicy::All)]
    record_payloads: PayloadPolicy,

    /// With VEX on (VANGUARD_VEX_URL), also send each blocked message's raw bytes (base64).
    /// Off by default: VEX gets the SHA-256 digest, verdict and ledger position only.
    /// VEX is configured by environment: VANGUARD_VEX_URL (the server), VANGUARD_VEX_KEY
    /// (Bearer JWT), VANGUARD_VEX_AGENT_ID (an existing agent; otherwise one is created).
    #[arg(long)]
    vex_include_payload: bool,

    /// Anchor the ledger to Bitcoin from this proxy, at most one transaction per interval
    /// (e.g. 1h, 30m; at least 10s): complete the pending anchor once mined, else commit the
    /// latest checkpoint if entries were recorded since the last one. Needs --rpc-url with
    /// --rpc-cookie or --rpc-user. See docs/anchoring.md.
    #[arg(long, value_name = "DURATION", value_parser = anchor_interval,
          requires_all = ["rpc_url", "auth"])]
    anchor_every: Option<std::time::Duration>,

    #[command(flatten)]
    node: Option<super::anchor::NodeArgs>,

    /// With --anchor-every: the node's network (main, test, testnet4, signet or regtest).
    #[arg(
        long,
        value_name = "NET",
        default_value = "main",
        requires = "anchor_every"
    )]
    anchor_network: String,

    /// With --anchor-every: confirmations an anchor needs before its proof is recorded.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "anchor_every")]
    anchor_confirmations: u64,

    /// Write a receipt for every blocked message (request or response) to
    /// DIR/<ledger index>.receipt.json, created if missing: the `vanguard-receipt/v1` that
    /// `vanguard ledger proof` writes, for `vanguard verify`. Written in the background once the
    /// entry and a checkpoint covering it are committed; the proxy never waits for it, and a
    /// receipt that cannot be written is logged and skipped. Receipts hold the entry (the
    /// message's digest and length) but not the message itself unless --receipt-payloads.
    #[arg(long, value_name = "DIR")]
    receipts_dir: Option<PathBuf>,

    /// Put the blocked message's bytes in each --receipts-dir receipt, if they are kept
    /// (see --record-payloads). They may hold secrets the agent tried to send.
    #[arg(long, requires = "receipts_dir")]
    receipt_payloads: bool,
}

fn anchor_interval(text: &str) -> Result<std::time::Duration, String> {
    let every = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if every < schedule::MIN_INTERVAL {
        return Err(format!(
            "at least {} (each anchor is a Bitcoin transaction; blocks come every ~10 minutes)",
            humantime::format_duration(schedule::MIN_INTERVAL)
        ));
    }
    Ok(every)
}

pub fn run(args: StartArgs) -> anyhow::Result<ExitCode> {
    let server = match (&args.server, args.command.is_empty()) {
        (Some(line), _) => ServerCommand::parse(line)?,
        (None, false) => ServerCommand::from_words(args.command.clone())?,
        (None, true) => anyhow::bail!(
            "no server to wrap: give --server \"CMD\" or -- CMD ARGS (see vanguard start --help)"
        ),
    };
    let rules = args.rules.load()?;
    let config = InspectorConfig {
        max_depth: usize::try_from(args.max_depth).context("--max-depth")?,
    };
    let rule_count = rules.len();
    let rules_digest = vanguard::inspect::rules::digest(&rules);
    let inspector = Inspector::new(rules, config)?;
    release_freed_memory();
    tracing::info!(rules = rule_count, "rules loaded");
    let max = usize::try_from(args.max_message_bytes).context("--max-message-bytes")?;
    let session = Arc::new(Session::new(Arc::new(inspector), max));
    let grace = std::time::Duration::from_secs(args.shutdown_grace);
    let shutdown = Shutdown {
        after_eof: grace,
        after_term: grace,
    };
    let vex = VexConfig::from_env().context("VANGUARD_VEX_URL")?;
    if vex.is_none() && args.vex_include_payload {
        anyhow::bail!("--vex-include-payload needs VANGUARD_VEX_URL (VEX is not configured)");
    }
    let anchoring = match (args.anchor_every, &args.node) {
        (Some(every), Some(node)) => {
            node.check()?;
            let schedule = Schedule {
                every,
                network: args.anchor_network.parse()?,
                confirmations: args.anchor_confirmations,
            };
            Some((node.node()?, schedule))
        }
        _ => None,
    };
    let ledger_path = args.ledger.path_for(&server)?;
    let ledger = Ledger::open(&LedgerOptions {
        path: ledger_path.clone(),
        key_path: args.ledger.key.clone(),
        durability: args.ledger.durability,
        new_key: false,
    })
    .with_context(|| format!("opening ledger {}", ledger_path.display()))?;
    let receipts = match &args.receipts_dir {
        Some(dir) => Some(
            ReceiptDir::start(
                ledger.database().clone(),
                dir.clone(),
                args.receipt_payloads,
            )
            .with_context(|| format!("--receipts-dir {}", dir.display()))?,
        ),
        None => None,
    };
    let identity = Identity::new(server.to_string());
    let mut start = serde_json::json!({
        "type": "start",
        "version": env!("CARGO_PKG_VERSION"),
        "durability": args.ledger.durability.as_str(),
        "record_payloads": format!("{:?}", args.record_payloads).to_lowercase(),
        "rules": { "count": rule_count, "digest": rules_digest },
        "limits": { "max_message_bytes": args.max_message_bytes, "max_depth": args.max_depth },
        "session": identity.session,
    });
    if let Some(v) = &vex {
        start["vex"] = serde_json::json!({
            "url": v.url,
            "include_payload": args.vex_include_payload,
        });
    }
    if let Some((_, s)) = &anchoring {
        start["anchor"] = serde_json::json!({ "every": humantime::format_duration(s.every).to_string(),
            "network": s.network.as_str(), "confirmations": s.confirmations });
    }
    ledger
        .append_event(&identity, start)
        .context("recording the start event")?;
    tracing::info!(ledger = %ledger_path.display(), origin = ledger.origin(), durability = args.ledger.durability.as_str(), "flight recorder on");
    let mut recorder =
        SessionRecorder::new(ledger.recorder(), identity.clone(), args.record_payloads);
    if vex.is_some() {
        recorder = recorder.with_vex(VexEnqueue {
            include_payload: args.vex_include_payload,
        });
    }
    let recorder = Arc::new(recorder);
    // One thread drives both pumps (and VEX delivery): a stdio session is one agent,
    // inspection takes microseconds, and the ledger writer has its own thread. A work-stealing
    // pool only added cross-thread wake-ups per message (measured: benches/load,
    // docs/benchmarks.md).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    if let Some(config) = &vex {
        let delivery = Delivery::new(
            config,
            ledger.database().clone(),
            ledger.recorder(),
            identity.clone(),
            ledger.origin().to_owned(),
        )
        .context("configuring VEX delivery (VANGUARD_VEX_URL)")?;
        // Off the proxy's path: it reads the outbox and records through the same writer.
        runtime.spawn(delivery.run());
        tracing::info!(url = %config.url, "VEX delivery on");
    }
    // Scoped, so the scheduler is stopped (and its last append committed) before the ledger
    // closes below.
    let code = std::thread::scope(|scope| -> anyhow::Result<i32> {
        let scheduler = match anchoring {
            Some((node, schedule)) => Some(
                schedule::spawn(scope, &ledger, node, schedule)
                    .context("starting the anchor scheduler")?,
            ),
            None => None,
        };
        let code = runtime.block_on(stdio::run(&server, session, Some(recorder), shutdown));
        if let Some(s) = scheduler {
            s.stop();
        }
        Ok(code?)
    })?;
    // With a terminal or file on stdin, the reader sits in a blocking read that only the agent
    // can end; do not wait for it.
    runtime.shutdown_background();
    let stop =
        serde_json::json!({ "type": "stop", "exit_code": code, "session": identity.session });
    if let Err(e) = ledger.append_event(&identity, stop) {
        tracing::error!(error = %e, "could not record the stop event");
    }
    // Receipts for everything blocked up to the stop event, before the ledger closes.
    drop(receipts);
    ledger.close();
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// Compiling the rules leaves several MiB of freed scratch memory that glibc keeps for the
/// process; hand it back once, since the proxy may run for days next to an agent.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
