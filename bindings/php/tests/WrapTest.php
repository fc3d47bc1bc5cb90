<?php

declare(strict_types=1);

namespace Cachekit\Tests;

use Cachekit\Arg\Set;
use Cachekit\Cache;
use Cachekit\Client;
use Cachekit\Exception\ConfigurationException;
use Cachekit\Exception\SerializationException;
use PHPUnit\Framework\TestCase;

/** wrap(): a function memoised by its arguments. */
final class WrapTest extends TestCase
{
    public function testEqualArgumentsHitAndDifferentArgumentsCompute(): void
    {
        $c = Support::cache('wrap');
        $calls = [];
        $f = $c->wrap(Support::ns('wrap'), 'get_user', static function (int $id) use (&$calls) {
            $calls[] = $id;
            return ['id' => $id, 'name' => "user {$id}"];
        });
        $this->assertSame(['id' => 1, 'name' => 'user 1'], $f(1));
        $this->assertSame(['id' => 1, 'name' => 'user 1'], $f(1));
        $this->assertSame(['id' => 2, 'name' => 'user 2'], $f(2));
        $this->assertSame([1, 2], $calls);
    }

    public function testAnIntegralFloatAndTheIntShareAKey(): void
    {
        $c = Support::cache('wrap');
        $calls = 0;
        $f = $c->wrap(Support::ns('wrap'), 'scale', static function (int|float $x) use (&$calls) {
            $calls++;
            return $x * 10;
        });
        $this->assertSame($f->key(2), $f->key(2.0));
        $this->assertSame($f->key(0), $f->key(-0.0));
        $this->assertNotSame($f->key(2), $f->key(2.5));
        $this->assertSame(20, $f(2));
        $this->assertSame(20, $f(2.0), '2.0 hits the entry of 2');
        $this->assertSame(1, $calls);
    }

    public function testNamedArgumentsAndDefaultsBindToPositions(): void
    {
        $c = Support::cache('wrap');
        $calls = 0;
        $f = $c->wrap(Support::ns('wrap'), 'page', static function (string $q, int $page = 1, int $size = 20) use (&$calls) {
            $calls++;
            return "{$q}/{$page}/{$size}";
        });
        $this->assertSame($f->key('x', 1, 20), $f->key('x'));
        $this->assertSame($f->key('x', 1, 20), $f->key(q: 'x', size: 20));
        $this->assertSame($f->key('x', 3, 20), $f->key('x', page: 3));
        $this->assertNotSame($f->key('x', 1, 20), $f->key('x', 2));
        $this->assertSame('x/1/20', $f('x'));
        $this->assertSame('x/1/20', $f(q: 'x', page: 1));
        $this->assertSame(1, $calls);
    }

    public function testMapKeyOrderAndSetOrderDoNotMatter(): void
    {
        $c = Support::cache('wrap');
        $f = $c->wrap(Support::ns('wrap'), 'search', static fn (array $filters, Set $tags) => 1);
        $this->assertSame(
            $f->key(['a' => 1, 'b' => 2], new Set(['x', 'y'])),
            $f->key(['b' => 2, 'a' => 1], new Set(['y', 'x', 'x'])),
        );
    }

    public function testAnExceptionPropagatesAndIsNotCached(): void
    {
        $c = Support::cache('wrap');
        $fail = true;
        $calls = 0;
        $f = $c->wrap(Support::ns('wrap'), 'flaky', static function (int $x) use (&$fail, &$calls) {
            $calls++;
            if ($fail) {
                throw new \RuntimeException("no {$x} today");
            }
            return $x;
        });
        try {
            $f(5);
            $this->fail('the exception did not propagate');
        } catch (\RuntimeException $e) {
            $this->assertSame('no 5 today', $e->getMessage());
        }
        $fail = false;
        $this->assertSame(5, $f(5));
        $this->assertSame(5, $f(5));
        $this->assertSame(2, $calls, 'computed again after the failure, then cached');
    }

    public function testInvalidateForgetsOneCallAndClearTheOperation(): void
    {
        $c = Support::cache('wrap');
        $calls = 0;
        $f = $c->wrap(Support::ns('wrap'), 'sq', static function (int $x) use (&$calls) {
            $calls++;
            return $x * $x;
        });
        $f(3);
        $f(4);
        $this->assertTrue($f->invalidate(3));
        $f(3);
        $f(4);
        $this->assertSame(3, $calls);
        $f->clear();
        $f(3);
        $f(4);
        $this->assertSame(5, $calls);
    }

