#!/usr/bin/env bash
# The long loop of the clean-exit test: thousands of runs of each language's
# exit program under load (tests/exit/run.sh; the test command runs 200).
#   ci/exit-soak.sh [RUNS] [LANGUAGE...]     (default 3000 runs each)
# Needs the debug core and the bindings built (run ci/test.sh once first).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3000}"
shift || true
exec tests/exit/run.sh "$runs" "$@"
