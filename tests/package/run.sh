#!/usr/bin/env bash
# Packaging test: the release artifacts of ci/package.sh, installed the way
# users install them, in fresh temporary projects, with cargo and the
# repository's target/ out of reach (PATH without any directory holding
# cargo or rustc, a new empty HOME, an environment of a few named variables,
# every project outside the repository):
#   Python  pip install of the wheel (its dependencies from PyPI); the sdist
#           without cargo must say what to install or set
#   Node    npm install of the two tarballs (main + platform package)
#   Go      go get through a file GOPROXY holding the module zip, go build;
#           CGO_ENABLED=0 must say that cgo is required
#   PHP     composer require from an artifact repository
#   C       the tree unpacked into a prefix, pkg-config, gcc (shared and static),
#           and its bin/cachekit
# Smoke: a value written by the installed Python package is a hit in the
# installed Node, Go, PHP and C packages, through a throwaway Redis. Reports
# each artifact's size and install time; asserts behaviour and the size
# targets (core library < 8 MB, Node platform package < 5 MB packed), never
# times. Prints "N passed, M failed" last.
#
#   tests/package/run.sh             runs ci/package.sh first
#   tests/package/run.sh --no-build  tests the dist/ that is there
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dist="$repo/dist"

if [ "${1:-}" != --no-build ]; then
  "$repo/ci/package.sh" || { echo "package: 0 passed, 1 failed (ci/package.sh)"; exit 1; }
fi
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml" | head -1)"
triple="$(rustc -vV | sed -n 's/^host: //p')"
case "$triple" in
  x86_64-unknown-linux-gnu) napiplat=linux-x64-gnu ;;
  aarch64-unknown-linux-gnu) napiplat=linux-arm64-gnu ;;
  *) echo "tests/package: no packaging for $triple"; exit 2 ;;
esac

# What the smoke programs run on (Debian's packages; Packagist is out of
# reach here, so psr/simple-cache, the one Composer dependency, comes from
# Debian's php-psr-simple-cache as a second artifact repository).
"$repo/ci/apt-install.sh" redis-server gcc pkg-config binutils php-cli php-msgpack php-zip composer unzip php-psr-simple-cache

url="$("$repo/ci/redis.sh" start package)" || { echo "package: 0 passed, 1 failed (redis)"; exit 1; }
work="$(mktemp -d /tmp/cachekit-package.XXXXXX)"
trap '"$repo/ci/redis.sh" stop package; chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/home" "$work/tmp"

# --- the stripped environment -------------------------------------------------
python="$(python3 -c 'import sys; print(sys.executable)')"   # the interpreter itself, not a pyenv shim
goproxy_up="$(go env GOPROXY)"
clean_path=""
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  case "$d" in "" | "$repo"* | *.cargo* | *.rustup* | *.pyenv*) continue ;; esac
  [ -x "$d/cargo" ] || [ -x "$d/rustc" ] || [ -x "$d/rustup" ] && continue
  case ":$clean_path:" in *":$d:"*) continue ;; esac
  clean_path="${clean_path:+$clean_path:}$d"
done
keep=()
for v in LANG LC_ALL TERM SSL_CERT_FILE SSL_CERT_DIR NODE_EXTRA_CA_CERTS REQUESTS_CA_BUNDLE CURL_CA_BUNDLE \
  PIP_CERT PIP_DEFAULT_TIMEOUT PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL \
  http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY npm_config_registry; do
  [ -n "${!v:-}" ] && keep+=("$v=${!v}")
done
E=(env -i "${keep[@]}" PATH="$clean_path" HOME="$work/home" TMPDIR="$work/tmp"
  CACHEKIT_REDIS_URL="$url" PIP_DISABLE_PIP_VERSION_CHECK=1 COMPOSER_ALLOW_SUPERUSER=1
  GOPATH="$work/gopath" GOCACHE="$work/gocache" GOFLAGS=-modcacherw GOTOOLCHAIN=local
  GOPROXY="file://$dist/go/proxy,$goproxy_up" GONOSUMDB=cachekit.dev)
in_env() { "${E[@]}" "$@"; }
in_dir() { (cd "$1" && shift && in_env "$@"); } # dir, command...: in the stripped environment

