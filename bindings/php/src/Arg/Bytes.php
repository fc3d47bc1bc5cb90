<?php

declare(strict_types=1);

namespace Cachekit\Arg;

/**
 * A byte string that is part of a cache key as MessagePack `bin` (Python
 * `bytes`, Go `[]byte`). A plain PHP string is a MessagePack `str` when it is
 * valid UTF-8 (Python `str`), and `bin` when it is not.
 */
final class Bytes
{
    public function __construct(public readonly string $bytes)
    {
    }
}
