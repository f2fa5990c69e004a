#!/usr/bin/env bash
# Sets everything up (idempotent) and generates a video with the built-in model:
#   ./scripts/generate.sh "a red ball bouncing on a grass field" -o shot.mp4
# Any `cinegen generate` flag works here (--seconds, --size, --seed, --image, --loop, ...).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
if [ "$#" -eq 0 ]; then set -- "a red ball bouncing on a grass field" -o shot.mp4; fi
exec "$root/.venv/bin/cinegen" generate "$@"
