use super::*;

// The example key and note of Go's golang.org/x/mod/sumdb/note (package doc and
// note_test.go): an independent implementation of the format, byte for byte.
const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                       then you don't know what your problem is.\n";
const GO_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

fn go_note() -> String {
    format!("{GO_TEXT}\n{GO_SIG}")
}

fn key(name: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(KeyName::new(name).expect("valid name"), [seed; 32])
}

#[test]
fn go_known_answer_sign_and_open() {
    let signer = SignerKey::parse(GO_SKEY).expect("Go signer key");
    let verifier = VerifierKey::parse(GO_VKEY).expect("Go verifier key");
    assert_eq!(signer.id(), KeyId(0xc74f20a3));
    assert_eq!(signer.verifier_key(), verifier);
    assert_eq!(verifier.to_string(), GO_VKEY);
    assert_eq!(signer.to_private_text(), GO_SKEY);
    assert_eq!(sign_note(GO_TEXT, &[&signer]).expect("sign"), go_note());

    let note = open_note(go_note().as_bytes(), &[verifier]).expect("open");
    assert_eq!(note.text(), GO_TEXT);
    assert_eq!(note.verified().len(), 1);
    assert_eq!(note.verified()[0].id, KeyId(0xc74f20a3));
    assert!(note.unknown().is_empty());
}

#[test]
fn signer_debug_hides_the_secret() {
    let signer = SignerKey::parse(GO_SKEY).expect("Go signer key");
    let debug = format!("{signer:?}");
    assert!(
        debug.contains("PeterNeumann") && !debug.contains("AYEKFAL"),
        "{debug}"
    );
}

