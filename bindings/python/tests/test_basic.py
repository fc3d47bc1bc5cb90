"""Hit, miss, TTL, namespaces, invalidation, keys, methods (real Redis)."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from cachekit import ConfigurationError, cache
from cachekit.config.nested import CircuitBreakerConfig
from conftest import redis_cli


def counter() -> list[int]:
    return [0]


def test_hit_and_miss(redis_url: str, ns: str) -> None:
    n = counter()

    @cache(ttl=60, namespace=ns)
    def double(x: int) -> dict[str, Any]:
        n[0] += 1
        return {"x": x * 2}

    assert double(2) == {"x": 4}
    assert double(2) == {"x": 4}
    assert n[0] == 1
    assert double(3) == {"x": 6}
    assert n[0] == 2
    info = double.cache_info()
    assert info.hits == 1 and info.misses == 2
    # the entry is in Redis, under namespace:operation:hash:e1
    key = double.cache_key(2)
    assert key.startswith(f"{ns}:test_hit_and_miss.double:") and key.endswith(":e1")
    assert redis_cli(redis_url, "EXISTS", key) == "(integer) 1"


def test_l2_hit_shared_between_handles(redis_url: str, ns: str) -> None:
    n = counter()

    def make() -> Any:
        @cache(ttl=60, namespace=ns, l1_enabled=False, operation="shared")
        def f(x: int) -> list[int]:
            n[0] += 1
            return [x]

        return f

    a, b = make(), make()
    assert a(1) == [1]
    assert b(1) == [1]
    assert n[0] == 1
    assert b.cache_info().l2_hits == 1


def test_kwargs_and_defaults_bind_to_one_key(redis_url: str, ns: str) -> None:
    n = counter()

    @cache(namespace=ns)
    def f(a: int, b: int = 2, *, c: str = "x") -> int:
        n[0] += 1
        return a + b

    assert f(1) == 3
    assert f(1, 2) == 3
    assert f(a=1, b=2) == 3
    assert f(1, c="x") == 3
    assert n[0] == 1
    f(1, c="y")
    assert n[0] == 2
    # 2.0 and 2 hash the same (canonical keys)
    assert f.cache_key(1, 2.0) == f.cache_key(1, 2)


def repr_of() -> Any:
    @cache(namespace=f"args{uuid.uuid4().hex[:8]}")
    def f(v: Any) -> str:
        return repr(v)

    return f


def test_an_aware_datetime_argument_is_a_key(redis_url: str) -> None:
    f = repr_of()
    aware = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert f(aware) == repr(aware)


def test_a_set_is_keyed_whatever_the_order_of_its_elements(redis_url: str) -> None:
    f = repr_of()
    assert f.cache_key({1, 2, 3}) == f.cache_key({3, 2, 1})


def test_a_frozenset_and_a_set_of_the_same_elements_share_a_key(redis_url: str) -> None:
    f = repr_of()
    assert f.cache_key(frozenset({"a"})) == f.cache_key({"a"})


def test_a_uuid_argument_is_a_key(redis_url: str) -> None:
    f = repr_of()
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert f(u) == repr(u)


def test_a_date_argument_is_a_key(redis_url: str) -> None:
    f = repr_of()
    assert f(dt.date(2024, 1, 2)) == repr(dt.date(2024, 1, 2))


def test_a_tuple_argument_reaches_the_function_as_a_tuple(redis_url: str) -> None:
    f = repr_of()
    assert f((1, 2)) == "(1, 2)"


def test_a_tuple_and_a_list_of_the_same_values_share_a_key(redis_url: str) -> None:
    f = repr_of()
    assert f.cache_key((1, 2)) == f.cache_key([1, 2])


def test_a_naive_datetime_argument_is_refused(redis_url: str) -> None:
    f = repr_of()
    with pytest.raises(TypeError, match="naive datetime"):
        f.cache_key(dt.datetime(2024, 1, 2))


def test_an_argument_without_a_key_form_is_refused_by_the_key_helpers(redis_url: str) -> None:
    f = repr_of()
    with pytest.raises(TypeError, match="cannot be part of a cache key"):
        f.cache_key(object())


def wait_until(cond: Callable[[], object], deadline_s: float, what: str) -> None:
    """Polls cond until it holds, failing with what after deadline_s seconds."""
    deadline = time.monotonic() + deadline_s
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def wait_stale(f: Any, ttl: float, window: float) -> None:
    """Until f's entry is past its TTL and inside its stale window: Redis keeps it
    for ttl + window, so fewer than window seconds remain (deadline: ttl + 2 s)."""

    def stale() -> bool:
        left = f.cache_ttl()
        assert left is not None, "the entry left Redis before its stale window ended"
        return left < window

    wait_until(stale, ttl + 2, "the entry never went stale")


def test_ttl_expiry(redis_url: str, ns: str) -> None:
    n = counter()

    @cache(ttl=1, namespace=ns)
    def f() -> int:
        n[0] += 1
        return n[0]

    assert f() == 1
    assert f() == 1
    ttl = f.cache_ttl()
    assert ttl is not None and 0 < ttl <= 1.0
    # Redis drops the entry once its 1 s are over (the deadline allows 2 s more).
    wait_until(lambda: f.cache_ttl() is None, 1 + 2, "the entry did not expire in Redis")
    assert f() == 2
    assert n[0] == 2


def op_in(namespace: str, n: list[int]) -> Any:
    @cache(namespace=namespace, operation="op")
    def f(x: int) -> int:
        n[0] += 1
        return x

    return f


def test_the_same_operation_in_two_namespaces_has_two_entries(redis_url: str, ns: str) -> None:
    n = counter()
    a, b = op_in(ns + "_a", n), op_in(ns + "_b", n)
    a(1)
    b(1)
    assert n[0] == 2
    assert a.cache_key(1) != b.cache_key(1)


def test_a_namespace_with_colons_and_capitals_is_allowed_in_envelope_mode(redis_url: str, ns: str) -> None:
    c = op_in(ns + ":V1", counter())
    assert c(1) == 1


def test_a_namespace_with_a_space_is_refused_at_decoration(redis_url: str) -> None:
    with pytest.raises(ConfigurationError):
        op_in("bad ns!", counter())


def test_default_names_fold_module_and_qualname(redis_url: str) -> None:
    @cache
    def inner(x: int) -> int:
        return x

    assert inner.cache_namespace == "test_basic"
    assert inner.cache_operation == "test_default_names_fold_module_and_qualname.inner"


def identity_in(namespace: str, n: list[int]) -> Any:
    @cache(namespace=namespace)
    def f(x: int) -> int:
        n[0] += 1
        return x

    return f


def test_invalidate_cache_deletes_the_entry_of_one_call_and_says_it_existed(redis_url: str, ns: str) -> None:
    n = counter()
    f = identity_in(ns, n)
    f(1)
    f(2)
    assert f.invalidate_cache(1) is True
    assert f.invalidate_cache(1) is False
    f(1)
    f(2)
    assert n[0] == 3  # 1 ran again, 2 was still cached


def test_cache_clear_deletes_this_functions_entries_only(redis_url: str, ns: str) -> None:
    n = counter()

    @cache(namespace=ns)
    def f(x: int) -> int:
        n[0] += 1
        return x

    @cache(namespace=ns)
    def other(x: int) -> int:
        n[0] += 1
        return x

    f(1)
    f(2)
    other(1)
    assert f.cache_clear() == 2
    f(1)
    f(2)
    other(1)
    assert n[0] == 5  # f ran again for both, other was still cached


def test_cache_clear_namespace_deletes_every_function_of_the_namespace(redis_url: str, ns: str) -> None:
    n = counter()

    @cache(namespace=ns)
    def f(x: int) -> int:
        n[0] += 1
        return x

    @cache(namespace=ns)
    def other(x: int) -> int:
        n[0] += 1
        return x

    f(1)
    f(2)
    other(1)
    assert f.cache_clear_namespace() >= 3
    other(1)
    assert n[0] == 4


def test_exceptions_are_not_cached(redis_url: str, ns: str) -> None:
    n = counter()

    @cache(namespace=ns)
    def f(x: int) -> int:
        n[0] += 1
        if n[0] == 1:
            raise ValueError("boom")
        return x

    with pytest.raises(ValueError, match="boom"):
        f(1)
    assert f(1) == 1
    assert f(1) == 1
    assert n[0] == 2


def repo_class(ns: str, n: list[int]) -> Any:
    class Repo:
        def __init__(self, name: str) -> None:
            self.name = name

        @cache(namespace=ns)
        def get(self, x: int) -> int:
            n[0] += 1
            return x * 10

        @classmethod
        @cache(namespace=ns)
        def cget(cls, x: int) -> int:
            n[0] += 1
            return x * 100

        @cache(namespace=ns)
        @classmethod
        def cget2(cls, x: int) -> int:
            n[0] += 1
            return x * 1000

        @staticmethod
        @cache(namespace=ns)
        def sget(x: int) -> int:
            n[0] += 1
            return x + 1

    return Repo


def test_self_is_not_part_of_a_methods_key(redis_url: str, ns: str) -> None:
    n = counter()
    repo = repo_class(ns, n)
    assert repo("a").get(1) == 10 and repo("b").get(1) == 10
    assert n[0] == 1


def test_cache_under_classmethod_caches_on_the_class_and_the_instance(redis_url: str, ns: str) -> None:
    n = counter()
    repo = repo_class(ns, n)
    assert repo.cget(2) == 200 and repo("a").cget(2) == 200
    assert n[0] == 1


def test_cache_over_classmethod_caches(redis_url: str, ns: str) -> None:
    n = counter()
    repo = repo_class(ns, n)
    assert repo.cget2(3) == 3000 and repo.cget2(3) == 3000
    assert n[0] == 1


def test_cache_under_staticmethod_caches_on_the_class_and_the_instance(redis_url: str, ns: str) -> None:
    n = counter()
    repo = repo_class(ns, n)
    assert repo.sget(4) == 5 and repo("a").sget(4) == 5
    assert n[0] == 1


def test_the_key_helpers_of_a_bound_method_take_the_calls_arguments(redis_url: str, ns: str) -> None:
    repo = repo_class(ns, counter())
    a, b = repo("a"), repo("b")
    a.get(1)
    assert a.get.cache_key(1) == b.get.cache_key(1) == repo.get.cache_key(a, 1)
    assert a.get.cache_exists(1) is True


def test_invalidate_cache_of_a_bound_method_deletes_the_entry_for_every_instance(redis_url: str, ns: str) -> None:
    n = counter()
    repo = repo_class(ns, n)
    a, b = repo("a"), repo("b")
    a.get(1)
    assert a.get.invalidate_cache(1) is True
    assert b.get.cache_exists(1) is False
    assert a.get(1) == 10 and n[0] == 2


def test_invalidate_cache_of_a_classmethod_through_an_instance(redis_url: str, ns: str) -> None:
    n = counter()
    repo = repo_class(ns, n)
    repo.cget(2)
    assert repo("a").cget.invalidate_cache(2) is True and repo.cget(2) == 200 and n[0] == 2


def test_invalidate_cache_of_a_cached_classmethod_through_the_class(redis_url: str, ns: str) -> None:
    n = counter()
    repo = repo_class(ns, n)
    repo.cget2(3)
    assert repo.cget2.invalidate_cache(3) is True and repo("a").cget2(3) == 3000 and n[0] == 2


def test_invalidate_cache_of_a_staticmethod(redis_url: str, ns: str) -> None:
    n = counter()
    repo = repo_class(ns, n)
    repo.sget(4)
    assert repo.sget.invalidate_cache(4) is True and repo.sget(4) == 5 and n[0] == 2


def test_a_bound_method_keeps_its_name_and_counts_its_calls(redis_url: str, ns: str) -> None:
    repo = repo_class(ns, counter())
    a = repo("a")
    a.get(1)
    a.get.invalidate_cache(1)
    a.get(1)
    assert a.get.__name__ == "get" and a.get.cache_info().misses >= 2


def test_wraps_metadata(redis_url: str) -> None:
    @cache(ttl=5)
    def documented(x: int) -> int:
        """Docstring."""
        return x

    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Docstring."
    assert documented.__wrapped__(3) == 3  # pyright: ignore[reportFunctionMemberAccess]


def test_custom_key(redis_url: str, ns: str) -> None:
    n = counter()

    @cache(namespace=ns, key=lambda user_id, verbose=False: f"user:{user_id}")
    def f(user_id: int, verbose: bool = False) -> int:
        n[0] += 1
        return user_id

    f(1)
    f(1, verbose=True)
    assert n[0] == 1
    f(2)
    assert n[0] == 2


def test_interop_mode_stores_under_the_protocols_key(redis_url: str, ns: str) -> None:
    @cache(namespace=ns, interop="get_user")
    def get_user(user_id: int) -> dict[str, Any]:
        return {"id": user_id, "at": dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)}

    assert get_user(7)["id"] == 7
    assert get_user(7)["at"] == dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    key = get_user.cache_key(7)
    parts = key.split(":")
    assert parts[:2] == [ns, "get_user"] and len(parts) == 3 and len(parts[2]) == 64
    # a plain MessagePack document, no envelope
    assert redis_cli(redis_url, "EXISTS", key) == "(integer) 1"


def test_interop_mode_refuses_a_namespace_with_capitals_or_colons(redis_url: str) -> None:
    with pytest.raises(ConfigurationError):

        @cache(namespace="Bad:NS", interop="op")
        def bad() -> int:
            return 1


def test_backend_none_is_l1_only(ns: str) -> None:
    n = counter()

    @cache(backend=None, namespace=ns)
    def f() -> int:
        n[0] += 1
        return 1

    f()
    f()
    assert n[0] == 1
    assert f.get_health_status()["backend"] in ("none", "None", "l1-only", "l1_only")


class DictBackend:
    """A custom L2 of the reference's backend protocol, in a dict."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.ttls: dict[str, int | None] = {}
        self.fail = False

    def get(self, key: str) -> bytes | None:
        if self.fail:
            raise ConnectionError("down")
        return self.data.get(key)

    def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
        if self.fail:
            raise ConnectionError("down")
        self.data[key] = value
        self.ttls[key] = ttl

    def delete(self, key: str) -> bool:
        return self.data.pop(key, None) is not None

    def exists(self, key: str) -> bool:
        return key in self.data

    def health_check(self) -> tuple[bool, dict[str, Any]]:
        return (not self.fail, {})


