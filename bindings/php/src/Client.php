<?php

declare(strict_types=1);

namespace Cachekit;

use Cachekit\Exception\ConfigurationException;
use Cachekit\Internal\Ffi;
use Cachekit\Internal\Shutdown;

/**
 * One core client: the settings, the Redis connections and the per-process
 * state (a `ck_client`). Settings come from the CACHEKIT_* environment, read
 * by the core; `$settings` overrides them (keys as in the core's README:
 * `redis_url`, `default_ttl`, `l1_max_size_mb`, `master_key`, `key_prefix`,
 * `tenant_id`, ...; `['redis_url' => null]` forces L1-only).
 *
 * A process normally needs one: Client::shared() returns it. The core is
 * fork-safe, so php-fpm workers forked after it was made still work.
 */
final class Client
{
    /** @var array<string, Client> */
    private static array $shared = [];

    /** @internal the `ck_client *` */
    public readonly \FFI\CData $handle;

    /** @param array<string, mixed> $settings */
    public function __construct(private readonly array $settings = [])
    {
        $ffi = Ffi::get();
        $json = self::json($settings, 'settings');
        $out = $ffi->new('ck_client *');
        $status = $ffi->ck_client_new($json, \FFI::addr($out));
        if ($status !== 0) {
            throw Ffi::error($status, 'cannot create the client');
        }
        $this->handle = $out;
        Shutdown::track($this);
    }

    /**
     * The process's client for these settings (none: the environment only),
     * made on first use and kept for the life of the process.
     *
     * @param array<string, mixed> $settings
     */
    public static function shared(array $settings = []): self
    {
        $id = (string) self::json($settings, 'settings');
        return self::$shared[$id] ??= new self($settings);
    }

    /**
     * Waits, at most `$timeoutSeconds`, for the Redis writes this process
     * made behind its callers (a miss returns before its write lands); returns
     * how many are still under way. Runs by itself at shutdown.
     */
    public function flush(float $timeoutSeconds = 5.0): int
    {
        $ffi = Ffi::get();
        $pending = $ffi->new('uint64_t');
        $status = $ffi->ck_flush($this->handle, (int) max(0, $timeoutSeconds * 1000), \FFI::addr($pending));
        if ($status !== 0) {
            throw Ffi::error($status, 'ck_flush');
        }
        return (int) $pending->cdata;
    }

    /**
     * Closes the client: its writes behind callers land first (at most 5 s),
     * then every call on it and on the caches made from it throws a
     * CachekitException with status CK_CLOSED and writes nothing. Returns
     * the writes still under way; closing twice is harmless.
     */
    public function close(): int
    {
        $ffi = Ffi::get();
        $pending = $ffi->new('uint64_t');
        $status = $ffi->ck_client_close($this->handle, \FFI::addr($pending));
        if ($status !== 0) {
            throw Ffi::error($status, 'ck_client_close');
        }
        return (int) $pending->cdata;
    }

    /** Prometheus exposition text of every cache of this client, for a /metrics endpoint. */
    public function metrics(): string
    {
        $ffi = Ffi::get();
        $buf = $ffi->new('ck_buf');
        $status = $ffi->ck_metrics($this->handle, \FFI::addr($buf));
        if ($status !== 0) {
            throw Ffi::error($status, 'ck_metrics');
        }
        return self::take($buf);
    }

    /**
     * A PSR-16 cache over namespace `$namespace` of this client (default
     * "default"; the interop format needs it named).
     *
     * @param array<string, mixed> $options
     */
    public function cache(?string $namespace = null, array $options = []): Cache
    {
        return new Cache($namespace, $options, $this);
    }

    /** @return array<string, mixed> */
    public function settings(): array
    {
        return $this->settings;
    }

    public function __destruct()
    {
        // Caches made from this client keep it referenced, so nothing uses
        // it any more. ck_client_free flushes first (at most 5 s).
        Ffi::get()->ck_client_free($this->handle);
    }

    /**
     * @internal Copies a library-owned buffer into a string and releases it.
     */
    public static function take(\FFI\CData $buf): string
    {
        $s = $buf->len > 0 ? \FFI::string($buf->data, $buf->len) : '';
        Ffi::get()->ck_buf_free(\FFI::addr($buf));
        return $s;
    }

    /**
     * @internal A JSON object for the core, or null for an empty array.
     *
     * @param array<string, mixed> $doc
     */
    public static function json(array $doc, string $what): ?string
    {
        if ($doc === []) {
            return null;
        }
        if (array_is_list($doc)) {
            throw new ConfigurationException("cachekit: {$what} must be an array of name => value, got a list");
        }
        try {
            return json_encode($doc, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES | JSON_PRESERVE_ZERO_FRACTION);
        } catch (\JsonException $e) {
            throw new ConfigurationException("cachekit: {$what} cannot be encoded as JSON: {$e->getMessage()}", '', $e);
        }
    }
}
