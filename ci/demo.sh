#!/usr/bin/env bash
# Build and run the demo: a miss, then a hit. L1-only unless
# CACHEKIT_REDIS_URL (or REDIS_URL) points at a Redis server.
# What it is doing goes to stderr (cargo's progress too); the demo's own
# output to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "ci/demo.sh: $*" >&2; }

if ! command -v cargo >/dev/null 2>&1; then
  say "the demo is a Rust program (examples/rust/demo.rs) and needs cargo: install Rust from https://rustup.rs"
  exit 1
fi
target="${CARGO_TARGET_DIR:-target}"
if [ -x "$target/debug/examples/demo" ]; then
  say "building examples/rust/demo.rs (cargo build --example demo; quick when nothing changed)"
else
  say "building the cachekit core and examples/rust/demo.rs (cargo build --example demo)."
  say "The first build compiles the core and its dependencies and takes a few minutes; later runs start at once."
fi
cargo build --example demo
if [ -n "${CACHEKIT_REDIS_URL:-${REDIS_URL:-}}" ]; then
  say "running the demo against Redis at ${CACHEKIT_REDIS_URL:-$REDIS_URL}"
else
  say "running the demo L1-only (set CACHEKIT_REDIS_URL=redis://host:port to add Redis as L2)"
fi
exec "$target/debug/examples/demo"
