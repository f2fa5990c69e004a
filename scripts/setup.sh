#!/usr/bin/env bash
# Idempotent setup: creates .venv in the repo root with cinegen installed.
#   ./scripts/setup.sh          cinegen and what it needs to run (what scripts/generate.sh uses)
#   ./scripts/setup.sh --dev    also the test tools and the optional extras (onnx, quantize): scripts/test.sh
# Optional extras stay out of a plain install because transformers imports torchao whenever it is
# installed (about 0.3 s and five warning lines on every `cinegen generate`; docs/decisions.md).
# Re-running is cheap: it reinstalls only when pyproject.toml changed (a --dev install serves both).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3.11}"
command -v "$py" >/dev/null 2>&1 || py=python3
case "${1:-}" in
  --dev) extras="[dev]" ;;
  "") extras="" ;;
  *) echo "usage: $0 [--dev]" >&2; exit 2 ;;
esac
stamp=".venv/.cinegen-installed"
hash="$(sha256sum pyproject.toml | cut -d' ' -f1)"
want="$hash$extras"
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($py --version)" >&2
  "$py" -m venv .venv
fi
have="$(cat "$stamp" 2>/dev/null || true)"
if [ "$have" != "$want" ] && [ "$have" != "$hash[dev]" ]; then
  echo "[setup] installing cinegen$extras and its dependencies into .venv (first run takes a few minutes)" >&2
  .venv/bin/python -m pip install -q --upgrade pip >&2
  .venv/bin/python -m pip install -q -e ".$extras" >&2
  echo "$want" > "$stamp"
fi
# Byte-compile the package, as installing a wheel would (an editable install does not): where
# PYTHONDONTWRITEBYTECODE is set, every command would otherwise compile ~140 modules from source,
# 0.26 s of each `cinegen generate` (docs/decisions.md). Only changed files are rewritten (60 ms).
.venv/bin/python -m compileall -q cinegen >&2
