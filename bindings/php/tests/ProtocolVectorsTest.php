<?php

declare(strict_types=1);

namespace Cachekit\Tests;

use Cachekit\Arg\BigInt;
use Cachekit\Arg\Bytes;
use Cachekit\Arg\Set;
use Cachekit\Arg\Uuid;
use Cachekit\Cache;
use Cachekit\Client;
use Cachekit\Exception\CachekitException;
use Cachekit\Memoized;
use PHPUnit\Framework\TestCase;

/**
 * The protocol's interop key vectors (tests/vectors/interop-mode.json) through
 * the PHP argument encoding and ck_make_key, in interop mode: every
 * key_vector gives its expected key, every error_vector is refused.
 */
final class ProtocolVectorsTest extends TestCase
{
    /**
     * Error vectors whose input PHP cannot hold: a DateTimeInterface always
     * has a time zone, so there is no naive datetime to refuse. Pinned, so a
     * new vector is never silently left out.
     */
    private const INEXPRESSIBLE = ['reject_naive_datetime', 'reject_naive_datetime_nested'];

    private static \stdClass $file;

    /** @var array<string, Cache> */
    private array $caches = [];

    public static function setUpBeforeClass(): void
    {
        $path = \dirname(__DIR__, 3) . '/tests/vectors/interop-mode.json';
        self::$file = json_decode((string) file_get_contents($path), false, 512, JSON_THROW_ON_ERROR);
    }

    private function fn(string $ns, string $op): Memoized
    {
        // L1-only: key derivation needs no Redis.
        $cache = $this->caches[$ns] ??= new Cache($ns, ['format' => 'interop'], Client::shared(['redis_url' => null]));
        return $cache->wrap($ns, $op, static fn (mixed ...$args) => null);
    }

    public function testEveryKeyVectorGivesItsKey(): void
    {
        $vectors = self::$file->key_vectors;
        $this->assertGreaterThanOrEqual(44, \count($vectors));
        foreach ($vectors as $v) {
            $args = self::untag($v->args);
            $this->assertNotInstanceOf(Inexpressible::class, $args, $v->name);
            $this->assertSame($v->expected_key, $this->fn($v->namespace, $v->operation)->key(...$args), $v->name);
        }
    }

    public function testEveryErrorVectorIsRefused(): void
    {
        $inexpressible = [];
        foreach (self::$file->error_vectors as $v) {
            try {
                $args = self::untag($v->args);
                if ($args instanceof Inexpressible) {
                    $inexpressible[] = $v->name;
                    continue;
                }
                $key = $this->fn($v->namespace ?? 't', $v->operation ?? 'op')->key(...$args);
                $this->fail("{$v->name}: accepted as {$key}, want an error: {$v->error}");
            } catch (CachekitException $e) {
                $this->assertContains(
                    $e->status(),
                    ['', 'CK_ENCODE', 'CK_INVALID_KEY', 'CK_CONFIG'],
                    "{$v->name}: refused with an unexpected status: {$e->getMessage()}",
                );
            }
        }
        sort($inexpressible);
        $this->assertSame(self::INEXPRESSIBLE, $inexpressible);
    }

    /** The file's tagged JSON to PHP values, as a PHP caller would write them. */
    private static function untag(mixed $v): mixed
    {
        if (\is_array($v)) {
            $out = [];
            foreach ($v as $x) {
                $u = self::untag($x);
                if ($u instanceof Inexpressible) {
                    return $u;
                }
                $out[] = $u;
            }
            return $out;
        }
        if (!$v instanceof \stdClass) {
            return $v;
        }
        $props = get_object_vars($v);
        if (\count($props) === 1) {
            $tag = array_key_first($props);
            $x = $props[$tag];
            switch ($tag) {
                case '$int':
                    $i = filter_var($x, FILTER_VALIDATE_INT);
                    return $i !== false ? $i : new BigInt($x); // BigInt refuses what 64 bits cannot hold
                case '$float':
                    // PHP reads "nan" as 0.0, so NaN is spelt out; "1e999" is INF as in every parser.
                    return strtolower($x) === 'nan' ? NAN : (float) $x;
                case '$bytes':
                    return new Bytes((string) hex2bin($x));
                case '$uuid':
                    return new Uuid($x);
                case '$datetime':
                    if (!preg_match('/(Z|[+-]\d\d:\d\d)$/', $x)) {
                        return new Inexpressible();
                    }
                    return new \DateTimeImmutable($x);
                case '$set':
                    $elems = self::untag($x);
                    return $elems instanceof Inexpressible ? $elems : new Set($elems);
                default:
                    if (str_starts_with((string) $tag, '$')) {
                        throw new \UnexpectedValueException("unknown tag {$tag}");
                    }
            }
        }
        $out = [];
        foreach ($props as $k => $x) {
            $u = self::untag($x);
            if ($u instanceof Inexpressible) {
                return $u;
            }
            $out[$k] = $u;
        }
        return $out;
    }
}

/** @internal marks a vector input PHP has no value for */
final class Inexpressible
{
}
