//! Anchors: evidence about the ledger that lives outside it.
//!
//! - [`vex`]: blocked intents delivered to the VEX audit service from a durable outbox.

pub mod vex;
