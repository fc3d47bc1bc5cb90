#!/usr/bin/env bash
# The demo: one cache, five languages. A Python function caches a value in
# Redis; C, PHP, Node.js and Go programs call the same cached function and
# read it as hits (their own function does not run), each printing what it
# saw and how long its call took (examples/demo/).
#
# Redis: CACHEKIT_REDIS_URL (or REDIS_URL) when set, else a throwaway
# redis-server started here (Debian's package is installed when missing).
# When no Redis can be had, it says so and runs the in-process demo
# (examples/rust/demo.rs: a miss, then a hit, L1 only).
#
# Installs and builds what the five programs need, like the test command
# (Debian packages, the Python venv, npm modules, the core and the Node
# addon in debug): a few minutes on a fresh machine, seconds afterwards.
# What it is doing goes to stderr; the demo's own output to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "ci/demo.sh: $*" >&2; }

if ! command -v cargo >/dev/null 2>&1; then
  say "the core is built from source and needs cargo: install Rust from https://rustup.rs"
  exit 1
fi
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac

in_process() {
  say "building and running the in-process demo (cargo build --example demo)"
  cargo build --example demo >&2
  exec "$target/debug/examples/demo"
}

url="${CACHEKIT_REDIS_URL:-${REDIS_URL:-}}"
if [ -z "$url" ]; then
  if ! command -v redis-server >/dev/null 2>&1; then
    say "no redis-server on this machine: installing Debian's (ci/apt-install.sh redis-server)"
    ci/apt-install.sh redis-server >&2 || true
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    say "no Redis could be found or installed, and CACHEKIT_REDIS_URL is not set:"
    say "the five-language demo needs a Redis they share, so here is the in-process one instead"
    in_process
  fi
  url="$(ci/redis.sh start demo)"
  trap 'ci/redis.sh stop demo' EXIT
  say "started a throwaway redis-server at $url (stopped at the end)"
else
  say "using the Redis at $url"
fi
export CACHEKIT_REDIS_URL="$url"
unset REDIS_URL CACHEKIT_KEY_PREFIX CACHEKIT_TENANT_ID CACHEKIT_MASTER_KEY || true

say "installing what the programs need (Debian packages for C and PHP, the Python venv, npm modules)"
ci/apt-install.sh gcc libmsgpack-dev php-cli php-msgpack >&2
venv="$(bindings/python/venv.sh)"
say "building the core and the Node.js addon in debug (the first build takes a few minutes)"
bindings/node/build.sh
lib="$target/debug"
export CACHEKIT_LIBRARY="$lib/libcachekit.so"
export PYTHONPATH="$PWD/bindings/python/src${PYTHONPATH:+:$PYTHONPATH}"
bin="$(mktemp -d)"
trap 'ci/redis.sh stop demo 2>/dev/null || true; rm -rf "$bin"' EXIT
say "building the C reader (msgpack-c) and the Go reader"
gcc examples/demo/reader.c -Iinclude -L"$lib" -Wl,-rpath,"$lib" -lcachekit -lmsgpackc -o "$bin/reader-c"
(cd examples/demo/go && CGO_LDFLAGS="-L$lib" go build -o "$bin/reader-go" .)

sku="sku-$RANDOM"
say "python computes price('$sku') and caches it; C, PHP, Node.js and Go read it through Redis"
echo "One cache, five languages (Redis at $url):"
"$venv/bin/python" examples/demo/writer.py "$sku"
status=0
"$bin/reader-c" "$sku" || status=1
php examples/demo/reader.php "$sku" || status=1
node examples/demo/reader.js "$sku" || status=1
"$bin/reader-go" "$sku" || status=1
if [ "$status" = 0 ]; then
  echo "Every reader got Python's value as a hit: same key, same bytes, one core."
else
  echo "A reader did not get Python's value as a hit (see above)."
fi
exit "$status"