def dict_backed(backend: DictBackend, ns: str, n: list[int]) -> Any:
    @cache(backend=backend, namespace=ns, operation="op", ttl=120, l1_enabled=False)
    def f(x: int) -> dict[str, int]:
        n[0] += 1
        return {"x": x}

    return f


def test_a_custom_backend_serves_another_handle_of_the_function(ns: str) -> None:
    backend = DictBackend()
    n = counter()
    a, b = dict_backed(backend, ns, n), dict_backed(backend, ns, n)
    assert a(1) == {"x": 1}
    assert b(1) == {"x": 1}  # served by the custom backend
    assert n[0] == 1


def test_a_custom_backend_gets_the_key_and_the_ttl_in_seconds(ns: str) -> None:
    backend = DictBackend()
    a = dict_backed(backend, ns, counter())
    a(1)
    assert a.cache_exists(1)  # this thread's next command: the write behind the call has landed
    key = a.cache_key(1)
    assert key in backend.data and backend.ttls[key] == 120


def test_a_healthy_custom_backend_makes_the_system_healthy(ns: str) -> None:
    a = dict_backed(DictBackend(), ns, counter())
    assert a.check_health()["system"]["status"] == "healthy"


def test_invalidate_cache_deletes_from_a_custom_backend(ns: str) -> None:
    backend = DictBackend()
    a = dict_backed(backend, ns, counter())
    a(1)
    key = a.cache_key(1)
    assert a.invalidate_cache(1) is True and key not in backend.data


