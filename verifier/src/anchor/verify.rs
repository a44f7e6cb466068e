//! Checking a Bitcoin anchor offline: the anchored checkpoint, its link to the receipt's or
//! slice's checkpoint, the commitment in the transaction, the transaction in the block, the
//! block's proof-of-work, and (if the auditor supplies them) the block's place in a chain the
//! auditor trusts. See [`verify_bitcoin_anchor`] for the checks in order.

use bitcoin::block::Header;
use serde::Serialize;

use crate::checkpoint::{verify_checkpoint, CheckpointError, VerifiedCheckpoint};
use crate::hash::Hash;
use crate::note::VerifierKey;
use crate::proof::verify_consistency;
use crate::report::{CheckName, Log};

use super::commitment::{commitment_digest, find_commitment, tagged_digests};
use super::headers::{HeaderChain, TrustedBlock};
use super::network::AnchorNetwork;
use super::proof::{AnchorFormatError, BitcoinAnchor};

/// What the auditor brings to anchor verification (`--network`, `--trusted-block`,
/// `--headers`).
#[derive(Debug, Clone, Default)]
pub struct AnchorOptions {
    /// The network to check against; `None` takes the one the proof names.
    pub network: Option<AnchorNetwork>,
    /// Blocks the auditor trusts.
    pub trusted_blocks: Vec<TrustedBlock>,
    /// A header chain the auditor trusts.
    pub headers: Option<HeaderChain>,
}

