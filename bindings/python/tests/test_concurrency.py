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
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            before = n[0]
            ok = f(1) == 2 and n[0] == before  # L1 is empty, Redis has it: no recomputation
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
