"""Threads (single flight across 16 threads) and fork."""

from __future__ import annotations

import os
import threading
import time

from cachekit import cache


def test_16_threads_one_cold_key_run_once(redis_url: str, ns: str) -> None:
    n = [0]
    lock = threading.Lock()

    @cache(namespace=ns)
    def slow(x: int) -> dict[str, int]:
        with lock:
            n[0] += 1
        time.sleep(0.3)
        return {"x": x}

    barrier = threading.Barrier(16)
    results: list[object] = []

    def worker() -> None:
        barrier.wait()
        results.append(slow(5))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [{"x": 5}] * 16
    assert n[0] == 1


def test_fork_child_works(redis_url: str, ns: str) -> None:
    n = [0]

    @cache(namespace=ns, ttl=60)
    def f(x: int) -> int:
        n[0] += 1
        return x + 1

    assert f(1) == 2  # parent uses the client (runtime, connections) before forking
    assert f(1) == 2
    parent = f.cache_info()
    assert parent.currsize == 1 and parent.l1_hits >= 1  # the parent's L1 holds the entry
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            before = n[0]
            info = f.cache_info()
            ok = info.currsize == 0  # the child's L1 starts empty (the core reports its entries)
            ok = ok and f(1) == 2 and n[0] == before  # Redis has it: no recomputation
            after = f.cache_info()
            ok = ok and after.l1_hits == info.l1_hits and after.l2_hits == info.l2_hits + 1  # from L2, not L1
            ok = ok and f(100) == 101 and f(100) == 101 and n[0] == before + 1
            code = 0 if ok else 3
        except BaseException:
            code = 4
        finally:
            os.write(w, bytes([code]))
            os._exit(code)
    os.close(w)
    status = os.read(r, 1)
    os.close(r)
    _, exit_status = os.waitpid(pid, 0)
    assert status == b"\x00", f"child failed with {status!r}"
    assert os.WEXITSTATUS(exit_status) == 0
    assert f(100) == 101  # written by the child, read by the parent from Redis
    assert n[0] == 1


def test_a_process_that_exits_right_after_a_miss_stored_the_value(redis_url: str, ns: str) -> None:
    """A miss returns before its Redis write lands; the exit hook waits for it."""
    import subprocess
    import sys

    code = f"""
import asyncio
from cachekit import cache

@cache(namespace={ns!r}, operation="f", l1_enabled=False)
def f(x):
    return {{"x": x}}

@cache(namespace={ns!r}, operation="g", l1_enabled=False)
async def g(x):
    return {{"x": x}}

print(f(41), asyncio.run(g(42)))
"""
    env = dict(os.environ, CACHEKIT_REDIS_URL=redis_url)
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "{'x': 41} {'x': 42}"

    computed: list[int] = []

    @cache(namespace=ns, operation="f", l1_enabled=False)
    def f(x: int) -> dict[str, int]:
        computed.append(x)
        return {"x": x}

    @cache(namespace=ns, operation="g", l1_enabled=False)
    def g(x: int) -> dict[str, int]:
        computed.append(x)
        return {"x": x}

    assert f(41) == {"x": 41}
    assert g(42) == {"x": 42}
    assert computed == [], "the child processes stored the values before exiting"
