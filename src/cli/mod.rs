//! Flags, dispatch and the error edge: every failure becomes one `vanguard: error: ...` line on
//! stderr with its cause chain, and an exit code.

mod anchor;
mod info;
mod keys;
mod ledger;
mod rules;
mod start;
mod vex;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "vanguard",
    version,
    about = "Security proxy and flight recorder for the Model Context Protocol",
    long_about = "Vanguard sits between an AI agent and its MCP servers. Every JSON-RPC message, \
                  in both directions, is inspected by signature rules before it is forwarded; a \
                  blocked request gets a JSON-RPC error and the server never sees it.",
    after_help = "Example (in an MCP client config, in place of the server command):\n  \
                  vanguard start --server \"npx -y @modelcontextprotocol/server-filesystem .\""
)]
struct Cli {
    /// Log filter for stderr: error, warn, info, debug, trace, or a tracing directive.
    #[arg(long, global = true, env = "VANGUARD_LOG", default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Start(start::StartArgs),
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    Info(info::InfoArgs),
    #[command(subcommand)]
    Ledger(ledger::LedgerCommand),
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    #[command(subcommand)]
    Vex(vex::VexCommand),
    #[command(subcommand)]
    Anchor(anchor::AnchorCommand),
    /// Verify a receipt, ledger slice, signed checkpoint or consistency proof offline, against
    /// a verifier key you trust. Exits 0 valid, 1 invalid, 2 unusable input. The same code as
    /// the standalone `vanguard-verify`.
    #[command(
        after_help = "Examples:\n  vanguard verify receipt.json --key \"$(cat ledger.vkey)\"\n  \
                  vanguard verify incident.vgslice --key-file ledger.vkey --json\n  \
                  vanguard verify receipt.json --key \"$VKEY\" --network main --headers headers.txt"
    )]
    Verify(vanguard_verifier::cli::VerifyArgs),
    /// Print the version.
    Version,
}

/// Where rules come from; shared by every subcommand that loads them.
#[derive(Args, Debug, Clone)]
struct RuleSource {
    /// Load rule packs (*.yaml) from this directory (or one pack file) instead of the packs
    /// built into the binary.
    #[arg(long, value_name = "DIR", env = "VANGUARD_RULES")]
    rules: Option<PathBuf>,
}

impl RuleSource {
    fn load(&self) -> anyhow::Result<Vec<vanguard::inspect::rules::LoadedRule>> {
        use anyhow::Context;
        match &self.rules {
            Some(dir) => vanguard::inspect::rules::load_dir(dir)
                .with_context(|| format!("loading rule packs from {}", dir.display())),
            None => vanguard::inspect::rules::embedded().context("loading the built-in rule packs"),
        }
    }
}

/// Which ledger to use; shared by `start` and the `ledger` commands.
#[derive(Args, Debug, Clone)]
struct LedgerArgs {
    /// The ledger file. Default: one per wrapped server under the user's data directory,
    /// e.g. ~/.local/share/vanguard/ledgers/server-filesystem.redb.
    #[arg(long, value_name = "PATH", env = "VANGUARD_LEDGER")]
    ledger: Option<PathBuf>,
    /// The ledger's signing key file (created with mode 0600 on first use). Default: the ledger
    /// path with `.key` appended.
    #[arg(long, value_name = "PATH", env = "VANGUARD_KEY")]
    key: Option<PathBuf>,
    /// fsync every group commit before forwarding (fsync), or not (none: development only, a
    /// crash can lose the last entries; the ledger records the mode).
    #[arg(long, value_enum, default_value_t = vanguard::ledger::Durability::Fsync)]
    durability: vanguard::ledger::Durability,
}

impl LedgerArgs {
    fn path_for(&self, server: &vanguard::proxy::stdio::ServerCommand) -> anyhow::Result<PathBuf> {
        match &self.ledger {
            Some(p) => Ok(p.clone()),
            None => Ok(default_ledger_dir()?.join(format!("{}.redb", server.short_name()))),
        }
    }
}

/// `$XDG_DATA_HOME/vanguard/ledgers`, else `~/.local/share/vanguard/ledgers`.
fn default_ledger_dir() -> anyhow::Result<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .ok_or_else(|| {
            anyhow::anyhow!("no HOME or XDG_DATA_HOME to put the ledger in; give --ledger PATH")
        })?;
    Ok(base.join("vanguard").join("ledgers"))
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_level);
    let result = match cli.command {
        Command::Start(args) => start::run(args),
        Command::Rules(cmd) => rules::run(cmd),
        Command::Info(args) => info::run(args),
        Command::Ledger(cmd) => ledger::run(cmd),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Vex(cmd) => vex::run(cmd),
        Command::Anchor(cmd) => anchor::run(cmd),
        Command::Verify(args) => {
            let code =
                vanguard_verifier::cli::run(&args, &mut std::io::stdout(), &mut std::io::stderr());
            Ok(ExitCode::from(code))
        }
        Command::Version => {
            println!("vanguard {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("vanguard: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // stdout belongs to the JSON-RPC stream in stdio mode: logs only ever go to stderr.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
