"""Redis killed mid-run: callers get results, warnings are logged, nothing is raised."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from cachekit import CachekitConfig, cache
from conftest import RedisServer


def test_redis_killed_mid_run(own_redis: RedisServer, ns: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cachekit")
    cfg = CachekitConfig(redis_url=own_redis.url, socket_timeout=0.2, socket_connect_timeout=0.2)
    n = [0]
    lock = threading.Lock()

    @cache(namespace=ns, config=cfg, l1_enabled=False)
    def f(x: int) -> int:
        with lock:
            n[0] += 1
        return x * 3

    errors: list[BaseException] = []
    stop = threading.Event()

    def load() -> None:
        i = 0
        while not stop.is_set():
            try:
                assert f(i % 10) == (i % 10) * 3
            except BaseException as e:
                errors.append(e)
            i += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    own_redis.kill()
    time.sleep(1.0)
    own_redis.start()
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert f(3) == 9
    health = f.check_health()
    assert health["system"]["status"] in ("healthy", "unhealthy")
    assert any(r.levelno >= logging.WARNING for r in caplog.records)


def test_redis_down_from_the_start(own_redis: RedisServer, ns: str) -> None:
    url = own_redis.url
    own_redis.kill()

    @cache(namespace=ns, config=CachekitConfig(redis_url=url, socket_connect_timeout=0.2))
    def f(x: int) -> int:
        return x

    assert f(1) == 1
    assert f(1) == 1
    assert f.check_health()["system"]["status"] == "unhealthy"
