#!/usr/bin/env bash
# Regenerate include/cachekit.h from src/ffi.rs with cbindgen.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHEKIT_BLESS=1 cargo test -q --test header
echo "wrote include/cachekit.h"
