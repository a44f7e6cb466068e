#!/usr/bin/env python3
"""An independent check of a Vanguard receipt's core claim, sharing no code with the Rust
verifier: the entry, re-canonicalised here, is leaf `index` of the tree whose root is in a
C2SP checkpoint signed (C2SP signed-note, Ed25519) by the given verifier key.

Usage: check_receipt.py RECEIPT.json VKEY
Exit status: 0 the claim holds, 1 it does not (the reason on stdout).
Needs the `cryptography` package (Ed25519). The payload is not checked (BLAKE3 is not in
Python's standard library).
"""
import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Invalid(Exception):
    pass


def b64(text):
    raw = base64.b64decode(text, validate=True)
    if base64.b64encode(raw).decode() != text:
        raise Invalid("non-canonical base64")
    return raw


def parse_vkey(vkey):
    """<name>+<8 hex key id>+<base64(0x01 || 32-byte key)>, key id checked."""
    name, key_id, key = vkey.strip().split("+", 2)
    key = b64(key)
    if len(key) != 33 or key[0] != 1:
        raise Invalid("not an Ed25519 verifier key")
    want = hashlib.sha256(name.encode() + b"\n" + key).digest()[:4]
    if want.hex() != key_id:
        raise Invalid("verifier key id does not match")
    return name, want, Ed25519PublicKey.from_public_bytes(key[1:])


def open_note(note, name, key_id, public):
    """Returns the signed text if a signature line by (name, key_id) verifies."""
    split = note.rindex("\n\n")
    text, sigs = note[: split + 1], note[split + 2 :]
    for line in sigs.splitlines():
        if not line.startswith("\u2014 "):
            raise Invalid("malformed signature line")
        signer, sig = line[2:].split(" ", 1)
        sig = b64(sig)
        if signer == name and sig[:4] == key_id:
            try:
                public.verify(sig[4:], text.encode())
            except InvalidSignature:
                raise Invalid("checkpoint signature does not verify")
            return text
    raise Invalid("no signature by the trusted key")


def parse_tlog_proof(text):
    """c2sp.org/tlog-proof@v1: header, [extra], index, hashes, empty line, checkpoint."""
    lines = text.split("\n")
    if lines[0] != "c2sp.org/tlog-proof@v1":
        raise Invalid("not a tlog-proof")
    i = 1
    if lines[i].startswith("extra "):
        i += 1
    if not lines[i].startswith("index "):
        raise Invalid("no index line")
    index = int(lines[i][len("index ") :])
    i += 1
    path = []
    while lines[i] != "":
        h = b64(lines[i])
        if len(h) != 32:
            raise Invalid("proof hash is not 32 bytes")
        path.append(h)
        i += 1
    return index, path, "\n".join(lines[i + 1 :])


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index, size, leaf, path):
    """RFC 9162 section 2.1.3.2, transcribed."""
    if index >= size:
        raise Invalid("index not below tree size")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise Invalid("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Invalid("inclusion proof too short")
    return r


def canonical(entry):
    """RFC 8785 for the values entries hold (no floats): sorted keys, no spaces, UTF-8."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def check(receipt, vkey):
    if receipt.get("format") != "vanguard-receipt/v1":
        raise Invalid("not a vanguard-receipt/v1")
    name, key_id, public = parse_vkey(vkey)
    index, path, note = parse_tlog_proof(receipt["proof"])
    body = open_note(note, name, key_id, public).split("\n")
    origin, size, root = body[0], int(body[1]), base64.b64decode(body[2])
    if origin != name:
        raise Invalid("checkpoint origin is not the key name")
    entry = receipt["entry"]
    if entry["seq"] != index:
        raise Invalid("index is not the entry's seq")
    leaf = hashlib.sha256(b"\x00" + canonical(entry)).digest()
    if root_from_inclusion(index, size, leaf, path) != root:
        raise Invalid("inclusion proof does not lead to the checkpoint root")
    return f"entry {index} is in the tree of size {size} signed by {name}"


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        receipt = json.load(f)
    try:
        print("valid:", check(receipt, sys.argv[2]))
    except (Invalid, ValueError, KeyError, IndexError) as e:
        print("invalid:", e)
        sys.exit(1)


if __name__ == "__main__":
    main()
