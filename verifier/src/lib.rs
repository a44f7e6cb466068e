//! Offline verification of Vanguard ledgers: the single source of truth for every wire format
//! (entries, checkpoints, receipts, slices) and every check an auditor runs.
//!
//! What it does *not* do: network, storage, clocks or async. Time arrives as an argument, files
//! arrive as bytes, and nothing here trusts a key found inside the data it checks.
#![forbid(unsafe_code)]
