"""Fixtures for the end-to-end suite. See harness.py for the helpers themselves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import harness
from harness import RawProxy, sdk_session, start_args, vanguard_bin


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="session", autouse=True)
def prerequisites():
    """Missing pieces are errors, never skips: a suite that skips everything would pass."""
    missing = []
    binary = vanguard_bin()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        missing.append(f"vanguard binary {binary} (cargo build, or set VANGUARD_BIN)")
    for server in (harness.FILESYSTEM_SERVER, harness.EVERYTHING_SERVER):
        if not server.exists():
            missing.append(f"{server} (run scripts/setup.sh)")
    if missing:
        pytest.fail("end-to-end prerequisites missing:\n  " + "\n  ".join(missing), pytrace=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def fs_root(tmp_path: Path) -> Path:
    """The one directory the filesystem server is allowed to use."""
    root = tmp_path / "root"
    root.mkdir()
    return root


@pytest.fixture
def errlog(tmp_path: Path):
    """The proxy's (and its server's) stderr, printed at teardown: pytest shows it on failure."""
    path = tmp_path / "stderr.log"
    with open(path, "w") as f:
        yield f
    text = path.read_text(errors="replace")
    print(f"---- stderr of the proxy and server ({path}) ----\n{text[-8000:]}")


@pytest.fixture
def proxied(home: Path, errlog):
    """`async with proxied(server_argv, *options, dash=False, **session_kwargs) as (session, init)`:
    the SDK client talking to `vanguard start` wrapping server_argv."""

    def open_session(server, *options: str, dash: bool = False, **session_kwargs):
        return sdk_session(
            vanguard_bin(),
            start_args(server, *options, dash=dash),
            env=harness.proxy_env(home),
            errlog=errlog,
            cwd=home,
            **session_kwargs,
        )

    return open_session


@pytest.fixture
def direct(errlog):
    """The same SDK client talking to the server itself, without the proxy (the reference)."""

    def open_session(server, **session_kwargs):
        return sdk_session(server[0], [str(a) for a in server[1:]], env=None, errlog=errlog, **session_kwargs)

    return open_session


@pytest.fixture
def raw_proxy(home: Path, tmp_path: Path):
    """Factory: `raw_proxy(args)` starts `vanguard <args>` on raw pipes; all are killed at teardown."""
    started: list[RawProxy] = []

    def start(args: list[str], **kwargs) -> RawProxy:
        p = RawProxy(args, home=home, stderr_path=tmp_path / f"raw-{len(started)}.stderr", **kwargs)
        started.append(p)
        return p

    yield start
    for p in started:
        tail = p.stderr_tail()
        p.close()
        print(f"---- stderr of {p.proc.args} ----\n{tail}")

