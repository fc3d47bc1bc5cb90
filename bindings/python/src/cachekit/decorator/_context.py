"""What the call paths and the methods of one decorated function share: its
settings, client and namespace handle, the argument encoder (``_keys``), and
the steps every path takes the same way (store a result in a lease, turn a
lookup status into an error, hand an undecodable entry back to the core)."""

from __future__ import annotations

import ctypes
import inspect
import logging
from collections.abc import Callable
from typing import Any

from cachekit import _core, _ffi, backends
from cachekit._ffi import CK_OK, lib
from cachekit._keys import ArgBinder, pack_args
from cachekit.decorator._names import check_names, skip_first
from cachekit.decorator._settings import Settings
from cachekit.decorator._stats import CallCounter
from cachekit.errors import InteropError
from cachekit.serializers.base import payload

log = logging.getLogger("cachekit")


class Uncached(TypeError):
    """The key of this call cannot be built (``key=`` failed): run it uncached."""


# Core statuses that, in interop mode, mean "outside the interop data model".
_INTEROP_REFUSALS = frozenset((_ffi.CK_INVALID_KEY, _ffi.CK_ENCODE, _ffi.CK_INVALID_ARGUMENT))


class OutParams:
    """Per-thread out-parameters of the borrowed fill call (no allocation per call)."""

    __slots__ = ("data", "lease", "n", "rd", "rl", "rn")

    def __init__(self) -> None:
        self.data: ctypes.c_void_p = ctypes.c_void_p()
        self.n: ctypes.c_size_t = ctypes.c_size_t()
        self.lease: ctypes.c_void_p = ctypes.c_void_p()
        self.rd: Any = ctypes.byref(self.data)
        self.rn: Any = ctypes.byref(self.n)
        self.rl: Any = ctypes.byref(self.lease)


def key_fn_encoder(kf: Callable[..., Any], fname: str) -> Callable[[tuple[Any, ...], dict[str, Any]], bytes]:
    def encode(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
        # Fail-open, as the reference SDK: a key function that raises or
        # does not return a str leaves this call uncached, with a warning.
        try:
            k = kf(*args, **kwargs)
        except Exception as e:
            log.warning("cachekit: key= function of %s raised %r; the call runs uncached", fname, e)
            raise Uncached(f"cachekit: the key= function of {fname} raised {e!r}") from e
        if not isinstance(k, str):
            log.warning(
                "cachekit: key= function of %s returned %s, not a str; the call runs uncached",
                fname,
                type(k).__name__,
            )
            raise Uncached(f"cachekit: the key= function of {fname} returned {type(k).__name__}, not a str")
        return pack_args([k])

    return encode


class Context:
    """One decorated function's resolved settings, core handles and shared steps."""

    def __init__(self, func: Callable[..., Any], preset: str | None, kw: dict[str, Any]) -> None:
        s = Settings(func, preset, kw)
        if s.custom_backend is not None:
            client = backends.client_for(s.custom_backend, s.client_json, s.excluded_exceptions)
        else:
            client = _core.get_client(s.client_json)
        ns = _core.Namespace(client, s.namespace, s.options)
        if s.verbose:
            _core.verbose_namespaces.add(s.namespace)
            _core.install_log_callback(10)
        binder = ArgBinder(func, skip_first(func), interop=s.interop)
        fname = getattr(func, "__qualname__", "function")
        encode = key_fn_encoder(s.key_fn, fname) if s.key_fn is not None else binder.encode
        op = s.operation.encode()
        check_names(ns, s, op)

        self.func: Callable[..., Any] = func
        self.settings: Settings = s
        self.ns: _core.Namespace = ns
        self.binder: ArgBinder = binder
        self.fname: str = fname
        self.encode: Callable[[tuple[Any, ...], dict[str, Any]], bytes] = encode
        self.op: bytes = op
        self.l2: bool = ns.health().get("backend") != "none"
        self.is_async: bool = inspect.iscoroutinefunction(func)
        self.counter: CallCounter = CallCounter()
        self.traced: bool = False  # set by the call path: spans are made

        tag = s.serializer_tag
        ser = s.serializer.serialize
        abort = lib.ck_lease_abort
        interop = s.interop

        def store(lease: int, result: Any, complete_fn: Any, *extra: Any) -> None:
            try:
                value = ser(result)
                if type(value) is tuple:  # the protocol's (bytes, metadata)
                    value = value[0]
                if type(value) is not bytes:  # bytearray, memoryview, or a wrong type (raises)
                    value = payload(value)
            except Exception as e:
                abort(lease)
                if interop:  # the protocol: a value outside the interop model fails loud
                    raise InteropError(
                        f"cachekit: the result of {fname} ({type(result).__name__}) is not an interop value "
                        + "(None, bool, int, float, str, bytes, list, tuple, dict with str keys, datetime/date/time): "
                        + f"{e}"
                    ) from e
                log.warning("cachekit: result of %s not cached: cannot serialize it with %s: %s", fname, tag, e)
                return
            status = complete_fn(lease, value, len(value), 0, *extra)
            if status != CK_OK:
                if status == _ffi.CK_BACKEND:
                    _core.raise_status(status, f"storing the result of {fname}")
                if interop and status in _INTEROP_REFUSALS:
                    raise InteropError(f"cachekit: the result of {fname} is not an interop value: {_ffi.last_error()}")
                log.warning("cachekit: result of %s not cached: %s", fname, _ffi.last_error())

        def lookup_failed(status: int) -> None:
            if interop and status in _INTEROP_REFUSALS:
                why = _ffi.last_error()
                raise InteropError(f"cachekit: an argument of {fname} is outside the interop data model: {why}")
            _core.raise_status(status, f"looking up {fname}")

        def undecodable(e: Exception, a: bytes) -> None:
            # The core counts, logs and deletes it in the background (never
            # blocking an event loop); the caller recomputes.
            ns.discard(op, a, f"{tag} cannot decode it: {e}")

        def unkeyable(e: TypeError, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            """A call whose key cannot be built runs uncached with a warning (as the
            reference SDK); in interop mode the error is raised (the protocol: fail loud)."""
            if isinstance(e, Uncached):
                return  # key= failed: already warned
            if interop:
                raise e
            try:
                binder.sig.bind(*args, **kwargs)
            except TypeError:
                return  # not a valid call of the function: calling it raises the right error
            log.warning("cachekit: no cache key for this call of %s (%s); it runs uncached", fname, e)

        self.store: Callable[..., None] = store
        self.unkeyable: Callable[[TypeError, tuple[Any, ...], dict[str, Any]], None] = unkeyable
        self.lookup_failed: Callable[[int], None] = lookup_failed
        self.undecodable: Callable[[Exception, bytes], None] = undecodable
