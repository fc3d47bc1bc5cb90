#!/usr/bin/env bash
# Start or stop a throwaway Redis Sentinel set-up on free loopback ports:
# one master, one replica, three sentinels (Debian's redis-sentinel)
# watching the master under the name "cachekit", quorum 2, a master
# considered down after 1 s.
#   ci/redis-sentinel.sh start NAME  -> prints redis+sentinel://127.0.0.1:s1,...,/cachekit
#   ci/redis-sentinel.sh stop NAME
#   ci/redis-sentinel.sh ports NAME  -> master replica sentinel1 sentinel2 sentinel3
# State (configs, logs, pid files) in build/sentinel-NAME/.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:?start|stop|ports}; name=${2:-test}
dir="$PWD/build/sentinel-$name"
master_name=cachekit

stop_all() {
  for pidf in "$dir"/*/pid; do
    [ -f "$pidf" ] || continue
    kill "$(cat "$pidf")" 2>/dev/null || true
    rm -f "$pidf"
  done
}

wait_for() { # tries, command...: until the command succeeds, 0.1 s apart
  local tries=$1
  shift
  for _ in $(seq 1 "$tries"); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

case "$cmd" in
  start)
    command -v redis-sentinel >/dev/null || { echo "ci/redis-sentinel.sh: redis-sentinel is missing (ci/deps.sh installs it)" >&2; exit 1; }
    stop_all
    rm -rf "$dir"
    mkdir -p "$dir"
    read -r -a ports <<<"$(python3 -c '
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks: s.close()')"
    master=${ports[0]}; replica=${ports[1]}; sentinels=("${ports[@]:2}")
    for p in "$master" "$replica"; do
      mkdir -p "$dir/redis-$p"
      extra=()
      [ "$p" = "$replica" ] && extra=(--replicaof 127.0.0.1 "$master")
      redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no \
        --repl-diskless-sync-delay 0 --daemonize yes --dir "$dir/redis-$p" \
        --pidfile "$dir/redis-$p/pid" --logfile "$dir/redis-$p/log" "${extra[@]}"
    done
    wait_for 100 sh -c "redis-cli -p $replica info replication 2>/dev/null | grep -q '^master_link_status:up'" || {
      echo "ci/redis-sentinel.sh: the replica did not synchronise, see $dir" >&2; stop_all; exit 1; }
    for p in "${sentinels[@]}"; do
      mkdir -p "$dir/sentinel-$p"
      # Sentinel rewrites its configuration file: each has its own.
      cat > "$dir/sentinel-$p/sentinel.conf" <<CONF
port $p
bind 127.0.0.1
daemonize yes
pidfile $dir/sentinel-$p/pid
logfile $dir/sentinel-$p/log
dir $dir/sentinel-$p
sentinel monitor $master_name 127.0.0.1 $master 2
sentinel down-after-milliseconds $master_name 1000
sentinel failover-timeout $master_name 10000
sentinel parallel-syncs $master_name 1
CONF
      redis-sentinel "$dir/sentinel-$p/sentinel.conf"
    done
    echo "${ports[*]}" > "$dir/ports"
    # Ready when every sentinel names the master, knows the replica and
    # the two other sentinels (without them there is no quorum to fail over).
    ready() {
      local p info
      for p in "${sentinels[@]}"; do
        info=$(redis-cli -p "$p" sentinel master "$master_name" 2>/dev/null | paste - - ) || return 1
        grep -qP '^num-other-sentinels\t2$' <<<"$info" || return 1
        grep -qP '^num-slaves\t1$' <<<"$info" || return 1
        grep -qP '^port\t'"$master"'$' <<<"$info" || return 1
      done
    }
    wait_for 300 ready || { echo "ci/redis-sentinel.sh: the sentinels did not agree on the set-up, see $dir" >&2; stop_all; exit 1; }
    hosts=()
    for p in "${sentinels[@]}"; do hosts+=("127.0.0.1:$p"); done
    echo "redis+sentinel://$(IFS=,; echo "${hosts[*]}")/$master_name"
    ;;
  ports) cat "$dir/ports" ;;
  stop) stop_all ;;
  *) echo "usage: ci/redis-sentinel.sh start|stop|ports NAME" >&2; exit 2 ;;
esac
