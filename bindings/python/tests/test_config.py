"""CachekitConfig (pydantic-settings) and the environment: the same precedence as the core."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cachekit.config import CachekitConfig


def test_cachekit_redis_url_wins_over_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHEKIT_REDIS_URL", "redis://primary:6379")
    monkeypatch.setenv("REDIS_URL", "redis://fallback:6379")
    assert CachekitConfig().redis_url == "redis://primary:6379"
    monkeypatch.delenv("CACHEKIT_REDIS_URL")
    assert CachekitConfig().redis_url == "redis://fallback:6379"
    assert CachekitConfig(redis_url="redis://explicit:1").redis_url == "redis://explicit:1"


def test_reference_fields_and_their_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "CACHEKIT_CONNECTION_POOL_SIZE": "50",
        "CACHEKIT_SOCKET_TIMEOUT": "2.5",
        "CACHEKIT_SOCKET_CONNECT_TIMEOUT": "0.5",
        "CACHEKIT_DEFAULT_TTL": "7200",
        "CACHEKIT_ENABLE_COMPRESSION": "false",
        "CACHEKIT_COMPRESSION_LEVEL": "3",
        "CACHEKIT_MAX_CHUNK_SIZE_MB": "20",
        "CACHEKIT_L1_ENABLED": "false",
        "CACHEKIT_L1_MAX_SIZE_MB": "64",
        "CACHEKIT_ENABLE_PROMETHEUS_METRICS": "false",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    c = CachekitConfig()
    assert (c.connection_pool_size, c.socket_timeout, c.socket_connect_timeout, c.default_ttl) == (50, 2.5, 0.5, 7200)
    assert (c.enable_compression, c.compression_level, c.max_chunk_size_mb) == (False, 3, 20)
    assert (c.l1_enabled, c.l1_max_size_mb, c.enable_prometheus_metrics) == (False, 64, False)
    # Explicit arguments win over the environment.
    assert CachekitConfig(default_ttl=60).default_ttl == 60


def test_defaults_are_the_references(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in list(os.environ):
        if k.startswith("CACHEKIT_") or k == "REDIS_URL":
            monkeypatch.delenv(k)
    c = CachekitConfig()
    assert c.redis_url == "redis://localhost:6379"
    assert (c.connection_pool_size, c.socket_timeout, c.socket_connect_timeout, c.default_ttl) == (10, 1.0, 1.0, 3600)
    assert (c.enable_compression, c.max_chunk_size_mb, c.l1_enabled, c.l1_max_size_mb) == (True, 50, True, 100)
    # Defaults stay the core's: nothing is sent as an explicit setting.
    assert json.loads(c.to_core_json()) == {}
    assert json.loads(CachekitConfig(default_ttl=5).to_core_json()) == {"default_ttl": 5}


def test_a_bad_value_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHEKIT_DEFAULT_TTL", "soon")
    with pytest.raises(ValueError, match="default_ttl"):
        CachekitConfig()


LOG_PROGRAM = """
import logging
from cachekit import cache
logging.basicConfig(format="%(levelname)s %(message)s")
lg = logging.getLogger("cachekit")

@cache(backend=None, namespace="loglevel")
def f(x):
    return x

f(1)
print("level", logging.getLevelName(lg.getEffectiveLevel()))
"""


@pytest.mark.parametrize(("value", "expected"), [("DEBUG", "DEBUG"), ("error", "ERROR"), ("", "WARNING")])
def test_log_level_sets_the_cachekit_logger(value: str, expected: str) -> None:
    env = {**os.environ, "LOG_LEVEL": value}
    out = subprocess.run([sys.executable, "-c", LOG_PROGRAM], env=env, capture_output=True, text=True, check=True)
    assert f"level {expected}" in out.stdout
    if expected == "DEBUG":
        assert "DEBUG" in out.stderr  # the core's debug events reach Python logging
    else:
        assert "DEBUG" not in out.stderr


def test_an_application_level_wins_over_log_level() -> None:
    program = "import logging; logging.getLogger('cachekit').setLevel(logging.ERROR)\n" + LOG_PROGRAM
    env = {**os.environ, "LOG_LEVEL": "DEBUG"}
    out = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True)
    assert "level ERROR" in out.stdout and "DEBUG" not in out.stderr
