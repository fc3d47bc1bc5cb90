"""Each preset's core options, auto profile detection, manual overrides."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from cachekit import cache, decorator
from cachekit.config import CachekitConfig
from cachekit.config.nested import (
    BackpressureConfig,
    CircuitBreakerConfig,
    L1CacheConfig,
    MonitoringConfig,
    TimeoutConfig,
)
from cachekit.decorator import _profiles
from conftest import RedisServer, redis_cli

FEATURES = ("circuit_breaker", "adaptive_timeout", "backpressure", "statistics", "structured_logging")


def features(f: Any) -> dict[str, bool]:
    fe = f.get_health_status()["features_enabled"]
    return {k: fe[k] for k in FEATURES}


@pytest.mark.parametrize(
    ("preset", "expected", "encrypted"),
    [
        ("minimal", (True, False, False, False, True), False),
        ("production", (True, True, True, True, True), False),
        ("secure", (True, True, True, True, True), True),
        ("dev", (False, False, False, False, True), False),
        ("test", (False, False, False, False, False), False),
    ],
)
def test_preset_settings(redis_url: str, ns: str, preset: str, expected: tuple[bool, ...], encrypted: bool) -> None:
    deco = getattr(cache, preset)

    @deco
    def bare(x: int) -> int:
        return x

    @deco(namespace=ns, ttl=30)
    def with_args(x: int) -> int:
        return x

    for f in (bare, with_args):
        assert f(1) == 1 and f(1) == 1
        assert f.cache_profile == preset
        assert features(f) == dict(zip(FEATURES, expected))
        assert f.get_health_status()["features_enabled"]["encryption"] is encrypted
    assert with_args.get_health_status()["namespace"] == ns


def test_secure_preset_with_explicit_key(redis_url: str, ns: str) -> None:
    @cache.secure(master_key="c3" * 32, namespace=ns)
    def f() -> str:
        return "s"

    assert f() == "s" and f() == "s"
    enc = f.get_health_status()["encryption"]
    assert enc and len(enc["key_fingerprint"]) == 32


def test_auto_profile_from_name(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    @cache
    def get_user_profile(uid: int) -> int:
        return uid

    assert get_user_profile.cache_profile == "secure"  # CACHEKIT_MASTER_KEY is set by conftest
    assert get_user_profile.get_health_status()["features_enabled"]["encryption"] is True

    @cache
    def compute_total(x: int) -> int:
        return x

    assert compute_total.cache_profile == "fast"

    @cache
    def summarize(x: int) -> int:
        return x

    assert summarize.cache_profile == "default"
    for name in ("get_users", "authorize", "authenticateUser", "load_sessions", "list_cards", "PatientRecords"):
        assert decorator.detect_profile(name, True) == "secure", name
    for name in ("cardinality", "taxonomy_tree", "get_prices", "compute_usage"):
        assert decorator.detect_profile(name, True) != "secure", name

    monkeypatch.delenv("CACHEKIT_MASTER_KEY")
    monkeypatch.setattr(_profiles, "_warned_secure", [False])
    caplog.set_level(logging.WARNING, logger="cachekit")

    @cache(backend=None)
    def process_payment(x: int) -> int:
        return x

    @cache(backend=None)
    def auth_token(x: int) -> int:
        return x

    assert process_payment.cache_profile == "default"
    assert auth_token.cache_profile == "default"
    warnings = [r for r in caplog.records if "cache.secure" in r.getMessage()]
    assert len(warnings) == 1  # one warning, not one per function
    assert process_payment.get_health_status()["features_enabled"]["encryption"] is False
    # an explicit config with a master key counts as configured
    monkeypatch.setattr(_profiles, "_warned_secure", [False])

    @cache(backend=None, config=CachekitConfig(master_key="d4" * 32))
    def user_record(x: int) -> int:
        return x

    assert user_record.cache_profile == "secure"


def test_a_manual_parameter_turns_on_what_the_minimal_preset_leaves_off(redis_url: str, ns: str) -> None:
    @cache.minimal(namespace=ns, backpressure=True, collect_stats=True)
    def f(x: int) -> int:
        return x

    assert features(f)["backpressure"] is True and features(f)["statistics"] is True


def test_a_manual_parameter_turns_off_what_the_production_preset_turns_on(redis_url: str, ns: str) -> None:
    @cache.production(namespace=ns, circuit_breaker=False, enable_structured_logging=False)
    def g(x: int) -> int:
        return x

    assert features(g)["circuit_breaker"] is False and features(g)["structured_logging"] is False


def test_fast_mode_picks_the_minimal_profile(redis_url: str, ns: str) -> None:
    @cache(namespace=ns, fast_mode=True)
    def h(x: int) -> int:
        return x

    assert h.cache_profile == "minimal"


def nested_configured(ns: str, **extra: Any) -> Any:
    @cache(
        **extra,
        ttl=3600,
        namespace=ns,
        l1=L1CacheConfig(enabled=False),
        circuit_breaker=CircuitBreakerConfig(enabled=True, failure_threshold=7, recovery_timeout=12.0),
        timeout=TimeoutConfig(enabled=True, min_timeout=0.2, max_timeout=3.0),
        backpressure=BackpressureConfig(max_concurrent_requests=42),
        monitoring=MonitoringConfig(collect_stats=True, enable_tracing=False, enable_structured_logging=False),
    )
    def f(x: int) -> int:
        return x

    return f


def test_l1_cache_config_disabled_serves_the_second_call_from_l2(redis_url: str, ns: str) -> None:
    f = nested_configured(ns)
    assert f(1) == 1 and f(1) == 1
    assert f.get_health_status()["features_enabled"]["l1_cache"] is False
    assert f.cache_info().l2_hits == 1


def test_monitoring_config_reaches_the_core(redis_url: str, ns: str) -> None:
    f = nested_configured(ns)
    assert f.get_health_status()["features_enabled"]["structured_logging"] is False


def test_backpressure_config_reaches_the_core(redis_url: str, ns: str) -> None:
    f = nested_configured(ns)
    assert f.get_health_status()["backpressure"]["max_concurrent"] == 42


class DownBackend:
    """A custom L2 whose every operation fails (a transient error for the breaker)."""

    def get(self, key: str) -> bytes | None:
        raise ConnectionError("down")

    def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
        raise ConnectionError("down")

    def delete(self, key: str) -> bool:
        raise ConnectionError("down")

    def exists(self, key: str) -> bool:
        raise ConnectionError("down")


def failures_when_opened(f: Any) -> int:
    """Calls f (over a failing backend) until the core's breaker opens; the failure count it opened at."""
    for i in range(50):
        assert f(i) == i  # fail-open
        cb = f.get_health_status()["circuit_breaker"]
        if cb["state"] == "OPEN":
            return int(cb["failure_count"])
    raise AssertionError("the circuit breaker never opened")


