#!/usr/bin/env bash
# Build and test the Node.js binding against a real Redis.
# Installs what a fresh machine lacks (npm ci from package-lock.json; the
# Python venv the cross-language test runs), builds the addon in debug
# (incremental: quick when nothing changed), copies it to cachekit.node and
# runs node --test. Uses CACHEKIT_TEST_REDIS_URL when set, else starts a
# throwaway redis-server of its own and stops it at the end.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"

# npm ci only when the lock file changed since the last install.
stamp="node_modules/.cachekit-lock.sha256"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "== node: npm ci"
  npm ci --no-audit --no-fund
  echo "$want" >"$stamp"
fi

echo "== node: cargo build -p cachekit-node (debug)"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
# The core's cdylib too: the cross-language test runs Python over it.
(cd "$repo" && cargo build -p cachekit-node -p cachekit --lib)
# A .node file is the cdylib renamed; copy only when it changed.
if ! cmp -s "$target/debug/libcachekit_node.so" cachekit.node; then
  cp "$target/debug/libcachekit_node.so" cachekit.node.tmp
  mv cachekit.node.tmp cachekit.node
fi

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
