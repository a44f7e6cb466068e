//! Anchors: evidence about the ledger that lives outside it.
//!
//! - [`ots`]: a finished Bitcoin anchor exported as an OpenTimestamps proof;
//! - [`vex`]: blocked intents delivered to the VEX audit service from a durable outbox.

pub mod ots;
pub mod vex;