/// Why an anchor did not verify. [`AnchorError::check`] names the check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnchorError {
    /// The anchor's fields could not be read.
    #[error(transparent)]
    Format(#[from] AnchorFormatError),
    /// The proof names another network than the auditor asked for.
    #[error("the anchor is on {proof}, but --network {wanted} was asked for")]
    Network {
        /// The proof's network.
        proof: AnchorNetwork,
        /// The auditor's.
        wanted: AnchorNetwork,
    },
    /// The anchored checkpoint does not verify with the trusted keys.
    #[error("anchored checkpoint: {0}")]
    Checkpoint(#[source] CheckpointError),
    /// The anchored checkpoint is of another log.
    #[error("anchored checkpoint is of {anchored}, not of {base}")]
    Origin {
        /// The anchored checkpoint's origin.
        anchored: String,
        /// The base checkpoint's origin.
        base: String,
    },
    /// The anchored checkpoint does not contain what it must vouch for.
    #[error("anchored checkpoint has {size} entries; it must cover the first {needed}")]
    Covers {
        /// Its size.
        size: u64,
        /// Entries it must contain.
        needed: u64,
    },
    /// The consistency proof does not link the two checkpoints.
    #[error("checkpoint of size {old_size} is not proven a prefix of size {new_size}: {message}")]
    Consistency {
        /// The smaller size.
        old_size: u64,
        /// The larger size.
        new_size: u64,
        /// What failed.
        message: String,
    },
    /// The transaction has no output committing to the anchored checkpoint.
    #[error("transaction {txid} has no OP_RETURN output committing to SHA-256 {want} of the anchored checkpoint (tagged commitments found: {found})")]
    Commitment {
        /// The transaction id.
        txid: String,
        /// The digest wanted.
        want: Hash,
        /// Tagged digests found instead, comma separated, or `none`.
        found: String,
    },
    /// The partial Merkle tree is malformed or does not match the transaction.
    #[error("transaction {txid} is not proven in the block: {message}")]
    TxInBlock {
        /// The transaction id.
        txid: String,
        /// Why.
        message: String,
    },
    /// The partial Merkle tree's root is not the header's Merkle root.
    #[error("partial Merkle tree root {computed} is not the header's Merkle root {header}")]
    MerkleRoot {
        /// Root computed from the partial tree.
        computed: String,
        /// Root in the header.
        header: String,
    },
    /// The header's proof-of-work is invalid.
    #[error("block {block}: {message}")]
    ProofOfWork {
        /// The block hash.
        block: String,
        /// Why.
        message: String,
    },
    /// The proof's `block_hash` is not the header's hash.
    #[error("anchor names block {claimed}, but its header hashes to {actual}")]
    BlockHash {
        /// Claimed.
        claimed: String,
        /// Computed.
        actual: String,
    },
    /// The block is not in the chain the auditor trusts, or the claimed height disagrees.
    #[error("{message}")]
    Chain {
        /// Why.
        message: String,
        /// Whether the auditor's own input is at fault (a header chain with bad work).
        unusable: bool,
    },
}

impl AnchorError {
    /// The check that failed.
    pub fn check(&self) -> CheckName {
        match self {
            AnchorError::Format(_) => CheckName::AnchorFormat,
            AnchorError::Network { .. } => CheckName::AnchorNetwork,
            AnchorError::Checkpoint(_) | AnchorError::Origin { .. } => CheckName::AnchorCheckpoint,
            AnchorError::Covers { .. } => CheckName::AnchorCovers,
            AnchorError::Consistency { .. } => CheckName::AnchorConsistency,
            AnchorError::Commitment { .. } => CheckName::AnchorCommitment,
            AnchorError::TxInBlock { .. } => CheckName::AnchorTxInBlock,
            AnchorError::MerkleRoot { .. } => CheckName::AnchorMerkleRoot,
            AnchorError::ProofOfWork { .. } | AnchorError::BlockHash { .. } => {
                CheckName::AnchorProofOfWork
            }
            AnchorError::Chain { .. } => CheckName::AnchorChain,
        }
    }

    /// Whether the failure is in the auditor's input rather than the anchor.
    pub fn is_unusable(&self) -> bool {
        matches!(self, AnchorError::Chain { unusable: true, .. })
    }
}

/// What a verified anchor establishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnchorInfo {
    /// The network checked against.
    pub network: String,
    /// The block hash (RPC byte order).
    pub block_hash: String,
    /// The header's timestamp, seconds since 1970.
    pub block_time: u32,
    /// The same, RFC 3339 UTC: the anchored checkpoint existed no later than this (within
    /// the tolerance Bitcoin allows a block's timestamp, about two hours).
    pub existed_no_later_than: String,
    /// The block's height: bound by the auditor's headers or trusted block, else the
    /// producer's unauthenticated claim (see `height_source`).
    pub height: Option<u64>,
    /// `headers`, `trusted_block`, `claimed` or `unknown`.
    pub height_source: &'static str,
    /// Whether the block is bound to a chain the auditor trusts.
    pub bound: bool,
    /// Confirmations up to the tip of the auditor's headers (with `--headers`).
    pub confirmations: Option<u64>,
    /// The committing transaction's id.
    pub txid: String,
    /// Index of the OP_RETURN output.
    pub vout: usize,
    /// The anchored checkpoint's tree size.
    pub checkpoint_size: u64,
    /// Its root (hex).
    pub checkpoint_root: String,
    /// SHA-256 of the anchored checkpoint note (hex): the commitment.
    pub commitment: String,
}

/// Checks `header`'s proof-of-work: its target is no easier than `network`'s limit, and its
/// hash meets its target. `Err` says which.
pub(crate) fn check_header_work(header: &Header, network: AnchorNetwork) -> Result<(), String> {
    let target = header.target();
    if target > network.max_target() {
        return Err(format!(
            "target {:#010x} is easier than the {network} network's limit {:#010x}",
            header.bits.to_consensus(),
            network.max_target().to_compact_lossy().to_consensus()
        ));
    }
    header
        .validate_pow(target)
        .map(|_| ())
        .map_err(|e| format!("hash {} does not meet its target: {e}", header.block_hash()))
}

