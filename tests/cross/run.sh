#!/usr/bin/env bash
# Cross-language test: an entry written by Python is read by Go as a hit
# (the Go function does not run) and vice versa, with the same namespace,
# operation and argument values, in both value formats (envelope, interop).
# Starts its own throwaway Redis; prints "N passed, M failed" last.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="${CACHEKIT_PYTHON:-$repo/build/venv-python/bin/python}"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac

if [ -z "${CACHEKIT_PYTHON:-}" ]; then
  "$repo/bindings/python/venv.sh" >/dev/null || exit 2
fi
if [ ! -x "$py" ]; then
  echo "tests/cross/run.sh: $py is missing" >&2
  exit 2
fi
if command -v cargo >/dev/null 2>&1; then
  # The core, and the `cachekit` command that inspects the entries below.
  (cd "$repo" && cargo build --lib --bin cachekit --quiet) || exit 2
fi
cli="$target/debug/cachekit"

url="$("$repo/ci/redis.sh" start cross)" || exit 2
trap '"$repo/ci/redis.sh" stop cross' EXIT

export CACHEKIT_REDIS_URL="$url" CACHEKIT_LIBRARY="$target/debug/libcachekit.so"
export PYTHONPATH="$repo/bindings/python/src${PYTHONPATH:+:$PYTHONPATH}"
unset REDIS_URL CACHEKIT_KEY_PREFIX CACHEKIT_TENANT_ID
export CGO_LDFLAGS="-L$target/debug${CGO_LDFLAGS:+ $CGO_LDFLAGS}"

bin="$(mktemp -d)"
trap '"$repo/ci/redis.sh" stop cross; rm -rf "$bin"' EXIT
if ! (cd "$here/go" && go build -o "$bin/cross" .); then
  echo "0 passed, 1 failed (the Go side does not build)"
  exit 1
fi

passed=0
failed=0
check() { # name, command...
  local name="$1"
  shift
  if out="$("$@" 2>&1)"; then
    echo "PASS $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name: $out"
    failed=$((failed + 1))
  fi
}

# `cachekit inspect` on the entry a language wrote: the key `cachekit key`
# derives from the same arguments (for Python's, the key Go derives too)
# holds a readable entry of the format, with the value that language wrote.
cli_reads() { # format namespace writer
  local fmt="$1" ns="$2" who="$3" args key out flag=()
  [ "$fmt" = interop ] && flag=(--interop)
  if [ "$who" = python ]; then args='[42, "alpha", 2.0, {"k": [1, 2]}]'; else args='[7, "beta", 3, {"k": [3]}]'; fi
  key="$("$cli" key "${flag[@]}" "$ns" profile "$args")" || return 1
  if [ "$who" = python ] && [ "$key" != "$("$bin/cross" key "$fmt" "$ns")" ]; then
    echo "cachekit key says $key, Go says $("$bin/cross" key "$fmt" "$ns")"
    return 1
  fi
  out="$("$cli" inspect --json "$key")" || { echo "cachekit inspect $key exited $?: $out"; return 1; }
  python3 - "$out" "$fmt" "$who" <<'EOF'
import json, sys
doc, fmt, who = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
ident, name, k = (42, "alpha", [1, 2]) if who == "python" else (7, "beta", [3])
v = doc.get("value") or {}
want = {"id": ident, "name": f"{who}:{name}", "tags": ["x", "y"], "score": 1.5, "nested": {"k": k}}
problems = [f"{f}: {doc.get(f)!r}" for f, w in (("format", fmt), ("verdict", "ok")) if doc.get(f) != w]
problems += [f"value.{f}: {v.get(f)!r}, want {w!r}" for f, w in want.items() if v.get(f) != w]
if not (isinstance(v.get("when"), dict) and v["when"].get("__datetime__") is True):
    problems.append(f"value.when: {v.get('when')!r}, want a __datetime__ marker map")
if fmt == "envelope" and (doc.get("envelope") or {}).get("checksum_ok") is not True:
    problems.append(f"envelope: {doc.get('envelope')!r}")
sys.exit("; ".join(problems) or None)
EOF
}

for fmt in envelope interop; do
  ns="cross-$$-$fmt"
  check "$fmt: python writes" "$py" "$here/cross.py" go write "$fmt" "$ns" python
  check "$fmt: cachekit inspect reads python's entry" cli_reads "$fmt" "$ns" python
  check "$fmt: go reads python's entry as a hit" "$bin/cross" read "$fmt" "$ns"
  check "$fmt: go writes" "$bin/cross" write "$fmt" "$ns"
  check "$fmt: cachekit inspect reads go's entry" cli_reads "$fmt" "$ns" go
  check "$fmt: python reads go's entry as a hit" "$py" "$here/cross.py" go read "$fmt" "$ns" go
