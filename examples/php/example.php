<?php

declare(strict_types=1);

/*
 * A runnable cachekit example for PHP: a PSR-16 cache, remember(), a
 * function memoised with wrap(), health. Uses Redis when CACHEKIT_REDIS_URL
 * (or REDIS_URL) is set, else runs L1-only.
 *
 *   cargo build --lib                                  # the core, once
 *   php examples/php/example.php                       # L1-only
 *   CACHEKIT_REDIS_URL=redis://127.0.0.1:6379 php examples/php/example.php
 *
 * Debian packages: php-cli php-msgpack php-psr-simple-cache. The core is
 * found through CACHEKIT_LIBRARY, else target/debug or target/release.
 */

require __DIR__ . '/../../bindings/php/autoload.php';

use Cachekit\Cache;

function timed(string $label, callable $fn): void
{
    $t = hrtime(true);
    $value = $fn();
    printf("%-30s %8.2f ms  %s\n", $label, (hrtime(true) - $t) / 1e6, json_encode($value));
}

$cache = new Cache('example', ['ttl' => 60]);   // settings from CACHEKIT_* (L1-only without a Redis URL)

// PSR-16.
$cache->set('greeting', ['text' => 'hello', 'at' => new DateTimeImmutable('2024-01-01T12:00:00+00:00')], 300);
timed('get(greeting)', static fn () => $cache->get('greeting')['text']);
timed('get(absent, default)', static fn () => $cache->get('absent', 'default'));

// remember(): one computation per key, then hits.
$cache->delete('report');
$report = static function (): array {
    usleep(200_000); // an expensive query
    return ['rows' => 1234];
};
timed('remember(report) miss', static fn () => $cache->remember('report', 60, $report));
timed('remember(report) hit', static fn () => $cache->remember('report', 60, $report));

// wrap(): memoised by arguments; Python's @cache(namespace="example", operation="square") shares these entries.
$square = $cache->wrap('example', 'square', static function (int $x): array {
    usleep(200_000);
    return ['x' => $x, 'square' => $x * $x];
});
$square->invalidate(12);
timed('square(12) miss', static fn () => $square(12));
timed('square(12) hit', static fn () => $square(12));
timed('square(12.0) hit (2.0 == 2)', static fn () => $square(12.0));
echo 'key: ', $square->key(12), "\n";

$health = $cache->health();
echo 'backend: ', $health['backend'], ' | breaker: ', $health['circuit_breaker']['state'], ' | L1 entries: ', $health['l1']['entries'], "\n";
