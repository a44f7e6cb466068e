//! The OpenTimestamps export against real Bitcoin data: regtest blocks built and mined here with
//! the `bitcoin` crate (coinbase with BIP34 height and witness commitment, an anchor transaction
//! with the `OP_RETURN` commitment and a witness, filler transactions), their `gettxoutproof`
//! bytes, and every `.ots` checked by an independent implementation, python-opentimestamps
//! (tests/ots_check.py, run in the venv of scripts/setup.sh).

#[path = "common/ots_checker.rs"]
mod ots_checker;

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version};
use bitcoin::consensus::encode::{deserialize, serialize};
use bitcoin::hashes::{sha256, Hash};
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::{
    transaction, Amount, Block, BlockHash, CompactTarget, MerkleBlock, OutPoint, ScriptBuf,
    Sequence, Target, Transaction, TxIn, TxMerkleNode, TxOut, Txid, WPubkeyHash, Witness,
};
use serde_json::{json, Value};
use std::path::Path;
use vanguard::anchor::ots::{ots_proof, OtsError, MAX_OP_LENGTH};

/// A checkpoint note as the ledger signs it (C2SP signed note: origin, size, root, signature).
fn checkpoint_note(size: u64) -> Vec<u8> {
    format!(
        "vanguard.test/ledger\n{size}\nq5A3J2a1b0RkZ8Tq3mG7c0XoTzQe3bWv9yK1sP2nL4U=\n\n\
         \u{2014} vanguard.test/ledger Hx4W8w1aVn2Yb3Qk0eT9l5r6Z7c8d9e0f1g2h3i4j5k6l7m8n9o0p1q2r3s4t5u6v7w8x9y0z1A2B3C4D5E6F7G8==\n"
    )
    .into_bytes()
}

fn commitment_script(note: &[u8]) -> ScriptBuf {
    let mut push = b"VGD1".to_vec();
    push.extend(sha256::Hash::hash(note).to_byte_array());
    ScriptBuf::new_op_return(PushBytesBuf::try_from(push).expect("36 bytes is a valid push"))
}

fn p2wpkh(seed: &str) -> ScriptBuf {
    ScriptBuf::new_p2wpkh(&WPubkeyHash::hash(seed.as_bytes()))
}

/// An input spending a made-up outpoint, shaped like a P2WPKH spend (witness: signature,
/// public key) or a legacy one (the same two pushes in the script).
fn input(seed: &str, segwit: bool) -> TxIn {
    let signature = [0x30u8; 71];
    let pubkey = [0x02u8; 33];
    TxIn {
        previous_output: OutPoint {
            txid: Txid::hash(seed.as_bytes()),
            vout: 1,
        },
        script_sig: if segwit {
            ScriptBuf::new()
        } else {
            Builder::new()
                .push_slice(signature)
                .push_slice(pubkey)
                .into_script()
        },
        sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
        witness: if segwit {
            Witness::from_slice(&[&signature[..], &pubkey[..]])
        } else {
            Witness::new()
        },
    }
}

fn output(sats: u64, script_pubkey: ScriptBuf) -> TxOut {
    TxOut {
        value: Amount::from_sat(sats),
        script_pubkey,
    }
}

fn tx(input: Vec<TxIn>, output: Vec<TxOut>) -> Transaction {
    Transaction {
        version: transaction::Version::TWO,
        lock_time: LockTime::ZERO,
        input,
        output,
    }
}

/// What `createrawtransaction` with a `data` output and `fundrawtransaction` make: the
/// commitment first, then change; a segwit input, so the txid must come from the non-witness
/// serialization.
fn anchor_tx(note: &[u8]) -> Transaction {
    tx(
        vec![input("anchor funding", true)],
        vec![
            output(0, commitment_script(note)),
            output(98_700, p2wpkh("anchor change")),
        ],
    )
}

fn filler(i: usize) -> Transaction {
    let inputs = (0..1 + i % 3)
        .map(|k| input(&format!("filler {i} input {k}"), i % 2 == 0))
        .collect();
    tx(
        inputs,
        vec![
            output(10_000 + i as u64, p2wpkh(&format!("filler {i} payee"))),
            output(5_000, p2wpkh(&format!("filler {i} change"))),
        ],
    )
}

