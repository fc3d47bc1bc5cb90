<?php

declare(strict_types=1);

namespace Cachekit\Exception;

/**
 * A value or an argument has no language-neutral MessagePack form (an object
 * other than DateTimeInterface, a resource, NaN in a key, an integer beyond
 * 64 bits, ...), or the core refused it (CK_ENCODE).
 */
final class SerializationException extends InvalidArgumentException
{
}
