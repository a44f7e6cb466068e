//! All RFC 6962 / RFC 9162 Merkle tree math: the stored-hash layout the ledger keeps, the
//! proofs it serves, and the checks an auditor runs.
//!
//! The tree over leaves `d[0..n)` is RFC 9162 section 2.1.1's `MTH`: the left child of a node
//! covering `n > 1` leaves holds the largest power of two `k < n` leaves.
//!
//! # Stored hashes
//!
//! Following Go's `golang.org/x/mod/sumdb/tlog`, the ledger stores every *complete* subtree
//! hash exactly once, in the order they become known. Appending leaf `n` appends its leaf hash
//! and then one hash per subtree that leaf completes (one per trailing 1 bit of `n`): about two
//! hashes per entry. `(level, n)` names the subtree covering leaves `[n·2^level, (n+1)·2^level)`.
//!
//! ```text
//! level 2:              6
//!                  /         \
//! level 1:       2             5              9
//!               / \           / \            / \
//! level 0:     0   1         3   4          7   8
//! leaf:        0   1         2   3          4   5
//! ```
//!
//! Numbers in the diagram are [`stored_hash_index`] values. A tree of any size is a sequence
//! of complete subtrees (one per set bit of the size), so every root and proof is O(log n)
//! stored-hash reads, fetched in one [`HashReader::read_hashes`] call.
//!
//! # Two independent verifiers
//!
//! [`check_record`] and [`check_tree`] walk the tree recursively the way the prover built the
//! proof (as `tlog` does); [`verify_inclusion`] and [`verify_consistency`] chain hashes
//! bottom-up from the bit patterns of the index and sizes (as `transparency-dev/merkle`
//! `proof/verify.go` does). Both accept exactly the RFC 9162 proof encodings; the tests hold
//! them to each other and to a naive recursive reference.

use crate::hash::{empty_root, leaf_hash, node_hash, Hash};

/// Largest tree size the stored-hash functions accept, so that index arithmetic cannot
/// overflow (`stored_hash_index(0, n) < 2n`). The ledger stays far below it: entries are
/// numbered up to 2^53.
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// Why a proof could not be produced or did not verify. Each variant carries the values that
/// disagreed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// A leaf index is not inside the tree (`index < size` is required).
    #[error("leaf index {index} is out of range for tree size {size}")]
    IndexOutOfRange {
        /// The leaf index given.
        index: u64,
        /// The tree size given.
        size: u64,
    },
    /// Two tree sizes violate `0 < old <= new`.
    #[error("tree sizes must satisfy 0 < old <= new, got old {old} and new {new}")]
    SizeOrder {
        /// The older (smaller) size given.
        old: u64,
        /// The newer (larger) size given.
        new: u64,
    },
    /// A range `[begin, end)` of leaves violates `begin < end <= size`.
    #[error("leaf range [{begin}, {end}) is empty or outside tree size {size}")]
    RangeInvalid {
        /// First leaf of the range.
        begin: u64,
        /// One past the last leaf.
        end: u64,
        /// The tree size.
        size: u64,
    },
    /// A tree size above [`MAX_TREE_SIZE`].
    #[error("tree size {size} exceeds the maximum {max}")]
    TreeTooLarge {
        /// The size given.
        size: u64,
        /// [`MAX_TREE_SIZE`].
        max: u64,
    },
    /// The proof has the wrong number of hashes for the sizes and index it claims.
    #[error("proof has {got} hashes, want {want}")]
    ProofLength {
        /// Hashes in the proof.
        got: usize,
        /// Hashes the sizes and index call for.
        want: usize,
    },
    /// The number of leaf hashes does not match the claimed range.
    #[error("got {got} leaf hashes for a range of {want} leaves")]
    LeafCount {
        /// Leaf hashes supplied.
        got: usize,
        /// Leaves in the range.
        want: u64,
    },
    /// The root recomputed from the proof is not the root that was claimed (for a
    /// consistency proof: the new root).
    #[error("root mismatch: expected {expected}, computed {computed}")]
    RootMismatch {
        /// The trusted or claimed root.
        expected: Hash,
        /// The root the proof leads to.
        computed: Hash,
    },
    /// A consistency proof does not lead back to the old root.
    #[error("old root mismatch: expected {expected}, computed {computed}")]
    OldRootMismatch {
        /// The old root claimed.
        expected: Hash,
        /// The old root the proof leads to.
        computed: Hash,
    },
    /// The hash store failed.
    #[error("reading stored hashes")]
    Reader(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The hash store answered with the wrong number of hashes.
    #[error("asked the hash store for {asked} hashes, got {got}")]
    ReaderCount {
        /// Hashes asked for.
        asked: usize,
        /// Hashes returned.
        got: usize,
    },
}

