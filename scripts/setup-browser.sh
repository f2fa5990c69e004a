#!/usr/bin/env bash
# Installs Debian's chromium for the studio's browser tests (Playwright drives /usr/bin/chromium;
# a test tool's own browser download cannot work offline). Needs root or passwordless sudo.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
echo "[setup] installing Debian's chromium for browser tests" >&2
$sudo apt-get update -qq >&2 || true
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >&2
