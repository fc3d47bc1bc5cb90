<?php

declare(strict_types=1);

namespace Cachekit\Exception;

/** L2 (Redis) failed and the namespace is fail-closed (CK_BACKEND). Never thrown when fail-open. */
final class BackendException extends \RuntimeException implements CachekitException
{
    use StatusTrait;
}
