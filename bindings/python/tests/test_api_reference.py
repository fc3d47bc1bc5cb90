"""Every Python example of the API reference not marked ``notest`` runs here.

The code blocks are extracted from the markdown at test time (nothing is
copied by hand). Names the examples use without defining them get small
fixtures (``do_expensive_computation``, ``perform_analysis``, ``secret_key``,
``httpx``, ``df``, ...). The fixture functions count their invocations and
return a different value on every invocation, so a cache that does not cache
is seen.

While a block runs, ``cachekit.cache`` is replaced by a recorder that notes
every function the block decorates (also one a later definition of the same
name shadows). Then each of them, its entries cleared first, is called twice
with the same arguments (simple ones for required parameters; coroutine
functions are awaited): the second call must return the first call's value,
must not run a fixture again, and must count as a hit and not as a fill.
The few functions that cannot be cached are listed by name below with the
reason, and what happens instead is asserted.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import os
import pathlib
import re
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cachekit
from cachekit.decorator import CacheDecorator
from conftest import MASTER_KEY

HERE = pathlib.Path(__file__).resolve()
CANDIDATES = [
    pathlib.Path(os.environ["CACHEKIT_API_REFERENCE"]) if os.environ.get("CACHEKIT_API_REFERENCE") else None,
    HERE.parents[3] / "docs" / "reference" / "api-reference.md",
    HERE.parents[4] / "shared" / "reference" / "api-reference.md",
]
REFERENCE = next((p for p in CANDIDATES if p is not None and p.exists()), None)

FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.S | re.M)

# Examples whose function body is a stub (``...``): the result is None, and the
# core does not cache None without ``negative_ttl`` (README, "negative_ttl"),
# so every call runs the body. Asserted as such.
RETURNS_NONE: dict[str, str] = {
    "get_user_profile": "Namespace Organization: stub body",
    "get_user_metrics": "Namespace Organization: stub body",
    "get_live_prices": "TTL Strategy: stub body",
    "get_reference_data": "TTL Strategy: stub body",
}

# (function name, serializer name) of examples whose result the serializer
# refuses: the result is returned uncached with a warning (reference,
# "Serialization Failures"). Asserted as such.
UNSERIALIZABLE: dict[tuple[str, str], str] = {
    # "Serializer Switching", the BEFORE definition: it returns the DataFrame
    # ``df`` under the default StandardSerializer, which refuses DataFrames
    # (only the AFTER definition, with serializer="arrow", can cache it).
    ("get_data", "msgpack"): "StandardSerializer refuses a pandas DataFrame",
}


def blocks() -> list[tuple[str, str]]:
    if REFERENCE is None:
        return []
    text = REFERENCE.read_text()
    out: list[tuple[str, str]] = []
    for m in FENCE.finditer(text):
        info, body = m.group(1), m.group(2)
        if "notest" in info.split():
            continue
        line = text[: m.start()].count("\n") + 1
        out.append((f"line{line}", body))
    return out


class Fixtures:
    """The stand-ins for what the examples call: each invocation is counted
    and returns a value no other invocation returns."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self._seq: itertools.count[int] = itertools.count(1)

    def total(self) -> int:
        return sum(self.calls.values())

    def hit(self, name: str) -> int:
        self.calls[name] = self.calls.get(name, 0) + 1
        return next(self._seq)

    def computation(self, name: str) -> Callable[..., dict[str, Any]]:
        def fixture(*args: Any, **kwargs: Any) -> dict[str, Any]:
            return {"fixture": name, "invocation": self.hit(name), "args": [repr(a) for a in args]}

        fixture.__name__ = name
        return fixture

    def httpx(self) -> types.SimpleNamespace:
        fixtures = self

        class Response:
            def __init__(self, url: str, invocation: int) -> None:
                self.url: str = url
                self.invocation: int = invocation

            def json(self) -> dict[str, Any]:
                return {"id": 1, "url": self.url, "invocation": self.invocation}

        class AsyncClient:
            async def __aenter__(self) -> AsyncClient:
                return self

            async def __aexit__(self, *exc: object) -> None:
                return None

            async def get(self, url: str) -> Response:
                return Response(url, fixtures.hit("httpx.AsyncClient.get"))

        return types.SimpleNamespace(AsyncClient=AsyncClient)


class Recorder:
    """Stands in for ``cachekit.cache`` (and its presets) while a block runs:
    decorates as the real one does and records every decorated function."""

    def __init__(self, inner: Any, seen: list[Any]) -> None:
        self._inner: Any = inner
        self._seen: list[Any] = seen

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = self._inner(*args, **kwargs)
        if args:  # @cache directly on the function
            self._seen.append(out)
            return out

        def deco(func: Any) -> Any:
            wrapped = out(func)
            self._seen.append(wrapped)
            return wrapped

        return deco

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        return Recorder(attr, self._seen) if isinstance(attr, CacheDecorator) else attr


def environment(fx: Fixtures, recorder: Recorder) -> dict[str, Any]:
    env: dict[str, Any] = {
        "__name__": "api_reference_examples",
        # names the page imports in earlier blocks and then uses without importing again
        "cache": recorder,
        "pd": pd,
        "secret_key": MASTER_KEY,
        "httpx": fx.httpx(),
        "df": pd.DataFrame({"id": [1, 2, 3], "name": ["a", "b", "c"], "score": [0.5, 1.5, 2.5]}),
    }
    for name in (
        "do_expensive_computation",
        "perform_analysis",
        "important_computation",
        "process_data",
        "compute_value",
        "computation",
    ):
        env[name] = fx.computation(name)
    return env


