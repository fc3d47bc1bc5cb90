<?php

declare(strict_types=1);

/*
 * PHP benchmark: cachekit (the core over FFI) against what a PHP user would
 * pick, alternately in the same process, several rounds; medians and ratios.
 * bench/php/run.sh starts the Redis and writes docs/benchmarks-php.md.
 *
 *   php bench/php/bench.php REDIS_URL [ROUNDS] [BATCH_MS]
 *
 * Scenarios, each with the same small array payload:
 *   L1 hit          cachekit get() from its in-process L1, vs symfony/cache
 *                   Psr16Cache over ArrayAdapter (its in-process pool) and over
 *                   ChainAdapter(Array, Redis) (its two-level setup)
 *   L2 hit          cachekit get() with L1 off (one Redis GET), vs Psr16Cache
 *                   over RedisAdapter, vs raw phpredis GET + msgpack_unpack
 *   miss then store cachekit remember() on a new key (lookup, fill lease,
 *                   store), vs symfony's own remember (RedisAdapter::get with
 *                   a callback, contracts), vs raw phpredis GET + SET EX + msgpack_pack
 */

require __DIR__ . '/../../bindings/php/autoload.php';
require_once '/usr/share/php/Symfony/Component/Cache/autoload.php';

use Cachekit\Cache;
use Cachekit\Client;
use Symfony\Component\Cache\Adapter\ArrayAdapter;
use Symfony\Component\Cache\Adapter\ChainAdapter;
use Symfony\Component\Cache\Adapter\RedisAdapter;
use Symfony\Component\Cache\Psr16Cache;
use Symfony\Contracts\Cache\ItemInterface;

$url = $argv[1] ?? exit("usage: bench.php REDIS_URL [ROUNDS] [BATCH_MS]\n");
$rounds = (int) ($argv[2] ?? 7);
$batchMs = (float) ($argv[3] ?? 150);
$p = parse_url($url);

$payload = [
    'id' => 42,
    'name' => 'Alice Example',
    'email' => 'alice@example.com',
    'roles' => ['admin', 'dev'],
    'active' => true,
    'score' => 12.5,
    'created' => '2024-01-01T12:00:00+00:00',
];

function redis(array $p): Redis
{
    $r = new Redis();
    $r->connect($p['host'], (int) $p['port']);
    return $r;
}

$run = bin2hex(random_bytes(3));
$client = new Client(['redis_url' => $url]);
$ckL1 = new Cache("bench-{$run}", ['ttl' => 600], $client);
$ckL2 = new Cache("bench-{$run}", ['ttl' => 600, 'l1_enabled' => false], $client);
$ckMiss = new Cache("bench-miss-{$run}", ['ttl' => 600], $client);
// The same without the Redis fill lock (single-flight within the process only), as the peers do.
$ckMissNoLock = new Cache("bench-missnl-{$run}", ['ttl' => 600, 'distributed_lock' => false], $client);

$sfArray = new Psr16Cache(new ArrayAdapter());                    // defaults: values kept serialized, as ours are
$sfRedisAdapter = new RedisAdapter(redis($p), "sf-{$run}", 600);
$sfRedis = new Psr16Cache($sfRedisAdapter);
$sfChain = new Psr16Cache(new ChainAdapter([new ArrayAdapter(), new RedisAdapter(redis($p), "sfc-{$run}", 600)]));
$sfMiss = new RedisAdapter(redis($p), "sfm-{$run}", 600);
$raw = redis($p);

foreach ([$ckL1, $sfArray, $sfRedis, $sfChain] as $c) {
    $c->set('user', $payload);
}
$raw->set("raw-{$run}:user", msgpack_pack($payload), ['EX' => 600]);
$client->flush();

$n = 0; // distinct keys for the miss scenario
$compute = static fn () => $payload;

