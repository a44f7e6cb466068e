//! C2SP transparency log proofs (<https://c2sp.org/tlog-proof>): an index, an RFC 6962
//! inclusion path and the signed checkpoint it leads to, as text.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! [extra <base64 of opaque data>]          optional, unauthenticated
//! index <decimal, no leading zeros>
//! [<base64 hash>]...                       leaf's sibling first, root's child last
//! <empty line>
//! <signed checkpoint note, verbatim>
//! ```
//!
//! Byte for byte what Go's `github.com/transparency-dev/formats/proof` `TLogProof.Marshal`
//! writes. The parser here is stricter than Go's `Unmarshal`: it refuses leading zeros in the
//! index, more than [`MAX_PROOF_HASHES`] hashes, a checkpoint that does not end in a newline
//! and anything larger than [`MAX_TLOG_PROOF_SIZE`], so every accepted text re-encodes to
//! itself with [`TlogProof::to_text`]. The checkpoint's signatures are checked by the caller
//! ([`crate::verify_checkpoint`]); this file only splits the text.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::hash::Hash;
use crate::note::MAX_NOTE_SIZE;

/// The first line of every proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Most inclusion-path hashes accepted: a tree of at most 2^64 leaves has paths of at most 64.
pub const MAX_PROOF_HASHES: usize = 64;
/// Largest proof text accepted: the checkpoint note plus header, extra data and the path.
pub const MAX_TLOG_PROOF_SIZE: usize = MAX_NOTE_SIZE + 64 * 1024;

/// Why a tlog-proof text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlogProofError {
    /// Larger than [`MAX_TLOG_PROOF_SIZE`].
    #[error("tlog-proof is {size} bytes, more than the maximum {max}")]
    TooLarge {
        /// Size of the text.
        size: usize,
        /// [`MAX_TLOG_PROOF_SIZE`].
        max: usize,
    },
    /// The first line is not [`TLOG_PROOF_HEADER`].
    #[error("tlog-proof does not start with the line {TLOG_PROOF_HEADER}")]
    Header,
    /// The `extra` line's data is not canonical base64.
    #[error("tlog-proof extra data is not canonical base64")]
    Extra,
    /// No `index N` line where one is required, or `N` is not canonical decimal.
    #[error("tlog-proof line {line}: want \"index N\" with N canonical decimal, got {text:?}")]
    Index {
        /// 1-based line number.
        line: usize,
        /// The line found (cut to 80 bytes).
        text: String,
    },
    /// An inclusion-path line that is not canonical base64 of 32 bytes.
    #[error("tlog-proof line {line}: not a base64 SHA-256 hash")]
    Hash {
        /// 1-based line number.
        line: usize,
    },
    /// More than [`MAX_PROOF_HASHES`] hashes.
    #[error("tlog-proof has more than {max} inclusion hashes")]
    TooManyHashes {
        /// [`MAX_PROOF_HASHES`].
        max: usize,
    },
    /// The text ends before the empty line and checkpoint, or the checkpoint does not end
    /// in a newline.
    #[error("tlog-proof has no checkpoint after an empty line")]
    NoCheckpoint,
}

/// A parsed `c2sp.org/tlog-proof@v1`. Nothing in it is verified yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque, unauthenticated extra data (`extra` line), if present. Vanguard writes none.
    pub extra: Option<Vec<u8>>,
    /// Zero-based index of the entry in the log.
    pub index: u64,
    /// RFC 6962 inclusion path, from the leaf's sibling up.
    pub hashes: Vec<Hash>,
    /// The signed checkpoint note, verbatim (ends in a newline).
    pub checkpoint: String,
}

impl TlogProof {
    /// The proof text.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(64 + 45 * self.hashes.len() + self.checkpoint.len());
        s.push_str(TLOG_PROOF_HEADER);
        s.push('\n');
        if let Some(extra) = &self.extra {
            s.push_str("extra ");
            s.push_str(&STANDARD.encode(extra));
            s.push('\n');
        }
        s.push_str(&format!("index {}\n", self.index));
        for h in &self.hashes {
            s.push_str(&h.to_base64());
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.checkpoint);
        s
    }

    /// Parses a proof text. Checks, in order: size; the header line; an optional
    /// `extra <base64>` line (canonical base64); the `index N` line (ASCII digits, no leading
    /// zero unless `0`, fits 64 bits); up to [`MAX_PROOF_HASHES`] lines of canonical base64 of
    /// 32 bytes; an empty line; a non-empty checkpoint ending in a newline (its contents are
    /// checked by [`crate::verify_checkpoint`]). Accepted texts re-encode to themselves.
    pub fn parse(text: &str) -> Result<TlogProof, TlogProofError> {
        if text.len() > MAX_TLOG_PROOF_SIZE {
            return Err(TlogProofError::TooLarge {
                size: text.len(),
                max: MAX_TLOG_PROOF_SIZE,
            });
        }
        let mut rest = text;
        let mut line_no = 0;
        let mut next_line = |rest: &mut &str| -> Option<(usize, String)> {
            let (line, tail) = rest.split_once('\n')?;
            *rest = tail;
            line_no += 1;
            Some((line_no, line.to_owned()))
        };
        match next_line(&mut rest) {
            Some((_, l)) if l == TLOG_PROOF_HEADER => {}
            _ => return Err(TlogProofError::Header),
        }
        let (mut no, mut line) = next_line(&mut rest).ok_or(TlogProofError::Index {
            line: 2,
            text: String::new(),
        })?;
        let mut extra = None;
        if let Some(data) = line.strip_prefix("extra ") {
            extra = Some(STANDARD.decode(data).map_err(|_| TlogProofError::Extra)?);
            (no, line) = next_line(&mut rest).ok_or(TlogProofError::Index {
                line: 3,
                text: String::new(),
            })?;
        }
        let index = line
            .strip_prefix("index ")
            .and_then(parse_decimal)
            .ok_or_else(|| TlogProofError::Index {
                line: no,
                text: line.chars().take(80).collect(),
            })?;
        let mut hashes = Vec::new();
        loop {
            let (no, line) = next_line(&mut rest).ok_or(TlogProofError::NoCheckpoint)?;
            if line.is_empty() {
                break;
            }
            if hashes.len() == MAX_PROOF_HASHES {
                return Err(TlogProofError::TooManyHashes {
                    max: MAX_PROOF_HASHES,
                });
            }
            hashes.push(Hash::from_base64(&line).map_err(|_| TlogProofError::Hash { line: no })?);
        }
        if rest.is_empty() || !rest.ends_with('\n') {
            return Err(TlogProofError::NoCheckpoint);
        }
        Ok(TlogProof {
            extra,
            index,
            hashes,
            checkpoint: rest.to_owned(),
        })
    }
}