def sample_args(func: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Simple values for the required parameters of ``func``."""

    def value(p: inspect.Parameter) -> Any:
        ann = p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, "__name__", "")
        if ann == "str":
            return "x"
        if ann.startswith("dict"):
            return {"k": "v"}
        return 1

    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for p in inspect.signature(func).parameters.values():
        if p.default is not inspect.Parameter.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.kind is p.KEYWORD_ONLY:
            kwargs[p.name] = value(p)
        else:
            args.append(value(p))
    return tuple(args), kwargs


def invoke(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(func):
        return asyncio.run(func(*args, **kwargs))
    return func(*args, **kwargs)


def same(a: Any, b: Any) -> bool:
    """Equal as the serializers preserve values (a tuple reads back as a list)."""
    if isinstance(a, pd.DataFrame):
        return isinstance(b, pd.DataFrame) and a.equals(b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and bool(np.array_equal(a, b))
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and list(a) == list(b)  # pyright: ignore[reportUnknownArgumentType]
            and all(same(a[k], b[k]) for k in a)  # pyright: ignore[reportUnknownArgumentType]
        )
    if isinstance(a, (list, tuple)):
        return (
            isinstance(b, (list, tuple))
            and len(a) == len(b)  # pyright: ignore[reportUnknownArgumentType]
            and all(same(x, y) for x, y in zip(a, b))  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
        )
    return type(a) is type(b) and bool(a == b)


def check_cached(f: Any, fx: Fixtures) -> None:
    name = f.__qualname__
    args, kwargs = sample_args(f)
    f.cache_clear()  # entries of earlier runs (Redis) or blocks (L1) must not answer
    before = f.cache_info()
    first = invoke(f, args, kwargs)
    after_first = f.cache_info()
    runs = fx.total()
    second = invoke(f, args, kwargs)
    after_second = f.cache_info()
    assert after_first.misses == before.misses + 1, (name, "the first call after cache_clear() is not a fill")
    assert same(first, second), (name, first, second)
    assert fx.total() == runs, (name, "a fixture ran again on the second call", fx.calls)
    assert after_second.hits > after_first.hits, (name, "the second call is not a hit", after_second)
    assert after_second.misses == after_first.misses, (name, "the second call filled again", after_second)


def check_returns_none(f: Any) -> None:
    name = f.__qualname__
    args, kwargs = sample_args(f)
    f.cache_clear()
    nulls = f.get_health_status()["stats"]["nulls_not_cached"]
    hits = f.cache_info().hits
    assert invoke(f, args, kwargs) is None
    assert invoke(f, args, kwargs) is None
    # None is cached, as the reference SDK and functools.lru_cache do.
    assert f.get_health_status()["stats"]["nulls_not_cached"] == nulls, name
    assert f.cache_info().hits == hits + 1, name
    assert f.cache_exists(*args, **kwargs), name


def check_unserializable(f: Any, env: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    name = f.__qualname__
    args, kwargs = sample_args(f)
    f.cache_clear()
    hits = f.cache_info().hits
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="cachekit"):
        first = invoke(f, args, kwargs)
        second = invoke(f, args, kwargs)
    assert same(first, env["df"]) and same(second, env["df"]), name  # the result, uncached
    refused = [r.getMessage() for r in caplog.records if "not cached" in r.getMessage() and name in r.getMessage()]
    assert len(refused) == 2, (name, [r.getMessage() for r in caplog.records])
    assert f.cache_info().hits == hits, name
    assert not f.cache_exists(*args, **kwargs), name


BLOCKS = blocks()


def test_reference_found() -> None:
    assert REFERENCE is not None, f"api-reference.md not found in {CANDIDATES}"
    assert len(BLOCKS) >= 15


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[b[0] for b in BLOCKS])
def test_reference_example(
    redis_url: str, where: str, code: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fx = Fixtures()
    seen: list[Any] = []
    recorder = Recorder(cachekit.cache, seen)
    monkeypatch.setattr(cachekit, "cache", recorder)  # what `from cachekit import cache` in a block gets
    env = environment(fx, recorder)
    exec(compile(code, f"api-reference.md:{where}", "exec"), env)
    monkeypatch.undo()

    decorators = sum(1 for line in code.splitlines() if line.lstrip().startswith("@cache"))
    assert len(seen) == decorators, ("every @cache of the block was recorded", [f.__qualname__ for f in seen])
    for f in seen:
        assert hasattr(f, "cache_info"), f
        key = (f.__qualname__, f.cache_serializer.name)
        if f.__qualname__ in RETURNS_NONE:
            check_returns_none(f)
        elif key in UNSERIALIZABLE:
            check_unserializable(f, env, caplog)
        else:
            check_cached(f, fx)


def test_readme_example(redis_url: str) -> None:
    readme = (HERE.parents[1] / "README.md").read_text()
    code = [m.group(2) for m in FENCE.finditer(readme)]
    assert code, "the README has a python example"
    for body in code:
        exec(compile(body, "README.md", "exec"), {"__name__": "readme"})


def test_example_script_runs(redis_url: str) -> None:
    import subprocess
    import sys

    script = HERE.parents[3] / "examples" / "python" / "example.py"
    src = str(HERE.parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src, "CACHEKIT_REDIS_URL": redis_url}
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, check=True)
    assert "backend: redis" in out.stdout and "hit" in out.stdout
