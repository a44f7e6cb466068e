//! SHA-256 hashes and the RFC 6962 hash functions (RFC 9162 section 2.1.1).
//!
//! Domain separation keeps a leaf from ever being read as an interior node:
//!
//! ```text
//! leaf_hash(d)    = SHA-256(0x00 || d)
//! node_hash(l, r) = SHA-256(0x01 || l || r)
//! empty tree      = SHA-256("")
//! ```

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Length in bytes of every hash in the ledger.
pub const HASH_SIZE: usize = 32;

/// A SHA-256 output: a leaf hash, an interior node hash or a tree root.
///
/// Text forms are canonical: [`Display`](fmt::Display) and [`FromStr`] use 64 lowercase hex
/// digits (uppercase is refused so every accepted string re-encodes to itself), and
/// [`Hash::to_base64`] / [`Hash::from_base64`] use standard padded base64 (RFC 4648 section 4),
/// the form C2SP checkpoints and proofs use.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; HASH_SIZE]);

/// Why a hash could not be decoded from text or bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashParseError {
    /// The input does not have the length of a 32-byte hash in this encoding.
    #[error("hash has {got} {unit}, want {want}")]
    Length {
        /// Length found.
        got: usize,
        /// Length required.
        want: usize,
        /// What was counted: "bytes" or "hex digits".
        unit: &'static str,
    },
    /// A character outside `0-9a-f` at this byte offset.
    #[error("hash hex has a non-lowercase-hex character at offset {offset}")]
    Hex {
        /// Byte offset of the offending character.
        offset: usize,
    },
    /// Not canonical standard padded base64.
    #[error("hash is not canonical base64")]
    Base64,
}

impl Hash {
    /// The all-zero value. It is no SHA-256 output anyone can find a preimage for, so the
    /// ledger uses it as the `prev` of entry 0 (see [`crate::Entry`]).
    pub const ZERO: Hash = Hash([0; HASH_SIZE]);

    /// SHA-256 of `data` without any domain-separation prefix (used for key IDs and
    /// commitments; tree hashing goes through [`leaf_hash`] and [`node_hash`]).
    pub fn sha256(data: &[u8]) -> Hash {
        Hash(Sha256::digest(data).into())
    }

    /// The bytes of the hash.
    pub fn as_bytes(&self) -> &[u8; HASH_SIZE] {
        &self.0
    }

    /// Takes a hash from a byte slice; fails unless it is exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Hash, HashParseError> {
        let array: [u8; HASH_SIZE] = bytes.try_into().map_err(|_| HashParseError::Length {
            got: bytes.len(),
            want: HASH_SIZE,
            unit: "bytes",
        })?;
        Ok(Hash(array))
    }

    /// Standard padded base64 (44 characters).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Decodes standard padded base64. Checks, in order: canonical base64 (padding present,
    /// no stray bits, no whitespace), then a decoded length of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Hash, HashParseError> {
        let bytes = STANDARD.decode(text).map_err(|_| HashParseError::Base64)?;
        Hash::from_slice(&bytes)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex_encode(&self.0))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl FromStr for Hash {
    type Err = HashParseError;

    /// Parses exactly 64 lowercase hex digits.
    fn from_str(s: &str) -> Result<Hash, HashParseError> {
        let mut out = [0u8; HASH_SIZE];
        hex_decode_into(s, &mut out)?;
        Ok(Hash(out))
    }
}

impl serde::Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Hash, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// RFC 6962 leaf hash, `SHA-256(0x00 || data)` (RFC 9162 section 2.1.1).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    Hash(h.finalize().into())
}

