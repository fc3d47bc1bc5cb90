"""Custom L2 backends written in Python (the reference's backend protocol).

An object with ``get(key) -> bytes | None``, ``set(key, value, ttl)``,
``delete(key) -> bool``, ``exists(key) -> bool`` and optionally
``health_check() -> (bool, dict) | bool`` is handed to the core as a table of
callbacks (``ck_client_new_with_backend``). The core calls them from its own
threads (never an event-loop thread), with the entry's bytes exactly as it
would store them in Redis; L1, single-flight, encryption, the breaker and
fail-open stay the core's. An exception in a callback is a transient L2
failure (it moves the circuit breaker), unless it is an instance of a
``CircuitBreakerConfig.excluded_exceptions`` type of a function using the
backend: then the call fails open and the error is counted, nothing else.
Methods must be synchronous. ``ttl`` is in whole seconds (rounded up).
"""

from __future__ import annotations

import ctypes
import logging
import threading
from typing import Any, Protocol, runtime_checkable

from cachekit import _core, _ffi

log = logging.getLogger("cachekit")


@runtime_checkable
class BackendProtocol(Protocol):
    def get(self, key: str) -> bytes | None: ...
    def set(self, key: str, value: bytes, ttl: int | None = None) -> None: ...
    def delete(self, key: str) -> bool: ...
    def exists(self, key: str) -> bool: ...


_i32 = ctypes.c_int32
GET = ctypes.CFUNCTYPE(_i32, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)
SET = ctypes.CFUNCTYPE(_i32, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int64)
KEY = ctypes.CFUNCTYPE(_i32, ctypes.c_void_p, ctypes.c_char_p)
HEALTH = ctypes.CFUNCTYPE(_i32, ctypes.c_void_p)
RELEASE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class BackendVtable(ctypes.Structure):
    _fields_ = [  # pyright: ignore[reportUnannotatedClassAttribute]
        ("user_data", ctypes.c_void_p),
        ("get", GET),
        ("set", SET),
        ("del_", KEY),
        ("exists", KEY),
        ("health", HEALTH),
        ("release", RELEASE),
    ]


def supported() -> bool:
    """Whether the loaded core has the foreign-backend ABI."""
    return hasattr(_ffi.lib, "ck_client_new_with_backend") and hasattr(_ffi.lib, "ck_sink_write")


_declared = [False]


def _declare() -> None:
    if _declared[0]:
        return
    lib = _ffi.lib
    lib.ck_client_new_with_backend.restype = ctypes.c_int
    lib.ck_client_new_with_backend.argtypes = [
        ctypes.c_char_p,
        ctypes.POINTER(BackendVtable),
        ctypes.POINTER(_ffi.ClientP),
    ]
    lib.ck_sink_write.restype = ctypes.c_int
    lib.ck_sink_write.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    _declared[0] = True


class _Adapter:
    """The callbacks of one backend object; kept alive as long as the process."""

    def __init__(self, backend: Any) -> None:
        self.backend: Any = backend
        self.excluded: tuple[type[BaseException], ...] = ()
        adapter = self

        def name(raw: bytes | None) -> str:
            return raw.decode("utf-8", "replace") if raw else ""

        def fail(op: str, e: BaseException) -> int:
            log.debug("cachekit: custom backend %s failed: %r", op, e)
            return _ffi.CK_BACKEND_EXCLUDED if isinstance(e, adapter.excluded) else -1

        def get(_u: int | None, key: bytes | None, sink: int | None) -> int:
            try:
                value = backend.get(name(key))
                if value is None:
                    return 0
                data = bytes(value)
                status = _ffi.lib.ck_sink_write(sink, data, len(data))
                return 1 if status == _ffi.CK_OK else -2
            except BaseException as e:
                return fail("get", e)

        def set_(_u: int | None, key: bytes | None, value: int | None, n: int, ttl_ms: int) -> int:
            try:
                data = ctypes.string_at(value or 0, n) if n else b""
                ttl = None if ttl_ms <= 0 else max(1, -(-ttl_ms // 1000))
                backend.set(name(key), data, ttl)
                return 0
            except BaseException as e:
                return fail("set", e)

        def delete(_u: int | None, key: bytes | None) -> int:
            try:
                return 1 if backend.delete(name(key)) else 0
            except BaseException as e:
                return fail("delete", e)

        def exists(_u: int | None, key: bytes | None) -> int:
            try:
                return 1 if backend.exists(name(key)) else 0
            except BaseException as e:
                return fail("exists", e)

        def health(_u: int | None) -> int:
            try:
                check = getattr(backend, "health_check", None)
                if check is None:
                    return 0
                result = check()
                ok = result[0] if isinstance(result, tuple) else bool(result)  # pyright: ignore[reportUnknownVariableType]
                return 0 if ok else 1
            except BaseException as e:
                return fail("health_check", e)

        def release(_u: int | None) -> None:
            return None

        self.callbacks: tuple[Any, ...] = (
            GET(get),
            SET(set_),
            KEY(delete),
            KEY(exists),
            HEALTH(health),
            RELEASE(release),
        )
        self.vtable: BackendVtable = BackendVtable(None, *self.callbacks)


_clients: dict[tuple[int, str | None], tuple[Any, _Adapter, _core.Client]] = {}
_lock = threading.Lock()


def client_for(backend: Any, config_json: str | None, excluded: tuple[type[BaseException], ...] = ()) -> _core.Client:
    """The process's client over ``backend`` (one per backend object and settings).

    ``excluded``: exception types of this function's breaker configuration
    that must not move the breaker; they are added to the backend's."""
    if not supported():
        raise NotImplementedError(
            "cachekit: custom backend objects need a core with ck_client_new_with_backend; "
            + "this core library has no foreign-backend ABI"
        )
    for method in ("get", "set", "delete"):
        if not callable(getattr(backend, method, None)):
            raise TypeError(f"cachekit: a custom backend needs a {method}() method (get, set, delete, exists)")
    with _lock:
        entry = _clients.get((id(backend), config_json))
        if entry is not None and entry[0] is backend:
            entry[1].excluded = tuple(dict.fromkeys((*entry[1].excluded, *excluded)))
            return entry[2]
        _declare()
        _core.install_log_callback(_core.initial_log_level())
        adapter = _Adapter(backend)
        adapter.excluded = tuple(excluded)
        handle = ctypes.POINTER(_ffi.CkClient)()
        status = _ffi.lib.ck_client_new_with_backend(
            config_json.encode() if config_json else None, ctypes.byref(adapter.vtable), ctypes.byref(handle)
        )
        if status != _ffi.CK_OK:
            _core.raise_status(status, "cannot create a client over the custom backend")
        client = _core.Client.from_handle(handle, config_json)
        _clients[(id(backend), config_json)] = (backend, adapter, client)
        return client


BaseBackend = BackendProtocol  # the reference SDK's name of the protocol

from cachekit.backends.redis import RedisBackend  # noqa: E402  (the reference's import path: cachekit.backends)

__all__ = ["BackendProtocol", "BaseBackend", "RedisBackend", "client_for", "supported"]
