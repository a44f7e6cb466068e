"""The wire contract on raw pipes (no SDK): every line gets an answer, malformed input never
reaches the server, forwarded lines are the original bytes, and line size is limited only by
--max-message-bytes.

The server is servers/echo_server.py, which records every line it receives; oversized responses
are also checked against the real filesystem server, whose SDK writes the id last.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import anyio
import pytest
from mcp.shared.exceptions import McpError

import harness
from harness import BLOCK_CODE, BLOCK_PREFIX, ECHO_SERVER, FILESYSTEM_SERVER, STEP, start_args

LIMIT = 2048  # --max-message-bytes for the small-limit tests (the proxy accepts 1024 and up)


@pytest.fixture
def record(tmp_path: Path) -> Path:
    path = tmp_path / "echo-server-received.jsonl"
    path.touch()
    return path


@pytest.fixture
def echo_proxy(raw_proxy, record):
    """`vanguard start` wrapping the recording echo server, with extra options."""

    def start(*options: str, dash: bool = False):
        return raw_proxy(start_args([harness.PYTHON, ECHO_SERVER, record], *options, dash=dash))

    return start


def received(record: Path) -> list[bytes]:
    return record.read_bytes().splitlines()


def assert_error(msg: dict, code: int, rid=None) -> dict:
    assert set(msg) == {"jsonrpc", "id", "error"}, msg
    assert msg["jsonrpc"] == "2.0"
    assert msg["id"] == rid and type(msg["id"]) is type(rid), f"id {msg['id']!r}, expected {rid!r}"
    err = msg["error"]
    assert err["code"] == code, err
    assert isinstance(err["message"], str) and err["message"], err
    return err


def assert_echoed(msg: dict, rid, method: str) -> dict:
    assert msg.get("id") == rid and "error" not in msg, msg
    assert msg["result"]["method"] == method, msg
    return msg["result"]


def test_echo_server_answers_through_the_proxy(echo_proxy, record):
    """Baseline for the tests below: a plain request goes through and is answered."""
    p = echo_proxy()
    assert_echoed(p.request(1, "tools/list", {}), 1, "tools/list")
    assert json.loads(received(record)[0])["method"] == "tools/list"


@pytest.mark.parametrize(
    "line",
    [b'{"jsonrpc":"2.0","id":1,"method":', b"this is not json", b'{"jsonrpc":"2.0","id":1,}', b"\xff\xfe{}"],
    ids=["truncated", "text", "trailing-comma", "invalid-utf8"],
)
def test_unparseable_line_gets_parse_error_and_session_continues(echo_proxy, record, line):
    p = echo_proxy()
    p.send_line(line)
    assert_error(p.recv(), -32700, None)
    assert_echoed(p.request(2, "tools/list"), 2, "tools/list")
    assert received(record) == [b'{"jsonrpc":"2.0","id":2,"method":"tools/list"}'], "the bad line reached the server"


@pytest.mark.parametrize(
    ("line", "rid"),
    [
        (b"42", None),
        (b'"x"', None),
        (b"null", None),
        (b"true", None),
        (b"{}", None),
        (b'{"jsonrpc":"2.0","id":3}', 3),
        (b'{"jsonrpc":"2.0","id":"req-3","params":{}}', "req-3"),
    ],
    ids=["number", "string", "null", "bool", "empty-object", "no-method-int-id", "no-method-str-id"],
)
def test_invalid_request_gets_32600_and_session_continues(echo_proxy, record, line, rid):
    p = echo_proxy()
    p.send_line(line)
    assert_error(p.recv(), -32600, rid)
    assert_echoed(p.request(4, "ping"), 4, "ping")
    assert received(record) == [b'{"jsonrpc":"2.0","id":4,"method":"ping"}'], "the invalid line reached the server"


@pytest.mark.parametrize(
    "line",
    [b'[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}]', b"[]"],
    ids=["two-requests", "empty"],
)
def test_batch_is_rejected_with_32600(echo_proxy, record, line):
    p = echo_proxy()
    p.send_line(line)
    reply = p.recv()
    assert_error(reply, -32600, None)
    assert_echoed(p.request(5, "ping"), 5, "ping")
    assert p.no_more_output() == [], "a batch must get exactly one error reply"
    assert received(record) == [b'{"jsonrpc":"2.0","id":5,"method":"ping"}'], "the batch reached the server"


def _request_of_size(rid, size: int, method: str = "test/sink") -> bytes:
    """A request line of exactly `size` bytes (without the newline). The echo server answers
    test/sink with a small result, and anything else (tools/call) by echoing the params."""
    head = json.dumps(
        {"jsonrpc": "2.0", "id": rid, "method": method, "params": {"name": "echo", "arguments": {"message": ""}}},
        separators=(",", ":"),
    ).encode()
    pad = size - len(head)
    assert pad >= 0
    return head.replace(b'"message":""', b'"message":"' + b"m" * pad + b'"')


@pytest.mark.parametrize("size", [LIMIT + 1, 2 * LIMIT, 3 << 20], ids=["limit+1", "2x", "3MiB"])
def test_oversize_line_is_refused_and_session_continues(echo_proxy, record, size):
    p = echo_proxy("--max-message-bytes", str(LIMIT))
    p.send_line(_request_of_size(9, size))
    reply = p.recv()
    assert "error" in reply, reply
    assert reply["error"]["code"] == -32600, reply
    assert reply["id"] == 9, "the sender's own id is read from the start of the line"
    msg = reply["error"]["message"].lower()
    assert any(w in msg for w in ("limit", "too large", "too long", "exceeds", "size")), reply
    assert str(LIMIT) in reply["error"]["message"] or "limit" in msg, reply

    # The next line, under the limit, goes through untouched.
    small = _request_of_size(10, LIMIT - 100)
    p.send_line(small)
    assert_echoed(p.recv(), 10, "test/sink")
    assert received(record) == [small], "the oversize line (or part of it) reached the server"


def test_oversize_server_message_is_refused_and_session_continues(echo_proxy, record):
    p = echo_proxy("--max-message-bytes", str(LIMIT))
    p.send({"jsonrpc": "2.0", "id": 20, "method": "test/big", "params": {"size": 2 * LIMIT}})
    reply = p.recv()
    assert "result" not in reply, "an oversize server message was forwarded"
    err = assert_error(reply, -32600, 20)
    assert "too large" in err["message"] and str(LIMIT) in err["message"], err
    assert_echoed(p.request(21, "ping"), 21, "ping")


def test_line_at_the_limit_is_accepted(echo_proxy, record):
    p = echo_proxy("--max-message-bytes", str(LIMIT))
    line = _request_of_size(11, LIMIT)
    p.send_line(line)
    assert_echoed(p.recv(), 11, "test/sink")
    assert received(record) == [line]


def test_line_written_in_small_pieces_is_one_message(echo_proxy, record):
    p = echo_proxy()
    line = _request_of_size(12, 5000)
    for i in range(0, len(line), 7):
        p.send_raw(line[i : i + 7])
    p.send_raw(b"\n")
    assert assert_echoed(p.recv(), 12, "test/sink")["received_bytes"] == 5000
    assert received(record) == [line]


@pytest.mark.parametrize("size", [200 << 10, 1 << 20], ids=["200KiB", "1MiB"])
def test_large_lines_in_both_directions(echo_proxy, record, size):
    p = echo_proxy("--max-message-bytes", str(8 << 20))
    # agent -> server (and the echo of it back)
    line = _request_of_size(13, size, "tools/call")
    p.send_line(line)
    result = assert_echoed(p.recv(), 13, "tools/call")
    assert result["received_bytes"] == len(line)
    assert result["params"]["arguments"]["message"] == json.loads(line)["params"]["arguments"]["message"]
    assert received(record) == [line]
    # server -> agent
    big = p.request(14, "test/big", {"size": size})
    assert big["result"]["text"] == "x" * size


def test_default_limit_is_above_64k(echo_proxy, record):
    p = echo_proxy()
    line = _request_of_size(15, 200 << 10, "tools/call")
    p.send_line(line)
    assert assert_echoed(p.recv(), 15, "tools/call")["received_bytes"] == len(line)
    assert len(p.request(16, "test/big", {"size": 200 << 10})["result"]["text"]) == 200 << 10


def test_forwarded_lines_are_the_original_bytes(echo_proxy, record):
    p = echo_proxy()
    odd_request = (
        b'{ "method" : "x/odd",\t"params": {"z":1, "a": "\\u00e9\\u2028 caf\xc3\xa9", "n": 1.50, "e": 1E3,'
        b' "big": 9007199254740993, "neg": -0}, "id": 77 , "jsonrpc":"2.0" }'
    )
    odd_notification = b'{"jsonrpc":"2.0" ,"method":"notifications/initialized"  }'
    p.send_line(odd_notification)
    p.send_line(odd_request)
    reply = p.recv()
    assert_echoed(reply, 77, "x/odd")
    assert received(record) == [odd_notification, odd_request]

    # server -> agent: a notification and a server request, oddly formatted, arrive verbatim.
    server_note = '{"method":"notifications/message" , "jsonrpc":"2.0","params":{"level":"info","data":"caf\\u00e9 1.50"}}'
    server_req = '{ "jsonrpc":"2.0","id":"srv-1","method":"roots/list","params":{} }'
    p.send(
        {"jsonrpc": "2.0", "id": 78, "method": "test/emit", "params": {"lines": [server_note, server_req]}}
    )
    assert p.recv_line() == server_note.encode()
    assert p.recv_line() == server_req.encode()
    assert p.recv() == {"jsonrpc": "2.0", "id": 78, "result": {"emitted": 2}}
    # ...and the agent's oddly formatted response to the server request reaches the server verbatim.
    answer = b'{"id":"srv-1", "result":{"roots":[ ]},"jsonrpc":"2.0"}'
    p.send_line(answer)
    assert p.request(79, "ping")["id"] == 79
    assert received(record)[-2:] == [answer, b'{"jsonrpc":"2.0","id":79,"method":"ping"}']
    assert p.no_more_output() == [], "notifications and responses get no reply"


@pytest.mark.parametrize("rid", [7, "req-7", 0, -3, "0"], ids=["int", "str", "zero", "negative", "str-zero"])
def test_block_reply_keeps_the_request_id(echo_proxy, record, rid):
    p = echo_proxy()
    reply = p.request(rid, "tools/call", {"name": "read_text_file", "arguments": {"path": "/etc/passwd"}})
    err = assert_error(reply, BLOCK_CODE, rid)
    assert err["message"].startswith(BLOCK_PREFIX), err
    data = err["data"]
    for key in ("rule", "layer", "severity"):
        assert isinstance(data.get(key), str) and data[key], err
    assert isinstance(data.get("ledger_index"), int) and data["ledger_index"] >= 0, err
    assert_echoed(p.request("after", "ping"), "after", "ping")
    assert received(record) == [b'{"jsonrpc":"2.0","id":"after","method":"ping"}'], "the blocked request reached the server"


def test_pipelined_mix_of_blocked_and_allowed(echo_proxy, record):
    p = echo_proxy()
    n = 40
    lines = []
    for i in range(n):
        if i % 4 == 3:
            params = {"name": "read_text_file", "arguments": {"path": f"/tmp/x/{'../' * (i % 5 + 2)}etc/shadow"}}
        else:
            params = {"name": "echo", "arguments": {"message": f"msg-{i}"}}
        lines.append(json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": params}).encode())
    p.send_raw(b"".join(line + b"\n" for line in lines))  # one write: truly pipelined

    replies = {}
    for _ in range(n):
        r = p.recv()
        assert r["id"] not in replies, f"two replies for id {r['id']}"
        replies[r["id"]] = r
    assert sorted(replies) == list(range(n))
    for i, r in replies.items():
        if i % 4 == 3:
            assert r.get("error", {}).get("code") == BLOCK_CODE, r
        else:
            assert r["result"]["params"]["arguments"]["message"] == f"msg-{i}", r
    assert p.no_more_output() == []
    allowed = [line for i, line in enumerate(lines) if i % 4 != 3]
    assert sorted(received(record)) == sorted(allowed)


# --------------------------------------------------------------------------- oversized tool results

FS_LIMIT = 64 << 10  # --max-message-bytes for the filesystem tests


def _fs_initialize(p) -> None:
    init = p.request(
        0,
        "initialize",
        {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw-e2e", "version": "0"}},
    )
    assert "result" in init, init
    p.send({"jsonrpc": "2.0", "method": "notifications/initialized"})


def _read(p, rid, path: Path) -> dict:
    return p.request(rid, "tools/call", {"name": "read_text_file", "arguments": {"path": str(path)}})


def test_oversized_tool_result_answers_the_request_with_its_own_id(raw_proxy, fs_root, tmp_path):
    """Regression: a tool result over --max-message-bytes was replaced by an error with
    `id: null`, so the agent's request never got an answer and the agent hung until its own
    timeout. The filesystem server's SDK writes `{"result":...,"jsonrpc":"2.0","id":N}`: the id
    comes after the oversized content, and is read from the end of the line."""
    ledger = tmp_path / "flight.redb"
    big = fs_root / "big.txt"
    big.write_text("lorem ipsum dolor sit amet\n" * (4 * FS_LIMIT // 27), encoding="utf-8")
    small = fs_root / "small.txt"
    small.write_text("small and fine\n", encoding="utf-8")
    p = raw_proxy(
        start_args([FILESYSTEM_SERVER, fs_root], "--max-message-bytes", str(FS_LIMIT), "--ledger", str(ledger))
    )
    _fs_initialize(p)

    for rid in (7, "read-big \"quoted\" \\ id"):
        err = assert_error(_read(p, rid, big), -32600, rid)
        assert "too large" in err["message"] and str(FS_LIMIT) in err["message"], err
        # The session goes on: a small read is answered normally.
        ok = _read(p, f"after-{rid}", small)
        assert ok["id"] == f"after-{rid}" and "error" not in ok, ok
        assert ok["result"]["content"][0]["text"] == "small and fine\n", ok
    assert p.no_more_output() == [], "each request gets exactly one reply"

    p.close_stdin()
    assert p.wait() == 0, p.stderr_tail()
    log = subprocess.run(
        [str(harness.vanguard_bin()), "ledger", "log", "--ledger", str(ledger), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert log.returncode == 0, log.stderr
    entries = [json.loads(line) for line in log.stdout.splitlines()]
    refused = [e for e in entries if "L0-MALFORMED" in (e.get("verdict") or {}).get("rules", [])]
    # The ledger records each refusal with the id it answered and the tool that produced it.
    assert [(e["direction"], e["rpc_id"], e["tool"]) for e in refused] == [
        ("server_to_agent", 7, "read_text_file"),
        ("server_to_agent", "read-big \"quoted\" \\ id", "read_text_file"),
    ], refused
    assert all(e["verdict"]["action"] == "block" for e in refused), refused


@pytest.mark.anyio
async def test_sdk_client_gets_an_error_for_an_oversized_tool_result(proxied, fs_root):
    """The same through a real MCP client: the call fails with Vanguard's error (not the SDK's
    own read timeout, which is what an error with `id: null` led to), and the session works on."""
    big = fs_root / "big.txt"
    big.write_text("x" * (2 * FS_LIMIT), encoding="utf-8")
    (fs_root / "small.txt").write_text("fine\n", encoding="utf-8")
    async with proxied([FILESYSTEM_SERVER, fs_root], "--max-message-bytes", str(FS_LIMIT)) as (session, _):
        with anyio.fail_after(STEP):
            with pytest.raises(McpError) as raised:
                await session.call_tool("read_text_file", {"path": str(big)})
        assert raised.value.error.code == -32600, raised.value.error
        assert "too large" in raised.value.error.message, raised.value.error
        with anyio.fail_after(STEP):
            result = await session.call_tool("read_text_file", {"path": str(fs_root / "small.txt")})
        assert result.content[0].text == "fine\n"
