#!/usr/bin/env bash
# Build and test the Node.js binding against a real Redis.
# Installs what a fresh machine lacks and builds the addon (build.sh: npm
# ci from package-lock.json, the addon in debug, copied to cachekit.node),
# makes the Python venv the cross-language test runs, and runs node --test.
# Uses CACHEKIT_TEST_REDIS_URL when set, else starts a throwaway
# redis-server of its own and stops it at the end.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"

"$here/build.sh"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac

# The Python side of the cross-language test.
"$repo/bindings/python/venv.sh" >/dev/null
export CACHEKIT_LIBRARY="$target/debug/libcachekit.so"

if [ -z "${CACHEKIT_TEST_REDIS_URL:-}" ]; then
  CACHEKIT_TEST_REDIS_URL="$("$repo/ci/redis.sh" start node-ci)"
  export CACHEKIT_TEST_REDIS_URL
  trap '"$repo/ci/redis.sh" stop node-ci' EXIT
fi
# A Redis or key from the caller's shell must not leak into the tests.
unset CACHEKIT_REDIS_URL REDIS_URL CACHEKIT_MASTER_KEY || true

echo "== node: tsc --noEmit (the declarations users see)"
node_modules/.bin/tsc -p tsconfig.json

echo "== node: node --test (Redis at $CACHEKIT_TEST_REDIS_URL)"
node --test --test-reporter=spec test/*.test.js test/*.test.mjs
