<?php

declare(strict_types=1);

namespace Cachekit\Arg;

use Cachekit\Exception\InvalidArgumentException;

/**
 * A UUID in a cache key (Python `uuid.UUID`): hashed as its lowercase
 * hyphenated string, so `550E8400-...` and `550e8400-...` are one key.
 * Symfony Uid and ramsey/uuid objects are accepted directly as arguments too.
 */
final class Uuid
{
    /** The 16 raw bytes. */
    public readonly string $bytes;

    public function __construct(string $uuid)
    {
        $hex = str_replace('-', '', trim($uuid, '{}'));
        if (\strlen($hex) !== 32 || !ctype_xdigit($hex)) {
            throw new InvalidArgumentException("cachekit: {$uuid} is not a UUID (expected 32 hex digits, hyphens optional)");
        }
        $this->bytes = (string) hex2bin($hex);
    }
}