/// RFC 6962 interior node hash, `SHA-256(0x01 || left || right)` (RFC 9162 section 2.1.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// Root of the empty tree, `SHA-256("")` (RFC 9162 section 2.1.1: `MTH({}) = HASH()`).
pub fn empty_root() -> Hash {
    Hash::sha256(b"")
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

/// Decodes exactly `2 * out.len()` lowercase hex digits into `out`.
pub(crate) fn hex_decode_into(s: &str, out: &mut [u8]) -> Result<(), HashParseError> {
    let bytes = s.as_bytes();
    if bytes.len() != out.len() * 2 {
        return Err(HashParseError::Length {
            got: bytes.len(),
            want: out.len() * 2,
            unit: "hex digits",
        });
    }
    let nibble = |offset: usize| -> Result<u8, HashParseError> {
        match bytes[offset] {
            c @ b'0'..=b'9' => Ok(c - b'0'),
            c @ b'a'..=b'f' => Ok(c - b'a' + 10),
            _ => Err(HashParseError::Hex { offset }),
        }
    };
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nibble(2 * i)? << 4) | nibble(2 * i + 1)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(hex: &str) -> Hash {
        hex.parse().expect("test constant is valid hex")
    }

    #[test]
    fn empty_root_known_answer() {
        // printf '' | sha256sum
        let want = h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(empty_root(), want);
    }

    #[test]
    fn leaf_hash_known_answers() {
        // printf '\x00' | sha256sum
        let want = h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
        assert_eq!(leaf_hash(b""), want);
        // printf '\x00L123456' | sha256sum
        let want = h("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56");
        assert_eq!(leaf_hash(b"L123456"), want);
    }

    #[test]
    fn node_hash_known_answer() {
        // printf '\x00\x00' | sha256sum
        let l1 = h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7");
        assert_eq!(leaf_hash(&[0x00]), l1);
        // (printf '\x01'; printf '\x00' | sha256sum | xxd -r -p;
        //  printf '\x00\x00' | sha256sum | xxd -r -p) | sha256sum
        // This is also `root1` of the size-2 trees in the RFC 6962 test vectors.
        let root2 = h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125");
        assert_eq!(node_hash(&leaf_hash(b""), &l1), root2);
        assert_ne!(node_hash(&l1, &leaf_hash(b"")), root2, "order matters");
    }

    #[test]
    fn hex_round_trip_and_strictness() {
        let x = leaf_hash(b"abc");
        assert_eq!(x.to_string().parse::<Hash>(), Ok(x));
        let upper = x.to_string().to_uppercase();
        assert!(matches!(
            upper.parse::<Hash>(),
            Err(HashParseError::Hex { .. })
        ));
        assert!(matches!(
            "00".parse::<Hash>(),
            Err(HashParseError::Length {
                got: 2,
                want: 64,
                ..
            })
        ));
        let mut bad = x.to_string();
        bad.replace_range(63..64, "g");
        assert_eq!(bad.parse::<Hash>(), Err(HashParseError::Hex { offset: 63 }));
    }

    #[test]
    fn base64_round_trip_and_strictness() {
        let x = leaf_hash(b"abc");
        assert_eq!(Hash::from_base64(&x.to_base64()), Ok(x));
        // Well-formed base64 of the wrong length.
        assert!(matches!(
            Hash::from_base64("ZG9uJ3QgY2FyZSAy"),
            Err(HashParseError::Length { got: 12, .. })
        ));
        // Missing padding is refused.
        let s = x.to_base64();
        assert_eq!(
            Hash::from_base64(s.trim_end_matches('=')),
            Err(HashParseError::Base64)
        );
        // 32 bytes fill 43 base64 digits with 2 spare bits that must be zero: "A…A=" is the
        // zero hash, "A…B=" sets a spare bit and is not canonical.
        let zero = format!("{}=", "A".repeat(43));
        assert_eq!(Hash::from_base64(&zero), Ok(Hash::ZERO));
        let stray = format!("{}B=", "A".repeat(42));
        assert_eq!(Hash::from_base64(&stray), Err(HashParseError::Base64));
        assert_eq!(
            Hash::from_base64(&format!(" {zero}")),
            Err(HashParseError::Base64)
        );
    }

    #[test]
    fn serde_uses_hex() {
        let x = leaf_hash(b"abc");
        let json = serde_json::to_string(&x).expect("serialize");
        assert_eq!(json, format!("\"{x}\""));
        assert_eq!(serde_json::from_str::<Hash>(&json).expect("deserialize"), x);
        assert!(serde_json::from_str::<Hash>("\"00\"").is_err());
    }
}
