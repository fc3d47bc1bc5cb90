<?php

declare(strict_types=1);

namespace Cachekit\Internal;

use Cachekit\Client;

/**
 * One namespace of a client with its options (a `ck_cache`), and the calls
 * on it. Converts only: every decision (L1, Redis, locks, TTLs, breaker) is
 * the core's.
 *
 * @internal
 */
final class Handle
{
    public readonly \FFI $ffi;

    /** The `ck_cache *`. */
    public readonly \FFI\CData $ptr;

    // Out-params of the borrowed calls, shared by every handle: PHP runs one
    // request per thread, and each call copies what it needs before the next.
    private static ?\FFI\CData $data = null;
    private static ?\FFI\CData $len = null;
    private static ?\FFI\CData $found = null;
    private static ?\FFI\CData $lease = null;
    private static ?\FFI\CData $pData = null;
    private static ?\FFI\CData $pLen = null;
    private static ?\FFI\CData $pFound = null;
    private static ?\FFI\CData $pLease = null;

    /** @param array<string, mixed> $options */
    public function __construct(public readonly Client $client, public readonly string $namespace, public readonly array $options)
    {
        $this->ffi = $ffi = Ffi::get();
        $out = $ffi->new('ck_cache *');
        $status = $ffi->ck_cache_new($client->handle, $namespace, Client::json($options, 'options'), \FFI::addr($out));
        if ($status !== 0) {
            throw Ffi::error($status, "cannot open namespace '{$namespace}'");
        }
        $this->ptr = $out;
        if (self::$data === null) {
            self::$data = $ffi->new('const char *');
            self::$len = $ffi->new('size_t');
            self::$found = $ffi->new('bool');
            self::$lease = $ffi->new('ck_lease *');
            self::$pData = \FFI::addr(self::$data);
            self::$pLen = \FFI::addr(self::$len);
            self::$pFound = \FFI::addr(self::$found);
            self::$pLease = \FFI::addr(self::$lease);
        }
    }

    public function __destruct()
    {
        $this->ffi->ck_cache_free($this->ptr);
    }

    /** The stored bytes of `$op($args)`, or null: one foreign call on a hit. */
    public function get(string $op, string $args): ?string
    {
        $status = $this->ffi->ck_get_borrowed($this->ptr, $op, $args, \strlen($args), self::$pData, self::$pLen, self::$pFound);
        if ($status !== 0) {
            throw Ffi::error($status, "get in '{$this->namespace}'");
        }
        if (!self::$found->cdata) {
            return null;
        }
        $n = self::$len->cdata;
        return $n > 0 ? \FFI::string(self::$data, $n) : '';
    }

    public function set(string $op, string $args, string $value, int $ttlMs): void
    {
        $status = $this->ffi->ck_set($this->ptr, $op, $args, \strlen($args), $value, \strlen($value), $ttlMs);
        if ($status !== 0) {
            throw Ffi::error($status, "set in '{$this->namespace}'");
        }
    }

    public function delete(string $op, string $args): bool
    {
        $status = $this->ffi->ck_delete($this->ptr, $op, $args, \strlen($args), self::$pFound);
        if ($status !== 0) {
            throw Ffi::error($status, "delete in '{$this->namespace}'");
        }
        return (bool) self::$found->cdata;
    }

    public function exists(string $op, string $args): bool
    {
        $status = $this->ffi->ck_exists($this->ptr, $op, $args, \strlen($args), self::$pFound);
        if ($status !== 0) {
            throw Ffi::error($status, "has in '{$this->namespace}'");
        }
        return (bool) self::$found->cdata;
    }

    /** Remaining lifetime in milliseconds: -2 no entry, -1 no expiry. */
    public function ttlMs(string $op, string $args): int
    {
        $out = $this->ffi->new('int64_t');
        $status = $this->ffi->ck_ttl($this->ptr, $op, $args, \strlen($args), \FFI::addr($out));
        if ($status !== 0) {
            throw Ffi::error($status, "ttl in '{$this->namespace}'");
        }
        return (int) $out->cdata;
    }

    public function clear(): int
    {
        $n = $this->ffi->new('uint64_t');
        $status = $this->ffi->ck_clear($this->ptr, \FFI::addr($n));
        if ($status !== 0) {
            throw Ffi::error($status, "clear of '{$this->namespace}'");
        }
        return (int) $n->cdata;
    }

