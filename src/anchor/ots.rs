//! OpenTimestamps export: a finished Bitcoin anchor as a standard detached timestamp (`.ots`).
//!
//! An anchor puts the commitment `SHA-256(checkpoint note text)` into an `OP_RETURN` output of
//! a Bitcoin transaction, as one 36-byte push: the tag `VGD1`, then the 32-byte digest. The
//! `.ots` file re-expresses the same facts in the OpenTimestamps format, so that an auditor can
//! check them with the standard `ots` client instead of (or besides) `vanguard verify`: it
//! timestamps the note text, and its operations lead from the note's digest to the Merkle root
//! of the block header at `height`.
//!
//! The file is one linear path (no forks, one attestation), in the format of
//! python-opentimestamps `DetachedTimestampFile` (`opentimestamps/core/timestamp.py`):
//!
//! ```text
//!   magic (31 bytes) 01 08 <SHA-256(note text), 32 bytes>       header, version 1, file hash op
//!   f1 <varbytes prefix> f0 <varbytes suffix> 08 08             the tx around the digest -> txid
//!   f0|f1 <varbytes sibling> 08 08                              once per Merkle tree level
//!   00 05 88 96 0d 73 d7 19 01 <varbytes varuint(height)>       Bitcoin block-header attestation
//! ```
//!
//! `f1` is prepend, `f0` append, `08` SHA-256; `varbytes` is a varuint length then the bytes;
//! varuints are unsigned LEB128. The transaction is taken in its non-witness serialization,
//! whose double SHA-256 is the txid (internal byte order, as the Merkle tree uses it). At each
//! tree level the sibling is prepended when it is the left child and appended when it is the
//! right one; an odd level's last node is paired with itself (Bitcoin's duplication rule).
//!
//! Limits: python-opentimestamps refuses an operation whose message or result is longer than
//! 4096 bytes (`Op.MAX_MSG_LENGTH`, `Op.MAX_RESULT_LENGTH`). The transaction is hashed whole by
//! one SHA-256 operation, so a transaction over 4096 bytes (non-witness) cannot be expressed
//! and is refused: splitting the prefix or suffix would not help, the hashed message would
//! still be the whole transaction. Anchor transactions are a few hundred bytes.

use bitcoin::consensus::encode::serialize;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::hex::DisplayHex;
use bitcoin::merkle_tree::{MerkleBlockError, PartialMerkleTree};
use bitcoin::{MerkleBlock, Transaction, TxMerkleNode, Txid};

/// The tag before the digest in the anchor's `OP_RETURN` push.
const COMMITMENT_TAG: [u8; 4] = *b"VGD1";
/// `OP_RETURN`, then a direct push of 36 bytes (tag and digest).
const OP_RETURN_PUSH_36: [u8; 2] = [0x6a, 0x24];

/// `DetachedTimestampFile.HEADER_MAGIC`.
const HEADER_MAGIC: &[u8; 31] =
    b"\x00OpenTimestamps\x00\x00Proof\x00\xbf\x89\xe2\xe8\x84\xe8\x92\x94";
/// `DetachedTimestampFile.MAJOR_VERSION`.
const MAJOR_VERSION: u8 = 1;
const TAG_SHA256: u8 = 0x08;
const TAG_APPEND: u8 = 0xf0;
const TAG_PREPEND: u8 = 0xf1;
/// Starts an attestation in place of an operation.
const TAG_ATTESTATION: u8 = 0x00;
/// `BitcoinBlockHeaderAttestation.TAG`.
const BITCOIN_ATTESTATION_TAG: [u8; 8] = [0x05, 0x88, 0x96, 0x0d, 0x73, 0xd7, 0x19, 0x01];
/// Longest message an operation may take or produce (`Op.MAX_MSG_LENGTH`,
/// `Op.MAX_RESULT_LENGTH`), and so the longest append/prepend argument.
pub const MAX_OP_LENGTH: usize = 4096;

