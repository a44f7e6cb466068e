//! Running the `vanguard` binary as an operator or auditor would, each run bounded in time:
//! shared by the tests that drive the CLI (`ledger_cli`, `audit_flow`, `ledger_tamper`).

use std::io::Write;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Longest any child may run before the test kills it and fails.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// The binary, with nothing taken from the environment: the tests name every file they use.
pub fn vanguard() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vanguard"));
    for var in [
        "VANGUARD_LEDGER",
        "VANGUARD_KEY",
        "VANGUARD_RULES",
        "VANGUARD_BITCOIN_RPC_URL",
        "VANGUARD_BITCOIN_RPC_PASSWORD",
    ] {
        c.env_remove(var);
    }
    c.env("VANGUARD_LOG", "warn");
    c
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Waits for `child` at most [`CLI_TIMEOUT`], killing it if it overruns.
pub fn wait_bounded(mut child: Child, what: &str) -> Output {
    let deadline = Instant::now() + CLI_TIMEOUT;
    loop {
        match child.try_wait().expect("try_wait") {
            Some(_) => return child.wait_with_output().expect("collect output"),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("collect output");
                panic!(
                    "{what} did not finish in {CLI_TIMEOUT:?}; stderr:\n{}",
                    text(&out.stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Runs `vanguard ARGS` to completion (bounded), stdin empty.
pub fn run(args: &[&str]) -> Output {
    let child = vanguard()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vanguard runs");
    wait_bounded(child, &format!("vanguard {args:?}"))
}

/// `vanguard ARGS`' stdout; panics with its output unless it exits 0.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "vanguard {args:?} failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `vanguard ARGS`' stdout as JSON.
pub fn json(args: &[&str]) -> serde_json::Value {
    let out = ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// Starts `vanguard start --ledger LEDGER [options] -- python3 echo_server.py`, stdin piped.
pub fn spawn_proxy(ledger: &str, options: &[&str]) -> Child {
    vanguard()
        .args(["start", "--ledger", ledger])
        .args(options)
        .args(["--", "python3"])
        .arg(super::echo_server())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vanguard start runs")
}

/// Records one proxy session: sends `lines`, closes stdin, waits for the proxy, which must
/// exit 0.
pub fn record_session<L: AsRef<[u8]>>(ledger: &str, options: &[&str], lines: &[L]) -> Output {
    let mut child = spawn_proxy(ledger, options);
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for line in lines {
            stdin.write_all(line.as_ref()).expect("write");
            stdin.write_all(b"\n").expect("write");
        }
    }
    let out = wait_bounded(child, "vanguard start");
    assert!(out.status.success(), "proxy failed: {}", text(&out.stderr));
    out
}
