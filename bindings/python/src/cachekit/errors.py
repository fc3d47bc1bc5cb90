"""Exceptions of cachekit. Cache failures are never raised to a cached
function's caller (fail-open); these are for programming errors."""

from __future__ import annotations


class CachekitError(Exception):
    """Base class of cachekit errors; ``status`` is the core's ck_status name."""

    def __init__(self, message: str, status: str = "") -> None:
        super().__init__(message)
        self.status: str = status


class ConfigurationError(CachekitError, ValueError):
    """A setting, option, namespace or operation has an unusable value."""


class EncryptionError(ConfigurationError):
    """Encryption is on but misconfigured (missing or malformed master key)."""


class SerializationError(CachekitError, TypeError):
    """A value or an argument cannot be encoded."""


class BackendError(CachekitError):
    """L2 failed and the namespace is fail-closed."""


class InteropError(SerializationError, ValueError):
    """An argument, a value or a name is outside the interop data model
    (``@cache(interop=...)``). Raised, never swallowed: the protocol says
    interop fails loud. A ``ValueError`` (as the reference SDK's) and, like
    every argument error of this package, a ``TypeError``."""