def test_a_failing_custom_backend_fails_open(ns: str) -> None:
    backend = DictBackend()
    a = dict_backed(backend, ns, counter())
    backend.fail = True  # a failing custom backend is a failing L2: fail-open
    assert a(2) == {"x": 2}
    assert a(2) == {"x": 2}


def test_a_failing_custom_backend_makes_the_system_unhealthy(ns: str) -> None:
    backend = DictBackend()
    a = dict_backed(backend, ns, counter())
    backend.fail = True
    a(2)
    assert a.check_health()["system"]["status"] == "unhealthy"


def test_custom_backend_must_have_the_protocol() -> None:
    class NotABackend:
        pass

    with pytest.raises(TypeError, match="custom backend"):

        @cache(backend=NotABackend())
        def f() -> int:
            return 1


def test_custom_backend_with_async_functions(ns: str) -> None:
    import asyncio

    backend = DictBackend()
    n = counter()

    @cache(backend=backend, namespace=ns, l1_enabled=False)
    async def f(x: int) -> list[int]:
        n[0] += 1
        return [x]

    async def main() -> None:
        assert await f(3) == [3]
        for _ in range(500):  # the async fill writes L2 in the background: poll, 5 s deadline
            if backend.data:
                break
            await asyncio.sleep(0.01)
        assert await f(3) == [3]

    asyncio.run(main())
    assert n[0] == 1 and len(backend.data) == 1