    public function clearOperation(string $op): int
    {
        $n = $this->ffi->new('uint64_t');
        $status = $this->ffi->ck_clear_operation($this->ptr, $op, \FFI::addr($n));
        if ($status !== 0) {
            throw Ffi::error($status, "clear of '{$this->namespace}' operation '{$op}'");
        }
        return (int) $n->cdata;
    }

    public function makeKey(string $op, string $args): string
    {
        $buf = $this->ffi->new('ck_buf');
        $status = $this->ffi->ck_make_key($this->ptr, $op, $args, \strlen($args), \FFI::addr($buf));
        if ($status !== 0) {
            throw Ffi::error($status, "key of '{$this->namespace}:{$op}'");
        }
        return Client::take($buf);
    }

    /** The stored value cannot be decoded here: the core counts it and deletes it in the background. */
    public function discard(string $op, string $args, string $reason): void
    {
        $this->ffi->ck_discard($this->ptr, $op, $args, \strlen($args), $reason);
    }

    /** @return array<string, mixed> */
    public function health(bool $active): array
    {
        $buf = $this->ffi->new('ck_buf');
        $status = $active
            ? $this->ffi->ck_check_health($this->ptr, \FFI::addr($buf))
            : $this->ffi->ck_health($this->ptr, \FFI::addr($buf));
        if ($status !== 0) {
            throw Ffi::error($status, 'health');
        }
        return json_decode(Client::take($buf), true, 512, JSON_THROW_ON_ERROR);
    }

    /**
     * The memoising call: the cached value of `$op($args)`, or `$compute()`
     * computed by one caller per key (the core's fill lease: single-flight in
     * the process, a Redis lock across processes) and stored.
     *
     * A throwing `$compute` aborts the lease (nothing is cached; a waiter
     * takes over) and the exception propagates. A stored value that cannot
     * be decoded is discarded and recomputed.
     *
     * @param callable(): mixed $compute
     */
    public function fill(string $op, string $args, int $ttlMs, callable $compute): mixed
    {
        $ffi = $this->ffi;
        $status = $ffi->ck_fill_begin_borrowed($this->ptr, $op, $args, \strlen($args), self::$pData, self::$pLen, self::$pLease);
        if ($status !== 0) {
            throw Ffi::error($status, "lookup in '{$this->namespace}'");
        }
        $hit = !\FFI::isNull(self::$data);
        $bytes = $hit ? \FFI::string(self::$data, self::$len->cdata) : '';
        if (\FFI::isNull(self::$lease)) {
            try {
                return Codec::decode($bytes);
            } catch (\UnexpectedValueException $e) {
                $this->discard($op, $args, 'php-msgpack cannot decode it: ' . $e->getMessage());
                return $compute();
            }
        }
        // Our own copy of the lease pointer: $compute may make borrowed calls
        // of its own, which reuse the shared out-params.
        $lease = $ffi->cast('ck_lease *', self::$lease);
        if ($hit) {
            // An early refresh or stale-while-revalidate is due: serve the
            // value now, recompute after the response (PHP has no background thread).
            try {
                $value = Codec::decode($bytes);
            } catch (\UnexpectedValueException) {
                return $this->complete($lease, $compute, $ttlMs);
            }
            Shutdown::defer(function () use ($lease, $compute, $ttlMs): void {
                $this->complete($lease, $compute, $ttlMs);
            });
            return $value;
        }
        return $this->complete($lease, $compute, $ttlMs);
    }

    /** Computes, stores and returns the value for a lease; consumes the lease. */
    private function complete(\FFI\CData $lease, callable $compute, int $ttlMs): mixed
    {
        try {
            $result = $compute();
            $bytes = Codec::value($result);
        } catch (\Throwable $e) {
            $this->ffi->ck_lease_abort($lease);
            throw $e;
        }
        $status = $this->ffi->ck_lease_complete($lease, $bytes, \strlen($bytes), $ttlMs);
        if ($status === 6) {
            throw Ffi::error($status, "storing in '{$this->namespace}'");
        }
        if ($status !== 0) {
            // The value is returned, just not cached (too large, ...): the core
            // logged why; the caller is not the one to fail for it.
            error_log("cachekit: a result in '{$this->namespace}' was not cached: " . Ffi::lastError());
        }
        return $result;
    }
}
