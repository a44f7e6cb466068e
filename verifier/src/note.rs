//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys (signature type
//! `0x01`), compatible byte for byte with Go's `golang.org/x/mod/sumdb/note`.
//!
//! ```text
//! <text, ending in a newline>
//! <blank line>
//! — <key name> <base64(4-byte key ID || 64-byte Ed25519 signature)>
//! ```
//!
//! Key texts:
//!
//! ```text
//! verifier: <name>+<8 hex digits of key ID>+<base64(0x01 || 32-byte public key)>
//! signer:   PRIVATE+KEY+<name>+<8 hex digits of key ID>+<base64(0x01 || 32-byte seed)>
//! key ID  = SHA-256(name || 0x0A || 0x01 || public key)[:4], big-endian
//! ```

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

use crate::hash::{hex_decode_into, Hash};

/// Signature type byte of Ed25519 in C2SP signed notes.
const ED25519: u8 = 0x01;
/// Most signature lines [`open_note`] reads (the spec requires at least 16).
pub const MAX_SIGNATURES: usize = 100;
/// Largest signed note [`open_note`] reads, in bytes.
pub const MAX_NOTE_SIZE: usize = 1 << 20;
const SIG_PREFIX: &str = "\u{2014} ";
const PRIVATE_PREFIX: &str = "PRIVATE+KEY+";

/// Why a key, a note text or a signed note was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// A key name that is empty or contains a Unicode space or `+`.
    #[error("invalid key name {name:?}: must be non-empty, without spaces or '+'")]
    KeyName {
        /// The name given.
        name: String,
    },
    /// A verifier or signer key text that does not have the expected shape.
    #[error("malformed key text: {reason}")]
    KeyText {
        /// Which part is wrong.
        reason: &'static str,
    },
    /// A key of a signature type other than Ed25519.
    #[error("unsupported key type 0x{found:02x} (only Ed25519, 0x01)")]
    KeyType {
        /// The type byte found.
        found: u8,
    },
    /// The key ID in a key text is not the one the name and key give.
    #[error("key ID {stated} does not match the key, which gives {computed}")]
    KeyIdMismatch {
        /// ID written in the key text.
        stated: KeyId,
        /// ID computed from name and public key.
        computed: KeyId,
    },
    /// 32 bytes that are not a valid Ed25519 public key.
    #[error("invalid Ed25519 public key")]
    PublicKey,
    /// A note larger than [`MAX_NOTE_SIZE`].
    #[error("note is {size} bytes, more than the maximum {max}")]
    TooLarge {
        /// Size of the note.
        size: usize,
        /// [`MAX_NOTE_SIZE`].
        max: usize,
    },
    /// Bytes that are not UTF-8.
    #[error("note is not valid UTF-8 (at byte {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// An ASCII control character other than newline.
    #[error("note has control character 0x{byte:02x} at byte {offset}")]
    ControlCharacter {
        /// Offset of the character.
        offset: usize,
        /// The character.
        byte: u8,
    },
    /// Text to sign that is empty or does not end in a newline.
    #[error("note text must be non-empty and end with a newline")]
    Text,
    /// No blank line followed by a non-empty, newline-terminated signature block.
    #[error("note has no signature block after a blank line")]
    NoSignatureBlock,
    /// A signature line that does not have the form `— <name> <base64>`.
    #[error("signature line {line} is malformed: {reason}")]
    SignatureLine {
        /// 1-based number of the line within the signature block.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More signature lines than [`MAX_SIGNATURES`].
    #[error("note has more than {max} signatures")]
    TooManySignatures {
        /// [`MAX_SIGNATURES`].
        max: usize,
    },
    /// Two different trusted keys share a name and key ID.
    #[error("two trusted keys are named {name} with key ID {id}")]
    AmbiguousKey {
        /// The shared name.
        name: String,
        /// The shared key ID.
        id: KeyId,
    },
    /// A signature from a trusted key that does not verify: the note is rejected.
    #[error("signature by trusted key {name}+{id} does not verify")]
    BadSignature {
        /// Key name.
        name: String,
        /// Key ID.
        id: KeyId,
    },
    /// No signature from a trusted key; `unknown` names the keys that did sign.
    #[error("no signature from a trusted key (signed by: {unknown:?})")]
    NoTrustedSignature {
        /// `name+id` of each signature from an unknown key.
        unknown: Vec<String>,
    },
    /// [`sign_note`] called without a signer.
    #[error("no signer given")]
    NoSigner,
}

