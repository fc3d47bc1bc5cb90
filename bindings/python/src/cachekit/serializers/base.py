"""What every serializer is, in the reference SDK's terms.

``SerializerProtocol``: ``serialize(obj) -> (bytes, SerializationMetadata)``
and ``deserialize(data, metadata=None) -> obj``. A serializer may also have a
``name``: the format tag the core writes into every entry (an entry written
by another serializer is then a counted miss, never a wrong value). One
without a ``name`` (a custom serializer written as the reference documents
it) is tagged with its class name (``format_tag``). For compatibility with
code written for this package before, ``serialize`` may also return plain
``bytes``.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol, runtime_checkable

from cachekit.errors import SerializationError


@runtime_checkable
class SerializerProtocol(Protocol):
    """What ``@cache(serializer=...)`` accepts: ``serialize`` and ``deserialize``."""

    def serialize(self, obj: Any) -> tuple[bytes, SerializationMetadata] | bytes: ...

    def deserialize(self, data: bytes, metadata: Any = None) -> Any: ...


class SerializationFormat(enum.Enum):
    """The wire format of serialized bytes (``SerializationMetadata.format``)."""

    MSGPACK = "msgpack"
    ORJSON = "orjson"
    ARROW = "arrow"
    AUTO = "auto"
    PICKLE = "pickle"


class SerializationMetadata:
    """What ``serialize`` says about the bytes it returns. Informational here:
    compression, checksums and encryption are applied by the core to every
    entry, whatever a serializer's metadata says."""

    def __init__(
        self,
        serialization_format: SerializationFormat,
        encoding: str = "utf-8",
        compressed: bool = False,
        original_type: str | None = None,
        encrypted: bool = False,
        tenant_id: str | None = None,
        encryption_algorithm: str | None = None,
        key_fingerprint: str | None = None,
    ) -> None:
        self.format: SerializationFormat = serialization_format
        self.encoding: str = encoding
        self.compressed: bool = compressed
        self.original_type: str | None = original_type
        self.encrypted: bool = encrypted
        self.tenant_id: str | None = tenant_id
        self.encryption_algorithm: str | None = encryption_algorithm
        self.key_fingerprint: str | None = key_fingerprint

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": self.format.value,
            "encoding": self.encoding,
            "compressed": self.compressed,
            "original_type": self.original_type,
        }
        if self.encrypted:
            out["encrypted"] = True
            out["tenant_id"] = self.tenant_id
            out["encryption_algorithm"] = self.encryption_algorithm
            out["key_fingerprint"] = self.key_fingerprint
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SerializationMetadata:
        return cls(
            SerializationFormat(data["format"]),
            encoding=data.get("encoding", "utf-8"),
            compressed=bool(data.get("compressed", False)),
            original_type=data.get("original_type"),
            encrypted=bool(data.get("encrypted", False)),
            tenant_id=data.get("tenant_id"),
            encryption_algorithm=data.get("encryption_algorithm"),
            key_fingerprint=data.get("key_fingerprint"),
        )

    def __repr__(self) -> str:
        return f"SerializationMetadata({self.to_dict()!r})"


def format_tag(serializer: Any) -> str:
    """The format tag the core writes for ``serializer``: its ``name``, else
    ``py:`` and its class name (at most 32 characters, the core's limit)."""
    name = getattr(serializer, "name", None)
    if isinstance(name, str) and name:
        return name
    return f"py:{type(serializer).__qualname__}"[:32]


def payload(serialized: Any) -> bytes:
    """The bytes of what ``serialize`` returned (a ``(bytes, metadata)`` pair or bytes)."""
    if type(serialized) is tuple:
        serialized = serialized[0]
    if isinstance(serialized, (bytes, bytearray, memoryview)):
        return bytes(serialized)
    raise SerializationError(
        f"serialize() must return (bytes, SerializationMetadata) or bytes, not {type(serialized).__name__}"
    )


__all__ = [
    "SerializationError",
    "SerializationFormat",
    "SerializationMetadata",
    "SerializerProtocol",
    "format_tag",
    "payload",
]
