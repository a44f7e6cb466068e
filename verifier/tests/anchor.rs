//! Bitcoin anchors, verified against real regtest blocks built in process (consensus
//! encoding, Merkle trees and proof-of-work as Bitcoin Core makes them): a receipt or slice
//! with an anchor verifies and reports the block; every tampered part, each wrong network and
//! each trust option fails with its check named.

mod common;

use bitcoin::consensus::encode::{deserialize, serialize, serialize_hex};
use bitcoin::hashes::Hash as _;
use bitcoin::hex::FromHex;
use bitcoin::{Amount, Block, MerkleBlock, Transaction, TxOut};
use common::regtest::{self, Chain};
use common::{impostor, TestLedger, ORIGIN};
use serde_json::{json, Value};
use vanguard_verifier::anchor::{commitment_payload, HeaderChain, TrustedBlock};
use vanguard_verifier::{
    prove_tree, verify_file, AnchorNetwork, AnchorOptions, BitcoinAnchor, CheckName, Checkpoint,
    Options, Origin, Outcome, Report,
};

/// The ledger (20 entries), the chain, and an anchor of the checkpoint of `anchored` entries
/// mined in block 2 of 4 (so it has 3 confirmations), with fillers around it.
struct Fixture {
    ledger: TestLedger,
    chain: Chain,
    anchored: u64,
    tx: Transaction,
    block: Block,
}

impl Fixture {
    fn new(anchored: u64) -> Fixture {
        let ledger = TestLedger::new(20);
        let mut chain = Chain::new();
        chain.mine_block(vec![], 3);
        let note = ledger.checkpoint(anchored);
        let tx = regtest::data_tx(7, &commitment_payload(&note));
        let block = chain
            .mine_block(vec![regtest::filler(1), tx.clone()], 5)
            .clone();
        chain.mine_block(vec![], 1);
        chain.mine_block(vec![], 2);
        Fixture {
            ledger,
            chain,
            anchored,
            tx,
            block,
        }
    }

    /// The anchor as the producer records it, with the consistency proof between `base`
    /// (the receipt's or slice's checkpoint size) and the anchored size.
    fn anchor(&self, base: u64) -> BitcoinAnchor {
        let txid = self.tx.compute_txid();
        let (old, new) = (base.min(self.anchored), base.max(self.anchored));
        let proof = prove_tree(new, old, &self.ledger.store).expect("consistency proof");
        BitcoinAnchor::new(
            AnchorNetwork::Regtest,
            self.ledger.checkpoint(self.anchored),
            &serialize(&self.tx),
            &regtest::txoutproof(&self.block, &txid),
            Some(2),
            Some(self.block.block_hash().to_string()),
        )
        .with_consistency(&proof)
    }

    /// A receipt for `seq` against the checkpoint of `size`, carrying `anchor`.
    fn receipt(&self, seq: u64, size: u64, anchor: &BitcoinAnchor) -> Vec<u8> {
        self.ledger
            .receipt(seq, size, false)
            .with_anchors(vec![anchor.to_value()])
            .to_json()
            .into_bytes()
    }
}

fn verify(bytes: &[u8], fx: &Fixture, anchor: &AnchorOptions) -> Report {
    verify_file(
        bytes,
        &[fx.ledger.vkey()],
        &Options {
            remembered: None,
            anchor: Some(anchor),
        },
    )
}

fn failed(report: &Report) -> Option<CheckName> {
    report.first_failure.as_ref().map(|f| f.check)
}

