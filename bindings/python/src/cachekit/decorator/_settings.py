"""What ``@cache(...)`` was given, checked and resolved into core options,
client settings, names and a serializer (one ``Settings`` per decorated
function)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from cachekit._unset import UNSET
from cachekit.backends.redis import RedisBackend
from cachekit.config import CachekitConfig, DecoratorConfig, get_settings
from cachekit.config.nested import (
    CircuitBreakerConfig,
    EncryptionConfig,
    L1CacheConfig,
    MonitoringConfig,
)
from cachekit.decorator._names import default_namespace, default_operation
from cachekit.decorator._profiles import PROFILES, detect_profile
from cachekit.errors import ConfigurationError
from cachekit.serializers import EncryptionWrapper, SerializerProtocol, get_serializer
from cachekit.serializers.base import format_tag


def _key_hexes(keys: Any) -> list[str]:
    if isinstance(keys, (str, bytes, bytearray)):
        keys = [keys]
    return [k.hex() if isinstance(k, (bytes, bytearray)) else str(k) for k in keys]


def _master_key_configured(config: CachekitConfig | None) -> bool:
    if config is not None and config.master_key:
        return True
    return bool(os.environ.get("CACHEKIT_MASTER_KEY"))


def _bool_or(cfg: Any, default: bool) -> Any:
    if cfg is None:
        return default
    if isinstance(cfg, bool):
        return cfg
    return cfg.to_core()


def _check_interop_parameters(interop: Any, kw: dict[str, Any], given: Callable[[str], bool]) -> None:
    """Refuse, at decoration, what would make an interop key other than the
    protocol's or no key at all (the protocol: interop fails loud)."""
    if not isinstance(interop, str) or not interop:
        raise ConfigurationError(f"interop= takes the operation name (a non-empty str), got {interop!r}")
    if given("key") and kw["key"] is not None:
        raise ConfigurationError(
            "interop= and key= cannot be combined: an interop key is derived from the canonical arguments "
            + "by the protocol, so every call would map to the one key key= builds"
        )
    if not given("namespace") or kw["namespace"] is None:
        raise ConfigurationError(
            f'interop mode needs an explicit namespace: @cache(interop="{interop}", namespace="users"). '
            + "The namespace is the first segment of the key every SDK derives"
        )
    if "backend" in kw and kw["backend"] is None:
        raise ConfigurationError(
            "interop mode needs a shared L2: backend=None is L1-only (in this process), so nothing would be "
            + "shared with another SDK"
        )
    backend = kw.get("backend")
    prefix = getattr(backend, "key_prefix", None) or getattr(backend, "_key_prefix", None)
    if backend is not None and not isinstance(backend, str) and prefix:
        raise ConfigurationError(
            f"interop mode cannot use a key-prefixing backend ({type(backend).__name__} has key_prefix={prefix!r}): "
            + "other SDKs read the bare protocol key"
        )


def _deployment_uuid(raw: Any, source: str, interop: bool) -> str:
    """A deployment UUID checked as the reference SDK checks it: a valid UUID,
    used in its canonical form; in interop mode it must already be canonical
    (another SDK uses the literal string as the tenant)."""
    import uuid

    try:
        canonical = str(uuid.UUID(str(raw)))
    except ValueError:
        raise ConfigurationError(f"{source} must be a valid UUID") from None
    if interop and str(raw).strip() != canonical:
        raise ConfigurationError(
            f"interop mode needs {source} in canonical form ({canonical!r}): other SDKs use the literal string "
            + "as the encryption tenant"
        )
    return canonical


def _encryption_tenant(kw: dict[str, Any], given: Callable[[str], bool], interop: bool, has_tenant: bool) -> str | None:
    """The encryption tenant of an encrypted namespace: ``tenant_id=`` or its
    reference spelling ``deployment_uuid=``, else (without a tenant from an
    ``EncryptionWrapper``) ``CACHEKIT_DEPLOYMENT_UUID``; ``None`` leaves it to
    the core (``CACHEKIT_TENANT_ID``, else ``"default"``)."""
    tenant = str(kw["tenant_id"]) if given("tenant_id") and kw["tenant_id"] is not None else None
    du = kw.get("deployment_uuid") if given("deployment_uuid") else None
    if du is not None:
        canonical = _deployment_uuid(du, "deployment_uuid", interop)
        if tenant is not None and tenant != canonical:
            raise ConfigurationError(
                f"tenant_id={tenant!r} and deployment_uuid={du!r} name different tenants; they are two spellings "
                + "of one setting, pass one"
            )
        return canonical
    if tenant is not None or has_tenant:
        return tenant
    env = os.environ.get("CACHEKIT_DEPLOYMENT_UUID", "").strip()
    if env:
        return _deployment_uuid(env, "CACHEKIT_DEPLOYMENT_UUID", interop)
    return None


