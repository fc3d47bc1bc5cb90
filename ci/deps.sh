#!/usr/bin/env bash
# Install what a fresh machine lacks for the tests and the demo. Idempotent:
# each step checks first, so a second run costs a few milliseconds.
set -euo pipefail
cd "$(dirname "$0")/.."

ci/apt-install.sh redis-server redis-sentinel gcc pkg-config openssl

command -v cargo >/dev/null 2>&1 || { echo "ci/deps.sh: cargo (Rust) is required: https://rustup.rs" >&2; exit 1; }

# Python test environment, pinned (ci/requirements-test.txt).
VENV=build/venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! cmp -s ci/requirements-test.txt "$VENV/.requirements" 2>/dev/null; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r ci/requirements-test.txt
  cp ci/requirements-test.txt "$VENV/.requirements"
fi
