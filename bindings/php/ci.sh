#!/usr/bin/env bash
# Test the PHP binding against a real Redis.
#
#   CACHEKIT_TEST_REDIS_URL=redis://127.0.0.1:PORT bindings/php/ci.sh [phpunit args]
#
# Installs the Debian packages a fresh machine lacks (checked first, so a
# second run costs milliseconds), builds the core in debug if
# CACHEKIT_LIBRARY is not given and the library is missing (incremental),
# generates the PHP FFI header from include/cachekit.h, and runs PHPUnit.
# The tests fail (never skip) without CACHEKIT_TEST_REDIS_URL.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

# Debian packages: PHP with FFI (php-cli), php-msgpack, PHPUnit, the PSR-16
# interfaces, and for the tests and benchmark phpredis and symfony/cache.
"$repo/ci/apt-install.sh" php-cli php-msgpack phpunit php-psr-simple-cache php-redis php-symfony-cache redis-server gcc
php -r 'exit(extension_loaded("ffi") ? 0 : 1);' || { echo "bindings/php/ci.sh: this PHP has no FFI extension (php -m)" >&2; exit 1; }

CACHEKIT_LIBRARY="${CACHEKIT_LIBRARY:-$("$repo/ci/core-lib.sh")}"
export CACHEKIT_LIBRARY

if [ -z "${CACHEKIT_TEST_REDIS_URL:-}" ]; then
  echo "bindings/php/ci.sh: CACHEKIT_TEST_REDIS_URL is not set; the Redis tests will fail." >&2
  echo "  start one with: export CACHEKIT_TEST_REDIS_URL=\$(ci/redis.sh start php)" >&2
fi

# The Python side of the cross-language test.
"$repo/bindings/python/venv.sh" >/dev/null

echo "== php: generate the FFI header from include/cachekit.h"
php "$here/bin/gen-header.php"

echo "== php: syntax"
find "$here/src" "$here/tests" "$here/bin" "$here"/*.php "$repo/examples/php" "$repo/bench/php" -name '*.php' -print0 \
  | xargs -0 -n1 php -l >/dev/null

echo "== php: phpunit"
cd "$here"
phpunit -c phpunit.xml.dist "$@"
