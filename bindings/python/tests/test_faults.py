"""Redis killed mid-run: callers get results, warnings are logged, nothing is
raised, and caching through Redis resumes once the server is back."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from cachekit import CachekitConfig, cache
from cachekit.config.nested import CircuitBreakerConfig
from conftest import RedisServer, redis_cli

RECOVERY_BOUND_S = 10.0  # generous: the breaker's recovery_timeout below is 1 s
FAILURE_EVENTS = ("l2_error", "circuit_opened")  # the core's events for a failed L2 operation


def _event(record: logging.LogRecord) -> dict[str, Any]:
    """The core's structured fields of a ``cachekit`` log record ({} if none)."""
    fields = getattr(record, "cachekit", None)
    return fields if isinstance(fields, dict) else {}  # pyright: ignore[reportUnknownVariableType]


def test_redis_killed_mid_run(own_redis: RedisServer, ns: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cachekit")
    cfg = CachekitConfig(redis_url=own_redis.url, socket_timeout=0.2, socket_connect_timeout=0.2)
    n = [0]
    lock = threading.Lock()

    @cache(
        namespace=ns,
        config=cfg,
        l1_enabled=False,
        circuit_breaker=CircuitBreakerConfig(failure_threshold=5, recovery_timeout=1.0),
    )
    def f(x: int) -> int:
        with lock:
            n[0] += 1
        return x * 3

    errors: list[BaseException] = []
    stop = threading.Event()
    done = [0]  # calls returned, all threads

    def load() -> None:
        i = 0
        while not stop.is_set():
            try:
                assert f(i % 10) == (i % 10) * 3
            except BaseException as e:
                errors.append(e)
            i += 1
            with lock:
                done[0] += 1

    def calls_after(k: int, what: str) -> None:
        """Waits (deadline RECOVERY_BOUND_S) until the load has returned k more calls."""
        with lock:
            target = done[0] + k
        deadline = time.monotonic() + RECOVERY_BOUND_S
        while True:
            with lock:
                if done[0] >= target:
                    return
            assert time.monotonic() < deadline, what
            time.sleep(0.01)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    calls_after(50, "the load did not run against the live server")
    own_redis.kill()
    calls_after(50, "calls did not return (fail-open) while Redis was down")
    opened = time.monotonic() + RECOVERY_BOUND_S
    while f.get_health_status()["circuit_breaker"]["times_opened"] < 1:
        assert time.monotonic() < opened, "the breaker never opened while Redis was down"
        time.sleep(0.01)
    own_redis.start()
    calls_after(50, "calls did not return after Redis came back")
    stop.set()
    for t in threads:
        t.join()
    assert errors == []  # no exception reached a caller, every value was right
    assert f(3) == 9

    # The failure was noticed: the breaker opened, and the log says why.
    assert f.get_health_status()["circuit_breaker"]["times_opened"] >= 1
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING and _event(r).get("event") in FAILURE_EVENTS]
    assert failures, [r.getMessage() for r in caplog.records]
    assert all(_event(r).get("namespace") == ns for r in failures)
    assert any("transient" in r.getMessage() and "error=" in r.getMessage() for r in failures), [
        r.getMessage() for r in failures
    ]

    # Caching through Redis resumes: a new argument, computed once, lands in
    # the restarted (empty) server and is then served from it.
    deadline = time.monotonic() + RECOVERY_BOUND_S
    x = 1000
    recovered = False
    while time.monotonic() < deadline:
        x += 1
        assert f(x) == x * 3
        f.cache_exists(x)  # this thread's next command: the write behind the call has landed (or failed)
        time.sleep(0.05)  # poll interval (the deadline bounds the loop)
        if (
            redis_cli(own_redis.url, "EXISTS", f.cache_key(x)) == "(integer) 1"
            and f.check_health()["system"]["status"] == "healthy"
            and f.get_health_status()["circuit_breaker"]["state"] == "CLOSED"
        ):
            recovered = True
            break
    health = f.check_health()
    assert recovered, health
    assert health["system"]["status"] == "healthy"
    assert health["decorator"]["circuit_breaker"]["state"] == "CLOSED"
    before = n[0]
    assert f(x) == x * 3  # from Redis (L1 is off): not computed again
    assert n[0] == before
    assert f.cache_exists(x)


def test_redis_down_from_the_start(own_redis: RedisServer, ns: str) -> None:
    url = own_redis.url
    own_redis.kill()

    @cache(namespace=ns, config=CachekitConfig(redis_url=url, socket_connect_timeout=0.2))
    def f(x: int) -> int:
        return x

    assert f(1) == 1
    assert f(1) == 1
    assert f.check_health()["system"]["status"] == "unhealthy"
