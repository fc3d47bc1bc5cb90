"""Decorated methods: a function whose first parameter is ``self`` or ``cls``
binds like a function does, and its cache methods take the arguments after
``self``/``cls`` (``repo.get_user.invalidate_cache(42)``); ``classmethod``
objects bind to the class."""

from __future__ import annotations

import functools
from typing import Any

# Methods of a decorated function that take the call's arguments: on a bound
# method they get the instance (or class) first, like the call itself.
_PER_CALL = frozenset(("invalidate_cache", "ainvalidate_cache", "cache_key", "cache_exists", "cache_ttl"))


class BoundCached(functools.partial):  # pyright: ignore[reportMissingTypeArgument]
    """A decorated method bound to its instance or class: calling it is a
    C-level partial call; the cache methods are bound the same way."""

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.func, name)
        if name in _PER_CALL:
            return functools.partial(attr, *self.args)
        return attr

    def __repr__(self) -> str:
        return f"<bound cached method {getattr(self.func, '__qualname__', '?')} of {self.args[0]!r}>"


class CachedMethod:
    """What ``@cache`` returns for a function whose first parameter is
    ``self`` or ``cls``: a descriptor that binds like a function does."""

    def __init__(self, wrapper: Any) -> None:
        self.__wrapped_cache__: Any = wrapper
        functools.update_wrapper(self, wrapper)  # metadata and the cache methods
        self.__wrapped__: Any = wrapper.__wrapped__

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self.__wrapped_cache__
        return BoundCached(self.__wrapped_cache__, obj)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__wrapped_cache__(*args, **kwargs)


class CachedClassMethod:
    """``@cache`` over a ``classmethod``: binds to the class."""

    def __init__(self, wrapper: Any) -> None:
        self.__wrapped_cache__: Any = wrapper
        self.__func__: Any = wrapper
        functools.update_wrapper(self, wrapper)  # pyright: ignore[reportArgumentType]  (not callable, as classmethod)
        self.__wrapped__: Any = wrapper.__wrapped__

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return BoundCached(self.__wrapped_cache__, objtype if objtype is not None else type(obj))