/// Random access to stored hashes, by [`stored_hash_index`]. The ledger backs it with its
/// database; tests and small tools use a `[Hash]` slice.
pub trait HashReader {
    /// Error of the underlying store.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Returns the hashes at `indexes`, in the same order, exactly one per index (a wrong
    /// count is [`ProofError::ReaderCount`]). The functions here ask for all the hashes one
    /// operation needs in one call; the indexes are not necessarily sorted.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Self::Error>;
}

/// A stored hash index past the end of a slice used as a [`HashReader`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored hash {index} requested, but only {stored} hashes are stored")]
pub struct HashNotStored {
    /// The index asked for.
    pub index: u64,
    /// How many hashes the slice holds.
    pub stored: u64,
}

impl HashReader for [Hash] {
    type Error = HashNotStored;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, HashNotStored> {
        let stored = self.len() as u64;
        indexes
            .iter()
            .map(|&index| {
                usize::try_from(index)
                    .ok()
                    .and_then(|i| self.get(i))
                    .copied()
                    .ok_or(HashNotStored { index, stored })
            })
            .collect()
    }
}

impl HashReader for Vec<Hash> {
    type Error = HashNotStored;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, HashNotStored> {
        self.as_slice().read_hashes(indexes)
    }
}

pub(crate) fn read<R: HashReader + ?Sized>(
    r: &R,
    indexes: &[u64],
) -> Result<Vec<Hash>, ProofError> {
    let hashes = r
        .read_hashes(indexes)
        .map_err(|e| ProofError::Reader(Box::new(e)))?;
    if hashes.len() != indexes.len() {
        return Err(ProofError::ReaderCount {
            asked: indexes.len(),
            got: hashes.len(),
        });
    }
    Ok(hashes)
}

