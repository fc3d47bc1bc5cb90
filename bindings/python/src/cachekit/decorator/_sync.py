"""The call path of a plain (``def``) cached function: one borrowed foreign
call (``ck_fill_begin_borrowed``) answers a hit or grants a lease; the
function runs on a miss and its encoded result completes the lease. A value
returned together with a lease (an early refresh or a stale value) is
returned at once and the function runs on a small thread pool to refresh it."""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from cachekit._ffi import lib
from cachekit.decorator._context import Context, OutParams
from cachekit.decorator._tracing import tracer as make_tracer

log = logging.getLogger("cachekit")

_refresh_pool: list[Any] = [None, 0]  # executor, pid that made it
_refresh_lock = threading.Lock()


def submit_refresh(job: Callable[[], None]) -> None:
    """Run a refresh the core asked for (a value was returned together with a lease)."""
    from concurrent.futures import ThreadPoolExecutor

    with _refresh_lock:
        if _refresh_pool[0] is None or _refresh_pool[1] != os.getpid():  # new, or inherited by a fork
            _refresh_pool[0] = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cachekit-refresh")
            _refresh_pool[1] = os.getpid()
        pool = _refresh_pool[0]
    pool.submit(job)


def sync_wrapper(c: Context) -> Any:
    """The wrapper of a plain function (``functools.wraps`` applied)."""
    func = c.func
    s = c.settings
    fname = c.fname
    encode = c.encode
    op = c.op
    handle = c.ns.handle
    deser = s.serializer.deserialize
    store = c.store
    lookup_failed = c.lookup_failed
    undecodable = c.undecodable
    unkeyable = c.unkeyable
    hit = c.counter.hit
    miss = c.counter.miss
    fill = lib.ck_fill_begin_borrowed
    complete = lib.ck_lease_complete
    abort = lib.ck_lease_abort
    string_at = ctypes.string_at
    tls = threading.local()

    def _bg_refresh(lease: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            result = func(*args, **kwargs)
        except BaseException as e:
            abort(lease)
            log.warning("cachekit: background refresh of %s failed: %r", fname, e)
            return
        try:
            store(lease, result, complete)
        except BaseException as e:
            log.warning("cachekit: background refresh of %s not stored: %r", fname, e)

    def call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, bool]:
        if kwargs and "_bypass_cache" in kwargs and kwargs.pop("_bypass_cache"):
            return func(*args, **kwargs), False
        try:
            a = encode(args, kwargs)
        except TypeError as e:  # no key for this call: fail-open (interop: raised)
            unkeyable(e, args, kwargs)
            return func(*args, **kwargs), False
        try:
            o = tls.o
        except AttributeError:
            o = tls.o = OutParams()
        status = fill(handle, op, a, len(a), o.rd, o.rn, o.rl)
        if status:
            lookup_failed(status)
        lease = o.lease.value
        if lease and o.data.value:  # a value and a lease: return it, refresh in the background
            data = string_at(o.data, o.n.value)
            submit_refresh(lambda: _bg_refresh(lease, args, kwargs))
            try:
                value = deser(data)
            except Exception as e:
                undecodable(e, a)
                miss()
                return func(*args, **kwargs), False
            hit()
            return value, True
        if not lease:
            n = o.n.value
            try:
                value = deser(string_at(o.data, n) if n else b"")
            except Exception as e:
                undecodable(e, a)
                miss()
                return func(*args, **kwargs), False
            hit()
            return value, True
        miss()
        try:
            result = func(*args, **kwargs)
        except BaseException:
            abort(lease)
            raise
        store(lease, result, complete)
        return result, False

    tracer = make_tracer() if s.tracing else None
    if tracer is None:

        def swrapper(*args: Any, **kwargs: Any) -> Any:
            if kwargs and "_bypass_cache" in kwargs and kwargs.pop("_bypass_cache"):
                return func(*args, **kwargs)
            try:
                a = encode(args, kwargs)
            except TypeError as e:  # no key for this call: fail-open (interop: raised)
                unkeyable(e, args, kwargs)
                return func(*args, **kwargs)
            try:
                o = tls.o
            except AttributeError:
                o = tls.o = OutParams()
            status = fill(handle, op, a, len(a), o.rd, o.rn, o.rl)
            if status:
                lookup_failed(status)
            lease = o.lease.value
            if lease:
                if o.data.value:  # a value and a lease: return it, refresh in the background
                    return _refresh_now(lease, string_at(o.data, o.n.value), a, args, kwargs)
                miss()
                return _miss(lease, args, kwargs)
            n = o.n.value
            try:
                value = deser(string_at(o.data, n) if n else b"")
            except Exception as e:
                undecodable(e, a)
                miss()
                return func(*args, **kwargs)
            hit()
            return value

        def _refresh_now(lease: int, data: bytes, a: bytes, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            submit_refresh(lambda: _background(lease, args, kwargs))
            try:
                value = deser(data)
            except Exception as e:
                undecodable(e, a)
                miss()
                return func(*args, **kwargs)
            hit()
            return value

        def _background(lease: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            try:
                _miss(lease, args, kwargs)
            except BaseException as e:
                log.warning("cachekit: background refresh of %s failed: %r", fname, e)

        def _miss(lease: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            try:
                result = func(*args, **kwargs)
            except BaseException:
                abort(lease)
                raise
            store(lease, result, complete)
            return result
    else:
        t, use_span = tracer

        def swrapper(*args: Any, **kwargs: Any) -> Any:
            span = t.start_span("cachekit.get")
            if not span.is_recording():  # no SDK configured: skip the context switch
                return call(args, kwargs)[0]
            with use_span(span, end_on_exit=True):
                span.set_attribute("cachekit.namespace", s.namespace)
                span.set_attribute("cachekit.operation", s.operation)
                value, hit = call(args, kwargs)
                span.set_attribute("cachekit.hit", hit)
                return value

    c.traced = tracer is not None
    return functools.wraps(func)(swrapper)