def expand_reference_forms(kw: dict[str, Any]) -> dict[str, Any]:
    """The reference SDK's forms rewritten into this package's parameters:
    ``config=DecoratorConfig(...)`` (its fields, under the parameters given
    beside it), ``encryption=EncryptionConfig(...)`` and ``backend=RedisBackend(...)``."""
    config = kw.get("config", UNSET)
    if isinstance(config, DecoratorConfig):
        kw = {**config.to_parameters(), **{k: v for k, v in kw.items() if k != "config"}}
    enc = kw.get("encryption", UNSET)
    if isinstance(enc, EncryptionConfig):
        if enc.tenant_extractor is not None:
            raise ConfigurationError(
                "EncryptionConfig(tenant_extractor=...) is not supported: this package encrypts a function's "
                + "entries under one tenant (tenant_id= / deployment_uuid=)"
            )
        kw = {k: v for k, v in kw.items() if k != "encryption"}
        if enc.enabled is not None:
            kw["encryption"] = bool(enc.enabled)
        if enc.master_key is not None:
            kw.setdefault("master_key", enc.master_key)
        if enc.deployment_uuid is not None:
            kw.setdefault("deployment_uuid", enc.deployment_uuid)
    backend = kw.get("backend", UNSET)
    if isinstance(backend, RedisBackend):
        kw = {k: v for k, v in kw.items() if k != "backend"}
        if backend.redis_url:
            kw["backend"] = backend.redis_url
    return kw


def _default_ttl(config: CachekitConfig | None) -> int:
    """The TTL of a namespace without ``ttl=``: the client's ``default_ttl``
    (``CACHEKIT_DEFAULT_TTL``, 3600), as the core reads it."""
    return int((config if config is not None else get_settings()).default_ttl)


