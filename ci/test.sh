#!/usr/bin/env bash
# Every test of every language, on a fresh machine or an old one:
# installs what is missing, starts a throwaway redis-server (Rust tests start
# their own per test, for fault injection) and a throwaway Redis Cluster,
# and a throwaway Redis Sentinel set-up, runs everything, stops the servers.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

ci/deps.sh

url=$(ci/redis.sh start test)
trap 'ci/redis.sh stop test; ci/redis-cluster.sh stop test; ci/redis-sentinel.sh stop test' EXIT
export CACHEKIT_TEST_REDIS_URL="$url"
echo "== throwaway redis-server at $url"
# A Redis Cluster (3 masters, 3 replicas) for the tests that run on both.
cluster_url=$(ci/redis-cluster.sh start test)
export CACHEKIT_TEST_CLUSTER_URL="$cluster_url"
echo "== throwaway Redis Cluster at $cluster_url"
# A master, a replica and three sentinels, for the tests that run on Sentinel.
sentinel_url=$(ci/redis-sentinel.sh start test)
export CACHEKIT_TEST_SENTINEL_URL="$sentinel_url"
echo "== throwaway Redis Sentinel set-up at $sentinel_url"

# The environment of this shell must not leak a Redis or key into tests.
unset CACHEKIT_REDIS_URL REDIS_URL CACHEKIT_MASTER_KEY || true

echo "== Rust: unit, protocol vectors, header freshness, integration against real Redis"
cargo test --all-targets

echo "== C: the ABI from C, linked against the shared and the static library"
tests/c/run.sh

echo "== Python: the ABI through ctypes"
CACHEKIT_LIBRARY="${CARGO_TARGET_DIR:-$PWD/target}/debug/libcachekit.so" \
  build/venv/bin/python -m pytest -q tests/python_smoke
echo "== Python binding: ruff, basedpyright, pytest"
CACHEKIT_LIBRARY="${CARGO_TARGET_DIR:-$PWD/target}/debug/libcachekit.so" bindings/python/ci.sh
echo "== Go binding: vet, test -race"
bindings/go/ci.sh
echo "== PHP binding: FFI header, PHPUnit"
bindings/php/ci.sh
echo "== Node.js binding: napi-rs addon, tsc, node --test"
bindings/node/ci.sh
echo "== Prometheus: Go, Python, Node.js and PHP processes serve the metrics; every dashboard query returns series; promtool check metrics"
tests/prometheus/run.sh
echo "== Cross-language: entries written by one language are hits in the others"
tests/cross/run.sh
echo "== Examples: each runs L1-only (no Redis) and shows its hit"
(
  unset CACHEKIT_TEST_REDIS_URL
  debug="${CARGO_TARGET_DIR:-$PWD/target}/debug"
  case "$debug" in /*) ;; *) debug="$PWD/$debug" ;; esac
  export CACHEKIT_LIBRARY="$debug/libcachekit.so" CGO_LDFLAGS="-L$debug"
  expect() { # what the output must contain, command...
    local want="$1" out
    shift
    out="$("$@")"
    grep -qF -- "$want" <<<"$out" || { echo "example $*: no \"$want\" in:"; echo "$out"; exit 1; }
  }
  expect "remember(report) hit" php examples/php/example.php
  expect "computed 1 time(s); backend: none" node examples/node/example.js
  expect "call 2: " bash -c 'cd examples/go && go run .'
  expect "(hit)" cargo run -q --example demo
)
echo "examples: 4 passed, 0 failed"
echo "== The demo: Python caches, C, PHP, Node.js and Go read it as hits through a throwaway Redis"
(
  unset CACHEKIT_TEST_REDIS_URL
  out="$(ci/demo.sh)"
  echo "$out"
  grep -qF "Every reader got Python's value as a hit" <<<"$out" || { echo "the demo's readers did not all hit"; exit 1; }
)
echo "== Packaging: ci/package.sh builds the release artifacts; each installed with its own tool in a fresh project, without cargo; Python's value a hit in Node, Go, PHP and C"
t_package=$SECONDS
tests/package/run.sh
echo "packaging block: $((SECONDS - t_package)) s"
echo "== Clean exit: each language's program exits 0 with nothing on stderr, 200 times under load"
tests/exit/run.sh 200
echo "== all tests passed"
