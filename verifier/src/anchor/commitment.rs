//! The Bitcoin commitment to a checkpoint: `SHA-256(signed checkpoint note text)`, behind a
//! fixed 4-byte tag, as the single push of an `OP_RETURN` output.
//!
//! ```text
//! scriptPubKey = OP_RETURN OP_PUSHBYTES_36 "VGD1" ‖ SHA-256(note)
//!              = 6a 24 56474431 <32 bytes>
//! ```
//!
//! The digest covers the *whole* signed note (body and signature lines, exactly as the ledger
//! stores and serves it), so an anchor commits to one particular signed statement of the log,
//! not only to a tree size and root. The tag makes the output recognisable among other
//! `OP_RETURN` uses; 36 bytes stay far below Bitcoin Core's default 83-byte `-datacarriersize`.

use bitcoin::script::{PushBytesBuf, ScriptBuf};
use bitcoin::Transaction;

use crate::hash::Hash;

/// The tag before the digest: "VanGuarD, version 1".
pub const COMMITMENT_TAG: [u8; 4] = *b"VGD1";
/// Bytes pushed: tag and digest.
pub const COMMITMENT_LEN: usize = 36;

/// `SHA-256(note)`: the digest an anchor commits to.
pub fn commitment_digest(signed_note: &str) -> Hash {
    Hash::sha256(signed_note.as_bytes())
}

/// The 36 bytes pushed by the `OP_RETURN` output: [`COMMITMENT_TAG`] then the digest.
pub fn commitment_payload(signed_note: &str) -> [u8; COMMITMENT_LEN] {
    let mut out = [0u8; COMMITMENT_LEN];
    out[..4].copy_from_slice(&COMMITMENT_TAG);
    out[4..].copy_from_slice(commitment_digest(signed_note).as_bytes());
    out
}

/// The output script `OP_RETURN <payload>` (minimal push, as Bitcoin Core's
/// `createrawtransaction` writes a `data` output).
pub fn commitment_script(signed_note: &str) -> ScriptBuf {
    let push = PushBytesBuf::from(commitment_payload(signed_note));
    ScriptBuf::new_op_return(push)
}

/// Where `tx` commits to `signed_note`: the index of the first output whose script is exactly
/// [`commitment_script`]. Byte equality, so a differently encoded push does not count.
pub fn find_commitment(tx: &Transaction, signed_note: &str) -> Option<usize> {
    let want = commitment_script(signed_note);
    tx.output.iter().position(|o| o.script_pubkey == want)
}

/// The digests of every tagged commitment in `tx` (for error messages: which checkpoint a
/// transaction commits to, when it is not the expected one).
pub fn tagged_digests(tx: &Transaction) -> Vec<Hash> {
    tx.output
        .iter()
        .filter_map(|o| {
            let bytes = o.script_pubkey.as_bytes();
            // 0x6a OP_RETURN, 0x24 push of 36 bytes.
            if bytes.len() == 2 + COMMITMENT_LEN
                && bytes[0] == 0x6a
                && bytes[1] == COMMITMENT_LEN as u8
                && bytes[2..6] == COMMITMENT_TAG
            {
                Hash::from_slice(&bytes[6..]).ok()
            } else {
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_is_op_return_push_of_tag_and_digest() {
        let note = "vanguard.local/x\n1\nAAAA\n\n\u{2014} vanguard.local/x sig\n";
        let script = commitment_script(note);
        let bytes = script.as_bytes();
        assert_eq!(bytes.len(), 38);
        assert_eq!(&bytes[..6], &[0x6a, 0x24, b'V', b'G', b'D', b'1']);
        assert_eq!(&bytes[6..], Hash::sha256(note.as_bytes()).as_bytes());
        assert!(script.is_op_return());
    }
}