/// A validated key name: non-empty, no Unicode white space, no `+`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyName(String);

impl KeyName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<KeyName, NoteError> {
        if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
            return Err(NoteError::KeyName {
                name: name.to_owned(),
            });
        }
        Ok(KeyName(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The 32-bit key ID that, with the key name, names a key in signature lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub u32);

impl KeyId {
    /// `SHA-256(name || 0x0A || 0x01 || public)[:4]` read big-endian.
    pub fn ed25519(name: &KeyName, public: &[u8; 32]) -> KeyId {
        let mut data = Vec::with_capacity(name.0.len() + 34);
        data.extend_from_slice(name.0.as_bytes());
        data.push(b'\n');
        data.push(ED25519);
        data.extend_from_slice(public);
        let h = Hash::sha256(&data);
        KeyId(u32::from_be_bytes([h.0[0], h.0[1], h.0[2], h.0[3]]))
    }

    fn parse(hex: &str) -> Result<KeyId, NoteError> {
        let mut b = [0u8; 4];
        hex_decode_into(hex, &mut b).map_err(|_| NoteError::KeyText {
            reason: "key ID is not 8 lowercase hex digits",
        })?;
        Ok(KeyId(u32::from_be_bytes(b)))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// Splits `<name>+<hex id>+<base64(0x01 || 32 bytes)>` and checks each part, in order: name,
/// key ID digits, base64, type byte, length.
fn parse_key_parts(text: &str) -> Result<(KeyName, KeyId, [u8; 32]), NoteError> {
    let (name, rest) = text.split_once('+').ok_or(NoteError::KeyText {
        reason: "missing '+' after the name",
    })?;
    let (id, key) = rest.split_once('+').ok_or(NoteError::KeyText {
        reason: "missing '+' after the key ID",
    })?;
    let name = KeyName::new(name)?;
    let id = KeyId::parse(id)?;
    let key = STANDARD.decode(key).map_err(|_| NoteError::KeyText {
        reason: "key is not canonical base64",
    })?;
    match key.split_first() {
        Some((&ED25519, bytes)) => {
            let bytes: [u8; 32] = bytes.try_into().map_err(|_| NoteError::KeyText {
                reason: "Ed25519 key is not 32 bytes",
            })?;
            Ok((name, id, bytes))
        }
        Some((&found, _)) => Err(NoteError::KeyType { found }),
        None => Err(NoteError::KeyText {
            reason: "empty key",
        }),
    }
}

/// A public key trusted to sign notes, with its name and key ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: KeyName,
    id: KeyId,
    key: VerifyingKey,
}

impl VerifierKey {
    /// The verifier for an Ed25519 public key; the key ID is computed.
    pub fn new(name: KeyName, public: [u8; 32]) -> Result<VerifierKey, NoteError> {
        let key = VerifyingKey::from_bytes(&public).map_err(|_| NoteError::PublicKey)?;
        let id = KeyId::ed25519(&name, &public);
        Ok(VerifierKey { name, id, key })
    }

    /// Parses `<name>+<hex id>+<base64(0x01 || public key)>`. Checks, in order: the three
    /// parts, the name, the key ID digits, canonical base64, type `0x01`, 32 key bytes, a valid
    /// curve point, and that the stated key ID is the computed one.
    pub fn parse(text: &str) -> Result<VerifierKey, NoteError> {
        let (name, stated, public) = parse_key_parts(text)?;
        let v = VerifierKey::new(name, public)?;
        if v.id != stated {
            return Err(NoteError::KeyIdMismatch {
                stated,
                computed: v.id,
            });
        }
        Ok(v)
    }

    /// The key name.
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The key ID.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Strict RFC 8032 verification (`verify_strict`: canonical encodings, no small-order
    /// components); honest signers always pass it.
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify_strict(text, &sig).is_ok()
    }
}

impl fmt::Display for VerifierKey {
    /// The verifier key text, `<name>+<hex id>+<base64(0x01 || public key)>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key = vec![ED25519];
        key.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{}+{}", self.name, self.id, STANDARD.encode(key))
    }
}

impl FromStr for VerifierKey {
    type Err = NoteError;

    fn from_str(s: &str) -> Result<VerifierKey, NoteError> {
        VerifierKey::parse(s)
    }
}

/// A private signing key with its name and key ID. Its `Debug` output omits the secret.
#[derive(Clone)]
pub struct SignerKey {
    name: KeyName,
    id: KeyId,
    key: SigningKey,
}

impl SignerKey {
    /// The signer for a 32-byte Ed25519 seed (RFC 8032 private key). The crate has no random
    /// source: the caller generates the seed.
    pub fn from_seed(name: KeyName, seed: [u8; 32]) -> SignerKey {
        let key = SigningKey::from_bytes(&seed);
        let id = KeyId::ed25519(&name, key.verifying_key().as_bytes());
        SignerKey { name, id, key }
    }

    /// Parses `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`. Checks, in order: the
    /// prefix, then as [`VerifierKey::parse`], with the key ID computed from the public key
    /// the seed derives.
    pub fn parse(text: &str) -> Result<SignerKey, NoteError> {
        let rest = text
            .strip_prefix(PRIVATE_PREFIX)
            .ok_or(NoteError::KeyText {
                reason: "missing PRIVATE+KEY+ prefix",
            })?;
        let (name, stated, seed) = parse_key_parts(rest)?;
        let s = SignerKey::from_seed(name, seed);
        if s.id != stated {
            return Err(NoteError::KeyIdMismatch {
                stated,
                computed: s.id,
            });
        }
        Ok(s)
    }

    /// The signer key text, `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`. It is the
    /// secret: store it with care.
    pub fn to_private_text(&self) -> String {
        let mut key = vec![ED25519];
        key.extend_from_slice(self.key.as_bytes());
        format!(
            "{PRIVATE_PREFIX}{}+{}+{}",
            self.name,
            self.id,
            STANDARD.encode(key)
        )
    }

    /// The matching verifier key.
    pub fn verifier_key(&self) -> VerifierKey {
        let key = self.key.verifying_key();
        VerifierKey {
            name: self.name.clone(),
            id: self.id,
            key,
        }
    }

    /// The key name.
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The key ID.
    pub fn id(&self) -> KeyId {
        self.id
    }
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignerKey")
            .field("name", &self.name)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: KeyName,
    /// Key ID.
    pub id: KeyId,
    /// The signature bytes after the key ID.
    pub signature: Vec<u8>,
}

/// A note whose signatures [`open_note`] checked: at least one is by a trusted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    text: String,
    verified: Vec<NoteSignature>,
    unknown: Vec<NoteSignature>,
}

