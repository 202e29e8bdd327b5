#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs, starts PostgreSQL and Redis if needed,
# type-checks, runs every package's tap tests with turbo's cache off, prints "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/ensure-services.sh
bash scripts/ensure-packages.sh
exec node scripts/run-tests.mjs
