//! The stored-hash implementation against a naive recursive RFC 6962 tree: every size up to
//! 64, every index, every (old, new) pair, every range up to 32; named tampering on each proof; then
//! proptest for larger trees and for proof lengths at sizes up to 2^62.

use std::sync::OnceLock;

use proptest::prelude::*;
use vanguard_verifier::{
    check_record, check_tree, consistency_proof_len, empty_root, inclusion_proof_len, leaf_hash,
    node_hash, prove_range, prove_record, prove_tree, root_from_inclusion_proof, root_from_range,
    stored_hash_count, stored_hashes, tree_hash, verify_consistency, verify_inclusion,
    verify_range, Hash, ProofError, MAX_TREE_SIZE,
};

// --- Reference: RFC 9162 sections 2.1.1, 2.1.3.1 and 2.1.4.1, transcribed literally. -------

fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => empty_root(),
        1 => d[0],
        n => node_hash(&mth(&d[..split(n)]), &mth(&d[split(n)..])),
    }
}

fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
    if d.len() <= 1 {
        return Vec::new();
    }
    let k = split(d.len());
    let (mut p, sibling) = if m < k {
        (path(m, &d[..k]), mth(&d[k..]))
    } else {
        (path(m - k, &d[k..]), mth(&d[..k]))
    };
    p.push(sibling);
    p
}

fn subproof(m: usize, d: &[Hash], whole: bool) -> Vec<Hash> {
    if m == d.len() {
        return if whole { Vec::new() } else { vec![mth(d)] };
    }
    let k = split(d.len());
    let (mut p, sibling) = if m <= k {
        (subproof(m, &d[..k], whole), mth(&d[k..]))
    } else {
        (subproof(m - k, &d[k..], false), mth(&d[..k]))
    };
    p.push(sibling);
    p
}

// --- Fixtures. ------------------------------------------------------------------------------

fn leaf_data(i: u64) -> Vec<u8> {
    format!("entry {i}").into_bytes()
}

/// Leaf hashes and the stored-hash store for `n` leaves, built by appending one at a time.
fn build(n: u64) -> (Vec<Hash>, Vec<Hash>) {
    let mut leaves = Vec::new();
    let mut store = Vec::new();
    for i in 0..n {
        assert_eq!(store.len() as u64, stored_hash_count(i));
        let added = stored_hashes(i, &leaf_data(i), &store).expect("append");
        assert_eq!(
            added.len() as u32,
            1 + i.trailing_ones(),
            "hashes added for leaf {i}"
        );
        store.extend(added);
        leaves.push(leaf_hash(&leaf_data(i)));
    }
    assert_eq!(store.len() as u64, stored_hash_count(n));
    (leaves, store)
}

fn big() -> &'static (Vec<Hash>, Vec<Hash>) {
    static BIG: OnceLock<(Vec<Hash>, Vec<Hash>)> = OnceLock::new();
    BIG.get_or_init(|| build(1024))
}

fn flip(h: &Hash, bit: usize) -> Hash {
    let mut b = h.0;
    b[bit / 8] ^= 1 << (bit % 8);
    Hash(b)
}

// --- Exhaustive small trees. -----------------------------------------------------------------

#[test]
fn tree_hash_matches_reference_for_every_size() {
    let (leaves, store) = build(64);
    for n in 0..=64u64 {
        let want = mth(&leaves[..n as usize]);
        assert_eq!(tree_hash(n, &store).expect("tree_hash"), want, "size {n}");
    }
}

#[test]
fn inclusion_matches_reference_for_every_index() {
    let (leaves, store) = build(64);
    for t in 1..=64u64 {
        let root = mth(&leaves[..t as usize]);
        for n in 0..t {
            let leaf = leaves[n as usize];
            let proof = prove_record(t, n, &store).expect("prove_record");
            assert_eq!(
                proof,
                path(n as usize, &leaves[..t as usize]),
                "t={t} n={n}"
            );
            assert_eq!(proof.len(), inclusion_proof_len(n, t).expect("len"));
            assert_eq!(
                root_from_inclusion_proof(n, t, &leaf, &proof).expect("root"),
                root
            );
            verify_inclusion(n, t, &leaf, &proof, &root).expect("verify_inclusion");
            check_record(&proof, t, &root, n, &leaf).expect("check_record");
            inclusion_tamper_matrix(t, n, &leaf, &proof, &root);
        }
    }
}

