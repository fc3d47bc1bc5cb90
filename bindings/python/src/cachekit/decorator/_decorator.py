"""``cache``: the decorator object (``@cache``, ``@cache(...)``) and its presets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, overload

from cachekit.config import CachekitConfig, DecoratorConfig
from cachekit.config.nested import (
    BackpressureConfig,
    CircuitBreakerConfig,
    EncryptionConfig,
    L1CacheConfig,
    MonitoringConfig,
    TimeoutConfig,
)
from cachekit.decorator._local import check_local_parameters, local_wrap
from cachekit.decorator._settings import check_parameters
from cachekit.decorator._types import CachedFunction, P, R
from cachekit.decorator._wrapper import wrap
from cachekit.serializers import SerializerProtocol


class CacheDecorator:
    """``cache``: ``@cache``, ``@cache(...)`` and the presets
    ``cache.minimal / production / secure / dev / test``."""

    def __init__(self, preset: str | None = None) -> None:
        self._preset: str | None = preset

    @overload
    def __call__(self, func: Callable[P, R], /) -> CachedFunction[P, R]: ...

    @overload
    def __call__(
        self,
        func: None = None,
        /,
        *,
        ttl: int | float | None = ...,
        namespace: str | None = ...,
        safe_mode: bool = ...,
        backend: Any = ...,
        pipelined: bool = ...,
        refresh_ttl_on_get: bool = ...,
        ttl_refresh_threshold: float = ...,
        l1_enabled: bool | None = ...,
        fast_mode: bool = ...,
        circuit_breaker: bool | CircuitBreakerConfig = ...,
        circuit_breaker_config: CircuitBreakerConfig | None = ...,
        adaptive_timeout: bool | TimeoutConfig = ...,
        timeout: TimeoutConfig | None = ...,
        backpressure: bool | BackpressureConfig = ...,
        max_concurrent_requests: int | None = ...,
        collect_stats: bool = ...,
        enable_tracing: bool = ...,
        enable_structured_logging: bool = ...,
        serializer: str | SerializerProtocol | None = ...,
        l1: L1CacheConfig | None = ...,
        monitoring: MonitoringConfig | None = ...,
        interop: str | None = ...,
        key: Callable[..., Any] | None = ...,
        operation: str | None = ...,
        master_key: str | bytes | None = ...,
        decrypt_only_keys: list[str | bytes] | None = ...,
        tenant_id: str | None = ...,
        encryption: bool | EncryptionConfig = ...,
        l1_plaintext: bool = ...,
        fail_closed: bool = ...,
        config: CachekitConfig | DecoratorConfig | None = ...,
        deployment_uuid: str | None = ...,
        integrity_checking: bool = ...,
        early_refresh_beta: float | None = ...,
        stale_while_revalidate: int | None = ...,
        negative_ttl: int | None = ...,
        distributed_lock: bool = ...,
        lock_ttl_ms: int = ...,
        fill_wait_ms: int = ...,
        l1_sync_ms: int = ...,
        max_background_refreshes: int = ...,
        read_lock_combined: bool | str = ...,
    ) -> Callable[[Callable[P, R]], CachedFunction[P, R]]: ...

    def __call__(self, func: Any = None, /, **kwargs: Any) -> Any:
        if func is not None and not kwargs and (callable(func) or isinstance(func, (classmethod, staticmethod))):
            return wrap(func, self._preset, {})
        if func is not None:
            raise TypeError("@cache takes keyword arguments only, e.g. @cache(ttl=60)")
        check_parameters(kwargs)
        preset = self._preset

        def deco(f: Any) -> Any:
            return wrap(f, preset, kwargs)

        return deco

    @property
    def local(self) -> LocalDecorator:
        """In-process caching of the result objects themselves (no serialization,
        no Redis): ``@cache.local(ttl=300, max_entries=256, namespace=None, key=None)``."""
        return LocalDecorator()

    @property
    def minimal(self) -> CacheDecorator:
        """Speed profile: breaker on; adaptive timeout, backpressure, stats and tracing off."""
        return CacheDecorator("minimal")

    @property
    def production(self) -> CacheDecorator:
        """Reliability profile: every protection and all monitoring on."""
        return CacheDecorator("production")

    @property
    def secure(self) -> CacheDecorator:
        """Production plus AES-256-GCM encryption (``master_key=`` or ``CACHEKIT_MASTER_KEY``)."""
        return CacheDecorator("secure")

    @property
    def dev(self) -> CacheDecorator:
        """Development: debug events to the ``cachekit`` logger, protections off, no tracing."""
        return CacheDecorator("dev")

    @property
    def test(self) -> CacheDecorator:
        """Tests: every protection and all monitoring off; deterministic."""
        return CacheDecorator("test")


class LocalDecorator:
    """``cache.local``: ``@cache.local`` and ``@cache.local(ttl=..., max_entries=..., namespace=..., key=...)``."""

    @overload
    def __call__(self, func: Callable[P, R], /) -> CachedFunction[P, R]: ...

    @overload
    def __call__(
        self,
        func: None = None,
        /,
        *,
        ttl: int = ...,
        max_entries: int = ...,
        namespace: str | None = ...,
        key: Callable[..., Any] | None = ...,
    ) -> Callable[[Callable[P, R]], CachedFunction[P, R]]: ...

    def __call__(self, func: Any = None, /, **kwargs: Any) -> Any:
        if func is not None and not kwargs and callable(func):
            return local_wrap(func, {})
        if func is not None:
            raise TypeError("@cache.local takes keyword arguments only, e.g. @cache.local(ttl=60)")
        check_local_parameters(kwargs)

        def deco(f: Any) -> Any:
            return local_wrap(f, kwargs)

        return deco


cache = CacheDecorator()
