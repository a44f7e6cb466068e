#!/usr/bin/env bash
# The whole check, in order, stopping at the first failure:
#   1. scripts/setup.sh                    test dependencies (npm servers, python venv)
#   2. cargo fmt --check                   formatting
#   3. cargo clippy -D warnings            lints, every target of every workspace crate
#   4. cargo tree -p vanguard-verifier     the verifier must not depend on tokio (STYLE.md)
#   5. cargo build, cargo test --workspace
#   6. pytest tests/e2e                    the real binary between a real MCP client and real
#                                          MCP servers; always last, so its summary line ends
#                                          the output and its exit code is the script's.
# CI runs exactly this (.ci/run). Extra arguments go to pytest (e.g. `-k block -x`).
#
# Environment:
#   VANGUARD_SKIP_LINT=1   skip steps 2-4 (local iteration; CI never sets it)
#   VANGUARD_BIN           binary for the e2e suite (default: $CARGO_TARGET_DIR or target, /debug/vanguard)
#   VANGUARD_VENV          the python venv (default: <repo>/.venv), see scripts/setup.sh
#   CI=true                adds --locked to cargo (Cargo.lock must be up to date), no incremental builds
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VANGUARD_VENV:-$ROOT/.venv}"

step() { printf '\n==> %s\n' "$*" >&2; }

cargo_flags=()
rustfmt_color=auto
if [[ "${CI:-}" == "true" ]]; then
    cargo_flags+=(--locked)
    rustfmt_color=never
    export CARGO_INCREMENTAL=0 CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
fi
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

step "setup (scripts/setup.sh)"
bash scripts/setup.sh

if [[ "${VANGUARD_SKIP_LINT:-0}" != "1" ]]; then
    step "cargo fmt --check"
    cargo fmt --all --check -- --color "$rustfmt_color"

    step "cargo clippy --all-targets -D warnings"
    cargo clippy --workspace --all-targets "${cargo_flags[@]}" -- -D warnings

    step "vanguard-verifier does not depend on tokio"
    if cargo tree -p vanguard-verifier -e normal,build --prefix none "${cargo_flags[@]}" | grep -E '^tokio(-[a-z]+)? v'; then
        printf 'error: vanguard-verifier must not depend on tokio (see DESIGN.md / STYLE.md)\n' >&2
        exit 1
    fi
fi

step "cargo build"
cargo build --workspace "${cargo_flags[@]}"

step "cargo test --workspace"
cargo test --workspace "${cargo_flags[@]}"

target="${CARGO_TARGET_DIR:-$ROOT/target}"
[[ "$target" = /* ]] || target="$ROOT/$target"
export VANGUARD_BIN="${VANGUARD_BIN:-$target/debug/vanguard}"

step "end-to-end: pytest tests/e2e (VANGUARD_BIN=$VANGUARD_BIN)"
cd "$ROOT/tests/e2e"
# exec: pytest's exit status is the script's. Anything but 0 fails, including 5 ("no tests
# collected"), so a suite that silently stopped collecting cannot pass. Nothing prints after it.
exec "$VENV/bin/python" -m pytest "$@"