passed=0
failed=0
check() { # name, command... (the command's output is shown on failure)
  local name="$1" out
  shift
  if out="$("$@" 2>&1)"; then
    echo "PASS $name"
    [ -n "$out" ] && sed 's/^/     /' <<<"$out" | tail -3
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    sed 's/^/     /' <<<"$out" | tail -25
    failed=$((failed + 1))
  fi
}
timed() { # key, command...: runs it, keeps its wall time (seconds) in $work/took
  local key="$1" t0 rc
  shift
  t0="$(date +%s.%N)"
  "$@"
  rc=$?
  echo "$key $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" >>"$work/took"
  return "$rc"
}
took() { awk -v k="$1" '$1 == k { t = $2 } END { print (t == "" ? "?" : t) }' "$work/took" 2>/dev/null || echo "?"; }
size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }
mb() { awk -v b="$1" 'BEGIN { printf "%.2f MB", b / 1048576 }'; }
must_fail_saying() { # text, command...: fails, and its output says text
  local want="$1" out
  shift
  if out="$("$@" 2>&1)"; then
    echo "succeeded, but should have failed:"; echo "$out" | tail -5; return 1
  fi
  grep -qF -- "$want" <<<"$out" || { echo "no \"$want\" in:"; echo "$out" | tail -15; return 1; }
  grep -F -- "$want" <<<"$out" | head -2
}

wheel="$(ls "$dist"/python/cachekit-"$version"-py3-none-*.whl 2>/dev/null | head -1)"
sdist="$dist/python/cachekit-$version.tar.gz"
node_main="$dist/node/cachekit-$version.tgz"
node_plat="$dist/node/cachekit-$napiplat-$version.tgz"
gozip="$(ls "$dist"/go/proxy/cachekit.dev/go/@v/v"$version".zip 2>/dev/null)"
phpzip="$dist/php/cachekit-cachekit-$version.zip"
ctar="$dist/c/cachekit-$version-$triple.tar.gz"
ns="package-$$-$RANDOM"

check "the environment reaches no cargo, rustc or rustup" \
  in_env bash -c '! command -v cargo && ! command -v rustc && ! command -v rustup && [ ! -e "$HOME/.cargo" ]'

# --- Python: the wheel writes --------------------------------------------------------
py_install() {
  in_env "$python" -m venv "$work/py" && (cd "$work" && in_env "$work/py/bin/pip" install -q "$wheel")
}
check "python: the wheel is tagged for pip on a compatible Linux ($(basename "${wheel:-none}"))" \
  bash -c '[[ "$1" == *-py3-none-manylinux_*_'"${triple%%-*}"'.whl ]]' _ "$wheel"
check "python: pip install of the wheel (no cargo)" timed python py_install
check "python: the installed package loads its bundled core" in_dir "$work" "$work/py/bin/python" -c '
import cachekit, cachekit._ffi as f
p = f.library_path()
assert p.is_file() and p.parent.name == "_lib", p
print(p)'
check "python: writes greet(\"world\") to Redis" in_dir "$work" "$work/py/bin/python" "$here/smoke/write.py" "$ns"
check "python: pip install of the sdist without cargo says what to install or set" \
  must_fail_saying "CACHEKIT_LIBRARY" in_dir "$work" "$work/py/bin/pip" install --no-deps "$sdist"

# --- Node -------------------------------------------------------------------------------
node_install() {
  mkdir -p "$work/node" && cp "$here/smoke/read.js" "$work/node/" &&
    (cd "$work/node" && in_env npm init -y >/dev/null &&
      in_env npm install --no-audit --no-fund --loglevel=error "$node_main" "$node_plat")
}
check "node: npm install of the two tarballs (no cargo, no build step)" timed node node_install
check "node: the addon comes from the platform package" \
  in_dir "$work/node" node -e "console.log(require.resolve('cachekit-$napiplat'))"
check "node: reads python's value as a hit" in_dir "$work/node" node read.js "$ns"
check "node: ESM import and TypeScript declarations" in_dir "$work/node" bash -c \
  'node --input-type=module -e "import { cache } from \"cachekit\"; if (typeof cache !== \"function\") process.exit(1)" && test -f node_modules/cachekit/index.d.ts'


# --- Go ---------------------------------------------------------------------------------
go_install() {
  mkdir -p "$work/go" && cp "$here/smoke/read.go" "$work/go/main.go" &&
    (cd "$work/go" && in_env go mod init example.com/smoke >/dev/null 2>&1 &&
      in_env go get "cachekit.dev/go@v$version" && in_env go build -o smoke .)
}
check "go: go get through the file GOPROXY and go build (no cargo)" timed go go_install
check "go: reads python's value as a hit" in_dir "$work/go" ./smoke "$ns"
check "go: CGO_ENABLED=0 says that cgo and a C compiler are required" \
  must_fail_saying "needs_cgo" in_dir "$work/go" CGO_ENABLED=0 go build -o /dev/null .

