"""The cachekit protocol's interop key vectors, through this wrapper's argument
encoding: the Python call derives the key every other SDK derives."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import uuid
from typing import Any

import pytest

from cachekit import cache

VECTORS = pathlib.Path(__file__).resolve().parents[3] / "tests" / "vectors" / "interop-mode.json"
DOC: dict[str, Any] = json.loads(VECTORS.read_text())


def untag(v: Any) -> Any:
    if isinstance(v, list):
        return [untag(x) for x in v]  # pyright: ignore[reportUnknownVariableType]
    if isinstance(v, dict):
        if len(v) == 1:  # pyright: ignore[reportUnknownArgumentType]
            ((k, x),) = v.items()  # pyright: ignore[reportUnknownVariableType, reportUnknownMemberType]
            if k == "$int":
                return int(x)  # pyright: ignore[reportUnknownArgumentType]
            if k == "$float":
                return float(x)  # pyright: ignore[reportUnknownArgumentType]
            if k == "$bytes":
                return bytes.fromhex(x)  # pyright: ignore[reportUnknownArgumentType]
            if k == "$uuid":
                return uuid.UUID(x)  # pyright: ignore[reportUnknownArgumentType]
            if k == "$datetime":
                return dt.datetime.fromisoformat(x.replace("Z", "+00:00"))  # pyright: ignore[reportUnknownMemberType]
            if k == "$set":
                return frozenset(untag(e) for e in x)  # pyright: ignore[reportUnknownVariableType]
        return {k: untag(x) for k, x in v.items()}  # pyright: ignore[reportUnknownVariableType]
    return v


def key_of(namespace: str, operation: str, args: list[Any]) -> str:
    @cache(backend=None, namespace=namespace, interop=operation)
    def f(*a: Any) -> None:
        return None

    return f.cache_key(*args)


@pytest.mark.parametrize("vec", DOC["key_vectors"], ids=[v["name"] for v in DOC["key_vectors"]])
def test_key_vector(vec: dict[str, Any]) -> None:
    assert key_of(vec["namespace"], vec["operation"], untag(vec["args"])) == vec["expected_key"]


@pytest.mark.parametrize("vec", DOC["error_vectors"], ids=[v["name"] for v in DOC["error_vectors"]])
def test_error_vector(vec: dict[str, Any]) -> None:
    with pytest.raises((TypeError, ValueError)):
        key_of(vec.get("namespace", "t"), vec.get("operation", "op"), untag(vec["args"]))
