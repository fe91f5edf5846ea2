#!/usr/bin/env bash
# Installs netwatch and runs `netwatch demo`: a simulated congress venue on loopback, no hardware needed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec "$(cat .netwatch-python)" -m netwatch demo "$@"
