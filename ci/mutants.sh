#!/usr/bin/env bash
# Mutation testing of the core's policy modules with cargo-mutants (issue 18).
# NOT part of the test command: every module in full takes hours on a
# two-core machine. Each run is one shard of one module, sized so that a
# shard finishes within the hour here; the outcomes of every shard run so
# far are summed up in docs/test-quality.md.
#
#   ci/mutants.sh MODULE [K/N]    run shard K of N of MODULE (N defaults to
#                                 the module's shard count below; no K/N:
#                                 every shard of MODULE, one after another)
#   ci/mutants.sh all             every shard of every module (hours)
#   ci/mutants.sh report          only rewrite docs/test-quality.md
#   ci/mutants.sh list            each module's files, mutants and shards
#
# MODULE: reliability fill invalidate codec key l1.
#
# Settings (environment):
#   MUTANTS_TARGET_DIR  cargo's target dir for the mutated builds
#                       (default: $CARGO_TARGET_DIR/mutants, else target/mutants)
#   MUTANTS_OUT         where each shard's mutants.out is kept (default: build/mutants)
#   MUTANTS_TIMEOUT     seconds a mutant's tests may run (default 300; a
#                       mutant that makes a test hang is "timeout", not "caught")
#   MUTANTS_PER_SHARD   mutants per shard when N is not given (default 100:
#                       here a mutant takes 10 s (reliability: an incremental
#                       build and its tests) to 25 s (the modules tested with
#                       the Redis integration and stampede tests), and a
#                       shard's unmutated baseline about 5 min the first time)
#
# Tests that run on the shared Redis Cluster and Sentinel set-ups
# (on_each_redis!) need them: this script starts its own (ci/redis-cluster.sh
# and ci/redis-sentinel.sh, name "mutants") and stops them when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

declare -A FILES=(
  [reliability]="src/reliability.rs"
  [fill]="src/fill/*.rs"
  [invalidate]="src/invalidate/*.rs"
  [codec]="src/codec/*.rs"
  [key]="src/key.rs"
  [l1]="src/l1.rs"
)
# The test targets that exercise each module (unit tests of the library
# and the integration tests of its behaviour), kept small: they run once
# per mutant.
declare -A TESTS=(
  [reliability]="--lib --test faults --test foreign_backend --test observability"
  [fill]="--lib --test redis_integration --test stampede --test write_behind"
  [invalidate]="--lib --test redis_integration --test stampede"
  [codec]="--lib --test vectors --test redis_integration"
  [key]="--lib --test vectors"
  [l1]="--lib --test redis_integration"
)
MODULES="reliability fill invalidate codec key l1"

out_root=${MUTANTS_OUT:-$root/build/mutants}
target=${MUTANTS_TARGET_DIR:-${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/mutants}}
target=${target:-$root/target/mutants}
timeout=${MUTANTS_TIMEOUT:-300}
per_shard=${MUTANTS_PER_SHARD:-100}

ensure_cargo_mutants() {
  if ! cargo mutants --version >/dev/null 2>&1; then
    echo "installing cargo-mutants (cargo install --locked cargo-mutants)" >&2
    cargo install --locked cargo-mutants
  fi
}

file_args() {
  local f
  for f in ${FILES[$1]}; do printf -- '-f\n%s\n' "$f"; done
}

count_mutants() {
  local args
  mapfile -t args < <(file_args "$1")
  cargo mutants --list "${args[@]}" 2>/dev/null | wc -l
}

shards_of() {
  local n
  n=$(count_mutants "$1")
  echo $(( (n + per_shard - 1) / per_shard ))
}

shared_started=""
start_shared() {
  [ -n "$shared_started" ] && return
  CACHEKIT_TEST_CLUSTER_URL=$(ci/redis-cluster.sh start mutants)
  CACHEKIT_TEST_SENTINEL_URL=$(ci/redis-sentinel.sh start mutants)
  export CACHEKIT_TEST_CLUSTER_URL CACHEKIT_TEST_SENTINEL_URL
  shared_started=1
  trap 'ci/redis-cluster.sh stop mutants >/dev/null 2>&1 || true; ci/redis-sentinel.sh stop mutants >/dev/null 2>&1 || true' EXIT
}

run_shard() {
  local module=$1 k=$2 n=$3 args test_args=() t
  [ -n "${FILES[$module]:-}" ] || { echo "unknown module $module (one of: $MODULES)" >&2; exit 2; }
  mapfile -t args < <(file_args "$module")
  # -C: the build phase (cargo test --no-run) builds only these targets too.
  for t in ${TESTS[$module]}; do test_args+=("--cargo-arg=$t"); done
  case " ${TESTS[$module]} " in *redis_integration*|*stampede*) start_shared ;; esac
  local out="$out_root/$module-$k-of-$n"
  rm -rf "$out"; mkdir -p "$out"
  echo "== $module: shard $k/$n (files: ${FILES[$module]}; tests: ${TESTS[$module]})" >&2
  local started=$SECONDS
  # Exit codes: 0 all caught, 2 some missed, 3 some timed out; all are results.
  CARGO_TARGET_DIR=$target cargo mutants "${args[@]}" "${test_args[@]}" \
    --shard "$((k - 1))/$n" --timeout "$timeout" --minimum-test-timeout 60 \
    --output "$out" --no-shuffle >&2 || {
      rc=$?
      case $rc in 0|2|3) ;; *) echo "cargo mutants failed ($rc): see $out/mutants.out" >&2; exit $rc ;; esac
    }
  echo "$((SECONDS - started))" >"$out/seconds"
  echo "== $module shard $k/$n: $((SECONDS - started)) s" >&2
}

