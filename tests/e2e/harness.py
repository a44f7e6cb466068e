"""Shared helpers for the end-to-end suite: where things are, how to start the proxy.

Everything runs the real `vanguard` binary ($VANGUARD_BIN, else target/debug/vanguard) in
front of real MCP servers installed by scripts/setup.sh under tests/node_modules.
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, AsyncIterator, Iterable

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import McpError

ROOT = Path(__file__).resolve().parents[2]
E2E = ROOT / "tests" / "e2e"
SERVERS = E2E / "servers"
NODE_BIN = ROOT / "tests" / "node_modules" / ".bin"
FILESYSTEM_SERVER = NODE_BIN / "mcp-server-filesystem"
EVERYTHING_SERVER = NODE_BIN / "mcp-server-everything"
ECHO_SERVER = SERVERS / "echo_server.py"
TEE_STDIN = SERVERS / "tee_stdin.py"
PYTHON = os.path.abspath(sys.executable)  # the venv's interpreter (not resolved: keep the venv)

# Budgets. Every await in a test sits under one of these; pytest-timeout (pytest.ini) is the
# backstop for anything else.
STEP = 20.0  # one request/response through the proxy, including server start-up
SESSION = timedelta(seconds=STEP)

BLOCK_CODE = -32001
BLOCK_PREFIX = "Vanguard blocked:"


def vanguard_bin() -> Path:
    env = os.environ.get("VANGUARD_BIN")
    if env:
        return Path(env).resolve()
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if not target.is_absolute():
        target = ROOT / target
    return target / "debug" / "vanguard"


def proxy_env(home: Path) -> dict[str, str]:
    """Environment for one proxy: its own HOME and XDG dirs (and it runs with cwd=home), so any
    state it keeps (ledger, keys) never collides with another test or a developer's real setup."""
    dirs = {
        "HOME": home,
        "XDG_DATA_HOME": home / ".local" / "share",
        "XDG_STATE_HOME": home / ".local" / "state",
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_CACHE_HOME": home / ".cache",
    }
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    env = {k: str(v) for k, v in dirs.items()}
    env["RUST_BACKTRACE"] = "1"
    return env


def full_env(home: Path) -> dict[str, str]:
    return {**os.environ, **proxy_env(home)}


def server_string(argv: Iterable[str | os.PathLike]) -> str:
    """The `--server "CMD STRING"` form of an argv (POSIX shell quoting)."""
    return shlex.join(str(a) for a in argv)


def start_args(server: list[str | os.PathLike], *options: str, dash: bool = False) -> list[str]:
    """Arguments for `vanguard start`, `--server "..."` form by default, `-- CMD ARGS` if dash."""
    if dash:
        return ["start", *options, "--", *(str(a) for a in server)]
    return ["start", "--server", server_string(server), *options]


# --------------------------------------------------------------------------- SDK sessions


@asynccontextmanager
async def sdk_session(
    command: str | os.PathLike,
    args: list[str],
    *,
    env: dict[str, str] | None,
    errlog,
    cwd: Path | None = None,
    **session_kwargs: Any,
) -> AsyncIterator[tuple[ClientSession, Any]]:
    """A real MCP client (python `mcp` SDK over stdio), initialized. Yields (session, init)."""
    params = StdioServerParameters(command=str(command), args=[str(a) for a in args], env=env, cwd=cwd)
    try:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write, read_timeout_seconds=SESSION, **session_kwargs) as session:
                with anyio.fail_after(STEP):
                    init = await session.initialize()
                yield session, init
    except BaseExceptionGroup as group:
        # The SDK's task groups wrap whatever the test raised (an assertion, a timeout) in two
        # layers of exception groups; report the one real failure when there is exactly one.
        leaves = _leaves(group)
        if len(leaves) == 1:
            raise leaves[0] from None
        raise


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    out: list[BaseException] = []
    for e in group.exceptions:
        out += _leaves(e) if isinstance(e, BaseExceptionGroup) else [e]
    return out


async def call_expecting_block(session: ClientSession, tool: str, arguments: dict, **kwargs) -> dict:
    """Call a tool that Vanguard must block; returns the block error's `data`."""
    try:
        with anyio.fail_after(STEP):
            result = await session.call_tool(tool, arguments)
    except McpError as err:
        return assert_blocked(err, **kwargs)
    raise AssertionError(f"{tool}({arguments}) was not blocked; the server answered: {result.content}")


