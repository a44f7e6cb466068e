use super::*;

#[test]
fn stored_hash_index_matches_the_diagram() {
    let want = [
        (0, 0, 0),
        (0, 1, 1),
        (1, 0, 2),
        (0, 2, 3),
        (0, 3, 4),
        (1, 1, 5),
        (2, 0, 6),
    ];
    for (level, n, index) in want {
        assert_eq!(stored_hash_index(level, n), index, "({level}, {n})");
        assert_eq!(split_stored_hash_index(index), (level, n), "{index}");
    }
    assert_eq!(stored_hash_index(0, 4), 7);
    assert_eq!(stored_hash_index(1, 2), 9);
}

#[test]
fn split_inverts_index_for_every_stored_hash() {
    let mut expected = 0;
    for n in 0..1000u64 {
        // Leaf n stores (0, n), then (1, n/2), ... for each trailing one of n.
        for level in 0..=n.trailing_ones() {
            assert_eq!(stored_hash_index(level, n >> level), expected);
            assert_eq!(split_stored_hash_index(expected), (level, n >> level));
            expected += 1;
        }
        assert_eq!(stored_hash_count(n + 1), expected);
    }
}

#[test]
fn proof_lengths() {
    assert_eq!(inclusion_proof_len(0, 1).ok(), Some(0));
    assert_eq!(inclusion_proof_len(5, 8).ok(), Some(3));
    assert_eq!(inclusion_proof_len(2, 3).ok(), Some(1));
    assert!(matches!(
        inclusion_proof_len(3, 3),
        Err(ProofError::IndexOutOfRange { index: 3, size: 3 })
    ));
    assert_eq!(consistency_proof_len(2, 5).ok(), Some(2));
    assert_eq!(consistency_proof_len(4, 4).ok(), Some(0));
    assert!(matches!(
        consistency_proof_len(0, 4),
        Err(ProofError::SizeOrder { old: 0, new: 4 })
    ));
    assert!(matches!(
        consistency_proof_len(5, 4),
        Err(ProofError::SizeOrder { old: 5, new: 4 })
    ));
    // Huge sizes do not overflow the length arithmetic.
    assert_eq!(inclusion_proof_len(0, u64::MAX).ok(), Some(64));
    assert_eq!(inclusion_proof_len(u64::MAX - 1, u64::MAX).ok(), Some(63));
}

#[test]
fn slice_reader_reports_missing_hash() {
    let store = vec![Hash::ZERO; 3];
    let err = tree_hash(4, &store).expect_err("size 4 needs index 6");
    assert!(matches!(err, ProofError::Reader(_)), "{err:?}");
    assert_eq!(
        store.read_hashes(&[2, 3]),
        Err(HashNotStored {
            index: 3,
            stored: 3
        })
    );
}

#[test]
fn tree_too_large_is_refused() {
    let store: Vec<Hash> = Vec::new();
    assert!(matches!(
        tree_hash(MAX_TREE_SIZE + 1, &store),
        Err(ProofError::TreeTooLarge { .. })
    ));
    assert!(matches!(
        stored_hashes(MAX_TREE_SIZE, b"", &store),
        Err(ProofError::TreeTooLarge { .. })
    ));
}
