<?php

declare(strict_types=1);

// The demo's PHP reader: the same cached function (namespace "demo",
// operation "price"). Python cached the value: this call is a hit, and the
// function below does not run.

require __DIR__ . '/../../bindings/php/autoload.php';

use Cachekit\Cache;

$sku = $argv[1] ?? 'sku-42';
$ran = false;
$price = (new Cache('demo', ['ttl' => 300]))->wrap('demo', 'price', function (string $sku) use (&$ran): array {
    $ran = true;
    return ['sku' => $sku, 'price' => 0, 'currency' => 'EUR', 'in_stock' => false, 'computed_by' => 'php'];
});

$t = hrtime(true);
$value = $price($sku);
$ms = (hrtime(true) - $t) / 1e6;
$how = $ran ? 'MISS: the function ran' : 'hit (the function did not run)';
printf("php     price('%s') %s in %8.2f ms: %s\n", $sku, $how, $ms, json_encode($value));
exit($ran ? 1 : 0);
