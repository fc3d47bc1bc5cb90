"""The types a decorated function is described by: ``CachedFunction`` and its
methods (``CacheMethods``) and ``InvalidationOutcome``."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from typing_extensions import ParamSpec

from cachekit.decorator._stats import CacheInfo
from cachekit.serializers import SerializerProtocol

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class InvalidationOutcome(enum.Enum):
    """What ``await f.invalidate_cache(...)`` on an ``async def`` function did in
    L2 (the reference SDK's result): ``SUCCEEDED`` the delete went through,
    ``FAILED`` L2 refused it (fail-closed namespaces; otherwise the core fails
    open and logs), ``NO_L2`` there is no L2 (``backend=None``). ``None`` for
    the whole-function form (no arguments on a function that takes some)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    NO_L2 = "no_l2"


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
