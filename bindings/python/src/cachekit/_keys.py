"""Encoding of a call's arguments for the core's key derivation.

The arguments are bound to the signature (keyword arguments to their
positions, defaults applied; ``self``/``cls`` left out) and encoded as one
MessagePack array with the ``msgpack`` package. The core canonicalises the
array and hashes it, so a Python call and a PHP, Node or Go call with the
same namespace, operation and argument values share the entry.

Types MessagePack has no type for are sent as the ext types the core knows:
a timezone-aware datetime as the standard timestamp (ext -1), set/frozenset
as ext 1 (payload: MessagePack array of the elements), UUID as ext 2 (16 raw
bytes). A ``date`` is sent as its ISO string ``"YYYY-MM-DD"`` and a ``time``
as its ISO string (documented choice: no ext type exists for them). Naive
datetimes are refused (their instant is ambiguous), as are types with no
MessagePack form.

The protocol's Python conveniences are applied as the reference SDK applies
them: an ``Enum`` is hashed as its value, a ``Decimal`` as ``str()`` of it, a
``pathlib.PurePath`` as its POSIX string.

In interop mode (``interop=True``) the argument must be in the protocol's
interop data model: ``date`` and ``time`` are refused (the reference SDK
refuses them; no other SDK could derive the same key), and every refusal is
an ``InteropError`` (a ``ValueError`` and a ``TypeError``).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import inspect
import pathlib
import threading
import uuid
from collections.abc import Callable
from typing import Any

import msgpack

from cachekit.errors import InteropError

_EMPTY = inspect.Parameter.empty
_tls = threading.local()  # one reusable Packer per thread (Packer objects are not thread-safe)
_packb: Callable[..., bytes] = msgpack.packb  # pyright: ignore[reportAssignmentType]


def _convenience(obj: Any) -> Any:
    """The protocol's Python conveniences (Enum, Decimal, PurePath), else ``_NONE``."""
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, decimal.Decimal):
        return str(obj)
    if isinstance(obj, pathlib.PurePath):
        return obj.as_posix()
    return _NONE


_NONE: Any = object()


def _timestamp(obj: _dt.datetime, naive: Exception) -> Any:
    """An aware datetime as a MessagePack timestamp; a naive one raises ``naive``."""
    if obj.tzinfo is None or obj.tzinfo.utcoffset(obj) is None:
        raise naive
    return msgpack.Timestamp.from_datetime(obj)


def _default(obj: Any) -> Any:
    conv = _convenience(obj)
    if conv is not _NONE:
        return conv
    if isinstance(obj, _dt.datetime):
        return _timestamp(
            obj,
            TypeError(
                f"cachekit: naive datetime {obj!r} cannot be part of a cache key; "
                + "give it a timezone (e.g. tzinfo=datetime.timezone.utc)"
            ),
        )
    if isinstance(obj, _dt.date):
        return obj.isoformat()
    if isinstance(obj, _dt.time):
        return obj.isoformat()
    if isinstance(obj, (set, frozenset)):
        return msgpack.ExtType(1, pack_args(list(obj)))  # pyright: ignore[reportUnknownArgumentType]
    if isinstance(obj, uuid.UUID):
        return msgpack.ExtType(2, obj.bytes)
    raise TypeError(
        f"cachekit: an argument of type {type(obj).__module__}.{type(obj).__qualname__} cannot be part of a "
        + "cache key (supported: None, bool, int, float, str, bytes, list, tuple, dict with str keys, "
        + "aware datetime, date, time, set, frozenset, UUID, Enum, Decimal, PurePath); "
        + "pass key=... to build the key yourself"
    )


def _default_interop(obj: Any) -> Any:
    conv = _convenience(obj)
    if conv is not _NONE:
        return conv
    if isinstance(obj, _dt.datetime):
        return _timestamp(
            obj,
            InteropError(
                f"cachekit: naive datetime {obj!r} is not allowed in interop arguments (its instant is "
                + "ambiguous); give it a timezone (e.g. tzinfo=datetime.timezone.utc)"
            ),
        )
    if isinstance(obj, (_dt.date, _dt.time)):
        raise InteropError(
            f"cachekit: a {type(obj).__name__} argument ({obj!r}) is not in the interop data model (the protocol "
            + "has no date or time type; pass an aware datetime or an ISO string)"
        )
    if isinstance(obj, (set, frozenset)):
        return msgpack.ExtType(1, pack_args(list(obj), interop=True))  # pyright: ignore[reportUnknownArgumentType]
    if isinstance(obj, uuid.UUID):
        return msgpack.ExtType(2, obj.bytes)
    raise InteropError(
        f"cachekit: an argument of type {type(obj).__module__}.{type(obj).__qualname__} is not in the interop "
        + "data model (supported: None, bool, int, float, str, bytes, list, tuple, dict with str keys, "
        + "aware datetime, set, frozenset, UUID, Enum, Decimal, PurePath)"
    )


def pack_args(values: list[Any], interop: bool = False) -> bytes:
    """The MessagePack array of argument values."""
    try:
        return _packb(values, default=_default_interop if interop else _default, use_bin_type=True, datetime=False)
    except OverflowError as e:
        err = InteropError if interop else TypeError
        raise err(f"cachekit: integer argument outside the 64-bit range: {e}") from e
    except (TypeError, ValueError) as e:
        if interop and not isinstance(e, InteropError):
            raise InteropError(f"cachekit: argument outside the interop data model: {e}") from e
        raise


class ArgBinder:
    """Binds ``(args, kwargs)`` of one function to the list of values that
    form its key, with a fast path for plain positional calls."""

    def __init__(self, func: Callable[..., Any], skip_first: bool, interop: bool = False) -> None:
        self.interop: bool = interop
        self.sig: inspect.Signature = inspect.signature(func)
        params = list(self.sig.parameters.values())
        self.skip: int = 1 if skip_first and params else 0
        plain = all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params)
        self.fast: bool = plain
        self.npos: int = len(params)
        self.defaults: list[Any] = [p.default for p in params]
        self.first_default: int = next((i for i, p in enumerate(params) if p.default is not _EMPTY), len(params))

    def values(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        if self.fast and not kwargs:
            n = len(args)
            if n == self.npos:
                return list(args[self.skip :]) if self.skip else list(args)
            if self.first_default <= n < self.npos:
                out = list(args)
                out.extend(self.defaults[n:])
                return out[self.skip :] if self.skip else out
        bound = self.sig.bind(*args, **kwargs)
        bound.apply_defaults()
        out: list[Any] = []
        for name, value in bound.arguments.items():
            kind = self.sig.parameters[name].kind
            if kind is inspect.Parameter.VAR_POSITIONAL:
                out.extend(value)
            else:
                out.append(value)
        return out[self.skip :] if self.skip else out

    def encode(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
        values = self.values(args, kwargs)
        if self.interop:
            return pack_args(values, interop=True)
        try:
            packer = _tls.packer
        except AttributeError:
            packer = _tls.packer = msgpack.Packer(default=_default, use_bin_type=True, datetime=False)
        # Not re-entered: _default packs set payloads with a fresh packb.
        try:
            return packer.pack(values)  # the packer resets itself when this raises
        except OverflowError as e:
            raise TypeError(f"cachekit: integer argument outside the 64-bit range: {e}") from e
