//! The agent's side of the stdio transport: our own stdin and stdout.
//!
//! `tokio::io::stdin()`/`stdout()` hand every read and write to a blocking thread, which costs
//! two thread hand-offs per message and a third of the proxy's CPU under load. MCP clients
//! always connect over pipes, and a pipe can be driven by the reactor directly: we take a
//! duplicate of the descriptor in non-blocking mode. Terminals, files and sockets keep the
//! portable path.

use std::os::fd::{AsFd, OwnedFd};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::unix::pipe;

pub type Input = Box<dyn AsyncRead + Unpin + Send>;
pub type Output = Box<dyn AsyncWrite + Unpin + Send>;

/// Our stdin, through the reactor when it is a pipe. Must run inside the runtime.
pub fn input() -> Input {
    match duplicate(std::io::stdin().as_fd()).and_then(pipe::Receiver::from_owned_fd) {
        Ok(pipe) => Box::new(pipe),
        Err(e) => {
            tracing::debug!(reason = %e, "stdin is not a pipe; reading it on a blocking thread");
            Box::new(tokio::io::stdin())
        }
    }
}

/// Our stdout, through the reactor when it is a pipe. Must run inside the runtime.
pub fn output() -> Output {
    match duplicate(std::io::stdout().as_fd()).and_then(pipe::Sender::from_owned_fd) {
        Ok(pipe) => Box::new(pipe),
        Err(e) => {
            tracing::debug!(reason = %e, "stdout is not a pipe; writing it on a blocking thread");
            Box::new(tokio::io::stdout())
        }
    }
}

/// A second descriptor for the same pipe, so dropping ours never closes fd 0 or 1. (The
/// non-blocking flag belongs to the shared open file, which only this process uses.)
fn duplicate(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<OwnedFd> {
    fd.try_clone_to_owned()
}