/// Verifies a Bitcoin anchor for a receipt or slice whose checkpoint `base` verified, and
/// whose entries `[.., needed)` the anchored checkpoint must contain.
///
/// Checks, in order (each a [`CheckName`]):
/// 1. `anchor_format`: every field decodes ([`BitcoinAnchor::decode`]);
/// 2. `anchor_network`: the network to check against is `--network` if given, and the proof
///    must name that network; otherwise the proof's;
/// 3. `anchor_checkpoint`: the anchored checkpoint verifies with the `trusted` keys and is of
///    `base`'s origin;
/// 4. `anchor_covers`: its size is at least `needed`;
/// 5. `anchor_consistency`: the consistency proof proves the smaller of the two trees a
///    prefix of the larger (RFC 9162 2.1.4.2; equal sizes need equal roots);
/// 6. `anchor_commitment`: an output of the transaction is exactly `OP_RETURN
///    "VGD1" ‖ SHA-256(anchored note)`;
/// 7. `anchor_tx_in_block`: the partial Merkle tree is well formed and matches the
///    transaction's id;
/// 8. `anchor_merkle_root`: the tree's root is the header's Merkle root;
/// 9. `anchor_proof_of_work`: the header's target is within the network's limit and its hash
///    meets it; a claimed `block_hash` is the header's;
/// 10. `anchor_chain` (with `--headers` or `--trusted-block`): the block is in the auditor's
///     header chain (whose every header has valid work) or is a trusted block; the claimed
///     height, if any, is the bound one.
pub fn verify_bitcoin_anchor(
    anchor: &BitcoinAnchor,
    base: &VerifiedCheckpoint,
    needed: u64,
    trusted: &[VerifierKey],
    options: &AnchorOptions,
) -> Result<AnchorInfo, AnchorError> {
    verify_anchor_logged(anchor, base, needed, trusted, options, &mut Log::default())
}

