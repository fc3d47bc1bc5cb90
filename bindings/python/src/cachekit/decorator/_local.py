"""``@cache.local``: in-process caching of Python objects by reference (the
reference SDK's preset).

The result object itself is kept (no serialization, so a cached list is the
same list on the next call, as with ``functools.lru_cache``), which bytes
crossing the C ABI cannot do: the objects live in a per-function table here,
bounded by ``max_entries`` (least recently used first out) and ``ttl``
seconds. The key is still the core's (``ck_make_key`` on an L1-only client:
canonical arguments, ``2`` and ``2.0`` one key). Concurrent callers of one
cold key wait for the first (threads and tasks alike); exceptions are not
cached; ``None`` is. Nothing reaches Redis, so nothing is shared with other
processes.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from cachekit import _core
from cachekit._keys import ArgBinder
from cachekit.decorator._context import Uncached, key_fn_encoder
from cachekit.decorator._names import default_namespace, default_operation, skip_first
from cachekit.decorator._stats import CacheInfo
from cachekit.errors import ConfigurationError

log = logging.getLogger("cachekit")

_LOCAL_PARAMETERS = frozenset(("ttl", "max_entries", "namespace", "key"))
_L1_ONLY = '{"key_prefix": "", "redis_url": null, "tenant_id": null}'


class _Flight:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock: threading.Lock = threading.Lock()
        self.users: int = 0


class ObjectTable:
    """The objects of one ``@cache.local`` function: key -> (expiry, value)."""

    def __init__(self, ttl: float, max_entries: int) -> None:
        self.ttl: float = ttl
        self.max_entries: int = max_entries
        self.entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self.lock: threading.Lock = threading.Lock()
        self.flights: dict[str, _Flight] = {}
        self.hits: int = 0
        self.misses: int = 0

    def get(self, key: str) -> tuple[bool, Any]:
        with self.lock:
            entry = self.entries.get(key)
            if entry is None:
                return False, None
            if entry[0] <= time.monotonic():
                del self.entries[key]
                return False, None
            self.entries.move_to_end(key)
            return True, entry[1]

    def put(self, key: str, value: Any) -> None:
        with self.lock:
            self.entries[key] = (time.monotonic() + self.ttl, value)
            self.entries.move_to_end(key)
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)

    def delete(self, key: str) -> bool:
        with self.lock:
            return self.entries.pop(key, None) is not None

    def clear(self) -> int:
        with self.lock:
            n = len(self.entries)
            self.entries.clear()
            return n

    def count(self, hit: bool) -> None:
        with self.lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1

    def flight(self, key: str) -> _Flight:
        with self.lock:
            f = self.flights.get(key)
            if f is None:
                f = self.flights[key] = _Flight()
            f.users += 1
            return f

    def land(self, key: str, f: _Flight) -> None:
        with self.lock:
            f.users -= 1
            if f.users == 0 and self.flights.get(key) is f:
                del self.flights[key]


def check_local_parameters(kwargs: dict[str, Any]) -> None:
    unknown = sorted(set(kwargs) - _LOCAL_PARAMETERS)
    if unknown:
        raise TypeError(
            f"@cache.local takes only ttl, max_entries, namespace and key, not {', '.join(map(repr, unknown))}; "
            + "use @cache(...) for serialized caching in L1 and Redis"
        )


def local_wrap(func: Callable[..., Any], kw: dict[str, Any]) -> Any:
    """The ``@cache.local`` wrapper of ``func``."""
    ttl = kw.get("ttl", 300)
    max_entries = kw.get("max_entries", 256)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
        raise ConfigurationError(f"@cache.local: ttl must be a whole number of seconds >= 1, got {ttl!r}")
    if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
        raise ConfigurationError(f"@cache.local: max_entries must be a whole number >= 1, got {max_entries!r}")
    namespace = kw.get("namespace") or default_namespace(func)
    ns = _core.Namespace(_core.get_client(_L1_ONLY), namespace, {"l1_enabled": False})
    op = default_operation(func).encode()
    binder = ArgBinder(func, skip_first(func))
    fname = getattr(func, "__qualname__", "function")
    key_fn = kw.get("key")
    encode = key_fn_encoder(key_fn, fname) if key_fn is not None else binder.encode
    ns.make_key(op, b"\x90")  # the names are checked now, not at the first call
    table = ObjectTable(float(ttl), max_entries)

    def key_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        try:
            return ns.make_key(op, encode(args, kwargs))
        except Uncached:
            return None
        except (TypeError, ValueError) as e:
            log.warning("cachekit: an argument of %s cannot be a key (%s); the call runs uncached", fname, e)
            return None

    if inspect.iscoroutinefunction(func):
        pending: dict[str, asyncio.Future[Any]] = {}

        async def awrapper(*args: Any, **kwargs: Any) -> Any:
            if kwargs and "_bypass_cache" in kwargs and kwargs.pop("_bypass_cache"):
                return await func(*args, **kwargs)
            key = key_of(args, kwargs)
            if key is None:
                return await func(*args, **kwargs)
            found, value = table.get(key)
            if found:
                table.count(True)
                return value
            other = pending.get(key)
            if other is not None and other.get_loop() is asyncio.get_running_loop():
                try:
                    value = await asyncio.shield(other)
                except BaseException:
                    if not other.done():  # this caller was cancelled, not the first one
                        raise
                    # the first caller raised or was cancelled: this one runs the function itself
                else:
                    table.count(True)
                    return value
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            pending[key] = fut
            table.count(False)
            try:
                value = await func(*args, **kwargs)
            except Exception as e:
                fut.set_exception(e)
                fut.exception()  # retrieved: no "never retrieved" warning when nobody waited
                raise
            except BaseException:
                fut.cancel()
                raise
            else:
                table.put(key, value)
                fut.set_result(value)
                return value
            finally:
                if pending.get(key) is fut:
                    del pending[key]

        wrapper: Any = functools.wraps(func)(awrapper)
    else:

        def swrapper(*args: Any, **kwargs: Any) -> Any:
            if kwargs and "_bypass_cache" in kwargs and kwargs.pop("_bypass_cache"):
                return func(*args, **kwargs)
            key = key_of(args, kwargs)
            if key is None:
                return func(*args, **kwargs)
            found, value = table.get(key)
            if found:
                table.count(True)
                return value
            flight = table.flight(key)
            try:
                with flight.lock:  # one caller computes; the others find its value
                    found, value = table.get(key)
                    if found:
                        table.count(True)
                        return value
                    table.count(False)
                    value = func(*args, **kwargs)
                    table.put(key, value)
                    return value
            finally:
                table.land(key, flight)

        wrapper = functools.wraps(func)(swrapper)

    def invalidate_cache(*args: Any, **kwargs: Any) -> bool:
        """Drop the object of this call. Returns whether there was one."""
        return table.delete(ns.make_key(op, encode(args, kwargs)))

    async def ainvalidate_cache(*args: Any, **kwargs: Any) -> bool:
        return invalidate_cache(*args, **kwargs)

    def cache_clear() -> int:
        """Drop every object of this function; returns how many there were."""
        return table.clear()

    def cache_info() -> CacheInfo:
        with table.lock:
            n = len(table.entries)
            return CacheInfo(table.hits, table.misses, table.max_entries, n, table.hits, 0, 0)

    def cache_key(*args: Any, **kwargs: Any) -> str:
        return ns.make_key(op, encode(args, kwargs))

    wrapper.invalidate_cache = invalidate_cache
    wrapper.ainvalidate_cache = ainvalidate_cache
    wrapper.cache_clear = cache_clear
    wrapper.cache_info = cache_info
    wrapper.cache_key = cache_key
    wrapper.cache_profile = "local"
    wrapper.cache_namespace = namespace
    wrapper.cache_operation = op.decode()
    wrapper._cachekit_namespace = ns
    return wrapper
