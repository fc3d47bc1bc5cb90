"""cachekit: L1 + Redis caching for Python functions over the cachekit core.

from cachekit import cache

@cache(ttl=300)
def get_user(user_id: int) -> dict: ...
"""

from __future__ import annotations

from cachekit._core import metrics_text
from cachekit._ffi import ABI_VERSION
from cachekit._ffi import lib as _lib
from cachekit.config import CachekitConfig, DecoratorConfig, reset_settings
from cachekit.config.nested import CircuitBreakerConfig
from cachekit.decorator import CacheDecorator, CacheInfo, InvalidationOutcome, cache
from cachekit.errors import (
    BackendError,
    CachekitError,
    ConfigurationError,
    EncryptionError,
    InteropError,
    SerializationError,
)
from cachekit.interop import decode_interop_value, encode_interop_value, generate_interop_key

__version__ = "0.1.0"


def core_version() -> str:
    """Version of the loaded core library."""
    v: bytes | None = _lib.ck_version()
    return v.decode() if v else ""


def set_correlation_id(correlation_id: str | None) -> None:
    """Attach a correlation id to the core's log events of this thread's calls."""
    _lib.ck_set_correlation_id(correlation_id.encode() if correlation_id is not None else None)


__all__ = [
    "ABI_VERSION",
    "BackendError",
    "CacheDecorator",
    "CacheInfo",
    "CachekitConfig",
    "CachekitError",
    "CircuitBreakerConfig",
    "ConfigurationError",
    "DecoratorConfig",
    "EncryptionError",
    "InteropError",
    "InvalidationOutcome",
    "SerializationError",
    "cache",
    "core_version",
    "decode_interop_value",
    "encode_interop_value",
    "generate_interop_key",
    "metrics_text",
    "reset_settings",
    "set_correlation_id",
]
