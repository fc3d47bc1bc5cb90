#!/usr/bin/env bash
# Start or stop a throwaway redis-server on a free loopback port.
#   ci/redis.sh start NAME   -> prints the URL; state in build/redis-NAME/
#   ci/redis.sh stop NAME
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:?start|stop}; name=${2:-test}
dir="build/redis-$name"
case "$cmd" in
  start)
    mkdir -p "$dir"
    # One server per name: a second start replaces the first instead of leaking it.
    if [ -f "$dir/redis.pid" ]; then
      kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
      rm -f "$dir/redis.pid"
    fi
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
      --daemonize yes --dir "$PWD/$dir" --pidfile "$PWD/$dir/redis.pid" --logfile "$PWD/$dir/redis.log"
    for _ in $(seq 1 100); do
      if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
        echo "$port" > "$dir/port"
        echo "redis://127.0.0.1:$port"
        exit 0
      fi
      sleep 0.05
    done
    echo "ci/redis.sh: redis-server did not start, see $dir/redis.log" >&2
    exit 1
    ;;
  stop)
    if [ -f "$dir/redis.pid" ]; then
      kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
      rm -f "$dir/redis.pid"
    fi
    ;;
  *) echo "usage: ci/redis.sh start|stop NAME" >&2; exit 2 ;;
esac
