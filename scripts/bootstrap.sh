#!/usr/bin/env bash
# Installs the pinned pnpm and the workspace's dependencies (generating the Prisma client offline),
# and ffmpeg.
set -euo pipefail
cd "$(dirname "$0")/.."
PNPM_VERSION=10.34.9
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version)" != "$PNPM_VERSION" ]; then
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null
fi
export TURBO_TELEMETRY_DISABLED=1 CHECKPOINT_DISABLE=1
if [ -n "${CI:-}" ]; then pnpm install --frozen-lockfile; else pnpm install; fi
# The API converts audio uploads with ffmpeg (Debian's package when it is absent); without it (no
# root to install it) everything else works and audio uploads answer 503.
bash scripts/ensure-packages.sh ffmpeg || echo "bootstrap: ffmpeg is not installed: audio uploads will answer 503" >&2