#[test]
fn receipt_with_anchor_verifies_and_reports_the_block() {
    let fx = Fixture::new(8);
    let anchor = fx.anchor(12);
    let report = verify(&fx.receipt(5, 12, &anchor), &fx, &AnchorOptions::default());
    assert!(report.is_valid(), "{}", report.to_text());
    let names: Vec<CheckName> = report.checks.iter().map(|c| c.name).collect();
    for name in [
        CheckName::AnchorFormat,
        CheckName::AnchorNetwork,
        CheckName::AnchorCheckpoint,
        CheckName::AnchorCovers,
        CheckName::AnchorConsistency,
        CheckName::AnchorCommitment,
        CheckName::AnchorTxInBlock,
        CheckName::AnchorMerkleRoot,
        CheckName::AnchorProofOfWork,
    ] {
        assert!(names.contains(&name), "{name:?} ran: {}", report.to_text());
    }
    let info = &report.anchors[0];
    assert_eq!(info.block_hash, fx.block.block_hash().to_string());
    assert_eq!(info.block_time, fx.block.header.time);
    // Block 2 is mined ten minutes after block 1 (2026-01-01T00:00:00Z).
    assert_eq!(info.existed_no_later_than, "2026-01-01T00:10:00Z");
    assert_eq!(
        (info.height, info.height_source, info.bound),
        (Some(2), "claimed", false)
    );
    assert_eq!(info.txid, fx.tx.compute_txid().to_string());
    assert_eq!(info.vout, 0);
    assert_eq!(info.checkpoint_size, 8);
    let text = report.to_text();
    assert!(
        text.contains("existed no later than 2026-01-01T00:10:00Z"),
        "{text}"
    );
    assert!(text.contains("ANCHOR ON BITCOIN REGTEST"), "{text}");
    assert!(text.contains("not bound to a chain you trust"), "{text}");
    let json: Value = serde_json::from_str(&report.to_json()).expect("json");
    assert_eq!(json["anchors"][0]["network"], "regtest");
    assert_eq!(json["anchors"][0]["block_hash"], info.block_hash.as_str());
}

#[test]
fn anchor_of_a_larger_checkpoint_than_the_receipts_verifies() {
    // The receipt is proven against size 6, the anchor covers 8: consistency 6 -> 8.
    let fx = Fixture::new(8);
    let report = verify(
        &fx.receipt(5, 6, &fx.anchor(6)),
        &fx,
        &AnchorOptions::default(),
    );
    assert!(report.is_valid(), "{}", report.to_text());
    // Equal sizes: an empty proof and equal roots.
    let report = verify(
        &fx.receipt(5, 8, &fx.anchor(8)),
        &fx,
        &AnchorOptions::default(),
    );
    assert!(report.is_valid(), "{}", report.to_text());
}

#[test]
fn headers_and_trusted_blocks_bind_the_block_and_count_confirmations() {
    let fx = Fixture::new(8);
    let bytes = fx.receipt(5, 12, &fx.anchor(12));
    let headers = HeaderChain::parse(&fx.chain.headers_file(0)).expect("headers");
    let opts = AnchorOptions {
        network: Some(AnchorNetwork::Regtest),
        headers: Some(headers.clone()),
        trusted_blocks: vec![TrustedBlock {
            hash: fx.chain.tip().block_hash(),
            height: Some(4),
        }],
    };
    let report = verify(&bytes, &fx, &opts);
    assert!(report.is_valid(), "{}", report.to_text());
    let info = &report.anchors[0];
    assert_eq!(
        (info.height, info.height_source, info.bound),
        (Some(2), "headers", true)
    );
    assert_eq!(info.confirmations, Some(3));
    assert!(
        !report.to_text().contains("not bound"),
        "{}",
        report.to_text()
    );

    // The block itself as a trusted block, with its height.
    let opts = AnchorOptions {
        trusted_blocks: vec![format!("{}:2", fx.block.block_hash())
            .parse()
            .expect("parse")],
        ..AnchorOptions::default()
    };
    let report = verify(&bytes, &fx, &opts);
    assert!(report.is_valid(), "{}", report.to_text());
    assert_eq!(report.anchors[0].height_source, "trusted_block");

    // Another block as the only trusted one; headers that stop before the block; a trusted
    // block the headers do not hold; a wrong claimed height.
    let cases: Vec<(AnchorOptions, BitcoinAnchor, Outcome)> = vec![
        (
            AnchorOptions {
                trusted_blocks: vec![TrustedBlock {
                    hash: fx.chain.tip().block_hash(),
                    height: None,
                }],
                ..AnchorOptions::default()
            },
            fx.anchor(12),
            Outcome::Invalid,
        ),
        (
            AnchorOptions {
                headers: Some(
                    HeaderChain::parse(
                        &Chain {
                            blocks: fx.chain.blocks[..2].to_vec(),
                        }
                        .headers_file(0),
                    )
                    .expect("short chain"),
                ),
                ..AnchorOptions::default()
            },
            fx.anchor(12),
            Outcome::Invalid,
        ),
        (
            AnchorOptions {
                headers: Some(HeaderChain::parse(&fx.chain.headers_file(1)).expect("chain")),
                trusted_blocks: vec![TrustedBlock {
                    hash: fx.chain.blocks[0].block_hash(),
                    height: Some(0),
                }],
                ..AnchorOptions::default()
            },
            fx.anchor(12),
            Outcome::Unusable,
        ),
        (
            AnchorOptions {
                headers: Some(headers),
                ..AnchorOptions::default()
            },
            BitcoinAnchor {
                height: Some(3),
                ..fx.anchor(12)
            },
            Outcome::Invalid,
        ),
    ];
    for (i, (opts, anchor, outcome)) in cases.into_iter().enumerate() {
        let report = verify(&fx.receipt(5, 12, &anchor), &fx, &opts);
        assert_eq!(
            failed(&report),
            Some(CheckName::AnchorChain),
            "case {i}: {}",
            report.to_text()
        );
        assert_eq!(report.outcome, outcome, "case {i}");
    }
}

