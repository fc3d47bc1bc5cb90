"""async def functions: hits on the loop thread, misses and L2 through callbacks."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from typing import Any

import pytest

from cachekit import cache
from cachekit.decorator import _async
from conftest import RedisServer, redis_cli


async def landed(key: str, deadline_s: float = 5.0) -> None:
    """Polls Redis from outside until key is there (deadline_s seconds)."""
    url = os.environ["CACHEKIT_TEST_REDIS_URL"]
    deadline = time.monotonic() + deadline_s
    while await asyncio.to_thread(redis_cli, url, "EXISTS", key) != "(integer) 1":
        assert time.monotonic() < deadline, f"{key} never reached Redis"
        await asyncio.sleep(0.01)


def test_an_async_function_is_still_a_coroutine_function(redis_url: str, ns: str) -> None:
    @cache(namespace=ns)
    async def fetch(x: int) -> int:
        return x

    assert asyncio.iscoroutinefunction(fetch)


def test_an_async_second_call_is_a_hit(redis_url: str, ns: str) -> None:
    n = [0]

    @cache(namespace=ns, ttl=60)
    async def fetch(x: int) -> dict[str, int]:
        n[0] += 1
        await asyncio.sleep(0)
        return {"x": x}

    async def main() -> None:
        assert await fetch(1) == {"x": 1}
        assert await fetch(1) == {"x": 1}

    asyncio.run(main())
    assert n[0] == 1
    assert fetch.cache_info().hits >= 1


def test_an_async_fill_reaches_redis_for_another_handle(redis_url: str, ns: str) -> None:
    n = [0]

    @cache(namespace=ns, ttl=60, operation="fetch")
    async def fetch(x: int) -> dict[str, int]:
        n[0] += 1
        return {"x": x}

    @cache(namespace=ns, ttl=60, operation="fetch", l1_enabled=False)
    async def fetch_l2(x: int) -> dict[str, int]:
        n[0] += 1
        return {"x": -1}

    async def main() -> None:
        assert await fetch(1) == {"x": 1}
        await landed(fetch.cache_key(1))  # the L2 write of an async fill happens in the background
        assert await fetch_l2(1) == {"x": 1}  # served by Redis through the completion callback

    asyncio.run(main())
    assert n[0] == 1
    assert fetch_l2.cache_info().l2_hits >= 1


def test_an_async_value_being_written_is_read_by_this_process(redis_url: str, ns: str) -> None:
    n = [0]

    @cache(namespace=ns, ttl=60, l1_enabled=False)
    async def fetch_l2(x: int) -> dict[str, int]:
        n[0] += 1
        return {"x": -1}

    async def main() -> None:
        assert await fetch_l2(2) == {"x": -1}
        await landed(fetch_l2.cache_key(2))  # until then this process reads the value being written, not Redis
        assert await fetch_l2(2) == {"x": -1}

    asyncio.run(main())
    assert n[0] == 1
    assert fetch_l2.cache_info().l2_hits >= 1


def test_async_l1_hit_never_waits(redis_url: str, ns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    @cache(namespace=ns)
    async def f(x: int) -> int:
        return x

    async def main() -> None:
        await f(1)
        await f(1)
        await landed(f.cache_key(1))
        waits: list[int] = []
        original = _async._wait_pending  # pyright: ignore[reportPrivateUsage]

        async def spy(token: int) -> Any:
            waits.append(token)
            return await original(token)

        monkeypatch.setattr(_async, "_wait_pending", spy)
        for _ in range(100):
            assert await f(1) == 1
        assert waits == []

    asyncio.run(main())


def test_async_exceptions_not_cached(redis_url: str, ns: str) -> None:
    n = [0]

    @cache(namespace=ns)
    async def f() -> int:
        n[0] += 1
        if n[0] == 1:
            raise RuntimeError("first")
        return n[0]

    async def main() -> None:
        with pytest.raises(RuntimeError):
            await f()
        assert await f() == 2
        assert await f() == 2

    asyncio.run(main())


def test_async_stampede_runs_once(redis_url: str, ns: str) -> None:
    n = [0]

    @cache(namespace=ns, l1_enabled=False)
    async def slow(x: int) -> int:
        n[0] += 1
        await asyncio.sleep(0.2)
        return x * 2

    async def main() -> list[int]:
        return await asyncio.gather(*(slow(21) for _ in range(32)))

    assert asyncio.run(main()) == [42] * 32
    assert n[0] == 1


def test_async_loop_is_not_blocked_by_redis(own_redis: RedisServer, ns: str) -> None:
    """Redis is paused (SIGSTOP) while 20 lookups are pending: the loop keeps
    ticking until they are all sent and unanswered, and they complete once
    Redis resumes. A lookup that waited on Redis on the loop's thread would
    stop the ticker until Redis answers (or the core's timeout); a watchdog
    thread resumes Redis after 5 s so that such a failure does not hang."""
    assert own_redis.proc is not None
    pid = own_redis.proc.pid

    @cache(namespace=ns, l1_enabled=False, backend=own_redis.url, adaptive_timeout=False)
    async def f(x: int) -> int:
        return x

    resumed = threading.Event()

    def resume() -> None:
        if not resumed.is_set():
            resumed.set()
            os.kill(pid, signal.SIGCONT)

    async def main() -> tuple[int, list[int]]:
        await f(-1)  # connected
        os.kill(pid, signal.SIGSTOP)
        watchdog = threading.Timer(5.0, resume)
        watchdog.start()
        try:
            calls = [asyncio.ensure_future(f(i)) for i in range(20)]
            ticks = 0
            while ticks < 50:  # the loop runs while every call waits on the paused Redis
                await asyncio.sleep(0.001)
                ticks += 1
            pending = sum(not c.done() for c in calls)
            assert not resumed.is_set(), "the loop was blocked until the watchdog resumed Redis"
            resume()
            return pending, await asyncio.gather(*calls)
        finally:
            resume()
            watchdog.cancel()

    pending, results = asyncio.run(main())
    assert pending == 20
    assert results == list(range(20))


def test_ainvalidate_cache_deletes_the_entry_and_says_it_existed(redis_url: str, ns: str) -> None:
    n = [0]

    @cache(namespace=ns)
    async def f(x: int) -> int:
        n[0] += 1
        return x

    async def main() -> None:
        assert await f(1) == 1 and await f(1) == 1
        assert await f.ainvalidate_cache(1) is True
        assert await f.ainvalidate_cache(1) is False
        assert await f(1) == 1

    asyncio.run(main())
    assert n[0] == 2


def test_an_async_method_is_cached_without_self_in_the_key(redis_url: str, ns: str) -> None:
    n = [0]

    class Repo:
        @cache(namespace=ns)
        async def load(self, x: int) -> int:
            n[0] += 1
            return x * 2

    async def main() -> None:
        assert await Repo().load(3) == 6 and await Repo().load(3) == 6

    asyncio.run(main())
    assert n[0] == 1
    assert asyncio.iscoroutinefunction(Repo().load)


def test_ainvalidate_cache_of_a_bound_async_method(redis_url: str, ns: str) -> None:
    n = [0]

    class Repo:
        @cache(namespace=ns)
        async def load(self, x: int) -> int:
            n[0] += 1
            return x * 2

    async def main() -> None:
        repo = Repo()
        await repo.load(3)
        assert await repo.load.ainvalidate_cache(3) is True
        assert await repo.load(3) == 6

    asyncio.run(main())
    assert n[0] == 2
