//! `vanguard vex`: the VEX outbox of a ledger.

use clap::{Args, Subcommand};
use std::process::ExitCode;
use vanguard::anchor::vex::{self, Status};
use vanguard::ledger::Snapshot;

/// The VEX outbox: blocked intents waiting for, or delivered to, the VEX audit service.
#[derive(Subcommand, Debug)]
pub enum VexCommand {
    /// Show the outbox of a ledger: queue depth (pending = not yet accepted by VEX, queued =
    /// accepted, outcome to come), the oldest record, how many are delivered, the VEX agent
    /// in use and the last delivery error. Reads the ledger file, so it works only while no
    /// proxy has it open.
    #[command(
        after_help = "Examples:\n  vanguard vex status --ledger ./audit.redb\n  \
                            vanguard vex status --ledger ./audit.redb --json"
    )]
    Status(StatusArgs),
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    target: super::ledger::Target,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: VexCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        VexCommand::Status(args) => status(args),
    }
}

fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let path = args.target.path()?;
    let db = super::ledger::open_read(&path)?;
    let snap = Snapshot::begin(db.as_ref())?;
    let status = vex::status(&snap)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", render(&status, std::time::SystemTime::now()));
    }
    Ok(ExitCode::SUCCESS)
}

fn render(s: &Status, now: std::time::SystemTime) -> String {
    let mut out = String::new();
    let mut row = |k: &str, v: String| out.push_str(&format!("{k:<16}{v}\n"));
    row(
        "queue depth",
        format!(
            "{} ({} pending, {} queued at VEX)",
            s.queue_depth, s.pending, s.queued
        ),
    );
    row(
        "oldest pending",
        match &s.oldest {
            Some(o) => {
                let age = humantime::parse_rfc3339(&o.time)
                    .ok()
                    .and_then(|t| now.duration_since(t).ok())
                    .map(|d| {
                        let secs = std::time::Duration::from_secs(d.as_secs());
                        format!(", {} ago", humantime::format_duration(secs))
                    })
                    .unwrap_or_default();
                format!("seq {} ({}{age})", o.seq, o.time)
            }
            None => "-".into(),
        },
    );
    row("delivered", s.delivered.to_string());
    row(
        "agent",
        match (&s.agent_id, &s.agent_url) {
            (Some(id), Some(url)) => format!("{id} (created on {url})"),
            _ => "- (none created; VANGUARD_VEX_AGENT_ID may name one)".into(),
        },
    );
    row(
        "last error",
        match &s.last_error {
            Some(e) => format!("{} {}", e.time, e.error),
            None => "-".into(),
        },
    );
    out
}