/// A block at `height` with a coinbase and `txs`, its witness commitment and Merkle root set,
/// its header mined to the regtest target.
fn mine(height: u32, txs: Vec<Transaction>) -> Block {
    let coinbase = Transaction {
        version: transaction::Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: Builder::new()
                .push_int(i64::from(height))
                .push_slice(b"vanguard ots test")
                .into_script(),
            sequence: Sequence::MAX,
            witness: Witness::from_slice(&[[0u8; 32]]),
        }],
        output: vec![output(50_0000_0000, p2wpkh("miner"))],
    };
    let mut block = Block {
        header: Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: BlockHash::hash(&height.wrapping_sub(1).to_le_bytes()),
            merkle_root: TxMerkleNode::all_zeros(),
            time: 1_700_000_000 + height % 1_000_000,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        },
        txdata: std::iter::once(coinbase).chain(txs).collect(),
    };
    // BIP141: the coinbase commits to the witness root (computed with the coinbase's wtxid as 0).
    let witness_root = block.witness_root().expect("block has transactions");
    let commitment = Block::compute_witness_commitment(&witness_root, &[0u8; 32]);
    let mut script = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
    script.extend(commitment.to_byte_array());
    block.txdata[0]
        .output
        .push(output(0, ScriptBuf::from_bytes(script)));
    block.header.merkle_root = block.compute_merkle_root().expect("block has transactions");
    while block
        .header
        .validate_pow(Target::MAX_ATTAINABLE_REGTEST)
        .is_err()
    {
        block.header.nonce += 1;
    }
    assert!(block.check_merkle_root() && block.check_witness_commitment());
    // Core writes heights 1 to 16 as OP_1..OP_16, which `bip34_block_height` does not read.
    if height > 16 {
        assert_eq!(block.bip34_block_height().ok(), Some(u64::from(height)));
    }
    block
}

/// A block of `n` transactions (coinbase included) with the anchor of `note` at `at`.
fn anchored_block(note: &[u8], n: usize, at: usize, height: u32) -> (Block, Transaction) {
    assert!(0 < at && at < n, "the anchor is not the coinbase");
    let anchor = anchor_tx(note);
    let txs = (1..n)
        .map(|i| if i == at { anchor.clone() } else { filler(i) })
        .collect();
    (mine(height, txs), anchor)
}

/// `gettxoutproof [txid]`: the header and partial Merkle tree, through its consensus bytes.
fn txoutproof(block: &Block, txid: Txid) -> MerkleBlock {
    let proof = MerkleBlock::from_block_with_predicate(block, |t| *t == txid);
    deserialize(&serialize(&proof)).expect("gettxoutproof bytes decode")
}

fn levels(n: usize) -> usize {
    (usize::BITS - (n - 1).leading_zeros()) as usize
}

/// Levels at which the path from leaf `index` passes through the last node of an odd-width
/// level, paired with itself: there append and prepend of the sibling compute the same hash.
fn self_paired_levels(n: usize, index: usize) -> usize {
    (0..levels(n))
        .filter(|&level| {
            let width = n.div_ceil(1 << level);
            width % 2 == 1 && index >> level == width - 1
        })
        .count()
}

// ---------------------------------------------------------------------------------------------
// Rust-side checks: structure, and every refusal.

#[test]
fn ots_file_has_the_header_digest_and_attestation() {
    let note = checkpoint_note(7);
    let (block, anchor) = anchored_block(&note, 6, 3, 300);
    let proof = txoutproof(&block, anchor.compute_txid());
    let ots = ots_proof(&note, &anchor, &proof, 300).expect("valid anchor");

    assert_eq!(
        &ots[..31],
        b"\x00OpenTimestamps\x00\x00Proof\x00\xbf\x89\xe2\xe8\x84\xe8\x92\x94"
    );
    assert_eq!(ots[31..33], [0x01, 0x08], "version 1, file hash sha256");
    assert_eq!(ots[33..65], sha256::Hash::hash(&note).to_byte_array());
    // Prepend the non-witness tx bytes before the digest: version, inputs, outputs up to the tag.
    let raw = serialize(&anchor);
    assert_eq!(
        &raw[4..6],
        [0x00, 0x01],
        "the anchor has a witness (segwit marker)"
    );
    assert_eq!(ots[65], 0xf1);
    let prefix_len = usize::from(ots[66]);
    assert_eq!(
        &ots[67..67 + 4],
        &raw[..4],
        "prefix starts with the version"
    );
    assert_eq!(
        &ots[67 + 4..67 + 5],
        &raw[6..7],
        "then the input count, no marker"
    );
    assert_eq!(&ots[67 + prefix_len - 4..67 + prefix_len], b"VGD1");
    // Height 300 is the varuint ac 02, in a 2-byte payload.
    let attestation = [
        0x00, 0x05, 0x88, 0x96, 0x0d, 0x73, 0xd7, 0x19, 0x01, 0x02, 0xac, 0x02,
    ];
    assert_eq!(ots[ots.len() - attestation.len()..], attestation);
}

