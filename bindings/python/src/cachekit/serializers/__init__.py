"""Value serializers.

A serializer turns a function's result into bytes and back. Its ``name`` is
written by the core into every entry (the envelope's format string), so an
entry written by a different serializer is detected by the core, logged with
an explanation, counted and recomputed. Only ``StandardSerializer`` (name
``"msgpack"``) produces language-neutral MessagePack that the core validates
and that the other languages decode; the others are stored as opaque bytes.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import io
import logging
import pickle
import uuid
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import msgpack

from cachekit.errors import SerializationError

_log = logging.getLogger("cachekit")
_packb: Callable[..., bytes] = msgpack.packb  # pyright: ignore[reportAssignmentType]
_unpackb: Callable[..., Any] = msgpack.unpackb


@runtime_checkable
class SerializerProtocol(Protocol):
    """What ``@cache(serializer=...)`` accepts."""

    @property
    def name(self) -> str:
        """The format name the core writes into each entry."""
        ...

    def serialize(self, obj: Any) -> bytes: ...

    def deserialize(self, data: bytes) -> Any: ...


# ---------------------------------------------------------------- standard


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

    def serialize(self, obj: Any) -> bytes:
        try:
            return _packb(obj, default=_std_default, use_bin_type=True, datetime=False)
        except OverflowError as e:
            raise TypeError(f"StandardSerializer: integer out of the 64-bit range: {e}") from e

    def deserialize(self, data: bytes) -> Any:
        if b"__" in data:  # may hold date/time marker maps: decode them
            return _unpackb(data, raw=False, object_hook=_std_hook, strict_map_key=False)
        return _unpackb(data, raw=False, strict_map_key=False)


DefaultSerializer = StandardSerializer


# ---------------------------------------------------------------- auto

# Ext codes private to AutoSerializer (Python-only).
_X_TUPLE, _X_SET, _X_FROZENSET, _X_UUID, _X_DT, _X_DATE, _X_TIME = 10, 11, 12, 13, 14, 15, 16
_X_NDARRAY, _X_NPSCALAR, _X_DECIMAL, _X_ARROW_PANDAS, _X_TIMEDELTA, _X_BIGINT = 17, 18, 19, 20, 21, 22


class AutoSerializer:
    """MessagePack with Python-only types preserved: tuple, set, frozenset,
    UUID, datetime/date/time/timedelta, Decimal, big ints, NumPy arrays and
    scalars, pandas DataFrames (through Arrow IPC, needs pyarrow).
    Readable from Python only."""

    name: str = "auto"

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
                return msgpack.ExtType(_X_ARROW_PANDAS, _arrow_bytes(obj))
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
            return _from_arrow(data, "pandas")
        return msgpack.ExtType(code, data)

    def serialize(self, obj: Any) -> bytes:
        return self._pack(obj)

    def deserialize(self, data: bytes) -> Any:
        return msgpack.unpackb(data, raw=False, ext_hook=self._ext, strict_map_key=False)


# ---------------------------------------------------------------- orjson


class OrjsonSerializer:
    """JSON through orjson (``option=`` is passed to ``orjson.dumps``).
    Entries are tagged ``"json"``."""

    name: str = "json"

    def __init__(self, option: int | None = None) -> None:
        try:
            import orjson
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("OrjsonSerializer needs the orjson package: pip install orjson") from e
        self._orjson: Any = orjson
        self.option: int | None = option

    def serialize(self, obj: Any) -> bytes:
        try:
            return self._orjson.dumps(obj, option=self.option)
        except self._orjson.JSONEncodeError as e:
            raise TypeError(f"OrjsonSerializer: {e}") from e

    def deserialize(self, data: bytes) -> Any:
        return self._orjson.loads(data)


# ---------------------------------------------------------------- arrow


def _arrow_bytes(obj: Any) -> bytes:
    try:
        import pyarrow as pa
    except ImportError as e:
        raise TypeError("ArrowSerializer needs the pyarrow package: pip install pyarrow") from e
    mod = type(obj).__module__.split(".")[0]
    if isinstance(obj, pa.Table):
        table = obj
    elif mod == "pandas":
        import pandas as pd

        if isinstance(obj, pd.Series):
            obj = obj.to_frame()
        if not isinstance(obj, pd.DataFrame):
            raise TypeError(f"ArrowSerializer cannot serialize {type(obj).__qualname__}")
        table = pa.Table.from_pandas(obj)
    elif mod == "polars":
        to_arrow = getattr(obj, "to_arrow", None)
        if to_arrow is None:
            raise TypeError(f"ArrowSerializer cannot serialize {type(obj).__qualname__}")
        table = to_arrow()
    else:
        raise TypeError(
            f"ArrowSerializer serializes pandas/polars DataFrames and pyarrow Tables, not {type(obj).__qualname__}"
        )
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _from_arrow(data: bytes, fmt: str) -> Any:
    import pyarrow as pa

    table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    if fmt == "pandas":
        return table.to_pandas()
    if fmt == "polars":
        import polars as pl

        return pl.from_arrow(table)
    return table


class ArrowSerializer:
    """DataFrames as Arrow IPC streams (pandas, polars, pyarrow). ``return_format``
    is ``"pandas"`` (default), ``"polars"`` or ``"pyarrow"``. Tagged ``"arrow"``."""

    name: str = "arrow"

    def __init__(self, return_format: str = "pandas") -> None:
        if return_format not in ("pandas", "polars", "pyarrow"):
            raise ValueError(f'return_format must be "pandas", "polars" or "pyarrow", not {return_format!r}')
        self.return_format: str = return_format

    def serialize(self, obj: Any) -> bytes:
        return _arrow_bytes(obj)

    def deserialize(self, data: bytes) -> Any:
        return _from_arrow(data, self.return_format)


# ---------------------------------------------------------------- pickle


class PickleSerializer:
    """Any picklable Python object. Explicit opt-in only: unpickling bytes
    from a shared Redis executes code chosen by whoever can write to it.
    A warning is logged when it is constructed. Tagged ``"pickle"``."""

    name: str = "pickle"

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol: int = protocol
        _log.warning(
            "cachekit: PickleSerializer is in use; unpickling cached bytes runs arbitrary code if "
            + "anyone else can write to the cache. Prefer the standard or auto serializer."
        )

    def serialize(self, obj: Any) -> bytes:
        try:
            return pickle.dumps(obj, protocol=self.protocol)
        except (pickle.PicklingError, AttributeError) as e:
            raise TypeError(f"PickleSerializer: {e}") from e

    def deserialize(self, data: bytes) -> Any:
        return pickle.loads(data)


# ---------------------------------------------------------------- encryption


class EncryptionWrapper:
    """AES-256-GCM over any serializer, done by the core (HKDF per tenant,
    AAD bound to the key). ``master_key``: 32 bytes, or 64 hex digits; ``None``
    uses ``CACHEKIT_MASTER_KEY``. ``enable_encryption=False`` stores plaintext.
    ``decrypt_only_keys``: up to three previous master keys that still decrypt
    (key rotation: entries written under them are read, new ones use ``master_key``).

    The ciphertext is bound to the cache key it is stored under (the AAD), so
    the core encrypts when it stores an entry and decrypts when it reads one;
    ``serialize``/``deserialize`` here are the wrapped serializer's (plaintext)
    and the bytes in Redis are never the plaintext."""

    def __init__(
        self,
        serializer: SerializerProtocol | None = None,
        master_key: bytes | str | None = None,
        tenant_id: str | None = None,
        enable_encryption: bool = True,
        decrypt_only_keys: list[bytes | str] | None = None,
    ) -> None:
        self.serializer: SerializerProtocol = serializer if serializer is not None else StandardSerializer()
        if isinstance(master_key, (bytes, bytearray)):
            self.master_key_hex: str | None = bytes(master_key).hex()
        elif isinstance(master_key, str):
            self.master_key_hex = master_key
        else:
            self.master_key_hex = None
        self.tenant_id: str | None = tenant_id
        self.enable_encryption: bool = enable_encryption
        self.decrypt_only_keys: list[str] = [
            bytes(k).hex() if isinstance(k, (bytes, bytearray)) else str(k) for k in (decrypt_only_keys or [])
        ]

    @property
    def name(self) -> str:
        return self.serializer.name

    def serialize(self, obj: Any) -> bytes:
        return self.serializer.serialize(obj)

    def deserialize(self, data: bytes) -> Any:
        return self.serializer.deserialize(data)

    def core_options(self) -> dict[str, Any]:
        if not self.enable_encryption:
            return {}
        opts: dict[str, Any] = {"encryption": True}
        if self.master_key_hex is not None:
            opts["master_key"] = self.master_key_hex
        if self.tenant_id is not None:
            opts["tenant_id"] = self.tenant_id
        if self.decrypt_only_keys:
            opts["decrypt_only_keys"] = list(self.decrypt_only_keys)
        return opts


_BY_NAME: dict[str, type] = {
    "std": StandardSerializer,
    "standard": StandardSerializer,
    "default": StandardSerializer,
    "msgpack": StandardSerializer,
    "auto": AutoSerializer,
    "orjson": OrjsonSerializer,
    "json": OrjsonSerializer,
    "arrow": ArrowSerializer,
    "pickle": PickleSerializer,
}


def get_serializer(spec: str | SerializerProtocol | None) -> SerializerProtocol:
    """A serializer from a name (``"std"``, ``"auto"``, ``"orjson"``, ``"arrow"``,
    ``"pickle"``), an instance, or ``None`` (standard)."""
    if spec is None:
        return StandardSerializer()
    if isinstance(spec, str):
        cls = _BY_NAME.get(spec.lower())
        if cls is None:
            raise ValueError(f"unknown serializer {spec!r}; known: std, auto, orjson, arrow, pickle")
        return cls()
    if not isinstance(spec, SerializerProtocol):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError("serializer must be a name or an object with name, serialize() and deserialize()")
    return spec


__all__ = [
    "ArrowSerializer",
    "AutoSerializer",
    "DefaultSerializer",
    "EncryptionWrapper",
    "OrjsonSerializer",
    "PickleSerializer",
    "SerializationError",
    "SerializerProtocol",
    "StandardSerializer",
    "get_serializer",
]
