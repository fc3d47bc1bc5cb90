"""A runnable cachekit example: cached sync and async functions, invalidation,
health. Uses Redis when CACHEKIT_REDIS_URL (or REDIS_URL) is set, else runs
L1-only.

    pip install ./bindings/python        # builds and bundles the core
    CACHEKIT_REDIS_URL=redis://127.0.0.1:6379 python examples/python/example.py
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from cachekit import cache


@cache(ttl=60, namespace="example")
def slow_square(x: int) -> dict[str, object]:
    time.sleep(0.2)  # an expensive computation
    return {"x": x, "square": x * x, "at": dt.datetime.now(dt.UTC)}


@cache.minimal(ttl=30, namespace="example")
async def fetch_profile(user_id: int) -> dict[str, object]:
    await asyncio.sleep(0.2)  # an API call
    return {"id": user_id, "name": f"user-{user_id}"}


def timed(label: str, fn: object) -> None:
    t = time.perf_counter()
    value = fn() if callable(fn) else fn
    print(f"{label:<28} {(time.perf_counter() - t) * 1000:8.2f} ms  {value}")


def main() -> None:
    slow_square.invalidate_cache(12)
    timed("slow_square(12) miss", lambda: slow_square(12))
    timed("slow_square(12) hit", lambda: slow_square(12))
    slow_square.invalidate_cache(12)
    timed("after invalidate_cache", lambda: slow_square(12))
    timed("async miss", lambda: asyncio.run(fetch_profile(7)))
    timed("async hit", lambda: asyncio.run(fetch_profile(7)))
    print("cache_info:", slow_square.cache_info())
    health = slow_square.get_health_status()
    print("backend:", health["backend"], "| breaker:", health["circuit_breaker"]["state"])


if __name__ == "__main__":
    main()
