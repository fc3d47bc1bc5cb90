<?php

declare(strict_types=1);

namespace Cachekit\Tests;

use Cachekit\Cache;
use Cachekit\Exception\CachekitException;
use PHPUnit\Framework\TestCase;
use Psr\SimpleCache\CacheInterface;
use Psr\SimpleCache\InvalidArgumentException;

/** The PSR-16 contract, against the real test Redis. */
final class Psr16Test extends TestCase
{
    public function testAClosedClientRefusesEveryCallAndWritesNothing(): void
    {
        $client = new \Cachekit\Client(['redis_url' => Support::redisUrl()]);
        $ns = Support::ns('closing');
        $cache = new Cache($ns, [], $client);
        $cache->set('a', 1);
        self::assertSame(0, $client->close());
        foreach (['get' => fn () => $cache->get('a'), 'set' => fn () => $cache->set('b', 2)] as $what => $call) {
            try {
                $call();
                self::fail("$what after close did not throw");
            } catch (CachekitException $e) {
                self::assertSame('CK_CLOSED', $e->status(), $what);
            }
        }
        self::assertSame(0, $client->close(), 'twice is harmless');
        $other = new Cache($ns, [], new \Cachekit\Client(['redis_url' => Support::redisUrl()]));
        self::assertSame(1, $other->get('a'), 'written before close');
        self::assertNull($other->get('b'), 'nothing written after close');
    }

    public function testIsAPsr16Cache(): void
    {
        $this->assertInstanceOf(CacheInterface::class, Support::cache('psr'));
    }

    public function testAMissingKeyGivesTheDefault(): void
    {
        $c = Support::cache('psr');
        $this->assertNull($c->get('absent'));
        $this->assertSame('fallback', $c->get('absent', 'fallback'));
        $this->assertFalse($c->has('absent'));
    }

    /** @return iterable<string, array{mixed}> */
    public static function values(): iterable
    {
        yield 'string' => ['hello wörld'];
        yield 'empty string' => [''];
        yield 'int' => [42];
        yield 'negative int' => [PHP_INT_MIN];
        yield 'float' => [3.5];
        yield 'integral float stays float' => [2.0];
        yield 'true' => [true];
        yield 'false' => [false];
        yield 'list' => [[1, 'two', 3.5, null, true]];
        yield 'map' => [['name' => 'alice', 'age' => 30, 'tags' => ['a', 'b']]];
        yield 'int-keyed map' => [[5 => 'five', 9 => 'nine']];
        yield 'binary string' => ["\xff\x00\xfe binary"];
        yield 'empty array' => [[]];
    }

    /** @dataProvider values */
    public function testAStoredValueComesBackEqual(mixed $value): void
    {
        $c = Support::cache('psr');
        $this->assertTrue($c->set('k', $value));
        $this->assertSame($value, $c->get('k', 'default'));
        $this->assertTrue($c->has('k'));
    }

    public function testAValueIsReadFromRedisByAnotherCacheWithoutL1(): void
    {
        $c = Support::cache('psr');
        $c->set('shared', ['id' => 7]);
        Support::client()->flush();
        $this->assertSame(1, Support::redis()->exists($c->redisKey('shared')), 'the entry is in Redis under its key');
        $noL1 = new Cache($c->namespace, ['l1_enabled' => false], Support::client());
        $this->assertSame(['id' => 7], $noL1->get('shared'));
    }

    public function testADateTimeComesBackAsDateTimeImmutable(): void
    {
        $c = Support::cache('psr');
        $when = new \DateTime('2024-01-01T12:30:45.123456+05:30');
        $c->set('when', ['at' => $when]);
        $back = $c->get('when')['at'];
        $this->assertInstanceOf(\DateTimeImmutable::class, $back);
        $this->assertSame($when->format('Y-m-d\TH:i:s.uP'), $back->format('Y-m-d\TH:i:s.uP'));
    }

    public function testAnObjectIsRefusedWithAPsrException(): void
    {
        $c = Support::cache('psr');
        $this->expectException(CachekitException::class);
        $c->set('obj', new \stdClass());
    }

    public function testDeleteRemovesTheEntry(): void
    {
        $c = Support::cache('psr');
        $c->set('k', 'v');
        $this->assertTrue($c->delete('k'));
        $this->assertFalse($c->has('k'));
        $this->assertSame('d', $c->get('k', 'd'));
        $this->assertTrue($c->delete('never-set'), 'deleting a missing key is a success');
    }

    public function testAnEntryExpiresAfterItsTtl(): void
    {
        $c = Support::cache('psr');
        $c->set('short', 'v', 1);
        $c->set('long', 'v', 60);
        $this->assertSame('v', $c->get('short'));
        usleep(1_600_000); // past the 1 s TTL (behaviour, not a timing assertion)
        $this->assertNull($c->get('short'));
        $this->assertFalse($c->has('short'));
        $this->assertSame('v', $c->get('long'));
    }

    public function testADateIntervalTtlSetsTheLifetime(): void
    {
        $c = Support::cache('psr');
        $c->set('hour', 'v', new \DateInterval('PT1H'));
        $ttl = $c->ttl('hour');
        $this->assertNotNull($ttl);
        $this->assertGreaterThan(3500, $ttl);
        $this->assertLessThanOrEqual(3600, $ttl);
        $c->set('second', 'v', new \DateInterval('PT1S'));
        usleep(1_600_000);
        $this->assertFalse($c->has('second'));
    }

    public function testNoTtlUsesTheNamespaceDefault(): void
    {
        $c = Support::cache('psr', ['ttl' => 120]);
        $c->set('k', 'v');
        $ttl = $c->ttl('k');
        $this->assertNotNull($ttl);
        $this->assertGreaterThan(100, $ttl);
        $this->assertLessThanOrEqual(120, $ttl);
    }