/// Why an anchor cannot be exported as an OpenTimestamps proof.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtsError {
    /// No output of the transaction is `OP_RETURN` with the push `VGD1 || SHA-256(note text)`:
    /// the transaction anchors something else (another checkpoint, or nothing).
    #[error("transaction {txid} has no OP_RETURN output committing to SHA-256 of this note ({commitment})")]
    CommitmentNotInTx {
        txid: Txid,
        commitment: sha256::Hash,
    },
    /// Two outputs carry the commitment; an anchor transaction has exactly one.
    #[error("transaction {txid} commits to this note twice (outputs {first} and {second})")]
    CommitmentFoundTwice {
        txid: Txid,
        first: usize,
        second: usize,
    },
    /// The transaction's non-witness serialization is longer than an OpenTimestamps operation
    /// may hash.
    #[error("transaction {txid} is {size} bytes without witness; an OpenTimestamps operation takes at most {max}")]
    TxTooLarge { txid: Txid, size: usize, max: usize },
    /// The partial Merkle tree does not decode as Bitcoin Core's `gettxoutproof` format says.
    #[error("the block proof (gettxoutproof) is malformed: {0}")]
    MalformedProof(#[source] MerkleBlockError),
    /// The partial Merkle tree is well formed but its root is not the header's Merkle root.
    #[error("the block proof's Merkle tree has root {computed}, but its header says {header}")]
    RootMismatch {
        header: TxMerkleNode,
        computed: TxMerkleNode,
    },
    /// The partial Merkle tree proves other transactions, not this one.
    #[error("the block proof does not contain transaction {txid} (it proves {matched:?})")]
    TxNotInProof { txid: Txid, matched: Vec<Txid> },
    /// Replaying the operations about to be written did not end at the header's Merkle root.
    /// Never expected; checked so that a wrong file is never written.
    #[error(
        "the OpenTimestamps operations reach {}, not the block's Merkle root {merkle_root}",
        .reached.as_hex()
    )]
    ReplayMismatch {
        reached: Vec<u8>,
        merkle_root: TxMerkleNode,
    },
    /// An operation would take or produce more bytes than OpenTimestamps allows.
    #[error("OpenTimestamps operation {index} would handle {len} bytes (at most {max})")]
    OpTooLong {
        index: usize,
        len: usize,
        max: usize,
    },
}

/// The standard `.ots` file for an anchor: that `note_text` existed no later than the block
/// whose header is in `proof`, at `height`.
///
/// Checks, in order: the commitment `VGD1 || SHA-256(note_text)` is the push of exactly one
/// `OP_RETURN` output of `tx`; the transaction fits an OpenTimestamps operation; `proof` is a
/// well-formed partial Merkle tree whose root is the header's Merkle root; it proves
/// `tx`'s txid; replaying the operations from the note's digest reaches that root. Nothing is
/// returned unless all hold. The header itself (proof-of-work, chain, height) is not checked
/// here: the `ots` client checks it against its own Bitcoin node, by `height`.
pub fn ots_proof(
    note_text: &[u8],
    tx: &Transaction,
    proof: &MerkleBlock,
    height: u32,
) -> Result<Vec<u8>, OtsError> {
    let digest = sha256::Hash::hash(note_text);
    let txid = tx.compute_txid();
    let (raw_tx, at) = locate_commitment(tx, txid, digest)?;
    if raw_tx.len() > MAX_OP_LENGTH {
        return Err(OtsError::TxTooLarge {
            txid,
            size: raw_tx.len(),
            max: MAX_OP_LENGTH,
        });
    }

    let merkle_root = proof.header.merkle_root;
    let index = proven_index(&proof.txn, merkle_root, txid)?;
    // `extract_matches` found `index` matched, so the same walk finds it again.
    let path = merkle_path(&proof.txn, index)
        .map_err(OtsError::MalformedProof)?
        .ok_or_else(|| OtsError::TxNotInProof {
            txid,
            matched: Vec::new(),
        })?;

    let mut ops = Vec::with_capacity(4 + 3 * path.len());
    // Prefix and suffix are never empty for a real transaction (version first, lock time
    // last), but OpenTimestamps forbids empty arguments, so an empty one is left out.
    if at > 0 {
        ops.push(Op::Prepend(raw_tx[..at].to_vec()));
    }
    if at + 32 < raw_tx.len() {
        ops.push(Op::Append(raw_tx[at + 32..].to_vec()));
    }
    ops.extend([Op::Sha256, Op::Sha256]);
    for step in path {
        ops.push(match step {
            Step::Left(sibling) => Op::Prepend(sibling.to_vec()),
            Step::Right(sibling) => Op::Append(sibling.to_vec()),
        });
        ops.extend([Op::Sha256, Op::Sha256]);
    }

    let reached = replay(digest.as_byte_array(), &ops)?;
    if reached != merkle_root.as_byte_array() {
        return Err(OtsError::ReplayMismatch {
            reached,
            merkle_root,
        });
    }
    Ok(encode(digest.as_byte_array(), &ops, height))
}

