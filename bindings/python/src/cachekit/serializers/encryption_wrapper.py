"""``EncryptionWrapper``: AES-256-GCM over any serializer, done by the core."""

from __future__ import annotations

from typing import Any

from cachekit.serializers.base import SerializerProtocol, format_tag
from cachekit.serializers.standard_serializer import StandardSerializer


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
        return format_tag(self.serializer)

    def serialize(self, obj: Any) -> Any:
        return self.serializer.serialize(obj)

    def deserialize(self, data: bytes, metadata: Any = None) -> Any:
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
