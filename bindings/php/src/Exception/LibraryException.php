<?php

declare(strict_types=1);

namespace Cachekit\Exception;

/**
 * The core library cannot be used: not found, not loadable, an ABI version
 * this package was not written for, FFI disabled; or the core reported a bug
 * (CK_PANIC) or a misused lease (CK_LEASE).
 */
final class LibraryException extends \RuntimeException implements CachekitException
{
    use StatusTrait;
}
