//! The VEX outbox: blocked intents delivered to the VEX audit service, durably.
//!
//! When VEX is configured (`VANGUARD_VEX_URL`), every block verdict queues a record in the
//! ledger's `vex_outbox` table in the same redb transaction as the blocked message's entry;
//! a background task ([`Delivery`]) sends each record to VEX, follows the job VEX queues for
//! it, and records VEX's answers as ledger events that name the blocked entry's seq. A record
//! leaves the outbox in the same transaction that records its final answer, so a crash
//! anywhere loses nothing and records nothing twice. The proxy never waits on VEX.
//!
//! - [`record`]: the outbox record, the outbox changes the writer applies, the report sent;
//! - [`outbox`]: the table (writes inside the ledger writer's transaction, reads, status);
//! - [`client`]: the VEX HTTP API;
//! - [`deliver`]: the delivery task and its retry policy.
//!
//! `docs/vex.md` states the contract assumed, the guarantees and the crash windows.

pub mod client;
pub mod deliver;
pub mod outbox;
pub mod record;

pub use client::{VexClient, VexError};
pub use deliver::{Delivery, VexConfig};
pub use outbox::{status, Status};
pub use record::{BlockedIntent, IntentReport, OutboxItem, OutboxOp, Progress};
