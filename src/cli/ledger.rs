//! `vanguard ledger ...`: read, check and redact the flight recorder.
//!
//! Every command but `redact` opens the ledger read-only (it works on an auditor's read-only
//! copy and never writes). redb locks the file, so these commands fail with a clear message
//! while a proxy is recording into the same ledger.

use anyhow::{bail, Context};
use base64::Engine as _;
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use serde_json::json;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vanguard::ledger::check::{self, Problem};
use vanguard::ledger::export;
use vanguard::ledger::redact::{self, PayloadState};
use vanguard::ledger::store::{self, meta, Snapshot};
use vanguard::ledger::{default_key_path, Durability, Ledger, LedgerError, LedgerOptions};
use vanguard_verifier::{leaf_hash, Action, Direction, Entry, Kind, VerifierKey};

/// Read, check and redact the flight recorder (the ledger `vanguard start` writes).
#[derive(Subcommand, Debug)]
pub enum LedgerCommand {
    Status(StatusArgs),
    Log(LogArgs),
    Show(ShowArgs),
    Checkpoint(CheckpointArgs),
    Check(CheckArgs),
    Redact(RedactArgs),
    Proof(ProofArgs),
    Export(ExportArgs),
    Consistency(ConsistencyArgs),
}

pub fn run(cmd: LedgerCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        LedgerCommand::Redact(args) => redact(args),
        // Reads of a damaged file may panic inside redb: make that a "ledger file is corrupt"
        // error with the usual exit code instead of a crash.
        read => store::read_guarded(|| read_command(read)),
    }
}

fn read_command(cmd: LedgerCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        LedgerCommand::Status(args) => status(args),
        LedgerCommand::Log(args) => log(args),
        LedgerCommand::Show(args) => show(args),
        LedgerCommand::Checkpoint(args) => checkpoint(args),
        LedgerCommand::Check(args) => check(args),
        LedgerCommand::Redact(args) => redact(args),
        LedgerCommand::Proof(args) => proof(args),
        LedgerCommand::Export(args) => export(args),
        LedgerCommand::Consistency(args) => consistency(args),
    }
}

/// Which ledger file a command reads.
#[derive(Args, Debug, Clone)]
pub struct Target {
    /// The ledger file (what `vanguard start --ledger PATH` wrote). Default: $VANGUARD_LEDGER,
    /// unless --server is given.
    #[arg(long, value_name = "PATH")]
    pub ledger: Option<PathBuf>,
    /// Instead of --ledger: the server command given to `vanguard start` without --ledger;
    /// its default ledger is used (~/.local/share/vanguard/ledgers/<server name>.redb).
    #[arg(long, value_name = "CMD", conflicts_with = "ledger")]
    pub server: Option<String>,
}

impl Target {
    /// The ledger path, resolved as `vanguard start` does. Does not check that it exists.
    pub fn path(&self) -> anyhow::Result<PathBuf> {
        if let Some(p) = &self.ledger {
            return Ok(p.clone());
        }
        if let Some(line) = &self.server {
            let server = vanguard::proxy::stdio::ServerCommand::parse(line)?;
            return Ok(super::default_ledger_dir()?.join(format!("{}.redb", server.short_name())));
        }
        // Read here rather than by clap, so that an explicit --server beats the environment.
        if let Some(p) = std::env::var_os("VANGUARD_LEDGER").filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(p));
        }
        let mut msg = String::from(
            "no ledger given: use --ledger PATH (or VANGUARD_LEDGER, or --server CMD for the \
             default ledger of the server `vanguard start` wrapped)",
        );
        if let Ok(dir) = super::default_ledger_dir() {
            let mut found: Vec<String> = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "redb"))
                .map(|p| p.display().to_string())
                .collect();
            found.sort();
            if !found.is_empty() {
                msg.push_str(&format!("; ledgers found: {}", found.join(", ")));
            }
        }
        bail!(msg)
    }
}

/// Opens the ledger read-only, with the path in any error.
pub fn open_read(path: &Path) -> anyhow::Result<Box<dyn redb::ReadableDatabase>> {
    // `LedgerError`'s messages already carry their causes; chaining them again (`{:#}`) would
    // print each cause twice.
    store::open_read_only(path).map_err(|e| opening(path, e))
}

/// A ledger that could not be opened, named once.
pub fn opening(path: &Path, e: LedgerError) -> anyhow::Error {
    match e {
        // These name the path themselves.
        LedgerError::Locked { .. } | LedgerError::Io { .. } | LedgerError::Format { .. } => {
            anyhow::anyhow!("{}", store::error_chain(&e))
        }
        e => anyhow::anyhow!(
            "opening ledger {}: {}",
            path.display(),
            store::error_chain(&e)
        ),
    }
}

