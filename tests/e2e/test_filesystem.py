"""The real filesystem MCP server behind the proxy, driven by the real python MCP client."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

import harness
from harness import FILESYSTEM_SERVER, STEP, TEE_STDIN, call_expecting_block

pytestmark = pytest.mark.anyio

# What the filesystem server itself answers for a path outside its allowed directories. If this
# text reaches the client, the request got through to the server.
SERVER_DENIAL = "Access denied"


def text_of(result) -> str:
    assert not result.isError, f"tool call failed: {result.content}"
    return "".join(c.text for c in result.content if c.type == "text")


def tool_dump(tools) -> dict[str, dict]:
    return {t.name: t.model_dump(mode="json", exclude_none=True) for t in tools}


async def test_tools_list_through_proxy_matches_direct(proxied, direct, fs_root: Path):
    server = [FILESYSTEM_SERVER, fs_root]
    async with direct(server) as (session, init_direct):
        with anyio.fail_after(STEP):
            want = tool_dump((await session.list_tools()).tools)
    async with proxied(server) as (session, init):
        with anyio.fail_after(STEP):
            got = tool_dump((await session.list_tools()).tools)

    assert init.serverInfo.name == init_direct.serverInfo.name == "secure-filesystem-server"
    assert init.protocolVersion == init_direct.protocolVersion
    assert {"read_text_file", "write_file", "list_directory"} <= set(want)
    assert sorted(got) == sorted(want)
    # Forwarded byte for byte, so every schema and description arrives unchanged.
    assert got == want


async def test_benign_calls_return_the_real_results(proxied, fs_root: Path):
    content = "hello from the e2e suite\nzweite Zeile: Grüße ✓\n"
    (fs_root / "hello.txt").write_text(content, encoding="utf-8")
    (fs_root / "sub").mkdir()

    async with proxied([FILESYSTEM_SERVER, fs_root]) as (session, _):
        with anyio.fail_after(STEP):
            read = await session.call_tool("read_text_file", {"path": str(fs_root / "hello.txt")})
        assert text_of(read) == content

        with anyio.fail_after(STEP):
            head = await session.call_tool("read_text_file", {"path": str(fs_root / "hello.txt"), "head": 1})
        assert text_of(head).rstrip("\n") == "hello from the e2e suite"

        with anyio.fail_after(STEP):
            legacy = await session.call_tool("read_file", {"path": str(fs_root / "hello.txt")})
        assert text_of(legacy) == content

        with anyio.fail_after(STEP):
            listing = text_of(await session.call_tool("list_directory", {"path": str(fs_root)}))
        assert sorted(listing.splitlines()) == ["[DIR] sub", "[FILE] hello.txt"]

        written = fs_root / "sub" / "new.txt"
        with anyio.fail_after(STEP):
            await session.call_tool("write_file", {"path": str(written), "content": "written via proxy"})
        assert written.read_text() == "written via proxy"

        with anyio.fail_after(STEP):
            allowed = text_of(await session.call_tool("list_allowed_directories", {}))
        assert str(fs_root.resolve()) in allowed


async def test_double_dash_command_form(proxied, fs_root: Path):
    (fs_root / "a.txt").write_text("dash form")
    async with proxied([FILESYSTEM_SERVER, fs_root], dash=True) as (session, init):
        assert init.serverInfo.name == "secure-filesystem-server"
        with anyio.fail_after(STEP):
            got = text_of(await session.call_tool("read_text_file", {"path": str(fs_root / "a.txt")}))
        assert got == "dash form"


def _blocked_reads(root: Path) -> list[tuple[str, dict]]:
    return [
        ("traversal", {"path": f"{root}/../../../../../../etc/passwd"}),
        ("absolute", {"path": "/etc/passwd"}),
        ("percent-encoded", {"path": f"{root}/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc/passwd"}),
        ("double-encoded", {"path": f"{root}/%252e%252e%252f%252e%252e%252fetc%252fpasswd"}),
        ("mixed-encoded", {"path": f"{root}/..%2f..%2f..%2f..%2fetc%2fpasswd"}),
        # Matching is recursive over all argument values: an extra, renamed or nested argument
        # carrying the payload is inspected too.
        ("nested-argument", {"path": f"{root}/hello.txt", "options": {"alt": ["../../../../etc/passwd"]}}),
    ]


BLOCKED_READ_IDS = [name for name, _ in _blocked_reads(Path("/x"))]


@pytest.mark.parametrize("case", BLOCKED_READ_IDS)
async def test_sensitive_read_is_blocked_before_the_server(proxied, fs_root: Path, tmp_path: Path, case: str):
    (fs_root / "hello.txt").write_text("harmless")
    arguments = dict(_blocked_reads(fs_root))[case]
    record = tmp_path / "server-stdin.log"
    server = [harness.PYTHON, TEE_STDIN, record, "--", FILESYSTEM_SERVER, fs_root]

    async with proxied(server) as (session, _):
        data = await call_expecting_block(
            session, "read_text_file", arguments, forbidden_text=[SERVER_DENIAL, "root:x:0:0"]
        )
        assert data.get("layer") in {"L0", "L1", "L2", "L3"}, data
        assert str(data.get("severity")).lower() in {"low", "medium", "high", "critical"}, data

        # The session carries on: a benign call right after is answered normally.
        with anyio.fail_after(STEP):
            ok = await session.call_tool("read_text_file", {"path": str(fs_root / "hello.txt")})
        assert text_of(ok) == "harmless"

    received = record.read_text(errors="replace")
    assert '"tools/call"' in received, "the tee saw no tools/call at all: the proof below would be vacuous"
    assert "passwd" not in received, "the blocked request reached the server"


async def test_blocked_write_never_reaches_the_server(proxied, direct, fs_root: Path, tmp_path: Path):
    """A write the server itself would accept (inside its root) but the rules refuse."""
    def sensitive_target(root: Path) -> tuple[str, Path]:
        (root / "sub").mkdir()
        (root / ".ssh").mkdir()
        return f"{root}/sub/../.ssh/authorized_keys", root / ".ssh" / "authorized_keys"

    # Premise: without the proxy, the server writes it.
    control_root = tmp_path / "control"
    control_root.mkdir()
    path, target = sensitive_target(control_root)
    async with direct([FILESYSTEM_SERVER, control_root]) as (session, _):
        with anyio.fail_after(STEP):
            result = await session.call_tool("write_file", {"path": path, "content": "ssh-ed25519 AAAA attacker"})
        assert not result.isError, result.content
    assert target.read_text() == "ssh-ed25519 AAAA attacker"

    # Through the proxy: blocked, nothing written, and the server never saw the request.
    path, target = sensitive_target(fs_root)
    record = tmp_path / "server-stdin.log"
    server = [harness.PYTHON, TEE_STDIN, record, "--", FILESYSTEM_SERVER, fs_root]
    async with proxied(server) as (session, _):
        await call_expecting_block(session, "write_file", {"path": path, "content": "ssh-ed25519 AAAA attacker"})

        with anyio.fail_after(STEP):
            await session.call_tool("write_file", {"path": str(fs_root / "sub" / "fine.txt"), "content": "ok"})
    assert (fs_root / "sub" / "fine.txt").read_text() == "ok"
    assert not target.exists(), "the blocked write happened"
    received = record.read_text(errors="replace")
    assert "fine.txt" in received
    assert "authorized_keys" not in received, "the blocked request reached the server"


async def test_closing_the_session_leaves_no_processes(proxied, fs_root: Path):
    async with proxied([FILESYSTEM_SERVER, fs_root]) as (session, _):
        with anyio.fail_after(STEP):
            await session.list_tools()
        assert harness.pids_with_arg(str(fs_root)), "expected the proxy and server to be running"
    # stdio_client closed the proxy's stdin and waited for it (SIGTERM after 2 s, SIGKILL after 4 s
    # to the proxy's process group). The server must not outlive it.
    assert await anyio.to_thread.run_sync(
        lambda: harness.wait_until(lambda: not harness.pids_with_arg(str(fs_root)), timeout=5)
    ), f"left running: {harness.pids_with_arg(str(fs_root))}"