# --- PHP --------------------------------------------------------------------------------
php_install() {
  local psr="$work/php-psr" v
  v="$(dpkg-query -W -f='${Version}' php-psr-simple-cache | sed 's/-.*//')"
  mkdir -p "$psr/pkg/src" "$work/php" && cp "$here/smoke/read.php" "$work/php/" &&
    cp /usr/share/php/Psr/SimpleCache/*.php "$psr/pkg/src/" && rm -f "$psr/pkg/src/autoload.php" &&
    printf '{"name": "psr/simple-cache", "version": "%s", "license": "MIT", "autoload": {"psr-4": {"Psr\\\\SimpleCache\\\\": "src/"}}}\n' "$v" >"$psr/pkg/composer.json" &&
    (cd "$psr/pkg" && python3 -m zipfile -c "$psr/psr-simple-cache-$v.zip" composer.json src) && rm -rf "$psr/pkg" &&
    cat >"$work/php/composer.json" <<EOF &&
{
    "name": "example/smoke",
    "repositories": [
        {"type": "artifact", "url": "$dist/php"},
        {"type": "artifact", "url": "$psr"},
        {"packagist.org": false}
    ]
}
EOF
    (cd "$work/php" && in_env composer require --no-interaction --no-progress --quiet "cachekit/cachekit:$version")
}
check "php: composer require from the artifact repository (no CACHEKIT_LIBRARY or CACHEKIT_HEADER)" timed php php_install
check "php: reads python's value as a hit" in_dir "$work/php" php read.php "$ns"

# --- C ----------------------------------------------------------------------------------
c_install() { mkdir -p "$work/c/prefix" && tar -C "$work/c/prefix" -xzf "$ctar"; }
c_build() {
  local pc="$work/c/prefix/lib/pkgconfig"
  cd "$work/c" &&
    in_env PKG_CONFIG_PATH="$pc" bash -c 'gcc -std=c99 -Wall -Werror -DCACHEKIT_LINK=\"shared\" -o read_shared "$1" $(pkg-config --cflags --libs cachekit) -Wl,-rpath,"$2"' _ "$here/smoke/read.c" "$work/c/prefix/lib" &&
    in_env PKG_CONFIG_PATH="$pc" bash -c 'gcc -std=c99 -Wall -Werror -DCACHEKIT_LINK=\"static\" -o read_static "$1" $(pkg-config --cflags cachekit) "$2/libcachekit.a" $(pkg-config --static --libs cachekit | sed "s/-lcachekit//")' _ "$here/smoke/read.c" "$work/c/prefix/lib" &&
    ! ldd read_static | grep -q libcachekit && ldd read_shared | grep -q "$work/c/prefix/lib/libcachekit.so"
}
check "c: the tree unpacks into a prefix" timed c c_install
check "c: pkg-config finds it; gcc builds against the shared and the static library" timed c_build c_build
check "c: reads python's value as a hit (shared)" in_dir "$work/c" ./read_shared "$ns"
check "c: reads python's value as a hit (static)" in_dir "$work/c" ./read_static "$ns"
# The command-line tool of the same tree, with no cargo around, finds it too.
c_cli() { in_env "$work/c/prefix/bin/cachekit" stats "$ns" --json | grep -q '"entries":[1-9]'; }
check "c: bin/cachekit (the command-line tool) counts python's entry" c_cli

# --- sizes ------------------------------------------------------------------------------
so="$(find "$work/c/prefix/lib" -maxdepth 1 -type f -name 'libcachekit.so*' 2>/dev/null | head -1)"
check "size: the core library is under 8 MB ($(mb "$(size_of "$so")"))" test "$(size_of "$so")" -lt 8000000
check "size: the Node platform package is under 5 MB packed ($(mb "$(size_of "$node_plat")"))" test "$(size_of "$node_plat")" -lt 5000000

echo
echo "artifact                                                     size        install"
row() { printf '%-58s %10s  %s\n' "$1" "$(mb "$(size_of "$2")")" "$3"; }
row "c/$(basename "$ctar")" "$ctar" "$(took c) s unpack + $(took c_build) s gcc (shared + static)"
row "  lib/$(basename "${so:-libcachekit.so}") (unpacked)" "$so" ""
row "  lib/libcachekit.a (unpacked)" "$work/c/prefix/lib/libcachekit.a" ""
row "  bin/cachekit (unpacked)" "$work/c/prefix/bin/cachekit" ""
row "python/$(basename "${wheel:-wheel}")" "$wheel" "$(took python) s pip install (venv, dependencies from PyPI)"
row "python/$(basename "$sdist")" "$sdist" "(needs cargo: checked without)"
row "node/$(basename "$node_main")" "$node_main" "$(took node) s npm install of both (msgpackr from npm)"
row "node/$(basename "$node_plat")" "$node_plat" ""
row "go/proxy/.../v$version.zip" "$gozip" "$(took go) s go get + go build (cold module and build caches)"
row "  the smoke program built with it" "$work/go/smoke" ""
row "php/$(basename "$phpzip")" "$phpzip" "$(took php) s composer require"
echo
echo "package: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
