//! The RFC 6962 inclusion and consistency vectors of transparency-dev/merkle (valid and
//! deliberately broken), from `shared/testdata/rfc6962` beside the repository. Valid cases
//! must verify and broken ones must fail, with both verifiers (the chained
//! `verify_*` and the recursive `check_*`). A missing or short vector directory is a failure,
//! not a skip.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use vanguard_verifier::{check_record, check_tree, verify_consistency, verify_inclusion, Hash};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/rfc6962");
const MIN_CASES: usize = 196;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InclusionCase {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsistencyCase {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("test vectors must exist at {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("read_dir entry").path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// Every hash of a case, or `None` if one of them is not a 32-byte base64 hash (our types
/// cannot even hold such a value: parsing refuses it before any proof math runs).
fn decode_all<'a>(values: impl IntoIterator<Item = &'a String>) -> Option<Vec<Hash>> {
    values
        .into_iter()
        .map(|s| Hash::from_base64(s).ok())
        .collect()
}

/// Maps any string to a 32-byte hash, preserving equality: the vectors' malformed values
/// (empty, garbage-extended, 9- or 12-byte "don't care" roots) become distinct stand-ins, so
/// the proof math is exercised on them too, not only the parser. The prefix keeps a
/// stand-in from colliding with a real hash (`SHA-256("")` is the empty tree's root).
fn opaque(s: &str) -> Hash {
    Hash::from_base64(s).unwrap_or_else(|_| Hash::sha256(format!("stand-in:{s}").as_bytes()))
}

fn opaque_all<'a>(values: impl IntoIterator<Item = &'a String>) -> Vec<Hash> {
    values.into_iter().map(|s| opaque(s)).collect()
}

#[derive(Default, Debug)]
struct Tally {
    valid: usize,
    broken_by_math: usize,
    broken_by_parse: usize,
}

fn run_inclusion(c: &InclusionCase, tally: &mut Tally, name: &str) {
    let proof_text = c.proof.clone().unwrap_or_default();
    let all = std::iter::once(&c.root)
        .chain([&c.leaf_hash])
        .chain(&proof_text);
    let hashes = match decode_all(all.clone()) {
        Some(hashes) => hashes,
        None => {
            assert!(
                c.want_err,
                "{name}: valid case with a malformed hash ({})",
                c.desc
            );
            tally.broken_by_parse += 1;
            if c.desc == "empty root and leaf" {
                // Both values are "": equal stand-ins would make a valid size-1 proof. Only
                // the refusal to parse an empty hash catches this one, as it should.
                return;
            }
            opaque_all(all)
        }
    };
    let (root, leaf, proof) = (hashes[0], hashes[1], &hashes[2..]);
    let chained = verify_inclusion(c.leaf_idx, c.tree_size, &leaf, proof, &root);
    let recursive = check_record(proof, c.tree_size, &root, c.leaf_idx, &leaf);
    assert_eq!(
        chained.is_err(),
        c.want_err,
        "{name}: verify_inclusion {chained:?} ({})",
        c.desc
    );
    assert_eq!(
        recursive.is_err(),
        c.want_err,
        "{name}: check_record {recursive:?}"
    );
    if c.want_err {
        tally.broken_by_math += 1;
    } else {
        tally.valid += 1;
    }
}

fn run_consistency(c: &ConsistencyCase, tally: &mut Tally, name: &str) {
    let proof_text = c.proof.clone().unwrap_or_default();
    let all = [&c.root1, &c.root2].into_iter().chain(&proof_text);
    let hashes = match decode_all(all.clone()) {
        Some(hashes) => hashes,
        None => {
            // One valid case has opaque 12-byte roots (equal sizes, empty proof, equal roots):
            // our parser refuses such roots outright, stricter than Go, which compares bytes;
            // the stand-ins check the rule the case is about.
            tally.broken_by_parse += usize::from(c.want_err);
            opaque_all(all)
        }
    };
    let (root1, root2, proof) = (hashes[0], hashes[1], &hashes[2..]);
    let chained = verify_consistency(c.size1, c.size2, proof, &root1, &root2);
    let recursive = check_tree(proof, c.size2, &root2, c.size1, &root1);
    assert_eq!(
        chained.is_err(),
        c.want_err,
        "{name}: verify_consistency {chained:?} ({})",
        c.desc
    );
    assert_eq!(
        recursive.is_err(),
        c.want_err,
        "{name}: check_tree {recursive:?}"
    );
    if c.want_err {
        tally.broken_by_math += 1;
    } else {
        tally.valid += 1;
    }
}

#[test]
fn rfc6962_vectors() {
    let root = Path::new(VECTORS);
    let mut files = Vec::new();
    json_files(&root.join("inclusion"), &mut files);
    let inclusion_files = files.len();
    json_files(&root.join("consistency"), &mut files);
    assert!(
        files.len() >= MIN_CASES,
        "expected at least {MIN_CASES} vectors under {VECTORS}, found {}",
        files.len()
    );

    let (mut inclusion, mut consistency) = (Tally::default(), Tally::default());
    for (i, path) in files.iter().enumerate() {
        let name = path
            .strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string();
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{name}: {e}"));
        if i < inclusion_files {
            let case: InclusionCase =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            run_inclusion(&case, &mut inclusion, &name);
        } else {
            let case: ConsistencyCase =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            run_consistency(&case, &mut consistency, &name);
        }
    }
    // Pin how the set splits, so a vector silently turning into a parse failure shows up.
    assert_eq!(
        (inclusion.valid, inclusion.broken_by_parse),
        (6, 26),
        "{inclusion:?}"
    );
    assert_eq!(
        (consistency.valid, consistency.broken_by_parse),
        (6, 26),
        "{consistency:?}"
    );
    let broken = inclusion.broken_by_math + consistency.broken_by_math;
    assert!(
        broken >= MIN_CASES - 12 - 1,
        "{inclusion:?} {consistency:?}"
    );
}
