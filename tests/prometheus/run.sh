#!/usr/bin/env bash
# The dashboards and the metrics, checked by the real tools (issue 14, item 2).
#
# Debian's `prometheus` (installed when missing) scrapes, every second, one
# process per language serving the core's metrics over HTTP the way its
# ecosystem does: Go a net/http http.Handler (go/main.go), Python
# prometheus_client's registry and WSGI app (server.py), Node.js a node:http
# handler (server.js), PHP a route of `php -S` (router.php); and, when
# CACHEKIT_TEST_CLUSTER_URL names a Redis Cluster, the Python process again
# on the cluster (per-node metrics). Each runs a workload through cached
# functions against CACHEKIT_TEST_REDIS_URL (a throwaway redis-server of its
# own when unset): misses, fills, sets, L1 and L2 hits, deletes.
# check.py then evaluates every PromQL `expr` of monitoring/grafana/*.json
# through Prometheus's HTTP API (each must return series, for all namespaces
# and for each language's), and `promtool check metrics` must pass on each
# process's exposition. Prints
#   prometheus: N queries returned series, M expositions passed promtool
# last; exits non-zero on any failure. CACHEKIT_DASHBOARDS=DIR checks the
# dashboards of another directory.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
dashboards="${CACHEKIT_DASHBOARDS:-$repo/monitoring/grafana}"
started=$SECONDS

fail() { echo "tests/prometheus/run.sh: $*" >&2; echo "prometheus: 0 queries returned series, 0 expositions passed promtool (setup failed)"; exit 1; }

# --- Prometheus and promtool: Debian's package. Its own service must not run
# (a container's policy-rc.d usually stops the package from starting it; on a
# machine with systemd or sysvinit it would start on 9090): we run our own.
"$repo/ci/apt-install.sh" prometheus || fail "cannot install Debian's prometheus"
for svc in prometheus prometheus-node-exporter; do
  if [ -d /run/systemd/system ] && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" && systemctl disable --quiet "$svc" 2>/dev/null
    echo "stopped and disabled the package's $svc service (systemd)"
  elif [ -x "/etc/init.d/$svc" ] && "/etc/init.d/$svc" status >/dev/null 2>&1; then
    "/etc/init.d/$svc" stop >/dev/null && echo "stopped the package's $svc service (init.d)"
  fi
done
if command -v ss >/dev/null 2>&1; then
  if ss -Hltnp 'sport = :9090' 2>/dev/null | grep -q '"prometheus"'; then
    fail "a prometheus still listens on 9090: $(ss -Hltnp 'sport = :9090')"
  fi
elif curl -fsS -m 2 -o /dev/null http://127.0.0.1:9090/-/healthy 2>/dev/null; then
  fail "a Prometheus still answers on 127.0.0.1:9090"
fi
echo "$(prometheus --version 2>&1 | head -1); its service: not running"

# --- What the four processes need (each step is quick when nothing changed).
"$repo/ci/apt-install.sh" php-cli php-msgpack php-psr-simple-cache curl || fail "cannot install PHP"
log="$(mktemp -d)"
tmp="$(mktemp -d)"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  [ -n "${own_redis:-}" ] && "$repo/ci/redis.sh" stop prometheus
  rm -rf "$tmp" "$log"
}
trap cleanup EXIT
if command -v cargo >/dev/null 2>&1; then
  (cd "$repo" && cargo build --lib --quiet) >"$log/cargo" 2>&1 || { cat "$log/cargo"; fail "the core does not build"; }
fi
"$repo/bindings/node/build.sh" >"$log/node-build" 2>&1 || { cat "$log/node-build"; fail "the Node addon does not build"; }
py="$("$repo/bindings/python/venv.sh")/bin/python" || fail "the Python venv"
CACHEKIT_LIBRARY="$target/debug/libcachekit.so" php "$repo/bindings/php/bin/gen-header.php" >"$log/php-header" 2>&1 \
  || { cat "$log/php-header"; fail "the PHP FFI header"; }
lib="$target/debug/libcachekit.a"
(cd "$here/go" && CGO_ENABLED=1 CGO_LDFLAGS="-L$target/debug${CGO_LDFLAGS:+ $CGO_LDFLAGS}" \
  go build -ldflags "-X cachekit.dev/go.coreStamp=$(stat -c '%s-%Y' "$lib")" -o "$tmp/go-metrics" .) >"$log/go-build" 2>&1 \
  || { cat "$log/go-build"; fail "the Go server does not build"; }
echo "built: core, Node addon, Python venv, PHP header, Go server ($((SECONDS - started)) s)"

