#!/usr/bin/env bash
# Production bundles: `bash scripts/deploy.sh OUT_DIR` builds every deployable (`pnpm build`) and
# writes one self-contained directory per role with `pnpm deploy --prod` — the compiled dist/, its
# package.json and exactly its runtime dependencies, no devDependencies, no TypeScript sources:
#   OUT_DIR/api       node dist/server.js            (an API node)
#   OUT_DIR/worker    node dist/main.js              (the worker pool; dist/worker-process.js is one worker)
#   OUT_DIR/migrator  node dist/migrate.js           (applies OUT_DIR/migrator/migrations)
# The Dockerfile runs this in its build stage; e2e/test/production.test.ts starts the result.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: scripts/deploy.sh OUT_DIR}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
node scripts/build.mjs
# --legacy: the workspace packages are compiled into each bundle, not installed (not injected).
# auto-install-peers=false: @prisma/client's optional peers (the prisma CLI, typescript) stay out.
for role in api:@wss/api worker:@wss/worker migrator:@wss/db; do
  rm -rf "${out:?}/${role%%:*}"
  pnpm --filter "${role#*:}" deploy --legacy --prod --ignore-scripts --config.auto-install-peers=false "$out/${role%%:*}" > /dev/null
  echo "deployed ${role#*:} → $out/${role%%:*}"
done
