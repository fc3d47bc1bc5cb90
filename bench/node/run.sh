#!/usr/bin/env bash
# cachekit (Node) vs cache-manager and raw ioredis+msgpackr, alternately in
# one process, against a throwaway redis-server; the release addon.
# Results: docs/benchmarks-node.md (written by hand from this output).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac

(cd "$repo/bindings/node" && { [ -d node_modules ] || npm ci --no-audit --no-fund; })
(cd "$here" && npm ci --no-audit --no-fund --silent)
(cd "$repo" && cargo build --release -p cachekit-node)
mkdir -p "$repo/build/bench-node"
cp "$target/release/libcachekit_node.so" "$repo/build/bench-node/cachekit.node"
export CACHEKIT_NODE_ADDON="$repo/build/bench-node/cachekit.node"

url="$("$repo/ci/redis.sh" start node-bench)"
trap '"$repo/ci/redis.sh" stop node-bench' EXIT
unset CACHEKIT_REDIS_URL REDIS_URL || true
BENCH_REDIS_URL="$url" node "$here/bench.js" "$@"
