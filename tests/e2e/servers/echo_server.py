#!/usr/bin/env python3
"""A tiny newline-delimited JSON-RPC "server" for the raw-protocol tests.

It records every line it receives, byte for byte, so a test can prove what the proxy forwarded
(and what it withheld). Standard library only; lines of any length.

Behaviour, per received line:
- not JSON, or not an object: ignored (only recorded);
- a request (``id`` and ``method``):
  - ``initialize``: a minimal InitializeResult;
  - ``test/emit``: writes each string in ``params.lines`` to stdout verbatim (plus ``\\n``),
    then answers ``{"emitted": n}``; how a test makes the server send arbitrary bytes;
  - ``test/big``: answers ``{"text": "x" * params.size}``;
  - ``test/exit``: answers, then exits with ``params.code``;
  - ``test/sink``: answers ``{"method": ..., "received_bytes": len(line)}`` (a small answer to a
    large request);
  - anything else: answers ``{"method": ..., "params": ..., "received_bytes": len(line)}``;
- notifications and responses: no reply.
Exits 0 at end of input.

Usage: echo_server.py [RECORD_FILE]   (RECORD_FILE also from $ECHO_SERVER_RECORD)
"""

import json
import os
import sys


def main() -> int:
    record_path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ECHO_SERVER_RECORD")
    record = open(record_path, "ab", buffering=0) if record_path else None
    out = sys.stdout.buffer

    def send(obj) -> None:
        out.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")
        out.flush()

    for raw in sys.stdin.buffer:
        line = raw[:-1] if raw.endswith(b"\n") else raw
        if record is not None:
            record.write(line + b"\n")
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if not isinstance(msg, dict) or "method" not in msg or "id" not in msg:
            continue
        rid, method, params = msg["id"], msg["method"], msg.get("params")
        if method == "initialize":
            send({"jsonrpc": "2.0", "id": rid, "result": {
                "protocolVersion": (params or {}).get("protocolVersion", "2025-06-18"),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "vanguard-e2e-echo", "version": "0"},
            }})
        elif method == "test/emit":
            for text in params["lines"]:
                out.write(text.encode() + b"\n")
            out.flush()
            send({"jsonrpc": "2.0", "id": rid, "result": {"emitted": len(params["lines"])}})
        elif method == "test/big":
            send({"jsonrpc": "2.0", "id": rid, "result": {"text": "x" * int(params["size"])}})
        elif method == "test/sink":
            send({"jsonrpc": "2.0", "id": rid, "result": {"method": method, "received_bytes": len(line)}})
        elif method == "test/exit":
            send({"jsonrpc": "2.0", "id": rid, "result": {}})
            return int(params["code"])
        else:
            send({"jsonrpc": "2.0", "id": rid, "result": {
                "method": method, "params": params, "received_bytes": len(line),
            }})
    return 0


if __name__ == "__main__":
    sys.exit(main())
