"""Public names of the reference SDK (PyPI cachekit 0.24.1) that code written
for it imports (issue 17): the serializer protocol, DecoratorConfig,
@cache.local, EncryptionConfig, reset_settings, RedisBackend and the interop
helpers."""

from __future__ import annotations

import asyncio
import enum
from typing import Any

import msgpack
import pytest

import cachekit
from cachekit import DecoratorConfig, InteropError, cache, reset_settings
from cachekit.backends.redis import RedisBackend
from cachekit.config import ConfigurationError, get_settings
from cachekit.config.nested import CircuitBreakerConfig, EncryptionConfig
from cachekit.interop import decode_interop_value, encode_interop_value, generate_interop_key
from cachekit.serializers import SERIALIZER_REGISTRY, EncryptionWrapper, StandardSerializer, get_serializer
from cachekit.serializers.base import SerializationError, SerializationFormat, SerializationMetadata
from conftest import MASTER_KEY, OTHER_KEY, redis_cli_raw


def counted(**kw: Any) -> tuple[Any, list[int]]:
    n = [0]

    @cache(**kw)
    def f(x: int) -> dict[str, int]:
        n[0] += 1
        return {"x": x, "n": n[0]}

    return f, n


# ---------------------------------------------------------------- serializer protocol


class ReferenceStyleSerializer:
    """Written as the reference documents a custom serializer: no ``name``."""

    def __init__(self) -> None:
        self.calls = 0

    def serialize(self, obj: Any) -> tuple[bytes, SerializationMetadata]:
        self.calls += 1
        packed = msgpack.packb(obj)
        assert packed is not None
        return packed, SerializationMetadata(serialization_format=SerializationFormat.MSGPACK)

    def deserialize(self, data: bytes, metadata: Any = None) -> Any:
        return msgpack.unpackb(data)


class BytesSerializer:
    """This package's earlier form: ``serialize`` returns bytes."""

    name = "bytes-v1"

    def serialize(self, obj: Any) -> bytes:
        return repr(obj).encode()

    def deserialize(self, data: bytes) -> Any:
        return {"repr": data.decode()}


def test_a_custom_serializer_without_a_name_is_accepted_and_caches(redis_url: str, ns: str) -> None:
    s = ReferenceStyleSerializer()
    f, n = counted(namespace=ns, serializer=s, l1_enabled=False)
    assert f(1) == {"x": 1, "n": 1}
    assert f(1) == {"x": 1, "n": 1}
    assert n[0] == 1 and s.calls == 1


def test_a_custom_serializer_without_a_name_is_tagged_with_its_class(redis_url: str, ns: str) -> None:
    f, _ = counted(namespace=ns, serializer=ReferenceStyleSerializer())
    assert f.get_health_status()["serializer"] == "py:ReferenceStyleSerializer"


def test_a_custom_serializer_returning_bytes_still_works(redis_url: str, ns: str) -> None:
    f, n = counted(namespace=ns, serializer=BytesSerializer(), l1_enabled=False)
    f(1)
    assert f(1) == {"repr": "{'x': 1, 'n': 1}"}
    assert n[0] == 1


def test_a_serializer_returning_neither_bytes_nor_a_pair_leaves_the_result_uncached_with_a_warning(
    redis_url: str, ns: str, caplog_cachekit: pytest.LogCaptureFixture
) -> None:
    class Text:
        def serialize(self, obj: Any) -> Any:
            return repr(obj)

        def deserialize(self, data: bytes, metadata: Any = None) -> Any:
            return data

    f, _ = counted(namespace=ns, serializer=Text())
    assert f(1) == {"x": 1, "n": 1}
    assert f(1) == {"x": 1, "n": 2}
    assert any("not cached" in r.getMessage() and "serialize()" in r.getMessage() for r in caplog_cachekit.records)


