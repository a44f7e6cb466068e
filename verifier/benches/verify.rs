//! Verification throughput: receipts per second, and slice entries per second on a
//! 1M-entry slice (target: >= 1M entries/s on one core), generated in memory, next to the
//! floor every slice check sits on: SHA-256 leaf hashes of the same entries (`sha256/...`).
//!
//! `cargo bench -p vanguard-verifier --bench verify [-- FILTER]`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vanguard_verifier::{
    leaf_hash, prove_record, verify_file, verify_slice, Checkpoint, CompactRange, Direction, Entry,
    Hash, KeyName, Kind, Options, Origin, PayloadDigest, RangeProof, Receipt, RpcId, SignerKey,
    SliceHeader, SliceWriter,
};

#[path = "../tests/common/mod.rs"]
mod common;

/// Entry `seq` of a realistic ledger: messages, with an event (lifecycle, redaction) only every
/// 1000th entry. (`common::make_entry` makes every 7th an event, to cover them in tests.)
fn bench_entry(seq: u64, prev: Hash) -> Entry {
    let mut e = common::make_entry(seq, prev);
    if e.kind == Kind::Event && seq % 1000 != 0 {
        e.direction = Direction::AgentToServer;
        e.kind = Kind::Request;
        e.event = None;
        e.method = Some("tools/call".into());
        e.tool = Some("read_file".into());
        e.rpc_id = Some(RpcId::Number(seq as i64));
        e.payload = Some(PayloadDigest::of(&common::payload(seq)));
        e.verdict = common::make_entry(1, prev).verdict;
    }
    e
}

/// The canonical bytes of entries `[0, n)`, chained.
fn make_entries(n: u64) -> Vec<Vec<u8>> {
    let mut prev = Hash::ZERO;
    (0..n)
        .map(|seq| {
            let bytes = bench_entry(seq, prev).canonical_bytes().expect("canonical");
            prev = leaf_hash(&bytes);
            bytes
        })
        .collect()
}

/// A slice of `[0, n)` against the checkpoint of size `n` (so the range proof is empty).
/// Every `full_every`-th entry is given in full, with its payload if `payloads`; the others
/// as leaf hashes.
fn make_slice(entries: &[Vec<u8>], full_every: u64, payloads: bool) -> (Vec<u8>, SignerKey) {
    let n = entries.len() as u64;
    let key = SignerKey::from_seed(KeyName::new(common::ORIGIN).expect("name"), [42; 32]);
    let header = SliceHeader::new(common::ORIGIN, 0, n, serde_json::json!({}));
    let mut w = SliceWriter::new(Vec::with_capacity(n as usize * 120), &header).expect("header");
    let mut acc = CompactRange::new(0);
    for (seq, bytes) in (0..n).zip(entries) {
        let leaf = if seq % full_every == 0 {
            let p = (payloads && !bytes.starts_with(br#"{"direction":"proxy""#))
                .then(|| common::payload(seq));
            w.write_entry(bytes, p.as_deref()).expect("entry")
        } else {
            let leaf = leaf_hash(bytes);
            w.write_leaf(seq, &leaf).expect("leaf");
            leaf
        };
        acc.append(leaf).expect("append");
    }
    let root = acc.root(n, &RangeProof::default()).expect("root");
    let cp = Checkpoint::new(Origin::new(common::ORIGIN).expect("origin"), n, root)
        .sign(&key)
        .expect("sign");
    (
        w.finish(&cp, &RangeProof::default(), None)
            .expect("trailer"),
        key,
    )
}

fn receipts(c: &mut Criterion) {
    let l = common::TestLedger::new(1000);
    let size = 1000;
    let r = Receipt::new(
        l.entries[617].clone(),
        Some(common::payload(617)),
        617,
        prove_record(size, 617, &l.store).expect("proof"),
        l.checkpoint(size),
    )
    .expect("receipt")
    .to_json();
    let keys = [l.vkey()];
    let mut g = c.benchmark_group("receipt");
    g.throughput(Throughput::Elements(1));
    g.bench_function("verify_file", |b| {
        b.iter(|| assert!(verify_file(r.as_bytes(), &keys, &Options::default()).is_valid()))
    });
    g.finish();
}

fn slices(c: &mut Criterion) {
    let entries = make_entries(1_000_000);
    let mut g = c.benchmark_group("sha256");
    g.sample_size(10);
    g.throughput(Throughput::Elements(entries.len() as u64));
    // The floor: every full entry's leaf hash is computed, whatever else is checked.
    g.bench_function("leaf hashes of 1M entries", |b| {
        b.iter(|| entries.iter().fold(0u8, |x, e| x ^ leaf_hash(e).0[0]))
    });
    g.finish();

    let mut g = c.benchmark_group("slice");
    g.sample_size(10);
    for (name, n, every, payloads) in [
        ("1M entries, all full", 1_000_000u64, 1u64, false),
        ("1M entries, all full with payloads", 1_000_000, 1, true),
        ("1M entries, 1 in 100 full", 1_000_000, 100, true),
        (
            "1M entries, all leaf lines but entry 0",
            1_000_000,
            u64::MAX,
            true,
        ),
    ] {
        let (bytes, key) = make_slice(&entries[..n as usize], every, payloads);
        let keys = [key.verifier_key()];
        g.throughput(Throughput::Elements(n));
        g.bench_function(name, |b| {
            b.iter(|| {
                let v = verify_slice(&bytes[..], &keys).expect("valid slice");
                assert_eq!(v.counts.full + v.counts.reduced, n);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, receipts, slices);
criterion_main!(benches);