url="${CACHEKIT_TEST_REDIS_URL:-}"
if [ -z "$url" ]; then
  url="$("$repo/ci/redis.sh" start prometheus)" || fail "cannot start redis-server"
  own_redis=1
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- The processes: job name, port, namespace, command.
export CACHEKIT_LIBRARY="$target/debug/libcachekit.so" CACHEKIT_PROM_LIFETIME="${CACHEKIT_PROM_LIFETIME:-240}"
export PYTHONPATH="$repo/bindings/python/src${PYTHONPATH:+:$PYTHONPATH}"
unset CACHEKIT_KEY_PREFIX CACHEKIT_TENANT_ID CACHEKIT_MASTER_KEY REDIS_URL
declare -A port
jobs_json="{"
start() { # job redis_url namespace accumulates cluster_nodes command...
  local job="$1" redis="$2" ns="$3" acc="$4" nodes="$5"
  shift 5
  port[$job]="$(free_port)"
  local cmd=("${@//@PORT@/${port[$job]}}")
  CACHEKIT_REDIS_URL="$redis" CACHEKIT_PROM_NAMESPACE="$ns" "${cmd[@]}" >"$log/$job" 2>&1 &
  pids+=($!)
  [ "$jobs_json" = "{" ] || jobs_json+=","
  jobs_json+="\"$job\":{\"namespaces\":[\"$ns\",\"$ns-l2\"],\"accumulates\":$acc,\"cluster_nodes\":$nodes}"
}
start go "$url" prom-go true 0 "$tmp/go-metrics" @PORT@ prom-go
start python "$url" prom-python true 0 "$py" "$here/server.py" @PORT@ prom-python
start node "$url" prom-node true 0 node "$here/server.js" @PORT@ prom-node
start php "$url" prom-php false 0 php -d ffi.enable=1 -S 127.0.0.1:@PORT@ "$here/router.php"
if [ -n "${CACHEKIT_TEST_CLUSTER_URL:-}" ]; then
  seed="${CACHEKIT_TEST_CLUSTER_URL#redis+cluster://}"
  seed="${seed%%,*}"
  nodes="$(redis-cli -h "${seed%:*}" -p "${seed##*:}" cluster nodes | grep -c .)"
  start python-cluster "$CACHEKIT_TEST_CLUSTER_URL" prom-python-cluster true "$nodes" "$py" "$here/server.py" @PORT@ prom-python-cluster
else
  echo "cluster: not run here (CACHEKIT_TEST_CLUSTER_URL unset; ci/test.sh sets it)"
fi
jobs_json+="}"

for job in "${!port[@]}"; do
  up=0
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "http://127.0.0.1:${port[$job]}/metrics" 2>/dev/null && { up=1; break; }
    sleep 0.2
  done
  [ "$up" = 1 ] || { cat "$log/$job"; fail "the $job process does not serve /metrics on ${port[$job]}"; }
done
echo "serving /metrics: $(for j in "${!port[@]}"; do printf '%s on %s, ' "$j" "${port[$j]}"; done | sed 's/, $//')"

# --- Our Prometheus: a free loopback port, config and storage in $tmp.
pport="$(free_port)"
{
  echo "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}"
  echo "scrape_configs:"
  for job in "${!port[@]}"; do
    echo "  - {job_name: $job, static_configs: [{targets: ['127.0.0.1:${port[$job]}']}]}"
  done
} >"$tmp/prometheus.yml"
promtool check config "$tmp/prometheus.yml" >"$log/promtool-config" 2>&1 || { cat "$log/promtool-config"; fail "bad prometheus.yml"; }
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
  --web.listen-address="127.0.0.1:$pport" --log.level=warn >"$log/prometheus" 2>&1 &
pids+=($!)
ready=0
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$pport/-/ready" 2>/dev/null && { ready=1; break; }
  sleep 0.2
done
[ "$ready" = 1 ] || { cat "$log/prometheus"; fail "prometheus did not become ready on $pport"; }
echo "prometheus on 127.0.0.1:$pport, scraping every 1 s"

# --- Every dashboard query through Prometheus.
python3 "$here/check.py" "http://127.0.0.1:$pport" "$dashboards" "$jobs_json" "$tmp/counts"
check_rc=$?
read -r passed evaluated series query_failures <"$tmp/counts" || { passed=0; evaluated=0; series=0; query_failures=1; }

# --- promtool check metrics on each exposition, as each process serves it.
expo_passed=0
expo_failed=0
for job in $(printf '%s\n' "${!port[@]}" | sort); do
  if ! curl -fsS "http://127.0.0.1:${port[$job]}/metrics" -o "$tmp/$job.prom"; then
    echo "FAIL promtool $job: cannot fetch its exposition"
    expo_failed=$((expo_failed + 1))
  elif out="$(promtool check metrics <"$tmp/$job.prom" 2>&1)"; then
    echo "ok   promtool check metrics: $job ($(grep -c '^# TYPE' "$tmp/$job.prom") families, $(grep -vc '^#' "$tmp/$job.prom") samples)"
    expo_passed=$((expo_passed + 1))
  else
    echo "FAIL promtool check metrics: $job:"
    sed 's/^/  /' <<<"$out"
    expo_failed=$((expo_failed + 1))
  fi
done

# A process that died during the run is a failure too.
for job in "${!port[@]}"; do
  curl -fsS -o /dev/null "http://127.0.0.1:${port[$job]}/metrics" 2>/dev/null || {
    echo "FAIL the $job process stopped serving:"; tail -20 "$log/$job"; expo_failed=$((expo_failed + 1)); }
done

echo "run time: $((SECONDS - started)) s; $evaluated queries evaluated, $series series returned"
echo "prometheus: $passed queries returned series, $expo_passed expositions passed promtool"
[ "$check_rc" -eq 0 ] && [ "$query_failures" -eq 0 ] && [ "$expo_failed" -eq 0 ]