/// Named mutations of a valid inclusion proof and what each must give, for both verifiers.
fn inclusion_tamper_matrix(t: u64, n: u64, leaf: &Hash, proof: &[Hash], root: &Hash) {
    let both = |name: &str, t2: u64, n2: u64, leaf2: &Hash, p2: &[Hash], root2: &Hash| {
        let a = verify_inclusion(n2, t2, leaf2, p2, root2);
        let b = check_record(p2, t2, root2, n2, leaf2);
        let ctx = format!("{name} on t={t} n={n}");
        (a.expect_err(&ctx), b.expect_err(&ctx))
    };
    // Any single bit flip in any proof hash, the leaf or the root: a root mismatch.
    for (i, _) in proof.iter().enumerate() {
        let mut p = proof.to_vec();
        p[i] = flip(&p[i], (i * 37 + n as usize) % 256);
        let (a, b) = both("flipped proof bit", t, n, leaf, &p, root);
        assert!(matches!(a, ProofError::RootMismatch { expected, .. } if expected == *root));
        assert!(matches!(b, ProofError::RootMismatch { .. }));
    }
    let (a, _) = both("flipped leaf", t, n, &flip(leaf, 7), proof, root);
    assert!(matches!(a, ProofError::RootMismatch { .. }));
    let (a, _) = both("flipped root", t, n, leaf, proof, &flip(root, 7));
    assert!(matches!(a, ProofError::RootMismatch { .. }));
    // Index one past the end of the tree.
    let (a, b) = both("index = size", t, t, leaf, proof, root);
    assert!(matches!(a, ProofError::IndexOutOfRange { .. }));
    assert!(matches!(b, ProofError::IndexOutOfRange { .. }));
    // Neighbouring indexes: wrong length or wrong root, never success (checked by `both`).
    if n + 1 < t {
        both("index + 1", t, n + 1, leaf, proof, root);
    }
    if n > 0 {
        both("index - 1", t, n - 1, leaf, proof, root);
    }
    both("size x 2", t * 2, n, leaf, proof, root);
    // Truncated and extended proofs: a length error naming both lengths.
    if let Some((_, shorter)) = proof.split_last() {
        let (a, _) = both("truncated", t, n, leaf, shorter, root);
        assert!(matches!(a, ProofError::ProofLength { got, want } if got + 1 == want));
    }
    let mut longer = proof.to_vec();
    longer.push(*root);
    let (a, _) = both("extended", t, n, leaf, &longer, root);
    assert!(matches!(a, ProofError::ProofLength { got, want } if got == want + 1));
}

#[test]
fn consistency_matches_reference_for_every_pair() {
    let (leaves, store) = build(64);
    for t in 1..=64u64 {
        let new_root = mth(&leaves[..t as usize]);
        for n in 1..=t {
            let old_root = mth(&leaves[..n as usize]);
            let proof = prove_tree(t, n, &store).expect("prove_tree");
            assert_eq!(
                proof,
                subproof(n as usize, &leaves[..t as usize], true),
                "t={t} n={n}"
            );
            assert_eq!(proof.len(), consistency_proof_len(n, t).expect("len"));
            verify_consistency(n, t, &proof, &old_root, &new_root).expect("verify_consistency");
            check_tree(&proof, t, &new_root, n, &old_root).expect("check_tree");
            consistency_tamper_matrix(t, n, &proof, &old_root, &new_root);
        }
    }
}

fn consistency_tamper_matrix(t: u64, n: u64, proof: &[Hash], old: &Hash, new: &Hash) {
    let both = |name: &str, n2: u64, t2: u64, p2: &[Hash], old2: &Hash, new2: &Hash| {
        let a = verify_consistency(n2, t2, p2, old2, new2);
        let b = check_tree(p2, t2, new2, n2, old2);
        let ctx = format!("{name} on n={n} t={t}");
        (a.expect_err(&ctx), b.expect_err(&ctx))
    };
    for (i, _) in proof.iter().enumerate() {
        let mut p = proof.to_vec();
        p[i] = flip(&p[i], 100);
        let (a, b) = both("flipped proof bit", n, t, &p, old, new);
        for e in [a, b] {
            assert!(matches!(
                e,
                ProofError::RootMismatch { .. } | ProofError::OldRootMismatch { .. }
            ));
        }
    }
    let (a, b) = both("flipped old root", n, t, proof, &flip(old, 0), new);
    if n == t || n.is_power_of_two() {
        // The old root is not recomputed but used as the starting point, so the error
        // surfaces at the new root.
        assert!(matches!(a, ProofError::RootMismatch { .. }), "{a:?}");
        assert!(matches!(b, ProofError::RootMismatch { .. }), "{b:?}");
    } else {
        assert!(matches!(a, ProofError::OldRootMismatch { .. }), "{a:?}");
        assert!(matches!(b, ProofError::OldRootMismatch { .. }), "{b:?}");
    }
    let (a, _) = both("flipped new root", n, t, proof, old, &flip(new, 0));
    assert!(matches!(a, ProofError::RootMismatch { .. }));
    if old != new {
        both("swapped roots", n, t, proof, new, old);
    }
    let (a, b) = both("old size zero", 0, t, proof, old, new);
    assert!(matches!(a, ProofError::SizeOrder { old: 0, .. }));
    assert!(matches!(b, ProofError::SizeOrder { old: 0, .. }));
    if n < t {
        let (a, _) = both("sizes swapped", t, n, proof, new, old);
        assert!(matches!(a, ProofError::SizeOrder { .. }));
        both("new size x 2", n, t * 2, proof, old, new);
        let (_, shorter) = proof.split_last().expect("n < t has a non-empty proof");
        let (a, _) = both("truncated", n, t, shorter, old, new);
        assert!(matches!(a, ProofError::ProofLength { .. }));
    }
    let mut longer = proof.to_vec();
    longer.push(*new);
    let (a, _) = both("extended", n, t, &longer, old, new);
    assert!(matches!(a, ProofError::ProofLength { .. }));
}

