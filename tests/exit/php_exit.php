<?php
// Exits right after misses whose Redis writes are still behind the caller.
// Prints one line; exits 0 with nothing on stderr, or the run failed.
declare(strict_types=1);

require __DIR__ . '/../../bindings/php/autoload.php';

[, $ns, $run] = $argv;
$cache = new Cachekit\Cache($ns, ['l1_enabled' => false]);
$a = $cache->remember("a-$run", 60, fn () => ['x' => (int) $run]);
$b = $cache->remember("b-$run", 60, fn () => ['x' => (int) $run]);
$cache->set("c-$run", ['x' => (int) $run]);
echo 'ok ', $a['x'], ' ', $b['x'], "\n";