def test_stale_while_revalidate_returns_the_stale_value_while_the_refresh_runs(redis_url: str, ns: str) -> None:
    """When the core returns a value together with a lease (a refresh is due),
    the caller gets the value at once and the function runs in the background:
    the refresh below blocks until the caller has returned, so a caller that
    waited for it would not return the stale value."""
    import threading

    n = counter()
    refreshing, release = threading.Event(), threading.Event()

    @cache(namespace=ns, ttl=1, stale_while_revalidate=30, l1_enabled=False)
    def f() -> str:
        n[0] += 1
        if n[0] == 1:
            return "first"
        if n[0] == 2:
            refreshing.set()
            release.wait(10)
        return "refreshed"

    assert f() == "first"
    wait_stale(f, ttl=1, window=30)
    assert f() == "first"  # the stale value, returned while the refresh is blocked
    assert refreshing.wait(10), "the refresh did not start"
    release.set()
    # The refreshed value is served once its write has landed (until then a
    # read may see the stale value and start another refresh: L1 is off).
    wait_until(lambda: f() == "refreshed", 5, "the refreshed value was never served")
    assert n[0] >= 2


def test_async_stale_while_revalidate(redis_url: str, ns: str) -> None:
    import asyncio

    n = counter()

    @cache(namespace=ns, ttl=1, stale_while_revalidate=30, l1_enabled=False)
    async def f() -> int:
        n[0] += 1
        await asyncio.sleep(0.1)
        return n[0]

    async def main() -> list[int]:
        first = await f()
        await asyncio.to_thread(wait_stale, f, 1, 30)
        stale = await f()  # the stale value at once; the refresh runs as a task
        fresh = stale
        for _ in range(500):  # the refreshed value, once the refresh landed: poll, 5 s deadline
            fresh = await f()
            if fresh != stale:
                break
            await asyncio.sleep(0.01)
        return [first, stale, fresh]

    assert asyncio.run(main()) == [1, 1, 2]


