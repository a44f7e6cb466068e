//! Anchors (DESIGN.md section 6): evidence outside the ledger that it existed in a given
//! state.
//!
//! - [`bitcoin`]: commits a signed checkpoint to the Bitcoin chain through a Bitcoin Core
//!   node's wallet, collects the proof once it is mined, and records both steps as ledger
//!   events. The format and every check belong to `vanguard_verifier::anchor`.

pub mod bitcoin;
