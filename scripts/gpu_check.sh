#!/usr/bin/env bash
# Time the open model families' memory and speed switches on a GPU (mid-sized random-weight models):
# prints a markdown table for docs/benchmarks.md. Arguments go to scripts/gpu_check.py (--help).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-.venv/bin/python}" scripts/gpu_check.py "$@"
