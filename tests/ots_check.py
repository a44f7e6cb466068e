"""Independent check of Vanguard's OpenTimestamps export, with python-opentimestamps.

Run by tests/anchor_ots.rs (cargo test), which builds and mines regtest blocks with the Rust
`bitcoin` crate, exports `.ots` files with `vanguard::anchor::ots::ots_proof`, and hands them
over in a manifest:

    .venv/bin/python tests/ots_check.py MANIFEST.json

MANIFEST.json is a list of cases: {"name", "ots", "note", "block" (file paths; the block in
Bitcoin consensus encoding), "height", "tamper" (bool)}. For each case this prints, as one JSON
list on stdout: whether the file is valid for that note, block and height, and why not; the
number of operations replayed; whether python-opentimestamps' own Bitcoin timestamp builder
(`opentimestamps.bitcoin.make_timestamp_from_block`) produces the same bytes; whether the block
passes python-bitcoinlib's context-free consensus checks (regtest proof-of-work, Merkle root,
witness commitment); and, with "tamper", every single-bit flip, truncation and extension of
the file that still verified, and whether it replays through the very same messages. The only
such change expected is append <-> prepend at a level where a node is paired with itself
(Bitcoin's odd-level duplication), which computes the same hash. Exit status 0 once every case is reported,
2 on unusable input.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import bitcoin
from bitcoin.core import CBlock, CheckBlock, b2lx
from opentimestamps.bitcoin import make_timestamp_from_block
from opentimestamps.core.notary import BitcoinBlockHeaderAttestation, VerificationError
from opentimestamps.core.op import OpSHA256
from opentimestamps.core.serialize import (
    BytesDeserializationContext,
    BytesSerializationContext,
    DeserializationError,
)
from opentimestamps.core.timestamp import DetachedTimestampFile

bitcoin.SelectParams("regtest")

# Largest transaction an OpenTimestamps operation can hash (Op.MAX_MSG_LENGTH); the reference
# builder's own default (1000) is a size policy, not a format limit.
MAX_TX_SIZE = 4096


class Invalid(Exception):
    """The file does not prove that the note existed by this block."""


def verify(ots: bytes, note: bytes, block: CBlock, height: int) -> list[bytes]:
    """Parse the file and replay every operation from the note's digest; the result must be the
    block's Merkle root, under one Bitcoin block-header attestation at `height`. Returns the
    messages of the path, the digest first and the Merkle root last."""
    try:
        detached = DetachedTimestampFile.deserialize(BytesDeserializationContext(ots))
    except (DeserializationError, ValueError, TypeError, AssertionError) as e:
        raise Invalid(f"does not parse: {e!r}") from e
    if not isinstance(detached.file_hash_op, OpSHA256):
        raise Invalid(f"file hash op is {detached.file_hash_op}, not sha256")
    if detached.file_digest != hashlib.sha256(note).digest():
        raise Invalid("file digest is not SHA-256 of the note")

    stamp, msg = detached.timestamp, detached.file_digest
    messages = [msg]
    while True:
        replayed = len(messages) - 1
        if stamp.msg != msg:
            raise Invalid(f"operation {replayed} result differs from the replay")
        if len(stamp.ops) + len(stamp.attestations) != 1:
            raise Invalid(f"not a single path: node {replayed} has {len(stamp.ops)} ops, "
                          f"{len(stamp.attestations)} attestations")
        if not stamp.ops:
            break
        ((op, stamp),) = stamp.ops.items()
        try:
            msg = op(msg)
        except ValueError as e:
            raise Invalid(f"operation {replayed} ({op}) cannot be applied: {e}") from e
        messages.append(msg)

    (attestation,) = stamp.attestations
    if not isinstance(attestation, BitcoinBlockHeaderAttestation):
        raise Invalid(f"attestation is {attestation!r}, not a Bitcoin block header")
    if attestation.height != height:
        raise Invalid(f"attestation height {attestation.height}, block height {height}")
    try:
        attestation.verify_against_blockheader(msg, block.get_header())
    except VerificationError as e:
        raise Invalid(f"path ends at {b2lx(msg)}, not the block's merkle root: {e}") from e
    return messages


def reference(note: bytes, block: CBlock, height: int) -> bytes | None:
    """python-opentimestamps' own timestamp of the note's digest in this block."""
    digest = hashlib.sha256(note).digest()
    stamp = make_timestamp_from_block(digest, block, height, max_tx_size=MAX_TX_SIZE)
    if stamp is None:
        return None
    ctx = BytesSerializationContext()
    DetachedTimestampFile(OpSHA256(), stamp).serialize(ctx)
    return ctx.getbytes()


def tampered(ots: bytes):
    for pos in range(len(ots)):
        for bit in range(8):
            probe = bytearray(ots)
            probe[pos] ^= 1 << bit
            yield f"flip byte {pos} bit {bit}", bytes(probe)
    for length in range(len(ots)):
        yield f"truncate to {length}", ots[:length]
    yield "trailing byte", ots + b"\x00"


def check_case(case: dict) -> dict:
    ots = Path(case["ots"]).read_bytes()
    note = Path(case["note"]).read_bytes()
    block = CBlock.deserialize(Path(case["block"]).read_bytes())
    height = case["height"]
    report: dict = {"name": case["name"], "merkle_root": b2lx(block.hashMerkleRoot)}

    try:
        CheckBlock(block, cur_time=block.nTime)
        report["block_ok"] = True
    except Exception as e:  # any consensus failure is reported, not raised
        report["block_ok"] = False
        report["block_error"] = repr(e)

    messages = None
    try:
        messages = verify(ots, note, block, height)
        report["ops"] = len(messages) - 1
        report["valid"], report["reason"] = True, None
    except Invalid as e:
        report["valid"], report["reason"] = False, str(e)

    report["reference_identical"] = reference(note, block, height) == ots

    if case.get("tamper"):
        accepted, probes = [], 0
        for what, probe in tampered(ots):
            probes += 1
            try:
                probe_messages = verify(probe, note, block, height)
            except Invalid:
                continue
            accepted.append({"tamper": what, "same_messages": probe_messages == messages})
        report["probes"], report["accepted_tampers"] = probes, accepted
    return report


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        cases = json.loads(Path(argv[1]).read_text())
    except (OSError, ValueError) as e:
        print(f"ots_check: unusable manifest {argv[1]}: {e}", file=sys.stderr)
        return 2
    json.dump([check_case(case) for case in cases], sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