def test_a_custom_serializer_without_a_name_is_refused_in_interop_mode(redis_url: str, ns: str) -> None:
    with pytest.raises(ConfigurationError, match="cannot be used"):
        counted(namespace=ns, interop="get_x", serializer=ReferenceStyleSerializer())


def test_the_builtin_serializers_return_bytes_and_metadata() -> None:
    data, meta = StandardSerializer().serialize({"a": 1})
    assert data == msgpack.packb({"a": 1}) and meta.format is SerializationFormat.MSGPACK


def test_deserialize_takes_the_metadata_argument() -> None:
    s = StandardSerializer()
    data, meta = s.serialize([1, 2])
    assert s.deserialize(data, meta) == [1, 2]


def test_serialization_metadata_round_trips_through_a_dict() -> None:
    meta = SerializationMetadata(SerializationFormat.ORJSON, compressed=True, original_type="dict")
    again = SerializationMetadata.from_dict(meta.to_dict())
    assert (again.format, again.compressed, again.original_type) == (SerializationFormat.ORJSON, True, "dict")


def test_serialization_error_of_base_is_the_packages() -> None:
    assert SerializationError is cachekit.SerializationError


def test_the_serializer_registry_has_the_references_names() -> None:
    for name in ("default", "std", "auto", "pythonic", "orjson", "arrow", "encrypted"):
        assert name in SERIALIZER_REGISTRY, name
    assert SERIALIZER_REGISTRY["default"] is StandardSerializer


def test_the_encrypted_serializer_name_encrypts(redis_url: str, ns: str) -> None:
    f, _ = counted(namespace=ns, serializer="encrypted", l1_enabled=False)
    assert isinstance(f.cache_serializer, EncryptionWrapper)
    f(1)
    assert f.cache_exists(1)  # this thread's next command: the write behind the call has landed
    raw = redis_cli_raw(redis_url, "GET", f.cache_key(1))
    plain = msgpack.packb({"x": 1, "n": 1})
    assert raw and plain is not None and plain not in raw


def test_standard_serializer_accepts_enable_integrity_checking() -> None:
    s = StandardSerializer(enable_integrity_checking=False)
    assert s.deserialize(s.serialize({"a": 1})[0]) == {"a": 1}


def test_get_serializer_accepts_enable_integrity_checking() -> None:
    assert isinstance(get_serializer("default", enable_integrity_checking=False), StandardSerializer)


def test_integrity_checking_is_accepted_by_cache(redis_url: str, ns: str) -> None:
    f, n = counted(namespace=ns, integrity_checking=False)
    f(1)
    f(1)
    assert n[0] == 1


def test_integrity_checking_must_be_a_bool(redis_url: str, ns: str) -> None:
    with pytest.raises(ConfigurationError, match="integrity_checking"):
        counted(namespace=ns, integrity_checking="no")


# ---------------------------------------------------------------- DecoratorConfig


def test_config_decorator_config_sets_ttl_and_namespace(redis_url: str, ns: str) -> None:
    f, n = counted(config=DecoratorConfig(ttl=120, namespace=ns))
    f(1)
    f(1)
    assert n[0] == 1 and f.cache_namespace == ns
    ttl = f.cache_ttl(1)
    assert ttl is not None and 60 < ttl <= 120


def test_a_parameter_beside_config_wins_over_its_field(redis_url: str, ns: str) -> None:
    f, _ = counted(config=DecoratorConfig(ttl=120, namespace="other"), namespace=ns, ttl=30)
    assert f.cache_namespace == ns and f(1) == f(1)
    ttl = f.cache_ttl(1)  # what the core stored with: the parameter's 30 s, not the field's 120
    assert ttl is not None and 0 < ttl <= 30


