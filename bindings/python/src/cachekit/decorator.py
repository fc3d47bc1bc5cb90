"""The ``@cache`` decorator.

Each decorated function gets one core namespace handle (``ck_cache``). A call
encodes its bound arguments once and makes one foreign call
(``ck_fill_begin_borrowed``): a hit is decoded and returned; a miss gives a
lease, the function runs, and the encoded result completes the lease. Retries,
locks, TTLs, L1, single-flight and fail-open are the core's.
"""

from __future__ import annotations

import asyncio
import ctypes
import enum
import functools
import inspect
import itertools
import json
import logging
import os
import re
import threading
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, Protocol, TypeVar, overload

from typing_extensions import ParamSpec

from cachekit import _core, _ffi, backends
from cachekit._ffi import CK_OK, CkBuf, lib
from cachekit._keys import ArgBinder, pack_args
from cachekit.config import CachekitConfig
from cachekit.config.nested import (
    BackpressureConfig,
    CircuitBreakerConfig,
    L1CacheConfig,
    MonitoringConfig,
    TimeoutConfig,
)
from cachekit.errors import BackendError, ConfigurationError, InteropError
from cachekit.serializers import EncryptionWrapper, SerializerProtocol, get_serializer

log = logging.getLogger("cachekit")

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()


class InvalidationOutcome(enum.Enum):
    """What ``await f.invalidate_cache(...)`` on an ``async def`` function did in
    L2 (the reference SDK's result): ``SUCCEEDED`` the delete went through,
    ``FAILED`` L2 refused it (fail-closed namespaces; otherwise the core fails
    open and logs), ``NO_L2`` there is no L2 (``backend=None``). ``None`` for
    the whole-function form (no arguments on a function that takes some)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    NO_L2 = "no_l2"


class _Done:
    """An awaitable whose value is already known (no event loop was running)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value: Any = value

    def __await__(self) -> Any:
        return self.value
        yield  # pragma: no cover - makes this a generator


def _awaitable(job: Callable[[], Any]) -> Any:
    """Start ``job`` now and return something to await for its result: inside a
    running event loop a future of the default executor (no loop thread waits
    on Redis), else the result computed here."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return _Done(job())
    return loop.run_in_executor(None, job)


def _count(c: itertools.count[int]) -> int:
    """The next value of a counter, not taken (``itertools.count`` is atomic to advance)."""
    return int(repr(c)[len("count(") : -1])


def _same(fn: Callable[..., Any]) -> Callable[..., Any]:
    return fn


def _interop_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """In interop mode an argument the core refuses is an ``InteropError`` (one error type)."""

    @functools.wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InteropError:
            raise
        except (ConfigurationError, TypeError) as e:
            if isinstance(e, _Uncached):
                raise
            raise InteropError(f"cachekit: argument outside the interop data model: {e}") from e

    return inner


def health_superset(h: dict[str, Any]) -> dict[str, Any]:
    """The core's report (the API reference's shape) plus the keys the
    reference SDK 0.24.1 returns: ``healthy``, ``overall_healthy`` and
    ``components`` (whose ``circuit_breaker.state`` is lower case, as 0.24.1
    writes it; the top-level ``circuit_breaker.state`` stays ``"CLOSED"``...)."""
    cb = dict(h.get("circuit_breaker") or {})
    state = str(cb.get("state", "CLOSED"))
    healthy = state.upper() != "OPEN" and not cb.get("permanent_error")
    h["healthy"] = healthy
    h["overall_healthy"] = healthy
    cb["state"] = state.lower()
    components: dict[str, Any] = {"circuit_breaker": cb}
    if h.get("backpressure") is not None:
        components["load_control"] = h["backpressure"]
    if h.get("stats") is not None:
        components["metrics"] = h["stats"]
    h["components"] = components
    return h


def check_health_superset(c: dict[str, Any]) -> dict[str, Any]:
    """``check_health()``: the API reference's ``decorator`` and ``system`` plus
    0.24.1's ``status``, ``namespace``, ``components`` (and ``healthy``)."""
    d = health_superset(dict(c.get("decorator") or {}))
    c["decorator"] = d
    system = c.get("system") or {}
    healthy = bool(d["healthy"]) and system.get("status", "healthy") == "healthy"
    c["status"] = "healthy" if healthy else "unhealthy"
    c["healthy"] = healthy
    c["namespace"] = d.get("namespace")
    c["components"] = d["components"]
    return c


class CacheInfo(NamedTuple):
    """Counters of one decorated function (from the core's health report)."""

    hits: int
    misses: int
    maxsize: int
    currsize: int
    l1_hits: int
    l2_hits: int
    l2_errors: int


class CacheMethods(Protocol):
    """The methods ``@cache`` adds to a function."""

    __name__: str
    __qualname__: str

    def get_health_status(self) -> dict[str, Any]: ...
    def check_health(self) -> dict[str, Any]: ...
    def invalidate_cache(self, *args: Any, **kwargs: Any) -> bool: ...
    async def ainvalidate_cache(self, *args: Any, **kwargs: Any) -> bool: ...
    def cache_clear(self) -> int: ...
    def cache_clear_namespace(self) -> int: ...
    def cache_info(self) -> CacheInfo: ...
    def cache_key(self, *args: Any, **kwargs: Any) -> str: ...
    def cache_exists(self, *args: Any, **kwargs: Any) -> bool: ...
    def cache_ttl(self, *args: Any, **kwargs: Any) -> float | None: ...


