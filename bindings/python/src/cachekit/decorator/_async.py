"""The call path of an ``async def`` cached function. An L1 hit is answered on
the event-loop thread (``ck_peek_borrowed``, no I/O); otherwise
``ck_fill_begin_async`` answers at once or later through a completion
callback from a core thread, which resolves an asyncio future with
``loop.call_soon_threadsafe``: no event-loop thread waits on Redis."""

from __future__ import annotations

import asyncio
import ctypes
import functools
import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any

from cachekit import _core, _ffi
from cachekit._ffi import CK_OK, CkBuf, lib
from cachekit.decorator._context import Context, OutParams
from cachekit.decorator._tracing import tracer as make_tracer

log = logging.getLogger("cachekit")


_async_lock = threading.Lock()
_async_waiting: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = {}
_async_early: dict[int, tuple[int, bytes, bool, int]] = {}
_tokens = itertools.count(1)


def _resolve(fut: asyncio.Future[Any], result: tuple[int, bytes, bool, int]) -> None:
    if fut.cancelled():
        if result[3]:
            lib.ck_lease_abort(result[3])
        return
    fut.set_result(result)


def _on_complete(user: int | None, status: int, value: CkBuf, found: bool, lease: int | None) -> None:
    """Called once per pending async call, from a core thread."""
    try:
        token = int(user or 0)
        data = _ffi.take_buf(value)
        result = (int(status), data, bool(found), int(lease or 0))
        with _async_lock:
            entry = _async_waiting.pop(token, None)
            if entry is None:
                _async_early[token] = result
                return
        loop, fut = entry
        try:
            loop.call_soon_threadsafe(_resolve, fut, result)
        except RuntimeError:  # the loop is closed: nobody will compute
            if result[3]:
                lib.ck_lease_abort(result[3])
    except Exception:
        pass


_completion_cb = _ffi.COMPLETION(_on_complete)  # kept referenced for the process's life
_NULL_COMPLETION = _ffi.COMPLETION()  # a NULL callback


async def _wait_pending(token: int) -> tuple[int, bytes, bool, int]:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[tuple[int, bytes, bool, int]] = loop.create_future()
    with _async_lock:
        early = _async_early.pop(token, None)
        if early is None:
            _async_waiting[token] = (loop, fut)
    if early is not None:
        return early
    return await fut


_refresh_tasks: set[asyncio.Task[Any]] = set()


class _Done:
    """An awaitable whose value is already known (no event loop was running)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value: Any = value

    def __await__(self) -> Any:
        return self.value
        yield  # pragma: no cover - makes this a generator


def awaitable(job: Callable[[], Any]) -> Any:
    """Start ``job`` now and return something to await for its result: inside a
    running event loop a future of the default executor (no loop thread waits
    on Redis), else the result computed here."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return _Done(job())
    return loop.run_in_executor(None, job)


def async_wrapper(c: Context) -> Any:
    """The wrapper of an ``async def`` function (``functools.wraps`` applied)."""
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
    abort = lib.ck_lease_abort
    string_at = ctypes.string_at
    tls = threading.local()
    fill_async = lib.ck_fill_begin_async
    complete_async = lib.ck_lease_complete_async
    take = _ffi.take_buf
    cb = _completion_cb

    async def arefresh(lease_p: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            result = await func(*args, **kwargs)
        except BaseException as e:
            abort(lease_p)
            log.warning("cachekit: background refresh of %s failed: %r", fname, e)
            return
        store(lease_p, result, complete_async, _NULL_COMPLETION, None)

    peek = lib.ck_peek_borrowed

    async def acall(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, bool]:
        if kwargs and "_bypass_cache" in kwargs and kwargs.pop("_bypass_cache"):
            return await func(*args, **kwargs), False
        try:
            a = encode(args, kwargs)
        except TypeError as e:  # no key for this call: fail-open (interop: raised)
            unkeyable(e, args, kwargs)
            return await func(*args, **kwargs), False
        # An L1 hit in one foreign call on the loop thread (no I/O).
        try:
            o = tls.o
        except AttributeError:
            o = tls.o = OutParams()
        if peek(handle, op, a, len(a), o.rd, o.rn) == CK_OK and o.data.value:
            n = o.n.value
            data = string_at(o.data, n) if n else b""
            try:
                value = deser(data)
            except Exception as e:
                undecodable(e, a)
                miss()
                return await func(*args, **kwargs), False
            hit()
            return value, True
        buf = CkBuf()
        lease = ctypes.c_void_p()
        pending = ctypes.c_bool()
        token = next(_tokens)
        status = fill_async(
            handle, op, a, len(a), cb, token, ctypes.byref(buf), ctypes.byref(lease), ctypes.byref(pending)
        )
        if status == _ffi.CK_CLOSED:  # called after the exit hook: no completion would come
            return await func(*args, **kwargs), False
        if status != CK_OK:
            lookup_failed(status)
        if pending.value:
            status, data, found, lease_p = await _wait_pending(token)
            if status != CK_OK:
                _core.raise_status(status, f"looking up {fname}: {data.decode('utf-8', 'replace')}")
        else:
            lease_p = int(lease.value or 0)
            found = bool(buf.data)
            data = take(buf)
        if lease_p and found:  # a value and a lease: return it, refresh in the background
            task = asyncio.get_running_loop().create_task(arefresh(lease_p, args, kwargs))
            _refresh_tasks.add(task)
            task.add_done_callback(_refresh_tasks.discard)
            lease_p = 0
        if not lease_p:
            try:
                value = deser(data)
            except Exception as e:
                undecodable(e, a)
                miss()
                return await func(*args, **kwargs), False
            hit()
            return value, True
        miss()
        try:
            result = await func(*args, **kwargs)
        except BaseException:
            abort(lease_p)
            raise
        store(lease_p, result, complete_async, _NULL_COMPLETION, None)
        return result, False

    tracer = make_tracer() if s.tracing else None
    if tracer is None:

        async def awrapper(*args: Any, **kwargs: Any) -> Any:
            return (await acall(args, kwargs))[0]
    else:
        t, use_span = tracer

        async def awrapper(*args: Any, **kwargs: Any) -> Any:
            span = t.start_span("cachekit.get")
            if not span.is_recording():  # no SDK configured: skip the context switch
                return (await acall(args, kwargs))[0]
            with use_span(span, end_on_exit=True):
                span.set_attribute("cachekit.namespace", s.namespace)
                span.set_attribute("cachekit.operation", s.operation)
                value, hit = await acall(args, kwargs)
                span.set_attribute("cachekit.hit", hit)
                return value

    c.traced = tracer is not None
    return functools.wraps(func)(awrapper)