def assert_blocked(err: McpError, *, forbidden_text: Iterable[str] = ()) -> dict:
    """Check an McpError is Vanguard's block reply; returns its `data`."""
    e = err.error
    assert e.code == BLOCK_CODE, f"expected Vanguard block ({BLOCK_CODE}), got {e.code}: {e.message}"
    assert e.message.startswith(BLOCK_PREFIX), e.message
    assert len(e.message) > len(BLOCK_PREFIX) + 1, f"block message names no reason: {e.message!r}"
    data = e.data
    assert isinstance(data, dict), f"block error data should be an object: {data!r}"
    assert isinstance(data.get("rule"), str) and data["rule"], data
    assert isinstance(data.get("layer"), str) and data["layer"], data
    assert isinstance(data.get("severity"), str) and data["severity"], data
    # DESIGN.md section 2: the index of the ledger entry, so the operator can fetch a receipt.
    assert isinstance(data.get("ledger_index"), int) and data["ledger_index"] >= 0, data
    for text in forbidden_text:
        assert text not in e.message, f"the server's own error leaked into the reply: {e.message!r}"
    return data


# --------------------------------------------------------------------------- raw processes


class RawProxy:
    """`vanguard start ...` on raw pipes: write lines, read lines, with timeouts.

    A reader thread splits stdout on b"\\n" with no length limit; stderr goes to a file.
    """

    def __init__(self, args: list[str], *, home: Path, stderr_path: Path, extra_env: dict[str, str] | None = None):
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")
        self.proc = subprocess.Popen(
            [str(vanguard_bin()), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env={**full_env(home), **(extra_env or {})},
            cwd=home,
            start_new_session=True,
        )
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buf = b""
        out = self.proc.stdout
        while True:
            chunk = out.read1(1 << 20)
            if not chunk:
                break
            buf += chunk
            while True:
                i = buf.find(b"\n")
                if i < 0:
                    break
                self._lines.put(buf[:i])
                buf = buf[i + 1 :]
        if buf:
            self._lines.put(buf)
        self._lines.put(None)  # EOF

    # -- writing
    def send_raw(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise AssertionError(
                f"proxy closed its stdin (exit {self.proc.poll()}); stderr:\n{self.stderr_tail()}"
            ) from None

    def send_line(self, line: bytes | str) -> None:
        if isinstance(line, str):
            line = line.encode()
        self.send_raw(line + b"\n")

    def send(self, obj: Any) -> None:
        self.send_line(json.dumps(obj, separators=(",", ":")))

    def close_stdin(self) -> None:
        self.proc.stdin.close()

    # -- reading
    def recv_line(self, timeout: float = STEP) -> bytes:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line from the proxy within {timeout}s; stderr:\n{self.stderr_tail()}") from None
        if line is None:
            self._lines.put(None)
            raise AssertionError(
                f"proxy closed stdout (exit {self.proc.poll()}); stderr:\n{self.stderr_tail()}"
            )
        return line

    def recv(self, timeout: float = STEP) -> dict:
        line = self.recv_line(timeout)
        try:
            msg = json.loads(line)
        except ValueError:
            raise AssertionError(f"proxy wrote a non-JSON line: {line[:300]!r}") from None
        assert isinstance(msg, dict), f"proxy wrote a non-object: {line[:300]!r}"
        return msg

    def no_more_output(self, wait: float = 0.5) -> list[bytes]:
        """Lines that arrive within `wait` seconds (for asserting nothing extra was sent)."""
        extra = []
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                self._lines.put(None)
                break
            extra.append(line)
        return extra

    def request(self, rid: Any, method: str, params: Any = None, timeout: float = STEP) -> dict:
        msg = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return self.recv(timeout)

    # -- lifecycle
    def wait(self, timeout: float = STEP) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"proxy still running after {timeout}s; stderr:\n{self.stderr_tail()}") from None

    def stderr_tail(self, n: int = 4000) -> str:
        try:
            self._stderr.flush()
            return self.stderr_path.read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return "<no stderr>"

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except (OSError, ValueError):
                pass
        self._stderr.close()


# --------------------------------------------------------------------------- /proc helpers


def children_of(pid: int) -> list[int]:
    """Direct children of pid (from /proc/<pid>/task/*/children)."""
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(x) for x in (task / "children").read_text().split()]
        except (OSError, ValueError):
            pass
    return kids


def descendants_of(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for kid in children_of(todo.pop()):
            out.append(kid)
            todo.append(kid)
    return out


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat[stat.rfind(")") + 2 :].split()[0]
    return state not in ("Z", "X")


def cmdline(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace"))
    except OSError:
        return ""


def pids_with_arg(needle: str) -> list[int]:
    """Live processes whose command line contains `needle` (e.g. a per-test tmp path)."""
    found = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid():
            continue
        if needle in cmdline(int(p.name)) and alive(int(p.name)):
            found.append(int(p.name))
    return found


def catches(pid: int, *signals: int) -> bool:
    """Whether pid has handlers installed for all these signals (SigCgt in /proc/<pid>/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            mask = int(line.split()[1], 16)
            return all(mask & (1 << (s - 1)) for s in signals)
    return False


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
