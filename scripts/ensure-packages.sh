#!/usr/bin/env bash
# Installs, from Debian's packages, the tools the test suite drives for real when they are absent:
# docker-compose (validates docker-compose.yml), nginx (the load-balancer test), promtool (from
# prometheus: checks metrics and alert rules), chromium (the queue dashboard's browser test),
# pgbouncer (the connection-pooling test), redis-server (the Redis Cluster tests, scripts/redis-cluster.sh),
# ffmpeg (the API converts audio uploads to voice notes with it: scripts/bootstrap.sh installs it
# alone, so `pnpm start` has it too).
# Usage: scripts/ensure-packages.sh [command ...] (default: all of them).
set -euo pipefail
declare -A package=([docker-compose]=docker-compose [nginx]=nginx [promtool]=prometheus [chromium]=chromium [pgbouncer]=pgbouncer [redis-server]=redis-server [ffmpeg]=ffmpeg)
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=("${!package[@]}")
missing=()
for cmd in "${wanted[@]}"; do
  [ -n "${package[$cmd]:-}" ] || { echo "ensure-packages: unknown tool $cmd" >&2; exit 2; }
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${package[$cmd]}")
done
[ ${#missing[@]} -gt 0 ] || exit 0
echo "installing ${missing[*]} (Debian packages)" >&2
apt-get update -qq >/dev/null
# The packages' own services (nginx, prometheus) are not wanted: tests start what they need.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
NEEDRESTART_SUSPEND=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
