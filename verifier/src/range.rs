//! Compact-range proofs for slices (DESIGN.md section 5): a verifier holding every leaf of
//! `[begin, end)` recomputes the root of a tree of `size` leaves from O(log size) extra hashes.
//!
//! Any range `[lo, hi)` splits uniquely into the fewest *aligned* perfect subtrees (a subtree
//! of `2^l` leaves starting at a multiple of `2^l`), growing then shrinking:
//!
//! ```text
//! leaves:   0 1 2 3 4 5 6 7 8 9 10 11 12
//! [0, 5):   [0 1 2 3][4]                         = (2,0) (0,4)
//! [5, 13):            [5][6 7][8 9 10 11][12]    = (0,5) (1,3) (2,2) (0,12)
//! ```
//!
//! The proof is the hashes of those subtrees for `[0, begin)` (`left`, one per set bit of
//! `begin`) and for `[end, size)` (`right`), left to right. The verifier lays them around the
//! leaves it holds and folds the row into the RFC 9162 root: every RFC subtree boundary falls
//! on a boundary of the row, because aligned subtrees never straddle one.

use crate::hash::{node_hash, Hash};
use crate::proof::{read, stored_hash_index, HashReader, ProofError, MAX_TREE_SIZE};

/// The hashes that, together with every leaf hash of `[begin, end)`, determine the root of
/// a tree: compact ranges of `[0, begin)` and `[end, size)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RangeProof {
    /// Hashes of the aligned subtrees covering `[0, begin)`, left to right.
    pub left: Vec<Hash>,
    /// Hashes of the aligned subtrees covering `[end, size)`, left to right.
    pub right: Vec<Hash>,
}

/// The `(level, index)` of the aligned subtrees covering `[lo, hi)`, left to right.
fn compact_range(mut lo: u64, hi: u64) -> Vec<(u32, u64)> {
    let mut nodes = Vec::new();
    while lo < hi {
        let aligned = if lo == 0 { 63 } else { lo.trailing_zeros() };
        let fits = 63 - (hi - lo).leading_zeros();
        let level = aligned.min(fits);
        nodes.push((level, lo >> level));
        lo += 1 << level;
    }
    nodes
}

fn check_range(begin: u64, end: u64, size: u64) -> Result<(), ProofError> {
    if begin >= end || end > size {
        return Err(ProofError::RangeInvalid { begin, end, size });
    }
    Ok(())
}

/// Number of hashes in `(left, right)` of the range proof for `[begin, end)` in a tree of
/// `size` leaves.
///
/// Checks: `begin < end <= size`.
pub fn range_proof_len(begin: u64, end: u64, size: u64) -> Result<(usize, usize), ProofError> {
    check_range(begin, end, size)?;
    Ok((begin.count_ones() as usize, compact_range(end, size).len()))
}

/// Range proof for leaves `[begin, end)` of the tree of `size` leaves, from the stored hashes.
///
/// Checks, in order: `begin < end <= size`, `size <= MAX_TREE_SIZE`; then one read of
/// [`range_proof_len`] hashes.
pub fn prove_range<R: HashReader + ?Sized>(
    begin: u64,
    end: u64,
    size: u64,
    r: &R,
) -> Result<RangeProof, ProofError> {
    check_range(begin, end, size)?;
    if size > MAX_TREE_SIZE {
        return Err(ProofError::TreeTooLarge {
            size,
            max: MAX_TREE_SIZE,
        });
    }
    let left = compact_range(0, begin);
    let right = compact_range(end, size);
    let indexes: Vec<u64> = left
        .iter()
        .chain(&right)
        .map(|&(level, index)| stored_hash_index(level, index))
        .collect();
    let mut hashes = read(r, &indexes)?;
    let right = hashes.split_off(left.len());
    Ok(RangeProof {
        left: hashes,
        right,
    })
}