/// Every range of every size up to 32 (the proptest below covers larger trees; debug builds
/// make the full cube up to 64 too slow for a unit test).
#[test]
fn ranges_match_reference_for_every_range() {
    let (leaves, store) = build(32);
    for t in 1..=32u64 {
        let root = mth(&leaves[..t as usize]);
        for a in 0..t {
            for b in a + 1..=t {
                let held = &leaves[a as usize..b as usize];
                let proof = prove_range(a, b, t, &store).expect("prove_range");
                assert_eq!(root_from_range(a, b, t, held, &proof).expect("root"), root);
                verify_range(a, b, t, held, &proof, &root).expect("verify_range");
                // A changed leaf anywhere in the range changes the root.
                let mut bad = held.to_vec();
                let i = (a as usize * 7 + b as usize) % bad.len();
                bad[i] = flip(&bad[i], 3);
                let err = verify_range(a, b, t, &bad, &proof, &root).expect_err("flipped leaf");
                assert!(matches!(err, ProofError::RootMismatch { .. }));
                // One leaf too few is a count error, not a hash mismatch.
                let err = verify_range(a, b, t, &held[1..], &proof, &root).expect_err("short");
                assert!(matches!(err, ProofError::LeafCount { .. }));
            }
        }
    }
}

// --- Property tests on larger trees. -------------------------------------------------------------

fn ref_path_len(m: u64, n: u64) -> usize {
    if n <= 1 {
        return 0;
    }
    let k = 1u64 << (63 - (n - 1).leading_zeros());
    1 + if m < k {
        ref_path_len(m, k)
    } else {
        ref_path_len(m - k, n - k)
    }
}

fn ref_subproof_len(m: u64, n: u64, whole: bool) -> usize {
    if m == n {
        return usize::from(!whole);
    }
    let k = 1u64 << (63 - (n - 1).leading_zeros());
    1 + if m <= k {
        ref_subproof_len(m, k, whole)
    } else {
        ref_subproof_len(m - k, n - k, false)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn inclusion_in_larger_trees(t in 1u64..=1024, seed in any::<u64>()) {
        let (leaves, store) = big();
        let n = seed % t;
        let root = mth(&leaves[..t as usize]);
        prop_assert_eq!(tree_hash(t, store).expect("tree_hash"), root);
        let proof = prove_record(t, n, store).expect("prove_record");
        prop_assert_eq!(&proof, &path(n as usize, &leaves[..t as usize]));
        prop_assert!(verify_inclusion(n, t, &leaves[n as usize], &proof, &root).is_ok());
        prop_assert!(check_record(&proof, t, &root, n, &leaves[n as usize]).is_ok());
    }

    #[test]
    fn consistency_and_ranges_in_larger_trees(t in 1u64..=1024, s1 in any::<u64>(), s2 in any::<u64>()) {
        let (leaves, store) = big();
        let n = 1 + s1 % t;
        let (old, new) = (mth(&leaves[..n as usize]), mth(&leaves[..t as usize]));
        let proof = prove_tree(t, n, store).expect("prove_tree");
        prop_assert_eq!(&proof, &subproof(n as usize, &leaves[..t as usize], true));
        prop_assert!(verify_consistency(n, t, &proof, &old, &new).is_ok());
        prop_assert!(check_tree(&proof, t, &new, n, &old).is_ok());
        let (a, b) = (s2 % t, (s2 % t) + 1 + (s2 >> 32) % 16);
        let b = b.min(t);
        let range = prove_range(a, b, t, store).expect("prove_range");
        prop_assert!(verify_range(a, b, t, &leaves[a as usize..b as usize], &range, &new).is_ok());
    }
}

proptest! {

    #[test]
    fn proof_lengths_at_huge_sizes(size in 1u64..=MAX_TREE_SIZE, s1 in any::<u64>()) {
        let index = s1 % size;
        prop_assert_eq!(inclusion_proof_len(index, size).expect("len"), ref_path_len(index, size));
        let old = 1 + s1 % size;
        let want = ref_subproof_len(old, size, true);
        prop_assert_eq!(consistency_proof_len(old, size).expect("len"), want);
    }

    #[test]
    fn random_proofs_never_verify(
        size in 1u64..=MAX_TREE_SIZE,
        s1 in any::<u64>(),
        bytes in proptest::collection::vec(any::<[u8; 32]>(), 0..70),
    ) {
        let hashes: Vec<Hash> = bytes.into_iter().map(Hash).collect();
        let Some((root, proof)) = hashes.split_first() else { return Ok(()) };
        let leaf = leaf_hash(&s1.to_be_bytes());
        prop_assert!(verify_inclusion(s1 % size, size, &leaf, proof, root).is_err());
        prop_assert!(check_record(proof, size, root, s1 % size, &leaf).is_err());
        let old = 1 + s1 % size;
        prop_assert!(verify_consistency(old, size, proof, &leaf, root).is_err());
        prop_assert!(check_tree(proof, size, root, old, &leaf).is_err());
    }
}
