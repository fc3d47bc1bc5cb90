"""Namespace and operation names: the defaults folded from a function's module
and qualified name, and the checks made when a function is decorated."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cachekit import _core
from cachekit.errors import ConfigurationError

if TYPE_CHECKING:
    from cachekit.decorator._settings import Settings

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


def check_names(ns: _core.Namespace, s: Settings, op: bytes) -> None:
    """The operation name is checked when the function is decorated, not at
    its first call (the core validates it when it builds a key). An interop
    namespace under a key prefix or tenant scope was already refused by the
    core when it was opened (ck_cache_new, a ConfigurationError naming the
    setting)."""
    try:
        ns.make_key(op, b"\x90")
    except ConfigurationError as e:
        raise ConfigurationError(f"invalid operation name {s.operation!r} for namespace {s.namespace!r}: {e}") from e


def skip_first(func: Callable[..., Any]) -> bool:
    params = list(inspect.signature(func).parameters)
    return bool(params) and params[0] in ("self", "cls")