pub(crate) fn verify_anchor_logged(
    anchor: &BitcoinAnchor,
    base: &VerifiedCheckpoint,
    needed: u64,
    trusted: &[VerifierKey],
    options: &AnchorOptions,
    log: &mut Log,
) -> Result<AnchorInfo, AnchorError> {
    let decoded = anchor.decode()?;
    let txid = decoded.tx.compute_txid();
    log.pass(
        CheckName::AnchorFormat,
        format!(
            "bitcoin anchor: transaction {txid}, MerkleBlock of {} transactions",
            decoded.merkle_block.txn.num_transactions()
        ),
    );

    let network = match options.network {
        Some(wanted) if wanted != decoded.network => {
            return Err(AnchorError::Network {
                proof: decoded.network,
                wanted,
            })
        }
        Some(wanted) => {
            log.pass(CheckName::AnchorNetwork, format!("{wanted} (--network)"));
            wanted
        }
        None => {
            log.pass(
                CheckName::AnchorNetwork,
                format!(
                    "{} (named by the proof; pass --network to insist on one)",
                    decoded.network
                ),
            );
            decoded.network
        }
    };
    if network.is_test() {
        log.warn(format!(
            "!!! ANCHOR ON BITCOIN {}: blocks on this network cost next to nothing to make \
             {}, so this anchor does NOT prove when the checkpoint existed. Use mainnet \
             anchors for evidence.",
            network.as_str().to_uppercase(),
            if network == AnchorNetwork::Regtest {
                "(anyone mines them instantly, with any timestamp)"
            } else {
                "(test coins are free)"
            }
        ));
    }

    let anchored = verify_checkpoint(decoded.checkpoint.as_bytes(), trusted)
        .map_err(AnchorError::Checkpoint)?;
    if anchored.origin() != base.origin() {
        return Err(AnchorError::Origin {
            anchored: anchored.origin().to_string(),
            base: base.origin().to_string(),
        });
    }
    log.pass(
        CheckName::AnchorCheckpoint,
        crate::report::describe_checkpoint(&anchored),
    );

    if anchored.size() < needed {
        return Err(AnchorError::Covers {
            size: anchored.size(),
            needed,
        });
    }
    log.pass(
        CheckName::AnchorCovers,
        format!(
            "anchored checkpoint of size {} covers the first {needed} entries",
            anchored.size()
        ),
    );

    let (old, new) = if anchored.size() <= base.size() {
        (&anchored, base)
    } else {
        (base, &anchored)
    };
    verify_consistency(
        old.size(),
        new.size(),
        &decoded.consistency,
        old.root(),
        new.root(),
    )
    .map_err(|e| AnchorError::Consistency {
        old_size: old.size(),
        new_size: new.size(),
        message: e.to_string(),
    })?;
    log.pass(
        CheckName::AnchorConsistency,
        format!(
            "the tree of size {} is a prefix of the tree of size {} ({} proof hashes)",
            old.size(),
            new.size(),
            decoded.consistency.len()
        ),
    );

    let digest = commitment_digest(&decoded.checkpoint);
    let vout = find_commitment(&decoded.tx, &decoded.checkpoint).ok_or_else(|| {
        let found: Vec<String> = tagged_digests(&decoded.tx)
            .iter()
            .map(Hash::to_string)
            .collect();
        AnchorError::Commitment {
            txid: txid.to_string(),
            want: digest,
            found: if found.is_empty() {
                "none".into()
            } else {
                found.join(", ")
            },
        }
    })?;
    log.pass(
        CheckName::AnchorCommitment,
        format!("output {vout} of transaction {txid} is OP_RETURN VGD1 {digest}"),
    );

    let mut matches = Vec::new();
    let mut indexes = Vec::new();
    let root = decoded
        .merkle_block
        .txn
        .extract_matches(&mut matches, &mut indexes)
        .map_err(|e| AnchorError::TxInBlock {
            txid: txid.to_string(),
            message: format!("malformed partial Merkle tree: {e}"),
        })?;
    let position =
        matches
            .iter()
            .position(|m| *m == txid)
            .ok_or_else(|| AnchorError::TxInBlock {
                txid: txid.to_string(),
                message: format!(
                    "the partial Merkle tree matches {} instead",
                    if matches.is_empty() {
                        "no transaction".to_owned()
                    } else {
                        matches
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            })?;
    log.pass(
        CheckName::AnchorTxInBlock,
        format!(
            "transaction {txid} is transaction {} of {} in the partial Merkle tree",
            indexes.get(position).copied().unwrap_or_default(),
            decoded.merkle_block.txn.num_transactions()
        ),
    );

    let header = &decoded.merkle_block.header;
    if root != header.merkle_root {
        return Err(AnchorError::MerkleRoot {
            computed: root.to_string(),
            header: header.merkle_root.to_string(),
        });
    }
    log.pass(
        CheckName::AnchorMerkleRoot,
        format!("root {root} is the header's Merkle root"),
    );

    let block_hash = header.block_hash();
    check_header_work(header, network).map_err(|message| AnchorError::ProofOfWork {
        block: block_hash.to_string(),
        message,
    })?;
    if let Some(claimed) = decoded.block_hash.filter(|c| *c != block_hash) {
        return Err(AnchorError::BlockHash {
            claimed: claimed.to_string(),
            actual: block_hash.to_string(),
        });
    }
    log.pass(
        CheckName::AnchorProofOfWork,
        format!(
            "block {block_hash}: hash meets its target {:#010x}, within the {network} limit",
            header.bits.to_consensus()
        ),
    );

    let mut info = AnchorInfo {
        network: network.as_str().into(),
        block_hash: block_hash.to_string(),
        block_time: header.time,
        existed_no_later_than: rfc3339_utc(u64::from(header.time)),
        height: decoded.height,
        height_source: if decoded.height.is_some() {
            "claimed"
        } else {
            "unknown"
        },
        bound: false,
        confirmations: None,
        txid: txid.to_string(),
        vout,
        checkpoint_size: anchored.size(),
        checkpoint_root: anchored.root().to_string(),
        commitment: digest.to_string(),
    };
    bind_to_chain(
        &mut info,
        &block_hash,
        decoded.height,
        network,
        options,
        log,
    )?;
    Ok(info)
}

/// The `anchor_chain` check: binds the block to the auditor's headers or trusted blocks.
fn bind_to_chain(
    info: &mut AnchorInfo,
    block: &bitcoin::BlockHash,
    claimed: Option<u64>,
    network: AnchorNetwork,
    options: &AnchorOptions,
    log: &mut Log,
) -> Result<(), AnchorError> {
    let chain_err = |message: String| AnchorError::Chain {
        message,
        unusable: false,
    };
    let mut bound: Option<(u64, &'static str)> = None;
    let mut detail = Vec::new();
    if let Some(chain) = &options.headers {
        chain
            .check_work(network)
            .map_err(|(height, why)| AnchorError::Chain {
                message: format!(
                    "the --headers chain is not valid: header at height {height}: {why}"
                ),
                unusable: true,
            })?;
        for t in &options.trusted_blocks {
            match (chain.height_of(&t.hash), t.height) {
                (None, _) => {
                    return Err(AnchorError::Chain {
                        message: format!("trusted block {} is not in the --headers chain", t.hash),
                        unusable: true,
                    })
                }
                (Some(h), Some(want)) if h != want => {
                    return Err(AnchorError::Chain {
                        message: format!(
                            "trusted block {} is at height {h} of the --headers chain, not {want}",
                            t.hash
                        ),
                        unusable: true,
                    })
                }
                _ => {}
            }
        }
        let height = chain.height_of(block).ok_or_else(|| {
            chain_err(format!(
                "block {block} is not in the --headers chain (heights {} to {})",
                chain.start(),
                chain.tip()
            ))
        })?;
        let confirmations = chain.tip() - height + 1;
        info.confirmations = Some(confirmations);
        detail.push(format!(
            "block is at height {height} of the --headers chain ({} headers, tip {}), {confirmations} confirmation(s)",
            chain.tip() - chain.start() + 1,
            chain.tip()
        ));
        if !options.trusted_blocks.is_empty() {
            detail.push("the chain contains every --trusted-block".into());
        }
        bound = Some((height, "headers"));
    } else if !options.trusted_blocks.is_empty() {
        let t = options
            .trusted_blocks
            .iter()
            .find(|t| t.hash == *block)
            .ok_or_else(|| {
                chain_err(format!(
                    "block {block} is none of the --trusted-block hashes (give --headers to \
                     accept a block below a trusted one)"
                ))
            })?;
        detail.push(format!("block {block} is a --trusted-block"));
        match t.height {
            Some(h) => bound = Some((h, "trusted_block")),
            None => {
                info.bound = true;
            }
        }
    }
    if let Some((height, source)) = bound {
        if let Some(c) = claimed.filter(|c| *c != height) {
            return Err(chain_err(format!(
                "the anchor claims height {c}, but the block is at height {height}"
            )));
        }
        info.height = Some(height);
        info.height_source = source;
        info.bound = true;
    }
    if info.bound {
        log.pass(CheckName::AnchorChain, detail.join("; "));
    } else {
        log.warn(format!(
            "the anchor's block {block} is not bound to a chain you trust: its header has \
             valid proof-of-work, but it could be a block made only for this proof. Bind it \
             with --headers FILE or --trusted-block HASH[:HEIGHT] (a hash from your own node \
             or several explorers){}",
            match claimed {
                Some(h) => format!("; its claimed height {h} is unverified"),
                None => String::new(),
            }
        ));
    }
    Ok(())
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since 1970 (proleptic Gregorian, UTC).
pub(crate) fn rfc3339_utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Days to civil date (Howard Hinnant's algorithm), for days >= 0.
    let z = days as i64 + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_answers() {
        // `date -u -d @0`, `date -u -d @1231006505` (the genesis block), `@951782400`.
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(1_231_006_505), "2009-01-03T18:15:05Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(4_294_967_295), "2106-02-07T06:28:15Z");
    }
}
