#!/usr/bin/env bash
# php-fpm workers that used cachekit exit cleanly: each request makes a miss
# whose Redis write is still behind the caller as the request ends; workers
# are recycled every few requests (pm.max_requests) and the master is
# stopped gracefully at the end (SIGQUIT), all while both cores are busy.
#
#   tests/exit/php_fpm.sh [REQUESTS]      (default 200)
#
# Passes when every request answered "ok", every worker exited with code 0
# (none on a signal), nothing reached php-fpm's error log beyond its own
# notices, the master exited 0, and every request's value is in Redis
# afterwards (the writes behind landed before each worker ended). Prints
# "1 passed, 0 failed" or "0 passed, 1 failed" last.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
requests="${1:-200}"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
lib="$target/debug/libcachekit.so"

"$repo/ci/apt-install.sh" php-fpm >/dev/null || exit 2
fpm="$(command -v php-fpm || ls /usr/sbin/php-fpm* 2>/dev/null | head -1)"
[ -x "$fpm" ] || { echo "tests/exit/php_fpm.sh: no php-fpm binary"; echo "0 passed, 1 failed"; exit 1; }

url="$("$repo/ci/redis.sh" start fpm)" || exit 2
work="$(mktemp -d)"
busy=()
master=""
cleanup() {
  for p in "${busy[@]}"; do kill "$p" 2>/dev/null; done
  [ -n "$master" ] && kill "$master" 2>/dev/null
  "$repo/ci/redis.sh" stop fpm
  rm -rf "$work"
}
trap cleanup EXIT

# FFI outside the CLI needs the preloaded header (bindings/php/README.md).
CACHEKIT_LIBRARY="$lib" php "$repo/bindings/php/bin/gen-header.php" >/dev/null || exit 2
preload="$repo/bindings/php/build/cachekit.preload.h"
ns="fpm_exit_$$"
cat >"$work/fpm.conf" <<CONF
[global]
error_log = $work/fpm.log
log_level = notice
daemonize = no
[www]
listen = $work/fpm.sock
pm = static
pm.max_children = 2
pm.max_requests = 5
catch_workers_output = yes
clear_env = yes
env[CACHEKIT_REDIS_URL] = $url
env[CACHEKIT_LIBRARY] = $lib
env[LOG_LEVEL] = ERROR
php_admin_value[error_log] = $work/php.log
php_admin_flag[log_errors] = on
CONF

# Read once at startup, so not pool settings. FFI::scope() is allowed only
# from preloaded code: the classes are preloaded too (preload.php).
"$fpm" -R -F -y "$work/fpm.conf" -d ffi.enable=preload -d "ffi.preload=$preload" \
  -d opcache.enable=1 -d "opcache.preload=$repo/bindings/php/preload.php" -d opcache.preload_user=root >"$work/master.out" 2>&1 &
master=$!
for _ in $(seq 1 100); do [ -S "$work/fpm.sock" ] && break; sleep 0.05; done

for _ in 1 2; do
  (while :; do :; done) &
  busy+=($!)
done

bad=0
first=""
py="${CACHEKIT_PYTHON:-python3}"
for i in $(seq 1 "$requests"); do
  if ! out="$("$py" "$here/fcgi.py" "$work/fpm.sock" "$here/php_fpm_request.php" "ns=$ns&i=$i" 2>"$work/err")" \
    || [ "${out%% *}" != "ok" ] || [ -s "$work/err" ]; then
    bad=$((bad + 1))
    [ -n "$first" ] || first="request $i: $(head -c 300 <<<"$out") $(head -c 300 "$work/err")"
  fi
done

kill -QUIT "$master"
wait "$master"
rc=$?
master=""
for p in "${busy[@]}"; do kill "$p" 2>/dev/null; done
busy=()

recycled=$(grep -c "exited with code 0" "$work/fpm.log")
abnormal=$(grep -E "exited on signal|exited with code [1-9]|FATAL|exception not rethrown|Segmentation" "$work/fpm.log" "$work/master.out" | head -3)
errors="$(cat "$work/php.log" 2>/dev/null | head -c 300)"
stored=$(CACHEKIT_REDIS_URL="$url" CACHEKIT_LIBRARY="$lib" LOG_LEVEL=ERROR php "$here/php_fpm_check.php" "$ns" "$requests")

problems=()
[ $bad -eq 0 ] || problems+=("$bad of $requests requests failed; first: $first")
[ $rc -eq 0 ] || problems+=("the master exited $rc")
[ -z "$abnormal" ] || problems+=("abnormal worker exits: $abnormal")
[ -z "$errors" ] || problems+=("PHP errors: $errors")
[ "$stored" = "ok $requests" ] || problems+=("values in Redis afterwards: $stored of $requests")
# Recycling must have happened, or the test did not test worker exits.
[ "$recycled" -ge $((requests / 5 - 2)) ] || problems+=("only $recycled workers were recycled")

if [ ${#problems[@]} -eq 0 ]; then
  printf 'PASS %-13s %d requests under load, %d worker exits and the master stop clean, every value in Redis\n' php-fpm "$requests" "$recycled"
  echo "1 passed, 0 failed"
else
  printf 'FAIL %-13s %s\n' php-fpm "${problems[*]}"
  echo "0 passed, 1 failed"
  exit 1
fi
