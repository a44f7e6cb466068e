//! Anchors (DESIGN.md section 6): evidence outside the ledger that it existed in a given
//! state, and records of refusals kept by someone else.
//!
//! - [`bitcoin`]: commits a signed checkpoint to the Bitcoin chain through a Bitcoin Core
//!   node's wallet, collects the proof once it is mined, and records both steps as ledger
//!   events. The format and every check belong to `vanguard_verifier::anchor`.
//! - [`ots`]: a finished Bitcoin anchor exported as an OpenTimestamps proof.
//! - [`vex`]: blocked intents delivered to the VEX audit service from a durable outbox.

pub mod bitcoin;
pub mod ots;
pub mod vex;