/// Runs `f` on a buffered stdout. A closed pipe (`| head`) ends the output quietly.
fn with_stdout(f: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut w = BufWriter::new(stdout.lock());
    let result = f(&mut w).and_then(|()| w.flush().map_err(anyhow::Error::from));
    match result {
        Err(e) if is_broken_pipe(&e) => Ok(()),
        other => other,
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Text from the ledger for a terminal: control characters (a hostile tool name could carry
/// terminal escapes) are shown escaped.
fn printable(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        s.to_owned()
    }
}

fn parse_entry(seq: u64, bytes: &[u8]) -> anyhow::Result<Entry> {
    serde_json::from_slice(bytes).with_context(|| format!("entry {seq} is not an entry"))
}

// ---------------------------------------------------------------------------------------------
// status

/// Summarise a ledger: entries, root, latest checkpoint, keys, storage.
///
/// Reports the number of entries (the tree size), the root hash of the tree over all of them,
/// the size of the latest signed checkpoint, the durability mode of the last commit, the
/// ledger's origin and verifier key (vkey), the signing key file, the file's size on disk and
/// how many raw payloads are kept.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    vanguard ledger status --ledger ~/.local/share/vanguard/ledgers/server-filesystem.redb\n  \
    vanguard ledger status --ledger l.redb --json | jq .size")]
pub struct StatusArgs {
    #[command(flatten)]
    target: Target,
    /// The signing key file to report. Default: the ledger path with `.key` appended.
    #[arg(long, value_name = "PATH", env = "VANGUARD_KEY")]
    key: Option<PathBuf>,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let path = args.target.path()?;
    let db = open_read(&path)?;
    let snap = Snapshot::begin(db.as_ref())?;
    let size = snap.size()?;
    let root = snap.root()?;
    let checkpoint = snap.latest_checkpoint()?.map(|(s, _)| s);
    let get = |k: &str| snap.meta_string(k);
    let origin = get(meta::ORIGIN)?;
    let vkey = get(meta::VKEY)?;
    let durability = get(meta::DURABILITY)?;
    let ledger_id = get(meta::LEDGER_ID)?;
    let payloads = snap.payload_count()?;
    let key_path = args.key.clone().unwrap_or_else(|| default_key_path(&path));
    let key_exists = key_path.is_file();
    let file = std::fs::metadata(&path).with_context(|| path.display().to_string())?;
    #[cfg(unix)]
    let disk = std::os::unix::fs::MetadataExt::blocks(&file) * 512;
    #[cfg(not(unix))]
    let disk = file.len();
    let time_of = |seq: u64| -> anyhow::Result<Option<String>> {
        match snap.entry(seq)? {
            Some(bytes) => Ok(Some(parse_entry(seq, &bytes)?.time)),
            None => Ok(None),
        }
    };
    let (first, last) = if size == 0 {
        (None, None)
    } else {
        (time_of(0)?, time_of(size - 1)?)
    };
    with_stdout(|w| {
        if args.json {
            let v = json!({
                "ledger": path.display().to_string(),
                "ledger_id": ledger_id,
                "origin": origin,
                "size": size,
                "root": root.to_string(),
                "checkpoint_size": checkpoint,
                "durability": durability,
                "vkey": vkey,
                "key_file": key_path.display().to_string(),
                "key_file_exists": key_exists,
                "payloads_kept": payloads,
                "file_bytes": file.len(),
                "disk_bytes": disk,
                "first_time": first,
                "last_time": last,
            });
            writeln!(w, "{v}")?;
            return Ok(());
        }
        let none = || "-".to_owned();
        writeln!(w, "ledger      {}", path.display())?;
        writeln!(w, "origin      {}", origin.unwrap_or_else(none))?;
        writeln!(w, "entries     {size}")?;
        writeln!(w, "root        {root}")?;
        let cp = match checkpoint {
            Some(s) if s == size => format!("{s} (covers every entry)"),
            Some(s) => format!("{s} (the last {} entries are not signed yet)", size - s),
            None => "none".into(),
        };
        writeln!(w, "checkpoint  {cp}")?;
        writeln!(
            w,
            "durability  {} (mode of the last commit)",
            durability.unwrap_or_else(none)
        )?;
        writeln!(w, "vkey        {}", vkey.unwrap_or_else(none))?;
        let missing = if key_exists { "" } else { " (not found)" };
        writeln!(w, "key file    {}{missing}", key_path.display())?;
        writeln!(w, "payloads    {payloads} kept")?;
        writeln!(
            w,
            "file        {} bytes ({} on disk)",
            file.len(),
            human_bytes(disk)
        )?;
        if let (Some(first), Some(last)) = (first, last) {
            writeln!(w, "time        {first} .. {last}")?;
        }
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

// ---------------------------------------------------------------------------------------------
// log

/// A verdict to filter on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VerdictFilter {
    Allow,
    Warn,
    Block,
}

impl VerdictFilter {
    fn action(self) -> Action {
        match self {
            VerdictFilter::Allow => Action::Allow,
            VerdictFilter::Warn => Action::Warn,
            VerdictFilter::Block => Action::Block,
        }
    }
}

/// List entries, oldest first, with filters.
///
/// Streams: the ledger is read entry by entry, never loaded whole. Filters combine (all must
/// match). Times are RFC 3339 (`2026-01-02T15:04:05Z`, `2026-01-02T17:04:05+02:00`, or a date,
/// meaning its midnight UTC); `--since` is inclusive, `--until` exclusive. `--from`/`--to` are
/// sequence numbers, both inclusive.
///
/// The table shows who sent each message (agent, server, or the proxy itself for events), the
/// JSON-RPC method (for events, the event type), the tool, the verdict and the rules that
/// matched. `--json` prints each entry exactly as stored: its canonical JSON, one per line (the
/// bytes its leaf hash is computed over).
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    vanguard ledger log --ledger l.redb --verdict block\n  \
    vanguard ledger log --ledger l.redb --tool read_file --since 2026-01-02T00:00:00Z --limit 20\n  \
    vanguard ledger log --ledger l.redb --session 3f2a9c0d1e4b5a6f --json | jq .verdict")]
pub struct LogArgs {
    #[command(flatten)]
    target: Target,
    /// Only entries of this proxy session (the `session` field; the start event names it).
    #[arg(long, value_name = "ID")]
    session: Option<String>,
    /// Only messages with this verdict (events have none and are left out).
    #[arg(long, value_enum)]
    verdict: Option<VerdictFilter>,
    /// Only `tools/call` requests (and their answers) for this tool.
    #[arg(long, value_name = "NAME")]
    tool: Option<String>,
    /// Only entries recorded at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = entry_time)]
    since: Option<String>,
    /// Only entries recorded before this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = entry_time)]
    until: Option<String>,
    /// First sequence number to show.
    #[arg(long, value_name = "SEQ")]
    from: Option<u64>,
    /// Last sequence number to show (inclusive).
    #[arg(long, value_name = "SEQ")]
    to: Option<u64>,
    /// Stop after this many entries.
    #[arg(long, short = 'n', value_name = "N")]
    limit: Option<u64>,
    /// Print each entry's canonical JSON, one per line, instead of a table.
    #[arg(long)]
    json: bool,
}

/// Parses an RFC 3339 time (or a bare date) into the entry format's text:
/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` in UTC, which orders as text.
pub fn entry_time(text: &str) -> Result<String, String> {
    let bad = || {
        format!(
            "{text:?} is not an RFC 3339 time (e.g. 2026-01-02T15:04:05Z, \
             2026-01-02T17:04:05+02:00, or a date 2026-01-02)"
        )
    };
    let upper = text.trim().to_ascii_uppercase();
    if !upper.is_ascii() {
        return Err(bad());
    }
    let full = if upper.len() == 10 {
        format!("{upper}T00:00:00Z")
    } else {
        upper
    };
    if full.len() < 20 {
        return Err(bad());
    }
    let (base, offset_secs) = match full.strip_suffix('Z') {
        Some(base) => (base, 0i64),
        None => {
            let (base, off) = full.split_at(full.len() - 6);
            let o = off.as_bytes();
            let digits = [o[1], o[2], o[4], o[5]].iter().all(u8::is_ascii_digit);
            if !matches!(o[0], b'+' | b'-') || o[3] != b':' || !digits {
                return Err(bad());
            }
            let hours: i64 = off[1..3].parse().map_err(|_| bad())?;
            let minutes: i64 = off[4..6].parse().map_err(|_| bad())?;
            if hours > 23 || minutes > 59 {
                return Err(bad());
            }
            let sign = if o[0] == b'-' { -1 } else { 1 };
            (base, sign * (hours * 3600 + minutes * 60))
        }
    };
    let local = humantime::parse_rfc3339(&format!("{base}Z")).map_err(|_| bad())?;
    let shift = std::time::Duration::from_secs(offset_secs.unsigned_abs());
    let utc = if offset_secs >= 0 {
        local.checked_sub(shift)
    } else {
        local.checked_add(shift)
    }
    .filter(|t| *t >= std::time::UNIX_EPOCH)
    .ok_or_else(bad)?;
    Ok(humantime::format_rfc3339_nanos(utc).to_string())
}

fn log(args: LogArgs) -> anyhow::Result<ExitCode> {
    let path = args.target.path()?;
    let db = open_read(&path)?;
    let snap = Snapshot::begin(db.as_ref())?;
    let mut from = args.from.unwrap_or(0);
    if let Some(since) = &args.since {
        // Entry times never decrease, so the first match is found by binary search.
        from = from.max(snap.first_seq_at_or_after(since)?);
    }
    let to = args.to.map_or(u64::MAX, |t| t.saturating_add(1));
    let limit = args.limit.unwrap_or(u64::MAX);
    let mut shown = 0u64;
    with_stdout(|w| {
        if limit == 0 {
            return Ok(());
        }
        if !args.json {
            writeln!(
                w,
                "{:>6}  {:<24}  {:<6}  {:<12}  {:<16}  {:<16}  {:<7}  RULES",
                "SEQ", "TIME", "FROM", "KIND", "METHOD", "TOOL", "VERDICT"
            )?;
        }
        let mut failure: Option<anyhow::Error> = None;
        snap.for_each_entry(from, to, |seq, bytes| {
            let entry = match parse_entry(seq, bytes) {
                Ok(e) => e,
                Err(e) => {
                    failure = Some(e);
                    return Ok(false);
                }
            };
            if args.until.as_ref().is_some_and(|u| entry.time >= *u) {
                return Ok(false);
            }
            if !matches(&args, &entry) {
                return Ok(true);
            }
            let written = if args.json {
                w.write_all(bytes).and_then(|()| w.write_all(b"\n"))
            } else {
                writeln!(w, "{}", table_row(&entry))
            };
            if let Err(e) = written {
                failure = Some(e.into());
                return Ok(false);
            }
            shown += 1;
            Ok(shown < limit)
        })?;
        failure.map_or(Ok(()), Err)
    })?;
    Ok(ExitCode::SUCCESS)
}

fn matches(args: &LogArgs, entry: &Entry) -> bool {
    if args.session.as_ref().is_some_and(|s| *s != entry.session) {
        return false;
    }
    if args.tool.is_some() && args.tool != entry.tool {
        return false;
    }
    if let Some(v) = args.verdict {
        if entry.verdict.as_ref().map(|v| v.action) != Some(v.action()) {
            return false;
        }
    }
    true
}

fn table_row(e: &Entry) -> String {
    let from = match e.direction {
        Direction::AgentToServer => "agent",
        Direction::ServerToAgent => "server",
        Direction::Proxy => "proxy",
    };
    let kind = match e.kind {
        Kind::Request => "request",
        Kind::Response => "response",
        Kind::Notification => "notification",
        Kind::Event => "event",
    };
    let method = match (&e.method, &e.event) {
        (Some(m), _) => printable(m),
        (None, Some(ev)) => ev
            .get("type")
            .and_then(|t| t.as_str())
            .map_or("-".into(), printable),
        (None, None) => "-".into(),
    };
    let tool = e.tool.as_deref().map_or("-".into(), printable);
    let (verdict, rules) = match &e.verdict {
        Some(v) => (
            action_name(v.action),
            if v.rules.is_empty() {
                "-".into()
            } else {
                printable(&v.rules.join(","))
            },
        ),
        None => ("-", "-".into()),
    };
    // Milliseconds are enough to read; `show` and `--json` have the full time.
    let time = match e.time.get(..23) {
        Some(t) => format!("{t}Z"),
        None => e.time.clone(),
    };
    format!(
        "{:>6}  {:<24}  {:<6}  {:<12}  {:<16}  {:<16}  {:<7}  {}",
        e.seq, time, from, kind, method, tool, verdict, rules
    )
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Allow => "allow",
        Action::Warn => "warn",
        Action::Block => "block",
    }
}

// ---------------------------------------------------------------------------------------------
// show

/// Show one entry: its JSON, verdict, leaf hash and the message bytes if kept.
///
/// The payload (the message exactly as it crossed the wire) is printed as text when it is
/// UTF-8 without control characters, else as base64. A redacted payload names the redaction
/// event and its reason. A kept payload is checked against the digest its entry commits to.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    vanguard ledger show --ledger l.redb 42\n  \
    vanguard ledger show --ledger l.redb 42 --raw > message.json\n  \
    vanguard ledger show --ledger l.redb 42 --json")]
pub struct ShowArgs {
    #[command(flatten)]
    target: Target,
    /// The entry's sequence number.
    #[arg(value_name = "SEQ")]
    seq: u64,
    /// Write only the payload, byte for byte, to stdout (an error if it is not kept).
    #[arg(long, conflicts_with = "json")]
    raw: bool,
    /// One JSON object: entry, leaf hash, payload (text or base64) or why there is none.
    #[arg(long)]
    json: bool,
}

fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let path = args.target.path()?;
    let db = open_read(&path)?;
    let snap = Snapshot::begin(db.as_ref())?;
    let seq = args.seq;
    let Some(bytes) = snap.entry(seq)? else {
        bail!(
            "there is no entry {seq} (the ledger has {} entries)",
            snap.size()?
        );
    };
    let entry = parse_entry(seq, &bytes)?;
    let leaf = leaf_hash(&bytes);
    let payload = snap.payload(seq)?;
    let state = redact::payload_state(&snap, seq, &entry)?;
    if args.raw {
        let Some(payload) = payload else {
            bail!("entry {seq}: {state}");
        };
        with_stdout(|w| Ok(w.write_all(&payload)?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let matches = payload
        .as_ref()
        .map(|p| entry.payload.is_some_and(|d| d.matches(p)));
    let text = payload
        .as_deref()
        .and_then(|p| std::str::from_utf8(p).ok())
        .filter(|t| !t.chars().any(|c| c.is_control() && c != '\t'));
    let value: serde_json::Value = serde_json::from_slice(&bytes)?;
    with_stdout(|w| {
        if args.json {
            let payload_json = match (&payload, &state) {
                (Some(p), _) => {
                    let mut o = json!({ "state": "kept", "matches_entry": matches });
                    match text {
                        Some(t) => o["text"] = json!(t),
                        None => o["base64"] = json!(base64_of(p)),
                    }
                    o
                }
                (None, PayloadState::Redacted { event_seq, reason }) => {
                    json!({ "state": "redacted", "redaction_seq": event_seq, "reason": reason })
                }
                (None, PayloadState::NoMessage) => json!({ "state": "none" }),
                (None, _) => json!({ "state": "not_kept" }),
            };
            let v =
                json!({ "entry": value, "leaf_hash": leaf.to_string(), "payload": payload_json });
            writeln!(w, "{v}")?;
            return Ok(());
        }
        writeln!(w, "entry {seq}")?;
        writeln!(w, "{}", serde_json::to_string_pretty(&value)?)?;
        match &entry.verdict {
            Some(v) => {
                let rules = if v.rules.is_empty() {
                    "no rule matched".to_owned()
                } else {
                    format!("rules {}", v.rules.join(", "))
                };
                write!(
                    w,
                    "verdict: {} by {} ({})",
                    action_name(v.action),
                    printable(&v.layer),
                    printable(&rules)
                )?;
                match &v.reason {
                    Some(r) => writeln!(w, ": {}", printable(r))?,
                    None => writeln!(w)?,
                }
            }
            None => writeln!(w, "verdict: none (not an inspected message)")?,
        }
        writeln!(w, "leaf hash: {leaf}")?;
        match (&payload, &state) {
            (Some(p), _) => {
                let check = if matches == Some(true) {
                    "matches the entry's digest"
                } else {
                    "DOES NOT MATCH the digest the entry commits to"
                };
                match text {
                    Some(t) => writeln!(w, "payload ({} bytes, {check}):\n{t}", p.len())?,
                    None => writeln!(
                        w,
                        "payload ({} bytes, {check}; not printable text, base64):\n{}",
                        p.len(),
                        base64_of(p)
                    )?,
                }
            }
            (None, state) => writeln!(w, "{state}")?,
        }
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn base64_of(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// ---------------------------------------------------------------------------------------------
// checkpoint

/// Print the latest signed checkpoint, exactly as stored.
///
/// A C2SP tlog-checkpoint (origin, tree size, base64 root hash) in a C2SP signed note, signed
/// by the ledger's Ed25519 key. Hand it to an auditor with the vkey (`vanguard keys show`):
/// `vanguard-verify` or any C2SP tool checks it.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    vanguard ledger checkpoint --ledger l.redb > checkpoint.txt\n  \
    vanguard ledger checkpoint --ledger l.redb --size 1024")]
pub struct CheckpointArgs {
    #[command(flatten)]
    target: Target,
    /// The checkpoint signed for exactly this many entries instead of the latest.
    #[arg(long, value_name = "N")]
    size: Option<u64>,
}

fn checkpoint(args: CheckpointArgs) -> anyhow::Result<ExitCode> {
    let path = args.target.path()?;
    let db = open_read(&path)?;
    let snap = Snapshot::begin(db.as_ref())?;
    let note = match args.size {
        Some(size) => snap.checkpoint(size)?.with_context(|| {
            format!("no checkpoint was signed for exactly {size} entries (checkpoints are signed once per group commit)")
        })?,
        None => match snap.latest_checkpoint()? {
            Some((_, note)) => note,
            None => bail!("the ledger has no checkpoint yet (it has no entries)"),
        },
    };
    with_stdout(|w| Ok(w.write_all(note.as_bytes())?))?;
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// check

/// Recompute the whole ledger and compare it with what is stored and signed.
///
/// For every entry: canonical encoding, sequence number, hash chain (`prev`), time order and
/// the stored Merkle tree hashes; then every signed checkpoint: signature, origin, size and
/// root; then every kept payload against the digest its entry commits to. Prints OK with the
/// counts and root, or the first problem and which entry it is in, and exits 1.
///
/// Without --vkey the checkpoints are verified with the keys the ledger names itself (its
/// current vkey and those its key_rotation events retired): that finds corruption and careless
/// edits, but not a forger who holds the signing key or rewrote the file whole. An auditor
/// should pin the vkey, obtained independently (`vanguard keys show` on the proxy host, at
/// setup), with --vkey.
///
/// Exit status: 0 the ledger checks out, 1 a problem was found, 2 the ledger cannot be read.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    vanguard ledger check --ledger l.redb\n  \
    vanguard ledger check --ledger l.redb --vkey 'vanguard.local/3f2a9c0d1e4b5a6f+b97337f8+AeTo...'")]
pub struct CheckArgs {
    #[command(flatten)]
    target: Target,
    /// Trust only this verifier key (C2SP vkey text, or a file holding it). Repeat for a ledger
    /// whose key was rotated: each checkpoint must be signed by one of them.
    #[arg(long, value_name = "VKEY")]
    vkey: Vec<String>,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// A C2SP vkey given on the command line, or the path of a file holding one.
fn parse_vkey(text: &str) -> anyhow::Result<VerifierKey> {
    match VerifierKey::parse(text.trim()) {
        Ok(k) => Ok(k),
        Err(e) if Path::new(text).is_file() => {
            let body = std::fs::read_to_string(text).with_context(|| format!("reading {text}"))?;
            VerifierKey::parse(body.trim())
                .with_context(|| format!("{text} does not hold a verifier key (first error: {e})"))
        }
        Err(e) => Err(e).with_context(|| format!("--vkey {text:?}")),
    }
}

/// The keys the ledger itself names: its current vkey (meta) and the previous vkey of each
/// key_rotation event.
fn ledger_keys(snap: &Snapshot) -> anyhow::Result<Vec<VerifierKey>> {
    let mut keys = Vec::new();
    let needle = memchr::memmem::Finder::new(b"\"type\":\"key_rotation\"");
    let mut failure = None;
    snap.for_each_entry(0, u64::MAX, |seq, bytes| {
        if needle.find(bytes).is_none() {
            return Ok(true);
        }
        let previous = parse_entry(seq, bytes).ok().and_then(|e| {
            e.event
                .as_ref()
                .and_then(|ev| ev.get("previous_vkey"))
                .and_then(|p| p.as_str())
                .map(str::to_owned)
        });
        if let Some(previous) = previous {
            match VerifierKey::parse(&previous) {
                Ok(k) => keys.push(k),
                Err(e) => {
                    failure = Some(anyhow::anyhow!(
                        "entry {seq}: key_rotation names an invalid previous vkey: {e}"
                    ));
                    return Ok(false);
                }
            }
        }
        Ok(true)
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    let current = snap
        .meta_string(meta::VKEY)?
        .context("the ledger records no vkey; give --vkey")?;
    keys.push(VerifierKey::parse(&current).context("the ledger's own vkey")?);
    keys.dedup_by(|a, b| a.to_string() == b.to_string());
    Ok(keys)
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let path = args.target.path()?;
    let db = open_read(&path)?;
    let snap = Snapshot::begin(db.as_ref())?;
    let (keys, pinned) = if args.vkey.is_empty() {
        (ledger_keys(&snap)?, false)
    } else {
        let keys = args
            .vkey
            .iter()
            .map(|k| parse_vkey(k))
            .collect::<anyhow::Result<Vec<_>>>()?;
        (keys, true)
    };
    let size = snap.size()?;
    let bar = progress_bar(size);
    bar.set_message("entries");
    let result = check::check_with_keys(&snap, &keys, |done| bar.set_position(done));
    let outcome = match result {
        Ok(report) => match report.problem {
            Some(p) => Err(p),
            None => {
                bar.set_message("payloads");
                bar.set_length(snap.payload_count()?);
                bar.set_position(0);
                match check::check_payloads(&snap, |done| bar.set_position(done))? {
                    Some(p) => Err(p),
                    None => Ok(report),
                }
            }
        },
        // The tree arithmetic found a stored hash missing, or data the ledger should have.
        Err(e @ (LedgerError::Proof(_) | LedgerError::Inconsistent(_))) => Err(Problem {
            seq: None,
            check: "stored data",
            detail: e.to_string(),
        }),
        Err(e) => return Err(e.into()),
    };
    bar.finish_and_clear();
    let key_list: Vec<String> = keys.iter().map(ToString::to_string).collect();
    with_stdout(|w| {
        if args.json {
            let v = match &outcome {
                Ok(r) => json!({
                    "ok": true,
                    "entries": r.entries,
                    "checkpoints": r.checkpoints,
                    "root": r.root.map(|h| h.to_string()),
                    "keys": key_list,
                    "keys_pinned": pinned,
                }),
                Err(p) => json!({
                    "ok": false,
                    "problem": { "seq": p.seq, "check": p.check, "detail": p.detail },
                    "message": p.to_string(),
                    "keys": key_list,
                    "keys_pinned": pinned,
                }),
            };
            writeln!(w, "{v}")?;
            return Ok(());
        }
        match &outcome {
            Ok(r) => {
                let root = r.root.map_or("-".into(), |h| h.to_string());
                writeln!(
                    w,
                    "OK: {} entries, {} checkpoints, root {root}",
                    r.entries, r.checkpoints
                )?;
            }
            Err(p) => writeln!(w, "FAILED: {p}")?,
        }
        let source = if pinned {
            "pinned with --vkey"
        } else {
            "named by the ledger itself; pin with --vkey to check against a key you trust"
        };
        for k in &key_list {
            writeln!(w, "key: {k} ({source})")?;
        }
        Ok(())
    })?;
    Ok(if outcome.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A progress bar on stderr when it is a terminal; hidden otherwise.
fn progress_bar(len: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "checking {msg:<8} {wide_bar} {human_pos}/{human_len} ({eta} left)",
    ) {
        bar.set_style(style);
    }
    bar
}

// ---------------------------------------------------------------------------------------------
// redact

/// Remove the kept payload of one entry, recording why.
///
/// Deletes the raw message bytes of entry SEQ from the payloads table and records an event
/// entry {"type":"redaction","seq":SEQ,"reason":...,"payload_blake3":...} (signed under the
/// next checkpoint). Every proof still verifies: entries commit to a payload's digest, not its
/// bytes. The entry itself cannot be removed.
///
/// Needs the ledger's signing key (--key, default: the ledger path with `.key` appended) and
/// the ledger to itself: it fails while a proxy records into it. Redacting a payload that is
/// not kept is an error.
#[derive(Args, Debug)]
#[command(after_help = "Example:\n  \
    vanguard ledger redact --ledger l.redb 42 --reason \"customer data, ticket SEC-123\"")]
pub struct RedactArgs {
    #[command(flatten)]
    target: Target,
    /// The ledger's signing key file. Default: the ledger path with `.key` appended.
    #[arg(long, value_name = "PATH", env = "VANGUARD_KEY")]
    key: Option<PathBuf>,
    /// The entry whose payload to remove.
    #[arg(value_name = "SEQ")]
    seq: u64,
    /// Why: kept in the ledger for good.
    #[arg(long, value_name = "TEXT")]
    reason: String,
}

fn redact(args: RedactArgs) -> anyhow::Result<ExitCode> {
    let path = args.target.path()?;
    let key_path = args.key.clone().unwrap_or_else(|| default_key_path(&path));
    // Refuse before taking the ledger for writing: `Ledger::open` would create a missing key
    // and record a key rotation, which is not what a redaction should do by accident.
    {
        let db = open_read(&path)?;
        let snap = Snapshot::begin(db.as_ref())?;
        let current = snap.meta_string(meta::VKEY)?;
        let origin = snap.meta_string(meta::ORIGIN)?.unwrap_or_default();
        let found = super::keys::key_file_vkey(&key_path)?;
        if found.name().as_str() != origin || current.as_deref() != Some(&found.to_string()) {
            bail!(
                "{} is not this ledger's current signing key (the ledger's vkey is {}, the file's \
                 is {found}); give the --key that `vanguard start` uses",
                key_path.display(),
                current.as_deref().unwrap_or("unknown"),
            );
        }
    }
    let ledger = Ledger::open(&LedgerOptions {
        path: path.clone(),
        key_path: Some(key_path),
        durability: Durability::Fsync,
        new_key: false,
    })
    .map_err(|e| opening(&path, e))?;
    let result = redact::redact(&ledger, args.seq, &args.reason);
    ledger.close();
    let r = result?;
    with_stdout(|w| {
        writeln!(
            w,
            "redacted the payload of entry {} ({} bytes, blake3 {}); recorded as entry {}",
            r.seq, r.len, r.payload_blake3, r.event_seq
        )?;
        if !r.matched_entry {
            writeln!(
                w,
                "warning: the removed bytes were not the ones entry {} commits to",
                r.seq
            )?;
        }
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// proof, export, consistency: evidence for auditors

/// Writes `text` to `out` (atomically: a temporary file renamed into place) or to stdout.
fn write_output(out: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match out {
        Some(path) => write_file_atomically(path, |w| Ok(w.write_all(text.as_bytes())?)),
        None => with_stdout(|w| Ok(w.write_all(text.as_bytes())?)),
    }
}

/// Writes `path` through `f` into `<path>.partial`, renamed to `path` only once complete; on
/// failure the partial file is removed.
fn write_file_atomically<T>(
    path: &Path,
    f: impl FnOnce(&mut BufWriter<std::fs::File>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut w = BufWriter::new(file);
    let result = f(&mut w).and_then(|v| {
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(v)
    });
    let result = result.and_then(|v| {
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        Ok(v)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Write the receipt for one entry: proof that it is in the ledger's latest signed checkpoint.
///
/// A receipt (`vanguard-receipt/v1`, JSON) holds the entry exactly as stored, optionally the
/// message bytes it records (`--with-payload`), and a C2SP tlog-proof: the entry's index, its
/// inclusion path and the latest signed checkpoint. `vanguard verify receipt.json --key VKEY`
/// (or `vanguard-verify`, or any C2SP tool for the proof) checks it offline with the ledger's
/// vkey (`vanguard keys show`). The entry must be covered by a signed checkpoint: the proxy
/// signs one at every group commit.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    vanguard ledger proof 42 --ledger l.redb --with-payload -o receipt-42.json\n  \
    vanguard verify receipt-42.json --key \"$(vanguard keys show --ledger l.redb)\"")]
pub struct ProofArgs {
    #[command(flatten)]
    target: Target,
    /// The entry's sequence number (e.g. the `ledger_index` of a blocked reply).
    #[arg(value_name = "SEQ")]
    seq: u64,
    /// Include the message bytes the entry records, if they were kept (not redacted).
    #[arg(long)]
    with_payload: bool,
    /// Write the receipt to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

fn proof(args: ProofArgs) -> anyhow::Result<ExitCode> {
    let path = args.target.path()?;
    let db = open_read(&path)?;
    let snap = Snapshot::begin(db.as_ref())?;
    let receipt = export::receipt(&snap, args.seq, args.with_payload)?;
    if args.with_payload && receipt.payload().is_none() {
        let entry = parse_entry(args.seq, receipt.entry_bytes())?;
        let state = redact::payload_state(&snap, args.seq, &entry)?;
        eprintln!(
            "vanguard: note: entry {}: {state}; the receipt has no payload",
            args.seq
        );
    }
    write_output(args.output.as_deref(), &receipt.to_json())?;
    Ok(ExitCode::SUCCESS)
}

/// Export a slice of the ledger for an incident: entries with their proof (`.vgslice`).
///
/// Select entries by sequence numbers (`--from`/`--to`, both inclusive), by time (`--since`
/// inclusive, `--until` exclusive, RFC 3339) or by proxy session (`--session`, the id
/// `ledger log` shows). The slice covers the contiguous range of entries spanning the
/// selection: those the filter selects (and, with `--verdict`, have that verdict) are written
/// in full, with their kept payloads if `--with-payloads`; the others in between only as leaf
/// hashes. It ends with the latest signed checkpoint and a compact-range proof, so
/// `vanguard verify slice.vgslice --key VKEY` recomputes the signed root from the slice alone
/// and checks the hash chain, sequence and time order of every entry. The header states the
/// filter used. Entries past the latest signed checkpoint are left out (with a note).
#[derive(Args, Debug)]
#[command(
    group(ArgGroup::new("selection").required(true).args(["from", "since", "session"])),
    after_help = "Examples:\n  \
    vanguard ledger export --ledger l.redb --session 3f2a9c0d1e4b5a6f --with-payloads -o incident.vgslice\n  \
    vanguard ledger export --ledger l.redb --from 100 --to 199 --verdict block -o blocked.vgslice\n  \
    vanguard ledger export --ledger l.redb --since 2026-01-02T10:00:00Z --until 2026-01-02T11:00:00Z -o hour.vgslice\n  \
    vanguard verify incident.vgslice --key \"$(vanguard keys show --ledger l.redb)\""
)]
pub struct ExportArgs {
    #[command(flatten)]
    target: Target,
    /// First sequence number (with --to).
    #[arg(long, value_name = "SEQ", requires = "to")]
    from: Option<u64>,
    /// Last sequence number, inclusive (with --from).
    #[arg(long, value_name = "SEQ", requires = "from")]
    to: Option<u64>,
    /// Entries recorded at or after this time (RFC 3339; with --until).
    #[arg(long, value_name = "TIME", value_parser = entry_time, requires = "until")]
    since: Option<String>,
    /// Entries recorded before this time (RFC 3339; with --since).
    #[arg(long, value_name = "TIME", value_parser = entry_time, requires = "since")]
    until: Option<String>,
    /// Every entry of this proxy session.
    #[arg(long, value_name = "ID")]
    session: Option<String>,
    /// Write in full only the entries with this verdict; the others as leaf hashes.
    #[arg(long, value_enum)]
    verdict: Option<VerdictFilter>,
    /// Include the kept payloads (message bytes) of the entries written in full.
    #[arg(long)]
    with_payloads: bool,
    /// The slice file to write.
    #[arg(long, short = 'o', value_name = "FILE", required = true)]
    output: PathBuf,
}

fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let selection = match (
        &args.from,
        &args.to,
        &args.since,
        &args.until,
        &args.session,
    ) {
        (Some(from), Some(to), ..) => export::Selection::Seq {
            from: *from,
            to: *to,
        },
        (_, _, Some(since), Some(until), _) => export::Selection::Time {
            since: since.clone(),
            until: until.clone(),
        },
        (.., Some(id)) => export::Selection::Session(id.clone()),
        _ => bail!("select entries with --from/--to, --since/--until or --session"),
    };
    let req = export::SliceRequest {
        selection,
        verdict: args.verdict.map(VerdictFilter::action),
        with_payloads: args.with_payloads,
    };
    let path = args.target.path()?;
    let db = open_read(&path)?;
    let snap = Snapshot::begin(db.as_ref())?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "exporting {bar:40} {pos}/{len} entries ({eta})",
        ) {
            bar.set_style(style);
        }
        bar
    });
    let summary = write_file_atomically(&args.output, |w| {
        Ok(export::write_slice(&snap, &req, w, |done, total| {
            if let Some(bar) = &bar {
                bar.set_length(total);
                bar.set_position(done);
            }
        })?)
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let summary = summary?;
    if summary.clipped {
        eprintln!(
            "vanguard: note: the selection reaches past the latest signed checkpoint ({} \
             entries); later entries are left out",
            summary.checkpoint_size
        );
    }
    eprintln!(
        "wrote {}: entries {}..{} ({} in full, {} payloads, {} as leaf hashes), proven against \
         the checkpoint of {} entries",
        args.output.display(),
        summary.begin,
        summary.end - 1,
        summary.entries,
        summary.payloads,
        summary.leaves,
        summary.checkpoint_size
    );
    Ok(ExitCode::SUCCESS)
}

/// Prove that an older signed checkpoint is a prefix of a newer one (nothing was rewritten).
///
/// Both checkpoints must have been signed at exactly those sizes (the proxy signs one per
/// group commit; `vanguard ledger checkpoint --size N` prints one). NEW_SIZE defaults to the
/// latest checkpoint. Writes a consistency file (`vanguard-consistency/v1`, JSON: both signed
/// checkpoints and the RFC 9162 consistency proof) that `vanguard verify FILE --key VKEY`
/// checks offline.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    vanguard ledger consistency 128 --ledger l.redb -o since-128.json\n  \
    vanguard ledger consistency 128 1024 --ledger l.redb -o c.json && vanguard verify c.json --key \"$VKEY\"")]
pub struct ConsistencyArgs {
    #[command(flatten)]
    target: Target,
    /// Size of the older checkpoint.
    #[arg(value_name = "OLD_SIZE")]
    old: u64,
    /// Size of the newer checkpoint. Default: the latest.
    #[arg(value_name = "NEW_SIZE")]
    new: Option<u64>,
    /// Write the file here instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

fn consistency(args: ConsistencyArgs) -> anyhow::Result<ExitCode> {
    let path = args.target.path()?;
    let db = open_read(&path)?;
    let snap = Snapshot::begin(db.as_ref())?;
    let file = export::consistency(&snap, args.old, args.new)?;
    write_output(args.output.as_deref(), &file.to_json())?;
    Ok(ExitCode::SUCCESS)
}
