"""Nested configuration groups of the ``@cache`` decorator.

Each maps onto the core's per-namespace options (see ``to_core``); policy
(breaker state machine, timeouts, backpressure, L1) lives in the core.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class L1CacheConfig:
    """In-process L1 cache in front of L2 (held by the core)."""

    enabled: bool = True
    max_size_mb: int | None = None
    """L1 byte budget of this namespace in MiB (default: the client's ``l1_max_size_mb``)."""
    plaintext: bool = False
    """Encrypted namespaces keep ciphertext in L1 unless this is true."""


@dataclass(frozen=True)
class CircuitBreakerConfig:
    """Circuit breaker per namespace (CLOSED -> OPEN -> HALF_OPEN)."""

    enabled: bool = True
    failure_threshold: int = 5
    success_threshold: int = 3
    recovery_timeout: float = 30.0
    half_open_requests: int = 3
    excluded_exceptions: tuple[type[BaseException], ...] = field(default_factory=tuple)
    """Exceptions of a custom backend (``backend=`` object) that must not move
    the breaker: the call fails open and the error is counted. (The function's
    own exceptions never count; Redis errors are classified by the core.)"""

    def to_core(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "failure_threshold": self.failure_threshold,
            "success_threshold": self.success_threshold,
            "recovery_timeout": self.recovery_timeout,
            "half_open_requests": self.half_open_requests,
        }


@dataclass(frozen=True)
class TimeoutConfig:
    """Adaptive L2 timeout: P95 of recent latencies times a multiplier, bounded."""

    enabled: bool = True
    min_timeout: float = 0.1
    max_timeout: float = 10.0
    window_size: int = 1000
    percentile_multiplier: float = 2.0

    def to_core(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "min_timeout": self.min_timeout,
            "max_timeout": self.max_timeout,
            "window_size": self.window_size,
            "percentile_multiplier": self.percentile_multiplier,
        }


@dataclass(frozen=True)
class BackpressureConfig:
    """At most ``max_concurrent_requests`` L2 operations in flight per namespace."""

    enabled: bool = True
    max_concurrent_requests: int = 100

    def to_core(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "max_concurrent_requests": self.max_concurrent_requests}


@dataclass(frozen=True)
class MonitoringConfig:
    """Statistics, OpenTelemetry tracing and structured logging."""

    collect_stats: bool = True
    enable_tracing: bool = True
    enable_structured_logging: bool = True
    enable_prometheus_metrics: bool = True
    """False leaves this namespace out of the Prometheus exposition (as
    ``collect_stats=False``); ``cache_info()`` and health still count."""


@dataclass(frozen=True)
class EncryptionConfig:
    """Client-side encryption (the reference SDK's group; the AES-256-GCM itself
    is the core's). ``enabled``: ``None`` leaves it to the preset or the other
    parameters. ``master_key``: 64 hex digits (``None``: ``CACHEKIT_MASTER_KEY``).
    ``deployment_uuid``: the single-tenant id (the encryption tenant; also
    ``CACHEKIT_DEPLOYMENT_UUID``). ``fail_closed``: ``True`` raises instead of
    failing open. ``tenant_extractor`` and ``single_tenant_mode`` are accepted
    for compatibility: per-call tenants are not supported (a ``tenant_extractor``
    is refused when the function is decorated)."""

    enabled: bool | None = None
    master_key: str | None = field(default=None, repr=False)
    tenant_extractor: Any = None
    single_tenant_mode: bool = False
    deployment_uuid: str | None = None
    fail_closed: bool | None = None

    def __post_init__(self) -> None:
        if isinstance(self.master_key, (bytes, bytearray)):
            raise TypeError("EncryptionConfig: pass the master key as hex (key.hex()), not bytes")


__all__ = [
    "BackpressureConfig",
    "CircuitBreakerConfig",
    "EncryptionConfig",
    "L1CacheConfig",
    "MonitoringConfig",
    "TimeoutConfig",
]
