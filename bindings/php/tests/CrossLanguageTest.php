<?php

declare(strict_types=1);

namespace Cachekit\Tests;

use Cachekit\Cache;
use Cachekit\Client;
use PHPUnit\Framework\TestCase;

/**
 * PHP and Python share entries: same namespace, operation and arguments give
 * the same key and the same value format, through the one core; on one
 * server and, when the test command names one (CACHEKIT_TEST_CLUSTER_URL),
 * on a Redis Cluster, with the URL the only change.
 */
final class CrossLanguageTest extends TestCase
{
    /** @return array<string, array{0: ?string}> */
    public static function targets(): array
    {
        $targets = ['one server' => [null]];
        $cluster = getenv('CACHEKIT_TEST_CLUSTER_URL');
        if (\is_string($cluster) && $cluster !== '') {
            $targets['Redis Cluster'] = [$cluster];
        }
        return $targets;
    }

    private static function url(?string $cluster): string
    {
        return $cluster ?? Support::redisUrl();
    }

    private static function client(?string $cluster): Client
    {
        return $cluster === null ? Support::client() : Client::shared(['redis_url' => $cluster]);
    }

    /** @return array<string, mixed> */
    private function python(string $mode, string $ns, string $url): array
    {
        $repo = \dirname(__DIR__, 3);
        $py = getenv('CACHEKIT_TEST_PYTHON') ?: $repo . '/build/venv-python/bin/python';
        $this->assertFileExists($py, 'the Python test interpreter (bindings/python/ci.sh makes build/venv-python; CACHEKIT_TEST_PYTHON overrides)');
        [$code, $out, $err] = Support::run([$py, $repo . '/tests/cross/cross.py', 'php', $mode, $ns], [
            'PYTHONPATH' => $repo . '/bindings/python/src',
            'CACHEKIT_LIBRARY' => Support::library(),
            'CACHEKIT_REDIS_URL' => $url,
        ]);
        $this->assertSame(0, $code, "python {$mode} failed: {$err}");
        return json_decode(trim($out), true, 512, JSON_THROW_ON_ERROR);
    }

    /** @dataProvider targets */
    public function testAnEntryWrittenByPythonIsAHitInPhp(?string $cluster): void
    {
        $ns = Support::ns('xlang');
        $wrote = $this->python('write', $ns, self::url($cluster));
        $this->assertSame(3, $wrote['computed']);

        // Fresh handles, L1 empty: the values come from Redis.
        $c = new Cache($ns, [], self::client($cluster));
        $this->assertSame(['written_by' => 'python', 'key' => 'from-python'], $c->get('from-python'), 'a PSR-16 get() reads Python\'s psr16 entry');
        $add = $c->wrap($ns, 'add', fn (int $a, int $b) => $this->fail('PHP recomputed add(2, 3)'));
        $this->assertSame(['sum' => 5, 'written_by' => 'python'], $add(2, 3));
        $this->assertSame(['sum' => 5, 'written_by' => 'python'], $add(2.0, 3), '2.0 is the key of 2 in both languages');
        $when = $c->wrap($ns, 'when', fn (string $label) => $this->fail('PHP recomputed when()'));
        $at = $when('py');
        $this->assertInstanceOf(\DateTimeImmutable::class, $at);
        $this->assertSame('2024-01-01T12:30:45.123456+00:00', $at->format('Y-m-d\TH:i:s.uP'));
    }

    /** @dataProvider targets */
    public function testAnEntryWrittenByPhpIsAHitInPython(?string $cluster): void
    {
        $ns = Support::ns('xlang');
        $c = new Cache($ns, [], self::client($cluster));
        $c->set('from-php', ['written_by' => 'php', 'key' => 'from-php']);
        $calls = 0;
        $add = $c->wrap($ns, 'add', static function (int $a, int $b) use (&$calls) {
            $calls++;
            return ['sum' => $a + $b, 'written_by' => 'php'];
        });
        $this->assertSame(['sum' => 9, 'written_by' => 'php'], $add(4, 5));
        $c->wrap($ns, 'when', static fn (string $label) => new \DateTimeImmutable('2030-06-01T08:00:00.5+02:00'))('php');
        self::client($cluster)->flush(); // the writes made behind the calls land before Python looks

        $read = $this->python('read', $ns, self::url($cluster));
        $this->assertSame(0, $read['computed'], 'Python computed nothing: every call hit PHP\'s entries');
        $this->assertSame(['written_by' => 'php', 'key' => 'from-php'], $read['psr16']);
        $this->assertSame(['sum' => 9, 'written_by' => 'php'], $read['add']);
        $this->assertSame(['datetime' => '2030-06-01T08:00:00.500000+02:00'], $read['when']);
    }
}
