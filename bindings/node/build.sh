#!/usr/bin/env bash
# Make the Node.js binding usable from this checkout: npm ci when the lock
# file changed since the last install, the addon built in debug
# (incremental: quick when nothing changed) and copied to cachekit.node.
# Progress on stderr. Used by ci.sh here and by ci/demo.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"

# npm ci only when the lock file changed since the last install.
stamp="node_modules/.cachekit-lock.sha256"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "== node: npm ci" >&2
  npm ci --no-audit --no-fund >&2
  echo "$want" >"$stamp"
fi

echo "== node: cargo build -p cachekit-node (debug)" >&2
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
# The core's cdylib too: the cross-language test runs Python over it.
(cd "$repo" && cargo build -p cachekit-node -p cachekit --lib >&2)
# A .node file is the cdylib renamed; copy only when it changed.
if ! cmp -s "$target/debug/libcachekit_node.so" cachekit.node; then
  cp "$target/debug/libcachekit_node.so" cachekit.node.tmp
  mv cachekit.node.tmp cachekit.node
fi
