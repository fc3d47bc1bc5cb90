#!/usr/bin/env bash
# Lint, type-check and test the Python binding against a real Redis.
# Needs CACHEKIT_TEST_REDIS_URL (tests that need Redis fail without it) and a
# built core: CACHEKIT_LIBRARY, else ${CARGO_TARGET_DIR:-target}/debug/libcachekit.so
# (built here with `cargo build` if missing: incremental, no release build).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$("$here/venv.sh")"

CACHEKIT_LIBRARY="${CACHEKIT_LIBRARY:-$("$repo/ci/core-lib.sh")}"
export CACHEKIT_LIBRARY
export PYTHONPATH="$here/src${PYTHONPATH:+:$PYTHONPATH}"

cd "$here"
echo "== python: ruff"
"$venv/bin/ruff" check src tests
"$venv/bin/ruff" format --check src tests
echo "== python: basedpyright"
"$venv/bin/basedpyright" --pythonpath "$venv/bin/python" src tests
echo "== python: pytest"
"$venv/bin/python" -m pytest -q tests "$@"
