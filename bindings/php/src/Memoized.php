<?php

declare(strict_types=1);

namespace Cachekit;

use Cachekit\Exception\ConfigurationException;
use Cachekit\Internal\ArgBinder;
use Cachekit\Internal\Codec;
use Cachekit\Internal\Handle;

/**
 * A function memoised by its arguments (what Cache::wrap returns): call it
 * as the function. Its key is `{namespace}:{operation}:{hash of the
 * arguments}`, derived by the core from the arguments' MessagePack, so a
 * Python function `@cache(namespace=..., operation=...)`, a Go
 * `cachekit.Wrap` and this share entries when namespace, operation and
 * arguments agree.
 */
final class Memoized
{
    /** @var \Closure(mixed ...): mixed */
    private readonly \Closure $fn;

    private readonly ArgBinder $binder;

    /**
     * @internal use Cache::wrap
     *
     * @throws ConfigurationException an operation name the core refuses for the namespace's format
     */
    public function __construct(private readonly Handle $handle, private readonly string $operation, callable $fn)
    {
        // The core checks the name now (a key of no arguments), so a bad
        // one fails here rather than at the first call.
        $handle->makeKey($operation, "\x90");
        $this->fn = \Closure::fromCallable($fn);
        $this->binder = new ArgBinder($fn);
    }

    public function __invoke(mixed ...$args): mixed
    {
        $fn = $this->fn;
        return $this->handle->fill(
            $this->operation,
            Codec::args($this->binder->bind($args)),
            0,
            static fn () => $fn(...$args),
        );
    }

    /** The Redis key of a call with these arguments (for redis-cli and tests). */
    public function key(mixed ...$args): string
    {
        return $this->handle->makeKey($this->operation, Codec::args($this->binder->bind($args)));
    }

    /** Forgets the entry of a call with these arguments (L1 of every process, and Redis). */
    public function invalidate(mixed ...$args): bool
    {
        return $this->handle->delete($this->operation, Codec::args($this->binder->bind($args)));
    }

    /** Forgets every entry of this operation; returns how many Redis keys went. */
    public function clear(): int
    {
        return $this->handle->clearOperation($this->operation);
    }

    public function namespace(): string
    {
        return $this->handle->namespace;
    }

    public function operation(): string
    {
        return $this->operation;
    }
}
