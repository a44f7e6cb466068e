//! A real small ledger built in memory, the way the proxy's ledger builds one: canonical
//! entries chained by `prev`, stored hashes appended with `stored_hashes`, checkpoints
//! signed with a seeded key. Tests produce receipts, slices and consistency files from it.
#![allow(dead_code)]

use serde_json::json;
use vanguard_verifier::{
    prove_range, prove_record, prove_tree, stored_hashes, tree_hash, Action, ConsistencyFile,
    Direction, Entry, Hash, KeyName, Kind, Origin, PayloadDigest, Receipt, RpcId, SignerKey,
    SliceHeader, SliceWriter, Verdict, VerifierKey,
};

pub const ORIGIN: &str = "vanguard.local/test-ledger";

pub fn signer() -> SignerKey {
    SignerKey::from_seed(KeyName::new(ORIGIN).expect("name"), [42; 32])
}

/// Same name, different key: what a forger without the log's key would use.
pub fn impostor() -> SignerKey {
    SignerKey::from_seed(KeyName::new(ORIGIN).expect("name"), [43; 32])
}

pub fn payload(seq: u64) -> Vec<u8> {
    format!(
        r#"{{"jsonrpc":"2.0","id":{seq},"method":"tools/call","params":{{"name":"read_file","arguments":{{"path":"/tmp/{seq}"}}}}}}"#
    )
    .into_bytes()
}

/// Time of entry `seq`: one microsecond apart (valid for seq < 10^9 / 1000).
pub fn time(seq: u64) -> String {
    format!("2026-01-02T03:04:05.{:09}Z", seq * 1000 % 1_000_000_000)
}

/// Entry `seq`: requests and responses, every 7th an event; entry 9 (if present) is a
/// redaction event naming entry 3.
pub fn make_entry(seq: u64, prev: Hash) -> Entry {
    let base = Entry {
        v: 1,
        seq,
        time: time(seq),
        session: format!("s-{}", seq / 10),
        instance: "vg-1@host".into(),
        server: "stdio:fs".into(),
        direction: if seq % 2 == 0 {
            Direction::AgentToServer
        } else {
            Direction::ServerToAgent
        },
        kind: if seq % 2 == 0 {
            Kind::Request
        } else {
            Kind::Response
        },
        method: Some("tools/call".into()),
        tool: Some("read_file".into()),
        rpc_id: Some(RpcId::Number(seq as i64)),
        payload: Some(PayloadDigest::of(&payload(seq))),
        verdict: Some(Verdict {
            action: if seq % 5 == 4 {
                Action::Block
            } else {
                Action::Allow
            },
            layer: "L1".into(),
            rules: vec![],
            reason: None,
            score: Some(0),
        }),
        prev,
        event: None,
    };
    if seq == 9 || seq % 7 == 6 {
        let event = if seq == 9 {
            json!({"type": "redaction", "seq": 3, "reason": "PII"})
        } else {
            json!({"type": "config", "detail": "rules reloaded"})
        };
        Entry {
            direction: Direction::Proxy,
            kind: Kind::Event,
            method: None,
            tool: None,
            rpc_id: None,
            payload: None,
            verdict: None,
            event: Some(event),
            ..base
        }
    } else {
        base
    }
}

pub struct TestLedger {
    pub key: SignerKey,
    pub entries: Vec<Vec<u8>>,
    pub leaves: Vec<Hash>,
    pub store: Vec<Hash>,
}

impl TestLedger {
    pub fn new(n: u64) -> TestLedger {
        let mut l = TestLedger {
            key: signer(),
            entries: Vec::new(),
            leaves: Vec::new(),
            store: Vec::new(),
        };
        let mut prev = Hash::ZERO;
        for seq in 0..n {
            let bytes = make_entry(seq, prev).canonical_bytes().expect("canonical");
            let hashes = stored_hashes(seq, &bytes, &l.store).expect("stored hashes");
            prev = hashes[0];
            l.leaves.push(hashes[0]);
            l.store.extend(hashes);
            l.entries.push(bytes);
        }
        l
    }

    pub fn vkey(&self) -> VerifierKey {
        self.key.verifier_key()
    }

    pub fn root(&self, size: u64) -> Hash {
        tree_hash(size, &self.store).expect("root")
    }

    pub fn checkpoint(&self, size: u64) -> String {
        vanguard_verifier::Checkpoint::new(
            Origin::new(ORIGIN).expect("origin"),
            size,
            self.root(size),
        )
        .sign(&self.key)
        .expect("sign")
    }

    pub fn receipt(&self, seq: u64, size: u64, with_payload: bool) -> Receipt {
        let path = prove_record(size, seq, &self.store).expect("proof");
        Receipt::new(
            self.entries[seq as usize].clone(),
            with_payload.then(|| payload(seq)),
            seq,
            path,
            self.checkpoint(size),
        )
        .expect("receipt")
    }

    /// A slice of `[begin, end)` against the checkpoint of `size`: entries for which `full`
    /// holds are given in full (with their payload unless redacted: entry 3 is), others as
    /// leaf hashes. The header carries `prev_leaf` when `begin > 0`.
    pub fn slice(&self, begin: u64, end: u64, size: u64, full: impl Fn(u64) -> bool) -> Vec<u8> {
        let mut header = SliceHeader::new(ORIGIN, begin, end, json!({"session": "any"}));
        if begin > 0 {
            header.prev_leaf = Some(self.leaves[begin as usize - 1]);
        }
        let mut w = SliceWriter::new(Vec::new(), &header).expect("header");
        for seq in begin..end {
            if full(seq) {
                let entry = &self.entries[seq as usize];
                let parsed = Entry::parse_canonical(entry).expect("entry");
                let p = (parsed.payload.is_some() && seq != 3).then(|| payload(seq));
                w.write_entry(entry, p.as_deref()).expect("entry line");
            } else {
                w.write_leaf(seq, &self.leaves[seq as usize])
                    .expect("leaf line");
            }
        }
        let proof = prove_range(begin, end, size, &self.store).expect("range proof");
        w.finish(&self.checkpoint(size), &proof, None)
            .expect("trailer")
    }

    pub fn consistency(&self, old: u64, new: u64) -> ConsistencyFile {
        ConsistencyFile::new(
            self.checkpoint(old),
            self.checkpoint(new),
            prove_tree(new, old, &self.store).expect("consistency proof"),
        )
    }
}
pub mod regtest;
