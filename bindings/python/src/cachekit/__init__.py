"""cachekit: L1 + Redis caching for Python functions over the cachekit core.

from cachekit import cache

@cache(ttl=300)
def get_user(user_id: int) -> dict: ...
"""

from __future__ import annotations

from cachekit._core import metrics_text
from cachekit._ffi import ABI_VERSION
from cachekit._ffi import lib as _lib
from cachekit.config import CachekitConfig
from cachekit.decorator import CacheDecorator, CacheInfo, cache
from cachekit.errors import (
    BackendError,
    CachekitError,
    ConfigurationError,
    EncryptionError,
    SerializationError,
)

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
    "ConfigurationError",
    "EncryptionError",
    "SerializationError",
    "cache",
    "core_version",
    "metrics_text",
    "set_correlation_id",
]