/// Root of the tree of `size` leaves, given the leaf hashes of `[begin, end)` in order and
/// the range proof for them. O(end - begin + log size) hashing.
///
/// Checks, in order: `begin < end <= size` ([`ProofError::RangeInvalid`]); exactly
/// `end - begin` leaf hashes ([`ProofError::LeafCount`]); the proof's left then right lengths
/// ([`ProofError::ProofLength`]).
pub fn root_from_range(
    begin: u64,
    end: u64,
    size: u64,
    leaves: &[Hash],
    proof: &RangeProof,
) -> Result<Hash, ProofError> {
    let (want_left, want_right) = range_proof_len(begin, end, size)?;
    if leaves.len() as u64 != end - begin {
        return Err(ProofError::LeafCount {
            got: leaves.len(),
            want: end - begin,
        });
    }
    for (got, want) in [
        (proof.left.len(), want_left),
        (proof.right.len(), want_right),
    ] {
        if got != want {
            return Err(ProofError::ProofLength { got, want });
        }
    }
    // The row of aligned subtrees covering [0, size), as (first leaf, hash).
    let mut row: Vec<(u64, Hash)> = Vec::with_capacity(want_left + leaves.len() + want_right);
    let starts = |nodes: Vec<(u32, u64)>| nodes.into_iter().map(|(l, i)| i << l);
    row.extend(starts(compact_range(0, begin)).zip(proof.left.iter().copied()));
    row.extend((begin..end).zip(leaves.iter().copied()));
    row.extend(starts(compact_range(end, size)).zip(proof.right.iter().copied()));
    Ok(fold_row(0, size, &row))
}

/// A streaming fold of the leaf hashes of `[begin, end)`, appended one at a time, into the
/// compact range of that interval: the hashes of its fewest aligned perfect subtrees, left to
/// right. Memory is O(log(end - begin)) however many leaves stream through; each append costs
/// one hash per subtree it completes (amortised one). This is transparency-dev/merkle's
/// `compact.Range`.
///
/// ```text
/// begin = 5; after leaves 5..13 the stack holds [5] [6 7] [8 9 10 11] [12]:
///   append 5:  [5]
///   append 6:  [5] [6]
///   append 7:  [5] [6] [7]  ->  [5] [6 7]            (7 is odd and 6 >= begin: merge)
///   append 11: ... [8 9] [10 11] -> [8 9 10 11]      (merge twice)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactRange {
    begin: u64,
    end: u64,
    nodes: Vec<Hash>,
}

impl CompactRange {
    /// An empty range starting at leaf `begin`.
    pub fn new(begin: u64) -> CompactRange {
        CompactRange {
            begin,
            end: begin,
            nodes: Vec::new(),
        }
    }

    /// First leaf of the range.
    pub fn begin(&self) -> u64 {
        self.begin
    }

    /// One past the last leaf appended.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Appends the hash of leaf [`end`](CompactRange::end). Checks: the range stays below
    /// [`MAX_TREE_SIZE`].
    pub fn append(&mut self, leaf: Hash) -> Result<(), ProofError> {
        if self.end >= MAX_TREE_SIZE {
            return Err(ProofError::TreeTooLarge {
                size: self.end.saturating_add(1),
                max: MAX_TREE_SIZE,
            });
        }
        // The new node (level, index) is a right child when index is odd; its left sibling
        // starts at (index - 1) << level and is on the stack, complete, iff that is >= begin.
        let (mut hash, mut index, mut level) = (leaf, self.end, 0u32);
        while index & 1 == 1 && (index - 1) << level >= self.begin {
            let Some(left) = self.nodes.pop() else { break };
            hash = node_hash(&left, &hash);
            index >>= 1;
            level += 1;
        }
        self.nodes.push(hash);
        self.end += 1;
        Ok(())
    }