class BoundCachedFunction(CacheMethods, Protocol, Generic[R_co]):
    """A decorated method bound to an instance or class: the call and the
    cache methods take the arguments after ``self``/``cls``."""

    def __call__(self, *args: Any, **kwargs: Any) -> R_co: ...


class CachedFunction(CacheMethods, Protocol, Generic[P, R_co]):  # pyright: ignore[reportInvalidTypeVarUse]
    """What ``@cache`` returns: the function, plus the cache methods."""

    __wrapped__: Callable[..., Any]
    cache_serializer: SerializerProtocol
    cache_tracing: bool
    cache_profile: str
    cache_namespace: str
    cache_operation: str
    cache_options: dict[str, Any]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...
    def __get__(self, obj: Any, objtype: Any = None) -> BoundCachedFunction[R_co]: ...


# ------------------------------------------------------------------ profiles

# Core options of each profile (README: "Presets"). Manual parameters win.
PROFILES: dict[str, dict[str, Any]] = {
    "default": {
        "circuit_breaker": True,
        "adaptive_timeout": True,
        "backpressure": True,
        "collect_stats": True,
        "enable_structured_logging": True,
        "enable_tracing": True,
    },
    "minimal": {
        "circuit_breaker": True,
        "adaptive_timeout": False,
        "backpressure": False,
        "collect_stats": False,
        "enable_structured_logging": True,  # warnings (Redis down, mismatches) stay visible
        "enable_tracing": False,
    },
    "production": {
        "circuit_breaker": True,
        "adaptive_timeout": True,
        "backpressure": True,
        "collect_stats": True,
        "enable_structured_logging": True,
        "enable_tracing": True,
    },
    "secure": {
        "circuit_breaker": True,
        "adaptive_timeout": True,
        "backpressure": True,
        "collect_stats": True,
        "enable_structured_logging": True,
        "enable_tracing": True,
        "encryption": True,
    },
    "dev": {
        "circuit_breaker": False,
        "adaptive_timeout": False,
        "backpressure": False,
        "collect_stats": False,  # the reference: "Prometheus disabled for simplicity"
        "enable_structured_logging": True,
        "enable_tracing": False,
        "verbose_logging": True,
    },
    "test": {
        "circuit_breaker": False,
        "adaptive_timeout": False,
        "backpressure": False,
        "collect_stats": False,
        "enable_structured_logging": False,
        "enable_tracing": False,
    },
}
PROFILES["fast"] = PROFILES["minimal"]

_SECURE_WORDS = (
    "user", "auth", "password", "passwd", "token", "secret", "credential", "payment", "credit",
    "card", "ssn", "medical", "patient", "health_record", "financial", "bank", "account",
    "session", "pii", "private", "salary", "tax",
)  # fmt: skip
_FAST_WORDS = ("get", "calc", "compute", "fetch", "lookup", "find", "load", "read", "count", "sum")
_warned_secure = [False]


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()) if w]


def _sensitive(word: str) -> bool:
    """A word of a function name that names sensitive data: a listed word, its
    plural, or a longer word it starts (users, authorize, passwords, sessions)."""
    for w in _SECURE_WORDS:
        if word == w or word == w + "s" or (len(w) >= 4 and w != "card" and word.startswith(w)):
            return True
    return False


def detect_profile(func_name: str, master_key_available: bool) -> str:
    """The profile ``@cache`` picks from a function's name.

    Security-sensitive words (user, auth, payment, ...) give ``secure`` when
    a master key is configured; without one a single warning recommends
    ``@cache.secure`` and the default profile is used. High-frequency words
    (get, calc, compute, ...) give ``fast`` (the minimal options); the rest
    ``default``.
    """
    words = _words(func_name)
    if any(_sensitive(w) for w in words):
        if master_key_available:
            return "secure"
        if not _warned_secure[0]:
            _warned_secure[0] = True
            log.warning(
                "cachekit: %s looks security-sensitive but no master key is configured; caching it "
                + "unencrypted. Use @cache.secure(master_key=...) or set CACHEKIT_MASTER_KEY.",
                func_name,
            )
        return "default"
    if words and words[0] in _FAST_WORDS:
        return "fast"
    return "default"


# ------------------------------------------------------------------ naming

_OP_BAD = re.compile(r"[^A-Za-z0-9._-]")
_NS_BAD = re.compile(r"[^A-Za-z0-9._:-]")
_STRICT_BAD = re.compile(r"[^a-z0-9._-]")


def _fold(s: str, strict: bool, colon: bool) -> str:
    if strict:
        s = _STRICT_BAD.sub("_", s.lower())
        s = re.sub(r"\.\.+", ".", s).lstrip("._-") or "default"
        return s[:64]
    s = (_NS_BAD if colon else _OP_BAD).sub("_", s).lstrip(":") or "default"
    return s[:128]


def default_namespace(func: Callable[..., Any], strict: bool = False) -> str:
    return _fold(getattr(func, "__module__", None) or "default", strict, colon=True)


