<?php

declare(strict_types=1);

namespace Cachekit;

use Cachekit\Exception\ConfigurationException;
use Cachekit\Exception\InvalidArgumentException;
use Cachekit\Internal\Codec;
use Cachekit\Internal\Handle;
use Psr\SimpleCache\CacheInterface;

/**
 * A PSR-16 cache over one cachekit namespace: L1 in the process, Redis behind
 * it (CACHEKIT_REDIS_URL; without it L1 only), shared with every language
 * that uses the core.
 *
 * PSR-16 keys map onto the core as operation "psr16" called with the key as
 * its one argument: the Redis key is `{namespace}:psr16:{blake2b(["key"])}`
 * (plus `:e1` in the default envelope format). So `get('user:42')` here is
 * what Python's `@cache(namespace=ns, operation="psr16") def f(key)` reads
 * for `f("user:42")`, and remember() shares entries with get()/set().
 *
 * `$options` are the core's per-namespace options (README "Per-namespace
 * options"): `ttl` (the default TTL, seconds), `format` ("envelope" |
 * "interop"), `encryption` + `master_key`, `fail_closed`, `l1_enabled`, ...
 * An unknown option is a ConfigurationException that lists the known ones.
 *
 * Fail-open: Redis down, slow or returning garbage makes calls misses, never
 * exceptions, unless the namespace is `fail_closed` (then BackendException).
 */
final class Cache implements CacheInterface
{
    /** The core operation that PSR-16 keys are arguments of. */
    public const PSR16_OPERATION = 'psr16';

    private const RESERVED = '{}()/\\@:';

    public readonly Client $client;

    private readonly Handle $handle;

    /** @var array<string, Handle> namespace + options of wrap() handles */
    private array $wrapped = [];

    /**
     * Validated keys and their argument bytes: the same keys come back again
     * and again, and encoding one costs as much as the foreign call. Bounded.
     *
     * @var array<string, string>
     */
    private array $keyArgs = [];

    private const KEY_MEMO = 1024;

    public readonly string $namespace;

    /**
     * The namespace is opened here: a configuration the core refuses (an
     * unknown option, an interop namespace under a key prefix or tenant
     * scope, ...) throws ConfigurationException now, not at the first call.
     *
     * @param string|null          $namespace default "default"; required in the interop format
     * @param array<string, mixed> $options   per-namespace options of the core
     * @param Client|null          $client    default: Client::shared() (the CACHEKIT_* environment)
     */
    public function __construct(?string $namespace = null, private readonly array $options = [], ?Client $client = null)
    {
        if ($namespace === null && ($options['format'] ?? null) === 'interop') {
            // Interop keys are shared by name with other SDKs: a default
            // namespace would share by accident (DESIGN section 4).
            throw new ConfigurationException('the interop format needs an explicit namespace (the one the other SDKs use); none was given');
        }
        $this->namespace = $namespace ??= 'default';
        $this->client = $client ?? Client::shared();
        $this->handle = new Handle($this->client, $namespace, $options);
    }

    public function get($key, $default = null): mixed
    {
        $args = $this->args($key);
        $bytes = $this->handle->get(self::PSR16_OPERATION, $args);
        if ($bytes === null) {
            return $default;
        }
        try {
            return Codec::decode($bytes);
        } catch (\UnexpectedValueException $e) {
            $this->handle->discard(self::PSR16_OPERATION, $args, 'php-msgpack cannot decode it: ' . $e->getMessage());
            return $default;
        }
    }

    public function set($key, $value, $ttl = null): bool
    {
        $args = $this->args($key);
        $ms = self::ttlMs($ttl);
        if ($ms < 0) {
            // PSR-16: a TTL of zero or less means the item is already expired.
            $this->handle->delete(self::PSR16_OPERATION, $args);
            return true;
        }
        $this->handle->set(self::PSR16_OPERATION, $args, Codec::value($value), $ms);
        return true;
    }

    public function delete($key): bool
    {
        $this->handle->delete(self::PSR16_OPERATION, $this->args($key));
        return true;
    }

    /** Deletes every entry of this namespace (PSR-16 keys and wrap() entries of the namespace alike). */
    public function clear(): bool
    {
        $this->handle->clear();
        return true;
    }

    public function getMultiple($keys, $default = null): iterable
    {
        $out = [];
        foreach (self::keyList($keys) as $key) {
            $out[$key] = $this->get($key, $default);
        }
        return $out;
    }

    public function setMultiple($values, $ttl = null): bool
    {
        if (!is_iterable($values)) {
            throw new InvalidArgumentException('cachekit: setMultiple() needs an array or Traversable of key => value, got ' . get_debug_type($values));
        }
        $ms = self::ttlMs($ttl);
        $items = [];
        foreach ($values as $key => $value) {
            // PHP turns the string key "1" into the int 1: it is still the key "1".
            $key = \is_int($key) ? (string) $key : $key;
            $items[] = [$this->args($key), $value];
        }
        foreach ($items as [$args, $value]) {
            if ($ms < 0) {
                $this->handle->delete(self::PSR16_OPERATION, $args);
            } else {
                $this->handle->set(self::PSR16_OPERATION, $args, Codec::value($value), $ms);
            }
        }
        return true;
    }

