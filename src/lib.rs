//! Vanguard: a security proxy and flight recorder for the Model Context Protocol.
//!
//! The library holds everything the `vanguard` binary runs: the transports that sit between an
//! agent and its MCP servers ([`proxy`]) and the inspection layers that decide what passes
//! ([`inspect`]). Wire formats for the ledger and every check an auditor runs live in the separate
//! `vanguard-verifier` crate, so that it can be read and trusted alone.
//!
//! What it does *not* do: it never rewrites a message it forwards. Normalisation produces views
//! for inspection only; the bytes a tool receives are the bytes the agent sent.

pub mod anchor;
pub mod inspect;
pub mod ledger;
pub mod proxy;
