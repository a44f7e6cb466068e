//! The stdio transport: the agent speaks on our stdin/stdout, the server is our child.
//!
//! Lifecycle, following the MCP stdio shutdown sequence:
//! - the child runs in its own process group, so a signal we forward reaches every process it
//!   started (`npx` wrappers spawn the real server as a grandchild);
//! - SIGINT, SIGTERM and SIGHUP sent to us are forwarded to that group;
//! - when the agent closes our stdin we close the child's, then wait, then SIGTERM, then SIGKILL;
//! - when the child exits we deliver everything it wrote, then exit with its code
//!   (128 + signal number if a signal ended it);
//! - if we die without cleaning up, the kernel sends the child SIGTERM (`PR_SET_PDEATHSIG`).

use crate::inspect::Direction;
use crate::proxy::pump::{pump, Recording, Session};
use crate::proxy::{agent_io, writer};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::BufReader;
use tokio::process::{Child, Command};
use tokio::signal::unix::{signal, SignalKind};

/// How the server is started.
#[derive(Clone, Debug)]
pub struct ServerCommand {
    pub program: String,
    pub args: Vec<String>,
}

/// Why the server could not be run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StdioError {
    #[error("server command is empty")]
    EmptyCommand,
    #[error("cannot split server command {command:?}: unbalanced quotes")]
    BadQuoting { command: String },
    #[error("cannot start server {program:?}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("server process: {0}")]
    Wait(#[source] std::io::Error),
}

impl std::fmt::Display for ServerCommand {
    /// The command as one shell-quoted line (how the ledger names the upstream server).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let words = std::iter::once(&self.program)
            .chain(&self.args)
            .map(String::as_str);
        match shlex::try_join(words) {
            Ok(line) => f.write_str(&line),
            Err(_) => write!(f, "{} {:?}", self.program, self.args),
        }
    }
}

impl ServerCommand {
    /// A short name for the server, for the default ledger file: the first word that is not a
    /// launcher (`npx`, `node`, `python`, `uvx`...) or an option, without its path or npm scope.
    pub fn short_name(&self) -> String {
        const LAUNCHERS: &[&str] = &[
            "npx", "node", "bunx", "bun", "deno", "uvx", "uv", "python", "python3", "pipx",
            "docker", "sh", "bash", "env", "run", "exec",
        ];
        let words = std::iter::once(&self.program).chain(&self.args);
        let name = words
            .map(|w| w.rsplit('/').next().unwrap_or(w))
            .find(|w| !w.starts_with('-') && !w.is_empty() && !LAUNCHERS.contains(w))
            .unwrap_or("server");
        let name = name
            .split('@')
            .next()
            .filter(|n| !n.is_empty())
            .unwrap_or(name);
        let clean: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if clean.trim_matches('.').is_empty() {
            "server".into()
        } else {
            clean
        }
    }

    /// Splits a command line as a POSIX shell would (quotes and backslashes), without running
    /// a shell: what users paste from an MCP client config works, and nothing is expanded.
    pub fn parse(command: &str) -> Result<Self, StdioError> {
        let words = shlex::split(command).ok_or_else(|| StdioError::BadQuoting {
            command: command.to_owned(),
        })?;
        Self::from_words(words)
    }

    pub fn from_words(words: Vec<String>) -> Result<Self, StdioError> {
        let mut words = words.into_iter();
        let program = words
            .next()
            .filter(|p| !p.is_empty())
            .ok_or(StdioError::EmptyCommand)?;
        Ok(Self {
            program,
            args: words.collect(),
        })
    }
}

/// Grace periods for shutting the child down.
#[derive(Clone, Debug)]
pub struct Shutdown {
    /// After the agent closes stdin, how long the child may take to exit on its own.
    pub after_eof: Duration,
    /// After a SIGTERM, how long before SIGKILL.
    pub after_term: Duration,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self {
            after_eof: Duration::from_secs(5),
            after_term: Duration::from_secs(5),
        }
    }
}