#[test]
fn a_transaction_without_the_commitment_is_refused() {
    let note = checkpoint_note(7);
    let (block, anchor) = anchored_block(&note, 4, 1, 10);
    let proof = txoutproof(&block, anchor.compute_txid());
    match ots_proof(&checkpoint_note(8), &anchor, &proof, 10) {
        Err(OtsError::CommitmentNotInTx { txid, commitment }) => {
            assert_eq!(txid, anchor.compute_txid());
            assert_eq!(commitment, sha256::Hash::hash(&checkpoint_note(8)));
        }
        other => panic!("expected CommitmentNotInTx, got {other:?}"),
    }
    // The bare digest, without the tag, is not the commitment either.
    let mut untagged = anchor.clone();
    untagged.output[0].script_pubkey = ScriptBuf::new_op_return(
        PushBytesBuf::try_from(sha256::Hash::hash(&note).to_byte_array().to_vec()).expect("push"),
    );
    let block = mine(10, vec![filler(1), untagged.clone()]);
    let proof = txoutproof(&block, untagged.compute_txid());
    assert!(matches!(
        ots_proof(&note, &untagged, &proof, 10),
        Err(OtsError::CommitmentNotInTx { .. })
    ));
}

#[test]
fn a_transaction_committing_twice_is_refused() {
    let note = checkpoint_note(7);
    let mut anchor = anchor_tx(&note);
    anchor.output.push(output(0, commitment_script(&note)));
    let block = mine(10, vec![filler(1), anchor.clone()]);
    let proof = txoutproof(&block, anchor.compute_txid());
    match ots_proof(&note, &anchor, &proof, 10) {
        Err(OtsError::CommitmentFoundTwice {
            first: 0,
            second: 2,
            ..
        }) => {}
        other => panic!("expected CommitmentFoundTwice at outputs 0 and 2, got {other:?}"),
    }
}

#[test]
fn a_proof_of_another_transaction_is_refused() {
    let note = checkpoint_note(7);
    let (block, anchor) = anchored_block(&note, 5, 2, 10);
    let other = block.txdata[3].compute_txid();
    let proof = txoutproof(&block, other);
    match ots_proof(&note, &anchor, &proof, 10) {
        Err(OtsError::TxNotInProof { txid, matched }) => {
            assert_eq!(txid, anchor.compute_txid());
            assert_eq!(matched, vec![other]);
        }
        other => panic!("expected TxNotInProof, got {other:?}"),
    }
    // The same transaction in another block: that block's proof does not contain it.
    let (elsewhere, _) = anchored_block(&checkpoint_note(9), 5, 2, 11);
    let proof = txoutproof(&elsewhere, elsewhere.txdata[2].compute_txid());
    assert!(matches!(
        ots_proof(&note, &anchor, &proof, 11),
        Err(OtsError::TxNotInProof { .. })
    ));
}