impl VerifiedNote {
    /// The signed text, ending in a newline.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Signatures by trusted keys, all verified, one per key, in note order.
    pub fn verified(&self) -> &[NoteSignature] {
        &self.verified
    }

    /// Signatures by keys not in the trusted set (not checked), in note order.
    pub fn unknown(&self) -> &[NoteSignature] {
        &self.unknown
    }
}

/// Checks, in order: UTF-8, then no ASCII control character other than newline.
fn check_characters(bytes: &[u8]) -> Result<&str, NoteError> {
    let text = std::str::from_utf8(bytes).map_err(|e| NoteError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    if let Some(offset) = bytes.iter().position(|&b| b < 0x20 && b != b'\n') {
        return Err(NoteError::ControlCharacter {
            offset,
            byte: bytes[offset],
        });
    }
    Ok(text)
}

/// Signs `text` with each signer, returning the signed note.
///
/// Checks, in order: at least one signer; UTF-8 is given by the type, no control character
/// other than newline; `text` non-empty and ending in a newline; size within
/// [`MAX_NOTE_SIZE`] once signed. Signatures are deterministic (RFC 8032), so the same text
/// and keys always give the same bytes.
pub fn sign_note(text: &str, signers: &[&SignerKey]) -> Result<String, NoteError> {
    if signers.is_empty() {
        return Err(NoteError::NoSigner);
    }
    check_characters(text.as_bytes())?;
    if !text.ends_with('\n') {
        return Err(NoteError::Text);
    }
    let mut out = String::with_capacity(text.len() + 1 + signers.len() * 110);
    out.push_str(text);
    out.push('\n');
    for s in signers {
        let mut blob = s.id.0.to_be_bytes().to_vec();
        blob.extend_from_slice(&s.key.sign(text.as_bytes()).to_bytes());
        out.push_str(&format!(
            "{SIG_PREFIX}{} {}\n",
            s.name,
            STANDARD.encode(blob)
        ));
    }
    if out.len() > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge {
            size: out.len(),
            max: MAX_NOTE_SIZE,
        });
    }
    Ok(out)
}

