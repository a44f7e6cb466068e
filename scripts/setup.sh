#!/usr/bin/env bash
# Install everything the test suite needs besides the Rust toolchain:
#   - Node.js + npm, and the pinned MCP servers in tests/node_modules (npm ci, tests/package-lock.json)
#   - a Python venv with the pinned packages of tests/requirements.txt (the `mcp` SDK, pytest,
#     python-opentimestamps for tests/anchor_ots.rs)
#
# Idempotent, and fast when nothing changed: each install records a stamp of its inputs and is
# skipped while the stamp matches. On a fresh Debian machine run as root, missing system packages
# (nodejs, npm, python3-venv) are installed with apt-get.
#
# Environment:
#   VANGUARD_VENV   where the venv lives (default: <repo>/.venv)
#   PYTHON          interpreter to create the venv with (default: python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VANGUARD_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
STAMP_NAME=".vanguard-setup-stamp"

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
digest() { cat "$@" | sha256sum | cut -d' ' -f1; }

# --- system packages ---------------------------------------------------------------------------
missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    missing+=(python3 python3-venv)
elif ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "installing ${missing[*]} with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        die "missing ${missing[*]}: install them (or run this script as root on Debian) and rerun"
    fi
fi

node_major="$(node -p 'process.versions.node.split(".")[0]')"
((node_major >= 18)) || die "Node.js >= 18 needed by the MCP servers, found $(node --version)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || die "Python >= 3.10 needed by the mcp SDK, found $("$PYTHON" --version 2>&1)"

# --- MCP servers (npm) -------------------------------------------------------------------------
modules="$ROOT/tests/node_modules"
npm_stamp="node $(node --version) $(digest "$ROOT/tests/package.json" "$ROOT/tests/package-lock.json")"
if [[ -f "$modules/$STAMP_NAME" && "$(cat "$modules/$STAMP_NAME")" == "$npm_stamp" \
      && -x "$modules/.bin/mcp-server-filesystem" && -x "$modules/.bin/mcp-server-everything" ]]; then
    log "MCP servers up to date (tests/node_modules)"
else
    log "installing MCP servers: npm ci in tests/"
    (cd "$ROOT/tests" && npm ci --no-audit --no-fund --loglevel=error)
    printf '%s\n' "$npm_stamp" >"$modules/$STAMP_NAME"
fi

# --- Python venv -------------------------------------------------------------------------------
venv_python="$VENV/bin/python"
if [[ -f "$VENV/pyvenv.cfg" ]] && ! "$venv_python" -c 'import sys' >/dev/null 2>&1; then
    log "venv at $VENV is broken (its base interpreter moved?); recreating it"
    rm -rf "$VENV"
fi
if [[ ! -f "$VENV/pyvenv.cfg" ]]; then
    [[ ! -e "$VENV" || -z "$(ls -A "$VENV")" ]] || die "$VENV exists and is not a venv; set VANGUARD_VENV elsewhere"
    log "creating venv at $VENV"
    "$PYTHON" -m venv "$VENV"
fi
pip_stamp="$("$venv_python" --version 2>&1) $(digest "$ROOT/tests/requirements.txt")"
if [[ -f "$VENV/$STAMP_NAME" && "$(cat "$VENV/$STAMP_NAME")" == "$pip_stamp" ]] \
      && "$venv_python" -c 'import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in ("mcp", "pytest", "pytest_timeout", "opentimestamps")))'; then
    log "python packages up to date ($VENV)"
else
    log "installing python packages into $VENV"
    PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$venv_python" -m pip install --quiet -r "$ROOT/tests/requirements.txt"
    printf '%s\n' "$pip_stamp" >"$VENV/$STAMP_NAME"
fi