#[test]
fn a_tampered_proof_is_refused() {
    let note = checkpoint_note(7);
    let (block, anchor) = anchored_block(&note, 9, 6, 10);
    let txid = anchor.compute_txid();
    let bytes = serialize(&txoutproof(&block, txid));
    // Layout: header (80), num_transactions (4), hash count (1), hashes (32 each), flag bytes.
    let hashes = usize::from(bytes[84]);
    assert_eq!(
        hashes,
        1 + levels(9),
        "the anchor and one sibling per level"
    );

    // A sibling hash changed: the tree's root is no longer the header's.
    let mut sibling = bytes.clone();
    sibling[85] ^= 0x01;
    let sibling: MerkleBlock = deserialize(&sibling).expect("still decodes");
    match ots_proof(&note, &anchor, &sibling, 10) {
        Err(OtsError::RootMismatch { header, computed }) => {
            assert_eq!(header, block.header.merkle_root);
            assert_ne!(computed, header);
        }
        other => panic!("expected RootMismatch, got {other:?}"),
    }

    // The header's Merkle root changed (another block's header with this tree).
    let mut header = txoutproof(&block, txid);
    header.header.merkle_root = TxMerkleNode::hash(b"another block");
    assert!(matches!(
        ots_proof(&note, &anchor, &header, 10),
        Err(OtsError::RootMismatch { .. })
    ));

    // One hash dropped: the tree no longer decodes as Core's traversal needs.
    let mut short = bytes[..84].to_vec();
    short.push(bytes[84] - 1);
    short.extend_from_slice(&bytes[85 + 32..]);
    let short: MerkleBlock = deserialize(&short).expect("still decodes");
    assert!(matches!(
        ots_proof(&note, &anchor, &short, 10),
        Err(OtsError::MalformedProof(_))
    ));

    // A transaction count of twice the real one: different tree shape, bits run out or the
    // root differs; either way no file.
    let mut count = bytes.clone();
    count[80] = 18;
    let count: MerkleBlock = deserialize(&count).expect("still decodes");
    assert!(matches!(
        ots_proof(&note, &anchor, &count, 10),
        Err(OtsError::MalformedProof(_) | OtsError::RootMismatch { .. })
    ));
}

