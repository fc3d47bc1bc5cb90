"""Value serializers.

A serializer turns a function's result into bytes and back. Its ``name`` is
written by the core into every entry (the envelope's format string), so an
entry written by a different serializer is detected by the core, logged with
an explanation, counted and recomputed. Only ``StandardSerializer`` (name
``"msgpack"``) produces language-neutral MessagePack that the core validates
and that the other languages decode; the others are stored as opaque bytes.

Modules: ``base`` (the protocol), ``standard_serializer``, ``auto_serializer``,
``orjson_serializer``, ``arrow_serializer``, ``pickle_serializer``,
``encryption_wrapper``; ``get_serializer`` and ``SERIALIZER_REGISTRY``
(here) pick one by name.
"""

from __future__ import annotations

from cachekit.errors import SerializationError
from cachekit.serializers.arrow_serializer import ArrowSerializer
from cachekit.serializers.auto_serializer import AutoSerializer
from cachekit.serializers.base import SerializationFormat, SerializationMetadata, SerializerProtocol, format_tag
from cachekit.serializers.encryption_wrapper import EncryptionWrapper
from cachekit.serializers.orjson_serializer import OrjsonSerializer
from cachekit.serializers.pickle_serializer import PickleSerializer
from cachekit.serializers.standard_serializer import DefaultSerializer, StandardSerializer

# Every serializer name ``@cache(serializer=...)`` and ``get_serializer`` take:
# the reference SDK's names (``default``, ``std``, ``auto``, ``pythonic``,
# ``orjson``, ``arrow``, ``encrypted``) and this package's (``standard``,
# ``msgpack``, ``json``, ``pickle``).
SERIALIZER_REGISTRY: dict[str, type] = {
    "default": StandardSerializer,
    "std": StandardSerializer,
    "standard": StandardSerializer,
    "msgpack": StandardSerializer,
    "auto": AutoSerializer,
    "pythonic": AutoSerializer,
    "orjson": OrjsonSerializer,
    "json": OrjsonSerializer,
    "arrow": ArrowSerializer,
    "pickle": PickleSerializer,
    "encrypted": EncryptionWrapper,
}
_INTEGRITY = (StandardSerializer, AutoSerializer, OrjsonSerializer, ArrowSerializer)


def get_serializer(spec: str | SerializerProtocol | None, enable_integrity_checking: bool = True) -> SerializerProtocol:
    """A serializer from a name (see ``SERIALIZER_REGISTRY``), an instance, or
    ``None`` (standard). ``enable_integrity_checking`` is the reference SDK's
    parameter, passed to the serializers that take it (the core verifies
    every entry's checksum whatever it says)."""
    if spec is None:
        return StandardSerializer(enable_integrity_checking)
    if isinstance(spec, str):
        cls = SERIALIZER_REGISTRY.get(spec.lower())
        if cls is None:
            raise ValueError(f"unknown serializer {spec!r}; known: {', '.join(SERIALIZER_REGISTRY)}")
        if cls in _INTEGRITY:
            return cls(enable_integrity_checking=enable_integrity_checking)
        return cls()
    if not isinstance(spec, SerializerProtocol):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError("serializer must be a name or an object with serialize() and deserialize()")
    return spec


__all__ = [
    "SERIALIZER_REGISTRY",
    "ArrowSerializer",
    "AutoSerializer",
    "DefaultSerializer",
    "EncryptionWrapper",
    "OrjsonSerializer",
    "PickleSerializer",
    "SerializationError",
    "SerializationFormat",
    "SerializationMetadata",
    "SerializerProtocol",
    "StandardSerializer",
    "format_tag",
    "get_serializer",
]
