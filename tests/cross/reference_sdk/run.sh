#!/usr/bin/env bash
# Cross-SDK test: the reference SDK (PyPI cachekit 0.24.1, in its own
# virtualenv build/venv-reference, installed here from requirements.txt when
# missing) beside ours (bindings/python over the debug core), against one
# Redis. An interop entry written by either is a hit in the other, plain and
# encrypted with a tenant (deployment_uuid= and CACHEKIT_DEPLOYMENT_UUID);
# the convenience arguments (Enum, Decimal, PurePath, ...) get the same keys;
# and each configuration that used to stop sharing silently now fails loudly
# in ours (beside the reference's own refusal, where it has one).
# Uses $CACHEKIT_REDIS_URL when set (tests/cross/run.sh), else starts its own
# Redis. Prints "N passed, M failed" last.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
ref_venv="$repo/build/venv-reference"
req="$here/requirements.txt"

# The reference SDK, pinned (a stamp of requirements.txt: reinstalled when it changes).
stamp="$ref_venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ ! -x "$ref_venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  rm -rf "$ref_venv"
  python3 -m venv "$ref_venv" >&2 || exit 2
  "$ref_venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2 || exit 2
  echo "$want" >"$stamp"
fi
ref="$ref_venv/bin/python"
if [ "$("$ref" -c 'import importlib.metadata as m; print(m.version("cachekit"))')" != "0.24.1" ]; then
  echo "tests/cross/reference_sdk: $ref_venv does not hold cachekit 0.24.1" >&2
  exit 2
fi

ours="${CACHEKIT_PYTHON:-}"
if [ -z "$ours" ]; then
  ours="$("$repo/bindings/python/venv.sh")/bin/python" || exit 2
fi
if [ ! -f "$target/debug/libcachekit.so" ]; then
  (cd "$repo" && cargo build --lib --quiet) || exit 2
fi

if [ -n "${CACHEKIT_REDIS_URL:-}" ]; then
  url="$CACHEKIT_REDIS_URL"
else
  url="$("$repo/ci/redis.sh" start reference-sdk)" || exit 2
  trap '"$repo/ci/redis.sh" stop reference-sdk' EXIT
fi

# Nothing of the caller's environment may change a key or a tenant.
unset REDIS_URL CACHEKIT_REDIS_URL CACHEKIT_KEY_PREFIX CACHEKIT_TENANT_ID CACHEKIT_MASTER_KEY \
  CACHEKIT_DEPLOYMENT_UUID CACHEKIT_API_KEY
export CROSS_REDIS_URL="$url"
# run_ref / run_ours [VAR=value...] side.py-arguments...
run_ref() {
  local envs=()
  while [[ "${1:-}" == *=* ]]; do envs+=("$1"); shift; done
  (cd "$here" && env -u PYTHONPATH -u CACHEKIT_LIBRARY "${envs[@]}" "$ref" side.py "$@")
}
run_ours() {
  local envs=()
  while [[ "${1:-}" == *=* ]]; do envs+=("$1"); shift; done
  (cd "$here" && env CACHEKIT_REDIS_URL="$url" CACHEKIT_LIBRARY="$target/debug/libcachekit.so" \
    PYTHONPATH="$repo/bindings/python/src" "${envs[@]}" "$ours" side.py "$@")
}

passed=0
failed=0
check() { # name, command...
  local name="$1" out
  shift
  if out="$("$@" 2>&1)"; then
    echo "PASS $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name: $out"
    failed=$((failed + 1))
  fi
}

run=$$
for kind in plain encrypted; do
  ns="xref-$run-$kind-a"
  check "$kind: the reference writes" run_ref write "$kind" "$ns"
  check "$kind: ours reads the reference's entry as a hit" run_ours read "$kind" "$ns"
  ns="xref-$run-$kind-b"
  check "$kind: ours writes" run_ours write "$kind" "$ns"
  check "$kind: the reference reads our entry as a hit" run_ref read "$kind" "$ns"
done

# The tenant from CACHEKIT_DEPLOYMENT_UUID (before: ours ignored it, encrypted
# under "default", missed the reference's entry and overwrote it).
ns="xref-$run-env"
du=CACHEKIT_DEPLOYMENT_UUID=2f1b7c9e-5d34-4a8e-9f60-1c2d3e4f5a6b
check "CACHEKIT_DEPLOYMENT_UUID: the reference writes" run_ref "$du" write encrypted-env "$ns"
check "CACHEKIT_DEPLOYMENT_UUID: ours reads the reference's entry as a hit" run_ours "$du" read encrypted-env "$ns"

same_keys() {
  local a b
  a="$(run_ref keys)" || return 1
  b="$(run_ours keys)" || return 1
  if [ "$a" != "$b" ]; then
    echo "reference: $a"
    echo "ours:      $b"
    return 1
  fi
}
check "Enum, Decimal, PurePath, datetime, set and nested arguments: the same interop keys" same_keys

# Each silent-failure configuration now fails loudly in ours.
check "ours refuses a key prefix from CACHEKIT_KEY_PREFIX" \
  run_ours CACHEKIT_KEY_PREFIX=pfx: refuses key-prefix-from-the-environment
check "ours refuses a tenant scope from CACHEKIT_TENANT_ID" \
  run_ours CACHEKIT_TENANT_ID=acme refuses tenant-scope-from-the-environment
for case in key-function no-namespace backend-none invalid-operation result-outside-the-model \
  argument-outside-the-model date-argument; do
  check "ours refuses $case (as the reference does)" run_ours refuses "$case"
  check "the reference refuses $case" run_ref refuses "$case"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