def default_operation(func: Callable[..., Any], strict: bool = False) -> str:
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", "function")
    return _fold(name.replace("<locals>.", "").replace("<lambda>", "lambda"), strict, colon=False)


# ------------------------------------------------------------------ async plumbing

_async_lock = threading.Lock()
_async_waiting: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = {}
_async_early: dict[int, tuple[int, bytes, bool, int]] = {}
_tokens = itertools.count(1)


def _resolve(fut: asyncio.Future[Any], result: tuple[int, bytes, bool, int]) -> None:
    if fut.cancelled():
        if result[3]:
            lib.ck_lease_abort(result[3])
        return
    fut.set_result(result)


def _on_complete(user: int | None, status: int, value: CkBuf, found: bool, lease: int | None) -> None:
    """Called once per pending async call, from a core thread."""
    try:
        token = int(user or 0)
        data = _ffi.take_buf(value)
        result = (int(status), data, bool(found), int(lease or 0))
        with _async_lock:
            entry = _async_waiting.pop(token, None)
            if entry is None:
                _async_early[token] = result
                return
        loop, fut = entry
        try:
            loop.call_soon_threadsafe(_resolve, fut, result)
        except RuntimeError:  # the loop is closed: nobody will compute
            if result[3]:
                lib.ck_lease_abort(result[3])
    except Exception:
        pass


_completion_cb = _ffi.COMPLETION(_on_complete)  # kept referenced for the process's life
_NULL_COMPLETION = _ffi.COMPLETION()  # a NULL callback


async def _wait_pending(token: int) -> tuple[int, bytes, bool, int]:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[tuple[int, bytes, bool, int]] = loop.create_future()
    with _async_lock:
        early = _async_early.pop(token, None)
        if early is None:
            _async_waiting[token] = (loop, fut)
    if early is not None:
        return early
    return await fut


# ------------------------------------------------------------------ tracing


def _tracer() -> tuple[Any, Any] | None:
    """The OpenTelemetry tracer and ``use_span``, when the API is installed.

    Each call starts a span; a span that does not record (no SDK configured)
    is dropped at once, so the API alone costs a call next to nothing."""
    try:
        from opentelemetry import trace  # pyright: ignore[reportMissingImports]
    except ImportError:
        return None
    return trace.get_tracer("cachekit"), trace.use_span  # pyright: ignore[reportUnknownMemberType]


class _Out:
    """Per-thread out-parameters of the borrowed fill call (no allocation per call)."""

    __slots__ = ("data", "lease", "n", "rd", "rl", "rn")

    def __init__(self) -> None:
        self.data: ctypes.c_void_p = ctypes.c_void_p()
        self.n: ctypes.c_size_t = ctypes.c_size_t()
        self.lease: ctypes.c_void_p = ctypes.c_void_p()
        self.rd: Any = ctypes.byref(self.data)
        self.rn: Any = ctypes.byref(self.n)
        self.rl: Any = ctypes.byref(self.lease)


# ------------------------------------------------------------------ the decorator


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


