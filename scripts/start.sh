#!/usr/bin/env bash
# One command from a fresh clone: installs, starts PostgreSQL and Redis if needed, migrates,
# and runs the API with its worker pool. SANDBOX=1 adds the WhatsApp simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/ensure-services.sh
exec node scripts/start.mjs