class Settings:
    """Everything a decorated function was configured with, resolved: the
    profile, the core options (``options``), the names, the serializer and
    the client settings. Each step below resolves one group of parameters."""

    def __init__(self, func: Callable[..., Any], preset: str | None, kw: dict[str, Any]) -> None:
        self._kw: dict[str, Any] = expand_reference_forms(kw)
        config: CachekitConfig | None = self._get("config")
        p = self._profile(func, preset, config)
        interop = self._get("interop")
        self.interop: bool = interop is not None
        if self.interop:
            _check_interop_parameters(interop, self._kw, self._given)
        opts: dict[str, Any] = {}
        ttl = self._get("ttl")
        if ttl is not None:
            if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0:
                raise ConfigurationError(f"ttl must be a positive number of seconds, got {ttl!r}")
            opts["ttl"] = max(1, int(ttl))
        if self.interop:
            opts["format"] = "interop"
        self._reliability(opts, p)
        self._l1(opts)
        self._serializer_and_encryption(opts, p, config)
        self.options: dict[str, Any] = opts
        self._names(func, interop)
        self._client(config)
        self._freshness(opts, config)

    def _given(self, name: str) -> bool:
        return self._kw.get(name, UNSET) is not UNSET

    def _get(self, name: str) -> Any:
        """The parameter's value, ``None`` when it was not given."""
        value = self._kw.get(name, UNSET)
        return None if value is UNSET else value

    def _profile(self, func: Callable[..., Any], preset: str | None, config: CachekitConfig | None) -> dict[str, Any]:
        """The preset or the profile picked from the name, with the monitoring parameters applied."""
        kw, given = self._kw, self._given
        name = getattr(func, "__name__", "function")
        profile = preset or detect_profile(name, _master_key_configured(config))
        if kw.get("fast_mode") is True:  # a manual parameter: wins over a preset too
            profile = "minimal"
        p = dict(PROFILES[profile])
        self.profile: str = profile
        mon: MonitoringConfig | None = self._get("monitoring")
        if mon is not None:
            p["collect_stats"] = mon.collect_stats
            p["enable_tracing"] = mon.enable_tracing
            p["enable_structured_logging"] = mon.enable_structured_logging
            if not mon.enable_prometheus_metrics:
                p["collect_stats"] = False
        for k in ("collect_stats", "enable_tracing", "enable_structured_logging"):
            if given(k):
                p[k] = bool(kw[k])
        return p

    def _reliability(self, opts: dict[str, Any], p: dict[str, Any]) -> None:
        """Circuit breaker, adaptive timeout, backpressure, stats and logging."""
        kw = self._kw
        cb_param: Any = self._get("circuit_breaker")
        cb_cfg: Any = self._get("circuit_breaker_config")
        breaker_cfg = cb_param if isinstance(cb_param, CircuitBreakerConfig) else cb_cfg
        self.excluded_exceptions: tuple[type[BaseException], ...] = (
            tuple(breaker_cfg.excluded_exceptions) if isinstance(breaker_cfg, CircuitBreakerConfig) else ()
        )
        if cb_param is False:
            opts["circuit_breaker"] = False
        elif isinstance(cb_param, CircuitBreakerConfig):
            opts["circuit_breaker"] = cb_param.to_core()
        elif cb_cfg is not None:
            opts["circuit_breaker"] = cb_cfg.to_core()
        else:
            opts["circuit_breaker"] = True if cb_param is True else p["circuit_breaker"]
        at: Any = self._get("adaptive_timeout")
        if (at is None or at is True) and self._get("timeout") is not None:
            at = kw["timeout"]
        opts["adaptive_timeout"] = _bool_or(at, p["adaptive_timeout"])
        opts["backpressure"] = _bool_or(self._get("backpressure"), p["backpressure"])
        if self._get("max_concurrent_requests") is not None:
            opts["max_concurrent_requests"] = int(kw["max_concurrent_requests"])
        opts["collect_stats"] = bool(p["collect_stats"])
        opts["structured_logging"] = bool(p["enable_structured_logging"])
        self.verbose: bool = bool(p.get("verbose_logging"))
        self.tracing: bool = bool(p["enable_tracing"])

    def _l1(self, opts: dict[str, Any]) -> None:
        """L1 options (``l1=L1CacheConfig(...)``, then the flat parameters) and ``fail_closed``."""
        kw, given = self._kw, self._given
        l1: L1CacheConfig | None = self._get("l1")
        if l1 is not None:
            opts["l1_enabled"] = l1.enabled
            if l1.max_size_mb is not None:
                opts["l1_max_size_mb"] = int(l1.max_size_mb)
            if l1.plaintext:
                opts["l1_plaintext"] = True
        if self._get("l1_enabled") is not None:
            opts["l1_enabled"] = bool(kw["l1_enabled"])
        if given("l1_plaintext"):
            opts["l1_plaintext"] = bool(kw["l1_plaintext"])
        if given("fail_closed"):
            opts["fail_closed"] = bool(kw["fail_closed"])

    def _serializer_and_encryption(
        self, opts: dict[str, Any], p: dict[str, Any], config: CachekitConfig | None
    ) -> None:
        kw, given = self._kw, self._given
        ser_spec = self._get("serializer")
        integrity = kw.get("integrity_checking", True) if given("integrity_checking") else True
        if not isinstance(integrity, bool):
            raise ConfigurationError(f"integrity_checking must be True or False, got {integrity!r}")
        # Accepted as the reference's parameter, no effect: the core checksums every entry.
        self.integrity_checking: bool = integrity
        serializer: SerializerProtocol = get_serializer(ser_spec, enable_integrity_checking=integrity)
        encryption = bool(p.get("encryption"))
        if isinstance(serializer, EncryptionWrapper):
            opts.update(serializer.core_options())
            encryption = serializer.enable_encryption
        if given("encryption"):
            encryption = bool(kw["encryption"])
        if encryption:
            opts["encryption"] = True
            mk = self._get("master_key")
            if mk is not None:
                opts["master_key"] = mk.hex() if isinstance(mk, (bytes, bytearray)) else str(mk)
            elif "master_key" not in opts and config is not None and config.master_key:
                opts["master_key"] = config.master_key
            tenant = _encryption_tenant(kw, given, self.interop, "tenant_id" in opts)
            if tenant is not None:
                opts["tenant_id"] = tenant
            if self._get("decrypt_only_keys"):
                opts["decrypt_only_keys"] = _key_hexes(kw["decrypt_only_keys"])
        else:
            opts.pop("encryption", None)
            opts.pop("master_key", None)
            opts.pop("decrypt_only_keys", None)
        self.serializer: SerializerProtocol = serializer
        self.serializer_tag: str = format_tag(serializer)
        opts["serializer"] = self.serializer_tag
        if self.interop and self.serializer_tag != "msgpack":
            raise ConfigurationError(
                "interop mode stores plain MessagePack for other languages; "
                + f"serializer {self.serializer_tag!r} cannot be used"
            )

    def _names(self, func: Callable[..., Any], interop: Any) -> None:
        """Namespace, operation and the ``key=`` function."""
        ns = self._get("namespace")
        self.namespace: str = ns if ns is not None else default_namespace(func, strict=self.interop)
        operation = self._get("operation")
        if self.interop:
            self.operation: str = str(interop)
        elif operation:
            self.operation = str(operation)
        else:
            self.operation = default_operation(func)
        self.key_fn: Callable[..., Any] | None = self._get("key")

    def _client(self, config: CachekitConfig | None) -> None:
        """The client: explicit settings JSON (``None``: environment only) and a custom backend."""
        backend = self._kw.get("backend", UNSET)
        doc: dict[str, Any] = json.loads(config.to_core_json()) if config is not None else {}
        if backend is None:
            doc["redis_url"] = None
        elif isinstance(backend, str):
            doc["redis_url"] = backend
        self.custom_backend: Any = None
        if backend is not None and backend is not UNSET and not isinstance(backend, str):
            self.custom_backend = backend
            doc.pop("redis_url", None)
        self.client_json: str | None = json.dumps(doc, sort_keys=True) if doc else None

    def _freshness(self, opts: dict[str, Any], config: CachekitConfig | None) -> None:
        """Freshness options, forwarded to the core when given; the TTL of ``None``
        results. ``safe_mode`` is accepted for compatibility and has no effect."""
        kw = self._kw
        self.safe_mode: bool = bool(kw.get("safe_mode") or False)
        for name, conv in _FRESHNESS_OPTIONS.items():
            if self._get(name) is not None:
                opts[name] = conv(kw[name])
        # None results are cached, as the reference and functools.lru_cache do:
        # the core caches a null result only with negative_ttl, so without one
        # it is the function's TTL.
        if "negative_ttl" not in opts:
            opts["negative_ttl"] = opts["ttl"] if "ttl" in opts else _default_ttl(config)