/// The transaction's non-witness serialization (what its txid hashes) and the offset of the
/// note's digest in it, inside the one `OP_RETURN` output that commits to it.
fn locate_commitment(
    tx: &Transaction,
    txid: Txid,
    digest: sha256::Hash,
) -> Result<(Vec<u8>, usize), OtsError> {
    let mut script = Vec::with_capacity(38);
    script.extend_from_slice(&OP_RETURN_PUSH_36);
    script.extend_from_slice(&COMMITMENT_TAG);
    script.extend_from_slice(digest.as_byte_array());

    // The same fields in the same order as `Transaction::compute_txid`.
    let mut raw = serialize(&tx.version);
    raw.extend(serialize(&tx.input));
    raw.extend(serialize(&bitcoin::VarInt::from(tx.output.len())));
    let mut found: Option<(usize, usize)> = None;
    for (n, output) in tx.output.iter().enumerate() {
        raw.extend(serialize(output));
        if output.script_pubkey.as_bytes() == script.as_slice() {
            if let Some((first, _)) = found {
                return Err(OtsError::CommitmentFoundTwice {
                    txid,
                    first,
                    second: n,
                });
            }
            // The script is the last field of an output and the digest ends the script.
            found = Some((n, raw.len() - 32));
        }
    }
    raw.extend(serialize(&tx.lock_time));
    match found {
        Some((_, at)) => Ok((raw, at)),
        None => Err(OtsError::CommitmentNotInTx {
            txid,
            commitment: digest,
        }),
    }
}

/// The leaf index of `txid` in a partial Merkle tree that is well formed and whose root is
/// `merkle_root` (Bitcoin Core's checks, through `PartialMerkleTree::extract_matches`).
fn proven_index(
    tree: &PartialMerkleTree,
    merkle_root: TxMerkleNode,
    txid: Txid,
) -> Result<u32, OtsError> {
    let mut matched = Vec::new();
    let mut indexes = Vec::new();
    let computed = tree
        .extract_matches(&mut matched, &mut indexes)
        .map_err(OtsError::MalformedProof)?;
    if computed != merkle_root {
        return Err(OtsError::RootMismatch {
            header: merkle_root,
            computed,
        });
    }
    let index = matched.iter().zip(&indexes).find(|(m, _)| **m == txid);
    match index {
        Some((_, &index)) => Ok(index),
        None => Err(OtsError::TxNotInProof { txid, matched }),
    }
}

/// One level of a Merkle path: the sibling hash (internal byte order) and its side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The sibling is the left child: prepend it.
    Left([u8; 32]),
    /// The sibling is the right child (or the node itself, duplicated): append it.
    Right([u8; 32]),
}

