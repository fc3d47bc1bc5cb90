<?php

declare(strict_types=1);

namespace Cachekit\Tests;

use Cachekit\Cache;
use PHPUnit\Framework\TestCase;

/** remember(): the cached value, or one computation per key stored for everyone. */
final class RememberTest extends TestCase
{
    public function testTheFirstCallComputesAndTheNextOnesHit(): void
    {
        $c = Support::cache('remember');
        $calls = 0;
        $fn = static function () use (&$calls) {
            $calls++;
            return ['total' => 99];
        };
        $this->assertSame(['total' => 99], $c->remember('k', 60, $fn));
        $this->assertSame(['total' => 99], $c->remember('k', 60, $fn));
        $this->assertSame(1, $calls);
        $this->assertSame(['total' => 99], $c->get('k'), 'remember() and get() share the PSR-16 entry');
    }

    public function testASetValueIsWhatRememberReturns(): void
    {
        $c = Support::cache('remember');
        $c->set('k', 'from set');
        $this->assertSame('from set', $c->remember('k', 60, fn () => $this->fail('computed despite the entry')));
    }

    public function testAnEntryWrittenByRememberIsInRedisForOtherProcesses(): void
    {
        $c = Support::cache('remember');
        $c->remember('k', 60, static fn () => 'v');
        Support::client()->flush();
        $fresh = new Cache($c->namespace, ['l1_enabled' => false], Support::client());
        $this->assertSame('v', $fresh->remember('k', 60, fn () => $this->fail('L2 entry not found')));
    }

    public function testRacingProcessesComputeOnce(): void
    {
        $url = Support::redisUrl();
        $ns = Support::ns('race');
        $counter = "test:{$ns}:computations";
        $barrier = "test:{$ns}:go";
        $redis = Support::redis();
        $procs = [];
        $n = 4;
        for ($i = 0; $i < $n; $i++) {
            $procs[] = proc_open(
                [PHP_BINARY, __DIR__ . '/fixtures/remember_child.php', $url, $ns, $counter, $barrier],
                [1 => ['pipe', 'w'], 2 => ['pipe', 'w']],
                $pipes,
            );
            $outs[] = $pipes;
        }
        for ($i = 0; $i < 500 && (int) $redis->get($barrier . ':ready') < $n; $i++) {
            usleep(10_000);
        }
        $this->assertSame($n, (int) $redis->get($barrier . ':ready'), 'every racer reached the barrier');
        $redis->set($barrier, '1');
        $results = [];
        foreach ($procs as $i => $p) {
            $out = stream_get_contents($outs[$i][1]);
            $err = stream_get_contents($outs[$i][2]);
            $this->assertSame(0, proc_close($p), "racer {$i} failed: {$err}");
            $results[] = json_decode(trim((string) $out), true);
        }
        $this->assertSame('1', $redis->get($counter), 'exactly one process computed');
        $this->assertCount(1, array_unique(array_map('json_encode', $results)), 'every racer got the one computed value');
        $this->assertSame(1, $results[0]['n']);
        $redis->del($counter, $barrier, $barrier . ':ready');
    }

    public function testAnExceptionPropagatesAndIsNotCached(): void
    {
        $c = Support::cache('remember');
        try {
            $c->remember('k', 60, static fn () => throw new \DomainException('backend exploded'));
            $this->fail('the exception did not propagate');
        } catch (\DomainException $e) {
            $this->assertSame('backend exploded', $e->getMessage());
        }
        $this->assertFalse($c->has('k'), 'nothing was cached');
        // The lease was given back: the next caller computes at once (it does not wait for a lost lease).
        $this->assertSame('second try', $c->remember('k', 60, static fn () => 'second try'));
        $this->assertSame('second try', $c->get('k'));
    }

    public function testAnUnencodableResultIsRefusedAndNotCached(): void
    {
        $c = Support::cache('remember');
        try {
            $c->remember('k', 60, static fn () => new \stdClass());
            $this->fail('an object was cached');
        } catch (\Cachekit\Exception\SerializationException) {
            $this->addToAssertionCount(1);
        }
        $this->assertFalse($c->has('k'));
        $this->assertSame(1, $c->remember('k', 60, static fn () => 1), 'the lease was released');
    }

    public function testAnUndecodableEntryIsDiscardedAndRecomputed(): void
    {
        $c = Support::cache('remember');
        // A date marker whose value is no date (a buggy writer in some language).
        $c->set('k', ['__datetime__' => true, 'value' => 'not a date']);
        $this->assertSame('default', $c->get('k', 'default'), 'get() treats it as a miss');
        $calls = 0;
        $fn = static function () use (&$calls) {
            $calls++;
            return 'recomputed';
        };
        $c->set('k2', ['__datetime__' => true, 'value' => 'not a date']);
        $this->assertSame('recomputed', $c->remember('k2', 60, $fn));
        $this->assertSame(1, $calls);
        $this->assertGreaterThanOrEqual(1, $c->health()['stats']['corrupt_entries'], 'the core counted the discarded entries');
    }

    public function testAStaleValueIsServedAndRefreshedAtShutdown(): void
    {
        $ns = Support::ns('stale');
        [$code, $out, $err] = Support::run([PHP_BINARY, __DIR__ . '/fixtures/refresh_child.php', Support::redisUrl(), $ns]);
        $this->assertSame(0, $code, $err);
        $this->assertSame(['first' => 'v1', 'second' => 'v1', 'computed_before_shutdown' => 1], json_decode(trim($out), true));
        $c = new Cache($ns, ['stale_while_revalidate' => 30, 'l1_enabled' => false], Support::client());
        $this->assertSame('v2', $c->get('k'), 'the refresh ran at shutdown and stored its value');
    }

    public function testANonPositiveTtlComputesWithoutCaching(): void
    {
        $c = Support::cache('remember');
        $this->assertSame('v', $c->remember('k', 0, static fn () => 'v'));
        $this->assertFalse($c->has('k'));
    }
}
