#!/usr/bin/env bash
# Build the library (debug) and run the C ABI tests against the shared and
# the static library. Needs gcc. The Redis half of the suite needs
# CACHEKIT_TEST_REDIS_URL (e.g. redis://127.0.0.1:6399, a throwaway server):
# without it test_abi fails on purpose.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in
    /*) ;;
    *) target="$repo/$target" ;;
esac
lib="$target/debug"
out="$target/ctest"
mkdir -p "$out"

# Every function the header declares is called from test_abi.c: a
# declaration starts a line ("enum ck_status ck_get(", "void ck_buf_free(").
declared=$(grep -oE '^[a-z][^(]*\bck_[a-z0-9_]+\(' include/cachekit.h | grep -oE 'ck_[a-z0-9_]+\($' | tr -d '(' | sort -u)
if [ "$(echo "$declared" | wc -l)" -lt 30 ]; then
    echo "run.sh: found only $(echo "$declared" | wc -l) functions in include/cachekit.h: is the pattern stale?" >&2
    exit 1
fi
uncalled=$(for f in $declared; do grep -qE "\b$f\(" tests/c/test_abi.c || echo "$f"; done)
if [ -n "$uncalled" ]; then
    echo "run.sh: functions of include/cachekit.h that tests/c/test_abi.c never calls:" $uncalled >&2
    exit 1
fi

cargo build

CC="${CC:-gcc}"
cflags=(-std=c99 -Wall -Wextra -Werror -g -O1 -pthread -I "$repo/include")

"$CC" "${cflags[@]}" -o "$out/test_abi_shared" "$repo/tests/c/test_abi.c" \
    -L "$lib" -lcachekit -Wl,-rpath,"$lib" -lpthread
"$CC" "${cflags[@]}" -o "$out/test_abi_static" "$repo/tests/c/test_abi.c" \
    "$lib/libcachekit.a" -lm -ldl -lpthread

# The shared build must really use the shared library.
# (grep without -q: an early exit of grep would fail ldd with SIGPIPE under pipefail)
if ! ldd "$out/test_abi_shared" | grep -F "$lib/libcachekit.so" >/dev/null; then
    echo "test_abi_shared does not load $lib/libcachekit.so:" >&2
    ldd "$out/test_abi_shared" >&2
    exit 1
fi

status=0
for variant in shared static; do
    echo "== test_abi ($variant)"
    "$out/test_abi_$variant" || status=1
done
exit "$status"