/// Runs the proxy until the server exits; returns the exit code to leave with.
pub async fn run<L: Recording>(
    server: &ServerCommand,
    session: Arc<Session>,
    recorder: Option<Arc<L>>,
    shutdown: Shutdown,
) -> Result<i32, StdioError> {
    let mut child = spawn(server)?;
    let pgid = child.id().map(|id| Pid::from_raw(id as i32));
    let (Some(child_in), Some(child_out)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(StdioError::Wait(std::io::Error::other(
            "child pipes missing",
        )));
    };
    tracing::info!(program = %server.program, pid = ?pgid, "server started");

    let (to_agent, agent_writer) = writer::spawn(agent_io::output(), "agent");
    let (to_server, server_writer) = writer::spawn(child_in, "server");

    let upstream = tokio::spawn(pump(
        session.clone(),
        recorder.clone(),
        Direction::AgentToServer,
        BufReader::with_capacity(64 * 1024, agent_io::input()),
        to_server.clone(),
        to_agent.clone(),
    ));
    let downstream = tokio::spawn(pump(
        session,
        recorder,
        Direction::ServerToAgent,
        BufReader::with_capacity(64 * 1024, child_out),
        to_agent.clone(),
        to_server.clone(),
    ));
    // The pumps hold the senders they need; ours would keep the child's stdin open past EOF.
    drop(to_server);
    drop(server_writer);

    let status = supervise(&mut child, pgid, upstream, &shutdown).await?;
    // Deliver everything the server wrote before it exited, then leave.
    if let Ok(Err(e)) = downstream.await {
        tracing::warn!(error = %e, "reading from server failed");
    }
    to_agent.flush().await;
    drop(agent_writer);
    let code = exit_code(status);
    tracing::info!(code, "server exited");
    Ok(code)
}

fn spawn(server: &ServerCommand) -> Result<Child, StdioError> {
    let mut cmd = Command::new(&server.program);
    cmd.args(&server.args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .process_group(0)
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent; it only asks the
    // kernel to signal this child when its parent thread dies, so a SIGKILLed proxy leaves no
    // orphaned server behind.
    #[cfg(target_os = "linux")]
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|source| StdioError::Spawn {
        program: server.program.clone(),
        source,
    })
}

/// Waits for the child, forwarding signals and enforcing the shutdown sequence.
async fn supervise(
    child: &mut Child,
    pgid: Option<Pid>,
    upstream: tokio::task::JoinHandle<std::io::Result<()>>,
    shutdown: &Shutdown,
) -> Result<ExitStatus, StdioError> {
    let mut sigint = signal(SignalKind::interrupt()).map_err(StdioError::Wait)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(StdioError::Wait)?;
    let mut sighup = signal(SignalKind::hangup()).map_err(StdioError::Wait)?;
    let send = |sig: Signal| {
        if let Some(pgid) = pgid {
            // ESRCH only means the group is already gone.
            let _ = killpg(pgid, sig);
        }
    };
    let mut upstream = Some(upstream);
    // When set, the child must be gone by then, or it is escalated.
    let mut deadline: Option<(tokio::time::Instant, Signal)> = None;
    loop {
        let sleep = async {
            match deadline {
                Some((at, _)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            status = child.wait() => return status.map_err(StdioError::Wait),
            result = async { upstream.as_mut().expect("guarded").await }, if upstream.is_some() => {
                upstream = None;
                if let Ok(Err(e)) = result {
                    tracing::warn!(error = %e, "reading from agent failed");
                }
                tracing::debug!("agent closed its input; waiting for the server to exit");
                deadline = Some((tokio::time::Instant::now() + shutdown.after_eof, Signal::SIGTERM));
            }
            _ = sigint.recv() => { send(Signal::SIGINT); deadline = Some(kill_after(shutdown)); }
            _ = sigterm.recv() => { send(Signal::SIGTERM); deadline = Some(kill_after(shutdown)); }
            _ = sighup.recv() => { send(Signal::SIGHUP); deadline = Some(kill_after(shutdown)); }
            _ = sleep => {
                let Some((_, sig)) = deadline else { continue };
                tracing::warn!(signal = ?sig, "server did not exit in time");
                send(sig);
                deadline = match sig {
                    Signal::SIGTERM => Some(kill_after(shutdown)),
                    _ => None,
                };
            }
        }
    }
}

fn kill_after(shutdown: &Shutdown) -> (tokio::time::Instant, Signal) {
    (
        tokio::time::Instant::now() + shutdown.after_term,
        Signal::SIGKILL,
    )
}

/// The shell convention: the child's code, or 128 + the signal that ended it.
fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_like_a_shell_without_expansion() {
        let c = ServerCommand::parse(r#"npx -y "@scope/server x" '$HOME' a\ b"#).expect("splits");
        assert_eq!(c.program, "npx");
        assert_eq!(c.args, ["-y", "@scope/server x", "$HOME", "a b"]);
        assert!(matches!(
            ServerCommand::parse(""),
            Err(StdioError::EmptyCommand)
        ));
        assert!(matches!(
            ServerCommand::parse("echo 'unterminated"),
            Err(StdioError::BadQuoting { .. })
        ));
    }
}