fn check_size(size: u64) -> Result<(), ProofError> {
    if size > MAX_TREE_SIZE {
        return Err(ProofError::TreeTooLarge {
            size,
            max: MAX_TREE_SIZE,
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Stored-hash layout.

/// Position in the stored-hash sequence of the subtree `(level, n)`, which covers leaves
/// `[n·2^level, (n+1)·2^level)`.
///
/// Precondition: `(n + 1) << level <= MAX_TREE_SIZE` (larger values overflow).
pub fn stored_hash_index(level: u32, n: u64) -> u64 {
    // Level L's n-th hash is written right after level L+1's 2n-th hash: walk down to the
    // level-0 hash stored just before it, then add back one per level.
    let mut n = n;
    for _ in 0..level {
        n = 2 * n + 1;
    }
    // Level 0's n-th hash is stored at n + n/2 + n/4 + ... (the hashes of the leaves before it
    // and of the subtrees they completed).
    let mut i = 0;
    while n > 0 {
        i += n;
        n >>= 1;
    }
    i + u64::from(level)
}

/// Inverse of [`stored_hash_index`]: the `(level, n)` stored at `index`.
///
/// Precondition: `index < stored_hash_count(MAX_TREE_SIZE)`.
pub fn split_stored_hash_index(index: u64) -> (u32, u64) {
    // stored_hash_index(0, n) <= 2n, so the leaf whose hashes include `index` is at least
    // index/2; walk forward one leaf at a time (at most log2(index) steps).
    let mut n = index / 2;
    let mut index_n = stored_hash_index(0, n);
    debug_assert!(index_n <= index);
    loop {
        // Leaf n adds 1 + trailing_ones(n) hashes.
        let next = index_n + 1 + u64::from((n + 1).trailing_zeros());
        if next > index {
            break;
        }
        n += 1;
        index_n = next;
    }
    // The hash we want was stored with leaf n: it is one of (0, n), (1, n/2), (2, n/4), ...
    let level = (index - index_n) as u32;
    (level, n >> level)
}

/// Number of hashes stored for a tree of `n` leaves.
///
/// Precondition: `n <= MAX_TREE_SIZE`.
pub fn stored_hash_count(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    // Everything up to the last leaf hash, then one per subtree the last leaf completed.
    stored_hash_index(0, n - 1) + 1 + u64::from((n - 1).trailing_ones())
}

/// The hashes to append to the store when adding leaf `n` with entry bytes `data`, given a
/// store that holds the hashes of leaves `[0, n)`. See [`stored_hashes_for_leaf_hash`].
pub fn stored_hashes<R: HashReader + ?Sized>(
    n: u64,
    data: &[u8],
    r: &R,
) -> Result<Vec<Hash>, ProofError> {
    stored_hashes_for_leaf_hash(n, leaf_hash(data), r)
}

/// The hashes to append to the store when adding leaf `n` whose leaf hash is `leaf`: the
/// leaf hash, then the hash of each subtree that leaf `n` completes, smallest first
/// (`1 + trailing_ones(n)` hashes). They belong at [`stored_hash_count(n)`](stored_hash_count).
///
/// Checks, in order: `n < MAX_TREE_SIZE`; then one read of the `trailing_ones(n)` sibling
/// hashes.
pub fn stored_hashes_for_leaf_hash<R: HashReader + ?Sized>(
    n: u64,
    leaf: Hash,
    r: &R,
) -> Result<Vec<Hash>, ProofError> {
    check_size(n.saturating_add(1))?;
    // Each trailing 1 bit of n completes a subtree; its left sibling is already stored.
    let m = n.trailing_ones();
    let indexes: Vec<u64> = (0..m)
        .rev()
        .map(|level| stored_hash_index(level, (n >> level) - 1))
        .collect();
    let siblings = read(r, &indexes)?;
    let mut hashes = Vec::with_capacity(1 + siblings.len());
    let mut h = leaf;
    hashes.push(h);
    for sibling in siblings.iter().rev() {
        h = node_hash(sibling, &h);
        hashes.push(h);
    }
    Ok(hashes)
}

/// The largest power of two strictly smaller than `n` (RFC 9162's split point `k`).
/// Precondition: `n >= 2`.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Appends the stored indexes of the complete subtrees that cover `[lo, hi)`, largest first.
/// Precondition: `lo` is a multiple of the largest power of two `<= hi - lo`, as it is for
/// every range the tree recursion produces.
fn sub_tree_index(mut lo: u64, hi: u64, need: &mut Vec<u64>) {
    while lo < hi {
        let level = 63 - (hi - lo).leading_zeros();
        debug_assert_eq!(lo & ((1 << level) - 1), 0, "unaligned subtree");
        need.push(stored_hash_index(level, lo >> level));
        lo += 1 << level;
    }
}

/// Hash of `[lo, hi)` from the stored hashes [`sub_tree_index`] asked for, consumed from the
/// front of `hashes`. Returns `None` if too few hashes were supplied.
fn sub_tree_hash(mut lo: u64, hi: u64, hashes: &mut &[Hash]) -> Option<Hash> {
    let mut count = 0;
    while lo < hi {
        lo += 1 << (63 - (hi - lo).leading_zeros());
        count += 1;
    }
    if count == 0 || hashes.len() < count {
        return None;
    }
    let (mine, rest) = hashes.split_at(count);
    *hashes = rest;
    let mut h = mine[count - 1];
    for left in mine[..count - 1].iter().rev() {
        h = node_hash(left, &h);
    }
    Some(h)
}

/// Root hash of the tree of size `n` (RFC 9162 section 2.1.1 `MTH(D[0:n])`) from the store.
/// For `n = 0` it is [`empty_root`] (Go's `tlog.TreeHash` returns all zeros there instead).
///
/// Checks, in order: `n <= MAX_TREE_SIZE`; then one read of `popcount(n)` hashes.
pub fn tree_hash<R: HashReader + ?Sized>(n: u64, r: &R) -> Result<Hash, ProofError> {
    check_size(n)?;
    if n == 0 {
        return Ok(empty_root());
    }
    let mut indexes = Vec::new();
    sub_tree_index(0, n, &mut indexes);
    let hashes = read(r, &indexes)?;
    let mut rest = hashes.as_slice();
    sub_tree_hash(0, n, &mut rest).ok_or(ProofError::ReaderCount {
        asked: indexes.len(),
        got: hashes.len(),
    })
}

// ---------------------------------------------------------------------------------------------
// Inclusion ("record") proofs, RFC 9162 section 2.1.3.

/// Length of the inclusion proof for leaf `index` in a tree of `size` leaves, split into the
/// `inner` part (below the point where the paths to `index` and to `size - 1` meet) and the
/// `border` part (left siblings above it). Precondition: `index < size`.
fn decompose_inclusion(index: u64, size: u64) -> (usize, usize) {
    let inner = (64 - (index ^ (size - 1)).leading_zeros()) as usize;
    let border = index.checked_shr(inner as u32).unwrap_or(0).count_ones() as usize;
    (inner, border)
}

/// Number of hashes in the inclusion proof for leaf `index` in a tree of `size` leaves.
///
/// Checks: `index < size`.
pub fn inclusion_proof_len(index: u64, size: u64) -> Result<usize, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (inner, border) = decompose_inclusion(index, size);
    Ok(inner + border)
}

fn leaf_proof_index(lo: u64, hi: u64, n: u64, need: &mut Vec<u64>) {
    debug_assert!(lo <= n && n < hi);
    if lo + 1 == hi {
        return;
    }
    let k = split_point(hi - lo);
    if n < lo + k {
        leaf_proof_index(lo, lo + k, n, need);
        sub_tree_index(lo + k, hi, need);
    } else {
        sub_tree_index(lo, lo + k, need);
        leaf_proof_index(lo + k, hi, n, need);
    }
}

fn leaf_proof(lo: u64, hi: u64, n: u64, hashes: &mut &[Hash], proof: &mut Vec<Hash>) -> Option<()> {
    if lo + 1 == hi {
        // The verifier knows the leaf hash; it is not part of the proof.
        return Some(());
    }
    let k = split_point(hi - lo);
    // Walk toward n, recording the hash of the side not taken after the deeper ones.
    let sibling = if n < lo + k {
        leaf_proof(lo, lo + k, n, hashes, proof)?;
        sub_tree_hash(lo + k, hi, hashes)?
    } else {
        let sibling = sub_tree_hash(lo, lo + k, hashes)?;
        leaf_proof(lo + k, hi, n, hashes, proof)?;
        sibling
    };
    proof.push(sibling);
    Some(())
}

/// Inclusion proof for leaf `n` in the tree of size `t` (RFC 9162 section 2.1.3.1
/// `PATH(n, D[0:t])`): sibling hashes from the leaf up, [`inclusion_proof_len`] of them.
///
/// Checks, in order: `n < t`, `t <= MAX_TREE_SIZE`; then one read of O(log t) hashes.
pub fn prove_record<R: HashReader + ?Sized>(
    t: u64,
    n: u64,
    r: &R,
) -> Result<Vec<Hash>, ProofError> {
    if n >= t {
        return Err(ProofError::IndexOutOfRange { index: n, size: t });
    }
    check_size(t)?;
    let mut indexes = Vec::new();
    leaf_proof_index(0, t, n, &mut indexes);
    let hashes = read(r, &indexes)?;
    let mut rest = hashes.as_slice();
    let mut proof = Vec::new();
    let short = ProofError::ReaderCount {
        asked: indexes.len(),
        got: hashes.len(),
    };
    leaf_proof(0, t, n, &mut rest, &mut proof).ok_or(short)?;
    Ok(proof)
}

fn run_record_proof(p: &[Hash], lo: u64, hi: u64, n: u64, leaf: Hash) -> Hash {
    if lo + 1 == hi {
        return leaf;
    }
    // The caller checked the length, so p is never empty here.
    let (last, rest) = p.split_last().map_or((leaf, p), |(l, r)| (*l, r));
    let k = split_point(hi - lo);
    if n < lo + k {
        node_hash(&run_record_proof(rest, lo, lo + k, n, leaf), &last)
    } else {
        node_hash(&last, &run_record_proof(rest, lo + k, hi, n, leaf))
    }
}

/// Checks that `proof` proves leaf hash `h` is leaf `n` of the tree of size `t` with root
/// `th`, walking the tree top-down as [`prove_record`] built the proof.
///
/// Checks, in order: `n < t` ([`ProofError::IndexOutOfRange`]); the proof length
/// ([`ProofError::ProofLength`]); the recomputed root against `th`
/// ([`ProofError::RootMismatch`]).
pub fn check_record(proof: &[Hash], t: u64, th: &Hash, n: u64, h: &Hash) -> Result<(), ProofError> {
    let want = inclusion_proof_len(n, t)?;
    if proof.len() != want {
        return Err(ProofError::ProofLength {
            got: proof.len(),
            want,
        });
    }
    let computed = run_record_proof(proof, 0, t, n, *h);
    if computed != *th {
        return Err(ProofError::RootMismatch {
            expected: *th,
            computed,
        });
    }
    Ok(())
}

/// Root hash that `proof` leads to from leaf hash `leaf` at `index` in a tree of `size`
/// leaves (RFC 9162 section 2.1.3.2, in transparency-dev/merkle's chained form).
///
/// Checks, in order: `index < size`; the proof length is [`inclusion_proof_len`].
pub fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    let want = inclusion_proof_len(index, size)?;
    if proof.len() != want {
        return Err(ProofError::ProofLength {
            got: proof.len(),
            want,
        });
    }
    let (inner, _) = decompose_inclusion(index, size);
    let h = chain_inner(*leaf, &proof[..inner], index);
    Ok(chain_border_right(h, &proof[inner..]))
}

/// Verifies that leaf hash `leaf` is leaf `index` of the tree of `size` leaves with root
/// `root`.
///
/// Checks, in order: `index < size` ([`ProofError::IndexOutOfRange`]); the proof length
/// ([`ProofError::ProofLength`]); the recomputed root ([`ProofError::RootMismatch`]).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion_proof(index, size, leaf, proof)?;
    if computed != *root {
        return Err(ProofError::RootMismatch {
            expected: *root,
            computed,
        });
    }
    Ok(())
}

/// Hashes `seed` up through `proof`, taking each bit of `index` (lowest first) to say
/// whether the running hash is a right (1) or left (0) child.
fn chain_inner(seed: Hash, proof: &[Hash], index: u64) -> Hash {
    proof.iter().enumerate().fold(seed, |h, (i, p)| {
        if index.checked_shr(i as u32).unwrap_or(0) & 1 == 0 {
            node_hash(&h, p)
        } else {
            node_hash(p, &h)
        }
    })
}

/// Like [`chain_inner`], but only through the levels where the running hash is a right
/// child: the hash of the old tree in a consistency proof ignores siblings to its right.
fn chain_inner_right(seed: Hash, proof: &[Hash], index: u64) -> Hash {
    proof.iter().enumerate().fold(seed, |h, (i, p)| {
        if index.checked_shr(i as u32).unwrap_or(0) & 1 == 1 {
            node_hash(p, &h)
        } else {
            h
        }
    })
}

/// Hashes `seed` up through `proof`, every element being a left sibling.
fn chain_border_right(seed: Hash, proof: &[Hash]) -> Hash {
    proof.iter().fold(seed, |h, p| node_hash(p, &h))
}

// ---------------------------------------------------------------------------------------------
// Consistency ("tree") proofs, RFC 9162 section 2.1.4.

/// Number of hashes in the consistency proof from size `old` to size `new`.
///
/// Checks: `0 < old <= new`.
pub fn consistency_proof_len(old: u64, new: u64) -> Result<usize, ProofError> {
    if old == 0 || old > new {
        return Err(ProofError::SizeOrder { old, new });
    }
    if old == new {
        return Ok(0);
    }
    let (inner, border) = decompose_inclusion(old - 1, new);
    let shift = old.trailing_zeros() as usize;
    // When old is a power of two the verifier already holds its root: it is not sent.
    let start = usize::from(!old.is_power_of_two());
    Ok(start + inner - shift + border)
}

fn tree_proof_index(lo: u64, hi: u64, n: u64, need: &mut Vec<u64>) {
    debug_assert!(lo < n && n <= hi);
    if n == hi {
        if lo != 0 {
            sub_tree_index(lo, hi, need);
        }
        return;
    }
    let k = split_point(hi - lo);
    if n <= lo + k {
        tree_proof_index(lo, lo + k, n, need);
        sub_tree_index(lo + k, hi, need);
    } else {
        sub_tree_index(lo, lo + k, need);
        tree_proof_index(lo + k, hi, n, need);
    }
}

fn tree_proof(lo: u64, hi: u64, n: u64, hashes: &mut &[Hash], proof: &mut Vec<Hash>) -> Option<()> {
    if n == hi {
        // Common ground. The verifier knows the old root when this subtree is the whole old
        // tree; otherwise the subtree hash is sent.
        if lo != 0 {
            proof.push(sub_tree_hash(lo, hi, hashes)?);
        }
        return Some(());
    }
    let k = split_point(hi - lo);
    let sibling = if n <= lo + k {
        tree_proof(lo, lo + k, n, hashes, proof)?;
        sub_tree_hash(lo + k, hi, hashes)?
    } else {
        let sibling = sub_tree_hash(lo, lo + k, hashes)?;
        tree_proof(lo + k, hi, n, hashes, proof)?;
        sibling
    };
    proof.push(sibling);
    Some(())
}

/// Consistency proof from the tree of size `n` to the tree of size `t` (RFC 9162 section
/// 2.1.4.1 `PROOF(n, D[0:t])`), [`consistency_proof_len`] hashes; empty when `n == t`.
///
/// Checks, in order: `0 < n <= t`, `t <= MAX_TREE_SIZE`; then one read of O(log t) hashes.
pub fn prove_tree<R: HashReader + ?Sized>(t: u64, n: u64, r: &R) -> Result<Vec<Hash>, ProofError> {
    consistency_proof_len(n, t)?;
    check_size(t)?;
    let mut indexes = Vec::new();
    tree_proof_index(0, t, n, &mut indexes);
    let hashes = read(r, &indexes)?;
    let mut rest = hashes.as_slice();
    let mut proof = Vec::new();
    let short = ProofError::ReaderCount {
        asked: indexes.len(),
        got: hashes.len(),
    };
    tree_proof(0, t, n, &mut rest, &mut proof).ok_or(short)?;
    Ok(proof)
}

/// Returns (old root, new root) that `p` leads to; the caller checked the length.
fn run_tree_proof(p: &[Hash], lo: u64, hi: u64, n: u64, old: Hash) -> (Hash, Hash) {
    if n == hi {
        if lo == 0 {
            return (old, old);
        }
        let h = p.first().copied().unwrap_or(old);
        return (h, h);
    }
    let (last, rest) = p.split_last().map_or((old, p), |(l, r)| (*l, r));
    let k = split_point(hi - lo);
    if n <= lo + k {
        let (oh, th) = run_tree_proof(rest, lo, lo + k, n, old);
        (oh, node_hash(&th, &last))
    } else {
        let (oh, th) = run_tree_proof(rest, lo + k, hi, n, old);
        (node_hash(&last, &oh), node_hash(&last, &th))
    }
}

/// Checks that `proof` proves the tree of size `n` with root `h` is a prefix of the tree of
/// size `t` with root `th`, walking the tree top-down as [`prove_tree`] built the proof.
///
/// Checks, in order: `0 < n <= t` ([`ProofError::SizeOrder`]); the proof length
/// ([`ProofError::ProofLength`]); the recomputed old root against `h`
/// ([`ProofError::OldRootMismatch`]); the recomputed new root against `th`
/// ([`ProofError::RootMismatch`]).
pub fn check_tree(proof: &[Hash], t: u64, th: &Hash, n: u64, h: &Hash) -> Result<(), ProofError> {
    let want = consistency_proof_len(n, t)?;
    if proof.len() != want {
        return Err(ProofError::ProofLength {
            got: proof.len(),
            want,
        });
    }
    let (old, new) = run_tree_proof(proof, 0, t, n, *h);
    if old != *h {
        return Err(ProofError::OldRootMismatch {
            expected: *h,
            computed: old,
        });
    }
    if new != *th {
        return Err(ProofError::RootMismatch {
            expected: *th,
            computed: new,
        });
    }
    Ok(())
}

/// Verifies that the tree of size `old_size` with root `old_root` is a prefix of the tree of
/// size `new_size` with root `new_root` (RFC 9162 section 2.1.4.2, in transparency-dev/merkle's
/// chained form). Equal sizes need an empty proof and equal roots. A consistency proof from
/// the empty tree proves nothing and is refused.
///
/// Checks, in order: `0 < old_size <= new_size` ([`ProofError::SizeOrder`]); the proof length
/// ([`ProofError::ProofLength`]); the recomputed old root ([`ProofError::OldRootMismatch`]);
/// the recomputed new root ([`ProofError::RootMismatch`]).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), ProofError> {
    let want = consistency_proof_len(old_size, new_size)?;
    if proof.len() != want {
        return Err(ProofError::ProofLength {
            got: proof.len(),
            want,
        });
    }
    if old_size == new_size {
        if old_root != new_root {
            return Err(ProofError::RootMismatch {
                expected: *new_root,
                computed: *old_root,
            });
        }
        return Ok(());
    }
    // The proof is, in effect, the inclusion proof of the old tree's last complete subtree
    // (at level `shift`) in the new tree, preceded by that subtree's hash unless it is the
    // whole old tree.
    let shift = old_size.trailing_zeros();
    let (inner, _) = decompose_inclusion(old_size - 1, new_size);
    let inner = inner - shift as usize;
    let (seed, rest) = if old_size.is_power_of_two() {
        (*old_root, proof)
    } else {
        (proof[0], &proof[1..])
    };
    let mask = (old_size - 1) >> shift;
    let old = chain_border_right(
        chain_inner_right(seed, &rest[..inner], mask),
        &rest[inner..],
    );
    if old != *old_root {
        return Err(ProofError::OldRootMismatch {
            expected: *old_root,
            computed: old,
        });
    }
    let new = chain_border_right(chain_inner(seed, &rest[..inner], mask), &rest[inner..]);
    if new != *new_root {
        return Err(ProofError::RootMismatch {
            expected: *new_root,
            computed: new,
        });
    }
    Ok(())
}

#[cfg(test)]
#[path = "proof_tests.rs"]
mod tests;
