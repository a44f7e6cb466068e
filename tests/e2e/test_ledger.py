"""What the flight recorder holds after a real MCP session through the proxy: one entry per
message with its verdict, the block recorded at the index the agent was told, a chain and tree
that `ledger check` recomputes, a signed checkpoint that `vanguard verify` accepts, and the
blocked call's receipt written on its own by `--receipts-dir`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import anyio
import pytest

import harness
from harness import FILESYSTEM_SERVER, STEP, call_expecting_block

pytestmark = pytest.mark.anyio


def vanguard(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(harness.vanguard_bin()), *args], capture_output=True, text=True, timeout=60
    )


async def test_the_ledger_records_every_message_and_the_block(proxied, fs_root: Path, tmp_path: Path):
    ledger = tmp_path / "flight.redb"
    receipts = tmp_path / "receipts"
    (fs_root / "notes.txt").write_text("benign content\n", encoding="utf-8")
    options = ("--ledger", str(ledger), "--receipts-dir", str(receipts))
    async with proxied([FILESYSTEM_SERVER, fs_root], *options) as (session, _):
        with anyio.fail_after(STEP):
            await session.call_tool("read_text_file", {"path": str(fs_root / "notes.txt")})
        data = await call_expecting_block(
            session, "read_text_file", {"path": str(fs_root / "../../../../etc/passwd")}
        )

    log = vanguard("ledger", "log", "--ledger", str(ledger), "--json")
    assert log.returncode == 0, log.stderr
    entries = [json.loads(line) for line in log.stdout.splitlines()]

    # Sequence numbers are dense and each entry chains to the one before.
    assert [e["seq"] for e in entries] == list(range(len(entries)))
    assert entries[0]["kind"] == "event" and entries[0]["event"]["type"] == "start"
    assert entries[-1]["kind"] == "event" and entries[-1]["event"]["type"] == "stop"

    messages = [e for e in entries if e["kind"] != "event"]
    calls = [e for e in messages if e["method"] == "tools/call" and e["kind"] == "request"]
    # initialize, initialized, the benign call and its answer, the blocked call; every message
    # carries a digest of its exact wire bytes and a verdict.
    assert {(e["direction"], e["kind"], e["method"]) for e in messages} >= {
        ("agent_to_server", "request", "initialize"),
        # Responses are recorded with the method of the request they answer.
        ("server_to_agent", "response", "initialize"),
        ("agent_to_server", "notification", "notifications/initialized"),
    }
    assert all(e["payload"]["len"] > 0 and len(e["payload"]["blake3"]) == 64 for e in messages)
    allowed = [e for e in calls if e["verdict"]["action"] == "allow"]
    blocked = [e for e in calls if e["verdict"]["action"] == "block"]
    assert len(allowed) == 1 and allowed[0]["tool"] == "read_text_file"
    answers = [e for e in messages if e["kind"] == "response" and e["rpc_id"] == allowed[0]["rpc_id"]]
    assert len(answers) == 1 and answers[0]["tool"] == "read_text_file"
    assert answers[0]["verdict"]["action"] == "allow"
    assert len(blocked) == 1
    block = blocked[0]
    # The agent was told where the decision is recorded, and by which rule.
    assert block["seq"] == data["ledger_index"]
    assert data["rule"] in block["verdict"]["rules"]
    assert block["direction"] == "agent_to_server" and block["tool"] == "read_text_file"
    # The blocked call was never answered by the server: no response carries its id.
    answered = {json.dumps(e["rpc_id"]) for e in messages if e["kind"] == "response"}
    assert json.dumps(block["rpc_id"]) not in answered

    check = vanguard("ledger", "check", "--ledger", str(ledger))
    assert check.returncode == 0, check.stdout + check.stderr

    vkey = vanguard("keys", "show", "--ledger", str(ledger))
    assert vkey.returncode == 0, vkey.stderr
    note = vanguard("ledger", "checkpoint", "--ledger", str(ledger))
    assert note.returncode == 0, note.stderr
    checkpoint = tmp_path / "checkpoint.txt"
    checkpoint.write_text(note.stdout, encoding="utf-8")
    verified = vanguard("verify", str(checkpoint), "--key", vkey.stdout.strip())
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert str(len(entries)) in note.stdout.splitlines()[1]

    # The blocked call's receipt was written without asking, named by the index the agent was
    # told, and verifies offline with the vkey; no other call was blocked, so nothing else.
    receipt = receipts / f"{data['ledger_index']}.receipt.json"
    assert sorted(p.name for p in receipts.iterdir()) == [receipt.name]
    verified = vanguard("verify", str(receipt), "--key", vkey.stdout.strip())
    assert verified.returncode == 0, verified.stdout + verified.stderr
    content = json.loads(receipt.read_text(encoding="utf-8"))
    assert content["entry"]["seq"] == data["ledger_index"]
    assert content["entry"]["verdict"]["action"] == "block"
    assert "payload" not in content