def _read_lock_combined(v: Any) -> Any:
    if v == "auto" or isinstance(v, bool):
        return v
    raise ConfigurationError(f"read_lock_combined must be True, False or 'auto', got {v!r}")


# Core options forwarded as they are when given (README: "Parameters").
_FRESHNESS_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "refresh_ttl_on_get": bool,
    "ttl_refresh_threshold": float,
    "pipelined": bool,
    "early_refresh_beta": float,
    "stale_while_revalidate": int,
    "negative_ttl": int,
    "distributed_lock": bool,
    "lock_ttl_ms": int,
    "fill_wait_ms": int,
    "l1_sync_ms": int,
    "max_background_refreshes": int,
    "read_lock_combined": _read_lock_combined,
}

# Every keyword ``@cache(...)`` takes.
_PARAMETERS = frozenset(
    (
        "ttl", "namespace", "safe_mode", "backend", "l1_enabled", "fast_mode", "circuit_breaker",
        "circuit_breaker_config", "adaptive_timeout", "timeout", "backpressure", "max_concurrent_requests",
        "collect_stats", "enable_tracing", "enable_structured_logging", "serializer", "l1", "monitoring",
        "interop", "key", "operation", "master_key", "decrypt_only_keys", "tenant_id", "encryption", "l1_plaintext",
        "fail_closed", "config", "deployment_uuid", "integrity_checking", *_FRESHNESS_OPTIONS,
    )
)  # fmt: skip


def check_parameters(kwargs: dict[str, Any]) -> None:
    unknown = sorted(set(kwargs) - _PARAMETERS)
    if unknown:
        import difflib

        hints = [f"{u!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(u, _PARAMETERS, 1)) else repr(u)
                 for u in unknown]  # fmt: skip
        raise TypeError(f"@cache got unexpected keyword argument(s) {', '.join(hints)}")
