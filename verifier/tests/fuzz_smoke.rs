//! The fuzz targets' properties (`verifier/fuzz/props.rs`) on stable Rust: a few thousand
//! deterministic pseudo-random inputs and mutations of valid receipts, slices, checkpoints
//! and notes per target. `cargo +nightly fuzz run <target>` explores further.

mod common;

#[path = "../fuzz/props.rs"]
mod props;

use common::TestLedger;
use vanguard_verifier::{verify_file, Options};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// One to four edits: flip a bit, set a byte to an interesting value, delete, insert,
    /// duplicate a range, or splice a token.
    fn mutate(&mut self, input: &[u8]) -> Vec<u8> {
        const TOKENS: [&[u8]; 10] = [
            b"\n",
            b"\n\n",
            b"{",
            b"}",
            b"\"",
            b"0",
            b"18446744073709551616",
            b"null",
            b",",
            b"\xe2\x80\x94 ",
        ];
        let mut v = input.to_vec();
        for _ in 0..1 + self.below(4) {
            let at = self.below(v.len());
            match self.below(6) {
                0 if !v.is_empty() => v[at] ^= 1 << self.below(8),
                1 if !v.is_empty() => v[at] = [0, 0x7f, 0xff, b'9', b' '][self.below(5)],
                2 if !v.is_empty() => {
                    let end = (at + 1 + self.below(16)).min(v.len());
                    v.drain(at..end);
                }
                3 => v.insert(at.min(v.len()), self.next() as u8),
                4 if !v.is_empty() => {
                    let end = (at + 1 + self.below(64)).min(v.len());
                    let copy = v[at..end].to_vec();
                    v.splice(at..at, copy);
                }
                _ => {
                    let t = TOKENS[self.below(TOKENS.len())];
                    v.splice(at.min(v.len())..at.min(v.len()), t.iter().copied());
                }
            }
        }
        v
    }
}

const ROUNDS: usize = 1500;

fn seeds() -> (TestLedger, Vec<Vec<u8>>) {
    let l = TestLedger::new(12);
    let seeds = vec![
        l.receipt(5, 12, true).to_json().into_bytes(),
        l.receipt(0, 1, false).to_json().into_bytes(),
        l.slice(2, 10, 12, |s| s % 2 == 0),
        l.slice(0, 12, 12, |_| true),
        l.checkpoint(12).into_bytes(),
        l.consistency(3, 12).to_json().into_bytes(),
    ];
    (l, seeds)
}

fn run(target: fn(&[u8]), salt: u64) {
    let (l, seeds) = seeds();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ salt);
    for _ in 0..ROUNDS {
        target(&rng.bytes(256));
        let seed = &seeds[rng.below(seeds.len())];
        let mutated = rng.mutate(seed);
        target(&mutated);
        // With the key that did sign the seeds: no panic, whatever the outcome.
        let report = verify_file(&mutated, &[l.vkey()], &Options::default());
        assert!(report.exit_code() <= 2);
    }
}

#[test]
fn fuzz_smoke_receipt() {
    run(props::receipt, 1);
}

#[test]
fn fuzz_smoke_slice() {
    run(props::slice, 2);
}

#[test]
fn fuzz_smoke_checkpoint() {
    run(props::checkpoint, 3);
}

#[test]
fn fuzz_smoke_note() {
    run(props::note, 4);
}

#[test]
fn fuzz_smoke_proof() {
    let mut rng = Rng(5);
    for _ in 0..ROUNDS * 2 {
        props::proof(&rng.bytes(16 + 32 * 12));
    }
}

/// Mutations of a valid receipt that still verify with the signing key must have left the
/// entry, payload and proof intact (only whitespace around them, say).
#[test]
fn surviving_receipt_mutations_change_nothing_that_matters() {
    let l = TestLedger::new(12);
    let seed = l.receipt(5, 12, true);
    let json = seed.to_json();
    let mut rng = Rng(6);
    for _ in 0..ROUNDS {
        let mutated = rng.mutate(json.as_bytes());
        let report = verify_file(&mutated, &[l.vkey()], &Options::default());
        if report.is_valid() {
            let parsed = vanguard_verifier::Receipt::parse(&mutated).expect("valid parses");
            assert_eq!(parsed.entry_bytes(), seed.entry_bytes());
            assert_eq!(parsed.payload(), seed.payload());
            assert_eq!(parsed.proof(), seed.proof());
        }
    }
}
