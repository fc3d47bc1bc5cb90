"""The interop helpers of the reference SDK: the protocol's key of a call
and its value codec, without a decorated function.

``generate_interop_key(namespace, operation, args)`` is the key
``@cache(interop=operation, namespace=namespace)`` stores a call with these
positional argument values under (``{namespace}:{operation}:{blake2b-256 of
the canonical arguments}``), derived by the core. ``encode_interop_value``
gives the plain MessagePack another SDK reads (date/time as the protocol's
marker maps); ``decode_interop_value`` reads it back. Out-of-model
arguments and values raise ``InteropError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cachekit import _core
from cachekit._keys import pack_args
from cachekit.errors import ConfigurationError, InteropError
from cachekit.serializers.standard_serializer import StandardSerializer

# An L1-only client with no key prefix or tenant scope: the bare protocol key.
_BARE = '{"key_prefix": "", "redis_url": null, "tenant_id": null}'
_namespaces: dict[str, _core.Namespace] = {}
_standard = StandardSerializer()


def _namespace(namespace: str) -> _core.Namespace:
    ns = _namespaces.get(namespace)
    if ns is None:
        try:
            ns = _core.Namespace(_core.get_client(_BARE), namespace, {"format": "interop", "l1_enabled": False})
        except ConfigurationError as e:
            raise InteropError(f"cachekit: invalid interop namespace {namespace!r}: {e}") from e
        _namespaces[namespace] = ns
    return ns


def generate_interop_key(namespace: str, operation: str, args: Sequence[Any]) -> str:
    """The protocol key of ``operation(*args)`` in ``namespace``."""
    if isinstance(args, (str, bytes)) or not isinstance(args, (list, tuple)):
        raise InteropError(f"cachekit: args must be a list or tuple of argument values, not {type(args).__name__}")
    packed = pack_args(list(args), interop=True)
    try:
        return _namespace(namespace).make_key(operation.encode(), packed)
    except ConfigurationError as e:
        if isinstance(e, InteropError):
            raise
        raise InteropError(f"cachekit: no interop key for {namespace!r}/{operation!r}: {e}") from e


def encode_interop_value(value: Any) -> bytes:
    """``value`` as the protocol's plain MessagePack."""
    try:
        return _standard.serialize(value)[0]
    except (TypeError, ValueError) as e:
        raise InteropError(f"cachekit: {type(value).__name__} cannot be an interop value: {e}") from e


def decode_interop_value(data: bytes | bytearray | memoryview) -> Any:
    """A value read from an interop entry (date/time marker maps revived)."""
    try:
        return _standard.deserialize(bytes(data))
    except Exception as e:
        raise InteropError(f"cachekit: not an interop value: {e}") from e


__all__ = ["decode_interop_value", "encode_interop_value", "generate_interop_key"]
