#!/usr/bin/env bash
# A process that used cachekit exits cleanly, every time, in every language.
#
#   tests/exit/run.sh [RUNS] [LANGUAGE...]     (default: 200 runs of each of
#                                               python node go php c)
#
# php-fpm runs through php_fpm.sh (workers recycled under load, then the
# master stopped). Each language's program (beside this script) makes misses whose Redis
# writes are still behind the caller, with other threads or calls still
# inside cachekit, and exits. It runs RUNS times while two busy loops keep
# both cores loaded (exit races show under load), against a throwaway Redis.
# A run passes when it exits 0, prints its "ok" line and writes nothing on
# stderr. Prints one line per program and "N passed, M failed" last (one
# count per program). Run after the bindings were built (ci/test.sh order);
# ci/exit-soak.sh runs it with thousands of runs.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
runs="${1:-200}"
shift || true
langs=("$@")
[ ${#langs[@]} -gt 0 ] || langs=(python node go php c)
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
debug="$target/debug"

url="$("$repo/ci/redis.sh" start exit)" || exit 2
work="$(mktemp -d)"
busy=()
cleanup() {
  for p in "${busy[@]}"; do kill "$p" 2>/dev/null; done
  "$repo/ci/redis.sh" stop exit
  rm -rf "$work"
}
trap cleanup EXIT

export CACHEKIT_REDIS_URL="$url" CACHEKIT_LIBRARY="$debug/libcachekit.so"
export PYTHONPATH="$repo/bindings/python/src${PYTHONPATH:+:$PYTHONPATH}"
export CGO_LDFLAGS="-L$debug${CGO_LDFLAGS:+ $CGO_LDFLAGS}"
unset REDIS_URL CACHEKIT_KEY_PREFIX CACHEKIT_TENANT_ID CACHEKIT_MASTER_KEY
# The core's WARNING events are not exit problems: under the load this test
# makes, an L2 call may miss its adaptive timeout (fail-open, logged).
export LOG_LEVEL=ERROR
py="${CACHEKIT_PYTHON:-$repo/build/venv-python/bin/python}"

# name -> command line (the namespace and run number are appended).
declare -A cmd
for l in "${langs[@]}"; do
  case "$l" in
    python) cmd[python]="$py $here/python_exit.py" ;;
    node) cmd[node-natural]="node $here/node_exit.js"; cmd[node-exit]="node $here/node_exit.js" ;;
    go)
      if (cd "$here/go" && go build -o "$work/go_exit" .); then
        cmd[go-close]="$work/go_exit"; cmd[go-return]="$work/go_exit"
      else
        cmd[go-close]="false"; cmd[go-return]="false"
      fi
      ;;
    php) cmd[php]="php $here/php_exit.php" ;;
    c)
      if gcc -std=c11 -Wall -Wextra -Werror -O1 -pthread -I "$repo/include" -o "$work/c_exit" "$here/c_exit.c" \
        -L "$debug" -lcachekit -Wl,-rpath,"$debug"; then
        cmd[c]="$work/c_exit"
      else
        cmd[c]="false"
      fi
      ;;
    *) echo "tests/exit/run.sh: unknown language $l" >&2; exit 2 ;;
  esac
done
# The last word each program takes after the namespace and run number.
declare -A how=([node-natural]=natural [node-exit]=exit [go-close]=close [go-return]=return)

for _ in 1 2; do
  (while :; do :; done) &
  busy+=($!)
done

passed=0
failed=0
for name in $(printf '%s\n' "${!cmd[@]}" | sort); do
  bad=0
  first=""
  start=$SECONDS
  for i in $(seq 1 "$runs"); do
    ns="exit_${name//-/_}_$$"
    # shellcheck disable=SC2086
    timeout 60 ${cmd[$name]} "$ns" "$i" ${how[$name]:-} >"$work/out" 2>"$work/err"
    rc=$?
    if [ $rc -ne 0 ] || [ -s "$work/err" ] || ! grep -q '^ok ' "$work/out"; then
      bad=$((bad + 1))
      if [ -z "$first" ]; then
        first="run $i: exit status $rc; stderr: $(head -c 400 "$work/err" | tr '\n' ' '); stdout: $(head -c 200 "$work/out" | tr '\n' ' ')"
      fi
    fi
  done
  secs=$((SECONDS - start))
  if [ $bad -eq 0 ]; then
    passed=$((passed + 1))
    printf 'PASS %-13s %d runs under load, 0 abnormal exits (%d s)\n' "$name" "$runs" "$secs"
  else
    failed=$((failed + 1))
    printf 'FAIL %-13s %d runs under load, %d abnormal exits; first: %s\n' "$name" "$runs" "$bad" "$first"
  fi
done
# php-fpm: workers recycled and the master stopped, one request per run.
if [[ " ${langs[*]} " == *" php "* ]]; then
  for p in "${busy[@]}"; do kill "$p" 2>/dev/null; done
  busy=()
  if "$here/php_fpm.sh" "$runs" >"$work/fpm.out" 2>&1; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
  grep -E '^(PASS|FAIL) ' "$work/fpm.out" || { echo "FAIL php-fpm       $(tail -c 400 "$work/fpm.out")"; }
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
