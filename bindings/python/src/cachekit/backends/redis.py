"""``RedisBackend``: the reference SDK's name for Redis as the L2.

``@cache(backend=RedisBackend("redis://host:6379/0"))`` is
``@cache(backend="redis://host:6379/0")``: the core's own Redis client (pool,
TLS, timeouts, breaker), not a Python one. ``RedisBackend()`` without a URL
uses the environment (``CACHEKIT_REDIS_URL``, else ``REDIS_URL``), as
omitting ``backend=`` does. A ``RedisBackendConfig`` (or any object with a
``redis_url``) may be passed instead of the URL. It has no key prefix: in
interop mode the key is exactly the protocol's.
"""

from __future__ import annotations

from typing import Any


class RedisBackend:
    """Redis as the L2 of the functions decorated with ``backend=`` this object."""

    key_prefix: str = ""

    def __init__(self, redis_url: Any = None, client_provider: Any = None) -> None:
        if client_provider is not None:
            raise NotImplementedError(
                "cachekit: RedisBackend(client_provider=...) is not supported: the core keeps its own Redis "
                + "connections; pass a redis_url"
            )
        url = getattr(redis_url, "redis_url", redis_url)
        secret = getattr(url, "get_secret_value", None)  # pydantic SecretStr
        if callable(secret):
            url = secret()
        if url is not None and not isinstance(url, str):
            raise TypeError(f"RedisBackend: redis_url must be a str, got {type(url).__name__}")
        self.redis_url: str | None = url or None

    def __repr__(self) -> str:
        return "RedisBackend(<url>)" if self.redis_url else "RedisBackend(<environment>)"


__all__ = ["RedisBackend"]
