#!/usr/bin/env bash
# Installs the pinned pnpm and the workspace's dependencies (generating the Prisma client offline).
set -euo pipefail
cd "$(dirname "$0")/.."
PNPM_VERSION=10.34.9
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version)" != "$PNPM_VERSION" ]; then
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null
fi
export TURBO_TELEMETRY_DISABLED=1 CHECKPOINT_DISABLE=1
if [ -n "${CI:-}" ]; then pnpm install --frozen-lockfile; else pnpm install; fi
