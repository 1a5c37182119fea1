#!/usr/bin/env bash
# Runs the whole suite. pytest exits 5 when it collects no tests: that is a failure here,
# because a suite that silently runs nothing proves nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-artifacts
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "run-tests: pytest collected no tests (exit 5); treating as failure" >&2
  exit 1
fi
exit "$rc"
