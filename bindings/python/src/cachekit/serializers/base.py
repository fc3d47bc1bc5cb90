"""What every serializer is: ``SerializerProtocol``."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class SerializerProtocol(Protocol):
    """What ``@cache(serializer=...)`` accepts."""

    @property
    def name(self) -> str:
        """The format name the core writes into each entry."""
        ...

    def serialize(self, obj: Any) -> bytes: ...

    def deserialize(self, data: bytes) -> Any: ...
