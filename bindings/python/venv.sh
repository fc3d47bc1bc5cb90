#!/usr/bin/env bash
# Make (or bring up to date) the pinned development venv of the Python
# binding, build/venv-python, from requirements-dev.txt; print its path.
# Quick when nothing changed. Used by ci.sh here and by the other bindings'
# cross-language tests, which run Python over the same core.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$repo/build/venv-python"
req="$here/requirements-dev.txt"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
fi
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
  echo "$want" >"$stamp"
fi
echo "$venv"