/// The Merkle path of leaf `index`, from the leaf up, out of a partial Merkle tree; `None`
/// when that leaf is not matched in it.
///
/// Walks the tree depth-first exactly as Bitcoin Core's `TraverseAndExtract` does, consuming
/// one flag bit per node and one hash per node not descended into; every node's hash is thus
/// known, and the path collects the siblings of the nodes above `index`. A node at `height`
/// covers leaves `[pos << height, (pos + 1) << height)`; a level of odd width pairs its last
/// node with itself.
///
/// ```text
///   height 2:            root
///                      /      \
///   height 1:       n0          n1
///                  /  \        /  (n1 = H(t2 || t2): t2 has no right sibling)
///   height 0:    t0    t1    t2
/// ```
fn merkle_path(
    tree: &PartialMerkleTree,
    index: u32,
) -> Result<Option<Vec<Step>>, MerkleBlockError> {
    let mut walk = Walk {
        tree,
        index,
        bits: 0,
        hashes: 0,
    };
    let mut height = 0;
    while walk.width(height) > 1 {
        height += 1;
    }
    let (_, path) = walk.node(height, 0)?;
    Ok(path)
}

struct Walk<'a> {
    tree: &'a PartialMerkleTree,
    index: u32,
    bits: usize,
    hashes: usize,
}

impl Walk<'_> {
    /// Number of nodes at `height` (`CPartialMerkleTree::CalcTreeWidth`).
    fn width(&self, height: u32) -> u64 {
        let n = u64::from(self.tree.num_transactions());
        (n + (1u64 << height) - 1) >> height
    }

    /// The hash of node (`height`, `pos`) and, when it covers `index` as a matched leaf, the
    /// path from that leaf up to (not including) this node.
    fn node(
        &mut self,
        height: u32,
        pos: u64,
    ) -> Result<([u8; 32], Option<Vec<Step>>), MerkleBlockError> {
        let descend = *self
            .tree
            .bits()
            .get(self.bits)
            .ok_or(MerkleBlockError::BitsArrayOverflow)?;
        self.bits += 1;
        if height == 0 || !descend {
            let hash = self
                .tree
                .hashes()
                .get(self.hashes)
                .ok_or(MerkleBlockError::HashesArrayOverflow)?
                .to_byte_array();
            self.hashes += 1;
            let here = height == 0 && descend && pos == u64::from(self.index);
            return Ok((hash, here.then(Vec::new)));
        }
        let (left, left_path) = self.node(height - 1, pos * 2)?;
        let (right, right_path) = if pos * 2 + 1 < self.width(height - 1) {
            self.node(height - 1, pos * 2 + 1)?
        } else {
            (left, None)
        };
        let path = match (left_path, right_path) {
            (Some(mut path), _) => {
                path.push(Step::Right(right));
                Some(path)
            }
            (None, Some(mut path)) => {
                path.push(Step::Left(left));
                Some(path)
            }
            (None, None) => None,
        };
        Ok((sha256d_pair(&left, &right), path))
    }
}

fn sha256d_pair(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut both = [0u8; 64];
    both[..32].copy_from_slice(left);
    both[32..].copy_from_slice(right);
    bitcoin::hashes::sha256d::Hash::hash(&both).to_byte_array()
}

/// The operations of an OpenTimestamps path that this export uses.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Sha256,
    Append(Vec<u8>),
    Prepend(Vec<u8>),
}

impl Op {
    fn apply(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            Op::Sha256 => sha256::Hash::hash(msg).to_byte_array().to_vec(),
            Op::Append(suffix) => [msg, suffix].concat(),
            Op::Prepend(prefix) => [prefix, msg].concat(),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Op::Sha256 => out.push(TAG_SHA256),
            Op::Append(arg) => {
                out.push(TAG_APPEND);
                write_varbytes(out, arg);
            }
            Op::Prepend(arg) => {
                out.push(TAG_PREPEND);
                write_varbytes(out, arg);
            }
        }
    }
}

