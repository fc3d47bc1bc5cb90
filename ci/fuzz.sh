#!/usr/bin/env bash
# A long fuzzing run of the decoders that read untrusted bytes
# (tests/fuzz_decoders.rs: proptest mutations of the protocol vectors),
# in release. Not part of the test command, which runs a bounded one.
#   ci/fuzz.sh [CASES_PER_TARGET]   (default 5,000,000)
# Prints the executions and findings per target; a finding prints its
# shrunk input and fails the run (add it to regressions() there).
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-5000000}"
dir="${CARGO_TARGET_DIR:-target}/tmp/reliability/fuzz"
rm -rf "$dir"
echo "ci/fuzz.sh: $cases cases per target, release build" >&2
status=0
CACHEKIT_FUZZ_CASES="$cases" cargo test --release --test fuzz_decoders -- --nocapture --test-threads=2 2>&1 \
  | grep -E "^fuzz |panicked|minimal failing input" || status=$?
python3 - "$dir" <<'PY'
import json, os, sys
d = sys.argv[1]
rows = [json.load(open(os.path.join(d, f))) for f in sorted(os.listdir(d))] if os.path.isdir(d) else []
total = sum(r["executions"] for r in rows)
print(f"fuzz: {len(rows)} targets, {total} executions, {sum(r['findings'] for r in rows)} findings")
PY
exit "$status"
