"""Features checked end to end through the decorator and Redis (issue 18):
encrypted tenant isolation in both directions, negative_ttl, the L1 byte
budget (l1_max_size_mb) evicting, and single flight across processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from cachekit import cache
from cachekit.config.nested import L1CacheConfig
from conftest import MASTER_KEY

HERE = Path(__file__).resolve().parent


def test_encrypted_tenants_do_not_read_each_others_entries(redis_url: str, ns: str, caplog_cachekit: Any) -> None:
    """One namespace, operation and master key, two encryption tenants: the key
    is the same, so each tenant's write is the entry the other reads, and the
    other must recompute (the derived key and the AAD differ), in both directions."""
    calls: list[str] = []

    def tenant_fn(tenant: str) -> Any:
        @cache(namespace=ns, operation="profile", encryption=True, master_key=MASTER_KEY, tenant_id=tenant,
               l1_enabled=False)  # fmt: skip
        def f(x: int) -> str:
            calls.append(tenant)
            return f"{tenant}:{x}"

        return f

    a, b = tenant_fn("acme"), tenant_fn("globex")
    assert a.cache_key(1) == b.cache_key(1)  # the same Redis entry
    fa = a.get_health_status()["encryption"]["key_fingerprint"]
    assert fa != b.get_health_status()["encryption"]["key_fingerprint"]

    assert a(1) == "acme:1"
    assert a.cache_exists(1)  # this thread's next command: the write has landed
    assert a(1) == "acme:1"  # acme reads its own entry
    assert b(1) == "globex:1"  # acme's entry is not globex's value: recomputed
    assert b.cache_exists(1)
    assert b(1) == "globex:1"
    assert a(1) == "acme:1"  # and globex's entry is not acme's
    assert calls == ["acme", "globex", "acme"]


def test_negative_ttl_is_the_ttl_of_a_none_result(redis_url: str, ns: str) -> None:
    calls: list[int] = []

    @cache(namespace=ns, ttl=300, negative_ttl=1, l1_enabled=False)
    def f(x: int) -> int | None:
        calls.append(x)
        return None if x < 0 else x

    assert f(-1) is None and f(-1) is None  # None is cached
    assert f(5) == 5 and f(5) == 5
    assert calls == [-1, 5]
    none_ttl, value_ttl = f.cache_ttl(-1), f.cache_ttl(5)
    assert none_ttl is not None and 0 < none_ttl <= 1
    assert value_ttl is not None and 1 < value_ttl <= 300
    deadline = time.monotonic() + 1 + 2  # negative_ttl, and 2 s of slack
    while f.cache_ttl(-1) is not None:
        assert time.monotonic() < deadline, "the None entry outlived its negative_ttl"
        time.sleep(0.01)
    assert f(-1) is None
    assert calls == [-1, 5, -1]
    assert f.cache_ttl(5) is not None


def test_l1_max_size_mb_evicts_past_the_budget(redis_url: str, ns: str) -> None:
    """A 1 MiB L1 budget and 400 values of 10 kB (4 MB): the core evicts and
    stays within the budget, and reading them all again serves what L1 kept
    from L1 and every evicted entry from Redis, recomputing none."""
    calls: list[int] = []
    n = 400

    @cache(namespace=ns, l1=L1CacheConfig(max_size_mb=1))
    def f(x: int) -> bytes:
        calls.append(x)
        return os.urandom(10_000)  # incompressible

    values = [f(i) for i in range(n)]
    assert f.cache_exists(n - 1)  # this thread's next command: the writes have landed
    l1 = f.get_health_status()["l1"]
    assert l1["budget_bytes"] == 1024 * 1024
    assert l1["rejected_too_large"] == 0
    assert l1["bytes"] <= l1["budget_bytes"]
    kept = l1["entries"]
    assert 0 < kept < n // 4 and l1["evictions"] >= n - kept
    before = f.cache_info()
    assert [f(i) for i in range(n)] == values
    after = f.cache_info()
    assert after.l2_hits - before.l2_hits >= n - kept  # evicted entries come from Redis
    assert after.l1_hits - before.l1_hits <= kept
    assert calls == list(range(n))


def test_one_cold_key_across_processes_is_computed_once(redis_url: str, ns: str, tmp_path: Path) -> None:
    """Four processes call one cold key at once (a handshake: each says it is
    ready, then all are told to go); the core's distributed fill lock lets one
    compute and the others read its value: one computation, one value."""
    log = tmp_path / "computed"
    child = textwrap.dedent(f"""
        import os, sys, time
        from cachekit import cache

        @cache(namespace={ns!r}, operation="stampede", ttl=60)
        def slow(x):
            with open({str(log)!r}, "a") as fh:
                fh.write(f"{{os.getpid()}}\\n")
            time.sleep(0.5)  # the work the others must not repeat
            return {{"x": x, "by": os.getpid()}}

        slow.cache_exists(0)  # connected before the start
        print("ready", flush=True)
        assert sys.stdin.readline().strip() == "go"
        print(repr(slow(7)), flush=True)
    """)
    env = dict(os.environ, CACHEKIT_REDIS_URL=redis_url, PYTHONPATH=os.pathsep.join(sys.path))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", child], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=HERE
        )
        for _ in range(4)
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    computed = log.read_text().split()
    assert len(computed) == 1, f"computed by {computed}"
    assert len(set(outs)) == 1 and f"'by': {computed[0]}" in outs[0]
