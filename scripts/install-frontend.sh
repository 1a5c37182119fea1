#!/usr/bin/env bash
# Installs the NHS.UK frontend from the npm registry (it is not copied into the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f package.json ]; then
  if [ ! -d node_modules/nhsuk-frontend ] || [ package.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --silent 2>/dev/null || npm install --no-audit --no-fund --silent
  fi
fi