class _Settings:
    """Everything a decorated function was configured with, resolved."""

    def __init__(self, func: Callable[..., Any], preset: str | None, kw: dict[str, Any]) -> None:
        def given(name: str) -> bool:
            return kw.get(name, UNSET) is not UNSET

        config: CachekitConfig | None = kw.get("config") if given("config") else None
        name = getattr(func, "__name__", "function")
        profile = preset or detect_profile(name, _master_key_configured(config))
        if kw.get("fast_mode") is True:  # a manual parameter: wins over a preset too
            profile = "minimal"
        p = dict(PROFILES[profile])
        self.profile: str = profile

        mon: MonitoringConfig | None = kw.get("monitoring") if given("monitoring") else None
        if mon is not None:
            p["collect_stats"] = mon.collect_stats
            p["enable_tracing"] = mon.enable_tracing
            p["enable_structured_logging"] = mon.enable_structured_logging
            if not mon.enable_prometheus_metrics:
                p["collect_stats"] = False
        for k in ("collect_stats", "enable_tracing", "enable_structured_logging"):
            if given(k):
                p[k] = bool(kw[k])

        interop = kw.get("interop") if given("interop") else None
        self.interop: bool = interop is not None
        if self.interop:
            _check_interop_parameters(interop, kw, given)
        opts: dict[str, Any] = {}
        if given("ttl") and kw["ttl"] is not None:
            ttl = kw["ttl"]
            if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0:
                raise ConfigurationError(f"ttl must be a positive number of seconds, got {ttl!r}")
            opts["ttl"] = max(1, int(ttl))
        if self.interop:
            opts["format"] = "interop"

        # reliability
        cb_param: Any = kw.get("circuit_breaker") if given("circuit_breaker") else None
        cb_cfg: Any = kw.get("circuit_breaker_config") if given("circuit_breaker_config") else None
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
        at: Any = kw.get("adaptive_timeout") if given("adaptive_timeout") else None
        if (at is None or at is True) and given("timeout") and kw["timeout"] is not None:
            at = kw["timeout"]
        opts["adaptive_timeout"] = _bool_or(at, p["adaptive_timeout"])
        bp: Any = kw.get("backpressure") if given("backpressure") else None
        opts["backpressure"] = _bool_or(bp, p["backpressure"])
        if given("max_concurrent_requests") and kw["max_concurrent_requests"] is not None:
            opts["max_concurrent_requests"] = int(kw["max_concurrent_requests"])
        opts["collect_stats"] = bool(p["collect_stats"])
        opts["structured_logging"] = bool(p["enable_structured_logging"])
        self.verbose: bool = bool(p.get("verbose_logging"))
        self.tracing: bool = bool(p["enable_tracing"])

        # L1
        l1: L1CacheConfig | None = kw.get("l1") if given("l1") else None
        if l1 is not None:
            opts["l1_enabled"] = l1.enabled
            if l1.max_size_mb is not None:
                opts["l1_max_size_mb"] = int(l1.max_size_mb)
            if l1.plaintext:
                opts["l1_plaintext"] = True
        if given("l1_enabled") and kw["l1_enabled"] is not None:
            opts["l1_enabled"] = bool(kw["l1_enabled"])
        if given("l1_plaintext"):
            opts["l1_plaintext"] = bool(kw["l1_plaintext"])
        if given("fail_closed"):
            opts["fail_closed"] = bool(kw["fail_closed"])

        # serializer and encryption
        ser_spec = kw.get("serializer") if given("serializer") else None
        serializer: SerializerProtocol = get_serializer(ser_spec)
        encryption = bool(p.get("encryption"))
        if isinstance(serializer, EncryptionWrapper):
            opts.update(serializer.core_options())
            encryption = serializer.enable_encryption
        if given("encryption"):
            encryption = bool(kw["encryption"])
        if encryption:
            opts["encryption"] = True
            mk = kw.get("master_key") if given("master_key") else None
            if mk is not None:
                opts["master_key"] = mk.hex() if isinstance(mk, (bytes, bytearray)) else str(mk)
            elif "master_key" not in opts and config is not None and config.master_key:
                opts["master_key"] = config.master_key
            tenant = _encryption_tenant(kw, given, self.interop, "tenant_id" in opts)
            if tenant is not None:
                opts["tenant_id"] = tenant
            if given("decrypt_only_keys") and kw["decrypt_only_keys"]:
                opts["decrypt_only_keys"] = _key_hexes(kw["decrypt_only_keys"])
        else:
            opts.pop("encryption", None)
            opts.pop("master_key", None)
            opts.pop("decrypt_only_keys", None)
        self.serializer: SerializerProtocol = serializer
        opts["serializer"] = serializer.name
        if self.interop and serializer.name != "msgpack":
            raise ConfigurationError(
                "interop mode stores plain MessagePack for other languages; "
                + f"serializer {serializer.name!r} cannot be used"
            )
        self.options: dict[str, Any] = opts

        # names
        ns = kw.get("namespace") if given("namespace") else None
        self.namespace: str = ns if ns is not None else default_namespace(func, strict=self.interop)
        if self.interop:
            self.operation: str = str(interop)
        elif given("operation") and kw["operation"]:
            self.operation = str(kw["operation"])
        else:
            self.operation = default_operation(func)
        self.key_fn: Callable[..., Any] | None = kw.get("key") if given("key") else None

        # client: explicit settings JSON (None: environment only)
        backend = kw.get("backend", UNSET)
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

        # Freshness options, forwarded to the core when given. safe_mode is
        # accepted for compatibility with the reference and has no effect.
        self.safe_mode: bool = bool(kw.get("safe_mode") or False)
        for name, conv in _FRESHNESS_OPTIONS.items():
            if given(name) and kw[name] is not None:
                opts[name] = conv(kw[name])


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
        "fail_closed", "config", *_FRESHNESS_OPTIONS,
    )
)  # fmt: skip


def _check_parameters(kwargs: dict[str, Any]) -> None:
    unknown = sorted(set(kwargs) - _PARAMETERS)
    if unknown:
        import difflib

        hints = [f"{u!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(u, _PARAMETERS, 1)) else repr(u)
                 for u in unknown]  # fmt: skip
        raise TypeError(f"@cache got unexpected keyword argument(s) {', '.join(hints)}")


# ------------------------------------------------------------------ background refreshes

_refresh_pool: list[Any] = [None, 0]  # executor, pid that made it
_refresh_lock = threading.Lock()
_refresh_tasks: set[asyncio.Task[Any]] = set()


def _submit_refresh(job: Callable[[], None]) -> None:
    """Run a refresh the core asked for (a value was returned together with a lease)."""
    from concurrent.futures import ThreadPoolExecutor

    with _refresh_lock:
        if _refresh_pool[0] is None or _refresh_pool[1] != os.getpid():  # new, or inherited by a fork
            _refresh_pool[0] = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cachekit-refresh")
            _refresh_pool[1] = os.getpid()
        pool = _refresh_pool[0]
    pool.submit(job)


class _Uncached(TypeError):
    """The key of this call cannot be built (``key=`` failed): run it uncached."""


# Core statuses that, in interop mode, mean "outside the interop data model".
_INTEROP_REFUSALS = frozenset((_ffi.CK_INVALID_KEY, _ffi.CK_ENCODE, _ffi.CK_INVALID_ARGUMENT))


