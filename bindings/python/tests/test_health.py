"""Health methods, cache_info, metrics, structured logging, tracing, library loading."""

from __future__ import annotations

import logging
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest

import cachekit
from cachekit import cache, metrics_text


def test_health_status_shape(redis_url: str, ns: str) -> None:
    @cache(ttl=300, namespace=ns)
    def api_function() -> str:
        return "data"

    api_function()
    h = api_function.get_health_status()
    assert h["namespace"] == ns
    for k in ("circuit_breaker", "adaptive_timeout", "backpressure", "statistics", "structured_logging"):
        assert isinstance(h["features_enabled"][k], bool)
    assert h["circuit_breaker"]["state"] == "CLOSED"
    assert "max_concurrent" in h["backpressure"]
    assert "current_timeout" in h["adaptive_timeout"]
    c = api_function.check_health()
    assert c["decorator"]["namespace"] == ns
    assert c["system"]["status"] == "healthy"
    assert c["system"]["redis_connection"] == "active"
    assert "in_use_connections" in c["system"]["connection_pool"]


def test_cache_info_counts(redis_url: str, ns: str) -> None:
    @cache(namespace=ns)
    def f(x: int) -> int:
        return x

    f(1)
    f(1)
    f(2)
    info = f.cache_info()
    assert (info.hits, info.misses, info.currsize) == (1, 2, 2)
    assert info.maxsize > 0


def test_metrics_text(redis_url: str, ns: str) -> None:
    @cache(namespace=ns)
    def f() -> int:
        return 1

    f()
    f()
    text = metrics_text()
    assert "redis_cache_operations_total" in text and ns in text


def test_structured_logging_reaches_python_logging(redis_url: str, ns: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="cachekit")

    @cache.dev(namespace=ns, operation="op", l1_enabled=False)
    def f() -> int:
        return 1

    @cache.dev(namespace=ns, operation="op", l1_enabled=False, serializer="orjson")
    def g() -> int:
        return 1

    f()
    cachekit.set_correlation_id("req-42")
    try:
        g()  # a format mismatch: the core logs a warning event
    finally:
        cachekit.set_correlation_id(None)
    mine = [r for r in caplog.records if getattr(r, "cachekit", {}).get("namespace") == ns]
    assert mine, "the core's events reach the cachekit logger"
    mismatch = [r for r in mine if getattr(r, "cachekit", {}).get("event") == "format_mismatch"]
    assert mismatch, "the format mismatch warning reached Python logging"
    event: dict[str, Any] = mismatch[0].cachekit  # pyright: ignore[reportAttributeAccessIssue]
    assert event["correlation_id"] == "req-42"
    assert mismatch[0].levelno == logging.WARNING


def test_tracing_spans(redis_url: str, ns: str) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    @cache(namespace=ns, enable_tracing=True)
    def f() -> int:
        return 1

    f()
    f()
    spans = [s for s in exporter.get_finished_spans() if s.name == "cachekit.get"]
    assert [s.attributes and s.attributes.get("cachekit.hit") for s in spans][-2:] == [False, True]

    @cache(namespace=ns, enable_tracing=True)
    async def g() -> int:
        return 2

    import asyncio

    async def twice() -> None:
        await g()
        await g()

    asyncio.run(twice())
    spans = [s for s in exporter.get_finished_spans() if s.name == "cachekit.get"]
    assert len(spans) == 4
    assert [s.attributes and s.attributes.get("cachekit.operation") for s in spans][-2:] == ["test_tracing_spans.g"] * 2
    assert [s.attributes and s.attributes.get("cachekit.hit") for s in spans][-2:] == [False, True]


def test_versions() -> None:
    assert cachekit.ABI_VERSION == 1
    assert cachekit.core_version().count(".") >= 1


def run_import(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    src = str(pathlib.Path(__file__).resolve().parents[1] / "src")
    return subprocess.run(
        [sys.executable, "-c", "import cachekit"],
        env={**os.environ, "PYTHONPATH": src, **env},
        capture_output=True,
        text=True,
    )


def test_missing_library_is_a_clear_import_error(tmp_path: pathlib.Path) -> None:
    r = run_import({"CACHEKIT_LIBRARY": str(tmp_path / "nope.so")})
    assert r.returncode != 0 and "does not exist" in r.stderr


def test_abi_mismatch_is_refused(tmp_path: pathlib.Path) -> None:
    c = tmp_path / "fake.c"
    c.write_text("unsigned int ck_abi_version(void) { return 99; }\n")
    so = tmp_path / "libfake.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(so), str(c)], check=True)
    r = run_import({"CACHEKIT_LIBRARY": str(so)})
    assert r.returncode != 0
    assert "ABI version 99" in r.stderr and "needs ABI version 1" in r.stderr
