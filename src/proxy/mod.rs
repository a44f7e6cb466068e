//! Transports between an agent and its MCP server, and the message pump they share.
//!
//! - [`framing`]: newline-delimited lines of any size up to a limit.
//! - [`glimpse`]: the JSON-RPC id of an oversized line, from the ends of it that were kept.
//! - [`jsonrpc`]: the one place where decisions become JSON-RPC error replies.
//! - [`pump`]: inspect each line of one direction and route it (forward, answer, or withhold).
//! - [`stdio`] (with `agent_io`, our own stdin/stdout): the stdio transport: a child process, signals and exit codes.

mod agent_io;
pub mod framing;
pub mod glimpse;
pub mod jsonrpc;
pub mod pump;
pub mod stdio;
mod writer;
