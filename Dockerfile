# Multi-stage: one build stage compiles everything (`pnpm build`) and writes one self-contained
# directory per role with `pnpm deploy --prod` (scripts/deploy.sh); each runtime image holds only
# that directory: compiled JavaScript and its runtime dependencies, run by node as a non-root user.
#   docker build --target api      -t wa-status-server-api .
#   docker build --target worker   -t wa-status-server-worker .
#   docker build --target migrator -t wa-status-server-migrator .
FROM node:20-bookworm-slim AS build
ENV PNPM_VERSION=10.34.9 TURBO_TELEMETRY_DISABLED=1 CHECKPOINT_DISABLE=1
RUN npm install -g pnpm@${PNPM_VERSION}
WORKDIR /src
COPY . .
RUN pnpm install --frozen-lockfile && bash scripts/deploy.sh /out

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
USER node

FROM runtime AS migrator
COPY --from=build --chown=node:node /out/migrator /app
CMD ["node", "--enable-source-maps", "dist/migrate.js"]

FROM runtime AS worker
COPY --from=build --chown=node:node /out/worker /app
# The pool (dist/main.js) runs one process per core; compose runs one process per container.
CMD ["node", "--enable-source-maps", "dist/main.js"]
HEALTHCHECK --interval=10s --timeout=5s --retries=3 CMD ["node", "-e", "const s=require('fs').statSync(process.env.WORKER_HEALTH_FILE||'/tmp/wss-worker-healthy');process.exit(Date.now()-s.mtimeMs<20000?0:1)"]

# Last, so a plain `docker build .` makes the API image.
FROM runtime AS api
# ffmpeg converts audio uploads to voice notes (Debian's package, kept up to date by its security fixes).
USER root
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
USER node
# The image has no .git: pass the revision for /api/health (`--build-arg GIT_REVISION=$(git rev-parse HEAD)`).
ARG GIT_REVISION=
ENV GIT_REVISION=$GIT_REVISION
COPY --from=build --chown=node:node /out/api /app
EXPOSE 3000
CMD ["node", "--enable-source-maps", "dist/server.js"]
HEALTHCHECK --interval=10s --timeout=5s --retries=5 CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