/// Applies `ops` to `msg` with python-opentimestamps' limits (`Op.__call__`, `BinaryOp.__new__`):
/// arguments non-empty and at most [`MAX_OP_LENGTH`], messages and results at most that long.
fn replay(msg: &[u8], ops: &[Op]) -> Result<Vec<u8>, OtsError> {
    let too_long = |index, len| OtsError::OpTooLong {
        index,
        len,
        max: MAX_OP_LENGTH,
    };
    let mut msg = msg.to_vec();
    for (index, op) in ops.iter().enumerate() {
        if let Op::Append(arg) | Op::Prepend(arg) = op {
            if arg.is_empty() || arg.len() > MAX_OP_LENGTH {
                return Err(too_long(index, arg.len()));
            }
        }
        if msg.len() > MAX_OP_LENGTH {
            return Err(too_long(index, msg.len()));
        }
        msg = op.apply(&msg);
        if msg.len() > MAX_OP_LENGTH {
            return Err(too_long(index, msg.len()));
        }
    }
    Ok(msg)
}

/// The detached timestamp file: header, SHA-256 file digest, the linear path of `ops` (each
/// node has one operation and no attestation, so no `0xff` fork markers), and the Bitcoin
/// attestation at `height` on the last node.
fn encode(digest: &[u8; 32], ops: &[Op], height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(HEADER_MAGIC);
    out.push(MAJOR_VERSION);
    out.push(TAG_SHA256);
    out.extend_from_slice(digest);
    for op in ops {
        op.encode(&mut out);
    }
    out.push(TAG_ATTESTATION);
    out.extend_from_slice(&BITCOIN_ATTESTATION_TAG);
    let mut payload = Vec::with_capacity(5);
    write_varuint(&mut payload, u64::from(height));
    write_varbytes(&mut out, &payload);
    out
}

/// Unsigned LEB128, as `StreamSerializationContext.write_varuint`.
fn write_varuint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

