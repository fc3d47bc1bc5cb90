"""``OrjsonSerializer`` (``"orjson"``): JSON bytes through orjson."""

from __future__ import annotations

from typing import Any

from cachekit.errors import SerializationError
from cachekit.serializers.base import SerializationFormat, SerializationMetadata


class OrjsonSerializer:
    """JSON through orjson. ``option=`` is passed to ``orjson.dumps``; the
    default is ``orjson.OPT_SORT_KEYS`` (as the reference SDK: the same dict
    gives the same bytes whatever its insertion order). Values orjson cannot
    encode and bytes it cannot decode raise ``SerializationError``. Entries
    are tagged ``"json"``."""

    name: str = "json"

    def __init__(self, option: int | None = None, enable_integrity_checking: bool = True) -> None:
        try:
            import orjson
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("OrjsonSerializer needs the orjson package: pip install orjson") from e
        self._orjson: Any = orjson
        self.option: int = orjson.OPT_SORT_KEYS if option is None else option
        self.enable_integrity_checking: bool = bool(enable_integrity_checking)  # the core verifies every entry
        self._metadata: SerializationMetadata = SerializationMetadata(SerializationFormat.ORJSON)

    def serialize(self, obj: Any) -> tuple[bytes, SerializationMetadata]:
        try:
            return self._orjson.dumps(obj, option=self.option), self._metadata
        except self._orjson.JSONEncodeError as e:
            raise SerializationError(f"OrjsonSerializer cannot encode it: {e}") from e

    def deserialize(self, data: bytes, metadata: Any = None) -> Any:
        try:
            return self._orjson.loads(data)
        except self._orjson.JSONDecodeError as e:
            raise SerializationError(f"OrjsonSerializer cannot decode it: {e}") from e