run_module() {
  local module=$1 spec=${2:-} n k
  if [ -n "$spec" ]; then
    k=${spec%/*}; n=${spec#*/}
    run_shard "$module" "$k" "$n"
  else
    n=$(shards_of "$module")
    for k in $(seq 1 "$n"); do run_shard "$module" "$k" "$n"; done
  fi
}

report() {
  local totals="" m
  if cargo mutants --version >/dev/null 2>&1; then
    for m in $MODULES; do totals+="$m=$(count_mutants "$m") "; done
  fi
  python3 - "$out_root" "$root/docs/test-quality.md" "$totals" <<'EOF'
import json, os, sys, glob, collections
out_root, doc = sys.argv[1], sys.argv[2]
in_module = dict(kv.split("=") for kv in sys.argv[3].split())
rows = collections.OrderedDict()
missed = collections.defaultdict(list)
timeouts = collections.defaultdict(list)
runs = []
for d in sorted(glob.glob(os.path.join(out_root, "*-of-*"))):
    f = os.path.join(d, "mutants.out", "outcomes.json")
    if not os.path.exists(f):
        continue
    data = json.load(open(f))
    shard = os.path.basename(d)
    module = shard.split("-")[0]
    secs = open(os.path.join(d, "seconds")).read().strip() if os.path.exists(os.path.join(d, "seconds")) else "?"
    counts = collections.Counter()
    for o in data.get("outcomes", []):
        if o.get("scenario") == "Baseline":
            continue
        summary = o.get("summary")
        counts[summary] += 1
        m = o["scenario"]["Mutant"]
        desc = m.get("name") or f'{m["file"]}:{m["span"]["start"]["line"]}: {m.get("replacement", "")}'
        if summary == "MissedMutant":
            missed[module].append(desc)
        elif summary == "Timeout":
            timeouts[module].append(desc)
    r = rows.setdefault(module, collections.Counter())
    r.update(counts)
    runs.append((shard, sum(counts.values()), secs))
lines = [
    "# Test quality: mutation testing",
    "",
    "Written by `ci/mutants.sh report` from the shards run so far (`ci/mutants.sh MODULE [K/N]`,",
    "not part of the test command). A mutant is one small change to the core (a condition",
    "negated, a value replaced, a body emptied); *caught* means some test failed with it,",
    "*missed* means every test still passed, *timeout* means the tests hung (which the harness",
    "counts apart), *unviable* means it did not compile.",
    "",
    "| module | mutants tested | of the module's | caught | missed | timeout | unviable |",
    "|---|---|---|---|---|---|---|",
]
for module, c in rows.items():
    total = sum(c.values())
    lines.append(f'| {module} | {total} | {in_module.get(module, "?")} | {c["CaughtMutant"]} | {c["MissedMutant"]} | {c["Timeout"]} | {c["Unviable"]} |')
untested = [m for m in in_module if m not in rows]
if untested:
    lines += ["", "Not run yet: " + ", ".join(f"{m} ({in_module[m]} mutants)" for m in untested) + "."]
lines += ["", "Shards run:", ""]
for shard, n, secs in runs:
    lines.append(f"- {shard}: {n} mutants in {secs} s")
for title, table in (("Missed", missed), ("Timed out", timeouts)):
    for module, items in table.items():
        lines += ["", f"{title} in {module}:", ""]
        lines += [f"- `{i}`" for i in items]
notes = os.path.join(os.path.dirname(doc), "test-quality-notes.md")
if os.path.exists(notes):
    lines += ["", open(notes).read().rstrip()]
open(doc, "w").write("\n".join(lines) + "\n")
print(f"wrote {doc}", file=sys.stderr)
EOF
}

cmd=${1:-}
case "$cmd" in
  ""|-h|--help) sed -n '2,30p' "$0"; exit 0 ;;
  report) report ;;
  list)
    ensure_cargo_mutants
    for m in $MODULES; do echo "$m: ${FILES[$m]}: $(count_mutants "$m") mutants, $(shards_of "$m") shards of <= $per_shard"; done ;;
  all)
    ensure_cargo_mutants
    for m in $MODULES; do run_module "$m"; done
    report ;;
  *)
    ensure_cargo_mutants
    run_module "$cmd" "${2:-}"
    report ;;
esac