// name => [scenario, ours?, op]
$cases = [
    ['L1 hit', 'cachekit get()', true, static fn () => $ckL1->get('user')],
    ['L1 hit', 'symfony Psr16Cache(ArrayAdapter)', false, static fn () => $sfArray->get('user')],
    ['L1 hit', 'symfony Psr16Cache(ChainAdapter(Array, Redis))', false, static fn () => $sfChain->get('user')],
    ['L2 hit', 'cachekit get(), L1 off', true, static fn () => $ckL2->get('user')],
    ['L2 hit', 'symfony Psr16Cache(RedisAdapter)', false, static fn () => $sfRedis->get('user')],
    ['L2 hit', 'phpredis GET + msgpack_unpack', false, static fn () => msgpack_unpack($raw->get("raw-{$run}:user"))],
    ['miss then store', 'cachekit remember()', true, static function () use ($ckMiss, $compute, &$n) {
        return $ckMiss->remember('k' . ++$n, 600, $compute);
    }],
    ['miss then store', 'cachekit remember(), distributed_lock off', false, static function () use ($ckMissNoLock, $compute, &$n) {
        return $ckMissNoLock->remember('k' . ++$n, 600, $compute);
    }],
    ['miss then store', 'symfony RedisAdapter::get(key, callback)', false, static function () use ($sfMiss, $payload, &$n) {
        return $sfMiss->get('k' . ++$n, static function (ItemInterface $item) use ($payload) {
            $item->expiresAfter(600);
            return $payload;
        });
    }],
    ['miss then store', 'phpredis GET + SET EX + msgpack_pack', false, static function () use ($raw, $payload, $run, &$n) {
        $k = "raw-{$run}:k" . ++$n;
        $v = $raw->get($k);
        if ($v === false) {
            $raw->set($k, msgpack_pack($payload), ['EX' => 600]);
            return $payload;
        }
        return msgpack_unpack($v);
    }],
];

// Sanity: every contender returns the payload.
foreach ($cases as [$scenario, $name, , $op]) {
    if ($op() != $payload) {
        fwrite(STDERR, "{$scenario} / {$name}: wrong value\n");
        exit(1);
    }
}

// Calibrate a batch size per case to ~BATCH_MS.
$iters = [];
foreach ($cases as $i => [, , , $op]) {
    $k = 50;
    do {
        $t = hrtime(true);
        for ($j = 0; $j < $k; $j++) {
            $op();
        }
        $ms = (hrtime(true) - $t) / 1e6;
        $k *= 2;
    } while ($ms < $batchMs / 4 && $k < 10_000_000);
    $iters[$i] = max(50, (int) ($k / 2 * $batchMs / max($ms, 0.001)));
}

$samples = array_fill(0, \count($cases), []);
for ($r = 0; $r < $rounds; $r++) {
    // Alternate: every case once per round, in a rotated order.
    $order = array_keys($cases);
    $order = array_merge(\array_slice($order, $r % \count($order)), \array_slice($order, 0, $r % \count($order)));
    foreach ($order as $i) {
        $op = $cases[$i][3];
        $k = $iters[$i];
        $t = hrtime(true);
        for ($j = 0; $j < $k; $j++) {
            $op();
        }
        $samples[$i][] = (hrtime(true) - $t) / $k;
    }
}
$client->flush();

function median(array $xs): float
{
    sort($xs);
    $m = intdiv(\count($xs), 2);
    return \count($xs) % 2 ? $xs[$m] : ($xs[$m - 1] + $xs[$m]) / 2;
}

function fmt(float $ns): string
{
    return $ns >= 10_000 ? sprintf('%.1f µs', $ns / 1000) : sprintf('%.2f µs', $ns / 1000);
}

$med = array_map('median', $samples);
$ours = [];
foreach ($cases as $i => [$scenario, , $isOurs]) {
    if ($isOurs) {
        $ours[$scenario] = $med[$i];
    }
}
echo "| scenario | implementation | median per op | min..max of rounds | cachekit time ÷ this time |\n";
echo "|---|---|---:|---:|---:|\n";
foreach ($cases as $i => [$scenario, $name, $isOurs]) {
    printf(
        "| %s | %s | %s | %s .. %s | %s |\n",
        $scenario,
        $isOurs ? "**{$name}**" : $name,
        fmt($med[$i]),
        fmt(min($samples[$i])),
        fmt(max($samples[$i])),
        $isOurs ? '1.00' : sprintf('%.2f', $ours[$scenario] / $med[$i]),
    );
}
printf("\nRounds: %d; batch ≈ %d ms per case and round; ops per batch: %s.\n", $rounds, $batchMs, implode(', ', $iters));
