"""``PickleSerializer`` (``"pickle"``): any picklable object, explicit opt-in."""

from __future__ import annotations

import logging
import pickle
from typing import Any

from cachekit.serializers.base import SerializationFormat, SerializationMetadata

_log = logging.getLogger("cachekit")


class PickleSerializer:
    """Any picklable Python object. Explicit opt-in only: unpickling bytes
    from a shared Redis executes code chosen by whoever can write to it.
    A warning is logged when it is constructed. Tagged ``"pickle"``."""

    name: str = "pickle"

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol: int = protocol
        self._metadata: SerializationMetadata = SerializationMetadata(SerializationFormat.PICKLE)
        _log.warning(
            "cachekit: PickleSerializer is in use; unpickling cached bytes runs arbitrary code if "
            + "anyone else can write to the cache. Prefer the standard or auto serializer."
        )

    def serialize(self, obj: Any) -> tuple[bytes, SerializationMetadata]:
        try:
            return pickle.dumps(obj, protocol=self.protocol), self._metadata
        except (pickle.PicklingError, AttributeError) as e:
            raise TypeError(f"PickleSerializer: {e}") from e

    def deserialize(self, data: bytes, metadata: Any = None) -> Any:
        return pickle.loads(data)
