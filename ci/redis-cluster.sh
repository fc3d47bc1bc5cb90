#!/usr/bin/env bash
# Start or stop a throwaway Redis Cluster (3 masters, 3 replicas) on free
# loopback ports.
#   ci/redis-cluster.sh start NAME   -> prints redis+cluster://127.0.0.1:p1,...
#   ci/redis-cluster.sh stop NAME
#   ci/redis-cluster.sh ports NAME   -> the six ports, masters first as created
# State (configs, logs, pid files) in build/cluster-NAME/.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:?start|stop|ports}; name=${2:-test}
dir="$PWD/build/cluster-$name"

stop_all() {
  for pidf in "$dir"/node-*/redis.pid; do
    [ -f "$pidf" ] || continue
    kill "$(cat "$pidf")" 2>/dev/null || true
    rm -f "$pidf"
  done
}

case "$cmd" in
  start)
    stop_all
    rm -rf "$dir"
    mkdir -p "$dir"
    # Six ports whose cluster bus ports (+10000) are free as well.
    read -r -a ports <<<"$(python3 - <<'EOF'
import socket
ports = []
while len(ports) < 6:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    if p + 10000 > 65535 or p in ports:
        continue
    try:
        b = socket.socket(); b.bind(("127.0.0.1", p + 10000)); b.close()
    except OSError:
        continue
    ports.append(p)
print(" ".join(map(str, ports)))
EOF
)"
    for p in "${ports[@]}"; do
      mkdir -p "$dir/node-$p"
      redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes \
        --cluster-config-file "$dir/node-$p/nodes.conf" --cluster-node-timeout 1000 \
        --repl-diskless-sync-delay 0 \
        --save '' --appendonly no --daemonize yes --dir "$dir/node-$p" \
        --pidfile "$dir/node-$p/redis.pid" --logfile "$dir/node-$p/redis.log"
    done
    for p in "${ports[@]}"; do
      for _ in $(seq 1 100); do
        redis-cli -p "$p" ping 2>/dev/null | grep -q PONG && break
        sleep 0.05
      done
    done
    echo "${ports[*]}" > "$dir/ports"
    hosts=()
    for p in "${ports[@]}"; do hosts+=("127.0.0.1:$p"); done
    redis-cli --cluster create "${hosts[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 || {
      echo "ci/redis-cluster.sh: cluster create failed, see $dir/create.log" >&2; stop_all; exit 1; }
    # Ready when every node agrees the cluster is ok, every slot is served
    # and every replica has synchronised with its master (a replica that
    # never did cannot take over when its master fails).
    for _ in $(seq 1 200); do
      ok=1
      for p in "${ports[@]}"; do
        redis-cli -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || ok=0
        info=$(redis-cli -p "$p" info replication 2>/dev/null)
        if grep -q '^role:slave' <<<"$info"; then
          grep -q '^master_link_status:up' <<<"$info" || ok=0
        fi
      done
      if [ "$ok" = 1 ] && redis-cli --cluster check "127.0.0.1:${ports[0]}" 2>/dev/null | grep -q 'All 16384 slots covered'; then
        seeds=$(IFS=,; echo "${hosts[*]}")
        echo "redis+cluster://$seeds"
        exit 0
      fi
      sleep 0.1
    done
    echo "ci/redis-cluster.sh: the cluster did not become ready, see $dir" >&2
    stop_all
    exit 1
    ;;
  ports) cat "$dir/ports" ;;
  stop) stop_all ;;
  *) echo "usage: ci/redis-cluster.sh start|stop|ports NAME" >&2; exit 2 ;;
esac