    /// Root of the tree of `size` leaves from this range and the range proof for it.
    ///
    /// Checks, in order: `begin < end <= size` ([`ProofError::RangeInvalid`]); the proof's
    /// left then right lengths ([`ProofError::ProofLength`]).
    pub fn root(&self, size: u64, proof: &RangeProof) -> Result<Hash, ProofError> {
        let (want_left, want_right) = range_proof_len(self.begin, self.end, size)?;
        for (got, want) in [
            (proof.left.len(), want_left),
            (proof.right.len(), want_right),
        ] {
            if got != want {
                return Err(ProofError::ProofLength { got, want });
            }
        }
        let starts = |nodes: Vec<(u32, u64)>| nodes.into_iter().map(|(l, i)| i << l);
        let mine = compact_range(self.begin, self.end);
        debug_assert_eq!(mine.len(), self.nodes.len());
        let mut row: Vec<(u64, Hash)> =
            Vec::with_capacity(want_left + self.nodes.len() + want_right);
        row.extend(starts(compact_range(0, self.begin)).zip(proof.left.iter().copied()));
        row.extend(starts(mine).zip(self.nodes.iter().copied()));
        row.extend(starts(compact_range(self.end, size)).zip(proof.right.iter().copied()));
        Ok(fold_row(0, size, &row))
    }
}

/// RFC 9162 `MTH` of `[lo, hi)` from a row of aligned subtrees that exactly covers it.
fn fold_row(lo: u64, hi: u64, row: &[(u64, Hash)]) -> Hash {
    if let [(_, only)] = row {
        return *only;
    }
    let k = 1 << (63 - (hi - lo - 1).leading_zeros());
    let split = row.partition_point(|&(start, _)| start < lo + k);
    let (left, right) = row.split_at(split);
    node_hash(&fold_row(lo, lo + k, left), &fold_row(lo + k, hi, right))
}

/// Verifies that `leaves` are the leaf hashes `[begin, end)` of the tree of `size` leaves with
/// root `root`.
///
/// Checks, in order: those of [`root_from_range`], then the recomputed root
/// ([`ProofError::RootMismatch`]).
pub fn verify_range(
    begin: u64,
    end: u64,
    size: u64,
    leaves: &[Hash],
    proof: &RangeProof,
    root: &Hash,
) -> Result<(), ProofError> {
    let computed = root_from_range(begin, end, size, leaves, proof)?;
    if computed != *root {
        return Err(ProofError::RootMismatch {
            expected: *root,
            computed,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_range_matches_the_diagram() {
        assert_eq!(compact_range(0, 5), vec![(2, 0), (0, 4)]);
        assert_eq!(compact_range(5, 13), vec![(0, 5), (1, 3), (2, 2), (0, 12)]);
        assert_eq!(compact_range(7, 7), vec![]);
        assert_eq!(compact_range(0, 1 << 40), vec![(40, 0)]);
    }

    #[test]
    fn compact_range_tiles_exactly() {
        for lo in 0..70u64 {
            for hi in lo..70 {
                let mut next = lo;
                for (level, index) in compact_range(lo, hi) {
                    assert_eq!(index << level, next, "[{lo},{hi}) gap or overlap");
                    next += 1 << level;
                }
                assert_eq!(next, hi, "[{lo},{hi}) not covered");
            }
        }
    }

    #[test]
    fn compact_range_accumulator_matches_root_from_range() {
        use crate::hash::leaf_hash;
        let leaves: Vec<Hash> = (0..40u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for size in 1..=40u64 {
            for begin in 0..size {
                for end in begin + 1..=size {
                    let mut acc = CompactRange::new(begin);
                    for leaf in &leaves[begin as usize..end as usize] {
                        acc.append(*leaf).expect("append");
                    }
                    assert_eq!(acc.nodes.len(), compact_range(begin, end).len());
                    // Any proof of the right shape: compare against the batch computation.
                    let (l, r) = range_proof_len(begin, end, size).expect("len");
                    let proof = RangeProof {
                        left: leaves[..l].to_vec(),
                        right: leaves[..r].to_vec(),
                    };
                    let slice = &leaves[begin as usize..end as usize];
                    assert_eq!(
                        acc.root(size, &proof).expect("root"),
                        root_from_range(begin, end, size, slice, &proof).expect("batch"),
                        "[{begin},{end}) of {size}"
                    );
                }
            }
        }
    }

    #[test]
    fn invalid_ranges_are_refused() {
        for (b, e, s) in [(3, 3, 5), (4, 3, 5), (0, 6, 5)] {
            assert!(matches!(
                range_proof_len(b, e, s),
                Err(ProofError::RangeInvalid { begin, end, size }) if (begin, end, size) == (b, e, s)
            ));
        }
    }
}
