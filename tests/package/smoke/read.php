<?php

declare(strict_types=1);

// PHP reader of the packaging test: greet("world") in NAMESPACE must be a
// hit of the value Python wrote (the function does not run). Composer's
// autoloader only: no CACHEKIT_LIBRARY, no CACHEKIT_HEADER.
//   php read.php NAMESPACE

require getcwd() . '/vendor/autoload.php';

use Cachekit\Cache;

$ns = $argv[1];
$runs = 0;
$cache = new Cache($ns, ['ttl' => 600]);
$greet = $cache->wrap($ns, 'greet', static function (string $name) use (&$runs): string {
    $runs++;
    return "computed by php for {$name}";
});
$value = $greet('world');
if ($runs !== 0 || $value !== 'hello from python') {
    fwrite(STDERR, "php: not a hit of python's value: runs={$runs} value=" . var_export($value, true) . "\n");
    exit(1);
}
echo 'php: hit ', json_encode($value), "\n";
