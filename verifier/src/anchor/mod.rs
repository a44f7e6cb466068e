//! Bitcoin anchors (DESIGN.md section 6): proof that a signed checkpoint existed no later than
//! a Bitcoin block.
//!
//! - `commitment`: what goes into the chain (`OP_RETURN "VGD1" ‖ SHA-256(note)`);
//! - `network`: the networks and their proof-of-work limits;
//! - `proof`: the anchor's JSON format, carried in receipts and slices;
//! - `headers`: what the auditor trusts about the chain (`--trusted-block`, `--headers`);
//! - `verify`: the checks, in order ([`verify_bitcoin_anchor`]).
//!
//! An anchor does not prove *when* the block was made beyond what Bitcoin's consensus
//! enforces (a block's timestamp may run up to two hours ahead of the network's time), and
//! proves nothing at all on networks where blocks are free (regtest, test, signet).

mod commitment;
mod headers;
mod network;
mod proof;
mod verify;

pub use commitment::{
    commitment_digest, commitment_payload, commitment_script, find_commitment, tagged_digests,
    COMMITMENT_LEN, COMMITMENT_TAG,
};
pub use headers::{HeaderChain, TrustInputError, TrustedBlock, MAX_HEADERS};
pub use network::{AnchorNetwork, UnknownNetwork};
pub use proof::{
    AnchorFormatError, BitcoinAnchor, DecodedAnchor, BITCOIN_ANCHOR_TYPE, MAX_ANCHOR_TX,
    MAX_TXOUTPROOF,
};
pub(crate) use verify::verify_anchor_logged;
pub use verify::{verify_bitcoin_anchor, AnchorError, AnchorInfo, AnchorOptions};
