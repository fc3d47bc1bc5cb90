#!/usr/bin/env bash
# Benchmark the Go binding (release core) against go-redis/cache v9, side
# by side in one process, and write docs/benchmarks-go.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
rounds="${ROUNDS:-7}"

(cd "$repo" && cargo build --release --lib --quiet)
url="$("$repo/ci/redis.sh" start bench-go)"
bin="$(mktemp -d)"
trap '"$repo/ci/redis.sh" stop bench-go; rm -rf "$bin"' EXIT

# -L of the release build comes before the binding's default (debug).
export CGO_LDFLAGS="-L$target/release${CGO_LDFLAGS:+ $CGO_LDFLAGS}"
stamp="$(stat -c '%s-%Y' "$target/release/libcachekit.a")"
(cd "$here" && go build -ldflags "-X cachekit.dev/go.coreStamp=$stamp" -o "$bin/bench" .)
table="$("$bin/bench" -redis "$url" -rounds "$rounds")"
echo "$table"

out="$repo/docs/benchmarks-go.md"
{
  echo "# Go binding benchmarks"
  echo
  echo "\`bench/go/run.sh\` (release core) runs the Go binding and the peer a Go"
  echo "user would pick, [go-redis/cache v9](https://github.com/go-redis/cache)"
  echo "(msgpack values, TinyLFU local cache, go-redis v9), alternately in one"
  echo "process against one throwaway local redis-server, $rounds rounds; the table"
  echo "has the per-call medians and their ratio (above 1: cachekit is faster)."
  echo "Machine: $(nproc) shared cores, $(go version | cut -d' ' -f3), $(date -u +%Y-%m-%d)."
  echo "Absolute numbers vary with the machine; compare the ratios."
  echo
  echo "$table"
  echo
  echo "- **l1_hit**: one key called again and again. cachekit: one cgo call"
  echo "  (\`ck_peek_borrowed\`, L1 only) that derives the key from the MessagePack"
  echo "  arguments and copies the value out of L1, then a msgpack decode."
  echo "  go-redis/cache: a TinyLFU lookup by a string key and a msgpack decode."
  echo "- **l2_hit**: no local cache, so one Redis GET per call (cachekit: the"
  echo "  calling thread's own connection; go-redis: its pool)."
  echo "- **miss_store**: a new key per call: lookup, compute, store. cachekit also"
  echo "  takes and releases the distributed fill lock (stampede protection across"
  echo "  processes, which go-redis/cache does not have) and writes behind the"
  echo "  caller; the round ends with \`Client.Flush\`, so every write has landed"
  echo "  before the clock stops. go-redis/cache does GET then SET per call."
} >"$out"
echo "wrote $out"
