<?php

declare(strict_types=1);

namespace Cachekit\Exception;

/**
 * An argument is not acceptable: a PSR-16 key that breaks the PSR-16 rules, a
 * TTL of the wrong type, keys that are not iterable, an unusable option.
 */
class InvalidArgumentException extends \InvalidArgumentException implements CachekitException, \Psr\SimpleCache\InvalidArgumentException
{
    use StatusTrait;
}