    public function testAnArgumentWithoutMessagePackFormIsRefused(): void
    {
        $c = Support::cache('wrap');
        $f = $c->wrap(Support::ns('wrap'), 'op', static fn ($x) => 1);
        $this->expectException(SerializationException::class);
        $f(new \stdClass());
    }

    public function testOptionsApplyToTheWrappedNamespace(): void
    {
        $c = Support::cache('wrap');
        $ns = Support::ns('wrap');
        $f = $c->wrap($ns, 'op', static fn (int $x) => $x, ['ttl' => 77]);
        $f(1);
        Support::client()->flush();
        $ttl = Support::redis()->ttl($f->key(1));
        $this->assertGreaterThan(60, $ttl);
        $this->assertLessThanOrEqual(77, $ttl);
        $interop = $c->wrap('plain-ns', 'get_user', static fn (int $id) => $id, ['format' => 'interop']);
        $this->assertSame('plain-ns:get_user:61598716255080080f6456eb065c2e51badfaa4320b0efe97469c29cffee8875', $interop->key(42));
    }

    public function testAnInvalidOperationIsRefusedWhenTheFunctionIsWrapped(): void
    {
        $c = Support::cache('wrap');
        try {
            $c->wrap('users', 'getUser', static fn () => 1, ['format' => 'interop']);
            $this->fail('an upper-case interop operation was accepted by wrap()');
        } catch (ConfigurationException $e) {
            $this->assertStringContainsString('getUser', $e->getMessage(), 'the core\'s message names the operation');
        }
        $this->expectException(ConfigurationException::class);
        $c->wrap(Support::ns('wrap'), 'bad:op', static fn () => 1); // envelope rules: no ':' in an operation
    }

    public function testAValidInteropOperationIsAccepted(): void
    {
        $f = Support::cache('wrap')->wrap('users', 'get_user', static fn (int $id) => $id, ['format' => 'interop']);
        $this->assertSame('get_user', $f->operation());
    }

    public function testTheInteropFormatNeedsAnExplicitNamespace(): void
    {
        foreach ([
            static fn () => new Cache(options: ['format' => 'interop'], client: Support::client()),
            static fn () => Support::client()->cache(options: ['format' => 'interop']),
        ] as $i => $make) {
            try {
                $make();
                $this->fail("form {$i}: an interop cache took the default namespace");
            } catch (ConfigurationException $e) {
                $this->assertStringContainsString('explicit namespace', $e->getMessage());
            }
        }
        $this->assertSame('default', Support::client()->cache()->namespace, 'the envelope format keeps its default');
        $this->assertSame('users', Support::client()->cache('users', ['format' => 'interop'])->namespace);
    }

    /** @return iterable<string, array{array<string, string>, string}> */
    public static function interopScopes(): iterable
    {
        yield 'key prefix' => [['key_prefix' => 'pfx'], 'CACHEKIT_KEY_PREFIX'];
        yield 'tenant' => [['tenant_id' => 'acme'], 'CACHEKIT_TENANT_ID'];
    }

    /**
     * @param array<string, string> $setting
     *
     * @dataProvider interopScopes
     */
    public function testInteropUnderAKeyPrefixOrTenantIsRefusedWhenTheCacheIsMade(array $setting, string $variable): void
    {
        $client = new Client(['redis_url' => Support::redisUrl()] + $setting);
        try {
            new Cache('users', ['format' => 'interop'], $client);
            $this->fail("an interop cache under {$variable} was made");
        } catch (ConfigurationException $e) {
            $this->assertStringContainsString($variable, $e->getMessage());
        }
        $envelope = new Cache('users', [], $client);
        try {
            $envelope->wrap('users', 'get_user', static fn () => 1, ['format' => 'interop']);
            $this->fail("wrap() made an interop function under {$variable}");
        } catch (ConfigurationException $e) {
            $this->assertStringContainsString($variable, $e->getMessage());
        }
    }

    /** @dataProvider interopScopes */
    public function testInteropUnderAKeyPrefixOrTenantVariableIsRefused(array $setting, string $variable): void
    {
        putenv($variable . '=' . reset($setting));
        try {
            $client = new Client(['redis_url' => Support::redisUrl()]);
            $this->expectException(ConfigurationException::class);
            $this->expectExceptionMessage($variable);
            new Cache('users', ['format' => 'interop'], $client);
        } finally {
            putenv($variable);
        }
    }
}
