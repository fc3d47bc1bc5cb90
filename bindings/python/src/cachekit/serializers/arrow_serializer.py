"""``ArrowSerializer`` (``"arrow"``): DataFrames and tables as Arrow IPC streams."""

from __future__ import annotations

import io
from typing import Any

from cachekit.serializers.base import SerializationFormat, SerializationMetadata


def arrow_bytes(obj: Any) -> bytes:
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


def from_arrow(data: bytes, fmt: str) -> Any:
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
    is ``"pandas"`` (default), ``"polars"`` or ``"arrow"`` (a ``pyarrow.Table``,
    the reference SDK's name; ``"pyarrow"`` is kept as an alias). Tagged ``"arrow"``."""

    name: str = "arrow"

    def __init__(self, return_format: str = "pandas", enable_integrity_checking: bool = True) -> None:
        if return_format not in ("pandas", "polars", "arrow", "pyarrow"):
            raise ValueError(f'return_format must be "pandas", "polars" or "arrow", not {return_format!r}')
        self.return_format: str = return_format
        self.enable_integrity_checking: bool = bool(enable_integrity_checking)  # the core verifies every entry
        self._metadata: SerializationMetadata = SerializationMetadata(SerializationFormat.ARROW)

    def serialize(self, obj: Any) -> tuple[bytes, SerializationMetadata]:
        return arrow_bytes(obj), self._metadata

    def deserialize(self, data: bytes, metadata: Any = None) -> Any:
        return from_arrow(data, self.return_format)
