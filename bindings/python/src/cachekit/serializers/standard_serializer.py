"""``StandardSerializer`` (``"std"``, the default): language-neutral MessagePack,
the only format the core validates and the other languages decode."""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Callable
from typing import Any

import msgpack

from cachekit.serializers.base import SerializationFormat, SerializationMetadata

_packb: Callable[..., bytes] = msgpack.packb  # pyright: ignore[reportAssignmentType]
_unpackb: Callable[..., Any] = msgpack.unpackb


def _std_default(obj: Any) -> Any:
    # datetime before date: datetime is a subclass of date.
    if isinstance(obj, _dt.datetime):
        return {"__datetime__": True, "value": obj.isoformat()}
    if isinstance(obj, _dt.date):
        return {"__date__": True, "value": obj.isoformat()}
    if isinstance(obj, _dt.time):
        return {"__time__": True, "value": obj.isoformat()}
    hint = ""
    mod = type(obj).__module__.split(".")[0]
    if mod in ("numpy",):
        hint = ' Use serializer="auto" for NumPy arrays.'
    elif mod in ("pandas", "polars", "pyarrow"):
        hint = ' Use serializer="arrow" for DataFrames.'
    elif isinstance(obj, (uuid.UUID, set, frozenset)):
        hint = ' Use serializer="auto" for UUID, set and frozenset.'
    else:
        hint = ' Convert it to a dict first, or use serializer="auto" / "pickle".'
    raise TypeError(f"StandardSerializer cannot serialize {type(obj).__module__}.{type(obj).__qualname__}.{hint}")


def _std_hook(d: dict[Any, Any]) -> Any:
    if len(d) == 2 and "value" in d:
        v = d["value"]
        if d.get("__datetime__") is True:
            return _dt.datetime.fromisoformat(v)
        if d.get("__date__") is True:
            return _dt.date.fromisoformat(v)
        if d.get("__time__") is True:
            return _dt.time.fromisoformat(v)
    return d


class StandardSerializer:
    """Language-neutral MessagePack (the default).

    Supports None, bool, int, float, str, bytes, list, tuple (read back as a
    list), dict, datetime, date and time (as ``{"__datetime__": true, "value":
    ISO 8601}`` marker maps, decoded back). Refuses with ``TypeError``: NumPy,
    pandas, UUID, set, frozenset, Pydantic/ORM models, custom classes.
    """

    name: str = "msgpack"

    def __init__(self, enable_integrity_checking: bool = True) -> None:
        # Accepted as the reference SDK's parameter; the core checksums
        # (xxHash3-64) and verifies every entry whatever it says.
        self.enable_integrity_checking: bool = bool(enable_integrity_checking)
        self._metadata: SerializationMetadata = SerializationMetadata(SerializationFormat.MSGPACK)

    def serialize(self, obj: Any) -> tuple[bytes, SerializationMetadata]:
        try:
            return _packb(obj, default=_std_default, use_bin_type=True, datetime=False), self._metadata
        except OverflowError as e:
            raise TypeError(f"StandardSerializer: integer out of the 64-bit range: {e}") from e

    def deserialize(self, data: bytes, metadata: Any = None) -> Any:
        if b"__" in data:  # may hold date/time marker maps: decode them
            return _unpackb(data, raw=False, object_hook=_std_hook, strict_map_key=False)
        return _unpackb(data, raw=False, strict_map_key=False)


DefaultSerializer = StandardSerializer