fn write_varbytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_varuint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varuint(value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        write_varuint(&mut out, value);
        out
    }

    #[test]
    fn varuint_is_unsigned_leb128() {
        assert_eq!(varuint(0), [0x00]);
        assert_eq!(varuint(1), [0x01]);
        assert_eq!(varuint(127), [0x7f]);
        assert_eq!(varuint(128), [0x80, 0x01]);
        assert_eq!(varuint(300), [0xac, 0x02]);
        assert_eq!(varuint(16_384), [0x80, 0x80, 0x01]);
        assert_eq!(varuint(u64::from(u32::MAX)), [0xff, 0xff, 0xff, 0xff, 0x0f]);
    }

    /// Produced by python-opentimestamps 0.4.5 (tests/requirements.txt), in the repo's venv:
    ///
    /// ```text
    /// .venv/bin/python -c '
    /// import hashlib
    /// from opentimestamps.core.timestamp import Timestamp, DetachedTimestampFile
    /// from opentimestamps.core.op import OpSHA256, OpAppend, OpPrepend
    /// from opentimestamps.core.notary import BitcoinBlockHeaderAttestation
    /// from opentimestamps.core.serialize import BytesSerializationContext
    /// t = Timestamp(hashlib.sha256(b"vanguard\n").digest())
    /// s = t.ops.add(OpPrepend(b"\x01\x02")).ops.add(OpAppend(b"\x03")).ops.add(OpSHA256()).ops.add(OpSHA256())
    /// s = s.ops.add(OpPrepend(bytes([0x11])*32)).ops.add(OpSHA256()).ops.add(OpSHA256())
    /// s.attestations.add(BitcoinBlockHeaderAttestation(300))
    /// c = BytesSerializationContext(); DetachedTimestampFile(OpSHA256(), t).serialize(c)
    /// print(c.getbytes().hex()); print(s.msg.hex())'
    /// ```
    const GOLDEN_OTS: &str = "004f70656e54696d657374616d7073000050726f6f6600bf89e2e884e8929401\
        08cd03c06f3e205383da1bb11d4b203fb6cb016e5092b0f3759700a30e706a3a12f1020102f00103080\
        8f1201111111111111111111111111111111111111111111111111111111111111111080800058896\
        0d73d7190102ac02";
    const GOLDEN_RESULT: &str = "636ed7b83a767b4a1c4b07dee4b85e1a97a2c753400f1ee172606ab90d77b691";

    #[test]
    fn encoding_matches_python_opentimestamps() {
        let digest = sha256::Hash::hash(b"vanguard\n");
        let ops = [
            Op::Prepend(vec![1, 2]),
            Op::Append(vec![3]),
            Op::Sha256,
            Op::Sha256,
            Op::Prepend(vec![0x11; 32]),
            Op::Sha256,
            Op::Sha256,
        ];
        let ots = encode(digest.as_byte_array(), &ops, 300);
        assert_eq!(ots.to_lower_hex_string(), GOLDEN_OTS);
        let reached = replay(digest.as_byte_array(), &ops).expect("within limits");
        assert_eq!(reached.to_lower_hex_string(), GOLDEN_RESULT);
    }

    #[test]
    fn replay_enforces_opentimestamps_limits() {
        let at_limit = vec![7u8; MAX_OP_LENGTH - 32];
        let ok =
            replay(&[0; 32], &[Op::Append(at_limit), Op::Sha256]).expect("4096 bytes is allowed");
        assert_eq!(ok.len(), 32);

        let over = vec![7u8; MAX_OP_LENGTH - 31];
        match replay(&[0; 32], &[Op::Sha256, Op::Prepend(over)]) {
            Err(OtsError::OpTooLong {
                index: 1,
                len: 4097,
                max: 4096,
            }) => {}
            other => panic!("expected OpTooLong for a 4097-byte result, got {other:?}"),
        }
        match replay(&[0; 32], &[Op::Append(Vec::new())]) {
            Err(OtsError::OpTooLong {
                index: 0, len: 0, ..
            }) => {}
            other => panic!("expected an empty argument to be refused, got {other:?}"),
        }
    }

    fn txids(n: u32) -> Vec<Txid> {
        (0..n).map(|i| Txid::hash(&i.to_le_bytes())).collect()
    }

    fn climb(leaf: Txid, path: &[Step]) -> [u8; 32] {
        path.iter()
            .fold(leaf.to_byte_array(), |node, step| match step {
                Step::Left(sibling) => sha256d_pair(sibling, &node),
                Step::Right(sibling) => sha256d_pair(&node, sibling),
            })
    }

    /// Every leaf of every tree size up to 40 (odd widths at several levels), alone and
    /// together with another matched leaf: the path climbs to the root the `bitcoin` crate
    /// computes from all txids, has one step per level, and its sides follow the index bits.
    #[test]
    fn merkle_path_reaches_the_root_for_every_leaf() {
        for n in 1..=40u32 {
            let ids = txids(n);
            let root: TxMerkleNode = bitcoin::merkle_tree::calculate_root(
                ids.iter()
                    .map(|t| TxMerkleNode::from_byte_array(t.to_byte_array())),
            )
            .expect("non-empty");
            let levels = (32 - (n - 1).leading_zeros()) as usize;
            for index in 0..n {
                for other in [None, Some((index + n / 2 + 1) % n)] {
                    let matches: Vec<bool> =
                        (0..n).map(|i| i == index || Some(i) == other).collect();
                    let tree = PartialMerkleTree::from_txids(&ids, &matches);
                    let path = merkle_path(&tree, index)
                        .expect("well formed")
                        .expect("index is matched");
                    assert_eq!(path.len(), levels, "n={n} index={index}");
                    assert_eq!(
                        climb(ids[index as usize], &path),
                        root.to_byte_array(),
                        "n={n} index={index}"
                    );
                    for (level, step) in path.iter().enumerate() {
                        let is_right_child = (index >> level) & 1 == 1;
                        assert_eq!(
                            matches!(step, Step::Left(_)),
                            is_right_child,
                            "n={n} index={index} level={level}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn merkle_path_of_an_unmatched_leaf_is_refused() {
        let ids = txids(6);
        let matches = [false, false, true, false, false, false];
        let tree = PartialMerkleTree::from_txids(&ids, &matches);
        assert!(matches!(merkle_path(&tree, 2), Ok(Some(_))));
        assert!(matches!(merkle_path(&tree, 3), Ok(None)));
        assert!(matches!(merkle_path(&tree, 9), Ok(None)));
    }
}
