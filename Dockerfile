# One image for every role: api, worker, migrate (the command picks the role).
FROM node:20-bookworm-slim
ENV PNPM_VERSION=10.34.9 TURBO_TELEMETRY_DISABLED=1 CHECKPOINT_DISABLE=1 NODE_ENV=production
RUN npm install -g pnpm@${PNPM_VERSION}
WORKDIR /app
COPY . .
RUN pnpm install --frozen-lockfile
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "apps/api/src/server.ts"]
