//! Interop: the checkpoint and tlog-proof inside a receipt are accepted by an independent
//! implementation (`tests/interop/check_receipt.py`: Python, `cryptography` for Ed25519, its
//! own RFC 9162 inclusion check and canonical JSON), and tampered receipts are rejected by
//! it. Python is found as `$VANGUARD_PYTHON`, then `<repo>/.venv/bin/python`, then `python3`;
//! the test is skipped, saying so, only when that Python lacks `cryptography`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::TestLedger;

fn python() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let candidates = std::env::var_os("VANGUARD_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([root.join(".venv/bin/python"), PathBuf::from("python3")]);
    for p in candidates {
        let ok = Command::new(&p)
            .args(["-c", "import cryptography"])
            .output()
            .map(|o| o.status.success());
        match ok {
            Ok(true) => return Some(p),
            Ok(false) => eprintln!("{}: no `cryptography` module", p.display()),
            Err(_) => {}
        }
    }
    None
}

#[test]
fn independent_python_checker_agrees() {
    let Some(python) = python() else {
        eprintln!("SKIPPED interop test: no python with the `cryptography` package");
        return;
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/check_receipt.py");
    let l = TestLedger::new(21);
    let vkey = l.vkey().to_string();
    let dir = std::env::temp_dir().join(format!("vg-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let check = |name: &str, json: &str| -> (bool, String) {
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, json).expect("write");
        let out = Command::new(&python)
            .arg(&script)
            .arg(&path)
            .arg(&vkey)
            .output()
            .expect("run python");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    // Every leaf of several tree sizes, including the edges.
    for (seq, size) in [
        (0, 1),
        (0, 2),
        (1, 2),
        (5, 13),
        (12, 13),
        (7, 8),
        (20, 21),
        (16, 21),
    ] {
        let (ok, text) = check("good", &l.receipt(seq, size, true).to_json());
        assert!(ok, "leaf {seq} of {size} refused: {text}");
    }
    let good = l.receipt(5, 13, false).to_json();
    let tampered = [
        (
            "entry field",
            good.replacen("\"session\":\"s-0\"", "\"session\":\"s-1\"", 1),
        ),
        ("index", good.replacen("index 5\\n", "index 4\\n", 1)),
        ("checkpoint size", good.replacen("\\n13\\n", "\\n14\\n", 1)),
        ("proof hash", {
            let h = l.receipt(5, 13, false).proof().hashes[1].to_base64();
            let mut flipped = l.receipt(5, 13, false).proof().hashes[1];
            flipped.0[0] ^= 1;
            good.replacen(&h, &flipped.to_base64(), 1)
        }),
        ("wrong key", {
            let forged = vanguard_verifier::Checkpoint::new(
                vanguard_verifier::Origin::new(common::ORIGIN).expect("o"),
                13,
                l.root(13),
            )
            .sign(&common::impostor())
            .expect("sign");
            let path = vanguard_verifier::prove_record(13, 5, &l.store).expect("proof");
            vanguard_verifier::Receipt::new(l.entries[5].clone(), None, 5, path, forged)
                .expect("receipt")
                .to_json()
        }),
    ];
    for (name, json) in &tampered {
        assert_ne!(json, &good, "{name}: mutation did not apply");
        let (ok, text) = check(name, json);
        assert!(!ok, "{name}: accepted by the independent checker: {text}");
        // And by ours neither.
        let report = vanguard_verifier::verify_file(
            json.as_bytes(),
            &[l.vkey()],
            &vanguard_verifier::Options::default(),
        );
        assert!(!report.is_valid(), "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
