#!/usr/bin/env bash
# Python benchmarks against peers, each in its own virtual environment, in one
# run; writes docs/benchmarks-python.md. Builds the release core once.
#   bench/python/run.sh [ROUNDS] [ITERATIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$PWD"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
lib="$target/release/libcachekit.so"
cargo build --release --lib   # incremental: never measure a stale core

mk() {  # venv requirements...
  local venv="build/$1"; shift
  if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
  "$venv/bin/pip" install -q --disable-pip-version-check "$@"
}
mk venv-bench-pypi -r bench/python/requirements-pypi.txt
mk venv-bench-cashews -r bench/python/requirements-cashews.txt
mk venv-bench-redispy -r bench/python/requirements-redispy.txt
# ours: installed from the repository like a user would, bundling the release core
CACHEKIT_LIBRARY="$lib" mk venv-bench-ours --force-reinstall ./bindings/python
rm -rf bindings/python/build bindings/python/src/cachekit.egg-info

url=$(ci/redis.sh start bench-py)
trap 'ci/redis.sh stop bench-py' EXIT
python3 bench/python/compare.py "$url" "${1:-5}" "${2:-20000}"