    public function deleteMultiple($keys): bool
    {
        $all = array_map(fn ($k) => $this->args($k), self::keyList($keys));
        foreach ($all as $args) {
            $this->handle->delete(self::PSR16_OPERATION, $args);
        }
        return true;
    }

    public function has($key): bool
    {
        return $this->handle->exists(self::PSR16_OPERATION, $this->args($key));
    }

    /**
     * The cached value of `$key`, or `$fn()` stored under `$key` for `$ttl`.
     * One caller per key computes (the core's fill lease: single-flight in
     * this process, a Redis lock across processes); the others wait for its
     * value. An exception from `$fn` propagates and nothing is cached.
     *
     * @template T
     *
     * @param callable(): T $fn
     *
     * @return T
     */
    public function remember(string $key, null|int|\DateInterval $ttl, callable $fn): mixed
    {
        $args = $this->args($key);
        $ms = self::ttlMs($ttl);
        if ($ms < 0) {
            $this->handle->delete(self::PSR16_OPERATION, $args);
            return $fn();
        }
        return $this->handle->fill(self::PSR16_OPERATION, $args, $ms, $fn);
    }

    /**
     * `$fn` memoised by its arguments under `{namespace}:{operation}`: the
     * returned callable takes `$fn`'s arguments. Arguments are encoded as a
     * MessagePack array and the core derives the key, so Python's
     * `@cache(namespace=..., operation=...)` with the same names shares
     * entries. `$options` add to (or override) this cache's options for the
     * namespace (`ttl`, `format`, ...).
     *
     * @param array<string, mixed> $options
     */
    public function wrap(string $namespace, string $operation, callable $fn, array $options = []): Memoized
    {
        $opts = array_replace($this->options, $options);
        if ($namespace === $this->namespace && $opts === $this->options) {
            return new Memoized($this->handle, $operation, $fn);
        }
        $id = $namespace . "\0" . serialize($opts);
        $handle = $this->wrapped[$id] ??= new Handle($this->client, $namespace, $opts);
        return new Memoized($handle, $operation, $fn);
    }

    /** The Redis key that PSR-16 key `$key` is stored under (for redis-cli and tests). */
    public function redisKey(string $key): string
    {
        return $this->handle->makeKey(self::PSR16_OPERATION, $this->args($key));
    }

    /**
     * Remaining lifetime of `$key` in seconds (rounded up), null when there
     * is no entry, -1 when it never expires.
     */
    public function ttl(string $key): ?int
    {
        $ms = $this->handle->ttlMs(self::PSR16_OPERATION, $this->args($key));
        return match (true) {
            $ms === -2 => null,
            $ms < 0 => -1,
            default => intdiv($ms + 999, 1000),
        };
    }

    /**
     * Health of the namespace (backend, circuit breaker, L1 and outcome
     * counters, encryption fingerprint, settings without secrets).
     *
     * @return array<string, mixed>
     */
    public function health(): array
    {
        return $this->handle->health(false);
    }

    /**
     * health() plus an active PING of Redis with its latency.
     *
     * @return array<string, mixed>
     */
    public function checkHealth(): array
    {
        return $this->handle->health(true);
    }

    /** Prometheus exposition text of every cache of this cache's client. */
    public function metrics(): string
    {
        return $this->client->metrics();
    }

    /** The argument array of the PSR-16 operation for `$key`, after PSR-16's key rules. */
    private function args(mixed $key): string
    {
        if (\is_string($key) && isset($this->keyArgs[$key])) {
            return $this->keyArgs[$key];
        }
        if (!\is_string($key)) {
            if (!\is_int($key)) {
                throw new InvalidArgumentException('cachekit: a cache key must be a string, got ' . get_debug_type($key));
            }
            $key = (string) $key;
        }
        if ($key === '') {
            throw new InvalidArgumentException('cachekit: a cache key must not be empty');
        }
        if (strpbrk($key, self::RESERVED) !== false) {
            throw new InvalidArgumentException("cachekit: cache key '{$key}' contains a character PSR-16 reserves ({}()/\\@:)");
        }
        if (\count($this->keyArgs) >= self::KEY_MEMO) {
            $this->keyArgs = [];
        }
        return $this->keyArgs[$key] = Codec::args([$key]);
    }

    /** @return list<string> */
    private static function keyList(mixed $keys): array
    {
        if (!is_iterable($keys)) {
            throw new InvalidArgumentException('cachekit: keys must be an array or Traversable, got ' . get_debug_type($keys));
        }
        $out = [];
        foreach ($keys as $k) {
            $out[] = \is_int($k) ? (string) $k : $k;
        }
        return $out;
    }

    /** PSR-16 TTL to the core's milliseconds: 0 the namespace default, -1 already expired. */
    private static function ttlMs(mixed $ttl): int
    {
        if ($ttl === null) {
            return 0;
        }
        if ($ttl instanceof \DateInterval) {
            $now = new \DateTimeImmutable('now', new \DateTimeZone('UTC'));
            $seconds = $now->add($ttl)->getTimestamp() - $now->getTimestamp();
        } elseif (\is_int($ttl)) {
            $seconds = $ttl;
        } else {
            throw new InvalidArgumentException('cachekit: a TTL must be null, an int (seconds) or a DateInterval, got ' . get_debug_type($ttl));
        }
        return $seconds <= 0 ? -1 : $seconds * 1000;
    }
}
