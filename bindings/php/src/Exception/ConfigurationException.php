<?php

declare(strict_types=1);

namespace Cachekit\Exception;

/**
 * A setting, option, namespace or operation name has an unusable value
 * (CK_CONFIG, CK_INVALID_KEY, CK_INVALID_ARGUMENT). The message names it and
 * says what was expected.
 */
class ConfigurationException extends InvalidArgumentException
{
}