def test_circuit_breaker_config_reaches_the_core(redis_url: str, ns: str, caplog_cachekit: Any) -> None:
    f = nested_configured(ns, backend=DownBackend())
    assert failures_when_opened(f) == 7


def test_timeout_config_reaches_the_core(redis_url: str, ns: str) -> None:
    f = nested_configured(ns)
    at = f.get_health_status()["adaptive_timeout"]
    assert (at["enabled"], at["min_timeout"], at["max_timeout"]) == (True, 0.2, 3.0)


def test_max_concurrent_requests_and_circuit_breaker_config_parameters_reach_the_core(redis_url: str, ns: str) -> None:
    @cache(namespace=ns, max_concurrent_requests=9, circuit_breaker_config=CircuitBreakerConfig(failure_threshold=2))
    def g(x: int) -> int:
        return x

    assert g.get_health_status()["backpressure"]["max_concurrent"] == 9

    @cache(
        namespace=ns + "-down", backend=DownBackend(), circuit_breaker_config=CircuitBreakerConfig(failure_threshold=2)
    )
    def down(x: int) -> int:
        return x

    assert failures_when_opened(down) == 2


def compat_configured(ns: str) -> Any:
    @cache(
        namespace=ns,
        safe_mode=True,
        pipelined=False,
        refresh_ttl_on_get=True,
        ttl_refresh_threshold=0.3,
        adaptive_timeout=False,
        enable_tracing=False,
    )
    def f(x: int) -> int:
        return x

    return f


def test_compat_parameters_leave_caching_working(redis_url: str, ns: str) -> None:
    f = compat_configured(ns)
    assert f(2) == 2 and f(2) == 2
    assert f.cache_info().hits == 1


def test_adaptive_timeout_false_turns_it_off(redis_url: str, ns: str) -> None:
    assert features(compat_configured(ns))["adaptive_timeout"] is False


def pttl_calls(url: str) -> int:
    """PTTL commands the server has run since its last CONFIG RESETSTAT."""
    for line in redis_cli(url, "INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_pttl:"):
            return int(line.split("calls=", 1)[1].split(",", 1)[0])
    return 0