def test_unknown_parameters_are_refused_with_a_hint() -> None:
    with pytest.raises(TypeError, match=r"'tll' \(did you mean 'ttl'\?\)"):
        cache(tll=60)  # pyright: ignore[reportCallIssue]
    with pytest.raises(TypeError, match="'colour'"):
        cache.production(colour="red")  # pyright: ignore[reportCallIssue]


def test_a_none_result_is_cached_with_the_functions_ttl(redis_url: str, ns: str) -> None:
    n = counter()

    @cache(namespace=ns, ttl=120)
    def plain(x: int) -> None:
        n[0] += 1

    assert plain(1) is None
    assert plain(1) is None
    assert n[0] == 1
    ttl = plain.cache_ttl(1)
    assert ttl is not None and 30 < ttl <= 120


def test_a_none_result_without_ttl_is_cached_with_the_default_ttl(redis_url: str, ns: str) -> None:
    n = counter()

    @cache(namespace=ns)
    def plain(x: int) -> None:
        n[0] += 1

    plain(1)
    plain(1)
    assert n[0] == 1
    ttl = plain.cache_ttl(1)
    assert ttl is not None and 3000 < ttl <= 3600  # CACHEKIT_DEFAULT_TTL's default


def test_negative_ttl_becomes_the_ttl_of_a_none_result(redis_url: str, ns: str) -> None:
    n = counter()

    @cache(namespace=ns, ttl=3000, negative_ttl=30)
    def negative(x: int) -> None:
        n[0] += 1

    negative(1)
    assert negative(1) is None
    assert n[0] == 1
    ttl = negative.cache_ttl(1)
    assert ttl is not None and 0 < ttl <= 30