#[test]
fn key_names() {
    for good in [
        "a",
        "example.com/log42",
        "vanguard.local/ledger-1",
        "\u{e9}t\u{e9}",
    ] {
        assert!(KeyName::new(good).is_ok(), "{good:?}");
    }
    for bad in ["", "a+b", "a b", "a\tb", "a\u{a0}b", "a\u{2003}b", "a\n"] {
        assert!(
            matches!(KeyName::new(bad), Err(NoteError::KeyName { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn every_mangled_verifier_key_is_refused() {
    // As Go's TestNewVerifier: every proper substring and every single-byte increment.
    let b = GO_VKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if (i, j) == (0, b.len()) {
                continue;
            }
            let s = String::from_utf8_lossy(&b[i..j]);
            assert!(VerifierKey::parse(&s).is_err(), "{s:?} accepted");
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] = m[i].wrapping_add(1);
        let s = String::from_utf8_lossy(&m);
        assert!(VerifierKey::parse(&s).is_err(), "{s:?} accepted");
    }
}

#[test]
fn key_text_errors_carry_evidence() {
    let wrong_id = GO_VKEY.replace("c74f20a3", "c74f20a4");
    assert_eq!(
        VerifierKey::parse(&wrong_id),
        Err(NoteError::KeyIdMismatch {
            stated: KeyId(0xc74f20a4),
            computed: KeyId(0xc74f20a3)
        })
    );
    let upper = GO_VKEY.replace("c74f20a3", "C74F20A3");
    assert!(matches!(
        VerifierKey::parse(&upper),
        Err(NoteError::KeyText { .. })
    ));
    // Type byte 0x02 (ECDSA) instead of 0x01: the same 33 bytes with the first changed.
    // ("ARpc" is 0x01 0x1a 0x5c; "Ahpc" is 0x02 0x1a 0x5c.)
    let ecdsa = GO_VKEY.replace("+ARpc", "+Ahpc");
    assert_eq!(
        VerifierKey::parse(&ecdsa),
        Err(NoteError::KeyType { found: 0x02 })
    );
    let unprefixed = GO_SKEY.trim_start_matches("PRIVATE+KEY+");
    assert!(matches!(
        SignerKey::parse(unprefixed),
        Err(NoteError::KeyText { .. })
    ));
}

#[test]
fn round_trip_with_several_signers() {
    let (a, b) = (key("a.example/log", 1), key("b.example/witness", 2));
    let text = "line one\n\nline three after a blank line\n";
    let signed = sign_note(text, &[&a, &b]).expect("sign");
    // Trusting only b: a's signature is kept as unknown, b's verified.
    let note = open_note(signed.as_bytes(), &[b.verifier_key()]).expect("open");
    assert_eq!(note.text(), text);
    assert_eq!(note.verified()[0].name, *b.name());
    assert_eq!(note.unknown().len(), 1);
    assert_eq!(note.unknown()[0].name, *a.name());
    // Trusting both: both verified.
    let note = open_note(signed.as_bytes(), &[a.verifier_key(), b.verifier_key()]).expect("open");
    assert_eq!(note.verified().len(), 2);
    // Signing is deterministic.
    assert_eq!(sign_note(text, &[&a, &b]).expect("sign"), signed);
}

#[test]
fn refusals() {
    let signer = SignerKey::parse(GO_SKEY).expect("key");
    let trusted = [signer.verifier_key()];
    let good = go_note();
    let open = |s: &str| open_note(s.as_bytes(), &trusted);

    assert_eq!(
        open(&good.replace("you think", "you thinks")).map(|_| ()),
        Err(NoteError::BadSignature {
            name: "PeterNeumann".into(),
            id: KeyId(0xc74f20a3),
        })
    );
    assert_eq!(
        open(&good.replace("\n\n", "\n")).map(|_| ()),
        Err(NoteError::NoSignatureBlock)
    );
    assert_eq!(
        open(good.trim_end()).map(|_| ()),
        Err(NoteError::NoSignatureBlock)
    );
    assert_eq!(
        open(&format!("{GO_TEXT}\n")).map(|_| ()),
        Err(NoteError::NoSignatureBlock)
    );
    assert_eq!(
        open(&good.replace("problem,\n", "problem,\r\n")).map(|_| ()),
        Err(NoteError::ControlCharacter {
            offset: GO_TEXT.find('\n').unwrap_or(0),
            byte: b'\r'
        })
    );
    let mut invalid = good.clone().into_bytes();
    invalid[3] = 0xff;
    assert_eq!(
        open_note(&invalid, &trusted).map(|_| ()),
        Err(NoteError::NotUtf8 { offset: 3 })
    );

    let line = |reason| Err(NoteError::SignatureLine { line: 1, reason });
    assert_eq!(
        open(&good.replace('\u{2014}', "--")).map(|_| ()),
        line("does not start with '— '")
    );
    assert_eq!(
        open(&good.replace("Neumann x08", "Neumannx08")).map(|_| ()),
        line("no space after the key name")
    );
    assert_eq!(
        open(&good.replace("AM=\n", "AM\n")).map(|_| ()),
        line("signature is not canonical base64")
    );
    assert_eq!(
        open(&good.replace("AM=\n", "AM= \n")).map(|_| ()),
        line("signature is not canonical base64")
    );
    assert_eq!(
        open(&format!("{GO_TEXT}\n\u{2014} PeterNeumann AAAA\n")).map(|_| ()),
        line("signature shorter than a key ID and one byte")
    );
    // A blank line inside the signature block moves the split: the last blank line wins, the
    // first signature line becomes text, and the signature no longer matches that text.
    assert!(matches!(
        open(&format!("{good}\n{GO_SIG}")),
        Err(NoteError::BadSignature { .. })
    ));
    assert!(open(&format!("{good}\n")).is_err());
}

#[test]
fn unknown_keys_are_ignored_but_not_enough() {
    let go = SignerKey::parse(GO_SKEY).expect("key");
    let other = key("PeterNeumann", 9); // same name, different key ID
    assert_ne!(other.id(), go.id());
    let note = go_note();
    let err = open_note(note.as_bytes(), &[other.verifier_key()]).expect_err("untrusted");
    assert_eq!(
        err,
        NoteError::NoTrustedSignature {
            unknown: vec!["PeterNeumann+c74f20a3".into()]
        }
    );
    assert_eq!(
        open_note(note.as_bytes(), &[]).map(|_| ()),
        Err(NoteError::NoTrustedSignature {
            unknown: vec!["PeterNeumann+c74f20a3".into()]
        })
    );
    // An extra signature by an unknown key does not spoil a trusted one.
    let extra = format!("{note}\u{2014} someone.else AAAAAAAA\n");
    let opened = open_note(extra.as_bytes(), &[go.verifier_key()]).expect("open");
    assert_eq!(opened.unknown().len(), 1);
}

#[test]
fn signature_count_is_capped() {
    let go = SignerKey::parse(GO_SKEY).expect("key");
    let unknown = "\u{2014} someone.else AAAAAAAA\n";
    let at_cap = format!("{}{}", go_note(), unknown.repeat(MAX_SIGNATURES - 1));
    assert!(open_note(at_cap.as_bytes(), &[go.verifier_key()]).is_ok());
    let over = format!("{}{}", go_note(), unknown.repeat(MAX_SIGNATURES));
    assert_eq!(
        open_note(over.as_bytes(), &[go.verifier_key()]).map(|_| ()),
        Err(NoteError::TooManySignatures {
            max: MAX_SIGNATURES
        })
    );
    let huge = "x".repeat(MAX_NOTE_SIZE + 1);
    assert!(matches!(
        open_note(huge.as_bytes(), &[]),
        Err(NoteError::TooLarge { .. })
    ));
}

#[test]
fn ambiguous_trusted_keys_are_an_error_but_duplicates_are_not() {
    let go = SignerKey::parse(GO_SKEY).expect("key");
    let v = go.verifier_key();
    assert!(open_note(go_note().as_bytes(), &[v.clone(), v.clone()]).is_ok());
    // A forged verifier with the same name and ID but another key (easy to find: IDs are
    // 32 bits) makes the trusted set ambiguous.
    let mut forged = key("x", 3).verifier_key();
    forged.name = v.name().clone();
    forged.id = v.id();
    assert!(matches!(
        open_note(go_note().as_bytes(), &[v, forged]),
        Err(NoteError::AmbiguousKey { .. })
    ));
}

#[test]
fn sign_refuses_bad_text() {
    let k = key("k", 1);
    assert_eq!(sign_note("no newline", &[&k]), Err(NoteError::Text));
    assert_eq!(sign_note("", &[&k]), Err(NoteError::Text));
    assert_eq!(
        sign_note("tab\there\n", &[&k]),
        Err(NoteError::ControlCharacter {
            offset: 3,
            byte: b'\t'
        })
    );
    assert_eq!(sign_note("fine\n", &[]), Err(NoteError::NoSigner));
}
