"""The proxy as a process: exit codes, signals, end of input, no orphans."""

from __future__ import annotations

import os
import signal

import pytest

import harness
from harness import ECHO_SERVER, EVERYTHING_SERVER, FILESYSTEM_SERVER, start_args


@pytest.mark.parametrize(
    ("server", "dash", "code"),
    [
        (["sh", "-c", "exit 7"], True, 7),
        (["sh", "-c", "exit 3"], False, 3),
        (["sh", "-c", "exit 0"], True, 0),
        (["sh", "-c", "kill -KILL $$"], True, 128 + 9),
        (["sh", "-c", "kill -TERM $$"], False, 128 + 15),
    ],
    ids=["exit7-dash", "exit3-server-string", "exit0", "sigkill", "sigterm"],
)
def test_exit_code_is_the_childs(raw_proxy, server, dash, code):
    # stdin stays open: the proxy must notice the child's exit on its own.
    p = raw_proxy(start_args(server, dash=dash))
    assert p.wait(timeout=10) == code


def test_exit_code_after_a_real_exchange(raw_proxy, tmp_path):
    p = raw_proxy(start_args([harness.PYTHON, ECHO_SERVER, tmp_path / "rec"], dash=True))
    assert p.request(1, "ping")["result"]["method"] == "ping"
    assert p.request(2, "test/exit", {"code": 42}) == {"jsonrpc": "2.0", "id": 2, "result": {}}
    assert p.wait(timeout=10) == 42


def test_end_of_input_ends_the_session(raw_proxy, tmp_path):
    p = raw_proxy(start_args([harness.PYTHON, ECHO_SERVER, tmp_path / "rec"]))
    assert p.request(1, "ping")["id"] == 1
    kids = harness.descendants_of(p.proc.pid)
    assert kids, "the server should be a child of the proxy"
    p.close_stdin()
    assert p.wait(timeout=10) == 0
    assert harness.wait_until(lambda: not any(harness.alive(k) for k in kids), timeout=5)


@pytest.mark.parametrize("which", ["filesystem", "everything"])
def test_end_of_input_ends_a_real_server(raw_proxy, fs_root, which):
    server = [FILESYSTEM_SERVER, fs_root] if which == "filesystem" else [EVERYTHING_SERVER, "stdio"]
    p = raw_proxy(start_args(server))
    init = p.request(
        1,
        "initialize",
        {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "0"}},
    )
    assert "serverInfo" in init["result"], init
    kids = harness.descendants_of(p.proc.pid)
    p.close_stdin()
    code = p.wait(timeout=10)
    assert code == 0, f"proxy exit {code} after end of input"
    assert harness.wait_until(lambda: not any(harness.alive(k) for k in kids), timeout=5)


def _wait_for_descendants(pid: int, expect: list[str], timeout: float = 10) -> list[int]:
    """Wait until pid has live descendants running each of these command lines; their pids."""
    found: dict[int, str] = {}

    def complete() -> bool:
        nonlocal found
        found = {k: harness.cmdline(k) for k in harness.descendants_of(pid) if harness.alive(k)}
        return sorted(c for c in found.values() if c in expect) == sorted(expect)

    assert harness.wait_until(complete, timeout), f"expected descendants {expect} of {pid}, found {found}"
    return [k for k, c in found.items() if c in expect]


@pytest.mark.parametrize(
    ("sig", "server", "expect"),
    [
        (signal.SIGTERM, ["sleep", "1000"], ["sleep 1000"]),
        (signal.SIGINT, ["sleep", "1000"], ["sleep 1000"]),
        # The whole process group of the child gets the signal, not just the child.
        (
            signal.SIGTERM,
            ["sh", "-c", "sleep 1000 & sleep 1001 & wait"],
            ["sh -c sleep 1000 & sleep 1001 & wait", "sleep 1000", "sleep 1001"],
        ),
    ],
    ids=["sigterm", "sigint", "sigterm-group"],
)
def test_signal_to_proxy_ends_the_child(raw_proxy, sig, server, expect):
    p = raw_proxy(start_args(server, dash=True))
    kids = _wait_for_descendants(p.proc.pid, expect)
    # Signal only once the proxy handles it (before that, the default action would kill the proxy
    # alone: a start-up window this test is not about).
    assert harness.wait_until(lambda: harness.catches(p.proc.pid, sig), timeout=10), f"proxy never handles {sig.name}"
    os.kill(p.proc.pid, sig)
    code = p.wait(timeout=10)
    left = [k for k in kids if harness.alive(k)]
    if left:
        # Leave nothing behind for the next test, then fail.
        for k in left:
            os.kill(k, signal.SIGKILL)
        pytest.fail(f"{sig.name} to the proxy left its children {left} running")
    assert code == 128 + sig, f"proxy exit {code}, expected {128 + sig} (child killed by {sig.name})"


def test_sigterm_ends_a_real_server(raw_proxy, fs_root):
    p = raw_proxy(start_args([FILESYSTEM_SERVER, fs_root]))
    init = p.request(
        1,
        "initialize",
        {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "0"}},
    )
    assert "result" in init, init
    kids = [k for k in harness.descendants_of(p.proc.pid) if harness.alive(k)]
    assert kids
    assert harness.catches(p.proc.pid, signal.SIGTERM)
    os.kill(p.proc.pid, signal.SIGTERM)
    p.wait(timeout=10)
    assert harness.wait_until(lambda: not any(harness.alive(k) for k in kids), timeout=5), "server outlived the proxy"