@pytest.mark.parametrize(("pipelined", "pttl_on_a_miss"), [(True, 1), (False, 0)])
def test_pipelined_reaches_the_core(own_redis: RedisServer, ns: str, pipelined: bool, pttl_on_a_miss: int) -> None:
    """A lookup that needs the remaining TTL (L1 is on) sends GET and PTTL in one
    round trip when pipelined, and only GET (PTTL after a value came back) when not:
    on a miss the server sees one PTTL, or none."""

    @cache(namespace=ns, backend=own_redis.url, pipelined=pipelined)
    def f(x: int) -> int:
        return x

    assert f(0) == 0  # connected
    redis_cli(own_redis.url, "CONFIG", "RESETSTAT")
    assert f(1) == 1  # a miss: the lookup has been answered when the call returns
    assert pttl_calls(own_redis.url) == pttl_on_a_miss


@pytest.mark.parametrize(
    ("compression", "stored_at_least", "stored_at_most"), [(True, 0, 20_000), (False, 200_000, 10**9)]
)
def test_enable_compression_reaches_the_core(
    redis_url: str, ns: str, compression: bool, stored_at_least: int, stored_at_most: int
) -> None:
    """A 200 kB run of one letter is stored compressed (far smaller), or as is with compression off."""

    @cache(namespace=ns, config=CachekitConfig(enable_compression=compression))
    def f(x: int) -> str:
        return "a" * 200_000

    assert f(1) == "a" * 200_000
    assert f.cache_exists(1)  # this thread's next command: the write behind the call has landed
    size = int(redis_cli(redis_url, "STRLEN", f.cache_key(1)).removeprefix("(integer) "))
    assert stored_at_least <= size <= stored_at_most


def test_refresh_ttl_on_get_resets_a_low_ttl(redis_url: str, ns: str) -> None:
    @cache(namespace=ns, ttl=100, l1_enabled=False, refresh_ttl_on_get=True, ttl_refresh_threshold=0.5)
    def f(x: int) -> int:
        return x

    @cache(namespace=ns + "-plain", ttl=100, l1_enabled=False)
    def g(x: int) -> int:
        return x

    for fn in (f, g):
        assert fn(1) == 1
        assert fn.cache_exists(1)  # this thread's next command: the write behind the call has landed
        assert redis_cli(redis_url, "PEXPIRE", fn.cache_key(1), "20000") == "(integer) 1"
        assert fn(1) == 1  # an L2 hit with 20 of 100 seconds left: below the threshold
    ttl_f, ttl_g = f.cache_ttl(1), g.cache_ttl(1)
    assert ttl_f is not None and ttl_f > 90
    assert ttl_g is not None and ttl_g <= 20


def test_fast_mode_wins_over_a_preset(redis_url: str, ns: str) -> None:
    @cache.production(namespace=ns, fast_mode=True)
    def f(x: int) -> int:
        return x

    assert f.cache_profile == "minimal"
    assert features(f)["adaptive_timeout"] is False and features(f)["statistics"] is False


def test_timeout_config_with_adaptive_timeout_true(redis_url: str, ns: str) -> None:
    @cache(namespace=ns, adaptive_timeout=True, timeout=TimeoutConfig(min_timeout=0.25, max_timeout=2.0))
    def f(x: int) -> int:
        return x

    at = f.get_health_status()["adaptive_timeout"]
    assert (at["enabled"], at["min_timeout"], at["max_timeout"]) == (True, 0.25, 2.0)


def test_l1_budget_per_namespace(redis_url: str, ns: str) -> None:
    @cache(namespace=ns, l1=L1CacheConfig(max_size_mb=3))
    def f(x: int) -> int:
        return x

    assert f(1) == 1
    assert f.cache_info().maxsize == 3 << 20


def test_prometheus_can_be_left_out_per_namespace(redis_url: str, ns: str) -> None:
    import cachekit

    @cache(namespace=ns, monitoring=MonitoringConfig(enable_prometheus_metrics=False))
    def hidden(x: int) -> int:
        return x

    @cache(namespace=ns + "-shown")
    def shown(x: int) -> int:
        return x

    @cache.dev(namespace=ns + "-dev")
    def dev(x: int) -> int:
        return x

    for fn in (hidden, shown, dev):
        assert fn(1) == 1 and fn(1) == 1
    text = cachekit.metrics_text()
    assert f'namespace="{ns}-shown"' in text
    assert f'namespace="{ns}"' not in text and f'namespace="{ns}-dev"' not in text
    assert hidden.get_health_status()["features_enabled"]["prometheus_metrics"] is False
    assert dev.get_health_status()["features_enabled"]["prometheus_metrics"] is False
    assert hidden.cache_info().hits == 1  # cache_info still counts


def test_a_negative_ttl_is_refused(redis_url: str) -> None:
    with pytest.raises(ValueError):

        @cache(ttl=-1)
        def f() -> int:
            return 1


def test_a_positional_argument_other_than_a_function_is_refused(redis_url: str) -> None:
    with pytest.raises(TypeError):
        cache(5)  # pyright: ignore[reportArgumentType, reportCallIssue]
