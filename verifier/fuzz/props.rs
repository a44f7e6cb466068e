//! The properties the fuzz targets assert, shared by `cargo fuzz` (nightly, libFuzzer) and
//! the stable smoke test `verifier/tests/fuzz_smoke.rs`. Each function takes arbitrary bytes
//! and panics only if a property fails; it must never panic otherwise.
//!
//! Properties:
//! - parsers never panic, and whatever they accept re-encodes to the same structure
//!   (receipts, tlog-proofs) or to the same bytes (checkpoint bodies);
//! - nothing built from arbitrary bytes verifies against the fixed trusted key (a random
//!   signature, proof or slice never verifies).
#![allow(dead_code)]

use vanguard_verifier::{
    leaf_hash, open_note, verify_checkpoint, verify_consistency, verify_file, verify_inclusion,
    verify_slice, Checkpoint, Hash, KeyName, Options, Receipt, SignerKey, TlogProof, VerifierKey,
};

/// The only key the fuzz targets trust. Its seed is fixed; inputs that verify against it
/// would need a forged Ed25519 signature.
pub fn trusted() -> VerifierKey {
    SignerKey::from_seed(KeyName::new("vanguard.local/fuzz").expect("name"), [7; 32]).verifier_key()
}

pub fn receipt(data: &[u8]) {
    if let Ok(r) = Receipt::parse(data) {
        let again = Receipt::parse(r.to_json().as_bytes()).expect("re-encoded receipt parses");
        assert_eq!(again, r, "receipt round trip");
    }
    let report = verify_file(data, &[trusted()], &Options::default());
    assert!(!report.is_valid(), "arbitrary receipt verified");
}

pub fn slice(data: &[u8]) {
    assert!(
        verify_slice(data, &[trusted()]).is_err(),
        "arbitrary slice verified"
    );
    let report = verify_file(data, &[trusted()], &Options::default());
    assert!(!report.is_valid(), "arbitrary input verified");
}

pub fn checkpoint(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(c) = Checkpoint::parse_body(text) {
            assert_eq!(c.to_body(), text, "checkpoint body round trip");
        }
        if let Ok(p) = TlogProof::parse(text) {
            assert_eq!(p.to_text(), text, "tlog-proof round trip");
        }
    }
    assert!(
        verify_checkpoint(data, &[trusted()]).is_err(),
        "arbitrary checkpoint verified"
    );
}

pub fn note(data: &[u8]) {
    assert!(
        open_note(data, &[trusted()]).is_err(),
        "arbitrary note verified"
    );
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(k) = text.parse::<VerifierKey>() {
            assert_eq!(k.to_string(), text, "verifier key round trip");
        }
    }
}

/// Reads the input as `index, size, hashes...` and checks that the proof does not verify
/// against the root of a real tree of leaves `leaf_hash([i])`, unless it is that tree's
/// actual proof (impossible to hit by chance). Also exercises consistency verification.
pub fn proof(data: &[u8]) {
    if data.len() < 16 {
        return;
    }
    let index = u64::from_le_bytes(data[0..8].try_into().expect("8 bytes")) % 1024;
    let size = u64::from_le_bytes(data[8..16].try_into().expect("8 bytes")) % 1024 + 1;
    let hashes: Vec<Hash> = data[16..]
        .chunks_exact(32)
        .take(70)
        .map(|c| Hash::from_slice(c).expect("32 bytes"))
        .collect();
    let root = leaf_hash(b"a root nobody can reach by chance");
    let leaf = leaf_hash(&index.to_le_bytes());
    assert!(
        verify_inclusion(index, size, &leaf, &hashes, &root).is_err(),
        "random inclusion proof verified"
    );
    let old = index.clamp(1, size);
    assert!(
        verify_consistency(old, size, &hashes, &leaf, &root).is_err(),
        "random consistency proof verified"
    );
}
