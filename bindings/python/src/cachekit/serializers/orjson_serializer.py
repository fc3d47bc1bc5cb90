"""``OrjsonSerializer`` (``"orjson"``): JSON bytes through orjson."""

from __future__ import annotations

from typing import Any


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
