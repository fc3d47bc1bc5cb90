<?php

declare(strict_types=1);

namespace Cachekit\Exception;

/**
 * Implemented by every exception cachekit throws; a PSR-16 CacheException,
 * so `catch (\Psr\SimpleCache\CacheException $e)` sees them all.
 *
 * Cache failures (Redis down, slow, corrupt entries) are not exceptions:
 * they are misses (fail-open). What is thrown is a programming error, or an
 * L2 failure of a namespace that chose `fail_closed`.
 */
interface CachekitException extends \Psr\SimpleCache\CacheException
{
    /** The core's ck_status name (such as "CK_CONFIG"), or "" for errors found in PHP. */
    public function status(): string;
}