#[test]
fn header_chain_files_are_checked() {
    let fx = Fixture::new(8);
    let good = fx.chain.headers_file(0);
    assert_eq!(HeaderChain::parse(&good).expect("parse").tip(), 4);
    // Drop header 2: header 3 no longer links.
    let mut lines: Vec<&str> = good.lines().collect();
    lines.remove(4);
    let err = HeaderChain::parse(&lines.join("\n")).expect_err("unlinked");
    assert!(err.to_string().contains("does not link"), "{err}");
    assert!(HeaderChain::parse("00").is_err(), "no height line");
    assert!(HeaderChain::parse("height 1\nzz").is_err(), "not hex");
}

/// Decodes, changes and re-encodes the `MerkleBlock`.
fn with_merkle_block(anchor: &BitcoinAnchor, f: impl Fn(&mut MerkleBlock)) -> BitcoinAnchor {
    let mut mb: MerkleBlock =
        deserialize(&Vec::<u8>::from_hex(&anchor.txoutproof).expect("hex")).expect("decode");
    f(&mut mb);
    BitcoinAnchor {
        txoutproof: serialize_hex(&mb),
        ..anchor.clone()
    }
}

fn with_tx(anchor: &BitcoinAnchor, f: impl Fn(&mut Transaction)) -> BitcoinAnchor {
    let mut tx: Transaction =
        deserialize(&Vec::<u8>::from_hex(&anchor.tx).expect("hex")).expect("decode");
    f(&mut tx);
    BitcoinAnchor {
        tx: serialize_hex(&tx),
        ..anchor.clone()
    }
}

/// Changes the header's time to the first value after `from` whose hash does (`meets`) or
/// does not meet the regtest target: at regtest difficulty about half of all hashes do.
fn retime(anchor: &BitcoinAnchor, meets: bool) -> BitcoinAnchor {
    with_merkle_block(anchor, |mb| {
        let target = mb.header.target();
        mb.header.time += 1;
        while mb.header.validate_pow(target).is_ok() != meets {
            mb.header.time += 1;
        }
    })
}