#[test]
fn a_transaction_too_large_for_opentimestamps_is_refused() {
    let note = checkpoint_note(7);
    let mut anchor = anchor_tx(&note);
    // An output with a 4096-byte script: the non-witness serialization passes 4096 bytes.
    anchor.output.push(output(
        1_000,
        ScriptBuf::from_bytes(vec![0x51; MAX_OP_LENGTH]),
    ));
    let block = mine(10, vec![anchor.clone(), filler(2)]);
    let proof = txoutproof(&block, anchor.compute_txid());
    match ots_proof(&note, &anchor, &proof, 10) {
        Err(OtsError::TxTooLarge { size, max, .. }) => {
            assert_eq!(size, anchor.base_size());
            assert_eq!(max, 4096);
        }
        other => panic!("expected TxTooLarge, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The independent check: python-opentimestamps parses and replays every file
// (tests/common/ots_checker.rs runs tests/ots_check.py).

struct Fixture {
    name: String,
    note: Vec<u8>,
    block: Block,
    ots: Vec<u8>,
    height: u32,
    tx_count: usize,
    anchor_at: usize,
}

fn write_case(dir: &Path, fixture: &Fixture, claimed_height: u32, tamper: bool) -> Value {
    let stem = dir.join(&fixture.name);
    let (ots, note, block) = (
        stem.with_extension("ots"),
        stem.with_extension("note"),
        stem.with_extension("block"),
    );
    std::fs::write(&ots, &fixture.ots).expect("write ots");
    std::fs::write(&note, &fixture.note).expect("write note");
    std::fs::write(&block, serialize(&fixture.block)).expect("write block");
    json!({
        "name": fixture.name, "ots": ots, "note": note, "block": block,
        "height": claimed_height, "tamper": tamper,
    })
}

/// Blocks of several sizes (odd and even at different levels), the anchor first, in the middle
/// and last (paired with itself), heights whose varuint takes 1 to 5 bytes. python-opentimestamps
/// must parse each file, replay it from the note's digest to the block's Merkle root, find one
/// Bitcoin attestation at the height, and build the very same bytes itself from the block; every
/// single-bit flip, truncation and extension of a file must fail the replay (but for append <->
/// prepend of a node paired with itself, which is the same proof); a file checked against another
/// height, block or note must fail too.
#[test]
fn python_opentimestamps_replays_every_file_to_the_merkle_root() {
    let shapes: [(usize, usize, u32); 8] = [
        (2, 1, 1),
        (3, 2, 127),
        (5, 1, 128),
        (7, 4, 300),
        (8, 5, 16_384),
        (11, 10, 840_000),
        (16, 7, 2_097_152),
        (23, 12, 1_000_000_000),
    ];
    let fixtures: Vec<Fixture> = shapes
        .iter()
        .map(|&(n, at, height)| {
            let note = checkpoint_note(n as u64 * 1000 + at as u64);
            let (block, anchor) = anchored_block(&note, n, at, height);
            let proof = txoutproof(&block, anchor.compute_txid());
            let ots = ots_proof(&note, &anchor, &proof, height).expect("valid anchor");
            Fixture {
                name: format!("n{n}-at{at}-h{height}"),
                note,
                block,
                ots,
                height,
                tx_count: n,
                anchor_at: at,
            }
        })
        .collect();

    let dir = tempfile::tempdir().expect("tempdir");
    let mut manifest: Vec<Value> = fixtures
        .iter()
        .enumerate()
        .map(|(i, f)| write_case(dir.path(), f, f.height, i < 4))
        .collect();

    // The same files against the wrong facts.
    let first = &fixtures[3];
    let mut wrong_height = write_case(dir.path(), first, first.height + 1, false);
    wrong_height["name"] = json!("wrong height");
    let mut other_block = wrong_height.clone();
    other_block["name"] = json!("other block");
    other_block["height"] = json!(first.height);
    let second_block = dir.path().join(format!("{}.block", fixtures[4].name));
    other_block["block"] = json!(second_block);
    let mut other_note = wrong_height.clone();
    other_note["name"] = json!("other note");
    other_note["height"] = json!(first.height);
    other_note["note"] = json!(dir.path().join(format!("{}.note", fixtures[4].name)));
    manifest.extend([wrong_height, other_block, other_note]);

    let reports = ots_checker::run(&manifest, dir.path());
    assert_eq!(reports.len(), manifest.len());

    for (fixture, report) in fixtures.iter().zip(&reports) {
        let name = &fixture.name;
        assert_eq!(report["name"], json!(name));
        assert_eq!(report["block_ok"], json!(true), "{name}: {report}");
        assert_eq!(report["valid"], json!(true), "{name}: {report}");
        assert_eq!(
            report["merkle_root"],
            json!(fixture.block.header.merkle_root.to_string()),
            "{name}"
        );
        let ops = 4 + 3 * levels(fixture.tx_count);
        assert_eq!(
            report["ops"],
            json!(ops),
            "{name}: prepend, append, sha256 x2, then 3 per level"
        );
        assert_eq!(
            report["reference_identical"],
            json!(true),
            "{name}: {report}"
        );
    }
    // Every change to a file fails, except flipping append <-> prepend where a node is paired
    // with itself: the same messages, so the same proof.
    for (fixture, report) in fixtures.iter().zip(&reports).take(4) {
        let name = &fixture.name;
        let probes = report["probes"].as_u64().expect("tamper probes ran");
        assert_eq!(probes as usize, fixture.ots.len() * 9 + 1, "{name}");
        let accepted = report["accepted_tampers"].as_array().expect("list");
        let expected = self_paired_levels(fixture.tx_count, fixture.anchor_at);
        assert_eq!(accepted.len(), expected, "{name}: {report}");
        for tamper in accepted {
            assert_eq!(tamper["same_messages"], json!(true), "{name}: {tamper}");
        }
    }
    assert!(
        fixtures
            .iter()
            .take(4)
            .any(|f| self_paired_levels(f.tx_count, f.anchor_at) > 0)
            && fixtures
                .iter()
                .take(4)
                .any(|f| self_paired_levels(f.tx_count, f.anchor_at) == 0),
        "the tamper cases cover paths with and without a self-paired level"
    );

    let wrong = &reports[fixtures.len()..];
    let expect = [
        ("wrong height", "attestation height"),
        ("other block", "not the block's merkle root"),
        ("other note", "file digest"),
    ];
    for ((name, reason), report) in expect.iter().zip(wrong) {
        assert_eq!(report["name"], json!(name));
        assert_eq!(report["valid"], json!(false), "{name}: {report}");
        let why = report["reason"].as_str().unwrap_or_default();
        assert!(
            why.contains(reason),
            "{name}: reason {why:?} should say {reason:?}"
        );
    }
}