done
# The two formats never share a key: the keys of one call differ, Python's
# envelope entry is at the envelope key and nothing is at the interop key
# (checked in Redis before any interop call on that namespace), and an
# envelope entry is not an interop hit.
formats_keys() { # namespace
  local ek ik
  ek="$("$bin/cross" key envelope "$1")" && ik="$("$bin/cross" key interop "$1")" || return 1
  [ -n "$ek" ] && [ -n "$ik" ] || { echo "no key ($ek / $ik)"; return 1; }
  [ "$ek" != "$ik" ] || { echo "both formats use the key $ek"; return 1; }
  [ "$(redis-cli -u "$url" exists "$ek")" = 1 ] || { echo "python's envelope entry is not at $ek"; return 1; }
  [ "$(redis-cli -u "$url" exists "$ik")" = 0 ] || { echo "an entry is at the interop key $ik before any interop call"; return 1; }
}
check "formats do not share keys" formats_keys "cross-$$-envelope"
check "formats do not share entries" "$bin/cross" read interop "cross-$$-envelope" --expect-miss

# Ours beside the reference SDK (PyPI cachekit 0.24.1, its own virtualenv):
# interop entries shared both ways, plain and encrypted, and the
# configurations that used to stop sharing silently now fail loudly.
check "python beside PyPI cachekit 0.24.1 (tests/cross/reference_sdk)" \
  env CACHEKIT_PYTHON="$py" "$here/reference_sdk/run.sh"

# In a Redis Cluster (ci/test.sh starts one and names it in
# CACHEKIT_TEST_CLUSTER_URL): the same sharing, the URL the only change;
# the entry is in the cluster (redis-cli -c follows the slot's MOVED), not
# on the server above.
in_cluster() { # format namespace
  local key seed
  key="$("$bin/cross" key "$1" "$2")" || return 1
  seed="${CACHEKIT_TEST_CLUSTER_URL#redis+cluster://}"
  seed="${seed%%,*}"
  [ "$(redis-cli -c -h "${seed%:*}" -p "${seed##*:}" exists "$key")" = 1 ] || { echo "no entry at $key in the cluster"; return 1; }
  [ "$(redis-cli -u "$url" exists "$key")" = 0 ] || { echo "the entry $key is on the standalone server"; return 1; }
}
if [ -n "${CACHEKIT_TEST_CLUSTER_URL:-}" ]; then
  for fmt in envelope interop; do
    ns="cross-$$-cluster-$fmt"
    on_cluster=(env CACHEKIT_REDIS_URL="$CACHEKIT_TEST_CLUSTER_URL")
    check "cluster $fmt: python writes" "${on_cluster[@]}" "$py" "$here/cross.py" go write "$fmt" "$ns" python
    check "cluster $fmt: the entry is in the cluster" in_cluster "$fmt" "$ns"
    check "cluster $fmt: go reads python's entry as a hit" "${on_cluster[@]}" "$bin/cross" read "$fmt" "$ns"
    check "cluster $fmt: go writes" "${on_cluster[@]}" "$bin/cross" write "$fmt" "$ns"
    check "cluster $fmt: python reads go's entry as a hit" "${on_cluster[@]}" "$py" "$here/cross.py" go read "$fmt" "$ns" go
  done
else
  echo "cluster: not run here (CACHEKIT_TEST_CLUSTER_URL unset; ci/test.sh sets it)"
fi

# Through Redis Sentinel (ci/test.sh names the set-up in
# CACHEKIT_TEST_SENTINEL_URL): the entry is on the master the sentinels name.
on_sentinel_master() { # format namespace
  local key rest first addr
  key="$("$bin/cross" key "$1" "$2")" || return 1
  rest="${CACHEKIT_TEST_SENTINEL_URL#redis+sentinel://}"
  first="${rest%%[,/]*}"
  addr=($(redis-cli -h "${first%:*}" -p "${first##*:}" sentinel get-master-addr-by-name "${rest##*/}"))
  [ "$(redis-cli -h "${addr[0]}" -p "${addr[1]}" exists "$key")" = 1 ] || { echo "no entry at $key on the master ${addr[*]}"; return 1; }
}
if [ -n "${CACHEKIT_TEST_SENTINEL_URL:-}" ]; then
  ns="cross-$$-sentinel"
  on_sentinel=(env CACHEKIT_REDIS_URL="$CACHEKIT_TEST_SENTINEL_URL")
  check "sentinel: python writes" "${on_sentinel[@]}" "$py" "$here/cross.py" go write envelope "$ns" python
  check "sentinel: the entry is on the master the sentinels name" on_sentinel_master envelope "$ns"
  check "sentinel: go reads python's entry as a hit" "${on_sentinel[@]}" "$bin/cross" read envelope "$ns"
  check "sentinel: go writes" "${on_sentinel[@]}" "$bin/cross" write envelope "$ns"
  check "sentinel: python reads go's entry as a hit" "${on_sentinel[@]}" "$py" "$here/cross.py" go read envelope "$ns" go
else
  echo "sentinel: not run here (CACHEKIT_TEST_SENTINEL_URL unset; ci/test.sh sets it)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
