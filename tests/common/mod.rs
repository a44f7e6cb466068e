//! Helpers shared by the ledger crash, tamper and fail-closed tests: running the real proxy
//! around the echo server, opening and checking a ledger through the library, a seeded RNG,
//! and guards that undo mounts and file attributes however a test ends.
#![allow(dead_code)]

pub mod cli;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use vanguard::ledger::check::{check, check_payloads, CheckReport, Problem};
use vanguard::ledger::Snapshot;
use vanguard_verifier::{Direction, Entry, Kind, RpcId, SignerKey, VerifierKey};

/// Longest a test waits for any one thing (a process to exit, a reply to arrive).
pub const TIMEOUT: Duration = Duration::from_secs(30);

pub fn echo_server() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/servers/echo_server.py")
}

/// One rule that never matches: the tests are about the ledger, and compiling the built-in
/// packs in a debug build costs seconds per proxy start.
pub const QUIET_RULES: &str = "- id: TEST-NEVER\n  description: never matches\n  severity: LOW\n  \
     action: BLOCK\n  pattern: 'zq-never-matches-qz'\n  message: test rule\n";

pub fn write_rules(dir: &Path) -> PathBuf {
    let path = dir.join("rules.yaml");
    std::fs::write(&path, QUIET_RULES).expect("write rules");
    path
}

/// `vanguard start --rules RULES --ledger LEDGER [extra] -- python3 echo_server.py [record]`,
/// with nothing taken from the environment.
pub fn proxy_command(
    ledger: &Path,
    rules: &Path,
    record: Option<&Path>,
    extra: &[&str],
) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vanguard"));
    for var in [
        "VANGUARD_LEDGER",
        "VANGUARD_KEY",
        "VANGUARD_RULES",
        "ECHO_SERVER_RECORD",
    ] {
        c.env_remove(var);
    }
    c.env("VANGUARD_LOG", "warn");
    c.arg("start")
        .arg("--rules")
        .arg(rules)
        .arg("--ledger")
        .arg(ledger);
    c.args(extra);
    c.arg("--").arg("python3").arg(echo_server());
    if let Some(r) = record {
        c.arg(r);
    }
    c
}

/// A running proxy: requests go in on `stdin`, every line it writes arrives on `lines`.
pub struct Proxy {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub lines: mpsc::Receiver<Vec<u8>>,
    reader: Option<std::thread::JoinHandle<()>>,
    pub stderr_path: PathBuf,
}

impl Proxy {
    /// Starts `command` with piped stdin/stdout; stderr goes to `stderr_path` (appended).
    pub fn spawn(mut command: Command, stderr_path: &Path) -> Proxy {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(stderr_path)
            .expect("stderr file");
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("vanguard starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut line = Vec::new();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if line.last() == Some(&b'\n') {
                            line.pop();
                        }
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Proxy {
            stdin: child.stdin.take(),
            child,
            lines: rx,
            reader: Some(reader),
            stderr_path: stderr_path.to_owned(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn send(&mut self, line: &[u8]) -> std::io::Result<()> {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(line)?;
        stdin.write_all(b"\n")?;
        stdin.flush()
    }

    /// Sends one request and waits for the reply carrying its id (other lines are returned too,
    /// in order, before it). Panics after [`TIMEOUT`].
    pub fn call(&mut self, id: i64, line: &[u8]) -> serde_json::Value {
        self.send(line).expect("proxy takes the request");
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let got = self.lines.recv_timeout(left).unwrap_or_else(|e| {
                panic!(
                    "no reply to request {id} within {TIMEOUT:?} ({e}); proxy stderr:\n{}",
                    self.stderr()
                )
            });
            let v: serde_json::Value = serde_json::from_slice(&got)
                .unwrap_or_else(|e| panic!("proxy wrote a line that is not JSON ({e}): {got:?}"));
            if v["id"] == serde_json::json!(id) {
                return v;
            }
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Closes stdin (the agent leaves) and waits for the proxy to exit.
    pub fn finish(mut self) -> ExitStatus {
        drop(self.stdin.take());
        let status = wait_timeout(&mut self.child, TIMEOUT).unwrap_or_else(|| {
            panic!(
                "proxy did not exit after its stdin closed; stderr:\n{}",
                self.stderr()
            )
        });
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        status
    }

    /// The proxy's children (the echo server), from /proc.
    pub fn children(&self) -> Vec<u32> {
        children_of(self.pid())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // A test that fails midway must not leave a proxy holding a mount busy.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits for `child` at most `limit`.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Processes whose parent is `pid` (scanning /proc: `children` files need CONFIG_PROC_CHILDREN).
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Some((ppid, _)) = stat_of(p) {
            if ppid == pid {
                out.push(p);
            }
        }
    }
    out
}

/// (parent pid, state letter) of a process, if it exists.
fn stat_of(pid: u32) -> Option<(u32, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: read after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

/// Waits until `pid` is gone (or a zombie: our PID 1 may not reap orphans). False on timeout.
pub fn wait_gone(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        match stat_of(pid) {
            None | Some((_, 'Z')) | Some((_, 'X')) => return true,
            _ if Instant::now() > deadline => return false,
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// A `tools/call` request line with a unique id.
pub fn tool_call(id: i64, filler: usize) -> Vec<u8> {
    let blob = "x".repeat(filler);
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"n":{id},"blob":"{blob}"}}}}}}"#
    )
    .into_bytes()
}

