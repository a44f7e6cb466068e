//! The worked example in `docs/formats.md` and `docs/verify.md` is checked here byte for
//! byte: entry 0 of the test ledger, its leaf hash, the roots of the 3-entry tree, the signed
//! checkpoint and the verifier key. If this fails after a format change, the message prints
//! the values to paste into the docs.

mod common;

use common::TestLedger;

fn doc(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn worked_example_matches_the_docs() {
    let l = TestLedger::new(3);
    let entry0 = String::from_utf8(l.entries[0].clone()).expect("utf-8");
    let values = [
        ("entry 0", entry0),
        ("leaf hash 0", l.leaves[0].to_string()),
        ("leaf hash 1", l.leaves[1].to_string()),
        ("leaf hash 2", l.leaves[2].to_string()),
        ("root of size 3", l.root(3).to_string()),
        ("root of size 3, base64", l.root(3).to_base64()),
        ("verifier key", l.vkey().to_string()),
        ("signed checkpoint", l.checkpoint(3)),
    ];
    let formats = doc("formats.md");
    let missing: Vec<String> = values
        .iter()
        .filter(|(_, v)| !formats.contains(v.as_str()))
        .map(|(k, v)| format!("{k}:\n{v}\n"))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/formats.md lacks:\n{}",
        missing.join("\n")
    );
    let verify = doc("verify.md");
    assert!(
        verify.contains(&l.vkey().to_string()),
        "docs/verify.md lacks the example key"
    );
}
