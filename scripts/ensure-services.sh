#!/usr/bin/env bash
# Starts PostgreSQL and Redis on this machine when they are not running (installs them when absent).
# Skipped when DATABASE_URL / REDIS_URL point elsewhere than 127.0.0.1 / localhost.
set -euo pipefail

need_install=()
pg_up () { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up () { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

case "${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/wss}" in
  *@127.0.0.1*|*@localhost*) want_pg=1 ;; *) want_pg=0 ;;
esac
case "${REDIS_URL:-redis://127.0.0.1:6379}" in
  *127.0.0.1*|*localhost*) want_redis=1 ;; *) want_redis=0 ;;
esac

if [ "$want_pg" = 1 ] && ! command -v pg_ctlcluster >/dev/null 2>&1; then need_install+=(postgresql); fi
if [ "$want_redis" = 1 ] && ! command -v redis-server >/dev/null 2>&1; then need_install+=(redis-server); fi
if [ ${#need_install[@]} -gt 0 ]; then
  echo "installing ${need_install[*]}" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_install[@]}" >/dev/null
fi

if [ "$want_pg" = 1 ] && ! pg_up; then
  echo "starting PostgreSQL" >&2
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  # Trust local connections for the postgres user, as the defaults expect (dev and CI machines only).
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if [ "$want_redis" = 1 ] && ! redis_up; then
  echo "starting Redis" >&2
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no >/dev/null
  for _ in $(seq 1 30); do redis_up && break; sleep 0.5; done
fi
if [ "$want_pg" = 1 ]; then pg_up || { echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }; fi
if [ "$want_redis" = 1 ]; then redis_up || { echo "Redis is not reachable on 127.0.0.1:6379" >&2; exit 1; }; fi