@pytest.mark.parametrize(
    ("preset", "ttl", "breaker"),
    [("minimal", 300, False), ("production", 600, True), ("dev", 300, True), ("test", 300, False)],
)
def test_decorator_config_presets_hold_the_references_values(
    redis_url: str, ns: str, preset: str, ttl: int, breaker: bool
) -> None:
    config = getattr(DecoratorConfig, preset)(namespace=ns)
    assert config.ttl == ttl and config.circuit_breaker.enabled is breaker
    f, _ = counted(config=config)
    assert f(1) == f(1)
    stored = f.cache_ttl(1)  # the TTL the core stored the entry with
    assert stored is not None and ttl - 60 < stored <= ttl
    assert f.get_health_status()["features_enabled"]["circuit_breaker"] is breaker


def test_a_decorator_config_preset_takes_overrides(redis_url: str) -> None:
    assert DecoratorConfig.minimal(ttl=42).ttl == 42


def test_decorator_config_secure_encrypts(redis_url: str, ns: str) -> None:
    f, _ = counted(config=DecoratorConfig.secure(master_key=OTHER_KEY, namespace=ns))
    assert f.get_health_status()["encryption"] is not None
    assert f(1) == f(1)
    stored = f.cache_ttl(1)
    assert stored is not None and 540 < stored <= 600


def test_decorator_config_secure_refuses_integrity_checking_off() -> None:
    with pytest.raises(ConfigurationError, match="integrity"):
        DecoratorConfig.secure(master_key=OTHER_KEY, integrity_checking=False)


def test_decorator_config_refuses_a_bad_ttl() -> None:
    with pytest.raises(ConfigurationError, match="ttl"):
        DecoratorConfig(ttl=-1)


def test_decorator_config_backend_none_is_l1_only(ns: str) -> None:
    f, _ = counted(config=DecoratorConfig(namespace=ns, backend=None))
    assert f.get_health_status()["backend"] == "none"


# ---------------------------------------------------------------- EncryptionConfig, ConfigurationError


def test_encryption_config_turns_encryption_on(redis_url: str, ns: str) -> None:
    @cache(namespace=ns, encryption=EncryptionConfig(enabled=True, master_key=OTHER_KEY))
    def f(x: int) -> int:
        return x

    assert f(1) == 1
    assert f.get_health_status()["encryption"] is not None


def test_encryption_config_deployment_uuid_is_the_tenant(redis_url: str, ns: str) -> None:
    du = "2f1b7c9e-5d34-4a8e-9f60-1c2d3e4f5a6b"
    f, _ = counted(namespace=ns, encryption=EncryptionConfig(enabled=True, deployment_uuid=du))
    assert f.get_health_status()["encryption"]["tenant_id"] == du


def test_encryption_config_with_a_tenant_extractor_is_refused(redis_url: str, ns: str) -> None:
    with pytest.raises(ConfigurationError, match="tenant_extractor"):
        counted(namespace=ns, encryption=EncryptionConfig(enabled=True, tenant_extractor=object()))


def test_configuration_error_is_importable_from_config() -> None:
    assert ConfigurationError is cachekit.ConfigurationError


# ---------------------------------------------------------------- reset_settings


