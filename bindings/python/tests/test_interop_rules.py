"""Interop mode never fails silently (issue 17): what would make an interop
key other than the protocol's, or no shared entry at all, is refused when the
function is decorated; out-of-model arguments and results raise
``InteropError``; the encryption tenant can be spelled ``deployment_uuid``."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cachekit import CachekitConfig, ConfigurationError, InteropError, cache, reset_settings
from conftest import MASTER_KEY

DEPLOYMENT = "2f1b7c9e-5d34-4a8e-9f60-1c2d3e4f5a6b"


@pytest.fixture
def fresh_clients() -> Iterator[None]:
    """Functions decorated in the test get clients that read the environment
    the test set (and the tests after it get clients without it)."""
    reset_settings()
    yield
    reset_settings()


def interop_fn(**kw: Any) -> Any:
    @cache(**kw)
    def get_user(user_id: Any) -> dict[str, Any]:
        return {"id": str(user_id)}

    return get_user


# ---------------------------------------------------------------- refused at decoration


def test_interop_with_a_key_function_is_refused_at_decoration(redis_url: str, ns: str) -> None:
    with pytest.raises(ConfigurationError, match="key= cannot be combined"):
        interop_fn(interop="get_user", namespace=ns, key=lambda user_id: "k")


def test_interop_without_a_namespace_is_refused_at_decoration(redis_url: str) -> None:
    with pytest.raises(ConfigurationError, match="explicit namespace"):
        interop_fn(interop="get_user")


def test_interop_with_backend_none_is_refused_at_decoration(redis_url: str, ns: str) -> None:
    with pytest.raises(ConfigurationError, match="backend=None is L1-only"):
        interop_fn(interop="get_user", namespace=ns, backend=None)


@pytest.mark.parametrize("operation", ["Get User", "GetUser", "get:user", "", "x" * 65])
def test_interop_with_an_invalid_operation_name_is_refused_at_decoration(
    redis_url: str, ns: str, operation: str
) -> None:
    with pytest.raises(ConfigurationError):
        interop_fn(interop=operation, namespace=ns)


def test_an_invalid_operation_name_is_refused_at_decoration_outside_interop(redis_url: str, ns: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid operation name"):
        interop_fn(namespace=ns, operation="get user!")


def test_interop_with_a_key_prefix_from_the_environment_is_refused_at_decoration(
    redis_url: str, ns: str, monkeypatch: pytest.MonkeyPatch, fresh_clients: None
) -> None:
    monkeypatch.setenv("CACHEKIT_KEY_PREFIX", "pfx:")
    reset_settings()
    with pytest.raises(ConfigurationError, match="CACHEKIT_KEY_PREFIX"):
        interop_fn(interop="get_user", namespace=ns)


def test_interop_with_a_tenant_scope_from_the_environment_is_refused_at_decoration(
    redis_url: str, ns: str, monkeypatch: pytest.MonkeyPatch, fresh_clients: None
) -> None:
    monkeypatch.setenv("CACHEKIT_TENANT_ID", "acme")
    reset_settings()
    with pytest.raises(ConfigurationError, match="CACHEKIT_TENANT_ID"):
        interop_fn(interop="get_user", namespace=ns)


def test_interop_with_a_key_prefix_in_the_config_is_refused_at_decoration(redis_url: str, ns: str) -> None:
    with pytest.raises(ConfigurationError, match="key_prefix / CACHEKIT_KEY_PREFIX"):
        interop_fn(interop="get_user", namespace=ns, config=CachekitConfig(key_prefix="pfx:"))


def test_interop_with_a_tenant_scope_in_the_config_is_refused_at_decoration(redis_url: str, ns: str) -> None:
    with pytest.raises(ConfigurationError, match="tenant_id / CACHEKIT_TENANT_ID"):
        interop_fn(interop="get_user", namespace=ns, config=CachekitConfig(tenant_id="acme"))


def test_interop_with_the_scope_unset_for_the_function_is_accepted(
    redis_url: str, ns: str, monkeypatch: pytest.MonkeyPatch, fresh_clients: None
) -> None:
    monkeypatch.setenv("CACHEKIT_KEY_PREFIX", "pfx:")
    monkeypatch.setenv("CACHEKIT_TENANT_ID", "acme")
    reset_settings()
    f = interop_fn(interop="get_user", namespace=ns, config=CachekitConfig(key_prefix="", tenant_id=None))
    assert f.cache_key(1).startswith(f"{ns}:get_user:")


def test_the_key_prefix_still_applies_outside_interop(redis_url: str, ns: str) -> None:
    f = interop_fn(namespace=ns, operation="get_user", config=CachekitConfig(key_prefix="pfx:"))
    assert f.cache_key(1).startswith(f"pfx:{ns}:get_user:")


def test_interop_with_a_key_prefixing_custom_backend_is_refused_at_decoration(redis_url: str, ns: str) -> None:
    class Prefixing:
        key_prefix = "t:default:"

        def get(self, key: str) -> bytes | None:
            return None

        def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
            pass

        def delete(self, key: str) -> bool:
            return False

        def exists(self, key: str) -> bool:
            return False

    with pytest.raises(ConfigurationError, match="key-prefixing backend"):
        interop_fn(interop="get_user", namespace=ns, backend=Prefixing())


# ---------------------------------------------------------------- out of the model: InteropError


def test_interop_error_is_a_value_error() -> None:
    assert issubclass(InteropError, ValueError)


def test_an_interop_argument_outside_the_model_raises_interop_error(redis_url: str, ns: str) -> None:
    f = interop_fn(interop="get_user", namespace=ns)
    with pytest.raises(InteropError, match="interop data model"):
        f(object())


def test_a_date_argument_is_refused_in_interop_mode(redis_url: str, ns: str) -> None:
    f = interop_fn(interop="get_user", namespace=ns)
    with pytest.raises(InteropError, match="date"):
        f(dt.date(2024, 1, 2))


def test_a_naive_datetime_argument_is_refused_in_interop_mode(redis_url: str, ns: str) -> None:
    f = interop_fn(interop="get_user", namespace=ns)
    with pytest.raises(InteropError, match="naive datetime"):
        f(dt.datetime(2024, 1, 2))


def test_an_interop_argument_outside_the_model_raises_from_the_key_helpers_too(redis_url: str, ns: str) -> None:
    f = interop_fn(interop="get_user", namespace=ns)
    with pytest.raises(InteropError):
        f.cache_key(object())


def test_an_interop_result_outside_the_model_raises_interop_error_and_is_not_stored(redis_url: str, ns: str) -> None:
    n = [0]

    @cache(interop="get_thing", namespace=ns)
    def get_thing(x: int) -> Any:
        n[0] += 1
        return {"when": uuid.uuid4()}

    with pytest.raises(InteropError, match="not an interop value"):
        get_thing(1)
    assert not get_thing.cache_exists(1)
    with pytest.raises(InteropError):
        get_thing(1)
    assert n[0] == 2  # nothing was cached: the function ran again


# ---------------------------------------------------------------- deployment_uuid


def test_deployment_uuid_is_the_encryption_tenant(redis_url: str, ns: str) -> None:
    f = interop_fn(namespace=ns, encryption=True, deployment_uuid=DEPLOYMENT)
    assert f.get_health_status()["encryption"]["tenant_id"] == DEPLOYMENT


def test_deployment_uuid_is_written_in_its_canonical_form(redis_url: str, ns: str) -> None:
    f = interop_fn(namespace=ns, encryption=True, deployment_uuid=DEPLOYMENT.upper())
    assert f.get_health_status()["encryption"]["tenant_id"] == DEPLOYMENT


def test_cachekit_deployment_uuid_is_the_encryption_tenant(
    redis_url: str, ns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CACHEKIT_DEPLOYMENT_UUID", DEPLOYMENT)
    f = interop_fn(interop="get_user", namespace=ns, encryption=True)
    assert f.get_health_status()["encryption"]["tenant_id"] == DEPLOYMENT


def test_an_explicit_tenant_id_wins_over_cachekit_deployment_uuid(
    redis_url: str, ns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CACHEKIT_DEPLOYMENT_UUID", DEPLOYMENT)
    f = interop_fn(namespace=ns, encryption=True, tenant_id="acme")
    assert f.get_health_status()["encryption"]["tenant_id"] == "acme"


def test_deployment_uuid_beside_a_different_tenant_id_is_refused(redis_url: str, ns: str) -> None:
    with pytest.raises(ConfigurationError, match="two spellings"):
        interop_fn(namespace=ns, encryption=True, tenant_id="acme", deployment_uuid=DEPLOYMENT)


def test_a_deployment_uuid_that_is_not_a_uuid_is_refused(redis_url: str, ns: str) -> None:
    with pytest.raises(ConfigurationError, match="valid UUID"):
        interop_fn(namespace=ns, encryption=True, deployment_uuid="acme")


def test_interop_refuses_a_deployment_uuid_not_in_canonical_form(redis_url: str, ns: str) -> None:
    with pytest.raises(ConfigurationError, match="canonical form"):
        interop_fn(interop="get_user", namespace=ns, encryption=True, deployment_uuid=DEPLOYMENT.upper())


def test_an_entry_encrypted_under_a_deployment_uuid_is_read_under_the_same_tenant_id(redis_url: str, ns: str) -> None:
    n = [0]

    def make(**tenant: Any) -> Any:
        @cache(interop="get_user", namespace=ns, encryption=True, master_key=MASTER_KEY, l1_enabled=False, **tenant)
        def get_user(user_id: int) -> dict[str, int]:
            n[0] += 1
            return {"id": user_id}

        return get_user

    assert make(deployment_uuid=DEPLOYMENT)(5) == {"id": 5}
    assert make(tenant_id=DEPLOYMENT)(5) == {"id": 5}
    assert n[0] == 1