#[test]
fn every_tampered_part_fails_with_its_check_named() {
    let fx = Fixture::new(8);
    let good = fx.anchor(12);
    let other_note = fx.ledger.checkpoint(9);
    let forged_note = Checkpoint::new(Origin::new(ORIGIN).expect("origin"), 8, fx.ledger.root(8))
        .sign(&impostor())
        .expect("sign");
    let probes: Vec<(&str, BitcoinAnchor, CheckName)> = vec![
        (
            "tx not hex",
            BitcoinAnchor {
                tx: "zz".into(),
                ..good.clone()
            },
            CheckName::AnchorFormat,
        ),
        (
            "tx with a trailing byte",
            BitcoinAnchor {
                tx: format!("{}00", good.tx),
                ..good.clone()
            },
            CheckName::AnchorFormat,
        ),
        (
            "unknown network",
            BitcoinAnchor {
                network: "moon".into(),
                ..good.clone()
            },
            CheckName::AnchorFormat,
        ),
        (
            "tx commits to another digest",
            with_tx(&good, |tx| {
                let mut bytes = tx.output[0].script_pubkey.to_bytes();
                bytes[37] ^= 1;
                tx.output[0].script_pubkey = bytes.into();
            }),
            CheckName::AnchorCommitment,
        ),
        (
            "OP_RETURN output removed",
            with_tx(&good, |tx| {
                tx.output.remove(0);
            }),
            CheckName::AnchorCommitment,
        ),
        (
            "tx change amount altered (another txid)",
            with_tx(&good, |tx| tx.output[1].value = Amount::from_sat(1)),
            CheckName::AnchorTxInBlock,
        ),
        (
            "tx swapped for another with the same commitment",
            with_tx(&good, |tx| {
                tx.output.push(TxOut {
                    value: Amount::from_sat(5),
                    script_pubkey: regtest::p2wpkh(1),
                })
            }),
            CheckName::AnchorTxInBlock,
        ),
        (
            "txoutproof: a tree hash flipped",
            with_merkle_block(&good, |mb| {
                let mut hashes = mb.txn.hashes().clone();
                let last = hashes.len() - 1;
                let mut bytes = hashes[last].to_byte_array();
                bytes[0] ^= 1;
                hashes[last] = bitcoin::TxMerkleNode::from_byte_array(bytes);
                *mb = rebuild(mb, hashes);
            }),
            CheckName::AnchorMerkleRoot,
        ),
        (
            "txoutproof: header Merkle root changed",
            with_merkle_block(&good, |mb| {
                mb.header.merkle_root = fx.chain.blocks[1].header.merkle_root;
                regtest::mine(&mut mb.header);
            }),
            CheckName::AnchorMerkleRoot,
        ),
        (
            "txoutproof: truncated",
            BitcoinAnchor {
                txoutproof: good.txoutproof[..good.txoutproof.len() - 2].into(),
                ..good.clone()
            },
            CheckName::AnchorFormat,
        ),
        (
            "header time changed, hash misses the target",
            retime(&good, false),
            CheckName::AnchorProofOfWork,
        ),
        (
            "header target above the regtest limit",
            with_merkle_block(&good, |mb| {
                mb.header.bits = bitcoin::CompactTarget::from_consensus(0x2100_ffff);
                regtest::mine(&mut mb.header);
            }),
            CheckName::AnchorProofOfWork,
        ),
        (
            "claimed block hash is another block's",
            BitcoinAnchor {
                block_hash: Some(fx.chain.blocks[1].block_hash().to_string()),
                ..good.clone()
            },
            CheckName::AnchorProofOfWork,
        ),
        (
            "regtest header relabelled mainnet",
            BitcoinAnchor {
                network: "main".into(),
                ..good.clone()
            },
            CheckName::AnchorProofOfWork,
        ),
        (
            "anchored checkpoint's signature altered",
            BitcoinAnchor {
                checkpoint: good.checkpoint.replacen(
                    "\u{2014} vanguard.local/test-ledger ",
                    "\u{2014} vanguard.local/test-ledger A",
                    1,
                ),
                ..good.clone()
            },
            CheckName::AnchorCheckpoint,
        ),
        (
            "anchored checkpoint signed by an impostor",
            BitcoinAnchor {
                checkpoint: forged_note,
                ..good.clone()
            },
            CheckName::AnchorCheckpoint,
        ),
        (
            "anchored checkpoint swapped (with its own valid consistency proof)",
            BitcoinAnchor {
                checkpoint: other_note,
                ..good.clone()
            }
            .with_consistency(&prove_tree(12, 9, &fx.ledger.store).expect("proof")),
            CheckName::AnchorCommitment,
        ),
        (
            "consistency hash flipped",
            {
                let mut a = good.clone();
                let mut bytes = base64_decode(&a.consistency[0]);
                bytes[5] ^= 0x80;
                a.consistency[0] = base64_encode(&bytes);
                a
            },
            CheckName::AnchorConsistency,
        ),
        (
            "consistency hash dropped",
            {
                let mut a = good.clone();
                a.consistency.pop();
                a
            },
            CheckName::AnchorConsistency,
        ),
    ];
    assert!(!good.consistency.is_empty());
    for (what, anchor, check) in probes {
        let report = verify(&fx.receipt(5, 12, &anchor), &fx, &AnchorOptions::default());
        assert_eq!(
            report.outcome,
            Outcome::Invalid,
            "{what}: {}",
            report.to_text()
        );
        assert_eq!(failed(&report), Some(check), "{what}: {}", report.to_text());
        assert!(report.to_text().contains("INVALID: anchor 0: "), "{what}");
    }

    // The receipt's entry lies past the anchored checkpoint.
    let fx3 = Fixture::new(3);
    let report = verify(
        &fx3.receipt(5, 12, &fx3.anchor(12)),
        &fx3,
        &AnchorOptions::default(),
    );
    assert_eq!(
        failed(&report),
        Some(CheckName::AnchorCovers),
        "{}",
        report.to_text()
    );

    // The auditor insists on mainnet: the regtest anchor is refused by name.
    let report = verify(
        &fx.receipt(5, 12, &good),
        &fx,
        &AnchorOptions {
            network: Some(AnchorNetwork::Main),
            ..AnchorOptions::default()
        },
    );
    assert_eq!(
        failed(&report),
        Some(CheckName::AnchorNetwork),
        "{}",
        report.to_text()
    );

    // A header retimed to a hash that still meets the regtest target passes proof-of-work
    // (regtest work is free), and is caught only by the auditor's headers.
    let retimed = retime(&good, true);
    let report = verify(
        &fx.receipt(
            5,
            12,
            &BitcoinAnchor {
                block_hash: None,
                ..retimed.clone()
            },
        ),
        &fx,
        &AnchorOptions::default(),
    );
    assert!(report.is_valid(), "{}", report.to_text());
    let report = verify(
        &fx.receipt(
            5,
            12,
            &BitcoinAnchor {
                block_hash: None,
                ..retimed
            },
        ),
        &fx,
        &AnchorOptions {
            headers: Some(HeaderChain::parse(&fx.chain.headers_file(0)).expect("headers")),
            ..AnchorOptions::default()
        },
    );
    assert_eq!(
        failed(&report),
        Some(CheckName::AnchorChain),
        "{}",
        report.to_text()
    );
}