def test_reset_settings_makes_a_changed_master_key_seen(
    redis_url: str, ns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def make() -> tuple[Any, list[int]]:
        return counted(namespace=ns, operation="secret", encryption=True, l1_enabled=False)

    a, n = make()
    a(1)  # encrypted under MASTER_KEY (the environment's)
    monkeypatch.setenv("CACHEKIT_MASTER_KEY", OTHER_KEY)
    try:
        same, m = make()
        same(1)
        assert m[0] == 0  # without reset_settings the process client still has the old key
        reset_settings()
        fresh, k = make()
        fresh(1)
        assert k[0] == 1  # the new key cannot decrypt the entry: recomputed
    finally:
        monkeypatch.setenv("CACHEKIT_MASTER_KEY", MASTER_KEY)
        reset_settings()
    assert n[0] == 1


def test_reset_settings_rereads_get_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    before = get_settings()
    monkeypatch.setenv("CACHEKIT_DEFAULT_TTL", "77")
    try:
        assert get_settings() is before
        reset_settings()
        assert get_settings().default_ttl == 77
    finally:
        monkeypatch.delenv("CACHEKIT_DEFAULT_TTL")
        reset_settings()


# ---------------------------------------------------------------- RedisBackend


def test_redis_backend_with_a_url_is_that_redis(redis_url: str, ns: str) -> None:
    f, _ = counted(namespace=ns, backend=RedisBackend(redis_url))
    f(1)
    assert f.cache_exists(1)  # this thread's next command: the write behind the call has landed
    assert redis_cli_raw(redis_url, "EXISTS", f.cache_key(1)).strip() == b"1"


def test_redis_backend_without_a_url_is_the_environments(redis_url: str, ns: str) -> None:
    f, _ = counted(namespace=ns, backend=RedisBackend())
    assert f.get_health_status()["backend"] != "none"


def test_redis_backend_is_allowed_in_interop_mode(redis_url: str, ns: str) -> None:
    f, _ = counted(namespace=ns, interop="get_x", backend=RedisBackend(redis_url))
    assert f.cache_key(1).startswith(f"{ns}:get_x:")


# ---------------------------------------------------------------- interop helpers


class Color(enum.Enum):
    RED = "red"


def test_generate_interop_key_is_the_key_of_the_decorated_function(redis_url: str, ns: str) -> None:
    f, _ = counted(namespace=ns, interop="get_x")
    assert generate_interop_key(ns, "get_x", [1]) == f.cache_key(1)


def test_generate_interop_key_hashes_an_enum_as_its_value() -> None:
    assert generate_interop_key("users", "op", [Color.RED]) == generate_interop_key("users", "op", ["red"])


def test_generate_interop_key_refuses_an_out_of_model_argument() -> None:
    with pytest.raises(InteropError):
        generate_interop_key("users", "op", [object()])


def test_generate_interop_key_refuses_an_invalid_operation() -> None:
    with pytest.raises(InteropError):
        generate_interop_key("users", "Not Valid", [1])


def test_encode_interop_value_is_plain_messagepack() -> None:
    assert encode_interop_value({"a": [1, None]}) == msgpack.packb({"a": [1, None]})


def test_decode_interop_value_reads_what_encode_wrote() -> None:
    assert decode_interop_value(encode_interop_value({"a": [1, 2.5, b"x"]})) == {"a": [1, 2.5, b"x"]}


def test_encode_interop_value_refuses_an_out_of_model_value() -> None:
    with pytest.raises(InteropError):
        encode_interop_value(object())


def test_decode_interop_value_refuses_bytes_that_are_not_messagepack() -> None:
    with pytest.raises(InteropError):
        decode_interop_value(b"\xc1")


def test_an_entry_written_with_encode_interop_value_is_a_hit(redis_url: str, ns: str) -> None:
    from conftest import redis_cli

    f, n = counted(namespace=ns, interop="get_x")
    key = generate_interop_key(ns, "get_x", [3])
    value = encode_interop_value({"x": 3, "n": 99})
    subprocess_set(redis_url, key, value)
    assert f(3) == {"x": 3, "n": 99} and n[0] == 0
    assert redis_cli(redis_url, "EXISTS", key) == "(integer) 1"


def subprocess_set(url: str, key: str, value: bytes) -> None:
    import subprocess

    subprocess.run(["redis-cli", "-u", url, "-x", "SET", key], input=value, check=True, capture_output=True)


# ---------------------------------------------------------------- @cache.local


def local_fn(**kw: Any) -> tuple[Any, list[int]]:
    n = [0]

    @cache.local(**kw)
    def f(x: int) -> list[int]:
        n[0] += 1
        return [x, n[0]]

    return f, n


def test_cache_local_returns_the_same_object() -> None:
    f, n = local_fn()
    first = f(1)
    assert f(1) is first and n[0] == 1


def test_cache_local_keys_like_the_core(redis_url: str) -> None:
    f, n = local_fn()
    f(2)
    f(2.0)  # pyright: ignore[reportArgumentType]
    assert n[0] == 1


def test_cache_local_evicts_the_least_recently_used_past_max_entries() -> None:
    f, n = local_fn(max_entries=2)
    f(1)
    f(2)
    f(1)  # 1 is now the most recent
    f(3)  # evicts 2
    f(1)
    assert n[0] == 3
    f(2)
    assert n[0] == 4


def test_cache_local_invalidate_cache_drops_one_call() -> None:
    f, n = local_fn()
    f(1)
    assert f.invalidate_cache(1) is True
    assert f.invalidate_cache(1) is False
    f(1)
    assert n[0] == 2


def test_cache_local_cache_clear_drops_every_call() -> None:
    f, n = local_fn()
    f(1)
    f(2)
    assert f.cache_clear() == 2
    f(1)
    assert n[0] == 3


def test_cache_local_cache_info_counts_hits_and_misses() -> None:
    f, _ = local_fn(max_entries=10)
    f(1)
    f(1)
    f(2)
    info = f.cache_info()
    assert (info.hits, info.misses, info.maxsize, info.currsize) == (1, 2, 10, 2)


def test_cache_local_does_not_cache_exceptions() -> None:
    n = [0]

    @cache.local
    def f(x: int) -> int:
        n[0] += 1
        if n[0] == 1:
            raise ValueError("first")
        return x

    with pytest.raises(ValueError):
        f(1)
    assert f(1) == 1 and f(1) == 1 and n[0] == 2


def test_cache_local_caches_none() -> None:
    n = [0]

    @cache.local
    def f(x: int) -> None:
        n[0] += 1

    f(1)
    f(1)
    assert n[0] == 1


def test_cache_local_async_returns_the_same_object() -> None:
    n = [0]

    @cache.local(ttl=60)
    async def f(x: int) -> list[int]:
        n[0] += 1
        await asyncio.sleep(0.05)
        return [x]

    async def main() -> list[list[int]]:
        return list(await asyncio.gather(*(f(1) for _ in range(5))))

    results = asyncio.run(main())
    assert all(r is results[0] for r in results) and n[0] == 1


def test_cache_local_refuses_an_unknown_parameter() -> None:
    with pytest.raises(TypeError, match=r"cache\.local takes only"):
        cache.local(serializer="auto")  # pyright: ignore[reportCallIssue]


def test_cache_local_refuses_a_bad_ttl() -> None:
    with pytest.raises(ConfigurationError, match="ttl"):
        local_fn(ttl=0)


def test_cache_local_bypass_cache_runs_the_function() -> None:
    f, n = local_fn()
    f(1)
    f(1, _bypass_cache=True)  # pyright: ignore[reportCallIssue]
    assert n[0] == 2


def test_circuit_breaker_config_is_exported_at_the_top(redis_url: str) -> None:
    assert cachekit.CircuitBreakerConfig is CircuitBreakerConfig


def test_redis_backend_and_base_backend_are_importable_from_backends() -> None:
    from cachekit import backends

    assert backends.RedisBackend is RedisBackend
    assert backends.BaseBackend is backends.BackendProtocol


def test_a_custom_backend_subclassing_base_backend_is_the_l2(ns: str) -> None:
    from cachekit.backends import BaseBackend

    class Store(BaseBackend):
        def __init__(self) -> None:
            self.data: dict[str, bytes] = {}

        def get(self, key: str) -> bytes | None:
            return self.data.get(key)

        def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
            self.data[key] = value

        def delete(self, key: str) -> bool:
            return self.data.pop(key, None) is not None

        def exists(self, key: str) -> bool:
            return key in self.data

    store = Store()
    f, n = counted(namespace=ns, backend=store, l1_enabled=False)
    f(1)
    f(1)
    assert n[0] == 1 and f.cache_key(1) in store.data
