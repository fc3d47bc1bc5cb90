"""The methods ``@cache`` adds to a decorated function: health, invalidation,
clearing, ``cache_info`` and the per-call key helpers. On an ``async def``
function ``invalidate_cache`` and ``check_health`` are awaitable."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

from cachekit.decorator._async import awaitable
from cachekit.decorator._context import Context, Uncached
from cachekit.decorator._health import check_health_superset, health_superset
from cachekit.decorator._stats import CacheInfo, cache_info
from cachekit.decorator._types import InvalidationOutcome
from cachekit.errors import BackendError, ConfigurationError, InteropError

log = logging.getLogger("cachekit")


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
            if isinstance(e, Uncached):
                raise
            raise InteropError(f"cachekit: argument outside the interop data model: {e}") from e

    return inner


def attach_methods(wrapper: Any, c: Context) -> None:
    """Set the cache methods and attributes on ``wrapper``."""
    s = c.settings
    ns = c.ns
    op = c.op
    binder = c.binder
    encode = c.encode
    fname = c.fname
    l2 = c.l2
    counter = c.counter
    is_async = c.is_async
    per_call = _interop_errors if s.interop else _same

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
        return awaitable(lambda: outcome(args, kwargs))

    def acheck_health() -> Any:
        """On an ``async def`` function: ``await f.check_health()`` (the PING runs off the loop thread)."""
        return awaitable(check_health_now)

    def cache_clear() -> int:
        """Delete every entry of this function (L1 of every process and L2). Returns the L2 keys deleted."""
        return ns.clear_operation(op)

    def cache_clear_namespace() -> int:
        """Delete every entry of this function's whole namespace (L1 and L2)."""
        return ns.clear()

    def info() -> CacheInfo:
        """Counters of this function: calls answered with a value (hits) or by running it (misses), and the
        namespace's L1/L2 figures."""
        return cache_info(ns.health(), counter)

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
    wrapper.cache_info = info
    wrapper.cache_key = cache_key
    wrapper.cache_exists = cache_exists
    wrapper.cache_ttl = cache_ttl
    wrapper.cache_profile = s.profile
    wrapper.cache_options = dict(s.options, master_key="<set>") if "master_key" in s.options else dict(s.options)
    wrapper.cache_namespace = s.namespace
    wrapper.cache_operation = s.operation
    wrapper.cache_serializer = s.serializer
    wrapper.cache_tracing = c.traced
    wrapper._cachekit_namespace = ns  # keeps the handle alive with the function
