"""Every serializer's round trip and refusals; mismatch detection; encryption."""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import uuid
from typing import Any

import numpy as np
import orjson
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from cachekit import CachekitConfig, EncryptionError, cache
from cachekit.serializers import (
    ArrowSerializer,
    AutoSerializer,
    EncryptionWrapper,
    OrjsonSerializer,
    PickleSerializer,
    SerializationError,
    StandardSerializer,
    format_tag,
)
from conftest import OTHER_KEY, redis_cli_raw


def cached_twice(ns: str, value: Any, **kw: Any) -> tuple[Any, Any, int]:
    n = [0]

    @cache(namespace=ns, l1_enabled=False, **kw)
    def f() -> Any:
        n[0] += 1
        return value

    return f(), f(), n[0]


def test_standard_round_trip(redis_url: str, ns: str) -> None:
    value = {
        "none": None, "b": True, "i": -5, "big": 2**63, "f": 1.5, "s": "é", "bytes": b"\x00\x01",
        "list": [1, [2]], "tuple": (1, 2), "nested": {"k": "v"},
        "dt": dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone.utc),
        "naive": dt.datetime(2024, 5, 6, 7, 8, 9), "date": dt.date(2024, 5, 6), "time": dt.time(7, 8, 9),
        "nan": float("inf"),
    }  # fmt: skip
    first, second, n = cached_twice(ns, value)
    assert n == 1
    expected = dict(value, tuple=[1, 2])
    assert second == expected
    assert first == value  # the first call returns the function's own result


def test_standard_writes_marker_maps(redis_url: str, ns: str) -> None:
    import msgpack

    s = StandardSerializer()
    raw, _ = s.serialize({"d": dt.date(2024, 1, 2)})
    assert msgpack.unpackb(raw) == {"d": {"__date__": True, "value": "2024-01-02"}}
    assert s.deserialize(raw) == {"d": dt.date(2024, 1, 2)}


@pytest.mark.parametrize(
    "bad",
    [np.array([1, 2]), uuid.uuid4(), {1, 2}, frozenset({1}), pd.DataFrame({"a": [1]}), object(), decimal.Decimal(1)],
    ids=["numpy", "uuid", "set", "frozenset", "pandas", "object", "decimal"],
)
def test_the_standard_serializer_refuses_a_type_it_has_no_form_for(bad: Any) -> None:
    with pytest.raises(TypeError):
        StandardSerializer().serialize({"v": bad})


@pytest.mark.parametrize(
    "bad",
    [np.array([1, 2]), uuid.uuid4(), {1, 2}, frozenset({1}), pd.DataFrame({"a": [1]}), object(), decimal.Decimal(1)],
    ids=["numpy", "uuid", "set", "frozenset", "pandas", "object", "decimal"],
)
def test_a_result_the_standard_serializer_refuses_is_returned_uncached_with_a_warning(
    redis_url: str, ns: str, bad: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cachekit")
    n = [0]

    @cache(namespace=ns)
    def f() -> Any:
        n[0] += 1
        return {"v": bad}

    assert f()["v"] is bad
    assert f()["v"] is bad
    assert n[0] == 2  # not cached
    assert any("not cached" in r.getMessage() for r in caplog.records)


def test_auto_round_trip(redis_url: str, ns: str) -> None:
    u = uuid.uuid4()
    value = {
        "array": np.arange(6, dtype=np.float32).reshape(2, 3), "scalar": np.int64(7), "id": u,
        "tags": {"a", "b"}, "frozen": frozenset({1}), "tuple": (1, (2, 3)), "dec": decimal.Decimal("1.10"),
        "dt": dt.datetime(2024, 1, 1, 1, 1), "td": dt.timedelta(days=1, seconds=3), "big": 2**70,
        "df": pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}),
    }  # fmt: skip
    _, got, n = cached_twice(ns, value, serializer="auto")
    assert n == 1
    assert isinstance(got["array"], np.ndarray) and got["array"].dtype == np.float32
    assert np.array_equal(got["array"], value["array"])
    assert got["scalar"] == 7 and type(got["scalar"]).__name__ == "int64"
    assert got["id"] == u and got["tags"] == {"a", "b"} and got["frozen"] == frozenset({1})
    assert got["tuple"] == (1, (2, 3)) and got["dec"] == decimal.Decimal("1.10")
    assert got["dt"] == value["dt"] and got["td"] == value["td"] and got["big"] == 2**70
    pd.testing.assert_frame_equal(got["df"], value["df"])


