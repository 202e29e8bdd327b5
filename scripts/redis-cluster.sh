#!/usr/bin/env bash
# A local Redis Cluster of three masters on loopback, for the tests that run the product on a
# cluster: Debian's redis-server in cluster mode on ports BASE+1..BASE+3, data in /tmp, nothing saved.
# Usage: scripts/redis-cluster.sh start|stop|url [BASE]   (BASE defaults to 7000: ports 7001-7003)
#   start  starts the three servers (installs redis-server when absent), joins them into a cluster,
#          waits for cluster_state:ok and prints the REDIS_URL; a cluster already up is kept.
#   stop   shuts the three servers down and removes their files.
#   url    prints the REDIS_URL (redis+cluster://127.0.0.1:BASE+1,...).
set -euo pipefail
cmd=${1:-}
base=${2:-7000}
ports=($((base + 1)) $((base + 2)) $((base + 3)))
dir=/tmp/wss-redis-cluster-$base

url () {
  local nodes=()
  for p in "${ports[@]}"; do nodes+=("127.0.0.1:$p"); done
  (IFS=,; echo "redis+cluster://${nodes[*]}")
}

state () { redis-cli -p "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_state://p'; }

healthy () {
  for p in "${ports[@]}"; do [ "$(state "$p")" = ok ] || return 1; done
}

stop () {
  for p in "${ports[@]}"; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
  for p in "${ports[@]}"; do
    for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 || break; sleep 0.1; done
  done
  rm -rf "$dir"
}

start () {
  if ! command -v redis-server >/dev/null 2>&1; then bash "$(dirname "$0")/ensure-packages.sh" redis-server; fi
  if healthy; then url; return; fi
  stop
  mkdir -p "$dir"
  for p in "${ports[@]}"; do
    redis-server --port "$p" --bind 127.0.0.1 --daemonize yes --dir "$dir" --pidfile "$dir/$p.pid" \
      --logfile "$dir/$p.log" --cluster-enabled yes --cluster-config-file "nodes-$p.conf" \
      --cluster-node-timeout 2000 --save '' --appendonly no >/dev/null
  done
  for p in "${ports[@]}"; do
    for _ in $(seq 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  local nodes=()
  for p in "${ports[@]}"; do nodes+=("127.0.0.1:$p"); done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 \
    || { cat "$dir/create.log" >&2; exit 1; }
  for _ in $(seq 300); do
    if healthy; then url; return; fi
    sleep 0.1
  done
  echo "redis-cluster: cluster_state is not ok after 30 s (logs in $dir)" >&2
  exit 1
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  url) url ;;
  *) echo "usage: $0 start|stop|url [base-port]" >&2; exit 2 ;;
esac