/// Canonical ASCII decimal: digits only, no leading zero unless the number is `0`, fits 64
/// bits.
pub(crate) fn parse_decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical {
        text.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    const NOTE: &str = "example.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\n\u{2014} example.com/fancylog hI2DJwAAAA==\n";

    /// The example of the spec, with the checkpoint's elided signatures filled in.
    fn spec_example() -> String {
        format!(
            "c2sp.org/tlog-proof@v1\n\
             extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6\n\
             index 73894\n\
             gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n\
             B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n\
             EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=\n\
             RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=\n\
             AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=\n\
             \n{NOTE}"
        )
    }

    #[test]
    fn spec_example_round_trips() {
        let text = spec_example();
        let p = TlogProof::parse(&text).expect("spec example");
        assert_eq!(p.index, 73894);
        assert_eq!(p.hashes.len(), 5);
        assert_eq!(
            p.extra.as_deref(),
            Some(&b"age-v1.2.1-darwin-arm64.tar.gz"[..])
        );
        assert_eq!(p.checkpoint, NOTE);
        assert_eq!(p.to_text(), text);
    }

    #[test]
    fn without_extra_and_without_hashes() {
        let p = TlogProof {
            extra: None,
            index: 0,
            hashes: vec![],
            checkpoint: NOTE.into(),
        };
        let text = p.to_text();
        assert_eq!(text, format!("c2sp.org/tlog-proof@v1\nindex 0\n\n{NOTE}"));
        assert_eq!(TlogProof::parse(&text), Ok(p));
        // Go writes `extra ` with nothing after it for empty, non-nil extra data.
        let empty = TlogProof {
            extra: Some(vec![]),
            index: 1,
            hashes: vec![leaf_hash(b"x")],
            checkpoint: NOTE.into(),
        };
        assert!(empty.to_text().contains("\nextra \nindex 1\n"));
        assert_eq!(TlogProof::parse(&empty.to_text()), Ok(empty));
    }

    #[test]
    fn strictness() {
        let good = spec_example();
        let cases: Vec<(String, TlogProofError)> = vec![
            (good.replacen("@v1", "@v2", 1), TlogProofError::Header),
            (
                good.replacen("extra YWdl", "extra !Wdl", 1),
                TlogProofError::Extra,
            ),
            (
                good.replacen("index 73894", "index 073894", 1),
                TlogProofError::Index {
                    line: 3,
                    text: "index 073894".into(),
                },
            ),
            (
                good.replacen("index 73894", "index  73894", 1),
                TlogProofError::Index {
                    line: 3,
                    text: "index  73894".into(),
                },
            ),
            (
                good.replacen("index 73894", "index 18446744073709551616", 1),
                TlogProofError::Index {
                    line: 3,
                    text: "index 18446744073709551616".into(),
                },
            ),
            (
                good.replacen("gSKyXoYZ", "gSKyXoY", 1),
                TlogProofError::Hash { line: 4 },
            ),
            (
                good.replacen("=\n\nexample.com", "=\nexample.com", 1),
                TlogProofError::Hash { line: 9 },
            ),
            (
                good.trim_end_matches('\n').to_owned(),
                TlogProofError::NoCheckpoint,
            ),
            (
                "c2sp.org/tlog-proof@v1\nindex 1\n".into(),
                TlogProofError::NoCheckpoint,
            ),
            (
                "c2sp.org/tlog-proof@v1\nindex 1\n\n".into(),
                TlogProofError::NoCheckpoint,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(TlogProof::parse(&text), Err(want), "{text:?}");
        }
        let many = format!(
            "c2sp.org/tlog-proof@v1\nindex 1\n{}\n{NOTE}",
            format!("{}\n", leaf_hash(b"h").to_base64()).repeat(65)
        );
        assert_eq!(
            TlogProof::parse(&many),
            Err(TlogProofError::TooManyHashes { max: 64 })
        );
    }
}