def test_the_auto_serializer_refuses_an_object_it_has_no_form_for() -> None:
    with pytest.raises(TypeError):
        AutoSerializer().serialize(object())


def test_orjson_round_trip(redis_url: str, ns: str) -> None:
    _, got, n = cached_twice(ns, {"b": 1, "a": [1, 2]}, serializer="orjson")
    assert n == 1 and got == {"b": 1, "a": [1, 2]}


def test_orjson_option_reaches_orjson(redis_url: str, ns: str) -> None:
    s = OrjsonSerializer(option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
    assert s.serialize({"b": 1, "a": 2})[0] == b'{\n  "a": 2,\n  "b": 1\n}'
    _, got, _ = cached_twice(ns, {"z": 1}, serializer=s)
    assert got == {"z": 1}


def test_orjson_sorts_keys_by_default() -> None:
    assert OrjsonSerializer().serialize({"b": 1, "a": 2})[0] == b'{"a":2,"b":1}'


def test_orjson_refuses_a_value_it_cannot_encode_with_serialization_error() -> None:
    with pytest.raises(SerializationError):
        OrjsonSerializer().serialize({1, 2})


def test_orjson_wraps_a_decode_error_in_serialization_error() -> None:
    with pytest.raises(SerializationError, match="cannot decode"):
        OrjsonSerializer().deserialize(b"{not json")


def test_arrow_round_trip_of_a_pandas_frame(redis_url: str, ns: str) -> None:
    df = pd.DataFrame({"id": [1, 2, 3], "name": ["a", "b", "c"]})
    _, got, n = cached_twice(ns, df, serializer="arrow")
    assert n == 1
    pd.testing.assert_frame_equal(got, df)


def test_arrow_return_format_polars_gives_a_polars_frame(redis_url: str, ns: str) -> None:
    _, got_pl, _ = cached_twice(ns, pl.DataFrame({"x": [1, 2]}), serializer=ArrowSerializer(return_format="polars"))
    assert isinstance(got_pl, pl.DataFrame) and got_pl["x"].to_list() == [1, 2]


@pytest.mark.parametrize("fmt", ["arrow", "pyarrow"])
def test_arrow_return_format_arrow_gives_a_pyarrow_table(redis_url: str, ns: str, fmt: str) -> None:
    df = pd.DataFrame({"id": [1, 2, 3]})
    _, got_pa, _ = cached_twice(ns, df, serializer=ArrowSerializer(return_format=fmt))
    assert isinstance(got_pa, pa.Table) and got_pa.num_rows == 3


def test_arrow_refuses_a_value_that_is_not_a_frame() -> None:
    with pytest.raises(TypeError):
        ArrowSerializer().serialize({"not": "a frame"})


def test_arrow_refuses_an_unknown_return_format() -> None:
    with pytest.raises(ValueError):
        ArrowSerializer(return_format="excel")


def test_pickle_round_trip_warns(redis_url: str, ns: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cachekit")

    class_value = {"s": {1, 2}, "c": complex(1, 2)}
    _, got, n = cached_twice(ns, class_value, serializer="pickle")
    assert n == 1 and got == class_value
    assert any("PickleSerializer" in r.getMessage() for r in caplog.records)


def test_the_pickle_serializer_refuses_what_pickle_cannot_pickle() -> None:
    with pytest.raises(TypeError):
        PickleSerializer().serialize(lambda: 1)


@pytest.mark.parametrize(
    ("spec", "name"),
    [("std", "msgpack"), ("default", "msgpack"), ("auto", "auto"), ("pythonic", "auto"), ("orjson", "json"),
     ("arrow", "arrow"), ("pickle", "pickle")],
)  # fmt: skip
def test_a_serializer_by_name_is_the_one_the_core_tags_entries_with(redis_url: str, spec: str, name: str) -> None:
    @cache(serializer=spec, backend=None)
    def f() -> int:
        return 1

    assert format_tag(f.cache_serializer) == name
    assert f.get_health_status()["serializer"] == name


def test_an_unknown_serializer_name_is_refused(redis_url: str) -> None:
    with pytest.raises(ValueError, match="unknown serializer"):
        cache(serializer="yaml")(lambda: 1)


def test_serializer_switch_is_detected_and_recomputed(
    redis_url: str, ns: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cachekit")
    n = [0]

    def make(serializer: str) -> Any:
        @cache(namespace=ns, operation="get_data", serializer=serializer, l1_enabled=False)
        def get_data() -> Any:
            n[0] += 1
            return {"v": n[0]}

        return get_data

    old, new = make("std"), make("orjson")
    assert old() == {"v": 1}
    assert new() == {"v": 2}  # mismatch: a counted miss, recomputed
    assert new() == {"v": 2}
    assert new.get_health_status()["stats"]["format_mismatches"] == 1
    assert any("format_mismatch" in r.getMessage() or "mismatch" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------- encryption


def test_encryption_round_trip_hides_plaintext(redis_url: str, ns: str) -> None:
    @cache.secure(namespace=ns, l1_enabled=False)
    def get_ssn(uid: int) -> dict[str, str]:
        return {"ssn": "123-45-6789"}

    assert get_ssn(1) == {"ssn": "123-45-6789"}
    assert get_ssn(1) == {"ssn": "123-45-6789"}
    raw = redis_cli_raw(redis_url, "GET", get_ssn.cache_key(1))
    assert raw and b"123-45-6789" not in raw


@pytest.mark.parametrize("inner", [StandardSerializer, OrjsonSerializer, AutoSerializer])
def test_the_encryption_wrapper_works_over_a_serializer(redis_url: str, ns: str, inner: type) -> None:
    wrapper = EncryptionWrapper(serializer=inner(), master_key=bytes.fromhex(OTHER_KEY), tenant_id="acme")
    _, got, n = cached_twice(ns, {"k": [1, 2]}, serializer=wrapper)
    assert n == 1 and got == {"k": [1, 2]}


def test_the_encryption_wrappers_tenant_is_the_namespaces(redis_url: str, ns: str) -> None:
    @cache(namespace=ns, serializer=EncryptionWrapper(master_key=OTHER_KEY, tenant_id="acme"))
    def f() -> int:
        return 1

    assert f.get_health_status()["encryption"]["tenant_id"] == "acme"


def test_an_encryption_wrapper_with_encryption_disabled_stores_plaintext(redis_url: str, ns: str) -> None:
    @cache(namespace=ns, serializer=EncryptionWrapper(enable_encryption=False))
    def g() -> int:
        return 1

    assert g.get_health_status()["encryption"] is None


def test_wrong_key_recomputes_never_garbage(redis_url: str, ns: str) -> None:
    n = [0]

    def make(key: str) -> Any:
        @cache.secure(master_key=key, namespace=ns, operation="secret", l1_enabled=False)
        def secret() -> dict[str, int]:
            n[0] += 1
            return {"n": n[0]}

        return secret

    a, b = make("e5" * 32), make("f6" * 32)
    assert a() == {"n": 1}
    assert b() == {"n": 2}  # cannot decrypt: a miss, recomputed
    assert b() == {"n": 2}
    assert a() == {"n": 3}  # and back


def test_key_rotation_reads_entries_of_the_previous_key(redis_url: str, ns: str) -> None:
    n = [0]
    old, new = "a7" * 32, "b8" * 32

    @cache.secure(master_key=old, namespace=ns, operation="rot", l1_enabled=False)
    def before() -> dict[str, int]:
        n[0] += 1
        return {"n": n[0]}

    @cache.secure(master_key=new, decrypt_only_keys=[old], namespace=ns, operation="rot", l1_enabled=False)
    def after() -> dict[str, int]:
        n[0] += 1
        return {"n": n[0]}

    wrapped = EncryptionWrapper(master_key=bytes.fromhex(new), decrypt_only_keys=[bytes.fromhex(old)])

    @cache(serializer=wrapped, namespace=ns, operation="rot", l1_enabled=False)
    def via_wrapper() -> dict[str, int]:
        n[0] += 1
        return {"n": n[0]}

    assert before() == {"n": 1}
    assert after() == {"n": 1}  # the old key still decrypts
    assert via_wrapper() == {"n": 1}
    assert n[0] == 1
    after.invalidate_cache()
    assert after() == {"n": 2}  # written under the new key
    assert before() == {"n": 3}  # which the old key alone cannot read


def test_encryption_without_key_is_an_error(redis_url: str, ns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CACHEKIT_MASTER_KEY")
    with pytest.raises(EncryptionError, match="master key"):

        @cache(namespace=ns, serializer=EncryptionWrapper(), backend=None, config=CachekitConfig(master_key=None))
        def f() -> int:
            return 1