/// A `MerkleBlock` with the partial tree's hashes replaced (through its encoding: the
/// fields are private).
fn rebuild(mb: &MerkleBlock, hashes: Vec<bitcoin::TxMerkleNode>) -> MerkleBlock {
    let mut bytes = serialize(&mb.header);
    bytes.extend(mb.txn.num_transactions().to_le_bytes());
    bytes.extend(serialize(&bitcoin::VarInt(hashes.len() as u64)));
    for h in &hashes {
        bytes.extend(serialize(h));
    }
    let bits = mb.txn.bits();
    let mut flags = vec![0u8; bits.len().div_ceil(8)];
    for (i, b) in bits.iter().enumerate() {
        flags[i / 8] |= u8::from(*b) << (i % 8);
    }
    bytes.extend(serialize(&bitcoin::VarInt(flags.len() as u64)));
    bytes.extend(flags);
    deserialize(&bytes).expect("rebuilt MerkleBlock")
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Adds `anchors` to a slice's trailer line.
fn anchor_slice(slice: &[u8], anchors: Vec<Value>) -> Vec<u8> {
    let text = String::from_utf8(slice.to_vec()).expect("utf-8");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut trailer: Value = serde_json::from_str(lines.last().expect("trailer")).expect("json");
    trailer["anchors"] = json!(anchors);
    *lines.last_mut().expect("trailer") = trailer.to_string();
    let mut out = lines.join("\n");
    out.push('\n');
    out.into_bytes()
}

#[test]
fn slices_carry_and_check_anchors() {
    let fx = Fixture::new(8);
    let slice = fx.ledger.slice(2, 7, 12, |s| s % 2 == 0);
    let good = anchor_slice(&slice, vec![fx.anchor(12).to_value()]);
    let report = verify(&good, &fx, &AnchorOptions::default());
    assert!(report.is_valid(), "{}", report.to_text());
    assert_eq!(report.anchors.len(), 1);
    assert_eq!(
        report.anchors[0].block_hash,
        fx.block.block_hash().to_string()
    );

    let bad = anchor_slice(&slice, vec![retime(&fx.anchor(12), false).to_value()]);
    let report = verify(&bad, &fx, &AnchorOptions::default());
    assert_eq!(
        failed(&report),
        Some(CheckName::AnchorProofOfWork),
        "{}",
        report.to_text()
    );

    // The slice reaches entry 10, past the anchored 8 entries.
    let long = anchor_slice(
        &fx.ledger.slice(2, 11, 12, |_| true),
        vec![fx.anchor(12).to_value()],
    );
    let report = verify(&long, &fx, &AnchorOptions::default());
    assert_eq!(
        failed(&report),
        Some(CheckName::AnchorCovers),
        "{}",
        report.to_text()
    );

    // An anchor type this verifier does not know is a warning, not a pass.
    let other = anchor_slice(&slice, vec![json!({"type": "opentimestamps"})]);
    let report = verify(&other, &fx, &AnchorOptions::default());
    assert!(report.is_valid());
    assert!(report.anchors.is_empty());
    assert!(
        report.warnings.iter().any(|w| w.contains("does not check")),
        "{:?}",
        report.warnings
    );
}

/// Known answer: the first two mainnet headers (`bitcoin-cli getblockheader $(bitcoin-cli
/// getblockhash 0) false`, and 1) form a valid chain with real mainnet work; regtest headers
/// do not pass as mainnet ones.
#[test]
fn real_mainnet_headers_pass_and_regtest_headers_do_not() {
    let mainnet = "# mainnet blocks 0 and 1\nheight 0\n\
        0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c\n\
        010000006fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000982051fd1e4ba744bbbe680e1fee14677ba1a3c3540bf7b1cdb606e857233e0e61bc6649ffff001d01e36299\n";
    let chain = HeaderChain::parse(mainnet).expect("mainnet headers");
    let block1: bitcoin::BlockHash =
        "00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048"
            .parse()
            .expect("hash");
    assert_eq!(chain.height_of(&block1), Some(1));
    assert_eq!(chain.tip(), 1);
    assert_eq!(chain.check_work(AnchorNetwork::Main), Ok(()));
    // One changed nonce and block 1's hash misses mainnet's target.
    let forged = mainnet.replace("01e36299", "01e36298");
    let err = HeaderChain::parse(&forged)
        .expect("still linked")
        .check_work(AnchorNetwork::Main)
        .expect_err("no work");
    assert_eq!(err.0, 1, "{err:?}");
    let regtest = HeaderChain::parse(&Chain::new().headers_file(0)).expect("regtest genesis");
    assert!(regtest.check_work(AnchorNetwork::Regtest).is_ok());
    let err = regtest
        .check_work(AnchorNetwork::Main)
        .expect_err("easier than mainnet");
    assert!(
        err.1.contains("easier than the main network's limit"),
        "{err:?}"
    );
}

/// Every single-byte change to the `MerkleBlock` (the anchor names its block hash), and to
/// every byte of the transaction that its id commits to, is refused. Witness bytes are not
/// part of the txid, so changing them leaves a transaction that is still the one in the
/// block: those must still verify.
#[test]
fn every_byte_flip_of_tx_and_txoutproof_is_refused() {
    let fx = Fixture::new(8);
    let good = fx.anchor(12);
    let proof = Vec::<u8>::from_hex(&good.txoutproof).expect("hex");
    for i in 0..proof.len() {
        let mut bytes = proof.clone();
        bytes[i] ^= 0x01;
        let anchor = BitcoinAnchor {
            txoutproof: bitcoin::hex::DisplayHex::to_lower_hex_string(&bytes[..]),
            ..good.clone()
        };
        let report = verify(&fx.receipt(5, 12, &anchor), &fx, &AnchorOptions::default());
        assert_eq!(
            report.outcome,
            Outcome::Invalid,
            "txoutproof byte {i}: {}",
            report.to_text()
        );
    }
    let tx = Vec::<u8>::from_hex(&good.tx).expect("hex");
    let base = serialize(&Transaction {
        input: fx
            .tx
            .input
            .iter()
            .cloned()
            .map(|mut i| {
                i.witness = bitcoin::Witness::new();
                i
            })
            .collect(),
        ..fx.tx.clone()
    })
    .len();
    let witness = tx.len() - base - 2;
    let witness_at = tx.len() - 4 - witness..tx.len() - 4;
    let mut still_valid = 0;
    for i in 0..tx.len() {
        let mut bytes = tx.clone();
        bytes[i] ^= 0x01;
        let anchor = BitcoinAnchor {
            tx: bitcoin::hex::DisplayHex::to_lower_hex_string(&bytes[..]),
            ..good.clone()
        };
        let report = verify(&fx.receipt(5, 12, &anchor), &fx, &AnchorOptions::default());
        if witness_at.contains(&i) && report.is_valid() {
            still_valid += 1;
        } else {
            assert_eq!(
                report.outcome,
                Outcome::Invalid,
                "tx byte {i}: {}",
                report.to_text()
            );
        }
    }
    // The signature and key bytes themselves (not their length prefixes) keep the txid.
    assert_eq!(still_valid, 72 + 33, "witness bytes that keep the txid");
}