/// A seed from `var`, or from the clock; printed so a failure can be replayed.
pub fn seed(var: &str) -> u64 {
    let seed = std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock");
            now.as_nanos() as u64 ^ u64::from(std::process::id())
        });
    eprintln!("seed {seed} (replay with {var}={seed})");
    seed
}

/// SplitMix64: enough randomness for kill points and byte flips, and reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
}

/// The ledger's verifier key, from its key file (never from the ledger itself).
pub fn verifier_key(ledger: &Path) -> VerifierKey {
    let path = vanguard::ledger::default_key_path(ledger);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("key file {}: {e}", path.display()));
    SignerKey::parse(text.trim_end())
        .unwrap_or_else(|e| panic!("key file {}: {e}", path.display()))
        .verifier_key()
}

/// Opens (creating) a ledger with its default key file, through the library.
pub fn open_ledger(
    path: &Path,
    durability: vanguard::ledger::Durability,
) -> Result<vanguard::ledger::Ledger, vanguard::ledger::LedgerError> {
    vanguard::ledger::Ledger::open(&vanguard::ledger::LedgerOptions {
        path: path.to_owned(),
        key_path: None,
        durability,
        new_key: false,
    })
}

/// Everything a test wants to know about a ledger on disk.
pub struct LedgerState {
    pub report: CheckReport,
    /// First payload whose bytes differ from the digest its entry commits to.
    pub payload_problem: Option<Problem>,
    /// Every entry: (canonical bytes, parsed), by seq.
    pub entries: Vec<(Vec<u8>, Entry)>,
    pub payloads: HashMap<u64, Vec<u8>>,
}

impl LedgerState {
    /// Opens the ledger through the library (taking its lock; repairs it after a crash), runs
    /// the full check and the payload check, and reads every entry.
    pub fn load(ledger: &Path, key: &VerifierKey) -> Result<LedgerState, String> {
        let db = vanguard::ledger::open_for_reading(ledger).map_err(|e| e.to_string())?;
        let snap = Snapshot::new(&db).map_err(|e| e.to_string())?;
        let report = check(&snap, key, |_| {}).map_err(|e| e.to_string())?;
        let payload_problem = check_payloads(&snap, |_| {}).map_err(|e| e.to_string())?;
        let mut entries = Vec::new();
        snap.for_each_entry(0, u64::MAX, |_, bytes| {
            // Unparseable entries are the check's business; keep what parses.
            if let Ok(e) = Entry::parse_canonical(bytes) {
                entries.push((bytes.to_vec(), e));
            }
            Ok(true)
        })
        .map_err(|e| e.to_string())?;
        let mut payloads = HashMap::new();
        for seq in 0..report.entries {
            if let Some(bytes) = snap.payload(seq).map_err(|e| e.to_string())? {
                payloads.insert(seq, bytes);
            }
        }
        Ok(LedgerState {
            report,
            payload_problem,
            entries,
            payloads,
        })
    }

