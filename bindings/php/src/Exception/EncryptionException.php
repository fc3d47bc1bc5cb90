<?php

declare(strict_types=1);

namespace Cachekit\Exception;

/** Encryption is on but misconfigured: a missing or malformed master key (CK_ENCRYPTION). */
final class EncryptionException extends ConfigurationException
{
}
