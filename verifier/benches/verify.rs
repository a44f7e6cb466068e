//! Verification throughput: receipts per second, and slice entries per second on a
//! 1M-entry slice (target: >= 1M entries/s on one core), generated in memory.
//!
//! `cargo bench -p vanguard-verifier --bench verify`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vanguard_verifier::{
    prove_record, verify_file, verify_slice, Checkpoint, CompactRange, Entry, Hash, KeyName,
    Options, Origin, RangeProof, Receipt, SignerKey, SliceHeader, SliceWriter,
};

#[path = "../tests/common/mod.rs"]
mod common;

/// A slice of `[0, n)` against the checkpoint of size `n` (so the range proof is empty).
/// Every `full_every`-th entry is given in full with its payload; the others as leaf hashes.
fn make_slice(n: u64, full_every: u64) -> (Vec<u8>, SignerKey) {
    let key = SignerKey::from_seed(KeyName::new(common::ORIGIN).expect("name"), [42; 32]);
    let header = SliceHeader::new(common::ORIGIN, 0, n, serde_json::json!({}));
    let mut w = SliceWriter::new(Vec::with_capacity(n as usize * 120), &header).expect("header");
    let mut acc = CompactRange::new(0);
    let mut prev = Hash::ZERO;
    for seq in 0..n {
        let bytes = common::make_entry(seq, prev)
            .canonical_bytes()
            .expect("canonical");
        let leaf = if seq % full_every == 0 {
            let p = Entry::parse_canonical(&bytes)
                .expect("entry")
                .payload
                .map(|_| common::payload(seq));
            w.write_entry(&bytes, p.as_deref()).expect("entry")
        } else {
            let leaf = vanguard_verifier::leaf_hash(&bytes);
            w.write_leaf(seq, &leaf).expect("leaf");
            leaf
        };
        acc.append(leaf).expect("append");
        prev = leaf;
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
    let mut g = c.benchmark_group("slice");
    g.sample_size(10);
    for (name, n, every) in [
        ("1M entries, 1 in 100 full", 1_000_000u64, 100u64),
        (
            "1M entries, all leaf lines but entry 0",
            1_000_000,
            u64::MAX,
        ),
        ("100k entries, all full with payloads", 100_000, 1),
    ] {
        let (bytes, key) = make_slice(n, every);
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
