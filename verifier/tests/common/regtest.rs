//! Regtest blocks made in process with the `bitcoin` crate, as a Bitcoin Core node on
//! `-regtest` makes them: a coinbase (BIP 34 height), the transactions given, filler
//! transactions, the real Merkle root, and a header mined to the regtest target
//! (`0x207fffff`). Everything is deterministic: the same calls give the same blocks.
//!
//! Shared by the verifier's anchor tests and the main crate's loopback Bitcoin node
//! (`tests/common/bitcoin_node.rs` includes this file).
#![allow(dead_code)]

use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::blockdata::constants::genesis_block;
use bitcoin::consensus::encode::serialize;
use bitcoin::hashes::Hash as _;
use bitcoin::locktime::absolute::LockTime;
use bitcoin::pow::CompactTarget;
use bitcoin::script::{Builder, ScriptBuf};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, BlockHash, MerkleBlock, Network, OutPoint, Sequence, Transaction, TxIn, TxOut,
    Txid, Witness,
};

/// Regtest's proof-of-work limit, compact form: every header uses it.
pub const REGTEST_BITS: u32 = 0x207f_ffff;
/// Time of block 1 (2026-01-01T00:00:00Z); each later block is ten minutes on.
pub const START_TIME: u32 = 1_767_225_600;

/// A P2WPKH script for a made-up key hash.
pub fn p2wpkh(tag: u8) -> ScriptBuf {
    let mut bytes = vec![0x00, 0x14];
    bytes.extend([tag; 20]);
    ScriptBuf::from_bytes(bytes)
}

/// The coinbase of block `height`: BIP 34 height push, 50 BTC to a P2WPKH script.
pub fn coinbase(height: u64) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: Builder::new()
                .push_int(height as i64)
                .push_slice(b"vanguard-regtest")
                .into_script(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(50 * 100_000_000),
            script_pubkey: p2wpkh(0xcb),
        }],
    }
}

/// A segwit spend of a made-up output: one input with a 72-byte signature and a 33-byte
/// key in its witness (so its wtxid differs from its txid), `outputs` as given.
pub fn spend(seed: u64, outputs: Vec<TxOut>) -> Transaction {
    let prev = Txid::hash(&seed.to_le_bytes());
    let mut sig = vec![0x30; 71];
    sig.push(0x01);
    let mut key = vec![0x02];
    key.extend([seed as u8; 32]);
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: prev,
                vout: 0,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::from_slice(&[sig, key]),
        }],
        output: outputs,
    }
}

/// A filler transaction paying to two made-up keys.
pub fn filler(seed: u64) -> Transaction {
    spend(
        seed,
        vec![
            TxOut {
                value: Amount::from_sat(10_000 + seed),
                script_pubkey: p2wpkh(seed as u8),
            },
            TxOut {
                value: Amount::from_sat(20_000),
                script_pubkey: p2wpkh(0xee),
            },
        ],
    )
}

/// What `createrawtransaction` + `fundrawtransaction` + `signrawtransactionwithwallet`
/// make of a `{"data": hex}` output: the OP_RETURN output first, then change.
pub fn data_tx(seed: u64, data: &[u8]) -> Transaction {
    let push =
        bitcoin::script::PushBytesBuf::try_from(data.to_vec()).expect("data under 520 bytes");
    spend(
        seed,
        vec![
            TxOut {
                value: Amount::ZERO,
                script_pubkey: ScriptBuf::new_op_return(push),
            },
            TxOut {
                value: Amount::from_sat(99_000),
                script_pubkey: p2wpkh(0xc4),
            },
        ],
    )
}

/// Grinds `header.nonce` until the hash meets the header's own target.
pub fn mine(header: &mut Header) {
    let target = header.target();
    while header.validate_pow(target).is_err() {
        header.nonce = header.nonce.wrapping_add(1);
    }
}

/// A regtest chain from the real regtest genesis block.
#[derive(Debug, Clone)]
pub struct Chain {
    pub blocks: Vec<Block>,
}

impl Default for Chain {
    fn default() -> Self {
        Self::new()
    }
}

impl Chain {
    pub fn new() -> Chain {
        Chain {
            blocks: vec![genesis_block(Network::Regtest)],
        }
    }

    pub fn height(&self) -> u64 {
        self.blocks.len() as u64 - 1
    }

    pub fn tip(&self) -> &Block {
        self.blocks.last().expect("genesis")
    }

    /// Mines the next block: coinbase, `txs`, then `fillers` filler transactions.
    pub fn mine_block(&mut self, txs: Vec<Transaction>, fillers: u64) -> &Block {
        let height = self.height() + 1;
        let mut txdata = vec![coinbase(height)];
        txdata.extend(txs);
        txdata.extend((0..fillers).map(|i| filler(height * 1000 + i)));
        let mut block = Block {
            header: Header {
                version: BlockVersion::from_consensus(0x2000_0000),
                prev_blockhash: self.tip().block_hash(),
                merkle_root: bitcoin::TxMerkleNode::all_zeros(),
                time: START_TIME + 600 * (height as u32 - 1),
                bits: CompactTarget::from_consensus(REGTEST_BITS),
                nonce: 0,
            },
            txdata,
        };
        block.header.merkle_root = block.compute_merkle_root().expect("transactions");
        mine(&mut block.header);
        self.blocks.push(block);
        self.tip()
    }

    pub fn find(&self, hash: &BlockHash) -> Option<(u64, &Block)> {
        self.blocks
            .iter()
            .enumerate()
            .find(|(_, b)| b.block_hash() == *hash)
            .map(|(h, b)| (h as u64, b))
    }

    /// The block holding `txid`, with its height.
    pub fn find_tx(&self, txid: &Txid) -> Option<(u64, &Block, &Transaction)> {
        self.blocks.iter().enumerate().find_map(|(h, b)| {
            b.txdata
                .iter()
                .find(|t| t.compute_txid() == *txid)
                .map(|t| (h as u64, b, t))
        })
    }

    /// A header chain file (`--headers`) from height `from` to the tip.
    pub fn headers_file(&self, from: u64) -> String {
        let mut s = format!("# regtest headers\nheight {from}\n");
        for b in &self.blocks[from as usize..] {
            s.push_str(&bitcoin::consensus::encode::serialize_hex(&b.header));
            s.push('\n');
        }
        s
    }
}

/// `gettxoutproof [txid]` for a block: the serialised `MerkleBlock` matching `txid`.
pub fn txoutproof(block: &Block, txid: &Txid) -> Vec<u8> {
    serialize(&MerkleBlock::from_block_with_predicate(block, |t| {
        t == txid
    }))
}
