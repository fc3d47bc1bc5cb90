"""One benchmark process: times one library on the scenarios it supports.

Run inside the library's own virtual environment:
    python worker.py IMPL REDIS_URL ITERATIONS
IMPL: cachekit (ours or the PyPI SDK: the same code, whichever is installed),
cashews, redispy. Prints one JSON object {scenario: nanoseconds per call}.
Every scenario uses the same small dict payload and warms up first.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

PAYLOAD = {"id": 1, "name": "Ada Lovelace", "tags": ["math", "engines"], "score": 3.5, "active": True}


def per_call(fn: Callable[[int], Any], n: int) -> float:
    fn(0)
    t = time.perf_counter_ns()
    for i in range(n):
        fn(i)
    return (time.perf_counter_ns() - t) / n


def per_call_async(fn: Callable[[int], Any], n: int) -> float:
    async def run() -> float:
        await fn(0)
        t = time.perf_counter_ns()
        for i in range(n):
            await fn(i)
        return (time.perf_counter_ns() - t) / n

    return asyncio.run(run())


def bench_cachekit(url: str, n: int) -> dict[str, float]:
    os.environ["CACHEKIT_REDIS_URL"] = url
    os.environ["REDIS_URL"] = url
    from cachekit import cache

    ns = "bench" + uuid.uuid4().hex[:8]
    out: dict[str, float] = {}

    @cache(ttl=600, namespace=ns)
    def l1_hit(x: int) -> dict[str, Any]:
        return dict(PAYLOAD)

    out["l1_hit"] = per_call(lambda i: l1_hit(1), n)

    @cache(ttl=600, namespace=ns, l1_enabled=False)
    def l2_hit(x: int) -> dict[str, Any]:
        return dict(PAYLOAD)

    out["l2_hit"] = per_call(lambda i: l2_hit(1), max(n // 10, 200))

    @cache(ttl=600, namespace=ns, l1_enabled=False)
    def miss_store(x: int) -> dict[str, Any]:
        return dict(PAYLOAD)

    base = [10_000_000]

    def miss(i: int) -> Any:
        base[0] += 1
        return miss_store(base[0])

    out["miss_store"] = per_call(miss, max(n // 10, 200))

    @cache(ttl=600, namespace=ns)
    async def async_l1_hit(x: int) -> dict[str, Any]:
        return dict(PAYLOAD)

    out["async_l1_hit"] = per_call_async(lambda i: async_l1_hit(1), n)

    @cache(ttl=600, namespace=ns, l1_enabled=False)
    async def async_l2_hit(x: int) -> dict[str, Any]:
        return dict(PAYLOAD)

    out["async_l2_hit"] = per_call_async(lambda i: async_l2_hit(1), max(n // 10, 200))
    return out


def bench_cashews(url: str, n: int) -> dict[str, float]:
    from cashews import Cache

    out: dict[str, float] = {}
    mem = Cache()
    mem.setup("mem://")

    @mem(ttl="10m")
    async def l1_hit(x: int) -> dict[str, Any]:
        return dict(PAYLOAD)

    out["async_l1_hit"] = per_call_async(lambda i: l1_hit(1), n)

    red = Cache()
    red.setup(url, client_side=False)

    @red(ttl="10m", prefix="bench" + uuid.uuid4().hex[:8])
    async def l2_hit(x: int) -> dict[str, Any]:
        return dict(PAYLOAD)

    out["async_l2_hit"] = per_call_async(lambda i: l2_hit(1), max(n // 10, 200))
    return out


def bench_redispy(url: str, n: int) -> dict[str, float]:
    import msgpack
    import redis

    r = redis.Redis.from_url(url)
    key = "bench:raw:" + uuid.uuid4().hex
    r.set(key, msgpack.packb(PAYLOAD), ex=600)

    def l2_hit(i: int) -> Any:
        return msgpack.unpackb(r.get(key))

    out = {"l2_hit": per_call(l2_hit, max(n // 10, 200))}
    base = [0]

    def miss(i: int) -> Any:
        base[0] += 1
        k = f"{key}:{base[0]}"
        if r.get(k) is None:
            r.set(k, msgpack.packb(dict(PAYLOAD)), ex=600)
        return PAYLOAD

    out["miss_store"] = per_call(miss, max(n // 10, 200))
    return out


def main() -> None:
    impl, url, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    fn = {"cachekit": bench_cachekit, "cashews": bench_cashews, "redispy": bench_redispy}[impl]
    print(json.dumps(fn(url, n)))


if __name__ == "__main__":
    main()
