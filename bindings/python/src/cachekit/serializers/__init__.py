"""Value serializers.

A serializer turns a function's result into bytes and back. Its ``name`` is
written by the core into every entry (the envelope's format string), so an
entry written by a different serializer is detected by the core, logged with
an explanation, counted and recomputed. Only ``StandardSerializer`` (name
``"msgpack"``) produces language-neutral MessagePack that the core validates
and that the other languages decode; the others are stored as opaque bytes.

Modules: ``base`` (the protocol), ``standard_serializer``, ``auto_serializer``,
``orjson_serializer``, ``arrow_serializer``, ``pickle_serializer``,
``encryption_wrapper``; ``get_serializer`` (here) picks one by name.
"""

from __future__ import annotations

from cachekit.errors import SerializationError
from cachekit.serializers.arrow_serializer import ArrowSerializer
from cachekit.serializers.auto_serializer import AutoSerializer
from cachekit.serializers.base import SerializerProtocol
from cachekit.serializers.encryption_wrapper import EncryptionWrapper
from cachekit.serializers.orjson_serializer import OrjsonSerializer
from cachekit.serializers.pickle_serializer import PickleSerializer
from cachekit.serializers.standard_serializer import DefaultSerializer, StandardSerializer

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
