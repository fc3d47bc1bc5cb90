"""Every Python example of the API reference not marked ``notest`` runs here.

The code blocks are extracted from the markdown at test time (nothing is
copied by hand). Names the examples use without defining them get small
fixtures (``do_expensive_computation``, ``perform_analysis``, ``secret_key``,
``httpx``, ...). After a block runs, every cached function it defined that
takes no required argument is called twice and must return the same value.
"""

from __future__ import annotations

import inspect
import os
import pathlib
import re
import types
from typing import Any

import pytest

HERE = pathlib.Path(__file__).resolve()
CANDIDATES = [
    pathlib.Path(os.environ["CACHEKIT_API_REFERENCE"]) if os.environ.get("CACHEKIT_API_REFERENCE") else None,
    HERE.parents[3] / "docs" / "reference" / "api-reference.md",
    HERE.parents[4] / "shared" / "reference" / "api-reference.md",
]
REFERENCE = next((p for p in CANDIDATES if p is not None and p.exists()), None)

FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.S | re.M)


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


class _FakeResponse:
    def json(self) -> dict[str, Any]:
        return {"id": 1}


class _FakeAsyncClient:
    async def __aenter__(self) -> _FakeAsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def get(self, url: str) -> _FakeResponse:
        return _FakeResponse()


def fixtures() -> dict[str, Any]:
    from conftest import MASTER_KEY

    def computation(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return {"args": [repr(a) for a in args], "ok": True}

    import pandas as pd

    from cachekit import cache

    return {
        "__name__": "api_reference_examples",
        # names the page imports in earlier blocks and then uses without importing again
        "cache": cache,
        "pd": pd,
        "do_expensive_computation": computation,
        "perform_analysis": computation,
        "important_computation": computation,
        "process_data": computation,
        "compute_value": computation,
        "computation": computation,
        "secret_key": MASTER_KEY,
        "httpx": types.SimpleNamespace(AsyncClient=_FakeAsyncClient),
        "df": {"frame": "placeholder"},
    }


def same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except ValueError:  # NumPy arrays inside: compare their text
        return repr(a) == repr(b)


BLOCKS = blocks()


def test_reference_found() -> None:
    assert REFERENCE is not None, f"api-reference.md not found in {CANDIDATES}"
    assert len(BLOCKS) >= 15


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[b[0] for b in BLOCKS])
def test_reference_example(redis_url: str, where: str, code: str) -> None:
    env = fixtures()
    exec(compile(code, f"api-reference.md:{where}", "exec"), env)
    for name, obj in list(env.items()):
        if not callable(obj) or not hasattr(obj, "cache_info") or inspect.iscoroutinefunction(obj):
            continue
        params = inspect.signature(obj).parameters.values()
        if any(
            p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params
        ):
            continue
        obj()  # computes (or hits an entry left by an earlier run)
        second = obj()
        assert same(obj(), second), name  # served from the cache: identical


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