    public function testAZeroOrNegativeTtlDeletesTheItem(): void
    {
        $c = Support::cache('psr');
        $c->set('k', 'v');
        $this->assertTrue($c->set('k', 'new', 0));
        $this->assertFalse($c->has('k'));
        $c->set('k', 'v');
        $c->set('k', 'new', -5);
        $this->assertFalse($c->has('k'));
        $iv = new \DateInterval('PT1H');
        $iv->invert = 1;
        $c->set('k', 'v');
        $c->set('k', 'new', $iv);
        $this->assertFalse($c->has('k'));
    }

    public function testMultipleOperations(): void
    {
        $c = Support::cache('psr');
        $this->assertTrue($c->setMultiple(['a' => 1, 'b' => [2], 3 => 'three']));
        $this->assertSame(['a' => 1, 'b' => [2], 'c' => 'none', '3' => 'three'], $c->getMultiple(['a', 'b', 'c', '3'], 'none'));
        $this->assertTrue($c->deleteMultiple(['a', 'b']));
        $this->assertSame(['a' => null, 'b' => null, '3' => 'three'], $c->getMultiple(new \ArrayIterator(['a', 'b', '3'])));
    }

    public function testSetMultipleAcceptsAGeneratorAndATtl(): void
    {
        $c = Support::cache('psr');
        $gen = (static function () {
            yield 'x' => 1;
            yield 'y' => 2;
        })();
        $this->assertTrue($c->setMultiple($gen, 1));
        $this->assertSame(['x' => 1, 'y' => 2], $c->getMultiple(['x', 'y']));
        usleep(1_600_000);
        $this->assertSame(['x' => null, 'y' => null], $c->getMultiple(['x', 'y']));
    }

    public function testClearEmptiesTheNamespaceOnly(): void
    {
        $c = Support::cache('psr');
        $other = Support::cache('psr');
        $c->setMultiple(['a' => 1, 'b' => 2]);
        $other->set('a', 'kept');
        $this->assertTrue($c->clear());
        $this->assertSame(['a' => null, 'b' => null], $c->getMultiple(['a', 'b']));
        $this->assertSame('kept', $other->get('a'));
    }

    public function testClearReachesTheL1OfAnotherHandle(): void
    {
        $c = Support::cache('psr');
        $twin = new Cache($c->namespace, [], Support::client());
        $c->set('k', 'v');
        $this->assertSame('v', $twin->get('k'));
        $c->clear();
        $this->assertNull($twin->get('k'));
    }

    /** @return iterable<string, array{mixed}> */
    public static function invalidKeys(): iterable
    {
        foreach (['{', '}', '(', ')', '/', '\\', '@', ':'] as $ch) {
            yield "reserved {$ch}" => ["a{$ch}b"];
        }
        yield 'empty' => [''];
        yield 'null' => [null];
        yield 'true' => [true];
        yield 'float' => [2.5];
        yield 'array' => [['k']];
        yield 'object' => [new \stdClass()];
    }

    /** @dataProvider invalidKeys */
    public function testAnInvalidKeyThrowsThePsrInvalidArgumentException(mixed $key): void
    {
        $c = Support::cache('psr');
        $calls = [
            'get' => fn () => $c->get($key),
            'set' => fn () => $c->set($key, 'v'),
            'has' => fn () => $c->has($key),
            'delete' => fn () => $c->delete($key),
            'getMultiple' => fn () => $c->getMultiple(['ok', $key]),
            // A generator can yield keys of any type, as a caller's iterable may.
            'setMultiple' => fn () => $c->setMultiple((static function () use ($key) {
                yield 'ok' => 1;
                yield $key => 2;
            })()),
            'deleteMultiple' => fn () => $c->deleteMultiple(['ok', $key]),
        ];
        foreach ($calls as $name => $call) {
            try {
                $call();
                $this->fail("{$name}() accepted the key " . var_export($key, true));
            } catch (InvalidArgumentException $e) {
                $this->assertInstanceOf(\Psr\SimpleCache\CacheException::class, $e);
            }
        }
        $this->assertFalse($c->has('ok'), 'setMultiple validates every key before storing any');
    }

    public function testTheKeysPsr16RequiresAreAccepted(): void
    {
        $c = Support::cache('psr');
        $key = str_repeat('Az09_.', 10) . 'abcd'; // 64 characters of A-Z a-z 0-9 _ .
        $c->set($key, 'v');
        $this->assertSame('v', $c->get($key));
        $c->set('with spaces, ünicode & -+*', 'w');
        $this->assertSame('w', $c->get('with spaces, ünicode & -+*'));
    }

    public function testAnInvalidTtlThrows(): void
    {
        $c = Support::cache('psr');
        $this->expectException(InvalidArgumentException::class);
        $c->set('k', 'v', '60');
    }

    public function testNonIterableKeysThrow(): void
    {
        $c = Support::cache('psr');
        foreach ([fn () => $c->getMultiple('a'), fn () => $c->setMultiple('a'), fn () => $c->deleteMultiple(1)] as $call) {
            try {
                $call();
                $this->fail('a non-iterable was accepted');
            } catch (InvalidArgumentException) {
                $this->addToAssertionCount(1);
            }
        }
    }

    public function testTheKeyMappingIsOperationPsr16WithTheKeyAsArgument(): void
    {
        $c = Support::cache('psr');
        $direct = $c->wrap($c->namespace, Cache::PSR16_OPERATION, static fn (string $key) => "computed {$key}");
        $c->set('user-42', 'stored');
        $this->assertSame($c->redisKey('user-42'), $direct->key('user-42'));
        $this->assertSame('stored', $direct('user-42'), 'a wrap() of operation psr16 reads the PSR-16 entry');
    }
}