def _check_names(ns: _core.Namespace, s: _Settings, op: bytes, custom_key: bool) -> None:
    """Checks made when the function is decorated, not at its first call:
    the operation name (the core validates it when it builds a key), and in
    interop mode that the key is exactly the protocol's."""
    try:
        key = ns.make_key(op, b"\x90")
    except ConfigurationError as e:
        raise ConfigurationError(f"invalid operation name {s.operation!r} for namespace {s.namespace!r}: {e}") from e
    if not s.interop:
        return
    want = f"{s.namespace}:{s.operation}:"
    if not key.startswith(want):
        cfg = ns.health().get("config") or {}
        causes = [
            f"{name}={cfg.get(field)!r}"
            for field, name in (
                ("key_prefix", "key_prefix / CACHEKIT_KEY_PREFIX"),
                ("tenant_id", "tenant_id / CACHEKIT_TENANT_ID"),
            )
            if cfg.get(field)
        ]
        raise ConfigurationError(
            f"interop mode stores under exactly the protocol's key {want}<hash>, but this client's settings "
            + f"({', '.join(causes) or 'a key prefix'}) would make it {key.rsplit(':', 1)[0]}:<hash>, which no other "
            + "SDK reads. Unset them for this function (config=CachekitConfig(key_prefix='', tenant_id=None)) or "
            + "use the envelope format; for an encrypted interop tenant pass tenant_id=/deployment_uuid= to @cache"
        )


def _skip_first(func: Callable[..., Any]) -> bool:
    params = list(inspect.signature(func).parameters)
    return bool(params) and params[0] in ("self", "cls")


