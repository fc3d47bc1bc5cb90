<?php
// One php-fpm request: a miss whose Redis write is still behind the caller
// when the request ends (the worker may be recycled right after it).
declare(strict_types=1);

require __DIR__ . '/../../bindings/php/autoload.php';

$ns = (string) ($_GET['ns'] ?? '');
$i = (int) ($_GET['i'] ?? 0);
$cache = new Cachekit\Cache($ns, ['l1_enabled' => false]);
$v = $cache->remember("k-$i", 300, fn () => ['x' => $i, 'pid' => getmypid()]);
echo 'ok ', $v['x'], ' ', getmypid(), "\n";
