#!/usr/bin/env bash
# Print the path of the debug core library (libcachekit.so) the bindings'
# tests load, building it first when it is missing (`cargo build --lib`:
# incremental, never a release build). Honours CARGO_TARGET_DIR.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
lib="$target/debug/libcachekit.so"
if [ ! -f "$lib" ]; then
  (cd "$repo" && cargo build --lib >&2)
fi
echo "$lib"
