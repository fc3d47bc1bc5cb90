<?php
// After the php-fpm run (CLI): every request's value reached Redis.
declare(strict_types=1);

require __DIR__ . '/../../bindings/php/autoload.php';

[, $ns, $n] = $argv;
$cache = new Cachekit\Cache($ns, ['l1_enabled' => false]);
$hits = 0;
for ($i = 1; $i <= (int) $n; $i++) {
    $v = $cache->get("k-$i");
    if (is_array($v) && $v['x'] === $i) {
        $hits++;
    }
}
echo "ok $hits\n";