    /// Panics unless the full check and the payload check found nothing.
    pub fn assert_sound(&self, context: &str) {
        assert!(
            self.report.problem.is_none(),
            "{context}: ledger check failed: {}",
            self.report.problem.as_ref().expect("problem")
        );
        assert!(
            self.payload_problem.is_none(),
            "{context}: payload check failed: {}",
            self.payload_problem.as_ref().expect("problem")
        );
    }

    pub fn size(&self) -> u64 {
        self.report.entries
    }

    /// Entries written by the proxy process `pid` (the entry's `instance` is `host/pid`).
    pub fn of_process(&self, pid: u32) -> impl Iterator<Item = &(Vec<u8>, Entry)> {
        let suffix = format!("/{pid}");
        self.entries
            .iter()
            .filter(move |(_, e)| e.instance.ends_with(&suffix))
    }

    /// Message entries of `pid` by (direction, numeric rpc id).
    pub fn messages_of(&self, pid: u32) -> HashMap<(DirectionKey, i64), &Entry> {
        let mut out = HashMap::new();
        for (_, e) in self.of_process(pid) {
            if let Some(RpcId::Number(id)) = e.rpc_id {
                let dir = match (e.direction, e.kind) {
                    (Direction::AgentToServer, Kind::Request) => DirectionKey::Request,
                    (Direction::ServerToAgent, Kind::Response) => DirectionKey::Response,
                    _ => continue,
                };
                out.insert((dir, id), e);
            }
        }
        out
    }
}

/// A request from the agent, or a response from the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DirectionKey {
    Request,
    Response,
}

/// Runs a command, returning whether it succeeded and its stderr.
pub fn run(program: &str, args: &[&str]) -> (bool, String) {
    match Command::new(program).args(args).output() {
        Ok(out) => (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ),
        Err(e) => (false, e.to_string()),
    }
}

/// A mount that is undone when dropped (lazily if it is still busy).
pub struct MountGuard {
    target: PathBuf,
}

impl MountGuard {
    /// `mount -t tmpfs -o OPTIONS tmpfs TARGET`.
    pub fn tmpfs(target: &Path, options: &str) -> Result<MountGuard, String> {
        std::fs::create_dir_all(target).map_err(|e| e.to_string())?;
        let t = target.to_str().expect("utf-8 path");
        match run("mount", &["-t", "tmpfs", "-o", options, "tmpfs", t]) {
            (true, _) => Ok(MountGuard {
                target: target.to_owned(),
            }),
            (false, err) => Err(err),
        }
    }

    /// A read-only bind mount of `source` at `target`.
    pub fn bind_read_only(source: &Path, target: &Path) -> Result<MountGuard, String> {
        std::fs::create_dir_all(target).map_err(|e| e.to_string())?;
        let (s, t) = (
            source.to_str().expect("utf-8 path"),
            target.to_str().expect("utf-8 path"),
        );
        if let (false, err) = run("mount", &["--bind", s, t]) {
            return Err(err);
        }
        let guard = MountGuard {
            target: target.to_owned(),
        };
        match run("mount", &["-o", "remount,bind,ro", t]) {
            (true, _) => Ok(guard),
            (false, err) => Err(err),
        }
    }

    pub fn remount(&self, options: &str) -> Result<(), String> {
        let t = self.target.to_str().expect("utf-8 path");
        match run("mount", &["-o", &format!("remount,{options}"), t]) {
            (true, _) => Ok(()),
            (false, err) => Err(err),
        }
    }
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        let t = self.target.to_str().expect("utf-8 path");
        if !run("umount", &[t]).0 {
            let (ok, err) = run("umount", &["-l", t]);
            if !ok {
                eprintln!("could not unmount {t}: {err}");
            }
        }
    }
}

/// `chattr +i` on a file, undone when dropped.
pub struct ImmutableGuard {
    path: PathBuf,
}

impl ImmutableGuard {
    pub fn set(path: &Path) -> Result<ImmutableGuard, String> {
        match run("chattr", &["+i", path.to_str().expect("utf-8 path")]) {
            (true, _) => Ok(ImmutableGuard {
                path: path.to_owned(),
            }),
            (false, err) => Err(err),
        }
    }
}

impl Drop for ImmutableGuard {
    fn drop(&mut self) {
        let (ok, err) = run("chattr", &["-i", self.path.to_str().expect("utf-8 path")]);
        if !ok {
            eprintln!("could not chattr -i {}: {err}", self.path.display());
        }
    }
}
