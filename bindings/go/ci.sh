#!/usr/bin/env bash
# Vet and test the Go binding against a real Redis.
# Needs CACHEKIT_TEST_REDIS_URL (start one with `ci/redis.sh start go`);
# builds the core first (`cargo build --lib`: debug, incremental, a no-op
# when nothing changed). Go modules come through the normal go tooling.
# Prints "N passed, M failed" last; exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if [ -z "${CACHEKIT_TEST_REDIS_URL:-}" ]; then
  echo "bindings/go/ci.sh: CACHEKIT_TEST_REDIS_URL is not set; start a server with" >&2
  echo "  export CACHEKIT_TEST_REDIS_URL=\$(ci/redis.sh start go)" >&2
  exit 2
fi

target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
lib="$target/debug/libcachekit.a"
if command -v cargo >/dev/null 2>&1; then
  (cd "$repo" && cargo build --lib --quiet)
elif [ ! -f "$lib" ]; then
  echo "bindings/go/ci.sh: $lib is missing and cargo is not installed" >&2
  exit 2
fi

# The binding links $lib (its #cgo default is ../../target/debug; a
# CARGO_TARGET_DIR elsewhere is put first here). Go does not hash static
# libraries named in LDFLAGS, so the library's size and mtime go into the
# link flags: a rebuilt core relinks the test binary.
export CGO_ENABLED=1
export CGO_LDFLAGS="-L$target/debug${CGO_LDFLAGS:+ $CGO_LDFLAGS}"
stamp="$(stat -c '%s-%Y' "$lib")"

cd "$here"
echo "== go: vet"
go vet ./...
echo "== go: test -race"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
go test -race -count=1 -v \
  -ldflags "-X cachekit.dev/go.coreStamp=$stamp" ./... >"$log" 2>&1
rc=$?
set -e
grep -E '^(=== RUN|--- PASS|    ---)' -v "$log" | grep -Ev '^\s*$' | grep -E -- '--- FAIL|^(ok|FAIL|panic)|_test.go:' || true
passed=$(grep -cE '^\s*--- PASS' "$log" || true)
failed=$(grep -cE '^\s*--- FAIL' "$log" || true)
skipped=$(grep -cE '^\s*--- SKIP' "$log" || true)
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  cat "$log"   # a build error or a panic outside any test
  failed=1
fi
echo "go: $passed passed, $failed failed${skipped:+, $skipped skipped}"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$skipped" -eq 0 ]
