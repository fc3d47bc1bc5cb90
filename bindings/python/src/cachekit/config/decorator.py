"""``DecoratorConfig``: the parameters of ``@cache`` as one object (the
reference SDK's form), ``@cache(config=DecoratorConfig(...))``.

Its fields become ``@cache`` parameters; a parameter given to ``@cache``
beside ``config=`` wins over the field. The presets
(``DecoratorConfig.minimal() / production() / secure(master_key) / dev() /
test()``) hold the reference's values for its fields (TTL 300 s, or 600 s for
production and secure; which protections and which monitoring are on); any
keyword overrides one field. ``integrity_checking`` is accepted and has no
effect: the core checksums and verifies every entry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cachekit._unset import UNSET
from cachekit.config.nested import (
    BackpressureConfig,
    CircuitBreakerConfig,
    EncryptionConfig,
    L1CacheConfig,
    MonitoringConfig,
    TimeoutConfig,
)
from cachekit.errors import ConfigurationError


@dataclass(frozen=True)
class DecoratorConfig:
    """Everything ``@cache`` can be configured with, in one value."""

    ttl: int | None = None
    namespace: str | None = None
    serializer: Any = "default"
    integrity_checking: bool = True
    key: Callable[..., str] | None = None
    interop: str | None = None
    refresh_ttl_on_get: bool = False
    ttl_refresh_threshold: float = 0.5
    backend: Any = UNSET
    """``UNSET``: Redis from the environment; ``None``: L1-only; a URL or a backend object."""
    l1: L1CacheConfig = field(default_factory=L1CacheConfig)
    circuit_breaker: CircuitBreakerConfig = field(default_factory=CircuitBreakerConfig)
    backpressure: BackpressureConfig = field(default_factory=BackpressureConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    encryption: EncryptionConfig = field(default_factory=EncryptionConfig)
    timeout: TimeoutConfig | None = None

    def __post_init__(self) -> None:
        if self.ttl is not None and (isinstance(self.ttl, bool) or not isinstance(self.ttl, int) or self.ttl <= 0):
            raise ConfigurationError(
                f"DecoratorConfig: ttl must be a positive whole number of seconds, got {self.ttl!r}"
            )
        if not isinstance(self.integrity_checking, bool):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError("DecoratorConfig: integrity_checking must be True or False")

    def to_parameters(self) -> dict[str, Any]:
        """The ``@cache`` parameters this config stands for."""
        out: dict[str, Any] = {
            "serializer": self.serializer,
            "integrity_checking": self.integrity_checking,
            "refresh_ttl_on_get": self.refresh_ttl_on_get,
            "ttl_refresh_threshold": self.ttl_refresh_threshold,
            "l1": self.l1,
            "circuit_breaker": self.circuit_breaker,
            "backpressure": self.backpressure,
            "monitoring": self.monitoring,
            "encryption": self.encryption,
        }
        for name in ("ttl", "namespace", "key", "interop", "timeout"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.backend is not UNSET:
            out["backend"] = self.backend
        return out

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def minimal(cls, **kwargs: Any) -> DecoratorConfig:
        """Speed first: breaker off, no monitoring, TTL 300 s."""
        return cls(
            **{
                "ttl": 300,
                "integrity_checking": False,
                "circuit_breaker": CircuitBreakerConfig(enabled=False),
                "backpressure": BackpressureConfig(enabled=True),
                "monitoring": MonitoringConfig(
                    collect_stats=False,
                    enable_tracing=False,
                    enable_structured_logging=False,
                    enable_prometheus_metrics=False,
                ),
                **kwargs,
            }
        )

    @classmethod
    def production(cls, **kwargs: Any) -> DecoratorConfig:
        """Every protection and all monitoring on, TTL 600 s."""
        return cls(
            **{
                "ttl": 600,
                "circuit_breaker": CircuitBreakerConfig(enabled=True),
                "backpressure": BackpressureConfig(enabled=True),
                "monitoring": MonitoringConfig(),
                **kwargs,
            }
        )

    @classmethod
    def secure(cls, master_key: str, tenant_extractor: Any = None, **kwargs: Any) -> DecoratorConfig:
        """Production with encryption under ``master_key`` (64 hex digits), TTL 600 s.
        ``deployment_uuid=`` and ``fail_closed=`` go to its ``EncryptionConfig``."""
        if isinstance(master_key, (bytes, bytearray)):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError("DecoratorConfig.secure: pass the master key as hex (key.hex()), not bytes")
        if "encryption" in kwargs:
            raise ConfigurationError("DecoratorConfig.secure sets its own encryption; encryption= cannot override it")
        if kwargs.get("integrity_checking", True) is not True:
            raise ConfigurationError("DecoratorConfig.secure forces integrity checking on; omit integrity_checking")
        enc = {k: kwargs.pop(k) for k in ("deployment_uuid", "fail_closed", "single_tenant_mode") if k in kwargs}
        encryption = EncryptionConfig(
            enabled=True,
            master_key=master_key,
            tenant_extractor=tenant_extractor,
            single_tenant_mode=enc.pop("single_tenant_mode", tenant_extractor is None),
            **enc,
        )
        return cls(
            **{
                "ttl": 600,
                "circuit_breaker": CircuitBreakerConfig(enabled=True),
                "backpressure": BackpressureConfig(enabled=True),
                "monitoring": MonitoringConfig(),
                **kwargs,
                "encryption": encryption,
            }
        )

    @classmethod
    def dev(cls, **kwargs: Any) -> DecoratorConfig:
        """Development: protections on, stats and logging on, no Prometheus series, TTL 300 s."""
        return cls(
            **{
                "ttl": 300,
                "circuit_breaker": CircuitBreakerConfig(enabled=True),
                "backpressure": BackpressureConfig(enabled=True),
                "monitoring": MonitoringConfig(enable_prometheus_metrics=False),
                **kwargs,
            }
        )

    @classmethod
    def test(cls, **kwargs: Any) -> DecoratorConfig:
        """Tests: protections and monitoring off, TTL 300 s."""
        return cls(
            **{
                "ttl": 300,
                "integrity_checking": False,
                "circuit_breaker": CircuitBreakerConfig(enabled=False),
                "backpressure": BackpressureConfig(enabled=False),
                "monitoring": MonitoringConfig(
                    collect_stats=False,
                    enable_tracing=False,
                    enable_structured_logging=False,
                    enable_prometheus_metrics=False,
                ),
                **kwargs,
            }
        )


__all__ = ["UNSET", "DecoratorConfig"]
