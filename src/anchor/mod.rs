//! Bitcoin anchors of ledger checkpoints: [`ots`] exports a finished anchor as an OpenTimestamps proof.

pub mod ots;