/// Parses a signed note and verifies its signatures against `trusted` keys. Keys found in
/// the note itself are never trusted.
///
/// Checks, in order:
/// 1. size within [`MAX_NOTE_SIZE`];
/// 2. UTF-8, no ASCII control character other than newline;
/// 3. a blank line (the last one) followed by a non-empty signature block ending in newline;
/// 4. each signature line, in order: at most [`MAX_SIGNATURES`] lines; `— ` prefix; a valid key
///    name, one space, canonical base64 of at least 5 bytes; then, if `(name, key ID)` names a
///    trusted key (two different trusted keys doing so is an error), the signature verifies
///    ([`NoteError::BadSignature`] otherwise, even when another trusted key verified);
///    signatures by other keys are kept, unchecked, in [`VerifiedNote::unknown`];
/// 5. at least one trusted key verified ([`NoteError::NoTrustedSignature`]).
pub fn open_note(msg: &[u8], trusted: &[VerifierKey]) -> Result<VerifiedNote, NoteError> {
    if msg.len() > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge {
            size: msg.len(),
            max: MAX_NOTE_SIZE,
        });
    }
    let msg = check_characters(msg)?;
    let split = msg.rfind("\n\n").ok_or(NoteError::NoSignatureBlock)?;
    let (text, sigs) = (&msg[..split + 1], &msg[split + 2..]);
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(NoteError::NoSignatureBlock);
    }
    let mut verified: Vec<NoteSignature> = Vec::new();
    let mut unknown: Vec<NoteSignature> = Vec::new();
    for (i, line) in sigs[..sigs.len() - 1].split('\n').enumerate() {
        let line_no = i + 1;
        if line_no > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                max: MAX_SIGNATURES,
            });
        }
        let bad = |reason| NoteError::SignatureLine {
            line: line_no,
            reason,
        };
        let rest = line
            .strip_prefix(SIG_PREFIX)
            .ok_or(bad("does not start with '— '"))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(bad("no space after the key name"))?;
        let name = KeyName::new(name).map_err(|_| bad("invalid key name"))?;
        let blob = STANDARD
            .decode(b64)
            .map_err(|_| bad("signature is not canonical base64"))?;
        if blob.len() < 5 {
            return Err(bad("signature shorter than a key ID and one byte"));
        }
        let id = KeyId(u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]));
        let sig = NoteSignature {
            name,
            id,
            signature: blob[4..].to_vec(),
        };

        let mut matches = trusted
            .iter()
            .filter(|k| k.name == sig.name && k.id == sig.id);
        let Some(key) = matches.next() else {
            if !unknown.contains(&sig) {
                unknown.push(sig);
            }
            continue;
        };
        if matches.any(|other| other.key != key.key) {
            return Err(NoteError::AmbiguousKey {
                name: sig.name.0,
                id: sig.id,
            });
        }
        if !key.verify(text.as_bytes(), &sig.signature) {
            return Err(NoteError::BadSignature {
                name: sig.name.0,
                id: sig.id,
            });
        }
        if !verified
            .iter()
            .any(|v| v.name == sig.name && v.id == sig.id)
        {
            verified.push(sig);
        }
    }
    if verified.is_empty() {
        let unknown = unknown
            .iter()
            .map(|s| format!("{}+{}", s.name, s.id))
            .collect();
        return Err(NoteError::NoTrustedSignature { unknown });
    }
    Ok(VerifiedNote {
        text: text.to_owned(),
        verified,
        unknown,
    })
}

#[cfg(test)]
#[path = "note_tests.rs"]
mod tests;
