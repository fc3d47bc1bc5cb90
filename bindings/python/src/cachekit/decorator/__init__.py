"""The ``@cache`` decorator.

Each decorated function gets one core namespace handle (``ck_cache``). A call
encodes its bound arguments once and makes one foreign call
(``ck_fill_begin_borrowed``): a hit is decoded and returned; a miss gives a
lease, the function runs, and the encoded result completes the lease. Retries,
locks, TTLs, L1, single-flight and fail-open are the core's.

Where things are:

- ``_decorator``: ``cache`` and ``CacheDecorator`` (``@cache``, ``@cache(...)``, the presets, ``cache.local``)
- ``_profiles``: the presets' options and the profile picked from a function's name
- ``_settings``: the parameters checked and resolved into core options and client settings
- ``_names``: default namespace/operation names and the checks made at decoration
- ``_context``: what the call paths of one function share (handles, encoder, storing a result)
- ``_sync`` / ``_async``: the call path of a ``def`` / an ``async def`` function
- ``_methods``: ``invalidate_cache``, ``cache_clear``, ``cache_info``, ``check_health``, ...
- ``_health`` / ``_stats``: the health reports and ``cache_info`` counters
- ``_binding``: methods and classmethods (binding to ``self``/``cls``)
- ``_local``: ``@cache.local`` (result objects kept in the process, by reference)
- ``_wrapper``: ``wrap``, which puts a context, a call path and the methods together
- ``_tracing``: OpenTelemetry spans
- ``_types``: ``CachedFunction``, ``CacheMethods``, ``InvalidationOutcome``
- argument encoding for keys is ``cachekit._keys``
"""

from __future__ import annotations

from cachekit._unset import UNSET
from cachekit.decorator._decorator import CacheDecorator, cache
from cachekit.decorator._health import check_health_superset, health_superset
from cachekit.decorator._names import default_namespace, default_operation
from cachekit.decorator._profiles import PROFILES, detect_profile
from cachekit.decorator._stats import CacheInfo
from cachekit.decorator._types import (
    BoundCachedFunction,
    CachedFunction,
    CacheMethods,
    InvalidationOutcome,
)

__all__ = [
    "PROFILES",
    "UNSET",
    "BoundCachedFunction",
    "CacheDecorator",
    "CacheInfo",
    "CacheMethods",
    "CachedFunction",
    "InvalidationOutcome",
    "cache",
    "check_health_superset",
    "default_namespace",
    "default_operation",
    "detect_profile",
    "health_superset",
]
