"""``AutoSerializer`` (``"auto"``): MessagePack with Python-only types kept
(tuple, set, UUID, Decimal, NumPy, pandas, ...); readable from Python only."""

from __future__ import annotations

import datetime as _dt
import decimal
import uuid
from collections.abc import Callable
from typing import Any

import msgpack

from cachekit.serializers.arrow_serializer import arrow_bytes, from_arrow
from cachekit.serializers.base import SerializationFormat, SerializationMetadata

_packb: Callable[..., bytes] = msgpack.packb  # pyright: ignore[reportAssignmentType]


# Ext codes private to AutoSerializer (Python-only).
_X_TUPLE, _X_SET, _X_FROZENSET, _X_UUID, _X_DT, _X_DATE, _X_TIME = 10, 11, 12, 13, 14, 15, 16
_X_NDARRAY, _X_NPSCALAR, _X_DECIMAL, _X_ARROW_PANDAS, _X_TIMEDELTA, _X_BIGINT = 17, 18, 19, 20, 21, 22


class AutoSerializer:
    """MessagePack with Python-only types preserved: tuple, set, frozenset,
    UUID, datetime/date/time/timedelta, Decimal, big ints, NumPy arrays and
    scalars, pandas DataFrames (through Arrow IPC, needs pyarrow).
    Readable from Python only."""

    name: str = "auto"

    def __init__(self, enable_integrity_checking: bool = True) -> None:
        self.enable_integrity_checking: bool = bool(enable_integrity_checking)  # the core verifies every entry
        self._metadata: SerializationMetadata = SerializationMetadata(SerializationFormat.AUTO)

    def _pack(self, obj: Any) -> bytes:
        return _packb(obj, default=self._default, use_bin_type=True, strict_types=True, datetime=False)

    def _default(self, obj: Any) -> Any:
        if isinstance(obj, tuple):
            return msgpack.ExtType(_X_TUPLE, self._pack(list(obj)))  # pyright: ignore[reportUnknownArgumentType]
        if isinstance(obj, frozenset):
            return msgpack.ExtType(_X_FROZENSET, self._pack(list(obj)))  # pyright: ignore[reportUnknownArgumentType]
        if isinstance(obj, set):
            return msgpack.ExtType(_X_SET, self._pack(list(obj)))  # pyright: ignore[reportUnknownArgumentType]
        if isinstance(obj, uuid.UUID):
            return msgpack.ExtType(_X_UUID, obj.bytes)
        if isinstance(obj, _dt.datetime):
            return msgpack.ExtType(_X_DT, obj.isoformat().encode())
        if isinstance(obj, _dt.date):
            return msgpack.ExtType(_X_DATE, obj.isoformat().encode())
        if isinstance(obj, _dt.time):
            return msgpack.ExtType(_X_TIME, obj.isoformat().encode())
        if isinstance(obj, _dt.timedelta):
            return msgpack.ExtType(_X_TIMEDELTA, self._pack([obj.days, obj.seconds, obj.microseconds]))
        if isinstance(obj, decimal.Decimal):
            return msgpack.ExtType(_X_DECIMAL, str(obj).encode())
        if isinstance(obj, int) and not isinstance(obj, bool):
            if type(obj) is not int:  # IntEnum & co.: plain int
                return int(obj)
            return msgpack.ExtType(_X_BIGINT, str(obj).encode())
        if isinstance(obj, (str, float, bytes, list, dict)):
            # subclasses (strict_types): store as the base type
            for base in (str, float, bytes, list, dict):
                if isinstance(obj, base):
                    return base(obj)  # pyright: ignore[reportUnknownVariableType, reportCallIssue, reportArgumentType]
        mod = type(obj).__module__.split(".")[0]
        if mod == "numpy":
            import numpy as np

            if isinstance(obj, np.ndarray):
                if obj.dtype.hasobject:
                    raise TypeError("AutoSerializer cannot serialize NumPy arrays of Python objects")
                arr = np.ascontiguousarray(obj)
                return msgpack.ExtType(_X_NDARRAY, self._pack([arr.dtype.str, list(arr.shape), arr.tobytes()]))
            if isinstance(obj, np.generic):
                return msgpack.ExtType(_X_NPSCALAR, self._pack([obj.dtype.str, obj.tobytes()]))
        if mod == "pandas":
            import pandas as pd

            if isinstance(obj, pd.DataFrame):
                return msgpack.ExtType(_X_ARROW_PANDAS, arrow_bytes(obj))
        raise TypeError(
            f"AutoSerializer cannot serialize {type(obj).__module__}.{type(obj).__qualname__}; "
            + 'convert it to a dict or use serializer="pickle"'
        )

    def _ext(self, code: int, data: bytes) -> Any:
        if code == _X_TUPLE:
            return tuple(self.deserialize(data))
        if code == _X_SET:
            return set(self.deserialize(data))
        if code == _X_FROZENSET:
            return frozenset(self.deserialize(data))
        if code == _X_UUID:
            return uuid.UUID(bytes=data)
        if code == _X_DT:
            return _dt.datetime.fromisoformat(data.decode())
        if code == _X_DATE:
            return _dt.date.fromisoformat(data.decode())
        if code == _X_TIME:
            return _dt.time.fromisoformat(data.decode())
        if code == _X_TIMEDELTA:
            d, s, us = self.deserialize(data)
            return _dt.timedelta(days=d, seconds=s, microseconds=us)
        if code == _X_DECIMAL:
            return decimal.Decimal(data.decode())
        if code == _X_BIGINT:
            return int(data.decode())
        if code in (_X_NDARRAY, _X_NPSCALAR):
            import numpy as np

            if code == _X_NDARRAY:
                dtype, shape, raw = self.deserialize(data)
                return np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape).copy()
            dtype, raw = self.deserialize(data)
            return np.frombuffer(raw, dtype=np.dtype(dtype))[0]
        if code == _X_ARROW_PANDAS:
            return from_arrow(data, "pandas")
        return msgpack.ExtType(code, data)

    def serialize(self, obj: Any) -> tuple[bytes, SerializationMetadata]:
        return self._pack(obj), self._metadata

    def deserialize(self, data: bytes, metadata: Any = None) -> Any:
        return msgpack.unpackb(data, raw=False, ext_hook=self._ext, strict_map_key=False)
