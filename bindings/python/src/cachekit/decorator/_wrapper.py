"""``_wrap``: a function (or a ``staticmethod``/``classmethod`` object) and the
parameters of ``@cache`` become the cached function: its ``Context`` (settings,
core handles), the call path (``_sync`` or ``_async``) and the methods."""

from __future__ import annotations

from typing import Any

from cachekit.decorator._async import async_wrapper
from cachekit.decorator._binding import CachedClassMethod, CachedMethod
from cachekit.decorator._context import Context
from cachekit.decorator._methods import attach_methods
from cachekit.decorator._sync import sync_wrapper


def wrap(func: Any, preset: str | None, kw: dict[str, Any]) -> Any:
    # classmethod / staticmethod objects: decorate the function inside.
    if isinstance(func, staticmethod):
        return staticmethod(wrap(func.__func__, preset, kw))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    if isinstance(func, classmethod):
        inner = wrap(func.__func__, preset, kw)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        return CachedClassMethod(inner.__wrapped_cache__ if isinstance(inner, CachedMethod) else inner)
    if not callable(func):
        raise TypeError(f"@cache decorates functions, not {type(func).__name__}")

    c = Context(func, preset, kw)
    wrapper = async_wrapper(c) if c.is_async else sync_wrapper(c)
    attach_methods(wrapper, c)
    if c.binder.skip:  # a method: `obj.f.invalidate_cache(x)` must know obj
        return CachedMethod(wrapper)
    return wrapper
