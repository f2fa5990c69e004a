#!/usr/bin/env bash
# Sets everything up (idempotent) and runs the whole test suite: ruff, mypy, pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
./scripts/setup.sh --dev
./scripts/setup-browser.sh
echo "[test] ruff" >&2
.venv/bin/ruff check cinegen tests benchmarks scripts
echo "[test] mypy" >&2
.venv/bin/mypy
echo "[test] pytest" >&2
exec .venv/bin/python -m pytest "$@"