def _wrap(func: Any, preset: str | None, kw: dict[str, Any]) -> Any:
    # classmethod / staticmethod objects: decorate the function inside.
    if isinstance(func, staticmethod):
        return staticmethod(_wrap(func.__func__, preset, kw))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    if isinstance(func, classmethod):
        inner = _wrap(func.__func__, preset, kw)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        return _CachedClassMethod(inner.__wrapped_cache__ if isinstance(inner, _CachedMethod) else inner)
    if not callable(func):
        raise TypeError(f"@cache decorates functions, not {type(func).__name__}")

    s = _Settings(func, preset, kw)
    if s.custom_backend is not None:
        client = backends.client_for(s.custom_backend, s.client_json, s.excluded_exceptions)
    else:
        client = _core.get_client(s.client_json)
    ns = _core.Namespace(client, s.namespace, s.options)
    if s.verbose:
        _core.verbose_namespaces.add(s.namespace)
        _core.install_log_callback(10)
    binder = ArgBinder(func, _skip_first(func), interop=s.interop)
    key_fn = s.key_fn
    fname = getattr(func, "__qualname__", "function")
    if key_fn is not None:
        kf = key_fn

        def encode(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
            # Fail-open, as the reference SDK: a key function that raises or
            # does not return a str leaves this call uncached, with a warning.
            try:
                k = kf(*args, **kwargs)
            except Exception as e:
                log.warning("cachekit: key= function of %s raised %r; the call runs uncached", fname, e)
                raise _Uncached(f"cachekit: the key= function of {fname} raised {e!r}") from e
            if not isinstance(k, str):
                log.warning(
                    "cachekit: key= function of %s returned %s, not a str; the call runs uncached",
                    fname,
                    type(k).__name__,
                )
                raise _Uncached(f"cachekit: the key= function of {fname} returned {type(k).__name__}, not a str")
            return pack_args([k])
    else:
        encode = binder.encode

    op = s.operation.encode()
    _check_names(ns, s, op, key_fn is not None)
    l2 = ns.health().get("backend") != "none"
    handle = ns.handle
    serializer = s.serializer
    ser = serializer.serialize
    deser = serializer.deserialize
    fill = lib.ck_fill_begin_borrowed
    complete = lib.ck_lease_complete
    abort = lib.ck_lease_abort
    string_at = ctypes.string_at
    tls = threading.local()
    interop = s.interop
    # Calls answered with a value (L1, L2, or another caller's fill) and calls
    # that ran the function: counted per call here, so hits + misses = calls.
    hits_c = itertools.count()
    misses_c = itertools.count()
    hit = hits_c.__next__
    miss = misses_c.__next__

    def store(lease: int, result: Any, complete_fn: Any, *extra: Any) -> None:
        try:
            value = ser(result)
        except Exception as e:
            abort(lease)
            if interop:  # the protocol: a value outside the interop model fails loud
                raise InteropError(
                    f"cachekit: the result of {fname} ({type(result).__name__}) is not an interop value "
                    + f"(None, bool, int, float, str, bytes, list, tuple, dict with str keys, datetime/date/time): {e}"
                ) from e
            log.warning("cachekit: result of %s not cached: cannot serialize it with %s: %s", fname, serializer.name, e)
            return
        status = complete_fn(lease, value, len(value), 0, *extra)
        if status != CK_OK:
            if status == _ffi.CK_BACKEND:
                _core.raise_status(status, f"storing the result of {fname}")
            if interop and status in _INTEROP_REFUSALS:
                raise InteropError(f"cachekit: the result of {fname} is not an interop value: {_ffi.last_error()}")
            log.warning("cachekit: result of %s not cached: %s", fname, _ffi.last_error())

    def lookup_failed(status: int) -> None:
        if interop and status in _INTEROP_REFUSALS:
            why = _ffi.last_error()
            raise InteropError(f"cachekit: an argument of {fname} is outside the interop data model: {why}")
        _core.raise_status(status, f"looking up {fname}")

    def undecodable(e: Exception, a: bytes) -> None:
        # The core counts, logs and deletes it in the background (never
        # blocking an event loop); the caller recomputes.
        ns.discard(op, a, f"{serializer.name} cannot decode it: {e}")

    if inspect.iscoroutinefunction(func):
        fill_async = lib.ck_fill_begin_async
        complete_async = lib.ck_lease_complete_async
        take = _ffi.take_buf
        cb = _completion_cb

        async def arefresh(lease_p: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            try:
                result = await func(*args, **kwargs)
            except BaseException as e:
                abort(lease_p)
                log.warning("cachekit: background refresh of %s failed: %r", fname, e)
                return
            store(lease_p, result, complete_async, _NULL_COMPLETION, None)

        peek = lib.ck_peek_borrowed

        async def acall(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, bool]:
            if kwargs and "_bypass_cache" in kwargs and kwargs.pop("_bypass_cache"):
                return await func(*args, **kwargs), False
            try:
                a = encode(args, kwargs)
            except _Uncached:
                return await func(*args, **kwargs), False
            # An L1 hit in one foreign call on the loop thread (no I/O).
            try:
                o = tls.o
            except AttributeError:
                o = tls.o = _Out()
            if peek(handle, op, a, len(a), o.rd, o.rn) == CK_OK and o.data.value:
                n = o.n.value
                data = string_at(o.data, n) if n else b""
                try:
                    value = deser(data)
                except Exception as e:
                    undecodable(e, a)
                    miss()
                    return await func(*args, **kwargs), False
                hit()
                return value, True
            buf = CkBuf()
            lease = ctypes.c_void_p()
            pending = ctypes.c_bool()
            token = next(_tokens)
            status = fill_async(
                handle, op, a, len(a), cb, token, ctypes.byref(buf), ctypes.byref(lease), ctypes.byref(pending)
            )
            if status == _ffi.CK_CLOSED:  # called after the exit hook: no completion would come
                return await func(*args, **kwargs), False
            if status != CK_OK:
                lookup_failed(status)
            if pending.value:
                status, data, found, lease_p = await _wait_pending(token)
                if status != CK_OK:
                    _core.raise_status(status, f"looking up {fname}: {data.decode('utf-8', 'replace')}")
            else:
                lease_p = int(lease.value or 0)
                found = bool(buf.data)
                data = take(buf)
            if lease_p and found:  # a value and a lease: return it, refresh in the background
                task = asyncio.get_running_loop().create_task(arefresh(lease_p, args, kwargs))
                _refresh_tasks.add(task)
                task.add_done_callback(_refresh_tasks.discard)
                lease_p = 0
            if not lease_p:
                try:
                    value = deser(data)
                except Exception as e:
                    undecodable(e, a)
                    miss()
                    return await func(*args, **kwargs), False
                hit()
                return value, True
            miss()
            try:
                result = await func(*args, **kwargs)
            except BaseException:
                abort(lease_p)
                raise
            store(lease_p, result, complete_async, _NULL_COMPLETION, None)
            return result, False

        tracer = _tracer() if s.tracing else None
        if tracer is None:

            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                return (await acall(args, kwargs))[0]
        else:
            t, use_span = tracer

            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                span = t.start_span("cachekit.get")
                if not span.is_recording():  # no SDK configured: skip the context switch
                    return (await acall(args, kwargs))[0]
                with use_span(span, end_on_exit=True):
                    span.set_attribute("cachekit.namespace", s.namespace)
                    span.set_attribute("cachekit.operation", s.operation)
                    value, hit = await acall(args, kwargs)
                    span.set_attribute("cachekit.hit", hit)
                    return value

        wrapper: Any = functools.wraps(func)(awrapper)
    else:

        def _bg_refresh(lease: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            try:
                result = func(*args, **kwargs)
            except BaseException as e:
                abort(lease)
                log.warning("cachekit: background refresh of %s failed: %r", fname, e)
                return
            try:
                store(lease, result, complete)
            except BaseException as e:
                log.warning("cachekit: background refresh of %s not stored: %r", fname, e)

        def call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, bool]:
            if kwargs and "_bypass_cache" in kwargs and kwargs.pop("_bypass_cache"):
                return func(*args, **kwargs), False
            try:
                a = encode(args, kwargs)
            except _Uncached:
                return func(*args, **kwargs), False
            try:
                o = tls.o
            except AttributeError:
                o = tls.o = _Out()
            status = fill(handle, op, a, len(a), o.rd, o.rn, o.rl)
            if status:
                lookup_failed(status)
            lease = o.lease.value
            if lease and o.data.value:  # a value and a lease: return it, refresh in the background
                data = string_at(o.data, o.n.value)
                _submit_refresh(lambda: _bg_refresh(lease, args, kwargs))
                try:
                    value = deser(data)
                except Exception as e:
                    undecodable(e, a)
                    miss()
                    return func(*args, **kwargs), False
                hit()
                return value, True
            if not lease:
                n = o.n.value
                try:
                    value = deser(string_at(o.data, n) if n else b"")
                except Exception as e:
                    undecodable(e, a)
                    miss()
                    return func(*args, **kwargs), False
                hit()
                return value, True
            miss()
            try:
                result = func(*args, **kwargs)
            except BaseException:
                abort(lease)
                raise
            store(lease, result, complete)
            return result, False

        tracer = _tracer() if s.tracing else None
        if tracer is None:

            def swrapper(*args: Any, **kwargs: Any) -> Any:
                if kwargs and "_bypass_cache" in kwargs and kwargs.pop("_bypass_cache"):
                    return func(*args, **kwargs)
                try:
                    a = encode(args, kwargs)
                except _Uncached:
                    return func(*args, **kwargs)
                try:
                    o = tls.o
                except AttributeError:
                    o = tls.o = _Out()
                status = fill(handle, op, a, len(a), o.rd, o.rn, o.rl)
                if status:
                    lookup_failed(status)
                lease = o.lease.value
                if lease:
                    if o.data.value:  # a value and a lease: return it, refresh in the background
                        return _refresh_now(lease, string_at(o.data, o.n.value), a, args, kwargs)
                    miss()
                    return _miss(lease, args, kwargs)
                n = o.n.value
                try:
                    value = deser(string_at(o.data, n) if n else b"")
                except Exception as e:
                    undecodable(e, a)
                    miss()
                    return func(*args, **kwargs)
                hit()
                return value

            def _refresh_now(lease: int, data: bytes, a: bytes, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
                _submit_refresh(lambda: _background(lease, args, kwargs))
                try:
                    value = deser(data)
                except Exception as e:
                    undecodable(e, a)
                    miss()
                    return func(*args, **kwargs)
                hit()
                return value

            def _background(lease: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
                try:
                    _miss(lease, args, kwargs)
                except BaseException as e:
                    log.warning("cachekit: background refresh of %s failed: %r", fname, e)

            def _miss(lease: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
                try:
                    result = func(*args, **kwargs)
                except BaseException:
                    abort(lease)
                    raise
                store(lease, result, complete)
                return result
        else:
            t, use_span = tracer

            def swrapper(*args: Any, **kwargs: Any) -> Any:
                span = t.start_span("cachekit.get")
                if not span.is_recording():  # no SDK configured: skip the context switch
                    return call(args, kwargs)[0]
                with use_span(span, end_on_exit=True):
                    span.set_attribute("cachekit.namespace", s.namespace)
                    span.set_attribute("cachekit.operation", s.operation)
                    value, hit = call(args, kwargs)
                    span.set_attribute("cachekit.hit", hit)
                    return value

        wrapper = functools.wraps(func)(swrapper)

    # ---- methods on the decorated function
    is_async = inspect.iscoroutinefunction(func)
    per_call = _interop_errors if interop else _same

    def get_health_status() -> dict[str, Any]:
        """Health of this function's namespace (circuit breaker, backpressure, timeouts, counters)."""
        return health_superset(ns.health())

    def check_health_now() -> dict[str, Any]:
        """Active check: ``get_health_status()`` plus a PING of Redis and pool figures."""
        return check_health_superset(ns.check_health())

    def whole_function(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """``invalidate_cache()`` without arguments on a function that needs some:
        every entry of the function (as the reference SDK)."""
        if len(args) > binder.skip or kwargs:
            return False
        try:
            binder.sig.bind(*args)
        except TypeError:
            return True
        return False

    @per_call
    def invalidate_cache(*args: Any, **kwargs: Any) -> bool | None:
        """Delete the entry of this call (same arguments as the function). Returns whether one existed;
        without arguments on a function that takes some, deletes every entry of it and returns None."""
        if whole_function(args, kwargs):
            ns.clear_operation(op)
            return None
        return ns.delete(op, encode(args, kwargs))

    def outcome(args: tuple[Any, ...], kwargs: dict[str, Any]) -> InvalidationOutcome | None:
        """The reference SDK's result of an invalidation: what happened in L2."""
        try:
            result = invalidate_cache(*args, **kwargs)
        except BackendError as e:
            log.error("cachekit: invalidation of %s failed in L2: %s", fname, e)
            return InvalidationOutcome.FAILED
        if result is None:
            return None
        return InvalidationOutcome.SUCCEEDED if l2 else InvalidationOutcome.NO_L2

    async def ainvalidate_cache(*args: Any, **kwargs: Any) -> bool | None:
        """``invalidate_cache`` for event loops (runs the delete off the loop thread)."""
        return await asyncio.get_running_loop().run_in_executor(None, lambda: invalidate_cache(*args, **kwargs))

    def ainvalidate_outcome(*args: Any, **kwargs: Any) -> Any:
        """On an ``async def`` function: ``await f.invalidate_cache(...)`` gives an
        ``InvalidationOutcome`` (the delete starts at once, awaited or not)."""
        return _awaitable(lambda: outcome(args, kwargs))

    def acheck_health() -> Any:
        """On an ``async def`` function: ``await f.check_health()`` (the PING runs off the loop thread)."""
        return _awaitable(check_health_now)

    def cache_clear() -> int:
        """Delete every entry of this function (L1 of every process and L2). Returns the L2 keys deleted."""
        return ns.clear_operation(op)

    def cache_clear_namespace() -> int:
        """Delete every entry of this function's whole namespace (L1 and L2)."""
        return ns.clear()

    def cache_info() -> CacheInfo:
        h = ns.health()
        l1 = h.get("l1") or {}
        st = h.get("stats") or {}
        l1_hits = int(l1.get("hits", 0))
        l2_hits = int(st.get("l2_hits", 0))
        # Per call of this function (a caller that waited for another caller's
        # fill is a hit): hits + misses = calls.
        return CacheInfo(
            hits=_count(hits_c),
            misses=_count(misses_c),
            maxsize=int(l1.get("budget_bytes", 0)),
            currsize=int(l1.get("entries", 0)),
            l1_hits=l1_hits,
            l2_hits=l2_hits,
            l2_errors=int(st.get("l2_errors", 0)),
        )

    @per_call
    def cache_key(*args: Any, **kwargs: Any) -> str:
        """The full Redis key of this call."""
        return ns.make_key(op, encode(args, kwargs))

    @per_call
    def cache_exists(*args: Any, **kwargs: Any) -> bool:
        return ns.exists(op, encode(args, kwargs))

    @per_call
    def cache_ttl(*args: Any, **kwargs: Any) -> float | None:
        """Remaining lifetime of this call's entry in seconds (None: no entry; inf: no expiry)."""
        ms = ns.ttl_ms(op, encode(args, kwargs))
        return None if ms == -2 else float("inf") if ms == -1 else ms / 1000.0

    wrapper.get_health_status = get_health_status
    wrapper.check_health = acheck_health if is_async else check_health_now
    wrapper.invalidate_cache = ainvalidate_outcome if is_async else invalidate_cache
    wrapper.ainvalidate_cache = ainvalidate_cache
    wrapper.cache_clear = cache_clear
    wrapper.cache_clear_namespace = cache_clear_namespace
    wrapper.cache_info = cache_info
    wrapper.cache_key = cache_key
    wrapper.cache_exists = cache_exists
    wrapper.cache_ttl = cache_ttl
    wrapper.cache_profile = s.profile
    wrapper.cache_options = dict(s.options, master_key="<set>") if "master_key" in s.options else dict(s.options)
    wrapper.cache_namespace = s.namespace
    wrapper.cache_operation = s.operation
    wrapper.cache_serializer = serializer
    wrapper.cache_tracing = tracer is not None
    wrapper._cachekit_namespace = ns  # keeps the handle alive with the function
    if binder.skip:  # a method: `obj.f.invalidate_cache(x)` must know obj
        return _CachedMethod(wrapper)
    return wrapper


# ------------------------------------------------------------------ methods

# Methods of a decorated function that take the call's arguments: on a bound
# method they get the instance (or class) first, like the call itself.
_PER_CALL = frozenset(("invalidate_cache", "ainvalidate_cache", "cache_key", "cache_exists", "cache_ttl"))


class _BoundCached(functools.partial):  # pyright: ignore[reportMissingTypeArgument]
    """A decorated method bound to its instance or class: calling it is a
    C-level partial call; the cache methods are bound the same way."""

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.func, name)
        if name in _PER_CALL:
            return functools.partial(attr, *self.args)
        return attr

    def __repr__(self) -> str:
        return f"<bound cached method {getattr(self.func, '__qualname__', '?')} of {self.args[0]!r}>"


class _CachedMethod:
    """What ``@cache`` returns for a function whose first parameter is
    ``self`` or ``cls``: a descriptor that binds like a function does."""

    def __init__(self, wrapper: Any) -> None:
        self.__wrapped_cache__: Any = wrapper
        functools.update_wrapper(self, wrapper)  # metadata and the cache methods
        self.__wrapped__: Any = wrapper.__wrapped__

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self.__wrapped_cache__
        return _BoundCached(self.__wrapped_cache__, obj)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__wrapped_cache__(*args, **kwargs)


class _CachedClassMethod:
    """``@cache`` over a ``classmethod``: binds to the class."""

    def __init__(self, wrapper: Any) -> None:
        self.__wrapped_cache__: Any = wrapper
        self.__func__: Any = wrapper
        functools.update_wrapper(self, wrapper)  # pyright: ignore[reportArgumentType]  (not callable, as classmethod)
        self.__wrapped__: Any = wrapper.__wrapped__

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return _BoundCached(self.__wrapped_cache__, objtype if objtype is not None else type(obj))


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
        encryption: bool = ...,
        l1_plaintext: bool = ...,
        fail_closed: bool = ...,
        config: CachekitConfig | None = ...,
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
            return _wrap(func, self._preset, {})
        if func is not None:
            raise TypeError("@cache takes keyword arguments only, e.g. @cache(ttl=60)")
        _check_parameters(kwargs)
        preset = self._preset

        def deco(f: Any) -> Any:
            return _wrap(f, preset, kwargs)

        return deco

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


cache = CacheDecorator()

__all__ = [
    "PROFILES",
    "BoundCachedFunction",
    "CacheDecorator",
    "CacheInfo",
    "CacheMethods",
    "CachedFunction",
    "cache",
    "detect_profile",
]
