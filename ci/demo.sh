#!/usr/bin/env bash
# Build and run the demo: a miss, then a hit. L1-only unless
# CACHEKIT_REDIS_URL (or REDIS_URL) points at a Redis server.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run -q --example demo