def test_negative_ttl_leaves_the_ttl_of_other_results(redis_url: str, ns: str) -> None:
    @cache(namespace=ns, ttl=3000, negative_ttl=30)
    def value(x: int) -> int:
        return x

    value(1)
    ttl = value.cache_ttl(1)
    assert ttl is not None and 30 < ttl <= 3000


class FlakyBackend(DictBackend):
    """Raises ``error`` from every operation while ``fail`` is set."""

    def __init__(self, error: type[BaseException]) -> None:
        super().__init__()
        self.error = error

    def get(self, key: str) -> bytes | None:
        if self.fail:
            raise self.error("backend says no")
        return self.data.get(key)

    def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
        if self.fail:
            raise self.error("backend says no")
        super().set(key, value, ttl)

    def delete(self, key: str) -> bool:
        if self.fail:
            raise self.error("backend says no")
        return super().delete(key)


class QuotaExceeded(Exception):
    pass


def test_excluded_exceptions_of_a_custom_backend_do_not_open_the_breaker(ns: str) -> None:
    excluded, counted = FlakyBackend(QuotaExceeded), FlakyBackend(ConnectionError)
    breaker = CircuitBreakerConfig(failure_threshold=2, excluded_exceptions=(QuotaExceeded,))

    @cache(backend=excluded, namespace=ns, operation="a", l1_enabled=False, circuit_breaker=breaker)
    def a(x: int) -> int:
        return x

    @cache(backend=counted, namespace=ns + "b", operation="b", l1_enabled=False, circuit_breaker=breaker)
    def b(x: int) -> int:
        return x

    excluded.fail = counted.fail = True
    for i in range(6):
        assert a(i) == i and b(i) == i  # fail-open either way
    assert a.get_health_status()["circuit_breaker"]["state"] == "CLOSED"
    assert a.cache_info().l2_errors >= 6  # counted, though
    assert b.get_health_status()["circuit_breaker"]["state"] == "OPEN"
    excluded.fail = False
    a(100)
    assert a.cache_key(100) in excluded.data  # L2 was never skipped
