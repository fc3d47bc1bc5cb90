<?php
// The PHP process of tests/prometheus/run.sh: a route of PHP's built-in
// server (`php -S 127.0.0.1:PORT router.php`), GET /metrics, serving the
// core's exposition text, as a PHP application serves its own.
//
// PHP's request model: the client, its caches and their counters live for
// one request (Client::shared() is per request; the binding frees the client
// at the request's end), so the request that serves the metrics is the one
// that does the caching work. Each scrape runs one round of the workload
// (namespace CACHEKIT_PROM_NAMESPACE with L1, and its "-l2" twin without)
// and serves that request's counters: they start from 0 at every request.

declare(strict_types=1);

require __DIR__ . '/../../bindings/php/autoload.php';

use Cachekit\Cache;

if (parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH) !== '/metrics') {
    http_response_code(404);
    return;
}

$ns = getenv('CACHEKIT_PROM_NAMESPACE') ?: 'prom-php';
$withL1 = new Cache($ns, ['ttl' => 60]);
$noL1 = new Cache($ns . '-l2', ['ttl' => 60, 'l1_enabled' => false]);
$square = static fn (int $n): int => $n * $n;
$f = $withL1->wrap($ns, 'square', $square);
$g = $noL1->wrap($ns . '-l2', 'square', $square);

$r = intdiv(hrtime(true), 1_000_000);   // a new round number per request (ms)
for ($i = 0; $i < 5; $i++) {
    $f($r * 5 + $i);   // miss: fill, set
    $f($r * 5 + $i);   // L1 hit
}
$f->invalidate($r * 5);   // delete
for ($i = 0; $i < 3; $i++) {
    $g($i);   // L2 hits after the first request
}
$g(1000 + $r);
$g->invalidate(1000 + $r);

header('Content-Type: text/plain; version=0.0.4; charset=utf-8');
echo $withL1->metrics();
