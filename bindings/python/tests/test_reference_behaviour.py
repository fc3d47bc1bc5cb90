"""Behaviour code written for the reference SDK (PyPI cachekit 0.24.1) relies
on (issue 17): call keywords, fail-open keys, async methods, health keys and
call counting."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from typing import Any

import pytest

from cachekit import InvalidationOutcome, cache


def counted(ns: str, **kw: Any) -> tuple[Any, list[int]]:
    n = [0]

    @cache(namespace=ns, **kw)
    def f(x: Any) -> dict[str, Any]:
        n[0] += 1
        return {"x": repr(x), "n": n[0]}

    return f, n


def acounted(ns: str, **kw: Any) -> tuple[Any, list[int]]:
    n = [0]

    @cache(namespace=ns, **kw)
    async def f(x: Any) -> dict[str, Any]:
        n[0] += 1
        await asyncio.sleep(0)
        return {"x": repr(x), "n": n[0]}

    return f, n


# ---------------------------------------------------------------- _bypass_cache


def test_bypass_cache_runs_the_function_although_a_value_is_cached(redis_url: str, ns: str) -> None:
    f, n = counted(ns)
    f(1)
    assert f(1, _bypass_cache=True) == {"x": "1", "n": 2}
    assert n[0] == 2


def test_bypass_cache_leaves_the_cached_value_alone(redis_url: str, ns: str) -> None:
    f, _ = counted(ns)
    f(1)
    f(1, _bypass_cache=True)
    assert f(1) == {"x": "1", "n": 1}


def test_bypass_cache_stores_nothing(redis_url: str, ns: str) -> None:
    f, _ = counted(ns)
    f(1, _bypass_cache=True)
    assert not f.cache_exists(1)


def test_bypass_cache_false_is_a_normal_call(redis_url: str, ns: str) -> None:
    f, n = counted(ns)
    f(1, _bypass_cache=False)
    f(1, _bypass_cache=False)
    assert n[0] == 1


def test_bypass_cache_on_an_async_function(redis_url: str, ns: str) -> None:
    f, n = acounted(ns)

    async def main() -> None:
        await f(1)
        assert await f(1, _bypass_cache=True) == {"x": "1", "n": 2}
        assert await f(1) == {"x": "1", "n": 1}

    asyncio.run(main())
    assert n[0] == 2


# ---------------------------------------------------------------- fail-open keys


def test_a_key_function_that_raises_runs_the_call_uncached_with_a_warning(
    redis_url: str, ns: str, caplog_cachekit: pytest.LogCaptureFixture
) -> None:
    def broken(x: int) -> str:
        raise RuntimeError("no key today")

    f, _ = counted(ns, key=broken)
    assert f(1) == {"x": "1", "n": 1}
    assert f(1) == {"x": "1", "n": 2}
    assert any("key= function" in r.getMessage() and "raised" in r.getMessage() for r in caplog_cachekit.records)


def test_a_key_function_that_returns_a_non_string_runs_the_call_uncached_with_a_warning(
    redis_url: str, ns: str, caplog_cachekit: pytest.LogCaptureFixture
) -> None:
    f, n = counted(ns, key=lambda x: x * 2)
    f(1)
    f(1)
    assert n[0] == 2
    assert any("not a str" in r.getMessage() for r in caplog_cachekit.records)


def test_an_argument_without_a_key_form_runs_the_call_uncached_with_a_warning(
    redis_url: str, ns: str, caplog_cachekit: pytest.LogCaptureFixture
) -> None:
    f, _ = counted(ns)
    marker = object()
    assert f(marker) == {"x": repr(marker), "n": 1}
    assert f(marker) == {"x": repr(marker), "n": 2}
    assert any("runs uncached" in r.getMessage() for r in caplog_cachekit.records)


def test_a_naive_datetime_argument_runs_the_call_uncached(redis_url: str, ns: str) -> None:
    f, n = counted(ns)
    f(dt.datetime(2024, 1, 2))
    f(dt.datetime(2024, 1, 2))
    assert n[0] == 2


def test_an_async_call_without_a_key_runs_uncached(redis_url: str, ns: str) -> None:
    f, n = acounted(ns)

    async def main() -> None:
        await f(object())
        await f(object())

    asyncio.run(main())
    assert n[0] == 2


def test_a_call_that_does_not_match_the_signature_raises_the_functions_type_error(redis_url: str, ns: str) -> None:
    f, _ = counted(ns)
    with pytest.raises(TypeError, match="argument"):
        f(1, 2, 3)


# ---------------------------------------------------------------- async methods


def test_invalidate_cache_of_an_async_function_is_awaitable_and_says_succeeded(redis_url: str, ns: str) -> None:
    f, n = acounted(ns)

    async def main() -> Any:
        await f(1)
        outcome = await f.invalidate_cache(1)
        await f(1)
        return outcome

    assert asyncio.run(main()) is InvalidationOutcome.SUCCEEDED
    assert n[0] == 2


def test_invalidate_cache_of_an_async_l1_only_function_says_no_l2(ns: str) -> None:
    f, _ = acounted(ns, backend=None)

    async def main() -> Any:
        await f(1)
        return await f.invalidate_cache(1)

    assert asyncio.run(main()) is InvalidationOutcome.NO_L2


def test_invalidate_cache_of_an_async_function_without_arguments_clears_it_and_gives_none(
    redis_url: str, ns: str
) -> None:
    f, n = acounted(ns)

    async def main() -> Any:
        await f(1)
        await f(2)
        outcome = await f.invalidate_cache()
        await f(1)
        await f(2)
        return outcome

    assert asyncio.run(main()) is None
    assert n[0] == 4


def test_invalidate_cache_of_a_sync_function_returns_a_bool(redis_url: str, ns: str) -> None:
    f, _ = counted(ns)
    f(1)
    assert f.invalidate_cache(1) is True


def test_check_health_of_an_async_function_is_awaitable(redis_url: str, ns: str) -> None:
    f, _ = acounted(ns)

    async def main() -> dict[str, Any]:
        return await f.check_health()

    report = asyncio.run(main())
    assert report["status"] == "healthy" and report["system"]["redis_connection"] == "active"


def test_check_health_of_a_sync_function_returns_the_report(redis_url: str, ns: str) -> None:
    f, _ = counted(ns)
    assert f.check_health()["status"] == "healthy"


# ---------------------------------------------------------------- health: both shapes


def test_the_health_report_has_the_references_keys(redis_url: str, ns: str) -> None:
    f, _ = counted(ns)
    f(1)
    h = f.get_health_status()
    assert h["healthy"] is True and h["overall_healthy"] is True
    assert h["components"]["circuit_breaker"]["state"] == "closed"


def test_the_health_report_keeps_the_api_references_keys(redis_url: str, ns: str) -> None:
    f, _ = counted(ns)
    h = f.get_health_status()
    assert h["circuit_breaker"]["state"] == "CLOSED"
    assert isinstance(h["features_enabled"]["circuit_breaker"], bool)
    assert "max_concurrent" in h["backpressure"] and "current_timeout" in h["adaptive_timeout"]


def test_check_health_has_both_shapes(redis_url: str, ns: str) -> None:
    f, _ = counted(ns)
    c = f.check_health()
    assert c["decorator"]["namespace"] == ns and c["system"]["status"] == "healthy"
    assert c["status"] == "healthy" and c["healthy"] is True and c["namespace"] == ns
    assert "circuit_breaker" in c["components"]


def test_an_open_breaker_makes_the_report_unhealthy(ns: str) -> None:
    class Down:
        def get(self, key: str) -> bytes | None:
            raise ConnectionError("down")

        def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
            raise ConnectionError("down")

        def delete(self, key: str) -> bool:
            raise ConnectionError("down")

        def exists(self, key: str) -> bool:
            raise ConnectionError("down")

    from cachekit.config.nested import CircuitBreakerConfig

    f, _ = counted(ns, backend=Down(), l1_enabled=False, circuit_breaker=CircuitBreakerConfig(failure_threshold=2))
    for i in range(5):
        f(i)
    h = f.get_health_status()
    assert h["circuit_breaker"]["state"] == "OPEN"
    assert h["healthy"] is False and h["components"]["circuit_breaker"]["state"] == "open"


# ---------------------------------------------------------------- cache_info counts every call


def test_cache_info_counts_every_thread_of_a_stampede(redis_url: str, ns: str) -> None:
    n = [0]
    go = threading.Barrier(8)

    @cache(namespace=ns)
    def slow(x: int) -> int:
        n[0] += 1
        threading.Event().wait(0.2)
        return x

    def worker() -> None:
        go.wait()
        slow(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    info = slow.cache_info()
    assert info.hits + info.misses == 8
    assert info.misses == n[0]


def test_cache_info_counts_every_task_of_an_async_stampede(redis_url: str, ns: str) -> None:
    n = [0]

    @cache(namespace=ns)
    async def slow(x: int) -> int:
        n[0] += 1
        await asyncio.sleep(0.2)
        return x

    async def main() -> None:
        await asyncio.gather(*(slow(1) for _ in range(10)))

    asyncio.run(main())
    info = slow.cache_info()
    assert info.hits + info.misses == 10
    assert info.misses == n[0]


def test_cache_info_counts_bypassed_and_unkeyed_calls_as_neither(redis_url: str, ns: str) -> None:
    f, _ = counted(ns)
    f(1)
    f(1, _bypass_cache=True)
    f(object())
    info = f.cache_info()
    assert (info.hits, info.misses) == (0, 1)


def test_the_key_helpers_still_refuse_an_argument_without_a_key_form(redis_url: str, ns: str) -> None:
    f, _ = counted(ns)
    with pytest.raises(TypeError, match="cannot be part of a cache key"):
        f.cache_key(object())


def test_warnings_of_uncached_calls_go_to_the_cachekit_logger(
    redis_url: str, ns: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cachekit")
    f, _ = counted(ns)
    f(object())
    assert all(r.name == "cachekit" for r in caplog.records if "runs uncached" in r.getMessage())


def test_invalidate_cache_of_an_async_function_says_failed_when_a_fail_closed_l2_refuses(ns: str) -> None:
    class DeleteFails:
        def __init__(self) -> None:
            self.data: dict[str, bytes] = {}

        def get(self, key: str) -> bytes | None:
            return self.data.get(key)

        def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
            self.data[key] = value

        def delete(self, key: str) -> bool:
            raise ConnectionError("delete refused")

        def exists(self, key: str) -> bool:
            return key in self.data

    f, _ = acounted(ns, backend=DeleteFails(), fail_closed=True, l1_enabled=False)

    async def main() -> Any:
        await f(1)
        return await f.invalidate_cache(1)

    assert asyncio.run(main()) is InvalidationOutcome.FAILED
