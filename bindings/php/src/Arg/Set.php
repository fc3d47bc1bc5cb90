<?php

declare(strict_types=1);

namespace Cachekit\Arg;

/**
 * A set of values in a cache key (Python `set`/`frozenset`, Go `cachekit.Set`):
 * order and duplicates do not change the key. The core sorts the elements by
 * their canonical bytes and removes duplicates (so `2` and `2.0` are one).
 */
final class Set
{
    /** @var list<mixed> */
    public readonly array $elements;

    /** @param iterable<mixed> $elements */
    public function __construct(iterable $elements)
    {
        $this->elements = \is_array($elements) ? array_values($elements) : iterator_to_array($elements, false);
    }
}
