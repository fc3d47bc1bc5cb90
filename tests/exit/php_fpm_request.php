<?php
// One php-fpm request: a miss whose Redis write is still behind the caller
// when the request ends (the worker may be recycled right after it).
declare(strict_types=1);

require __DIR__ . '/../../bindings/php/autoload.php';

$ns = (string) ($_GET['ns'] ?? '');
$i = (int) ($_GET['i'] ?? 0);
$cache = new Cachekit\Cache($ns, ['l1_enabled' => false]);
// A day: the long loop (ci/exit-soak.sh) runs longer than any shorter TTL,
// and the check afterwards reads every value.
$v = $cache->remember("k-$i", 86400, fn () => ['x' => $i, 'pid' => getmypid()]);
echo 'ok ', $v['x'], ' ', getmypid(), "\n";
