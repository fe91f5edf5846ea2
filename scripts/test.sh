#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what it needs, then runs pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test || exit 1
"$(cat .netwatch-python)" -m pytest -p no:cacheprovider -q -ra --durations=15 "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit "$rc"
