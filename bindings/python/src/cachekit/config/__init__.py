"""Client configuration: ``CachekitConfig`` (pydantic-settings).

The core reads the same ``CACHEKIT_*`` variables itself; ``CachekitConfig``
exists so that Python code can inspect them or pass explicit values. The
precedence is the core's: constructor arguments > ``CACHEKIT_*`` > fallback
variables (``REDIS_URL``) > defaults. Fields that were given or read from the
environment are handed to the core; defaults are left to the core's own.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cachekit.config.nested import (
    BackpressureConfig,
    CircuitBreakerConfig,
    EncryptionConfig,
    L1CacheConfig,
    MonitoringConfig,
    TimeoutConfig,
)
from cachekit.errors import ConfigurationError

# Fields the core knows (src/config.rs); everything else is Python-only.
_CORE_FIELDS = (
    "redis_url",
    "connection_pool_size",
    "socket_timeout",
    "socket_connect_timeout",
    "default_ttl",
    "enable_compression",
    "compression_level",
    "max_chunk_size_mb",
    "l1_enabled",
    "l1_max_size_mb",
    "enable_prometheus_metrics",
    "master_key",
    "key_prefix",
    "tenant_id",
)


class CachekitConfig(BaseSettings):
    """Redis connection and caching behaviour (env prefix ``CACHEKIT_``)."""

    model_config = SettingsConfigDict(env_prefix="CACHEKIT_", extra="ignore", populate_by_name=True)

    redis_url: str | None = Field(
        default="redis://localhost:6379",
        # Environment names match case-insensitively, so the field's own name
        # must not be a choice: it would read REDIS_URL before CACHEKIT_REDIS_URL.
        # Constructor calls use the field name (populate_by_name).
        validation_alias=AliasChoices("CACHEKIT_REDIS_URL", "REDIS_URL"),
    )
    connection_pool_size: int = 10
    socket_timeout: float = 1.0
    socket_connect_timeout: float = 1.0
    default_ttl: int = 3600
    enable_compression: bool = True
    compression_level: int = 6
    max_chunk_size_mb: int = 50
    l1_enabled: bool = True
    l1_max_size_mb: int = 100
    enable_prometheus_metrics: bool = True
    master_key: str | None = Field(default=None, repr=False)
    key_prefix: str = ""
    tenant_id: str | None = None

    def to_core_json(self, everything: bool = False) -> str:
        """The JSON object of settings for ``ck_client_new``.

        By default the fields given to the constructor or read from the
        environment (defaults stay the core's); ``everything=True`` sends
        every field.
        """
        names = _CORE_FIELDS if everything else tuple(f for f in _CORE_FIELDS if f in self.model_fields_set)
        doc: dict[str, Any] = {n: getattr(self, n) for n in names}
        return json.dumps(doc, sort_keys=True)


_settings: list[CachekitConfig] = []


def get_settings() -> CachekitConfig:
    """The process's ``CachekitConfig`` read from the environment (made once;
    ``reset_settings()`` makes it read again)."""
    if not _settings:
        _settings.append(CachekitConfig())
    return _settings[0]


def reset_settings() -> None:
    """Re-read the environment: the settings object, and the core clients
    that functions decorated from now on use (a new client reads
    ``CACHEKIT_*`` again, e.g. a changed ``CACHEKIT_MASTER_KEY``). Functions
    decorated before keep the client they were made with."""
    from cachekit import _core

    _settings.clear()
    _core.reset_clients()


# After the helpers: DecoratorConfig's module imports nothing from here.
from cachekit.config.decorator import UNSET, DecoratorConfig  # noqa: E402

__all__ = [
    "UNSET",
    "BackpressureConfig",
    "CachekitConfig",
    "CircuitBreakerConfig",
    "ConfigurationError",
    "DecoratorConfig",
    "EncryptionConfig",
    "L1CacheConfig",
    "MonitoringConfig",
    "TimeoutConfig",
    "get_settings",
    "reset_settings",
]
