//! C2SP checkpoints (<https://c2sp.org/tlog-checkpoint>): the signed tree head of the ledger.
//!
//! ```text
//! <origin>                       vanguard.local/<ledger-id>, also the log's key name
//! <tree size>                    ASCII decimal, no leading zeros
//! <root hash>                    standard base64 of the RFC 6962 root
//! [<extension line>...]          optional, each non-empty
//! ```
//!
//! The body is the text of a [signed note](crate::open_note). Only [`verify_checkpoint`]
//! makes a [`VerifiedCheckpoint`]; code that needs a trusted tree head takes that type.

use std::fmt;

use crate::hash::{Hash, HashParseError};
use crate::note::{open_note, sign_note, NoteError, SignerKey, VerifiedNote, VerifierKey};

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The signed note around the checkpoint was refused.
    #[error("checkpoint note")]
    Note(#[from] NoteError),
    /// An origin that is empty or contains a control character (newline included).
    #[error("invalid origin {origin:?}")]
    Origin {
        /// The origin given.
        origin: String,
    },
    /// The body does not have the checkpoint shape.
    #[error("checkpoint line {line}: {reason}")]
    Body {
        /// 1-based line number in the body.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A tree size line that is not canonical decimal or does not fit 64 bits.
    #[error("tree size {text:?} is not a canonical decimal number")]
    TreeSize {
        /// The line.
        text: String,
    },
    /// A root hash line that is not base64 of 32 bytes.
    #[error("root hash {text:?}")]
    RootHash {
        /// The line.
        text: String,
        /// Why it was refused.
        #[source]
        source: HashParseError,
    },
    /// No trusted key named as the origin signed the checkpoint (other trusted keys, such
    /// as witnesses, may have).
    #[error("checkpoint for {origin} is not signed by a trusted key of that name (verified: {verified:?})")]
    NotSignedByLog {
        /// The checkpoint's origin.
        origin: String,
        /// Names of the trusted keys that did sign.
        verified: Vec<String>,
    },
    /// [`Checkpoint::sign`] with a key whose name is not the origin.
    #[error("signer {signer} is not named as the origin {origin}")]
    SignerNotOrigin {
        /// The signer's key name.
        signer: String,
        /// The checkpoint's origin.
        origin: String,
    },
}

/// A checkpoint origin: a non-empty line without control characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin(String);

impl Origin {
    /// Validates `origin`.
    pub fn new(origin: &str) -> Result<Origin, CheckpointError> {
        if !is_line(origin) {
            return Err(CheckpointError::Origin {
                origin: origin.to_owned(),
            });
        }
        Ok(Origin(origin.to_owned()))
    }

    /// The origin.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Non-empty, no character below U+0020 (so no newline) and no DEL.
fn is_line(s: &str) -> bool {
    !s.is_empty() && !s.bytes().any(|b| b < 0x20 || b == 0x7f)
}

/// An unverified tree head: what a log claims. See [`VerifiedCheckpoint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: Origin,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: Origin, size: u64, root: Hash) -> Checkpoint {
        Checkpoint {
            origin,
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// Adds extension lines (C2SP discourages them: monitors cannot audit them). Each must
    /// be non-empty, without control characters.
    pub fn with_extensions(
        mut self,
        extensions: Vec<String>,
    ) -> Result<Checkpoint, CheckpointError> {
        if let Some(i) = extensions.iter().position(|e| !is_line(e)) {
            return Err(CheckpointError::Body {
                line: 4 + i,
                reason: "invalid extension line",
            });
        }
        self.extensions = extensions;
        Ok(self)
    }

    /// Parses a checkpoint body (the text of its note). Checks, in order: it ends in a
    /// newline; at least three lines; origin (non-empty, no control characters); tree size
    /// (ASCII digits, no leading zero unless `0`, fits 64 bits); root hash (canonical base64
    /// of 32 bytes); each extension line non-empty without control characters. Every
    /// accepted body re-encodes to the same bytes with [`Checkpoint::to_body`].
    pub fn parse_body(text: &str) -> Result<Checkpoint, CheckpointError> {
        let lines = text.strip_suffix('\n').ok_or(CheckpointError::Body {
            line: 1,
            reason: "does not end with a newline",
        })?;
        let lines: Vec<&str> = lines.split('\n').collect();
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(CheckpointError::Body {
                line: lines.len() + 1,
                reason: "fewer than 3 lines",
            });
        };
        let origin = Origin::new(origin).map_err(|_| CheckpointError::Body {
            line: 1,
            reason: "invalid origin",
        })?;
        let size = parse_size(size)?;
        let root = Hash::from_base64(root).map_err(|source| CheckpointError::RootHash {
            text: (*root).to_owned(),
            source,
        })?;
        Checkpoint::new(origin, size, root)
            .with_extensions(extensions.iter().map(|e| (*e).to_owned()).collect())
    }

    /// The body text: origin, size, root and extension lines, each ending in a newline.
    pub fn to_body(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Signs the checkpoint as a signed note. Checks: the signer's key name is the origin.
    pub fn sign(&self, signer: &SignerKey) -> Result<String, CheckpointError> {
        if signer.name().as_str() != self.origin.as_str() {
            return Err(CheckpointError::SignerNotOrigin {
                signer: signer.name().to_string(),
                origin: self.origin.to_string(),
            });
        }
        Ok(sign_note(&self.to_body(), &[signer])?)
    }

    /// The origin line.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash of the tree of [`size`](Checkpoint::size) leaves.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The extension lines, without newlines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }
}

fn parse_size(text: &str) -> Result<u64, CheckpointError> {
    let bad = || CheckpointError::TreeSize {
        text: text.to_owned(),
    };
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}

/// A checkpoint whose note carries a valid signature by a trusted key named as its origin.
/// Only [`verify_checkpoint`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    checkpoint: Checkpoint,
    note: VerifiedNote,
}

impl VerifiedCheckpoint {
    /// The checkpoint.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The opened note (signatures verified and unknown).
    pub fn note(&self) -> &VerifiedNote {
        &self.note
    }

    /// The origin line.
    pub fn origin(&self) -> &Origin {
        &self.checkpoint.origin
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.checkpoint.size
    }

    /// The root hash.
    pub fn root(&self) -> &Hash {
        &self.checkpoint.root
    }
}

/// Opens a signed checkpoint with the `trusted` keys (never with a key found in the input).
///
/// Checks, in order: the signed note as [`open_note`] does (every trusted signature present
/// verifies, at least one does); the body as [`Checkpoint::parse_body`] does; at least one
/// verified signature is by a key whose name is the origin
/// ([`CheckpointError::NotSignedByLog`]).
pub fn verify_checkpoint(
    signed: &[u8],
    trusted: &[VerifierKey],
) -> Result<VerifiedCheckpoint, CheckpointError> {
    let note = open_note(signed, trusted)?;
    let checkpoint = Checkpoint::parse_body(note.text())?;
    let origin = checkpoint.origin.as_str();
    if !note.verified().iter().any(|s| s.name.as_str() == origin) {
        return Err(CheckpointError::NotSignedByLog {
            origin: origin.to_owned(),
            verified: note.verified().iter().map(|s| s.name.to_string()).collect(),
        });
    }
    Ok(VerifiedCheckpoint { checkpoint, note })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::note::KeyName;

    fn log_key() -> SignerKey {
        SignerKey::from_seed(KeyName::new("vanguard.local/test").expect("name"), [7; 32])
    }

    fn sample() -> Checkpoint {
        let origin = Origin::new("vanguard.local/test").expect("origin");
        Checkpoint::new(origin, 20852163, leaf_hash(b"root"))
    }

    #[test]
    fn body_round_trips() {
        let c = sample();
        let body = c.to_body();
        assert_eq!(body.lines().count(), 3);
        assert_eq!(Checkpoint::parse_body(&body), Ok(c.clone()));
        let ext = c
            .with_extensions(vec!["x-ext one".into(), "two".into()])
            .expect("ext");
        assert_eq!(Checkpoint::parse_body(&ext.to_body()), Ok(ext.clone()));
        assert!(ext.to_body().ends_with("\ntwo\n"));
    }

    #[test]
    fn spec_example_body_parses() {
        let body =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let c = Checkpoint::parse_body(body).expect("spec example");
        assert_eq!(
            (c.origin().as_str(), c.size()),
            ("example.com/behind-the-sofa", 20852163)
        );
        assert_eq!(c.to_body(), body);
    }

    #[test]
    fn strict_body_parsing() {
        let root = leaf_hash(b"root").to_base64();
        let size_err = |s: &str| CheckpointError::TreeSize { text: s.to_owned() };
        for size in [
            "007",
            "00",
            "-1",
            "+1",
            " 1",
            "1 ",
            "0x10",
            "",
            "18446744073709551616",
            "١",
        ] {
            let body = format!("o\n{size}\n{root}\n");
            assert_eq!(
                Checkpoint::parse_body(&body),
                Err(size_err(size)),
                "{size:?}"
            );
        }
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n0\n{root}\n")).map(|c| c.size()),
            Ok(0)
        );
        let max = format!("o\n{}\n{root}\n", u64::MAX);
        assert_eq!(Checkpoint::parse_body(&max).map(|c| c.size()), Ok(u64::MAX));

        let body_err = |line, reason| Err(CheckpointError::Body { line, reason });
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n1\n{root}")),
            body_err(1, "does not end with a newline")
        );
        assert_eq!(
            Checkpoint::parse_body("o\n1\n"),
            body_err(3, "fewer than 3 lines")
        );
        assert_eq!(
            Checkpoint::parse_body(&format!("\n1\n{root}\n")),
            body_err(1, "invalid origin")
        );
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n1\n{root}\n\n")),
            body_err(4, "invalid extension line")
        );
        assert_eq!(
            Checkpoint::parse_body(&format!("o\x7f\n1\n{root}\n")),
            body_err(1, "invalid origin")
        );
        for bad_root in [&root[..root.len() - 1], "AAAA", &format!("{root} ")] {
            let body = format!("o\n1\n{bad_root}\n");
            assert!(matches!(
                Checkpoint::parse_body(&body),
                Err(CheckpointError::RootHash { .. })
            ));
        }
    }

    #[test]
    fn sign_and_verify() {
        let key = log_key();
        let signed = sample().sign(&key).expect("sign");
        let v = verify_checkpoint(signed.as_bytes(), &[key.verifier_key()]).expect("verify");
        assert_eq!(v.checkpoint(), &sample());
        assert_eq!((v.size(), v.root()), (20852163, sample().root()));
        assert_eq!(v.note().text(), sample().to_body());
    }

    #[test]
    fn only_the_origin_key_makes_it_verified() {
        let log = log_key();
        let witness = SignerKey::from_seed(KeyName::new("witness.example").expect("name"), [8; 32]);
        let body = sample().to_body();
        let by_witness = sign_note(&body, &[&witness]).expect("sign");
        let err = verify_checkpoint(
            by_witness.as_bytes(),
            &[witness.verifier_key(), log.verifier_key()],
        );
        assert_eq!(
            err,
            Err(CheckpointError::NotSignedByLog {
                origin: "vanguard.local/test".into(),
                verified: vec!["witness.example".into()],
            })
        );
        let both = sign_note(&body, &[&log, &witness]).expect("sign");
        assert!(verify_checkpoint(both.as_bytes(), &[log.verifier_key()]).is_ok());
        assert!(matches!(
            verify_checkpoint(both.as_bytes(), &[]),
            Err(CheckpointError::Note(NoteError::NoTrustedSignature { .. }))
        ));
        assert!(matches!(
            sample().sign(&witness),
            Err(CheckpointError::SignerNotOrigin { .. })
        ));
    }

    #[test]
    fn tampered_checkpoints_fail() {
        let key = log_key();
        let signed = sample().sign(&key).expect("sign");
        let trusted = [key.verifier_key()];
        let bigger = signed.replace("20852163", "20852164");
        assert!(matches!(
            verify_checkpoint(bigger.as_bytes(), &trusted),
            Err(CheckpointError::Note(NoteError::BadSignature { .. }))
        ));
        let renamed = signed.replacen("vanguard.local/test", "vanguard.local/other", 1);
        assert!(verify_checkpoint(renamed.as_bytes(), &trusted).is_err());
    }
}
