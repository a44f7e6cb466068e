//! Bitcoin anchoring through a Bitcoin Core node (DESIGN.md section 6; formats and checks in
//! `vanguard_verifier::anchor`).
//!
//! - [`rpc`]: the JSON-RPC client (cookie or user/password auth, Bitcoin Core's errors);
//! - [`events`]: anchors as ledger events, and finding the one that covers a receipt;
//! - [`flow`]: `commit` and `complete`, the two recorded steps;
//! - [`schedule`]: both on an interval, from a running proxy.

pub mod events;
pub mod flow;
pub mod rpc;
pub mod schedule;

pub use flow::{commit, complete, AnchorFlowError, Completion, Node};
pub use rpc::{RpcAuth, RpcClient, RpcError};
